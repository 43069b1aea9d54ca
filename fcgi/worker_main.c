/* SPDX-License-Identifier: MIT */
/*
 * fcpush.fcgi: the long-lived FastCGI responder. A few request threads accept
 * and answer requests with libfcgi; requests that must wait are handed to the
 * event loop thread (loop.h) and cost no thread while they wait. One writer
 * connection, shared through group commit (commit.h), takes every publish.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "commit.h"
#include "config.h"
#include "handler.h"
#include "log.h"
#include "loop.h"
#include "retention.h"
#include "store.h"
#include "supervise.h"

struct worker {
	struct app app;
	struct config cfg;
	int listen_fd;
	pthread_t *threads;
	size_t nthreads;
	atomic_int stopping;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: fcpush.fcgi [--config FILE] [--supervise] [--print-config-example] [--version]\n"
		   "--supervise: hold the listening socket and restart the worker when it dies.\n"
		   "Every key of the configuration may also be set as FCPUSH_<KEY> in the environment.\n");
}

/* Read up to n bytes of the body. 0 at its end; -1 when the stream failed,
 * with errno ETIMEDOUT when the body stalled past request_body_timeout_s
 * (SO_RCVTIMEO on the request's socket, set in worker_thread). libfcgi's
 * FCGX_GetStr returns short on an error and keeps it in the stream: without
 * this check a stalled or cut body would read as a complete shorter one. */
static ssize_t
worker_read_body(void *arg, char *p, size_t n)
{
	FCGX_Request *req = arg;
	int want = n > 65536 ? 65536 : (int)n, got, err;

	got = FCGX_GetStr(p, want, req->in);
	if (got < want && (err = FCGX_GetError(req->in)) != 0) {
		errno = err == EAGAIN || err == EWOULDBLOCK ? ETIMEDOUT : (err > 0 ? err : EPROTO);
		return -1;
	}
	return got;
}

static void
worker_request(struct http_request *r, FCGX_Request *req)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	int64_t len;

	memset(r, 0, sizeof *r);
	r->method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	r->uri = FCGX_GetParam("REQUEST_URI", req->envp);
	r->content_type = FCGX_GetParam("CONTENT_TYPE", req->envp);
	r->content_length = cl != NULL && util_parse_i64(cl, 0, INT64_MAX, &len) == 0 ? len : -1;
	r->accept = FCGX_GetParam("HTTP_ACCEPT", req->envp);
	r->origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);
	r->last_event_id = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);
	r->if_none_match = FCGX_GetParam("HTTP_IF_NONE_MATCH", req->envp);
	r->prefer = FCGX_GetParam("HTTP_PREFER", req->envp);
	r->event = FCGX_GetParam("HTTP_X_EVENTSOURCE_EVENT", req->envp);
	r->acr_method = FCGX_GetParam("HTTP_ACCESS_CONTROL_REQUEST_METHOD", req->envp);
	r->range = FCGX_GetParam("HTTP_RANGE", req->envp);
	r->idempotency_key = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", req->envp);
	r->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);
	r->cookie = FCGX_GetParam("HTTP_COOKIE", req->envp);
	r->read_body = worker_read_body;
	r->read_arg = req;
}

/* Send the response; a body produced in pieces (a large message) is read
 * and written 64 KiB at a time. If a piece cannot be read the response is cut
 * short, which the client sees as an incomplete body. */
static void
worker_send(FCGX_Request *req, const struct http_response *resp, struct buf *out)
{
	int64_t off, end;
	size_t n;

	buf_reset(out);
	http_serialize(resp, out);
	FCGX_PutStr(out->data, (int)out->len, req->out);
	if (resp->body_reader != NULL && !resp->head_only && resp->status != 304 && resp->status != 204) {
		buf_reserve(out, 65536);
		end = resp->body_offset + resp->body_length;
		for (off = resp->body_offset; off < end; off += (int64_t)n) {
			n = end - off > 65536 ? 65536 : (size_t)(end - off);
			if (resp->body_reader(resp->body_arg, off, out->data, n) == -1 ||
			    FCGX_PutStr(out->data, (int)n, req->out) < 0)
				break;
		}
	}
	FCGX_Finish_r(req);
}

/* A thread keeps its buffers between requests, but not one answer's worth
 * of a large poll each: with 16 threads that would hold 16 of the largest
 * answers ever sent. */
#define WORKER_KEEP_BYTES (256 * 1024)

static void
worker_shrink(struct http_response *resp, struct buf *out)
{
	if (resp->body.cap > WORKER_KEEP_BYTES || resp->head.cap > WORKER_KEEP_BYTES) {
		http_response_fini(resp);
		http_response_init(resp);
	}
	if (out->cap > WORKER_KEEP_BYTES) {
		buf_fini(out);
		buf_init(out);
	}
}

static void *
worker_thread(void *arg)
{
	struct worker *w = arg;
	struct handler_ctx ctx;
	struct http_request hr;
	struct http_response resp;
	struct park_spec *spec;
	FCGX_Request *req = xcalloc(1, sizeof *req);
	struct buf out;
	struct timeval body_timeout = {.tv_sec = (time_t)w->cfg.request_body_timeout_s};
	char *cause = NULL;
	int fd, id;

	ctx.app = &w->app;
	ctx.jp = json_parse_new(&cause);
	ctx.st = ctx.jp != NULL ? store_open(w->cfg.database, store_durability_flags(w->cfg.durability),
					     (int)w->cfg.busy_timeout_ms, &cause)
				: NULL;
	if (ctx.st == NULL) {
		json_parse_free(ctx.jp);
		log_error("request thread cannot open the store: %s", cause);
		free(cause);
		free(req);
		return NULL;
	}
	http_response_init(&resp);
	buf_init(&out);
	FCGX_InitRequest(req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	while (!atomic_load(&w->stopping)) {
		if (FCGX_Accept_r(req) < 0) {
			if (atomic_load(&w->stopping))
				break;
			continue;
		}
		/* Bound every blocking read of this request (its body): a
		 * client that stalls mid-body frees the thread (the web server
		 * may stream the body as it arrives: Apache does). */
		setsockopt(req->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &body_timeout, sizeof body_timeout);
		worker_request(&hr, req);
		http_response_reset(&resp);
		if (handler_run(&ctx, &hr, &resp, &spec) == HANDLER_FINISHED) {
			worker_send(req, &resp, &out);
			store_body_close(ctx.st);
			worker_shrink(&resp, &out);
			continue;
		}
		/* Park: the loop owns the connection from here. libfcgi's streams
		 * and parameters are freed now (FCGX_Free without close), so a
		 * waiting request holds only its fd and spec. */
		fd = req->ipcFd;
		id = req->requestId;
		if (loop_park(w->app.loop, fd, id, spec) == -1) {
			park_spec_free(spec);
			http_response_reset(&resp);
			http_header(&resp, "Retry-After", "1");
			http_error(&resp, 503, "too_many_waiting", "this worker holds its limit of %lld waiting requests",
				   (long long)w->cfg.max_parked);
			handler_note_answer(&w->app, &hr, &resp);
			worker_send(req, &resp, &out);
			continue;
		}
		FCGX_Free(req, 0);
		FCGX_InitRequest(req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	}
	FCGX_Free(req, 1);
	free(req);
	buf_fini(&out);
	http_response_fini(&resp);
	store_close(ctx.st);
	json_parse_free(ctx.jp);
	return NULL;
}

static void
worker_on_sigusr1(int sig)
{
	(void)sig; /* only interrupts accept(2) */
}

/* Wake every request thread out of accept(2) until all have returned. */
static void
worker_join_threads(struct worker *w)
{
	struct timespec ts;
	size_t i;

	FCGX_ShutdownPending();
	for (i = 0; i < w->nthreads; i++) {
		for (;;) {
			pthread_kill(w->threads[i], SIGUSR1);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(w->threads[i], NULL, &ts) == 0)
				break;
		}
	}
}

static int
worker_open_socket(struct worker *w)
{
	long mode;
	char *end;

	if (w->cfg.listen[0] == '\0') {
		w->listen_fd = 0; /* FCGI_LISTENSOCK_FILENO: spawned by the web server or systemd */
		return 0;
	}
	if (w->cfg.listen[0] == '/')
		unlink(w->cfg.listen);
	w->listen_fd = FCGX_OpenSocket(w->cfg.listen, (int)w->cfg.listen_backlog);
	if (w->listen_fd < 0) {
		fprintf(stderr, "fcpush.fcgi: cannot listen on %s: %s\n", w->cfg.listen, strerror(errno));
		return -1;
	}
	if (w->cfg.listen[0] == '/') {
		mode = strtol(w->cfg.listen_mode, &end, 8);
		if (chmod(w->cfg.listen, (mode_t)mode) == -1)
			log_warn("chmod %s: %s", w->cfg.listen, strerror(errno));
	}
	log_info("listening on %s", w->cfg.listen);
	return 0;
}

/* --supervise: this process opens the listening socket (or keeps the one on
 * fd 0 when `listen` is empty) and runs the worker as its child on it,
 * restarting it when it dies; connections wait in the socket's backlog
 * meanwhile. Returns main's exit status. */
static int
worker_supervise(struct worker *w, char **argv)
{
	int rc;

	if (worker_open_socket(w) == -1)
		return EXIT_FAILURE;
	if (w->listen_fd != 0 && fcntl(w->listen_fd, F_SETFD, FD_CLOEXEC) == -1)
		log_warn("fcntl FD_CLOEXEC: %s", strerror(errno));
	rc = supervise_run("fcpush.fcgi", argv, w->listen_fd, "FCPUSH_LISTEN");
	if (w->listen_fd != 0) {
		close(w->listen_fd);
		if (w->cfg.listen[0] == '/')
			unlink(w->cfg.listen);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct worker w;
	struct store *writer = NULL, *reader = NULL;
	pthread_t loop_tid;
	struct sigaction sa;
	sigset_t stop_set;
	char *cause = NULL;
	const char *config_path = NULL;
	int i, sig, rc = EXIT_FAILURE, supervise = 0;
	size_t started = 0;

	/* A fixed mmap threshold: large answers and rows are mapped and given
	 * back to the system when freed. glibc's default threshold grows to
	 * the largest block freed so far (up to 32 MiB), after which every
	 * request thread's arena would keep such blocks for good. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	memset(&w, 0, sizeof w);
	config_init(&w.cfg);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--supervise") == 0) {
			supervise = 1;
		} else if (strcmp(argv[i], "--print-config-example") == 0) {
			config_write_example(stdout);
			config_fini(&w.cfg);
			return EXIT_SUCCESS;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("fcpush.fcgi %s\n", PACKAGE_VERSION);
			config_fini(&w.cfg);
			return EXIT_SUCCESS;
		} else {
			usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
			config_fini(&w.cfg);
			return strcmp(argv[i], "--help") == 0 ? EXIT_SUCCESS : 2;
		}
	}
	if ((config_path != NULL && config_load_file(&w.cfg, config_path, &cause) == -1) ||
	    config_load_env(&w.cfg, &cause) == -1) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}
	log_set_level((enum log_level)log_level_parse(w.cfg.log_level));
	if (supervise) {
		rc = worker_supervise(&w, argv);
		goto out;
	}
	handler_app_init(&w.app, &w.cfg);
	w.app.auth = auth_new(&w.cfg, &cause);
	if (w.app.auth == NULL) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}

	writer = store_open(w.cfg.database, STORE_CREATE | store_durability_flags(w.cfg.durability),
			    (int)w.cfg.busy_timeout_ms, &cause);
	if (writer == NULL) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}
	reader = store_open(w.cfg.database, store_durability_flags(w.cfg.durability), (int)w.cfg.busy_timeout_ms,
			    &cause);
	if (reader == NULL) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}
	w.app.loop = loop_new(&w.app, reader, &cause);
	reader = NULL;
	if (w.app.loop == NULL) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}
	store_idem_set_window(writer, w.cfg.idempotency_window_s * 1000);
	w.app.committer = committer_new(writer, loop_notify_commit, w.app.loop);
	writer = NULL;

	/* libfcgi installs its own SIGPIPE/SIGTERM/SIGUSR1 handlers in
	 * FCGX_Init; ours go in after it. Stop signals are blocked in every
	 * thread and taken by sigwait below. */
	if (FCGX_Init() != 0) {
		fprintf(stderr, "fcpush.fcgi: FCGX_Init failed\n");
		goto out;
	}
	if (worker_open_socket(&w) == -1)
		goto out;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = worker_on_sigusr1; /* no SA_RESTART: accept(2) returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);

	/* After the mask: the retention thread must not take stop signals. */
	w.app.retention = retention_new(&w.cfg, w.app.committer, &cause);
	if (w.app.retention == NULL) {
		fprintf(stderr, "fcpush.fcgi: %s\n", cause);
		goto out;
	}
	if (pthread_create(&loop_tid, NULL, loop_thread, w.app.loop) != 0) {
		fprintf(stderr, "fcpush.fcgi: cannot start the event loop thread\n");
		goto out;
	}
	w.nthreads = (size_t)w.cfg.threads;
	w.threads = xcalloc(w.nthreads, sizeof *w.threads);
	for (started = 0; started < w.nthreads; started++) {
		if (pthread_create(&w.threads[started], NULL, worker_thread, &w) != 0)
			break;
	}
	w.nthreads = started;
	log_info("fcpush.fcgi %s serving %s with %zu request threads", PACKAGE_VERSION, w.cfg.database, started);

	/* SIGHUP (logrotate, systemctl reload, a web server's graceful
	 * restart) reloads what can change while running and goes on; logs go
	 * to stderr, which the supervisor owns, so there is none to reopen. */
	while (sigwait(&stop_set, &sig) == 0 && sig == SIGHUP)
		config_reload_log_level(&w.cfg, config_path);
	log_info("signal %d: stopping", sig);
	atomic_store(&w.stopping, 1);
	worker_join_threads(&w);
	loop_stop(w.app.loop);
	pthread_join(loop_tid, NULL);
	rc = EXIT_SUCCESS;
	log_info("stopped");
out:
	free(w.threads);
	retention_free(w.app.retention);
	loop_free(w.app.loop);
	auth_free(w.app.auth);
	committer_free(w.app.committer);
	store_close(writer);
	store_close(reader);
	if (rc == EXIT_SUCCESS && w.cfg.listen[0] == '/')
		unlink(w.cfg.listen);
	config_fini(&w.cfg);
	free(cause);
	return rc;
}
