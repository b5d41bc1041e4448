/* SPDX-License-Identifier: MIT */
/* Helpers shared by lockrun, lockstat and lockclean; see common.h. */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>
#include <wctype.h>

#include "common.h"

/*
 * Untrusted text (file names in world-writable directories, records,
 * /proc/PID/comm) is shown the way util-linux's mbs_safe_encode() shows
 * it: a control character, a byte that is not part of a valid multibyte
 * character and a character that is not printable become \xHH, and so
 * does the backslash of a literal "\x", so the text stays reversible.
 * What is printable depends on LC_CTYPE, as in util-linux: under a UTF-8
 * locale UTF-8 text passes, under C every byte above 0x7f is escaped.
 */
void use_ctype_locale(void)
{
	static bool done;

	if (!done) {
		setlocale(LC_CTYPE, "");
		done = true;
	}
}

static size_t put_hex(unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

/* The bytes of the character at p, escaped or not, into out (room for
 * 4 * MB_LEN_MAX); returns how many bytes of p it took. */
static size_t encode_char(const char *p, mbstate_t *st, char *out,
			  size_t *outlen)
{
	unsigned char c = (unsigned char)*p;
	wchar_t wc;
	size_t len;

	*outlen = 0;
	if ((c == '\\' && p[1] == 'x') || iscntrl(c)) {
		*outlen = put_hex(c, out);
		return 1;
	}
	len = mbrtowc(&wc, p, MB_CUR_MAX, st);
	if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
		memset(st, 0, sizeof(*st));
		if (isprint(c))
			out[(*outlen)++] = (char)c;
		else
			*outlen = put_hex(c, out);
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		if (iswprint((wint_t)wc))
			out[(*outlen)++] = p[i];
		else
			*outlen += put_hex((unsigned char)p[i], out + *outlen);
	return len;
}

char *safe_encode(const char *s, char *buf, size_t size)
{
	char one[4 * 16];
	mbstate_t st;
	size_t off = 0, n;

	use_ctype_locale();
	memset(&st, 0, sizeof(st));
	while (*s) {
		s += encode_char(s, &st, one, &n);
		if (off + n >= size)
			break; /* cut between characters, never inside one */
		memcpy(buf + off, one, n);
		off += n;
	}
	if (size)
		buf[off] = '\0';
	return buf;
}

const char *esc(const char *s)
{
	static char bufs[4][4 * PATH_MAX + 1];
	static unsigned next;
	char *buf = bufs[next++ % 4];
	int saved = errno; /* an argument of warn(): keep the error it prints */

	safe_encode(s ? s : "", buf, sizeof(bufs[0]));
	errno = saved;
	return buf;
}

static const struct {
	const char *suffix;
	int64_t ms;
} units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
	{ "h", 3600000 }, { "d", 86400000 },
};

int parse_duration(const char *s, int64_t *ms)
{
	int64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;

	/* ".5" and "1." as flock(1) takes them; "." alone is no number. */
	if ((*p < '0' || *p > '9') &&
	    (*p != '.' || p[1] < '0' || p[1] > '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > INT64_MAX / 10 / 86400000)
			return -1;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].suffix) == 0) {
			int64_t part = frac * units[i].ms / scale;
			/* The guard above bounds the digits, not the product:
			 * "106751991169d" would wrap to a negative time. */
			if (whole > (INT64_MAX - part) / units[i].ms)
				return -1;
			*ms = whole * units[i].ms + part;
			return 0;
		}
	return -1;
}

int64_t duration_or_die(const char *s, const char *what)
{
	int64_t ms;

	if (parse_duration(s, &ms) < 0)
		errx(EX_USAGE, "invalid %s: '%s' (use e.g. 500ms, 1.5, 2m, 1h)",
		     what, esc(s));
	return ms;
}

int parse_number(const char *s, long long min, long long max, long long *v,
		 const char **why)
{
	*v = strtonum(s, min, max, why);
	return *why ? -1 : 0;
}

long long number_or_die(const char *s, long long min, long long max,
			const char *what)
{
	const char *why;
	long long v;

	if (parse_number(s, min, max, &v, &why) < 0)
		errx(EX_USAGE, "invalid %s: '%s': %s", what, esc(s), why);
	return v;
}

/* Names kill(1) also accepts that sigabbrev_np() does not give. */
static const struct {
	const char *name;
	int sig;
} signal_aliases[] = {
	{ "IOT", SIGABRT }, { "CLD", SIGCHLD }, { "IO", SIGIO }, { "POLL", SIGIO },
};

/* "RTMIN", "RTMIN+3", "RTMAX", "RTMAX-2": 0, or -1 if name is none. */
static int parse_realtime(const char *name, int *sig)
{
	bool min = strncasecmp(name, "RTMIN", 5) == 0;
	const char *why, *n = name + 5;
	long long off = 0;

	if (!min && strncasecmp(name, "RTMAX", 5) != 0)
		return -1;
	if (*n) {
		/* The sign says the direction: RTMIN+N, RTMAX-N only. */
		if (*n != (min ? '+' : '-') || n[1] < '0' || n[1] > '9')
			return -1;
		off = strtonum(n + 1, 0, SIGRTMAX - SIGRTMIN, &why);
		if (why)
			return -1;
	}
	*sig = min ? SIGRTMIN + (int)off : SIGRTMAX - (int)off;
	return 0;
}

int parse_signal(const char *s, int *sig, const char **why)
{
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	long long v;

	*why = NULL;
	for (int n = 1; n < SIGRTMIN; n++) {
		const char *abbrev = sigabbrev_np(n);
		if (abbrev && strcasecmp(name, abbrev) == 0) {
			*sig = n;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(signal_aliases) / sizeof(signal_aliases[0]); i++)
		if (strcasecmp(name, signal_aliases[i].name) == 0) {
			*sig = signal_aliases[i].sig;
			return 0;
		}
	if (parse_realtime(name, sig) == 0)
		return 0;
	if (parse_number(s, 1, NSIG - 1, &v, why) < 0)
		return -1;
	*sig = (int)v;
	return 0;
}

int signal_or_die(const char *s)
{
	const char *why;
	int sig;

	if (parse_signal(s, &sig, &why) < 0)
		errx(EX_USAGE, "invalid %s: '%s': %s", "signal", esc(s), why);
	return sig;
}

void try_help(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
		getprogname());
	exit(EX_USAGE);
}

void print_version(void)
{
	printf("%s from pidlock %s\n", getprogname(), PIDLOCK_VERSION);
}

int resolve_lock_arg(const char *arg, char *buf, size_t size)
{
	struct stat st;

	if (strchr(arg, '/') || lstat(arg, &st) == 0) {
		if (strlcpy(buf, arg, size) >= size)
			return -ENAMETOOLONG;
		return 0;
	}
	return pidlock_name_path(arg, buf, size);
}

const char *lock_arg_why(int err, char *buf, size_t size)
{
	char dir[PATH_MAX];

	if (err == -EINVAL)
		return "invalid lock name";
	if (err != -ENAMETOOLONG && pidlock_dir(dir, sizeof(dir)) < 0) {
		snprintf(buf, size, "lock directory %s: %s", esc(dir),
			 pidlock_strerror(err));
		return buf;
	}
	return pidlock_strerror(err);
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *path;

	if (asprintf(&path, "%s%s%s", dir, n && dir[n - 1] != '/' ? "/" : "",
		     name) < 0)
		err(EX_OSERR, "out of memory");
	return path;
}
