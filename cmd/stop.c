/* SPDX-License-Identifier: MIT */
/* lockrun --stop and --replace; see stop.h and lockrun(1), STOPPING. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "format.h"
#include "job.h"
#include "stop.h"

/* While the job it signalled lives, lockrun waits in the kernel for the
 * lock; every SLICE_MS it looks whether that job is gone and someone else
 * took the lock meanwhile (then it stops waiting). */
#define SLICE_MS 250
/* How many times the job is scanned for processes forked meanwhile. */
#define SCAN_PASSES 64

/* --- the schedule -------------------------------------------------------- */

static int parse_item(const char *item, struct stop_step *step,
		      const char **why)
{
	*step = (struct stop_step){ 0, 0 };
	if (strcmp(item, "forever") == 0) {
		step->wait_ms = STOP_FOREVER;
		return 0;
	}
	if ((*item >= '0' && *item <= '9') || *item == '.') {
		if (parse_duration(item, &step->wait_ms) < 0) {
			*why = "invalid duration (use e.g. 500ms, 30, 2m)";
			return -1;
		}
		return 0;
	}
	if (parse_signal(*item == '-' ? item + 1 : item, &step->sig, why) < 0) {
		*why = "invalid signal";
		return -1;
	}
	return 0;
}

int stop_parse_schedule(const char *s, int sig, struct stop_schedule *out,
			const char **why)
{
	char buf[512], *rest = buf, *item;
	int64_t ms;

	out->n = 0;
	if (!strchr(s, '/')) { /* a lone timeout: SIG/T/KILL/T */
		if (parse_duration(s, &ms) < 0) {
			*why = "invalid duration (use e.g. 500ms, 30, 2m)";
			return -1;
		}
		out->v[0] = (struct stop_step){ sig, 0 };
		out->v[1] = (struct stop_step){ 0, ms };
		out->v[2] = (struct stop_step){ SIGKILL, 0 };
		out->v[3] = (struct stop_step){ 0, ms };
		out->n = 4;
		return 0;
	}
	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf)) {
		*why = "too long";
		return -1;
	}
	while ((item = strsep(&rest, "/")) != NULL) {
		if (!*item) {
			*why = "empty item";
			return -1;
		}
		if (out->n == STOP_STEPS_MAX) {
			*why = "too many items";
			return -1;
		}
		if (parse_item(item, &out->v[out->n++], why) < 0)
			return -1;
	}
	return 0;
}

void stop_schedule_or_die(const char *s, int sig, struct stop_schedule *out)
{
	const char *why = NULL;

	if (stop_parse_schedule(s, sig, out, &why) < 0)
		errx(EX_USAGE, "invalid retry schedule: '%s': %s", esc(s), why);
}

/* --- the job: proven holders and their descendants ------------------------ */

struct target {
	pid_t pid;
	int pidfd;      /* -1 without pidfd_open(2): then start tells */
	uint64_t start; /* start time, clock ticks after boot */
	bool stopped;   /* SIGSTOP sent (before a KILL) */
};

struct job_set {
	struct target *v;
	size_t n;
};

/* pid's start time, 0 when it is gone or a zombie. */
static uint64_t start_of(pid_t pid)
{
	char path[32], buf[1024], *p, state;
	unsigned long long start;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 22, counted after the command name's last ')'. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
			  "%*s %*s %*s %*s %*s %*s %llu", &state, &start) != 2 ||
	    state == 'Z')
		return 0;
	return start;
}

/*
 * A process to signal.  With a pidfd (Linux 5.3) it is that process for
 * good; without one (older kernels, valgrind) its start time is checked
 * before each signal, which leaves a window of microseconds for the PID
 * to change hands (lockrun(1) says so).
 */
static bool open_target(pid_t pid, struct target *t)
{
	*t = (struct target){ pid, (int)syscall(SYS_pidfd_open, pid, 0), 0, false };
	if (t->pidfd < 0 && errno != ENOSYS)
		return false;
	t->start = start_of(pid);
	if (t->start == 0 && t->pidfd >= 0)
		close(t->pidfd);
	return t->start != 0;
}

static void close_target(struct target *t)
{
	if (t->pidfd >= 0)
		close(t->pidfd);
}

/* Has the process exited (or can it not be told)? */
static bool exited(const struct target *t)
{
	struct pollfd p = { .fd = t->pidfd, .events = POLLIN };

	if (t->pidfd < 0)
		return start_of(t->pid) != t->start;
	return poll(&p, 1, 0) != 0;
}

static bool in_set(const struct job_set *j, pid_t pid)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->v[i].pid == pid && !exited(&j->v[i]))
			return true;
	return false;
}

static void add_target(struct job_set *j, const struct target *t)
{
	struct target *v = reallocarray(j->v, j->n + 1, sizeof(*v));

	if (!v)
		err(EX_OSERR, "out of memory");
	j->v = v;
	j->v[j->n++] = *t;
}

static bool holder_listed(const struct pidlock_info *info, pid_t pid)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting && info->holders[i].pid == pid)
			return true;
	return false;
}

/*
 * The processes that hold the lock now.  A pidfd is opened for each
 * before the kernel's word is taken a second time: a holder still named
 * then, whose pidfd has not exited, is the process the pidfd refers to,
 * whatever happens to its PID later.
 */
static void find_holders(const char *path, struct job_set *j)
{
	struct pidlock_info first, again;
	struct target t[PIDLOCK_HOLDERS_MAX];
	bool opened[PIDLOCK_HOLDERS_MAX];

	if (pidlock_inspect(path, NULL, &first) < 0 ||
	    (first.state != PIDLOCK_STATE_LIVE &&
	     first.state != PIDLOCK_STATE_LIVE_INHERITED))
		return;
	for (unsigned i = 0; i < first.nholders; i++)
		opened[i] = !first.holders[i].waiting && first.holders[i].pid > 0 &&
			    open_target(first.holders[i].pid, &t[i]);
	if (pidlock_inspect(path, NULL, &again) < 0 || again.dev != first.dev ||
	    again.ino != first.ino)
		again.nholders = 0;
	for (unsigned i = 0; i < first.nholders; i++) {
		if (!opened[i])
			continue;
		if (holder_listed(&again, t[i].pid) && !exited(&t[i]) &&
		    !in_set(j, t[i].pid))
			add_target(j, &t[i]);
		else
			close_target(&t[i]);
	}
}

/*
 * Adds the descendants of the set that are not in it yet.  Each is proven
 * a child of a live member after its pidfd is open, so a PID that was
 * reused since the scan is not taken.
 */
static bool add_descendants(struct job_set *j)
{
	struct job_proc *d = NULL, now;
	pid_t *roots = calloc(j->n ? j->n : 1, sizeof(*roots));
	size_t nroots = 0, nd;
	bool added = false;

	if (!roots)
		err(EX_OSERR, "out of memory");
	for (size_t i = 0; i < j->n; i++)
		if (!exited(&j->v[i]))
			roots[nroots++] = j->v[i].pid;
	nd = job_descendants(roots, nroots, &d);
	for (size_t i = 0; i < nd; i++) {
		struct target t;
		if (in_set(j, d[i].pid) || !open_target(d[i].pid, &t))
			continue;
		if (job_read_proc(d[i].pid, &now) && now.ppid == d[i].ppid &&
		    in_set(j, now.ppid) && !exited(&t)) {
			add_target(j, &t);
			added = true;
		} else {
			close_target(&t);
		}
	}
	free(d);
	free(roots);
	return added;
}

static bool all_exited(const struct job_set *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (!exited(&j->v[i]))
			return false;
	return true;
}

static void free_set(struct job_set *j)
{
	for (size_t i = 0; i < j->n; i++)
		close_target(&j->v[i]);
	free(j->v);
	j->v = NULL;
	j->n = 0;
}

static void send_sig(const struct target *t, int sig)
{
	if (t->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, t->pidfd, sig, NULL, 0);
	else if (start_of(t->pid) == t->start)
		(void)kill(t->pid, sig);
}

/*
 * A catchable signal goes to the top of the job: the members whose parent
 * is not a live member.  For a job of lockrun that is lockrun, which
 * passes the signal on to every process of its job once; the command
 * does not get it twice.
 */
static void signal_tops(struct job_set *j, int sig)
{
	struct job_proc p;

	add_descendants(j);
	for (size_t i = 0; i < j->n; i++) {
		if (exited(&j->v[i]) || !job_read_proc(j->v[i].pid, &p))
			continue;
		if (!in_set(j, p.ppid))
			send_sig(&j->v[i], sig);
	}
}

/* SIGKILL: every member, all frozen first so that none forks away (a
 * fork under way when SIGSTOP came completes: the next scan finds it). */
static void kill_all(struct job_set *j)
{
	for (int pass = 0; pass < SCAN_PASSES; pass++) {
		bool sent = false;
		add_descendants(j);
		for (size_t i = 0; i < j->n; i++) {
			if (!j->v[i].stopped) {
				send_sig(&j->v[i], SIGSTOP);
				j->v[i].stopped = true;
				sent = true;
			}
		}
		if (!sent)
			break;
	}
	for (size_t i = 0; i < j->n; i++)
		send_sig(&j->v[i], SIGKILL);
}

/* --- waiting for the lock ----------------------------------------------- */

enum wait_result { W_GOT, W_TIMEOUT, W_TAKEN, W_ERROR };

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static enum wait_result wait_free(struct pidlock *lock, const struct stop_opts *o,
				  struct job_set *j, int64_t ms, int *err)
{
	int64_t end = ms == STOP_FOREVER ? INT64_MAX : now_ms() + ms;

	for (;;) {
		int64_t left = end == INT64_MAX ? SLICE_MS : end - now_ms();
		int r = pidlock_acquire(lock, o->flags, left <= 0 ? PIDLOCK_NO_WAIT
						   : left > SLICE_MS ? SLICE_MS
						   : (int)left);
		if (r == 0)
			return W_GOT;
		if (r != -ETIMEDOUT && r != -EWOULDBLOCK) {
			*err = r;
			return W_ERROR;
		}
		if (all_exited(j))
			return pidlock_acquire(lock, o->flags, PIDLOCK_NO_WAIT) == 0
				       ? W_GOT : W_TAKEN;
		if (left <= 0)
			return W_TIMEOUT;
	}
}

/* --- stopping ------------------------------------------------------------ */

static void say(const struct stop_opts *o, struct pidlock *lock,
		const char *what, const struct pidlock_info *info)
{
	char text[8192];

	if (o->quiet)
		return;
	if (info)
		format_holder(info, text, sizeof(text));
	else
		text[0] = '\0';
	warnx("%s: %s%s", esc(pidlock_path(lock)), what, text);
}

/* Holders that are never signalled, and why; NULL for a job to stop. */
static const char *refusal(const struct pidlock_info *found)
{
	switch (found->state) {
	case PIDLOCK_STATE_LIVE:
	case PIDLOCK_STATE_LIVE_INHERITED:
		return NULL;
	case PIDLOCK_STATE_REMOTE:
		return "a holder on another host is never signalled; ";
	case PIDLOCK_STATE_FOREIGN:
		return "a PID in a file nobody locks proves nothing: not signalled; ";
	default:
		return "cannot tell who holds it: ";
	}
}

static enum stop_outcome run_schedule(struct pidlock *lock,
				      const struct stop_opts *o,
				      struct job_set *j)
{
	const struct stop_schedule *s = o->schedule;
	int err = 0;

	for (size_t k = 0; k < s->n; k++) {
		enum wait_result w;
		if (s->v[k].sig == SIGKILL) {
			kill_all(j);
		} else if (s->v[k].sig) {
			signal_tops(j, s->v[k].sig);
		} else if ((w = wait_free(lock, o, j, s->v[k].wait_ms, &err)) == W_GOT) {
			return STOP_DONE;
		} else if (w == W_TAKEN) {
			say(o, lock, "the job stopped, but another process took the lock: ",
			    pidlock_holder(lock));
			return STOP_TAKEN;
		} else if (w == W_ERROR) {
			warnx("%s: %s", esc(pidlock_path(lock)), pidlock_strerror(err));
			return STOP_TROUBLE;
		}
	}
	if (wait_free(lock, o, j, 0, &err) == W_GOT)
		return STOP_DONE;
	say(o, lock, all_exited(j) ? "the job stopped, but another process took the lock: "
				   : "still running after the retry schedule: ",
	    pidlock_holder(lock));
	return all_exited(j) ? STOP_TAKEN : STOP_LEFT;
}

enum stop_outcome stop_holder(struct pidlock *lock, const struct stop_opts *o,
			      const struct pidlock_info *found)
{
	struct job_set j = { NULL, 0 };
	const char *why = refusal(found);
	enum stop_outcome out;
	int err = 0;

	if (why) {
		say(o, lock, why, found);
		return STOP_TROUBLE;
	}
	find_holders(pidlock_path(lock), &j);
	if (j.n == 0) {
		/* Released meanwhile, or held where we cannot see. */
		if (wait_free(lock, o, &j, 0, &err) == W_GOT)
			return STOP_DONE;
		say(o, lock, "held by no process lockrun can prove (one in "
			     "another PID namespace, or one that took it just "
			     "now): nothing signalled; ", pidlock_holder(lock));
		return STOP_TROUBLE;
	}
	add_descendants(&j);
	if (o->verbose)
		warnx("%s: stopping PID %d and %zu more of its job",
		      esc(pidlock_path(lock)), (int)j.v[0].pid, j.n - 1);
	out = run_schedule(lock, o, &j);
	free_set(&j);
	return out;
}

int stop_main(struct pidlock *lock, const struct stop_opts *o, bool oknodo)
{
	struct pidlock_info info;
	int r = pidlock_inspect(pidlock_path(lock), NULL, &info);

	if (r < 0) {
		warnx("%s: %s", esc(pidlock_path(lock)), pidlock_strerror(r));
		return 3;
	}
	switch (info.state) {
	case PIDLOCK_STATE_NONE:
	case PIDLOCK_STATE_FREE:
	case PIDLOCK_STATE_STALE:
	case PIDLOCK_STATE_REUSED:
		if (!oknodo && !o->quiet)
			warnx("%s: nothing to stop (%s%s%s)", esc(pidlock_path(lock)),
			      pidlock_state_name(info.state),
			      info.reason[0] ? ": " : "", esc(info.reason));
		return oknodo ? 0 : 1;
	default:
		break;
	}
	switch (stop_holder(lock, o, &info)) {
	case STOP_DONE:
		r = pidlock_release(lock);
		if (r < 0 && r != -EWOULDBLOCK)
			warnx("%s: %s", esc(pidlock_path(lock)), pidlock_strerror(r));
		return 0;
	case STOP_TAKEN:
		return 0;
	case STOP_LEFT:
		return 2;
	case STOP_NOTHING:
		return oknodo ? 0 : 1;
	default:
		return 3;
	}
}
