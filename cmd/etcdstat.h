/* SPDX-License-Identifier: MIT */
/*
 * lockstat --etcd: the locks on etcd that lockrun --etcd and `etcdctl
 * lock` hold, with their holder's record, lease TTL and fencing token.
 */
#ifndef PIDLOCK_CMD_ETCDSTAT_H
#define PIDLOCK_CMD_ETCDSTAT_H

#include <stdbool.h>

#include "output.h"

struct etcd_stat {
	const char *endpoints;   /* --etcd, or NULL: environment, config */
	const struct out_opts *out;
	bool quiet;
	const char *status;      /* --status NAME, or NULL */
	char **names;            /* NAMEs to show; none: every lock */
	int nnames;
	char **argv_all;         /* lockstat's own argv (for etcdexec.c) */
};

/* Returns lockstat's exit status (lockstat(1), EXIT STATUS). */
int etcd_lockstat(const struct etcd_stat *s);

#endif
