/* SPDX-License-Identifier: MIT */
/*
 * Paths and names.  A lock is acted on through its directory's descriptor
 * and its last component, so that every step after opening the directory
 * is immune to a swapped path component.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int pidlock__split_path(const char *path, char **dir, char **base)
{
	const char *slash;
	size_t len = strnlen(path, PATH_MAX);
	int r = 0;

	*dir = *base = NULL;
	if (len == 0)
		return -ENOENT;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	if (path[len - 1] == '/')
		return -EISDIR;
	slash = strrchr(path, '/');
	*base = strdup(slash ? slash + 1 : path);
	if (!slash)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	if (!*dir || !*base)
		r = -ENOMEM;
	else if (strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		r = -EISDIR;
	else if (strlen(*base) > NAME_MAX)
		r = -ENAMETOOLONG;
	if (r < 0) {
		free(*dir);
		free(*base);
		*dir = *base = NULL;
	}
	return r;
}

int pidlock__open_dir(const char *dir, int *dirfd, struct stat *st)
{
	int fd = openat(AT_FDCWD, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*dirfd = fd;
	return 0;
}

bool pidlock__same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Opens name in dirfd as it was seen (st): never through a symlink, never
 * blocking on a FIFO, never taking a terminal, and only if the file opened
 * is the inode st describes.  Returns the descriptor, -PIDLOCK_ENOTOURS
 * when another file took the name between the look and the open (not
 * -ESTALE: that is NFS's own, and passes through as itself), or -errno.
 */
int pidlock__open_same(int dirfd, const char *name, int flags,
		       const struct stat *st)
{
	struct stat opened;

	return pidlock__open_same_stat(dirfd, name, flags, st, &opened);
}

/* pidlock__open_same(), and what the fstat(2) of the opened file said. */
int pidlock__open_same_stat(int dirfd, const char *name, int flags,
			    const struct stat *st, struct stat *opened)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
					     O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, opened) < 0 || !pidlock__same_inode(opened, st)) {
		close(fd);
		return -PIDLOCK_ENOTOURS;
	}
	return fd;
}

/*
 * Another descriptor of the inode fd is open on, opened with flags
 * (O_RDONLY, O_RDWR) through /proc/self/fd: the same inode for certain,
 * with no name to look up and check; -errno, -ENOENT without /proc.
 */
int pidlock__reopen(int fd, int flags)
{
	char proc[32];
	int r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	r = open(proc, flags | O_NOCTTY | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

/*
 * The writer of a file we hold locked through a read-only descriptor: the
 * name, opened for writing, checked to be the same inode (under the lock
 * nobody changes it).  An empty file we may not write is locked without a
 * record (the lock needs no write access); content that must be
 * overwritten (a dead holder's record) is an error: left in place under
 * our lock it would name a dead, or someone else's, PID.
 */
int pidlock__open_writer(int dirfd, const char *base, const struct stat *st,
			 size_t len, int *wfd)
{
	int fd = pidlock__open_same(dirfd, base, O_RDWR, st);

	*wfd = -1;
	if (fd < 0)
		return len == 0 && (fd == -EACCES || fd == -EROFS || fd == -EPERM)
			       ? 0 : fd;
	*wfd = fd;
	return 0;
}

/*
 * The descriptor a lock is taken through, opened as st saw the file.  It
 * is read-only (see lock.c, writer()), except for an exclusive fcntl(2)
 * lock, which needs one open for writing (and never comes with a record):
 * then read-only only where writing is not allowed.
 */
int pidlock__open_locking(int dirfd, const char *base, const struct stat *st,
			  bool ofd_write)
{
	int fd = ofd_write ? pidlock__open_same(dirfd, base, O_RDWR, st) : -1;

	if (!ofd_write || fd == -EACCES || fd == -EROFS || fd == -EPERM)
		fd = pidlock__open_same(dirfd, base, O_RDONLY, st);
	return fd;
}

static bool dir_usable(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       access(dir, W_OK | X_OK) == 0;
}

/*
 * The directory of a user's named locks: /tmp/pidlock-UID, the same in a
 * login session, under cron, sudo -u, ssh or a systemd user service, so
 * that one name is one lock for one user everywhere.  $XDG_RUNTIME_DIR is
 * not used: it is set in some of these and not in others, and logind
 * removes it at the last logout, under a running job's lock.  It is made
 * 0700 if missing; one that is not a directory of this user, not writable
 * by others, is refused: another user may have made it first to squat the
 * names.
 */
static int user_dir(char *buf, size_t size)
{
	uid_t uid = geteuid();
	struct stat st;
	char dir[40];

	snprintf(dir, sizeof(dir), "/tmp/pidlock-%u", (unsigned)uid);
	if (strlcpy(buf, dir, size) >= size)
		return -ENAMETOOLONG; /* else buf names what is refused */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -PIDLOCK_ESYMLINK;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != uid)
		return -PIDLOCK_EOWNER;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return -PIDLOCK_EDIRUNSAFE;
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_dir(char *buf, size_t size)
{
	const char *dir = getenv("PIDLOCK_DIR");

	if (!dir || !dir[0]) {
		if (geteuid() != 0 || !dir_usable("/run/lock"))
			return user_dir(buf, size);
		dir = "/run/lock";
	}
	if (strlcpy(buf, dir, size) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static bool name_valid(const char *name)
{
	size_t len = strnlen(name, PIDLOCK_NAME_MAX + 1);

	/* The temporary files' prefix is reserved: cleaners remove those. */
	return len > 0 && len <= PIDLOCK_NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strncmp(name, PIDLOCK_TMP_PREFIX, strlen(PIDLOCK_TMP_PREFIX)) != 0;
}

PIDLOCK_PUBLIC
int pidlock_name_path(const char *name, char *buf, size_t size)
{
	char dir[PATH_MAX];
	int r;

	if (!name || !name_valid(name))
		return -EINVAL;
	r = pidlock_dir(dir, sizeof(dir));
	if (r < 0)
		return r;
	r = snprintf(buf, size, "%s%s%s.lock", dir,
		     dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : 0;
}
