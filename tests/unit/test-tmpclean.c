/* SPDX-License-Identifier: MIT */
/*
 * Issue 20 item 14: without O_TMPFILE (NFS; here mock_no_tmpfile makes it
 * fail with EOPNOTSUPP) a creator prepares its file under a temporary name
 * ".pidlock-tmp.*" and locks it right after creating it.  A cleaner that
 * runs in between -- what lockclean runs is pidlock_clean_at() -- must not
 * not make the creation fail: the creator verifies, once it holds its
 * temporary file's lock, that the name still carries it, and otherwise
 * starts again with a new name.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define LOCK "c.lock"

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
	print_message("the cleaner removed %d temporary file(s) of the creation; "
		      "it started again\n", cleaned);
	expect_created();
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
}

static int test_reset(void **state)
{
	(void)state;
	mock_reset();
	return test_dir_empty();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cleaner_between_create_and_lock,
						test_reset, test_reset),
	};

	return cmocka_run_group_tests_name("tmpclean", tests, test_dir_setup,
					   test_dir_teardown);
}
