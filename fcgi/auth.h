/* SPDX-License-Identifier: MIT */
/*
 * Access control: JSON Web Tokens (RFC 7519) verified with libjwt, and the
 * claims that say what a token may do per channel. One verifier per process,
 * built from the config; one pure decision, auth_claims_allow, that the
 * worker, fcpush-ws and the tests share. README "Access control" documents
 * the modes, the claims grammar and the answers.
 */
#ifndef FCPUSH_AUTH_H
#define FCPUSH_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct config;

/* The `auth` config key. */
enum auth_mode {
	AUTH_MODE_OFF = 0, /* nothing needs a token */
	AUTH_MODE_PUBLISH, /* publishing and deleting need one; subscribing is open */
	AUTH_MODE_ALL      /* everything on a channel needs one */
};

/* What a request wants to do on a channel. */
enum auth_op {
	AUTH_OP_SUBSCRIBE = 0, /* read: poll, long poll, streams, messages, info, WebSocket subscribe */
	AUTH_OP_PUBLISH,       /* POST, batch, WebSocket publish */
	AUTH_OP_ADMIN          /* DELETE a channel, list the channels (mode all) */
};

/* Outcome of a check, mapped to RFC 6750 §3.1 by the callers. */
enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING,  /* no token where one is needed: 401 */
	AUTH_INVALID,  /* bad signature, algorithm, expired, not yet valid, wrong audience, bad claims: 401 invalid_token */
	AUTH_FORBIDDEN /* valid, but it does not grant this op on this channel: 403 insufficient_scope */
};

/* What a verified token grants: channel patterns ("news", or "room.*": a
 * trailing '*' matches any name starting with what precedes it, "*" every
 * name) per op, admin (everything, DELETE included), and its expiry. */
struct auth_claims {
	char **subscribe;
	size_t nsubscribe;
	char **publish;
	size_t npublish;
	int admin;
	int64_t exp; /* Unix seconds; 0 when the token has no exp */
};

struct auth;

/* Build the verifier from c's auth, auth_key_file, auth_algorithm,
 * auth_audience: reads the key file (HS256: the file's bytes, one trailing
 * newline dropped, at least 32 bytes; RS256/ES256: a PEM public key).
 * Returns NULL with *cause (caller frees; cause may be NULL) when the mode
 * is on and the file cannot be read, is too short, or the algorithm is not
 * one of HS256, RS256, ES256. With auth = off nothing is read. */
struct auth *auth_new(const struct config *c, char **cause);
/* a may be NULL. */
void auth_free(struct auth *a);
/* The mode; AUTH_MODE_OFF for a NULL a. */
enum auth_mode auth_mode(const struct auth *a);
/* Whether op needs a token under a's mode. */
int auth_required(const struct auth *a, enum auth_op op);

/* Verify token (the compact JWS text) at now_s (Unix seconds): the signature
 * with the configured key and algorithm (the token's "alg" must be that
 * one: no "none", no HMAC with a public key), "exp" (must be > now), "nbf"
 * (must be <= now), "aud" (when auth_audience is set: a string equal to it
 * or an array holding it), and the "fcpush" claim (an object whose
 * "subscribe" and "publish" are arrays of strings and "admin" a boolean, all
 * optional). Returns AUTH_OK with *out (caller frees with auth_claims_free),
 * or AUTH_INVALID with *cause (caller frees; may be NULL) saying which check
 * failed; AUTH_MISSING for a NULL or empty token. */
enum auth_result auth_verify(const struct auth *a, const char *token, int64_t now_s, struct auth_claims **out,
			     char **cause);
/* c may be NULL. */
void auth_claims_free(struct auth_claims *c);

/* Whether pattern matches channel: equal, or pattern ends in '*' and channel
 * starts with what precedes it (so "*" matches everything). Pure. */
int auth_pattern_match(const char *pattern, const char *channel);
/* Whether claims c allow op on channel: admin allows everything; subscribe
 * and publish need a matching pattern in their list; AUTH_OP_ADMIN needs
 * admin. Pure: no clock, no key. */
int auth_claims_allow(const struct auth_claims *c, enum auth_op op, const char *channel);

/* The whole decision for one request: op on channels[0..n-1] (n may be 0:
 * the caller checks the channels later, as a batch does, or there are none)
 * with token (NULL when the request carried none) at now_s. AUTH_OK when op
 * needs no token in a's mode (*claims NULL), or the token is valid and
 * allows op on every channel (*claims: what it grants; caller frees with
 * auth_claims_free). Else the result, with *cause (caller frees; may be
 * NULL) and *claims NULL. claims may be NULL when not wanted. */
enum auth_result auth_check(const struct auth *a, const char *token, enum auth_op op, const char *const *channels,
			    size_t n, int64_t now_s, struct auth_claims **claims, char **cause);

/* The token a request carries, by precedence: the Authorization header's
 * "Bearer" credentials (RFC 6750 §2.1; other schemes are ignored), the
 * access_token query parameter (§2.3; query: the raw query string), then,
 * only when allow_cookie (subscribing: a cookie a browser sends along must
 * never publish, or any site could publish with it), the cookie named
 * cookie_name in the Cookie header. Returns a new string (caller frees), or
 * NULL when there is none. */
char *auth_token_from(const char *authorization, const char *query, const char *cookie_header,
		      const char *cookie_name, int allow_cookie);

/* Sign an HS256 token with a's key (auth_algorithm must be HS256: the
 * issuer needs the secret) granting subscribe/publish patterns (arrays of
 * nsub/npub strings), admin, expiring ttl_s seconds after now_s, with aud
 * set to auth_audience when that is set. Returns the compact token (caller
 * frees), or NULL with *cause when the algorithm is not HS256 or libjwt
 * fails. */
char *auth_issue(const struct auth *a, const char *const *sub, size_t nsub, const char *const *pub, size_t npub,
		 int admin, int64_t now_s, int64_t ttl_s, char **cause);

/* The RFC 6750 §3.1 error code of a result: "invalid_request" (missing),
 * "invalid_token", "insufficient_scope"; NULL for AUTH_OK. */
const char *auth_error_code(enum auth_result r);
/* The HTTP status of a result: 401, 401, 403; 200 for AUTH_OK. */
int auth_status(enum auth_result r);

#endif
