/* SPDX-License-Identifier: MIT */
/*
 * Cleaning: removing a stale lock file without ever removing a live one.
 *
 * A cleaner follows the same invariant as acquirers (lock.c): it changes
 * the name only while holding the lock of the inode the name carries.  So
 * it takes the lock without waiting (busy means live), judges the content
 * under the lock, re-checks that the name still carries that inode, and
 * unlinks relative to the directory descriptor while still holding it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "internal.h"

PIDLOCK_PUBLIC
int pidlock_is_temp_name(const char *name)
{
	return strncmp(name, PIDLOCK_TMP_PREFIX, strlen(PIDLOCK_TMP_PREFIX)) == 0;
}

/* Kept: the reason is why (NULL: the one judging already gave). */
static int keep(struct pidlock_info *info, const char *why)
{
	if (why)
		snprintf(info->reason, sizeof(info->reason), "%s", why);
	return 0;
}

/*
 * A temporary file is unlocked for a moment after its creator made it
 * and before it locked it (without O_TMPFILE nothing can be locked
 * before it has a name).  So an unlocked one is removed only when the
 * creator its name carries is gone; a name without a creator's PID
 * (older versions) counts as abandoned.  A creator in another PID
 * namespace cannot be seen: if its file is removed, it starts again.
 */
static pid_t temp_creator(const char *name)
{
	const char *s = name + strlen(PIDLOCK_TMP_PREFIX), *dot = strchr(s, '.');
	pid_t pid;

	if (!dot || pidlock__parse_pid(s, (size_t)(dot - s), &pid) < 0)
		return 0;
	return pid;
}

static void judge_temp(const char *name, struct pidlock_info *info)
{
	struct pidlock__proc proc;
	pid_t creator = temp_creator(name);

	if (creator > 0 && pidlock__proc_read(creator, &proc) == 0 &&
	    proc.exists && !proc.zombie) {
		info->state = PIDLOCK_STATE_LIVE;
		snprintf(info->reason, sizeof(info->reason),
			 "a creation in progress (creator %d is alive)",
			 (int)creator);
		return;
	}
	info->state = PIDLOCK_STATE_STALE;
	snprintf(info->reason, sizeof(info->reason),
		 "leftover of an interrupted creation");
}

static int judge_under_lock(int fd, const struct stat *st, const char *name,
			    struct pidlock_info *info, bool *kept_file)
{
	bool temp = pidlock_is_temp_name(name);
	struct pidlock__file_content c;
	int r = pidlock__content_read(fd, false, &c);

	if (r < 0)
		return r;
	pidlock__content_judge(&c, st, info);
	if (temp)
		judge_temp(name, info);
	*kept_file = !temp && (c.kind == CONTENT_EMPTY || c.kind == CONTENT_OTHER ||
			       (c.kind == CONTENT_RECORD && c.rec.keep));
	return 0;
}

/* Still ours, still linked once, still at the name: then unlink it. */
static int unlink_locked(int dirfd, const char *name, int fd)
{
	struct stat mine, named;

	if (fstat(fd, &mine) < 0 ||
	    fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (mine.st_dev != named.st_dev || mine.st_ino != named.st_ino ||
	    mine.st_nlink != 1)
		return -PIDLOCK_ENOTOURS;
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 1;
}

static int default_decide(const struct pidlock_info *info, void *arg)
{
	(void)arg;
	return info->state == PIDLOCK_STATE_STALE ||
	       info->state == PIDLOCK_STATE_REUSED;
}

PIDLOCK_PUBLIC
int pidlock_clean_at(int dirfd, const char *name,
		     int (*decide)(const struct pidlock_info *info, void *arg),
		     void *arg, struct pidlock_info *info)
{
	struct pidlock__how how = { false, false, 0, 0 };
	struct stat st, dir;
	bool kept_file = false;
	int fd, r, place;

	if (!name || !info)
		return -EINVAL;
	pidlock__info_reset(info);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	pidlock__info_from_stat(info, &st);
	if (fstat(dirfd, &dir) < 0)
		return -errno;
	place = pidlock__check_place(&dir, &st, NULL, info);
	if (place < 0 && place != -PIDLOCK_EOWNER)
		return keep(info, NULL);
	fd = pidlock__open_same(dirfd, name, O_RDONLY, &st);
	if (fd < 0)
		return fd;
	r = pidlock__lock_try(fd, &how);
	if (r < 0) {
		close(fd);
		if (r != -EWOULDBLOCK)
			return r;
		/* Who holds it is not asked: that means reading /proc/locks,
		 * once per live file (quadratic over a directory of live
		 * locks) and stalling every locker while it is read. */
		info->state = PIDLOCK_STATE_LIVE;
		return keep(info, "locked");
	}
	r = judge_under_lock(fd, &st, name, info, &kept_file);
	/* An owner outside root and us is trusted only for its own record. */
	if (r == 0 && place == -PIDLOCK_EOWNER &&
	    pidlock__check_place(&dir, &st, info->has_record ? &info->record : NULL,
				 info) < 0)
		r = keep(info, NULL);
	else if (r == 0 && kept_file)
		r = keep(info, "kept lock file (no PID or keep=1); left in place");
	else if (r == 0 && !(decide ? decide : default_decide)(info, arg))
		r = 0;
	else if (r == 0)
		r = unlink_locked(dirfd, name, fd);
	close(fd);
	return r;
}
