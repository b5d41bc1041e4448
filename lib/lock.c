/* SPDX-License-Identifier: MIT */
/*
 * Taking, breaking, updating and releasing a lock: the protocol of
 * pidlock(5).
 *
 * Invariant: whoever changes which inode the path names holds the lock of
 * the inode it names at that moment (a creator's name did not exist).  So
 * after every acquisition it is enough to check that our inode is still
 * linked and still the one at the path; if not, someone who held it
 * before us moved on, and we start again.
 *
 * And in normal operation nobody changes it at all: a file, once created,
 * keeps its inode for good.  A stale record is recovered by writing over
 * it in place while holding the lock, and release empties the file rather
 * than removing it.  util-linux flock(1) and other programs that only
 * open and lock the path cannot follow a name that moves to a new inode;
 * a name that never moves is what lets them share a path with us (only
 * PIDLOCK_UNLINK, on request, removes the file on release).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include "internal.h"

/* Each retry means someone else made progress; this bounds pathologies. */
#define MAX_ATTEMPTS 1000
#define RETRY 1
#define GONE 2 /* verify(): nothing at the path any more */

struct pidlock {
	char *path, *dir, *base;
	int fd;            /* the locked descriptor, -1 when not held */
	int wfd;           /* the record's writer, -1: write through fd */
	int dirfd;         /* the directory, while held */
	int user_fd;       /* pidlock_new_fd(): the caller's descriptor */
	int spare_fd;      /* a waiter's unnamed inode, ready to publish */
	int spare_lockfd;  /* and its locked read-only descriptor */
	dev_t spare_dev;   /* and its identity, known before the wait */
	ino_t spare_ino;
	dev_t dev;
	ino_t ino;
	mode_t mode;
	unsigned flags;    /* of the current acquisition */
	struct pidlock__how how;
	bool ranged;       /* pidlock_set_range() was called */
	bool handed;       /* pidlock_update() named another process */
	bool keep;         /* release truncates instead of unlinking */
	bool has_record;   /* we wrote a record into the file */
	bool recovered;
	bool netfs;
	pid_t record_pid;  /* line 1, 0: ourselves */
	size_t file_len;   /* bytes in the file, as far as we know */
	char comm[256];
	char message[1024];
	struct pidlock_info holder;
};

static int handle_alloc(struct pidlock **lockp)
{
	struct pidlock *lock = calloc(1, sizeof(*lock));

	if (!lock)
		return -ENOMEM;
	lock->fd = lock->wfd = lock->dirfd = lock->user_fd = lock->spare_fd = -1;
	lock->spare_lockfd = -1;
	lock->mode = 0644;
	pidlock__info_reset(&lock->holder);
	*lockp = lock;
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_new(struct pidlock **lockp, const char *path)
{
	struct pidlock *lock;
	int r;

	if (!lockp || !path)
		return -EINVAL;
	r = handle_alloc(&lock);
	if (r < 0)
		return r;
	r = pidlock__split_path(path, &lock->dir, &lock->base);
	if (r == 0 && !(lock->path = strdup(path)))
		r = -ENOMEM;
	if (r < 0) {
		pidlock_free(lock);
		return r;
	}
	*lockp = lock;
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_new_name(struct pidlock **lockp, const char *name)
{
	char path[PATH_MAX];
	int r = pidlock_name_path(name, path, sizeof(path));

	return r < 0 ? r : pidlock_new(lockp, path);
}

PIDLOCK_PUBLIC
int pidlock_new_fd(struct pidlock **lockp, int fd)
{
	struct pidlock *lock;
	char path[32];
	int r;

	if (!lockp || fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	r = handle_alloc(&lock);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	lock->user_fd = fd;
	lock->keep = true;
	if (!(lock->path = strdup(path))) {
		pidlock_free(lock);
		return -ENOMEM;
	}
	*lockp = lock;
	return 0;
}

PIDLOCK_PUBLIC
void pidlock_free(struct pidlock *lock)
{
	if (!lock)
		return;
	pidlock_release(lock);
	free(lock->path);
	free(lock->dir);
	free(lock->base);
	free(lock);
}

static int set_text(char *dst, size_t size, const char *text, bool empty_ok)
{
	size_t len;

	if (!text)
		return -EINVAL;
	len = strnlen(text, size);
	if (len >= size || (!empty_ok && len == 0))
		return -E2BIG;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			return -EINVAL;
	memcpy(dst, text, len + 1);
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_set_message(struct pidlock *lock, const char *message)
{
	return set_text(lock->message, sizeof(lock->message), message, true);
}

PIDLOCK_PUBLIC
int pidlock_set_command(struct pidlock *lock, const char *comm)
{
	return set_text(lock->comm, sizeof(lock->comm), comm, false);
}

PIDLOCK_PUBLIC
int pidlock_set_range(struct pidlock *lock, off_t start, off_t len)
{
	if (start < 0 || len < 0)
		return -EINVAL;
	lock->how.start = start;
	lock->how.len = len;
	lock->ranged = true;
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_set_mode(struct pidlock *lock, mode_t mode)
{
	if (mode & ~(mode_t)0777 || mode & S_IWOTH)
		return -EINVAL;
	lock->mode = mode;
	return 0;
}

PIDLOCK_PUBLIC int pidlock_fd(const struct pidlock *lock) { return lock->fd; }
PIDLOCK_PUBLIC const char *pidlock_path(const struct pidlock *lock) { return lock->path; }
PIDLOCK_PUBLIC int pidlock_recovered(const struct pidlock *lock) { return lock->recovered; }
PIDLOCK_PUBLIC int pidlock_netfs(const struct pidlock *lock) { return lock->netfs; }

PIDLOCK_PUBLIC
const struct pidlock_info *pidlock_holder(const struct pidlock *lock)
{
	return &lock->holder;
}

/* --- the record --------------------------------------------------------- */

static int build_record(const struct pidlock *lock, struct pidlock_record *rec)
{
	struct pidlock__self self;
	char comm[256] = "";
	pid_t pid;
	int r;

	memset(rec, 0, sizeof(*rec));
	r = pidlock__self_info(&self);
	if (r < 0)
		return r;
	pid = lock->record_pid ? lock->record_pid : self.pid;
	rec->pid = pid;
	rec->holder = self.pid;
	rec->version = 1;
	strlcpy(rec->boot_id, self.boot_id, sizeof(rec->boot_id));
	strlcpy(rec->host, self.host, sizeof(rec->host));
	if (pid == self.pid) { /* the common case: facts read once per process */
		rec->start_time = self.start_time;
		rec->pidns = self.pidns;
		rec->uid = geteuid();
	} else if ((r = pidlock__proc_identity(pid, &rec->start_time, &rec->pidns,
					       &rec->uid, comm, sizeof(comm))) < 0) {
		return r;
	}
	rec->time = time(NULL);
	if (lock->comm[0])
		strlcpy(rec->comm, lock->comm, sizeof(rec->comm));
	else if (pid == self.pid)
		strlcpy(rec->comm, getprogname(), sizeof(rec->comm));
	else
		strlcpy(rec->comm, comm, sizeof(rec->comm));
	for (char *c = rec->comm; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (!rec->comm[0])
		strlcpy(rec->comm, "?", sizeof(rec->comm));
	strlcpy(rec->message, lock->message, sizeof(rec->message));
	rec->keep = lock->keep;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = pwrite(fd, buf + off, len - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/*
 * Rewrites the record in place: new bytes first, then the tail cut.  A
 * reader in between sees a bad sum or trailing bytes and reads again.
 */
/* Writes a fresh record at offset 0 of fd; returns its length. */
static int write_record(struct pidlock *lock, int fd)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	int len, r;

	r = build_record(lock, &rec);
	if (r < 0)
		return r;
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	if (len < 0)
		return len;
	r = write_all(fd, buf, (size_t)len);
	return r < 0 ? r : len;
}

/*
 * The record is written through its own descriptor, never the locked one.
 * The locked descriptor is read-only, so that what a command inherits to
 * keep the lock (lockrun, in particular after dropping privileges) cannot
 * change the record: write(2), ftruncate(2), fchmod(2) fail on it, and
 * reopening it for writing through /proc needs write permission on the
 * file.  The writer is close-on-exec and never handed on.
 */
static int writer(const struct pidlock *lock)
{
	return lock->wfd >= 0 ? lock->wfd : lock->fd;
}

/* A read-only descriptor of the inode fd is open on (-1 without /proc). */
static int reopen_readonly(int fd)
{
	char proc[32];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
}

/* Over an empty file (the usual case: a release emptied it) or a longer
 * record, with the tail cut only when there is one. */
static int write_record_in_place(struct pidlock *lock)
{
	int len = write_record(lock, writer(lock));

	if (len < 0)
		return len;
	if (lock->file_len > (size_t)len && ftruncate(writer(lock), len) < 0)
		return -errno;
	lock->file_len = (size_t)len;
	lock->has_record = true;
	return 0;
}

/* --- creating an inode that appears complete and locked ----------------- */

static int random_name(char *buf, size_t size)
{
	uint64_t rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
	/* The creator's PID in the name lets a cleaner prove a leftover
	 * abandoned (clean.c) before it removes it. */
	snprintf(buf, size, PIDLOCK_TMP_PREFIX "%d.%016llx", (int)getpid(),
		 (unsigned long long)rnd);
	return 0;
}

/*
 * Fills a freshly created, unpublished inode: mode, lock, content.  With a
 * record, the lock is taken through a read-only descriptor, *lockfd (-1:
 * through fd itself, where there is no /proc to reopen it).
 */
static int prepare_fd(struct pidlock *lock, int fd, bool with_record,
		      int *lockfd)
{
	int r;

	*lockfd = -1;
	if (fchmod(fd, lock->mode) < 0)
		return -errno;
	if (with_record)
		*lockfd = reopen_readonly(fd);
	r = pidlock__lock_try(*lockfd >= 0 ? *lockfd : fd, &lock->how);
	if (r == 0 && with_record && (r = write_record(lock, fd)) > 0)
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
 * for a waiter's spare inode, see ready_spare().)  A creation happens once
 * in a lock file's life, so the extra name costs little; its leftover after
 * a crash is what lockclean removes.  *tmp is the name.
 */
static int create_inode(struct pidlock *lock, int dirfd, char *tmp,
			size_t tmpsize)
{
	int fd;

	tmp[0] = '\0';
	for (int i = 0; i < 16; i++) {
		random_name(tmp, tmpsize);
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW |
					       O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	(void)lock;
	return -EEXIST;
}

/*
 * A named temporary file exists unlocked between its openat and its flock:
 * a cleaner may lock it first (our flock then says busy) and remove it as
 * a leftover.  So once locked, the name must still carry it; if not, the
 * creation starts again with a new name rather than fail.
 */
static int temp_lost(int dirfd, const char *tmp, int fd, int r)
{
	struct stat mine, named;

	if (!tmp[0])
		return false;
	if (r == -EWOULDBLOCK)
		return true;
	return r == 0 && (fstat(fd, &mine) < 0 ||
			  fstatat(dirfd, tmp, &named, AT_SYMLINK_NOFOLLOW) < 0 ||
			  mine.st_ino != named.st_ino || mine.st_dev != named.st_dev);
}

/* Returns the writable descriptor; *lockfd as for prepare_fd(). */
static int prepare_inode(struct pidlock *lock, int dirfd, bool with_record,
			 char *tmp, size_t tmpsize, int *lockfd)
{
	for (int i = 0; i < 16; i++) {
		int fd = create_inode(lock, dirfd, tmp, tmpsize);
		int r;

		if (fd < 0)
			return fd;
		r = prepare_fd(lock, fd, with_record, lockfd);
		if (temp_lost(dirfd, tmp, *lockfd >= 0 ? *lockfd : fd, r)) {
			if (*lockfd >= 0)
				close(*lockfd);
			*lockfd = -1;
			close(fd); /* the cleaner's to remove, or gone already */
			continue;
		}
		if (r < 0) {
			if (tmp[0])
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

/* Holds through lockfd, writing through fd; or through fd (lockfd -1). */
static void hold_pair(struct pidlock *lock, int lockfd, int fd)
{
	lock->fd = lockfd >= 0 ? lockfd : fd;
	lock->wfd = lockfd >= 0 ? fd : -1;
}

static void hold_inode(struct pidlock *lock, int fd, dev_t dev, ino_t ino)
{
	lock->fd = fd;
	lock->dev = dev;
	lock->ino = ino;
	pidlock__held_add(dev, ino, lock);
}

static void hold(struct pidlock *lock, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		st.st_dev = lock->dev;
		st.st_ino = lock->ino;
	}
	hold_inode(lock, fd, st.st_dev, st.st_ino);
}

/* Shared and flock(1)-style locks neither write nor trust a record. */
static bool wants_record(const struct pidlock *lock)
{
	return !(lock->flags & (PIDLOCK_SHARED | PIDLOCK_NO_RECORD));
}

/*
 * Whether release removes the file: only on request (PIDLOCK_UNLINK), and
 * only a file that holds our record and held a pidlock record or nothing
 * of anyone else's before (a kept empty file is flock(1)'s as much as ours).
 */
static bool removes_on_release(const struct pidlock *lock, bool was_ours)
{
	return (lock->flags & PIDLOCK_UNLINK) && wants_record(lock) && was_ours;
}

/* The spare inode, now with a record written at the moment it is used. */
static int use_spare(struct pidlock *lock, char *tmp, int *lockfd)
{
	int fd = lock->spare_fd, r;

	*lockfd = lock->spare_lockfd;
	lock->spare_fd = lock->spare_lockfd = -1;
	tmp[0] = '\0';
	r = write_record(lock, fd);
	if (r < 0) {
		if (*lockfd >= 0)
			close(*lockfd);
		close(fd);
		return r;
	}
	return fd;
}

/* The name does not exist: create it, complete and locked, or lose. */
static int create_new(struct pidlock *lock, int dirfd)
{
	char tmp[64];
	bool spare = lock->spare_fd >= 0;
	int fd, r, lockfd;

	lock->keep = !removes_on_release(lock, true);
	fd = spare ? use_spare(lock, tmp, &lockfd)
		   : prepare_inode(lock, dirfd, wants_record(lock), tmp,
				   sizeof(tmp), &lockfd);
	if (fd < 0)
		return fd;
	r = publish(fd, dirfd, tmp, lock->base);
	if (r < 0) {
		if (tmp[0])
			unlinkat(dirfd, tmp, 0);
		if (lockfd >= 0)
			close(lockfd);
		close(fd);
		return r == -EEXIST ? RETRY : r;
	}
	hold_pair(lock, lockfd, fd);
	lock->has_record = wants_record(lock);
	lock->file_len = SIZE_MAX; /* unknown: an update cuts the tail */
	if (spare) /* its identity was read before the wait, off this path */
		hold_inode(lock, lock->fd, lock->spare_dev, lock->spare_ino);
	else
		hold(lock, lock->fd);
	return 0;
}

/* --- contention --------------------------------------------------------- */

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Does the path still name the inode we hold open?  While we hold it, its
 * inode number cannot be given to another file, so the same device and
 * inode at the path means it is still linked there: one system call.
 * 0 if it does, RETRY if another file is there, GONE if nothing is.
 */
static int verify(int dirfd, const char *base, dev_t dev, ino_t ino)
{
	struct stat named;

	if (fstatat(dirfd, base, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? GONE : -errno;
	return named.st_dev == dev && named.st_ino == ino ? 0 : RETRY;
}

struct content {
	size_t len;
	enum pidlock__content kind;
	struct pidlock_record rec;
	pid_t plain_pid;
	const char *why;
};

static int read_content(int fd, struct content *c)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	ssize_t n;

	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* More than a record's worth: the tail must be cut, whatever it is. */
	c->len = (size_t)n < sizeof(buf) ? (size_t)n : SIZE_MAX;
	c->kind = pidlock__classify(buf, (size_t)n, &c->rec, &c->plain_pid,
				    &c->why);
	return 0;
}

/* Describes the holder in lock->holder from what the file says. */
static void describe(struct pidlock *lock, const struct content *c,
		     const struct stat *st, bool locked)
{
	struct pidlock_info *info = &lock->holder;

	pidlock__info_reset(info);
	pidlock__info_from_stat(info, st);
	info->netfs = lock->netfs;
	if (c->why)
		snprintf(info->reason, sizeof(info->reason), "%s", c->why);
	if (c->kind == CONTENT_RECORD) {
		info->record = c->rec;
		info->has_record = 1;
	}
	if (c->kind == CONTENT_RECORD_CORRUPT || c->kind == CONTENT_PIDLIKE_BAD)
		info->state = PIDLOCK_STATE_CORRUPT;
	pidlock__judge_unlocked(c->kind, &c->rec, c->plain_pid, st, info);
	if (locked)
		pidlock__judge_held(info);
}

/*
 * Only a caller that gets no lock learns who holds it, and only then: the
 * description reads /proc/locks, and while the kernel writes that out it
 * holds the lock table, stalling every flock() on the machine.  A waiter
 * that will get the lock anyway must not pay that, nor make others pay.
 */
static void describe_busy(struct pidlock *lock, int fd, struct content *c,
			  const struct stat *st, int err)
{
	if (err != -EWOULDBLOCK && err != -ETIMEDOUT && err != -EDEADLK)
		return;
	if (err == -ETIMEDOUT) /* the record may have changed meanwhile */
		(void)read_content(fd, c);
	describe(lock, c, st, true);
}

#define OPEN_FLAGS (O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/*
 * The writer of a file we hold locked through a read-only descriptor: the
 * name, opened for writing, checked to be the same inode (under the lock
 * nobody changes it).  An empty file we may not write is locked without a
 * record (the lock needs no write access); content that must be
 * overwritten (a dead holder's record) is an error: left in place under
 * our lock it would name a dead, or someone else's, PID.
 */
static int open_writer(int dirfd, const char *base, const struct stat *st,
		       size_t len, int *wfd)
{
	struct stat opened;
	int fd = openat(dirfd, base, O_RDWR | OPEN_FLAGS);

	*wfd = -1;
	if (fd < 0)
		return len == 0 && (errno == EACCES || errno == EROFS ||
				    errno == EPERM) ? 0 : -errno;
	if (fstat(fd, &opened) < 0 || !same_inode(&opened, st)) {
		close(fd);
		return -PIDLOCK_ENOTOURS;
	}
	*wfd = fd;
	return 0;
}

static int open_existing(int dirfd, const char *base, const struct stat *st,
			 bool ofd_write, int *fdp)
{
	struct stat opened;
	/* The lock is held through a read-only descriptor (see writer()),
	 * except an exclusive fcntl(2) lock, which needs one open for writing
	 * (and never comes with a record). */
	int fd = ofd_write ? openat(dirfd, base, O_RDWR | OPEN_FLAGS) : -1;

	if (fd < 0 && (!ofd_write || errno == EACCES || errno == EROFS ||
		       errno == EPERM))
		fd = openat(dirfd, base, O_RDONLY | OPEN_FLAGS);
	if (fd < 0)
		return errno == ENOENT ? RETRY : -errno;
	if (fstat(fd, &opened) < 0 || !same_inode(&opened, st)) {
		close(fd);
		return RETRY; /* swapped between stat and open */
	}
	*fdp = fd;
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
static void ready_spare(struct pidlock *lock, int dirfd)
{
	struct stat st;
	int fd, lockfd = -1;

	if (lock->spare_fd >= 0 || !removes_on_release(lock, true))
		return;
	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (fchmod(fd, lock->mode) < 0 || fstat(fd, &st) < 0 ||
	    (lockfd = reopen_readonly(fd)) < 0 ||
	    pidlock__lock_try(lockfd, &lock->how) < 0) {
		if (lockfd >= 0)
			close(lockfd);
		close(fd);
		return;
	}
	lock->spare_fd = fd;
	lock->spare_lockfd = lockfd;
	lock->spare_dev = st.st_dev;
	lock->spare_ino = st.st_ino;
}

static void drop_spare(struct pidlock *lock)
{
	if (lock->spare_fd >= 0)
		close(lock->spare_fd);
	if (lock->spare_lockfd >= 0)
		close(lock->spare_lockfd);
	lock->spare_fd = lock->spare_lockfd = -1;
}

/* Waits until the holder lets go (or the deadline passes). */
static int wait_for_lock(struct pidlock *lock, int dirfd, int fd,
			 const struct stat *st, int timeout_ms,
			 const struct timespec *deadline)
{
	int r = pidlock__deadlock_check(st->st_dev, st->st_ino);

	if (r < 0)
		return r;
	if (timeout_ms == 0)
		return -EWOULDBLOCK;
	/* The record's facts that are read once per process (boot id, our
	 * start time: three files in /proc) are read now, not after waking. */
	if (wants_record(lock)) {
		struct pidlock__self self;
		(void)pidlock__self_info(&self);
	}
	if (dirfd >= 0)
		ready_spare(lock, dirfd);
	return pidlock__lock_wait(fd, &lock->how, deadline);
}

/*
 * Takes the file we hold locked as it is: the inode that carries the name
 * is never replaced (a flock(1) user may have it open, waiting), and a
 * record, when asked for, is written over whatever was there (nothing, or
 * a dead holder's record), in place.
 */
static int take_in_place(struct pidlock *lock, int dirfd, int fd,
			 const struct stat *st, size_t len, bool write_record,
			 bool was_ours)
{
	int r = 0;

	lock->keep = !removes_on_release(lock, was_ours);
	lock->file_len = len;
	lock->fd = fd;
	lock->wfd = -1;
	if (write_record && wants_record(lock)) {
		r = open_writer(dirfd, lock->base, st, len, &lock->wfd);
		if (r == 0 && lock->wfd >= 0)
			r = write_record_in_place(lock);
	}
	if (r < 0) {
		/* No half-written record: leave the file empty (or, if even
		 * that fails, corrupt: stale to the next acquirer, since
		 * nobody holds it). */
		if (lock->wfd >= 0) {
			if (ftruncate(lock->wfd, 0) < 0) {
				/* corrupt then, as said above */
			}
			close(lock->wfd);
		}
		lock->fd = lock->wfd = -1;
		close(fd);
		return r;
	}
	hold_inode(lock, fd, st->st_dev, st->st_ino);
	return 0;
}

/*
 * We hold the lock on an existing file: decide from its content what it
 * is and make it ours (pidlock(5) "Acquire", step 4).  A dead holder's
 * record or pidfile is recovered by writing ours over it, in place.
 */
static int take_existing(struct pidlock *lock, int dirfd, int fd,
			 const struct stat *st,
			 const struct timespec *deadline, int timeout_ms)
{
	struct content c;
	int r = read_content(fd, &c);

	if (r < 0)
		return r;
	if (!wants_record(lock))
		return take_in_place(lock, dirfd, fd, st, c.len, false, false);
	switch (c.kind) {
	case CONTENT_EMPTY:
		return take_in_place(lock, dirfd, fd, st, c.len, true, false);
	case CONTENT_OTHER:
	case CONTENT_PIDLIKE_BAD:
		return take_in_place(lock, dirfd, fd, st, c.len, false, false);
	case CONTENT_PIDFILE:
		describe(lock, &c, st, false);
		if (lock->holder.state == PIDLOCK_STATE_CORRUPT)
			return take_in_place(lock, dirfd, fd, st, c.len, false, false);
		if (lock->holder.state == PIDLOCK_STATE_FOREIGN) {
			close(fd);
			if (timeout_ms == 0)
				return -EWOULDBLOCK;
			r = pidlock__pid_wait(c.plain_pid, 0, deadline);
			return r < 0 ? r : RETRY;
		}
		lock->recovered = true;
		return take_in_place(lock, dirfd, fd, st, c.len, true, false);
	case CONTENT_RECORD:
	case CONTENT_RECORD_CORRUPT:
		describe(lock, &c, st, false);
		if (lock->holder.state == PIDLOCK_STATE_REMOTE &&
		    !(lock->flags & PIDLOCK_BREAK_REMOTE)) {
			close(fd);
			return -EWOULDBLOCK;
		}
		break;
	}
	lock->recovered = true;
	return take_in_place(lock, dirfd, fd, st, c.len, true, true);
}

/*
 * A file in a sticky world-writable directory (/run/lock, /tmp) whose owner
 * is neither root nor us can be unlinked by its owner at any moment: a lock
 * held in it would not exclude whoever creates the name next.  Root, who
 * may, replaces it (holding its lock, like any change of the name's inode:
 * acquirers waiting on it wake, fail to verify and start over); anyone
 * else is refused (PIDLOCK_EOWNER).  The replacement is complete and
 * locked before a temporary name links it, and renamed over the name only
 * after the name is verified to still carry the file we locked.
 */
static int replace_foreign(struct pidlock *lock, int dirfd, int oldfd,
			   const struct stat *old)
{
	char tmp[64];
	int fd, r = 0, lockfd;

	lock->keep = !removes_on_release(lock, true);
	fd = prepare_inode(lock, dirfd, true, tmp, sizeof(tmp), &lockfd);
	if (fd < 0)
		return fd;
	for (int i = 0; !tmp[0] && i < 16; i++) {
		random_name(tmp, sizeof(tmp));
		r = link_fd(fd, dirfd, tmp);
		if (r == 0)
			break;
		tmp[0] = '\0';
		if (r != -EEXIST)
			break;
	}
	if (!tmp[0])
		r = r < 0 ? r : -EEXIST;
	else if ((r = verify(dirfd, lock->base, old->st_dev, old->st_ino)) == 0 &&
		 renameat(dirfd, tmp, dirfd, lock->base) < 0)
		r = -errno;
	if (r != 0) {
		if (tmp[0])
			unlinkat(dirfd, tmp, 0);
		if (lockfd >= 0)
			close(lockfd);
		close(fd);
		return r == GONE ? RETRY : r;
	}
	close(oldfd);
	hold_pair(lock, lockfd, fd);
	lock->has_record = true;
	lock->file_len = SIZE_MAX;
	lock->recovered = true;
	hold(lock, lock->fd);
	return 0;
}

/* One round of the acquisition loop: 0, RETRY, or a negative errno. */
static int try_acquire(struct pidlock *lock, int dirfd, const struct stat *dir,
		       int timeout_ms, const struct timespec *deadline)
{
	struct content c = { 0 };
	struct stat st;
	int fd = -1, r;
	bool foreign;

	if (fstatat(dirfd, lock->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? create_new(lock, dirfd) : -errno;
	r = wants_record(lock) ? pidlock__check_place(dir, &st, NULL, &lock->holder)
			       : pidlock__check_type(&st, &lock->holder);
	/* Not even a record naming the owner makes its file safe to hold:
	 * its owner can still unlink it under us. */
	foreign = r == -PIDLOCK_EOWNER && geteuid() == 0;
	if (r < 0 && !foreign)
		return r;
	r = open_existing(dirfd, lock->base, &st,
			  lock->how.ofd && !lock->how.shared, &fd);
	if (r != 0)
		return r;
	(void)read_content(fd, &c);
	r = pidlock__lock_try(fd, &lock->how);
	if (r < 0) {
		if (r != -EWOULDBLOCK) {
			close(fd);
			return r;
		}
		r = wait_for_lock(lock, dirfd, fd, &st, timeout_ms, deadline);
		if (r < 0) {
			describe_busy(lock, fd, &c, &st, r);
			close(fd);
			return r;
		}
	}
	r = verify(dirfd, lock->base, st.st_dev, st.st_ino);
	if (r != 0) {
		close(fd);
		/* The usual end of a wait: the holder released by unlinking the
		 * file.  The name is free now, so take it without a second look
		 * (a loser of the race gets EEXIST, then RETRY, as always). */
		return r == GONE ? create_new(lock, dirfd) : r;
	}
	if (foreign) {
		describe(lock, &c, &st, false);
		r = replace_foreign(lock, dirfd, fd, &st);
		if (r != 0)
			close(fd);
		return r;
	}
	return take_existing(lock, dirfd, fd, &st, deadline, timeout_ms);
}

static struct timespec deadline_after(int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static int acquire_fd(struct pidlock *lock, int timeout_ms,
		      const struct timespec *deadline)
{
	struct stat st;
	int r;

	if (fstat(lock->user_fd, &st) < 0)
		return -errno;
	r = pidlock__lock_try(lock->user_fd, &lock->how);
	if (r < 0) {
		if (r != -EWOULDBLOCK)
			return r;
		r = wait_for_lock(lock, -1, lock->user_fd, &st, timeout_ms, deadline);
		if (r < 0) {
			/* Only a caller that gets no lock learns who holds it. */
			pidlock__info_reset(&lock->holder);
			pidlock__info_from_stat(&lock->holder, &st);
			pidlock__judge_held(&lock->holder);
			return r;
		}
	}
	lock->fd = lock->user_fd;
	lock->dev = st.st_dev;
	lock->ino = st.st_ino;
	pidlock__held_add(st.st_dev, st.st_ino, lock);
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_acquire(struct pidlock *lock, unsigned flags, int timeout_ms)
{
	struct timespec until = { 0, 0 };
	const struct timespec *deadline = NULL;
	struct stat dir;
	int dirfd, r;

	if (!lock || timeout_ms < PIDLOCK_WAIT_FOREVER ||
	    flags & ~(PIDLOCK_SHARED | PIDLOCK_KEEP | PIDLOCK_BREAK_REMOTE |
		      PIDLOCK_NO_RECORD | PIDLOCK_OFD | PIDLOCK_UNLINK) ||
	    (flags & PIDLOCK_KEEP && flags & PIDLOCK_UNLINK))
		return -EINVAL;
	if (lock->fd >= 0)
		return -EALREADY;
	pidlock__info_reset(&lock->holder);
	lock->how.ofd = (flags & PIDLOCK_OFD) || lock->ranged;
	if (lock->how.ofd)
		flags |= PIDLOCK_NO_RECORD; /* records are a flock(2) protocol */
	lock->how.shared = flags & PIDLOCK_SHARED;
	lock->flags = flags;
	lock->handed = false;
	lock->recovered = lock->has_record = false;
	if (timeout_ms > 0) {
		until = deadline_after(timeout_ms);
		deadline = &until;
	}
	if (lock->user_fd >= 0)
		return acquire_fd(lock, timeout_ms, deadline);
	r = pidlock__open_dir(lock->dir, &dirfd, &dir);
	if (r < 0)
		return r;
	lock->netfs = pidlock__dir_is_netfs(dirfd, &dir, dir.st_dev);
	if ((dir.st_mode & S_IWOTH) && !(dir.st_mode & S_ISVTX)) {
		close(dirfd);
		return -PIDLOCK_EDIRUNSAFE;
	}
	r = RETRY;
	for (int i = 0; i < MAX_ATTEMPTS && r == RETRY; i++)
		r = try_acquire(lock, dirfd, &dir, timeout_ms, deadline);
	drop_spare(lock); /* not needed after all: the file was kept */
	if (r != 0) {
		close(dirfd);
		return r == RETRY ? -EBUSY : r;
	}
	lock->dirfd = dirfd;
	if (!lock->recovered && lock->holder.state != PIDLOCK_STATE_LIVE &&
	    lock->holder.state != PIDLOCK_STATE_LIVE_INHERITED)
		pidlock__info_reset(&lock->holder);
	return 0;
}

/*
 * After a handoff other processes may share our open file description,
 * and then hold the lock as long as they live: if the kernel names any of
 * them as holders, the file is theirs.  The lock is never dropped to find
 * out, or a waiter could take it in the gap and find a "stale" record.
 */
static int take_back(struct pidlock *lock)
{
	struct stat st;

	/* Never drop the lock to find out: look for other holders of it. */
	if (fstat(lock->fd, &st) == 0 &&
	    pidlock__held_by_others(st.st_dev, st.st_ino)) {
		close(lock->fd);
		if (lock->wfd >= 0)
			close(lock->wfd);
		lock->wfd = -1;
		return -EWOULDBLOCK;
	}
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_release(struct pidlock *lock)
{
	int r = 0;

	if (!lock || lock->fd < 0)
		return 0;
	pidlock__held_remove(lock);
	if (lock->user_fd >= 0) {
		pidlock__unlock(lock->fd, &lock->how);
		lock->fd = -1;
		return 0;
	}
	if (lock->handed && (r = take_back(lock)) < 0) {
		close(lock->dirfd);
		lock->fd = lock->dirfd = -1;
		return r;
	}
	if (lock->keep) {
		if (lock->has_record && ftruncate(writer(lock), 0) < 0)
			r = -errno;
	} else {
		/* Unlink while still holding the lock, and only our own inode. */
		r = verify(lock->dirfd, lock->base, lock->dev, lock->ino);
		if (r == RETRY || r == GONE)
			r = -PIDLOCK_ENOTOURS;
		else if (r == 0 && unlinkat(lock->dirfd, lock->base, 0) < 0)
			r = -errno;
	}
	close(lock->fd);
	if (lock->wfd >= 0)
		close(lock->wfd);
	close(lock->dirfd);
	lock->fd = lock->wfd = lock->dirfd = -1;
	lock->has_record = false;
	return r;
}

PIDLOCK_PUBLIC
int pidlock_update(struct pidlock *lock, pid_t pid)
{
	if (!lock || pid < 0 || (pid > 0 && !pidlock__pid_valid(pid)))
		return -EINVAL;
	if (lock->fd < 0)
		return -ENOLCK;
	/* A file locked in place without our record (another program's
	 * content, or opened read-only) keeps its content untouched. */
	if (!wants_record(lock) || lock->user_fd >= 0 || !lock->has_record)
		return -EINVAL;
	if (pid == getpid())
		pid = 0;
	lock->record_pid = pid;
	/* Naming ourselves again is the caller's word that no heir holds it. */
	lock->handed = pid != 0;
	return write_record_in_place(lock);
}

PIDLOCK_PUBLIC
int pidlock_critical_section(const char *path, unsigned flags, int timeout_ms,
			     int (*fn)(void *arg), void *arg, int *result)
{
	struct pidlock *lock;
	int r;

	if (!fn)
		return -EINVAL;
	r = pidlock_new(&lock, path);
	if (r < 0)
		return r;
	r = pidlock_acquire(lock, flags, timeout_ms);
	if (r == 0) {
		int fr = fn(arg);
		if (result)
			*result = fr;
		r = pidlock_release(lock);
	}
	pidlock_free(lock);
	return r;
}
