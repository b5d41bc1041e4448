/* SPDX-License-Identifier: MIT */
/*
 * The other values the tools take from the command line: numbers
 * (parse_number: exit codes, offsets, descriptors), signals
 * (parse_signal) and lock names (pidlock_name_path, which turns
 * "lockrun -N name" into a path).
 *
 * The first byte picks the parser (and, for numbers, the range); the rest
 * is the argument as a C string.  Properties:
 *  - a number is accepted exactly when strtoll(3) reads all of it without
 *    overflow and it lies in [min, max]; a rejection says why;
 *  - a signal is in [1, NSIG - 1], and a name is that signal's name;
 *  - a name is accepted exactly when it is 1..PIDLOCK_NAME_MAX bytes, has
 *    no '/', is not "." or "..", and does not start with the temporary
 *    files' prefix; the path is then "<dir>/<name>.lock" and fits its
 *    buffer, or the call fails with ENAMETOOLONG.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <strings.h>

#include "fuzz.h"
#include "common.h"
#include "internal.h"

#define FUZZ_LOCK_DIR "/run/pidlock-fuzz"

static void check_number(const char *s, long long min, long long max)
{
	long long v = 0, want;
	const char *why = "unset";
	char *end;
	int r = parse_number(s, min, max, &v, &why), err;

	FUZZ_CHECK(r == 0 || r == -1);
	errno = 0;
	want = strtoll(s, &end, 10);
	err = errno;
	if (r == 0) {
		FUZZ_CHECK(why == NULL);
		FUZZ_CHECK(v >= min && v <= max);
		FUZZ_CHECK(end != s && *end == '\0' && err == 0 && v == want);
	} else {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		FUZZ_CHECK(min > max || end == s || *end != '\0' || err != 0 ||
			   want < min || want > max);
	}
}

static void check_signal(const char *s)
{
	int sig = 0;
	const char *why = "unset";
	int r = parse_signal(s, &sig, &why);
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	const char *abbrev;

	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(why == NULL);
	FUZZ_CHECK(sig >= 1 && sig < NSIG);
	abbrev = sigabbrev_np(sig);
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0)
		FUZZ_CHECK(sig >= SIGRTMIN && sig <= SIGRTMAX);
	else if (strcasecmp(name, "IOT") == 0 || strcasecmp(name, "CLD") == 0 ||
		 strcasecmp(name, "IO") == 0 || strcasecmp(name, "POLL") == 0)
		FUZZ_CHECK(sig == SIGABRT || sig == SIGCHLD || sig == SIGIO);
	else if (abbrev && strcasecmp(name, abbrev) != 0)
		FUZZ_CHECK(strtoll(s, NULL, 10) == sig); /* then it was a number */
}

static bool name_ok(const char *name)
{
	size_t len = strlen(name), plen = strlen(PIDLOCK_TMP_PREFIX);

	return len >= 1 && len <= PIDLOCK_NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strncmp(name, PIDLOCK_TMP_PREFIX, plen) != 0;
}

static void check_name(const char *name, size_t size)
{
	char buf[PATH_MAX + 1], want[PATH_MAX * 2];
	int r;

	/* One fixed directory: the result must not depend on this machine. */
	FUZZ_CHECK(setenv("PIDLOCK_DIR", FUZZ_LOCK_DIR, 1) == 0);
	memset(buf, 'X', sizeof(buf));
	r = pidlock_name_path(name, buf, size);
	if (!name_ok(name)) {
		FUZZ_CHECK(r == -EINVAL);
		return;
	}
	snprintf(want, sizeof(want), "%s/%s.lock", FUZZ_LOCK_DIR, name);
	if (strlen(want) >= size) {
		FUZZ_CHECK(r == -ENAMETOOLONG);
		return;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(strcmp(buf, want) == 0);
	FUZZ_CHECK(buf[size] == 'X'); /* nothing written past size */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long long ranges[][2] = {
		{ 0, 255 },            /* lockrun -E */
		{ 0, LLONG_MAX },      /* lockrun --start, --length */
		{ 0, INT_MAX },        /* lockrun --fd, "flock 9" */
		{ 1, NSIG - 1 },       /* signal numbers */
		{ LLONG_MIN, LLONG_MAX },
	};
	const size_t nranges = sizeof(ranges) / sizeof(ranges[0]);
	char *s;
	unsigned mode;

	if (size < 1)
		return 0;
	mode = data[0];
	s = fuzz_cstring(data + 1, size - 1);
	if (mode % 8 < nranges)
		check_number(s, ranges[mode % 8][0], ranges[mode % 8][1]);
	else if (mode % 8 == nranges)
		check_signal(s);
	else /* the high bits pick a buffer size, some of them too small */
		check_name(s, mode < 128 ? PATH_MAX : 16 + mode / 8 * 4);
	free(s);
	return 0;
}
