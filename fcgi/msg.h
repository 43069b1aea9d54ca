/* SPDX-License-Identifier: MIT */
/*
 * The message value type: one stored message as read back, and a list of
 * them with a byte budget. The encoders (sse.c, ndjson.c, json.c, ws.c) see
 * messages through this header only; the store fills the lists.
 */
#ifndef FCPUSH_MSG_H
#define FCPUSH_MSG_H

#include <stddef.h>
#include <stdint.h>

/* One stored message, as read back. The message and its strings are one
 * allocation owned by the msglist that holds it. body_is_json is 1 when the
 * content type is JSON (application/json or any +json type) and the body is
 * valid JSON (checked with json1's json_valid), so it may be embedded raw. */
struct msg {
	int64_t seq;
	int64_t time_ms;
	const char *channel;
	const char *event;        /* NULL when the message has none */
	const char *content_type; /* never NULL */
	const unsigned char *body; /* "" when body_omitted */
	size_t body_len;           /* the body's size in bytes, read or not */
	int body_is_json;
	int body_omitted;          /* larger than STORE_INLINE_MAX_BYTES (store.h): not read */
};

/* A list of messages in ascending seq order. Caller storage; msglist_init
 * before use, msglist_fini frees every message. A list may carry a byte
 * budget: with max_bytes > 0, a read stops adding rows once the bodies in the
 * list reach max_bytes (it always adds at least one) and sets truncated, so
 * no answer, catch-up or dispatch holds more than about a budget of bodies
 * however many rows it asked for. store_read_last keeps the newest rows. */
struct msglist {
	struct msg **v;
	size_t n;
	size_t cap;
	size_t bytes;     /* body bytes held (omitted bodies count 0) */
	size_t max_bytes; /* 0: no budget; kept by msglist_clear */
	int truncated;    /* the last read stopped at the budget */
};

/* Make l an empty list with no budget (caller storage; no allocation). */
void msglist_init(struct msglist *l);
/* Free every message and the array; l is left empty, as after msglist_init
 * (its budget too). */
void msglist_fini(struct msglist *l);
/* Free all messages but keep the list usable: the array and max_bytes stay,
 * bytes and truncated go back to 0. */
void msglist_clear(struct msglist *l);
/* Append m (one malloc'd allocation, owned by l from here on, freed by
 * msglist_clear/msglist_fini) and count its body in bytes unless it is
 * body_omitted. Does not look at the budget: the reader does. */
void msglist_push(struct msglist *l, struct msg *m);

#endif
