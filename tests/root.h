/* SPDX-License-Identifier: MIT */
/*
 * The helpers of the suites that need root (test-root, test-root-fs):
 * their checks run in children, often as another user or in another
 * namespace, so a child never asserts: each check has its own exit code
 * (FAILURES), which the parent asserts on with expect_ok().  Built on
 * harness.h's children.
 */
#ifndef PIDLOCK_TEST_ROOT_H
#define PIDLOCK_TEST_ROOT_H

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534
/* A bound for anything that should finish at once. */
#define CHILD_TIMEOUT_MS 30000

#define FAILURES(X)                                                          \
	X(BAD_SETUP, "setting up the scene failed (fork, pipe, file)")       \
	X(BAD_UNSHARE, "unshare() failed")                                   \
	X(BAD_MOUNT_PRIVATE, "making / private failed")                      \
	X(BAD_MOUNT_PROC, "mounting proc in the PID namespace failed")       \
	X(BAD_NOT_PID1, "not PID 1 in the new PID namespace")                \
	X(BAD_SELF_INFO, "pidlock__self_info failed in the PID namespace")   \
	X(BAD_SELF_PIDNS, "cached facts name the wrong PID namespace")       \
	X(BAD_A_PID, "first child of the namespace is not PID 2")            \
	X(BAD_A_ACQUIRE, "holder A could not acquire")                       \
	X(BAD_A_READY, "holder A never said it holds the lock")              \
	X(BAD_A_LIVE, "inspect does not see A as the live holder")           \
	X(BAD_KILL, "killing and reaping A failed")                          \
	X(BAD_TICK, "the clock did not pass A's start time")                 \
	X(BAD_NS_LAST_PID, "writing ns_last_pid failed")                     \
	X(BAD_B_PID, "bystander B did not get PID 2")                        \
	X(BAD_B_START, "B's start time equals A's")                          \
	X(BAD_INSPECT, "pidlock_inspect failed")                             \
	X(BAD_INSPECT_REUSED, "inspect does not say REUSED")                 \
	X(BAD_ACQUIRE, "acquiring the reused lock failed")                   \
	X(BAD_RECOVERED, "the acquire did not report a recovery")            \
	X(BAD_HOLDER_REUSED, "pidlock_holder() is not A's REUSED record")    \
	X(BAD_NEW_RECORD, "the new record does not name its holder")         \
	X(BAD_RELEASE, "release failed or left the file")                    \
	X(BAD_B_GONE, "B died before it was released")                       \
	X(BAD_B_SIGNALLED, "B received a signal")                            \
	X(BAD_NOBODY, "could not become nobody")                             \
	X(BAD_NOBODY_REACH, "nobody cannot use the test directory "          \
			    "($TMPDIR must be searchable by others)")        \
	X(BAD_PLANT, "planting a file as nobody failed")                     \
	X(BAD_FIFO_ACQUIRE, "acquire on a FIFO not refused with ENOTREG")    \
	X(BAD_FIFO_INSPECT, "inspect of a FIFO is not UNSAFE")               \
	X(BAD_MOUNT, "mount failed")                                         \
	X(BAD_STALE, "making a stale lock file failed")                      \
	X(BAD_FILL, "filling the filesystem did not end in ENOSPC")          \
	X(BAD_ENOSPC, "acquire on a full filesystem: not ENOSPC")            \
	X(BAD_FDS, "acquire leaked a descriptor")                            \
	X(BAD_LEFTOVER, "a file was left behind")                            \
	X(BAD_CHANGED, "an existing file was changed")                       \
	X(BAD_NOT_RO, "the bind mount is not read-only")                     \
	X(BAD_EROFS, "acquire on a read-only mount: not EROFS")              \
	X(BAD_WRITABLE, "nobody can write the root-owned directory")         \
	X(BAD_EACCES, "acquire without write permission: not EACCES")

#define AS_ENUM(name, text) name,
#define AS_TEXT(name, text) text,

enum failure { ALL_GOOD, FAILURES(AS_ENUM) BAD_COUNT, BAD_TIMEOUT = 120 };

extern const char *const failure_text[];

/* In a child: report the failed check on stderr, exit with its code. */
#define CHECK(cond, code)                                                    \
	do {                                                                 \
		if (!(cond)) {                                               \
			dprintf(STDERR_FILENO, "  [pid %d] %s:%d: %s: %s\n", \
				(int)getpid(), __func__, __LINE__,           \
				failure_text[code], #cond);                  \
			return code;                                         \
		}                                                            \
	} while (0)

/* The same for a call that returns 0 or -errno. */
#define CHECK_RET(call, want, code)                                          \
	do {                                                                 \
		int got_ = (call);                                           \
		if (got_ != (want)) {                                        \
			dprintf(STDERR_FILENO,                               \
				"  [pid %d] %s:%d: %s: %s = %d (%s), want %d " \
				"(%s)\n", (int)getpid(), __func__, __LINE__, \
				failure_text[code], #call, got_,             \
				pidlock_strerror(got_), (int)(want),         \
				pidlock_strerror(want));                     \
			return code;                                         \
		}                                                            \
	} while (0)

#define CHECK_STATE(info, want, code)                                        \
	do {                                                                 \
		if ((info)->state != (want)) {                               \
			dprintf(STDERR_FILENO,                               \
				"  [pid %d] %s:%d: %s: state %s (%s), want " \
				"%s\n", (int)getpid(), __func__, __LINE__,   \
				failure_text[code],                          \
				pidlock_state_name((info)->state),           \
				(info)->reason, pidlock_state_name(want));   \
			return code;                                         \
		}                                                            \
	} while (0)

/* Fails the test unless the child's exit code rc is 0; says which check
 * failed. */
void expect_ok(const char *what, int rc);

/* --- processes --- */

/* Reaps pid within timeout_ms, else kills it.  Returns its exit code,
 * 128+signal, or BAD_TIMEOUT. */
int wait_bounded(pid_t pid, int timeout_ms);
/* Runs fn(arg) in a child: its exit code (BAD_SETUP if fork failed). */
int run_child(int (*fn)(void *), void *arg);
/* In a child: become nobody (uid and gid 65534, no groups); 0 or -errno. */
int become_nobody(void);
/* In a child: a private mount namespace, so its mounts vanish with it. */
int enter_private_mounts(void);
/* A stale lock at path, left by a child: 0, or a failure code.
 * Child-safe. */
int leave_stale(const char *path);
/* Acquires once and lets go again; returns what the acquire returned.
 * Child-safe. */
int acquire_once(const char *path);

/* --- files --- */

/* dir + "/" + name, in a rotating static buffer. */
const char *path_in(const char *dir, const char *name);
/* The names in dir, sorted, separated by spaces ("" when empty). */
const char *listing(const char *dir);

/* Everything about a file that an intruder could change. */
struct snap {
	struct stat st;
	ssize_t len; /* content of a regular file, -1 for others */
	char data[PIDLOCK_RECORD_MAX + 1];
	char target[PATH_MAX]; /* of a symlink */
};

int snap_take(const char *path, struct snap *s);
/* NULL when path still looks exactly like before, else what differs. */
const char *snap_diff(const struct snap *before, const char *path);
/* Fails the test if path no longer looks exactly like before. */
void expect_unchanged(const struct snap *before, const char *path);
/* pidlock_inspect(path) says want. */
void expect_state(const char *path, enum pidlock_state want);
void make_dir(const char *path, mode_t mode);

#endif
