/* SPDX-License-Identifier: MIT */
/*
 * The supervisor: starts the workers and respawns the killed ones, and is
 * the chaos: it SIGKILLs holders and waiters it sentenced by swapping
 * their state to T_DOOMED (see torture.h), and runs lockclean and lockstat
 * in a loop next to them.  It is a child subreaper, so the commands of
 * killed lockruns come back to it and are reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

#define TICK_NS 200000             /* chaos looks at every actor this often */
#define LOCKRUN_ONLY_NS 2000000    /* command outlives its lockrun this long */

struct sup {
	struct t_shm *shm;
	pid_t self, tools, nsgroup;
	unsigned finished;
	int64_t pending[T_SLOTS_MAX]; /* when to kill a command lockrun left */
	uint64_t progress;
	int64_t progress_at;
	int64_t ns_wait_until;
	bool wedged;
};

static void spawn_worker(struct sup *sp, unsigned s)
{
	struct t_shm *shm = sp->shm;
	struct t_slot *slot = &shm->slot[s];
	pid_t pid;

	for (int a = 0; a < 2; a++) {
		atomic_store(&slot->actor[a].state, T_IDLE);
		atomic_store(&slot->actor[a].linger, 0);
		atomic_store(&slot->actor[a].pid, 0);
		atomic_store(&slot->actor[a].inc, 0);
	}
	atomic_store(&slot->actor[0].inc, t_new_inc(shm));
	atomic_store(&slot->lockrun_pid, 0);
	if (sp->pending[s]) /* the group kill took the command with it */
		atomic_fetch_add(&shm->st.kill_cs, 1);
	sp->pending[s] = 0;
	pid = fork();
	if (pid == 0) {
		t_child_setup(sp->self);
		t_worker(shm, s, false);
	}
	if (pid < 0) {
		t_error(shm, "fork: %s", strerror(errno));
		atomic_store(&slot->pid, 0);
		return;
	}
	setpgid(pid, pid); /* also done by the child: whoever comes first */
	atomic_store(&slot->actor[0].pid, pid);
	atomic_store(&slot->pid, pid);
}

/* Sentence actor a of slot s if it is still in state from, and kill. */
static void doom(struct sup *sp, unsigned s, unsigned a, int from,
		 bool lockrun_only)
{
	struct t_shm *shm = sp->shm;
	struct t_slot *slot = &shm->slot[s];
	pid_t lockrun = atomic_load(&slot->lockrun_pid);

	if (!t_swap(&slot->actor[a].state, from, T_DOOMED))
		return;
	if (lockrun_only && lockrun > 0 && kill(lockrun, SIGKILL) == 0) {
		/* The command inherited the lock: it must keep holding it. */
		atomic_fetch_add(&shm->st.kill_lockrun_only, 1);
		sp->pending[s] = t_now() + LOCKRUN_ONLY_NS;
		return;
	}
	t_kill_log(shm, atomic_load(&slot->actor[0].inc));
	if (atomic_load(&slot->actor[1].state) != T_IDLE)
		t_kill_log(shm, atomic_load(&slot->actor[1].inc));
	kill(-atomic_load(&slot->pid), SIGKILL);
	if (from == T_CS)
		atomic_fetch_add(&shm->st.kill_cs, 1);
	else if (from == T_WAITING)
		atomic_fetch_add(&shm->st.kill_wait, 1);
	else
		atomic_fetch_add(&shm->st.kill_release, 1);
}

/* The command of a killed lockrun held on; now it dies too. */
static void kill_pending(struct sup *sp, unsigned s, int64_t now)
{
	struct t_shm *shm = sp->shm;
	struct t_actor *h = &shm->slot[s].actor[1];

	if (!sp->pending[s] || now < sp->pending[s])
		return;
	sp->pending[s] = 0;
	t_kill_log(shm, atomic_load(&h->inc));
	kill(atomic_load(&h->pid), SIGKILL);
	atomic_fetch_add(&shm->st.kill_cs, 1);
	atomic_store(&h->state, T_IDLE);
}

static void chaos_actor(struct sup *sp, unsigned s, unsigned a)
{
	const struct t_config *c = &sp->shm->cfg;
	struct t_stats *st = &sp->shm->st;
	struct t_actor *act = &sp->shm->slot[s].actor[a];

	switch (atomic_load(&act->state)) {
	case T_CS:
		if (atomic_load(&act->linger))
			doom(sp, s, a, T_CS, a == 1 && (t_rand() & 1));
		else if (t_chance_pm(c->random_kill_pm) && t_kills_wanted(sp->shm))
			doom(sp, s, a, T_CS, false);
		break;
	case T_WAITING:
		/* Waiters outnumber holders 15 to 1: keep their kills fewer. */
		if (t_chance_pm(c->wait_kill_pm) &&
		    atomic_load(&st->kill_wait) <= atomic_load(&st->kill_cs) / 2 + 5)
			doom(sp, s, a, T_WAITING, false);
		break;
	case T_RELEASING:
		if (t_chance_pm(c->random_kill_pm) && t_kills_wanted(sp->shm))
			doom(sp, s, a, T_RELEASING, false);
		break;
	}
}

static void chaos_tick(struct sup *sp)
{
	unsigned n = sp->shm->cfg.procs, first = (unsigned)(t_rand() % n);
	int64_t now = t_now();

	for (unsigned i = 0; i < n; i++) {
		unsigned s = (first + i) % n;
		if (!atomic_load(&sp->shm->slot[s].pid))
			continue;
		kill_pending(sp, s, now);
		for (unsigned a = 0; a < 2; a++)
			chaos_actor(sp, s, a);
	}
}

static void reaped_worker(struct sup *sp, unsigned s, int status)
{
	struct t_shm *shm = sp->shm;
	struct t_slot *slot = &shm->slot[s];
	bool stop = atomic_load(&shm->stop);

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		if (!stop) {
			atomic_fetch_add(&shm->st.respawns, 1);
			spawn_worker(sp, s);
			return;
		}
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		t_error(shm, "worker %u exited with status 0x%x", s, status);
	} else if (!stop && atomic_load(&slot->done) < shm->cfg.iters) {
		t_error(shm, "worker %u exited early", s);
	}
	/* A command its lockrun left behind would hold the lock for ever. */
	kill_pending(sp, s, INT64_MAX);
	atomic_store(&slot->pid, 0);
	sp->finished++;
}

static void reap(struct sup *sp)
{
	struct t_shm *shm = sp->shm;
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p == sp->tools || p == sp->nsgroup) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				t_error(shm, "the %s process ended with status 0x%x",
					p == sp->tools ? "lockclean/lockstat"
						       : "PID-namespace", status);
			*(p == sp->tools ? &sp->tools : &sp->nsgroup) = 0;
			continue;
		}
		for (unsigned s = 0; s < shm->cfg.procs; s++)
			if (atomic_load(&shm->slot[s].pid) == p) {
				reaped_worker(sp, s, status);
				break;
			}
		/* else: an orphaned command of a killed lockrun */
	}
}

static void dump_state(struct t_shm *shm)
{
	static char cmd[8 * PATH_MAX];

	fprintf(stderr, "torture: state at the wedge:\n");
	for (unsigned s = 0; s < shm->cfg.procs + 1; s++)
		for (unsigned a = 0; a < 2; a++) {
			struct t_actor *act = &shm->slot[s].actor[a];
			if (atomic_load(&act->state) != T_IDLE)
				fprintf(stderr, "  slot %u actor %u pid %d: %s\n", s, a,
					atomic_load(&act->pid),
					t_state_name(atomic_load(&act->state)));
		}
	snprintf(cmd, sizeof(cmd),
		 "ls -la %s %s >&2; cat %s >&2; %s/lockstat -u %s >&2; cat /proc/locks >&2",
		 shm->cfg.locks, shm->cfg.cs, shm->cfg.lock, shm->cfg.bin,
		 shm->cfg.locks);
	if (system(cmd) < 0)
		perror("system");
}

/* No acquisition, no give-up, for wedge_s seconds: the lock is stuck. */
static void watchdog(struct sup *sp)
{
	struct t_stats *st = &sp->shm->st;
	uint64_t p = atomic_load(&st->acq_lib) + atomic_load(&st->acq_lockrun) +
		     atomic_load(&st->busy) + atomic_load(&st->timeouts) +
		     atomic_load(&st->lockrun_busy);
	int64_t now = t_now();

	if (p != sp->progress || !sp->progress_at) {
		sp->progress = p;
		sp->progress_at = now;
	} else if (now - sp->progress_at >
		   (int64_t)sp->shm->cfg.wedge_s * 1000000000) {
		t_error(sp->shm, "wedged: no acquisition and no give-up for %d s",
			sp->shm->cfg.wedge_s);
		dump_state(sp->shm);
		sp->wedged = true;
	}
}

static pid_t tools_spawn(struct t_shm *shm);

static void stop_all(struct sup *sp)
{
	struct t_shm *shm = sp->shm;
	int64_t until = t_now() + 30 * 1000000000ll;
	const struct timespec ms = { 0, 1000000 };
	int status;
	pid_t p;

	atomic_store(&shm->stop, 1);
	if (sp->wedged || t_interrupted)
		for (unsigned s = 0; s < shm->cfg.procs; s++)
			if (atomic_load(&shm->slot[s].pid) > 0)
				kill(-atomic_load(&shm->slot[s].pid), SIGKILL);
	for (;;) {
		reap(sp);
		if (!sp->tools && !sp->nsgroup && sp->finished == shm->cfg.procs)
			break;
		if (t_now() > until) {
			t_error(shm, "processes did not stop within 30 s");
			if (sp->nsgroup)
				kill(sp->nsgroup, SIGKILL);
			if (sp->tools)
				kill(sp->tools, SIGKILL);
			for (unsigned s = 0; s < shm->cfg.procs; s++)
				if (atomic_load(&shm->slot[s].pid) > 0)
					kill(-atomic_load(&shm->slot[s].pid), SIGKILL);
			until = t_now() + 3600 * 1000000000ll;
		}
		nanosleep(&ms, NULL);
	}
	/* Orphaned commands: the groups are gone, wait for the stragglers. */
	while ((p = waitpid(-1, &status, 0)) > 0)
		;
}

/*
 * A short run can end before the PID namespace completed a round; give it
 * up to 10 s more, alone with the lock, so that every run covers reuse.
 */
static bool ns_round_done(struct sup *sp)
{
	if (!sp->nsgroup || atomic_load(&sp->shm->st.ns_rounds) > 0)
		return true;
	if (!sp->ns_wait_until)
		sp->ns_wait_until = t_now() + 10 * 1000000000ll;
	if (t_now() < sp->ns_wait_until)
		return false;
	t_error(sp->shm, "no PID-namespace round completed");
	return true;
}

int t_supervise(struct t_shm *shm)
{
	const struct timespec tick = { 0, TICK_NS };
	struct sup sp = { .shm = shm, .self = getpid() };

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	t_seed((uint64_t)getpid() ^ (uint64_t)t_now());
	if (shm->cfg.tools)
		sp.tools = tools_spawn(shm);
	if (shm->cfg.reuse)
		sp.nsgroup = t_ns_start(shm, shm->cfg.procs);
	for (unsigned s = 0; s < shm->cfg.procs; s++)
		spawn_worker(&sp, s);
	int64_t end = shm->cfg.duration_s ?
		t_now() + (int64_t)shm->cfg.duration_s * 1000000000 : INT64_MAX;

	while (!sp.wedged && !t_interrupted && t_now() < end) {
		reap(&sp);
		if (sp.finished == shm->cfg.procs && ns_round_done(&sp))
			break;
		if (shm->cfg.chaos)
			chaos_tick(&sp);
		watchdog(&sp);
		nanosleep(&tick, NULL);
	}
	if (t_interrupted)
		t_error(shm, "interrupted by a signal");
	stop_all(&sp);
	return sp.wedged ? -1 : 0;
}

/* --- lockclean and lockstat in a loop ------------------------------------ */

/* Runs a tool; kill_us > 0 kills it that many microseconds in. */
static void run_tool(struct t_shm *shm, const char *tool, const char *opt,
		     unsigned kill_us)
{
	char path[PATH_MAX], err[PATH_MAX], line[256] = "";
	int status;
	FILE *f;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", shm->cfg.bin, tool);
	snprintf(err, sizeof(err), "%s/tool.err", shm->cfg.work);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(null, 1);
		dup2(e, 2);
		execl(path, tool, opt, shm->cfg.locks, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return;
	if (kill_us) {
		const struct timespec d = { 0, (long)kill_us * 1000 };
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && kill_us) {
		atomic_fetch_add(&shm->st.lockclean_killed, 1);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if ((f = fopen(err, "r"))) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	t_error(shm, "%s %s: status 0x%x: %s", tool, opt, status, line);
}

static pid_t tools_spawn(struct t_shm *shm)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	t_child_setup(parent);
	setpgid(0, 0); /* signals to the run's process group are not for us */
	t_seed((uint64_t)getpid() ^ (uint64_t)t_now());
	for (unsigned i = 0; !atomic_load(&shm->stop); i++) {
		if (i % 2 == 0) {
			unsigned k = t_rand() % 4 == 0 ? 1 + (unsigned)(t_rand() % 3000) : 0;
			run_tool(shm, "lockclean", i % 4 ? "-q" : "-v", k);
			atomic_fetch_add(&shm->st.lockclean_runs, 1);
		} else {
			run_tool(shm, "lockstat", i % 4 == 1 ? "-u" : "-J", 0);
			atomic_fetch_add(&shm->st.lockstat_runs, 1);
		}
	}
	_exit(0);
}
