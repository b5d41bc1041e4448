/* SPDX-License-Identifier: MIT */
/*
 * lockrun and lockstat hand --etcd over to a helper of their own,
 * lockrun-etcd and lockstat-etcd (the same main, linked with the etcd
 * client): libcurl, json-c and their 30-odd shared objects (TLS, HTTP/2,
 * ...) are then loaded only by a run that talks to etcd, and a local
 * `lockrun -n F true` starts as fast as it did (make bench, table 4).
 * The helper is looked for beside the running binary (the build tree),
 * then in LIBEXECDIR/pidlock.
 */
#include <err.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "etcdlock.h"
#include "etcdstat.h"

#ifndef PIDLOCK_LIBEXECDIR
#define PIDLOCK_LIBEXECDIR "/usr/local/libexec/pidlock"
#endif

static void __attribute__((noreturn)) exec_helper(const char *tool, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(path, sizeof(path), "%s/%s-etcd", dirname(self), tool);
		if (access(path, X_OK) == 0)
			execv(path, argv);
	}
	snprintf(path, sizeof(path), "%s/%s-etcd", PIDLOCK_LIBEXECDIR, tool);
	execv(path, argv);
	err(EX_SOFTWARE, "--etcd: cannot run %s", path);
}

int etcd_lockrun(const struct etcd_run *r)
{
	exec_helper("lockrun", r->argv_all);
}

int etcd_lockstat(const struct etcd_stat *s)
{
	exec_helper("lockstat", s->argv_all);
}
