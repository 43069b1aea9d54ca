/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking output for parked requests. libfcgi's FCGX_PutStr/FCGX_FFlush
 * block the calling thread until the web server reads, which one event loop
 * holding thousands of requests cannot afford; so the loop frames its output
 * itself: FCGI_STDOUT records (FastCGI spec §5.3) and the closing
 * FCGI_END_REQUEST (§5.5), queued and written as the socket accepts them.
 * libfcgi still accepts the connection and parses the FCGI_BEGIN_REQUEST and
 * FCGI_PARAMS records.
 *
 * A record's content is held by reference: one encoded message goes to
 * every stream that wants it as the same reference-counted bytes
 * (struct out_bytes), and a stalled stream costs a few dozen bytes of queue
 * per message it has not taken, never a copy of the message. Only the record
 * header and padding are per request (the header carries its request id).
 */
#ifndef FCPUSH_FCGI_OUT_H
#define FCPUSH_FCGI_OUT_H

#include <stddef.h>

#include "util.h"

/* Reference-counted immutable bytes shared by output queues. Not
 * thread-safe: one event loop owns every reference. */
struct out_bytes {
	size_t refs;
	size_t len;
	char data[];
};

/* A new reference (count 1) holding a copy of len bytes of data. */
struct out_bytes *out_bytes_new(const void *data, size_t len);
/* Add a reference and return b. */
struct out_bytes *out_bytes_ref(struct out_bytes *b);
/* Drop a reference, freeing at zero; b may be NULL. */
void out_bytes_unref(struct out_bytes *b);

enum fcgi_out_result {
	FCGI_OUT_DONE = 0, /* everything queued was written */
	FCGI_OUT_AGAIN,    /* the socket is full: wait for it to be writable */
	FCGI_OUT_ERROR     /* the web server closed the connection (EPIPE, ECONNRESET) */
};

struct fcgi_out_rec;

/* Output queue of one request. Caller storage: fcgi_out_init/fcgi_out_fini. */
struct fcgi_out {
	int fd;         /* the FastCGI connection (made non-blocking by the caller) */
	int request_id; /* FCGX_Request.requestId */
	struct fcgi_out_rec *recs; /* records; [head, n) not yet fully written */
	size_t head, n, cap;
	size_t written; /* bytes of recs[head] already written */
	size_t pending; /* bytes queued and not yet written */
};

void fcgi_out_init(struct fcgi_out *o, int fd, int request_id);
/* Drop every queued record (and its references). */
void fcgi_out_fini(struct fcgi_out *o);
/* Queue len bytes (copied) as FCGI_STDOUT records of at most 65535 bytes of
 * content each, padded to a multiple of 8 (spec §3.3). len 0 queues nothing. */
void fcgi_out_stdout(struct fcgi_out *o, const void *data, size_t len);
/* The same for shared bytes: the queue takes its own references to b (the
 * caller keeps its own). */
void fcgi_out_stdout_shared(struct fcgi_out *o, struct out_bytes *b);
/* Queue the end of the response: an empty FCGI_STDOUT record (end of stream)
 * and FCGI_END_REQUEST with app_status and FCGI_REQUEST_COMPLETE. */
void fcgi_out_end(struct fcgi_out *o, int app_status);
/* Write as much of the queue as the socket takes without blocking (one
 * sendmsg of many records at a time; fd must be a socket). */
enum fcgi_out_result fcgi_out_flush(struct fcgi_out *o);
/* Bytes queued and not yet written, record headers and padding included. */
size_t fcgi_out_pending(const struct fcgi_out *o);

#endif
