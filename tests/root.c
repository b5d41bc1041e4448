/* SPDX-License-Identifier: MIT */
/* The helpers of the suites that need root; see root.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "root.h"

const char *const failure_text[] = { "ok", FAILURES(AS_TEXT) };

static const char *describe(int rc)
{
	static char buf[160];

	if (rc == BAD_TIMEOUT)
		return "timed out and was killed";
	if (rc > 128)
		snprintf(buf, sizeof(buf), "killed by signal %d (%s)", rc - 128,
			 strsignal(rc - 128));
	else if (rc > 0 && rc < BAD_COUNT)
		snprintf(buf, sizeof(buf), "%s", failure_text[rc]);
	else
		snprintf(buf, sizeof(buf), "exit status %d", rc);
	return buf;
}

void expect_ok(const char *what, int rc)
{
	if (rc != 0)
		fail_msg("%s: %s (child exit %d; details above)", what,
			 describe(rc), rc);
}

/* Reaps pid within timeout_ms, else kills it.  Returns its exit code,
 * 128+signal, or BAD_TIMEOUT. */
int wait_bounded(pid_t pid, int timeout_ms)
{
	int r = kid_reap(pid, timeout_ms);

	return r < 0 ? BAD_TIMEOUT : r;
}

int run_child(int (*fn)(void *), void *arg)
{
	pid_t pid = kid_fork(fn, arg);

	return pid < 0 ? BAD_SETUP : wait_bounded(pid, CHILD_TIMEOUT_MS);
}

int become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return -errno;
	return geteuid() == NOBODY && getegid() == NOBODY ? 0 : -EPERM;
}

/* A private mount namespace: our mounts vanish with the child. */
int enter_private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return BAD_UNSHARE;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return BAD_MOUNT_PRIVATE;
	return 0;
}

/* Takes the lock at path and exits without releasing: a stale lock. */
static int hold_and_die(void *arg)
{
	struct pidlock *lock;

	if (pidlock_new(&lock, arg) < 0 ||
	    pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT) < 0)
		return BAD_STALE;
	return 0;
}

/* Child-safe: 0, or a failure code. */
int leave_stale(const char *path)
{
	return run_child(hold_and_die, (void *)path);
}

/* Acquires once and lets go again; returns what the acquire returned. */
int acquire_once(const char *path)
{
	struct pidlock *lock;
	int r = pidlock_new(&lock, path);

	if (r < 0)
		return r;
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	pidlock_free(lock);
	return r;
}

/* dir + "/" + name, in a rotating static buffer. */
const char *path_in(const char *dir, const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, separated by spaces ("" when empty). */
const char *listing(const char *dir)
{
	static char out[4096];
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	out[0] = '\0';
	if (!d)
		return "(cannot open)";
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		strlcat(out, i ? " " : "", sizeof(out));
		strlcat(out, names[i], sizeof(out));
		free(names[i]);
	}
	return out;
}

int snap_take(const char *path, struct snap *s)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->len = -1;
	if (lstat(path, &s->st) < 0)
		return -errno;
	if (S_ISLNK(s->st.st_mode) &&
	    readlink(path, s->target, sizeof(s->target) - 1) < 0)
		return -errno;
	if (S_ISREG(s->st.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		s->len = read(fd, s->data, sizeof(s->data));
		close(fd);
	}
	return 0;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* NULL when path still looks exactly like before, else what differs. */
const char *snap_diff(const struct snap *before, const char *path)
{
	struct snap now;
	const struct stat *a = &before->st, *b = &now.st;

	if (snap_take(path, &now) < 0)
		return "gone";
	if (a->st_dev != b->st_dev || a->st_ino != b->st_ino)
		return "another inode";
	if (a->st_mode != b->st_mode)
		return "mode";
	if (a->st_uid != b->st_uid || a->st_gid != b->st_gid)
		return "owner";
	if (a->st_nlink != b->st_nlink)
		return "link count";
	if (a->st_size != b->st_size || before->len != now.len ||
	    (now.len > 0 && memcmp(before->data, now.data, (size_t)now.len)))
		return "content";
	if (strcmp(before->target, now.target))
		return "symlink target";
	if (!same_time(a->st_mtim, b->st_mtim))
		return "mtime";
	if (!same_time(a->st_ctim, b->st_ctim))
		return "ctime";
	return NULL;
}

void expect_unchanged(const struct snap *before, const char *path)
{
	const char *diff = snap_diff(before, path);

	if (diff)
		fail_msg("%s: changed: %s", path, diff);
}

void expect_state(const char *path, enum pidlock_state want)
{
	struct pidlock_info info;

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	if (info.state != want)
		fail_msg("%s: inspect says %s (%s), expected %s", path,
			 pidlock_state_name(info.state), info.reason,
			 pidlock_state_name(want));
}

void make_dir(const char *path, mode_t mode)
{
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}
