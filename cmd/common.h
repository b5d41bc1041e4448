/* SPDX-License-Identifier: MIT */
/*
 * What all three tools share: option values from outside (durations,
 * numbers, signal names, lock names) and their `_or_die` forms, and
 * messages in the "tool: what: why" form with untrusted text escaped.
 * How a holder is written for a person is in format.h; lockstat's
 * /proc/PID/fd path finder in fdpath.h.
 */
#ifndef PIDLOCK_CMD_COMMON_H
#define PIDLOCK_CMD_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#include "pidlock.h"

/* Parses "250ms", "1.5", ".5", "1.", "2m", "1h", "3d" (no unit: seconds)
 * into milliseconds.  Rejects ".", signs, inf, nan, exponents and
 * overflow. */
int parse_duration(const char *s, int64_t *ms);

/* An integer in [min, max] (strtonum(3)); on failure *why says why.
 * The fuzzers call these directly: they never exit. */
int parse_number(const char *s, long long min, long long max, long long *v,
		 const char **why);
/* Every name kill(1) accepts: "TERM", "SIGTERM", "pipe" (any case, "SIG"
 * or not), "IOT", "CLD", "POLL", "RTMIN", "RTMIN+3", "RTMAX-2" (real-time
 * signals as this libc numbers them at run time), or a number in
 * [1, NSIG - 1]. */
int parse_signal(const char *s, int *sig, const char **why);

/* The same, or exit EX_USAGE naming what was being parsed. */
int64_t duration_or_die(const char *s, const char *what);
long long number_or_die(const char *s, long long min, long long max,
			const char *what);
/* "TERM", "SIGTERM" or a number, or exit EX_USAGE. */
int signal_or_die(const char *s);

/* "Try 'tool --help' for more information." and exit EX_USAGE. */
void try_help(void) __attribute__((noreturn));
void print_version(void);

/* A lock given on the command line: a path (has a '/', or exists), else
 * a name in the lock directory.  Returns 0, -EINVAL for a bad name,
 * -ENAMETOOLONG when the path does not fit in size, or the refusal of
 * the lock directory (pidlock_dir()). */
int resolve_lock_arg(const char *arg, char *buf, size_t size);
/* Why resolving a lock argument failed with err, naming a refused lock
 * directory (written into buf when needed). */
const char *lock_arg_why(int err, char *buf, size_t size);

/*
 * Text from outside (file names, records, /proc) made safe to print, as
 * util-linux does it (mbs_safe_encode): control characters, bytes that
 * are not valid in the locale's encoding, unprintable characters and the
 * backslash of "\\x" become \\xHH; one line stays one line.  safe_encode()
 * fills buf (cut between characters when it is too small); esc() uses one
 * of four static buffers, so up to four may appear in one message, and
 * keeps errno (setlocale() may change it), so warn("%s", esc(path)) works.
 * use_ctype_locale() sets LC_CTYPE from the environment (once): the tools
 * call it before printing, esc() calls it itself.
 */
void use_ctype_locale(void);
char *safe_encode(const char *s, char *buf, size_t size);
const char *esc(const char *s);

/* dir/name on the heap, however long (a tree walked with -r may go past
 * PATH_MAX); exits on ENOMEM. */
char *path_join(const char *dir, const char *name);

#endif
