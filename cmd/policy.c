/* SPDX-License-Identifier: MIT */
/*
 * lockclean's removal policy (see policy.h).  The library judges and
 * removes; this says which of the removable files the options name.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy.h"

/* The file's age, never overestimated (mtime has whole seconds here). */
static int64_t age_ms(const struct pidlock_info *info)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return ((int64_t)now.tv_sec - info->mtime - 1) * 1000 +
	       now.tv_nsec / 1000000;
}

static bool host_declared_dead(const struct clean_policy *p, const char *host)
{
	for (size_t i = 0; i < p->ndead; i++)
		if (strcmp(p->dead_hosts[i], host) == 0)
			return true;
	return false;
}

int clean_decide(const struct pidlock_info *info, void *arg)
{
	struct clean_policy *p = arg;
	const char *why = NULL;

	if (p->older_than_ms && age_ms(info) < p->older_than_ms)
		why = "younger than --older-than";
	else if (info->state == PIDLOCK_STATE_STALE ||
		 info->state == PIDLOCK_STATE_REUSED) {
		if (info->type == PIDLOCK_TYPE_PLAIN && !p->pidfiles)
			why = "plain pidfile (use --pidfiles)";
	} else if (info->state == PIDLOCK_STATE_REMOTE) {
		if (!host_declared_dead(p, info->record.host))
			why = "record of another host (use --host-dead)";
	} else if (info->state == PIDLOCK_STATE_CORRUPT) {
		if (!p->corrupt_older_than_ms ||
		    age_ms(info) < p->corrupt_older_than_ms)
			why = "unreadable (use --corrupt-older-than)";
	} else {
		why = "";
	}
	p->why = why;
	return why == NULL;
}

void clean_explain(const struct clean_policy *policy, struct pidlock_info *info)
{
	char reason[2 * sizeof(info->reason)];

	if (!policy->why || !*policy->why)
		return;
	snprintf(reason, sizeof(reason), "%s: %s", info->reason, policy->why);
	strlcpy(info->reason, reason, sizeof(info->reason));
}
