/* SPDX-License-Identifier: MIT */
/* lockrun's job supervision; see job.h and lockrun(1), SIGNALS. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "job.h"

/* After a stop, how long the rest of the job may take to end once the
 * command itself has (without --kill-after). */
#define LEFTOVER_GRACE_MS 5000

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				 SIGUSR1, SIGUSR2, SIGWINCH };

static bool stops_job(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT;
}

static void supervised_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
}

void job_block_signals(sigset_t *old)
{
	sigset_t set;

	supervised_set(&set);
	sigprocmask(SIG_BLOCK, &set, old);
}

bool job_own_group(bool foreground)
{
	int fd;
	bool fg;

	if (foreground)
		return false;
	fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return true; /* no controlling terminal */
	fg = tcgetpgrp(fd) == getpgrp();
	close(fd);
	return !fg;
}

void job_child_setup(bool own_group)
{
	if (own_group)
		(void)setpgid(0, 0);
}

void job_parent_setup(pid_t child, bool own_group)
{
	/* Both sides, so that neither order of fork's return matters;
	 * EACCES once the child has exec'd is fine. */
	if (own_group)
		(void)setpgid(child, child);
}

/* --- the processes of the job -------------------------------------------- */

struct proc_list {
	struct job_proc *v;
	size_t n;
};

bool job_read_proc(pid_t pid, struct job_proc *e)
{
	char path[32], buf[512], *p;
	ssize_t n;
	int fd;
	int ppid, pgrp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name may hold ')' and spaces: skip to the last ')'. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %d %d", &ppid, &pgrp) != 2)
		return false;
	*e = (struct job_proc){ pid, (pid_t)ppid, (pid_t)pgrp };
	return true;
}

static bool pid_in(const pid_t *v, size_t n, pid_t pid);

/* Every process that descends from one of roots (their children, theirs,
 * ...), parents before their children; the roots themselves are not in. */
static void list_descendants_of(const pid_t *roots, size_t nroots,
				struct proc_list *out)
{
	struct proc_list all = { NULL, 0 };
	struct job_proc *v = NULL;
	struct dirent *d;
	DIR *dp;
	bool grown = true;
	char *in;

	out->n = 0;
	if (!(dp = opendir("/proc")))
		return;
	while ((d = readdir(dp)) != NULL) {
		const char *why = NULL;
		pid_t pid = (pid_t)strtonum(d->d_name, 1, INT32_MAX, &why);
		struct job_proc e;
		if (why || !job_read_proc(pid, &e))
			continue;
		if (!(v = reallocarray(all.v, all.n + 1, sizeof(*v))))
			break;
		all.v = v;
		all.v[all.n++] = e;
		v = NULL;
	}
	closedir(dp);
	if (!(in = calloc(all.n ? all.n : 1, 1)) ||
	    !(v = reallocarray(out->v, all.n ? all.n : 1, sizeof(*v)))) {
		free(in);
		free(all.v);
		return;
	}
	out->v = v;
	/* A process joins once its parent has: repeat until nothing joins. */
	while (grown) {
		grown = false;
		for (size_t i = 0; i < all.n; i++) {
			bool parent_in = pid_in(roots, nroots, all.v[i].ppid);
			for (size_t j = 0; !parent_in && j < out->n; j++)
				parent_in = out->v[j].pid == all.v[i].ppid;
			if (!in[i] && parent_in) {
				in[i] = 1;
				out->v[out->n++] = all.v[i];
				grown = true;
			}
		}
	}
	free(in);
	free(all.v);
}

/* Every process that descends from lockrun (its children, theirs, ...). */
static void list_descendants(struct proc_list *out)
{
	pid_t self = getpid();

	list_descendants_of(&self, 1, out);
}

size_t job_descendants(const pid_t *roots, size_t nroots, struct job_proc **out)
{
	struct proc_list l = { NULL, 0 };

	list_descendants_of(roots, nroots, &l);
	*out = l.v;
	return l.v ? l.n : 0;
}

static bool pid_in(const pid_t *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

/*
 * Sends sig once to every process of the job outside the process group
 * skip (0: none), also those that left the command's process group or
 * session.  The scan is repeated until it finds no process it has not
 * signalled, so a process forked meanwhile is not missed.
 */
static void signal_job(int sig, pid_t skip)
{
	struct proc_list job = { NULL, 0 };
	pid_t *done = NULL;
	size_t ndone = 0;

	for (int pass = 0; pass < 64; pass++) {
		bool found = false;
		list_descendants(&job);
		for (size_t i = 0; i < job.n; i++) {
			pid_t *v;
			if (pid_in(done, ndone, job.v[i].pid))
				continue;
			if (!(v = reallocarray(done, ndone + 1, sizeof(*v))))
				break;
			done = v;
			done[ndone++] = job.v[i].pid;
			found = true;
			if (!skip || job.v[i].pgrp != skip)
				kill(job.v[i].pid, sig);
		}
		if (!found)
			break;
	}
	free(done);
	free(job.v);
}

/* "123, 456" of the job's processes still there. */
static void name_leftovers(char *buf, size_t size)
{
	struct proc_list job = { NULL, 0 };
	size_t off = 0;

	buf[0] = '\0';
	list_descendants(&job);
	for (size_t i = 0; i < job.n && off < size; i++) {
		int n = snprintf(buf + off, size - off, "%s%d", i ? ", " : "",
				 (int)job.v[i].pid);
		if (n > 0)
			off += (size_t)n;
	}
	free(job.v);
}

/* --- the supervisor ------------------------------------------------------ */

struct job {
	const struct job_opts *o;
	pid_t child;
	bool own_group;
	int64_t term_at, kill_at, give_up_at, lost_at; /* 0: not armed */
	bool timed_out, stopping, child_done, lost;
	int child_status;
	int stopped_by;
	siginfo_t stopped_from; /* who sent stopped_by */
	sigset_t received;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* now + ms, saturated: a time limit of centuries never wraps. */
static int64_t later(int64_t ms)
{
	int64_t now = now_ms();

	return ms > INT64_MAX - now ? INT64_MAX : now + ms;
}

static void stop_job(struct job *j, int sig, pid_t skip)
{
	j->stopping = true;
	signal_job(sig, skip);
}

static void on_deadline(struct job *j)
{
	const struct job_opts *o = j->o;
	int64_t now = now_ms();

	if (j->term_at && now >= j->term_at) {
		j->term_at = 0;
		j->timed_out = true;
		if (o->kill_after_ms)
			j->kill_at = later(o->kill_after_ms);
		if (!o->quiet)
			warnx("%s: max time reached; sent signal %d to PID %d "
			      "and the rest of its job", esc(o->command),
			      o->max_time_signal, (int)j->child);
		stop_job(j, o->max_time_signal, 0);
	} else if (j->kill_at && now >= j->kill_at) {
		j->kill_at = 0;
		stop_job(j, SIGKILL, 0);
		if (j->child_done)
			j->give_up_at = later(LEFTOVER_GRACE_MS);
	} else if (j->give_up_at && now >= j->give_up_at) {
		j->give_up_at = -1; /* stop waiting for the rest */
	}
}

/* The lock's own deadline (lock_deadline in job.h): stop the job before
 * anyone else can hold the lock. */
static void check_lock(struct job *j)
{
	const struct job_opts *o = j->o;
	int64_t at;

	if (!o->lock_deadline || j->lost)
		return;
	at = o->lock_deadline(o->lock_arg);
	j->lost_at = at == INT64_MAX ? 0 : at;
	if (at == INT64_MAX || now_ms() < at)
		return;
	j->lost = true;
	j->lost_at = 0;
	j->term_at = 0;
	j->kill_at = later(o->lost_kill_after_ms);
	warnx("%s: the lock was lost; sent signal %d to PID %d and the rest "
	      "of its job", esc(o->command), o->max_time_signal, (int)j->child);
	stop_job(j, o->max_time_signal, 0);
}

/*
 * A signal lockrun received.  One from the terminal (SI_KERNEL) went to
 * lockrun's process group, so it reached every process of the job in that
 * group already: only the others get it.  Any other sender signalled
 * lockrun, or a process group that the command, in a group of its own,
 * is not in: the job gets it from lockrun.
 */
/*
 * The same stopping signal again, from the sender that started the stop:
 * timeout(1) signals lockrun and then its own process group, which lockrun
 * is in, and a busy machine can run lockrun between the two.  The job is
 * being stopped by that signal already; a second copy adds nothing but a
 * second handler run in the command.  From anyone else it goes on.
 */
static bool is_repeat_stop(const struct job *j, int sig,
			   const siginfo_t *info)
{
	return j->stopping && j->stopped_by == sig &&
	       j->stopped_from.si_code == info->si_code &&
	       j->stopped_from.si_pid == info->si_pid;
}

static void on_signal(struct job *j, int sig, const siginfo_t *info)
{
	pid_t skip = info->si_code == SI_KERNEL ? getpgrp() : 0;

	sigaddset(&j->received, sig);
	if (stops_job(sig) && is_repeat_stop(j, sig, info))
		return;
	if (stops_job(sig)) {
		j->stopped_by = sig;
		j->stopped_from = *info;
		stop_job(j, sig, skip);
	} else if (sig == SIGWINCH && j->own_group) {
		kill(-j->child, sig); /* a resize concerns the whole group */
	} else if (!skip || getpgid(j->child) != skip) {
		kill(j->child, sig);
	}
}

/*
 * Copies of sig from the same sender that came while it was being
 * forwarded are one signal: timeout(1), for one, signals lockrun and then
 * its own process group, which lockrun is in.  A copy from anyone else is
 * handled as usual.
 */
static void drop_copies(struct job *j, int sig, const siginfo_t *first)
{
	struct timespec zero = { 0, 0 };
	siginfo_t info;
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, sig);
	while (sigtimedwait(&one, &info, &zero) == sig) {
		if (info.si_code != first->si_code || info.si_pid != first->si_pid) {
			on_signal(j, sig, &info);
			break;
		}
	}
}

/* Reaps every child that has exited: as a subreaper we also inherit the
 * command's orphans.  Returns false once no child is left at all. */
static bool reap_children(struct job *j)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == j->child) {
			j->child_status = st;
			j->child_done = true;
		}
	if (p < 0 && errno == ECHILD)
		return false;
	if (p < 0 && errno != EINTR)
		err(EX_OSERR, "waitpid");
	return true;
}

static bool supervision_over(struct job *j, bool children_left)
{
	if (!j->child_done)
		return false;
	if (!j->stopping || !children_left || j->give_up_at < 0)
		return true;
	/* After a stop, the rest of the job gets some time to end too. */
	if (!j->give_up_at && !j->kill_at)
		j->give_up_at = later(LEFTOVER_GRACE_MS);
	return false;
}

static struct timespec *wait_left(const struct job *j, struct timespec *ts)
{
	int64_t next = 0, left;
	const int64_t at[] = { j->term_at, j->kill_at, j->give_up_at,
			       j->lost_at };

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (at[i] > 0 && (!next || at[i] < next))
			next = at[i];
	if (!next)
		return NULL;
	left = next - now_ms();
	if (left < 0)
		left = 0;
	ts->tv_sec = (time_t)(left / 1000);
	ts->tv_nsec = (long)(left % 1000) * 1000000;
	return ts;
}

/* How lockrun ends: see EXIT STATUS in lockrun(1). */
static struct job_end job_result(const struct job *j)
{
	int st = j->child_status, sig;
	struct job_end end = { 0, 0, j->stopped_by };
	char left[256];

	if (j->stopping) {
		name_leftovers(left, sizeof(left));
		if (left[0])
			warnx("%s: PID %s of the job outlived the stop; "
			      "they may hold the lock", esc(j->o->command), left);
	} else {
		left[0] = '\0';
	}
	if (WIFSIGNALED(st)) {
		sig = WTERMSIG(st);
		/* Killed by a signal lockrun got too: its parent sees what
		 * it would have seen without lockrun. */
		if (sigismember(&j->received, sig) && sig != SIGWINCH)
			end.die_by = sig;
		end.status = 128 + sig;
	} else {
		end.status = WEXITSTATUS(st);
	}
	if (j->timed_out && !end.die_by)
		end.status = left[0] ? EX_TIMEOUT_LEFT : EX_TIMEOUT;
	if (j->lost && !end.die_by)
		end.status = EX_LOCK_LOST;
	return end;
}

struct job_end job_supervise(const struct job_opts *o, pid_t child,
			     bool own_group)
{
	struct job j = { .o = o, .child = child, .own_group = own_group };
	struct timespec ts;
	siginfo_t info;
	sigset_t set;

	sigemptyset(&j.received);
	supervised_set(&set);
	if (o->max_time_ms)
		j.term_at = later(o->max_time_ms);
	while (!supervision_over(&j, reap_children(&j))) {
		check_lock(&j);
		int sig = sigtimedwait(&set, &info, wait_left(&j, &ts));
		if (sig < 0)
			on_deadline(&j);
		else if (sig != SIGCHLD) {
			on_signal(&j, sig, &info);
			drop_copies(&j, sig, &info);
		}
	}
	return job_result(&j);
}

void die_by_signal(int sig)
{
	struct sigaction sa;
	sigset_t one;

	fflush(NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	/* A core of lockrun would only mislead (systemd-coredump, abrt). */
	(void)prctl(PR_SET_DUMPABLE, 0);
	sigemptyset(&one);
	sigaddset(&one, sig);
	raise(sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	_exit(128 + sig);
}
