/* SPDX-License-Identifier: MIT */
/* The shared state of a torture run, and small helpers around it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

static struct t_shm *map_fd(int fd)
{
	void *p = mmap(NULL, sizeof(struct t_shm), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* A new, zeroed shared state in the file path (the helper maps it too). */
struct t_shm *t_shm_create(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)sizeof(struct t_shm)) < 0) {
		close(fd);
		return NULL;
	}
	return map_fd(fd);
}

struct t_shm *t_shm_map(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? NULL : map_fd(fd);
}

/*
 * Nanoseconds this process (0: the calling thread) spent runnable but not
 * running: on a loaded machine that is the scheduler's delay, not the
 * library's, and it is taken off measured waits.
 */
int64_t t_runq_ns(pid_t pid)
{
	static int self_fd = -1;
	static pid_t self_pid;
	char path[64], buf[128];
	long long run, wait;
	ssize_t n;
	int fd;

	if (pid == 0 && (self_fd < 0 || self_pid != getpid())) {
		if (self_fd >= 0)
			close(self_fd);
		self_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
		self_pid = getpid();
	}
	if (pid == 0) {
		fd = self_fd;
		n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return sscanf(buf, "%lld %lld", &run, &wait) == 2 ? wait : 0;
}

int64_t t_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* xorshift64*: a per-process generator, seeded after every fork. */
static uint64_t rng = 88172645463325252ull;

void t_seed(uint64_t seed)
{
	rng = seed ? seed : 88172645463325252ull;
	for (int i = 0; i < 4; i++)
		(void)t_rand();
}

uint64_t t_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

bool t_chance_pm(unsigned per_mille)
{
	return t_rand() % 1000 < per_mille;
}

void t_max(_Atomic int64_t *max, int64_t v)
{
	int64_t old = atomic_load(max);

	while (v > old && !atomic_compare_exchange_weak(max, &old, v))
		;
}

bool t_swap(_Atomic int *state, int from, int to)
{
	return atomic_compare_exchange_strong(state, &from, to);
}

/*
 * In every forked child: default signal dispositions, and SIGKILL when
 * the parent dies, so that an interrupted run leaves no process behind.
 */
void t_child_setup(pid_t parent)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* Chaos won the swap: it holds our death warrant; wait for SIGKILL. */
_Noreturn void t_doomed(void)
{
	for (;;)
		pause();
}

/*
 * Are holder kills behind the target share of acquisitions?  Holders
 * linger, and chaos kills holders, only while they are: kills cost a
 * respawn each, and more of them would only slow the run down.
 */
bool t_kills_wanted(const struct t_shm *shm)
{
	const struct t_stats *st = &shm->st;
	uint64_t acq = atomic_load(&st->acq_lib) + atomic_load(&st->acq_lockrun);
	uint64_t held = atomic_load(&st->kill_cs) + atomic_load(&st->kill_release) +
			atomic_load(&st->kill_ns);

	return shm->cfg.chaos && held * 100 < (uint64_t)shm->cfg.linger_pct * acq;
}

uint64_t t_new_inc(struct t_shm *shm)
{
	return atomic_fetch_add(&shm->next_inc, 1) + 1;
}

/* Logged before the signal is sent: a marker's owner can be looked up. */
void t_kill_log(struct t_shm *shm, uint64_t inc)
{
	struct t_kill *k = &shm->kills[inc % T_KILLS];

	if (!inc)
		return;
	atomic_store(&k->inc, 0);
	atomic_store(&k->ns, t_now());
	atomic_store(&k->inc, inc);
}

/* When incarnation inc was sentenced, or 0 if it never was. */
int64_t t_killed_at(const struct t_shm *shm, uint64_t inc)
{
	const struct t_kill *k = &shm->kills[inc % T_KILLS];
	int64_t ns = atomic_load(&k->ns);

	return atomic_load(&k->inc) == inc ? ns : 0;
}

static void t_log(struct t_shm *shm, const char *kind, const char *fmt,
		  va_list ap)
{
	char msg[T_LOG_LEN - 16];
	unsigned n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "torture: %s: %s\n", kind, msg);
	n = atomic_fetch_add(&shm->nlog, 1);
	if (n < T_LOG)
		snprintf(shm->log[n], T_LOG_LEN, "%s: %s", kind, msg);
}

void t_violation(struct t_shm *shm, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&shm->st.violations, 1);
	va_start(ap, fmt);
	t_log(shm, "VIOLATION", fmt, ap);
	va_end(ap);
}

/*
 * A wait past its timeout plus the bound, after taking off the time it
 * spent waiting for a CPU.  On a machine with many more runnable
 * processes than cores a process can still sleep on a kernel mutex held
 * by a preempted one, so by default this is counted and reported, and a
 * violation only with --strict-bound or past ten times the bound (a
 * deadline slept through, not a slow machine).
 */
void t_late(struct t_shm *shm, int64_t over_ns, int bound_ms,
	    const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&shm->st.late, 1);
	va_list ap;

	va_start(ap, fmt);
	if (shm->cfg.strict_bound || over_ns > 10 * (int64_t)bound_ms * 1000000) {
		atomic_fetch_add(&shm->st.violations, 1);
		t_log(shm, "VIOLATION", fmt, ap);
	} else if (n < 3) {
		t_log(shm, "late", fmt, ap);
	}
	va_end(ap);
}

/*
 * Accounts for a wait of ns nanoseconds (runq_ns of them waiting for a
 * CPU) that had a timeout of timeout_ms: the longest past the timeout, and
 * t_late() past the bound.  who: "pidlock_acquire" or "lockrun" (which
 * has a bound of its own: it also starts a process); how: how it ended.
 */
void t_wait_over(struct t_shm *shm, const char *who, const char *how,
		 int timeout_ms, int64_t ns, int64_t runq_ns)
{
	bool lockrun = strcmp(who, "lockrun") == 0;
	int bound = lockrun ? shm->cfg.lockrun_bound_ms : shm->cfg.bound_ms;
	int64_t over = ns - (int64_t)timeout_ms * 1000000;

	t_max(lockrun ? &shm->st.max_lockrun_over_ns : &shm->st.max_over_ns,
	      over);
	t_max(lockrun ? &shm->st.max_lockrun_over_adj_ns
		      : &shm->st.max_over_adj_ns, over - runq_ns);
	if (over - runq_ns > (int64_t)bound * 1000000)
		t_late(shm, over - runq_ns, bound,
		       "%s with a %d ms timeout %s after %lld ms (%lld ms of it "
		       "waiting for a CPU)", who, timeout_ms, how,
		       (long long)(ns / 1000000), (long long)(runq_ns / 1000000));
}

void t_error(struct t_shm *shm, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&shm->st.errors, 1);
	va_start(ap, fmt);
	t_log(shm, "error", fmt, ap);
	va_end(ap);
}

const char *t_state_name(int state)
{
	static const char *const names[] = { "idle", "waiting", "in-cs",
					     "commit", "releasing", "doomed" };

	return state >= 0 && state <= T_DOOMED ? names[state] : "?";
}
