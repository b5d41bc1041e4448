/* SPDX-License-Identifier: MIT */
/*
 * The critical section and its invariants.
 *
 * On entry a marker file is created exclusively: a complete file written
 * under a private name and hard-linked to "marker", so that the marker
 * either exists with its whole content or not at all (an O_EXCL create
 * followed by a write could be killed in between and leave an empty one).
 * The content names the holder's incarnation.  EEXIST is a violation
 * unless the marker's owner is a holder that chaos sentenced before we
 * got the lock: a killed holder leaves its marker behind, and the kill
 * log (written before SIGKILL is sent) proves when it was sentenced.
 *
 * The shared counter is read on entry and written back plus one on exit:
 * two holders at once make it move under one of them, and make the final
 * count come out short.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

#define MARKER "marker"

struct owner {
	uint64_t inc;
	unsigned slot, actor;
	int pid;
};

static int read_owner(int csfd, struct owner *o, char *buf, size_t size)
{
	int fd = openat(csfd, MARKER, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -EBADMSG;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %u %u %d", &o->inc, &o->slot, &o->actor,
		   &o->pid) != 4 || o->slot >= T_SLOTS_MAX || o->actor > 1)
		return -EBADMSG;
	return 0;
}

static const char *owner_state(const struct t_shm *shm, const struct owner *o)
{
	const struct t_actor *a = &shm->slot[o->slot].actor[o->actor];

	if (atomic_load(&a->inc) != o->inc)
		return "gone (a later incarnation runs)";
	return t_state_name(atomic_load(&a->state));
}

/*
 * A marker was in the way of a holder that acquired at t_acq.  Returns 1
 * when it was a killed holder's leftover (now removed), 0 after reporting
 * a violation.
 */
int t_marker_check(struct t_shm *shm, int csfd, int64_t t_acq)
{
	struct owner o;
	char buf[128];
	int64_t killed;
	int r = read_owner(csfd, &o, buf, sizeof(buf));

	if (r == -ENOENT) {
		t_violation(shm, "the marker vanished while we held the lock");
		return 0;
	}
	if (r < 0) {
		t_violation(shm, "unreadable marker: '%.60s'", r == -EBADMSG ? buf : strerror(-r));
		return 0;
	}
	killed = t_killed_at(shm, o.inc);
	if (!killed) {
		t_violation(shm, "two holders: marker of live holder pid %d "
			    "(slot %u, actor %u, incarnation %" PRIu64 ", now %s)",
			    o.pid, o.slot, o.actor, o.inc, owner_state(shm, &o));
		return 0;
	}
	if (killed > t_acq) {
		t_violation(shm, "two holders: pid %d (incarnation %" PRIu64
			    ") was still alive %" PRId64 " us after we acquired",
			    o.pid, o.inc, (killed - t_acq) / 1000);
		return 0;
	}
	if (unlinkat(csfd, MARKER, 0) < 0) {
		t_violation(shm, "a killed holder's marker vanished under us: %s",
			    strerror(errno));
		return 0;
	}
	atomic_fetch_add(&shm->st.stale_markers, 1);
	return 1;
}

/* Creates the marker; false when it could not (a violation was logged). */
static bool mark(struct t_shm *shm, int csfd, const char *tmp,
		 const char *mine, int64_t t_acq)
{
	int fd;
	bool marked = false;

	unlinkat(csfd, tmp, 0); /* left by a killed predecessor in this slot */
	fd = openat(csfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, mine, strlen(mine)) != (ssize_t)strlen(mine)) {
		t_error(shm, "writing %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	for (int i = 0; i < 4 && !marked; i++) {
		if (linkat(csfd, tmp, csfd, MARKER, 0) == 0)
			marked = true;
		else if (errno != EEXIST) {
			t_error(shm, "linking the marker: %s", strerror(errno));
			break;
		} else if (!t_marker_check(shm, csfd, t_acq))
			break;
	}
	unlinkat(csfd, tmp, 0);
	return marked;
}

static void unmark(struct t_shm *shm, int csfd, const char *mine)
{
	struct owner o;
	char buf[128];
	int r = read_owner(csfd, &o, buf, sizeof(buf));

	if (r < 0 || strcmp(buf, mine) != 0) {
		t_violation(shm, "our marker was replaced or removed: '%.60s'",
			    r < 0 ? strerror(-r) : buf);
		return;
	}
	if (unlinkat(csfd, MARKER, 0) < 0)
		t_violation(shm, "our marker vanished: %s", strerror(errno));
}

/* Slow on purpose, so that chaos finds us holding. */
static void linger(struct t_shm *shm, struct t_actor *a, int64_t max_ns)
{
	const struct timespec step = { 0, 100000 };
	int64_t until = t_now() + max_ns;

	atomic_fetch_add(&shm->st.lingers, 1);
	atomic_store(&a->linger, 1);
	while (t_now() < until) {
		if (atomic_load(&a->state) == T_DOOMED)
			t_doomed();
		nanosleep(&step, NULL);
	}
	atomic_store(&a->linger, 0);
}

static void work(unsigned us)
{
	int64_t until = t_now() + (int64_t)us * 1000;

	while (t_now() < until)
		sched_yield();
}

/*
 * The critical section of actor (slot, actor), which got the lock at
 * t_acq (CLOCK_MONOTONIC ns) and is in state T_CS.  Returns in T_COMMIT
 * after counting itself; never returns if chaos sentenced it.
 */
void t_critical(struct t_shm *shm, int csfd, unsigned slot, unsigned actor,
		int64_t t_acq, enum t_linger mode)
{
	struct t_actor *a = &shm->slot[slot].actor[actor];
	char tmp[32], mine[128];
	uint64_t v0, v1;
	bool marked;

	snprintf(tmp, sizeof(tmp), "tmp.%u.%u", slot, actor);
	snprintf(mine, sizeof(mine), "%" PRIu64 " %u %u %d\n",
		 atomic_load(&a->inc), slot, actor, (int)getpid());
	marked = mark(shm, csfd, tmp, mine, t_acq);
	v0 = atomic_load(&shm->counter);
	if (mode == T_LINGER_UNTIL_KILLED)
		linger(shm, a, 10 * 1000000000ll);
	else if (t_kills_wanted(shm))
		linger(shm, a, 20 * 1000000ll);
	else
		work(shm->cfg.cs_us);
	if (!t_swap(&a->state, T_CS, T_COMMIT))
		t_doomed();
	v1 = atomic_load(&shm->counter);
	if (v1 != v0)
		t_violation(shm, "two holders: the counter moved from %" PRIu64
			    " to %" PRIu64 " during a critical section", v0, v1);
	atomic_store(&shm->counter, v0 + 1);
	atomic_fetch_add(&shm->slot[slot].done, 1);
	atomic_fetch_add(&shm->st.completed, 1);
	if (marked)
		unmark(shm, csfd, mine);
}
