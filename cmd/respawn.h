/* SPDX-License-Identifier: MIT */
/*
 * lockrun --respawn (run-one's keep-one-running): the lock is taken once
 * and held while the command is run again each time it ends, after a
 * back-off delay, up to a limit, or until it succeeds or fails.  Between
 * runs the record names lockrun itself; the lock is never let go.  A
 * TERM, INT, HUP or QUIT ends the loop: the running command gets it as
 * usual (SIGNALS in lockrun(1)), and no run follows.
 */
#ifndef PIDLOCK_CMD_RESPAWN_H
#define PIDLOCK_CMD_RESPAWN_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

/* The delay never grows past this (unless --respawn-delay is longer),
 * and a run that lasted this long resets it. */
#define RESPAWN_MAX_DELAY_MS 60000

struct respawn_opts {
	int64_t delay_ms;   /* first delay; it doubles with each restart */
	long long limit;    /* restarts at most, 0: no limit */
	bool until_success, until_failure;
	bool verbose;
};

/* Runs run(ctx) (one supervised run of the command) until the loop
 * ends; returns how the last run ended, or the signal that ended the
 * loop between runs (die_by).  The supervised signals must be blocked. */
struct job_end respawn_loop(const struct respawn_opts *o,
			    struct job_end (*run)(void *ctx), void *ctx);

#endif
