/* SPDX-License-Identifier: MIT */
/*
 * Switchable fakes for the libc calls the library makes (linked with
 * -Wl,--wrap=...).  Off by default: every call goes to the real function.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

struct fault {
	int calls;
	int nth;   /* fail from this call number on, 0: never */
	int err;
	int count; /* failures left, < 0: unlimited */
	void (*hook)(void);
};

static struct fault faults[MOCK_COUNT];
static size_t short_max;
static const char *fake_locks; /* /proc/locks content, or NULL */
static int locks_opens;        /* opens of /proc/locks since mock_reset() */
static int refused_signal;     /* sigaction() says EINVAL for it */

/* Crash injection (mock_die_at) and call tracing (mock_trace): both count
 * the calls of every wrapped function together. */
static int any_calls, die_at, trace_fd = -1;
static bool no_tmpfile;
static const char *const fn_names[MOCK_COUNT] = {
	"kill", "openat", "flock", "linkat", "renameat", "renameat2",
	"pwrite", "pread", "ftruncate", "fstatat", "unlinkat", "fchmod",
	"geteuid",
};

#define MAX_FAKE 32
static struct fake_proc {
	pid_t pid;
	bool exists;
	char state;
	uint64_t start;
	int kill_errno;
} fakes[MAX_FAKE];
static int nfakes, kill_calls;

void mock_fail(enum mock_fn fn, int nth, int err, int count)
{
	faults[fn].nth = faults[fn].calls + nth;
	faults[fn].err = err;
	faults[fn].count = count;
}

int mock_calls(enum mock_fn fn) { return faults[fn].calls; }
void mock_hook(enum mock_fn fn, void (*hook)(void)) { faults[fn].hook = hook; }
void mock_short_writes(size_t max) { short_max = max; }
int mock_kill_calls(void) { return kill_calls; }

void mock_reset(void)
{
	memset(faults, 0, sizeof(faults));
	short_max = 0;
	nfakes = 0;
	kill_calls = 0;
	fake_locks = NULL;
	locks_opens = 0;
	refused_signal = 0;
	any_calls = die_at = 0;
	trace_fd = -1;
	no_tmpfile = false;
}

void mock_die_at(int nth)
{
	any_calls = 0;
	die_at = nth;
}

void mock_trace(int fd)
{
	any_calls = 0;
	trace_fd = fd;
}

int mock_any_calls(void) { return any_calls; }
void mock_no_tmpfile(bool on) { no_tmpfile = on; }
const char *mock_fn_name(enum mock_fn fn) { return fn_names[fn]; }

/* Every wrapped call, before anything else: trace it, or die at it. */
static void step(enum mock_fn fn)
{
	any_calls++;
	if (trace_fd >= 0)
		(void)!write(trace_fd, &(unsigned char){ (unsigned char)fn }, 1);
	if (die_at && any_calls == die_at)
		raise(SIGKILL); /* what a crash at this step does to the files */
}

void mock_proc(pid_t pid, bool exists, char state, uint64_t start,
	       int kill_errno)
{
	assert_true(nfakes < MAX_FAKE);
	fakes[nfakes++] = (struct fake_proc){ pid, exists, state, start,
					      kill_errno };
}

/* Counts the call; returns true when this call must fail (errno set). */
static bool faulted(enum mock_fn fn)
{
	struct fault *f = &faults[fn];

	step(fn);
	f->calls++;
	if (f->hook)
		f->hook();
	if (f->nth && f->calls >= f->nth && f->count != 0) {
		if (f->count > 0)
			f->count--;
		errno = f->err;
		return true;
	}
	return false;
}

static struct fake_proc *fake_of(pid_t pid)
{
	for (int i = 0; i < nfakes; i++)
		if (fakes[i].pid == pid)
			return &fakes[i];
	return NULL;
}

int __real_kill(pid_t pid, int sig);
int __wrap_kill(pid_t pid, int sig);
int __wrap_kill(pid_t pid, int sig)
{
	struct fake_proc *p;

	kill_calls++;
	/* The library must never signal anything, least of all pid <= 0. */
	if (pid <= 0 || sig != 0)
		fail_msg("library called kill(%d, %d)", (int)pid, sig);
	if (faulted(MOCK_KILL))
		return -1;
	if ((p = fake_of(pid))) {
		errno = p->kill_errno;
		return p->kill_errno ? -1 : 0;
	}
	return __real_kill(pid, sig);
}

/* /proc/PID/... of a faked PID: ENOENT, or a made-up stat line. */
static int open_fake_proc(const char *path, int *fd)
{
	char rest[64], line[256];
	struct fake_proc *p;
	int pid, mfd;

	if (sscanf(path, "/proc/%d/%63s", &pid, rest) != 2 || !(p = fake_of(pid)))
		return 0;
	if (!p->exists || strcmp(rest, "stat") != 0) {
		*fd = -1;
		errno = ENOENT;
		if (p->exists) {
			/* status and comm of a live fake: minimal text */
			mfd = memfd_create("fake", MFD_CLOEXEC);
			snprintf(line, sizeof(line), strcmp(rest, "comm") == 0
				 ? "fake\n" : "Name:\tfake\nUid:\t0\t0\t0\t0\n");
			(void)!write(mfd, line, strlen(line));
			lseek(mfd, 0, SEEK_SET);
			*fd = mfd;
		}
		return 1;
	}
	mfd = memfd_create("fake-stat", MFD_CLOEXEC);
	snprintf(line, sizeof(line),
		 "%d (fake) %c 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n",
		 pid, p->state, (unsigned long long)p->start);
	(void)!write(mfd, line, strlen(line));
	lseek(mfd, 0, SEEK_SET);
	*fd = mfd;
	return 1;
}

int __real_openat(int dirfd, const char *path, int flags, ...);
void mock_proc_locks(const char *text) { fake_locks = text; }
int mock_proc_locks_opens(void) { return locks_opens; }
void mock_refuse_signal(int sig) { refused_signal = sig; }

/* As valgrind refuses SIGRTMAX to the program it runs. */
int __real_sigaction(int sig, const struct sigaction *sa, struct sigaction *old);
int __wrap_sigaction(int sig, const struct sigaction *sa, struct sigaction *old);
int __wrap_sigaction(int sig, const struct sigaction *sa, struct sigaction *old)
{
	if (refused_signal && sig == refused_signal) {
		errno = EINVAL;
		return -1;
	}
	return __real_sigaction(sig, sa, old);
}

/* A descriptor that reads text, as a /proc file would. */
static int text_fd(const char *text)
{
	int fd = memfd_create("fake-locks", MFD_CLOEXEC);

	if (fd >= 0 && (write(fd, text, strlen(text)) < 0 ||
			lseek(fd, 0, SEEK_SET) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (faulted(MOCK_OPENAT))
		return -1;
	if (no_tmpfile && (flags & O_TMPFILE) == O_TMPFILE) {
		errno = EOPNOTSUPP; /* as on NFS: the named temporary file path */
		return -1;
	}
	if (open_fake_proc(path, &fd))
		return fd;
	if (strcmp(path, "/proc/locks") == 0 && ++locks_opens && fake_locks)
		return text_fd(fake_locks);
	return __real_openat(dirfd, path, flags, mode);
}

#define PASS(id, call) do { if (faulted(id)) return -1; return call; } while (0)

int __real_flock(int fd, int op);
int __wrap_flock(int fd, int op);
int __wrap_flock(int fd, int op) { PASS(MOCK_FLOCK, __real_flock(fd, op)); }

int __real_linkat(int a, const char *b, int c, const char *d, int e);
int __wrap_linkat(int a, const char *b, int c, const char *d, int e);
int __wrap_linkat(int a, const char *b, int c, const char *d, int e)
{
	PASS(MOCK_LINKAT, __real_linkat(a, b, c, d, e));
}

int __real_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d)
{
	PASS(MOCK_RENAMEAT, __real_renameat(a, b, c, d));
}

int __real_renameat2(int a, const char *b, int c, const char *d, unsigned e);
int __wrap_renameat2(int a, const char *b, int c, const char *d, unsigned e);
int __wrap_renameat2(int a, const char *b, int c, const char *d, unsigned e)
{
	PASS(MOCK_RENAMEAT2, __real_renameat2(a, b, c, d, e));
}

ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (faulted(MOCK_PWRITE))
		return -1;
	if (short_max && n > short_max)
		n = short_max;
	return __real_pwrite(fd, buf, n, off);
}

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	PASS(MOCK_PREAD, __real_pread(fd, buf, n, off));
}

int __real_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len)
{
	PASS(MOCK_FTRUNCATE, __real_ftruncate(fd, len));
}

int __real_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int __wrap_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int __wrap_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	PASS(MOCK_FSTATAT, __real_fstatat(dirfd, path, st, flags));
}

int __real_unlinkat(int dirfd, const char *path, int flags);
int __wrap_unlinkat(int dirfd, const char *path, int flags);
int __wrap_unlinkat(int dirfd, const char *path, int flags)
{
	PASS(MOCK_UNLINKAT, __real_unlinkat(dirfd, path, flags));
}

int __real_fchmod(int fd, mode_t mode);
int __wrap_fchmod(int fd, mode_t mode);
int __wrap_fchmod(int fd, mode_t mode) { PASS(MOCK_FCHMOD, __real_fchmod(fd, mode)); }

/* It cannot fail: counted and traced only (it is a system call, and a
 * waiter's calls after its wake-up are counted one by one). */
uid_t __real_geteuid(void);
uid_t __wrap_geteuid(void);
uid_t __wrap_geteuid(void)
{
	(void)faulted(MOCK_GETEUID);
	return __real_geteuid();
}
