/* SPDX-License-Identifier: MIT */
/*
 * Failure paths: system calls made to fail (mock_fail), to write short
 * (mock_short_writes), or to let the world change under the library at a
 * chosen moment (mock_hook).  After every failure the documented negative
 * errno comes back, no file is left at the lock path, no ".pidlock-tmp."
 * leftover in the directory, and no descriptor is leaked.
 *
 * Children report over their exit status and never call cmocka's
 * assertions (a failing one would unwind into the child's copy of the
 * runner).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

/* --- this machine, and a PID nobody has ---------------------------------- */

static struct {
	char boot_id[37];
	char host[65];
	uint64_t pidns;
} machine;
static pid_t dead_pid;

static int group_setup(void **state)
{
	char buf[64];
	struct utsname u;
	struct stat st;
	long pid_max;

	if (read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) < 36 ||
	    stat("/proc/self/ns/pid", &st) < 0 ||
	    read_file("/proc/sys/kernel/pid_max", buf + 40, 20) <= 0)
		return -1;
	memcpy(machine.boot_id, buf, 36);
	machine.boot_id[36] = '\0';
	machine.pidns = st.st_ino;
	if (uname(&u) < 0 || !u.nodename[0] || strchr(u.nodename, ' '))
		snprintf(machine.host, sizeof(machine.host), "localhost");
	else
		snprintf(machine.host, sizeof(machine.host), "%s", u.nodename);
	pid_max = strtol(buf + 40, NULL, 10);
	for (pid_t pid = (pid_t)pid_max - 1; !dead_pid && pid > 300; pid--)
		if (!pid_in_use(pid))
			dead_pid = pid;
	return dead_pid ? test_dir_setup(state) : -1;
}

/* Before and after each test: nothing armed, an empty directory. */
static int test_reset(void **state)
{
	(void)state;
	mock_reset();
	return test_dir_empty();
}

/* --- helpers -------------------------------------------------------------- */

#define LOCK "f.lock"

/*
 * A stale record at name: this machine's, for a PID that does not exist,
 * with comm as its command name.
 */
static void write_stale_comm(const char *name, const char *comm)
{
	struct pidlock_record rec = {
		.pid = dead_pid, .holder = dead_pid, .version = 1,
		.start_time = 4242, .pidns = machine.pidns, .uid = geteuid(),
		.time = time(NULL),
	};
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len;

	memcpy(rec.boot_id, machine.boot_id, sizeof(rec.boot_id));
	snprintf(rec.host, sizeof(rec.host), "%s", machine.host);
	snprintf(rec.comm, sizeof(rec.comm), "%s", comm);
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	assert_true(len > 0);
	write_file(test_path(name), buf, (size_t)len);
	mock_proc(dead_pid, false, 0, 0, ESRCH);
}

static void write_stale(const char *name)
{
	write_stale_comm(name, "dead-holder");
}

/* No temporary leftover; the lock file there or not, as expected. */
static void expect_dir(bool lock_file)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;
	bool seen = false;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, PIDLOCK_TMP_PREFIX,
			    strlen(PIDLOCK_TMP_PREFIX)) == 0 ||
		    pidlock_is_temp_name(e->d_name)) {
			closedir(d);
			fail_msg("temporary file left behind: %s", e->d_name);
		}
		seen |= strcmp(e->d_name, LOCK) == 0;
	}
	closedir(d);
	if (seen != lock_file)
		fail_msg("%s: %s", LOCK, lock_file ? "missing" : "left behind");
}

/* After a release: no temporary leftover, and the lock file either gone
 * (PIDLOCK_UNLINK) or kept and empty (the default, pidlock(5)). */
static void expect_released(void)
{
	struct stat st;

	if (lstat(test_path(LOCK), &st) == 0 && st.st_size != 0)
		fail_msg("%s: a record is left after release", LOCK);
	expect_dir(lstat(test_path(LOCK), &st) == 0);
}

static void expect_result(int r, int want, const char *what)
{
	if (r != want)
		fail_msg("%s: got %d (%s), expected %d (%s)", what, r,
			 r ? pidlock_strerror(r) : "success", want,
			 pidlock_strerror(want));
}

/*
 * Acquire with arm() run just before; expect want, then no lock held, no
 * descriptor leaked, no temporary leftover, and the lock file present or
 * not as lock_file says.
 */
static void acquire_fails(void (*arm)(void), unsigned flags, int want,
			  bool lock_file, const char *what)
{
	int fds = count_fds();
	struct pidlock *lock;
	int r;

	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	arm();
	r = pidlock_acquire(lock, flags, PIDLOCK_NO_WAIT);
	assert_int_equal(pidlock_fd(lock), -1);
	pidlock_free(lock);
	expect_result(r, want, what);
	assert_int_equal(count_fds(), fds);
	expect_dir(lock_file);
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Is the file at path locked by anyone (a new open file description)? */
static bool locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool busy;

	assert_true(fd >= 0);
	busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* The file at path holds a complete record naming pid. */
static void expect_record(const char *path, pid_t pid)
{
	char buf[PIDLOCK_RECORD_MAX + 2];
	struct pidlock_record rec;
	const char *why = NULL;
	ssize_t n = read_file(path, buf, sizeof(buf));

	assert_true(n > 0);
	if (pidlock_record_parse(buf, (size_t)n, &rec, &why) < 0)
		fail_msg("%s: record does not parse: %s", path, why);
	assert_int_equal(rec.pid, pid);
}

/* --- creation -------------------------------------------------------------- */

static void arm_pwrite_enospc(void) { mock_fail(MOCK_PWRITE, 1, ENOSPC, 1); }

static void create_write_enospc(void **state)
{
	(void)state;
	acquire_fails(arm_pwrite_enospc, 0, -ENOSPC, false, "record write ENOSPC");
	assert_int_equal(mock_calls(MOCK_LINKAT), 0); /* never published */
}

/* pwrite taking 7 bytes at a time still yields the whole record. */
static void create_short_writes(void **state)
{
	struct pidlock *lock;

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	mock_short_writes(7);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_true(mock_calls(MOCK_PWRITE) > 5);
	expect_record(test_path(LOCK), getpid());
	assert_true(same_file(pidlock_fd(lock), test_path(LOCK)));
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	expect_released();
}

/*
 * The creating openat is the first openat after the first fstatat (the
 * name is missing, so creation starts): a hook on fstatat arms it then.
 */
static int tmpfile_errno;

static void arm_tmpfile_now(void)
{
	mock_fail(MOCK_OPENAT, 1, tmpfile_errno, 1);
	mock_hook(MOCK_FSTATAT, NULL);
}

static void arm_tmpfile_fault(void) { mock_hook(MOCK_FSTATAT, arm_tmpfile_now); }

static void create_tmpfile_erofs_eacces(void **state)
{
	static const int errs[] = { EROFS, EACCES };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		mock_reset();
		tmpfile_errno = errs[i];
		acquire_fails(arm_tmpfile_fault, 0, -errs[i], false,
			      "O_TMPFILE openat");
		/* It failed at the creation itself, before any fchmod. */
		assert_int_equal(mock_calls(MOCK_FCHMOD), 0);
	}
}

/*
 * A named temporary file is used (the default since the holder's
 * descriptor must name the real path); a failure after its creation must
 * remove it.
 */
static void arm_no_tmpfile_then_enospc(void)
{
	mock_fail(MOCK_PWRITE, 1, ENOSPC, 1);
}

static void arm_no_tmpfile_then_rename_eio(void)
{
	mock_fail(MOCK_RENAMEAT2, 1, EIO, 1);
}

static void create_named_temp_cleaned_up(void **state)
{
	(void)state;
	acquire_fails(arm_no_tmpfile_then_enospc, 0, -ENOSPC, false,
		      "named temp, write ENOSPC");
	assert_true(mock_calls(MOCK_PWRITE) >= 1);
	mock_reset();
	acquire_fails(arm_no_tmpfile_then_rename_eio, 0, -EIO, false,
		      "named temp, renameat2 EIO");
	assert_int_equal(mock_calls(MOCK_RENAMEAT2), 1);
}

/*
 * Someone always wins the linkat (EEXIST) yet the name never appears:
 * the acquirer must give up after its bounded retries, not spin.
 */
static int eexist_forever(void *arg)
{
	struct pidlock *lock;
	int fds, r, links;

	(void)arg;
	alarm(10);
	fds = count_fds();
	if (pidlock_new(&lock, test_path(LOCK)) < 0)
		return 120;
	/* Publishing is renameat2(RENAME_NOREPLACE) of the named temporary
	 * file (pidlock(5)), linkat where that is not supported. */
	mock_fail(MOCK_RENAMEAT2, 1, EEXIST, -1);
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	links = mock_calls(MOCK_RENAMEAT2);
	mock_reset();
	pidlock_free(lock);
	if (count_fds() != fds)
		return 121;
	if (links < 2)
		return 122; /* did not retry at all */
	return r == 0 ? 123 : -r < 100 ? -r : 124;
}

static void create_linkat_eexist_forever(void **state)
{
	int status;

	(void)state;
	status = reap(spawn(eexist_forever, NULL));
	if (status == 128 + SIGALRM)
		fail_msg("acquire still looping after 10 s of EEXIST");
	if (status == 121)
		fail_msg("descriptor leaked over the retries");
	if (status == 122)
		fail_msg("EEXIST from linkat was not retried");
	expect_result(-status, -EBUSY, "linkat EEXIST forever");
	expect_dir(false);
}

static void arm_linkat_enospc(void) { mock_fail(MOCK_RENAMEAT2, 1, ENOSPC, 1); }
static void arm_fchmod_eperm(void) { mock_fail(MOCK_FCHMOD, 1, EPERM, 1); }
static void arm_flock_enolck(void) { mock_fail(MOCK_FLOCK, 1, ENOLCK, 1); }
static void arm_fstatat_eacces(void) { mock_fail(MOCK_FSTATAT, 1, EACCES, 1); }

static void create_linkat_enospc(void **state)
{
	(void)state;
	acquire_fails(arm_linkat_enospc, 0, -ENOSPC, false, "linkat ENOSPC");
}

static void create_fchmod_eperm(void **state)
{
	(void)state;
	acquire_fails(arm_fchmod_eperm, 0, -EPERM, false, "fchmod EPERM");
}

/* NFS without lockd: the prepared inode's flock is the first flock. */
static void create_flock_enolck(void **state)
{
	(void)state;
	acquire_fails(arm_flock_enolck, 0, -ENOLCK, false, "flock ENOLCK");
	assert_int_equal(mock_calls(MOCK_LINKAT), 0);
}

static void fstatat_eacces(void **state)
{
	(void)state;
	acquire_fails(arm_fstatat_eacces, 0, -EACCES, false, "fstatat EACCES");
}

/* --- breaking a stale lock --------------------------------------------------- */

/*
 * A break that fails leaves the stale file exactly as it was (and
 * unlocked: a later acquirer still recovers it).
 */
static void break_fails(void (*arm)(void), int want, const char *what)
{
	char before[PIDLOCK_RECORD_MAX + 1], after[PIDLOCK_RECORD_MAX + 1];
	struct stat st0, st1;
	struct pidlock *lock;
	ssize_t n;

	write_stale(LOCK);
	n = read_file(test_path(LOCK), before, sizeof(before));
	assert_true(n > 0);
	assert_int_equal(lstat(test_path(LOCK), &st0), 0);
	acquire_fails(arm, 0, want, true, what);
	assert_int_equal(lstat(test_path(LOCK), &st1), 0);
	assert_true(st0.st_ino == st1.st_ino);
	assert_int_equal(read_file(test_path(LOCK), after, sizeof(after)), n);
	assert_memory_equal(before, after, (size_t)n);
	assert_false(locked(test_path(LOCK)));

	/* Nothing armed any more: the stale file is broken as usual. */
	mock_reset();
	mock_proc(dead_pid, false, 0, 0, ESRCH);
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	expect_released();
}

/*
 * Recovering a stale record writes ours over it in place (pidlock(5)); a
 * write that fails leaves no half-written record: the file is emptied,
 * keeps its inode, and is left unlocked, free to the next acquirer.
 */
static void recover_pwrite_enospc(void **state)
{
	struct stat st0, st1;

	(void)state;
	write_stale(LOCK);
	assert_int_equal(lstat(test_path(LOCK), &st0), 0);
	acquire_fails(arm_pwrite_enospc, 0, -ENOSPC, true, "recover: pwrite ENOSPC");
	assert_int_equal(lstat(test_path(LOCK), &st1), 0);
	assert_true(st0.st_ino == st1.st_ino);
	assert_int_equal(st1.st_size, 0);
	assert_false(locked(test_path(LOCK)));
	assert_int_equal(mock_calls(MOCK_RENAMEAT) + mock_calls(MOCK_RENAMEAT2) +
			 mock_calls(MOCK_LINKAT), 0);
}

/* flock itself failing on an existing file: an error, the file untouched. */
static void existing_flock_enolck(void **state)
{
	(void)state;
	break_fails(arm_flock_enolck, -ENOLCK, "existing file: flock ENOLCK");
}

/* --- the path changing under the acquirer ------------------------------------ */

static int swap_at;        /* the fstatat call (1 = the next) that swaps */
static int swap_base;
static bool swapped;

/* Renames a fresh stale record (command "swapped-in") over the path, once. */
static void swap_hook(void)
{
	if (mock_calls(MOCK_FSTATAT) != swap_base + swap_at)
		return;
	write_stale_comm("swap.new", "swapped-in");
	assert_int_equal(rename(test_path("swap.new"), test_path(LOCK)), 0);
	swapped = true;
}

/*
 * fstatat calls of an acquisition of an existing stale file: 1 stats the
 * name, 2 verifies after the lock (the record is then rewritten in place:
 * no further look at the name).  A swap before 2 must make the acquirer
 * start again and end up holding the inode the path names.
 */
static void swap_between_lock_and_verify(void **state)
{
	struct pidlock *lock;
	struct stat old, held;
	int fds, oldfd;

	(void)state;
	for (swap_at = 2; swap_at <= 2; swap_at++) {
		mock_reset();
		write_stale(LOCK);
		/* Kept open so that its inode number cannot be reused. */
		oldfd = open(test_path(LOCK), O_RDONLY | O_CLOEXEC);
		assert_true(oldfd >= 0);
		assert_int_equal(fstat(oldfd, &old), 0);
		fds = count_fds();
		assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
		swap_base = mock_calls(MOCK_FSTATAT);
		swapped = false;
		mock_hook(MOCK_FSTATAT, swap_hook);
		assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
		mock_hook(MOCK_FSTATAT, NULL);
		if (!swapped)
			fail_msg("swap at fstatat %d never happened", swap_at);
		/* It started again: more than the 2 calls of one round. */
		assert_true(mock_calls(MOCK_FSTATAT) - swap_base > 2);
		assert_true(same_file(pidlock_fd(lock), test_path(LOCK)));
		assert_int_equal(fstat(pidlock_fd(lock), &held), 0);
		assert_true(held.st_ino != old.st_ino);
		/* What it judged and broke was the file swapped in. */
		assert_int_equal(pidlock_recovered(lock), 1);
		assert_string_equal(pidlock_holder(lock)->record.comm, "swapped-in");
		expect_record(test_path(LOCK), getpid());
		assert_int_equal(pidlock_release(lock), 0);
		pidlock_free(lock);
		assert_int_equal(count_fds(), fds);
		close(oldfd);
		expect_released();
	}
}

/* --- release and update ------------------------------------------------------ */

/*
 * Someone renamed another file over ours: release must not remove it
 * (PIDLOCK_UNLINK: it says so), nor touch it (by default it empties only
 * the inode it holds).
 */
static void release_not_ours_flags(unsigned flags, int want)
{
	static const char other[] = "somebody else's\n";
	struct pidlock *lock;
	char buf[64];
	int fds = count_fds();

	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	assert_int_equal(pidlock_acquire(lock, flags, PIDLOCK_NO_WAIT), 0);
	write_file(test_path("other"), other, sizeof(other) - 1);
	assert_int_equal(rename(test_path("other"), test_path(LOCK)), 0);
	expect_result(pidlock_release(lock), want, "release of a replaced file");
	assert_int_equal(pidlock_fd(lock), -1);
	pidlock_free(lock);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(read_file(test_path(LOCK), buf, sizeof(buf)),
			 (ssize_t)sizeof(other) - 1);
	assert_string_equal(buf, other);
	assert_int_equal(unlink(test_path(LOCK)), 0);
	expect_dir(false);
}

static void release_not_ours(void **state)
{
	(void)state;
	release_not_ours_flags(PIDLOCK_UNLINK, -PIDLOCK_ENOTOURS);
	release_not_ours_flags(0, 0);
}

static int acquire_no_wait(void *arg)
{
	struct pidlock *lock;
	int r;

	(void)arg;
	mock_reset();
	if (pidlock_new(&lock, test_path(LOCK)) < 0)
		return 120;
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	pidlock_free(lock);
	return r == 0 ? 0 : -r < 100 ? -r : 121;
}

/* unlinkat failing (PIDLOCK_UNLINK): the error is returned, and the lock
 * is let go anyway. */
static void release_unlinkat_eio(void **state)
{
	struct pidlock *lock;
	int fds = count_fds(), status;

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_UNLINK, PIDLOCK_NO_WAIT), 0);
	mock_fail(MOCK_UNLINKAT, 1, EIO, 1);
	expect_result(pidlock_release(lock), -EIO, "release: unlinkat EIO");
	assert_int_equal(pidlock_fd(lock), -1);
	pidlock_free(lock);
	assert_int_equal(count_fds(), fds);
	assert_false(locked(test_path(LOCK)));
	status = reap(spawn(acquire_no_wait, NULL));
	if (status != 0)
		fail_msg("another process could not take the lock: %d", status);
}

/*
 * An existing empty file is taken in place (keep mode) and the record
 * written into it; when that write fails, the file stays, empty and
 * unlocked.
 */
static void keep_in_place_write_enospc(void **state)
{
	static const unsigned flags[] = { 0, PIDLOCK_KEEP };
	struct stat st;

	(void)state;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		mock_reset();
		write_file(test_path(LOCK), "", 0);
		acquire_fails(arm_pwrite_enospc, flags[i], -ENOSPC, true,
			      "in-place record write ENOSPC");
		assert_int_equal(mock_calls(MOCK_PWRITE), 1);
		assert_int_equal(lstat(test_path(LOCK), &st), 0);
		assert_int_equal(st.st_size, 0);
		assert_false(locked(test_path(LOCK)));
	}
}

/* A failed rewrite of the record does not let go of the lock. */
static void update_pwrite_fails(void **state)
{
	struct pidlock *lock;
	int fds = count_fds();

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	mock_fail(MOCK_PWRITE, 1, ENOSPC, 1);
	expect_result(pidlock_update(lock, getpid()), -ENOSPC,
		      "update: pwrite ENOSPC");
	assert_true(pidlock_fd(lock) >= 0);
	assert_true(same_file(pidlock_fd(lock), test_path(LOCK)));
	assert_true(locked(test_path(LOCK)));
	expect_record(test_path(LOCK), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	assert_int_equal(count_fds(), fds);
	expect_released();
}

/* --- a cleaner during a creation without O_TMPFILE ------------------------- */

/*
 * A named temporary file is unlocked between its openat
 * and its flock; a cleaner there (what lockclean runs: pidlock_clean_at)
 * may remove it.  The creator must start again rather than fail.
 */
static bool in_hook;
static int cleaned, judged;

/* Runs the cleaner on every temporary file, just before a flock(2). */
static void clean_temps_now(void)
{
	struct pidlock_info info;
	struct dirent *e;
	DIR *d;

	if (in_hook || judged > 0) /* once: the retry is left alone */
		return;
	in_hook = true;
	d = opendir(test_dir);
	while (d && (e = readdir(d)))
		if (pidlock_is_temp_name(e->d_name)) {
			judged++;
			if (pidlock_clean_at(dirfd(d), e->d_name, NULL, NULL, &info) == 1)
				cleaned++;
		}
	if (d)
		closedir(d);
	in_hook = false;
}

/* The name carries a complete record naming us; no temporary is left. */
static void expect_created(void)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	struct dirent *e;
	ssize_t n = read_file(test_path(LOCK), buf, sizeof(buf));
	DIR *d;

	assert_true(n > 0);
	assert_int_equal(pidlock_record_parse(buf, (size_t)n, &rec, NULL), 0);
	assert_int_equal(rec.pid, getpid());
	d = opendir(test_dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (pidlock_is_temp_name(e->d_name))
			fail_msg("temporary file left: %s", e->d_name);
	closedir(d);
}

/* A cleaner between the creator's openat and its flock. */
static void cleaner_between_create_and_lock(void **state)
{
	struct pidlock *lock;
	int r;

	(void)state;
	cleaned = judged = 0;
	mock_no_tmpfile(true);
	mock_hook(MOCK_FLOCK, clean_temps_now);
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	mock_hook(MOCK_FLOCK, NULL);
	mock_no_tmpfile(false);
	if (r != 0)
		fail_msg("creation failed with %s after the cleaner judged %d "
			 "and removed %d temporary files", pidlock_strerror(r),
			 judged, cleaned);
	assert_true(judged >= 1);
	/* the creator (we) is alive: its temporary file is not abandoned */
	assert_int_equal(cleaned, 0);
	expect_created();
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
}

/* A cleaner that cannot see the creator (another PID namespace) just
 * removes the temporary file: the creation starts again, and succeeds. */
static void remove_temps_now(void)
{
	struct dirent *e;
	DIR *d;

	if (judged > 0)
		return;
	d = opendir(test_dir);
	while (d && (e = readdir(d)))
		if (pidlock_is_temp_name(e->d_name)) {
			judged++;
			if (unlinkat(dirfd(d), e->d_name, 0) == 0)
				cleaned++;
		}
	if (d)
		closedir(d);
}

static void creation_retries_when_its_temp_is_removed(void **state)
{
	struct pidlock *lock;

	(void)state;
	cleaned = judged = 0;
	mock_no_tmpfile(true);
	mock_hook(MOCK_FLOCK, remove_temps_now);
	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	mock_hook(MOCK_FLOCK, NULL);
	mock_no_tmpfile(false);
	assert_int_equal(cleaned, 1);
	expect_created();
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_reset, test_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(create_write_enospc),
		T(create_short_writes),
		T(create_tmpfile_erofs_eacces),
		T(create_named_temp_cleaned_up),
		T(create_linkat_eexist_forever),
		T(create_linkat_enospc),
		T(create_fchmod_eperm),
		T(create_flock_enolck),
		T(fstatat_eacces),
		T(recover_pwrite_enospc),
		T(existing_flock_enolck),
		T(swap_between_lock_and_verify),
		T(release_not_ours),
		T(release_unlinkat_eio),
		T(keep_in_place_write_enospc),
		T(update_pwrite_fails),
		T(cleaner_between_create_and_lock),
		T(creation_retries_when_its_temp_is_removed),
	};

	return cmocka_run_group_tests_name("faults", tests, group_setup,
					   test_dir_teardown);
}
