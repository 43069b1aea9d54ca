/* SPDX-License-Identifier: MIT */
/*
 * log.c: the level filter and the journald priority prefixes (sd-daemon(3))
 * when stderr is the stream JOURNAL_STREAM names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "suites.h"

/* Point stderr at a fresh file and return its path (caller frees). */
static char *
log_stderr_to_file(char **dir)
{
	char *path;
	int fd;

	*dir = test_tmpdir();
	path = malloc(strlen(*dir) + 16);
	ck_assert_ptr_nonnull(path);
	sprintf(path, "%s/stderr", *dir);
	ck_assert_ptr_nonnull(freopen(path, "w", stderr));
	fd = fileno(stderr);
	ck_assert_int_eq(fd, STDERR_FILENO);
	return path;
}

static char *
log_read_file(const char *path)
{
	static char text[4096];
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

START_TEST(test_journal_prefixes)
{
	char *dir, *path = log_stderr_to_file(&dir), env[64], *text;
	struct stat st;

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	ck_assert_int_eq(log_stderr_is_journal(), 1);
	log_set_level(LOG_LEVEL_DEBUG);
	log_error("e %d", 1);
	log_warn("w");
	log_info("i");
	log_debug("d");
	text = log_read_file(path);
	ck_assert_msg(strncmp(text, "<3>error ", 9) == 0, "got: %s", text);
	ck_assert_msg(strstr(text, "\n<4>warn ") != NULL, "got: %s", text);
	ck_assert_msg(strstr(text, "\n<6>info ") != NULL, "got: %s", text);
	ck_assert_msg(strstr(text, "\n<7>debug ") != NULL, "got: %s", text);
	ck_assert_msg(strstr(text, ": e 1\n") != NULL, "got: %s", text);
	unsetenv("JOURNAL_STREAM");
	test_tmpdir_remove(dir);
	free(dir);
	free(path);
}
END_TEST

/* JOURNAL_STREAM inherited by a process whose stderr goes elsewhere (a
 * redirect, a pipe): plain lines with a time stamp, no prefix. */
START_TEST(test_not_journal)
{
	char *dir, *path = log_stderr_to_file(&dir), *text;

	setenv("JOURNAL_STREAM", "1:2", 1);
	ck_assert_int_eq(log_stderr_is_journal(), 0);
	setenv("JOURNAL_STREAM", "garbage", 1);
	ck_assert_int_eq(log_stderr_is_journal(), 0);
	log_set_level(LOG_LEVEL_INFO);
	log_warn("w");
	log_debug("not shown");
	text = log_read_file(path);
	ck_assert_msg(text[0] >= '2' && text[0] <= '9' && strstr(text, "Z warn ") != NULL, "got: %s", text);
	ck_assert_msg(strstr(text, "not shown") == NULL, "got: %s", text);
	unsetenv("JOURNAL_STREAM");
	test_tmpdir_remove(dir);
	free(dir);
	free(path);
}
END_TEST

Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("journal");

	tcase_add_test(tc, test_journal_prefixes);
	tcase_add_test(tc, test_not_journal);
	suite_add_tcase(s, tc);
	return s;
}
