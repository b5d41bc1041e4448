/* SPDX-License-Identifier: MIT */
/*
 * Messages for pidlock's error codes: its refusals (values of its own,
 * above the errno range) and the errno values it gives a meaning of its
 * own (EWOULDBLOCK is "held", not "try again").  And the version.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

PIDLOCK_PUBLIC
const char *pidlock_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case EWOULDBLOCK: return "held by another process";
	case ETIMEDOUT: return "timed out waiting for the lock";
	case EDEADLK: return "already held by this thread through another handle";
	case PIDLOCK_ESYMLINK: return "is a symbolic link (not followed)";
	case PIDLOCK_EISDIR: return "is a directory";
	case PIDLOCK_ENOTREG: return "not a regular file (FIFO, socket or device)";
	case PIDLOCK_EHARDLINK: return "has other hard links";
	case PIDLOCK_EWRITABLE: return "is world-writable";
	case PIDLOCK_EDIRUNSAFE: return "world-writable directory without sticky bit";
	case PIDLOCK_EOWNER: return "owned by an untrusted user in a shared directory";
	case PIDLOCK_ENOTOURS: return "lock file was replaced or removed by someone else";
	case EBADMSG: return "malformed record";
	case EBUSY: return "lock file keeps changing; gave up";
	case EALREADY: return "already held through this handle";
	case ENOLCK: return "not held";
	default:
		if (err >= PIDLOCK_EBASE)
			return "unknown pidlock refusal";
		return strerror(err);
	}
}

PIDLOCK_PUBLIC
const char *pidlock_version(void)
{
	return PIDLOCK_VERSION;
}
