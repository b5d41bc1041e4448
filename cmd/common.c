/* SPDX-License-Identifier: MIT */
/* Helpers shared by lockrun, lockstat and lockclean; see common.h. */
#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
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

void format_age(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60),
			 (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

void format_since(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when, now = time(NULL);
	struct tm tm, today;

	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, size, "%H:%M:%S", &tm);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
}

static void holders_text(const struct pidlock_info *info, char *buf,
			 size_t size)
{
	size_t off = 0;
	unsigned shown = 0;

	for (unsigned i = 0; i < info->nholders && off < size; i++) {
		const struct pidlock_kernel_holder *h = &info->holders[i];
		if (h->waiting)
			continue;
		int n = snprintf(buf + off, size - off, "%s%s%d", shown ? ", " : "",
				 shown ? "" : (h->exclusive ? "PID " : "(shared) PID "),
				 (int)h->pid);
		if (n > 0 && h->uid != (uid_t)-1)
			n += snprintf(buf + off + n, size - off - (size_t)n,
				      " (uid %u)", (unsigned)h->uid);
		if (n > 0)
			off += (size_t)n;
		shown++;
	}
	if (!shown)
		snprintf(buf, size, "another process");
}

/* The command name of pid, from /proc (only read, never signalled), as
 * the kernel has it: not escaped. */
void proc_comm(pid_t pid, char *buf, size_t size)
{
	char path[32];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!(f = fopen(path, "re")))
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

void describe_holder(const struct pidlock_info *info, char *buf, size_t size)
{
	const struct pidlock_record *r = &info->record;
	char since[32], age[32], who[256], host[4 * 65] = "", msg[4 * 1024 + 2] = "";
	struct utsname u;

	if (!info->has_record && info->pid > 0 && info->nholders == 0) {
		/* A plain pidfile of a live process: name it, as pgrep would,
		 * unless the system contradicts the file (then say so). */
		proc_comm(info->pid, who, sizeof(who));
		if (info->live_pid)
			snprintf(buf, size, "held by PID %d (%s), per its pidfile",
				 (int)info->pid, who[0] ? esc(who) : "?");
		else
			snprintf(buf, size, "its pidfile names PID %d (%s), "
				 "alive, not proven its writer: %s",
				 (int)info->pid, who[0] ? esc(who) : "?",
				 esc(info->reason));
		return;
	}
	if (!info->has_record || (info->state == PIDLOCK_STATE_LIVE &&
				  (info->doubts & (PIDLOCK_DOUBT_UNPROVEN |
						   PIDLOCK_DOUBT_UID)))) {
		/* Name the kernel's holders, never a PID only a file claims. */
		holders_text(info, who, sizeof(who));
		snprintf(buf, size, "held by %s", who);
		if (info->has_record || info->pid > 0) {
			size_t len = strlen(buf);
			snprintf(buf + len, size - len, " (%s)", info->reason);
		}
		return;
	}
	format_since(r->time, since, sizeof(since));
	format_age((int64_t)time(NULL) - r->time, age, sizeof(age));
	if (uname(&u) == 0 && strcmp(u.nodename, r->host) != 0)
		snprintf(host, sizeof(host), " on %s", esc(r->host));
	if (r->message[0])
		snprintf(msg, sizeof(msg), ": %s", esc(r->message));
	snprintf(buf, size, "held by PID %d (%s)%s since %s, %s%s", (int)r->pid,
		 esc(r->comm), host, since, age, msg);
	if (info->state == PIDLOCK_STATE_LIVE_INHERITED) {
		size_t len = strlen(buf);
		holders_text(info, who, sizeof(who));
		snprintf(buf + len, size - len, " (gone; now held by %s)", who);
	}
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

/*
 * An inode created with O_TMPFILE and linked in later keeps the name
 * "/dir/#12345 (deleted)" in /proc/PID/fd: look the inode up in /dir.
 * The last directory's listing is kept (lockstat -a asks about many files
 * of one directory), and readdir's d_ino picks the candidate, so a lookup
 * costs one fstatat; where d_ino cannot be trusted (some overlay setups),
 * every entry is checked.
 */
struct dir_entry {
	ino_t ino;
	char *name;
};

static struct {
	char *path;
	struct dir_entry *v;
	size_t n;
} listing;

static void forget_listing(void)
{
	for (size_t i = 0; i < listing.n; i++)
		free(listing.v[i].name);
	free(listing.v);
	free(listing.path);
	memset(&listing, 0, sizeof(listing));
}

static void read_listing(const char *path)
{
	struct dir_entry *v;
	struct dirent *d;
	DIR *dp;

	if (listing.path && strcmp(listing.path, path) == 0)
		return;
	forget_listing();
	if (!(listing.path = strdup(path)) || !(dp = opendir(path)))
		return;
	while ((d = readdir(dp)) != NULL) {
		if (!(v = reallocarray(listing.v, listing.n + 1, sizeof(*v))))
			break;
		listing.v = v;
		if (!(v[listing.n].name = strdup(d->d_name)))
			break;
		v[listing.n++].ino = d->d_ino;
	}
	closedir(dp);
}

static bool is_inode(const char *dir, const char *name, dev_t dev, ino_t ino)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static const char *find_in_dir(const char *dir, dev_t dev, ino_t ino)
{
	read_listing(dir);
	for (int by_d_ino = 1; by_d_ino >= 0; by_d_ino--)
		for (size_t i = 0; i < listing.n; i++)
			if ((!by_d_ino || listing.v[i].ino == ino) &&
			    is_inode(dir, listing.v[i].name, dev, ino))
				return listing.v[i].name;
	return NULL;
}

static int name_in_dir(char *path, dev_t dev, ino_t ino, size_t size)
{
	static const char deleted[] = " (deleted)";
	size_t len = strlen(path), dl = sizeof(deleted) - 1, dirlen;
	char *slash = strrchr(path, '/');
	const char *name;

	if (len < dl || strcmp(path + len - dl, deleted) != 0)
		return 0;
	if (!slash)
		return -1;
	*slash = '\0';
	name = find_in_dir(path[0] ? path : "/", dev, ino);
	dirlen = strlen(path);
	if (!name || dirlen + 1 + strlen(name) >= size)
		return -1;
	path[dirlen] = '/';
	strcpy(path + dirlen + 1, name);
	return 0;
}

/*
 * The open files of the processes asked about, each read from /proc once:
 * lockstat -a asks for every lock, and a process holding 1,000 locks would
 * otherwise have its 1,000 descriptors stat'ed 1,000 times.
 */
struct open_file {
	dev_t dev;
	ino_t ino;
	int fd;
	bool linked; /* st_nlink > 0: the file has a name somewhere */
};

static struct fd_table {
	pid_t pid;
	struct open_file *v;
	size_t n;
} *tables;
static size_t ntables;

static struct fd_table *read_fd_table(pid_t pid)
{
	struct fd_table *t, *grown;
	char dir[32], link[64];
	struct dirent *d;
	struct stat st;
	DIR *dp;

	for (size_t i = 0; i < ntables; i++)
		if (tables[i].pid == pid)
			return &tables[i];
	grown = reallocarray(tables, ntables + 1, sizeof(*tables));
	if (!grown)
		return NULL;
	tables = grown;
	t = &tables[ntables++];
	*t = (struct fd_table){ pid, NULL, 0 };
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (!(dp = opendir(dir)))
		return t;
	while ((d = readdir(dp)) != NULL) {
		const char *err = NULL;
		int fd = (int)strtonum(d->d_name, 0, INT_MAX, &err);
		struct open_file *v;
		if (err)
			continue;
		snprintf(link, sizeof(link), "%s/%d", dir, fd);
		if (stat(link, &st) < 0)
			continue;
		if (!(v = reallocarray(t->v, t->n + 1, sizeof(*v))))
			break;
		t->v = v;
		t->v[t->n++] = (struct open_file){ st.st_dev, st.st_ino, fd,
						   st.st_nlink > 0 };
	}
	closedir(dp);
	return t;
}

void forget_locked_paths(void)
{
	forget_listing();
	for (size_t i = 0; i < ntables; i++)
		free(tables[i].v);
	free(tables);
	tables = NULL;
	ntables = 0;
}

int find_locked_path(pid_t pid, dev_t dev, ino_t ino, char *buf, size_t size)
{
	struct fd_table *t;
	char link[64];

	if (pid <= 0 || !(t = read_fd_table(pid)))
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		ssize_t n;
		if (t->v[i].dev != dev || t->v[i].ino != ino)
			continue;
		/* No name anywhere: no directory to search (see common.h). */
		if (!t->v[i].linked)
			return -ENOENT;
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, t->v[i].fd);
		n = readlink(link, buf, size - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (name_in_dir(buf, dev, ino, size) == 0)
			return 0;
	}
	return -1;
}
