/* SPDX-License-Identifier: MIT */
/*
 * lockrun --background: start in the background and say whether the
 * start worked.  The starter forks the lockrun that stays (it takes the
 * lock and supervises the command in a session of its own) and waits: it
 * exits 0 once the command's exec succeeded and the record names it, or
 * with the status and the messages of the lockrun that failed (a busy
 * lock, an exec that failed, ...), which has released everything by then.
 */
#ifndef PIDLOCK_CMD_DETACH_H
#define PIDLOCK_CMD_DETACH_H

#include <stdbool.h>
#include <sys/types.h>

struct detach_opts {
	const char *output; /* --output FILE, NULL: /dev/null */
	const char *chdir;  /* --chdir DIR for the command, NULL: stay */
	int umask;          /* --umask for the command, -1: unchanged */
};

/* An octal file mode creation mask (022, 0027), or exit EX_USAGE. */
int umask_or_die(const char *s);

/* In the starter: forks; the starter never returns (it exits with the
 * verdict), the background lockrun returns, detached. */
void detach_or_die(const struct detach_opts *d);

/* The background lockrun, around the command's fork: before it; in the
 * child before exec (chdir, umask, output); in the child when exec (or
 * the chdir) failed, with errno; in the parent once the record names the
 * child (recorded false when there is no record to name it). */
void detach_before_fork(void);
void detach_in_child(void);
void detach_exec_failed(int err);
void detach_command_started(pid_t child, bool recorded, const char *command);

/* Running in the background: the command's child has work to do before
 * its exec (detach_in_child), so it must be forked, not spawned. */
bool detach_active(void);

/* The background start failed: the starter waits for this lockrun to end
 * (--respawn does not retry). */
bool detach_failed(void);

#endif
