/* SPDX-License-Identifier: MIT */
/*
 * The lock implementations under test, behind one interface: set up once
 * (open), then acquire (waiting or retrying as its users would) and
 * release, any number of times.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <pidlock.h>

#include "bench.h"

/* --- libpidlock: the record protocol; the file goes on release ---------- */

static int pl_open(struct locker *l, const char *path)
{
	struct pidlock *lock;
	int r = pidlock_new(&lock, path);

	l->state = lock;
	return r;
}

static int pl_acquire(struct locker *l)
{
	return pidlock_acquire(l->state, 0, PIDLOCK_WAIT_FOREVER);
}

static int pl_acquire_keep(struct locker *l)
{
	return pidlock_acquire(l->state, PIDLOCK_KEEP, PIDLOCK_WAIT_FOREVER);
}

static int pl_acquire_unlink(struct locker *l)
{
	return pidlock_acquire(l->state, PIDLOCK_UNLINK, PIDLOCK_WAIT_FOREVER);
}

static int pl_release(struct locker *l)
{
	return pidlock_release(l->state);
}

/* --- raw flock(2) -------------------------------------------------------- */

/* On a descriptor kept open: the kernel's own handoff, nothing else. */
static int fd_open(struct locker *l, const char *path)
{
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	return l->fd < 0 ? -errno : 0;
}

static int fd_acquire(struct locker *l)
{
	return flock(l->fd, LOCK_EX) < 0 ? -errno : 0;
}

static int fd_release(struct locker *l)
{
	return flock(l->fd, LOCK_UN) < 0 ? -errno : 0;
}

/* open + flock + close: the least a program taking a lock can do. */
static int path_open(struct locker *l, const char *path)
{
	l->path = path;
	return 0;
}

static int ofc_acquire(struct locker *l)
{
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0)
		return -errno;
	if (flock(l->fd, LOCK_EX) < 0) {
		int e = -errno;
		close(l->fd);
		return e;
	}
	return 0;
}

static int ofc_release(struct locker *l)
{
	return close(l->fd) < 0 ? -errno : 0;
}

/* --- libbsd pidfile_open: it cannot wait, so users retry ---------------- */

static int pf_acquire(struct locker *l)
{
	struct pidfh *pfh;
	pid_t other;

	/* ENOENT too: when the holder removes the file between pidfile_open's
	 * failed lock and its read of the PID, libbsd 0.11.7 fails with it. */
	while (!(pfh = pidfile_open(l->path, 0644, &other))) {
		if (errno != EEXIST && errno != ENOENT)
			return -errno;
		sleep_ns(l->poll_ms * NS_PER_MS);
	}
	if (pidfile_write(pfh) < 0) {
		int e = -errno;
		pidfile_remove(pfh);
		return e;
	}
	l->state = pfh;
	return 0;
}

static int pf_release(struct locker *l)
{
	return pidfile_remove(l->state) < 0 ? -errno : 0;
}

/*
 * --- PostgreSQL's postmaster.pid: O_EXCL create, write, fsync, close;
 * unlink on exit.  Like pidfile_open it cannot wait.
 */
static int excl_acquire(struct locker *l)
{
	char buf[256];
	int fd, len;

	while ((fd = open(l->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600)) < 0) {
		if (errno != EEXIST)
			return -errno;
		sleep_ns(l->poll_ms * NS_PER_MS);
	}
	/* The first lines of a postmaster.pid: PID, data dir, start time,
	 * port, socket dir, listen address, shared memory key, status. */
	len = snprintf(buf, sizeof(buf),
		       "%d\n/var/lib/postgresql/15/main\n%lld\n5432\n"
		       "/var/run/postgresql\nlocalhost\n  5432001         0\n"
		       "starting\n", (int)getpid(), (long long)time(NULL));
	if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0) {
		int e = errno ? -errno : -EIO;
		close(fd);
		unlink(l->path);
		return e;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int excl_release(struct locker *l)
{
	return unlink(l->path) < 0 ? -errno : 0;
}

static const struct locker lockers[] = {
	{ .name = "pidlock", .kernel_wait = true, .open = pl_open,
	  .acquire = pl_acquire, .release = pl_release },
	{ .name = "pidlock-keep", .kernel_wait = true, .open = pl_open,
	  .acquire = pl_acquire_keep, .release = pl_release },
	{ .name = "pidlock-unlink", .kernel_wait = true, .open = pl_open,
	  .acquire = pl_acquire_unlink, .release = pl_release },
	{ .name = "flock-fd", .kernel_wait = true, .open = fd_open,
	  .acquire = fd_acquire, .release = fd_release },
	{ .name = "flock", .kernel_wait = true, .open = path_open,
	  .acquire = ofc_acquire, .release = ofc_release },
	{ .name = "pidfile", .poll_ms = 10, .open = path_open,
	  .acquire = pf_acquire, .release = pf_release },
	{ .name = "excl", .poll_ms = 10, .open = path_open,
	  .acquire = excl_acquire, .release = excl_release },
};

/* Fills l with the locker called name ("pidfile:50" sets a poll interval). */
int locker_find(struct locker *l, const char *name)
{
	const char *colon = strchr(name, ':');
	size_t len = colon ? (size_t)(colon - name) : strlen(name);

	for (size_t i = 0; i < sizeof(lockers) / sizeof(lockers[0]); i++) {
		if (strlen(lockers[i].name) != len ||
		    strncmp(lockers[i].name, name, len) != 0)
			continue;
		*l = lockers[i];
		l->fd = -1;
		if (colon)
			l->poll_ms = (int)arg_long(colon + 1, 1, 60000, "poll interval");
		return 0;
	}
	return -ENOENT;
}
