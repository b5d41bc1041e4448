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
};

/* The facts about this process and machine that go into a record. */
struct pidlock__self {
	char boot_id[37];
	char host[65];
	uint64_t pidns;
	long clock_ticks;
	int64_t boot_time;  /* seconds since epoch, 0 when unknown */
	pid_t pid;          /* this process */
	uint64_t start_time; /* this process's start, ticks after boot */
};

/* record.c */
int pidlock__record_format(const struct pidlock_record *rec, char *buf,
			   size_t size);
enum pidlock__content pidlock__classify(const char *buf, size_t len,
					struct pidlock_record *rec,
					pid_t *plain_pid, const char **why);
int pidlock__parse_pid(const char *s, size_t len, pid_t *pid);

/* proc.c */
int pidlock__self_info(struct pidlock__self *self);
int pidlock__proc_read(pid_t pid, struct pidlock__proc *proc);
void pidlock__proc_memo(bool on);
int pidlock__proc_identity(pid_t pid, uint64_t *start_time, uint64_t *pidns,
			   uid_t *uid, char *comm, size_t comm_size);
long pidlock__pid_max(void);
int pidlock__read_file(int dirfd, const char *path, char *buf, size_t size,
		       size_t *len);
bool pidlock__pid_valid(pid_t pid);

/* judge.c */
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
uint32_t pidlock__fnv1a(const char *buf, size_t len);
bool pidlock__is_netfs(int fd);
bool pidlock__record_pid_alive(const struct pidlock_record *rec);
bool pidlock__dir_is_netfs(int dirfd, const struct stat *dir, dev_t file_dev);

/* How a lock is taken: flock(2) or an OFD byte range, shared or not. */
struct pidlock__how {
	bool shared;
	bool ofd;
	off_t start, len;
};

/* wait.c */
int pidlock__lock_try(int fd, const struct pidlock__how *how);
int pidlock__lock_wait(int fd, const struct pidlock__how *how,
		       const struct timespec *deadline);
void pidlock__unlock(int fd, const struct pidlock__how *how);
int pidlock__pid_wait(pid_t pid, uint64_t start_time,
		      const struct timespec *deadline);
int pidlock__deadlock_check(dev_t dev, ino_t ino);
void pidlock__held_add(dev_t dev, ino_t ino, const void *owner);
void pidlock__held_remove(const void *owner);

/* inspect.c */
bool pidlock__held_by_others(dev_t dev, ino_t ino);
int pidlock__pid_holds(pid_t pid, dev_t dev, ino_t ino,
		       struct pidlock_kernel_holder *h);
void pidlock__judge_held(struct pidlock_info *info);
int pidlock__kernel_holders(const struct pidlock_snapshot *snap, dev_t dev,
			    ino_t ino, struct pidlock_info *info);

/* path.c */
int pidlock__split_path(const char *path, char **dir, char **base);
int pidlock__open_dir(const char *dir, int *dirfd, struct stat *st);

#endif
