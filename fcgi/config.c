/* SPDX-License-Identifier: MIT */
/*
 * Configuration: one table of every key (type, default, bounds, help) and
 * one parser that checks them, fed by a `key = value` file and FCPUSH_<KEY>
 * environment variables. The example file is written from the same table.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "util.h"

enum config_type {
	CONFIG_STRING, /* any text */
	CONFIG_INT,    /* decimal integer between min and max */
	CONFIG_OCTAL   /* octal digits (string kept as given) between min and max */
};

#define CONFIG_SIZE_SUFFIX 0x1 /* integer may end in k, M or G (x1024) */
#define CONFIG_LOG_LEVEL 0x2   /* string must be a log level name */
#define CONFIG_DURABILITY 0x4  /* string must be full or normal */
#define CONFIG_AUTH_MODE 0x8   /* string must be off, publish or all */
#define CONFIG_AUTH_ALG 0x10   /* string must be HS256, RS256 or ES256 */

struct config_option {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *default_string; /* CONFIG_STRING, CONFIG_OCTAL */
	int64_t default_int;        /* CONFIG_INT */
	int64_t min;
	int64_t max;
	int flags;
	const char *help;
};

#define OPT_STRING(field, def, fl, help) \
	{#field, CONFIG_STRING, offsetof(struct config, field), def, 0, 0, 0, fl, help}
#define OPT_INT(field, def, lo, hi, fl, help) \
	{#field, CONFIG_INT, offsetof(struct config, field), NULL, def, lo, hi, fl, help}

static const struct config_option config_options[] = {
	OPT_STRING(database, "/var/lib/fcpush/fcpush.db", 0,
	    "Where every message is stored (created by `fcpush init`): a SQLite database file, also "
	    "written `sqlite:FILE`, or nats://HOST:PORT[,HOST:PORT...]/STREAM[?replicas=N] for NATS "
	    "JetStream (README: store backends)."),
	OPT_STRING(listen, "", 0,
	    "Where the FastCGI worker listens: a unix socket path or host:port. Empty: the socket "
	    "the web server passes on fd 0 (lighttpd, mod_fcgid, spawn-fcgi)."),
	{"listen_mode", CONFIG_OCTAL, offsetof(struct config, listen_mode), "0660", 0, 0, 0777, 0,
	 "Permissions of the unix socket named by listen (and of fcpush-ws's ws_listen), in octal."},
	OPT_STRING(cors_allow_origins, "", 0,
	    "Origins allowed to make cross-origin requests: empty for none, * for any, else a "
	    "comma-separated list of exact origins such as https://example.com."),
	OPT_STRING(log_level, "info", CONFIG_LOG_LEVEL, "Least severe messages logged: error, warn, info or debug."),
	OPT_STRING(durability, "full", CONFIG_DURABILITY,
	    "full: every commit is fsync'd before its publish is answered (201), so it survives an OS "
	    "crash or power loss; concurrent publishes share one fsync (group commit). normal: fsync only "
	    "at checkpoints, faster for a lone publisher; a commit survives the crash of any process but a "
	    "power loss may undo the last ones (subscribers ahead of the rolled-back database are told of a "
	    "gap). Every process (worker, fcpush-ws, CLI) applies it to its own connections."),
	OPT_STRING(auth, "off", CONFIG_AUTH_MODE,
	    "Who needs a signed token (JWT, README \"Access control\"): off: nobody; publish: publishing "
	    "and deleting need one, subscribing is open; all: every request on a channel needs one. A new "
	    "install (./quickstart, the Debian package) writes publish with a generated key."),
	OPT_STRING(auth_key_file, "", 0,
	    "The key tokens are verified with: for HS256 the shared secret (the file's bytes, one "
	    "trailing newline dropped, at least 32 bytes: openssl rand -hex 32), for RS256 and ES256 a "
	    "PEM public key. Needed when auth is not off; fcpush token signs with an HS256 one."),
	OPT_STRING(auth_algorithm, "HS256", CONFIG_AUTH_ALG,
	    "The one algorithm tokens must be signed with: HS256, RS256 or ES256 (a token naming another, "
	    "none included, is refused)."),
	OPT_STRING(auth_audience, "", 0,
	    "When set, tokens must carry it in their aud claim (a string, or an array holding it); empty: "
	    "aud is not checked."),
	OPT_STRING(auth_cookie, "fcpush_token", 0,
	    "Name of the cookie a subscriber's token may come in (EventSource and WebSocket cannot set "
	    "headers). A cookie never authorizes a publish or a delete: a browser would send it along with "
	    "a cross-site form."),
	OPT_INT(request_body_timeout_s, 10, 1, 3600, 0,
	    "A publish whose body stops arriving for this many seconds is answered 408 and its request "
	    "thread freed, so stalled uploads cannot hold every thread (nothing is written)."),
	OPT_INT(threads, 16, 1, 256, 0,
	    "Threads accepting and serving requests in each worker process. A waiting request holds none; "
	    "more threads let more concurrent publishes share one commit."),
	OPT_INT(listen_backlog, 1024, 1, 65535, 0, "listen(2) backlog of the socket named by listen."),
	OPT_INT(busy_timeout_ms, 5000, 0, 600000, 0,
	    "How long a statement waits for a locked database, in milliseconds, before the request "
	    "fails with 503."),
	OPT_INT(max_message_bytes, 268435456, 1, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Largest body of one published message, in bytes (suffix k, M or G for x1024). A body over "
	    "1 MiB is spooled to a file in spool_dir and stored in pieces, never held whole in memory; a "
	    "batch element and a WebSocket publish are held to it too. A store with a lower limit of its "
	    "own (NATS: the server's max_payload less 1 KiB for headers) refuses past that one, with 413 "
	    "naming it, before the body is read."),
	OPT_STRING(spool_dir, "", 0,
	    "Folder for the spool files of request bodies over 1 MiB while they are read and stored "
	    "(each removed when its publish ends; it must be writable by the worker and hold the largest "
	    "bodies in flight). Empty: next to the database for a SQLite file, else $TMPDIR or /tmp."),
	OPT_INT(max_batch_bytes, 16777216, 1, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Largest body of one POST /publish batch, in bytes (suffix k, M or G for x1024)."),
	OPT_INT(max_batch_messages, 10000, 1, 1000000, 0, "Most messages in one POST /publish batch."),
	OPT_INT(page_messages, 100, 1, 100000, 0, "Most messages in one poll response."),
	OPT_INT(page_max_bytes, 1048576, 1024, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Most bytes of message bodies in one poll or long-poll answer, one step of a stream's or "
	    "WebSocket's catch-up, and one read of new rows (suffix k, M or G). At least one message always "
	    "goes; a poll answer cut short says \"more\": true and the client continues from its last_seq."),
	OPT_INT(long_poll_max_wait_s, 30, 1, 3600, 0,
	    "Cap on Prefer: wait and ?wait for long polls, in seconds."),
	OPT_INT(max_parked, 10000, 1, 1000000, 0,
	    "Most parked subscribers (long polls and streams) per worker process."),
	OPT_INT(retention_max_messages, 0, 0, INT64_C(1) << 62, 0,
	    "Default messages kept per channel (0 unlimited); a channel may override it."),
	OPT_INT(retention_max_age_s, 0, 0, INT64_C(1) << 40, 0,
	    "Default age after which messages are deleted, in seconds (0 unlimited); a channel may "
	    "override it."),
	OPT_INT(retention_max_bytes, 0, 0, INT64_C(1) << 62, CONFIG_SIZE_SUFFIX,
	    "Default bytes of bodies kept per channel (0 unlimited; suffix k, M or G for x1024); a "
	    "channel may override it."),
	OPT_INT(trim_interval_ms, 1000, 10, 3600000, 0,
	    "Delay between a publish and the retention pass that follows it, in milliseconds."),
	OPT_INT(idempotency_window_s, 300, 1, 604800, 0,
	    "How long a publish's idempotency key (Idempotency-Key header, \"idempotency_key\" of a batch "
	    "element or WebSocket publish) is remembered, in seconds: a publish repeating a key on the same "
	    "channel within it stores nothing and is answered with the original seq (422 when its payload "
	    "differs). Kept in the database, so it holds across restarts; every process applies its own."),
	OPT_INT(heartbeat_s, 15, 1, 3600, 0, "Idle streams get a heartbeat this often, in seconds."),
	OPT_INT(retry_ms, 2000, 0, 3600000, 0,
	    "SSE retry: sent to EventSource clients, the reconnection delay in milliseconds."),
	OPT_INT(stream_max_pending_bytes, 262144, 4096, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Bytes that may wait to be written to one stream (SSE, NDJSON; suffix k, M or G). Past it the stream "
	    "gets no more live messages: they wait in the store and follow, read page by page, as its client "
	    "drains the queue. A stalled stream costs about this much, however much is published."),
	OPT_INT(stream_stall_timeout_ms, 5000, 100, 3600000, 0,
	    "A stream past stream_max_pending_bytes whose client takes nothing for this long, in milliseconds, is "
	    "disconnected; it resumes from its last seq and loses nothing."),
	OPT_STRING(ws_listen, "127.0.0.1:8081", 0,
	    "Where fcpush-ws, the WebSocket companion, listens: host:port (loopback: the web server "
	    "proxies /push/ws/ to it) or the path of a unix socket (permissions from listen_mode)."),
	OPT_STRING(ws_allowed_origins, "", 0,
	    "Origins allowed to open a WebSocket: empty for any while auth is off and for the site's own "
	    "origin only (the Origin's host equal to the request's Host) while auth is on, else * or a "
	    "comma-separated list of exact origins such as https://example.com; others are refused with "
	    "403. A handshake without an Origin header (not a browser) is always allowed."),
	OPT_INT(ws_max_message_bytes, 1114112, 128, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Largest message a WebSocket client may send, in bytes (suffix k, M or G); past it the "
	    "connection is closed with 1009. A publish's data is also held to max_message_bytes."),
	OPT_INT(ws_max_subscriptions, 64, 1, 100000, 0,
	    "Most channels one WebSocket connection may subscribe to."),
	OPT_INT(ws_max_connections, 10000, 1, 1000000, 0,
	    "Most WebSocket connections one fcpush-ws process holds; more are refused with 503."),
	OPT_INT(ws_ping_s, 25, 1, 3600, 0,
	    "fcpush-ws pings an idle WebSocket this often, in seconds, and closes one that has not "
	    "answered for twice as long. Keep it below the web server's idle timeouts."),
	OPT_INT(ws_max_pending_bytes, 262144, 4096, 1073741824, CONFIG_SIZE_SUFFIX,
	    "Bytes that may wait to be sent to one WebSocket client (suffix k, M or G). Past it the client "
	    "gets no more live messages until it drains (they wait in the store), and one that takes less "
	    "than half of this in 5 s is disconnected (close 1013, try again later); it resumes with "
	    "?since and loses nothing."),
};

#define CONFIG_NOPTIONS (sizeof config_options / sizeof config_options[0])

static const struct config_option *config_find(const char *key);
static int config_parse_int(const struct config_option *o, const char *value, int64_t *out, char **cause);
static char *config_trim(char *s);
static int config_fail(char **cause, char *why);
static void config_write_comment(FILE *f, const char *text);

static int
config_fail(char **cause, char *why)
{
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -1;
}

static const struct config_option *
config_find(const char *key)
{
	size_t i;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (strcmp(config_options[i].name, key) == 0)
			return &config_options[i];
	}
	return NULL;
}

void
config_init(struct config *c)
{
	const struct config_option *o;
	size_t i;

	memset(c, 0, sizeof *c);
	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		o = &config_options[i];
		if (o->type == CONFIG_INT)
			*(int64_t *)((char *)c + o->offset) = o->default_int;
		else
			*(char **)((char *)c + o->offset) = xstrdup(o->default_string);
	}
}

void
config_fini(struct config *c)
{
	size_t i;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		if (config_options[i].type != CONFIG_INT)
			free(*(char **)((char *)c + config_options[i].offset));
	}
	memset(c, 0, sizeof *c);
}

/* Parse an integer value of option o: an optional '-', decimal digits and,
 * for size options, one of k/K, M/m, G/g; then check the bounds. */
static int
config_parse_int(const struct config_option *o, const char *value, int64_t *out, char **cause)
{
	const char *p = value;
	int64_t v = 0, mult = 1;
	int neg = 0, big = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			big = 1;
		else
			v = v * 10 + (*p - '0');
	}
	if (*p != '\0' && (o->flags & CONFIG_SIZE_SUFFIX) && p[1] == '\0') {
		switch (*p) {
		case 'k':
		case 'K':
			mult = INT64_C(1) << 10;
			break;
		case 'm':
		case 'M':
			mult = INT64_C(1) << 20;
			break;
		case 'g':
		case 'G':
			mult = INT64_C(1) << 30;
			break;
		default:
			goto bad;
		}
		p++;
	}
	if (*p != '\0')
		goto bad;
	if (v > INT64_MAX / mult)
		big = 1;
	else
		v *= mult;
	if (neg)
		v = -v;
	if (big || v < o->min || v > o->max)
		return config_fail(cause, xasprintf("%s: %s is out of range %lld..%lld", o->name, value,
						    (long long)o->min, (long long)o->max));
	*out = v;
	return 0;

bad:
	return config_fail(cause, xasprintf("%s: \"%s\" is not a whole number%s (range %lld..%lld)",
					    o->name, value,
					    (o->flags & CONFIG_SIZE_SUFFIX) ? " with an optional k, M or G suffix" : "",
					    (long long)o->min, (long long)o->max));
}

int
config_set(struct config *c, const char *key, const char *value, char **cause)
{
	const struct config_option *o = config_find(key);
	char **sp;
	int64_t v;
	size_t n;

	if (o == NULL)
		return config_fail(cause, xasprintf("unknown key \"%s\"", key));
	if (value == NULL)
		return config_fail(cause, xasprintf("%s: no value", key));
	switch (o->type) {
	case CONFIG_INT:
		if (config_parse_int(o, value, &v, cause) != 0)
			return -1;
		*(int64_t *)((char *)c + o->offset) = v;
		return 0;
	case CONFIG_OCTAL:
		n = strspn(value, "01234567");
		if (n == 0 || value[n] != '\0')
			return config_fail(cause, xasprintf("%s: \"%s\" is not an octal number (range "
							    "%#llo..%#llo)",
							    o->name, value, (unsigned long long)o->min,
							    (unsigned long long)o->max));
		v = (int64_t)strtoll(value, NULL, 8);
		if (n > 12 || v < o->min || v > o->max)
			return config_fail(cause, xasprintf("%s: %s is out of range %#llo..%#llo", o->name,
							    value, (unsigned long long)o->min,
							    (unsigned long long)o->max));
		break;
	case CONFIG_STRING:
		if ((o->flags & CONFIG_LOG_LEVEL) && log_level_parse(value) < 0)
			return config_fail(cause, xasprintf("%s: \"%s\" is not one of error, warn, info, "
							    "debug",
							    o->name, value));
		if ((o->flags & CONFIG_DURABILITY) && strcmp(value, "full") != 0 && strcmp(value, "normal") != 0)
			return config_fail(cause, xasprintf("%s: \"%s\" is not one of full, normal", o->name,
							    value));
		if ((o->flags & CONFIG_AUTH_MODE) && !util_list_contains("off,publish,all", value))
			return config_fail(cause, xasprintf("%s: \"%s\" is not one of off, publish, all", o->name,
							    value));
		if ((o->flags & CONFIG_AUTH_ALG) && !util_list_contains("HS256,RS256,ES256", value))
			return config_fail(cause, xasprintf("%s: \"%s\" is not one of HS256, RS256, ES256",
							    o->name, value));
		break;
	}
	sp = (char **)((char *)c + o->offset);
	free(*sp);
	*sp = xstrdup(value);
	return 0;
}

/* Strip leading and trailing whitespace in place. */
static char *
config_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int
config_load_file(struct config *c, const char *path, char **cause)
{
	FILE *f = NULL;
	char *line = NULL, *key, *value, *eq, *why = NULL;
	size_t cap = 0, n;
	long lineno = 0;
	int rc = -1;

	f = fopen(path, "r");
	if (f == NULL) {
		config_fail(cause, xasprintf("%s: %s", path, strerror(errno)));
		goto out;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		key = config_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL) {
			config_fail(cause, xasprintf("%s:%ld: expected `key = value`", path, lineno));
			goto out;
		}
		*eq = '\0';
		key = config_trim(key);
		value = config_trim(eq + 1);
		n = strlen(value);
		if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
			value[n - 1] = '\0';
			value++;
		}
		if (config_set(c, key, value, &why) != 0) {
			config_fail(cause, xasprintf("%s:%ld: %s", path, lineno, why));
			goto out;
		}
	}
	if (ferror(f)) {
		config_fail(cause, xasprintf("%s: %s", path, strerror(errno)));
		goto out;
	}
	rc = 0;

out:
	free(why);
	free(line);
	if (f != NULL)
		fclose(f);
	return rc;
}

int
config_load_env(struct config *c, char **cause)
{
	char var[64], *why = NULL;
	const char *value;
	size_t i, j;

	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		memcpy(var, "FCPUSH_", 7);
		for (j = 0; config_options[i].name[j] != '\0' && 7 + j < sizeof var - 1; j++)
			var[7 + j] = (char)toupper((unsigned char)config_options[i].name[j]);
		var[7 + j] = '\0';
		value = getenv(var);
		if (value == NULL)
			continue;
		if (config_set(c, config_options[i].name, value, &why) != 0) {
			config_fail(cause, xasprintf("environment %s: %s", var, why));
			free(why);
			return -1;
		}
	}
	return 0;
}

int
config_reload_log_level(struct config *c, const char *path)
{
	struct config fresh;
	char *cause = NULL;
	int rc = -1;

	config_init(&fresh);
	if ((path != NULL && config_load_file(&fresh, path, &cause) == -1) || config_load_env(&fresh, &cause) == -1) {
		log_error("reload: %s; keeping log_level %s", cause, c->log_level);
		goto out;
	}
	free(c->log_level);
	c->log_level = xstrdup(fresh.log_level);
	log_set_level((enum log_level)log_level_parse(c->log_level));
	log_info("reload: log_level %s (other settings take effect at the next start)", c->log_level);
	rc = 0;
out:
	free(cause);
	config_fini(&fresh);
	return rc;
}

/* Write text as "# " comment lines of at most 78 columns, broken at spaces. */
static void
config_write_comment(FILE *f, const char *text)
{
	const char *p = text, *brk;
	size_t n;

	while (*p != '\0') {
		n = strlen(p);
		if (n > 76) {
			for (brk = p + 76; brk > p && *brk != ' '; brk--)
				;
			n = brk > p ? (size_t)(brk - p) : n;
		}
		fprintf(f, "# %.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

void
config_write_example(FILE *f)
{
	const struct config_option *o;
	size_t i;

	fputs("# fcpush configuration.\n"
	      "#\n"
	      "# One `key = value` per line. Blank lines and lines starting with # are\n"
	      "# ignored; there are no comments after a value. A value may be wrapped in\n"
	      "# double quotes, which is how to write an empty string. Every key is\n"
	      "# optional: each one below is commented out and shows its default.\n"
	      "#\n"
	      "# Precedence: defaults < this file < environment. Any key can also be set\n"
	      "# by the variable FCPUSH_<KEY>, the key upper-cased (FCPUSH_THREADS=8).\n"
	      "#\n"
	      "# Generated from the table in fcgi/config.c; tests check that they agree.\n"
	      "\n",
	      f);
	for (i = 0; i < CONFIG_NOPTIONS; i++) {
		o = &config_options[i];
		config_write_comment(f, o->help);
		switch (o->type) {
		case CONFIG_INT:
			fprintf(f, "# range: %lld..%lld\n#%s = %lld\n\n", (long long)o->min, (long long)o->max,
				o->name, (long long)o->default_int);
			break;
		case CONFIG_OCTAL:
			fprintf(f, "# range: %#llo..%#llo (octal)\n#%s = %s\n\n", (unsigned long long)o->min,
				(unsigned long long)o->max, o->name, o->default_string);
			break;
		case CONFIG_STRING:
			if (o->flags & CONFIG_LOG_LEVEL)
				fputs("# range: error, warn, info, debug\n", f);
			if (o->flags & CONFIG_DURABILITY)
				fputs("# range: full, normal\n", f);
			if (o->flags & CONFIG_AUTH_MODE)
				fputs("# range: off, publish, all\n", f);
			if (o->flags & CONFIG_AUTH_ALG)
				fputs("# range: HS256, RS256, ES256\n", f);
			if (*o->default_string == '\0')
				fprintf(f, "#%s = \"\"\n\n", o->name);
			else
				fprintf(f, "#%s = %s\n\n", o->name, o->default_string);
			break;
		}
	}
}

/* Whether origin is in list (comma-separated, spaces around items ignored),
 * or the list holds "*". */
static int
config_origin_in(const char *list, const char *origin)
{
	if (origin == NULL || list == NULL)
		return 0;
	return util_list_contains(list, "*") || (origin[0] != '\0' && util_list_contains(list, origin));
}

int
config_origin_allowed(const struct config *c, const char *origin)
{
	return config_origin_in(c->cors_allow_origins, origin);
}

int
config_ws_origin_allowed(const struct config *c, const char *origin, const char *host)
{
	const char *h;

	if (origin == NULL)
		return 1;
	if (c->ws_allowed_origins == NULL || c->ws_allowed_origins[0] == '\0') {
		if (c->auth == NULL || strcmp(c->auth, "off") == 0)
			return 1;
		/* The site's own origin: scheme "://" host[:port] (RFC 6454 §6.1)
		 * whose host[:port] is the one the request was sent to. */
		h = strstr(origin, "://");
		return h != NULL && host != NULL && host[0] != '\0' && strcasecmp(h + 3, host) == 0;
	}
	return config_origin_in(c->ws_allowed_origins, origin);
}
