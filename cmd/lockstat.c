/* SPDX-License-Identifier: MIT */
/*
 * lockstat - who holds which lock, and is it stale?
 *
 * Lists lock files and pidfiles with their state as pidlock_inspect()
 * judges it: never taking a lock, reading /proc/locks once per run, and
 * opening nothing that is not a regular file.
 */
#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* LSB init-script status codes (--status). */
enum { LSB_RUNNING = 0, LSB_DEAD_PIDFILE = 1, LSB_NOT_RUNNING = 3,
       LSB_UNKNOWN = 4 };

enum col { C_PATH, C_STATE, C_PID, C_COMMAND, C_SINCE, C_AGE, C_HOST,
	   C_HOLDERS, C_MESSAGE, C_MODE, C_TYPE, C_UID, C_BOOT, C_REASON,
	   C_HOLDER, C_OWNER, C_SIZE, C_INODE, C_COUNT };

static const struct column {
	const char *name;
	const char *help;
	bool numeric;
} columns[C_COUNT] = {
	[C_PATH] = { "PATH", "path of the lock file", false },
	[C_STATE] = { "STATE", "live, live-inherited, stale, reused, foreign, free, remote, corrupt, unsafe, unknown", false },
	[C_PID] = { "PID", "the PID the file names", true },
	[C_COMMAND] = { "COMMAND", "command name in the record", false },
	[C_SINCE] = { "SINCE", "when the lock was taken", false },
	[C_AGE] = { "AGE", "how long ago", false },
	[C_HOST] = { "HOST", "host name in the record", false },
	[C_HOLDERS] = { "HOLDERS", "PIDs that hold the lock (kernel)", false },
	[C_MESSAGE] = { "MESSAGE", "message in the record", false },
	[C_MODE] = { "MODE", "lock mode held: WRITE or READ", false },
	[C_TYPE] = { "TYPE", "pidlock, plain (pidfile) or flock (no PID)", false },
	[C_UID] = { "UID", "uid in the record", true },
	[C_BOOT] = { "BOOT", "boot id in the record", false },
	[C_REASON] = { "REASON", "why the state", false },
	[C_HOLDER] = { "HOLDER", "PID that took the lock (record)", true },
	[C_OWNER] = { "OWNER", "uid that owns the file", true },
	[C_SIZE] = { "SIZE", "file size", true },
	[C_INODE] = { "INODE", "inode number", true },
};

static const enum col default_cols[] = { C_PATH, C_STATE, C_PID, C_COMMAND,
	C_SINCE, C_AGE, C_HOST, C_HOLDERS, C_MESSAGE };

#define MESSAGE_WIDTH 40

struct row {
	char *path; /* on the heap: rows of 10,000 files should not be 60 MB */
	struct pidlock_info info;
};

struct opts {
	enum col cols[C_COUNT];
	size_t ncols;
	bool noheadings, raw, notruncate, json, quiet, all;
	const char *status, *pid;
	int64_t watch_ms;
};

struct table {
	struct row *rows;
	size_t n, alloc;
};

static void usage(void)
{
	printf("Usage:\n"
	       " %1$s [options] [FILE|DIR|NAME...]\n"
	       " %1$s --status FILE|NAME\n"
	       " %1$s --pid FILE|NAME\n"
	       "\nShow who holds which lock file or pidfile, and whether it is stale.\n"
	       "Without arguments, the lock directory is listed.\n"
	       "\nOptions:\n"
	       " -o, --output LIST      columns to show (see below)\n"
	       "     --output-all       show all columns\n"
	       " -n, --noheadings       do not print a header line\n"
	       " -r, --raw              raw output: no padding, escaped spaces\n"
	       " -u, --notruncate       do not truncate messages\n"
	       " -J, --json             JSON output (schema in lockstat(1))\n"
	       " -q, --quiet            print nothing; exit status only\n"
	       " -a, --all              every file lock on the system\n"
	       " -w, --watch[=INTERVAL] redraw every INTERVAL (default 2s)\n"
	       "     --status FILE|NAME LSB status: 0 running, 1 dead with pidfile,\n"
	       "                        3 not running, 4 unknown\n"
	       "     --pid FILE|NAME    print the PID of the live holder only\n"
	       " -h, --help             display this help\n"
	       " -V, --version          display version\n"
	       "\nColumns:\n", getprogname());
	for (int i = 0; i < C_COUNT; i++)
		printf(" %8s  %s\n", columns[i].name, columns[i].help);
	printf("\nSee lockstat(1).\n");
}

enum { OPT_OUTPUT_ALL = 256, OPT_STATUS, OPT_PID };

static const struct option long_options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "output-all", no_argument, NULL, OPT_OUTPUT_ALL },
	{ "noheadings", no_argument, NULL, 'n' },
	{ "raw", no_argument, NULL, 'r' },
	{ "notruncate", no_argument, NULL, 'u' },
	{ "json", no_argument, NULL, 'J' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "all", no_argument, NULL, 'a' },
	{ "watch", optional_argument, NULL, 'w' },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void parse_columns(struct opts *o, const char *list)
{
	char buf[512], *tok, *save = NULL;

	if (strlcpy(buf, *list == '+' ? list + 1 : list, sizeof(buf)) >= sizeof(buf))
		errx(EX_USAGE, "column list too long");
	if (*list != '+')
		o->ncols = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int c;
		for (c = 0; c < C_COUNT && strcasecmp(tok, columns[c].name); c++)
			;
		if (c == C_COUNT)
			errx(EX_USAGE, "unknown column: %s", tok);
		if (o->ncols < C_COUNT)
			o->cols[o->ncols++] = (enum col)c;
	}
	if (!o->ncols)
		errx(EX_USAGE, "no columns");
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < sizeof(default_cols) / sizeof(default_cols[0]); i++)
		o->cols[o->ncols++] = default_cols[i];
	while ((c = getopt_long(argc, argv, "o:nruJqaw::hV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'o': parse_columns(o, optarg); break;
		case OPT_OUTPUT_ALL:
			for (o->ncols = 0; o->ncols < C_COUNT; o->ncols++)
				o->cols[o->ncols] = (enum col)o->ncols;
			break;
		case 'n': o->noheadings = true; break;
		case 'r': o->raw = true; break;
		case 'u': o->notruncate = true; break;
		case 'J': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'a': o->all = true; break;
		case 'w':
			/* "-w 100ms" as well as "-w100ms": a next word that is a
			 * duration is the interval, not a lock name. */
			if (!optarg && optind < argc &&
			    parse_duration(argv[optind], &o->watch_ms) == 0)
				optind++;
			else
				o->watch_ms = optarg ? duration_or_die(optarg, "interval")
						     : 2000;
			if (o->watch_ms <= 0)
				errx(EX_USAGE, "the watch interval must be positive");
			break;
		case OPT_STATUS: o->status = optarg; break;
		case OPT_PID: o->pid = optarg; break;
		case 'h': usage(); exit(EX_OK);
		case 'V': print_version(); exit(EX_OK);
		default: try_help();
		}
	}
	if ((o->status || o->pid) && optind < argc)
		errx(EX_USAGE, "--status and --pid take exactly one lock");
	if (o->status && o->pid)
		errx(EX_USAGE, "--status and --pid are exclusive");
}

/* --- collecting rows ---------------------------------------------------- */

static struct row *add_row(struct table *t)
{
	if (t->n == t->alloc) {
		size_t n = t->alloc ? t->alloc * 2 : 64;
		struct row *p = reallocarray(t->rows, n, sizeof(*p));
		if (!p)
			err(EX_OSERR, "out of memory");
		t->rows = p;
		t->alloc = n;
	}
	memset(&t->rows[t->n], 0, sizeof(t->rows[0]));
	return &t->rows[t->n++];
}

static void set_path(struct row *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&r->path, fmt, ap) < 0)
		err(EX_OSERR, "out of memory");
	va_end(ap);
}

static void free_table(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i].path);
	free(t->rows);
}

static void inspect_at(struct table *t, int dirfd, const char *dir,
		       const char *name, const struct pidlock_snapshot *snap)
{
	struct row *r = add_row(t);
	int e;

	set_path(r, "%s%s%s", dir,
		 dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
	e = pidlock_inspectat(dirfd, name, snap, &r->info);
	if (e < 0) {
		r->info.state = PIDLOCK_STATE_UNKNOWN;
		snprintf(r->info.reason, sizeof(r->info.reason), "%s",
			 pidlock_strerror(e));
	}
}

/* Lists a directory's lock files: regular-looking entries, no dot files. */
static int list_dir(struct table *t, const char *dir,
		    const struct pidlock_snapshot *snap)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	DIR *dp;

	if (fd < 0 || !(dp = fdopendir(fd))) {
		warn("%s", dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.' || d->d_type == DT_DIR)
			continue;
		inspect_at(t, fd, dir, d->d_name, snap);
	}
	closedir(dp);
	return 0;
}

static int add_target(struct table *t, const char *arg,
		      const struct pidlock_snapshot *snap)
{
	char path[PATH_MAX];
	struct stat st;
	struct row *r;
	int e = resolve_lock_arg(arg, path, sizeof(path));

	if (e < 0) {
		char why[PATH_MAX + 200];
		warnx("%s: %s", arg, lock_arg_why(e, why, sizeof(why)));
		return -1;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return list_dir(t, path, snap);
	r = add_row(t);
	set_path(r, "%s", path);
	e = pidlock_inspect(path, snap, &r->info);
	if (e < 0) {
		r->info.state = PIDLOCK_STATE_UNKNOWN;
		snprintf(r->info.reason, sizeof(r->info.reason), "%s",
			 pidlock_strerror(e));
	}
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->path, ((const struct row *)b)->path);
}

/* --- formatting --------------------------------------------------------- */

static bool held(const struct pidlock_info *i)
{
	return i->state == PIDLOCK_STATE_LIVE ||
	       i->state == PIDLOCK_STATE_LIVE_INHERITED;
}

static void holders_list(const struct pidlock_info *i, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < i->nholders && off < size; k++) {
		const struct pidlock_kernel_holder *h = &i->holders[k];
		int n = snprintf(buf + off, size - off, "%s%d%s", off ? "," : "",
				 (int)h->pid, h->waiting ? "(waiting)" : "");
		if (n > 0)
			off += (size_t)n;
	}
}

static const char *lock_mode(const struct pidlock_info *i)
{
	for (unsigned k = 0; k < i->nholders; k++)
		if (!i->holders[k].waiting)
			return i->holders[k].exclusive ? "WRITE" : "READ";
	return "";
}

/* The text of one cell; "" when there is nothing to say. */
static void cell(const struct row *r, enum col c, char *buf, size_t size)
{
	const struct pidlock_info *i = &r->info;
	const struct pidlock_record *rec = i->has_record ? &i->record : NULL;

	buf[0] = '\0';
	switch (c) {
	case C_PATH: strlcpy(buf, r->path, size); break;
	case C_STATE: strlcpy(buf, pidlock_state_name(i->state), size); break;
	case C_PID: if (i->pid) snprintf(buf, size, "%d", (int)i->pid); break;
	case C_COMMAND: if (rec) strlcpy(buf, rec->comm, size); break;
	case C_SINCE: if (rec) format_since(rec->time, buf, size); break;
	case C_AGE: if (rec) format_age((int64_t)time(NULL) - rec->time, buf, size); break;
	case C_HOST: if (rec) strlcpy(buf, rec->host, size); break;
	case C_HOLDERS: holders_list(i, buf, size); break;
	case C_MESSAGE:
		/* Where there is no message to show, say why the state. */
		if (rec && rec->message[0])
			strlcpy(buf, rec->message, size);
		else if (!held(i) && i->state != PIDLOCK_STATE_FREE && i->reason[0])
			snprintf(buf, size, "(%s)", i->reason);
		break;
	case C_MODE: strlcpy(buf, lock_mode(i), size); break;
	case C_TYPE: strlcpy(buf, pidlock_type_name(i->type), size); break;
	case C_UID: if (rec) snprintf(buf, size, "%u", (unsigned)rec->uid); break;
	case C_BOOT: if (rec) strlcpy(buf, rec->boot_id, size); break;
	case C_REASON: strlcpy(buf, i->reason, size); break;
	case C_HOLDER: if (rec) snprintf(buf, size, "%d", (int)rec->holder); break;
	case C_OWNER: if (i->state != PIDLOCK_STATE_NONE) snprintf(buf, size, "%u", (unsigned)i->file_uid); break;
	case C_SIZE: if (i->state != PIDLOCK_STATE_NONE) snprintf(buf, size, "%lld", (long long)i->size); break;
	case C_INODE: if (i->ino) snprintf(buf, size, "%llu", (unsigned long long)i->ino); break;
	case C_COUNT: break;
	}
}

static void print_raw_cell(const char *s)
{
	if (!*s) {
		fputs("-", stdout);
		return;
	}
	for (; *s; s++)
		if (*s == ' ' || *s == '\\')
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
}

static void print_table(const struct opts *o, const struct table *t)
{
	size_t width[C_COUNT] = { 0 };
	char buf[PATH_MAX + 64];

	for (size_t k = 0; k < o->ncols; k++)
		width[k] = o->noheadings ? 0 : strlen(columns[o->cols[k]].name);
	for (size_t n = 0; n < t->n; n++)
		for (size_t k = 0; k < o->ncols; k++) {
			cell(&t->rows[n], o->cols[k], buf, sizeof(buf));
			size_t len = strlen(buf);
			if (o->cols[k] == C_MESSAGE && !o->notruncate && len > MESSAGE_WIDTH)
				len = MESSAGE_WIDTH;
			if (len > width[k])
				width[k] = len;
		}
	for (size_t n = o->noheadings ? 0 : (size_t)-1; n != t->n; n++) {
		for (size_t k = 0; k < o->ncols; k++) {
			enum col c = o->cols[k];
			bool last = k + 1 == o->ncols;
			if (n == (size_t)-1)
				strlcpy(buf, columns[c].name, sizeof(buf));
			else
				cell(&t->rows[n], c, buf, sizeof(buf));
			if (c == C_MESSAGE && !o->notruncate && !o->raw &&
			    strlen(buf) > MESSAGE_WIDTH)
				strlcpy(buf + MESSAGE_WIDTH - 3, "...", 4);
			if (o->raw)
				print_raw_cell(buf);
			else if (columns[c].numeric)
				printf("%*s", (int)width[k], buf);
			else
				printf("%-*s", last ? 0 : (int)width[k], buf);
			fputs(last ? "\n" : " ", stdout);
		}
	}
}

static void json_holders(const struct pidlock_info *i)
{
	putchar('[');
	for (unsigned k = 0; k < i->nholders; k++) {
		const struct pidlock_kernel_holder *h = &i->holders[k];
		printf("%s{\"pid\":%d,\"uid\":", k ? "," : "", (int)h->pid);
		if (h->uid == (uid_t)-1)
			fputs("null", stdout);
		else
			printf("%u", (unsigned)h->uid);
		printf(",\"mode\":\"%s\",\"kind\":\"%s\",\"waiting\":%s}",
		       h->exclusive ? "WRITE" : "READ", h->flock ? "flock" : "posix",
		       h->waiting ? "true" : "false");
	}
	putchar(']');
}

static void json_cell(const struct row *r, enum col c)
{
	char buf[PATH_MAX + 64];

	if (c == C_HOLDERS) {
		json_holders(&r->info);
		return;
	}
	if (c == C_SINCE || c == C_AGE) {
		if (!r->info.has_record)
			fputs("null", stdout);
		else
			printf("%lld", (long long)(c == C_SINCE ? r->info.record.time
					   : (int64_t)time(NULL) - r->info.record.time));
		return;
	}
	cell(r, c, buf, sizeof(buf));
	if (!buf[0] && c != C_STATE && c != C_PATH && c != C_REASON)
		fputs("null", stdout);
	else if (columns[c].numeric)
		fputs(buf, stdout);
	else
		json_string(buf);
}

static void print_json(const struct opts *o, const struct table *t)
{
	char name[32];

	printf("{\"locks\":[");
	for (size_t n = 0; n < t->n; n++) {
		printf("%s\n  {", n ? "," : "");
		for (size_t k = 0; k < o->ncols; k++) {
			strlcpy(name, columns[o->cols[k]].name, sizeof(name));
			for (char *p = name; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			printf("%s\"%s\":", k ? "," : "", name);
			json_cell(&t->rows[n], o->cols[k]);
		}
		putchar('}');
	}
	printf("%s]}\n", t->n ? "\n" : "");
}

/* --- modes -------------------------------------------------------------- */

static int lsb_status(const struct pidlock_info *i)
{
	switch (i->state) {
	case PIDLOCK_STATE_LIVE:
	case PIDLOCK_STATE_LIVE_INHERITED:
	case PIDLOCK_STATE_FOREIGN:
		return LSB_RUNNING;
	case PIDLOCK_STATE_STALE:
	case PIDLOCK_STATE_REUSED:
		return LSB_DEAD_PIDFILE;
	case PIDLOCK_STATE_NONE:
	case PIDLOCK_STATE_FREE:
		return LSB_NOT_RUNNING;
	default:
		return LSB_UNKNOWN;
	}
}

/*
 * The PID of the process that holds the lock now, as the library judges
 * it: one the kernel lock shows holding the file, or the live writer of
 * an unlocked plain pidfile that nothing contradicts; never PID 1 from a
 * file (kill "$(lockstat --pid F)" must not hit init).
 */
static pid_t live_pid(const struct pidlock_info *i)
{
	switch (i->state) {
	case PIDLOCK_STATE_LIVE:
	case PIDLOCK_STATE_LIVE_INHERITED:
	case PIDLOCK_STATE_FOREIGN:
		return i->live_pid;
	default:
		return 0;
	}
}

static int inspect_one(const char *arg, struct pidlock_info *info)
{
	char path[PATH_MAX];
	int r;

	r = resolve_lock_arg(arg, path, sizeof(path));
	if (r == -EINVAL)
		errx(EX_USAGE, "%s: invalid lock name", arg);
	if (r == 0)
		r = pidlock_inspect(path, NULL, info);
	if (r < 0) {
		memset(info, 0, sizeof(*info));
		info->state = PIDLOCK_STATE_UNKNOWN;
		snprintf(info->reason, sizeof(info->reason), "%s",
			 pidlock_strerror(r));
	}
	return 0;
}

static int status_mode(const struct opts *o)
{
	struct pidlock_info info;

	inspect_one(o->status, &info);
	return lsb_status(&info);
}

static int pid_mode(const struct opts *o)
{
	struct pidlock_info info;
	pid_t pid;

	inspect_one(o->pid, &info);
	pid = live_pid(&info);
	if (!pid) {
		if (!o->quiet)
			warnx("%s: no live holder (%s%s%s)", o->pid,
			      pidlock_state_name(info.state),
			      info.reason[0] ? ": " : "", info.reason);
		return 1;
	}
	printf("%d\n", (int)pid);
	return 0;
}

/* Adds a row for every kernel lock, joined with the file's record. */
static void all_locks(struct table *t, const struct pidlock_snapshot *snap)
{
	for (size_t i = 0; i < pidlock_snapshot_count(snap); i++) {
		struct pidlock_kernel_holder h;
		char path[PATH_MAX];
		dev_t dev;
		ino_t ino;
		int found;
		if (pidlock_snapshot_get(snap, i, &dev, &ino, &h) < 0 || h.waiting)
			continue;
		/* A lock on a file with no name guards nothing anyone can ask
		 * for: a waiter's ready inode, a deleted file. */
		found = find_locked_path(h.pid, dev, ino, path, sizeof(path));
		if (found == -ENOENT)
			continue;
		struct row *r = add_row(t);
		if (found == 0 &&
		    pidlock_inspect(path, snap, &r->info) == 0 && r->info.ino == ino) {
			set_path(r, "%s", path);
			continue;
		}
		set_path(r, "(%u:%u:%llu)", major(dev),
			 minor(dev), (unsigned long long)ino);
		memset(&r->info, 0, sizeof(r->info));
		r->info.state = PIDLOCK_STATE_LIVE;
		r->info.ino = ino;
		r->info.nholders = 1;
		r->info.holders[0] = h;
		strlcpy(r->info.reason, "path unknown", sizeof(r->info.reason));
	}
	forget_locked_paths(); /* -w redraws: descriptors change */
}

static int collect(const struct opts *o, int argc, char **argv, struct table *t)
{
	struct pidlock_snapshot *snap = NULL;
	char dir[PATH_MAX];
	int bad = 0, r;

	r = pidlock_snapshot_new(&snap);
	if (r < 0)
		warnx("/proc/locks: %s (holders unknown)", pidlock_strerror(r));
	if (o->all)
		all_locks(t, snap);
	else if (optind == argc) {
		if (pidlock_dir(dir, sizeof(dir)) < 0 || list_dir(t, dir, snap) < 0)
			bad = 1;
	}
	for (int i = optind; i < argc; i++)
		if (add_target(t, argv[i], snap) < 0)
			bad = 1;
	pidlock_snapshot_free(snap);
	if (t->n)
		qsort(t->rows, t->n, sizeof(t->rows[0]), cmp_row);
	return bad;
}

static int show(const struct opts *o, int argc, char **argv)
{
	struct table t = { NULL, 0, 0 };
	int bad = collect(o, argc, argv, &t);

	if (o->json)
		print_json(o, &t);
	else if (!o->quiet && (t.n || !o->noheadings))
		print_table(o, &t);
	free_table(&t);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(EX_IOERR, "write error");
	return bad ? 1 : 0;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int watch(const struct opts *o, int argc, char **argv)
{
	struct timespec ts = { o->watch_ms / 1000, (o->watch_ms % 1000) * 1000000 };

	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	while (!interrupted) {
		printf("\033[H\033[2J");
		show(o, argc, argv);
		nanosleep(&ts, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	setprogname(argv[0]);
	parse_args(&o, argc, argv);
	if (o.status)
		return status_mode(&o);
	if (o.pid)
		return pid_mode(&o);
	if (o.watch_ms)
		return watch(&o, argc, argv);
	return show(&o, argc, argv);
}
