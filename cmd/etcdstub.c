/* SPDX-License-Identifier: MIT */
/*
 * The etcd modes in a build without libcurl or json-c (make says so):
 * the options are known, and say why they cannot work.
 */
#include <err.h>
#include <sysexits.h>

#include "etcdlock.h"
#include "etcdstat.h"

static void __attribute__((noreturn)) not_built(void)
{
	errx(EX_SOFTWARE, "--etcd: this build has no etcd client "
	     "(it was built without libcurl and json-c)");
}

int etcd_lockrun(const struct etcd_run *r)
{
	(void)r;
	not_built();
}

int etcd_lockstat(const struct etcd_stat *s)
{
	(void)s;
	not_built();
}
