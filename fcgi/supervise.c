/* SPDX-License-Identifier: MIT */
/*
 * Supervision (`--supervise`): the process stays a small parent that runs
 * the program again as its child and restarts it with backoff when it dies.
 * The parent takes its signals synchronously (sigtimedwait), runs no thread
 * and touches no database, so it has nothing that can crash with the child.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"
#include "util.h"

struct supervisor {
	const char *name;
	char **argv; /* the child's, NULL-terminated; the strings are the caller's */
	int listen_fd;
	const char *clear_env;
	pid_t parent;
	sigset_t old_mask; /* restored in the child before exec */
	pid_t child;       /* -1 while none runs */
	int64_t started_ms;
	unsigned runs;
};

static pid_t supervise_spawn(struct supervisor *s);
static int supervise_status(int status);

/* Fork and exec one child; -1 when fork fails. */
static pid_t
supervise_spawn(struct supervisor *s)
{
	pid_t pid = fork();

	if (pid != 0) {
		if (pid > 0) {
			s->started_ms = util_mono_ms();
			s->runs++;
			log_info("supervisor: started %s, pid %ld", s->name, (long)pid);
		}
		return pid;
	}
	/* The child: die with the supervisor rather than outlive it unwatched. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != s->parent)
		_exit(EXIT_FAILURE);
	if (s->listen_fd > 0 && dup2(s->listen_fd, 0) == -1) {
		fprintf(stderr, "%s: supervisor: dup2: %s\n", s->name, strerror(errno));
		_exit(EXIT_FAILURE);
	}
	if (s->clear_env != NULL)
		setenv(s->clear_env, "", 1);
	sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
	execv("/proc/self/exe", s->argv);
	fprintf(stderr, "%s: supervisor: exec /proc/self/exe: %s\n", s->name, strerror(errno));
	_exit(127);
}

/* A wait status as an exit status: the code, or 128 + the signal. */
static int
supervise_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
supervise_run(const char *name, char **argv, int listen_fd, const char *clear_env)
{
	struct supervisor s;
	sigset_t set;
	siginfo_t info;
	struct timespec ts;
	int64_t delay = SUPERVISE_DELAY_MIN_MS, restart_at = 0, ran, now, wait_ms;
	int i, n = 0, sig, status, rc = EXIT_FAILURE, stopping = 0;

	memset(&s, 0, sizeof s);
	s.name = name;
	s.listen_fd = listen_fd;
	s.clear_env = clear_env;
	s.parent = getpid();
	for (i = 0; argv[i] != NULL; i++)
		;
	s.argv = xcalloc((size_t)i + 1, sizeof *s.argv);
	for (i = 0; argv[i] != NULL; i++)
		if (i == 0 || strcmp(argv[i], "--supervise") != 0)
			s.argv[n++] = argv[i];
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &s.old_mask);

	s.child = supervise_spawn(&s);
	if (s.child == -1) {
		fprintf(stderr, "%s: supervisor: fork: %s\n", name, strerror(errno));
		goto out;
	}
	for (;;) {
		/* SIGCHLD wakes the wait; the timeout only bounds it, in case a
		 * SIGCHLD merged with another is missed. */
		wait_ms = 1000;
		if (s.child == -1)
			wait_ms = restart_at - util_mono_ms();
		if (wait_ms < 0)
			wait_ms = 0;
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (long)(wait_ms % 1000) * 1000000;
		sig = sigtimedwait(&set, &info, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("supervisor: signal %d: stopping %s", sig, name);
			stopping = 1;
			if (s.child == -1) {
				rc = EXIT_SUCCESS;
				break;
			}
			kill(s.child, sig);
		} else if (sig == SIGHUP && s.child != -1) {
			kill(s.child, SIGHUP);
		}
		if (s.child != -1 && waitpid(s.child, &status, WNOHANG) == s.child) {
			now = util_mono_ms();
			ran = now - s.started_ms;
			s.child = -1;
			if (stopping) {
				rc = supervise_status(status);
				break;
			}
			if (s.runs == 1 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
				log_error("supervisor: %s exited with status %d at start-up: not restarting", name,
					  WEXITSTATUS(status));
				rc = WEXITSTATUS(status);
				break;
			}
			if (ran >= SUPERVISE_STABLE_MS)
				delay = SUPERVISE_DELAY_MIN_MS;
			if (WIFSIGNALED(status))
				log_error("supervisor: %s killed by signal %d after %lld ms; restarting in %lld ms", name,
					  WTERMSIG(status), (long long)ran, (long long)delay);
			else
				log_error("supervisor: %s exited with status %d after %lld ms; restarting in %lld ms",
					  name, WEXITSTATUS(status), (long long)ran, (long long)delay);
			restart_at = now + delay;
			delay = delay * 2 > SUPERVISE_DELAY_MAX_MS ? SUPERVISE_DELAY_MAX_MS : delay * 2;
		}
		if (s.child == -1 && util_mono_ms() >= restart_at) {
			s.child = supervise_spawn(&s);
			if (s.child == -1) {
				log_error("supervisor: fork: %s; retrying in %lld ms", strerror(errno), (long long)delay);
				restart_at = util_mono_ms() + delay;
			}
		}
	}
out:
	sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
	free(s.argv);
	return rc;
}
