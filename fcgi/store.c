/* SPDX-License-Identifier: MIT */
/*
 * The store's front: the table of backends, store_open choosing one by the
 * scheme of its location, and one small function per call passing it to the
 * connection's backend. What every backend shares (durability setting,
 * cursor resumption against an epoch) lives here once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* The backends, each one file. Adding one: its file, its line here. */
extern const struct store_ops store_sqlite_ops; /* store_sqlite.c: the default, for bare paths */
#ifdef HAVE_NATS
extern const struct store_ops store_nats_ops; /* store_nats.c: nats://host:port,.../STREAM */
#endif

static const struct store_ops *const backends[] = {
	&store_sqlite_ops,
#ifdef HAVE_NATS
	&store_nats_ops,
#endif
};

#define NBACKENDS (sizeof backends / sizeof backends[0])

/* The backend a location names and, in *rest, the location it gets: the
 * registered "SCHEME:" prefix removed ("SCHEME://x" gives "//x"; a backend
 * that takes URLs wants that). An unregistered SCHEME followed by "://" is
 * refused (NULL): it names a backend this build lacks, not a file. Anything
 * else is a path for the default backend. */
static const struct store_ops *
store_backend(const char *location, const char **rest)
{
	size_t i, n;
	const char *p;

	for (i = 0; i < NBACKENDS; i++) {
		n = strlen(backends[i]->scheme);
		if (strncmp(location, backends[i]->scheme, n) == 0 && location[n] == ':') {
			*rest = location + n + 1;
			return backends[i];
		}
	}
	for (p = location; (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9' && p > location) ||
			   ((*p == '+' || *p == '-' || *p == '.') && p > location);
	     p++)
		;
	if (p > location && strncmp(p, "://", 3) == 0)
		return NULL;
	*rest = location;
	return backends[0];
}

/* The backend of location as store_backend, or NULL with *cause set. */
static const struct store_ops *
store_backend_or_cause(const char *location, const char **rest, char **cause)
{
	const struct store_ops *ops = store_backend(location, rest);

	if (ops == NULL && cause != NULL)
		*cause = xasprintf("no store backend for %.*s (this build has: %s)",
				   (int)(strchr(location, ':') - location), location, store_backends());
	return ops;
}

struct store *
store_open(const char *location, int flags, int busy_timeout_ms, char **cause)
{
	const char *rest = location;
	const struct store_ops *ops = store_backend_or_cause(location, &rest, cause);

	return ops != NULL ? ops->open(rest, flags, busy_timeout_ms, cause) : NULL;
}

struct store_watch *
store_watch_new(const char *location, char **cause)
{
	const char *rest = location;
	const struct store_ops *ops = store_backend_or_cause(location, &rest, cause);

	return ops != NULL ? ops->watch_new(rest, cause) : NULL;
}

void
store_watch_free(struct store_watch *w)
{
	if (w != NULL)
		w->ops->watch_free(w);
}

int
store_watch_fd(const struct store_watch *w)
{
	return w->ops->watch_fd(w);
}

int
store_watch_drain(struct store_watch *w)
{
	return w->ops->watch_drain(w);
}

const char *
store_backends(void)
{
	static char list[256];
	size_t i, len = 0;

	if (list[0] == '\0') {
		for (i = 0; i < NBACKENDS && len < sizeof list; i++)
			len += (size_t)snprintf(list + len, sizeof list - len, "%s%s %s", i > 0 ? ", " : "",
						backends[i]->scheme, backends[i]->version());
	}
	return list;
}

int
store_durability_flags(const char *durability)
{
	return durability != NULL && strcmp(durability, "normal") == 0 ? STORE_SYNC_NORMAL : 0;
}

int64_t
store_cursor_resume(const struct store *st, const char *epoch, int64_t since, int64_t high, int *rollback)
{
	const char *ours = store_epoch(st);

	*rollback = 0;
	if (epoch != NULL && epoch[0] != '\0' && ours[0] != '\0' && strcmp(epoch, ours) != 0) {
		*rollback = 1;
		return 0;
	}
	if (since > high) {
		*rollback = 1;
		return high;
	}
	return since;
}

/* ---- passed to the backend ---------------------------------------------- */

void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

const char *
store_epoch(const struct store *st)
{
	return st->ops->epoch(st);
}

const char *
store_errmsg(struct store *st)
{
	return st->ops->errmsg(st);
}

int64_t
store_max_body(struct store *st, const char **why)
{
	return st->ops->max_body != NULL ? st->ops->max_body(st, why) : 0;
}

const char *
store_local_path(const char *location)
{
	const char *rest = location;

	return store_backend(location, &rest) == backends[0] ? rest : NULL;
}

enum store_result
store_append_groups(struct store *st, struct store_group *groups, size_t ngroups, int64_t now_ms)
{
	return st->ops->append_groups(st, groups, ngroups, now_ms);
}

enum store_result
store_read_since(struct store *st, const char *const *channels, size_t nch, int64_t since, size_t limit,
		 struct msglist *out)
{
	return st->ops->read_since(st, channels, nch, since, limit, out);
}

enum store_result
store_read_last(struct store *st, const char *const *channels, size_t nch, size_t n, struct msglist *out)
{
	return st->ops->read_last(st, channels, nch, n, out);
}

enum store_result
store_last_cursor(struct store *st, const char *const *channels, size_t nch, size_t n, int64_t *since)
{
	return st->ops->last_cursor(st, channels, nch, n, since);
}

enum store_result
store_read_all_since(struct store *st, int64_t since, size_t limit, struct msglist *out)
{
	return st->ops->read_all_since(st, since, limit, out);
}

enum store_result
store_read_one(struct store *st, const char *channel, int64_t seq, struct msglist *out)
{
	return st->ops->read_one(st, channel, seq, out);
}

enum store_result
store_high_seq(struct store *st, int64_t *seq)
{
	return st->ops->high_seq(st, seq);
}

enum store_result
store_gap(struct store *st, const char *const *channels, size_t nch, int64_t since, int64_t *trimmed,
	  int64_t *oldest)
{
	return st->ops->gap(st, channels, nch, since, trimmed, oldest);
}

enum store_result
store_channel_info(struct store *st, const char *channel, struct store_channel_info *info)
{
	return st->ops->channel_info(st, channel, info);
}

enum store_result
store_channel_list(struct store *st, struct store_channel_info **infos, size_t *n)
{
	return st->ops->channel_list(st, infos, n);
}

enum store_result
store_channel_delete(struct store *st, const char *channel, int64_t now_ms)
{
	return st->ops->channel_delete(st, channel, now_ms);
}

enum store_result
store_deletion_high(struct store *st, int64_t *id)
{
	return st->ops->deletion_high(st, id);
}

enum store_result
store_read_deletions(struct store *st, int64_t since, struct store_deletion **dels, size_t *n)
{
	return st->ops->read_deletions(st, since, dels, n);
}

enum store_result
store_set_retention(struct store *st, const char *channel, const struct store_retention *r)
{
	return st->ops->set_retention(st, channel, r);
}

enum store_result
store_trim(struct store *st, const struct store_retention *defaults, int64_t now_ms, int64_t *deleted)
{
	return st->ops->trim(st, defaults, now_ms, deleted);
}

enum store_result
store_next_expiry(struct store *st, const struct store_retention *defaults, int64_t *when_ms)
{
	return st->ops->next_expiry(st, defaults, when_ms);
}

enum store_result
store_body_open(struct store *st, const char *channel, int64_t seq, struct store_body_info *info)
{
	return st->ops->body_open(st, channel, seq, info);
}

enum store_result
store_body_read(struct store *st, int64_t offset, void *p, size_t n)
{
	return st->ops->body_read(st, offset, p, n);
}

void
store_body_close(struct store *st)
{
	st->ops->body_close(st);
}

int
store_idem_key_valid_max(const char *key, size_t max)
{
	size_t n;

	if (key == NULL)
		return 0;
	for (n = 0; key[n] != '\0'; n++) {
		if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e || n >= max)
			return 0;
	}
	return n > 0;
}

int
store_idem_key_valid(const char *key)
{
	return store_idem_key_valid_max(key, STORE_IDEM_KEY_MAX_BYTES);
}

void
store_idem_set_window(struct store *st, int64_t window_ms)
{
	st->ops->idem_set_window(st, window_ms);
}

enum store_result
store_idem_expire(struct store *st, int64_t now_ms, int64_t limit, int64_t *deleted)
{
	return st->ops->idem_expire(st, now_ms, limit, deleted);
}
