/* SPDX-License-Identifier: MIT */
/*
 * fcpush: the command-line tool. Creates a database, publishes (an argument,
 * or one message per line of standard input), follows a channel, applies
 * retention, sets a channel's retention, prints statistics, and issues
 * access tokens. It writes the
 * same SQLite file as the workers, so its commits wake their subscribers.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "feed.h"
#include "http.h"
#include "json.h"
#include "json_parse.h"
#include "log.h"
#include "retention.h"
#include "route.h"
#include "store.h"

static volatile sig_atomic_t cli_interrupted;

static void
cli_on_signal(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

static void
cli_usage(FILE *f)
{
	fprintf(f,
		"usage: fcpush [--database FILE] [--config FILE] COMMAND ...\n"
		"       fcpush --help | --version\n"
		"  init                                  create the database (schema/fcpush.sql)\n"
		"  publish CHANNEL [DATA] [--event NAME] [--content-type TYPE] [--seqs]\n"
		"                                        publish DATA (prints its seq), or one message\n"
		"                                        per line of stdin (prints a summary; --seqs:\n"
		"                                        one seq per line instead)\n"
		"  tail CHANNEL[,CHANNEL...] [--since SEQ] [--count N]\n"
		"                                        print messages as JSON lines and follow\n"
		"  trim                                  apply retention now\n"
		"  stats                                 channels and counts as JSON\n"
		"  retention CHANNEL                     show a channel's retention as JSON\n"
		"  retention CHANNEL [--max-messages N] [--max-age-s S] [--max-bytes B]\n"
		"                                        set it (0 = the configured default)\n"
		"  token [--subscribe PATTERNS] [--publish PATTERNS] [--admin] [--ttl S] [--key-file F]\n"
		"                                        print an HS256 token signed with auth_key_file\n"
		"                                        (PATTERNS: comma-separated names, a trailing *\n"
		"                                        matches a prefix; options repeat; --ttl 3600)\n"
		"The database is --database, else FCPUSH_DATABASE, else the config's `database`.\n"
		"See fcpush(1).\n");
}

/* Options that take no value. */
static int
cli_is_flag(const char *arg)
{
	return strcmp(arg, "--seqs") == 0 || strcmp(arg, "--admin") == 0;
}

/* Whether the flag NAME (no value) is among argv[from..argc). */
static int
cli_flag(int argc, char **argv, int from, const char *name)
{
	int i;

	for (i = from; i < argc; i++) {
		if (strcmp(argv[i], name) == 0)
			return 1;
	}
	return 0;
}

/* Find "--name VALUE" among argv[from..argc) and return VALUE, else NULL. */
static const char *
cli_opt(int argc, char **argv, int from, const char *name)
{
	int i;

	for (i = from; i < argc - 1; i++) {
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	}
	return NULL;
}

/* The i-th positional argument from argv[from..), skipping "--opt VALUE". */
static const char *
cli_arg(int argc, char **argv, int from, int index)
{
	int i, n = 0;

	for (i = from; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0) {
			if (!cli_is_flag(argv[i]))
				i++;
			continue;
		}
		if (n++ == index)
			return argv[i];
	}
	return NULL;
}

static int
cli_opt_i64(int argc, char **argv, int from, const char *name, int64_t dflt, int64_t *out)
{
	const char *v = cli_opt(argc, argv, from, name);

	*out = dflt;
	if (v != NULL && util_parse_i64(v, 0, INT64_MAX, out) == -1) {
		fprintf(stderr, "fcpush: %s wants a whole number >= 0, not \"%s\"\n", name, v);
		return -1;
	}
	return 0;
}

/* Publish one message and wake the subscribers; *seq gets its seq. Prints
 * the reason to stderr and returns -1 when it was refused or failed. */
static int
cli_publish_one(struct store *st, struct json_parse *jp, const char *channel, const char *event,
		const char *ct, const char *data, size_t len, int64_t *seq_out)
{
	struct store_pub pub = {channel, event, ct, data, len, NULL, NULL};
	int64_t seq = 0;
	struct store_group g = {&pub, 1, &seq, STORE_OK, NULL, NULL};
	enum store_result r;

	if (json_content_type_utf8(ct) && !json_utf8_valid((const unsigned char *)data, len)) {
		fprintf(stderr, "fcpush: the message is declared %s but is not valid UTF-8\n", ct);
		return -1;
	}
	if (json_content_type_is_json(ct) && json_parse_valid(jp, data, len) != 1) {
		fprintf(stderr, "fcpush: the message is declared %s but is not valid JSON\n", ct);
		return -1;
	}
	r = store_append_groups(st, &g, 1, util_now_ms());
	if (r != STORE_OK || g.result != STORE_OK) {
		fprintf(stderr, "fcpush: publish failed: %s\n", g.cause != NULL ? g.cause : store_errmsg(st));
		free(g.cause);
		return -1;
	}
	*seq_out = seq;
	return 0;
}

static double
cli_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What `publish` from standard input did so far. */
struct cli_pub_summary {
	int64_t count, first_seq, last_seq;
	double start_s;
};

static void
cli_pub_summary_print(FILE *f, const struct cli_pub_summary *s, const char *channel, const char *end)
{
	double secs = cli_now_s() - s->start_s;

	fprintf(f, "%lld messages published to %s in %.2f s (%.0f/s)", (long long)s->count, channel, secs,
		secs > 0 ? (double)s->count / secs : 0.0);
	if (s->count > 0)
		fprintf(f, ", seq %lld to %lld", (long long)s->first_seq, (long long)s->last_seq);
	fputs(end, f);
	fflush(f);
}

static int
cli_publish(struct store *st, const char *db, int argc, char **argv, int from)
{
	const char *channel = cli_arg(argc, argv, from, 0), *data = cli_arg(argc, argv, from, 1);
	const char *event = cli_opt(argc, argv, from, "--event");
	const char *ct = cli_opt(argc, argv, from, "--content-type");
	int seqs = cli_flag(argc, argv, from, "--seqs"), progress = isatty(STDERR_FILENO);
	struct cli_pub_summary sum = {0, 0, 0, cli_now_s()};
	struct json_parse *jp = NULL;
	char *line = NULL, *cause = NULL;
	double shown_s = sum.start_s;
	int64_t seq = 0;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (channel == NULL || !route_channel_valid(channel)) {
		fprintf(stderr, "fcpush: publish needs a channel name of 1-128 of A-Z a-z 0-9 . _ ~ -\n");
		return -1;
	}
	if (ct == NULL)
		ct = "text/plain; charset=utf-8";
	if (!http_content_type_valid(ct)) {
		fprintf(stderr, "fcpush: --content-type \"%s\" is not a media type (RFC 9110 §8.3.1: type/subtype, "
				"then ; name=value parameters, at most %d bytes of printable ASCII)\n",
			ct, HTTP_MAX_CONTENT_TYPE_BYTES);
		return -1;
	}
	if (event != NULL && !route_event_valid(event)) {
		fprintf(stderr, "fcpush: --event wants 1 to %d bytes of UTF-8 without control characters\n",
			ROUTE_MAX_EVENT_BYTES);
		return -1;
	}
	if ((jp = json_parse_new(&cause)) == NULL) {
		fprintf(stderr, "fcpush: %s\n", cause);
		free(cause);
		return -1;
	}
	if (data != NULL) {
		rc = cli_publish_one(st, jp, channel, event, ct, data, strlen(data), &seq);
		if (rc == 0)
			printf("%lld\n", (long long)seq);
		json_parse_free(jp);
		return rc;
	}
	/* One message per line: `tail -f app.log | fcpush publish logs`. A
	 * summary at the end (and a progress line, at most 4 a second, when
	 * stderr is a terminal); --seqs prints each seq instead. */
	while (!cli_interrupted && (n = getline(&line, &cap, stdin)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (cli_publish_one(st, jp, channel, event, ct, line, (size_t)n, &seq) == -1) {
			rc = -1;
			break;
		}
		if (sum.count++ == 0)
			sum.first_seq = seq;
		sum.last_seq = seq;
		if (seqs) {
			printf("%lld\n", (long long)seq);
			fflush(stdout);
		} else if (progress && cli_now_s() - shown_s >= 0.25) {
			shown_s = cli_now_s();
			cli_pub_summary_print(stderr, &sum, channel, "\r");
		}
	}
	if (progress && !seqs && shown_s > sum.start_s)
		fputs("\033[K", stderr); /* clear the progress line */
	if (!seqs)
		cli_pub_summary_print(stdout, &sum, channel, "\n");
	free(line);
	json_parse_free(jp);
	return rc;
}

/* What `tail` has printed, for its feed callbacks. */
struct cli_tail {
	const char *const *chans;
	size_t n;
	int64_t since;   /* the last seq printed (or the start) */
	int64_t count;   /* stop after this many (0: never) */
	int64_t printed;
	int done;        /* count reached */
	struct buf out;
};

/* Print m as one JSON line; returns 1 once --count is reached. */
static int
cli_tail_take(void *arg, struct msg *m)
{
	struct cli_tail *t = arg;

	buf_reset(&t->out);
	json_append_message(&t->out, m, NULL);
	buf_putc(&t->out, '\n');
	fwrite(t->out.data, 1, t->out.len, stdout);
	t->since = m->seq;
	if (t->count > 0 && ++t->printed >= t->count)
		t->done = 1;
	return t->done;
}

/* The feed's on_row: print rows of the tailed channels not printed yet. */
static void
cli_tail_row(void *arg, struct msg *m)
{
	struct cli_tail *t = arg;
	size_t i;

	if (t->done || m->seq <= t->since)
		return;
	for (i = 0; i < t->n; i++) {
		if (strcmp(m->channel, t->chans[i]) == 0) {
			cli_tail_take(t, m);
			return;
		}
	}
}

static void
cli_tail_page(void *arg)
{
	(void)arg;
	fflush(stdout);
}

static int
cli_tail(struct store *st, const char *db, int argc, char **argv, int from)
{
	static const struct feed_ops ops = {.on_row = cli_tail_row, .on_page = cli_tail_page};
	const char *arg = cli_arg(argc, argv, from, 0);
	char *list, *save = NULL, *tok, *chans[ROUTE_MAX_CHANNELS];
	struct cli_tail t;
	struct feed *feed = NULL;
	struct msglist l;
	size_t n = 0;
	struct pollfd pfd;
	enum feed_page page = FEED_PAGE_MORE;
	int rc = -1, found;
	int64_t now, at;

	if (arg == NULL) {
		cli_usage(stderr);
		return -1;
	}
	list = xstrdup(arg);
	for (tok = strtok_r(list, ",", &save); tok != NULL && n < ROUTE_MAX_CHANNELS; tok = strtok_r(NULL, ",", &save))
		chans[n++] = tok;
	memset(&t, 0, sizeof t);
	t.chans = (const char *const *)chans;
	t.n = n;
	msglist_init(&l);
	buf_init(&t.out);
	if (cli_opt_i64(argc, argv, from, "--count", 0, &t.count) == -1)
		goto out;
	if (cli_opt(argc, argv, from, "--since") != NULL) {
		if (cli_opt_i64(argc, argv, from, "--since", 0, &t.since) == -1)
			goto out;
	} else if (store_high_seq(st, &t.since) != STORE_OK) {
		goto out;
	}
	/* Watch first, then read the history: what commits in between is read
	 * by both, and printed once (seq <= since). */
	feed = feed_new(st, db, 0, &ops, &t, NULL);
	if (feed == NULL) {
		fprintf(stderr, "fcpush: cannot watch %s for commits\n", db);
		goto out;
	}
	while (!cli_interrupted && !t.done && page == FEED_PAGE_MORE) {
		page = feed_catch_up_page(st, t.chans, n, &t.since, 1000, &l, cli_tail_take, &t, "the tail");
		fflush(stdout);
		if (page == FEED_PAGE_ERROR)
			goto out;
	}
	pfd.fd = feed_fd(feed);
	pfd.events = POLLIN;
	while (!cli_interrupted && !t.done) {
		/* Sleep until an event, or until the next re-read after a WAL
		 * write (feed.h). */
		at = feed_recheck_at(feed);
		now = util_mono_ms();
		if (poll(&pfd, 1, at == 0 ? -1 : at <= now ? 0 : (int)(at - now)) == -1 && errno != EINTR)
			goto out;
		found = feed_drain(feed, util_mono_ms()) > 0 ? feed_read(feed) : 0;
		if (found == -1)
			goto out;
		now = util_mono_ms();
		at = feed_recheck_at(feed);
		if (at > 0 && at <= now && !t.done) {
			if ((found = feed_read(feed)) == -1)
				goto out;
			feed_recheck_done(feed, now, found);
		}
	}
	rc = 0;
out:
	feed_free(feed);
	buf_fini(&t.out);
	msglist_fini(&l);
	free(list);
	return rc;
}

static int
cli_stats(struct store *st)
{
	struct store_channel_info *infos = NULL;
	struct buf b;
	size_t n = 0, i;
	int64_t high = 0;

	if (store_channel_list(st, &infos, &n) != STORE_OK || store_high_seq(st, &high) != STORE_OK) {
		fprintf(stderr, "fcpush: %s\n", store_errmsg(st));
		return -1;
	}
	buf_init(&b);
	buf_printf(&b, "{\"high_seq\":%lld,\"channels\":[", (long long)high);
	for (i = 0; i < n; i++) {
		buf_puts(&b, i == 0 ? "{\"channel\":" : ",{\"channel\":");
		json_append_cstr(&b, infos[i].name);
		buf_printf(&b, ",\"messages\":%lld,\"bytes\":%lld,\"first_seq\":%lld,\"last_seq\":%lld,\"trimmed_seq\":%lld}",
			   (long long)infos[i].messages, (long long)infos[i].bytes, (long long)infos[i].first_seq,
			   (long long)infos[i].last_seq, (long long)infos[i].trimmed_seq);
	}
	buf_puts(&b, "]}\n");
	fputs(b.data, stdout);
	buf_fini(&b);
	free(infos);
	return 0;
}

/* `retention CHANNEL`: the channel's override (0 = none) and the configured
 * defaults that apply where it has none, as one JSON line. */
static int
cli_retention_show(struct store *st, const struct config *cfg, const char *channel)
{
	struct store_channel_info info;
	enum store_result r = store_channel_info(st, channel, &info);

	if (r == STORE_NOTFOUND) {
		fprintf(stderr, "fcpush: no channel \"%s\"\n", channel);
		return -1;
	}
	if (r != STORE_OK) {
		fprintf(stderr, "fcpush: %s\n", store_errmsg(st));
		return -1;
	}
	printf("{\"channel\":\"%s\",\"max_messages\":%lld,\"max_age_s\":%lld,\"max_bytes\":%lld,"
	       "\"defaults\":{\"max_messages\":%lld,\"max_age_s\":%lld,\"max_bytes\":%lld}}\n",
	       channel, (long long)info.retention.max_messages, (long long)(info.retention.max_age_ms / 1000),
	       (long long)info.retention.max_bytes, (long long)cfg->retention_max_messages,
	       (long long)cfg->retention_max_age_s, (long long)cfg->retention_max_bytes);
	return 0;
}

/* Append the comma-separated patterns of every "--name LIST" among
 * argv[from..argc) to *v. -1 when one is empty or has a character a
 * channel name cannot (a '*' only at the end). */
static int
cli_patterns(int argc, char **argv, int from, const char *name, char ***v, size_t *n)
{
	const char *p, *end;
	char *pat;
	int i;

	for (i = from; i < argc - 1; i++) {
		if (strcmp(argv[i], name) != 0)
			continue;
		for (p = argv[++i]; *p != '\0'; p = *end == ',' ? end + 1 : end) {
			end = p + strcspn(p, ",");
			pat = xstrndup(p, (size_t)(end - p));
			if (pat[0] != '\0' && strcmp(pat, "*") != 0 && pat[strlen(pat) - 1] == '*')
				pat[strlen(pat) - 1] = '\0';
			if (pat[0] != '\0' && strcmp(pat, "*") != 0 && !route_channel_valid(pat)) {
				fprintf(stderr, "fcpush: %s: \"%.*s\" is not a channel name or a name ending in *\n",
					name, (int)(end - p), p);
				free(pat);
				return -1;
			}
			free(pat);
			*v = xrealloc(*v, (*n + 1) * sizeof **v);
			(*v)[(*n)++] = xstrndup(p, (size_t)(end - p));
		}
	}
	return 0;
}

/* fcpush token: print a token granting the given patterns, signed with the
 * configured HS256 key (--key-file overrides auth_key_file). The tiny
 * example of a site's backend issuing tokens (README "Access control").
 * Returns the exit status. */
static int
cli_token(struct config *cfg, int argc, char **argv, int from)
{
	char **sub = NULL, **pub = NULL, *token = NULL, *cause = NULL;
	size_t nsub = 0, npub = 0, k;
	const char *keyfile = cli_opt(argc, argv, from, "--key-file");
	struct auth *a = NULL;
	int64_t ttl = 3600;
	int rc = 1;

	if (cli_patterns(argc, argv, from, "--subscribe", &sub, &nsub) == -1 ||
	    cli_patterns(argc, argv, from, "--publish", &pub, &npub) == -1 ||
	    cli_opt_i64(argc, argv, from, "--ttl", 3600, &ttl) == -1 || ttl < 1 || ttl > (INT64_C(1) << 32)) {
		cli_usage(stderr);
		rc = 2;
		goto out;
	}
	/* The key is read whatever the mode: a site may issue tokens before
	 * it turns auth on. */
	if (strcmp(cfg->auth, "off") == 0)
		config_set(cfg, "auth", "publish", NULL);
	if (keyfile != NULL)
		config_set(cfg, "auth_key_file", keyfile, NULL);
	a = auth_new(cfg, &cause);
	if (a != NULL)
		token = auth_issue(a, (const char *const *)sub, nsub, (const char *const *)pub, npub,
				   cli_flag(argc, argv, from, "--admin"), util_now_ms() / 1000, ttl, &cause);
	if (token == NULL) {
		fprintf(stderr, "fcpush: %s\n", cause);
		goto out;
	}
	printf("%s\n", token);
	rc = 0;
out:
	for (k = 0; k < nsub; k++)
		free(sub[k]);
	for (k = 0; k < npub; k++)
		free(pub[k]);
	free(sub);
	free(pub);
	free(token);
	free(cause);
	auth_free(a);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct store *st = NULL;
	struct store_retention ret;
	const char *db = NULL, *cmd, *cfgfile = NULL;
	char *cause = NULL;
	int i, rc = 1, flags = 0;
	int64_t deleted = 0;

	config_init(&cfg);
	log_set_level(LOG_LEVEL_WARN);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			cfgfile = argv[++i];
		else
			break;
	}
	if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
	    strcmp(argv[i], "help") == 0 || cli_flag(argc, argv, i + 1, "--help")) {
		cli_usage(i >= argc ? stderr : stdout);
		config_fini(&cfg);
		return i >= argc ? 2 : 0;
	}
	if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
		printf("fcpush %s (store: %s)\n", PACKAGE_VERSION, store_backends());
		config_fini(&cfg);
		return 0;
	}
	cmd = argv[i++];
	if ((cfgfile != NULL && config_load_file(&cfg, cfgfile, &cause) == -1) || config_load_env(&cfg, &cause) == -1) {
		fprintf(stderr, "fcpush: %s\n", cause);
		goto out;
	}
	if (strcmp(cmd, "token") == 0) {
		rc = cli_token(&cfg, argc, argv, i);
		goto out;
	}
	if (db == NULL)
		db = cfg.database;
	if (strcmp(cmd, "init") == 0)
		flags = STORE_CREATE;
	else if (strstr(db, "://") == NULL && access(db, F_OK) == -1 && errno == ENOENT) { /* a file store */
		fprintf(stderr, "fcpush: no database at %s; create it first:\n  fcpush --database %s init\n", db, db);
		goto out;
	}
	st = store_open(db, flags | store_durability_flags(cfg.durability), (int)cfg.busy_timeout_ms, &cause);
	if (st == NULL) {
		fprintf(stderr, "fcpush: %s\n", cause);
		goto out;
	}
	signal(SIGINT, cli_on_signal);
	signal(SIGTERM, cli_on_signal);
	if (strcmp(cmd, "init") == 0) {
		printf("database %s ready\n", db);
		rc = 0;
	} else if (strcmp(cmd, "publish") == 0) {
		rc = cli_publish(st, db, argc, argv, i) == 0 ? 0 : 1;
	} else if (strcmp(cmd, "tail") == 0) {
		rc = cli_tail(st, db, argc, argv, i) == 0 ? 0 : 1;
	} else if (strcmp(cmd, "trim") == 0) {
		retention_defaults(&cfg, &ret);
		if (store_trim(st, &ret, util_now_ms(), &deleted) == STORE_OK) {
			printf("%lld messages removed\n", (long long)deleted);
			rc = 0;
		} else {
			fprintf(stderr, "fcpush: trim failed: %s\n", store_errmsg(st));
		}
	} else if (strcmp(cmd, "stats") == 0) {
		rc = cli_stats(st) == 0 ? 0 : 1;
	} else if (strcmp(cmd, "retention") == 0) {
		const char *ch = cli_arg(argc, argv, i, 0);

		if (ch != NULL && route_channel_valid(ch) && cli_opt(argc, argv, i, "--max-messages") == NULL &&
		    cli_opt(argc, argv, i, "--max-age-s") == NULL && cli_opt(argc, argv, i, "--max-bytes") == NULL) {
			rc = cli_retention_show(st, &cfg, ch) == 0 ? 0 : 1;
			goto out;
		}
		if (ch == NULL || !route_channel_valid(ch) ||
		    cli_opt_i64(argc, argv, i, "--max-messages", 0, &ret.max_messages) == -1 ||
		    cli_opt_i64(argc, argv, i, "--max-age-s", 0, &ret.max_age_ms) == -1 ||
		    cli_opt_i64(argc, argv, i, "--max-bytes", 0, &ret.max_bytes) == -1) {
			cli_usage(stderr);
			goto out;
		}
		ret.max_age_ms *= 1000;
		if (store_set_retention(st, ch, &ret) == STORE_OK)
			rc = 0;
		else
			fprintf(stderr, "fcpush: %s\n", store_errmsg(st));
	} else {
		fprintf(stderr, "fcpush: unknown command \"%s\"\n", cmd);
		cli_usage(stderr);
		rc = 2;
	}
out:
	store_close(st);
	config_fini(&cfg);
	free(cause);
	return rc;
}
