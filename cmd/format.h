/* SPDX-License-Identifier: MIT */
/*
 * How a lock's holder, a time and an age are written for a person
 * (lockrun and lockstat).  The library's struct pidlock_info is the
 * verdict; these only put it into words.
 */
#ifndef PIDLOCK_CMD_FORMAT_H
#define PIDLOCK_CMD_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "pidlock.h"

/* "3m12s", "2h05m", "4d03h". */
void format_age(int64_t seconds, char *buf, size_t size);
/* "10:01:02" today, else "2026-11-20 10:01". */
void format_since(int64_t when, char *buf, size_t size);

/* "held by PID 4242 (backup.sh) since 10:01:02, 3m12s" and what else is
 * known (host, message, kernel holders when there is no record), with
 * untrusted text escaped. */
void format_holder(const struct pidlock_info *info, char *buf, size_t size);

/* The command name of pid from /proc/PID/comm, raw; "" when unknown. */
void proc_comm(pid_t pid, char *buf, size_t size);

#endif
