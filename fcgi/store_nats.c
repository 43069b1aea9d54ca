/* SPDX-License-Identifier: MIT */
/*
 * The NATS JetStream backend of the store (store.h), for running fcpush on
 * several machines: location "nats://HOST:PORT[,HOST:PORT...]/STREAM
 * [?replicas=N]" (store_open gets it without "nats:").
 *
 * What lives where (README "NATS JetStream backend" says the same for
 * operators):
 * - Messages: stream STREAM, one subject per channel,
 *   "fcpush.STREAM.ch.<encoded name>". The stream sequence is the seq cursor:
 *   JetStream assigns it in commit order across every subject and never
 *   reuses it, which is store.h's promise. The stream name is in the subject
 *   because two streams of one cluster may not share subjects: several fcpush
 *   stores (and the contract tests) can then share a cluster. Headers carry
 *   Fcpush-Time (ms), Fcpush-Event and Content-Type.
 * - Name encoding (reversible): bytes A-Z a-z 0-9 _ - are kept, every other
 *   byte is '=' and two uppercase hex digits ("a.b" -> "a=2Eb", "=" ->
 *   "=3D"), so '.', '*' and '>' never reach a subject and the same text is a
 *   valid KV key.
 * - Channel rows (created_ms, trimmed_seq, retention override): KV bucket
 *   STREAM_channels, key = encoded name, value "created trimmed max_messages
 *   max_age_ms max_bytes" (decimal), updated with compare-and-set on the
 *   revision. JetStream's own per-subject limits are one value for the whole
 *   stream, so per-channel retention is applied by store_trim (purge by
 *   subject up to a sequence) and the highest purged seq is kept here: the
 *   gap signal.
 * - Deletion log: stream STREAM_deletions, subject "fcpush.STREAM.del", body
 *   the channel name; the deletion id is that stream's sequence.
 * - Epoch: drawn when the stream is created, kept in its description
 *   ("fcpush epoch <16 hex>").
 * - Bodies: a message is one NATS message, so a body plus headers must fit
 *   the server's max_payload (1 MB by default, up to 64 MB in its config).
 *   NS_HEADER_RESERVE bytes of it are kept for headers, so the largest body
 *   (store_max_body) does not depend on them; larger ones are refused with
 *   STORE_INVALID naming the limit: libnats 3.4
 *   has no Object Store API, and splitting bodies over several messages
 *   would break "one seq per message".
 * - Groups: published asynchronously, then every PubAck awaited: a 201 is
 *   sent only after JetStream stored the message (on a quorum with
 *   replicas=3). JetStream 2.9 has no multi-message transaction: a group
 *   that fails part-way has its stored messages deleted again (subscribers
 *   woken in between may have seen them).
 * - Reads use direct get (next message of a subject from a sequence). Costs
 *   to know: channel info, the last-n cursor and trim walk a channel's
 *   messages one request each (no per-subject byte counts or backwards reads
 *   in JetStream 2.9).
 * - The watch: a core NATS subscription on "fcpush.STREAM.>" that makes an
 *   eventfd readable, so every process on every machine wakes on every
 *   publish and deletion. A core message may arrive before the stream stored
 *   it, or before the replica a direct get reaches applied it, so a drain
 *   says STORE_WATCH_COMMIT | STORE_WATCH_SOON: read now and again shortly.
 *   A reconnection also wakes it (commits during the outage were not heard).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <nats/nats.h>

#include "json.h"
#include "json_parse.h"
#include "store.h"
#include "util.h"

/* This backend's table of operations, at the end of the file. */
extern const struct store_ops store_nats_ops;

#define NS_MAX_SERVERS 16
#define NS_STREAM_MAX 48 /* leaves room for "_deletions" in a name */
/* Bytes of max_payload kept for a message's headers: more than the largest
 * a publish can bring (ns_header_bytes with a 255-byte content type, a
 * 128-byte event, a 128-byte channel and a stored idempotency key: 885). */
#define NS_HEADER_RESERVE 1024

/* A parsed location. */
struct ns_loc {
	char *servers[NS_MAX_SERVERS]; /* "nats://host:port", malloc'd */
	int nservers;
	char stream[NS_STREAM_MAX + 1];
	int replicas;
};

/* A connection: one NATS connection, its JetStream context, the channel
 * bucket, and what an append is waiting for. */
struct ns_store {
	struct store base;
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	struct json_parse *jp;
	char stream[NS_STREAM_MAX + 1];
	char del_stream[NS_STREAM_MAX + 16];
	char prefix[NS_STREAM_MAX + 16]; /* "fcpush.STREAM" */
	char epoch[STORE_EPOCH_LEN + 1];
	int64_t wait_ms;
	natsMsg *body; /* the open body (store_body_open) */
	char err[512];
	char limit_why[256]; /* store_max_body's sentence */

	/* The append in flight: acks are matched to messages by pointer, in a
	 * callback on libnats' thread. */
	pthread_mutex_t lock;
	pthread_cond_t acked_cond;
	struct ns_slot *slots;
	size_t nslots, npub, nacked; /* slots, of which published, of which answered */
};

struct ns_slot {
	const natsMsg *msg; /* compared only, never dereferenced */
	int done;
	int64_t seq;
	int dup; /* JetStream saw its Nats-Msg-Id in the duplicate window: seq is the original's */
	natsStatus err;
	jsErrCode jerr;
};

struct ns_watch {
	struct store_watch base;
	natsConnection *nc;
	natsSubscription *sub;
	int efd;
};

/* A channel row as kept in the bucket. */
struct ns_row {
	int64_t created_ms;
	int64_t trimmed_seq;
	struct store_retention r;
};

/* ---- names and locations --------------------------------------------- */

static int
ns_keep(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The encoded name of channel (module comment), malloc'd. */
static char *
ns_encode(const char *channel)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	const unsigned char *p;

	buf_init(&b);
	for (p = (const unsigned char *)channel; *p != '\0'; p++) {
		if (ns_keep(*p)) {
			buf_putc(&b, (char)*p);
		} else {
			buf_putc(&b, '=');
			buf_putc(&b, hex[*p >> 4]);
			buf_putc(&b, hex[*p & 15]);
		}
	}
	buf_putc(&b, '\0');
	return buf_steal(&b);
}

static int
ns_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode an encoded name into out (size bytes); -1 when it is not one. */
static int
ns_decode(const char *enc, char *out, size_t size)
{
	size_t n = 0;
	int hi, lo;

	while (*enc != '\0') {
		if (n + 1 >= size)
			return -1;
		if (*enc == '=') {
			if ((hi = ns_hexval(enc[1])) < 0 || (lo = ns_hexval(enc[2])) < 0)
				return -1;
			out[n++] = (char)(hi << 4 | lo);
			enc += 3;
		} else {
			out[n++] = *enc++;
		}
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* The subject of channel, malloc'd. */
static char *
ns_subject(const struct ns_store *st, const char *channel)
{
	char *enc = ns_encode(channel), *s = xasprintf("%s.ch.%s", st->prefix, enc);

	free(enc);
	return s;
}

static void
ns_loc_fini(struct ns_loc *loc)
{
	int i;

	for (i = 0; i < loc->nservers; i++)
		free(loc->servers[i]);
	loc->nservers = 0;
}

/* Parse "//HOST:PORT[,...]/STREAM[?replicas=N]" (a leading "nats:" already
 * removed; "nats://" before each further server is accepted). Returns -1
 * with *cause set. */
static int
ns_loc_parse(const char *location, struct ns_loc *loc, char **cause)
{
	const char *p = location, *slash, *q, *end;
	int64_t v;
	size_t n;

	memset(loc, 0, sizeof *loc);
	loc->replicas = 1;
	if (strncmp(p, "//", 2) != 0)
		goto bad;
	p += 2;
	slash = strchr(p, '/');
	if (slash == NULL || slash == p)
		goto bad;
	while (p < slash) {
		end = memchr(p, ',', (size_t)(slash - p));
		if (end == NULL)
			end = slash;
		if ((size_t)(end - p) > 7 && strncmp(p, "nats://", 7) == 0)
			p += 7;
		if (end == p || loc->nservers == NS_MAX_SERVERS)
			goto bad;
		loc->servers[loc->nservers++] = xasprintf("nats://%.*s", (int)(end - p), p);
		p = end < slash ? end + 1 : end;
	}
	q = strchr(slash + 1, '?');
	n = q != NULL ? (size_t)(q - slash - 1) : strlen(slash + 1);
	if (n == 0 || n > NS_STREAM_MAX)
		goto bad;
	for (p = slash + 1; p < slash + 1 + n; p++)
		if (!ns_keep((unsigned char)*p))
			goto bad;
	memcpy(loc->stream, slash + 1, n);
	loc->stream[n] = '\0';
	if (q != NULL) {
		if (strncmp(q + 1, "replicas=", 9) != 0 || util_parse_i64(q + 10, 1, 5, &v) != 0)
			goto bad;
		loc->replicas = (int)v;
	}
	return 0;
bad:
	ns_loc_fini(loc);
	if (cause != NULL)
		*cause = xasprintf("bad NATS location \"nats:%s\": want nats://HOST:PORT[,HOST:PORT...]/STREAM"
				   "[?replicas=1..5], STREAM of 1-%d letters, digits, _ or -",
				   location, NS_STREAM_MAX);
	return -1;
}

/* Connect to the servers of loc (reconnecting for ever, a try every 100 ms:
 * a cluster member going away is routine). */
static natsStatus
ns_connect(const struct ns_loc *loc, int64_t timeout_ms, natsConnectionHandler reconnected, void *closure,
	   natsConnection **nc)
{
	natsOptions *o = NULL;
	natsStatus s;

	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)loc->servers, loc->nservers);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 100);
	if (s == NATS_OK && reconnected != NULL)
		s = natsOptions_SetReconnectedCB(o, reconnected, closure);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	return s;
}

/* ---- errors ------------------------------------------------------------ */

/* Record a failure of what and map it: unreachable or timed out is
 * STORE_BUSY (a 503: the cluster may have lost its quorum), out of storage
 * STORE_FULL, else STORE_ERROR. */
static enum store_result
ns_fail(struct ns_store *st, const char *what, natsStatus s, jsErrCode jerr)
{
	const char *last = nats_GetLastError(NULL);

	snprintf(st->err, sizeof st->err, "nats %s: %s%s%s (JetStream error %d)", what, natsStatus_GetText(s),
		 last != NULL ? ": " : "", last != NULL ? last : "", (int)jerr);
	if (jerr == JSInsufficientResourcesErr || jerr == JSStorageResourcesExceededErr)
		return STORE_FULL;
	switch (s) {
	case NATS_TIMEOUT:
	case NATS_NO_SERVER:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_STALE_CONNECTION:
	case NATS_NO_RESPONDERS:
		return STORE_BUSY;
	default:
		return STORE_ERROR;
	}
}

/* ---- open and close --------------------------------------------------- */

/* Make sure a stream named name with subject exists (create it when
 * create is set), returning its info in *si (caller destroys). */
static natsStatus
ns_stream_ensure(struct ns_store *st, const char *name, const char *subject, const char *description,
		 int replicas, int create, jsStreamInfo **si, jsErrCode *jerr)
{
	jsStreamConfig cfg;
	natsStatus s;

	s = js_GetStreamInfo(si, st->js, name, NULL, jerr);
	if (s != NATS_NOT_FOUND || !create)
		return s;
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Description = description;
	cfg.Subjects = &subject;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = replicas;
	cfg.AllowDirect = true;
	/* Idempotency keys (Nats-Msg-Id) are remembered this long: the default
	 * idempotency_window_s, fixed when the stream is made. */
	cfg.Duplicates = (int64_t)STORE_IDEM_WINDOW_MS_DEFAULT * 1000000;
	s = js_AddStream(si, st->js, &cfg, NULL, jerr);
	if (s != NATS_OK && *jerr == JSStreamNameExistErr) /* created by another process meanwhile */
		s = js_GetStreamInfo(si, st->js, name, NULL, jerr);
	return s;
}

static void
ns_close(struct store *base)
{
	struct ns_store *st = (struct ns_store *)base;

	if (st->body != NULL)
		natsMsg_Destroy(st->body);
	kvStore_Destroy(st->kv);
	jsCtx_Destroy(st->js);
	if (st->nc != NULL)
		natsConnection_Close(st->nc);
	natsConnection_Destroy(st->nc);
	json_parse_free(st->jp);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->acked_cond);
	free(st->slots);
	free(st);
}

static void ns_ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);

static struct store *
ns_open(const char *location, int flags, int busy_timeout_ms, char **cause)
{
	struct ns_store *st;
	struct ns_loc loc;
	jsStreamInfo *si = NULL;
	jsOptions jo;
	kvConfig kc;
	jsErrCode jerr = 0;
	natsStatus s;
	unsigned char rnd[STORE_EPOCH_LEN / 2];
	char desc[64], bucket[NS_STREAM_MAX + 16], all[NS_STREAM_MAX + 32], del[NS_STREAM_MAX + 32];
	const char *what = "connect";
	int create = (flags & STORE_CREATE) != 0 && (flags & STORE_READONLY) == 0;
	size_t i;

	if (ns_loc_parse(location, &loc, cause) != 0)
		return NULL;
	st = xcalloc(1, sizeof *st);
	st->base.ops = &store_nats_ops;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->acked_cond, NULL);
	snprintf(st->stream, sizeof st->stream, "%s", loc.stream);
	snprintf(st->del_stream, sizeof st->del_stream, "%s_deletions", loc.stream);
	snprintf(st->prefix, sizeof st->prefix, "fcpush.%s", loc.stream);
	snprintf(bucket, sizeof bucket, "%s_channels", loc.stream);
	snprintf(all, sizeof all, "%s.ch.>", st->prefix);
	snprintf(del, sizeof del, "%s.del", st->prefix);
	st->wait_ms = busy_timeout_ms > 1000 ? busy_timeout_ms : 1000;
	st->jp = json_parse_new(cause);
	if (st->jp == NULL)
		goto fail_quiet;

	s = ns_connect(&loc, st->wait_ms, NULL, NULL, &st->nc);
	if (s == NATS_OK) {
		what = "JetStream";
		jsOptions_Init(&jo);
		jo.Wait = st->wait_ms;
		jo.PublishAsync.AckHandler = ns_ack_cb;
		jo.PublishAsync.AckHandlerClosure = st;
		s = natsConnection_JetStream(&st->js, st->nc, &jo);
	}
	if (s == NATS_OK) {
		what = "deletion log stream";
		s = ns_stream_ensure(st, st->del_stream, del, "fcpush deletion log", loc.replicas, create, &si, &jerr);
		jsStreamInfo_Destroy(si);
		si = NULL;
	}
	if (s == NATS_OK) {
		what = "channel bucket";
		s = js_KeyValue(&st->kv, st->js, bucket);
		if (s != NATS_OK && create) {
			kvConfig_Init(&kc);
			kc.Bucket = bucket;
			kc.History = 1;
			kc.Replicas = loc.replicas;
			s = js_CreateKeyValue(&st->kv, st->js, &kc);
		}
	}
	if (s == NATS_OK) {
		what = "message stream";
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			memset(rnd, 0, sizeof rnd);
		memcpy(desc, "fcpush epoch ", 13);
		for (i = 0; i < sizeof rnd; i++)
			snprintf(desc + 13 + 2 * i, 3, "%02x", rnd[i]);
		s = ns_stream_ensure(st, st->stream, all, desc, loc.replicas, create, &si, &jerr);
	}
	if (s != NATS_OK) {
		ns_fail(st, what, s, jerr);
		if (cause != NULL)
			*cause = xasprintf("%s (location nats:%s%s)", st->err, location,
					   s == NATS_NOT_FOUND ? "; not created without STORE_CREATE" : "");
		goto fail_quiet;
	}
	if (si->Config->Description == NULL || strncmp(si->Config->Description, "fcpush epoch ", 13) != 0 ||
	    strlen(si->Config->Description) != 13 + STORE_EPOCH_LEN) {
		if (cause != NULL)
			*cause = xasprintf("stream %s exists but is not an fcpush store (its description is not"
					   " \"fcpush epoch <16 hex>\")", st->stream);
		goto fail_quiet;
	}
	snprintf(st->epoch, sizeof st->epoch, "%s", si->Config->Description + 13);
	jsStreamInfo_Destroy(si);
	ns_loc_fini(&loc);
	return &st->base;

fail_quiet:
	jsStreamInfo_Destroy(si);
	ns_loc_fini(&loc);
	ns_close(&st->base);
	return NULL;
}

static const char *
ns_epoch(const struct store *base)
{
	return ((const struct ns_store *)base)->epoch;
}

static const char *
ns_errmsg(struct store *base)
{
	return ((struct ns_store *)base)->err;
}

static const char *
ns_version(void)
{
	return nats_GetVersion();
}

/* ---- channel rows (KV) ------------------------------------------------- */

/* Read channel's row; *rev 0 and STORE_NOTFOUND when it has none. */
static enum store_result
ns_row_get(struct ns_store *st, const char *channel, struct ns_row *row, uint64_t *rev)
{
	kvEntry *e = NULL;
	char *key = ns_encode(channel), text[160];
	natsStatus s;
	int len;

	memset(row, 0, sizeof *row);
	*rev = 0;
	s = kvStore_Get(&e, st->kv, key);
	free(key);
	if (s == NATS_NOT_FOUND)
		return STORE_NOTFOUND;
	if (s != NATS_OK)
		return ns_fail(st, "channel row get", s, 0);
	len = kvEntry_ValueLen(e);
	snprintf(text, sizeof text, "%.*s", len, (const char *)kvEntry_Value(e));
	*rev = kvEntry_Revision(e);
	kvEntry_Destroy(e);
	if (sscanf(text, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &row->created_ms,
		   &row->trimmed_seq, &row->r.max_messages, &row->r.max_age_ms, &row->r.max_bytes) != 5) {
		snprintf(st->err, sizeof st->err, "nats: channel row of %s is not fcpush's: \"%s\"", channel, text);
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* Change channel's row with edit (compare-and-set on the revision, retried
 * while another process changes it in between). A missing row starts with
 * created_ms = now_ms. */
static enum store_result
ns_row_update(struct ns_store *st, const char *channel, int64_t now_ms,
	      void (*edit)(struct ns_row *row, const void *arg), const void *arg)
{
	struct ns_row row;
	enum store_result r;
	uint64_t rev, newrev;
	natsStatus s = NATS_OK;
	char *key = ns_encode(channel), text[160];
	int tries;

	for (tries = 0; tries < 20; tries++) {
		r = ns_row_get(st, channel, &row, &rev);
		if (r == STORE_NOTFOUND)
			row.created_ms = now_ms;
		else if (r != STORE_OK)
			goto out;
		edit(&row, arg);
		snprintf(text, sizeof text, "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, row.created_ms,
			 row.trimmed_seq, row.r.max_messages, row.r.max_age_ms, row.r.max_bytes);
		s = rev == 0 ? kvStore_CreateString(&newrev, st->kv, key, text)
			     : kvStore_UpdateString(&newrev, st->kv, key, text, rev);
		if (s == NATS_OK) {
			r = STORE_OK;
			goto out;
		}
		if (s != NATS_ERR)
			break; /* a conflict is NATS_ERR (wrong last sequence): retry */
	}
	r = ns_fail(st, "channel row update", s, 0);
out:
	free(key);
	return r;
}

/* ---- reading messages ------------------------------------------------- */

/* The int64 value of header key of m, or dflt. */
static int64_t
ns_hdr_i64(natsMsg *m, const char *key, int64_t dflt)
{
	const char *v = NULL;
	int64_t x;

	if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == NULL ||
	    util_parse_i64(v, INT64_MIN, INT64_MAX, &x) != 0)
		return dflt;
	return x;
}

/* A direct get from stream: with subject (may be a wildcard), the first
 * message on it at or after seq from; without, the message at seq from.
 * STORE_NOTFOUND when there is none. */
static enum store_result
ns_get(struct ns_store *st, const char *stream, const char *subject, int64_t from, natsMsg **out)
{
	jsDirectGetMsgOptions o;
	natsStatus s;

	*out = NULL;
	if (from <= 0 && subject == NULL)
		return STORE_NOTFOUND;
	jsDirectGetMsgOptions_Init(&o);
	o.Sequence = (uint64_t)(from > 0 ? from : 1);
	o.NextBySubject = subject;
	s = js_DirectGetMsg(out, st->js, stream, NULL, &o);
	if (s == NATS_NOT_FOUND)
		return STORE_NOTFOUND;
	if (s != NATS_OK)
		return ns_fail(st, "direct get", s, 0);
	return STORE_OK;
}

static int64_t
ns_msg_seq(natsMsg *m)
{
	return ns_hdr_i64(m, "Nats-Sequence", 0);
}

/* The stream subject a direct-get answer came from. */
static const char *
ns_msg_subject(natsMsg *m)
{
	const char *v = NULL;

	return natsMsgHeader_Get(m, "Nats-Subject", &v) == NATS_OK && v != NULL ? v : "";
}

/* The channel name of a message subject into out; -1 when the subject is
 * not a channel of this store. */
static int
ns_subject_channel(const struct ns_store *st, const char *subject, char *out, size_t size)
{
	size_t n = strlen(st->prefix);

	if (strncmp(subject, st->prefix, n) != 0 || strncmp(subject + n, ".ch.", 4) != 0)
		return -1;
	return ns_decode(subject + n + 4, out, size);
}

/* One message (struct msg) of a direct-get answer (msg.h: one allocation). */
static struct msg *
ns_message(struct ns_store *st, natsMsg *nm)
{
	const char *event = NULL, *type = NULL, *body = natsMsg_GetData(nm);
	char channel[129];
	size_t clen, elen = 0, tlen, blen = (size_t)natsMsg_GetDataLength(nm), keep;
	struct msg *m;
	char *p;

	if (ns_subject_channel(st, ns_msg_subject(nm), channel, sizeof channel) != 0)
		snprintf(channel, sizeof channel, "?");
	if (natsMsgHeader_Get(nm, "Fcpush-Event", &event) != NATS_OK)
		event = NULL;
	if (natsMsgHeader_Get(nm, "Content-Type", &type) != NATS_OK || type == NULL)
		type = "application/octet-stream";
	clen = strlen(channel);
	if (event != NULL)
		elen = strlen(event);
	tlen = strlen(type);
	keep = blen <= STORE_INLINE_MAX_BYTES ? blen : 0;
	m = xmalloc(sizeof *m + clen + 1 + (event != NULL ? elen + 1 : 0) + tlen + 1 + keep + 1);
	p = (char *)(m + 1);
	m->seq = ns_msg_seq(nm);
	m->time_ms = ns_hdr_i64(nm, "Fcpush-Time", 0);
	m->channel = p;
	memcpy(p, channel, clen + 1);
	p += clen + 1;
	m->event = NULL;
	if (event != NULL) {
		m->event = p;
		memcpy(p, event, elen + 1);
		p += elen + 1;
	}
	m->content_type = p;
	memcpy(p, type, tlen + 1);
	p += tlen + 1;
	m->body = (const unsigned char *)p;
	if (keep > 0)
		memcpy(p, body, keep);
	p[keep] = '\0';
	m->body_len = blen;
	m->body_omitted = blen > STORE_INLINE_MAX_BYTES;
	m->body_is_json = !m->body_omitted && json_content_type_is_json(type) &&
			  memchr(m->body, '\0', blen) == NULL && json_utf8_valid(m->body, blen) &&
			  json_parse_valid(st->jp, (const char *)m->body, blen) == 1;
	return m;
}

/* Walk the messages on the ns subjects (merged in seq order) after since,
 * up to limit, calling fn on each; fn returns 1 to stop. Duplicate subjects
 * are read once. */
static enum store_result
ns_walk(struct ns_store *st, char **subjects, size_t ns, int64_t since, size_t limit,
	int (*fn)(struct ns_store *st, natsMsg *m, void *arg), void *arg)
{
	natsMsg **head = xcalloc(ns > 0 ? ns : 1, sizeof *head);
	char *done = xcalloc(ns > 0 ? ns : 1, 1);
	int64_t *next = xcalloc(ns > 0 ? ns : 1, sizeof *next);
	enum store_result r = STORE_OK;
	size_t i, j, best, count = 0;

	for (i = 0; i < ns; i++) {
		next[i] = since + 1;
		for (j = 0; j < i; j++)
			if (strcmp(subjects[i], subjects[j]) == 0)
				done[i] = 1;
	}
	while (count < limit) {
		best = ns;
		for (i = 0; i < ns; i++) {
			if (done[i])
				continue;
			if (head[i] == NULL) {
				r = ns_get(st, st->stream, subjects[i], next[i], &head[i]);
				if (r == STORE_NOTFOUND) {
					done[i] = 1;
					r = STORE_OK;
					continue;
				}
				if (r != STORE_OK)
					goto out;
			}
			if (best == ns || ns_msg_seq(head[i]) < ns_msg_seq(head[best]))
				best = i;
		}
		if (best == ns)
			break;
		next[best] = ns_msg_seq(head[best]) + 1;
		count++;
		j = (size_t)fn(st, head[best], arg);
		natsMsg_Destroy(head[best]);
		head[best] = NULL;
		if (j)
			break;
	}
out:
	for (i = 0; i < ns; i++)
		natsMsg_Destroy(head[i]);
	free(head);
	free(done);
	free(next);
	return r;
}

/* The subjects of nch channels, malloc'd array of malloc'd strings. */
static char **
ns_subjects(struct ns_store *st, const char *const *channels, size_t nch)
{
	char **v = xcalloc(nch > 0 ? nch : 1, sizeof *v);
	size_t i;

	for (i = 0; i < nch; i++)
		v[i] = ns_subject(st, channels[i]);
	return v;
}

static void
ns_subjects_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct ns_collect {
	struct msglist *out;
};

/* ns_walk callback: append to a msglist, stop at its byte budget. */
static int
ns_collect_cb(struct ns_store *st, natsMsg *m, void *arg)
{
	struct msglist *out = arg;

	msglist_push(out, ns_message(st, m));
	if (out->max_bytes > 0 && out->bytes >= out->max_bytes) {
		out->truncated = 1;
		return 1;
	}
	return 0;
}

/* Read into out as read_rows does in the SQLite backend: on failure out is
 * left as it was. */
static enum store_result
ns_read(struct ns_store *st, char **subjects, size_t ns, int64_t since, size_t limit, struct msglist *out)
{
	size_t n0 = out->n, bytes0 = out->bytes;
	enum store_result r;

	out->truncated = 0;
	r = ns_walk(st, subjects, ns, since, limit, ns_collect_cb, out);
	if (r != STORE_OK) {
		while (out->n > n0)
			free(out->v[--out->n]);
		out->bytes = bytes0;
		out->truncated = 0;
	}
	return r;
}

static enum store_result
ns_read_since(struct store *base, const char *const *channels, size_t nch, int64_t since, size_t limit,
	      struct msglist *out)
{
	struct ns_store *st = (struct ns_store *)base;
	char **subj = ns_subjects(st, channels, nch);
	enum store_result r = ns_read(st, subj, nch, since, limit, out);

	ns_subjects_free(subj, nch);
	return r;
}

static enum store_result
ns_read_all_since(struct store *base, int64_t since, size_t limit, struct msglist *out)
{
	struct ns_store *st = (struct ns_store *)base;
	char *all = xasprintf("%s.ch.>", st->prefix);
	enum store_result r = ns_read(st, &all, 1, since, limit, out);

	free(all);
	return r;
}

/* A ring of the last n + 1 seqs walked (for store_last_cursor). */
struct ns_ring {
	int64_t *v;
	size_t size, count;
};

static int
ns_ring_cb(struct ns_store *st, natsMsg *m, void *arg)
{
	struct ns_ring *ring = arg;

	ring->v[ring->count++ % ring->size] = ns_msg_seq(m);
	return 0;
}

static enum store_result
ns_last_cursor(struct store *base, const char *const *channels, size_t nch, size_t n, int64_t *since)
{
	struct ns_store *st = (struct ns_store *)base;
	char **subj = ns_subjects(st, channels, nch);
	struct ns_ring ring = { xcalloc(n + 1, sizeof(int64_t)), n + 1, 0 };
	enum store_result r;

	*since = 0;
	r = ns_walk(st, subj, nch, 0, SIZE_MAX, ns_ring_cb, &ring);
	if (r == STORE_OK && ring.count > n)
		*since = ring.v[ring.count % ring.size]; /* the (n + 1)-th newest */
	free(ring.v);
	ns_subjects_free(subj, nch);
	return r;
}

static enum store_result
ns_read_last(struct store *base, const char *const *channels, size_t nch, size_t n, struct msglist *out)
{
	struct msglist tmp;
	enum store_result r;
	int64_t since = 0;
	size_t i, from, bytes = 0;

	r = ns_last_cursor(base, channels, nch, n, &since);
	if (r != STORE_OK)
		return r;
	msglist_init(&tmp);
	r = ns_read_since(base, channels, nch, since, n, &tmp);
	out->truncated = 0;
	if (r == STORE_OK) {
		/* the newest within the budget, at least one */
		from = tmp.n;
		while (from > 0 && (out->max_bytes == 0 || from == tmp.n || bytes < out->max_bytes)) {
			from--;
			bytes += tmp.v[from]->body_omitted ? 0 : tmp.v[from]->body_len;
		}
		out->truncated = from > 0;
		for (i = 0; i < tmp.n; i++) {
			if (i >= from)
				msglist_push(out, tmp.v[i]);
			else
				free(tmp.v[i]);
		}
		tmp.n = 0;
	}
	msglist_fini(&tmp);
	return r;
}

static enum store_result
ns_read_one(struct store *base, const char *channel, int64_t seq, struct msglist *out)
{
	struct ns_store *st = (struct ns_store *)base;
	char *subj = ns_subject(st, channel);
	natsMsg *m = NULL;
	enum store_result r = ns_get(st, st->stream, NULL, seq, &m);

	if (r == STORE_OK && strcmp(ns_msg_subject(m), subj) != 0)
		r = STORE_NOTFOUND;
	if (r == STORE_OK)
		msglist_push(out, ns_message(st, m));
	natsMsg_Destroy(m);
	free(subj);
	return r;
}

/* The last sequence stream ever assigned. */
static enum store_result
ns_last_seq(struct ns_store *st, const char *stream, int64_t *seq)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);

	*seq = 0;
	if (s != NATS_OK)
		return ns_fail(st, "stream info", s, jerr);
	*seq = (int64_t)si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return STORE_OK;
}

static enum store_result
ns_high_seq(struct store *base, int64_t *seq)
{
	struct ns_store *st = (struct ns_store *)base;

	return ns_last_seq(st, st->stream, seq);
}

static enum store_result
ns_gap(struct store *base, const char *const *channels, size_t nch, int64_t since, int64_t *trimmed,
       int64_t *oldest)
{
	struct ns_store *st = (struct ns_store *)base;
	struct ns_row row;
	enum store_result r = STORE_OK;
	natsMsg *m = NULL;
	uint64_t rev;
	char *subj;
	size_t i;

	*trimmed = *oldest = 0;
	for (i = 0; i < nch && r == STORE_OK; i++) {
		r = ns_row_get(st, channels[i], &row, &rev);
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
		if (r == STORE_OK && row.trimmed_seq > *trimmed)
			*trimmed = row.trimmed_seq;
		if (r != STORE_OK)
			break;
		subj = ns_subject(st, channels[i]);
		r = ns_get(st, st->stream, subj, since + 1, &m);
		free(subj);
		if (r == STORE_OK && (*oldest == 0 || ns_msg_seq(m) < *oldest))
			*oldest = ns_msg_seq(m);
		natsMsg_Destroy(m);
		m = NULL;
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
	}
	if (r != STORE_OK)
		*trimmed = *oldest = 0;
	return r;
}

/* ---- appends --------------------------------------------------------- */

/* PubAck (or its failure) of one async publish, on libnats' thread. The
 * message is matched to its slot by address while it is still alive (it is
 * destroyed here, after the match; a slot once done is never matched again,
 * so a later message at the same address cannot be taken for it). */
static void
ns_ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct ns_store *st = closure;
	size_t i;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nslots; i++) {
		if (st->slots[i].done || st->slots[i].msg != msg)
			continue;
		st->slots[i].done = 1;
		if (pa != NULL) {
			st->slots[i].seq = (int64_t)pa->Sequence;
			st->slots[i].dup = pa->Duplicate;
		} else {
			st->slots[i].err = pae != NULL ? pae->Err : NATS_ERR;
			st->slots[i].jerr = pae != NULL ? pae->ErrCode : 0;
		}
		st->nacked++;
		pthread_cond_broadcast(&st->acked_cond);
		break;
	}
	pthread_mutex_unlock(&st->lock);
	natsMsg_Destroy(msg); /* an AckHandler owns the message (nats.h, jsPubAckHandler) */
}

/* The largest body of a message: max_payload less NS_HEADER_RESERVE (0 when
 * the server's max_payload is not known). *why names it. */
static int64_t
ns_max_body(struct store *base, const char **why)
{
	struct ns_store *st = (struct ns_store *)base;
	int64_t max = natsConnection_GetMaxPayload(st->nc);

	if (max <= NS_HEADER_RESERVE)
		return 0;
	snprintf(st->limit_why, sizeof st->limit_why,
		 "the NATS server's max_payload of %" PRId64 " bytes less %d for headers (raise max_payload in the "
		 "nats-server config, at most 64 MB)",
		 max, NS_HEADER_RESERVE);
	if (why != NULL)
		*why = st->limit_why;
	return max - NS_HEADER_RESERVE;
}

/* Read a file body into memory (it is bounded by max_payload). */
static enum store_result
ns_body_file(const struct store_pub *p, char **data, char **cause)
{
	FILE *f = fopen(p->body_path, "rb");

	*data = xmalloc(p->body_len > 0 ? p->body_len : 1);
	if (f == NULL || fread(*data, 1, p->body_len, f) != p->body_len) {
		*cause = xasprintf("cannot read the body from %s: %s", p->body_path,
				   f == NULL ? strerror(errno) : "shorter than announced");
		if (f != NULL)
			fclose(f);
		free(*data);
		*data = NULL;
		return STORE_INVALID;
	}
	fclose(f);
	return STORE_OK;
}

/* The bytes of the headers ns_pub_msg gives a message (NATS/1.0 framing
 * included), for the max_payload check. */
static size_t
ns_header_bytes(const char *type, const char *event, const char *channel, const char *idem_key)
{
	size_t n = sizeof "NATS/1.0\r\n\r\n" - 1 + sizeof "Fcpush-Time: -9223372036854775808\r\n" - 1 +
		   sizeof "Content-Type: \r\n" - 1 + strlen(type);

	if (event != NULL)
		n += sizeof "Fcpush-Event: \r\n" - 1 + strlen(event);
	if (idem_key != NULL)
		n += sizeof "Nats-Msg-Id: /\r\n" - 1 + strlen(channel) + strlen(idem_key);
	return n;
}

/* The NATS message of pub p, or STORE_INVALID with *cause. */
static enum store_result
ns_pub_msg(struct ns_store *st, const struct store_pub *p, int64_t now_ms, natsMsg **out, char **cause)
{
	const char *type = p->content_type != NULL ? p->content_type : "application/octet-stream";
	int64_t max = natsConnection_GetMaxPayload(st->nc);
	size_t hdr;
	char *subj = NULL, *filebody = NULL, ts[24];
	enum store_result r = STORE_OK;
	natsStatus s;

	*out = NULL;
	if (p->channel == NULL || p->channel[0] == '\0' || strlen(p->channel) > 128) {
		*cause = xstrdup("a channel name is 1-128 bytes");
		return STORE_INVALID;
	}
	if (strpbrk(type, "\r\n") != NULL || (p->event != NULL && strpbrk(p->event, "\r\n") != NULL)) {
		*cause = xstrdup("a content type or event name holds a line break");
		return STORE_INVALID;
	}
	if (p->idem_key != NULL && !store_idem_key_valid_max(p->idem_key, STORE_IDEM_STORED_KEY_MAX_BYTES)) {
		*cause = xasprintf("an idempotency key is 1 to %d bytes of visible ASCII", STORE_IDEM_KEY_MAX_BYTES);
		return STORE_INVALID;
	}
	/* The reserve, or more for headers longer than any a publisher sends */
	hdr = ns_header_bytes(type, p->event, p->channel, p->idem_key);
	if (hdr < NS_HEADER_RESERVE)
		hdr = NS_HEADER_RESERVE;
	if ((int64_t)(p->body_len + hdr) > max) {
		*cause = xasprintf("a body of %zu bytes is over the NATS backend's limit: the server's max_payload"
				   " of %" PRId64 " bytes less %zu for headers (raise max_payload in the nats-server"
				   " config, at most 64 MB)",
				   p->body_len, max, hdr);
		return STORE_INVALID;
	}
	if (p->body_path != NULL && (r = ns_body_file(p, &filebody, cause)) != STORE_OK)
		return r;
	subj = ns_subject(st, p->channel);
	s = natsMsg_Create(out, subj, NULL, filebody != NULL ? filebody : p->body, (int)p->body_len);
	snprintf(ts, sizeof ts, "%" PRId64, now_ms);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(*out, "Fcpush-Time", ts);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(*out, "Content-Type", type);
	if (s == NATS_OK && p->event != NULL)
		s = natsMsgHeader_Set(*out, "Fcpush-Event", p->event);
	if (s == NATS_OK && p->idem_key != NULL) {
		/* JetStream's own deduplication: one key per channel, as SQLite's */
		char *id = xasprintf("%s/%s", p->channel, p->idem_key);

		s = natsMsgHeader_Set(*out, "Nats-Msg-Id", id);
		free(id);
	}
	if (s != NATS_OK) {
		r = ns_fail(st, "message", s, 0);
		*cause = xstrdup(st->err);
		natsMsg_Destroy(*out);
		*out = NULL;
	}
	free(subj);
	free(filebody);
	return r;
}

/* A publish of pub p came back as a duplicate of seq (its Nats-Msg-Id was
 * seen): read the original and tell whether p is the same message (event,
 * content type and body), setting *time_ms to the original's publish time.
 * STORE_OK when it is, STORE_CONFLICT (with *cause) when the key was used
 * for another payload, another result when the original cannot be read. */
static enum store_result
ns_replay_check(struct ns_store *st, const struct store_pub *p, int64_t seq, int64_t *time_ms, char **cause)
{
	const char *type = p->content_type != NULL ? p->content_type : "application/octet-stream";
	const char *otype = NULL, *oevent = NULL;
	char *filebody = NULL;
	const void *body = p->body;
	natsMsg *m = NULL;
	enum store_result r;
	int same;

	if ((r = ns_get(st, st->stream, NULL, seq, &m)) != STORE_OK) {
		*cause = xasprintf("cannot read the message an idempotency key stored (seq %" PRId64 "): %s", seq,
				   r == STORE_NOTFOUND ? "it is gone" : st->err);
		return r == STORE_NOTFOUND ? STORE_ERROR : r;
	}
	if (p->body_path != NULL && (r = ns_body_file(p, &filebody, cause)) != STORE_OK) {
		natsMsg_Destroy(m);
		return r;
	}
	if (filebody != NULL)
		body = filebody;
	if (natsMsgHeader_Get(m, "Content-Type", &otype) != NATS_OK || otype == NULL)
		otype = "application/octet-stream";
	if (natsMsgHeader_Get(m, "Fcpush-Event", &oevent) != NATS_OK)
		oevent = NULL;
	same = strcmp(type, otype) == 0 && (p->event == NULL) == (oevent == NULL) &&
	       (p->event == NULL || strcmp(p->event, oevent) == 0) &&
	       (size_t)natsMsg_GetDataLength(m) == p->body_len &&
	       (p->body_len == 0 || memcmp(natsMsg_GetData(m), body, p->body_len) == 0);
	*time_ms = ns_hdr_i64(m, "Fcpush-Time", *time_ms);
	natsMsg_Destroy(m);
	free(filebody);
	if (same)
		return STORE_OK;
	*cause = xasprintf("idempotency key %s was used for another message on this channel (seq %" PRId64 ")",
			   p->idem_key, seq);
	return STORE_CONFLICT;
}

static enum store_result
ns_append_groups(struct store *base, struct store_group *groups, size_t ngroups, int64_t now_ms)
{
	struct ns_store *st = (struct ns_store *)base;
	size_t g, i, k, total = 0, *first = xcalloc(ngroups + 1, sizeof *first);
	jsPubOptions po;
	natsMsg *m;
	natsStatus s;
	enum store_result r, last = STORE_OK;
	struct timespec until;
	size_t failed = 0;

	for (g = 0; g < ngroups; g++) {
		first[g] = total;
		total += groups[g].n;
		groups[g].result = STORE_OK;
		groups[g].cause = NULL;
	}
	first[ngroups] = total;
	/* Each ack has its own deadline: an ack lost with a server (killed
	 * before it answered) is then reported to ns_ack_cb as a timeout and
	 * leaves libnats' pending set; without one it stays pending for ever
	 * and every later js_PublishAsyncComplete times out. */
	jsPubOptions_Init(&po);
	po.MaxWait = st->wait_ms;
	pthread_mutex_lock(&st->lock);
	st->slots = xrealloc(st->slots, (total > 0 ? total : 1) * sizeof *st->slots);
	memset(st->slots, 0, (total > 0 ? total : 1) * sizeof *st->slots);
	st->nslots = total;
	st->npub = st->nacked = 0;
	pthread_mutex_unlock(&st->lock);

	/* a group is built whole before any of it is published: one that
	 * cannot be built (bad input, unreadable body file) publishes nothing */
	for (g = 0; g < ngroups; g++) {
		natsMsg **msgs = xcalloc(groups[g].n > 0 ? groups[g].n : 1, sizeof *msgs);

		for (i = 0; i < groups[g].n; i++) {
			r = ns_pub_msg(st, &groups[g].pubs[i], now_ms, &msgs[i], &groups[g].cause);
			if (r != STORE_OK) {
				groups[g].result = r;
				break;
			}
		}
		for (i = 0; i < groups[g].n; i++) {
			k = first[g] + i;
			m = msgs[i];
			if (m == NULL)
				continue;
			if (groups[g].result != STORE_OK) {
				natsMsg_Destroy(m);
				continue;
			}
			pthread_mutex_lock(&st->lock);
			st->slots[k].msg = m;
			st->npub++;
			pthread_mutex_unlock(&st->lock);
			s = js_PublishMsgAsync(st->js, &m, &po);
			if (s != NATS_OK) {
				natsMsg_Destroy(m);
				pthread_mutex_lock(&st->lock);
				st->slots[k].msg = NULL;
				st->slots[k].done = 1;
				st->slots[k].err = s;
				st->nacked++;
				pthread_mutex_unlock(&st->lock);
			}
		}
		free(msgs);
	}
	s = js_PublishAsyncComplete(st->js, &po);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&st->lock);
	while (st->nacked < st->npub && s == NATS_OK)
		if (pthread_cond_timedwait(&st->acked_cond, &st->lock, &until) != 0)
			break;
	for (g = 0; g < ngroups; g++) {
		for (i = 0; i < groups[g].n; i++) {
			k = first[g] + i;
			if (groups[g].result == STORE_OK && st->slots[k].done == 1 && st->slots[k].err == NATS_OK) {
				groups[g].seqs[i] = st->slots[k].seq;
				if (groups[g].outcomes != NULL) {
					groups[g].outcomes[i].replayed = st->slots[k].dup;
					groups[g].outcomes[i].time_ms = now_ms;
				}
				continue;
			}
			if (groups[g].result == STORE_OK) {
				natsStatus e = st->slots[k].done ? st->slots[k].err : (s != NATS_OK ? s : NATS_TIMEOUT);

				groups[g].result = ns_fail(st, "publish", e, st->slots[k].jerr);
				groups[g].cause = xstrdup(st->err);
			}
		}
	}
	pthread_mutex_unlock(&st->lock);
	/* A replay is a replay only of the same message: the original is read
	 * back (replays are rare) for its time and to refuse a reused key. */
	for (g = 0; g < ngroups; g++) {
		for (i = 0; i < groups[g].n && groups[g].result == STORE_OK; i++) {
			int64_t t = now_ms;

			k = first[g] + i;
			if (!st->slots[k].dup)
				continue;
			r = ns_replay_check(st, &groups[g].pubs[i], st->slots[k].seq, &t, &groups[g].cause);
			if (r != STORE_OK)
				groups[g].result = r;
			else if (groups[g].outcomes != NULL)
				groups[g].outcomes[i].time_ms = t;
		}
	}
	/* a failed group keeps nothing: delete what of it was stored */
	for (g = 0; g < ngroups; g++) {
		if (groups[g].result == STORE_OK)
			continue;
		failed++;
		last = groups[g].result;
		for (k = first[g]; k < first[g + 1]; k++)
			if (st->slots[k].seq > 0 && !st->slots[k].dup) /* a replay's seq is the original's */
				js_DeleteMsg(st->js, st->stream, (uint64_t)st->slots[k].seq, NULL, NULL);
	}
	free(first);
	if (ngroups > 0 && failed == ngroups && (last == STORE_BUSY || last == STORE_ERROR)) {
		for (g = 0; g < ngroups; g++)
			if (groups[g].result != last) {
				last = STORE_OK;
				break;
			}
		if (last != STORE_OK)
			return last;
	}
	return STORE_OK;
}

/* ---- channels ------------------------------------------------------------ */

struct ns_stats {
	struct store_channel_info *info;
	int collect; /* for trim: keep every message's seq, time and size */
	int64_t *seqs, *times, *sizes;
	size_t n, cap;
};

static int
ns_stats_cb(struct ns_store *st, natsMsg *m, void *arg)
{
	struct ns_stats *a = arg;
	int64_t seq = ns_msg_seq(m), size = natsMsg_GetDataLength(m), t = ns_hdr_i64(m, "Fcpush-Time", 0);

	if (a->info != NULL) {
		if (a->info->messages++ == 0)
			a->info->first_seq = seq;
		a->info->last_seq = seq;
		a->info->bytes += size;
		a->info->last_time_ms = t;
	}
	if (a->collect) {
		if (a->n == a->cap) {
			a->cap = a->cap ? 2 * a->cap : 64;
			a->seqs = xrealloc(a->seqs, a->cap * sizeof *a->seqs);
			a->times = xrealloc(a->times, a->cap * sizeof *a->times);
			a->sizes = xrealloc(a->sizes, a->cap * sizeof *a->sizes);
		}
		a->seqs[a->n] = seq;
		a->times[a->n] = t;
		a->sizes[a->n] = size;
		a->n++;
	}
	return 0;
}

static void
ns_stats_fini(struct ns_stats *a)
{
	free(a->seqs);
	free(a->times);
	free(a->sizes);
}

static enum store_result
ns_channel_info(struct store *base, const char *channel, struct store_channel_info *info)
{
	struct ns_store *st = (struct ns_store *)base;
	struct ns_stats a = { info, 0, NULL, NULL, NULL, 0, 0 };
	struct ns_row row;
	enum store_result r, rr;
	uint64_t rev;
	char *subj;

	memset(info, 0, sizeof *info);
	snprintf(info->name, sizeof info->name, "%s", channel);
	rr = ns_row_get(st, channel, &row, &rev);
	if (rr != STORE_OK && rr != STORE_NOTFOUND)
		return rr;
	subj = ns_subject(st, channel);
	r = ns_walk(st, &subj, 1, 0, SIZE_MAX, ns_stats_cb, &a);
	free(subj);
	ns_stats_fini(&a);
	if (r != STORE_OK)
		return r;
	if (rr == STORE_NOTFOUND && info->messages == 0)
		return STORE_NOTFOUND;
	if (rr == STORE_OK) {
		info->trimmed_seq = row.trimmed_seq;
		info->created_ms = row.created_ms;
		info->retention = row.r;
	}
	if (info->created_ms == 0 && info->first_seq > 0) {
		natsMsg *m = NULL;

		if (ns_get(st, st->stream, NULL, info->first_seq, &m) == STORE_OK)
			info->created_ms = ns_hdr_i64(m, "Fcpush-Time", 0);
		natsMsg_Destroy(m);
	}
	return STORE_OK;
}

static int
ns_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every channel name (with messages or a row), sorted, unique: *names
 * malloc'd array of malloc'd strings. */
static enum store_result
ns_channel_names(struct ns_store *st, char ***names, size_t *n)
{
	jsStreamInfo *si = NULL;
	jsOptions o;
	jsErrCode jerr = 0;
	kvKeysList keys = { NULL, 0 };
	natsStatus s;
	char name[129], *filter = xasprintf("%s.ch.>", st->prefix);
	char **v = NULL;
	size_t cnt = 0, cap = 0, i, j;

	*names = NULL;
	*n = 0;
	jsOptions_Init(&o);
	o.Stream.Info.SubjectsFilter = filter;
	s = js_GetStreamInfo(&si, st->js, st->stream, &o, &jerr);
	free(filter);
	if (s != NATS_OK)
		return ns_fail(st, "stream info", s, jerr);
	s = kvStore_Keys(&keys, st->kv, NULL);
	if (s != NATS_OK && s != NATS_NOT_FOUND) {
		jsStreamInfo_Destroy(si);
		return ns_fail(st, "channel keys", s, 0);
	}
	for (i = 0; si->State.Subjects != NULL && i < (size_t)si->State.Subjects->Count; i++) {
		if (ns_subject_channel(st, si->State.Subjects->List[i].Subject, name, sizeof name) != 0)
			continue;
		if (cnt == cap)
			v = xrealloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
		v[cnt++] = xstrdup(name);
	}
	for (i = 0; i < (size_t)keys.Count; i++) {
		if (ns_decode(keys.Keys[i], name, sizeof name) != 0)
			continue;
		if (cnt == cap)
			v = xrealloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
		v[cnt++] = xstrdup(name);
	}
	jsStreamInfo_Destroy(si);
	kvKeysList_Destroy(&keys);
	if (cnt > 0)
		qsort(v, cnt, sizeof *v, ns_name_cmp);
	for (i = j = 0; i < cnt; i++) {
		if (j > 0 && strcmp(v[j - 1], v[i]) == 0)
			free(v[i]);
		else
			v[j++] = v[i];
	}
	*names = v;
	*n = j;
	return STORE_OK;
}

static void
ns_names_free(char **v, size_t n)
{
	ns_subjects_free(v, n);
}

static enum store_result
ns_channel_list(struct store *base, struct store_channel_info **infos, size_t *n)
{
	struct ns_store *st = (struct ns_store *)base;
	char **names = NULL;
	size_t nn = 0, i, k = 0;
	enum store_result r = ns_channel_names(st, &names, &nn);

	*infos = NULL;
	*n = 0;
	if (r != STORE_OK)
		return r;
	*infos = xcalloc(nn > 0 ? nn : 1, sizeof **infos);
	for (i = 0; i < nn && r == STORE_OK; i++) {
		r = ns_channel_info(base, names[i], &(*infos)[k]);
		if (r == STORE_OK)
			k++;
		else if (r == STORE_NOTFOUND) /* deleted meanwhile */
			r = STORE_OK;
	}
	ns_names_free(names, nn);
	if (r != STORE_OK) {
		free(*infos);
		*infos = NULL;
		return r;
	}
	*n = k;
	return STORE_OK;
}

static enum store_result
ns_channel_delete(struct store *base, const char *channel, int64_t now_ms)
{
	struct ns_store *st = (struct ns_store *)base;
	struct ns_row row;
	jsOptions o;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsMsg *m = NULL;
	natsStatus s;
	enum store_result r, rr;
	uint64_t rev;
	char *subj = ns_subject(st, channel), *key = ns_encode(channel), *del = xasprintf("%s.del", st->prefix);
	char ts[24];

	rr = ns_row_get(st, channel, &row, &rev);
	r = rr == STORE_NOTFOUND ? STORE_OK : rr;
	if (r == STORE_OK)
		r = ns_get(st, st->stream, subj, 1, &m);
	natsMsg_Destroy(m);
	m = NULL;
	if (r == STORE_NOTFOUND && rr == STORE_OK)
		r = STORE_OK;
	if (r != STORE_OK)
		goto out;
	/* messages first, then the row, then the log entry that tells others */
	jsOptions_Init(&o);
	o.Stream.Purge.Subject = subj;
	s = js_PurgeStream(st->js, st->stream, &o, &jerr);
	if (s != NATS_OK) {
		r = ns_fail(st, "purge", s, jerr);
		goto out;
	}
	if (rr == STORE_OK && (s = kvStore_Purge(st->kv, key, NULL)) != NATS_OK) {
		r = ns_fail(st, "channel row delete", s, 0);
		goto out;
	}
	snprintf(ts, sizeof ts, "%" PRId64, now_ms);
	s = natsMsg_Create(&m, del, NULL, channel, (int)strlen(channel));
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Fcpush-Time", ts);
	if (s == NATS_OK)
		s = js_PublishMsg(&pa, st->js, m, NULL, &jerr);
	if (s != NATS_OK)
		r = ns_fail(st, "deletion log", s, jerr);
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(m);
out:
	free(subj);
	free(key);
	free(del);
	return r;
}

static enum store_result
ns_deletion_high(struct store *base, int64_t *id)
{
	struct ns_store *st = (struct ns_store *)base;

	return ns_last_seq(st, st->del_stream, id);
}

static enum store_result
ns_read_deletions(struct store *base, int64_t since, struct store_deletion **dels, size_t *n)
{
	struct ns_store *st = (struct ns_store *)base;
	char *del = xasprintf("%s.del", st->prefix);
	struct store_deletion *v = NULL;
	size_t cnt = 0, cap = 0;
	enum store_result r;
	natsMsg *m = NULL;
	int64_t from = since + 1;

	for (;;) {
		r = ns_get(st, st->del_stream, del, from, &m);
		if (r != STORE_OK)
			break;
		if (cnt == cap)
			v = xrealloc(v, (cap = cap ? 2 * cap : 8) * sizeof *v);
		v[cnt].id = ns_msg_seq(m);
		snprintf(v[cnt].channel, sizeof v[cnt].channel, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
		v[cnt].time_ms = ns_hdr_i64(m, "Fcpush-Time", 0);
		from = v[cnt].id + 1;
		cnt++;
		natsMsg_Destroy(m);
		m = NULL;
	}
	free(del);
	if (r != STORE_NOTFOUND) {
		free(v);
		*dels = NULL;
		*n = 0;
		return r;
	}
	*dels = v;
	*n = cnt;
	return STORE_OK;
}

/* ---- retention --------------------------------------------------------------- */

static void
ns_edit_retention(struct ns_row *row, const void *arg)
{
	const struct store_retention *r = arg;

	row->r.max_messages = r->max_messages > 0 ? r->max_messages : 0;
	row->r.max_age_ms = r->max_age_ms > 0 ? r->max_age_ms : 0;
	row->r.max_bytes = r->max_bytes > 0 ? r->max_bytes : 0;
}

static void
ns_edit_trimmed(struct ns_row *row, const void *arg)
{
	const int64_t *seq = arg;

	if (*seq > row->trimmed_seq)
		row->trimmed_seq = *seq;
}

static enum store_result
ns_set_retention(struct store *base, const char *channel, const struct store_retention *r)
{
	struct ns_store *st = (struct ns_store *)base;

	return ns_row_update(st, channel, util_now_ms(), ns_edit_retention, r);
}

/* A channel's effective limits: its override where set, else defaults. */
static void
ns_limits(const struct ns_row *row, const struct store_retention *d, struct store_retention *out)
{
	out->max_messages = row->r.max_messages > 0 ? row->r.max_messages : d->max_messages;
	out->max_age_ms = row->r.max_age_ms > 0 ? row->r.max_age_ms : d->max_age_ms;
	out->max_bytes = row->r.max_bytes > 0 ? row->r.max_bytes : d->max_bytes;
}

static enum store_result
ns_trim(struct store *base, const struct store_retention *defaults, int64_t now_ms, int64_t *deleted)
{
	struct ns_store *st = (struct ns_store *)base;
	char **names = NULL, *subj;
	size_t nn = 0, i, cut, j;
	struct ns_row row;
	struct store_retention lim;
	struct ns_stats a;
	enum store_result r;
	uint64_t rev;
	int64_t sum, total = 0;
	jsOptions o;
	jsErrCode jerr = 0;
	natsStatus s;

	r = ns_channel_names(st, &names, &nn);
	for (i = 0; i < nn && r == STORE_OK; i++) {
		r = ns_row_get(st, names[i], &row, &rev);
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
		if (r != STORE_OK)
			break;
		ns_limits(&row, defaults, &lim);
		if (lim.max_messages <= 0 && lim.max_age_ms <= 0 && lim.max_bytes <= 0)
			continue;
		memset(&a, 0, sizeof a);
		a.collect = 1;
		subj = ns_subject(st, names[i]);
		r = ns_walk(st, &subj, 1, 0, SIZE_MAX, ns_stats_cb, &a);
		cut = 0; /* messages to delete from the oldest */
		if (r == STORE_OK) {
			if (lim.max_messages > 0 && (int64_t)a.n > lim.max_messages)
				cut = a.n - (size_t)lim.max_messages;
			for (j = 0; lim.max_age_ms > 0 && j < a.n; j++)
				if (a.times[j] < now_ms - lim.max_age_ms && j + 1 > cut)
					cut = j + 1;
			for (j = a.n, sum = 0; lim.max_bytes > 0 && j > 0; j--) {
				sum += a.sizes[j - 1];
				if (sum > lim.max_bytes) {
					if (j > cut)
						cut = j;
					break;
				}
			}
		}
		if (r == STORE_OK && cut > 0) {
			jsOptions_Init(&o);
			o.Stream.Purge.Subject = subj;
			o.Stream.Purge.Sequence = (uint64_t)a.seqs[cut - 1] + 1; /* up to, not including */
			s = js_PurgeStream(st->js, st->stream, &o, &jerr);
			if (s != NATS_OK)
				r = ns_fail(st, "purge", s, jerr);
			else
				r = ns_row_update(st, names[i], a.times[0], ns_edit_trimmed, &a.seqs[cut - 1]);
			if (r == STORE_OK)
				total += (int64_t)cut;
		}
		free(subj);
		ns_stats_fini(&a);
	}
	ns_names_free(names, nn);
	if (deleted != NULL)
		*deleted = r == STORE_OK ? total : 0;
	return r;
}

static enum store_result
ns_next_expiry(struct store *base, const struct store_retention *defaults, int64_t *when_ms)
{
	struct ns_store *st = (struct ns_store *)base;
	char **names = NULL, *subj;
	size_t nn = 0, i;
	struct ns_row row;
	struct store_retention lim;
	enum store_result r;
	natsMsg *m = NULL;
	uint64_t rev;
	int64_t t;

	*when_ms = 0;
	r = ns_channel_names(st, &names, &nn);
	for (i = 0; i < nn && r == STORE_OK; i++) {
		r = ns_row_get(st, names[i], &row, &rev);
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
		if (r != STORE_OK)
			break;
		ns_limits(&row, defaults, &lim);
		if (lim.max_age_ms <= 0)
			continue;
		subj = ns_subject(st, names[i]);
		r = ns_get(st, st->stream, subj, 1, &m);
		free(subj);
		if (r == STORE_OK) {
			t = ns_hdr_i64(m, "Fcpush-Time", 0) + lim.max_age_ms;
			if (*when_ms == 0 || t < *when_ms)
				*when_ms = t;
		}
		natsMsg_Destroy(m);
		m = NULL;
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
	}
	ns_names_free(names, nn);
	if (r != STORE_OK)
		*when_ms = 0;
	return r;
}

/* ---- bodies ------------------------------------------------------------------ */

static void
ns_body_close(struct store *base)
{
	struct ns_store *st = (struct ns_store *)base;

	natsMsg_Destroy(st->body);
	st->body = NULL;
}

static enum store_result
ns_body_open(struct store *base, const char *channel, int64_t seq, struct store_body_info *info)
{
	struct ns_store *st = (struct ns_store *)base;
	char *subj = ns_subject(st, channel);
	const char *v = NULL;
	natsMsg *m = NULL;
	enum store_result r;

	ns_body_close(base);
	r = ns_get(st, st->stream, NULL, seq, &m);
	if (r == STORE_OK && strcmp(ns_msg_subject(m), subj) != 0)
		r = STORE_NOTFOUND;
	free(subj);
	if (r != STORE_OK) {
		natsMsg_Destroy(m);
		return r;
	}
	memset(info, 0, sizeof *info);
	info->seq = seq;
	info->time_ms = ns_hdr_i64(m, "Fcpush-Time", 0);
	info->size = natsMsg_GetDataLength(m);
	snprintf(info->content_type, sizeof info->content_type, "%s",
		 natsMsgHeader_Get(m, "Content-Type", &v) == NATS_OK && v != NULL ? v : "application/octet-stream");
	v = NULL;
	if (natsMsgHeader_Get(m, "Fcpush-Event", &v) == NATS_OK && v != NULL)
		snprintf(info->event, sizeof info->event, "%s", v);
	st->body = m;
	return STORE_OK;
}

static enum store_result
ns_body_read(struct store *base, int64_t offset, void *p, size_t n)
{
	struct ns_store *st = (struct ns_store *)base;
	int64_t size;

	if (st->body == NULL || offset < 0)
		return STORE_INVALID;
	size = natsMsg_GetDataLength(st->body);
	if (offset > size || (int64_t)n > size - offset)
		return STORE_INVALID;
	memcpy(p, natsMsg_GetData(st->body) + offset, n);
	return STORE_OK;
}

/* ---- the watch --------------------------------------------------------------- */

static void
ns_watch_poke(struct ns_watch *w)
{
	uint64_t one = 1;
	ssize_t n;

	n = write(w->efd, &one, sizeof one); /* EAGAIN: the counter is already set */
	(void)n;
}

static void
ns_watch_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	ns_watch_poke(closure);
	natsMsg_Destroy(msg);
}

static void
ns_watch_reconnected(natsConnection *nc, void *closure)
{
	ns_watch_poke(closure);
}

static void
ns_watch_free(struct store_watch *base)
{
	struct ns_watch *w = (struct ns_watch *)base;

	if (w->sub != NULL)
		natsSubscription_Unsubscribe(w->sub);
	natsSubscription_Destroy(w->sub);
	if (w->nc != NULL)
		natsConnection_Close(w->nc);
	natsConnection_Destroy(w->nc);
	if (w->efd >= 0)
		close(w->efd);
	free(w);
}

static struct store_watch *
ns_watch_new(const char *location, char **cause)
{
	struct ns_watch *w;
	struct ns_loc loc;
	natsStatus s;
	char *subj;

	if (ns_loc_parse(location, &loc, cause) != 0)
		return NULL;
	w = xcalloc(1, sizeof *w);
	w->base.ops = &store_nats_ops;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		if (cause != NULL)
			*cause = xasprintf("eventfd: %s", strerror(errno));
		goto fail;
	}
	subj = xasprintf("fcpush.%s.>", loc.stream);
	s = ns_connect(&loc, 5000, ns_watch_reconnected, w, &w->nc);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&w->sub, w->nc, subj, ns_watch_msg, w);
	if (s == NATS_OK)
		s = natsConnection_FlushTimeout(w->nc, 5000); /* the subscription is in place */
	free(subj);
	if (s != NATS_OK) {
		if (cause != NULL)
			*cause = xasprintf("nats watch: %s: %s", natsStatus_GetText(s),
					   nats_GetLastError(NULL) != NULL ? nats_GetLastError(NULL) : "");
		goto fail;
	}
	ns_loc_fini(&loc);
	return &w->base;
fail:
	ns_loc_fini(&loc);
	ns_watch_free(&w->base);
	return NULL;
}

static int
ns_watch_fd(const struct store_watch *base)
{
	return ((const struct ns_watch *)base)->efd;
}

static int
ns_watch_drain(struct store_watch *base)
{
	struct ns_watch *w = (struct ns_watch *)base;
	uint64_t n = 0;

	if (read(w->efd, &n, sizeof n) != (ssize_t)sizeof n)
		return errno == EAGAIN ? 0 : -1;
	return n > 0 ? STORE_WATCH_COMMIT | STORE_WATCH_SOON : 0;
}

/* ---- idempotency keys --------------------------------------------------- */

/* JetStream keeps Nats-Msg-Id for the stream's duplicate window, one value
 * for the whole stream: set it to window_ms when it differs (a stream
 * update), so the window is the last writer's idempotency_window_s (every
 * process of one store should use the same). A failure is left in errmsg;
 * the stream keeps its window. */
static void
ns_idem_set_window(struct store *base, int64_t window_ms)
{
	struct ns_store *st = (struct ns_store *)base;
	jsStreamInfo *si = NULL, *updated = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (window_ms <= 0)
		return;
	s = js_GetStreamInfo(&si, st->js, st->stream, NULL, &jerr);
	if (s == NATS_OK && si->Config->Duplicates != window_ms * 1000000) {
		si->Config->Duplicates = window_ms * 1000000;
		s = js_UpdateStream(&updated, st->js, si->Config, NULL, &jerr);
	}
	if (s != NATS_OK)
		ns_fail(st, "duplicate window update", s, jerr);
	jsStreamInfo_Destroy(si);
	jsStreamInfo_Destroy(updated);
}

/* JetStream forgets expired ids itself. */
static enum store_result
ns_idem_expire(struct store *base, int64_t now_ms, int64_t limit, int64_t *deleted)
{
	(void)base;
	(void)now_ms;
	(void)limit;
	if (deleted != NULL)
		*deleted = 0;
	return STORE_OK;
}

const struct store_ops store_nats_ops = {
	.scheme = "nats",
	.version = ns_version,
	.open = ns_open,
	.close = ns_close,
	.epoch = ns_epoch,
	.errmsg = ns_errmsg,
	.append_groups = ns_append_groups,
	.read_since = ns_read_since,
	.read_last = ns_read_last,
	.last_cursor = ns_last_cursor,
	.read_all_since = ns_read_all_since,
	.read_one = ns_read_one,
	.high_seq = ns_high_seq,
	.gap = ns_gap,
	.channel_info = ns_channel_info,
	.channel_list = ns_channel_list,
	.channel_delete = ns_channel_delete,
	.deletion_high = ns_deletion_high,
	.read_deletions = ns_read_deletions,
	.set_retention = ns_set_retention,
	.trim = ns_trim,
	.next_expiry = ns_next_expiry,
	.body_open = ns_body_open,
	.body_read = ns_body_read,
	.body_close = ns_body_close,
	.idem_set_window = ns_idem_set_window,
	.idem_expire = ns_idem_expire,
	.max_body = ns_max_body,
	.watch_new = ns_watch_new,
	.watch_free = ns_watch_free,
	.watch_fd = ns_watch_fd,
	.watch_drain = ns_watch_drain,
};
