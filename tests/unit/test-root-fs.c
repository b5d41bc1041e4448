/* SPDX-License-Identifier: MIT */
/*
 * Tests that need root: filesystems that are full (blocks, inodes),
 * read-only, or not writable for the caller.  Every mount happens in a
 * child with its own private mount namespace, so nothing outlives a
 * failed test.  Children never assert: each check has its own exit code
 * (FAILURES in root.h), which the test asserts on.
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
		cmocka_unit_test(full_filesystem_blocks),
		cmocka_unit_test(full_filesystem_inodes),
		cmocka_unit_test(readonly_bind_mount),
		cmocka_unit_test(directory_not_writable),
	};

	return cmocka_run_group_tests_name("root-fs", tests, test_dir_setup,
					   test_dir_teardown);
}
