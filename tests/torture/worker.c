/* SPDX-License-Identifier: MIT */
/*
 * A worker: takes the lock again and again, mostly through the library,
 * sometimes by running lockrun(1) with this program's --cs mode as the
 * command, and runs the critical section each time it holds the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidlock.h"
#include "torture.h"

/* A mix: a quarter no-wait, a fifth short waits that run out, the rest long. */
static int pick_timeout(const struct t_config *c)
{
	unsigned r = (unsigned)(t_rand() % 100);

	if (r < 25)
		return PIDLOCK_NO_WAIT;
	if (r < 45)
		return 1 + (int)(t_rand() % 30);
	return c->timeout_ms;
}

/*
 * How long an acquire call took against its timeout.  The bound applies
 * to the time minus what the scheduler kept us waiting (runq_ns): on a
 * machine with ten times more runnable processes than cores the raw
 * figure measures the machine.
 */
static void account_wait(struct t_shm *shm, int timeout_ms, int64_t ns,
			 int64_t runq_ns)
{
	t_max(&shm->st.max_wait_ns, ns);
	t_wait_over(shm, "pidlock_acquire", "returned", timeout_ms, ns, runq_ns);
}

static void lib_once(struct t_shm *shm, struct pidlock *lock, int csfd,
		     unsigned s, bool in_ns)
{
	struct t_actor *a = &shm->slot[s].actor[0];
	int timeout = in_ns ? shm->cfg.timeout_ms : pick_timeout(&shm->cfg);
	int64_t t0, t1, q0 = t_runq_ns(0);
	int r;

	atomic_store(&a->state, T_WAITING);
	t0 = t_now();
	r = pidlock_acquire(lock, 0, timeout);
	t1 = t_now();
	account_wait(shm, timeout, t1 - t0, t_runq_ns(0) - q0);
	if (r != 0) {
		if (r == -EWOULDBLOCK && timeout == 0)
			atomic_fetch_add(&shm->st.busy, 1);
		else if (r == -ETIMEDOUT && timeout > 0)
			atomic_fetch_add(&shm->st.timeouts, 1);
		else
			t_error(shm, "pidlock_acquire(timeout %d ms): %s", timeout,
				pidlock_strerror(r));
		if (!t_swap(&a->state, T_WAITING, T_IDLE))
			t_doomed();
		return;
	}
	if (!t_swap(&a->state, T_WAITING, T_CS))
		t_doomed(); /* sentenced as a waiter, but it got the lock */
	atomic_fetch_add(&shm->st.acq_lib, 1);
	if (pidlock_recovered(lock)) {
		atomic_fetch_add(&shm->st.recovered_lib, 1);
		if (pidlock_holder(lock)->state == PIDLOCK_STATE_REUSED)
			atomic_fetch_add(&shm->st.reuse_recovered, 1);
	}
	t_critical(shm, csfd, s, 0, t1,
		   in_ns ? T_LINGER_UNTIL_KILLED : T_LINGER_MAYBE);
	atomic_store(&a->state, T_RELEASING);
	r = pidlock_release(lock);
	if (r != 0)
		t_error(shm, "pidlock_release: %s", pidlock_strerror(r));
	if (!t_swap(&a->state, T_RELEASING, T_IDLE))
		t_doomed();
}

/* util-linux flock(1) takes the same -n / -w DUR FILE CMD line. */
static _Noreturn void exec_lockrun(const struct t_config *c, unsigned s,
				   int timeout_ms, bool flock1)
{
	char lockrun[PATH_MAX], slot[16], wait[32], tmo[16];
	int null = open("/dev/null", O_RDWR);

	if (flock1)
		snprintf(lockrun, sizeof(lockrun), "%s", T_UL_FLOCK);
	else
		snprintf(lockrun, sizeof(lockrun), "%s/lockrun", c->bin);
	snprintf(slot, sizeof(slot), "%u", s);
	snprintf(wait, sizeof(wait), "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
	snprintf(tmo, sizeof(tmo), "%d", timeout_ms);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	/* --foreground: the command stays in the worker's process group,
	 * which chaos kills as one (lockrun would give it its own).
	 * util-linux flock(1) has no such option and never leaves the group. */
	const char *fg = flock1 ? "-x" : "--foreground";
	if (timeout_ms == 0)
		execl(lockrun, "lockrun", fg, "-n", c->lock, c->self,
		      "--cs", c->shm, slot, tmo, (char *)NULL);
	else
		execl(lockrun, "lockrun", fg, "-w", wait, c->lock,
		      c->self, "--cs", c->shm, slot, tmo, (char *)NULL);
	_exit(127);
}

/* The command never ran: lockrun must have given up, in time. */
static void lockrun_gave_up(struct t_shm *shm, int status, int timeout_ms,
			    int64_t ns, int64_t runq_ns)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
		t_error(shm, "lockrun exited with status 0x%x without running "
			"the command", status);
		return;
	}
	atomic_fetch_add(&shm->st.lockrun_busy, 1);
	t_wait_over(shm, "lockrun", "gave up", timeout_ms, ns, runq_ns);
}

static void lockrun_once(struct t_shm *shm, unsigned s)
{
	struct t_slot *slot = &shm->slot[s];
	struct t_actor *h = &slot->actor[1];
	int timeout = t_rand() % 100 < 30 ? 0 : shm->cfg.timeout_ms;
	bool flock1 = shm->cfg.flock1 && t_rand() % 2 == 0;
	int64_t t0, runq;
	int status;
	pid_t pid;

	atomic_store(&h->inc, t_new_inc(shm));
	atomic_store(&h->pid, 0);
	atomic_store(&h->linger, 0);
	atomic_store(&h->state, T_WAITING);
	t0 = t_now();
	atomic_store(&slot->lockrun_t0, t0);
	pid = fork();
	if (pid == 0)
		exec_lockrun(&shm->cfg, s, timeout, flock1);
	if (pid < 0) {
		t_error(shm, "fork: %s", strerror(errno));
		atomic_store(&h->state, T_IDLE);
		return;
	}
	atomic_store(&slot->lockrun_pid, pid);
	/* Wait without reaping, to read its scheduling delay first. */
	while (waitid(P_PID, (id_t)pid, &(siginfo_t){ 0 }, WEXITED | WNOWAIT) < 0 &&
	       errno == EINTR)
		;
	runq = t_runq_ns(pid);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	atomic_store(&slot->lockrun_pid, 0);
	if (atomic_load(&h->state) == T_WAITING) {
		if (!t_swap(&h->state, T_WAITING, T_IDLE))
			t_doomed();
		lockrun_gave_up(shm, status, timeout, t_now() - t0, runq);
		return;
	}
	if (flock1)
		atomic_fetch_add(&shm->st.acq_flock1, 1);
	/* Only chaos sends SIGKILL: lockrun alone, while its command holds. */
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		t_error(shm, "lockrun exited with status 0x%x after running the "
			"command", status);
}

_Noreturn void t_worker(struct t_shm *shm, unsigned s, bool in_ns)
{
	const struct t_config *c = &shm->cfg;
	struct t_slot *slot = &shm->slot[s];
	struct pidlock *lock;
	int csfd, r;

	if (!in_ns)
		setpgid(0, 0); /* chaos kills the worker with lockrun and its command */
	/* Chaos must see a lingering holder before the holder gives up. */
	if (nice(5) < 0)
		(void)0;
	t_seed((uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)t_now());
	csfd = open(c->cs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->broken) {
		/* Self-test: no mutual exclusion, which the checks must see. */
		char path[sizeof(c->lock) + 16];
		snprintf(path, sizeof(path), "%s.%u", c->lock, s);
		r = pidlock_new(&lock, path);
	} else {
		r = pidlock_new(&lock, c->lock);
	}
	if (csfd < 0 || r < 0) {
		t_error(shm, "worker setup: %s", csfd < 0 ? strerror(errno)
							   : pidlock_strerror(r));
		_exit(1);
	}
	while (!atomic_load(&shm->stop) &&
	       (in_ns || atomic_load(&slot->done) < c->iters)) {
		if (!in_ns && c->lockrun_every && !c->broken &&
		    t_rand() % c->lockrun_every == 0 &&
		    atomic_load(&slot->actor[1].state) == T_IDLE)
			lockrun_once(shm, s);
		else
			lib_once(shm, lock, csfd, s, in_ns);
	}
	pidlock_free(lock);
	_exit(0);
}

/* torture --cs SHM SLOT TIMEOUT_MS: the command lockrun runs. */
int t_helper_main(int argc, char **argv)
{
	int64_t t_acq = t_now(), wait, runq;
	struct t_shm *shm;
	struct t_actor *h;
	unsigned s;
	int csfd, timeout;

	if (argc != 5 || !(shm = t_shm_map(argv[2])))
		return 2;
	s = (unsigned)atoi(argv[3]);
	timeout = atoi(argv[4]);
	if (s >= T_SLOTS_MAX)
		return 2;
	h = &shm->slot[s].actor[1];
	atomic_store(&h->pid, (int)getpid());
	t_seed((uint64_t)getpid() ^ (uint64_t)t_acq);
	if (!t_swap(&h->state, T_WAITING, T_CS))
		t_doomed();
	atomic_fetch_add(&shm->st.acq_lockrun, 1);
	if (getenv("LOCKRUN_RECOVERED"))
		atomic_fetch_add(&shm->st.recovered_lockrun, 1);
	wait = t_acq - atomic_load(&shm->slot[s].lockrun_t0);
	/* lockrun (our parent) and we were both started by then */
	runq = t_runq_ns(getppid()) + t_runq_ns(0);
	t_max(&shm->st.max_lockrun_wait_ns, wait);
	t_wait_over(shm, "lockrun", "ran its command", timeout, wait, runq);
	csfd = open(shm->cfg.cs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (csfd < 0) {
		t_error(shm, "helper: %s: %s", shm->cfg.cs, strerror(errno));
		atomic_store(&h->state, T_IDLE);
		return 1;
	}
	t_critical(shm, csfd, s, 1, t_acq, T_LINGER_MAYBE);
	atomic_store(&h->state, T_IDLE);
	return 0;
}
