/* SPDX-License-Identifier: MIT */
/*
 * lockrun - run a command as the single instance.
 *
 * A drop-in superset of util-linux flock(1): same options, same exit
 * codes, and invoked as "flock" the same messages.  Under its own name it
 * makes the lock file a pidfile of the command, says who holds a busy
 * lock, recovers stale ones, supervises the command (signals, max run
 * time) and can drop privileges.
 *
 * The command shares lockrun's open file description of the lock file, so
 * it holds the very lock the path carries even if lockrun is SIGKILLed.
 */
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "etcdlock.h"
#include "format.h"
#include "job.h"
#include "startstop.h"

#include "runopts.h"

/* --- taking the lock ---------------------------------------------------- */

/* flock(1)'s exit codes for a failure to open or lock the file. */
static int exit_code_for(int err)
{
	switch (-err) {
	case EROFS: case ENOSPC: case EDQUOT:
		return EX_CANTCREAT;
	case ENOMEM: case EMFILE: case ENFILE: case ENOLCK:
		return EX_OSERR;
	case EIO: case EBADF: case EINVAL: case EDEADLK:
		return EX_DATAERR;
	default:
		return EX_NOINPUT;
	}
}

static void say_holder(const struct opts *o, struct pidlock *lock,
		       const char *what)
{
	char text[8192]; /* a message escaped can be 4 times its size */

	if (o->quiet || o->flock_name)
		return;
	format_holder(pidlock_holder(lock), text, sizeof(text));
	fprintf(stderr, "%s: %s: %s%s\n", getprogname(), esc(pidlock_path(lock)),
		what, text);
}

static void conflict_exit(const struct opts *o, struct pidlock *lock, int r)
{
	if (o->verbose && o->flock_name)
		warnx(r == -ETIMEDOUT ? "timeout while waiting to get lock"
				      : "failed to get lock");
	if (r == -ETIMEDOUT) {
		char waited[32];
		snprintf(waited, sizeof(waited), "timed out after %.3gs; ",
			 o->timeout_ms / 1000.0);
		say_holder(o, lock, waited);
	} else {
		say_holder(o, lock, "");
	}
	exit(o->conflict_code);
}

static void fail_exit(const struct opts *o, struct pidlock *lock, int r)
{
	if (o->flock_name)
		warnx("cannot open lock file %s: %s", esc(pidlock_path(lock)),
		      pidlock_strerror(r));
	else
		warnx("%s: %s", esc(pidlock_path(lock)), pidlock_strerror(r));
	exit(exit_code_for(r));
}

/*
 * flock(1)'s words for a lock file it cannot open.  It opens "nodir/"
 * with O_CREAT (EISDIR), then without (ENOENT), and names the second.
 */
static void __attribute__((noreturn)) cannot_open_exit(const char *path, int r)
{
	struct stat st;

	if (r == -EISDIR && lstat(path, &st) < 0)
		r = -errno;
	errx(exit_code_for(r), "cannot open lock file %s: %s", esc(path),
	     -r >= PIDLOCK_EBASE ? pidlock_strerror(r) : strerror(-r));
}

/* A directory (flock(1) locks those too) is locked through a descriptor. */
static int open_directory(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		err(EX_NOINPUT, "cannot open lock directory %s", esc(path));
	return fd;
}

/* The command as the record names it: its base name, or "sh -c". */
static const char *command_name(const struct opts *o)
{
	const char *base = strrchr(o->argv[0], '/');

	if (o->argv == o->sh_argv)
		return "sh -c";
	return base ? base + 1 : o->argv[0];
}

static struct pidlock *new_lock(const struct opts *o)
{
	struct pidlock *lock = NULL;
	int fd, r;

	if (o->fd >= 0)
		r = pidlock_new_fd(&lock, o->fd);
	else if (o->name)
		r = pidlock_new_name(&lock, o->name);
	else if ((fd = open_directory(o->path)) >= 0)
		r = pidlock_new_fd(&lock, fd);
	else
		r = pidlock_new(&lock, o->path);
	if (r == -EBADF) /* as flock(1): a failure to lock fd N */
		errx(EX_DATAERR, "%d: %s", o->fd, strerror(EBADF));
	if (r < 0 && o->flock_name && o->path)
		cannot_open_exit(o->path, r);
	if (r < 0 && o->name) {
		char why[PATH_MAX + 200];
		errx(r == -EINVAL ? EX_USAGE : EX_NOINPUT, "%s: %s", esc(o->name),
		     lock_arg_why(r, why, sizeof(why)));
	}
	if (r < 0)
		errx(EX_NOINPUT, "%s: %s", esc(o->path), pidlock_strerror(r));
	if (o->message && (r = pidlock_set_message(lock, o->message)) < 0)
		errx(EX_USAGE, "invalid message: %s", pidlock_strerror(r));
	if (o->range && (r = pidlock_set_range(lock, o->start, o->length)) < 0)
		errx(EX_USAGE, "invalid lock range");
	if (o->argv && pidlock_set_command(lock, command_name(o)) < 0) {
		/* Refused (control characters, too long): the record then
		 * names the process by its own command name. */
	}
	return lock;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * The library waits at most INT_MAX milliseconds (24.8 days) at a time:
 * a longer -w is waited for in parts, up to its exact end.
 */
static int acquire_within(const struct opts *o, struct pidlock *lock,
			  const struct timespec *t0)
{
	int64_t left;
	int r;

	if (o->timeout_ms <= INT_MAX) /* also PIDLOCK_WAIT_FOREVER */
		return pidlock_acquire(lock, o->flags, (int)o->timeout_ms);
	do {
		left = o->timeout_ms - (int64_t)(seconds_since(t0) * 1000);
		if (left <= 0)
			return -ETIMEDOUT;
		r = pidlock_acquire(lock, o->flags,
				    left > INT_MAX ? INT_MAX : (int)left);
	} while (r == -ETIMEDOUT);
	return r;
}

static void lock_taken(const struct opts *o, struct pidlock *lock);

static void take_lock(const struct opts *o, struct pidlock *lock)
{
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pidlock_acquire(lock, o->flags, PIDLOCK_NO_WAIT);
	if (r == -EWOULDBLOCK && o->timeout_ms != PIDLOCK_NO_WAIT &&
	    pidlock_holder(lock)->state != PIDLOCK_STATE_REMOTE) {
		/* Said to a person at a terminal; under cron, a wait that
		 * ends well is no news (each line would be a mail). */
		if (o->verbose || isatty(STDERR_FILENO))
			say_holder(o, lock, "waiting; ");
		r = acquire_within(o, lock, &t0);
	}
	if (r == -EWOULDBLOCK || r == -ETIMEDOUT)
		conflict_exit(o, lock, r);
	if (r < 0)
		fail_exit(o, lock, r);
	if (o->verbose)
		printf("%s: getting lock took %.6f seconds\n", getprogname(),
		       seconds_since(&t0));
	lock_taken(o, lock);
}

/* --replace: the holder's job is stopped (stop.h), and the lock, waited
 * for in the kernel meanwhile, taken; else a conflict, as for -n. */
static void replace_holder(const struct opts *o, struct pidlock *lock)
{
	const struct stop_opts so = { o->flags, o->quiet, o->verbose, &o->ss.schedule };
	int r = pidlock_acquire(lock, o->flags, PIDLOCK_NO_WAIT);

	if (r == -EWOULDBLOCK && stop_holder(lock, &so, pidlock_holder(lock)) != STOP_DONE)
		exit(o->conflict_code);
	if (r < 0 && r != -EWOULDBLOCK)
		fail_exit(o, lock, r);
	lock_taken(o, lock);
}

/* What follows every acquisition: what a recovery and the place mean. */
static void lock_taken(const struct opts *o, struct pidlock *lock)
{
	if (pidlock_recovered(lock) && o->verbose)
		warnx("%s: recovered a stale lock: %s", esc(pidlock_path(lock)),
		      esc(pidlock_holder(lock)->reason));
	/* Says so for this lock, whatever the caller's environment said. */
	if (pidlock_recovered(lock))
		setenv("LOCKRUN_RECOVERED", "1", 1);
	else
		unsetenv("LOCKRUN_RECOVERED");
	if (pidlock_netfs(lock) && !o->quiet && !o->flock_name)
		warnx("%s: on a network filesystem: locks may not be seen by "
		      "other hosts", esc(pidlock_path(lock)));
}

/* --- running the command ------------------------------------------------ */

struct target_user {
	uid_t uid;
	gid_t gid;
	char name[256];
};

static void resolve_user(const char *spec, struct target_user *u)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	struct passwd *pw;
	struct group *gr;

	snprintf(user, sizeof(user), "%.*s",
		 (int)(colon ? (size_t)(colon - spec) : strlen(spec)), spec);
	if (!(pw = getpwnam(user)))
		errx(EX_NOUSER, "unknown user: %s", esc(user));
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	strlcpy(u->name, pw->pw_name, sizeof(u->name));
	if (colon) {
		if (!(gr = getgrnam(colon + 1)))
			errx(EX_NOUSER, "unknown group: %s", esc(colon + 1));
		u->gid = gr->gr_gid;
	}
}

/* In the child: become the user for good, and prove there is no way back. */
static void drop_privileges(const struct target_user *u)
{
	if (initgroups(u->name, u->gid) < 0 || setgid(u->gid) < 0 ||
	    setuid(u->uid) < 0) {
		warn("cannot switch to user %s", u->name);
		_exit(EX_OSERR);
	}
	if (u->uid != 0 && (setuid(0) == 0 || geteuid() == 0 || getuid() == 0)) {
		warnx("could still regain root after switching to %s", u->name);
		_exit(EX_OSERR);
	}
}

/*
 * dropped: a pipe's write end, closed once the privileges are dropped (the
 * parent then records the command's uid, not ours), or -1; recorded: the
 * read end of the pipe the parent closes once the record says so, so that
 * the command never reads a record of the uid it no longer has.  The lock
 * descriptor handed to the command is read-only (pidlock(5)): the command
 * holds the lock but cannot change the record.
 */
static void run_command(const struct opts *o, struct pidlock *lock,
			const struct target_user *u, int dropped, int recorded)
{
	char c;

	int fd = pidlock_fd(lock);

	/* The command holds the lock through our open file description. */
	if (!o->close_fd && fd >= 0 && fd != o->fd)
		fcntl(fd, F_SETFD, 0);
	if (o->close_fd && o->fd >= 0)
		close(o->fd);
	if (o->user)
		drop_privileges(u);
	if (dropped >= 0)
		close(dropped);
	if (recorded >= 0) {
		while (read(recorded, &c, 1) < 0 && errno == EINTR)
			;
		close(recorded);
	}
	detach_in_child();
	if (o->verbose)
		printf("%s: executing %s\n", getprogname(), esc(o->argv[0]));
	fflush(stdout);
	execvp(o->argv[0], o->argv);
	detach_exec_failed(errno);
	warn("failed to execute %s", esc(o->argv[0]));
	if (o->no_fork) /* nobody else will: leave no file behind */
		(void)pidlock_release(lock);
	_exit(errno == ENOMEM ? EX_OSERR : EX_UNAVAILABLE);
}

/*
 * After the command exited: when none of its descendants is left (they
 * were all re-parented to us, a subreaper, and reaped), nobody else can
 * share our open file description, so the lock is ours alone again and
 * release need not search /proc for heirs.
 */
static bool take_back_if_alone(struct pidlock *lock)
{
	siginfo_t info;

	/* When this fails, release falls back to the search. */
	return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 &&
	       errno == ECHILD && pidlock_update(lock, 0) == 0;
}

/*
 * The command started as fork() and run_command() would start it, with
 * posix_spawnp(3) instead: its vfork-like child copies no page of ours, so
 * neither side pays a copy-on-write fault for every page the other
 * touches before the exec (about a millisecond of lockrun -n F true on a
 * VM).  Only for what posix_spawn can do (not --user, which needs the
 * child's own work, nor --verbose, whose line the child prints, nor
 * --background, whose child redirects and changes directory); -1 when
 * it cannot (the exec failed, for one): then fork() and run_command() do
 * it, and report as always.
 */
/* Valgrind runs the vfork-like clone as a fork, so the child's failed
 * exec never reaches posix_spawn's caller (it returns success and the
 * child exits 127, unreported): under valgrind the command is forked.
 * Valgrind announces itself through the preload it puts in LD_PRELOAD. */
static bool spawn_reports_exec_failure(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return !preload || !strstr(preload, "vgpreload");
}

static pid_t spawn_command(const struct opts *o, struct pidlock *lock,
			   const sigset_t *mask, bool own_group)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int fd = pidlock_fd(lock), r;
	pid_t child = -1;

	if (o->user || o->verbose || detach_active() ||
	    !spawn_reports_exec_failure() ||
	    posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	/* The command holds the lock through our open file description:
	 * dup2 onto itself clears close-on-exec (glibc 2.29). */
	r = !o->close_fd && fd >= 0 && fd != o->fd
		    ? posix_spawn_file_actions_adddup2(&fa, fd, fd) : 0;
	if (r == 0 && o->close_fd && o->fd >= 0)
		r = posix_spawn_file_actions_addclose(&fa, o->fd);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&attr, mask);
	if (r == 0)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
					     (own_group ? POSIX_SPAWN_SETPGROUP : 0));
	if (r == 0 && posix_spawnp(&child, o->argv[0], &fa, &attr, o->argv,
				   environ) != 0)
		child = -1;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return child;
}


/* One run of the command; the supervised signals are blocked (old is
 * the mask the command gets) and the lock stays held. */
static struct job_end fork_and_supervise(const struct opts *o,
					 struct pidlock *lock,
					 const struct target_user *u,
					 const sigset_t *old)
{
	const struct job_opts jo = { o->max_time_ms, o->kill_after_ms,
				     o->max_time_signal, o->quiet, o->argv[0],
				     NULL, NULL, 0 };
	bool own_group = job_own_group(o->foreground);
	struct job_end end;
	pid_t child;
	int r = 0, dropped[2] = { -1, -1 }, recorded[2] = { -1, -1 };
	bool handed;
	char c;

	handed = !(o->flags & (PIDLOCK_NO_RECORD | PIDLOCK_SHARED)) && o->fd < 0;
	/* Orphans of the command come to us: we can stop them with the rest
	 * of the job, and tell when none is left. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (handed && o->user && (pipe2(dropped, O_CLOEXEC) < 0 ||
				  pipe2(recorded, O_CLOEXEC) < 0))
		recorded[0] = recorded[1] = -1; /* the record may then say uid 0 */
	detach_before_fork();
	fflush(stdout);
	child = spawn_command(o, lock, old, own_group);
	if (child < 0)
		child = fork();
	if (child < 0)
		err(EX_OSERR, "fork failed");
	if (child == 0) {
		sigprocmask(SIG_SETMASK, old, NULL);
		job_child_setup(own_group);
		if (dropped[0] >= 0)
			close(dropped[0]);
		if (recorded[1] >= 0)
			close(recorded[1]);
		run_command(o, lock, u, dropped[1], recorded[0]);
	}
	job_parent_setup(child, own_group);
	if (dropped[1] >= 0) { /* the record names the uid the command runs as */
		close(dropped[1]);
		while (read(dropped[0], &c, 1) < 0 && errno == EINTR)
			;
		close(dropped[0]);
	}
	if (handed && (r = pidlock_update(lock, child)) < 0 && r != -EINVAL)
		warnx("%s: cannot record PID %d: %s", esc(pidlock_path(lock)),
		      (int)child, pidlock_strerror(r));
	if (recorded[1] >= 0) { /* the command may start now */
		close(recorded[0]);
		close(recorded[1]);
	}
	detach_command_started(child, !handed || r == 0, o->argv[0]);
	end = job_supervise(&jo, child, own_group);
	if (handed)
		take_back_if_alone(lock);
	return end;
}

struct run_ctx {
	const struct opts *o;
	struct pidlock *lock;
	const struct target_user *u;
	const sigset_t *old;
};

static struct job_end run_again(void *arg)
{
	const struct run_ctx *c = arg;

	return fork_and_supervise(c->o, c->lock, c->u, c->old);
}

/* Runs the command (again and again with --respawn), then lets go. */
static struct job_end run_and_release(const struct opts *o,
				      struct pidlock *lock,
				      const struct target_user *u)
{
	struct job_end end;
	sigset_t old;
	int r;

	/* Block the forwarded signals first, so none is lost around fork. */
	job_block_signals(&old);
	if (o->ss.respawn) {
		struct run_ctx c = { o, lock, u, &old };
		end = respawn_loop(&o->ss.re, run_again, &c);
	} else {
		end = fork_and_supervise(o, lock, u, &old);
	}
	r = pidlock_release(lock);
	if (r == -EWOULDBLOCK && o->verbose)
		warnx("%s: still held by a process the command started; left in place",
		      esc(pidlock_path(lock)));
	else if (r < 0 && r != -EWOULDBLOCK && !o->flock_name)
		warnx("%s: %s", esc(pidlock_path(lock)), pidlock_strerror(r));
	/* Released: a signal that came after the command ended may act now. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return end;
}

static int unlock_fd(const struct opts *o)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET,
			    .l_start = o->start, .l_len = o->length };
	int r = o->flags & PIDLOCK_OFD ? fcntl(o->fd, F_OFD_SETLK, &fl)
				       : flock(o->fd, LOCK_UN);

	if (r < 0)
		err(EX_DATAERR, "%d", o->fd);
	return EX_OK;
}

/*
 * flock(1) -u FILE opens (so creates) FILE and unlocks it: nothing to
 * unlock in a new descriptor, but the file is there afterwards.  Not
 * through a symlink, a FIFO or a device, as every open of lockrun's.
 */
static void unlock_file(const struct opts *o)
{
	const int flags = O_RDONLY | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd = open(o->path, flags | O_CREAT, 0666);
	struct stat st;

	if (fd < 0 && errno == EISDIR)
		fd = open(o->path, flags | O_DIRECTORY);
	if (fd < 0)
		cannot_open_exit(o->path, -errno);
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		cannot_open_exit(o->path, -EINVAL);
	close(fd);
}

static int run_on_etcd(const struct opts *o, char **argv)
{
	const struct etcd_run r = {
		o->etcd, o->name, o->message, o->timeout_ms, o->ttl_ms,
		o->conflict_code, o->quiet, o->verbose, o->foreground, o->argv,
		command_name(o), o->max_time_ms, o->kill_after_ms,
		o->max_time_signal, argv,
	};

	return etcd_lockrun(&r);
}

/*
 * The lock lives until exit: every early exit (conflict, failure) must
 * leave it exactly as it is, so it is never freed on those paths, only
 * kept reachable here.
 */
static struct pidlock *the_lock;

int main(int argc, char **argv)
{
	struct target_user u = { 0, 0, "" };
	struct job_end end;
	struct opts o;

	setprogname(argv[0]);
	parse_args(&o, argc, argv);
	if (o.unlock && o.fd >= 0 && !o.argv)
		return unlock_fd(&o);
	if (o.unlock) { /* flock(1) -u FILE CMD: nothing to hold; just run it */
		unlock_file(&o);
		execvp(o.argv[0], o.argv);
		err(errno == ENOMEM ? EX_OSERR : EX_UNAVAILABLE,
		    "failed to execute %s", esc(o.argv[0]));
	}
	if (o.etcd)
		return run_on_etcd(&o, argv);
	if (o.user)
		resolve_user(o.user, &u);
	if (o.ss.background)
		detach_or_die(&o.ss.bg);
	the_lock = new_lock(&o);
	if (o.ss.stop) {
		const struct stop_opts so = { o.flags, o.quiet, o.verbose, &o.ss.schedule };
		return stop_main(the_lock, &so, o.ss.oknodo);
	}
	if (o.ss.replace)
		replace_holder(&o, the_lock);
	else
		take_lock(&o, the_lock);
	if (!o.argv)
		return EX_OK; /* FD form: the caller's descriptor keeps the lock */
	if (o.no_fork)
		run_command(&o, the_lock, &u, -1, -1);
	end = run_and_release(&o, the_lock, &u);
	pidlock_free(the_lock);
	if (end.die_by)
		die_by_signal(end.die_by);
	return end.status;
}
