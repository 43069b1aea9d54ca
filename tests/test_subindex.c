/* SPDX-License-Identifier: MIT */
/*
 * Tests of the subscriber index (subindex.h): lists per channel, the
 * subscribers' slots kept right as others leave, a channel gone with its
 * last subscriber, and many channels past the table's first size.
 */
#include <stdio.h>
#include <stdlib.h>

#include "subindex.h"
#include "suites.h"

/* A subscriber on up to two channels, as loop.c and ws_conn.c keep them. */
struct sub {
	struct subindex_chan *ch[2];
	size_t slot[2];
};

/* Every entry of ch points back at itself through its subscriber's slot. */
static void
check_slots(const struct subindex_chan *ch)
{
	size_t j;

	for (j = 0; j < ch->n; j++)
		ck_assert_uint_eq(*ch->v[j].slot, j);
}

START_TEST(test_add_remove)
{
	struct subindex *ix = subindex_new();
	struct sub s[4];
	struct subindex_chan *a;
	size_t i;

	for (i = 0; i < 4; i++)
		s[i].ch[0] = subindex_add(ix, "a", &s[i], &s[i].slot[0]);
	s[0].ch[1] = subindex_add(ix, "b", &s[0], &s[0].slot[1]);
	a = subindex_find(ix, "a");
	ck_assert_ptr_eq(a, s[3].ch[0]);
	ck_assert_str_eq(a->name, "a");
	ck_assert_uint_eq(subindex_count(ix, "a"), 4);
	ck_assert_uint_eq(subindex_count(ix, "b"), 1);
	ck_assert_uint_eq(subindex_count(ix, "c"), 0);
	ck_assert_ptr_null(subindex_find(ix, "c"));
	ck_assert_uint_eq(subindex_channels(ix), 2);
	/* Remove from the middle: the last entry takes the slot and its
	 * subscriber learns it. */
	subindex_remove(ix, s[1].ch[0], s[1].slot[0]);
	ck_assert_uint_eq(a->n, 3);
	check_slots(a);
	ck_assert_ptr_eq(a->v[s[3].slot[0]].sub, &s[3]);
	subindex_remove(ix, s[0].ch[0], s[0].slot[0]);
	check_slots(a);
	/* The last subscriber takes its channel with it. */
	subindex_remove(ix, s[0].ch[1], s[0].slot[1]);
	ck_assert_ptr_null(subindex_find(ix, "b"));
	ck_assert_uint_eq(subindex_channels(ix), 1);
	subindex_remove(ix, s[2].ch[0], s[2].slot[0]);
	subindex_remove(ix, s[3].ch[0], s[3].slot[0]);
	ck_assert_uint_eq(subindex_channels(ix), 0);
	ck_assert_ptr_null(subindex_find(ix, "a"));
	subindex_free(ix);
}
END_TEST

/* 2,000 channels: the table grows, every channel is still found. Freed
 * with subscribers still in it (LeakSanitizer checks the lists go too). */
START_TEST(test_many_channels)
{
	struct subindex *ix = subindex_new();
	struct sub *s = calloc(2000, sizeof *s);
	char name[16];
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof name, "ch%zu", i);
		s[i].ch[0] = subindex_add(ix, name, &s[i], &s[i].slot[0]);
	}
	ck_assert_uint_eq(subindex_channels(ix), 2000);
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof name, "ch%zu", i);
		ck_assert_ptr_eq(subindex_find(ix, name), s[i].ch[0]);
		ck_assert_ptr_eq(s[i].ch[0]->v[0].sub, &s[i]);
	}
	for (i = 0; i < 2000; i += 2)
		subindex_remove(ix, s[i].ch[0], s[i].slot[0]);
	ck_assert_uint_eq(subindex_channels(ix), 1000);
	ck_assert_uint_eq(subindex_count(ix, "ch1999"), 1);
	ck_assert_uint_eq(subindex_count(ix, "ch1998"), 0);
	subindex_free(ix);
	free(s);
}
END_TEST

Suite *
subindex_suite(void)
{
	Suite *s = suite_create("subindex");
	TCase *core = tcase_create("Core");

	tcase_add_test(core, test_add_remove);
	tcase_add_test(core, test_many_channels);
	suite_add_tcase(s, core);
	return s;
}
