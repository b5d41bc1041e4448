/* SPDX-License-Identifier: MIT */
/*
 * lockrun's command line: its options, operands and what they exclude,
 * parsed into struct opts (runopts.c); lockrun.c acts on them.
 */
#ifndef PIDLOCK_RUNOPTS_H
#define PIDLOCK_RUNOPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "startstop.h"

struct opts {
	unsigned flags;       /* PIDLOCK_* */
	int64_t timeout_ms;   /* PIDLOCK_NO_WAIT, _WAIT_FOREVER or ms */
	int conflict_code;
	bool nonblock;        /* -n: wins over -w, wherever they stand */
	bool unlock, close_fd, no_fork, verbose, quiet, keep, foreground;
	bool remove;          /* --remove: PIDLOCK_UNLINK */
	bool flock_name;      /* invoked as "flock": be flock(1) exactly */
	bool range;
	off_t start, length;
	int fd;               /* --fd or the FD form, else -1 */
	const char *path, *name, *message, *user;
	char **argv;          /* the command, NULL for the FD form */
	char *sh_argv[4];
	int64_t max_time_ms, kill_after_ms;
	int max_time_signal;
	struct start_stop ss; /* --stop, --replace, -b, ... (startstop.h) */
	const char *etcd;     /* --etcd: the lock is on etcd (etcdlock.c) */
	int64_t ttl_ms;
};

/* Parses argv into o, or exits with a usage message (EX_USAGE). */
void parse_args(struct opts *o, int argc, char **argv);

#endif
