/* SPDX-License-Identifier: MIT */
/*
 * A FastCGI responder that does no work: the ceiling for bench/. It accepts
 * requests in a few threads and answers each with "201 Created" and a tiny
 * JSON body, discarding whatever the request carried. Usage:
 * trivial_responder SOCKET [THREADS], where SOCKET is a unix socket path or
 * ":port"/"host:port" as FCGX_OpenSocket takes it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#define DEFAULT_THREADS 4
#define MAX_THREADS 64

static const char response[] = "Status: 201 Created\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 12\r\n"
			       "\r\n"
			       "{\"seq\":null}";

static void *serve(void *arg);

static void *
serve(void *arg)
{
	const int *listen_fd = arg;
	FCGX_Request req;
	char discard[4096];

	if (FCGX_InitRequest(&req, *listen_fd, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&req) >= 0) {
		/* Read the body so the web server's write never blocks. */
		while (FCGX_GetStr(discard, sizeof discard, req.in) > 0)
			;
		FCGX_PutStr(response, (int)(sizeof response - 1), req.out);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	long nthreads = DEFAULT_THREADS;
	int listen_fd, i;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SOCKET [THREADS]\n", argv[0]);
		return 2;
	}
	if (argc == 3) {
		nthreads = strtol(argv[2], NULL, 10);
		if (nthreads < 1 || nthreads > MAX_THREADS) {
			fprintf(stderr, "%s: THREADS must be 1..%d\n", argv[0], MAX_THREADS);
			return 2;
		}
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "%s: FCGX_Init failed\n", argv[0]);
		return 1;
	}
	if (argv[1][0] == '/')
		unlink(argv[1]);
	listen_fd = FCGX_OpenSocket(argv[1], 1024);
	if (listen_fd < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	/* Let a web server running as another user (Apache's www-data) connect. */
	if (argv[1][0] == '/')
		chmod(argv[1], 0666);
	/* FCGX_Init installed libfcgi's handlers; take SIGTERM back. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&threads[i], NULL, serve, &listen_fd) != 0) {
			fprintf(stderr, "%s: pthread_create failed\n", argv[0]);
			return 1;
		}
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
