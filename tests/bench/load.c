/* SPDX-License-Identifier: MIT */
/*
 * Load: one process cycling on a free lock, N processes fighting for one
 * lock, and holders that keep many locks (live) or die holding them
 * (stale) for the lockstat and lockclean runs.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pidlock.h>

#include "bench.h"

static void check(int r, const struct locker *l, const char *what)
{
	if (r < 0)
		errx(1, "%s %s: %s", l->name, what, pidlock_strerror(r));
}

/* cycle LOCKER PATH SECONDS: acquire + release on a free lock, counted. */
int cmd_cycle(int argc, char **argv)
{
	struct locker l;
	int64_t start, until, end;
	long long count = 0;

	if (argc != 4)
		errx(2, "usage: cycle LOCKER PATH MILLISECONDS");
	if (locker_find(&l, argv[1]) < 0)
		errx(2, "unknown locker %s", argv[1]);
	check(l.open(&l, argv[2]), &l, "open");
	start = now_ns();
	until = start + arg_long(argv[3], 1, 3600000, "MILLISECONDS") * NS_PER_MS;
	do {
		for (int i = 0; i < 16; i++, count++) {
			check(l.acquire(&l), &l, "acquire");
			check(l.release(&l), &l, "release");
		}
	} while ((end = now_ns()) < until);
	json_begin();
	json_str("locker", l.name);
	json_int("count", count);
	json_int("elapsed_ns", end - start);
	json_int("cpu_ns", cpu_ns(RUSAGE_SELF));
	json_end();
	return 0;
}

struct contend {
	_Atomic int ready, go, stop;
	_Atomic int inside;        /* processes in the critical section */
	_Atomic long violations;   /* times two were in it together */
	struct {
		long count;
		int64_t max_wait;
	} per[];
};

static void contender(struct contend *c, struct locker *l, const char *path,
		      int me)
{
	check(l->open(l, path), l, "open");
	atomic_fetch_add(&c->ready, 1);
	while (!atomic_load(&c->go))
		sleep_ns(100000);
	while (!atomic_load(&c->stop)) {
		int64_t t0 = now_ns(), wait;
		check(l->acquire(l), l, "acquire");
		wait = now_ns() - t0;
		if (atomic_fetch_add(&c->inside, 1) != 0)
			atomic_fetch_add(&c->violations, 1);
		atomic_fetch_sub(&c->inside, 1);
		if (!atomic_load(&c->stop)) {
			c->per[me].count++;
			if (wait > c->per[me].max_wait)
				c->per[me].max_wait = wait;
		}
		check(l->release(l), l, "release");
	}
	_exit(0);
}

/* contend LOCKER PATH N MILLISECONDS: N processes, one lock. */
int cmd_contend(int argc, char **argv)
{
	struct locker l;
	struct contend *c;
	int64_t start, elapsed, max_wait = 0, *counts;
	long long total = 0;
	long n, ms;
	int status, failed = 0;

	if (argc != 5)
		errx(2, "usage: contend LOCKER PATH N MILLISECONDS");
	if (locker_find(&l, argv[1]) < 0)
		errx(2, "unknown locker %s", argv[1]);
	n = arg_long(argv[3], 1, 4096, "N");
	ms = arg_long(argv[4], 1, 3600000, "MILLISECONDS");
	c = shared_anon(sizeof(*c) + (size_t)n * sizeof(c->per[0]));
	counts = calloc((size_t)n, sizeof(*counts));
	if (!counts)
		err(1, "calloc");
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			err(1, "fork");
		if (pid == 0)
			contender(c, &l, argv[2], i);
	}
	while (atomic_load(&c->ready) < n)
		sleep_ns(1000000);
	start = now_ns();
	atomic_store(&c->go, 1);
	sleep_ns(ms * NS_PER_MS);
	atomic_store(&c->stop, 1);
	elapsed = now_ns() - start;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	if (failed)
		errx(1, "contend %s: a process failed", l.name);
	for (int i = 0; i < n; i++) {
		counts[i] = c->per[i].count;
		total += c->per[i].count;
		if (c->per[i].max_wait > max_wait)
			max_wait = c->per[i].max_wait;
	}
	json_begin();
	json_str("locker", l.name);
	json_int("processes", n);
	json_int("count", total);
	json_int("elapsed_ns", elapsed);
	json_int("max_wait_ns", max_wait);
	json_int("violations", atomic_load(&c->violations));
	json_array("per_process", counts, (size_t)n);
	json_end();
	return 0;
}

/*
 * hold DIR FIRST COUNT live|stale: take COUNT pidlocks DIR/lock-NNNNNNN
 * with libpidlock, so that they are real records of this process.  live:
 * say "ready" and keep them until stdin closes; stale: take them with
 * PIDLOCK_UNLINK and exit holding them, which leaves records of a dead
 * process that lockclean removes.
 */
int cmd_hold(int argc, char **argv)
{
	char path[PATH_MAX], buf[64];
	long first, count;
	bool live;

	if (argc != 5 || (strcmp(argv[4], "live") && strcmp(argv[4], "stale")))
		errx(2, "usage: hold DIR FIRST COUNT live|stale");
	first = arg_long(argv[2], 0, 100000000, "FIRST");
	count = arg_long(argv[3], 1, 1000000, "COUNT");
	live = strcmp(argv[4], "live") == 0;
	raise_nofile((rlim_t)(2 * count + 64));
	for (long i = first; i < first + count; i++) {
		struct pidlock *lock;
		int r;

		snprintf(path, sizeof(path), "%s/lock-%07ld", argv[1], i);
		r = pidlock_new(&lock, path);
		/* Stale ones as lockclean removes them: records of files that
		 * their holder would have removed (keep=1 ones stay for good). */
		if (r == 0)
			r = pidlock_acquire(lock, live ? 0 : PIDLOCK_UNLINK,
					    PIDLOCK_NO_WAIT);
		if (r < 0)
			errx(1, "%s: %s", path, pidlock_strerror(r));
	}
	if (!live)
		_exit(0); /* no release: the records stay, their holder dies */
	printf("ready\n");
	if (fflush(stdout) != 0)
		err(1, "stdout");
	while (read(0, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}
