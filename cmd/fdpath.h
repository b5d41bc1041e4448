/* SPDX-License-Identifier: MIT */
/*
 * Which path names a locked file, from its holder's descriptors in
 * /proc/PID/fd: lockstat -a's only way from /proc/locks's device and
 * inode numbers to a name.  Linked into lockstat alone.
 */
#ifndef PIDLOCK_CMD_FDPATH_H
#define PIDLOCK_CMD_FDPATH_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The path under which process pid has the file dev:ino open: 0, -1 if it
 * cannot be found, -ENOENT if the file has no name at all (unlinked, or
 * created unnamed, as a waiting pidlock's ready inode).  Each process's
 * descriptors are read once and kept until forget_locked_paths().
 */
int find_locked_path(pid_t pid, dev_t dev, ino_t ino, char *buf, size_t size);
void forget_locked_paths(void);

#endif
