/* SPDX-License-Identifier: MIT */
/*
 * lockclean's removal policy: of the files pidlock_clean_at() may remove,
 * the ones the operator asked to remove.  A file of its own so that the
 * tests judge the hostile catalogue with the very same policy.
 */
#ifndef PIDLOCK_CMD_POLICY_H
#define PIDLOCK_CMD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pidlock.h"

#define CLEAN_DEAD_HOSTS_MAX 16

struct clean_policy {
	bool pidfiles;                 /* --pidfiles */
	int64_t older_than_ms;         /* --older-than, 0: any age */
	int64_t corrupt_older_than_ms; /* --corrupt-older-than, 0: never */
	const char *dead_hosts[CLEAN_DEAD_HOSTS_MAX]; /* --host-dead */
	size_t ndead;
	const char *why; /* set by clean_decide(): why a file is kept */
};

/*
 * The decide callback of pidlock_clean_at() and pidlock_clean_judgeat();
 * arg is a struct clean_policy.  Returns non-zero to remove; when not, the
 * policy's why says which option would have removed it ("" for files no
 * option removes).
 */
int clean_decide(const struct pidlock_info *info, void *arg);

/* Adds the policy's why, if any, to a kept file's reason. */
void clean_explain(const struct clean_policy *policy,
		   struct pidlock_info *info);

#endif
