/* SPDX-License-Identifier: MIT */
/*
 * batch: batch publish throughput. C connections (one thread each, keep-alive)
 * POST /push/publish arrays of B small messages back to back for S seconds;
 * every request in flight when time is up is finished, so the messages
 * acknowledged (201) are exactly the messages that must be in the database.
 *
 *   batch --port P --channel CH [--conns C] [--size B] [--seconds S]
 *
 * Prints: RESULT kind=batch conns=C size=B batches=N messages=M seconds=T
 *         msg_per_s=X errors=E, and each thread publishes to CH-<thread>.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "httpc.h"

static int port, conns = 1, size = 1000;
static double seconds = 5;
static const char *channel;
static int64_t deadline_ns;

struct worker {
	pthread_t tid;
	int index;
	long long batches, errors;
};

static void *
run(void *arg)
{
	struct worker *w = arg;
	struct bconn c = {.port = port, .fd = -1};
	struct response r;
	char *body;
	size_t len = 0, cap = (size_t)size * 96 + 16;
	int i;

	body = malloc(cap);
	body[len++] = '[';
	for (i = 0; i < size; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s{\"channel\":\"%s-%d\",\"data\":\"message %06d of a batch\"}",
					i ? "," : "", channel, w->index, i);
	body[len++] = ']';
	body[len] = '\0';
	while (now_ns() < deadline_ns) {
		if (bconn_request(&c, "POST", "/push/publish", "Content-Type: application/json\r\n", body, len, &r) == -1) {
			w->errors++;
			continue;
		}
		if (r.status == 201)
			w->batches++;
		else {
			w->errors++;
			if (w->errors < 3)
				fprintf(stderr, "batch: HTTP %d: %.200s\n", r.status, r.body);
		}
		free(r.body);
	}
	if (c.fd >= 0)
		close(c.fd);
	free(body);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	long long batches = 0, errors = 0;
	int64_t start, end;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--channel") == 0)
			channel = argv[i + 1];
		else if (strcmp(argv[i], "--conns") == 0)
			conns = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--size") == 0)
			size = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else
			die("batch: unknown option %s", argv[i]);
	}
	if (i != argc || port <= 0 || channel == NULL || conns < 1 || size < 1)
		die("usage: batch --port P --channel CH [--conns C] [--size B] [--seconds S]");
	raise_nofile(); /* and ignore SIGPIPE */
	ws = calloc((size_t)conns, sizeof *ws);
	start = now_ns();
	deadline_ns = start + (int64_t)(seconds * 1e9);
	for (i = 0; i < conns; i++) {
		ws[i].index = i;
		pthread_create(&ws[i].tid, NULL, run, &ws[i]);
	}
	for (i = 0; i < conns; i++) {
		pthread_join(ws[i].tid, NULL);
		batches += ws[i].batches;
		errors += ws[i].errors;
	}
	end = now_ns();
	printf("RESULT kind=batch conns=%d size=%d batches=%lld messages=%lld seconds=%.3f msg_per_s=%.0f errors=%lld\n",
	       conns, size, batches, batches * size, (double)(end - start) / 1e9,
	       (double)(batches * size) / ((double)(end - start) / 1e9), errors);
	return errors == 0 ? 0 : 1;
}
