/* SPDX-License-Identifier: MIT */
/*
 * Creating an inode that appears complete and locked: a lock file comes
 * into being under a temporary name, with its mode, its lock and its
 * record, and only then takes the lock's name (pidlock(5) "Acquire").  A
 * waiter readies an unnamed spare inode the same way before it sleeps.
 *
 * These helpers know nothing of the handle: they take the directory, the
 * mode, how to lock and what record to write, and hand back descriptors.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Tries at a fresh random name before giving up (EEXIST, EBUSY). */
#define NAME_TRIES 16

static void random_name(char *buf, size_t size)
{
	uint64_t rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = ((uint64_t)pidlock__self_pid() << 32) ^ (uint64_t)clock();
	/* The creator's PID in the name lets a cleaner prove a leftover
	 * abandoned (clean.c) before it removes it. */
	snprintf(buf, size, PIDLOCK_TMP_PREFIX "%d.%016llx", (int)pidlock__self_pid(),
		 (unsigned long long)rnd);
}

/*
 * Fills a freshly created, unpublished inode: mode, lock, content.  With a
 * record, the lock is taken through a read-only descriptor, *lockfd (-1:
 * through fd itself, where there is no /proc to reopen it).
 */
static int prepare_fd(const struct pidlock__make *make, int fd, int *lockfd)
{
	int r;

	*lockfd = -1;
	if (fchmod(fd, make->mode) < 0)
		return -errno;
	if (make->record)
		*lockfd = pidlock__reopen(fd, O_RDONLY);
	if (*lockfd < 0)
		*lockfd = -1; /* no /proc: locked through fd itself */
	r = pidlock__lock_try(*lockfd >= 0 ? *lockfd : fd, make->how);
	if (r == 0 && make->record &&
	    (r = pidlock__record_write(fd, make->record)) > 0)
		r = 0;
	if (r < 0 && *lockfd >= 0) {
		close(*lockfd);
		*lockfd = -1;
	}
	return r;
}

/*
 * A named temporary file in the lock's directory, published later by
 * renameat2(RENAME_NOREPLACE): the holder's descriptor then names the real
 * path in /proc/PID/fd and lslocks(8).  (An O_TMPFILE inode published by
 * linkat keeps the name "/dir/#12345 (deleted)" for good; it is used only
 * for a waiter's spare inode, see pidlock__spare_ready().)  A creation
 * happens once in a lock file's life, so the extra name costs little; its
 * leftover after a crash is what lockclean removes.  *tmp is the name.
 */
static int create_temp(int dirfd, char *tmp, size_t tmpsize)
{
	int fd;

	for (int i = 0; i < NAME_TRIES; i++) {
		random_name(tmp, tmpsize);
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW |
					       O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	tmp[0] = '\0';
	return -EEXIST;
}

/*
 * A named temporary file exists unlocked between its openat and its flock:
 * a cleaner may lock it first (our flock then says busy) and remove it as
 * a leftover.  So once locked, the name must still carry it; if not, the
 * creation starts again with a new name rather than fail.
 */
static bool temp_lost(int dirfd, const char *tmp, int fd, int r)
{
	struct stat mine, named;

	if (r == -EWOULDBLOCK)
		return true;
	return r == 0 && (fstat(fd, &mine) < 0 ||
			  fstatat(dirfd, tmp, &named, AT_SYMLINK_NOFOLLOW) < 0 ||
			  !pidlock__same_inode(&mine, &named));
}

int pidlock__create_locked(int dirfd, const struct pidlock__make *make,
			   char *tmp, size_t tmpsize, int *lockfd)
{
	for (int i = 0; i < NAME_TRIES; i++) {
		int fd = create_temp(dirfd, tmp, tmpsize);
		int r;

		if (fd < 0)
			return fd;
		r = prepare_fd(make, fd, lockfd);
		if (temp_lost(dirfd, tmp, *lockfd >= 0 ? *lockfd : fd, r)) {
			if (*lockfd >= 0)
				close(*lockfd);
			*lockfd = -1;
			close(fd); /* the cleaner's to remove, or gone already */
			continue;
		}
		if (r < 0) {
			unlinkat(dirfd, tmp, 0);
			close(fd);
			return r;
		}
		return fd;
	}
	return -EBUSY;
}

/* Gives an unnamed inode a name; never replaces an existing one. */
static int link_fd(int fd, int dirfd, const char *name)
{
	char proc[32];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT || access("/proc/self/fd", F_OK) == 0)
		return -errno;
	/* No /proc: this needs CAP_DAC_READ_SEARCH. */
	return linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0 ? 0 : -errno;
}

/* Moves a named temporary file to name; never replaces an existing one. */
static int rename_noreplace(int dirfd, const char *tmp, const char *name)
{
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* NFS and friends: link fails if name exists; then drop tmp. */
	if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
		return -errno;
	unlinkat(dirfd, tmp, 0);
	return 0;
}

static int publish(int fd, int dirfd, const char *tmp, const char *name)
{
	return tmp[0] ? rename_noreplace(dirfd, tmp, name)
		      : link_fd(fd, dirfd, name);
}

/* The spare inode, now with a record written at the moment it is used. */
static int spare_use(struct pidlock__inode *spare,
		     const struct pidlock__record_spec *record, char *tmp,
		     int *lockfd)
{
	int fd = spare->fd, r;

	*lockfd = spare->lockfd;
	spare->fd = spare->lockfd = -1;
	tmp[0] = '\0';
	r = pidlock__record_write(fd, record);
	if (r < 0) {
		if (*lockfd >= 0)
			close(*lockfd);
		close(fd);
		return r;
	}
	return fd;
}

/*
 * Creates name in dirfd, complete and locked, from the waiter's spare
 * inode when there is one (its identity then comes along in made).
 * Returns 0 with the descriptors in made, 1 when another creator took
 * the name first, or -errno.
 */
int pidlock__create_named(int dirfd, const char *name,
			  const struct pidlock__make *make,
			  struct pidlock__inode *spare, struct pidlock__inode *made)
{
	char tmp[64];
	bool from_spare = spare->fd >= 0;
	int fd, r, lockfd;

	fd = from_spare ? spare_use(spare, make->record, tmp, &lockfd)
			: pidlock__create_locked(dirfd, make, tmp, sizeof(tmp),
						 &lockfd);
	if (fd < 0)
		return fd;
	r = publish(fd, dirfd, tmp, name);
	if (r < 0) {
		if (tmp[0])
			unlinkat(dirfd, tmp, 0);
		if (lockfd >= 0)
			close(lockfd);
		close(fd);
		return r == -EEXIST ? 1 : r;
	}
	*made = (struct pidlock__inode){ fd, lockfd, spare->dev, spare->ino };
	return 0;
}

/*
 * Before a waiter sleeps, it readies the inode it will publish: unnamed
 * (O_TMPFILE), with its mode, locked, its identity known.  A holder's
 * release unlinks the file, so the woken waiter then only writes its
 * record and links the inode, instead of creating one while the lock is
 * idle.  Best effort: without O_TMPFILE the waiter creates after waking,
 * as always.
 */
void pidlock__spare_ready(int dirfd, mode_t mode, const struct pidlock__how *how,
			  struct pidlock__inode *spare)
{
	struct stat st;
	int fd, lockfd = -1;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (fchmod(fd, mode) < 0 || fstat(fd, &st) < 0 ||
	    (lockfd = pidlock__reopen(fd, O_RDONLY)) < 0 ||
	    pidlock__lock_try(lockfd, how) < 0) {
		if (lockfd >= 0)
			close(lockfd);
		close(fd);
		return;
	}
	spare->fd = fd;
	spare->lockfd = lockfd;
	spare->dev = st.st_dev;
	spare->ino = st.st_ino;
}

void pidlock__spare_drop(struct pidlock__inode *spare)
{
	if (spare->fd >= 0)
		close(spare->fd);
	if (spare->lockfd >= 0)
		close(spare->lockfd);
	spare->fd = spare->lockfd = -1;
}
