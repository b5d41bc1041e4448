/* SPDX-License-Identifier: MIT */
/*
 * Handoff latency: the time from a holder's release to the moment the
 * waiter's acquire returns in the next process.
 *
 * Method, the same for every row: the holder first makes sure the waiter
 * is really waiting (a kernel waiter is asleep in flock() or fcntl(), as
 * /proc/PID/syscall says; a poller is asleep in state S between its
 * attempts), for a polling waiter
 * holds on for a random time below its poll interval (so the release
 * falls at a random phase of the poll, as in life), then stores a
 * CLOCK_MONOTONIC timestamp in shared memory and releases.  The waiter
 * reads the clock as soon as its acquire returns; the difference is one
 * sample.  The releaser then waits for the other side to own the lock
 * before it queues again, so every sample is a handoff, never the
 * releaser taking the lock back.
 *
 * Where the waiter runs matters as much as what it does: left to the
 * scheduler, a woken waiter runs on the releaser's CPU (the run counts how
 * often), so it starts only when the releaser sleeps, after whatever the
 * release does after its unlock.  "cpus" pins each worker to a CPU of its
 * own: the waiter then wakes on another CPU, as when the releaser goes on
 * working.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pidlock.h>

#include "bench.h"

#define POLL_NS (20 * 1000)

struct handoff {
	_Atomic int64_t t_release;
	_Atomic int cpu_release;   /* the CPU the last release ran on */
	_Atomic long same_cpu;     /* samples whose waiter ran on that CPU */
	_Atomic int releaser;      /* who released last, -1: nobody yet */
	_Atomic int owner;         /* who holds the lock, -1: nobody */
	_Atomic int started;       /* worker 0 holds its first lock */
	_Atomic int done;
	_Atomic int failed;        /* a worker gave up: the other stops too */
	_Atomic int trying[2];     /* worker i is in its acquire call */
	_Atomic pid_t pid[2];
	_Atomic long n;
	_Atomic long unverified;   /* the waiter was not seen waiting in time */
	long want;
	int cpu[2];                /* worker i's CPU, -1: the scheduler's choice */
	int64_t samples[];
};

/* Polls pred every 20 us for at most timeout_ns; returns its last value. */
#define WAIT_FOR(pred, timeout_ns) ({                                        \
	int64_t until_ = now_ns() + (timeout_ns);                             \
	bool ok_;                                                              \
	while (!(ok_ = (pred)) && now_ns() < until_)                           \
		sleep_ns(POLL_NS);                                             \
	ok_; })

static bool peer_waits(struct handoff *h, const struct locker *l, int other)
{
	pid_t pid = atomic_load(&h->pid[other]);

	if (!atomic_load(&h->trying[other]))
		return false;
	return l->kernel_wait ? proc_lock_waiter(pid) : proc_sleeping(pid);
}

/* One holder's turn: wait for the peer to wait, stamp, release. */
static int hand_over(struct handoff *h, struct locker *l, int me,
		     uint64_t *seed)
{
	int other = 1 - me;
	int r;

	if (!WAIT_FOR(peer_waits(h, l, other), 2 * NS_PER_S))
		atomic_fetch_add(&h->unverified, 1);
	if (l->poll_ms)
		sleep_ns((int64_t)(rnd_next(seed) % (uint64_t)(l->poll_ms * NS_PER_MS)));
	atomic_store(&h->cpu_release, sched_getcpu());
	atomic_store(&h->t_release, now_ns());
	atomic_store(&h->releaser, me);
	r = l->release(l);
	if (r < 0)
		return r;
	if (!WAIT_FOR(atomic_load(&h->owner) != me || atomic_load(&h->done) ||
		      atomic_load(&h->failed), 120 * NS_PER_S))
		return -ETIMEDOUT;
	return 0;
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static int worker(struct handoff *h, struct locker *l, const char *path, int me)
{
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
	int r = pin_to(h->cpu[me]);

	if (r == 0)
		r = l->open(l, path);
	if (r < 0)
		return r;
	atomic_store(&h->pid[me], getpid());
	if (me == 1 && !WAIT_FOR(atomic_load(&h->started) || atomic_load(&h->failed),
				 10 * NS_PER_S))
		return -ETIMEDOUT;
	for (;;) {
		if (atomic_load(&h->failed))
			return -ECANCELED;
		atomic_store(&h->trying[me], 1);
		r = l->acquire(l);
		int64_t t = now_ns();
		atomic_store(&h->trying[me], 0);
		if (r < 0)
			return r;
		if (atomic_load(&h->releaser) == 1 - me) {
			long k = atomic_fetch_add(&h->n, 1);
			if (k < h->want)
				h->samples[k] = t - atomic_load(&h->t_release);
			if (k < h->want &&
			    sched_getcpu() == atomic_load(&h->cpu_release))
				atomic_fetch_add(&h->same_cpu, 1);
		}
		atomic_store(&h->owner, me);
		atomic_store(&h->started, 1);
		if (atomic_load(&h->n) >= h->want || atomic_load(&h->done)) {
			atomic_store(&h->done, 1);
			return l->release(l);
		}
		r = hand_over(h, l, me, &seed);
		if (r < 0)
			return r;
	}
}

static pid_t fork_worker(struct handoff *h, struct locker *l, const char *path,
			 int me)
{
	pid_t pid = fork();

	if (pid < 0)
		err(1, "fork");
	if (pid == 0) {
		int r = worker(h, l, path, me);
		if (r < 0)
			atomic_store(&h->failed, 1);
		if (r < 0 && r != -ECANCELED)
			warnx("handoff %s worker %d: %s", l->name, me,
			      pidlock_strerror(r));
		_exit(r < 0);
	}
	return pid;
}

/* The first two CPUs this process may run on, for "cpus". */
static void two_cpus(int cpu[2])
{
	cpu_set_t set;
	int found = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		err(1, "sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[found++] = c;
	if (found < 2)
		errx(1, "handoff cpus: fewer than two CPUs to run on");
}

/* handoff LOCKER PATH N [cpus] */
int cmd_handoff(int argc, char **argv)
{
	struct locker l;
	struct handoff *h;
	int status, failed = 0;
	long n;
	pid_t w[2];

	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "cpus") == 0))
		errx(2, "usage: handoff LOCKER PATH N [cpus]");
	if (locker_find(&l, argv[1]) < 0)
		errx(2, "unknown locker %s", argv[1]);
	n = arg_long(argv[3], 1, 10000000, "N");
	h = shared_anon(sizeof(*h) + (size_t)n * sizeof(int64_t));
	h->want = n;
	h->cpu[0] = h->cpu[1] = -1;
	if (argc == 5)
		two_cpus(h->cpu);
	atomic_store(&h->releaser, -1);
	atomic_store(&h->owner, -1);
	w[0] = fork_worker(h, &l, argv[2], 0);
	w[1] = fork_worker(h, &l, argv[2], 1);
	for (int i = 0; i < 2; i++)
		if (waitpid(w[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
	if (failed || atomic_load(&h->n) < n)
		errx(1, "handoff %s: a worker failed", l.name);
	json_begin();
	json_str("locker", l.name);
	json_int("poll_ms", l.poll_ms);
	json_int("unverified", atomic_load(&h->unverified));
	json_int("pinned", argc == 5);
	json_int("same_cpu", atomic_load(&h->same_cpu));
	json_array("samples_ns", h->samples, (size_t)n);
	json_end();
	return 0;
}

/* --- chains of processes: lockrun and flock(1) ---------------------------- */

struct slot {
	_Atomic int64_t t_start, t_exit;
	_Atomic int started, go;
};

/* stamp SHM IDX: the command a chain runs under its lock. */
int cmd_stamp(int argc, char **argv)
{
	struct slot *s;
	long idx;

	if (argc != 3)
		errx(2, "usage: stamp SHM IDX");
	idx = arg_long(argv[2], 0, 10000000, "IDX");
	s = (struct slot *)shared_file(argv[1], (size_t)(idx + 1) * sizeof(*s), false) + idx;
	atomic_store(&s->t_start, now_ns());
	atomic_store(&s->started, 1);
	if (!WAIT_FOR(atomic_load(&s->go), 60 * NS_PER_S))
		errx(1, "stamp %ld: never told to go", idx);
	atomic_store(&s->t_exit, now_ns());
	_exit(0);
}

static pid_t chain_spawn(char **argv, int argc, long idx)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", idx);
	argv[argc - 2] = num;
	return spawn_argv(argv, "/dev/null", "/dev/null");
}

static void chain_reap(pid_t pid, long idx)
{
	int status;

	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		errx(1, "chain: link %ld failed (status %#x)", idx, status);
}

/*
 * chain N SHM TOOL [ARGS...] LOCKPATH: each link runs
 * "TOOL ARGS... LOCKPATH pidlock-bench stamp SHM IDX"; link k+1 is
 * started, seen blocked on the lock, then link k's command exits.  A
 * sample is t_start(k+1) - t_exit(k): the holder's command exits, its
 * tool releases and exits, the waiter's tool wakes, forks, execs the
 * command, which reads the clock.
 */
int cmd_chain(int argc, char **argv)
{
	char self[PATH_MAX], **av;
	int64_t *samples;
	struct slot *s;
	long n, unverified = 0;
	int ac = 0;
	ssize_t len;
	pid_t holder;

	if (argc < 5)
		errx(2, "usage: chain N SHM TOOL [ARGS...] LOCKPATH");
	n = arg_long(argv[1], 1, 1000000, "N");
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		err(1, "/proc/self/exe");
	self[len] = '\0';
	s = shared_file(argv[2], (size_t)(n + 1) * sizeof(*s), true);
	memset(s, 0, (size_t)(n + 1) * sizeof(*s));
	samples = calloc((size_t)n, sizeof(*samples));
	av = calloc((size_t)argc + 4, sizeof(*av));
	if (!samples || !av)
		err(1, "calloc");
	for (int i = 3; i < argc; i++)
		av[ac++] = argv[i];
	av[ac++] = self;
	av[ac++] = "stamp";
	av[ac++] = argv[2];
	av[ac++] = NULL; /* the index, set by chain_spawn */
	ac++;
	holder = chain_spawn(av, ac, 0);
	if (!WAIT_FOR(atomic_load(&s[0].started), 10 * NS_PER_S))
		errx(1, "chain: the first link never ran");
	for (long k = 0; k < n; k++) {
		pid_t waiter = chain_spawn(av, ac, k + 1);
		if (!WAIT_FOR(proc_lock_waiter(waiter), 5 * NS_PER_S))
			unverified++;
		atomic_store(&s[k].go, 1);
		if (!WAIT_FOR(atomic_load(&s[k + 1].started), 30 * NS_PER_S))
			errx(1, "chain: link %ld never ran", k + 1);
		chain_reap(holder, k);
		samples[k] = atomic_load(&s[k + 1].t_start) - atomic_load(&s[k].t_exit);
		holder = waiter;
	}
	atomic_store(&s[n].go, 1);
	chain_reap(holder, n);
	json_begin();
	json_str("tool", argv[3]);
	json_int("unverified", unverified);
	json_array("samples_ns", samples, (size_t)n);
	json_end();
	return 0;
}
