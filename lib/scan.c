/* SPDX-License-Identifier: MIT */
/*
 * A scan of a lock directory (lockstat DIR): every lock file judged as of
 * one moment, with one snapshot of the kernel's locks and one look at the
 * directory itself.  Its place checks (a world-writable directory without
 * the sticky bit; who owns it) and its filesystem are the same for every
 * file in it: one fstat for the scan, not one per file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Entries that are not lock files: dot files (the directory itself, its
 * parent, temporary files of creations) and subdirectories. */
static bool skipped(const struct dirent *d)
{
	return d->d_name[0] == '.' || d->d_type == DT_DIR;
}

static int scan(DIR *dp, const struct stat *dir,
		const struct pidlock_snapshot *snap, struct pidlock_info *info,
		pidlock_scan_fn *fn, void *arg)
{
	struct dirent *d;
	int r = 0;

	errno = 0;
	while (r == 0 && (d = readdir(dp)) != NULL) {
		if (skipped(d))
			continue;
		pidlock__inspect_in(dirfd(dp), dir, d->d_name, snap, info);
		if (info->state != PIDLOCK_STATE_NONE) /* not gone meanwhile */
			r = fn(d->d_name, info, arg);
		errno = 0;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	return r;
}

PIDLOCK_PUBLIC
int pidlock_inspect_dir(const char *path, const struct pidlock_snapshot *snap,
			pidlock_scan_fn *fn, void *arg)
{
	struct pidlock_snapshot *own = NULL;
	struct pidlock_info *info;
	struct stat dir;
	DIR *dp;
	int fd, r;

	if (!path || !fn)
		return -EINVAL;
	if (!(info = malloc(sizeof(*info))))
		return -ENOMEM;
	/* The snapshot first: its descriptor is closed before the
	 * directory's is opened (a scan needs one at a time). */
	if (!snap && pidlock_snapshot_new(&own) == 0)
		snap = own;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &dir) < 0 || !(dp = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
	} else {
		r = scan(dp, &dir, snap, info, fn, arg);
		closedir(dp);
	}
	pidlock_snapshot_free(own);
	free(info);
	return r;
}
