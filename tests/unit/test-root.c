/* SPDX-License-Identifier: MIT */
/*
 * Tests that need root: a PID really reused inside a private PID
 * namespace, and hostile files planted by another user in a sticky
 * world-writable directory.  (Full, read-only and unwritable filesystems
 * are test-root-fs.)
 *
 * Children hold only a copy of cmocka's state, so they never assert:
 * each check has its own exit code (FAILURES in root.h), which the test
 * asserts on.
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
#include "root.h"

/* --- planted files ---------------------------------------------------- */

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pid_reuse_in_pid_namespace),
		cmocka_unit_test(hostile_files_refused),
		cmocka_unit_test(owner_of_record_is_trusted),
	};

	return cmocka_run_group_tests_name("root", tests, test_dir_setup,
					   test_dir_teardown);
}
