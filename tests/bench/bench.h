/* SPDX-License-Identifier: MIT */
/*
 * pidlock-bench: the C half of `make bench` (tests/bench/bench.py is the
 * other half: it runs these subcommands, the peers written in Python and
 * the tools, and turns the raw numbers into tables).
 *
 * Every subcommand prints one JSON object on stdout with raw numbers; the
 * statistics are computed by bench.py, so that results.json keeps samples.
 */
#ifndef PIDLOCK_BENCH_H
#define PIDLOCK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* A lock implementation measured by the handoff, cycle and contend runs. */
struct locker {
	const char *name;
	/* The waiter sleeps in the kernel (it shows as "->" in /proc/locks);
	 * otherwise it polls and sleeps in user space between attempts. */
	bool kernel_wait;
	int poll_ms; /* the poll interval of a polling locker */
	int (*open)(struct locker *l, const char *path);
	int (*acquire)(struct locker *l); /* blocking: waits or retries */
	int (*try_acquire)(struct locker *l); /* 0, or -EWOULDBLOCK */
	int (*release)(struct locker *l);
	void *state;
	const char *path;
	int fd;
};

/* util.c */
int64_t now_ns(void);
void sleep_ns(int64_t ns);
int64_t cpu_ns(int who);
int64_t rusage_cpu_ns(const struct rusage *ru);
void *shared_anon(size_t size);
void *shared_file(const char *path, size_t size, bool create);
bool proc_lock_waiter(pid_t pid);
bool proc_sleeping(pid_t pid);
uint64_t rnd_next(uint64_t *state);
pid_t spawn_argv(char *const argv[], const char *out, const char *errout);
void json_begin(void);
void json_int(const char *key, long long v);
void json_str(const char *key, const char *v);
void json_array(const char *key, const int64_t *v, size_t n);
void json_end(void);
long arg_long(const char *s, long min, long max, const char *what);
void raise_nofile(rlim_t want);

/* lockers.c */
int locker_find(struct locker *l, const char *name);

/* handoff.c */
int cmd_handoff(int argc, char **argv);
int cmd_chain(int argc, char **argv);
int cmd_stamp(int argc, char **argv);

/* load.c */
int cmd_cycle(int argc, char **argv);
int cmd_contend(int argc, char **argv);
int cmd_hold(int argc, char **argv);

/* scan.c */
int cmd_scanfloor(int argc, char **argv);

/* spawn.c */
int cmd_spawn(int argc, char **argv);

#endif
