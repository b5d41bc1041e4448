/* SPDX-License-Identifier: MIT */
/*
 * The process harness of the C suites that run real processes: children
 * that are tracked and killed after a failed test, reports over pipes,
 * waits with deadlines (a pipe, a pidfd, or a polled condition, never a
 * bare sleep), what /proc says about a process or a lock, and two ready
 * children: a holder that keeps a lock until told to let go, and a waiter
 * that asks for one once and reports everything it saw.
 *
 * common.h has the plain helpers every suite uses (the private directory,
 * files, gates, the libc fakes); this builds on it.
 *
 * Children never call cmocka's assertions (a failed one would unwind into
 * the child's copy of the test runner): they report over pipes or by their
 * exit status, and the parent asserts.  Functions that assert are for the
 * parent only; the rest say "child-safe".
 */
#ifndef PIDLOCK_TEST_HARNESS_H
#define PIDLOCK_TEST_HARNESS_H

#include <limits.h>
#include <sys/types.h>

#include "common.h"

/*
 * How long any wait for another process or thread may take before the
 * test calls it a hang.  Only a bound, never a measure: under memcheck on
 * a busy machine, 8 racers took over 5 s just to start and report.
 */
#define DEADLINE_MS 60000

/* --- children --- */

/* kill(2) itself: kill() is mock.c's, which fails on any real signal. */
int sys_kill(pid_t pid, int sig);
/* Forks a child that runs fn(arg) and _exits with its result, with
 * cmocka's unwinding and crash handlers off; -1 if fork failed.
 * Child-safe, and not tracked. */
pid_t kid_fork(int (*fn)(void *), void *arg);
/* kid_fork, asserted, and tracked: test_cleanup kills it if still there. */
pid_t kid_start(int (*fn)(void *), void *arg);
/* Tracks a child the test forked itself (kid_reap forgets it). */
void kid_track(pid_t pid);
/* Waits up to ms for pid: its exit status, 128+signal, or -1 on timeout
 * (it is then killed). */
int kid_reap(pid_t pid, int ms);
/* A child that sleeps until pauser_end() kills it: a live PID. */
pid_t pauser(void);
void pauser_end(pid_t pid);
/* Children's bodies: exit 0 at once; exit 0 once the gate is passed. */
int exit_now(void *arg);
int wait_on_gate(void *gate);
/* A PID that no process has: a child that exited and was reaped. */
pid_t dead_pid(void);
/* cmocka teardown: kills the tracked children, empties test_dir. */
int test_cleanup(void **state);

/* --- pipes --- */

/* Writes everything (reports are small: one atomic write).  Child-safe. */
void put(int fd, const void *buf, size_t len);
/* Reads exactly len bytes within ms: true, or false on timeout or EOF. */
bool get(int fd, void *buf, size_t len, int ms);
/* Is there something to read on fd right now? */
bool readable(int fd);

/* --- files and /proc --- */

/* The PID on line 1 of text (of the file at path), or -1. */
long line1_pid(const char *text);
long file_line1_pid(const char *path);
bool exists(const char *path);
/* Nothing left that names a holder: no file, or (pidlock(5): the file
 * is kept and emptied on release) an empty regular file. */
bool released(const char *path);
/* The state letter of /proc/PID/stat (of a thread of ours), or '?'. */
char pid_state(pid_t pid);
char tid_state(pid_t tid);
/* Is there a /proc/locks entry on dev:ino, waiting or holding, by pid
 * (0: anyone)?  On dev:ino at all? */
bool proc_locks_has(dev_t dev, ino_t ino, bool waiting, pid_t pid);
bool any_lock_on(dev_t dev, ino_t ino);
/* Does process pid have a pidfd open? */
bool has_pidfd(pid_t pid);
/* Polls cond(arg) every millisecond for up to ms: true once it holds. */
bool wait_for(bool (*cond)(void *), void *arg, int ms);
/* No leftover temporary file of a creation or a break in test_dir. */
void assert_no_temp_files(void);
/* Whether this process runs under valgrind. */
bool under_valgrind(void);

/* --- a child that holds a lock until told to let go --- */

struct holder {
	char path[PATH_MAX];
	unsigned flags;
	pid_t pid;
	struct gate ready, release;
};

/* Starts it and waits until it holds the lock at path. */
void holder_start(struct holder *h, const char *path, unsigned flags);
/* Lets go and reaps it (exit 0 asserted). */
void holder_stop(struct holder *h);
void holder_gates_close(struct holder *h);
/* A child holding a lock (acquired with flags), SIGKILLed: its file
 * stays behind, stale; its PID. */
pid_t make_stale(const char *path);
pid_t make_stale_flags(const char *path, unsigned flags);

/* --- a child that asks for a lock once and reports --- */

struct waiter {
	char path[PATH_MAX];
	unsigned flags;
	int timeout;
	pid_t pid;
	struct gate ready, go, report;
};

struct wait_report {
	int32_t r, fd, recovered, fds_before, fds_after;
	int32_t holder_state, holder_pid, nholders;
	int32_t hpid[2], huid[2], hexcl[2], hwait[2];
	int64_t t0, t1;
	uint8_t calls[64]; /* the wrapped calls of pidlock_acquire (mock_trace) */
	int32_t ncalls;
};

/* Waiters forked while this is set trace their pidlock_acquire(). */
extern bool trace_waiters;

/* Starts it: pidlock_new(path) done, waiting for waiter_go(). */
void waiter_start(struct waiter *w, const char *path, unsigned flags,
		  int timeout);
/* Lets the waiter call pidlock_acquire(flags, timeout). */
void waiter_go(struct waiter *w);
/* Its report within ms, and its exit (0 asserted). */
void waiter_result(struct waiter *w, struct wait_report *rep, int ms);

#endif
