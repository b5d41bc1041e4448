/* SPDX-License-Identifier: MIT */
/*
 * pidlock_clean_at() on the basic cases, with real processes: a killed
 * holder's file is removed, a live holder's is not (and it keeps its
 * lock), kept files and plain pidfiles of live processes stay, the
 * decide callback has the last word, a symlink is never followed, and a
 * name swapped under the cleaner is PIDLOCK_ENOTOURS, never an errno.
 *
 * Every hostile file through every tool is test-matrix's catalogue and
 * tests/tools/test-lockclean.sh; this is the library call itself.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static int dirfd_open(void)
{
	int fd = open(test_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* pidlock_clean_at(test_dir, name) with decide and arg. */
static int clean(const char *name,
		 int (*decide)(const struct pidlock_info *info, void *arg),
		 void *arg, struct pidlock_info *info)
{
	int dirfd = dirfd_open(), r;

	r = pidlock_clean_at(dirfd, name, decide, arg, info);
	close(dirfd);
	return r;
}

/* A stale file whose record says it may be removed (keep=0). */
static pid_t make_removable(const char *name)
{
	return make_stale_flags(test_path(name), PIDLOCK_UNLINK);
}

static void stale_file_is_removed(void **state)
{
	struct pidlock_info info;
	pid_t dead;

	(void)state;
	dead = make_removable("stale.lock");
	assert_int_equal(clean("stale.lock", NULL, NULL, &info), 1);
	assert_false(exists(test_path("stale.lock")));
	assert_int_equal(info.state, PIDLOCK_STATE_STALE);
	assert_int_equal(info.pid, dead);
	assert_no_temp_files();
}

static void live_file_is_kept_and_still_held(void **state)
{
	const char *path = test_path("live.lock");
	struct pidlock_info info;
	struct holder h;

	(void)state;
	holder_start(&h, path, PIDLOCK_UNLINK);
	assert_int_equal(clean("live.lock", NULL, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_true(info.reason[0] != '\0');
	assert_int_equal(file_line1_pid(path), h.pid);
	holder_stop(&h); /* its release finds its own file: 0 */
	assert_false(exists(path));
}

/* keep=1 (the default) and an empty flock(1) file are left in place. */
static void kept_files_stay(void **state)
{
	struct pidlock_info info;

	(void)state;
	make_stale(test_path("kept.lock"));
	assert_int_equal(clean("kept.lock", NULL, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_STALE);
	assert_non_null(strstr(info.reason, "kept"));
	assert_true(exists(test_path("kept.lock")));

	write_file(test_path("empty.lock"), "", 0);
	assert_int_equal(clean("empty.lock", NULL, NULL, &info), 0);
	assert_true(exists(test_path("empty.lock")));
}

static void plain_pidfile_of_live_process_stays(void **state)
{
	struct pidlock_info info;
	char text[32];
	pid_t live = pauser();

	(void)state;
	snprintf(text, sizeof(text), "%d\n", (int)live);
	write_file(test_path("plain.pid"), text, strlen(text));
	assert_int_equal(clean("plain.pid", NULL, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_FOREIGN);
	assert_true(exists(test_path("plain.pid")));
	pauser_end(live);
}

struct verdict {
	int answer;    /* what decide returns */
	int calls;
	enum pidlock_state seen;
};

static int decide(const struct pidlock_info *info, void *arg)
{
	struct verdict *v = arg;

	v->calls++;
	v->seen = info->state;
	return v->answer;
}

/* decide is asked with the judged state and arg, and its no keeps the
 * file; its yes removes it. */
static void decide_has_the_last_word(void **state)
{
	struct verdict no = { 0, 0, PIDLOCK_STATE_NONE };
	struct verdict yes = { 1, 0, PIDLOCK_STATE_NONE };
	struct pidlock_info info;

	(void)state;
	make_removable("d.lock");
	assert_int_equal(clean("d.lock", decide, &no, &info), 0);
	assert_int_equal(no.calls, 1);
	assert_int_equal(no.seen, PIDLOCK_STATE_STALE);
	assert_true(exists(test_path("d.lock")));

	assert_int_equal(clean("d.lock", decide, &yes, &info), 1);
	assert_int_equal(yes.calls, 1);
	assert_false(exists(test_path("d.lock")));
}

/* A symlink to a stale file: neither the link nor its target goes. */
static void symlink_is_not_followed(void **state)
{
	struct verdict yes = { 1, 0, PIDLOCK_STATE_NONE };
	struct pidlock_info info;

	(void)state;
	make_removable("target.lock");
	assert_int_equal(symlink("target.lock", test_path("link.lock")), 0);
	assert_int_equal(clean("link.lock", decide, &yes, &info), 0);
	assert_int_equal(yes.calls, 0);
	assert_int_equal(info.state, PIDLOCK_STATE_UNSAFE);
	assert_true(exists(test_path("link.lock")));
	assert_true(exists(test_path("target.lock")));
}

static void missing_file_and_bad_arguments(void **state)
{
	struct pidlock_info info;
	int dirfd = dirfd_open();

	(void)state;
	assert_int_equal(pidlock_clean_at(dirfd, "none.lock", NULL, NULL, &info),
			 -ENOENT);
	assert_int_equal(pidlock_clean_at(dirfd, NULL, NULL, NULL, &info), -EINVAL);
	assert_int_equal(pidlock_clean_at(dirfd, "x.lock", NULL, NULL, NULL), -EINVAL);
	close(dirfd);
}

/* Before the cleaner opens the name it judged, another file takes it. */
static bool swap_armed;

static void swap_name(void)
{
	char tmp[PATH_MAX];

	if (!swap_armed)
		return;
	swap_armed = false;
	snprintf(tmp, sizeof(tmp), "%s.new", test_path("swap.lock"));
	close(open(tmp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	if (rename(tmp, test_path("swap.lock")) < 0)
		abort();
}

static void swapped_name_is_not_ours(void **state)
{
	struct pidlock_info info;
	struct stat st;

	(void)state;
	make_removable("swap.lock");
	swap_armed = true;
	mock_hook(MOCK_OPENAT, swap_name);
	assert_int_equal(clean("swap.lock", NULL, NULL, &info), -PIDLOCK_ENOTOURS);
	mock_hook(MOCK_OPENAT, NULL);
	assert_false(swap_armed);
	/* the file swapped in is left alone */
	assert_int_equal(stat(test_path("swap.lock"), &st), 0);
	assert_int_equal(st.st_size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(stale_file_is_removed, test_cleanup),
		cmocka_unit_test_teardown(live_file_is_kept_and_still_held, test_cleanup),
		cmocka_unit_test_teardown(kept_files_stay, test_cleanup),
		cmocka_unit_test_teardown(plain_pidfile_of_live_process_stays, test_cleanup),
		cmocka_unit_test_teardown(decide_has_the_last_word, test_cleanup),
		cmocka_unit_test_teardown(symlink_is_not_followed, test_cleanup),
		cmocka_unit_test_teardown(missing_file_and_bad_arguments, test_cleanup),
		cmocka_unit_test_teardown(swapped_name_is_not_ours, test_cleanup),
	};

	return cmocka_run_group_tests_name("clean", tests, test_dir_setup,
					   test_dir_teardown);
}
