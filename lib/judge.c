/* SPDX-License-Identifier: MIT */
/*
 * Judging a lock file: is its holder alive, and may we touch it at all?
 *
 * The kernel lock is the truth for pidlock records: an unlocked record is
 * stale whatever its PID says, and the PID only explains why.  A plain
 * pidfile has no lock to ask, so it is stale only on proof of death.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "internal.h"

static void set_state(struct pidlock_info *info, enum pidlock_state state,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_state(struct pidlock_info *info, enum pidlock_state state,
		      const char *fmt, ...)
{
	va_list ap;

	info->state = state;
	va_start(ap, fmt);
	vsnprintf(info->reason, sizeof(info->reason), fmt, ap);
	va_end(ap);
}

void pidlock__info_reset(struct pidlock_info *info)
{
	memset(info, 0, sizeof(*info));
	info->state = PIDLOCK_STATE_NONE;
}

void pidlock__info_from_stat(struct pidlock_info *info, const struct stat *st)
{
	info->dev = st->st_dev;
	info->ino = st->st_ino;
	info->file_uid = st->st_uid;
	info->file_mode = st->st_mode;
	info->size = st->st_size;
	info->mtime = st->st_mtim.tv_sec;
}

/* The same boot id means the same running kernel, whatever the host name. */
static bool record_is_remote(const struct pidlock_record *rec,
			     const struct pidlock__self *self)
{
	return strcmp(rec->boot_id, self->boot_id) != 0 &&
	       strcmp(rec->host, self->host) != 0;
}

static void judge_record(const struct pidlock_record *rec,
			 struct pidlock_info *info)
{
	struct pidlock__self self;
	struct pidlock__proc proc;

	if (pidlock__self_info(&self) < 0) {
		set_state(info, PIDLOCK_STATE_STALE, "not locked");
		return;
	}
	if (record_is_remote(rec, &self))
		set_state(info, PIDLOCK_STATE_REMOTE, "record of host %s",
			  rec->host);
	else if (strcmp(rec->boot_id, self.boot_id) != 0)
		set_state(info, PIDLOCK_STATE_STALE, "written before the last boot");
	else if (rec->pidns != self.pidns)
		set_state(info, PIDLOCK_STATE_STALE,
			  "not locked (holder was in another PID namespace)");
	else if (!pidlock__pid_valid(rec->pid))
		set_state(info, PIDLOCK_STATE_CORRUPT, "PID %d above pid_max",
			  (int)rec->pid);
	else if (pidlock__proc_read(rec->pid, &proc) < 0 || !proc.exists)
		set_state(info, PIDLOCK_STATE_STALE, "holder %d is dead",
			  (int)rec->pid);
	else if (proc.zombie)
		set_state(info, PIDLOCK_STATE_STALE, "holder %d is a zombie",
			  (int)rec->pid);
	else if (proc.start_known && proc.start_time != rec->start_time)
		set_state(info, PIDLOCK_STATE_REUSED,
			  "PID %d now belongs to another process", (int)rec->pid);
	else
		set_state(info, PIDLOCK_STATE_STALE,
			  "not locked (process %d did not keep the lock)",
			  (int)rec->pid);
}

/* Wall-clock start of a process, from its start in ticks after boot. */
static int64_t started_at(const struct pidlock__proc *proc,
			  const struct pidlock__self *self)
{
	int64_t boot = pidlock__boot_time();

	if (!proc->start_known || !boot || self->clock_ticks <= 0)
		return 0;
	return boot + (int64_t)(proc->start_time /
					   (uint64_t)self->clock_ticks);
}

/*
 * btime and mtime come from different clocks (btime is derived from
 * uptime and drifts with NTP); allow this much slack before calling a
 * process "started after the file was written".
 */
#define CLOCK_SLACK 2

/* The uid a process runs as (effective), (uid_t)-1 when unknown. */
static uid_t uid_of_process(pid_t pid)
{
	uint64_t start, pidns;
	uid_t uid;

	return pidlock__proc_identity(pid, &start, &pidns, &uid, NULL, 0) == 0
		       ? uid : (uid_t)-1;
}

/*
 * A plain pidfile has no lock to ask and no start time to compare, so
 * only proof of death makes it stale: no process, or a zombie.  Its time
 * proves nothing while the process lives -- clocks are stepped, VM
 * snapshots restored, files touched -- so a file older than the boot, or
 * a process that started after the file was written, is a doubt about the
 * file, never a verdict against a live process.  The price: a plain
 * pidfile whose PID was reused by an unrelated process is kept until that
 * process exits (pidlock(5) "Plain pidfiles").
 */
static void judge_plain(pid_t pid, const struct stat *st,
			struct pidlock_info *info)
{
	struct pidlock__self self;
	struct pidlock__proc proc;
	int64_t mtime = st->st_mtim.tv_sec, started;
	bool before_boot;
	uid_t uid;

	if (!pidlock__pid_valid(pid)) {
		set_state(info, PIDLOCK_STATE_CORRUPT, "PID %d above pid_max",
			  (int)pid);
		return;
	}
	if (pidlock__self_info(&self) < 0)
		memset(&self, 0, sizeof(self));
	before_boot = pidlock__boot_time() &&
		      mtime + CLOCK_SLACK < pidlock__boot_time();
	if (pidlock__proc_read(pid, &proc) < 0 || !proc.exists || proc.zombie) {
		set_state(info, PIDLOCK_STATE_STALE, "%s %d%s",
			  proc.exists ? "process" : "no process", (int)pid,
			  proc.exists ? " is a zombie"
			  : before_boot ? " (written before the last boot)" : "");
		return;
	}
	/* No record to name the command: say what the system calls it. */
	strlcpy(info->record.comm, proc.comm, sizeof(info->record.comm));
	started = started_at(&proc, &self);
	if (before_boot)
		info->doubts |= PIDLOCK_DOUBT_START;
	else if (started && started > mtime + CLOCK_SLACK)
		info->doubts |= PIDLOCK_DOUBT_START;
	uid = uid_of_process(pid);
	if (st->st_uid != 0 && uid != (uid_t)-1 && st->st_uid != uid)
		info->doubts |= PIDLOCK_DOUBT_UID;
	if (pid == 1)
		info->doubts |= PIDLOCK_DOUBT_INIT;
	set_state(info, PIDLOCK_STATE_FOREIGN, "process %d is alive%s", (int)pid,
		  !(info->doubts & PIDLOCK_DOUBT_START) ? ""
		  : before_boot ? " (the file predates the boot)"
			  : " (it started after the file was written)");
	if (!info->doubts)
		info->live_pid = pid;
}

void pidlock__judge_unlocked(enum pidlock__content content,
			     const struct pidlock_record *rec, pid_t plain_pid,
			     const struct stat *st, struct pidlock_info *info)
{
	switch (content) {
	case CONTENT_EMPTY:
		info->type = PIDLOCK_TYPE_FLOCK;
		set_state(info, PIDLOCK_STATE_FREE, "empty, not locked");
		break;
	case CONTENT_OTHER:
		info->type = PIDLOCK_TYPE_FLOCK;
		set_state(info, PIDLOCK_STATE_FREE, "no PID in file, not locked");
		break;
	case CONTENT_RECORD:
		info->type = PIDLOCK_TYPE_PIDLOCK;
		info->pid = rec->pid;
		judge_record(rec, info);
		break;
	case CONTENT_PIDFILE:
		info->type = PIDLOCK_TYPE_PLAIN;
		info->pid = plain_pid;
		judge_plain(plain_pid, st, info);
		break;
	case CONTENT_RECORD_CORRUPT:
	case CONTENT_PIDLIKE_BAD:
		info->type = content == CONTENT_RECORD_CORRUPT
				     ? PIDLOCK_TYPE_PIDLOCK : PIDLOCK_TYPE_PLAIN;
		if (info->state != PIDLOCK_STATE_CORRUPT)
			set_state(info, PIDLOCK_STATE_CORRUPT, "unreadable");
		break;
	}
}

/*
 * The torn-record policy.  A holder rewrites its record in place (new
 * bytes first, then the tail cut), so a reader that does not hold the lock
 * may catch it half-written: a bad sum or trailing bytes.  Such a reader
 * reads again, up to READ_TRIES times, before it calls the record corrupt.
 * Under the lock nobody writes, so there one read is the truth (and an
 * acquirer's first look, before it locks, reads again once it holds it).
 */
#define READ_TRIES 5

int pidlock__content_read(int fd, bool unlocked,
			  struct pidlock__file_content *c)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	int tries = unlocked ? READ_TRIES : 1;
	ssize_t n;

	for (int i = 0; i < tries; i++) {
		do
			n = pread(fd, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		/* More than a record's worth: the tail must be cut, whatever
		 * it is. */
		c->len = (size_t)n < sizeof(buf) ? (size_t)n : SIZE_MAX;
		c->kind = pidlock__classify(buf, (size_t)n, &c->rec,
					    &c->plain_pid, &c->why);
		if (c->kind != CONTENT_RECORD_CORRUPT)
			break;
	}
	return 0;
}

/* What the file says of its holder, shown whatever the verdict. */
void pidlock__content_record(const struct pidlock__file_content *c,
			     struct pidlock_info *info)
{
	if (c->kind == CONTENT_RECORD) {
		info->record = c->rec;
		info->has_record = 1;
	}
}

/*
 * Judges a file from its content, as if nobody held its lock: the one
 * judgement of acquirers, inspection and cleaners (who then add what the
 * lock says, pidlock__judge_locked()).
 */
void pidlock__content_judge(const struct pidlock__file_content *c,
			    const struct stat *st, struct pidlock_info *info)
{
	pidlock__content_record(c, info);
	if (c->why)
		set_state(info, PIDLOCK_STATE_CORRUPT, "%s", c->why);
	pidlock__judge_unlocked(c->kind, &c->rec, c->plain_pid, st, info);
}

/* Is the recorded process still the one that took the lock? */
bool pidlock__record_pid_alive(const struct pidlock_record *rec)
{
	struct pidlock__self self;
	struct pidlock__proc proc;

	if (pidlock__self_info(&self) < 0 || record_is_remote(rec, &self) ||
	    strcmp(rec->boot_id, self.boot_id) != 0 || rec->pidns != self.pidns)
		return true; /* cannot check from here: trust the lock */
	if (pidlock__proc_read(rec->pid, &proc) < 0 || !proc.exists ||
	    proc.zombie)
		return false;
	return !proc.start_known || proc.start_time == rec->start_time;
}

static bool is_holder(const struct pidlock_info *info, pid_t pid)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting && info->holders[i].pid == pid)
			return true;
	return false;
}

static pid_t first_holder(const struct pidlock_info *info)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting && info->holders[i].pid > 0)
			return info->holders[i].pid;
	return 0;
}

/*
 * Does the kernel prove that the PID the file names holds the lock?  It
 * does when that process is one of the holders found, or when one of its
 * descriptors holds the lock (a command that inherited the descriptor of
 * the lockrun that took the lock, which /proc/locks names instead).
 */
static int named_holds(struct pidlock_info *info)
{
	struct pidlock_kernel_holder h;

	if (info->pid <= 0)
		return 0;
	if (is_holder(info, info->pid))
		return 1;
	return pidlock__pid_holds(info->pid, info->dev, info->ino, &h);
}

/* What the live process named by a local record says against it. */
static void record_doubts(struct pidlock_info *info)
{
	const struct pidlock_record *rec = &info->record;
	struct pidlock__self self;
	uint64_t start, pidns;
	uid_t uid;

	if (rec->pid == 1)
		info->doubts |= PIDLOCK_DOUBT_INIT;
	if (pidlock__self_info(&self) < 0 || record_is_remote(rec, &self) ||
	    strcmp(rec->boot_id, self.boot_id) != 0 || rec->pidns != self.pidns ||
	    pidlock__proc_identity(rec->pid, &start, &pidns, &uid, NULL, 0) < 0)
		return;
	if (start != rec->start_time)
		info->doubts |= PIDLOCK_DOUBT_START;
	else if (uid != (uid_t)-1 && uid != rec->uid)
		info->doubts |= PIDLOCK_DOUBT_UID;
}

static const char *doubt_text(unsigned doubts, int holds)
{
	if (doubts & PIDLOCK_DOUBT_UID)
		return "runs as another uid than the file says";
	if (doubts & PIDLOCK_DOUBT_START)
		return "is not the process the file was written for";
	return holds < 0 ? "cannot be shown to hold it" : "does not hold it";
}

/*
 * Judges a file whose lock is held, its kernel holders found: who may be
 * named as the holder (live_pid), and what the file's claims are worth.
 * The kernel's word wins: a PID read from the file is named only when
 * the kernel shows that process holding the lock.
 */
void pidlock__judge_locked(struct pidlock_info *info)
{
	pid_t named = info->pid;
	int holds = named_holds(info); /* < 0: its descriptors are hidden */
	bool proven = holds == 1;
	pid_t holder = first_holder(info);

	if (info->has_record)
		record_doubts(info);
	else if (named == 1)
		info->doubts |= PIDLOCK_DOUBT_INIT;
	if (named > 0 && !proven)
		info->doubts |= PIDLOCK_DOUBT_UNPROVEN;
	info->live_pid = proven ? named : holder;
	if (info->has_record && !pidlock__record_pid_alive(&info->record))
		set_state(info, PIDLOCK_STATE_LIVE_INHERITED,
			  "PID %d is gone; the lock is held by its heirs",
			  (int)info->record.pid);
	else if (named > 0 && (!proven || (info->doubts & PIDLOCK_DOUBT_UID)))
		set_state(info, PIDLOCK_STATE_LIVE,
			  "locked by %s%.0d; the file names PID %d, which %s",
			  holder ? "PID " : "another process", (int)holder,
			  (int)named, doubt_text(info->doubts, holds));
	else if (named > 0)
		set_state(info, PIDLOCK_STATE_LIVE, "held by PID %d", (int)named);
	else if (holder)
		set_state(info, PIDLOCK_STATE_LIVE, "locked by PID %d", (int)holder);
	else
		set_state(info, PIDLOCK_STATE_LIVE, "locked");
}

static bool owner_trusted(const struct stat *st,
			  const struct pidlock_record *rec)
{
	return st->st_uid == 0 || st->st_uid == geteuid() ||
	       (rec && st->st_uid == rec->uid);
}

/*
 * What a lock file must be for any use: a regular file reached without a
 * symlink.  Returns 0 or the refusal code; info->state becomes UNSAFE with
 * the reason on refusal.
 */
int pidlock__check_type(const struct stat *st, struct pidlock_info *info)
{
	if (S_ISLNK(st->st_mode))
		return set_state(info, PIDLOCK_STATE_UNSAFE, "symbolic link"),
		       -PIDLOCK_ESYMLINK;
	if (S_ISDIR(st->st_mode))
		return set_state(info, PIDLOCK_STATE_UNSAFE, "directory"),
		       -PIDLOCK_EISDIR;
	if (!S_ISREG(st->st_mode))
		return set_state(info, PIDLOCK_STATE_UNSAFE, "%s",
				 S_ISFIFO(st->st_mode)   ? "FIFO"
				 : S_ISSOCK(st->st_mode) ? "socket"
							 : "device node"),
		       -PIDLOCK_ENOTREG;
	return 0;
}

/*
 * What a file must be before we trust its record, write into it or
 * unlink it: the rest of pidlock(5) "Hostile places".
 */
int pidlock__check_place(const struct stat *dir, const struct stat *st,
			 const struct pidlock_record *rec,
			 struct pidlock_info *info)
{
	bool dir_open = dir && (dir->st_mode & S_IWOTH);
	int r = pidlock__check_type(st, info);

	if (r < 0)
		return r;
	if (st->st_nlink > 1)
		return set_state(info, PIDLOCK_STATE_UNSAFE,
				 "%lu hard links", (unsigned long)st->st_nlink),
		       -PIDLOCK_EHARDLINK;
	if (st->st_mode & S_IWOTH)
		return set_state(info, PIDLOCK_STATE_UNSAFE, "world-writable"),
		       -PIDLOCK_EWRITABLE;
	if (dir_open && !(dir->st_mode & S_ISVTX))
		return set_state(info, PIDLOCK_STATE_UNSAFE,
				 "world-writable directory without sticky bit"),
		       -PIDLOCK_EDIRUNSAFE;
	if (dir_open && !owner_trusted(st, rec))
		return set_state(info, PIDLOCK_STATE_UNSAFE,
				 "owned by uid %u in a shared directory",
				 (unsigned)st->st_uid),
		       -PIDLOCK_EOWNER;
	return 0;
}

bool pidlock__is_netfs(int fd)
{
	static const unsigned long magics[] = {
		0x6969,     /* NFS */
		0x517b,     /* SMB */
		0xff534d42, /* CIFS */
		0xfe534d42, /* SMB2 */
		0x65735546, /* FUSE */
		0x00c36400, /* Ceph */
		0x5346414f, /* AFS */
		0x01021997, /* 9P */
		0x01161970, /* GFS2 */
		0x7461636f, /* OCFS2 */
		0x73757245, /* Coda */
		0x0bd00bd0, /* Lustre */
	};
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if ((unsigned long)sfs.f_type == magics[i])
			return true;
	return false;
}

/*
 * Whether a directory is on a network filesystem does not change while it
 * is mounted: a scan of one directory, or a loop of acquisitions in one,
 * asks the kernel once, not every time.  A file's own device differing from
 * its directory's (a mount on the file) is asked about directly.
 */
bool pidlock__dir_is_netfs(int dirfd, const struct stat *dir, dev_t file_dev)
{
	static __thread struct { dev_t dev; ino_t ino; bool netfs, valid; } last;

	if (!S_ISDIR(dir->st_mode) || file_dev != dir->st_dev)
		return pidlock__is_netfs(dirfd);
	if (!last.valid || last.dev != dir->st_dev || last.ino != dir->st_ino) {
		last.netfs = pidlock__is_netfs(dirfd);
		last.dev = dir->st_dev;
		last.ino = dir->st_ino;
		last.valid = true;
	}
	return last.netfs;
}
