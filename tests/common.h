/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: a private temporary directory per test binary,
 * process handshakes over pipes (never sleeps), and the switchable libc
 * fakes of mock.c.
 */
#ifndef PIDLOCK_TEST_COMMON_H
#define PIDLOCK_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <cmocka.h>

#include "pidlock.h"

/* The test's private directory (created by test_dir_setup). */
extern char test_dir[];

/* cmocka group setup/teardown: a fresh directory under $TMPDIR, removed
 * with everything in it afterwards. */
int test_dir_setup(void **state);
int test_dir_teardown(void **state);

/* Removes the files in test_dir (not subdirectories); 0 or -1. */
int test_dir_empty(void);

/* test_dir + "/" + name, in a static rotating buffer. */
const char *test_path(const char *name);

/* Writes len bytes to path (created 0644, truncated). */
void write_file(const char *path, const void *data, size_t len);
/* Reads up to size-1 bytes, NUL-terminates; returns the length or -1. */
ssize_t read_file(const char *path, char *buf, size_t size);

/* A pipe pair used as a one-shot signal between processes. */
struct gate {
	int fd[2];
};
void gate_open(struct gate *g);
void gate_pass(struct gate *g);       /* write one byte */
void gate_wait(struct gate *g);       /* block until a byte arrives */
int gate_wait_ms(struct gate *g, int ms); /* 1: passed, 0: timeout */
void gate_close(struct gate *g);

/* Forks; the child runs fn(arg) and _exits with its result. */
pid_t spawn(int (*fn)(void *), void *arg);
/* Waits for pid; returns its exit status, or 128+signal. */
int reap(pid_t pid);

/* Does any process have this PID?  Asks the kernel directly: the test's
 * own kill() is the mock. */
bool pid_in_use(pid_t pid);

/* The number of open descriptors of this process (asserted); -1 if
 * /proc/self/fd cannot be read, without cmocka, for children. */
int count_fds(void);
int child_count_fds(void);

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* Skip with a visible reason unless running as root. */
#define REQUIRE_ROOT()                                                       \
	do {                                                                 \
		if (geteuid() != 0) {                                        \
			print_message("SKIP %s: needs root (run as root; CI " \
				      "does)\n", __func__);                  \
			skip();                                              \
		}                                                            \
	} while (0)

/*
 * The libc fakes (tests/mock.c).  Each wrapped function passes through to
 * the real one unless a fault is armed for it.
 */
enum mock_fn {
	MOCK_KILL, MOCK_OPENAT, MOCK_FLOCK, MOCK_LINKAT, MOCK_RENAMEAT,
	MOCK_RENAMEAT2, MOCK_PWRITE, MOCK_PREAD, MOCK_FTRUNCATE, MOCK_FSTATAT,
	MOCK_UNLINKAT, MOCK_FCHMOD, MOCK_GETEUID, MOCK_COUNT
};

/* Make call number nth (1 = the next one) of fn fail with err, count
 * times in a row (count < 0: forever). */
void mock_fail(enum mock_fn fn, int nth, int err, int count);
/* Calls to fn since the last mock_reset(). */
int mock_calls(enum mock_fn fn);
/* Before each call of fn, run hook (NULL to remove). */
void mock_hook(enum mock_fn fn, void (*hook)(void));
/* pwrite writes at most this many bytes per call (0: no limit). */
void mock_short_writes(size_t max);
/* Disarm everything and zero the counters. */
void mock_reset(void);
/* openat("/proc/locks") reads text instead; NULL: the real file. */
void mock_proc_locks(const char *text);
/* How often /proc/locks was opened (by this process) since mock_reset(). */
int mock_proc_locks_opens(void);
/* sigaction(sig, ...) fails with EINVAL, as valgrind makes it for SIGRTMAX. */
void mock_refuse_signal(int sig);

/*
 * Crash injection: counting the calls of every wrapped function together
 * from now on, raise SIGKILL at call number nth (before it is made);
 * 0 disarms.  mock_trace(fd) writes one byte per call (its enum mock_fn)
 * to fd, -1 stops; mock_any_calls() is the count.
 */
void mock_die_at(int nth);
void mock_trace(int fd);
int mock_any_calls(void);
const char *mock_fn_name(enum mock_fn fn);
/* openat(O_TMPFILE) fails with EOPNOTSUPP, as on NFS. */
void mock_no_tmpfile(bool on);

/*
 * A fake process for the liveness judgement: /proc/PID/stat of a faked
 * PID reads as given (state 'S', 'Z', ...; start time), and kill(PID, 0)
 * returns kill_errno (0 = alive).  exists=false: /proc/PID is ENOENT.
 */
void mock_proc(pid_t pid, bool exists, char state, uint64_t start,
	       int kill_errno);
/* Every kill() the library made: the test fails if any had pid <= 0 or a
 * signal other than 0. */
int mock_kill_calls(void);

#endif
