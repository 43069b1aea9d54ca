/* SPDX-License-Identifier: MIT */
/*
 * Access control (see auth.h): JWT verification with libjwt, the claims read
 * with jansson (the JSON library libjwt itself parses with), and the pure
 * decision of what a token may do on a channel.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>

#include "auth.h"
#include "config.h"
#include "route.h"
#include "util.h"

/* RFC 7518 §3.2: an HS256 key must be at least as long as the hash. */
#define AUTH_MIN_HMAC_KEY 32
/* A key file larger than this is not a key. */
#define AUTH_MAX_KEY_BYTES 65536

/* Tokens verified lately, so that a client sending the same token again
 * (a publisher's every POST, a poller's every request) costs a string
 * compare instead of a signature check (ES256: about 1 ms with libjwt 1.10,
 * which parses the PEM key at every decode; HS256 about 18 us). A hit needs
 * the very same token text, so nothing is taken on trust, and is checked
 * against exp again. Direct-mapped by a hash of the text: AUTH_CACHE_SLOTS
 * entries of at most AUTH_CACHE_MAX_TOKEN bytes, so at most 512 KiB. */
#define AUTH_CACHE_SLOTS 256
#define AUTH_CACHE_MAX_TOKEN 2048

struct auth_cache_entry {
	char *token;                /* NULL: empty */
	struct auth_claims *claims; /* what it grants */
};

struct auth_cache {
	pthread_mutex_t lock; /* request threads share the worker's verifier */
	struct auth_cache_entry e[AUTH_CACHE_SLOTS];
};

struct auth {
	struct auth_cache *cache; /* NULL when auth is off */
	enum auth_mode mode;
	jwt_alg_t alg;
	unsigned char *key;
	size_t key_len;
	char *audience; /* NULL: aud not checked */
};

static int auth_fail(char **cause, char *why);
static int auth_read_key(struct auth *a, const char *path, char **cause);
static int auth_patterns(json_t *obj, const char *name, char ***out, size_t *n, char **cause);
static int auth_audience_ok(json_t *aud, const char *want);
static int64_t auth_seconds(const json_t *v);
static enum auth_result auth_verify_token(const struct auth *a, const char *token, int64_t now_s,
					  struct auth_claims **out, char **cause);
static struct auth_claims *auth_claims_dup(const struct auth_claims *c);
static size_t auth_cache_slot(const char *token);

static int
auth_fail(char **cause, char *why)
{
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -1;
}

/* Read the key file whole into a->key; HS256 keys lose one trailing newline
 * (echo and most editors add one) and must be AUTH_MIN_HMAC_KEY long. */
static int
auth_read_key(struct auth *a, const char *path, char **cause)
{
	FILE *f = NULL;
	unsigned char *key = xmalloc(AUTH_MAX_KEY_BYTES + 1);
	size_t n;
	int rc = -1;

	if (path == NULL || path[0] == '\0') {
		auth_fail(cause, xstrdup("auth is on but auth_key_file is not set"));
		goto out;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		auth_fail(cause, xasprintf("auth_key_file %s: %s", path, strerror(errno)));
		goto out;
	}
	n = fread(key, 1, AUTH_MAX_KEY_BYTES + 1, f);
	if (ferror(f) || n > AUTH_MAX_KEY_BYTES) {
		auth_fail(cause, xasprintf("auth_key_file %s: %s", path,
					   ferror(f) ? strerror(errno) : "larger than 64 KiB: not a key"));
		goto out;
	}
	if (a->alg == JWT_ALG_HS256) {
		if (n > 0 && key[n - 1] == '\n')
			n--;
		if (n > 0 && key[n - 1] == '\r')
			n--;
		if (n < AUTH_MIN_HMAC_KEY) {
			auth_fail(cause, xasprintf("auth_key_file %s: an HS256 key needs at least %d bytes, it has %zu "
						   "(openssl rand -hex 32 > FILE makes one)",
						   path, AUTH_MIN_HMAC_KEY, n));
			goto out;
		}
	}
	key[n] = '\0';
	a->key = key;
	a->key_len = n;
	key = NULL;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(key);
	return rc;
}

struct auth *
auth_new(const struct config *c, char **cause)
{
	struct auth *a = xcalloc(1, sizeof *a);

	if (strcmp(c->auth, "all") == 0)
		a->mode = AUTH_MODE_ALL;
	else if (strcmp(c->auth, "publish") == 0)
		a->mode = AUTH_MODE_PUBLISH;
	else
		a->mode = AUTH_MODE_OFF;
	if (a->mode == AUTH_MODE_OFF)
		return a;
	if (strcmp(c->auth_algorithm, "HS256") == 0)
		a->alg = JWT_ALG_HS256;
	else if (strcmp(c->auth_algorithm, "RS256") == 0)
		a->alg = JWT_ALG_RS256;
	else if (strcmp(c->auth_algorithm, "ES256") == 0)
		a->alg = JWT_ALG_ES256;
	else {
		auth_fail(cause, xasprintf("auth_algorithm: \"%s\" is not one of HS256, RS256, ES256", c->auth_algorithm));
		goto fail;
	}
	if (auth_read_key(a, c->auth_key_file, cause) != 0)
		goto fail;
	if (c->auth_audience[0] != '\0')
		a->audience = xstrdup(c->auth_audience);
	a->cache = xcalloc(1, sizeof *a->cache);
	pthread_mutex_init(&a->cache->lock, NULL);
	return a;
fail:
	auth_free(a);
	return NULL;
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	if (a->cache != NULL) {
		for (i = 0; i < AUTH_CACHE_SLOTS; i++) {
			free(a->cache->e[i].token);
			auth_claims_free(a->cache->e[i].claims);
		}
		pthread_mutex_destroy(&a->cache->lock);
		free(a->cache);
	}
	free(a->key);
	free(a->audience);
	free(a);
}

enum auth_mode
auth_mode(const struct auth *a)
{
	return a != NULL ? a->mode : AUTH_MODE_OFF;
}

int
auth_required(const struct auth *a, enum auth_op op)
{
	switch (auth_mode(a)) {
	case AUTH_MODE_OFF: return 0;
	case AUTH_MODE_PUBLISH: return op != AUTH_OP_SUBSCRIBE;
	case AUTH_MODE_ALL: return 1;
	}
	return 1;
}

void
auth_claims_free(struct auth_claims *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsubscribe; i++)
		free(c->subscribe[i]);
	for (i = 0; i < c->npublish; i++)
		free(c->publish[i]);
	free(c->subscribe);
	free(c->publish);
	free(c);
}

/* Read obj[name], an optional array of non-empty strings, into a new array. */
static int
auth_patterns(json_t *obj, const char *name, char ***out, size_t *n, char **cause)
{
	json_t *arr = json_object_get(obj, name), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return auth_fail(cause, xasprintf("the fcpush claim's \"%s\" is not an array", name));
	*out = xcalloc(json_array_size(arr) + 1, sizeof **out);
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v))
			return auth_fail(cause, xasprintf("the fcpush claim's \"%s\" holds something other than "
							  "channel patterns",
							  name));
		(*out)[(*n)++] = xstrdup(json_string_value(v));
	}
	return 0;
}

/* A NumericDate (RFC 7519 §2) as whole seconds, held to 0..10^12 (year
 * 33658): a double outside int64_t would make the conversion undefined. */
static int64_t
auth_seconds(const json_t *v)
{
	double d = json_number_value(v);

	return d < 0 ? 0 : d > 1e12 ? INT64_C(1000000000000) : (int64_t)d;
}

/* RFC 7519 §4.1.3: aud is a string or an array of strings; the token is for
 * us when one of them is want. */
static int
auth_audience_ok(json_t *aud, const char *want)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (json_is_array(aud)) {
		json_array_foreach(aud, i, v) {
			if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
				return 1;
		}
	}
	return 0;
}

/* A deep copy of c. */
static struct auth_claims *
auth_claims_dup(const struct auth_claims *c)
{
	struct auth_claims *d = xcalloc(1, sizeof *d);
	size_t i;

	*d = *c;
	d->subscribe = xcalloc(c->nsubscribe + 1, sizeof *d->subscribe);
	d->publish = xcalloc(c->npublish + 1, sizeof *d->publish);
	for (i = 0; i < c->nsubscribe; i++)
		d->subscribe[i] = xstrdup(c->subscribe[i]);
	for (i = 0; i < c->npublish; i++)
		d->publish[i] = xstrdup(c->publish[i]);
	return d;
}

/* FNV-1a of the token's text, to a cache slot. */
static size_t
auth_cache_slot(const char *token)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *token != '\0'; token++)
		h = (h ^ (unsigned char)*token) * UINT64_C(1099511628211);
	return (size_t)(h % AUTH_CACHE_SLOTS);
}

enum auth_result
auth_verify(const struct auth *a, const char *token, int64_t now_s, struct auth_claims **out, char **cause)
{
	struct auth_cache_entry *e;
	enum auth_result r;

	*out = NULL;
	if (a == NULL || a->cache == NULL || token == NULL || strlen(token) > AUTH_CACHE_MAX_TOKEN)
		return auth_verify_token(a, token, now_s, out, cause);
	e = &a->cache->e[auth_cache_slot(token)];
	pthread_mutex_lock(&a->cache->lock);
	if (e->token != NULL && strcmp(e->token, token) == 0 && (e->claims->exp == 0 || e->claims->exp > now_s))
		*out = auth_claims_dup(e->claims);
	pthread_mutex_unlock(&a->cache->lock);
	if (*out != NULL)
		return AUTH_OK;
	r = auth_verify_token(a, token, now_s, out, cause);
	if (r == AUTH_OK) {
		pthread_mutex_lock(&a->cache->lock);
		free(e->token);
		auth_claims_free(e->claims);
		e->token = xstrdup(token);
		e->claims = auth_claims_dup(*out);
		pthread_mutex_unlock(&a->cache->lock);
	}
	return r;
}

/* auth_verify without the cache: libjwt and the claim checks. */
static enum auth_result
auth_verify_token(const struct auth *a, const char *token, int64_t now_s, struct auth_claims **out, char **cause)
{
	enum auth_result rc = AUTH_INVALID;
	struct auth_claims *c = NULL;
	jwt_t *jwt = NULL;
	char *text = NULL;
	json_t *root = NULL, *v, *fc;
	json_error_t jerr;

	*out = NULL;
	if (token == NULL || token[0] == '\0') {
		auth_fail(cause, xstrdup("this request needs a token: Authorization: Bearer TOKEN, or ?access_token=TOKEN "
					 "(a cookie only subscribes)"));
		return AUTH_MISSING;
	}
	if (a == NULL || a->key == NULL) {
		auth_fail(cause, xstrdup("no key is configured to verify tokens with"));
		return AUTH_INVALID;
	}
	if (jwt_decode(&jwt, token, a->key, (int)a->key_len) != 0 || jwt == NULL) {
		auth_fail(cause, xstrdup("the token is malformed or its signature does not verify"));
		goto out;
	}
	/* libjwt takes the algorithm from the token's header: hold it to ours,
	 * or "none", or HS256 keyed with our public key, would pass. */
	if (jwt_get_alg(jwt) != a->alg) {
		auth_fail(cause, xasprintf("the token is signed with %s; this server takes %s only",
					   jwt_alg_str(jwt_get_alg(jwt)) != NULL ? jwt_alg_str(jwt_get_alg(jwt)) : "?",
					   jwt_alg_str(a->alg)));
		goto out;
	}
	text = jwt_get_grants_json(jwt, NULL);
	root = text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!json_is_object(root)) {
		auth_fail(cause, xstrdup("the token's claims are not a JSON object"));
		goto out;
	}
	c = xcalloc(1, sizeof *c);
	if ((v = json_object_get(root, "exp")) != NULL) {
		if (!json_is_number(v)) {
			auth_fail(cause, xstrdup("the token's exp is not a number"));
			goto out;
		}
		c->exp = auth_seconds(v);
		if (c->exp <= now_s) {
			auth_fail(cause, xstrdup("the token has expired"));
			goto out;
		}
	}
	if ((v = json_object_get(root, "nbf")) != NULL) {
		if (!json_is_number(v) || auth_seconds(v) > now_s) {
			auth_fail(cause, xstrdup("the token is not valid yet (nbf)"));
			goto out;
		}
	}
	if (a->audience != NULL && !auth_audience_ok(json_object_get(root, "aud"), a->audience)) {
		auth_fail(cause, xasprintf("the token is not for audience %s (aud)", a->audience));
		goto out;
	}
	fc = json_object_get(root, "fcpush");
	if (fc != NULL) {
		if (!json_is_object(fc)) {
			auth_fail(cause, xstrdup("the token's fcpush claim is not an object"));
			goto out;
		}
		if (auth_patterns(fc, "subscribe", &c->subscribe, &c->nsubscribe, cause) != 0 ||
		    auth_patterns(fc, "publish", &c->publish, &c->npublish, cause) != 0)
			goto out;
		v = json_object_get(fc, "admin");
		if (v != NULL && !json_is_boolean(v)) {
			auth_fail(cause, xstrdup("the fcpush claim's \"admin\" is not true or false"));
			goto out;
		}
		c->admin = json_is_true(v);
	}
	*out = c;
	c = NULL;
	rc = AUTH_OK;
out:
	auth_claims_free(c);
	json_decref(root);
	free(text);
	jwt_free(jwt);
	return rc;
}

int
auth_pattern_match(const char *pattern, const char *channel)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(pattern, channel, n - 1) == 0;
	return strcmp(pattern, channel) == 0;
}

int
auth_claims_allow(const struct auth_claims *c, enum auth_op op, const char *channel)
{
	char *const *list;
	size_t i, n;

	if (c == NULL)
		return 0;
	if (c->admin)
		return 1;
	switch (op) {
	case AUTH_OP_SUBSCRIBE:
		list = c->subscribe;
		n = c->nsubscribe;
		break;
	case AUTH_OP_PUBLISH:
		list = c->publish;
		n = c->npublish;
		break;
	default: return 0;
	}
	for (i = 0; i < n; i++) {
		if (auth_pattern_match(list[i], channel))
			return 1;
	}
	return 0;
}

enum auth_result
auth_check(const struct auth *a, const char *token, enum auth_op op, const char *const *channels, size_t n,
	   int64_t now_s, struct auth_claims **claims, char **cause)
{
	struct auth_claims *c = NULL;
	enum auth_result r;
	size_t i;

	if (claims != NULL)
		*claims = NULL;
	if (!auth_required(a, op))
		return AUTH_OK;
	r = auth_verify(a, token, now_s, &c, cause);
	if (r != AUTH_OK)
		return r;
	if (op == AUTH_OP_ADMIN && !auth_claims_allow(c, op, NULL)) {
		auth_fail(cause, xstrdup("the token is not an admin token"));
		r = AUTH_FORBIDDEN;
	}
	for (i = 0; r == AUTH_OK && i < n; i++) {
		if (!auth_claims_allow(c, op, channels[i])) {
			auth_fail(cause, xasprintf("the token does not allow %s on channel %s",
						   op == AUTH_OP_PUBLISH ? "publishing" : "subscribing", channels[i]));
			r = AUTH_FORBIDDEN;
		}
	}
	if (r == AUTH_OK && claims != NULL) {
		*claims = c;
		c = NULL;
	}
	auth_claims_free(c);
	return r;
}

char *
auth_token_from(const char *authorization, const char *query, const char *cookie_header, const char *cookie_name,
		int allow_cookie)
{
	const char *p, *end;
	size_t nlen;
	char *t;

	if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0) {
		for (p = authorization + 7; *p == ' '; p++)
			;
		for (end = p + strlen(p); end > p && end[-1] == ' '; end--)
			;
		return xstrndup(p, (size_t)(end - p));
	}
	if (query != NULL && (t = route_query_get(query, "access_token", NULL)) != NULL)
		return t;
	if (!allow_cookie || cookie_header == NULL || cookie_name == NULL || cookie_name[0] == '\0')
		return NULL;
	/* RFC 6265 §4.2.1: cookie-pair *( ";" SP cookie-pair ) */
	nlen = strlen(cookie_name);
	for (p = cookie_header; *p != '\0';) {
		while (*p == ' ' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > nlen && strncmp(p, cookie_name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			if (end - p >= 2 && *p == '"' && end[-1] == '"')
				return xstrndup(p + 1, (size_t)(end - p - 2));
			return xstrndup(p, (size_t)(end - p));
		}
		p = end;
	}
	return NULL;
}

char *
auth_issue(const struct auth *a, const char *const *sub, size_t nsub, const char *const *pub, size_t npub, int admin,
	   int64_t now_s, int64_t ttl_s, char **cause)
{
	json_t *root = NULL, *fc, *arr;
	jwt_t *jwt = NULL;
	char *claims = NULL, *token = NULL;
	size_t i;

	if (a == NULL || a->key == NULL || a->alg != JWT_ALG_HS256) {
		auth_fail(cause, xstrdup("fcpush token signs HS256 tokens only: set auth_algorithm = HS256 and "
					 "auth_key_file to the shared secret (RS256/ES256 tokens are signed by whoever "
					 "holds the private key)"));
		return NULL;
	}
	root = json_object();
	fc = json_object();
	arr = json_array();
	for (i = 0; i < nsub; i++)
		json_array_append_new(arr, json_string(sub[i]));
	json_object_set_new(fc, "subscribe", arr);
	arr = json_array();
	for (i = 0; i < npub; i++)
		json_array_append_new(arr, json_string(pub[i]));
	json_object_set_new(fc, "publish", arr);
	json_object_set_new(fc, "admin", json_boolean(admin));
	json_object_set_new(root, "fcpush", fc);
	json_object_set_new(root, "iat", json_integer((json_int_t)now_s));
	json_object_set_new(root, "exp", json_integer((json_int_t)(now_s + ttl_s)));
	if (a->audience != NULL)
		json_object_set_new(root, "aud", json_string(a->audience));
	claims = json_dumps(root, JSON_COMPACT);
	if (claims == NULL || jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, claims) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, a->key, (int)a->key_len) != 0 || (token = jwt_encode_str(jwt)) == NULL)
		auth_fail(cause, xstrdup("libjwt could not sign the token"));
	free(claims);
	json_decref(root);
	jwt_free(jwt);
	return token;
}

const char *
auth_error_code(enum auth_result r)
{
	switch (r) {
	case AUTH_OK: return NULL;
	case AUTH_MISSING: return "invalid_request";
	case AUTH_INVALID: return "invalid_token";
	case AUTH_FORBIDDEN: return "insufficient_scope";
	}
	return "invalid_token";
}

int
auth_status(enum auth_result r)
{
	return r == AUTH_OK ? 200 : r == AUTH_FORBIDDEN ? 403 : 401;
}
