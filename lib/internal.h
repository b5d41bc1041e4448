/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared between the library's files.  Everything here is hidden
 * from the shared object by -fvisibility=hidden and the version script.
 */
#ifndef PIDLOCK_INTERNAL_H
#define PIDLOCK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "pidlock.h"

#define PIDLOCK_PUBLIC __attribute__((visibility("default")))

/* Temporary files of creations: ".pidlock-tmp.<creator PID>.<random>". */
#define PIDLOCK_TMP_PREFIX ".pidlock-tmp."

/* The largest PID any Linux kernel hands out (PID_MAX_LIMIT). */
#define PIDLOCK_PID_LIMIT 4194304

/* What a lock file's bytes are, before any liveness judgement. */
enum pidlock__content {
	CONTENT_EMPTY,
	CONTENT_RECORD,
	CONTENT_RECORD_CORRUPT,
	CONTENT_PIDFILE,
	CONTENT_PIDLIKE_BAD,
	CONTENT_OTHER,
};

/* What /proc says of a process. */
struct pidlock__proc {
	bool exists;      /* known to exist (or EPERM from kill) */
	bool zombie;      /* state Z or X: dead but not reaped */
	bool start_known; /* start_time is valid */
	uint64_t start_time;
	char comm[16];    /* its command name, when it exists */
};

/* The facts about this process and machine that go into a record. */
struct pidlock__self {
	char boot_id[37];
	char host[65];
	uint64_t pidns;
	long clock_ticks;
	pid_t pid;          /* this process */
	uint64_t start_time; /* this process's start, ticks after boot */
};

/* What our record says beyond the facts of this process and machine. */
struct pidlock__record_spec {
	pid_t pid;           /* the process line 1 names, 0: ourselves */
	uid_t euid;          /* ours, as of the call that writes the record */
	const char *comm;    /* "": that process's own name */
	const char *message;
	bool keep;           /* keep=1: release empties the file */
};

/* record.c */
uint32_t pidlock__fnv1a(const char *buf, size_t len);
int pidlock__record_format(const struct pidlock_record *rec, char *buf,
			   size_t size);
int pidlock__record_build(const struct pidlock__record_spec *spec,
			  struct pidlock_record *rec);
int pidlock__record_write(int fd, const struct pidlock__record_spec *spec);
enum pidlock__content pidlock__classify(const char *buf, size_t len,
					struct pidlock_record *rec,
					pid_t *plain_pid, const char **why);
int pidlock__parse_pid(const char *s, size_t len, pid_t *pid);

/* proc.c */
int pidlock__self_info(struct pidlock__self *self);
int pidlock__proc_read(pid_t pid, struct pidlock__proc *proc);
void pidlock__proc_memo(unsigned long scan);
uint64_t pidlock__epoch(void);
pid_t pidlock__self_pid(void);
pid_t pidlock__tid(void);
uid_t pidlock__proc_owner(pid_t pid);
int64_t pidlock__boot_time(void);
int pidlock__proc_identity(pid_t pid, uint64_t *start_time, uint64_t *pidns,
			   uid_t *uid, char *comm, size_t comm_size);
long pidlock__pid_max(void);
int pidlock__read_file(int dirfd, const char *path, char *buf, size_t size,
		       size_t *len);
bool pidlock__pid_valid(pid_t pid);

/* A lock file's bytes as read: what they are, and what they say. */
struct pidlock__file_content {
	size_t len;       /* bytes read, SIZE_MAX: more than a record */
	enum pidlock__content kind;
	struct pidlock_record rec; /* CONTENT_RECORD */
	pid_t plain_pid;           /* CONTENT_PIDFILE */
	const char *why;           /* the bad kinds: what is wrong */
};

/* judge.c */
int pidlock__content_read(int fd, bool unlocked,
			  struct pidlock__file_content *c);
void pidlock__content_record(const struct pidlock__file_content *c,
			     struct pidlock_info *info);
void pidlock__content_judge(const struct pidlock__file_content *c,
			    const struct stat *st, struct pidlock_info *info);
void pidlock__judge_unlocked(enum pidlock__content content,
			     const struct pidlock_record *rec, pid_t plain_pid,
			     const struct stat *st, struct pidlock_info *info);
void pidlock__judge_locked(struct pidlock_info *info);
void pidlock__info_reset(struct pidlock_info *info);
void pidlock__info_from_stat(struct pidlock_info *info, const struct stat *st);
int pidlock__check_type(const struct stat *st, struct pidlock_info *info);
int pidlock__check_place(const struct stat *dir, const struct stat *st,
			 const struct pidlock_record *rec,
			 struct pidlock_info *info);
bool pidlock__is_netfs(int fd);
bool pidlock__record_pid_alive(const struct pidlock_record *rec);
bool pidlock__dir_is_netfs(int dirfd, const struct stat *dir, dev_t file_dev);

/* How a lock is taken: flock(2) or an OFD byte range, shared or not. */
struct pidlock__how {
	bool shared;
	bool ofd;
	bool interruptible; /* PIDLOCK_INTERRUPTIBLE */
	off_t start, len;
};

/* wait.c */
struct timespec pidlock__deadline_after(int timeout_ms);
int pidlock__lock_try(int fd, const struct pidlock__how *how);
int pidlock__lock_wait(int fd, const struct pidlock__how *how,
		       const struct timespec *deadline);
void pidlock__unlock(int fd, const struct pidlock__how *how);
int pidlock__pid_wait(pid_t pid, uint64_t start_time,
		      const struct timespec *deadline, bool interruptible);
int pidlock__deadlock_check(dev_t dev, ino_t ino);
void pidlock__held_add(dev_t dev, ino_t ino, const void *owner);
void pidlock__held_remove(const void *owner);

/* inspect.c */
void pidlock__inspect_in(int dirfd, const struct stat *dir, const char *name,
			 const struct pidlock_snapshot *snap,
			 struct pidlock_info *info);
bool pidlock__held_by_others(dev_t dev, ino_t ino);
int pidlock__pid_holds(pid_t pid, dev_t dev, ino_t ino,
		       struct pidlock_kernel_holder *h);
void pidlock__judge_held(struct pidlock_info *info);
int pidlock__kernel_holders(const struct pidlock_snapshot *snap, dev_t dev,
			    ino_t ino, struct pidlock_info *info);

/* An inode created locked (create.c): a waiter's spare, unnamed and
 * ready to publish, or a new lock file.  fds -1: none. */
struct pidlock__inode {
	int fd;          /* writable */
	int lockfd;      /* its locked read-only descriptor, -1: through fd */
	dev_t dev;       /* and its identity (a spare's: known before the wait) */
	ino_t ino;
};

/* What a new lock file is made with; record NULL: no record. */
struct pidlock__make {
	mode_t mode;
	const struct pidlock__how *how;
	const struct pidlock__record_spec *record;
};

/* create.c */
int pidlock__create_locked(int dirfd, const struct pidlock__make *make,
			   char *tmp, size_t tmpsize, int *lockfd);
int pidlock__create_named(int dirfd, const char *name,
			  const struct pidlock__make *make,
			  struct pidlock__inode *spare, struct pidlock__inode *made);
void pidlock__spare_ready(int dirfd, mode_t mode, const struct pidlock__how *how,
			  struct pidlock__inode *spare);
void pidlock__spare_drop(struct pidlock__inode *spare);

/* path.c */
int pidlock__split_path(const char *path, char **dir, char **base);
int pidlock__open_dir(const char *dir, int *dirfd, struct stat *st);
bool pidlock__same_inode(const struct stat *a, const struct stat *b);
int pidlock__open_same(int dirfd, const char *name, int flags,
		       const struct stat *st);
int pidlock__open_same_stat(int dirfd, const char *name, int flags,
			    const struct stat *st, struct stat *opened);
int pidlock__open_locking(int dirfd, const char *base, const struct stat *st,
			  bool ofd_write);
int pidlock__reopen(int fd, int flags);
int pidlock__open_writer(int dirfd, const char *base, const struct stat *st,
			 size_t len, int *wfd);

#endif
