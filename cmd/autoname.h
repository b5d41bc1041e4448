/* SPDX-License-Identifier: MIT */
/*
 * lockrun --auto (run-one): a lock name made from the command line, so
 * that the same command with the same arguments is the same lock.
 */
#ifndef PIDLOCK_CMD_AUTONAME_H
#define PIDLOCK_CMD_AUTONAME_H

#include <stddef.h>

/*
 * "auto-BASE-HASH": BASE the command's base name with every byte other
 * than [A-Za-z0-9._+-] made '_', cut to 32 bytes; HASH 16 hexadecimal
 * digits of the 64-bit FNV-1a hash of the words, each followed by a NUL
 * byte.  Stable across runs, hosts and versions (lockrun(1) defines it).
 */
void auto_lock_name(char *const words[], char *buf, size_t size);

#endif
