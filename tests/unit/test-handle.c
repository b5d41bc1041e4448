/* SPDX-License-Identifier: MIT */
/*
 * Handles other than a path with the defaults: pidlock_new_fd() (lock a
 * descriptor the caller owns, flock(1)'s "flock 9" form) and
 * pidlock_set_range() (OFD locks on a byte range).  What the kernel holds
 * is checked from the outside, through other open file descriptions of
 * the same file: flock(2) and OFD locks conflict between descriptions
 * even within one process.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static int open_rw(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	return fd;
}

/* Is path flock(2)ed by another open file description? */
static bool flocked(const char *path)
{
	int fd = open_rw(path);
	bool busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;

	close(fd);
	return busy;
}

/* Is byte at of path write-locked (OFD) by another open file description? */
static bool ofd_locked(const char *path, off_t at)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = at, .l_len = 1 };
	int fd = open_rw(path);

	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

static void expect_content(const char *path, const char *text)
{
	char buf[256];

	assert_int_equal(read_file(path, buf, sizeof(buf)), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

/* --- pidlock_new_fd ------------------------------------------------------ */

static void new_fd_rejects_bad_descriptors(void **state)
{
	struct pidlock *lock = NULL;
	int fd = open_rw(test_path("closed"));

	(void)state;
	close(fd);
	assert_int_equal(pidlock_new_fd(&lock, -1), -EBADF);
	assert_int_equal(pidlock_new_fd(&lock, fd), -EBADF);
	assert_int_equal(pidlock_new_fd(NULL, 0), -EBADF);
	assert_null(lock);
}

/* The descriptor is locked as it is: no record, nothing unlinked, and it
 * stays open and the caller's after the release and the free. */
static void new_fd_locks_the_callers_descriptor(void **state)
{
	const char *path = test_path("fd.lock");
	struct pidlock *lock;
	char want[32];
	int fd = open_rw(path);

	(void)state;
	write_file(path, "hello\n", 6);
	assert_int_equal(pidlock_new_fd(&lock, fd), 0);
	snprintf(want, sizeof(want), "/proc/self/fd/%d", fd);
	assert_string_equal(pidlock_path(lock), want);
	assert_int_equal(pidlock_fd(lock), -1);
	assert_false(flocked(path));

	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_fd(lock), fd);
	assert_true(flocked(path));
	expect_content(path, "hello\n");

	assert_int_equal(pidlock_release(lock), 0);
	assert_false(flocked(path));
	expect_content(path, "hello\n");
	pidlock_free(lock);
	assert_true(fcntl(fd, F_GETFD) >= 0); /* still open */
	close(fd);
}

static void new_fd_busy_when_held_elsewhere(void **state)
{
	const char *path = test_path("busy.lock");
	struct pidlock *lock;
	int fd = open_rw(path), other = open_rw(path);

	(void)state;
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(pidlock_new_fd(&lock, fd), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), -EWOULDBLOCK);
	assert_int_equal(pidlock_fd(lock), -1);
	close(other);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	pidlock_free(lock);
	assert_false(flocked(path));
	close(fd);
}

/* --- pidlock_set_range --------------------------------------------------- */

static void set_range_rejects_negative_values(void **state)
{
	struct pidlock *lock;

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path("r.lock")), 0);
	assert_int_equal(pidlock_set_range(lock, -1, 1), -EINVAL);
	assert_int_equal(pidlock_set_range(lock, 0, -1), -EINVAL);
	assert_int_equal(pidlock_set_range(lock, 0, 0), 0);
	pidlock_free(lock);
}

/* Only the range is locked, with an OFD lock and no flock(2); a disjoint
 * range is free for another handle, an overlapping one is not (in the
 * same thread: -EDEADLK, as for whole files). */
static void set_range_locks_only_its_bytes(void **state)
{
	const char *path = test_path("range.lock");
	struct pidlock *a, *b, *c;

	(void)state;
	assert_int_equal(pidlock_new(&a, path), 0);
	assert_int_equal(pidlock_set_range(a, 0, 1), 0);
	assert_int_equal(pidlock_acquire(a, 0, PIDLOCK_NO_WAIT), 0);
	assert_true(ofd_locked(path, 0));
	assert_false(ofd_locked(path, 1));
	assert_false(flocked(path));

	assert_int_equal(pidlock_new(&b, path), 0);
	assert_int_equal(pidlock_set_range(b, 1, 1), 0);
	assert_int_equal(pidlock_acquire(b, 0, PIDLOCK_NO_WAIT), 0);
	assert_true(ofd_locked(path, 1));

	assert_int_equal(pidlock_new(&c, path), 0);
	assert_int_equal(pidlock_set_range(c, 0, 2), 0);
	assert_int_equal(pidlock_acquire(c, 0, PIDLOCK_NO_WAIT), -EDEADLK);

	assert_int_equal(pidlock_release(a), 0);
	assert_false(ofd_locked(path, 0));
	pidlock_free(b);
	pidlock_free(a);
	assert_int_equal(pidlock_acquire(c, 0, PIDLOCK_NO_WAIT), 0);
	pidlock_free(c);
	assert_false(ofd_locked(path, 0));
}

/* A length of 0 runs to the end of the file, however far it grows. */
static void set_range_len_zero_runs_to_the_end(void **state)
{
	const char *path = test_path("tail.lock");
	struct pidlock *lock;

	(void)state;
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_set_range(lock, 5, 0), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_false(ofd_locked(path, 4));
	assert_true(ofd_locked(path, 5));
	assert_true(ofd_locked(path, (off_t)1 << 40));
	pidlock_free(lock);
	assert_false(ofd_locked(path, 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(new_fd_rejects_bad_descriptors, test_cleanup),
		cmocka_unit_test_teardown(new_fd_locks_the_callers_descriptor, test_cleanup),
		cmocka_unit_test_teardown(new_fd_busy_when_held_elsewhere, test_cleanup),
		cmocka_unit_test_teardown(set_range_rejects_negative_values, test_cleanup),
		cmocka_unit_test_teardown(set_range_locks_only_its_bytes, test_cleanup),
		cmocka_unit_test_teardown(set_range_len_zero_runs_to_the_end, test_cleanup),
	};

	return cmocka_run_group_tests_name("handle", tests, test_dir_setup,
					   test_dir_teardown);
}
