/* SPDX-License-Identifier: MIT */
/*
 * The mutual-exclusion torture (make torture; a short run in make check).
 *
 * Processes take one lock over and over, through the library and through
 * lockrun(1), while a chaos loop SIGKILLs holders and waiters, lockclean
 * and lockstat run on the same directory, and (as root) dead holders'
 * PIDs are handed to new processes inside a PID namespace.  Everything
 * the processes share lives in one MAP_SHARED file, struct t_shm.
 *
 * Who may kill whom is decided by a compare-and-swap on the victim's
 * state: chaos may only kill an actor it moved from a killable state
 * (waiting, in the critical section, releasing) to DOOMED, and an actor
 * leaves a killable state only by winning the same swap.  So the
 * bookkeeping is exact: the counter and the completed critical sections
 * can be compared to the unit, and every kill is known before it happens.
 */
#ifndef PIDLOCK_TORTURE_H
#define PIDLOCK_TORTURE_H

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define T_SLOTS_MAX 65      /* workers, plus the PID-namespace slot */
#define T_KILLS 65536       /* kill log entries (by incarnation) */
#define T_LOG 24            /* violation and error messages kept */
#define T_LOG_LEN 320
#define T_UL_FLOCK "/usr/bin/flock" /* util-linux flock(1), as a worker class */

/* An actor's state; chaos swaps a killable one to T_DOOMED. */
enum t_state {
	T_IDLE,
	T_WAITING,   /* in pidlock_acquire() or lockrun's wait: killable */
	T_CS,        /* holding, in the critical section: killable */
	T_COMMIT,    /* counting the critical section: never killed */
	T_RELEASING, /* in pidlock_release(): killable */
	T_DOOMED,    /* chaos won the swap; SIGKILL is on its way */
};

/* Actor 0 is a worker process, actor 1 the command lockrun runs for it. */
struct t_actor {
	_Atomic int state;
	_Atomic int linger; /* in the critical section, slow on purpose */
	_Atomic int pid;
	_Atomic uint64_t inc; /* incarnation: unique per process (or run) */
};

struct t_slot {
	_Atomic int pid;          /* the worker, leader of its process group */
	_Atomic int lockrun_pid;  /* lockrun it runs now, 0 when none */
	_Atomic uint64_t done;    /* critical sections it completed */
	_Atomic int64_t lockrun_t0; /* when it started lockrun (ns) */
	bool ns;                  /* the PID-namespace slot */
	struct t_actor actor[2];
};

/* A kill, logged before SIGKILL is sent. */
struct t_kill {
	_Atomic uint64_t inc;
	_Atomic int64_t ns; /* CLOCK_MONOTONIC */
};

struct t_config {
	unsigned procs;
	uint64_t iters;           /* completed critical sections per worker */
	unsigned lockrun_every;   /* 1 in N iterations through lockrun, 0: none */
	int timeout_ms;           /* the long timeout of timed waits */
	int bound_ms;             /* a wait past timeout + this is late */
	bool strict_bound;        /* and a late wait is a violation */
	int lockrun_bound_ms;     /* allowed overshoot of lockrun -w */
	unsigned linger_pct;      /* target % of acquisitions killed holding */
	unsigned random_kill_pm;  /* per mille: kill a holder at a random time */
	unsigned wait_kill_pm;    /* per mille per tick: kill a waiter */
	unsigned cs_us;           /* busy time in each critical section */
	int wedge_s;              /* no progress for this long: wedged */
	int duration_s;           /* stop after this long (0: when done) */
	bool chaos;
	bool broken;              /* self-test: one lock per worker */
	bool tools;
	bool reuse;
	bool flock1;              /* half the lockrun runs: util-linux flock(1) */
	char work[PATH_MAX / 2];
	char lock[PATH_MAX / 2 + 32];   /* work/locks/t.lock */
	char locks[PATH_MAX / 2 + 16];  /* work/locks */
	char cs[PATH_MAX / 2 + 16];     /* work/cs: the markers */
	char shm[PATH_MAX / 2 + 16];    /* work/shm */
	char bin[PATH_MAX / 2];         /* lockrun, lockstat, lockclean */
	char self[PATH_MAX / 2];        /* this program, for lockrun */
};

#define T_STATS(X)                                                         \
	X(acq_lib, "acquisitions through the library")                      \
	X(acq_lockrun, "acquisitions through lockrun")                      \
	X(completed, "completed critical sections")                         \
	X(recovered_lib, "library acquisitions that recovered a stale lock") \
	X(recovered_lockrun, "lockrun runs with LOCKRUN_RECOVERED=1")       \
	X(busy, "no-wait attempts that found the lock busy")                \
	X(timeouts, "timed library waits that ran out")                     \
	X(lockrun_busy, "lockrun runs that gave up (exit 1)")               \
	X(acq_flock1, "of those through lockrun: util-linux flock(1) runs") \
	X(kill_cs, "holders killed in the critical section")                \
	X(kill_release, "holders killed while releasing")                   \
	X(kill_wait, "waiters killed")                                      \
	X(kill_lockrun_only, "lockrun killed, its command kept the lock")   \
	X(kill_ns, "holders killed in the PID namespace")                   \
	X(lingers, "holders that lingered")                                 \
	X(respawns, "workers respawned")                                    \
	X(stale_markers, "markers of killed holders recognised")            \
	X(lockclean_runs, "lockclean runs")                                 \
	X(lockclean_killed, "lockclean runs killed midway")                 \
	X(lockstat_runs, "lockstat runs")                                   \
	X(ns_rounds, "PID-namespace rounds")                                \
	X(reuse_pid, "dead holders' PIDs given to a new process")           \
	X(reuse_judged, "records judged reused while the PID was taken")    \
	X(reuse_raced, "records replaced before they could be judged")      \
	X(reuse_recovered, "acquisitions that recovered a reused PID")      \
	X(bystanders, "PID-reuse bystanders left unsignalled")              \
	X(late, "waits past timeout + bound (CPU delay taken off)")        \
	X(violations, "VIOLATIONS")                                         \
	X(errors, "errors")

struct t_stats {
#define X(name, text) _Atomic uint64_t name;
	T_STATS(X)
#undef X
	_Atomic int64_t max_wait_ns;      /* longest library acquire call */
	_Atomic int64_t max_over_ns;      /* longest past its timeout */
	_Atomic int64_t max_over_adj_ns;  /* the same, minus run-queue delay */
	_Atomic int64_t max_lockrun_wait_ns;
	_Atomic int64_t max_lockrun_over_ns;
	_Atomic int64_t max_lockrun_over_adj_ns;
};

struct t_shm {
	struct t_config cfg;
	_Atomic int stop;
	_Atomic uint64_t counter;  /* read-modify-written in each section */
	_Atomic uint64_t next_inc;
	struct t_stats st;
	_Atomic unsigned nlog;
	char log[T_LOG][T_LOG_LEN];
	struct t_slot slot[T_SLOTS_MAX];
	struct t_kill kills[T_KILLS];
};

/* shm.c */
struct t_shm *t_shm_create(const char *path);
struct t_shm *t_shm_map(const char *path);
int64_t t_now(void);
int64_t t_runq_ns(pid_t pid);
void t_child_setup(pid_t parent);
uint64_t t_rand(void);
void t_seed(uint64_t seed);
bool t_chance_pm(unsigned per_mille);
void t_max(_Atomic int64_t *max, int64_t v);
bool t_swap(_Atomic int *state, int from, int to);
_Noreturn void t_doomed(void);
uint64_t t_new_inc(struct t_shm *shm);
bool t_kills_wanted(const struct t_shm *shm);
void t_kill_log(struct t_shm *shm, uint64_t inc);
int64_t t_killed_at(const struct t_shm *shm, uint64_t inc);
void t_violation(struct t_shm *shm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void t_error(struct t_shm *shm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void t_late(struct t_shm *shm, int64_t over_ns, int bound_ms,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void t_wait_over(struct t_shm *shm, const char *who, const char *how,
		 int timeout_ms, int64_t ns, int64_t runq_ns);
const char *t_state_name(int state);

/* cs.c: the critical section with its checks. */
enum t_linger { T_LINGER_MAYBE, T_LINGER_UNTIL_KILLED };
void t_critical(struct t_shm *shm, int csfd, unsigned slot, unsigned actor,
		int64_t t_acq, enum t_linger linger);
int t_marker_check(struct t_shm *shm, int csfd, int64_t t_acq);

/* worker.c */
_Noreturn void t_worker(struct t_shm *shm, unsigned slot, bool in_ns);
int t_helper_main(int argc, char **argv);

/* chaos.c; t_interrupted is set by SIGINT, SIGTERM or SIGHUP */
extern volatile sig_atomic_t t_interrupted;
int t_supervise(struct t_shm *shm);

/* nsreuse.c */
pid_t t_ns_start(struct t_shm *shm, unsigned slot);

#endif
