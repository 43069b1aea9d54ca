/* SPDX-License-Identifier: MIT */
/*
 * Configuration as one table: every key with its type, default, bounds and
 * help, read from a file of `key = value` lines and from FCPUSH_<KEY>
 * environment variables (environment wins). conf/fcpush.conf.example lists
 * every key; tests check that it matches this table.
 */
#ifndef FCPUSH_CONFIG_H
#define FCPUSH_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct config {
	char *database;           /* SQLite file */
	char *listen;             /* unix socket path, or host:port; "" = FastCGI socket on fd 0 */
	char *listen_mode;        /* octal permissions of a unix socket, e.g. "0660" */
	char *cors_allow_origins; /* "" none, "*" any, else comma-separated origins */
	char *log_level;          /* error, warn, info, debug */
	char *durability;         /* full (synchronous=FULL) or normal */
	char *auth;               /* off, publish or all (auth.h) */
	char *auth_key_file;      /* HS256 secret, or RS256/ES256 PEM public key */
	char *auth_algorithm;     /* HS256, RS256 or ES256 */
	char *auth_audience;      /* "" not checked, else the aud tokens must carry */
	char *auth_cookie;        /* cookie holding a subscriber's token */
	int64_t request_body_timeout_s; /* a stalled request body fails after this long */
	int64_t threads;              /* request threads */
	int64_t listen_backlog;       /* listen(2) backlog of the socket */
	int64_t busy_timeout_ms;      /* SQLite busy timeout */
	int64_t max_message_bytes;    /* largest body of one publish */
	char *spool_dir;              /* "" next to a SQLite file or $TMPDIR, else where bodies are spooled */
	int64_t max_batch_bytes;      /* largest body of POST /publish */
	int64_t max_batch_messages;   /* most messages in one batch */
	int64_t page_messages;        /* most messages in one poll response */
	int64_t page_max_bytes;       /* most body bytes in one answer, catch-up step or read */
	int64_t long_poll_max_wait_s; /* cap on Prefer: wait / ?wait */
	int64_t max_parked;           /* most parked requests per process */
	int64_t retention_max_messages; /* default per channel; 0 unlimited */
	int64_t retention_max_age_s;    /* default per channel; 0 unlimited */
	int64_t retention_max_bytes;    /* default per channel; 0 unlimited */
	int64_t trim_interval_ms;     /* delay between a publish and the retention pass */
	int64_t idempotency_window_s; /* how long a publish's idempotency key is remembered */
	int64_t heartbeat_s;          /* idle streams get a heartbeat this often */
	int64_t retry_ms;             /* SSE retry: sent to clients */
	int64_t stream_max_pending_bytes; /* unwritten output past which a stream is held back */
	int64_t stream_stall_timeout_ms;  /* a held-back stream that takes nothing this long is dropped */
	/* fcpush-ws, the WebSocket companion */
	char *ws_listen;              /* host:port, or a unix socket path */
	char *ws_allowed_origins;     /* "" any, else "*" or comma-separated origins */
	int64_t ws_max_message_bytes; /* largest client message (close 1009 past it) */
	int64_t ws_max_subscriptions; /* channels per connection */
	int64_t ws_max_connections;   /* open WebSockets per process */
	int64_t ws_ping_s;            /* ping interval; no pong for twice that closes */
	int64_t ws_max_pending_bytes; /* unsent output past which a client is dropped */
};

/* Fill c with every default. Strings are owned by c (config_fini frees). */
void config_init(struct config *c);
void config_fini(struct config *c);
/* Set one key from its text form, checking type and bounds. Returns 0, or -1
 * with *cause (caller frees; cause may be NULL) naming the key, the bad value
 * and the allowed range, or an unknown key. */
int config_set(struct config *c, const char *key, const char *value, char **cause);
/* Read a file of `key = value` lines (# comments, blank lines). -1 with
 * *cause "path:line: ..." on the first bad line or when the file cannot be
 * read. */
int config_load_file(struct config *c, const char *path, char **cause);
/* Apply FCPUSH_<KEY> variables from the environment (key upper-cased). -1 with
 * *cause on the first bad value. Unknown FCPUSH_ variables are ignored. */
int config_load_env(struct config *c, char **cause);
/* On SIGHUP: read the file at path (NULL: none) and the environment again,
 * as at start, and apply what can change in a running process: log_level
 * (c->log_level and the log's level). Logs the outcome. Returns 0, or -1
 * (logged, nothing changed) when the file or a variable is bad. Not
 * async-signal-safe: call it from a thread that took the signal with sigwait
 * or a signalfd. */
int config_reload_log_level(struct config *c, const char *path);
/* Write every key with its default and help as a commented example file. */
void config_write_example(FILE *f);
/* Whether origin (a request's Origin header) is allowed by
 * cors_allow_origins. 0 for NULL origin. */
int config_origin_allowed(const struct config *c, const char *origin);
/* Whether a WebSocket handshake with this Origin header is allowed by
 * ws_allowed_origins: always when origin is NULL (not a browser); when that
 * is empty, always with auth = off, else only from the site's own origin
 * (host: the request's X-Forwarded-Host, else its Host; the Origin's
 * host[:port] must equal it); else when origin is in the list or the list
 * holds "*". */
int config_ws_origin_allowed(const struct config *c, const char *origin, const char *host);

#endif
