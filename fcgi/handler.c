/* SPDX-License-Identifier: MIT */
/*
 * Request handlers of the HTTP contract (see handler.h and README.md, "The HTTP
 * API").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "cursor.h"
#include "feed.h"
#include "handler.h"
#include "retention.h"
#include "json.h"
#include "json_parse.h"
#include "log.h"
#include "push.h"
#include "route.h"

/* Bodies above this many bytes are spooled to a file (spool_dir) and copied
 * into the store in pieces, never held whole in memory. */
#define HANDLER_SPOOL_BYTES (1024 * 1024)

/* The buckets of the wake latency histogram, in microseconds: 50 us to 1 s.
 * Local delivery takes well under a millisecond; a commit seen only through
 * the re-reads after a "soon" signal (store.h: STORE_WATCH_SOON) takes 1 to
 * 512 ms more. */
static const int64_t handler_latency_bounds_us[] = {50,    100,    250,    500,    1000,   2500,
						    5000,  10000,  25000,  50000,  100000, 250000,
						    500000, 1000000};

static void handler_publish(struct handler_ctx *, const struct http_request *, const struct route *,
			    struct http_response *);
static void handler_publish_batch(struct handler_ctx *, const struct http_request *, const struct route *,
				  const struct auth_claims *, struct http_response *);
static enum handler_result handler_poll(struct handler_ctx *, const struct http_request *, const struct route *,
					const struct auth_claims *, struct http_response *, struct park_spec **);
static void handler_info(struct handler_ctx *, const struct route *, struct http_response *);
static void handler_list(struct handler_ctx *, struct http_response *);
static void handler_delete(struct handler_ctx *, const struct route *, struct http_response *);
static void handler_message(struct handler_ctx *, const struct http_request *, const struct route *,
			    struct http_response *);
static void handler_status(struct handler_ctx *, struct http_response *);
static void handler_metrics(struct handler_ctx *, struct http_response *);

void
handler_app_init(struct app *app, struct config *cfg)
{
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	retention_defaults(cfg, &app->retention_defaults);
	app->started_ms = util_now_ms();
	metrics_hist_init(&app->stats.wake_latency, handler_latency_bounds_us,
			  sizeof handler_latency_bounds_us / sizeof handler_latency_bounds_us[0]);
}

void
handler_note_answer(struct app *app, const struct http_request *req, const struct http_response *resp)
{
	struct stats *s = &app->stats;
	const char *uri = req->uri != NULL ? req->uri : "/", *q = strchr(uri, '?');
	int path_len = q != NULL ? (int)(q - uri) : (int)strlen(uri);

	if (resp->status < 400 || resp->status > 599)
		return;
	atomic_fetch_add(resp->status >= 500 ? &s->errors_5xx : &s->errors_4xx, 1);
	atomic_fetch_add(&s->answers_by_status[resp->status - 400], 1);
	if (resp->error != NULL && strcmp(resp->error, "store_unavailable") == 0)
		atomic_fetch_add(&s->store_errors[STATS_STORE_BUSY], 1);
	else if (resp->error != NULL && strcmp(resp->error, "insufficient_storage") == 0)
		atomic_fetch_add(&s->store_errors[STATS_STORE_FULL], 1);
	else if (resp->error != NULL && strcmp(resp->error, "store_error") == 0)
		atomic_fetch_add(&s->store_errors[STATS_STORE_ERROR], 1);
	if (path_len > 256)
		path_len = 256;
	log_at(resp->status >= 500 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "%s %.*s: %d %s",
	       req->method != NULL ? req->method : "GET", path_len, uri, resp->status,
	       resp->error != NULL ? resp->error : "error");
}

/* The methods each endpoint allows, for 405's Allow header. */
static const char *
handler_allowed(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_CHANNEL: return "GET, HEAD, POST, DELETE, OPTIONS";
	case ROUTE_PUBLISH_BATCH: return "POST, OPTIONS";
	default: return "GET, HEAD, OPTIONS";
	}
}

static int
handler_method_allowed(enum route_kind kind, const char *method)
{
	const char *allowed = handler_allowed(kind), *p;
	size_t len = strlen(method);

	for (p = strstr(allowed, method); p != NULL; p = strstr(p + 1, method)) {
		if ((p == allowed || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
			return 1;
	}
	return 0;
}

static void
handler_preflight(struct handler_ctx *h, const struct http_request *req, const struct route *r,
		  struct http_response *resp)
{
	resp->status = 204;
	http_header(resp, "Allow", "%s", handler_allowed(r->kind));
	if (req->origin != NULL && config_origin_allowed(h->app->cfg, req->origin)) {
		http_header(resp, "Access-Control-Allow-Methods", "%s", handler_allowed(r->kind));
		http_header(resp, "Access-Control-Allow-Headers",
			    "Content-Type, Last-Event-ID, If-None-Match, Prefer, X-EventSource-Event, Cache-Control, "
			    "Idempotency-Key, Authorization");
		http_header(resp, "Access-Control-Max-Age", "86400");
	}
}

/* What a request does, for access control (auth.h); -1 for the endpoints
 * that stay open whatever the mode (status, metrics; README says how to
 * restrict them in the web server). */
static int
handler_auth_op(const struct handler_ctx *h, const struct route *r, const char *method)
{
	switch (r->kind) {
	case ROUTE_CHANNEL:
		if (strcmp(method, "POST") == 0)
			return AUTH_OP_PUBLISH;
		return strcmp(method, "DELETE") == 0 ? AUTH_OP_ADMIN : AUTH_OP_SUBSCRIBE;
	case ROUTE_PUBLISH_BATCH: return AUTH_OP_PUBLISH;
	case ROUTE_CHANNEL_INFO:
	case ROUTE_MESSAGE: return AUTH_OP_SUBSCRIBE;
	case ROUTE_CHANNEL_LIST: /* names every channel: an admin's, once reading needs a token */
		return auth_mode(h->app->auth) == AUTH_MODE_ALL ? AUTH_OP_ADMIN : -1;
	default: return -1;
	}
}

/* Answer a refused request: 401 or 403 with WWW-Authenticate (RFC 6750
 * §3: no error attribute when the request carried no token, §3.1) and the
 * JSON error body. cause may be NULL. */
static void
handler_auth_refuse(struct http_response *resp, enum auth_result ar, const char *cause)
{
	const char *code = auth_error_code(ar);
	char *quoted = xstrdup(cause != NULL ? cause : code), *p;

	for (p = quoted; *p != '\0'; p++) { /* error_description is a quoted-string of plain characters */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '\'';
	}
	if (ar == AUTH_MISSING)
		http_header(resp, "WWW-Authenticate", "Bearer realm=\"fcpush\"");
	else
		http_header(resp, "WWW-Authenticate", "Bearer realm=\"fcpush\", error=\"%s\", error_description=\"%s\"",
			    code, quoted);
	http_error(resp, auth_status(ar), code, "%s", cause != NULL ? cause : code);
	free(quoted);
}

/* Decide whether req may do what it asks under the configured mode. 0 to
 * go on (*claims: what its token grants, NULL when none was needed; caller
 * frees), or -1 after answering 401/403. A batch's channels are checked
 * once it is parsed (handler_publish_batch). */
static int
handler_authorize(struct handler_ctx *h, const struct http_request *req, const struct route *r, const char *method,
		  struct auth_claims **claims, struct http_response *resp)
{
	const struct auth *a = h->app->auth;
	int op = handler_auth_op(h, r, method);
	enum auth_result ar;
	char *token = NULL, *cause = NULL;

	*claims = NULL;
	if (op < 0 || !auth_required(a, (enum auth_op)op))
		return 0;
	/* A cookie is what a browser adds to any request, a cross-site form's
	 * too: it may subscribe, never publish or delete. */
	token = auth_token_from(req->authorization, r->query, req->cookie, h->app->cfg->auth_cookie,
				op == AUTH_OP_SUBSCRIBE);
	ar = auth_check(a, token, (enum auth_op)op, (const char *const *)r->channels,
			r->kind == ROUTE_PUBLISH_BATCH || op == AUTH_OP_ADMIN ? 0 : r->nchannels, util_now_ms() / 1000,
			claims, &cause);
	if (ar != AUTH_OK)
		handler_auth_refuse(resp, ar, cause);
	free(token);
	free(cause);
	return ar == AUTH_OK ? 0 : -1;
}

/* With auth on, CORS answers that name the origin let a listed origin send
 * its cookie (Fetch, "CORS protocol": credentials are never allowed with
 * "*", and an origin allowed only through "*" gets none). */
static void
handler_cors_credentials(struct handler_ctx *h, const struct http_request *req, struct http_response *resp)
{
	const struct config *cfg = h->app->cfg;

	if (auth_mode(h->app->auth) != AUTH_MODE_OFF && req->origin != NULL && req->origin[0] != '\0' &&
	    strcmp(cfg->cors_allow_origins, "*") != 0 && util_list_contains(cfg->cors_allow_origins, req->origin))
		http_header(resp, "Access-Control-Allow-Credentials", "true");
}

enum handler_result
handler_run(struct handler_ctx *h, const struct http_request *req, struct http_response *resp,
	    struct park_spec **park)
{
	struct auth_claims *claims = NULL;
	enum handler_result result = HANDLER_FINISHED;
	struct route r;
	char *cause = NULL;
	int status = 400;
	const char *method = req->method != NULL ? req->method : "GET";

	atomic_fetch_add(&h->app->stats.requests, 1);
	*park = NULL;
	/* HEAD is GET without the body (RFC 9110 §9.3.2): the same status and
	 * header fields, Content-Length included; a stream or a long poll is
	 * answered at once instead of parking (handler_poll). */
	resp->head_only = strcmp(method, "HEAD") == 0;
	memset(&r, 0, sizeof r);
	http_cors(resp, h->app->cfg, req->origin);
	handler_cors_credentials(h, req, resp);
	/* Every answer names the database's history, so a client can send it
	 * back with its cursor (?epoch=) and learn of a restored database. */
	if (store_epoch(h->st)[0] != '\0')
		http_header(resp, "Push-Epoch", "%s", store_epoch(h->st));
	if (route_parse(req->uri != NULL ? req->uri : "/", &r, &status, &cause) == -1) {
		http_error(resp, status, status == 404 ? "not_found" : "bad_request", "%s", cause);
		goto out;
	}
	if (r.kind == ROUTE_NOTFOUND) {
		http_error(resp, 404, "not_found", "no endpoint at %s", req->uri != NULL ? req->uri : "/");
		goto out;
	}
	if (strcmp(method, "OPTIONS") == 0) {
		handler_preflight(h, req, &r, resp);
		goto out;
	}
	if (!handler_method_allowed(r.kind, method)) {
		http_header(resp, "Allow", "%s", handler_allowed(r.kind));
		http_error(resp, 405, "method_not_allowed", "%s is not allowed here; allowed: %s", method,
			   handler_allowed(r.kind));
		goto out;
	}
	if (handler_authorize(h, req, &r, method, &claims, resp) == -1)
		goto out;
	switch (r.kind) {
	case ROUTE_CHANNEL:
		if (strcmp(method, "POST") == 0)
			handler_publish(h, req, &r, resp);
		else if (strcmp(method, "DELETE") == 0)
			handler_delete(h, &r, resp);
		else
			result = handler_poll(h, req, &r, claims, resp, park);
		break;
	case ROUTE_PUBLISH_BATCH: handler_publish_batch(h, req, &r, claims, resp); break;
	case ROUTE_CHANNEL_INFO: handler_info(h, &r, resp); break;
	case ROUTE_CHANNEL_LIST: handler_list(h, resp); break;
	case ROUTE_MESSAGE: handler_message(h, req, &r, resp); break;
	case ROUTE_STATUS: handler_status(h, resp); break;
	case ROUTE_METRICS: handler_metrics(h, resp); break;
	case ROUTE_NOTFOUND: break;
	}
out:
	/* Only a message body takes Range; elsewhere say so, so that lighttpd
	 * does not cut a JSON answer into byte ranges. */
	if (result == HANDLER_FINISHED && req->range != NULL && resp->status == 200 && r.kind != ROUTE_MESSAGE)
		http_header(resp, "Accept-Ranges", "none");
	if (result == HANDLER_FINISHED)
		handler_note_answer(h->app, req, resp);
	free(cause);
	auth_claims_free(claims);
	route_fini(&r);
	return result;
}

/* ---- reading bodies and mapping store results ------------------------ */

/* A request body as read: in memory, or past HANDLER_SPOOL_BYTES in a spool
 * file (handler_spool_template). */
struct handler_body {
	struct buf mem; /* the body while it is in memory */
	char *path;     /* the spool file once it is not: unlinked and freed by fini */
	size_t len;     /* bytes in all */
};

static void
handler_body_init(struct handler_body *b)
{
	buf_init(&b->mem);
	b->path = NULL;
	b->len = 0;
}

static void
handler_body_fini(struct handler_body *b)
{
	if (b->path != NULL) {
		unlink(b->path);
		free(b->path);
	}
	buf_fini(&b->mem);
}

/* The answer to a body that could not be read: 408 when it stalled past
 * request_body_timeout_s (read_body's errno ETIMEDOUT), else 400. */
static void
handler_body_error(struct http_response *resp)
{
	if (errno == ETIMEDOUT)
		http_error(resp, 408, "body_timeout", "the request body stopped arriving; nothing was written");
	else
		http_error(resp, 400, "bad_body", "the request body could not be read");
}

/* The answer to a spool file that cannot be created or written (errno): 507
 * when the disk is full, as for the store itself, else 503. */
static void
handler_spool_error(struct http_response *resp)
{
	int err = errno != 0 ? errno : ENOSPC, full = err == ENOSPC || err == EDQUOT;

	if (full)
		log_error("spooling a body: %s: nothing was written", strerror(err));
	http_error(resp, full ? 507 : 503, full ? "insufficient_storage" : "store_unavailable",
		   "cannot spool the body: %s; nothing was written", strerror(err));
}

/* The mkstemp template of a spool file: in spool_dir when set, else next to
 * the database when it is a SQLite file (the same file system, writable by
 * the worker), else in $TMPDIR or /tmp. Caller frees. */
static char *
handler_spool_template(const struct config *cfg)
{
	const char *file = store_local_path(cfg->database), *tmp = getenv("TMPDIR");

	if (cfg->spool_dir[0] != '\0')
		return xasprintf("%s/fcpush-spool-XXXXXX", cfg->spool_dir);
	if (file != NULL)
		return xasprintf("%s-spool-XXXXXX", file);
	return xasprintf("%s/fcpush-spool-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
}

/* The largest body of one message: max_message_bytes, or the store's own
 * limit when lower (store_max_body). *why names the one that applies (a
 * static string or owned by h's store). */
static int64_t
handler_message_limit(struct handler_ctx *h, const char **why)
{
	const char *store_why = NULL;
	int64_t limit = h->app->cfg->max_message_bytes, own = store_max_body(h->st, &store_why);

	*why = "max_message_bytes";
	if (own > 0 && own < limit) {
		limit = own;
		*why = store_why;
	}
	return limit;
}

/* Read the request body into out, refusing more than limit bytes (named by
 * what, e.g. "max_message_bytes") as soon as they are exceeded (413, before
 * reading the rest: at once when Content-Length says so). With spool, a body that
 * outgrows HANDLER_SPOOL_BYTES moves to a spool file, so memory stays under
 * that whatever its size. With utf8, the bytes are checked to be UTF-8 as
 * they arrive (a sequence split between two reads is carried over), so a
 * spooled body is checked too at no memory cost: 400 invalid_utf8. Returns 0,
 * or -1 after setting the error answer (413, 400 when the body cannot be
 * read or is not UTF-8, 408 when it stalled, 507 when the disk is full, 503
 * when it cannot be spooled otherwise). */
static int
handler_take_body(struct handler_ctx *h, const struct http_request *req, int64_t limit, const char *what,
		  int spool, int utf8, struct handler_body *out, struct http_response *resp)
{
	unsigned char chunk[4 + 65536];
	size_t carry = 0, tail = 0;
	ssize_t n;
	int fd = -1, rc = -1;

	if (req->content_length > limit) {
		http_error(resp, 413, "too_large", "the body is %lld bytes; the limit is %lld bytes: %s; nothing was written",
			   (long long)req->content_length, (long long)limit, what);
		return -1;
	}
	if (req->read_body == NULL)
		return 0;
	/* A body known to stay in memory gets its buffer at once, not by
	 * doubling (which copies it and, for a moment, holds it twice). */
	if (req->content_length > 0 && (!spool || req->content_length <= HANDLER_SPOOL_BYTES))
		buf_reserve(&out->mem, (size_t)req->content_length);
	for (;;) {
		n = req->read_body(req->read_arg, (char *)chunk + carry, sizeof chunk - 4);
		if (n < 0) {
			handler_body_error(resp);
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if ((int64_t)out->len > limit) {
			http_error(resp, 413, "too_large", "the body is over the limit of %lld bytes: %s; nothing was written",
				   (long long)limit, what);
			goto out;
		}
		if (utf8 && !json_utf8_valid_prefix(chunk, carry + (size_t)n, &tail)) {
			http_error(resp, 400, "invalid_utf8", "the body is not valid UTF-8, which its type (%s) requires",
				   req->content_type != NULL && *req->content_type != '\0' ? req->content_type
											 : "JSON");
			goto out;
		}
		if (fd == -1 && spool && out->mem.len + (size_t)n > HANDLER_SPOOL_BYTES) {
			out->path = handler_spool_template(h->app->cfg);
			errno = 0;
			if ((fd = mkstemp(out->path)) == -1 ||
			    (out->mem.len > 0 && write(fd, out->mem.data, out->mem.len) != (ssize_t)out->mem.len)) {
				handler_spool_error(resp);
				goto out;
			}
			buf_fini(&out->mem);
			buf_init(&out->mem);
		}
		if (fd != -1) {
			errno = 0;
			if (write(fd, chunk + carry, (size_t)n) != n) {
				handler_spool_error(resp); /* a short write sets no errno: the disk is full */
				goto out;
			}
		} else {
			buf_append(&out->mem, chunk + carry, (size_t)n);
		}
		if (utf8) {
			memmove(chunk, chunk + carry + (size_t)n - tail, tail);
			carry = tail;
		}
	}
	if (carry > 0) {
		http_error(resp, 400, "invalid_utf8", "the body ends inside a UTF-8 sequence");
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1 && out->path != NULL) {
		unlink(out->path);
		free(out->path);
		out->path = NULL;
	}
	return rc;
}

static void
handler_store_error(struct http_response *resp, enum store_result sr, const char *cause)
{
	if (sr == STORE_BUSY) {
		http_header(resp, "Retry-After", "1");
		http_error(resp, 503, "store_unavailable", "the message store is busy or not writable; nothing was written%s%s",
			   cause != NULL ? ": " : "", cause != NULL ? cause : "");
	} else if (sr == STORE_FULL) {
		/* RFC 4918 §11.5; store_fail logged it. Retrying will not help
		 * until an operator frees space. */
		http_error(resp, 507, "insufficient_storage", "the disk holding the message store is full; nothing was written%s%s",
			   cause != NULL ? ": " : "", cause != NULL ? cause : "");
	} else if (sr == STORE_INVALID) {
		http_error(resp, 400, "bad_request", "%s", cause != NULL ? cause : "invalid input");
	} else if (sr == STORE_CONFLICT) {
		/* draft-ietf-httpapi-idempotency-key-header §2.7: a key reused
		 * for another payload. */
		http_error(resp, 422, "idempotency_key_reused", "%s; nothing was written",
			   cause != NULL ? cause : "the idempotency key was used for another message");
	} else {
		http_error(resp, 500, "store_error", "the message store failed%s%s", cause != NULL ? ": " : "",
			   cause != NULL ? cause : "");
	}
}

/* ---- publish ----------------------------------------------------------- */

/* Read an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header
 * §2: an RFC 8941 sf-string, "..." with \" and \\ escapes; a bare token, as
 * many clients send, is taken too) into key (STORE_IDEM_KEY_MAX_BYTES + 1
 * bytes). value NULL: *key "" (none). 0, or -1 after answering 400
 * bad_idempotency_key: empty, too long, not visible ASCII, a bad quoted
 * string, or several keys (repeated headers arrive joined with commas). */
static int
handler_idem_key(const char *value, char *key, struct http_response *resp)
{
	const char *p = value;
	size_t n = 0;
	int quoted;

	key[0] = '\0';
	if (value == NULL)
		return 0;
	quoted = *p == '"';
	for (p += quoted; *p != '\0' && (!quoted || *p != '"'); p++) {
		if (quoted && *p == '\\' && p[1] != '"' && p[1] != '\\')
			break; /* RFC 8941 §3.3.3: only \" and \\ */
		if (quoted && *p == '\\')
			p++;
		else if (!quoted && (*p == '"' || *p == '\\' || *p == ','))
			break;
		if (n == STORE_IDEM_KEY_MAX_BYTES)
			break;
		key[n++] = *p;
	}
	key[n] = '\0';
	if ((quoted && *p++ != '"') || *p != '\0' || !store_idem_key_valid(key)) {
		http_error(resp, 400, "bad_idempotency_key",
			   "Idempotency-Key must be one key of 1 to %d visible ASCII characters, bare or as a "
			   "quoted string (RFC 8941 §3.3.3)", STORE_IDEM_KEY_MAX_BYTES);
		return -1;
	}
	return 0;
}

static void
handler_publish(struct handler_ctx *h, const struct http_request *req, const struct route *r,
		struct http_response *resp)
{
	struct store_pub pub = {0};
	struct store_outcome outcome = {0};
	struct handler_body body;
	char *event = NULL, *cause = NULL, key[STORE_IDEM_KEY_MAX_BYTES + 1];
	const char *ct = req->content_type, *limit_why = NULL;
	int64_t seq = 0, time_ms = 0, limit;
	enum store_result sr;
	int bad = 0;

	handler_body_init(&body);
	if (r->nchannels != 1) {
		http_error(resp, 400, "bad_channel", "publish to one channel at a time; POST %s/publish takes a batch for several",
			   r->mount);
		goto out;
	}
	if (handler_idem_key(req->idempotency_key, key, resp) == -1)
		goto out;
	event = route_query_get(r->query, "event", &bad);
	if (event == NULL && req->event != NULL && *req->event != '\0')
		event = xstrdup(req->event);
	if (bad || (event != NULL && !route_event_valid(event))) {
		http_error(resp, 400, "bad_event", "an event name is 1 to %d bytes of UTF-8 without control characters",
			   ROUTE_MAX_EVENT_BYTES);
		goto out;
	}
	if (ct != NULL && *ct == '\0')
		ct = NULL;
	if (ct != NULL && !http_content_type_valid(ct)) {
		http_error(resp, 415, "bad_content_type",
			   "Content-Type \"%.*s\" is not a media type (RFC 9110 §8.3.1: type/subtype, then "
			   "; name=value parameters, at most %d bytes of printable ASCII)",
			   64, ct, HTTP_MAX_CONTENT_TYPE_BYTES);
		goto out;
	}
	/* A large object goes to a file, then into the row in pieces. (Its
	 * JSON, if declared so, is checked when read: json_valid decides
	 * whether it is embedded raw or sent as base64.) */
	limit = handler_message_limit(h, &limit_why);
	if (handler_take_body(h, req, limit, limit_why, 1, json_content_type_utf8(ct), &body, resp) == -1)
		goto out;
	if (body.path == NULL && json_content_type_is_json(ct) &&
	    json_parse_valid(h->jp, body.mem.data != NULL ? body.mem.data : "", body.mem.len) != 1) {
		http_error(resp, 400, "bad_json", "the body is declared as %s but is not valid JSON", ct);
		goto out;
	}
	pub.body = body.mem.data != NULL ? body.mem.data : "";
	pub.body_len = body.len;
	pub.body_path = body.path;
	pub.channel = r->channels[0];
	pub.event = event;
	pub.content_type = ct;
	pub.idem_key = key[0] != '\0' ? key : NULL;
	sr = committer_submit(h->app->committer, &pub, 1, &seq, &outcome, &time_ms, &cause);
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, cause);
		goto out;
	}
	atomic_fetch_add(&h->app->stats.publishes, 1);
	if (outcome.replayed) {
		/* The original answer again, marked as Stripe's API marks it
		 * (the draft names no header). */
		time_ms = outcome.time_ms;
		http_header(resp, "Idempotent-Replayed", "true");
	} else {
		atomic_fetch_add(&h->app->stats.messages, 1);
	}
	resp->status = 201;
	http_header(resp, "Location", "%s/channels/%s/messages/%lld", r->mount, pub.channel, (long long)seq);
	http_header(resp, "Content-Type", "application/json");
	buf_puts(&resp->body, "{\"channel\":");
	json_append_cstr(&resp->body, pub.channel);
	buf_printf(&resp->body, ",\"seq\":%lld,\"time\":%lld}\n", (long long)seq, (long long)time_ms);
out:
	handler_body_fini(&body);
	free(cause);
	free(event);
}

/* Check one parsed batch element as a single publish is checked. 0, or -1
 * after setting the error answer (400 bad_channel, bad_event,
 * bad_content_type, bad_idempotency_key, bad_json). json_parse_batch has
 * checked that every string is UTF-8. */
static int
handler_batch_element(struct handler_ctx *h, size_t i, const struct store_pub *p, struct http_response *resp)
{
	if (!route_channel_valid(p->channel)) {
		http_error(resp, 400, "bad_channel", "element %zu: channel name \"%.140s\" is not 1-128 of A-Z a-z 0-9 . _ ~ -",
			   i, p->channel);
		return -1;
	}
	if (p->event != NULL && !route_event_valid(p->event)) {
		http_error(resp, 400, "bad_event",
			   "element %zu: an event name is 1 to %d bytes of UTF-8 without control characters", i,
			   ROUTE_MAX_EVENT_BYTES);
		return -1;
	}
	if (!http_content_type_valid(p->content_type)) {
		http_error(resp, 400, "bad_content_type",
			   "element %zu: \"content_type\" is not a media type (RFC 9110 §8.3.1: type/subtype, then "
			   "; name=value parameters, at most %d bytes of printable ASCII)",
			   i, HTTP_MAX_CONTENT_TYPE_BYTES);
		return -1;
	}
	if (p->idem_key != NULL && !store_idem_key_valid(p->idem_key)) {
		http_error(resp, 400, "bad_idempotency_key",
			   "element %zu: \"idempotency_key\" must be 1 to %d visible ASCII characters", i,
			   STORE_IDEM_KEY_MAX_BYTES);
		return -1;
	}
	if (json_content_type_is_json(p->content_type) && json_parse_valid(h->jp, p->body, p->body_len) != 1) {
		http_error(resp, 400, "bad_json", "element %zu: \"data\" is declared as %s but is not valid JSON", i,
			   p->content_type);
		return -1;
	}
	return 0;
}

static void
handler_publish_batch(struct handler_ctx *h, const struct http_request *req, const struct route *r,
		      const struct auth_claims *claims, struct http_response *resp)
{
	const struct config *cfg = h->app->cfg;
	struct store_pub *pubs = NULL;
	struct store_outcome *outcomes = NULL;
	int64_t *seqs = NULL, time_ms = 0;
	struct handler_body body;
	struct buf keys;
	char *cause = NULL, key[STORE_IDEM_KEY_MAX_BYTES + 1];
	const char *limit_why = NULL;
	enum json_parse_result jr;
	enum store_result sr;
	size_t n = 0, i, replayed = 0, *koff = NULL;

	handler_body_init(&body);
	buf_init(&keys);
	if (req->content_type != NULL && *req->content_type != '\0' && !json_content_type_is_json(req->content_type)) {
		http_error(resp, 415, "bad_content_type", "a batch is a JSON array: send Content-Type: application/json");
		goto out;
	}
	if (handler_idem_key(req->idempotency_key, key, resp) == -1)
		goto out;
	if (handler_take_body(h, req, cfg->max_batch_bytes, "max_batch_bytes", 0, 1, &body, resp) == -1)
		goto out;
	jr = json_parse_batch(h->jp, body.mem.data != NULL ? body.mem.data : "", body.mem.len, cfg->max_batch_messages,
			      handler_message_limit(h, &limit_why), &pubs, &n, &cause);
	switch (jr) {
	case JSON_PARSE_OK: break;
	case JSON_PARSE_INVALID: http_error(resp, 400, "bad_request", "%s", cause); goto out;
	case JSON_PARSE_BAD_UTF8: http_error(resp, 400, "invalid_utf8", "%s", cause); goto out;
	case JSON_PARSE_TOO_MANY: http_error(resp, 413, "too_many_messages", "%s", cause); goto out;
	case JSON_PARSE_TOO_LARGE: http_error(resp, 413, "too_large", "%s", cause); goto out;
	case JSON_PARSE_ERROR: http_error(resp, 500, "json_error", "%s", cause); goto out;
	}
	for (i = 0; i < n; i++) {
		if (handler_batch_element(h, i, &pubs[i], resp) == -1)
			goto out;
		if (claims != NULL && !auth_claims_allow(claims, AUTH_OP_PUBLISH, pubs[i].channel)) {
			free(cause);
			cause = xasprintf("element %zu: the token does not allow publishing on channel %s", i,
					  pubs[i].channel);
			handler_auth_refuse(resp, AUTH_FORBIDDEN, cause);
			goto out;
		}
	}
	/* The request's key stands for "KEY/0", "KEY/1" ... of the elements
	 * without one of their own: a retried batch replays element by
	 * element (README, "Idempotent publish"). */
	if (key[0] != '\0') {
		koff = xcalloc(n, sizeof *koff);
		for (i = 0; i < n; i++) {
			koff[i] = keys.len;
			if (pubs[i].idem_key == NULL) {
				buf_printf(&keys, "%s/%zu", key, i);
				buf_putc(&keys, '\0');
			}
		}
		for (i = 0; i < n; i++) {
			if (pubs[i].idem_key == NULL)
				pubs[i].idem_key = keys.data + koff[i];
		}
	}
	seqs = xcalloc(n, sizeof *seqs);
	outcomes = xcalloc(n, sizeof *outcomes);
	sr = committer_submit(h->app->committer, pubs, n, seqs, outcomes, &time_ms, &cause);
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, cause);
		goto out;
	}
	for (i = 0; i < n; i++)
		replayed += outcomes[i].replayed != 0;
	atomic_fetch_add(&h->app->stats.publishes, 1);
	atomic_fetch_add(&h->app->stats.messages, n - replayed);
	resp->status = 201;
	http_header(resp, "Content-Type", "application/json");
	if (replayed == n)
		http_header(resp, "Idempotent-Replayed", "true");
	buf_reserve(&resp->body, n * 48);
	buf_putc(&resp->body, '[');
	for (i = 0; i < n; i++) {
		buf_puts(&resp->body, i == 0 ? "{\"channel\":" : ",{\"channel\":");
		json_append_cstr(&resp->body, pubs[i].channel);
		buf_printf(&resp->body, ",\"seq\":%lld%s}", (long long)seqs[i],
			   outcomes[i].replayed ? ",\"replayed\":true" : "");
	}
	buf_puts(&resp->body, "]\n");
	(void)r;
out:
	free(koff);
	buf_fini(&keys);
	free(outcomes);
	free(seqs);
	free(pubs);
	free(cause);
	handler_body_fini(&body);
}

/* ---- poll and long poll ------------------------------------------------ */

/* Gather the poll's cursor and wait from the request. -1 after answering 400. */
static int
handler_poll_params(struct handler_ctx *h, const struct http_request *req, const struct route *r,
		    struct cursor *c, int64_t *wait_ms, int64_t *applied_s, struct http_response *resp)
{
	struct cursor_input in;
	char *since, *lei, *lei2, *last, *wait, *epoch, *cause = NULL;
	int bad = 0, rc = -1;

	since = route_query_get(r->query, "since", &bad);
	lei = route_query_get(r->query, "lastEventId", &bad);
	lei2 = route_query_get(r->query, "last_event_id", &bad);
	last = route_query_get(r->query, "last", &bad);
	wait = route_query_get(r->query, "wait", &bad);
	epoch = route_query_get(r->query, "epoch", &bad);
	if (bad) {
		http_error(resp, 400, "bad_query", "the query string has a malformed percent escape");
		goto out;
	}
	in.since = since;
	in.last_event_id = req->last_event_id;
	in.last_event_id_q = lei != NULL ? lei : lei2;
	in.if_none_match = req->if_none_match;
	in.last = last;
	in.epoch = epoch;
	if (cursor_parse(&in, h->app->cfg->page_messages, c, &cause) == -1) {
		http_error(resp, 400, "bad_cursor", "%s", cause);
		goto out;
	}
	if (cursor_parse_wait(req->prefer, wait, h->app->cfg->long_poll_max_wait_s, wait_ms, applied_s, &cause) == -1) {
		http_error(resp, 400, "bad_wait", "%s", cause);
		goto out;
	}
	rc = 0;
out:
	free(cause);
	free(since);
	free(lei);
	free(lei2);
	free(last);
	free(wait);
	free(epoch);
	return rc;
}

static struct park_spec *
handler_spec(const struct route *r)
{
	struct park_spec *spec = park_spec_new();
	struct buf label;
	size_t i;

	buf_init(&label);
	spec->channels = xcalloc(r->nchannels, sizeof *spec->channels);
	spec->nchannels = r->nchannels;
	for (i = 0; i < r->nchannels; i++) {
		spec->channels[i] = xstrdup(r->channels[i]);
		if (i > 0)
			buf_putc(&label, ',');
		buf_puts(&label, r->channels[i]);
	}
	spec->label = buf_steal(&label);
	return spec;
}

/* Which transport a GET on a channel asks for: a stream kind, PARK_LONG_POLL
 * for JSON (poll or long poll), or -1 when none can be served. */
static int
handler_transport(const struct http_request *req, const struct route *r)
{
	char *stream = route_query_get(r->query, "stream", NULL);
	int kind = -1;

	if (stream != NULL && strcmp(stream, "ndjson") == 0)
		kind = PARK_NDJSON;
	else if (stream != NULL && strcmp(stream, "sse") == 0)
		kind = PARK_SSE;
	else if (req->accept != NULL && strstr(req->accept, "text/event-stream") != NULL &&
		 http_accepts(req->accept, "text/event-stream"))
		kind = PARK_SSE;
	else if (req->accept != NULL && strstr(req->accept, "application/x-ndjson") != NULL &&
		 http_accepts(req->accept, "application/x-ndjson"))
		kind = PARK_NDJSON;
	else if (http_accepts(req->accept, "application/json"))
		kind = PARK_LONG_POLL;
	free(stream);
	return kind;
}

static enum handler_result
handler_poll(struct handler_ctx *h, const struct http_request *req, const struct route *r,
	     const struct auth_claims *claims, struct http_response *resp, struct park_spec **park)
{
	const struct config *cfg = h->app->cfg;
	const char *const *chans = (const char *const *)r->channels;
	struct park_spec *spec = NULL;
	enum handler_result result = HANDLER_FINISHED;
	struct cursor c;
	struct msglist msgs;
	int64_t wait_ms = -1, applied_s = 0, high = 0, dhigh = 0, oldest = 0, last_seq;
	size_t page = (size_t)cfg->page_messages;
	enum store_result sr;
	int gap = 0, more = 0, rollback = 0, kind;
	size_t sent, nshow;

	msglist_init(&msgs);
	msgs.max_bytes = (size_t)cfg->page_max_bytes;
	atomic_fetch_add(&h->app->stats.polls, 1);
	kind = handler_transport(req, r);
	if (kind == -1) {
		http_error(resp, 406, "not_acceptable",
			   "this endpoint answers application/json (poll, long poll), text/event-stream (SSE) and "
			   "application/x-ndjson (stream); Accept was \"%s\"",
			   req->accept);
		goto out;
	}
	if (handler_poll_params(h, req, r, &c, &wait_ms, &applied_s, resp) == -1)
		goto out;
	if (resp->head_only && kind != PARK_LONG_POLL) {
		/* The head of the stream a GET would open; it never parks. */
		resp->status = 200;
		http_header(resp, "Content-Type", "%s", push_transport((enum park_kind)kind)->content_type);
		http_header(resp, "Cache-Control", "no-cache");
		goto out;
	}
	if (resp->head_only)
		wait_ms = -1; /* a HEAD long poll is a poll */
	spec = handler_spec(r);
	spec->kind = (enum park_kind)kind;
	spec->conditional = c.conditional;
	if (kind != PARK_LONG_POLL) {
		wait_ms = 1; /* streams always park */
		c.conditional = 0;
	}
	if (resp->head.len > 0)
		buf_append(&spec->headers, resp->head.data, resp->head.len); /* CORS */
	if (wait_ms >= 0)
		buf_printf(&spec->headers, "Preference-Applied: wait=%lld\r\n", (long long)applied_s);

	/* The high-water mark first, then the read: a row committed between the
	 * two is either read or above high, so the loop will see it. */
	sr = store_high_seq(h->st, &high);
	if (sr == STORE_OK && wait_ms > 0)
		sr = store_deletion_high(h->st, &dhigh);
	if (sr == STORE_OK && c.kind == CURSOR_LAST && kind != PARK_LONG_POLL) {
		/* A stream asked for the last N: they are its backlog, then live. */
		sr = store_read_last(h->st, chans, r->nchannels, (size_t)c.last, &msgs);
		spec->since = msgs.n > 0 ? msgs.v[msgs.n - 1]->seq : high;
		if (msgs.n > 0 && high < spec->since)
			high = spec->since;
		c.kind = CURSOR_NONE;
		goto stream;
	}
	if (sr == STORE_OK) {
		switch (c.kind) {
		case CURSOR_SINCE:
			/* A cursor from another history, or above every seq
			 * assigned here, resumes where this history lets it,
			 * with a gap: never silence while new messages take
			 * the seqs it believes it has seen. */
			if (wait_ms > 0 && c.since == high &&
			    store_cursor_resume(h->st, c.epoch, c.since, high, &rollback) == high && !rollback) {
				/* A long poll re-parking at the newest seq (the
				 * common case: it was just answered): nothing above
				 * it to read, and nothing trimmed above it (trimmed
				 * seqs are at most high), so it parks at once; the
				 * loop delivers whatever commits after high. */
				spec->since = c.since;
				break;
			}
			gap = feed_resume(h->st, chans, r->nchannels, c.epoch, high, &c.since, &oldest);
			sr = gap < 0 ? STORE_ERROR : STORE_OK;
			if (sr == STORE_OK)
				sr = store_read_since(h->st, chans, r->nchannels, c.since, page + 1, &msgs);
			spec->since = c.since;
			break;
		case CURSOR_LAST:
			sr = store_read_last(h->st, chans, r->nchannels, (size_t)c.last, &msgs);
			spec->since = high;
			break;
		case CURSOR_NONE:
			/* A poll gets the latest page; a wait starts at now. */
			if (wait_ms > 0)
				spec->since = high;
			else
				sr = store_read_last(h->st, chans, r->nchannels, page, &msgs);
			break;
		}
	}
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, store_errmsg(h->st));
		goto out;
	}
stream:
	/* More rows than a page (page + 1 were read), or the byte budget cut
	 * the read short: the rest is for the next poll, or read by the loop. */
	nshow = msgs.n > page ? page : msgs.n;
	more = msgs.n > page || (msgs.truncated && c.kind == CURSOR_SINCE);
	if (kind != PARK_LONG_POLL) {
		/* Streams park with their opening; the loop reads on when behind. */
		if (more)
			spec->behind = 1;
		if (c.kind == CURSOR_NONE && spec->since == 0)
			spec->since = high;
		sent = push_stream_opening(h->app->cfg, spec, resp, &msgs, nshow, gap, oldest, store_epoch(h->st));
		if (sent < nshow)
			spec->behind = 1;
		if (sent > 0 && c.kind == CURSOR_SINCE)
			spec->since = msgs.v[sent - 1]->seq;
		spec->high_seq = high > spec->since ? high : spec->since;
		spec->deletion_high = dhigh;
		spec->deadline_ms = INT64_MAX;
		if (claims != NULL && claims->exp > 0) /* the stream ends when its token does */
			spec->auth_end_ms = util_mono_ms() + (claims->exp * 1000 - util_now_ms());
		buf_reset(&spec->headers);
		*park = spec;
		spec = NULL;
		result = HANDLER_WAIT_FOR_EVENT;
		goto out;
	}
	if (nshow > 0 || gap) {
		/* Nothing to show: past what retention took, if it took more. */
		last_seq = nshow > 0 ? msgs.v[nshow - 1]->seq : (gap && oldest - 1 > c.since ? oldest - 1 : c.since);
		buf_reset(&resp->head);
		push_poll_messages(spec, msgs.v, nshow, more, gap, oldest, last_seq, (size_t)cfg->page_max_bytes,
				   resp);
		goto out;
	}
	if (wait_ms > 0) {
		spec->high_seq = high;
		spec->deletion_high = dhigh;
		spec->deadline_ms = util_mono_ms() + wait_ms;
		/* A long poll is answered (204) when its token expires; the
		 * next one needs a fresh token. */
		if (claims != NULL && claims->exp > 0 &&
		    spec->deadline_ms > util_mono_ms() + (claims->exp * 1000 - util_now_ms()))
			spec->deadline_ms = util_mono_ms() + (claims->exp * 1000 - util_now_ms());
		*park = spec;
		spec = NULL;
		result = HANDLER_WAIT_FOR_EVENT;
		goto out;
	}
	buf_reset(&resp->head);
	push_poll_empty(spec, resp);
out:
	msglist_fini(&msgs);
	park_spec_free(spec);
	return result;
}

/* ---- channels, messages, status --------------------------------------- */

static void
handler_info_json(struct handler_ctx *h, const struct store_channel_info *ci, struct buf *b)
{
	buf_puts(b, "{\"channel\":");
	json_append_cstr(b, ci->name);
	buf_printf(b,
		   ",\"epoch\":\"%s\",\"messages\":%lld,\"bytes\":%lld,\"first_seq\":%lld,\"last_seq\":%lld,\"last_publish_time\":%lld,"
		   "\"trimmed_seq\":%lld,\"created\":%lld,\"retention\":{\"max_messages\":%lld,\"max_age_s\":%lld,"
		   "\"max_bytes\":%lld},\"subscribers\":{\"long_poll\":%zu}}",
		   store_epoch(h->st), (long long)ci->messages, (long long)ci->bytes, (long long)ci->first_seq, (long long)ci->last_seq,
		   (long long)ci->last_time_ms, (long long)ci->trimmed_seq, (long long)ci->created_ms,
		   (long long)(ci->retention.max_messages > 0 ? ci->retention.max_messages
							       : h->app->retention_defaults.max_messages),
		   (long long)((ci->retention.max_age_ms > 0 ? ci->retention.max_age_ms : h->app->retention_defaults.max_age_ms) /
			       1000),
		   (long long)(ci->retention.max_bytes > 0 ? ci->retention.max_bytes : h->app->retention_defaults.max_bytes),
		   h->app->loop != NULL ? loop_channel_subscribers(h->app->loop, ci->name) : 0);
}

static void
handler_info(struct handler_ctx *h, const struct route *r, struct http_response *resp)
{
	struct store_channel_info ci;
	enum store_result sr;

	if (r->nchannels != 1) {
		http_error(resp, 400, "bad_channel", "info is per channel: name one channel");
		return;
	}
	sr = store_channel_info(h->st, r->channels[0], &ci);
	if (sr == STORE_NOTFOUND) {
		http_error(resp, 404, "no_channel", "channel \"%s\" does not exist", r->channels[0]);
		return;
	}
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, store_errmsg(h->st));
		return;
	}
	http_header(resp, "Content-Type", "application/json");
	http_header(resp, "Cache-Control", "no-cache");
	handler_info_json(h, &ci, &resp->body);
	buf_putc(&resp->body, '\n');
}

static void
handler_list(struct handler_ctx *h, struct http_response *resp)
{
	struct store_channel_info *infos = NULL;
	enum store_result sr;
	size_t n = 0, i;

	sr = store_channel_list(h->st, &infos, &n);
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, store_errmsg(h->st));
		return;
	}
	http_header(resp, "Content-Type", "application/json");
	http_header(resp, "Cache-Control", "no-cache");
	buf_puts(&resp->body, "{\"channels\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&resp->body, ',');
		handler_info_json(h, &infos[i], &resp->body);
	}
	buf_puts(&resp->body, "]}\n");
	free(infos);
}

struct handler_delete_arg {
	const char *channel;
};

static enum store_result
handler_delete_fn(struct store *st, void *arg)
{
	const struct handler_delete_arg *a = arg;

	return store_channel_delete(st, a->channel, util_now_ms());
}

static void
handler_delete(struct handler_ctx *h, const struct route *r, struct http_response *resp)
{
	struct handler_delete_arg a;
	enum store_result sr;

	if (r->nchannels != 1) {
		http_error(resp, 400, "bad_channel", "delete one channel at a time");
		return;
	}
	a.channel = r->channels[0];
	sr = committer_run(h->app->committer, handler_delete_fn, &a);
	if (sr == STORE_NOTFOUND) {
		http_error(resp, 404, "no_channel", "channel \"%s\" does not exist", a.channel);
		return;
	}
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, NULL);
		return;
	}
	if (h->app->loop != NULL)
		loop_notify_commit(h->app->loop, 0);
	resp->status = 204;
}

static int
handler_body_reader(void *arg, int64_t offset, void *p, size_t n)
{
	return store_body_read(arg, offset, p, n) == STORE_OK ? 0 : -1;
}

/* One message's raw body with its Content-Type, whole or one byte range
 * (RFC 9110 §14), read from the store in pieces as it is sent. The caller
 * sends resp->body_length bytes through resp->body_reader, then calls
 * store_body_close. */
static void
handler_message(struct handler_ctx *h, const struct http_request *req, const struct route *r,
		struct http_response *resp)
{
	struct store_body_info info;
	enum store_result sr;
	int64_t first = 0, last = 0;
	const char *ct;
	int range;

	if (r->nchannels != 1) {
		http_error(resp, 400, "bad_channel", "a message belongs to one channel");
		return;
	}
	sr = store_body_open(h->st, r->channels[0], r->seq, &info);
	if (sr == STORE_NOTFOUND) {
		http_error(resp, 404, "no_message", "channel \"%s\" has no message %lld", r->channels[0],
			   (long long)r->seq);
		return;
	}
	if (sr != STORE_OK) {
		handler_store_error(resp, sr, store_errmsg(h->st));
		return;
	}
	range = http_parse_range(req->range, info.size, &first, &last);
	/* A Range we ignore (RFC 9110 §14.2: malformed, several ranges) is
	 * answered 200 with Accept-Ranges: none for this response, or lighttpd
	 * would apply the header itself to our 200 (its own 416 in HTML, or
	 * multipart/byteranges). */
	http_header(resp, "Accept-Ranges", "%s", range == 0 && req->range != NULL ? "none" : "bytes");
	http_header(resp, "ETag", "\"%lld\"", (long long)info.seq);
	http_header(resp, "Cache-Control", "public, max-age=31536000, immutable");
	if (range == -1) {
		store_body_close(h->st);
		http_header(resp, "Content-Range", "bytes */%lld", (long long)info.size);
		http_error(resp, 416, "range_not_satisfiable", "the message has %lld bytes; \"%s\" selects none of them",
			   (long long)info.size, req->range);
		return;
	}
	/* Stored types are checked at publish; one stored before that check
	 * (or written by hand in sqlite3) is replayed only if it is still a
	 * media type, so no stored text becomes a header of its own. */
	ct = http_content_type_valid(info.content_type) ? info.content_type : "application/octet-stream";
	http_header(resp, "Content-Type", "%s", ct);
	/* The body is whatever a publisher sent, served from our origin: no
	 * sniffing it into something active, no script or same-origin access
	 * if it is opened as a document (CSP sandbox), and a download rather
	 * than a page for the types browsers render actively. */
	http_header(resp, "X-Content-Type-Options", "nosniff");
	http_header(resp, "Content-Security-Policy", "sandbox");
	if (http_content_type_active(ct))
		http_header(resp, "Content-Disposition", "attachment; filename=\"%lld\"", (long long)info.seq);
	if (info.event[0] != '\0' && route_event_valid(info.event))
		http_header(resp, "X-EventSource-Event", "%s", info.event);
	if (range == 1) {
		resp->status = 206;
		http_header(resp, "Content-Range", "bytes %lld-%lld/%lld", (long long)first, (long long)last,
			    (long long)info.size);
		resp->body_offset = first;
		resp->body_length = last - first + 1;
	} else {
		resp->body_offset = 0;
		resp->body_length = info.size;
	}
	resp->body_reader = handler_body_reader;
	resp->body_arg = h->st;
}

static void
handler_status(struct handler_ctx *h, struct http_response *resp)
{
	struct stats *s = &h->app->stats;
	uint64_t tx = 0, msgs = 0;

	committer_counts(h->app->committer, &tx, &msgs);
	http_header(resp, "Content-Type", "application/json");
	http_header(resp, "Cache-Control", "no-store");
	buf_printf(&resp->body,
		   "{\"pid\":%ld,\"epoch\":\"%s\",\"durability\":\"%s\",\"uptime_ms\":%lld,\"requests\":%llu,\"publishes\":%llu,\"messages\":%llu,"
		   "\"transactions\":%llu,\"committed_messages\":%llu,\"polls\":%llu,\"long_polls\":%llu,"
		   "\"parked\":%zu,\"parked_by_transport\":{\"long_poll\":%zu,\"sse\":%zu,\"ndjson\":%zu},\"streams\":%llu,"
		   "\"dropped\":%llu,\"woken\":%llu,\"timeouts\":%llu,"
		   "\"gone\":%llu,\"closed\":%llu,\"deliveries\":%llu,\"wakeups\":%llu,\"errors_4xx\":%llu,"
		   "\"errors_5xx\":%llu,\"wake_latency_us\":{\"last\":%lld,\"max\":%lld}}\n",
		   (long)getpid(), store_epoch(h->st), h->app->cfg->durability,
		   (long long)(util_now_ms() - h->app->started_ms),
		   (unsigned long long)atomic_load(&s->requests), (unsigned long long)atomic_load(&s->publishes),
		   (unsigned long long)atomic_load(&s->messages), (unsigned long long)tx, (unsigned long long)msgs,
		   (unsigned long long)atomic_load(&s->polls), (unsigned long long)atomic_load(&s->long_polls),
		   h->app->loop != NULL ? loop_parked(h->app->loop) : 0,
		   h->app->loop != NULL ? loop_parked_kind(h->app->loop, PARK_LONG_POLL) : 0,
		   h->app->loop != NULL ? loop_parked_kind(h->app->loop, PARK_SSE) : 0,
		   h->app->loop != NULL ? loop_parked_kind(h->app->loop, PARK_NDJSON) : 0,
		   (unsigned long long)atomic_load(&s->streams), (unsigned long long)atomic_load(&s->dropped),
		   (unsigned long long)atomic_load(&s->woken),
		   (unsigned long long)atomic_load(&s->timeouts), (unsigned long long)atomic_load(&s->gone),
		   (unsigned long long)atomic_load(&s->closed), (unsigned long long)atomic_load(&s->deliveries),
		   (unsigned long long)atomic_load(&s->wakeups), (unsigned long long)atomic_load(&s->errors_4xx),
		   (unsigned long long)atomic_load(&s->errors_5xx), (long long)atomic_load(&s->wake_last_us),
		   (long long)atomic_load(&s->wake_max_us));
}

/* Whether status is one of the error statuses fcpush's handlers answer. */
static int
handler_status_listed(int status)
{
	static const int listed[] = {400, 403, 404, 405, 408, 410, 413, 415, 416, 500, 503, 507};
	size_t i;

	for (i = 0; i < sizeof listed / sizeof listed[0]; i++) {
		if (listed[i] == status)
			return 1;
	}
	return 0;
}

/* Append a counter family with one sample per park_kind (label transport). */
static void
handler_metrics_by_transport(struct buf *b, const char *name, const char *type, const char *help,
			     const uint64_t v[PARK_KINDS])
{
	static const char *const names[PARK_KINDS] = {"long_poll", "sse", "ndjson"};
	size_t k;

	metrics_family(b, name, type, help);
	for (k = 0; k < PARK_KINDS; k++)
		metrics_sample(b, name, "transport", names[k], (double)v[k]);
}

/* GET /metrics: the counters of /status, and more, in the Prometheus text
 * format (metrics.h); README "Metrics" lists them. */
static void
handler_metrics(struct handler_ctx *h, struct http_response *resp)
{
	static const char *const store_kinds[STATS_STORE_ERRORS] = {"busy", "full", "error"};
	struct stats *s = &h->app->stats;
	struct buf *b = &resp->body;
	uint64_t tx = 0, msgs = 0, v[PARK_KINDS];
	char code[8];
	size_t k;

	committer_counts(h->app->committer, &tx, &msgs);
	http_header(resp, "Content-Type", METRICS_CONTENT_TYPE);
	http_header(resp, "Cache-Control", "no-store");
	metrics_gauge(b, "fcpush_start_time_seconds", "When this worker process started, Unix time.",
		      (double)h->app->started_ms / 1000.0);
	metrics_counter(b, "fcpush_requests_total", "Requests handled by this worker.", atomic_load(&s->requests));
	metrics_family(b, "fcpush_http_errors_total", "counter", "Error answers (4xx, 5xx), by status code.");
	for (k = 0; k < 200; k++) {
		uint64_t n = atomic_load(&s->answers_by_status[k]);

		/* The codes fcpush answers are always there, from 0, so that
		 * rate() sees their first error; any other once it occurs. */
		if (n == 0 && !handler_status_listed((int)k + 400))
			continue;
		snprintf(code, sizeof code, "%zu", 400 + k);
		metrics_sample(b, "fcpush_http_errors_total", "code", code, (double)n);
	}
	metrics_family(b, "fcpush_store_errors_total", "counter",
		       "Store failures answered: busy (503), full (507), error (500).");
	for (k = 0; k < STATS_STORE_ERRORS; k++)
		metrics_sample(b, "fcpush_store_errors_total", "kind", store_kinds[k],
			       (double)atomic_load(&s->store_errors[k]));
	metrics_counter(b, "fcpush_publishes_total", "Successful publish requests (single and batch).",
			atomic_load(&s->publishes));
	metrics_counter(b, "fcpush_messages_published_total", "Messages published by this worker.",
			atomic_load(&s->messages));
	metrics_counter(b, "fcpush_commit_transactions_total", "Group-commit transactions of this worker.", tx);
	metrics_counter(b, "fcpush_committed_messages_total", "Messages committed by this worker's transactions.", msgs);
	metrics_histogram(b, "fcpush_commit_batch_messages", "Messages per group-commit transaction.",
			  committer_batch_hist(h->app->committer), 1.0);
	metrics_counter(b, "fcpush_polls_total", "Poll and long-poll requests.", atomic_load(&s->polls));
	for (k = 0; k < PARK_KINDS; k++)
		v[k] = h->app->loop != NULL ? loop_parked_kind(h->app->loop, (enum park_kind)k) : 0;
	handler_metrics_by_transport(b, "fcpush_parked", "gauge",
				     "Parked requests now: waiting long polls, open SSE and NDJSON streams.", v);
	metrics_counter(b, "fcpush_long_polls_parked_total", "Long polls parked.", atomic_load(&s->long_polls));
	metrics_counter(b, "fcpush_streams_opened_total", "SSE and NDJSON streams opened.", atomic_load(&s->streams));
	for (k = 0; k < PARK_KINDS; k++)
		v[k] = atomic_load(&s->deliveries_by[k]);
	handler_metrics_by_transport(b, "fcpush_deliveries_total", "counter",
				     "Messages written to parked subscribers, by transport.", v);
	metrics_counter(b, "fcpush_long_polls_woken_total", "Parked long polls answered with messages.",
			atomic_load(&s->woken));
	metrics_counter(b, "fcpush_long_polls_timed_out_total", "Parked long polls answered at their deadline.",
			atomic_load(&s->timeouts));
	metrics_counter(b, "fcpush_parked_gone_total", "Parked requests told their channel was deleted.",
			atomic_load(&s->gone));
	metrics_counter(b, "fcpush_parked_closed_total", "Parked requests whose client went away.",
			atomic_load(&s->closed));
	metrics_counter(b, "fcpush_slow_consumers_dropped_total", "Streams dropped for falling behind.",
			atomic_load(&s->dropped));
	metrics_counter(b, "fcpush_wakeups_total", "Loop wake-ups that read new rows.", atomic_load(&s->wakeups));
	metrics_histogram(b, "fcpush_wake_latency_seconds",
			  "From a local commit to the answers to its subscribers written.", &s->wake_latency, 1e-6);
}
