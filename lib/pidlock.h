/* SPDX-License-Identifier: MIT */
/*
 * libpidlock - pidfiles that are locks, and locks that say who holds them.
 *
 * A pidlock is a file whose flock(2) lock is the truth and whose content,
 * the record, says who holds it.  Line 1 of the record is the holder's
 * PID, so every tool that reads pidfiles keeps working.  The file appears
 * complete and already locked, or not at all; a stale file (its holder
 * died, the PID was reused, the machine rebooted) is replaced atomically;
 * inspection never takes the lock.  The protocol is described in
 * pidlock(5), the API in pidlock(3).
 *
 * Conventions: every function that can fail returns 0 or a negative errno
 * value.  Two results are not failures and have their own codes:
 *   -EWOULDBLOCK  the lock is held by someone else (see pidlock_holder())
 *   -ETIMEDOUT    the wait ran out; nothing is held
 * Refusals of hostile places have codes of their own, outside the errno
 * range (PIDLOCK_E*, from PIDLOCK_EBASE), listed in pidlock(3) and
 * described by pidlock_strerror().
 *
 * ABI: the public structs use fixed-width types only (no off_t, ino_t,
 * dev_t, pid_t, whose sizes depend on the platform or _FILE_OFFSET_BITS)
 * and end in reserved bytes that later versions fill in, so that their
 * size never changes within a soname.  The library never prints, never
 * exits, opens every descriptor O_CLOEXEC and leaves no signal handler
 * behind.
 */
#ifndef PIDLOCK_H
#define PIDLOCK_H

/* The version of this header; pidlock_version() tells the library's. */
#define PIDLOCK_VERSION_MAJOR 0
#define PIDLOCK_VERSION_MINOR 2
#define PIDLOCK_VERSION_PATCH 0
#define PIDLOCK_VERSION_STRING "0.2.0"

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PIDLOCK_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PIDLOCK_MUST_CHECK
#endif

/* A record is at most this many bytes; readers never read more. */
#define PIDLOCK_RECORD_MAX 4096
/* A lock name is at most this long (it gets a ".lock" suffix). */
#define PIDLOCK_NAME_MAX 250

/* Flags for pidlock_acquire(). */
#define PIDLOCK_SHARED       0x01u /* LOCK_SH: no record, never unlink */
#define PIDLOCK_KEEP         0x02u /* keep the file (the default since 0.2) */
#define PIDLOCK_BREAK_REMOTE 0x04u /* records of other hosts may be broken */
#define PIDLOCK_NO_RECORD    0x08u /* flock(1) semantics: lock in place, keep */
#define PIDLOCK_OFD          0x10u /* fcntl OFD locks, not flock(2); no record */
/* Remove the file on release (it is emptied otherwise).  Not safe when
 * util-linux flock(1) or another non-pidlock locker uses the same path:
 * see pidlock(5), "Sharing a path with flock(1)". */
#define PIDLOCK_UNLINK       0x20u
/* A signal handler installed without SA_RESTART interrupts the wait:
 * -EINTR, nothing held (flock(2) semantics).  Without it, waits go on
 * through signals. */
#define PIDLOCK_INTERRUPTIBLE 0x40u

/* Timeouts for pidlock_acquire(), in milliseconds. */
#define PIDLOCK_WAIT_FOREVER (-1)
#define PIDLOCK_NO_WAIT      0

/*
 * Refusals of hostile places, as negative values of these codes.  They
 * are above every errno value (the kernel's are below 4096), so that
 * -PIDLOCK_EOWNER is never a system call's EPERM.
 */
#define PIDLOCK_EBASE      4096
#define PIDLOCK_ESYMLINK   (PIDLOCK_EBASE + 1) /* the path is a symbolic link */
#define PIDLOCK_EISDIR     (PIDLOCK_EBASE + 2) /* a directory where a file belongs */
#define PIDLOCK_ENOTREG    (PIDLOCK_EBASE + 3) /* FIFO, socket or device */
#define PIDLOCK_EHARDLINK  (PIDLOCK_EBASE + 4) /* the file has other hard links */
#define PIDLOCK_EWRITABLE  (PIDLOCK_EBASE + 5) /* the file is world-writable */
#define PIDLOCK_EDIRUNSAFE (PIDLOCK_EBASE + 6) /* world-writable dir, no sticky bit */
#define PIDLOCK_EOWNER     (PIDLOCK_EBASE + 7) /* untrusted owner in a sticky dir */
#define PIDLOCK_ENOTOURS   (PIDLOCK_EBASE + 8) /* release: the path is not ours */

/*
 * The record of a holder, as parsed from a lock file.  Strings are
 * NUL-terminated and free of control characters.
 */
struct pidlock_record {
	int32_t pid;              /* line 1: the process the lock is for */
	int32_t holder;           /* the process that took the lock */
	uint32_t version;         /* record format version */
	char boot_id[37];         /* /proc/sys/kernel/random/boot_id */
	uint64_t start_time;      /* start of pid, clock ticks after boot */
	uint64_t pidns;           /* inode of pid's PID namespace */
	uint32_t uid;             /* effective uid of pid */
	char host[65];            /* host name */
	int64_t time;             /* acquisition time, seconds since epoch */
	char comm[256];           /* command name */
	char message[1024];       /* user message, may be empty */
	int32_t keep;             /* 1 when the file is kept on release */
	uint8_t reserved[68];     /* zero; for later fields (no tail padding) */
};

/* What a lock file is, as judged by pidlock_inspect() or an acquirer. */
enum pidlock_state {
	PIDLOCK_STATE_NONE,           /* no file */
	PIDLOCK_STATE_FREE,           /* kept lock file, nobody holds it */
	PIDLOCK_STATE_LIVE,           /* locked; the record matches */
	PIDLOCK_STATE_LIVE_INHERITED, /* locked, but the recorded PID is gone */
	PIDLOCK_STATE_STALE,          /* unlocked; its holder is gone */
	PIDLOCK_STATE_REUSED,         /* unlocked; its PID is someone else's */
	PIDLOCK_STATE_FOREIGN,        /* plain pidfile, PID alive, plausible */
	PIDLOCK_STATE_REMOTE,         /* record of another host, unlocked */
	PIDLOCK_STATE_CORRUPT,        /* unreadable content */
	PIDLOCK_STATE_UNSAFE,         /* symlink, FIFO, untrusted owner, ... */
	PIDLOCK_STATE_UNKNOWN,        /* cannot be read */
};

/* What kind of content a lock file has. */
enum pidlock_type {
	PIDLOCK_TYPE_NONE,    /* no file, or not a regular file */
	PIDLOCK_TYPE_PIDLOCK, /* a pidlock record */
	PIDLOCK_TYPE_PLAIN,   /* a plain pidfile of another program */
	PIDLOCK_TYPE_FLOCK,   /* empty or PID-less: a flock(1) lock file */
};

#define PIDLOCK_HOLDERS_MAX 16

/* A process that holds (or waits for) the kernel lock on a file. */
struct pidlock_kernel_holder {
	int32_t pid;       /* OFD holders are found in fdinfo; 0 only for a
			      waiting OFD request */
	uint32_t uid;      /* owner of pid, (uint32_t)-1 when unknown */
	int32_t exclusive; /* 1: write lock, 0: read (shared) lock */
	int32_t waiting;   /* 1: a blocked request, not a holder */
	int32_t flock;     /* 1: flock(2), 0: POSIX or OFD lock */
	uint8_t reserved[12]; /* zero; for later fields */
};

/* The state of a lock file and everything known about its holder. */
struct pidlock_info {
	enum pidlock_state state;
	enum pidlock_type type;
	char reason[160];          /* why the state: a short phrase */
	int32_t pid;               /* the PID the file names (record line 1 or
				      plain pidfile), 0 when none */
	int32_t has_record;        /* record is valid */
	struct pidlock_record record;
	uint32_t nholders;         /* entries in holders[] */
	struct pidlock_kernel_holder holders[PIDLOCK_HOLDERS_MAX];
	int32_t netfs;             /* on NFS, CIFS, FUSE or the like */
	uint64_t dev;              /* of the file, when it exists */
	uint64_t ino;
	uint32_t file_uid;
	uint32_t file_mode;
	int64_t size;
	int64_t mtime;             /* seconds since epoch */
	int32_t live_pid;          /* the process to name as the holder, 0
				      when none can be named: see below */
	uint32_t doubts;           /* PIDLOCK_DOUBT_*: what the file says
				      that the system contradicts */
	/* Later fields take bytes from here: the size never changes. */
	uint8_t reserved[256];     /* zero */
};

/*
 * live_pid is a process that the kernel lock proves holds the file (it
 * has a descriptor that holds the lock): the PID the file names when that
 * process is one of them, else the first holder the kernel names.  For an
 * unlocked plain pidfile of a live process (state FOREIGN) it is the
 * file's PID, unless that is 1 or in doubt.  Never the PID of a file
 * nobody holds, never PID 1 read from a file.  Use it, not pid, to signal
 * or report the holder.
 *
 * A plain pidfile has no record (has_record 0), but when the process it
 * names lives, record.comm is that process's command name as /proc tells
 * it (the rest of record stays empty): a name to show, not a proof.
 */
#define PIDLOCK_DOUBT_UNPROVEN 0x01u /* the named PID does not hold the lock */
#define PIDLOCK_DOUBT_UID      0x02u /* the named process runs as another uid
					than the record (or the plain file's
					owner) says */
#define PIDLOCK_DOUBT_START    0x04u /* it started at another time than the
					record says, or after the plain file
					was written (or the file predates
					the boot) */
#define PIDLOCK_DOUBT_INIT     0x08u /* the file names PID 1 */

struct pidlock;

/*
 * Create a handle for the lock file at path (absolute or relative).
 * Nothing is opened until pidlock_acquire().
 */
PIDLOCK_MUST_CHECK
int pidlock_new(struct pidlock **lockp, const char *path);

/* Create a handle for the lock named name in the lock directory. */
PIDLOCK_MUST_CHECK
int pidlock_new_name(struct pidlock **lockp, const char *name);

/*
 * Create a handle that locks the open descriptor fd (flock(1)'s "flock 9"
 * form).  The descriptor stays the caller's: it is never closed, no record
 * is written and nothing is unlinked.
 */
PIDLOCK_MUST_CHECK
int pidlock_new_fd(struct pidlock **lockp, int fd);

/* Release the lock if held and free the handle.  NULL is allowed. */
void pidlock_free(struct pidlock *lock);

/*
 * Resolve a lock name to its path: $PIDLOCK_DIR/NAME.lock, else
 * /run/lock/NAME.lock for root, else /tmp/pidlock-UID/NAME.lock (UID the
 * effective uid), the same whatever the environment (XDG_RUNTIME_DIR,
 * HOME, TMPDIR are not used).  /tmp/pidlock-UID is made 0700 when
 * missing, and refused when it is not this user's directory or is
 * writable by others (-PIDLOCK_EOWNER, -PIDLOCK_ESYMLINK, -ENOTDIR,
 * -PIDLOCK_EDIRUNSAFE).  A name is 1..PIDLOCK_NAME_MAX bytes, has no
 * '/', and is not "." or "..".  Returns -EINVAL for a bad name,
 * -ENAMETOOLONG when buf is too small.
 */
PIDLOCK_MUST_CHECK
int pidlock_name_path(const char *name, char *buf, size_t size);

/*
 * The lock directory, as used by pidlock_name_path() (it may create it).
 * When it is refused, buf still names it, for the message.
 */
PIDLOCK_MUST_CHECK
int pidlock_dir(char *buf, size_t size);

/* Options, set before pidlock_acquire(). */
PIDLOCK_MUST_CHECK
int pidlock_set_message(struct pidlock *lock, const char *message);
/* Lock only len bytes from start (len 0: to the end) with OFD locks. */
PIDLOCK_MUST_CHECK
int pidlock_set_range(struct pidlock *lock, int64_t start, int64_t len);
PIDLOCK_MUST_CHECK
int pidlock_set_command(struct pidlock *lock, const char *comm);
PIDLOCK_MUST_CHECK
int pidlock_set_mode(struct pidlock *lock, mode_t mode);

/*
 * Take the lock.  timeout_ms is PIDLOCK_NO_WAIT, PIDLOCK_WAIT_FOREVER or
 * a number of milliseconds; waiting sleeps in the kernel on the holder's
 * lock.  Returns 0 when held, -EWOULDBLOCK when busy, -ETIMEDOUT when the
 * wait ran out, -EDEADLK when this thread already holds the lock through
 * another handle, -EINTR when PIDLOCK_INTERRUPTIBLE is set and a signal
 * handler ran during the wait, or another negative errno value.  Whatever
 * it returns but 0, nothing is held.
 */
PIDLOCK_MUST_CHECK
int pidlock_acquire(struct pidlock *lock, unsigned flags, int timeout_ms);

/*
 * Release the lock: empty the file (or, with PIDLOCK_UNLINK, unlink it)
 * while still holding it, then close.  Returns -PIDLOCK_ENOTOURS when the path no longer
 * names our file, which is then left alone; the lock is released anyway.
 * After pidlock_update() named another process, the descriptor may live on
 * in that process or its children: if one of them still holds the lock,
 * the file is left to it and -EWOULDBLOCK is returned.
 */
int pidlock_release(struct pidlock *lock);

/*
 * Rewrite the record in place so that line 1 names pid (the lock holder
 * is recorded separately), with the current message and command.  The
 * inode does not change, so processes that inherited the descriptor keep
 * holding the lock the path names.
 *
 * Naming ourselves again (pid 0 or getpid()) takes the lock back: the caller
 * vouches that no process it was handed to still holds the descriptor (for
 * example, it reaped every descendant as a child subreaper), so that
 * pidlock_release() removes the file without looking for heirs in /proc.
 */
PIDLOCK_MUST_CHECK
int pidlock_update(struct pidlock *lock, pid_t pid);

/* The locked descriptor, or -1 when not held.  With a record it is
 * read-only: the record is written through a descriptor of the library's
 * own, which is never handed on. */
int pidlock_fd(const struct pidlock *lock);

/* The path of the lock file (for a descriptor lock: "/proc/self/fd/N"). */
const char *pidlock_path(const struct pidlock *lock);

/* 1 when the last pidlock_acquire() broke a stale lock, else 0. */
int pidlock_recovered(const struct pidlock *lock);

/* 1 when the lock file is on a network or FUSE filesystem, else 0. */
int pidlock_netfs(const struct pidlock *lock);

/*
 * What the last pidlock_acquire() found in the way: the live holder when
 * it returned -EWOULDBLOCK or -ETIMEDOUT, the dead holder when it
 * recovered a stale lock.  Never NULL; state is PIDLOCK_STATE_NONE when
 * nothing was found.
 */
const struct pidlock_info *pidlock_holder(const struct pidlock *lock);

/*
 * Run fn(arg) while holding the lock at path and release it afterwards,
 * whatever fn returns.  fn's return value is stored in *result.  Returns
 * the error of acquiring or releasing, else 0.
 */
PIDLOCK_MUST_CHECK
int pidlock_critical_section(const char *path, unsigned flags, int timeout_ms,
			     int (*fn)(void *arg), void *arg, int *result);

/*
 * A snapshot of the kernel's file locks (one read of /proc/locks) that
 * serves any number of pidlock_inspect() calls.
 */
struct pidlock_snapshot;

PIDLOCK_MUST_CHECK
int pidlock_snapshot_new(struct pidlock_snapshot **snapp);
void pidlock_snapshot_free(struct pidlock_snapshot *snap);

/* The number of kernel locks in the snapshot, and the i-th of them. */
size_t pidlock_snapshot_count(const struct pidlock_snapshot *snap);
int pidlock_snapshot_get(const struct pidlock_snapshot *snap, size_t i,
			 uint64_t *dev, uint64_t *ino,
			 struct pidlock_kernel_holder *holder);

/*
 * Judge the lock file at path without taking its lock, opening it only
 * to read at most PIDLOCK_RECORD_MAX bytes (never following a symlink,
 * never blocking on a FIFO).  snap may be NULL to take a fresh snapshot.
 * Returns 0 with info filled in (whatever the state), or a negative errno
 * value when info could not be produced at all.
 */
PIDLOCK_MUST_CHECK
int pidlock_inspect(const char *path, const struct pidlock_snapshot *snap,
		    struct pidlock_info *info);

/* The same, for name in the directory open at dirfd. */
PIDLOCK_MUST_CHECK
int pidlock_inspectat(int dirfd, const char *name,
		      const struct pidlock_snapshot *snap,
		      struct pidlock_info *info);

/*
 * Judge every lock file in the directory at path (not dot files, not
 * subdirectories), in the order the directory lists them, as
 * pidlock_inspectat() would, with one look at the directory for all of
 * them; fn(name, info, arg) is called for each (not for a file removed
 * meanwhile).  snap may be NULL to take one snapshot for the scan.
 * Returns 0, fn's first non-zero return value (which ends the scan), or a
 * negative errno value when the directory cannot be read.
 */
typedef int pidlock_scan_fn(const char *name, const struct pidlock_info *info,
			    void *arg);
PIDLOCK_MUST_CHECK
int pidlock_inspect_dir(const char *path, const struct pidlock_snapshot *snap,
			pidlock_scan_fn *fn, void *arg);

/*
 * Remove the lock file name in the directory open at dirfd if it is
 * stale, safely against acquirers, waiters and other cleaners: the file
 * is locked (without waiting) and judged while locked; decide(info, arg)
 * then says whether to remove it; the path is re-verified to name the
 * locked inode and unlinked relative to dirfd while the lock is held.
 * Symlinks, FIFOs, devices, hard links, world-writable files and files of
 * untrusted owners are never touched; kept lock files (no PID, or a
 * record saying keep=1) are never removed.  Returns 1 when removed, 0
 * when kept (info->reason says why), or a negative errno value.
 * decide may be NULL (remove what is stale or reused, nothing else).
 */
PIDLOCK_MUST_CHECK
int pidlock_clean_at(int dirfd, const char *name,
		     int (*decide)(const struct pidlock_info *info, void *arg),
		     void *arg, struct pidlock_info *info);

/*
 * Judge-only pidlock_clean_at() (a dry run): returns 1 when a real run
 * would remove the file, 0 when it would keep it (info->reason says why),
 * or a negative errno value, by the same rules and the same decide; but
 * it takes no lock and removes nothing: whether the file is held is read
 * from the kernel's lock table, as pidlock_inspectat() reads it (snap
 * may be NULL).  A file it cannot judge (state PIDLOCK_STATE_UNKNOWN) is
 * kept.
 */
PIDLOCK_MUST_CHECK
int pidlock_clean_judgeat(int dirfd, const char *name,
			  const struct pidlock_snapshot *snap,
			  int (*decide)(const struct pidlock_info *info, void *arg),
			  void *arg, struct pidlock_info *info);

/* 1 when name is a leftover temporary file of an interrupted creation. */
int pidlock_is_temp_name(const char *name);

/* The lower-case name of a state ("live", "live-inherited", ...). */
const char *pidlock_state_name(enum pidlock_state state);

/* The name of a type ("pidlock", "plain", "flock", "-"). */
const char *pidlock_type_name(enum pidlock_type type);

/*
 * Parse a record of len bytes.  Returns 0, or -EBADMSG for anything
 * malformed: the reason is then in why (if not NULL).
 */
PIDLOCK_MUST_CHECK
int pidlock_record_parse(const char *buf, size_t len,
			 struct pidlock_record *rec, const char **why);

/* A message for err (negative or positive), including pidlock's own. */
const char *pidlock_strerror(int err);

/* The library's version at run time ("0.2.0"), which may be newer than
 * the PIDLOCK_VERSION_STRING a program was compiled with. */
const char *pidlock_version(void);

#ifdef __cplusplus
}
#endif

#endif
