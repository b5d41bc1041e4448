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
#include "etcdstat.h"
#include "fdpath.h"
#include "format.h"
#include "output.h"

/* LSB init-script status codes (--status). */
enum { LSB_RUNNING = 0, LSB_DEAD_PIDFILE = 1, LSB_NOT_RUNNING = 3,
       LSB_UNKNOWN = 4 };

enum col { C_PATH, C_STATE, C_FILEPID, C_FILECOMMAND, C_SINCE, C_AGE,
	   C_HOST, C_HOLDERS, C_MESSAGE, C_PID, C_COMMAND, C_WAITERS, C_MODE,
	   C_TYPE, C_FORMAT, C_UID, C_BOOT, C_REASON, C_HOLDER, C_OWNER,
	   C_SIZE, C_INODE, C_COUNT };

/*
 * The columns; a JSON key is its column's name in lower case.  A name that
 * lslocks(8) also has means what it means there (PID and COMMAND: the
 * process holding the lock; TYPE: the kind of lock; SIZE: a size string);
 * what the file says has names of its own (FILEPID, FILECOMMAND, FORMAT).
 */
static struct out_column columns[C_COUNT] = {
	[C_PATH] = { "PATH", 0.3, SCOLS_FL_TRUNC, SCOLS_JSON_STRING, "path of the lock file" },
	[C_STATE] = { "STATE", 0, 0, SCOLS_JSON_STRING, "the file's state (see below)" },
	[C_FILEPID] = { "FILEPID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "the PID the file names" },
	[C_FILECOMMAND] = { "FILECOMMAND", 0, 0, SCOLS_JSON_STRING, "command name in the record" },
	[C_SINCE] = { "SINCE", 0, 0, SCOLS_JSON_NUMBER, "when the lock was taken (record)" },
	[C_AGE] = { "AGE", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "how long ago" },
	[C_HOST] = { "HOST", 0, 0, SCOLS_JSON_STRING, "host name in the record" },
	[C_HOLDERS] = { "HOLDERS", 0, 0, SCOLS_JSON_ARRAY_NUMBER, "PIDs holding the lock (kernel)" },
	[C_MESSAGE] = { "MESSAGE", 0.2, SCOLS_FL_TRUNC, SCOLS_JSON_STRING, "message in the record, or why the state" },
	[C_PID] = { "PID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "PID of the process holding the lock" },
	[C_COMMAND] = { "COMMAND", 0, 0, SCOLS_JSON_STRING, "command of the process holding the lock" },
	[C_WAITERS] = { "WAITERS", 0, 0, SCOLS_JSON_ARRAY_NUMBER, "PIDs waiting for the lock (kernel)" },
	[C_MODE] = { "MODE", 0, 0, SCOLS_JSON_STRING, "lock access mode: WRITE or READ" },
	[C_TYPE] = { "TYPE", 0, 0, SCOLS_JSON_STRING, "kind of lock: FLOCK, POSIX or OFDLCK" },
	[C_FORMAT] = { "FORMAT", 0, 0, SCOLS_JSON_STRING, "content: pidlock, plain (pidfile), flock (none)" },
	[C_UID] = { "UID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "uid in the record" },
	[C_BOOT] = { "BOOT", 0, 0, SCOLS_JSON_STRING, "boot id in the record" },
	[C_REASON] = { "REASON", 0.2, SCOLS_FL_TRUNC, SCOLS_JSON_STRING, "why the state" },
	[C_HOLDER] = { "HOLDER", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "PID that took the lock (record)" },
	[C_OWNER] = { "OWNER", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "uid that owns the file" },
	[C_SIZE] = { "SIZE", 0, SCOLS_FL_RIGHT, SCOLS_JSON_STRING, "file size (in bytes with --bytes)" },
	[C_INODE] = { "INODE", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "inode number" },
};

static const enum col default_cols[] = { C_PATH, C_STATE, C_FILEPID,
	C_FILECOMMAND, C_SINCE, C_AGE, C_HOST, C_HOLDERS, C_MESSAGE };

enum time_format { TIME_SHORT, TIME_FULL, TIME_ISO };

/*
 * A row is kept as its cells, formatted when the file is inspected: the
 * judgement (struct pidlock_info, 2.5 KB) is needed only until then, and
 * 10,000 of them were 25 MB of memory to fault in.
 */
struct row {
	char *path;  /* the sort key */
	char *cells; /* one NUL-terminated string per output column */
};

struct opts {
	int cols[C_COUNT];
	size_t ncols;
	struct out_opts out;
	bool quiet, all, bytes;
	enum time_format time_format;
	const char *status, *pid;
	int64_t watch_ms;
	const char *etcd;  /* --etcd: list the locks on etcd (etcdstat.c) */
	bool columns_set;
};

struct table {
	const struct opts *o;
	struct row *rows;
	size_t n, alloc;
	bool missing; /* a FILE or NAME given does not exist */
	struct pidlock_info info; /* the file being judged */
};

static void usage(void)
{
	printf("Usage:\n"
	       " %1$s [options] [FILE|DIR|NAME...]\n"
	       " %1$s --status FILE|NAME\n"
	       " %1$s --pid FILE|NAME\n"
	       " %1$s --etcd URL[,URL...] [options] [NAME...]\n"
	       "\nShow who holds which lock file or pidfile, and whether it is stale.\n"
	       "Without arguments, the lock directory is listed.\n"
	       "\nOptions:\n"
	       " -o, --output LIST      columns to show; +LIST adds to the default\n"
	       "     --output-all       show all columns\n"
	       " -n, --noheadings       do not print a header line\n"
	       " -r, --raw              raw output: no padding, blanks escaped\n"
	       " -P, --pairs            KEY=\"value\" output\n"
	       " -J, --json             JSON output (schema in lockstat(1))\n"
	       " -u, --notruncate       do not truncate text to the terminal width\n"
	       " -b, --bytes            SIZE in bytes, not in K, M, G\n"
	       "     --time-format FMT  SINCE as short, full or iso (ISO 8601)\n"
	       " -q, --quiet            print nothing; exit status only\n"
	       " -a, --all              every file lock on the system\n"
	       " -w, --watch[=INTERVAL] repeat every INTERVAL (default 2s)\n"
	       "     --status FILE|NAME LSB status: 0 running, 1 dead with pidfile,\n"
	       "                        3 not running, 4 unknown\n"
	       "     --pid FILE|NAME    print the PID of the live holder only\n"
	       "     --etcd URL[,URL...] the locks on etcd (lockrun --etcd, etcdctl lock)\n"
	       " -h, --help             display this help\n"
	       " -V, --version          display version\n", getprogname());
	out_help_columns(columns, C_COUNT);
	printf("\nStates:\n"
	       " live, live-inherited, stale, reused, foreign, free, remote,\n"
	       " corrupt, unsafe, unknown, none\n"
	       "\nSee lockstat(1).\n");
}

enum { OPT_OUTPUT_ALL = 256, OPT_STATUS, OPT_PID, OPT_TIME_FORMAT, OPT_ETCD };

static const struct option long_options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "output-all", no_argument, NULL, OPT_OUTPUT_ALL },
	{ "noheadings", no_argument, NULL, 'n' },
	{ "raw", no_argument, NULL, 'r' },
	{ "pairs", no_argument, NULL, 'P' },
	{ "notruncate", no_argument, NULL, 'u' },
	{ "json", no_argument, NULL, 'J' },
	{ "bytes", no_argument, NULL, 'b' },
	{ "time-format", required_argument, NULL, OPT_TIME_FORMAT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "all", no_argument, NULL, 'a' },
	{ "watch", optional_argument, NULL, 'w' },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "etcd", required_argument, NULL, OPT_ETCD },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static enum time_format time_format_or_die(const char *s)
{
	if (strcmp(s, "short") == 0)
		return TIME_SHORT;
	if (strcmp(s, "full") == 0)
		return TIME_FULL;
	if (strcmp(s, "iso") == 0)
		return TIME_ISO;
	errx(EX_USAGE, "invalid time format: '%s' (short, full or iso)", esc(s));
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < sizeof(default_cols) / sizeof(default_cols[0]); i++)
		o->cols[o->ncols++] = (int)default_cols[i];
	while ((c = getopt_long(argc, argv, "o:nrPuJbqaw::hV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			out_parse_columns(optarg, columns, C_COUNT, o->cols, &o->ncols);
			o->columns_set = true;
			break;
		case OPT_OUTPUT_ALL:
			o->columns_set = true;
			for (o->ncols = 0; o->ncols < C_COUNT; o->ncols++)
				o->cols[o->ncols] = (int)o->ncols;
			break;
		case 'n': o->out.noheadings = true; break;
		case 'r': o->out.format = OUT_RAW; break;
		case 'P': o->out.format = OUT_PAIRS; break;
		case 'u': o->out.notruncate = true; break;
		case 'J': o->out.format = OUT_JSON; break;
		case 'b': o->bytes = true; break;
		case OPT_TIME_FORMAT: o->time_format = time_format_or_die(optarg); break;
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
		case OPT_ETCD: o->etcd = optarg; break;
		case 'h': usage(); exit(EX_OK);
		case 'V': print_version(); exit(EX_OK);
		default: try_help();
		}
	}
	if ((o->status || o->pid) && optind < argc)
		errx(EX_USAGE, "--status and --pid take exactly one lock");
	if (o->status && o->pid)
		errx(EX_USAGE, "--status and --pid are exclusive");
	/* One JSON document per line when watching (JSON Lines). */
	o->out.jsonl = o->watch_ms && o->out.format == OUT_JSON;
	if (o->bytes)
		columns[C_SIZE].json_type = SCOLS_JSON_NUMBER;
	if (o->time_format == TIME_ISO)
		columns[C_SINCE].json_type = SCOLS_JSON_STRING;
}

/* --- collecting rows ---------------------------------------------------- */

static void cell(const struct opts *o, const char *path,
		 const struct pidlock_info *i, enum col c, char *buf, size_t size);

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		err(EX_OSERR, "out of memory");
	va_end(ap);
	return s;
}

/* Adds the row of path (taken over) as judged in info. */
static void add_row(struct table *t, char *path, const struct pidlock_info *info)
{
	const struct opts *o = t->o;
	char buf[PATH_MAX + 2048];
	size_t len = 0;
	struct row *r;

	if (t->n == t->alloc) {
		size_t n = t->alloc ? t->alloc * 2 : 64;
		struct row *p = reallocarray(t->rows, n, sizeof(*p));
		if (!p)
			err(EX_OSERR, "out of memory");
		t->rows = p;
		t->alloc = n;
	}
	r = &t->rows[t->n++];
	*r = (struct row){ path, NULL };
	for (size_t k = 0; k < o->ncols; k++) {
		size_t n;
		char *p;
		cell(o, path, info, (enum col)o->cols[k], buf, sizeof(buf));
		n = strlen(buf) + 1;
		if (!(p = realloc(r->cells, len + n)))
			err(EX_OSERR, "out of memory");
		memcpy(p + len, buf, n);
		r->cells = p;
		len += n;
	}
}

static void free_table(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->rows[i].path);
		free(t->rows[i].cells);
	}
	free(t->rows);
}

/* A file that could not be judged at all (err < 0) is "unknown". */
static void judged(struct pidlock_info *info, int err)
{
	if (err < 0) {
		info->state = PIDLOCK_STATE_UNKNOWN;
		snprintf(info->reason, sizeof(info->reason), "%s",
			 pidlock_strerror(err));
	}
}

struct dir_scan {
	struct table *t;
	const char *dir;
};

static int add_scanned(const char *name, const struct pidlock_info *info,
		       void *arg)
{
	struct dir_scan *ds = arg;

	add_row(ds->t, path_join(ds->dir, name), info);
	return 0;
}

/* Lists a directory's lock files (pidlock_inspect_dir: no dot files). */
static int list_dir(struct table *t, const char *dir,
		    const struct pidlock_snapshot *snap)
{
	struct dir_scan ds = { t, dir };
	int r = pidlock_inspect_dir(dir, snap, add_scanned, &ds);

	if (r < 0) {
		warnx("%s: %s", esc(dir), pidlock_strerror(r));
		return -1;
	}
	return 0;
}

static int add_target(struct table *t, const char *arg,
		      const struct pidlock_snapshot *snap)
{
	char path[PATH_MAX];
	struct stat st;
	int e = resolve_lock_arg(arg, path, sizeof(path));

	if (e < 0) {
		char why[PATH_MAX + 200];
		warnx("%s: %s", esc(arg), lock_arg_why(e, why, sizeof(why)));
		return -1;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return list_dir(t, path, snap);
	judged(&t->info, pidlock_inspect(path, snap, &t->info));
	if (t->info.state == PIDLOCK_STATE_NONE)
		t->missing = true; /* still a row: "none" is an answer too */
	add_row(t, xasprintf("%s", path), &t->info);
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->path,
		      ((const struct row *)b)->path);
}

/* --- formatting --------------------------------------------------------- */

/* The verdict is that a process holds the lock (whoever it is). */
static bool state_is_live(const struct pidlock_info *i)
{
	return i->state == PIDLOCK_STATE_LIVE ||
	       i->state == PIDLOCK_STATE_LIVE_INHERITED;
}

/* The first process holding the lock (not waiting for it), or NULL. */
static const struct pidlock_kernel_holder *first_kernel_holder(const struct pidlock_info *i)
{
	for (unsigned k = 0; k < i->nholders; k++)
		if (!i->holders[k].waiting)
			return &i->holders[k];
	return NULL;
}

/* The PIDs that hold (or wait for) the lock: "1,2" in a table, one per
 * line for a JSON array.  OFD locks have no PID: they are left out. */
static void pid_list(const struct pidlock_info *i, bool waiting, bool json,
		     char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < i->nholders && off < size; k++) {
		const struct pidlock_kernel_holder *h = &i->holders[k];
		if (!h->waiting != !waiting || h->pid <= 0)
			continue;
		int n = snprintf(buf + off, size - off, "%s%d",
				 off ? (json ? "\n" : ",") : "", (int)h->pid);
		if (n > 0)
			off += (size_t)n;
	}
}

/* lslocks' names for the kinds of lock. */
static const char *lock_type(const struct pidlock_kernel_holder *h)
{
	return h->flock ? "FLOCK" : h->pid > 0 ? "POSIX" : "OFDLCK";
}

/* As util-linux prints sizes (lslocks' SIZE): 92B, 4K, 4.9K, 1.5M. */
static void human_size(long long bytes, char *buf, size_t size)
{
	static const char units[] = "BKMGTPE";
	long long whole = bytes, scale = 1;
	int u = 0, tenths;

	while (whole >= 1024 && units[u + 1]) {
		whole /= 1024;
		scale *= 1024;
		u++;
	}
	if (u == 0) {
		snprintf(buf, size, "%lldB", bytes);
		return;
	}
	tenths = (int)(((bytes - whole * scale) * 10 + scale / 2) / scale);
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	if (tenths)
		snprintf(buf, size, "%lld.%d%c", whole, tenths, units[u]);
	else
		snprintf(buf, size, "%lld%c", whole, units[u]);
}

static void format_time(int64_t when, enum time_format f, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (f == TIME_SHORT) {
		format_since(when, buf, size);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, size, f == TIME_ISO ? "%Y-%m-%dT%H:%M:%S%z" : "%Y-%m-%d %H:%M:%S",
		 &tm);
	if (f == TIME_ISO && strlen(buf) > 5) { /* +0100 -> +01:00, as ISO 8601 */
		size_t len = strlen(buf);
		if (len + 2 <= size) {
			memmove(buf + len - 1, buf + len - 2, 3);
			buf[len - 2] = ':';
		}
	}
}

/* The text of one cell; "" when there is nothing to say (null in JSON). */
static void cell(const struct opts *o, const char *path,
		 const struct pidlock_info *i, enum col c, char *buf, size_t size)
{
	const struct pidlock_record *rec = i->has_record ? &i->record : NULL;
	const struct pidlock_kernel_holder *h = first_kernel_holder(i);
	bool json = o->out.format == OUT_JSON;

	buf[0] = '\0';
	switch (c) {
	case C_PATH: strlcpy(buf, path, size); break;
	case C_STATE: strlcpy(buf, pidlock_state_name(i->state), size); break;
	case C_FILEPID: if (i->pid) snprintf(buf, size, "%d", (int)i->pid); break;
	case C_FILECOMMAND: if (rec) strlcpy(buf, rec->comm, size); break;
	case C_SINCE:
		if (rec && json && o->time_format != TIME_ISO)
			snprintf(buf, size, "%lld", (long long)rec->time);
		else if (rec)
			format_time(rec->time, o->time_format, buf, size);
		break;
	case C_AGE:
		if (rec && json)
			snprintf(buf, size, "%lld", (long long)(time(NULL) - rec->time));
		else if (rec)
			format_age((int64_t)time(NULL) - rec->time, buf, size);
		break;
	case C_HOST: if (rec) strlcpy(buf, rec->host, size); break;
	case C_HOLDERS: pid_list(i, false, json, buf, size); break;
	case C_WAITERS: pid_list(i, true, json, buf, size); break;
	case C_MESSAGE:
		/* In a table, where there is no message, say why the state. */
		if (rec && rec->message[0])
			strlcpy(buf, rec->message, size);
		else if (!json && !state_is_live(i) &&
			 i->state != PIDLOCK_STATE_FREE && i->reason[0])
			snprintf(buf, size, "(%s)", i->reason);
		break;
	case C_PID: if (h && h->pid > 0) snprintf(buf, size, "%d", (int)h->pid); break;
	case C_COMMAND:
		if (h && h->pid > 0) {
			if (rec && rec->pid == h->pid && i->state == PIDLOCK_STATE_LIVE)
				strlcpy(buf, rec->comm, size);
			else
				proc_comm(h->pid, buf, size);
		}
		break;
	case C_MODE: if (h) strlcpy(buf, h->exclusive ? "WRITE" : "READ", size); break;
	case C_TYPE: if (h) strlcpy(buf, lock_type(h), size); break;
	case C_FORMAT:
		if (i->state != PIDLOCK_STATE_NONE)
			strlcpy(buf, pidlock_type_name(i->type), size);
		break;
	case C_UID: if (rec) snprintf(buf, size, "%u", (unsigned)rec->uid); break;
	case C_BOOT: if (rec) strlcpy(buf, rec->boot_id, size); break;
	case C_REASON: strlcpy(buf, i->reason, size); break;
	case C_HOLDER: if (rec) snprintf(buf, size, "%d", (int)rec->holder); break;
	case C_OWNER: if (i->state != PIDLOCK_STATE_NONE) snprintf(buf, size, "%u", (unsigned)i->file_uid); break;
	case C_SIZE:
		if (i->state == PIDLOCK_STATE_NONE)
			break;
		if (o->bytes)
			snprintf(buf, size, "%lld", (long long)i->size);
		else
			human_size((long long)i->size, buf, size);
		break;
	case C_INODE: if (i->ino) snprintf(buf, size, "%llu", (unsigned long long)i->ino); break;
	case C_COUNT: break;
	}
	if (!strcmp(buf, "-") && c == C_FORMAT)
		buf[0] = '\0';
}

static void print_rows(const struct opts *o, const struct table *t)
{
	struct libscols_table *tb = out_table_new("locks", &o->out);

	for (size_t k = 0; k < o->ncols; k++)
		out_add_column(tb, &columns[o->cols[k]], &o->out);
	for (size_t n = 0; n < t->n; n++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		const char *text = t->rows[n].cells;
		if (!ln)
			err(EX_OSERR, "out of memory");
		for (size_t k = 0; k < o->ncols; k++, text += strlen(text) + 1)
			out_set(tb, ln, k, text);
	}
	out_print(tb, &o->out, NULL);
	scols_unref_table(tb);
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

static int inspect_arg(const char *arg, struct pidlock_info *info)
{
	char path[PATH_MAX];
	int r;

	r = resolve_lock_arg(arg, path, sizeof(path));
	if (r == -EINVAL)
		errx(EX_USAGE, "%s: invalid lock name", esc(arg));
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

	inspect_arg(o->status, &info);
	return lsb_status(&info);
}

static int pid_mode(const struct opts *o)
{
	struct pidlock_info info;
	pid_t pid;

	inspect_arg(o->pid, &info);
	/* The library's verdict, not the file's word: a process the kernel
	 * lock shows holding the file, or the live writer of an unlocked
	 * plain pidfile that nothing contradicts; never PID 1 from a file
	 * (kill "$(lockstat --pid F)" must not hit init). */
	pid = info.live_pid;
	if (!pid) {
		if (!o->quiet)
			warnx("%s: no live holder (%s%s%s)", esc(o->pid),
			      pidlock_state_name(info.state),
			      info.reason[0] ? ": " : "", esc(info.reason));
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
		uint64_t dev, ino;
		int found;
		if (pidlock_snapshot_get(snap, i, &dev, &ino, &h) < 0 || h.waiting)
			continue;
		/* A lock on a file with no name guards nothing anyone can ask
		 * for: a waiter's ready inode, a deleted file. */
		found = find_locked_path(h.pid, dev, ino, path, sizeof(path));
		if (found == -ENOENT)
			continue;
		if (found == 0 &&
		    pidlock_inspect(path, snap, &t->info) == 0 && t->info.ino == ino) {
			add_row(t, xasprintf("%s", path), &t->info);
			continue;
		}
		memset(&t->info, 0, sizeof(t->info));
		t->info.state = PIDLOCK_STATE_LIVE;
		t->info.ino = ino;
		t->info.nholders = 1;
		t->info.holders[0] = h;
		strlcpy(t->info.reason, "path unknown", sizeof(t->info.reason));
		add_row(t, xasprintf("(%u:%u:%llu)", major(dev), minor(dev),
				     (unsigned long long)ino), &t->info);
	}
	forget_locked_paths(); /* -w redraws: descriptors change */
}

static int collect(const struct opts *o, int argc, char **argv, struct table *t)
{
	struct pidlock_snapshot *snap = NULL;
	char dir[PATH_MAX];
	int bad = 0, r;

	r = pidlock_snapshot_new(&snap);
	if (r < 0 && o->all) {
		/* Every lock is what -a asks for: none known is a failure. */
		warnx("/proc/locks: %s (cannot list the locks)", pidlock_strerror(r));
		bad = 1;
	} else if (r < 0) {
		warnx("/proc/locks: %s (holders unknown)", pidlock_strerror(r));
	}
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
		qsort(t->rows, t->n, sizeof(*t->rows), cmp_row);
	return bad;
}

/* Exit status: 1 when something could not be inspected, else 2 when a
 * FILE or NAME given does not exist (see EXIT STATUS in lockstat(1)). */
static int show(const struct opts *o, int argc, char **argv)
{
	struct table t = { .o = o };
	int bad = collect(o, argc, argv, &t);

	if (!o->quiet)
		print_rows(o, &t);
	free_table(&t);
	return bad ? 1 : t.missing ? 2 : 0;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * On a terminal each round redraws the screen; elsewhere (a file, a pipe)
 * no control sequence is written: rounds follow each other, a blank line
 * between tables, and with -J one JSON document per line (JSON Lines).
 */
static int watch(const struct opts *o, int argc, char **argv)
{
	struct timespec ts = { o->watch_ms / 1000, (o->watch_ms % 1000) * 1000000 };
	bool tty = isatty(STDOUT_FILENO);

	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	for (bool first = true; !interrupted; first = false) {
		if (tty)
			printf("\033[H\033[2J");
		else if (!first && o->out.format != OUT_JSON && !o->quiet)
			putchar('\n');
		show(o, argc, argv);
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* --etcd: every column, and the modes that make sense there. */
static int etcd_mode(const struct opts *o, int argc, char **argv)
{
	const struct etcd_stat s = { o->etcd, &o->out, o->quiet, o->status,
				     argv + optind, argc - optind, argv };

	if (o->columns_set || o->all || o->pid || o->watch_ms || o->bytes)
		errx(EX_USAGE, "--etcd takes none of -o, --output-all, -a, --pid, "
		     "-w, -b");
	return etcd_lockstat(&s);
}

int main(int argc, char **argv)
{
	struct opts o;

	setprogname(argv[0]);
	use_ctype_locale();
	parse_args(&o, argc, argv);
	if (o.etcd)
		return etcd_mode(&o, argc, argv);
	if (o.status)
		return status_mode(&o);
	if (o.pid)
		return pid_mode(&o);
	if (o.watch_ms)
		return watch(&o, argc, argv);
	return show(&o, argc, argv);
}
