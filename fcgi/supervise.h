/* SPDX-License-Identifier: MIT */
/*
 * Supervision: run this program again as a child and restart it, with
 * exponential backoff, whenever it dies. The supervisor may hold a listening
 * socket across restarts, so connections wait in its backlog while no child
 * runs instead of being refused.
 */
#ifndef FCPUSH_SUPERVISE_H
#define FCPUSH_SUPERVISE_H

/* Shortest and longest delay before a restart, and how long a child must
 * have run for the delay to fall back to the shortest. */
#define SUPERVISE_DELAY_MIN_MS 100
#define SUPERVISE_DELAY_MAX_MS 5000
#define SUPERVISE_STABLE_MS 10000

/* Supervise this program: run /proc/self/exe with argv (argv[0] kept,
 * every "--supervise" left out) as a child until asked to stop. name prefixes
 * the log lines ("fcpush.fcgi"). When listen_fd is not -1 every child gets
 * it as its standard input (fd 0, libfcgi's FCGI_LISTENSOCK_FILENO), and
 * clear_env (when not NULL, e.g. "FCPUSH_LISTEN") is set to the empty string
 * in the child's environment so it serves that socket instead of opening its
 * own; the supervisor keeps listen_fd open (it is not closed here).
 *
 * A child that exits for any reason is started again after a delay that
 * starts at SUPERVISE_DELAY_MIN_MS and doubles up to SUPERVISE_DELAY_MAX_MS
 * while children keep dying within SUPERVISE_STABLE_MS, except the first
 * child when it exits with a non-zero status (a start-up error such as a bad
 * configuration: retrying would not help). SIGTERM and SIGINT are passed on
 * to the child, after which the supervisor returns once the child has
 * exited; SIGHUP is passed on. Children get SIGTERM if the supervisor dies.
 *
 * Returns the exit status for main: the child's status when it stopped on
 * request or failed at start-up (128 + signal number when a signal ended
 * it), 0 when a stop arrived between two children, EXIT_FAILURE when fork
 * fails. */
int supervise_run(const char *name, char **argv, int listen_fd, const char *clear_env);

#endif
