/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcgi/auth.c: the claim grammar (exact names, trailing '*'), the
 * decision per op, where a token is taken from, and verification of HS256
 * and ES256 tokens: signature, algorithm, exp, nbf, aud, claim shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "auth.h"
#include "config.h"
#include "suites.h"
#include "util.h"

#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef"
#define NOW INT64_C(1700000000)

/* A throw-away P-256 key pair for these tests only. */
static const char ec_private[] = "-----BEGIN EC PRIVATE KEY-----\n"
				 "MHcCAQEEIKXYflOmq077VJH2Z7AH0Zu3vxRmCzIZS2glpX4aegj+oAoGCCqGSM49\n"
				 "AwEHoUQDQgAEoted+N322ck5XCMuK/KeHrMRLXzNBw2RTxp5DhYLa89Ut1BQdvfP\n"
				 "xmC43cCo8K6nm66zJbhw87RiT24QTCFSgg==\n"
				 "-----END EC PRIVATE KEY-----\n";
static const char ec_public[] = "-----BEGIN PUBLIC KEY-----\n"
				"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoted+N322ck5XCMuK/KeHrMRLXzN\n"
				"Bw2RTxp5DhYLa89Ut1BQdvfPxmC43cCo8K6nm66zJbhw87RiT24QTCFSgg==\n"
				"-----END PUBLIC KEY-----\n";

static char *dir;

static void
setup(void)
{
	dir = test_tmpdir();
}

static void
teardown(void)
{
	test_tmpdir_remove(dir);
	free(dir);
}

/* A verifier for mode, algorithm alg, key text and audience. */
static struct auth *
make_auth(const char *mode, const char *alg, const char *key, const char *aud)
{
	struct config c;
	struct auth *a;
	char *path = xasprintf("%s/key", dir), *cause = NULL;
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(key, f);
	fclose(f);
	config_init(&c);
	ck_assert_int_eq(config_set(&c, "auth", mode, NULL), 0);
	ck_assert_int_eq(config_set(&c, "auth_algorithm", alg, NULL), 0);
	ck_assert_int_eq(config_set(&c, "auth_key_file", path, NULL), 0);
	ck_assert_int_eq(config_set(&c, "auth_audience", aud, NULL), 0);
	a = auth_new(&c, &cause);
	ck_assert_msg(a != NULL, "auth_new: %s", cause);
	config_fini(&c);
	free(path);
	return a;
}

/* Sign claims (a JSON object) with alg and key. Caller frees. */
static char *
sign(jwt_alg_t alg, const char *key, const char *claims)
{
	jwt_t *jwt = NULL;
	char *t;

	ck_assert_int_eq(jwt_new(&jwt), 0);
	ck_assert_int_eq(jwt_add_grants_json(jwt, claims), 0);
	ck_assert_int_eq(jwt_set_alg(jwt, alg, (const unsigned char *)key, key != NULL ? (int)strlen(key) : 0), 0);
	t = jwt_encode_str(jwt);
	ck_assert_ptr_nonnull(t);
	jwt_free(jwt);
	return t;
}

/* auth_verify's result for token under a, at NOW. */
static enum auth_result
verify(const struct auth *a, const char *token, char **cause)
{
	struct auth_claims *c = NULL;
	enum auth_result r = auth_verify(a, token, NOW, &c, cause);

	ck_assert_int_eq(r == AUTH_OK, c != NULL);
	auth_claims_free(c);
	return r;
}

START_TEST(test_pattern)
{
	ck_assert_int_eq(auth_pattern_match("news", "news"), 1);
	ck_assert_int_eq(auth_pattern_match("news", "news2"), 0);
	ck_assert_int_eq(auth_pattern_match("news", "new"), 0);
	ck_assert_int_eq(auth_pattern_match("room.*", "room.42"), 1);
	ck_assert_int_eq(auth_pattern_match("room.*", "room."), 1);
	ck_assert_int_eq(auth_pattern_match("room.*", "room"), 0);
	ck_assert_int_eq(auth_pattern_match("room.*", "roomx"), 0);
	ck_assert_int_eq(auth_pattern_match("*", "anything"), 1);
	ck_assert_int_eq(auth_pattern_match("a*b", "a*b"), 1); /* '*' is special only at the end */
	ck_assert_int_eq(auth_pattern_match("a*b", "axb"), 0);
}
END_TEST

START_TEST(test_allow)
{
	char *sub[] = {"news", "chat.*"}, *pub[] = {"chat.42"};
	struct auth_claims c = {sub, 2, pub, 1, 0, 0};

	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_SUBSCRIBE, "news"), 1);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_SUBSCRIBE, "chat.7"), 1);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_SUBSCRIBE, "sport"), 0);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_PUBLISH, "chat.42"), 1);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_PUBLISH, "chat.7"), 0);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_PUBLISH, "news"), 0); /* subscribe does not publish */
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_ADMIN, "news"), 0);
	c.admin = 1;
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_ADMIN, "news"), 1);
	ck_assert_int_eq(auth_claims_allow(&c, AUTH_OP_PUBLISH, "sport"), 1);
	ck_assert_int_eq(auth_claims_allow(NULL, AUTH_OP_SUBSCRIBE, "news"), 0);
}
END_TEST

START_TEST(test_token_from)
{
	char *t;

	t = auth_token_from("Bearer abc.def.ghi", "access_token=q", "fcpush_token=c", "fcpush_token", 1);
	ck_assert_str_eq(t, "abc.def.ghi");
	free(t);
	t = auth_token_from("bearer  x ", NULL, NULL, "fcpush_token", 1);
	ck_assert_str_eq(t, "x");
	free(t);
	t = auth_token_from("Basic dXNlcjpwYXNz", "a=1&access_token=q%2Ey", "fcpush_token=c", "fcpush_token", 1);
	ck_assert_str_eq(t, "q.y");
	free(t);
	t = auth_token_from(NULL, "a=1", "x=1; fcpush_token=c; y=2", "fcpush_token", 1);
	ck_assert_str_eq(t, "c");
	free(t);
	t = auth_token_from(NULL, "", "fcpush_token=\"q\"", "fcpush_token", 1);
	ck_assert_str_eq(t, "q");
	free(t);
	/* A cookie never publishes. */
	ck_assert_ptr_null(auth_token_from(NULL, "", "fcpush_token=c", "fcpush_token", 0));
	ck_assert_ptr_null(auth_token_from(NULL, "", "xfcpush_token=c", "fcpush_token", 1));
	ck_assert_ptr_null(auth_token_from(NULL, NULL, NULL, "fcpush_token", 1));
}
END_TEST

START_TEST(test_modes)
{
	struct auth *a = make_auth("publish", "HS256", SECRET "\n", "");
	const char *ch[] = {"news"};

	ck_assert_int_eq(auth_required(NULL, AUTH_OP_PUBLISH), 0);
	ck_assert_int_eq(auth_required(a, AUTH_OP_SUBSCRIBE), 0);
	ck_assert_int_eq(auth_required(a, AUTH_OP_PUBLISH), 1);
	ck_assert_int_eq(auth_required(a, AUTH_OP_ADMIN), 1);
	ck_assert_int_eq(auth_check(a, NULL, AUTH_OP_SUBSCRIBE, ch, 1, NOW, NULL, NULL), AUTH_OK);
	ck_assert_int_eq(auth_check(a, NULL, AUTH_OP_PUBLISH, ch, 1, NOW, NULL, NULL), AUTH_MISSING);
	ck_assert_int_eq(auth_check(a, "", AUTH_OP_PUBLISH, ch, 1, NOW, NULL, NULL), AUTH_MISSING);
	ck_assert_str_eq(auth_error_code(AUTH_MISSING), "invalid_request");
	ck_assert_int_eq(auth_status(AUTH_MISSING), 401);
	ck_assert_int_eq(auth_status(AUTH_FORBIDDEN), 403);
	auth_free(a);
	a = make_auth("all", "HS256", SECRET, "");
	ck_assert_int_eq(auth_required(a, AUTH_OP_SUBSCRIBE), 1);
	ck_assert_int_eq(auth_check(a, NULL, AUTH_OP_SUBSCRIBE, ch, 1, NOW, NULL, NULL), AUTH_MISSING);
	auth_free(a);
}
END_TEST

START_TEST(test_hs256)
{
	struct auth *a = make_auth("all", "HS256", SECRET "\n", "fcpush-test");
	const char *sub[] = {"chat.*"}, *pub[] = {"chat.1"}, *ch1[] = {"chat.1"}, *ch2[] = {"chat.1", "news"};
	struct auth_claims *c1 = NULL, *c2 = NULL;
	char *t, *cause = NULL;
	struct auth_claims *claims = NULL;

	t = auth_issue(a, sub, 1, pub, 1, 0, NOW, 60, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_SUBSCRIBE, ch1, 1, NOW, &claims, NULL), AUTH_OK);
	ck_assert_int_eq(claims->exp, NOW + 60);
	auth_claims_free(claims);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_PUBLISH, ch1, 1, NOW, NULL, NULL), AUTH_OK);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_SUBSCRIBE, ch2, 2, NOW, NULL, &cause), AUTH_FORBIDDEN);
	ck_assert_ptr_nonnull(strstr(cause, "news"));
	free(cause);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_ADMIN, NULL, 0, NOW, NULL, NULL), AUTH_FORBIDDEN);
	/* exp: valid one second before, refused at it. */
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_PUBLISH, ch1, 1, NOW + 59, NULL, NULL), AUTH_OK);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_PUBLISH, ch1, 1, NOW + 60, NULL, &cause), AUTH_INVALID);
	ck_assert_ptr_nonnull(strstr(cause, "expired"));
	free(cause);
	/* Verified again: from the cache, an independent copy each time. */
	ck_assert_int_eq(auth_verify(a, t, NOW + 1, &c1, NULL), AUTH_OK);
	ck_assert_int_eq(auth_verify(a, t, NOW + 2, &c2, NULL), AUTH_OK);
	ck_assert_ptr_ne(c1, c2);
	ck_assert_str_eq(c2->subscribe[0], "chat.*");
	ck_assert_int_eq(c2->exp, NOW + 60);
	auth_claims_free(c1);
	ck_assert_str_eq(c2->publish[0], "chat.1");
	auth_claims_free(c2);
	/* One flipped signature byte. */
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(a, t, NULL), AUTH_INVALID);
	free(t);
	ck_assert_int_eq(verify(a, "not-a-token", NULL), AUTH_INVALID);
	auth_free(a);
}
END_TEST

/* Tokens whose claims are each checked: signed with key (NULL: SECRET;
 * "" for alg none), the result and a word the cause must name. */
static const struct {
	const char *key;
	const char *claims;
	enum auth_result want;
	const char *cause;
} claim_cases[] = {
	{SECRET "x", "{\"aud\":\"fcpush-test\"}", AUTH_INVALID, "signature"}, /* another key */
	{NULL, "{\"aud\":\"fcpush-test\",\"exp\":1700000100}", AUTH_OK, NULL},
	{NULL, "{\"aud\":\"fcpush-test\",\"exp\":1700000000}", AUTH_INVALID, "expired"},
	{NULL, "{\"aud\":\"fcpush-test\",\"nbf\":1700000100}", AUTH_INVALID, "nbf"},
	{NULL, "{\"aud\":\"fcpush-test\",\"nbf\":1700000000}", AUTH_OK, NULL},
	/* NumericDates far outside int64_t: held to range, not undefined. */
	{NULL, "{\"aud\":\"fcpush-test\",\"exp\":1e300,\"nbf\":-1e300}", AUTH_OK, NULL},
	{NULL, "{\"aud\":\"fcpush-test\",\"exp\":-1e300}", AUTH_INVALID, "expired"},
	{NULL, "{\"aud\":\"fcpush-test\",\"exp\":\"soon\"}", AUTH_INVALID, "exp"},
	{NULL, "{\"aud\":\"other\"}", AUTH_INVALID, "aud"},
	{NULL, "{}", AUTH_INVALID, "aud"}, /* no aud at all */
	{NULL, "{\"aud\":[\"x\",\"fcpush-test\"]}", AUTH_OK, NULL},
	{NULL, "{\"aud\":\"fcpush-test\",\"fcpush\":{\"subscribe\":\"news\"}}", AUTH_INVALID, "array"},
	{NULL, "{\"aud\":\"fcpush-test\",\"fcpush\":{\"publish\":[1]}}", AUTH_INVALID, "patterns"},
	{NULL, "{\"aud\":\"fcpush-test\",\"fcpush\":{\"admin\":\"yes\"}}", AUTH_INVALID, "admin"},
	{NULL, "{\"aud\":\"fcpush-test\",\"fcpush\":[]}", AUTH_INVALID, "object"},
	/* alg none: refused although it is "valid" for what it signs. */
	{"", "{\"aud\":\"fcpush-test\",\"fcpush\":{\"admin\":true}}", AUTH_INVALID, NULL},
};

START_TEST(test_claims_checked)
{
	struct auth *a = make_auth("all", "HS256", SECRET, "fcpush-test");
	const char *key = claim_cases[_i].key;
	char *t, *cause = NULL;

	t = sign(key == NULL ? JWT_ALG_HS256 : key[0] == '\0' ? JWT_ALG_NONE : JWT_ALG_HS256,
		 key == NULL ? SECRET : key[0] == '\0' ? NULL : key, claim_cases[_i].claims);
	ck_assert_int_eq(verify(a, t, &cause), claim_cases[_i].want);
	if (claim_cases[_i].cause != NULL)
		ck_assert_msg(strstr(cause, claim_cases[_i].cause) != NULL, "%s: %s", claim_cases[_i].claims, cause);
	free(cause);
	free(t);
	auth_free(a);
}
END_TEST

START_TEST(test_es256)
{
	struct auth *a = make_auth("all", "ES256", ec_public, "");
	const char *ch[] = {"room.5"};
	char *t, *cause = NULL;
	struct auth_claims *claims = NULL;

	t = sign(JWT_ALG_ES256, ec_private, "{\"fcpush\":{\"subscribe\":[\"room.*\"]},\"exp\":1700000100}");
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_SUBSCRIBE, ch, 1, NOW, &claims, &cause), AUTH_OK);
	ck_assert_int_eq(claims->exp, 1700000100);
	auth_claims_free(claims);
	ck_assert_int_eq(auth_check(a, t, AUTH_OP_PUBLISH, ch, 1, NOW, NULL, NULL), AUTH_FORBIDDEN);
	free(t);
	/* Algorithm confusion: HS256 keyed with the public key's text. */
	t = sign(JWT_ALG_HS256, ec_public, "{\"fcpush\":{\"admin\":true}}");
	ck_assert_int_eq(verify(a, t, &cause), AUTH_INVALID);
	ck_assert_ptr_nonnull(strstr(cause, "HS256"));
	free(cause);
	free(t);
	/* The CLI signs HS256 only. */
	ck_assert_ptr_null(auth_issue(a, NULL, 0, NULL, 0, 1, NOW, 60, &cause));
	free(cause);
	auth_free(a);
}
END_TEST

START_TEST(test_bad_setup)
{
	struct config c;
	struct auth *a;
	char *cause = NULL, *path = xasprintf("%s/short", dir);
	FILE *f = fopen(path, "w");

	fputs("too short\n", f);
	fclose(f);
	config_init(&c);
	a = auth_new(&c, NULL); /* off: nothing to read */
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(auth_mode(a), AUTH_MODE_OFF);
	auth_free(a);
	ck_assert_int_eq(config_set(&c, "auth", "sometimes", NULL), -1);
	ck_assert_int_eq(config_set(&c, "auth_algorithm", "none", NULL), -1);
	ck_assert_int_eq(config_set(&c, "auth", "publish", NULL), 0);
	ck_assert_ptr_null(auth_new(&c, &cause)); /* no key file */
	ck_assert_ptr_nonnull(strstr(cause, "auth_key_file"));
	free(cause);
	ck_assert_int_eq(config_set(&c, "auth_key_file", path, NULL), 0);
	ck_assert_ptr_null(auth_new(&c, &cause)); /* 9 bytes */
	ck_assert_ptr_nonnull(strstr(cause, "32"));
	free(cause);
	config_fini(&c);
	free(path);
}
END_TEST

START_TEST(test_ws_origin)
{
	struct config c;

	config_init(&c);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "https://evil.example", "site.example"), 1);
	ck_assert_int_eq(config_set(&c, "auth", "publish", NULL), 0);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "https://evil.example", "site.example"), 0);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "https://site.example", "site.example"), 1);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "http://127.0.0.1:8080", "127.0.0.1:8080"), 1);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "http://127.0.0.1:8081", "127.0.0.1:8080"), 0);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "null", "site.example"), 0);
	ck_assert_int_eq(config_ws_origin_allowed(&c, NULL, "site.example"), 1);
	ck_assert_int_eq(config_set(&c, "ws_allowed_origins", "https://evil.example", NULL), 0);
	ck_assert_int_eq(config_ws_origin_allowed(&c, "https://evil.example", "site.example"), 1);
	config_fini(&c);
}
END_TEST

Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("Claims");

	tcase_add_test(tc, test_pattern);
	tcase_add_test(tc, test_allow);
	tcase_add_test(tc, test_token_from);
	tcase_add_test(tc, test_ws_origin);
	suite_add_tcase(s, tc);
	tc = tcase_create("Verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_hs256);
	tcase_add_loop_test(tc, test_claims_checked, 0, sizeof claim_cases / sizeof claim_cases[0]);
	tcase_add_test(tc, test_es256);
	tcase_add_test(tc, test_bad_setup);
	suite_add_tcase(s, tc);
	return s;
}
