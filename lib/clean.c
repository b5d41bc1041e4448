/* SPDX-License-Identifier: MIT */
/*
 * Cleaning: removing a stale lock file without ever removing a live one.
 *
 * A cleaner follows the same invariant as acquirers (lock.c): it changes
 * the name only while holding the lock of the inode the name carries.  So
 * it takes the lock without waiting (busy means live), judges the content
 * under the lock, re-checks that the name still carries that inode, and
 * unlinks relative to the directory descriptor while still holding it.
 * A judge-only run (a dry run) takes no lock but applies the same rules.
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
			    struct pidlock_info *info)
{
	struct pidlock__file_content c;
	int r = pidlock__content_read(fd, false, &c);

	if (r < 0)
		return r;
	pidlock__content_judge(&c, st, info);
	if (pidlock_is_temp_name(name))
		judge_temp(name, info);
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

/* No PID (empty, or another program's content) or a record with keep=1:
 * the file is kept for good (its content says so, or flock(1) uses it). */
static bool kept_file(const char *name, const struct pidlock_info *info)
{
	return !pidlock_is_temp_name(name) &&
	       (info->type == PIDLOCK_TYPE_FLOCK ||
		(info->has_record && info->record.keep));
}

/*
 * The removal rules, after the judgement: the same for a real run and a
 * judge-only one, so that the two cannot disagree.  place is what
 * pidlock__check_place() said without a record (0 when the judgement
 * already weighed the record).  1: remove; 0: keep, info->reason says why.
 */
static int removal_verdict(const struct stat *dir, const struct stat *st,
			   int place, const char *name,
			   int (*decide)(const struct pidlock_info *, void *),
			   void *arg, struct pidlock_info *info)
{
	/* An owner outside root and us is trusted only for its own record. */
	if (place == -PIDLOCK_EOWNER &&
	    pidlock__check_place(dir, st, info->has_record ? &info->record : NULL,
				 info) < 0)
		return keep(info, NULL);
	if (kept_file(name, info))
		return keep(info, "kept lock file (no PID or keep=1); left in place");
	return (decide ? decide : default_decide)(info, arg) ? 1 : 0;
}

PIDLOCK_PUBLIC
int pidlock_clean_at(int dirfd, const char *name,
		     int (*decide)(const struct pidlock_info *info, void *arg),
		     void *arg, struct pidlock_info *info)
{
	struct pidlock__how how = { 0 }; /* flock(2), exclusive, whole file */
	struct stat st, dir;
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
	r = judge_under_lock(fd, &st, name, info);
	if (r == 0)
		r = removal_verdict(&dir, &st, place, name, decide, arg, info);
	if (r == 1)
		r = unlink_locked(dirfd, name, fd);
	close(fd);
	return r;
}

/*
 * pidlock_clean_at() without the lock and without the unlink: the file is
 * judged by inspection (the kernel's lock table says whether it is held),
 * then by the very same rules.  A file inspection cannot judge
 * (PIDLOCK_STATE_UNKNOWN, or UNSAFE) is kept.
 */
PIDLOCK_PUBLIC
int pidlock_clean_judgeat(int dirfd, const char *name,
			  const struct pidlock_snapshot *snap,
			  int (*decide)(const struct pidlock_info *info, void *arg),
			  void *arg, struct pidlock_info *info)
{
	int r;

	if (!name || !info)
		return -EINVAL;
	r = pidlock_inspectat(dirfd, name, snap, info);
	if (r < 0)
		return r;
	switch (info->state) {
	case PIDLOCK_STATE_NONE:
		return -ENOENT;
	case PIDLOCK_STATE_UNSAFE:
	case PIDLOCK_STATE_UNKNOWN:
	case PIDLOCK_STATE_LIVE: /* held: a real run's lock would be busy */
	case PIDLOCK_STATE_LIVE_INHERITED:
		return keep(info, NULL);
	default:
		break;
	}
	if (pidlock_is_temp_name(name))
		judge_temp(name, info);
	return removal_verdict(NULL, NULL, 0, name, decide, arg, info);
}
