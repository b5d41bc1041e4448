/* SPDX-License-Identifier: MIT */
/*
 * lockclean - remove stale lock files and pidfiles, and nothing else.
 *
 * The mechanics (lock, judge under the lock, re-verify, unlink relative
 * to the directory) are pidlock_clean_at()'s, and a dry run's judgement
 * is the same function's judge-only twin, pidlock_clean_judgeat(); the
 * policy (which removable files the operator asked to remove) is
 * policy.c's; this file parses the options, walks and reports.
 */
#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "output.h"
#include "policy.h"

struct opts {
	bool dry_run, verbose, quiet, json, recursive;
	struct clean_policy policy; /* clean_decide()'s arg */
};

/* What happened to one file; the report is sorted by path at the end. */
struct entry {
	char *path, *reason, *comm, *host;
	const char *action;
	enum pidlock_state state;
	pid_t pid;
};

static struct {
	struct entry *v;
	size_t n, alloc;
	unsigned removed, kept, failed;
} results;

static struct opts opt;

static void usage(void)
{
	printf("Usage:\n"
	       " %s [options] [FILE|DIR|NAME...]\n"
	       "\nRemove lock files and pidfiles whose holders are provably gone.\n"
	       "Without arguments, the lock directory is cleaned.\n"
	       "\nOptions:\n"
	       " -n, --dry-run                 show what would be removed, remove nothing\n"
	       " -v, --verbose                 also report every file kept, and why\n"
	       " -q, --quiet                   report nothing; exit status only\n"
	       " -J, --json                    report as JSON (schema in lockclean(8))\n"
	       " -r, --recursive               descend into directories (same filesystem,\n"
	       "                               no symlinks)\n"
	       "     --older-than DUR          only files older than DUR\n"
	       "     --pidfiles                also remove plain pidfiles of dead processes\n"
	       "     --corrupt-older-than DUR  remove unreadable files older than DUR\n"
	       "     --host-dead HOST          HOST is down: its records may be removed\n"
	       " -h, --help                    display this help\n"
	       " -V, --version                 display version\n"
	       "\nDurations: 250ms, 1.5 (seconds), 2m, 1h, 3d.  See lockclean(8).\n",
	       getprogname());
}

enum { OPT_OLDER = 256, OPT_PIDFILES, OPT_CORRUPT, OPT_HOST_DEAD };

static const struct option long_options[] = {
	{ "dry-run", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, 'J' },
	{ "recursive", no_argument, NULL, 'r' },
	{ "older-than", required_argument, NULL, OPT_OLDER },
	{ "pidfiles", no_argument, NULL, OPT_PIDFILES },
	{ "corrupt-older-than", required_argument, NULL, OPT_CORRUPT },
	{ "host-dead", required_argument, NULL, OPT_HOST_DEAD },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "nvqJrhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'n': opt.dry_run = true; break;
		case 'v': opt.verbose = true; break;
		case 'q': opt.quiet = true; break;
		case 'J': opt.json = true; break;
		case 'r': opt.recursive = true; break;
		case OPT_OLDER:
			opt.policy.older_than_ms = duration_or_die(optarg, "age");
			break;
		case OPT_PIDFILES: opt.policy.pidfiles = true; break;
		case OPT_CORRUPT:
			opt.policy.corrupt_older_than_ms =
				duration_or_die(optarg, "age");
			break;
		case OPT_HOST_DEAD:
			if (opt.policy.ndead == CLEAN_DEAD_HOSTS_MAX)
				errx(EX_USAGE, "too many --host-dead options");
			opt.policy.dead_hosts[opt.policy.ndead++] = optarg;
			break;
		case 'h': usage(); exit(EX_OK);
		case 'V': print_version(); exit(EX_OK);
		default: try_help();
		}
	}
}

/* --- the report --------------------------------------------------------- */

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);

	if (!d)
		err(EX_OSERR, "out of memory");
	return d;
}

static void report(const char *path, const char *action,
		   const struct pidlock_info *info)
{
	const struct pidlock_record *rec = info->has_record ? &info->record : NULL;
	struct entry *e;

	if (results.n == results.alloc) {
		size_t n = results.alloc ? results.alloc * 2 : 64;
		if (!(e = reallocarray(results.v, n, sizeof(*e))))
			err(EX_OSERR, "out of memory");
		results.v = e;
		results.alloc = n;
	}
	e = &results.v[results.n++];
	*e = (struct entry){
		.path = dup_or_die(path), .reason = dup_or_die(info->reason),
		.comm = dup_or_die(rec ? rec->comm : ""),
		.host = dup_or_die(rec ? rec->host : ""),
		.action = action, .state = info->state,
		.pid = rec ? rec->pid : info->pid,
	};
}

enum { R_ACTION, R_PATH, R_STATE, R_FILEPID, R_FILECOMMAND, R_HOST, R_REASON };

/* The names and meanings of lockstat's columns of the same name.  Nothing
 * is truncated: the report is a log, read later in the journal. */
static const struct out_column report_cols[] = {
	[R_ACTION] = { "ACTION", 0, 0, SCOLS_JSON_STRING, "" },
	[R_PATH] = { "PATH", 0, 0, SCOLS_JSON_STRING, "" },
	[R_STATE] = { "STATE", 0, 0, SCOLS_JSON_STRING, "" },
	[R_FILEPID] = { "FILEPID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "" },
	[R_FILECOMMAND] = { "FILECOMMAND", 0, 0, SCOLS_JSON_STRING, "" },
	[R_HOST] = { "HOST", 0, 0, SCOLS_JSON_STRING, "" },
	[R_REASON] = { "REASON", 0, 0, SCOLS_JSON_STRING, "" },
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path,
		      ((const struct entry *)b)->path);
}

static void add_line(struct libscols_table *tb, const struct entry *e,
		     bool json)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);
	char pid[16] = "";
	size_t k = 0;

	if (!ln)
		err(EX_OSERR, "out of memory");
	if (e->pid)
		snprintf(pid, sizeof(pid), "%d", (int)e->pid);
	out_set(tb, ln, k++, e->action);
	out_set(tb, ln, k++, e->path);
	out_set(tb, ln, k++, pidlock_state_name(e->state));
	out_set(tb, ln, k++, pid);
	out_set(tb, ln, k++, e->comm);
	if (json)
		out_set(tb, ln, k++, e->host);
	out_set(tb, ln, k, e->reason);
}

/*
 * The report, sorted by path: as a table, every file removed (or that
 * would be) or failed, and with -v every file kept too and a summary line;
 * as JSON, every file and the summary.
 */
static void print_report(void)
{
	struct out_opts o = { .format = opt.json ? OUT_JSON : OUT_TABLE };
	struct libscols_table *tb;
	size_t shown = 0;
	char summary[160];

	if (opt.quiet && !opt.json)
		return;
	if (results.n) /* qsort(NULL, 0, …) is undefined */
		qsort(results.v, results.n, sizeof(results.v[0]), cmp_entry);
	tb = out_table_new("files", &o);
	for (size_t c = 0; c < sizeof(report_cols) / sizeof(report_cols[0]); c++)
		if (c != R_HOST || opt.json)
			out_add_column(tb, &report_cols[c], &o);
	for (size_t i = 0; i < results.n; i++) {
		if (!opt.json && !opt.verbose &&
		    strcmp(results.v[i].action, "kept") == 0)
			continue;
		add_line(tb, &results.v[i], opt.json);
		shown++;
	}
	if (opt.json) {
		snprintf(summary, sizeof(summary),
			 "\"summary\": {\"%s\": %u, \"kept\": %u, \"failed\": %u}",
			 opt.dry_run ? "would-remove" : "removed", results.removed,
			 results.kept, results.failed);
		out_print(tb, &o, summary);
	} else {
		if (shown)
			out_print(tb, &o, NULL);
		if (opt.verbose)
			printf("%s %u, kept %u, failed %u\n",
			       opt.dry_run ? "would remove" : "removed",
			       results.removed, results.kept, results.failed);
	}
	scols_unref_table(tb);
}

/* --- walking ------------------------------------------------------------ */

/*
 * A dry run judges by inspection (pidlock_clean_judgeat()), which needs
 * the kernel's locks: read /proc/locks once per run, not once per file
 * (quadratic over a directory of live locks, and every read stalls all
 * lockers on the machine).
 */
static struct pidlock_snapshot *snapshot;

static const struct pidlock_snapshot *dry_snapshot(void)
{
	if (!snapshot && pidlock_snapshot_new(&snapshot) < 0)
		snapshot = NULL; /* each inspection then tries (and says why) */
	return snapshot;
}

static void report_failed(const char *path, struct pidlock_info *info)
{
	results.failed++;
	if (info->state == PIDLOCK_STATE_NONE)
		info->state = PIDLOCK_STATE_UNKNOWN;
	report(path, "failed", info);
	if (!opt.json && !opt.quiet)
		warnx("%s: %s", esc(path), esc(info->reason));
}

static void clean_one(int dirfd, const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	struct pidlock_info info;
	int r;

	opt.policy.why = NULL;
	if (opt.dry_run)
		r = pidlock_clean_judgeat(dirfd, name, dry_snapshot(),
					  clean_decide, &opt.policy, &info);
	else
		r = pidlock_clean_at(dirfd, name, clean_decide, &opt.policy,
				     &info);
	if (r == 0)
		clean_explain(&opt.policy, &info);
	/* What a dry run cannot judge (no /proc/locks) has failed. */
	if (r == 0 && info.state == PIDLOCK_STATE_UNKNOWN) {
		report_failed(path, &info);
		free(path);
		return;
	}
	if (r == 1) {
		results.removed++;
		report(path, opt.dry_run ? "would-remove" : "removed", &info);
	} else if (r == 0) {
		results.kept++;
		report(path, "kept", &info);
	} else if (r == -PIDLOCK_ENOTOURS) {
		/* An acquirer replaced it while we looked: it is not stale. */
		results.kept++;
		strlcpy(info.reason, "replaced while being judged", sizeof(info.reason));
		report(path, "kept", &info);
	} else if (r != -ENOENT) {
		snprintf(info.reason, sizeof(info.reason), "%s", pidlock_strerror(r));
		report_failed(path, &info);
	}
	free(path);
}

/* A target that could not even be looked at: reported like a file that
 * failed, so -J has it too (the report is all a script reads). */
static void target_failed_why(const char *path, const char *why)
{
	struct pidlock_info info;

	memset(&info, 0, sizeof(info));
	info.state = PIDLOCK_STATE_UNKNOWN;
	strlcpy(info.reason, why, sizeof(info.reason));
	report_failed(path, &info);
}

static void target_failed(const char *path, int e)
{
	target_failed_why(path, strerror(e));
}

static void clean_dir(int dirfd, const char *dir, dev_t dev);

static void descend(int dirfd, const char *dir, const char *name, dev_t dev)
{
	struct stat st;
	char *path;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					   O_CLOEXEC);

	if (fd < 0)
		return;
	path = path_join(dir, name);
	if (fstat(fd, &st) == 0 && st.st_dev == dev)
		clean_dir(fd, path, dev); /* takes fd */
	else
		close(fd);
	free(path);
}

/* Cleans the directory open at dirfd (and closes it). */
static void clean_dir(int dirfd, const char *dir, dev_t dev)
{
	struct dirent *d;
	DIR *dp = fdopendir(dirfd);

	if (!dp) {
		target_failed(dir, errno);
		close(dirfd);
		return;
	}
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (d->d_type == DT_DIR) {
			if (opt.recursive)
				descend(dirfd, dir, d->d_name, dev);
			continue;
		}
		if (d->d_name[0] == '.' && !pidlock_is_temp_name(d->d_name))
			continue;
		clean_one(dirfd, dir, d->d_name);
	}
	closedir(dp);
}

static void clean_target(const char *arg)
{
	char path[PATH_MAX], *slash, *base;
	const char *dir;
	struct stat st;
	int fd;

	int r = resolve_lock_arg(arg, path, sizeof(path));

	if (r == -EINVAL)
		errx(EX_USAGE, "%s: invalid lock name", esc(arg));
	if (r < 0) {
		char why[PATH_MAX + 200];
		target_failed_why(arg, lock_arg_why(r, why, sizeof(why)));
		return;
	}
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			target_failed(path, errno);
			return;
		}
		clean_dir(fd, path, st.st_dev);
		return;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (slash)
		*slash = '\0';
	dir = slash ? (path[0] ? path : "/") : ".";
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		target_failed(dir, errno);
		return;
	}
	clean_one(fd, dir, base);
	close(fd);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX];

	setprogname(argv[0]);
	use_ctype_locale();
	parse_args(argc, argv);
	if (optind == argc) {
		if (pidlock_dir(dir, sizeof(dir)) < 0)
			errx(EX_USAGE, "no lock directory");
		clean_target(dir);
	}
	for (int i = optind; i < argc; i++)
		clean_target(argv[i]);
	pidlock_snapshot_free(snapshot);
	print_report();
	return results.failed ? 1 : 0;
}
