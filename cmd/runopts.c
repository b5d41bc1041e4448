/* SPDX-License-Identifier: MIT */
/*
 * lockrun's command line: flock(1)'s options and lockrun's own, the
 * operands (FILE|DIR COMMAND, -N NAME, FD, -c STRING, --auto) and the
 * combinations refused, into struct opts.
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoname.h"
#include "common.h"
#include "etcdlock.h"
#include "runopts.h"

static void usage(void)
{
	printf("Usage:\n"
	       " %1$s [options] FILE|DIR COMMAND [ARG...]\n"
	       " %1$s [options] FILE|DIR -c COMMAND-STRING\n"
	       " %1$s [options] -N NAME COMMAND [ARG...]\n"
	       " %1$s [options] --etcd URL[,URL...] -N NAME COMMAND [ARG...]\n"
	       " %1$s [options] FD\n"
	       " %1$s [options] --fd FD COMMAND [ARG...] | -c COMMAND-STRING\n"
	       " %1$s --stop [--retry SCHEDULE] [--oknodo] FILE | -N NAME | --auto COMMAND...\n"
	       "\nRun a command while holding a lock; refuse or wait when another\n"
	       "instance holds it, and say who that is.\n"
	       "\nflock(1) options:\n"
	       " -s, --shared               get a shared lock\n"
	       " -x, -e, --exclusive        get an exclusive lock (default)\n"
	       " -u, --unlock               remove a lock (FD form)\n"
	       " -n, --nb, --nonblocking    fail rather than wait\n"
	       " -w, --wait, --timeout DUR  wait at most DUR (0: do not wait)\n"
	       " -E, --conflict-exit-code N exit code after conflict or timeout (1)\n"
	       " -o, --close                do not pass the lock to the command\n"
	       " -c, --command STRING       run STRING with $SHELL -c\n"
	       " -F, --no-fork              execute the command in place\n"
	       "     --fcntl                use fcntl OFD locks instead of flock(2)\n"
	       "     --start OFFSET         lock from OFFSET (implies --fcntl)\n"
	       "     --length N             lock N bytes (implies --fcntl)\n"
	       "     --fd FD                lock the inherited descriptor FD\n"
	       "     --verbose              say how long the lock took, and more\n"
	       "\nlockrun options:\n"
	       " -N, --name NAME            use the named lock NAME in the lock directory\n"
	       " -m, --message TEXT         store TEXT in the lock record\n"
	       " -q, --quiet                do not say who holds a busy lock\n"
	       " -k, --keep                 keep the lock file (the default)\n"
	       "     --remove               remove the lock file on release (not safe\n"
	       "                            with flock(1) users of the same path)\n"
	       " -T, --max-time DUR         stop the whole job after DUR (exit 124)\n"
	       " -K, --kill-after DUR       then SIGKILL what is left DUR later\n"
	       " -S, --signal SIG           signal for --max-time (default TERM)\n"
	       " -U, --user USER[:GROUP]    run the command as USER (root only)\n"
	       "     --foreground           leave the command in lockrun's process group\n"
	       "\nAcross hosts (etcd):\n"
	       "     --etcd URL[,URL...]    hold NAME on etcd (also LOCKRUN_ETCD_ENDPOINTS)\n"
	       "     --ttl DUR              etcd lease time to live (default 10s)\n"
	       , getprogname());
	start_stop_usage();
	printf(" -h, --help                 display this help\n"
	       " -V, --version              display version\n"
	       "\nDurations: 250ms, 1.5 (seconds), 2m, 1h.  See lockrun(1).\n");
}

enum { OPT_VERBOSE = 256, OPT_FCNTL, OPT_START, OPT_LENGTH, OPT_FD,
       OPT_FOREGROUND, OPT_REMOVE, OPT_ETCD, OPT_TTL };

static const struct option long_options[] = {
	{ "shared", no_argument, NULL, 's' },
	{ "exclusive", no_argument, NULL, 'x' },
	{ "unlock", no_argument, NULL, 'u' },
	{ "nonblocking", no_argument, NULL, 'n' },
	{ "nb", no_argument, NULL, 'n' },
	{ "timeout", required_argument, NULL, 'w' },
	{ "wait", required_argument, NULL, 'w' },
	{ "conflict-exit-code", required_argument, NULL, 'E' },
	{ "close", no_argument, NULL, 'o' },
	{ "command", required_argument, NULL, 'c' },
	{ "no-fork", no_argument, NULL, 'F' },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "fcntl", no_argument, NULL, OPT_FCNTL },
	{ "start", required_argument, NULL, OPT_START },
	{ "length", required_argument, NULL, OPT_LENGTH },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "name", required_argument, NULL, 'N' },
	{ "message", required_argument, NULL, 'm' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "keep", no_argument, NULL, 'k' },
	{ "remove", no_argument, NULL, OPT_REMOVE },
	{ "max-time", required_argument, NULL, 'T' },
	{ "kill-after", required_argument, NULL, 'K' },
	{ "signal", required_argument, NULL, 'S' },
	{ "user", required_argument, NULL, 'U' },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	START_STOP_LONG_OPTIONS,
	{ "etcd", required_argument, NULL, OPT_ETCD },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/*
 * flock(1)'s messages for -E: a number in [0, 255].  (lockrun took its
 * wording too: one message for one mistake.)
 */
static int exit_code_or_die(const char *s)
{
	const char *why;
	long long v;

	if (parse_number(s, INT32_MIN, INT32_MAX, &v, &why) < 0) {
		if (strcmp(why, "invalid") == 0)
			errx(EX_USAGE, "invalid exit code: '%s'", esc(s));
		errx(EX_USAGE, "invalid exit code: '%s': %s", esc(s), strerror(ERANGE));
	}
	if (v < 0 || v > 255)
		errx(EX_USAGE, "exit code out of range (expected 0 to 255)");
	return (int)v;
}

static void set_shell_command(struct opts *o, char *command)
{
	const char *shell = getenv("SHELL");

	o->sh_argv[0] = shell && *shell ? (char *)shell : (char *)"/bin/sh";
	o->sh_argv[1] = (char *)"-c";
	o->sh_argv[2] = command;
	o->sh_argv[3] = NULL;
	o->argv = o->sh_argv;
}

static void parse_option(struct opts *o, int c)
{
	switch (c) {
	case 's': o->flags |= PIDLOCK_SHARED; break;
	case 'x': case 'e': o->flags &= ~PIDLOCK_SHARED; break;
	case 'u': o->unlock = true; break;
	case 'n': o->nonblock = true; break;
	case 'w': o->timeout_ms = duration_or_die(optarg, "timeout value"); break;
	case 'E': o->conflict_code = exit_code_or_die(optarg); break;
	case 'o': o->close_fd = true; break;
	case 'c': set_shell_command(o, optarg); break;
	case 'F': o->no_fork = true; break;
	case OPT_VERBOSE: o->verbose = true; break;
	case OPT_FCNTL: o->flags |= PIDLOCK_OFD; break;
	case OPT_START:
		o->start = number_or_die(optarg, 0, LLONG_MAX, "start offset");
		o->range = true;
		break;
	case OPT_LENGTH:
		o->length = number_or_die(optarg, 0, LLONG_MAX, "length");
		o->range = true;
		break;
	case OPT_FD: o->fd = (int)number_or_die(optarg, 0, INT_MAX, "file descriptor"); break;
	case 'N': o->name = optarg; break;
	case 'm': o->message = optarg; break;
	case 'q': o->quiet = true; break;
	case 'k': o->keep = true; break;
	case OPT_REMOVE: o->remove = true; break;
	case 'T': o->max_time_ms = duration_or_die(optarg, "max time"); break;
	case 'K': o->kill_after_ms = duration_or_die(optarg, "kill-after time"); break;
	case 'S': o->max_time_signal = signal_or_die(optarg); break;
	case 'U': o->user = optarg; break;
	case OPT_FOREGROUND: o->foreground = true; break;
	case OPT_ETCD: o->etcd = optarg; break;
	case OPT_TTL: o->ttl_ms = duration_or_die(optarg, "time to live"); break;
	case 'h': usage(); exit(EX_OK);
	case 'V': print_version(); exit(EX_OK);
	default:
		if (!start_stop_option(&o->ss, c, optarg))
			try_help();
	}
}

/* What follows the options: the lock, then the command. */
static void parse_operands(struct opts *o, int argc, char **argv)
{
	int i = optind;

	if (o->ss.stop && !o->name && !o->ss.auto_name) { /* --stop FILE */
		if (i >= argc)
			errx(EX_USAGE, "--stop requires a file, directory or -N NAME");
		o->path = argv[i++];
	}
	if (o->ss.stop && !o->ss.auto_name) {
		if (i < argc)
			errx(EX_USAGE, "--stop runs no command (with --auto, the command names the lock)");
		return;
	}
	if (o->ss.auto_name && (o->name || o->fd >= 0))
		errx(EX_USAGE, "--auto names the lock: not with -N or --fd");
	if (o->fd < 0 && !o->name && !o->ss.auto_name) {
		if (i >= argc)
			errx(EX_USAGE, "requires file descriptor, file or directory");
		if (i + 1 == argc && !o->argv) {
			const char *why;
			long long fd;
			if (parse_number(argv[i], 0, INT_MAX, &fd, &why) < 0)
				errx(EX_USAGE, "bad file descriptor: '%s'", argv[i]);
			o->fd = (int)fd;
			return;
		}
		o->path = argv[i++];
	}
	if (i < argc && (strcmp(argv[i], "-c") == 0 ||
			 strcmp(argv[i], "--command") == 0)) {
		if (argc != i + 2)
			errx(EX_USAGE, "%s requires exactly one command argument",
			     argv[i]);
		set_shell_command(o, argv[i + 1]);
	} else if (i < argc) {
		if (o->argv)
			errx(EX_USAGE, "both -c and a command given");
		o->argv = &argv[i];
	}
	if (!o->argv && (o->path || o->name || o->ss.auto_name))
		errx(EX_USAGE, "no command to run");
	if (o->ss.auto_name) {
		/* As the user wrote it: "-c STRING", whatever $SHELL is. */
		auto_lock_name(o->argv == o->sh_argv ? &o->sh_argv[1] : o->argv,
			       o->ss.name, sizeof(o->ss.name));
		o->name = o->ss.name;
	}
}

/* The options of starting and stopping, and what they exclude. */
static void check_start_stop(struct opts *o)
{
	const struct start_stop_ctx c = {
		.plain = !(o->flags & (PIDLOCK_SHARED | PIDLOCK_NO_RECORD)) && o->fd < 0,
		.command = o->argv != NULL, .no_fork = o->no_fork,
		.runs = o->max_time_ms || o->user, .verbose = o->verbose,
		.signal = o->max_time_signal,
	};

	start_stop_check(&o->ss, &c);
}

/* --etcd: the options that concern a lock file do not apply. */
static void check_etcd_options(struct opts *o)
{
	if (!o->etcd)
		errx(EX_USAGE, "--ttl needs --etcd");
	if (!o->name)
		errx(EX_USAGE, "--etcd needs -N NAME");
	if ((o->flags & (PIDLOCK_SHARED | PIDLOCK_OFD)) || o->unlock ||
	    o->close_fd || o->no_fork || o->range || o->fd >= 0 || o->user ||
	    o->remove || o->flock_name)
		errx(EX_USAGE, "--etcd takes none of -s, -u, -o, -F, --fcntl, "
		     "--start, --length, --fd, --user, --remove");
	if (o->ss.stop || o->ss.replace || o->ss.respawn || o->ss.background)
		errx(EX_USAGE, "--etcd takes none of --stop, --replace, "
		     "--respawn, --background");
	if (!o->ttl_ms)
		o->ttl_ms = ETCD_TTL_DEFAULT_MS;
}

static void check_options(struct opts *o)
{
	/* As flock(1): -n fails at once, even with -w. */
	if (o->nonblock)
		o->timeout_ms = PIDLOCK_NO_WAIT;
	if (o->no_fork && o->close_fd)
		errx(EX_USAGE, "the --no-fork and --close options are incompatible");
	if (o->flock_name || o->range)
		o->flags |= PIDLOCK_NO_RECORD;
	if (o->range)
		o->flags |= PIDLOCK_OFD;
	if (o->flags & PIDLOCK_OFD)
		o->flags |= PIDLOCK_NO_RECORD;
	if (o->keep)
		o->flags |= PIDLOCK_KEEP;
	if (o->keep && o->remove)
		errx(EX_USAGE, "the --keep and --remove options are incompatible");
	if (o->remove && !(o->flags & (PIDLOCK_SHARED | PIDLOCK_NO_RECORD)))
		o->flags |= PIDLOCK_UNLINK;
	if (o->flags & PIDLOCK_SHARED)
		o->flags &= ~PIDLOCK_KEEP;
	if (o->user && geteuid() != 0)
		errx(EX_NOPERM, "--user needs root (it drops privileges)");
	if (o->etcd || o->ttl_ms)
		check_etcd_options(o);
	if (o->kill_after_ms && !o->max_time_ms && !o->etcd)
		errx(EX_USAGE, "--kill-after needs --max-time");
	if ((o->max_time_ms || o->user) && !o->argv)
		errx(EX_USAGE, "--max-time and --user need a command");
	if (o->max_time_ms && o->no_fork)
		errx(EX_USAGE, "--max-time needs a supervising lockrun: not with --no-fork");
	check_start_stop(o);
}

void parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = PIDLOCK_WAIT_FOREVER;
	o->conflict_code = 1;
	o->fd = -1;
	o->max_time_signal = SIGTERM;
	start_stop_init(&o->ss);
	o->flock_name = strcmp(getprogname(), "flock") == 0;
	if (argc < 2) {
		warnx("not enough arguments");
		try_help();
	}
	while ((c = getopt_long(argc, argv, "+sxeunw:E:oc:FN:m:qkT:K:S:U:bhV",
				long_options, NULL)) != -1)
		parse_option(o, c);
	parse_operands(o, argc, argv);
	check_options(o);
}
