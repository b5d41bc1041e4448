/* SPDX-License-Identifier: MIT */
/*
 * PID reuse, as root: in a PID namespace of its own (with its own /proc),
 * an init process runs rounds of
 *
 *   1. a worker takes the lock and is killed holding it;
 *   2. ns_last_pid is set so that the next fork gets the dead holder's PID,
 *      and an unrelated bystander is started with it;
 *   3. while the dead holder's record is still at the path, it must be
 *      judged "reused" (never live, never merely dead);
 *   4. the next round's worker takes the lock (usually recovering that
 *      record); only then does the bystander exit, and it must exit by
 *      itself: nothing may signal it.
 *
 * The namespace's workers compete with all the others for the same lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidlock.h"
#include "../clock-ticks.h"
#include "torture.h"

struct bystander {
	pid_t pid;
	int fd; /* write end of its pipe: EOF tells it to exit */
};

/* Closed in every other child, or the bystander never sees EOF. */
static int bystander_fd = -1;

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int start_time_of(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')))
		return -1;
	/* Field 22; p points at the end of field 2. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p, " %lu", (unsigned long *)start) == 1 ? 0 : -1;
}

static void bystander_end(struct t_shm *shm, struct bystander *b)
{
	int status;

	if (!b->pid)
		return;
	close(b->fd);
	bystander_fd = -1;
	while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		atomic_fetch_add(&shm->st.bystanders, 1);
	else
		t_violation(shm, "the bystander with a dead holder's PID %d "
			    "ended with status 0x%x", (int)b->pid, status);
	b->pid = 0;
}

static int bystander_start(struct t_shm *shm, pid_t want, struct bystander *b)
{
	char path[] = "/proc/sys/kernel/ns_last_pid", last[16];
	int fds[2];
	char c;

	snprintf(last, sizeof(last), "%d", (int)want - 1);
	if (write_text(path, last) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		t_error(shm, "ns_last_pid: %s", strerror(errno));
		return -1;
	}
	b->pid = fork();
	if (b->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(fds[0]);
	b->fd = bystander_fd = fds[1];
	if (b->pid < 0) {
		close(fds[1]);
		b->pid = 0;
		return -1;
	}
	if (b->pid == want)
		atomic_fetch_add(&shm->st.reuse_pid, 1);
	return 0;
}

/* The dead holder's record, while its PID belongs to the bystander. */
static void judge_reused(struct t_shm *shm, pid_t victim, uint64_t start)
{
	struct pidlock_info info;
	int r = pidlock_inspect(shm->cfg.lock, NULL, &info);

	if (r < 0) {
		t_error(shm, "pidlock_inspect: %s", pidlock_strerror(r));
		return;
	}
	if (!info.has_record || info.record.pid != victim ||
	    info.record.start_time != start) {
		atomic_fetch_add(&shm->st.reuse_raced, 1);
	} else if (info.state == PIDLOCK_STATE_REUSED) {
		atomic_fetch_add(&shm->st.reuse_judged, 1);
	} else if (info.state == PIDLOCK_STATE_LIVE_INHERITED) {
		/* someone holds the old inode while breaking it */
		atomic_fetch_add(&shm->st.reuse_raced, 1);
	} else {
		t_violation(shm, "a dead holder's record, its PID %d now another "
			    "process's, was judged %s (%s)", (int)victim,
			    pidlock_state_name(info.state), info.reason);
	}
}

/* Runs a worker until it holds the lock (lingering); 0, or -1 at stop. */
static int holder_up(struct t_shm *shm, unsigned s, pid_t *wp)
{
	const struct timespec ms = { 0, 1000000 };
	struct t_actor *a = &shm->slot[s].actor[0];
	int status;
	pid_t w;

	atomic_store(&a->state, T_IDLE);
	atomic_store(&a->linger, 0);
	atomic_store(&a->inc, t_new_inc(shm));
	w = fork();
	if (w == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (bystander_fd >= 0)
			close(bystander_fd);
		t_worker(shm, s, true);
	}
	if (w < 0)
		return -1;
	atomic_store(&a->pid, w);
	atomic_store(&shm->slot[s].pid, w);
	*wp = w;
	while (!(atomic_load(&a->state) == T_CS && atomic_load(&a->linger))) {
		if (waitpid(w, &status, WNOHANG) == w) {
			if (!atomic_load(&shm->stop))
				t_error(shm, "PID-namespace worker ended with 0x%x",
					status);
			return -1;
		}
		if (atomic_load(&shm->stop)) {
			kill(w, SIGKILL);
			waitpid(w, &status, 0);
			return -1;
		}
		nanosleep(&ms, NULL);
	}
	return 0;
}

/*
 * A round every 200 acquisitions (after the first few): each one costs
 * forks and a kill.  false at stop.
 */
static bool ns_turn(struct t_shm *shm)
{
	const struct timespec step = { 0, 5000000 };
	uint64_t rounds = atomic_load(&shm->st.ns_rounds);

	while (!atomic_load(&shm->stop)) {
		uint64_t acq = atomic_load(&shm->st.acq_lib) +
			       atomic_load(&shm->st.acq_lockrun);
		if (rounds < 3 || rounds * 200 < acq)
			return true;
		nanosleep(&step, NULL);
	}
	return false;
}

static int ns_init(struct t_shm *shm, unsigned s)
{
	struct t_actor *a = &shm->slot[s].actor[0];
	struct bystander b = { 0, -1 };
	uint64_t start;
	int status;
	pid_t w;

	if (getpid() != 1 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		t_error(shm, "PID namespace: no private /proc: %s", strerror(errno));
		return 1;
	}
	while (!atomic_load(&shm->stop) && ns_turn(shm) && holder_up(shm, s, &w) == 0) {
		atomic_fetch_add(&shm->st.ns_rounds, 1);
		bystander_end(shm, &b); /* its PID was seen by this acquisition */
		if (start_time_of(w, &start) < 0 || !t_swap(&a->state, T_CS, T_DOOMED)) {
			t_error(shm, "PID-namespace holder %d vanished", (int)w);
			break;
		}
		t_kill_log(shm, atomic_load(&a->inc));
		kill(w, SIGKILL);
		while (waitpid(w, &status, 0) < 0 && errno == EINTR)
			;
		atomic_fetch_add(&shm->st.kill_ns, 1);
		if (!wait_tick_after(start) || bystander_start(shm, w, &b) < 0)
			break;
		if (b.pid == w)
			judge_reused(shm, w, start);
	}
	bystander_end(shm, &b);
	return 0;
}

/* Forks the namespace's parent; returns its PID (in our namespace). */
pid_t t_ns_start(struct t_shm *shm, unsigned s)
{
	pid_t parent = getpid(), pid = fork(), init;
	int status;

	if (pid != 0)
		return pid;
	t_child_setup(parent);
	setpgid(0, 0);
	shm->slot[s].ns = true;
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		t_error(shm, "PID namespace: %s", strerror(errno));
		_exit(1);
	}
	init = fork();
	if (init == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(ns_init(shm, s));
	}
	if (init < 0)
		_exit(1);
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
