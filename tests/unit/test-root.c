/* SPDX-License-Identifier: MIT */
/*
 * Tests that need root: a PID really reused inside a private PID
 * namespace, hostile files planted by another user in a sticky
 * world-writable directory, and filesystems that are full, read-only or
 * not writable for the caller.
 *
 * Every mount happens in a child with its own private mount namespace,
 * so nothing outlives a failed test.  Children hold only a copy of
 * cmocka's state, so they never assert: each check has its own exit
 * code (named in FAILURES below), which the test asserts on.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock-ticks.h"
#include "harness.h"
#include "internal.h"

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

static const char *const failure_text[] = { "ok", FAILURES(AS_TEXT) };

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

static const char *describe(int rc)
{
	static char buf[160];

	if (rc == BAD_TIMEOUT)
		return "timed out and was killed";
	if (rc > 128)
		snprintf(buf, sizeof(buf), "killed by signal %d (%s)", rc - 128,
			 strsignal(rc - 128));
	else if (rc > 0 && rc < BAD_COUNT)
		snprintf(buf, sizeof(buf), "%s", failure_text[rc]);
	else
		snprintf(buf, sizeof(buf), "exit status %d", rc);
	return buf;
}

static void expect_ok(const char *what, int rc)
{
	if (rc != 0)
		fail_msg("%s: %s (child exit %d; details above)", what,
			 describe(rc), rc);
}

/* --- processes ---------------------------------------------------------- */

/* Reaps pid within timeout_ms, else kills it.  Returns its exit code,
 * 128+signal, or BAD_TIMEOUT. */
static int wait_bounded(pid_t pid, int timeout_ms)
{
	int r = kid_reap(pid, timeout_ms);

	return r < 0 ? BAD_TIMEOUT : r;
}

static int run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = kid_fork(fn, arg);

	return pid < 0 ? BAD_SETUP : wait_bounded(pid, CHILD_TIMEOUT_MS);
}

static int become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return -errno;
	return geteuid() == NOBODY && getegid() == NOBODY ? 0 : -EPERM;
}

/* A private mount namespace: our mounts vanish with the child. */
static int enter_private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return BAD_UNSHARE;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return BAD_MOUNT_PRIVATE;
	return 0;
}

/* Takes the lock at path and exits without releasing: a stale lock. */
static int hold_and_die(void *arg)
{
	struct pidlock *lock;

	if (pidlock_new(&lock, arg) < 0 ||
	    pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT) < 0)
		return BAD_STALE;
	return 0;
}

/* Child-safe: 0, or a failure code. */
static int leave_stale(const char *path)
{
	return run_child(hold_and_die, (void *)path);
}

/* Acquires once and lets go again; returns what the acquire returned. */
static int acquire_once(const char *path)
{
	struct pidlock *lock;
	int r = pidlock_new(&lock, path);

	if (r < 0)
		return r;
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	pidlock_free(lock);
	return r;
}

/* --- files -------------------------------------------------------------- */

/* dir + "/" + name, in a rotating static buffer. */
static const char *path_in(const char *dir, const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

static int write_new(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, separated by spaces ("" when empty). */
static const char *listing(const char *dir)
{
	static char out[4096];
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	out[0] = '\0';
	if (!d)
		return "(cannot open)";
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		strlcat(out, i ? " " : "", sizeof(out));
		strlcat(out, names[i], sizeof(out));
		free(names[i]);
	}
	return out;
}

/* Everything about a file that an intruder could change. */
struct snap {
	struct stat st;
	ssize_t len; /* content of a regular file, -1 for others */
	char data[PIDLOCK_RECORD_MAX + 1];
	char target[PATH_MAX]; /* of a symlink */
};

static int snap_take(const char *path, struct snap *s)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->len = -1;
	if (lstat(path, &s->st) < 0)
		return -errno;
	if (S_ISLNK(s->st.st_mode) &&
	    readlink(path, s->target, sizeof(s->target) - 1) < 0)
		return -errno;
	if (S_ISREG(s->st.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		s->len = read(fd, s->data, sizeof(s->data));
		close(fd);
	}
	return 0;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* NULL when path still looks exactly like before, else what differs. */
static const char *snap_diff(const struct snap *before, const char *path)
{
	struct snap now;
	const struct stat *a = &before->st, *b = &now.st;

	if (snap_take(path, &now) < 0)
		return "gone";
	if (a->st_dev != b->st_dev || a->st_ino != b->st_ino)
		return "another inode";
	if (a->st_mode != b->st_mode)
		return "mode";
	if (a->st_uid != b->st_uid || a->st_gid != b->st_gid)
		return "owner";
	if (a->st_nlink != b->st_nlink)
		return "link count";
	if (a->st_size != b->st_size || before->len != now.len ||
	    (now.len > 0 && memcmp(before->data, now.data, (size_t)now.len)))
		return "content";
	if (strcmp(before->target, now.target))
		return "symlink target";
	if (!same_time(a->st_mtim, b->st_mtim))
		return "mtime";
	if (!same_time(a->st_ctim, b->st_ctim))
		return "ctime";
	return NULL;
}

static void expect_unchanged(const struct snap *before, const char *path)
{
	const char *diff = snap_diff(before, path);

	if (diff)
		fail_msg("%s: changed: %s", path, diff);
}

static void expect_state(const char *path, enum pidlock_state want)
{
	struct pidlock_info info;

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	if (info.state != want)
		fail_msg("%s: inspect says %s (%s), expected %s", path,
			 pidlock_state_name(info.state), info.reason,
			 pidlock_state_name(want));
}

static void expect_refused(const char *path, int want)
{
	struct pidlock *lock;
	int r;

	assert_int_equal(pidlock_new(&lock, path), 0);
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	if (r != want)
		fail_msg("%s: acquire returned %d (%s), expected %d (%s)", path,
			 r, pidlock_strerror(r), want, pidlock_strerror(want));
	assert_int_equal(pidlock_fd(lock), -1);
	pidlock_free(lock);
}

/* A record as another program would plant it: PID dead, uid as given. */
static int planted_record(uid_t uid, char *buf, size_t size)
{
	struct pidlock_record rec = {
		.version = 1, .start_time = 4242, .uid = uid, .time = time(NULL),
	};
	struct pidlock__self self;

	assert_int_equal(pidlock__self_info(&self), 0);
	rec.pid = rec.holder = dead_pid();
	rec.pidns = self.pidns;
	strlcpy(rec.boot_id, self.boot_id, sizeof(rec.boot_id));
	strlcpy(rec.host, self.host, sizeof(rec.host));
	strlcpy(rec.comm, "planted", sizeof(rec.comm));
	return pidlock__record_format(&rec, buf, size);
}

static void make_dir(const char *path, mode_t mode)
{
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* --- 1. a PID reused for real ------------------------------------------- */

struct reuse {
	char path[PATH_MAX];
	uint64_t outer_pidns;
	struct gate ready;   /* A holds the lock */
	struct gate release; /* B may exit */
};

/* A: takes the lock, says so, and lives until it is killed. */
static int reuse_holder(void *arg)
{
	struct reuse *c = arg;
	struct pidlock *lock;

	CHECK(pidlock_new(&lock, c->path) == 0, BAD_A_ACQUIRE);
	CHECK_RET(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0, BAD_A_ACQUIRE);
	gate_pass(&c->ready);
	for (;;)
		pause();
}

/* B: only has A's PID.  It starts with every signal blocked, so any
 * signal sent to it is still pending when it is released. */
static int reuse_bystander(void *arg)
{
	struct reuse *c = arg;
	sigset_t pending;

	close(c->release.fd[1]);
	gate_wait(&c->release);
	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&pending, sig) == 1) {
			dprintf(STDERR_FILENO, "  B got signal %d\n", sig);
			return 1;
		}
	return 0;
}

static int start_time_of(pid_t pid, uint64_t *start)
{
	char path[32], buf[1024], *p;
	ssize_t n;
	unsigned long long st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_file(path, buf, sizeof(buf));
	if (n <= 0 || !(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u"
		   " %*d %*d %*d %*d %*d %*d %llu", &st) != 1)
		return -1;
	*start = st;
	return 0;
}

static bool still_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

/* The checks after B took A's PID. */
static int reuse_judged(struct reuse *c, uint64_t a_start, pid_t b)
{
	const struct pidlock_info *holder;
	struct pidlock_record rec;
	struct pidlock_info info;
	struct pidlock *lock;
	struct stat st;
	char buf[PIDLOCK_RECORD_MAX + 1];
	ssize_t n;

	CHECK_RET(pidlock_inspect(c->path, NULL, &info), 0, BAD_INSPECT);
	CHECK_STATE(&info, PIDLOCK_STATE_REUSED, BAD_INSPECT_REUSED);
	CHECK(info.pid == 2 && info.has_record, BAD_INSPECT_REUSED);

	CHECK(pidlock_new(&lock, c->path) == 0, BAD_ACQUIRE);
	CHECK_RET(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0, BAD_ACQUIRE);
	CHECK(pidlock_recovered(lock) == 1, BAD_RECOVERED);
	holder = pidlock_holder(lock);
	CHECK_STATE(holder, PIDLOCK_STATE_REUSED, BAD_HOLDER_REUSED);
	CHECK(holder->has_record && holder->record.pid == 2 &&
	      holder->record.start_time == a_start, BAD_HOLDER_REUSED);

	n = read_file(c->path, buf, sizeof(buf));
	CHECK(n > 0 && pidlock_record_parse(buf, (size_t)n, &rec, NULL) == 0,
	      BAD_NEW_RECORD);
	CHECK(rec.pid == 1 && rec.pidns == info.record.pidns, BAD_NEW_RECORD);

	CHECK(still_running(b), BAD_B_GONE);
	CHECK_RET(pidlock_release(lock), 0, BAD_RELEASE);
	pidlock_free(lock);
	CHECK(stat(c->path, &st) == 0 && st.st_size == 0, BAD_RELEASE); /* kept */
	return 0;
}

/* PID 1 of a fresh PID namespace, with a /proc that matches it. */
static int reuse_in_namespace(void *arg)
{
	struct reuse *c = arg;
	struct pidlock__self self;
	struct pidlock_info info;
	struct stat ns;
	sigset_t all, old;
	uint64_t a_start, b_start;
	pid_t a, b;
	int r;

	CHECK(getpid() == 1, BAD_NOT_PID1);
	CHECK(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    NULL) == 0, BAD_MOUNT_PROC);
	/* The library's cache came from the test process, keyed by its PID. */
	CHECK(pidlock__self_info(&self) == 0, BAD_SELF_INFO);
	CHECK(stat("/proc/self/ns/pid", &ns) == 0, BAD_SELF_PIDNS);
	CHECK(self.pidns == ns.st_ino && self.pidns != c->outer_pidns,
	      BAD_SELF_PIDNS);

	CHECK(pipe2(c->ready.fd, O_CLOEXEC) == 0, BAD_SETUP);
	CHECK(pipe2(c->release.fd, O_CLOEXEC) == 0, BAD_SETUP);
	a = kid_fork(reuse_holder, c);
	CHECK(a == 2, BAD_A_PID);
	close(c->ready.fd[1]); /* A's death reads as EOF */
	if (!gate_wait_ms(&c->ready, 10000)) {
		sys_kill(a, SIGKILL);
		r = reap(a);
		return r > 0 && r < BAD_COUNT ? r : BAD_A_READY;
	}
	CHECK_RET(pidlock_inspect(c->path, NULL, &info), 0, BAD_INSPECT);
	CHECK_STATE(&info, PIDLOCK_STATE_LIVE, BAD_A_LIVE);
	CHECK(info.has_record && info.record.pid == 2 &&
	      info.record.pidns == self.pidns, BAD_A_LIVE);
	a_start = info.record.start_time;

	CHECK(sys_kill(a, SIGKILL) == 0, BAD_KILL);
	CHECK(reap(a) == 128 + SIGKILL, BAD_KILL);
	CHECK(wait_tick_after(a_start), BAD_TICK);
	CHECK(write_text("/proc/sys/kernel/ns_last_pid", "1") == 0,
	      BAD_NS_LAST_PID);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	b = kid_fork(reuse_bystander, c);
	sigprocmask(SIG_SETMASK, &old, NULL);
	CHECK(b == 2, BAD_B_PID);
	close(c->release.fd[0]);
	CHECK(start_time_of(b, &b_start) == 0 && b_start != a_start, BAD_B_START);

	r = reuse_judged(c, a_start, b);
	if (r != 0)
		return r;
	CHECK(still_running(b), BAD_B_GONE);
	gate_pass(&c->release);
	CHECK(reap(b) == 0, BAD_B_SIGNALLED);
	return 0;
}

static int reuse_outer(void *arg)
{
	pid_t init;

	CHECK(unshare(CLONE_NEWPID | CLONE_NEWNS) == 0, BAD_UNSHARE);
	/* Private before anything is mounted: the new /proc must not
	 * propagate to the host's. */
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
	      BAD_MOUNT_PRIVATE);
	init = kid_fork(reuse_in_namespace, arg);
	CHECK(init > 0, BAD_SETUP);
	/* When init exits, the kernel kills A and B with it. */
	return wait_bounded(init, CHILD_TIMEOUT_MS);
}

/*
 * The holder dies and its PID goes, on purpose, to a new process: the
 * record is provably about someone else, so it is broken, and the new
 * owner of the PID is left alone.
 */
static void pid_reuse_in_pid_namespace(void **state)
{
	struct pidlock__self self;
	struct reuse c = { .outer_pidns = 0 };

	(void)state;
	REQUIRE_ROOT();
	/* Fill the library's per-process cache here, keyed by our PID. */
	assert_int_equal(pidlock__self_info(&self), 0);
	c.outer_pidns = self.pidns;
	strlcpy(c.path, test_path("reuse.lock"), sizeof(c.path));
	expect_ok("PID reuse", run_child(reuse_outer, &c));
	{ /* recovered in place, emptied on release (pidlock(5)) */
		struct stat st;
		assert_true(access(c.path, F_OK) < 0 ||
			    (stat(c.path, &st) == 0 && st.st_size == 0));
	}
}

/* --- 2. hostile places -------------------------------------------------- */

struct hostile {
	char dir[PATH_MAX];
	char secret[PATH_MAX];
	char record[PIDLOCK_RECORD_MAX + 1];
	int record_len;
	const char *record_name;
	bool traps; /* also the symlink and the FIFO */
};

static int plant_as_nobody(void *arg)
{
	struct hostile *h = arg;

	CHECK(become_nobody() == 0, BAD_NOBODY);
	CHECK(access(h->dir, W_OK | X_OK) == 0, BAD_NOBODY_REACH);
	if (h->traps) {
		CHECK(symlink(h->secret, path_in(h->dir, "sym.lock")) == 0,
		      BAD_PLANT);
		CHECK(mkfifo(path_in(h->dir, "fifo.lock"), 0644) == 0, BAD_PLANT);
	}
	CHECK(write_new(path_in(h->dir, h->record_name), h->record,
			(size_t)h->record_len) == 0, BAD_PLANT);
	return 0;
}

/* Opening a FIFO could hang: this runs in a child under alarm(). */
static int fifo_refused(void *arg)
{
	const char *path = arg;
	struct pidlock_info info;

	alarm(10);
	CHECK_RET(acquire_once(path), -PIDLOCK_ENOTREG, BAD_FIFO_ACQUIRE);
	CHECK_RET(pidlock_inspect(path, NULL, &info), 0, BAD_FIFO_INSPECT);
	CHECK_STATE(&info, PIDLOCK_STATE_UNSAFE, BAD_FIFO_INSPECT);
	return 0;
}

/*
 * Root never holds a lock in a file another user owns in a sticky
 * directory: it takes the file's lock, renames its own over it, and keeps
 * that (emptied) after release.
 */
static void expect_replaced_by_root(const char *path)
{
	struct pidlock *lock;
	struct stat old, st;

	assert_int_equal(lstat(path, &old), 0);
	assert_int_not_equal(old.st_uid, 0);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_true(st.st_ino != old.st_ino);
	assert_int_equal(fstat(pidlock_fd(lock), &old), 0);
	assert_true(st.st_ino == old.st_ino);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(st.st_uid == 0 && st.st_size == 0);
}

static void hostile_setup(struct hostile *h, const char *dirname,
			  const char *record_name, uid_t record_uid, bool traps)
{
	memset(h, 0, sizeof(*h));
	strlcpy(h->dir, test_path(dirname), sizeof(h->dir));
	make_dir(h->dir, 01777);
	h->record_name = record_name;
	h->record_len = planted_record(record_uid, h->record, sizeof(h->record));
	assert_true(h->record_len > 0);
	h->traps = traps;
}

/*
 * Another user plants traps in a sticky world-writable directory: a
 * symlink to a root-only file, a FIFO, a record claiming to be root's; a
 * hard link to the secret sits there too.  Root refuses each with its
 * own code and touches nothing -- except the record in nobody's file,
 * which nobody could unlink under root's lock: root replaces that file
 * with its own (pidlock(5), "Files of other users in sticky directories").
 */
static void hostile_files_refused(void **state)
{
	static const char *const traps[] = { "sym.lock", "fifo.lock",
					     "owned.lock", "hard.lock" };
	struct snap before[4], secret;
	struct hostile h;
	int fds;

	(void)state;
	REQUIRE_ROOT();
	hostile_setup(&h, "sticky", "owned.lock", 0, true);
	strlcpy(h.secret, test_path("secret"), sizeof(h.secret));
	write_file(h.secret, "root only\n", 10);
	assert_int_equal(chmod(h.secret, 0600), 0);
	expect_ok("planting as nobody", run_child(plant_as_nobody, &h));
	assert_int_equal(link(h.secret, path_in(h.dir, "hard.lock")), 0);
	assert_int_equal(snap_take(h.secret, &secret), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(snap_take(path_in(h.dir, traps[i]), &before[i]), 0);
	assert_int_equal(before[2].st.st_uid, NOBODY);

	fds = count_fds();
	expect_refused(path_in(h.dir, "sym.lock"), -PIDLOCK_ESYMLINK);
	expect_refused(path_in(h.dir, "hard.lock"), -PIDLOCK_EHARDLINK);
	expect_ok("FIFO", run_child(fifo_refused,
				    (void *)path_in(h.dir, "fifo.lock")));
	assert_int_equal(count_fds(), fds);
	expect_replaced_by_root(path_in(h.dir, "owned.lock"));
	assert_int_equal(count_fds(), fds);

	for (int i = 0; i < 4; i++)
		if (i != 2)
			expect_state(path_in(h.dir, traps[i]), PIDLOCK_STATE_UNSAFE);
	expect_unchanged(&secret, h.secret);
	for (int i = 0; i < 4; i++)
		if (i != 2)
			expect_unchanged(&before[i], path_in(h.dir, traps[i]));
	assert_string_equal(listing(h.dir),
			    "fifo.lock hard.lock owned.lock sym.lock");
}

/*
 * A file whose owner is the uid its record names is that user's lock to
 * inspectors; root, acquiring, replaces it all the same (its owner could
 * unlink it under root's lock).
 */
static void owner_of_record_is_trusted(void **state)
{
	const struct pidlock_info *holder;
	struct pidlock *lock;
	struct hostile h;
	struct stat st;
	const char *path;

	(void)state;
	REQUIRE_ROOT();
	hostile_setup(&h, "sticky-own", "own.lock", NOBODY, false);
	path = path_in(h.dir, "own.lock");
	expect_ok("planting as nobody", run_child(plant_as_nobody, &h));
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, NOBODY);
	expect_state(path, PIDLOCK_STATE_STALE);

	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	holder = pidlock_holder(lock);
	assert_int_equal(holder->state, PIDLOCK_STATE_STALE);
	assert_true(holder->has_record);
	assert_int_equal(holder->record.uid, NOBODY);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	expect_state(path, PIDLOCK_STATE_LIVE);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	assert_string_equal(listing(h.dir), "own.lock"); /* root's, emptied */
}

/* --- 3. full filesystems ------------------------------------------------ */

struct full {
	char dir[PATH_MAX];
	const char *options;
	bool inodes; /* fill the inode table, not the blocks */
	bool stale;  /* acquire over a stale lock file, not a missing one */
};

static bool fill_blocks(const char *dir)
{
	char chunk[512] = { 0 };
	int fd = open(path_in(dir, "filler"), O_WRONLY | O_CREAT | O_EXCL |
						      O_CLOEXEC, 0644);
	bool full = false;

	if (fd < 0)
		return false;
	for (int i = 0; i < 4096 && !full; i++)
		if (write(fd, chunk, sizeof(chunk)) < 0)
			full = errno == ENOSPC;
	close(fd);
	return full;
}

static bool fill_inodes(const char *dir)
{
	char name[32];

	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "fill-%d", i);
		int fd = open(path_in(dir, name), O_WRONLY | O_CREAT | O_EXCL |
							  O_CLOEXEC, 0644);
		if (fd < 0)
			return errno == ENOSPC;
		close(fd);
	}
	return false;
}

/* Only fillers (and the stale file) may be in dir. */
static bool only_fillers(const struct full *f)
{
	struct dirent *e;
	bool ok = true, stale_seen = false;
	DIR *d = opendir(f->dir);

	if (!d)
		return false;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "filler") ||
		    !strncmp(n, "fill-", 5))
			continue;
		if (f->stale && !strcmp(n, "stale.lock")) {
			stale_seen = true;
			continue;
		}
		dprintf(STDERR_FILENO, "  left behind: %s\n", n);
		ok = false;
	}
	closedir(d);
	return ok && stale_seen == f->stale;
}

static int full_checks(const struct full *f)
{
	const char *lock = path_in(f->dir, f->stale ? "stale.lock" : "new.lock");
	struct snap stale;
	int fds;

	if (f->stale) {
		CHECK(leave_stale(lock) == 0, BAD_STALE);
		CHECK(snap_take(lock, &stale) == 0, BAD_STALE);
	}
	CHECK(f->inodes ? fill_inodes(f->dir) : fill_blocks(f->dir), BAD_FILL);
	fds = count_fds();
	/* A stale record is recovered in place (pidlock(5)): that needs no
	 * new inode and no new block, so a full filesystem does not stop it. */
	CHECK_RET(acquire_once(lock), f->stale ? 0 : -ENOSPC, BAD_ENOSPC);
	CHECK(count_fds() == fds, BAD_FDS);
	CHECK(only_fillers(f), BAD_LEFTOVER);
	CHECK(!f->stale || snap_diff(&stale, lock), BAD_CHANGED);
	return 0;
}

static int full_fs(void *arg)
{
	struct full *f = arg;
	int r = enter_private_mounts();

	if (r != 0)
		return r;
	CHECK(mount("tmpfs", f->dir, "tmpfs", MS_NOSUID | MS_NODEV,
		    f->options) == 0, BAD_MOUNT);
	r = full_checks(f);
	umount2(f->dir, MNT_DETACH);
	return r;
}

static void run_full(const char *name, const char *options, bool inodes,
		     bool stale)
{
	struct full f = { .options = options, .inodes = inodes, .stale = stale };

	strlcpy(f.dir, test_path(name), sizeof(f.dir));
	make_dir(f.dir, 0755);
	expect_ok(options, run_child(full_fs, &f));
	assert_string_equal(listing(f.dir), ""); /* the mount is gone */
}

/* No space for a new file: ENOSPC, and no lock file or temporary left;
 * a stale file is recovered all the same (in place). */
static void full_filesystem_blocks(void **state)
{
	(void)state;
	REQUIRE_ROOT();
	run_full("full-blocks", "size=4k,mode=0755", false, false);
	run_full("full-blocks-stale", "size=8k,mode=0755", false, true);
}

/* No inode for the new file: ENOSPC likewise. */
static void full_filesystem_inodes(void **state)
{
	(void)state;
	REQUIRE_ROOT();
	run_full("full-inodes", "nr_inodes=2,mode=0755", true, false);
	run_full("full-inodes-stale", "nr_inodes=3,mode=0755", true, true);
}

/* --- 4. read-only mount ------------------------------------------------- */

static int readonly_checks(const char *dir)
{
	const char *stale = path_in(dir, "stale.lock");
	struct snap before;
	int fds, fd;

	CHECK(snap_take(stale, &before) == 0, BAD_STALE);
	fd = open(path_in(dir, "probe"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd < 0 && errno == EROFS, BAD_NOT_RO);
	fds = count_fds();
	CHECK_RET(acquire_once(stale), -EROFS, BAD_EROFS);
	CHECK_RET(acquire_once(path_in(dir, "missing.lock")), -EROFS, BAD_EROFS);
	CHECK(count_fds() == fds, BAD_FDS);
	CHECK(!snap_diff(&before, stale), BAD_CHANGED);
	CHECK(!strcmp(listing(dir), "stale.lock"), BAD_LEFTOVER);
	return 0;
}

static int readonly_fs(void *arg)
{
	const char *dir = arg;
	int r = enter_private_mounts();

	if (r != 0)
		return r;
	CHECK(mount(dir, dir, NULL, MS_BIND, NULL) == 0, BAD_MOUNT);
	CHECK(mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0,
	      BAD_MOUNT);
	r = readonly_checks(dir);
	umount2(dir, MNT_DETACH);
	return r;
}

/* A stale lock on a read-only mount cannot be broken, nor a new one made. */
static void readonly_bind_mount(void **state)
{
	char dir[PATH_MAX];
	struct snap before;
	const char *stale;

	(void)state;
	REQUIRE_ROOT();
	strlcpy(dir, test_path("ro"), sizeof(dir));
	make_dir(dir, 0755);
	stale = path_in(dir, "stale.lock");
	expect_ok("making a stale lock", leave_stale(stale));
	expect_state(stale, PIDLOCK_STATE_STALE);
	assert_int_equal(snap_take(stale, &before), 0);
	expect_ok("read-only mount", run_child(readonly_fs, dir));
	expect_unchanged(&before, stale);
	assert_string_equal(listing(dir), "stale.lock");
}

/* --- 5. no write permission --------------------------------------------- */

static int unwritable_checks(void *arg)
{
	const char *dir = arg;
	int fds;

	CHECK(become_nobody() == 0, BAD_NOBODY);
	CHECK(access(dir, X_OK) == 0, BAD_NOBODY_REACH);
	CHECK(access(dir, W_OK) < 0, BAD_WRITABLE);
	fds = count_fds();
	CHECK_RET(acquire_once(path_in(dir, "new.lock")), -EACCES, BAD_EACCES);
	CHECK_RET(acquire_once(path_in(dir, "stale.lock")), -EACCES, BAD_EACCES);
	CHECK(count_fds() == fds, BAD_FDS);
	return 0;
}

/* nobody in root's 0755 directory: EACCES, whether the lock exists or not. */
static void directory_not_writable(void **state)
{
	char dir[PATH_MAX];
	struct snap before;
	const char *stale;

	(void)state;
	REQUIRE_ROOT();
	strlcpy(dir, test_path("root-only"), sizeof(dir));
	make_dir(dir, 0755);
	stale = path_in(dir, "stale.lock");
	expect_ok("making a stale lock", leave_stale(stale));
	assert_int_equal(snap_take(stale, &before), 0);
	expect_ok("as nobody", run_child(unwritable_checks, dir));
	expect_unchanged(&before, stale);
	assert_string_equal(listing(dir), "stale.lock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pid_reuse_in_pid_namespace),
		cmocka_unit_test(hostile_files_refused),
		cmocka_unit_test(owner_of_record_is_trusted),
		cmocka_unit_test(full_filesystem_blocks),
		cmocka_unit_test(full_filesystem_inodes),
		cmocka_unit_test(readonly_bind_mount),
		cmocka_unit_test(directory_not_writable),
	};

	return cmocka_run_group_tests_name("root", tests, test_dir_setup,
					   test_dir_teardown);
}
