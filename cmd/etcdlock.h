/* SPDX-License-Identifier: MIT */
/*
 * lockrun --etcd: a lock held across hosts by an etcd lease, in the
 * layout of etcd's own mutex (clientv3/concurrency, `etcdctl lock`, the
 * v3lock service): the key NAME/<lease in hex>, created with the lease;
 * the oldest key under NAME/ holds the lock.  Its value is lockrun's
 * record (JSON); its create revision is the fencing token.
 */
#ifndef PIDLOCK_CMD_ETCDLOCK_H
#define PIDLOCK_CMD_ETCDLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define ETCD_TTL_DEFAULT_MS 10000

struct etcd_run {
	const char *endpoints;  /* --etcd, or NULL: environment, config */
	const char *name, *message;
	int64_t timeout_ms;     /* PIDLOCK_NO_WAIT, PIDLOCK_WAIT_FOREVER or ms */
	int64_t ttl_ms;
	int conflict_code;
	bool quiet, verbose, foreground;
	char **argv;
	const char *command_name;
	int64_t max_time_ms, kill_after_ms; /* kill_after_ms 0: default */
	int signal;
	char **argv_all;        /* lockrun's own argv (for etcdexec.c) */
};

/* Checks the options (exits EX_USAGE), takes the lock, runs and
 * supervises the command, releases (etcdlock.c, in lockrun-etcd); in
 * lockrun, execs lockrun-etcd (etcdexec.c) or says it was not built
 * (etcdstub.c).  Returns lockrun's exit status
 * (or dies by the signal that killed the command, as lockrun does). */
int etcd_lockrun(const struct etcd_run *r);

#endif
