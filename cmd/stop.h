/* SPDX-License-Identifier: MIT */
/*
 * lockrun --stop and --replace: stop the job that holds a lock, by a
 * start-stop-daemon-like schedule ("TERM/30/KILL/5"), and wait in the
 * kernel for the lock to come free.  Only processes the kernel lock
 * proves to hold the file, and their descendants, are ever signalled,
 * each through a pidfd opened before the proof, so a PID that changes
 * hands is never hit; a PID read from the file alone never is.
 */
#ifndef PIDLOCK_CMD_STOP_H
#define PIDLOCK_CMD_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pidlock.h"

/* One item of a schedule: send sig (when not 0), or wait wait_ms
 * (STOP_FOREVER: without end) for the lock to come free. */
struct stop_step {
	int sig;
	int64_t wait_ms;
};
#define STOP_FOREVER (-1)
#define STOP_STEPS_MAX 32

struct stop_schedule {
	struct stop_step v[STOP_STEPS_MAX];
	size_t n;
};

/* The schedule when --retry is not given. */
#define STOP_DEFAULT_RETRY "TERM/30/KILL/5"

/*
 * start-stop-daemon's --retry: items separated by '/', each a signal
 * (name or number, as -S takes it, optionally after a '-'), a duration
 * (250ms, 30, 2m) or "forever".  A lone duration D means SIG/D/KILL/D,
 * SIG the signal given (TERM by default).  Returns 0, or -1 with *why.
 */
int stop_parse_schedule(const char *s, int sig, struct stop_schedule *out,
			const char **why);
/* The same, or exit EX_USAGE. */
void stop_schedule_or_die(const char *s, int sig, struct stop_schedule *out);

enum stop_outcome {
	STOP_DONE,    /* the job is gone; the lock is ours now */
	STOP_NOTHING, /* nobody held the lock: nothing was signalled */
	STOP_LEFT,    /* the job still holds the lock after the schedule */
	STOP_TAKEN,   /* the job is gone, but another process took the lock */
	STOP_TROUBLE, /* a holder that is never signalled, or an error */
};

struct stop_opts {
	unsigned flags;   /* PIDLOCK_* for taking the lock */
	bool quiet, verbose;
	const struct stop_schedule *schedule;
};

/*
 * Stops the job of the holder that found describes (pidlock_holder() after
 * a busy pidlock_acquire(), or pidlock_inspect() of the lock's path) and
 * takes lock when it is gone.  On STOP_DONE the lock is held; on the other
 * outcomes it is not, and a message said why (unless quiet, and except
 * for STOP_NOTHING, which the caller words).
 */
enum stop_outcome stop_holder(struct pidlock *lock, const struct stop_opts *o,
			      const struct pidlock_info *found);

/* lockrun --stop: the whole of it, with start-stop-daemon's exit status
 * (0 stopped, 1 nothing to stop unless oknodo, 2 still running, 3
 * trouble).  Leaves the lock released. */
int stop_main(struct pidlock *lock, const struct stop_opts *o, bool oknodo);

#endif
