/* SPDX-License-Identifier: MIT */
/*
 * Inspection: who holds a lock, asked of the kernel, never by taking it.
 *
 * /proc/locks lists every lock once, with the PID that acquired it; it is
 * read once into a sorted table that serves any number of files.  That
 * PID may have died while a child it forked still holds the lock through
 * the inherited descriptor, so when it is gone the real holders are found
 * in /proc/PID/fdinfo, which names every process whose descriptor holds
 * the lock.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

/* /proc/locks is the kernel's; still, do not let it eat all memory. */
#define LOCKS_MAX_BYTES (256u << 20)

struct entry {
	dev_t dev;
	ino_t ino;
	struct pidlock_kernel_holder h;
};

/* A descriptor of a process, and the file it refers to. */
struct fd_ent {
	dev_t dev;
	ino_t ino;
	int fd;
};

/* One process's descriptor table, as read once for a snapshot. */
struct fd_table {
	pid_t pid;              /* 0: an empty slot */
	int err;                /* reading it failed: -errno */
	struct fd_ent *fds;
	size_t nfds;
	bool last_first;        /* try its descriptors from the last (fds_hold) */
};

/*
 * The descriptors of the processes asked about are remembered with the
 * snapshot: a holder of hundreds of locks (lockstat -a, lockstat DIR) has
 * its descriptor table read once per snapshot, not once per lock, in
 * whatever order a directory lists its locks (ext4 lists them by hash,
 * mixing the holders).
 */
#define FD_TABLES 64

struct pidlock_snapshot {
	unsigned long serial;   /* names its inspections' memory (proc.c) */
	struct entry *v;
	size_t n;
	pthread_mutex_t fds_lock;
	struct fd_table tables[FD_TABLES];
	unsigned next_evicted;  /* when every slot is taken */
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/* Orders by file, then by everything else, so that repeats are adjacent. */
static int cmp_whole_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = cmp_entry(a, b);

	if (c)
		return c;
	if (x->h.pid != y->h.pid)
		return x->h.pid < y->h.pid ? -1 : 1;
	if (x->h.waiting != y->h.waiting)
		return x->h.waiting - y->h.waiting;
	if (x->h.exclusive != y->h.exclusive)
		return x->h.exclusive - y->h.exclusive;
	return x->h.flock - y->h.flock;
}

/*
 * The kernel writes /proc/locks one page per read(), dropping its lock
 * table in between: when locks come and go meanwhile, a line can be seen
 * twice.  Identical lines say nothing more than one does -- except for
 * OFD locks, which the kernel lists with PID -1 (kept here as 0): two
 * open file descriptions may hold the same range, and their lines are
 * identical, so they are all kept; their holders are found in fdinfo.
 */
static void drop_repeats(struct pidlock_snapshot *snap)
{
	size_t kept = 0;

	for (size_t i = 0; i < snap->n; i++)
		if (kept == 0 || snap->v[i].h.pid == 0 ||
		    cmp_whole_entry(&snap->v[kept - 1], &snap->v[i]))
			snap->v[kept++] = snap->v[i];
	snap->n = kept;
}

static int slurp_locks(char **out, size_t *len)
{
	size_t size = 1 << 16, got = 0;
	char *buf = NULL;
	int fd = openat(AT_FDCWD, "/proc/locks", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		if (got + 1 >= size || !buf) {
			char *p = size > LOCKS_MAX_BYTES ? NULL : realloc(buf, size *= 2);
			if (!p) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = p;
		}
		ssize_t n = read(fd, buf + got, size - got - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* "1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF", maybe with "-> ". */
static bool parse_lock_line(char *line, struct entry *e)
{
	char type[16], mode[16], *p = strchr(line, ':');
	unsigned maj, min;
	unsigned long long ino;
	int pid;

	if (!p)
		return false;
	p++;
	memset(e, 0, sizeof(*e));
	while (*p == ' ')
		p++;
	if (strncmp(p, "->", 2) == 0) {
		e->h.waiting = 1;
		p += 2;
	}
	if (sscanf(p, " %15s %*s %15s %d %x:%x:%llu", type, mode, &pid, &maj,
		   &min, &ino) != 6)
		return false;
	e->dev = makedev(maj, min);
	e->ino = (ino_t)ino;
	e->h.pid = pid > 0 ? pid : 0;
	e->h.uid = (uid_t)-1;
	e->h.exclusive = strcmp(mode, "WRITE") == 0;
	e->h.flock = strcmp(type, "FLOCK") == 0;
	return true;
}

/* Inspections with one snapshot share what /proc said (proc.c); every
 * other inspection gets a serial of its own. */
static unsigned long next_serial(void)
{
	static unsigned long serials;

	return __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
}

PIDLOCK_PUBLIC
int pidlock_snapshot_new(struct pidlock_snapshot **snapp)
{
	struct pidlock_snapshot *snap = calloc(1, sizeof(*snap));
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, lines = 0;
	int r;

	if (!snap)
		return -ENOMEM;
	pthread_mutex_init(&snap->fds_lock, NULL);
	snap->serial = next_serial();
	r = slurp_locks(&buf, &len);
	if (r < 0) {
		free(snap);
		return r;
	}
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	snap->v = calloc(lines + 1, sizeof(*snap->v));
	if (!snap->v) {
		free(buf);
		free(snap);
		return -ENOMEM;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_lock_line(line, &snap->v[snap->n]))
			snap->n++;
	free(buf);
	qsort(snap->v, snap->n, sizeof(*snap->v), cmp_whole_entry);
	drop_repeats(snap);
	*snapp = snap;
	return 0;
}

PIDLOCK_PUBLIC
void pidlock_snapshot_free(struct pidlock_snapshot *snap)
{
	if (!snap)
		return;
	pthread_mutex_destroy(&snap->fds_lock);
	for (size_t i = 0; i < FD_TABLES; i++)
		free(snap->tables[i].fds);
	free(snap->v);
	free(snap);
}

PIDLOCK_PUBLIC
size_t pidlock_snapshot_count(const struct pidlock_snapshot *snap)
{
	return snap ? snap->n : 0;
}

PIDLOCK_PUBLIC
int pidlock_snapshot_get(const struct pidlock_snapshot *snap, size_t i,
			 uint64_t *dev, uint64_t *ino,
			 struct pidlock_kernel_holder *holder)
{
	if (!snap || i >= snap->n)
		return -ERANGE;
	*dev = snap->v[i].dev;
	*ino = snap->v[i].ino;
	*holder = snap->v[i].h;
	return 0;
}

static bool has_holder(const struct pidlock_info *info, pid_t pid)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting && info->holders[i].pid == pid)
			return true;
	return false;
}

static void add_holder(struct pidlock_info *info,
		       const struct pidlock_kernel_holder *h)
{
	if (info->nholders >= PIDLOCK_HOLDERS_MAX ||
	    (!h->waiting && h->pid > 0 && has_holder(info, h->pid)))
		return;
	info->holders[info->nholders] = *h;
	info->holders[info->nholders].uid = pidlock__proc_owner(h->pid);
	info->nholders++;
}

/*
 * The fdinfo "lock:" lines of one descriptor: the kernel lists there the
 * locks held through this open file description (flock, OFD) or by this
 * process (POSIX).  Their PID field is -1 for OFD locks: the process is
 * the one whose fdinfo this is.
 */
static bool fdinfo_names(const char *text, dev_t dev, ino_t ino,
			 struct pidlock_kernel_holder *h)
{
	const char *p = text;
	struct entry e;
	char line[256];

	while ((p = strstr(p, "lock:")) != NULL) {
		size_t n = strcspn(p + 5, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(n < 255 ? n : 255), p + 5);
		if (parse_lock_line(line, &e) && !e.h.waiting && e.dev == dev &&
		    e.ino == ino) {
			h->exclusive = e.h.exclusive;
			h->flock = e.h.flock;
			return true;
		}
		p += 5;
	}
	return false;
}

/*
 * The descriptors of a process (its /proc directory open at piddir) and
 * the files they refer to (a stat() of /proc/PID/fd/N), in *fds.  Returns
 * 0, or -errno when they cannot be seen (another user's process, hidepid):
 * then nobody can tell what it holds.
 */
static int load_fds(int piddir, struct fd_ent **fds, size_t *nfds)
{
	struct fd_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	struct stat st;
	int fd, err;
	DIR *dir;

	fd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		err = errno;
		if (fd >= 0)
			close(fd);
		return err == ENOENT ? 0 : -err;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || fstatat(dirfd(dir), d->d_name, &st, 0) < 0)
			continue;
		if (n == cap) {
			struct fd_ent *p = reallocarray(v, cap = cap ? 2 * cap : 16,
							sizeof(*v));
			if (!p) {
				free(v);
				closedir(dir);
				return -ENOMEM;
			}
			v = p;
		}
		v[n++] = (struct fd_ent){ st.st_dev, st.st_ino, atoi(d->d_name) };
	}
	closedir(dir);
	*fds = v;
	*nfds = n;
	return 0;
}

/*
 * The fdinfo of descriptor fd of the process whose /proc directory is
 * piddir (or, piddir -1, of process pid), NUL-terminated.  One read():
 * the kernel writes an fdinfo whole, and a lock file's is a few lines.
 */
static int read_fdinfo(int piddir, pid_t pid, int fd, char *buf, size_t size)
{
	char name[48];
	ssize_t n;
	int f;

	if (piddir >= 0)
		snprintf(name, sizeof(name), "fdinfo/%d", fd);
	else
		snprintf(name, sizeof(name), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = openat(piddir >= 0 ? piddir : AT_FDCWD, name,
		   O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (f < 0)
		return -errno;
	do
		n = read(f, buf, size - 1);
	while (n < 0 && errno == EINTR);
	close(f);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/*
 * Does one of the descriptors fds of dev:ino hold a lock on it?  A pidlock
 * holder has two on its file, the locked one and the record's writer, the
 * writer first where it created the file and last where it found it.  A
 * holder of many locks mostly got them alike, so the order that found its
 * last one is tried first (*last_first, kept with its table; NULL: from
 * the first): one fdinfo read a lock, not two.
 */
static bool fds_hold(int piddir, pid_t pid, const struct fd_ent *fds,
		     size_t nfds, dev_t dev, ino_t ino,
		     struct pidlock_kernel_holder *h, bool *last_first)
{
	bool backwards = last_first && *last_first;
	unsigned tried = 0;
	char buf[1024];

	for (size_t k = 0; k < nfds; k++) {
		const struct fd_ent *f = &fds[backwards ? nfds - 1 - k : k];
		if (f->dev != dev || f->ino != ino)
			continue;
		tried++;
		if (read_fdinfo(piddir, pid, f->fd, buf, sizeof(buf)) < 0)
			continue;
		if (fdinfo_names(buf, dev, ino, h)) {
			if (last_first && tried > 1)
				*last_first = !backwards;
			return true;
		}
	}
	return false;
}

/* 1 or 0: does process piddir hold a lock on dev:ino; or -errno. */
static int piddir_holds(int piddir, dev_t dev, ino_t ino,
			struct pidlock_kernel_holder *h)
{
	struct fd_ent *fds = NULL;
	size_t nfds = 0;
	int r = load_fds(piddir, &fds, &nfds);

	if (r == 0)
		r = fds_hold(piddir, 0, fds, nfds, dev, ino, h, NULL);
	free(fds);
	return r;
}

static int open_piddir(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* pid's descriptor table in snap, read now if it is not there yet. */
static struct fd_table *snap_fd_table(struct pidlock_snapshot *snap, pid_t pid)
{
	struct fd_table *t = NULL;
	int piddir;

	for (size_t i = 0; i < FD_TABLES; i++) {
		if (snap->tables[i].pid == pid)
			return &snap->tables[i];
		if (!t && snap->tables[i].pid == 0)
			t = &snap->tables[i];
	}
	if (!t)
		t = &snap->tables[snap->next_evicted++ % FD_TABLES];
	free(t->fds);
	*t = (struct fd_table){ .pid = pid };
	piddir = open_piddir(pid);
	if (piddir < 0) {
		t->err = errno == ENOENT ? 0 : -errno;
		return t;
	}
	t->err = load_fds(piddir, &t->fds, &t->nfds);
	close(piddir);
	return t;
}

/*
 * pidlock__pid_holds(), with pid's descriptor table kept in snap.  The
 * fdinfo is read by its full path: a "lock:" line of dev:ino in it is the
 * proof, whichever process has the PID by now.
 */
static int snap_pid_holds(struct pidlock_snapshot *snap, pid_t pid, dev_t dev,
			  ino_t ino, struct pidlock_kernel_holder *h)
{
	struct fd_table *t;
	int r;

	memset(h, 0, sizeof(*h));
	pthread_mutex_lock(&snap->fds_lock);
	t = snap_fd_table(snap, pid);
	r = t->err < 0 ? t->err
		       : fds_hold(-1, pid, t->fds, t->nfds, dev, ino, h,
				  &t->last_first);
	pthread_mutex_unlock(&snap->fds_lock);
	if (r == 1)
		h->pid = pid;
	return r;
}

int pidlock__pid_holds(pid_t pid, dev_t dev, ino_t ino,
		       struct pidlock_kernel_holder *h)
{
	int piddir, r;

	if (pid <= 0)
		return 0;
	piddir = open_piddir(pid);
	if (piddir < 0)
		return errno == ENOENT ? 0 : -errno;
	memset(h, 0, sizeof(*h));
	r = piddir_holds(piddir, dev, ino, h);
	close(piddir);
	if (r == 1)
		h->pid = pid;
	return r;
}

/*
 * Every process with a descriptor that holds the lock: the holders that
 * /proc/locks cannot name (OFD locks, whose PID it shows as -1; flock
 * locks whose acquirer has gone while a child keeps the descriptor).
 * This walks all of /proc, as lslocks(8) does, so it runs only then.
 */
static void scan_holders(dev_t dev, ino_t ino, struct pidlock_info *info)
{
	int procfd = openat(AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	DIR *dir;

	if (procfd < 0 || !(dir = fdopendir(procfd))) {
		if (procfd >= 0)
			close(procfd);
		return;
	}
	while ((d = readdir(dir)) != NULL && info->nholders < PIDLOCK_HOLDERS_MAX) {
		struct pidlock_kernel_holder h = { 0 };
		pid_t pid;
		int piddir;
		if (pidlock__parse_pid(d->d_name, strlen(d->d_name), &pid) < 0 ||
		    has_holder(info, pid))
			continue;
		piddir = openat(dirfd(dir), d->d_name,
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (piddir < 0)
			continue;
		if (piddir_holds(piddir, dev, ino, &h) == 1) {
			h.pid = pid;
			add_holder(info, &h);
		}
		close(piddir);
	}
	closedir(dir);
}

bool pidlock__held_by_others(dev_t dev, ino_t ino)
{
	struct pidlock_info *info = calloc(1, sizeof(*info));
	bool found = false;

	if (!info)
		return false;
	scan_holders(dev, ino, info);
	for (unsigned i = 0; i < info->nholders; i++)
		if (info->holders[i].pid != pidlock__self_pid())
			found = true;
	free(info);
	return found;
}

static bool pid_gone(pid_t pid)
{
	struct pidlock__proc proc;

	return pid > 0 && (pidlock__proc_read(pid, &proc) < 0 || !proc.exists ||
			   proc.zombie);
}

/*
 * May this /proc/locks line stand for its holder?  A POSIX lock belongs
 * to the process the line names.  A flock lock belongs to an open file
 * description, and the line names the process that took it, which may
 * have died or closed its descriptor since: fdinfo says whether it still
 * holds it.  When fdinfo cannot be read (another user's process), the
 * kernel's word, with the process alive, is the best there is.
 */
static bool line_names_holder(const struct pidlock_snapshot *snap,
			      const struct entry *e, dev_t dev, ino_t ino)
{
	struct pidlock_kernel_holder h;

	if (e->h.waiting)
		return true;
	if (e->h.pid <= 0)
		return false; /* OFD: only fdinfo knows */
	if (!e->h.flock)
		return true;
	if (pid_gone(e->h.pid))
		return false;
	/* The table is the snapshot's cache, not its content: hence the cast. */
	return snap_pid_holds((struct pidlock_snapshot *)snap, e->h.pid, dev,
			      ino, &h) != 0;
}

int pidlock__kernel_holders(const struct pidlock_snapshot *snap, dev_t dev,
			    ino_t ino, struct pidlock_info *info)
{
	struct pidlock_snapshot *own = NULL;
	struct entry key = { .dev = dev, .ino = ino }, *e;
	bool unnamed = false;
	int r;

	info->nholders = 0;
	if (!snap) {
		r = pidlock_snapshot_new(&own);
		if (r < 0)
			return r;
		snap = own;
	}
	e = bsearch(&key, snap->v, snap->n, sizeof(*e), cmp_entry);
	while (e && e > snap->v && cmp_entry(e - 1, &key) == 0)
		e--;
	for (; e && e < snap->v + snap->n && cmp_entry(e, &key) == 0; e++) {
		if (!line_names_holder(snap, e, dev, ino)) {
			unnamed = true;
			continue;
		}
		add_holder(info, &e->h);
	}
	if (unnamed)
		scan_holders(dev, ino, info);
	pidlock_snapshot_free(own);
	return 0;
}

/*
 * Judges a file found locked by an acquirer that did not get it.  When
 * one of the descriptors of the process the file names holds the lock
 * (one fdinfo read), that settles who holds it; otherwise, or when there
 * is no PID to ask about, /proc/locks and fdinfo say who does.
 */
void pidlock__judge_held(struct pidlock_info *info)
{
	struct pidlock_kernel_holder h;

	info->nholders = 0;
	if (pidlock__pid_holds(info->pid, info->dev, info->ino, &h) == 1)
		add_holder(info, &h);
	else
		(void)pidlock__kernel_holders(NULL, info->dev, info->ino, info);
	pidlock__judge_locked(info);
}

static bool held(const struct pidlock_info *info)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting)
			return true;
	return false;
}

static void set_unknown(struct pidlock_info *info, int err)
{
	info->state = PIDLOCK_STATE_UNKNOWN;
	snprintf(info->reason, sizeof(info->reason), "%s", pidlock_strerror(err));
}

static int inspect_open(int dirfd, const char *name, const struct stat *st,
			struct pidlock_info *info)
{
	int fd = pidlock__open_same(dirfd, name, O_RDONLY, st);

	if (fd < 0) {
		set_unknown(info, fd);
		return -1;
	}
	return fd;
}

static void judge_content(const struct pidlock__file_content *c,
			  const struct stat *st, int place_err,
			  struct pidlock_info *info, const struct stat *dir)
{
	if (c->kind == CONTENT_RECORD && place_err == -PIDLOCK_EOWNER)
		place_err = pidlock__check_place(dir, st, &c->rec, info);
	if (place_err < 0) {
		/* UNSAFE, with its reason; the record is still shown */
		pidlock__content_record(c, info);
		return;
	}
	pidlock__content_judge(c, st, info);
	if (held(info))
		pidlock__judge_locked(info);
}

/*
 * Without /proc/locks (a chroot, a container without /proc) nobody can
 * tell a held lock from a free one: a file that would be "stale" or
 * "free" for want of a holder is "unknown" instead, never a candidate
 * for removal.
 */
static void unknown_lock_state(struct pidlock_info *info, int err)
{
	switch (info->state) {
	case PIDLOCK_STATE_STALE:
	case PIDLOCK_STATE_REUSED:
	case PIDLOCK_STATE_FREE:
	case PIDLOCK_STATE_REMOTE:
		info->state = PIDLOCK_STATE_UNKNOWN;
		snprintf(info->reason, sizeof(info->reason),
			 "cannot tell whether it is locked: /proc/locks: %s",
			 pidlock_strerror(err));
		break;
	default:
		break;
	}
}

/*
 * /proc/locks comes a page per read(), the kernel's lock list unlocked in
 * between: when locks listed before this one go meanwhile, the lines
 * after them move up a place and one is never seen (lockstat once showed
 * 14 of 50,000 held files stale while other jobs churned locks).  A file
 * that looks unheld while its content names a process is asked about once
 * more where nothing is skipped: that process's own descriptors (fdinfo).
 * A lock whose holder the file does not name (flock(1) on an empty file)
 * has no such second look.
 */
static void confirm_unheld(const struct pidlock_snapshot *snap,
			   const struct pidlock__file_content *c,
			   const struct stat *st, struct pidlock_info *info)
{
	struct pidlock_kernel_holder h;
	pid_t pid = c->kind == CONTENT_RECORD	 ? (pid_t)c->rec.pid
		    : c->kind == CONTENT_PIDFILE ? c->plain_pid
						 : 0;

	if (held(info) || pid <= 0)
		return;
	/* Through the snapshot's table of the PID's descriptors (its cache,
	 * not its content: hence the cast), a scan looks at each PID once,
	 * however many stale records a dead holder left. */
	if ((snap ? snap_pid_holds((struct pidlock_snapshot *)snap, pid,
				   st->st_dev, st->st_ino, &h)
		  : pidlock__pid_holds(pid, st->st_dev, st->st_ino, &h)) == 1)
		add_holder(info, &h);
}

static void inspect_one(int dirfd, const struct stat *dir, const char *name,
			const struct pidlock_snapshot *snap,
			struct pidlock_info *info)
{
	struct pidlock__file_content c = { .kind = CONTENT_EMPTY };
	struct stat st;
	int fd, r, place_err, locks_err;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			set_unknown(info, -errno);
		return;
	}
	pidlock__info_from_stat(info, &st);
	place_err = pidlock__check_place(dir, &st, NULL, info);
	if (!S_ISREG(st.st_mode))
		return; /* never opened: no FIFO hang, no device side effect */
	info->netfs = pidlock__dir_is_netfs(dirfd, dir, st.st_dev);
	locks_err = pidlock__kernel_holders(snap, st.st_dev, st.st_ino, info);
	/* An empty file, as the look at its name just said, is not opened
	 * (most files of a lock directory: releases empty them); a network
	 * filesystem's cached size is no proof. */
	if (st.st_size != 0 || info->netfs) {
		fd = inspect_open(dirfd, name, &st, info);
		if (fd < 0)
			return;
		r = pidlock__content_read(fd, true, &c);
		close(fd);
		if (r < 0) {
			set_unknown(info, r);
			return;
		}
	}
	if (locks_err == 0)
		confirm_unheld(snap, &c, &st, info);
	judge_content(&c, &st, place_err, info, dir);
	if (locks_err < 0)
		unknown_lock_state(info, locks_err);
}

/* One inspection of name in dirfd, whose stat (for the place checks) is
 * dir, with snap (NULL: none could be taken) and the /proc answers that
 * the snapshot's inspections share. */
void pidlock__inspect_in(int dirfd, const struct stat *dir, const char *name,
			 const struct pidlock_snapshot *snap,
			 struct pidlock_info *info)
{
	pidlock__info_reset(info);
	pidlock__proc_memo(snap ? snap->serial : next_serial());
	inspect_one(dirfd, dir, name, snap, info);
	pidlock__proc_memo(0);
}

PIDLOCK_PUBLIC
int pidlock_inspectat(int dirfd, const char *name,
		      const struct pidlock_snapshot *snap,
		      struct pidlock_info *info)
{
	struct pidlock_snapshot *own = NULL;
	struct stat dir;

	if (!name || !info)
		return -EINVAL;
	if (fstat(dirfd, &dir) < 0)
		memset(&dir, 0, sizeof(dir)); /* then fstatat says why */
	/* Without a snapshot, one for this inspection's steps to share (if
	 * none can be taken, the lock's state is "unknown", as it says). */
	if (!snap && pidlock_snapshot_new(&own) == 0)
		snap = own;
	pidlock__inspect_in(dirfd, &dir, name, snap, info);
	pidlock_snapshot_free(own);
	return 0;
}

PIDLOCK_PUBLIC
int pidlock_inspect(const char *path, const struct pidlock_snapshot *snap,
		    struct pidlock_info *info)
{
	char *dir, *base;
	int dirfd, r;
	struct stat dst;

	if (!path || !info)
		return -EINVAL;
	r = pidlock__split_path(path, &dir, &base);
	if (r < 0)
		return r;
	r = pidlock__open_dir(dir, &dirfd, &dst);
	if (r == 0) {
		r = pidlock_inspectat(dirfd, base, snap, info);
		close(dirfd);
	}
	free(dir);
	free(base);
	return r;
}

PIDLOCK_PUBLIC
const char *pidlock_state_name(enum pidlock_state state)
{
	static const char *const names[] = {
		[PIDLOCK_STATE_NONE] = "none",
		[PIDLOCK_STATE_FREE] = "free",
		[PIDLOCK_STATE_LIVE] = "live",
		[PIDLOCK_STATE_LIVE_INHERITED] = "live-inherited",
		[PIDLOCK_STATE_STALE] = "stale",
		[PIDLOCK_STATE_REUSED] = "reused",
		[PIDLOCK_STATE_FOREIGN] = "foreign",
		[PIDLOCK_STATE_REMOTE] = "remote",
		[PIDLOCK_STATE_CORRUPT] = "corrupt",
		[PIDLOCK_STATE_UNSAFE] = "unsafe",
		[PIDLOCK_STATE_UNKNOWN] = "unknown",
	};

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state]
								    : "?";
}

PIDLOCK_PUBLIC
const char *pidlock_type_name(enum pidlock_type type)
{
	switch (type) {
	case PIDLOCK_TYPE_PIDLOCK: return "pidlock";
	case PIDLOCK_TYPE_PLAIN: return "plain";
	case PIDLOCK_TYPE_FLOCK: return "flock";
	default: return "-";
	}
}
