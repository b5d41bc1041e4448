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
	int dirfd;         /* the directory, while held to be unlinked */
	int user_fd;       /* pidlock_new_fd(): the caller's descriptor */
	struct pidlock__inode spare; /* a waiter's inode, ready to publish */
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
	uid_t euid;        /* as of the acquire or update that writes the record */
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
	lock->fd = lock->wfd = lock->dirfd = lock->user_fd = -1;
	lock->spare.fd = lock->spare.lockfd = -1;
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
int pidlock_set_range(struct pidlock *lock, int64_t start, int64_t len)
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

/* What our record says, as this handle asks (record.c writes it). */
static struct pidlock__record_spec record_spec(const struct pidlock *lock)
{
	return (struct pidlock__record_spec){
		.pid = lock->record_pid, .euid = lock->euid, .comm = lock->comm,
		.message = lock->message, .keep = lock->keep,
	};
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

/*
 * Rewrites the record in place: new bytes first, then the tail cut.  A
 * reader in between sees a bad sum or trailing bytes and reads again
 * (judge.c).  Over an empty file (the usual case: a release emptied it) or
 * a longer record, with the tail cut only when there is one.
 */
static int write_record_in_place(struct pidlock *lock)
{
	struct pidlock__record_spec spec = record_spec(lock);
	int len = pidlock__record_write(writer(lock), &spec);

	if (len < 0)
		return len;
	if (lock->file_len > (size_t)len && ftruncate(writer(lock), len) < 0)
		return -errno;
	lock->file_len = (size_t)len;
	lock->has_record = true;
	return 0;
}

/* --- holding a created inode (create.c makes it) ------------------------ */

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

/* The name does not exist: create it, complete and locked, or lose. */
static int create_new(struct pidlock *lock, int dirfd)
{
	bool spare = lock->spare.fd >= 0;
	struct pidlock__record_spec spec;
	struct pidlock__make make;
	struct pidlock__inode made;
	int r;

	lock->keep = !removes_on_release(lock, true);
	spec = record_spec(lock);
	make = (struct pidlock__make){ lock->mode, &lock->how,
				       wants_record(lock) ? &spec : NULL };
	r = pidlock__create_named(dirfd, lock->base, &make, &lock->spare, &made);
	if (r != 0)
		return r == 1 ? RETRY : r; /* 1: another creator won the name */
	hold_pair(lock, made.lockfd, made.fd);
	lock->has_record = wants_record(lock);
	lock->file_len = SIZE_MAX; /* unknown: an update cuts the tail */
	if (spare) /* its identity was read before the wait, off this path */
		hold_inode(lock, lock->fd, made.dev, made.ino);
	else
		hold(lock, lock->fd);
	return 0;
}

/* --- contention --------------------------------------------------------- */

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

/* Describes the holder in lock->holder from what the file says. */
static void describe(struct pidlock *lock,
		     const struct pidlock__file_content *c,
		     const struct stat *st, bool locked)
{
	struct pidlock_info *info = &lock->holder;

	pidlock__info_reset(info);
	pidlock__info_from_stat(info, st);
	info->netfs = lock->netfs;
	pidlock__content_judge(c, st, info);
	if (locked)
		pidlock__judge_held(info);
}

/*
 * Only a caller that gets no lock learns who holds it, and only then: the
 * description reads /proc/locks, and while the kernel writes that out it
 * holds the lock table, stalling every flock() on the machine.  A waiter
 * that will get the lock anyway must not pay that, nor make others pay.
 */
static void describe_busy(struct pidlock *lock, int fd,
			  const struct stat *st, int err)
{
	struct pidlock__file_content c = { 0 };

	if (err != -EWOULDBLOCK && err != -ETIMEDOUT && err != -EDEADLK)
		return;
	(void)pidlock__content_read(fd, false, &c);
	describe(lock, &c, st, true);
}

/*
 * A lock the kernel calls busy while no process holds it: its holder has
 * closed the descriptor, but a reader of that holder's /proc/PID/fdinfo
 * (lockstat, lslocks(8), this library judging a holder) still had the
 * open file description pinned, and the kernel lets go of a flock(2) lock
 * only with the description's last reference.  That lasts one read; by
 * the time the holder has been looked for (/proc/locks, fdinfo), it is
 * over, and one more try settles it.  Without this, a caller that does
 * not wait could be refused a lock it released itself a moment before.
 */
static bool held_by_nobody(const struct pidlock_info *holder)
{
	for (unsigned i = 0; i < holder->nholders; i++)
		if (!holder->holders[i].waiting)
			return false;
	return true;
}

/* Before a waiter sleeps, it readies the inode it will publish (create.c):
 * only worth it when the holder's release unlinks the file. */
static void ready_spare(struct pidlock *lock, int dirfd)
{
	if (lock->spare.fd < 0 && removes_on_release(lock, true))
		pidlock__spare_ready(dirfd, lock->mode, &lock->how, &lock->spare);
}

/* Closes the writer opened for an acquisition that did not happen. */
static void drop_writer(struct pidlock *lock)
{
	if (lock->wfd >= 0)
		close(lock->wfd);
	lock->wfd = -1;
}

/*
 * A waiter opens the record's writer before it sleeps (checked to be the
 * inode it waits on, as after the lock): after the wake only the check
 * that the name still carries it and the write remain.  Where it may not
 * write, take_in_place() decides as always.
 */
static void open_writer_early(struct pidlock *lock, int dirfd,
			      const struct stat *st)
{
	struct stat opened;
	int fd;

	if (!wants_record(lock) || lock->wfd >= 0 ||
	    removes_on_release(lock, true)) /* the holder unlinks the file */
		return;
	fd = pidlock__open_same_stat(dirfd, lock->base, O_RDWR, st, &opened);
	lock->wfd = fd < 0 ? -1 : fd;
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
	if (dirfd >= 0) {
		ready_spare(lock, dirfd);
		open_writer_early(lock, dirfd, st);
	}
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
	if (!write_record || !wants_record(lock))
		drop_writer(lock); /* the content stays as it is */
	else if (lock->wfd < 0)
		r = pidlock__open_writer(dirfd, lock->base, st, len, &lock->wfd);
	if (r == 0 && lock->wfd >= 0)
		r = write_record_in_place(lock);
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
			 const struct stat *st, off_t size,
			 const struct timespec *deadline, int timeout_ms)
{
	struct pidlock__file_content c = { .kind = CONTENT_EMPTY };
	int r = 0;

	/* An empty file, as a stat made under our lock says (the usual case:
	 * a release emptied it), needs no read; a network filesystem's
	 * cached size is no proof. */
	if (size != 0 || lock->netfs)
		r = pidlock__content_read(fd, false, &c);
	if (r < 0) {
		drop_writer(lock);
		close(fd);
		return r;
	}
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
			drop_writer(lock);
			close(fd);
			if (timeout_ms == 0)
				return -EWOULDBLOCK;
			r = pidlock__pid_wait(c.plain_pid, 0, deadline,
					      lock->how.interruptible);
			return r < 0 ? r : RETRY;
		}
		lock->recovered = true;
		return take_in_place(lock, dirfd, fd, st, c.len, true, false);
	case CONTENT_RECORD:
	case CONTENT_RECORD_CORRUPT:
		describe(lock, &c, st, false);
		if (lock->holder.state == PIDLOCK_STATE_REMOTE &&
		    !(lock->flags & PIDLOCK_BREAK_REMOTE)) {
			drop_writer(lock);
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
	struct pidlock__record_spec spec;
	struct pidlock__make make;
	int fd, r, lockfd;

	lock->keep = !removes_on_release(lock, true);
	spec = record_spec(lock);
	make = (struct pidlock__make){ lock->mode, &lock->how, &spec };
	fd = pidlock__create_locked(dirfd, &make, tmp, sizeof(tmp), &lockfd);
	if (fd < 0)
		return fd;
	/* The new inode has its temporary name (create.c): it replaces the
	 * old one only while the name still carries the file we locked. */
	r = verify(dirfd, lock->base, old->st_dev, old->st_ino);
	if (r == 0 && renameat(dirfd, tmp, dirfd, lock->base) < 0)
		r = -errno;
	if (r != 0) {
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

/*
 * After the lock: does the name still carry the inode we locked (0, RETRY,
 * GONE), and how long is the file (*size)?  A look at the name tells both.
 * The record's writer, unless a waiter opened it before it slept, is then
 * opened through /proc/self/fd from the locked descriptor: certainly our
 * inode, so no second look.  Where that fails (no /proc, no write
 * permission), take_in_place() opens it by name and decides as always.
 */
static int verify_locked(struct pidlock *lock, int dirfd, int fd,
			 const struct stat *st, off_t *size)
{
	struct stat now;
	int wfd;

	if (fstatat(dirfd, lock->base, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? GONE : -errno;
	if (!pidlock__same_inode(&now, st))
		return RETRY;
	*size = now.st_size;
	if (wants_record(lock) && lock->wfd < 0 &&
	    (wfd = pidlock__reopen(fd, O_RDWR)) >= 0)
		lock->wfd = wfd;
	return 0;
}

/* One round of the acquisition loop: 0, RETRY, or a negative errno. */
static int try_acquire(struct pidlock *lock, int dirfd, const struct stat *dir,
		       int timeout_ms, const struct timespec *deadline)
{
	struct stat st;
	int fd = -1, r;
	off_t size = -1;
	bool foreign;

	if (fstatat(dirfd, lock->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? create_new(lock, dirfd) : -errno;
	r = wants_record(lock) ? pidlock__check_place(dir, &st, NULL, &lock->holder)
			       : pidlock__check_type(&st, &lock->holder);
	/* Not even a record naming the owner makes its file safe to hold:
	 * its owner can still unlink it under us. */
	foreign = r == -PIDLOCK_EOWNER && lock->euid == 0;
	if (r < 0 && !foreign)
		return r;
	fd = pidlock__open_locking(dirfd, lock->base, &st,
				   lock->how.ofd && !lock->how.shared);
	if (fd == -ENOENT || fd == -PIDLOCK_ENOTOURS)
		return RETRY; /* gone, or swapped between stat and open */
	if (fd < 0)
		return fd;
	r = pidlock__lock_try(fd, &lock->how);
	if (r < 0) {
		if (r != -EWOULDBLOCK) {
			close(fd);
			return r;
		}
		r = wait_for_lock(lock, dirfd, fd, &st, timeout_ms, deadline);
		if (r < 0) {
			drop_writer(lock);
			describe_busy(lock, fd, &st, r);
			if (r == -EWOULDBLOCK && held_by_nobody(&lock->holder) &&
			    pidlock__lock_try(fd, &lock->how) == 0) {
				pidlock__info_reset(&lock->holder);
				r = 0;
			}
		}
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	if (foreign) {
		struct pidlock__file_content c = { 0 };
		drop_writer(lock); /* a new inode replaces this one */
		r = verify(dirfd, lock->base, st.st_dev, st.st_ino);
		if (r == 0) {
			(void)pidlock__content_read(fd, false, &c);
			describe(lock, &c, &st, false);
			r = replace_foreign(lock, dirfd, fd, &st);
		}
		if (r != 0)
			close(fd);
		return r == GONE ? RETRY : r;
	}
	r = verify_locked(lock, dirfd, fd, &st, &size);
	if (r != 0) {
		drop_writer(lock);
		close(fd);
		/* The usual end of a wait: the holder released by unlinking the
		 * file.  The name is free now, so take it without a second look
		 * (a loser of the race gets EEXIST, then RETRY, as always). */
		return r == GONE ? create_new(lock, dirfd) : r;
	}
	return take_existing(lock, dirfd, fd, &st, size, deadline, timeout_ms);
}

/*
 * The directory is kept while the lock is held only when release removes
 * the file (unlinked relative to it, after the name is verified): a
 * release that empties the file needs only the writer, so a held lock
 * costs two descriptors, and a scan of its holder's table one stat less.
 */
static void hold_dir(struct pidlock *lock, int dirfd)
{
	if (lock->keep) {
		close(dirfd);
		dirfd = -1;
	}
	lock->dirfd = dirfd;
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
			if (r == -EWOULDBLOCK && held_by_nobody(&lock->holder) &&
			    pidlock__lock_try(lock->user_fd, &lock->how) == 0) {
				pidlock__info_reset(&lock->holder);
				r = 0;
			}
		}
		if (r < 0)
			return r;
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
		      PIDLOCK_NO_RECORD | PIDLOCK_OFD | PIDLOCK_UNLINK |
		      PIDLOCK_INTERRUPTIBLE) ||
	    (flags & PIDLOCK_KEEP && flags & PIDLOCK_UNLINK))
		return -EINVAL;
	if (lock->fd >= 0)
		return -EALREADY;
	pidlock__info_reset(&lock->holder);
	lock->how.ofd = (flags & PIDLOCK_OFD) || lock->ranged;
	if (lock->how.ofd)
		flags |= PIDLOCK_NO_RECORD; /* records are a flock(2) protocol */
	lock->how.shared = flags & PIDLOCK_SHARED;
	lock->how.interruptible = flags & PIDLOCK_INTERRUPTIBLE;
	lock->flags = flags;
	lock->handed = false;
	lock->recovered = lock->has_record = false;
	/* Read as the call begins: a waiter then has one system call less
	 * between its wake-up and its return. */
	if (wants_record(lock))
		lock->euid = geteuid();
	if (timeout_ms > 0) {
		until = pidlock__deadline_after(timeout_ms);
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
	pidlock__spare_drop(&lock->spare); /* not needed: the file was kept */
	if (r != 0) {
		close(dirfd);
		return r == RETRY ? -EBUSY : r;
	}
	hold_dir(lock, dirfd);
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
		if (lock->dirfd >= 0)
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
	if (lock->dirfd >= 0)
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
	if (pid == pidlock__self_pid())
		pid = 0;
	lock->record_pid = pid;
	lock->euid = geteuid();
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
