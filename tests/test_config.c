/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcgi/config.c: defaults, every bound of every integer key, files,
 * the environment, size suffixes, CORS origins, and that the committed
 * conf/fcpush.conf.example is what the table produces.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "suites.h"
#include "util.h"

/* Write text to a new file in dir; returns its path (caller frees). */
static char *
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* config_write_example's output as a string (caller frees). */
static char *
example_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_write_example(f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

static char *
read_all(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	buf_init(&b);
	buf_puts(&b, "");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

static void
set_bad(struct config *c, const char *key, const char *value, const char *want)
{
	char *cause = NULL;

	ck_assert_msg(config_set(c, key, value, &cause) == -1, "%s = %s accepted", key, value);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, want) != NULL, "cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
}

/* ---- Core ------------------------------------------------------------- */

START_TEST(test_defaults)
{
	struct config c;

	config_init(&c);
	ck_assert_str_eq(c.database, "/var/lib/fcpush/fcpush.db");
	ck_assert_str_eq(c.listen, "");
	ck_assert_str_eq(c.listen_mode, "0660");
	ck_assert_str_eq(c.cors_allow_origins, "");
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_str_eq(c.durability, "full");
	ck_assert_int_eq(c.request_body_timeout_s, 10);
	ck_assert_int_eq(c.threads, 16);
	ck_assert_int_eq(c.listen_backlog, 1024);
	ck_assert_int_eq(c.busy_timeout_ms, 5000);
	ck_assert_int_eq(c.max_message_bytes, 268435456);
	ck_assert_int_eq(c.max_batch_bytes, 16777216);
	ck_assert_int_eq(c.max_batch_messages, 10000);
	ck_assert_int_eq(c.page_messages, 100);
	ck_assert_int_eq(c.long_poll_max_wait_s, 30);
	ck_assert_int_eq(c.max_parked, 10000);
	ck_assert_int_eq(c.retention_max_messages, 0);
	ck_assert_int_eq(c.retention_max_age_s, 0);
	ck_assert_int_eq(c.retention_max_bytes, 0);
	ck_assert_int_eq(c.trim_interval_ms, 1000);
	ck_assert_int_eq(c.heartbeat_s, 15);
	ck_assert_int_eq(c.retry_ms, 2000);
	config_fini(&c);
}
END_TEST

START_TEST(test_set_strings)
{
	char *cause = NULL;
	struct config c;

	config_init(&c);
	ck_assert_int_eq(config_set(&c, "database", "/tmp/x.db", NULL), 0);
	ck_assert_str_eq(c.database, "/tmp/x.db");
	ck_assert_int_eq(config_set(&c, "listen", "127.0.0.1:9000", NULL), 0);
	ck_assert_str_eq(c.listen, "127.0.0.1:9000");
	ck_assert_int_eq(config_set(&c, "listen_mode", "0600", NULL), 0);
	ck_assert_str_eq(c.listen_mode, "0600");
	ck_assert_int_eq(config_set(&c, "log_level", "debug", NULL), 0);
	ck_assert_str_eq(c.log_level, "debug");
	ck_assert_int_eq(config_set(&c, "log_level", "error", NULL), 0);
	ck_assert_int_eq(config_set(&c, "durability", "normal", NULL), 0);
	ck_assert_str_eq(c.durability, "normal");
	ck_assert_int_eq(config_set(&c, "durability", "sometimes", &cause), -1);
	ck_assert_msg(strstr(cause, "not one of full, normal") != NULL, "%s", cause);
	free(cause);
	ck_assert_str_eq(c.durability, "normal");
	ck_assert_int_eq(config_set(&c, "threads", "8", NULL), 0);
	ck_assert_int_eq(c.threads, 8);
	config_fini(&c);
}
END_TEST

START_TEST(test_load_file)
{
	char *dir = test_tmpdir(), *path, *cause = NULL;
	struct config c;

	path = write_file(dir, "ok.conf",
			  "# a comment\n"
			  "\n"
			  "   # an indented comment\n"
			  "threads=8\n"
			  "  database = /srv/push.db  \n"
			  "listen = \"\"\n"
			  "cors_allow_origins = \"https://a.example, https://b.example\"\n"
			  "max_message_bytes = 2M\r\n"
			  "log_level\t=\twarn\n");
	config_init(&c);
	ck_assert_msg(config_load_file(&c, path, &cause) == 0, "%s", cause ? cause : "");
	ck_assert_int_eq(c.threads, 8);
	ck_assert_str_eq(c.database, "/srv/push.db");
	ck_assert_str_eq(c.listen, "");
	ck_assert_str_eq(c.cors_allow_origins, "https://a.example, https://b.example");
	ck_assert_int_eq(c.max_message_bytes, 2 * 1024 * 1024);
	ck_assert_str_eq(c.log_level, "warn");
	config_fini(&c);
	free(path);
	test_tmpdir_remove(dir);
	free(dir);
}
END_TEST

START_TEST(test_env_override)
{
	char *dir = test_tmpdir(), *path, *cause = NULL;
	struct config c;

	path = write_file(dir, "f.conf", "threads = 8\nheartbeat_s = 20\n");
	setenv("FCPUSH_THREADS", "12", 1);
	setenv("FCPUSH_DATABASE", "/env/db", 1);
	setenv("FCPUSH_NO_SUCH_KEY", "1", 1);
	config_init(&c);
	ck_assert_int_eq(config_load_file(&c, path, NULL), 0);
	ck_assert_msg(config_load_env(&c, &cause) == 0, "%s", cause ? cause : "");
	ck_assert_int_eq(c.threads, 12);         /* environment beats the file */
	ck_assert_int_eq(c.heartbeat_s, 20);     /* the file beats the default */
	ck_assert_str_eq(c.database, "/env/db"); /* the environment beats the default */

	setenv("FCPUSH_MAX_BATCH_BYTES", "1k", 1);
	ck_assert_int_eq(config_load_env(&c, NULL), 0);
	ck_assert_int_eq(c.max_batch_bytes, 1024);

	setenv("FCPUSH_THREADS", "0", 1);
	ck_assert_int_eq(config_load_env(&c, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "FCPUSH_THREADS") != NULL &&
			      strstr(cause, "threads: 0 is out of range 1..256") != NULL,
		      "%s", cause);
	free(cause);

	unsetenv("FCPUSH_THREADS");
	unsetenv("FCPUSH_DATABASE");
	unsetenv("FCPUSH_NO_SUCH_KEY");
	unsetenv("FCPUSH_MAX_BATCH_BYTES");
	config_fini(&c);
	free(path);
	test_tmpdir_remove(dir);
	free(dir);
}
END_TEST

START_TEST(test_origins)
{
	struct config c;

	config_init(&c);
	ck_assert(!config_origin_allowed(&c, "https://a.example"));
	ck_assert(!config_origin_allowed(&c, NULL));
	ck_assert_int_eq(config_set(&c, "cors_allow_origins", "*", NULL), 0);
	ck_assert(config_origin_allowed(&c, "https://anything.example"));
	ck_assert(!config_origin_allowed(&c, NULL));
	ck_assert_int_eq(config_set(&c, "cors_allow_origins", "https://a.example , http://b.example:8080,", NULL), 0);
	ck_assert(config_origin_allowed(&c, "https://a.example"));
	ck_assert(config_origin_allowed(&c, "http://b.example:8080"));
	ck_assert(!config_origin_allowed(&c, "https://A.example"));
	ck_assert(!config_origin_allowed(&c, "https://a.example.evil"));
	ck_assert(!config_origin_allowed(&c, "http://b.example"));
	ck_assert(!config_origin_allowed(&c, ""));
	ck_assert(!config_origin_allowed(&c, "https://a.example "));
	ck_assert_int_eq(config_set(&c, "cors_allow_origins", "https://x.example,*", NULL), 0);
	ck_assert(config_origin_allowed(&c, "https://y.example"));
	config_fini(&c);
}
END_TEST

START_TEST(test_example_file_matches)
{
	const char *srcdir = getenv("FCPUSH_SRCDIR");
	char *path, *committed, *generated;

	if (srcdir == NULL || *srcdir == '\0') {
		fprintf(stderr, "test_example_file_matches: skipped, FCPUSH_SRCDIR is not set\n");
		return;
	}
	path = xasprintf("%s/conf/fcpush.conf.example", srcdir);
	committed = read_all(path);
	ck_assert_msg(committed != NULL, "cannot read %s", path);
	generated = example_text();
	ck_assert_msg(strcmp(committed, generated) == 0,
		      "%s differs from config_write_example(); regenerate it", path);
	free(generated);
	free(committed);
	free(path);
}
END_TEST

START_TEST(test_example_file_loads)
{
	char *dir = test_tmpdir(), *text = example_text(), *path, *p;
	struct config c;
	char *cause = NULL;
	size_t keys = 0;

	/* As written, every key is commented out. */
	path = write_file(dir, "example.conf", text);
	config_init(&c);
	ck_assert_int_eq(config_load_file(&c, path, NULL), 0);
	config_fini(&c);
	free(path);

	/* Uncommented, every line parses and gives the default again. */
	for (p = text; (p = strstr(p, "\n#")) != NULL; p++) {
		if (p[2] >= 'a' && p[2] <= 'z') {
			p[1] = ' ';
			keys++;
		}
	}
	ck_assert_uint_eq(keys, 39); /* every key of the table */
	path = write_file(dir, "uncommented.conf", text);
	config_init(&c);
	ck_assert_msg(config_load_file(&c, path, &cause) == 0, "%s", cause ? cause : "");
	ck_assert_str_eq(c.listen, "");
	ck_assert_str_eq(c.listen_mode, "0660");
	ck_assert_int_eq(c.max_batch_bytes, 16777216);
	config_fini(&c);
	free(path);
	free(text);
	test_tmpdir_remove(dir);
	free(dir);
}
END_TEST

/* ---- Limits ----------------------------------------------------------- */

START_TEST(test_integer_bounds)
{
	static const struct {
		const char *key;
		size_t offset;
		int64_t min, max;
	} cases[] = {
#define B(k, lo, hi) {#k, offsetof(struct config, k), lo, hi}
		B(threads, 1, 256),
		B(listen_backlog, 1, 65535),
		B(busy_timeout_ms, 0, 600000),
		B(max_message_bytes, 1, 1073741824),
		B(max_batch_bytes, 1, 1073741824),
		B(max_batch_messages, 1, 1000000),
		B(page_messages, 1, 100000),
		B(long_poll_max_wait_s, 1, 3600),
		B(max_parked, 1, 1000000),
		B(retention_max_messages, 0, INT64_C(1) << 62),
		B(retention_max_age_s, 0, INT64_C(1) << 40),
		B(retention_max_bytes, 0, INT64_C(1) << 62),
		B(trim_interval_ms, 10, 3600000),
		B(heartbeat_s, 1, 3600),
		B(retry_ms, 0, 3600000),
#undef B
	};
	struct config c;
	char value[32], *want, *cause;
	int64_t good[2], badv[2];
	size_t i, j;

	config_init(&c);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		good[0] = cases[i].min;
		good[1] = cases[i].max;
		badv[0] = cases[i].min - 1;
		badv[1] = cases[i].max + 1;
		for (j = 0; j < 2; j++) {
			snprintf(value, sizeof value, "%lld", (long long)good[j]);
			cause = NULL;
			ck_assert_msg(config_set(&c, cases[i].key, value, &cause) == 0, "%s = %s: %s",
				      cases[i].key, value, cause ? cause : "");
			ck_assert_int_eq(*(int64_t *)((char *)&c + cases[i].offset), good[j]);

			snprintf(value, sizeof value, "%lld", (long long)badv[j]);
			want = xasprintf("%s: %s is out of range %lld..%lld", cases[i].key, value,
					 (long long)cases[i].min, (long long)cases[i].max);
			cause = NULL;
			ck_assert_msg(config_set(&c, cases[i].key, value, &cause) == -1, "%s = %s accepted",
				      cases[i].key, value);
			ck_assert_str_eq(cause, want);
			/* A refused value leaves the old one in place. */
			ck_assert_int_eq(*(int64_t *)((char *)&c + cases[i].offset), good[j]);
			free(cause);
			free(want);
		}
	}
	config_fini(&c);
}
END_TEST

START_TEST(test_octal_bounds)
{
	struct config c;

	config_init(&c);
	ck_assert_int_eq(config_set(&c, "listen_mode", "0", NULL), 0);
	ck_assert_int_eq(config_set(&c, "listen_mode", "0777", NULL), 0);
	ck_assert_str_eq(c.listen_mode, "0777");
	ck_assert_int_eq(config_set(&c, "listen_mode", "666", NULL), 0);
	set_bad(&c, "listen_mode", "01000", "listen_mode: 01000 is out of range 0..0777");
	set_bad(&c, "listen_mode", "-1", "listen_mode: \"-1\" is not an octal number");
	set_bad(&c, "listen_mode", "0680", "not an octal number");
	set_bad(&c, "listen_mode", "", "not an octal number");
	set_bad(&c, "listen_mode", "rw-rw----", "not an octal number");
	ck_assert_str_eq(c.listen_mode, "666");
	config_fini(&c);
}
END_TEST

START_TEST(test_size_suffixes)
{
	struct config c;

	config_init(&c);
	ck_assert_int_eq(config_set(&c, "max_message_bytes", "64k", NULL), 0);
	ck_assert_int_eq(c.max_message_bytes, 65536);
	ck_assert_int_eq(config_set(&c, "max_message_bytes", "3M", NULL), 0);
	ck_assert_int_eq(c.max_message_bytes, 3 * 1048576);
	ck_assert_int_eq(config_set(&c, "max_batch_bytes", "1G", NULL), 0);
	ck_assert_int_eq(c.max_batch_bytes, 1073741824);
	ck_assert_int_eq(config_set(&c, "retention_max_bytes", "100G", NULL), 0);
	ck_assert_int_eq(c.retention_max_bytes, INT64_C(100) << 30);
	set_bad(&c, "max_batch_bytes", "2G", "max_batch_bytes: 2G is out of range 1..1073741824");
	set_bad(&c, "max_batch_bytes", "0k", "max_batch_bytes: 0k is out of range");
	set_bad(&c, "max_message_bytes", "1T", "not a whole number");
	set_bad(&c, "max_message_bytes", "1kk", "not a whole number");
	set_bad(&c, "max_message_bytes", "k", "not a whole number");
	set_bad(&c, "retention_max_bytes", "99999999999G", "out of range");
	/* Only *_bytes keys take a suffix. */
	set_bad(&c, "threads", "1k", "threads: \"1k\" is not a whole number");
	set_bad(&c, "max_batch_messages", "1k", "not a whole number");
	config_fini(&c);
}
END_TEST

/* ---- Errors ----------------------------------------------------------- */

START_TEST(test_bad_values)
{
	struct config c;

	config_init(&c);
	set_bad(&c, "threads", "0", "threads: 0 is out of range 1..256");
	set_bad(&c, "threads", "", "threads: \"\" is not a whole number");
	set_bad(&c, "threads", "four", "threads: \"four\" is not a whole number");
	set_bad(&c, "threads", " 4", "not a whole number");
	set_bad(&c, "threads", "4.0", "not a whole number");
	set_bad(&c, "threads", "+4", "not a whole number");
	set_bad(&c, "threads", "99999999999999999999999", "threads: 99999999999999999999999 is out of range");
	set_bad(&c, "retry_ms", "-99999999999999999999999", "out of range 0..3600000");
	set_bad(&c, "log_level", "verbose", "log_level: \"verbose\" is not one of error, warn, info, debug");
	set_bad(&c, "log_level", "INFO", "log_level");
	set_bad(&c, "no_such_key", "1", "unknown key \"no_such_key\"");
	set_bad(&c, "Threads", "1", "unknown key");
	ck_assert_int_eq(c.threads, 16); /* bad values leave the default */
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_int_eq(config_set(&c, "threads", "x", NULL), -1);
	config_fini(&c);
}
END_TEST

START_TEST(test_bad_file)
{
	char *dir = test_tmpdir(), *path, *want, *cause = NULL;
	struct config c;

	config_init(&c);
	path = write_file(dir, "bad.conf", "# ok\nthreads = 2\n\nthreads = 999\nheartbeat_s = 5\n");
	ck_assert_int_eq(config_load_file(&c, path, &cause), -1);
	want = xasprintf("%s:4: threads: 999 is out of range 1..256", path);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	free(path);

	path = write_file(dir, "noeq.conf", "threads 2\n");
	ck_assert_int_eq(config_load_file(&c, path, &cause), -1);
	want = xasprintf("%s:1: ", path);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "%s", cause);
	free(want);
	free(cause);
	free(path);

	path = write_file(dir, "unknown.conf", "\n\nthread = 2\n");
	ck_assert_int_eq(config_load_file(&c, path, &cause), -1);
	want = xasprintf("%s:3: unknown key \"thread\"", path);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	free(path);

	path = xasprintf("%s/missing.conf", dir);
	ck_assert_int_eq(config_load_file(&c, path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "missing.conf"));
	free(cause);
	ck_assert_int_eq(config_load_file(&c, path, NULL), -1);
	free(path);

	config_fini(&c);
	test_tmpdir_remove(dir);
	free(dir);
}
END_TEST

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_set_strings);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_env_override);
	tcase_add_test(tc, test_origins);
	tcase_add_test(tc, test_example_file_matches);
	tcase_add_test(tc, test_example_file_loads);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_test(tc, test_integer_bounds);
	tcase_add_test(tc, test_octal_bounds);
	tcase_add_test(tc, test_size_suffixes);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_bad_file);
	suite_add_tcase(s, tc);
	return s;
}
