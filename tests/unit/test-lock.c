/* SPDX-License-Identifier: MIT */
/*
 * Locking with real processes and threads: creation, contention, stale
 * recovery, waiting in the kernel, timeouts, handoff, keep and shared
 * modes, hostile places, and no descriptor leaks.  No fake is armed:
 * mock.c is linked but stays off.
 *
 * Children never call cmocka's assertions (a failed one would unwind into
 * the child's copy of the test runner and run the rest of the suite
 * there); they report over pipes and exit, and the parent asserts.  Every
 * wait for another process is a pipe, a pidfd, or a poll of a condition
 * with a deadline.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* How long any wait for another process or thread may take. */
#define DEADLINE_MS 5000

/* --- children ------------------------------------------------------------- */

/* Children still running, killed by the per-test cleanup if a test fails. */
#define KIDS_MAX 64
static pid_t kids[KIDS_MAX];
static size_t nkids;

static void kid_track(pid_t pid)
{
	if (nkids < KIDS_MAX)
		kids[nkids++] = pid;
}

static void kid_untrack(pid_t pid)
{
	for (size_t i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			return;
		}
}

/*
 * kill() is wrapped for the library (mock.c fails any real signal), so
 * the test signals its children with the system call itself.
 */
static int signal_kid(pid_t pid, int sig)
{
	return (int)syscall(SYS_kill, pid, sig);
}

static pid_t kid_start(int (*fn)(void *), void *arg)
{
	pid_t pid = spawn(fn, arg);

	kid_track(pid);
	return pid;
}

/*
 * Waits up to ms for pid to exit (sleeping on its pidfd): its exit
 * status, 128+signal when killed, or -1 on timeout (it is then killed).
 */
static int kid_reap(pid_t pid, int ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t end = now_ms() + ms;
	int status, r = -1;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			r = WIFSIGNALED(status) ? 128 + WTERMSIG(status)
						: WEXITSTATUS(status);
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		int64_t left = end - now_ms();
		if (left <= 0) {
			print_message("child %d still running after %d ms: "
				      "killed\n", (int)pid, ms);
			signal_kid(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
			poll(&pfd, 1, (int)left);
		} else {
			struct timespec tick = { 0, 1000000 };
			nanosleep(&tick, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	kid_untrack(pid);
	return r;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	if (ftw->level == 0)
		return 0;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* After each test: no child left behind, the lock directory empty. */
static int test_cleanup(void **state)
{
	(void)state;
	while (nkids) {
		pid_t pid = kids[0];
		signal_kid(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kid_untrack(pid);
	}
	chmod(test_dir, 0755);
	nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* --- pipes ------------------------------------------------------------------ */

/* Child side: writes everything (reports are small: one atomic write). */
static void put(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes within ms: true, or false on timeout or EOF. */
static bool get(int fd, void *buf, size_t len, int ms)
{
	int64_t end = now_ms() + ms;
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_ms();
		int n;
		if (left <= 0)
			return false;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		ssize_t got = read(fd, p, len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		p += got;
		len -= (size_t)got;
	}
	return true;
}

/* Is there something to read on fd right now? */
static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* count_fds() without cmocka, for children. */
static int child_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* --- files and /proc --------------------------------------------------------- */

/* The PID on line 1 of text, or -1. */
static long line1_pid(const char *text)
{
	char *end;
	long pid = strtol(text, &end, 10);

	return end != text && *end == '\n' ? pid : -1;
}

static long file_line1_pid(const char *path)
{
	char buf[PIDLOCK_RECORD_MAX + 1];

	return read_file(path, buf, sizeof(buf)) > 0 ? line1_pid(buf) : -1;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Nothing left that names a holder: no file, or (pidlock(5): the file
 * is kept and emptied on release) an empty regular file. */
static bool released(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 || (S_ISREG(st.st_mode) && st.st_size == 0);
}

/* The state letter of /proc/.../stat, or '?'. */
static char stat_state(const char *statpath)
{
	char buf[1024], *p;

	if (read_file(statpath, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return '?';
	return p[1] == ' ' ? p[2] : '?';
}

static char pid_state(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_state(path);
}

static char tid_state(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	return stat_state(path);
}

/*
 * Is there a /proc/locks entry on dev:ino, waiting (a "->" line) or
 * holding, by pid (0: anyone)?  Lines read
 * "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF", waiters with "-> "
 * before FLOCK; maj:min are printed in hex, the inode in decimal.
 */
static bool proc_locks_has(dev_t dev, ino_t ino, bool waiting, pid_t pid)
{
	char want[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(want, sizeof(want), "%02x:%02x:%lu", major(dev), minor(dev),
		 (unsigned long)ino);
	f = fopen("/proc/locks", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok, *field[8], *p = strchr(line, ':');
		bool w = false;
		int n = 0;
		if (!p)
			continue;
		for (tok = strtok_r(p + 1, " \n", &save); tok && n < 8;
		     tok = strtok_r(NULL, " \n", &save)) {
			if (n == 0 && !w && strcmp(tok, "->") == 0)
				w = true;
			else
				field[n++] = tok;
		}
		/* FLOCK ADVISORY WRITE pid maj:min:ino start end */
		found = n >= 5 && w == waiting && strcmp(field[4], want) == 0 &&
			(pid == 0 || atoi(field[3]) == pid);
	}
	fclose(f);
	return found;
}

static bool any_lock_on(dev_t dev, ino_t ino)
{
	return proc_locks_has(dev, ino, false, 0) || proc_locks_has(dev, ino, true, 0);
}

/* Does process pid have a pidfd open? */
static bool has_pidfd(pid_t pid)
{
	char dir[64], path[PATH_MAX], link[256];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d))) {
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = strstr(link, "pidfd") != NULL;
	}
	closedir(d);
	return found;
}

/* Polls cond(arg) every millisecond for up to ms: true once it holds. */
static bool wait_for(bool (*cond)(void *), void *arg, int ms)
{
	struct timespec tick = { 0, 1000000 };
	int64_t end = now_ms() + ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (now_ms() >= end)
			return false;
		nanosleep(&tick, NULL);
	}
}

/* No leftover temporary file of a creation or a break. */
static void assert_no_temp_files(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, ".pidlock-tmp.", 13) == 0) {
			closedir(d);
			fail_msg("leftover temporary file %s", e->d_name);
		}
	closedir(d);
}

/* --- a child that holds a lock until told to let go --------------------------- */

struct holder {
	char path[PATH_MAX];
	unsigned flags;
	pid_t pid;
	struct gate ready, release;
};

static int holder_main(void *arg)
{
	struct holder *h = arg;
	struct pidlock *lock = NULL;
	int r = pidlock_new(&lock, h->path);

	if (r == 0)
		r = pidlock_acquire(lock, h->flags, PIDLOCK_NO_WAIT);
	put(h->ready.fd[1], &r, sizeof(r));
	if (r < 0)
		return 1;
	/* Bounded: a parent stuck on this lock (a broken timeout) gets it
	 * eventually, and its test fails instead of hanging. */
	if (!gate_wait_ms(&h->release, 4 * DEADLINE_MS))
		return 3;
	r = pidlock_release(lock);
	pidlock_free(lock);
	return r == 0 ? 0 : 2;
}

static void holder_start(struct holder *h, const char *path, unsigned flags)
{
	int r = 1;

	memset(h, 0, sizeof(*h));
	snprintf(h->path, sizeof(h->path), "%s", path);
	h->flags = flags;
	gate_open(&h->ready);
	gate_open(&h->release);
	h->pid = kid_start(holder_main, h);
	if (!get(h->ready.fd[0], &r, sizeof(r), DEADLINE_MS))
		fail_msg("holder child %d did not report", (int)h->pid);
	assert_int_equal(r, 0);
}

static void holder_gates_close(struct holder *h)
{
	gate_close(&h->ready);
	gate_close(&h->release);
}

static void holder_stop(struct holder *h)
{
	gate_pass(&h->release);
	assert_int_equal(kid_reap(h->pid, DEADLINE_MS), 0);
	holder_gates_close(h);
}

/* A child holding a lock, SIGKILLed: its file stays behind, stale. */
static pid_t make_stale(const char *path)
{
	struct holder h;

	holder_start(&h, path, 0);
	assert_int_equal(signal_kid(h.pid, SIGKILL), 0);
	assert_int_equal(kid_reap(h.pid, DEADLINE_MS), 128 + SIGKILL);
	holder_gates_close(&h);
	assert_true(exists(path));
	assert_int_equal(file_line1_pid(path), h.pid);
	return h.pid;
}

/* --- a child that asks for a lock once and reports ---------------------------- */

struct waiter {
	char path[PATH_MAX];
	unsigned flags;
	int timeout;
	pid_t pid;
	struct gate ready, go, report;
};

struct wait_report {
	int32_t r, fd, recovered, fds_before, fds_after;
	int32_t holder_state, holder_pid, nholders;
	int32_t hpid[2], huid[2], hexcl[2], hwait[2];
	int64_t t0, t1;
	uint8_t calls[64]; /* the wrapped calls of pidlock_acquire (mock_trace) */
	int32_t ncalls;
};

/* Waiters forked while this is set trace their pidlock_acquire(). */
static bool trace_waiters;

static int waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct wait_report rep;
	struct pidlock *lock = NULL;
	int r = pidlock_new(&lock, w->path);

	int trace[2] = { -1, -1 };

	memset(&rep, 0, sizeof(rep));
	if (trace_waiters && pipe2(trace, O_CLOEXEC | O_NONBLOCK) < 0)
		return 3;
	gate_pass(&w->ready);
	gate_wait(&w->go);
	rep.fds_before = child_count_fds();
	rep.t0 = now_ms();
	mock_trace(trace[1]);
	if (r == 0)
		r = pidlock_acquire(lock, w->flags, w->timeout);
	mock_trace(-1);
	rep.t1 = now_ms();
	if (trace[0] >= 0) {
		ssize_t n = read(trace[0], rep.calls, sizeof(rep.calls));
		rep.ncalls = n > 0 ? (int32_t)n : 0;
		close(trace[0]);
		close(trace[1]);
	}
	rep.r = r;
	rep.fds_after = child_count_fds();
	rep.fd = lock ? pidlock_fd(lock) : -1;
	if (lock) {
		const struct pidlock_info *info = pidlock_holder(lock);
		rep.recovered = pidlock_recovered(lock);
		rep.holder_state = info->state;
		rep.holder_pid = info->record.pid;
		rep.nholders = (int32_t)info->nholders;
		for (unsigned i = 0; i < 2 && i < info->nholders; i++) {
			rep.hpid[i] = info->holders[i].pid;
			rep.huid[i] = (int32_t)info->holders[i].uid;
			rep.hexcl[i] = info->holders[i].exclusive;
			rep.hwait[i] = info->holders[i].waiting;
		}
	}
	put(w->report.fd[1], &rep, sizeof(rep));
	if (r == 0 && pidlock_release(lock) != 0)
		return 2;
	pidlock_free(lock);
	return 0;
}

static void waiter_start(struct waiter *w, const char *path, unsigned flags,
			 int timeout)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->flags = flags;
	w->timeout = timeout;
	gate_open(&w->ready);
	gate_open(&w->go);
	gate_open(&w->report);
	w->pid = kid_start(waiter_main, w);
	if (!gate_wait_ms(&w->ready, DEADLINE_MS))
		fail_msg("waiter child %d did not start", (int)w->pid);
}

/* Lets the waiter ask for the lock. */
static void waiter_go(struct waiter *w)
{
	gate_pass(&w->go);
}

static void waiter_result(struct waiter *w, struct wait_report *rep, int ms)
{
	if (!get(w->report.fd[0], rep, sizeof(*rep), ms))
		fail_msg("waiter child %d did not report within %d ms",
			 (int)w->pid, ms);
	assert_int_equal(kid_reap(w->pid, DEADLINE_MS), 0);
	gate_close(&w->ready);
	gate_close(&w->go);
	gate_close(&w->report);
}

/* --- 1. create and release ------------------------------------------------------ */

static void create_release_record_cloexec(void **state)
{
	const char *path = test_path("t1.lock");
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	const char *why = NULL;
	struct pidlock *lock;
	struct stat st, fst;
	ssize_t n;
	int fd, fl;

	(void)state;
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_fd(lock), -1);
	assert_true(released(path));
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	fd = pidlock_fd(lock);
	assert_true(fd >= 0);

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(fstat(fd, &fst), 0);
	assert_true(st.st_dev == fst.st_dev && st.st_ino == fst.st_ino);
	assert_true(proc_locks_has(st.st_dev, st.st_ino, false, getpid()));
	fl = fcntl(fd, F_GETFD);
	assert_true(fl >= 0);
	assert_true(fl & FD_CLOEXEC);

	n = read_file(path, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(line1_pid(buf), getpid());
	if (pidlock_record_parse(buf, (size_t)n, &rec, &why) != 0)
		fail_msg("record does not parse: %s", why ? why : "?");
	assert_int_equal(rec.pid, getpid());
	assert_int_equal(rec.holder, getpid());
	assert_int_equal(pidlock_recovered(lock), 0);

	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(pidlock_fd(lock), -1);
	assert_true(released(path));
	assert_false(any_lock_on(st.st_dev, st.st_ino));
	pidlock_free(lock);
}

/* --- 2 and 4. races --------------------------------------------------------------- */

#define RACERS_MAX 16
#define RACE_ROUNDS 5

struct race {
	char path[PATH_MAX];
	struct gate ready, go, report, done;
	pid_t pids[RACERS_MAX];
	int n;
};

struct race_report {
	int32_t pid, r, recovered, pad;
	uint64_t dev, ino;
};

static int racer_main(void *arg)
{
	struct race *race = arg;
	struct race_report rep;
	struct pidlock *lock = NULL;
	struct stat st;
	int r = pidlock_new(&lock, race->path);

	memset(&rep, 0, sizeof(rep));
	rep.pid = getpid();
	/* Only the parent keeps the go pipe's write end: closing it wakes
	 * every racer at once (EOF), where a written byte wakes one reader
	 * after the other. */
	close(race->go.fd[1]);
	gate_pass(&race->ready);
	gate_wait(&race->go);
	if (r == 0)
		r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	rep.r = r;
	if (r == 0) {
		rep.recovered = pidlock_recovered(lock);
		if (fstat(pidlock_fd(lock), &st) == 0) {
			rep.dev = st.st_dev;
			rep.ino = st.st_ino;
		}
	}
	put(race->report.fd[1], &rep, sizeof(rep));
	/* The winner holds until everyone has reported. */
	gate_wait(&race->done);
	if (r == 0 && pidlock_release(lock) != 0)
		return 2;
	pidlock_free(lock);
	return 0;
}

/* Starts n racers, lets them go at once, collects their reports. */
static void race_run(struct race *race, const char *path, int n,
		     struct race_report *reps)
{
	memset(race, 0, sizeof(*race));
	snprintf(race->path, sizeof(race->path), "%s", path);
	race->n = n;
	gate_open(&race->ready);
	gate_open(&race->go);
	gate_open(&race->report);
	gate_open(&race->done);
	for (int i = 0; i < n; i++)
		race->pids[i] = kid_start(racer_main, race);
	for (int i = 0; i < n; i++)
		if (!gate_wait_ms(&race->ready, DEADLINE_MS))
			fail_msg("racer %d did not start", i);
	close(race->go.fd[1]);
	race->go.fd[1] = -1;
	for (int i = 0; i < n; i++)
		if (!get(race->report.fd[0], &reps[i], sizeof(reps[i]), DEADLINE_MS))
			fail_msg("only %d of %d racers reported", i, n);
}

static void race_finish(struct race *race)
{
	for (int i = 0; i < race->n; i++)
		gate_pass(&race->done);
	for (int i = 0; i < race->n; i++)
		assert_int_equal(kid_reap(race->pids[i], DEADLINE_MS), 0);
	gate_close(&race->ready);
	gate_close(&race->go);
	gate_close(&race->report);
	gate_close(&race->done);
}

/* Exactly one report says 0, all others -EWOULDBLOCK: the winner's index. */
static int race_single_winner(const struct race_report *reps, int n)
{
	int winner = -1;

	for (int i = 0; i < n; i++) {
		if (reps[i].r == 0) {
			if (winner >= 0)
				fail_msg("two winners: %d and %d", reps[winner].pid,
					 reps[i].pid);
			winner = i;
		} else if (reps[i].r != -EWOULDBLOCK) {
			fail_msg("racer %d got %d (%s), expected -EWOULDBLOCK",
				 reps[i].pid, reps[i].r, pidlock_strerror(reps[i].r));
		}
	}
	if (winner < 0)
		fail_msg("no racer got the lock");
	return winner;
}

static void racing_creators_one_wins(void **state)
{
	static struct race race;
	struct race_report reps[16];
	const char *path = test_path("t2.lock");
	int w;

	(void)state;
	/* A lost race is timing-dependent: run a few rounds. */
	for (int round = 0; round < RACE_ROUNDS; round++) {
		race_run(&race, path, 16, reps);
		w = race_single_winner(reps, 16);
		assert_int_equal(reps[w].recovered, 0);
		/* While the winner holds: the file is its record. */
		assert_int_equal(file_line1_pid(path), reps[w].pid);
		assert_no_temp_files();
		race_finish(&race);
		assert_true(released(path));
		assert_no_temp_files();
	}
}

/* --- 3. a killed holder ------------------------------------------------------------ */

static void killed_holder_recovered(void **state)
{
	const char *path = test_path("t3.lock");
	const struct pidlock_info *info;
	struct pidlock *lock;
	pid_t dead;

	(void)state;
	dead = make_stale(path);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	info = pidlock_holder(lock);
	assert_int_equal(info->state, PIDLOCK_STATE_STALE);
	assert_true(info->has_record);
	assert_int_equal(info->record.pid, dead);
	assert_int_equal(file_line1_pid(path), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(path));
	pidlock_free(lock);
}

/* --- 4. concurrent breakers --------------------------------------------------------- */

static void concurrent_breakers_one_wins(void **state)
{
	static struct race race;
	struct race_report reps[8];
	const char *path = test_path("t4.lock");
	struct stat st;
	int w;

	(void)state;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		make_stale(path);
		race_run(&race, path, 8, reps);
		w = race_single_winner(reps, 8);
		assert_int_equal(reps[w].recovered, 1);
		/* The path names the winner's inode, and the file is its
		 * record. */
		assert_int_equal(file_line1_pid(path), reps[w].pid);
		assert_int_equal(lstat(path, &st), 0);
		assert_true((uint64_t)st.st_dev == reps[w].dev);
		assert_true((uint64_t)st.st_ino == reps[w].ino);
		assert_int_equal(st.st_nlink, 1);
		assert_no_temp_files();
		race_finish(&race);
		assert_true(released(path));
		assert_no_temp_files();
	}
}

/* --- 5. a waiter sleeps in the kernel -------------------------------------------------- */

struct kernel_wait {
	dev_t dev;
	ino_t ino;
	pid_t pid;
};

static bool waits_in_flock(void *arg)
{
	struct kernel_wait *k = arg;

	return proc_locks_has(k->dev, k->ino, true, k->pid) &&
	       pid_state(k->pid) == 'S';
}

/*
 * Takes path's lock while the waiter w (forked before: a child forked
 * while we hold the lock would share our locked descriptor and wait on
 * itself) asks for it; returns once w sleeps in flock(2) on it.
 */
static struct pidlock *hold_until_waiting_flags(struct waiter *w,
						const char *path, unsigned flags)
{
	struct kernel_wait k;
	struct pidlock *lock;
	struct stat st;

	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, flags, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(lstat(path, &st), 0);
	waiter_go(w);
	k = (struct kernel_wait){ st.st_dev, st.st_ino, w->pid };
	if (!wait_for(waits_in_flock, &k, DEADLINE_MS))
		fail_msg("child %d never waited in flock(2) on %s (state %c)",
			 (int)w->pid, path, pid_state(w->pid));
	return lock;
}

static struct pidlock *hold_until_waiting(struct waiter *w, const char *path)
{
	return hold_until_waiting_flags(w, path, 0);
}

static void waiter_sleeps_in_kernel(void **state)
{
	const char *path = test_path("t5.lock");
	struct wait_report rep;
	struct pidlock *lock;
	struct waiter w;

	(void)state;
	waiter_start(&w, path, 0, PIDLOCK_WAIT_FOREVER);
	lock = hold_until_waiting(&w, path);
	assert_int_equal(pid_state(w.pid), 'S');
	assert_false(readable(w.report.fd[0])); /* still waiting */

	assert_int_equal(pidlock_release(lock), 0);
	waiter_result(&w, &rep, DEADLINE_MS);
	assert_int_equal(rep.r, 0);
	assert_true(rep.fd >= 0);
	assert_true(released(path)); /* the child released it too */
	pidlock_free(lock);
}

/*
 * From the kernel's wake-up to holding the lock, a waiter does only what
 * it must, since every call there is handoff latency.  By default (the
 * file is kept, pidlock(5)): one look at the name, one read of the
 * content (emptied by the release), the open of the record's writer (the
 * lock is held through a read-only descriptor), the record written over
 * it -- no cut, since nothing was there.  With PIDLOCK_UNLINK: the look at the name (the
 * holder unlinked it), the record written into the inode readied before
 * sleeping, and the link that publishes it.  (Not wrapped, so not seen
 * here: the close of the old descriptor.)
 */
static void wake_path(const char *name, unsigned flags, const uint8_t *want,
		      size_t nwant)
{
	const char *path = test_path(name);
	struct wait_report rep;
	struct pidlock *lock;
	struct waiter w;
	int last_flock = -1;

	trace_waiters = true;
	waiter_start(&w, path, flags, PIDLOCK_WAIT_FOREVER);
	trace_waiters = false;
	lock = hold_until_waiting_flags(&w, path, flags);
	assert_int_equal(pidlock_release(lock), 0);
	waiter_result(&w, &rep, DEADLINE_MS);
	pidlock_free(lock);
	assert_int_equal(rep.r, 0);
	for (int i = 0; i < rep.ncalls; i++)
		if (rep.calls[i] == MOCK_FLOCK)
			last_flock = i; /* the blocking wait */
	assert_true(last_flock >= 0);
	for (int i = last_flock + 1; i < rep.ncalls; i++)
		print_message("after the wake: %s\n", mock_fn_name(rep.calls[i]));
	assert_int_equal(rep.ncalls - last_flock - 1, (int)nwant);
	assert_memory_equal(rep.calls + last_flock + 1, want, nwant);
}

static void waiter_wake_path_is_short(void **state)
{
	static const uint8_t want[] = { MOCK_FSTATAT, MOCK_PREAD, MOCK_OPENAT,
					MOCK_PWRITE };
	static const uint8_t want_unlink[] = { MOCK_FSTATAT, MOCK_PWRITE, MOCK_LINKAT };

	(void)state;
	wake_path("t5w.lock", 0, want, sizeof(want));
	wake_path("t5u.lock", PIDLOCK_UNLINK, want_unlink, sizeof(want_unlink));
}

/* --- 6. timeout -------------------------------------------------------------------- */

static void timeout_gives_up_cleanly(void **state)
{
	const char *path = test_path("t6.lock");
	struct wait_report rep;
	struct pidlock *lock;
	struct waiter w;
	int64_t elapsed;

	(void)state;
	waiter_start(&w, path, 0, 300); /* forked before we hold the lock */
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	waiter_go(&w);
	waiter_result(&w, &rep, DEADLINE_MS);
	elapsed = rep.t1 - rep.t0;
	print_message("timeout 300 ms: returned after %lld ms\n", (long long)elapsed);
	assert_int_equal(rep.r, -ETIMEDOUT);
	assert_true(elapsed >= 300);
	assert_true(elapsed < 300 + 150);
	assert_int_equal(rep.fd, -1);
	assert_int_equal(rep.fds_after, rep.fds_before);
	assert_int_equal(rep.holder_pid, getpid());
	assert_int_equal(rep.holder_state, PIDLOCK_STATE_LIVE);

	/* Still ours. */
	assert_int_equal(file_line1_pid(path), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(path));
	pidlock_free(lock);
}

/* --- 7. not inherited across exec ---------------------------------------------------- */

struct probe {
	pid_t pid;
	int in_w, out_r;
};

/* sh reports whether descriptor n is open in it, then waits for EOF. */
static void probe_start(struct probe *p, int n)
{
	char script[160];
	int in[2], out[2];

	snprintf(script, sizeof(script),
		 "test -e /proc/self/fd/%d; s=$?; echo $s; read x; exit $s", n);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	kid_track(p->pid);
	close(in[0]);
	close(out[1]);
	p->in_w = in[1];
	p->out_r = out[0];
}

static int probe_answer(struct probe *p)
{
	char line[16] = "";
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		if (!get(p->out_r, &line[n], 1, DEADLINE_MS))
			fail_msg("sh %d did not answer", (int)p->pid);
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	return atoi(line);
}

static int probe_finish(struct probe *p)
{
	close(p->in_w);
	close(p->out_r);
	return kid_reap(p->pid, DEADLINE_MS);
}

static void fd_not_inherited_across_exec(void **state)
{
	const char *path = test_path("t7.lock");
	struct pidlock *lock;
	struct holder h;
	struct probe p;
	struct stat st;
	int fd, dup_fd;

	(void)state;
	assert_int_equal(pidlock_new(&lock, path), 0);
	/* Kept: the inode outlives the release, so a leaked descriptor
	 * would still hold its lock. */
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_KEEP, PIDLOCK_NO_WAIT), 0);
	fd = pidlock_fd(lock);
	assert_int_equal(lstat(path, &st), 0);

	/* The probe itself sees an inherited descriptor. */
	dup_fd = fcntl(fd, F_DUPFD, 10);
	assert_true(dup_fd >= 0);
	probe_start(&p, dup_fd);
	assert_int_equal(probe_answer(&p), 0);
	assert_int_equal(probe_finish(&p), 0);
	close(dup_fd);

	/* The lock's own descriptor is closed on exec. */
	probe_start(&p, fd);
	assert_int_equal(probe_answer(&p), 1);
	/* While that program still runs, the release frees the lock. */
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(exists(path));
	assert_false(any_lock_on(st.st_dev, st.st_ino));
	holder_start(&h, path, 0);
	holder_stop(&h);
	assert_int_equal(probe_finish(&p), 1);

	pidlock_free(lock);
	assert_int_equal(unlink(path), 0);
}

/* --- 8. threads ---------------------------------------------------------------------- */

struct thread_b {
	char path[PATH_MAX];
	atomic_int a_released;
	atomic_int tid;
	int saw_release, r;
	struct gate started;
};

static void *thread_b_main(void *arg)
{
	struct thread_b *b = arg;
	struct pidlock *lock = NULL;
	int r;

	atomic_store(&b->tid, gettid());
	gate_pass(&b->started);
	r = pidlock_new(&lock, b->path);
	if (r == 0)
		r = pidlock_acquire(lock, 0, PIDLOCK_WAIT_FOREVER);
	b->saw_release = atomic_load(&b->a_released);
	b->r = r;
	if (r == 0 && pidlock_release(lock) != 0)
		b->r = -1000;
	pidlock_free(lock);
	return NULL;
}

struct thread_wait {
	dev_t dev;
	ino_t ino;
	pid_t tid;
};

static bool thread_waits(void *arg)
{
	struct thread_wait *t = arg;

	/* flock(2) entries carry the process id, not the thread's. */
	return proc_locks_has(t->dev, t->ino, true, getpid()) &&
	       tid_state(t->tid) == 'S';
}

static void threads_exclude_each_other(void **state)
{
	static struct thread_b b;
	const char *path = test_path("t8.lock");
	struct thread_wait tw;
	struct pidlock *lock;
	struct timespec until;
	pthread_t thread;
	struct stat st;
	int r;

	(void)state;
	memset(&b, 0, sizeof(b));
	snprintf(b.path, sizeof(b.path), "%s", path);
	gate_open(&b.started);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(lstat(path, &st), 0);

	assert_int_equal(pthread_create(&thread, NULL, thread_b_main, &b), 0);
	assert_true(gate_wait_ms(&b.started, DEADLINE_MS));
	tw = (struct thread_wait){ st.st_dev, st.st_ino, atomic_load(&b.tid) };
	if (!wait_for(thread_waits, &tw, DEADLINE_MS))
		fail_msg("thread B never waited in flock(2)");

	atomic_store(&b.a_released, 1);
	assert_int_equal(pidlock_release(lock), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEADLINE_MS / 1000;
	r = pthread_timedjoin_np(thread, NULL, &until);
	if (r != 0)
		fail_msg("thread B did not get the lock after A released it");
	assert_int_equal(b.r, 0);
	assert_int_equal(b.saw_release, 1);
	assert_true(released(path));
	gate_close(&b.started);
	pidlock_free(lock);
}

/* --- 9. the same thread twice ---------------------------------------------------------- */

struct twice {
	char path[PATH_MAX];
	struct gate report;
};

struct twice_report {
	int32_t first, no_wait, forever, timed;
	int64_t ms_no_wait, ms_forever, ms_timed;
};

static int twice_main(void *arg)
{
	struct twice *t = arg;
	struct twice_report rep;
	struct pidlock *a = NULL, *b = NULL;
	int64_t t0;

	alarm(5); /* a hang is a failure, not a stuck test run */
	memset(&rep, 0, sizeof(rep));
	rep.first = rep.no_wait = rep.forever = rep.timed = 1;
	if (pidlock_new(&a, t->path) == 0 && pidlock_new(&b, t->path) == 0) {
		rep.first = pidlock_acquire(a, 0, PIDLOCK_NO_WAIT);
		t0 = now_ms();
		rep.no_wait = pidlock_acquire(b, 0, PIDLOCK_NO_WAIT);
		rep.ms_no_wait = now_ms() - t0;
		t0 = now_ms();
		rep.forever = pidlock_acquire(b, 0, PIDLOCK_WAIT_FOREVER);
		rep.ms_forever = now_ms() - t0;
		t0 = now_ms();
		rep.timed = pidlock_acquire(b, 0, 2000);
		rep.ms_timed = now_ms() - t0;
	}
	put(t->report.fd[1], &rep, sizeof(rep));
	pidlock_free(b);
	pidlock_free(a);
	return 0;
}

static void same_thread_twice_edeadlk(void **state)
{
	static struct twice t;
	struct twice_report rep;
	pid_t pid;

	(void)state;
	snprintf(t.path, sizeof(t.path), "%s", test_path("t9.lock"));
	gate_open(&t.report);
	pid = kid_start(twice_main, &t);
	if (!get(t.report.fd[0], &rep, sizeof(rep), DEADLINE_MS + 2000))
		fail_msg("the child hung asking twice for its own lock");
	assert_int_equal(kid_reap(pid, DEADLINE_MS), 0);
	gate_close(&t.report);
	assert_int_equal(rep.first, 0);
	assert_int_equal(rep.no_wait, -EDEADLK);
	assert_int_equal(rep.forever, -EDEADLK);
	assert_int_equal(rep.timed, -EDEADLK);
	/* At once: no waiting for a timeout. */
	assert_true(rep.ms_no_wait < 500);
	assert_true(rep.ms_forever < 500);
	assert_true(rep.ms_timed < 500);
	assert_true(released(t.path));
}

/* --- 10. update ------------------------------------------------------------------------ */

static int sleeper_main(void *arg)
{
	gate_wait(arg);
	return 0;
}

static void update_names_child_in_place(void **state)
{
	const char *path = test_path("t10.lock");
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	struct pidlock_info info;
	struct stat before, after, named;
	const char *why = NULL;
	struct pidlock *lock;
	struct gate g;
	pid_t kid;
	ssize_t n;

	(void)state;
	gate_open(&g);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(fstat(pidlock_fd(lock), &before), 0);
	/* The child inherits the locked descriptor (plain fork). */
	kid = kid_start(sleeper_main, &g);

	assert_int_equal(pidlock_update(lock, kid), 0);
	assert_int_equal(fstat(pidlock_fd(lock), &after), 0);
	assert_true(before.st_dev == after.st_dev && before.st_ino == after.st_ino);
	assert_int_equal(lstat(path, &named), 0);
	assert_true(named.st_ino == before.st_ino);

	n = read_file(path, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(line1_pid(buf), kid);
	if (pidlock_record_parse(buf, (size_t)n, &rec, &why) != 0)
		fail_msg("updated record does not parse: %s", why ? why : "?");
	assert_int_equal(rec.pid, kid);
	assert_int_equal(rec.holder, getpid());
	assert_int_equal((off_t)n, after.st_size);

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_true(info.has_record);
	assert_int_equal(info.record.pid, kid);
	assert_int_equal(info.pid, kid);

	gate_pass(&g);
	assert_int_equal(kid_reap(kid, DEADLINE_MS), 0);
	gate_close(&g);
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(path));
	pidlock_free(lock);
}

/*
 * Naming ourselves again takes the lock back: release then trusts the
 * caller and removes the file at once, although the child still shares
 * the descriptor (a real caller vouches that none does; here we know one
 * does, which shows that release did not search for heirs).
 */
static void update_self_takes_back(void **state)
{
	const char *path = test_path("t10b.lock");
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock *lock;
	struct gate g1, g2;
	pid_t kid, heir;

	(void)state;
	gate_open(&g1);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	kid = kid_start(sleeper_main, &g1);
	assert_int_equal(pidlock_update(lock, kid), 0);
	assert_int_equal(pidlock_update(lock, getpid()), 0);
	assert_true(read_file(path, buf, sizeof(buf)) > 0);
	assert_int_equal(line1_pid(buf), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(path));
	gate_pass(&g1);
	assert_int_equal(kid_reap(kid, DEADLINE_MS), 0);
	gate_close(&g1);

	/* Without taking it back, the living heir keeps the file. */
	gate_open(&g2);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	heir = kid_start(sleeper_main, &g2);
	assert_int_equal(pidlock_update(lock, heir), 0);
	assert_int_equal(pidlock_release(lock), -EWOULDBLOCK);
	assert_true(exists(path));
	gate_pass(&g2);
	assert_int_equal(kid_reap(heir, DEADLINE_MS), 0);
	gate_close(&g2);
	assert_int_equal(unlink(path), 0);
	pidlock_free(lock);
}

/* Another program's file, locked in place: update must not write into it. */
static void update_refused_without_record(void **state)
{
	const char *path = test_path("t10c.lock");
	char buf[64];
	struct pidlock *lock;

	(void)state;
	write_file(path, "hello\n", 6);
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_update(lock, getppid()), -EINVAL);
	assert_int_equal(pidlock_update(lock, 0), -EINVAL);
	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(read_file(path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "hello\n", 6);
	pidlock_free(lock);
}

/* --- 11. keep mode ------------------------------------------------------------------------ */

static void keep_mode_existing_files(void **state)
{
	const char *empty = test_path("t11-empty.lock");
	const char *other = test_path("t11-hello.lock");
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	const char *why = NULL;
	struct pidlock *lock;
	struct stat st, fst;
	ssize_t n;

	(void)state;
	/* An empty file: locked in place, the record written while held. */
	write_file(empty, "", 0);
	assert_int_equal(lstat(empty, &st), 0);
	assert_int_equal(pidlock_new(&lock, empty), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(fstat(pidlock_fd(lock), &fst), 0);
	assert_true(fst.st_ino == st.st_ino);
	n = read_file(empty, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(line1_pid(buf), getpid());
	if (pidlock_record_parse(buf, (size_t)n, &rec, &why) != 0)
		fail_msg("record does not parse: %s", why ? why : "?");
	assert_int_equal(rec.keep, 1);
	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(lstat(empty, &fst), 0);
	assert_true(fst.st_ino == st.st_ino);
	assert_int_equal(fst.st_size, 0);
	pidlock_free(lock);

	/* A PID-less file: locked in place, never written. */
	write_file(other, "hello\n", 6);
	assert_int_equal(lstat(other, &st), 0);
	assert_int_equal(pidlock_new(&lock, other), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(fstat(pidlock_fd(lock), &fst), 0);
	assert_true(fst.st_ino == st.st_ino);
	assert_true(proc_locks_has(st.st_dev, st.st_ino, false, getpid()));
	assert_int_equal(read_file(other, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(lstat(other, &fst), 0);
	assert_true(fst.st_ino == st.st_ino);
	assert_int_equal(read_file(other, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	assert_false(any_lock_on(st.st_dev, st.st_ino));
	pidlock_free(lock);

	assert_int_equal(unlink(empty), 0);
	assert_int_equal(unlink(other), 0);
}

/* --- 12. plain pidfiles --------------------------------------------------------------------- */

static bool waits_on_pidfd(void *arg)
{
	pid_t pid = *(pid_t *)arg;

	return has_pidfd(pid) && pid_state(pid) == 'S';
}

static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

static void foreign_pidfile(void **state)
{
	const char *path = test_path("t12.lock");
	const char *deadpath = test_path("t12-dead.lock");
	const struct pidlock_info *info;
	struct wait_report rep;
	struct pidlock *lock;
	struct waiter w;
	struct gate g;
	char text[32];
	pid_t foreign, dead;
	int64_t killed;

	(void)state;
	/* The foreign process starts before its pidfile is written. */
	gate_open(&g);
	foreign = kid_start(sleeper_main, &g);
	snprintf(text, sizeof(text), "%d\n", (int)foreign);
	write_file(path, text, strlen(text));

	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), -EWOULDBLOCK);
	info = pidlock_holder(lock);
	assert_int_equal(info->state, PIDLOCK_STATE_FOREIGN);
	assert_int_equal(info->pid, foreign);
	assert_int_equal(pidlock_fd(lock), -1);

	/* A waiter waits for the foreign process to die. */
	waiter_start(&w, path, 0, 5000);
	waiter_go(&w);
	if (!wait_for(waits_on_pidfd, &w.pid, DEADLINE_MS))
		fail_msg("waiter %d never waited on a pidfd", (int)w.pid);
	assert_false(readable(w.report.fd[0]));
	killed = now_ms();
	assert_int_equal(signal_kid(foreign, SIGKILL), 0);
	waiter_result(&w, &rep, DEADLINE_MS + 1000);
	print_message("foreign pidfile: waiter returned %lld ms after the kill\n",
		      (long long)(rep.t1 - killed));
	assert_int_equal(rep.r, 0);
	assert_int_equal(rep.recovered, 1);
	assert_true(rep.t1 - killed < 1000);
	assert_true(rep.t1 - rep.t0 < 4000);
	assert_int_equal(kid_reap(foreign, DEADLINE_MS), 128 + SIGKILL);
	gate_close(&g);
	assert_true(released(path)); /* the waiter broke it and released */
	pidlock_free(lock);

	/* A pidfile naming a dead process is stale. */
	dead = kid_start(exit_at_once, NULL);
	assert_int_equal(kid_reap(dead, DEADLINE_MS), 0);
	snprintf(text, sizeof(text), "%d\n", (int)dead);
	write_file(deadpath, text, strlen(text));
	assert_int_equal(pidlock_new(&lock, deadpath), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	info = pidlock_holder(lock);
	assert_int_equal(info->state, PIDLOCK_STATE_STALE);
	assert_int_equal(info->pid, dead);
	assert_int_equal(file_line1_pid(deadpath), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(deadpath));
	pidlock_free(lock);
}

/* --- 13. shared --------------------------------------------------------------------------------- */

static void shared_holders(void **state)
{
	const char *path = test_path("t13.lock");
	struct pidlock *a, *b;
	struct wait_report rep;
	struct waiter w;
	struct stat st;

	(void)state;
	waiter_start(&w, path, 0, PIDLOCK_NO_WAIT); /* inherits no lock */
	assert_int_equal(pidlock_new(&a, path), 0);
	assert_int_equal(pidlock_new(&b, path), 0);
	assert_int_equal(pidlock_acquire(a, PIDLOCK_SHARED, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_acquire(b, PIDLOCK_SHARED, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 0);

	waiter_go(&w);
	waiter_result(&w, &rep, DEADLINE_MS);
	assert_int_equal(rep.r, -EWOULDBLOCK);
	assert_true(rep.nholders >= 1);
	for (int i = 0; i < 2 && i < rep.nholders; i++) {
		assert_int_equal(rep.hexcl[i], 0);
		assert_int_equal(rep.hwait[i], 0);
		assert_int_equal(rep.hpid[i], getpid());
		assert_int_equal(rep.huid[i], (int32_t)geteuid());
	}

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(pidlock_release(a), 0);
	assert_true(exists(path));
	assert_int_equal(pidlock_release(b), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	pidlock_free(a);
	pidlock_free(b);
	assert_int_equal(unlink(path), 0);
}

/* --- 14. critical section ------------------------------------------------------------------------ */

struct cs_arg {
	const char *path;
	int calls, state;
	pid_t pid;
};

static int cs_fn(void *arg)
{
	struct cs_arg *a = arg;
	struct pidlock_info info;

	a->calls++;
	if (pidlock_inspect(a->path, NULL, &info) == 0) {
		a->state = info.state;
		a->pid = info.record.pid;
	}
	return 42;
}

static void critical_section_runs_under_lock(void **state)
{
	char path[PATH_MAX];
	struct cs_arg a = { .path = path, .state = -1 };
	struct holder h;
	int result = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s", test_path("t14.lock"));
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, cs_fn,
						  &a, &result), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(result, 42);
	assert_int_equal(a.state, PIDLOCK_STATE_LIVE);
	assert_int_equal(a.pid, getpid());
	assert_true(released(path));

	holder_start(&h, path, 0);
	a.calls = 0;
	result = -1;
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, cs_fn,
						  &a, &result), -EWOULDBLOCK);
	assert_int_equal(a.calls, 0);
	assert_int_equal(result, -1);
	holder_stop(&h);
	assert_true(released(path));
}

/* --- 15. names ------------------------------------------------------------------------------------ */

static void names_resolve_and_validate(void **state)
{
	static const char *const bad[] = { "", "a/b", ".", ".." };
	char buf[PATH_MAX], want[PATH_MAX + 16], name[PIDLOCK_NAME_MAX + 2];
	struct pidlock *lock;

	(void)state;
	assert_string_equal(getenv("PIDLOCK_DIR"), test_dir);
	assert_int_equal(pidlock_name_path("job", buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/job.lock", test_dir);
	assert_string_equal(buf, want);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lock = NULL;
		if (pidlock_new_name(&lock, bad[i]) != -EINVAL)
			fail_msg("name \"%s\" not rejected with -EINVAL", bad[i]);
		assert_null(lock);
	}
	memset(name, 'n', PIDLOCK_NAME_MAX + 1);
	name[PIDLOCK_NAME_MAX + 1] = '\0';
	assert_int_equal(strlen(name), 251);
	lock = NULL;
	assert_int_equal(pidlock_new_name(&lock, name), -EINVAL);
	assert_null(lock);
	assert_int_equal(pidlock_name_path(name, buf, sizeof(buf)), -EINVAL);

	name[PIDLOCK_NAME_MAX] = '\0';
	assert_int_equal(strlen(name), 250);
	assert_int_equal(pidlock_name_path(name, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/%s.lock", test_dir, name);
	assert_string_equal(buf, want);
	/* A 255-byte file name works end to end. */
	assert_int_equal(pidlock_new_name(&lock, name), 0);
	assert_string_equal(pidlock_path(lock), want);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_true(exists(want));
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(want));
	pidlock_free(lock);
}

/* --- 19. bad paths ------------------------------------------------------------------------------------ */

struct bad_path {
	char path[PATH_MAX + 300];
	struct gate report;
};

/* In a child: a crash in pidlock_new() must not take the suite down. */
static int bad_path_main(void *arg)
{
	struct bad_path *b = arg;
	struct pidlock *lock = NULL;
	int r = pidlock_new(&lock, b->path);

	put(b->report.fd[1], &r, sizeof(r));
	pidlock_free(lock);
	return 0;
}

static void new_rejects_bad_paths(void **state)
{
	static struct bad_path b;
	char longname[NAME_MAX + 2];
	struct {
		const char *what;
		char path[PATH_MAX + 300];
		int err;
	} cases[5];
	int r;

	(void)state;
	memset(longname, 'n', NAME_MAX + 1);
	longname[NAME_MAX + 1] = '\0';
	cases[0].what = "\"\"";
	cases[0].path[0] = '\0';
	cases[0].err = -ENOENT;
	cases[1].what = "dir/";
	snprintf(cases[1].path, sizeof(cases[1].path), "%s/", test_dir);
	cases[1].err = -EISDIR;
	cases[2].what = "dir/.";
	snprintf(cases[2].path, sizeof(cases[2].path), "%s/.", test_dir);
	cases[2].err = -EISDIR;
	cases[3].what = "dir/..";
	snprintf(cases[3].path, sizeof(cases[3].path), "%s/..", test_dir);
	cases[3].err = -EISDIR;
	cases[4].what = "dir/<256 bytes>";
	snprintf(cases[4].path, sizeof(cases[4].path), "%s/%s", test_dir, longname);
	cases[4].err = -ENAMETOOLONG;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid;
		int status;
		snprintf(b.path, sizeof(b.path), "%s", cases[i].path);
		gate_open(&b.report);
		pid = kid_start(bad_path_main, &b);
		r = 1;
		if (!get(b.report.fd[0], &r, sizeof(r), DEADLINE_MS))
			r = 1;
		status = kid_reap(pid, DEADLINE_MS);
		gate_close(&b.report);
		if (r == 1 || status != 0)
			fail_msg("pidlock_new(%s) crashed the process (status %d)",
				 cases[i].what, status);
		if (r != cases[i].err)
			fail_msg("pidlock_new(%s) = %d, expected %d", cases[i].what,
				 r, cases[i].err);
	}
}

/* --- 16. inspection never disturbs -------------------------------------------------------------------- */

#define CHURN_ROUNDS 3000

struct churn {
	char path[PATH_MAX];
	struct gate ready, go, report;
};

struct churn_report {
	int32_t rounds, failures, first_error, pad;
};

static int churn_main(void *arg)
{
	struct churn *c = arg;
	struct churn_report rep = { 0, 0, 0, 0 };
	struct pidlock *lock = NULL;
	int r = pidlock_new(&lock, c->path);

	gate_pass(&c->ready);
	gate_wait(&c->go);
	for (int i = 0; r == 0 && i < CHURN_ROUNDS; i++) {
		int e = pidlock_acquire(lock, PIDLOCK_KEEP, PIDLOCK_NO_WAIT);
		if (e == 0)
			e = pidlock_release(lock);
		if (e != 0 && rep.failures++ == 0)
			rep.first_error = e;
		rep.rounds++;
	}
	if (r != 0)
		rep.first_error = r;
	put(c->report.fd[1], &rep, sizeof(rep));
	pidlock_free(lock);
	return 0;
}

static void inspection_never_disturbs(void **state)
{
	static struct churn c;
	const char *held = test_path("t16-held.lock");
	struct pidlock_info info;
	struct churn_report rep;
	long inspections = 0;
	int64_t end;
	struct holder h;
	struct stat st;
	pid_t pid;

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.path, sizeof(c.path), "%s", test_path("t16.lock"));
	write_file(c.path, "", 0);
	gate_open(&c.ready);
	gate_open(&c.go);
	gate_open(&c.report);
	pid = kid_start(churn_main, &c);
	assert_true(gate_wait_ms(&c.ready, DEADLINE_MS));
	assert_int_equal(pidlock_inspect(c.path, NULL, &info), 0);
	gate_pass(&c.go);
	end = now_ms() + 60000;
	while (!readable(c.report.fd[0])) {
		if (now_ms() > end)
			fail_msg("the child did not finish %d rounds in 60 s",
				 CHURN_ROUNDS);
		assert_int_equal(pidlock_inspect(c.path, NULL, &info), 0);
		inspections++;
	}
	assert_true(get(c.report.fd[0], &rep, sizeof(rep), DEADLINE_MS));
	assert_int_equal(kid_reap(pid, DEADLINE_MS), 0);
	print_message("%d acquire/release rounds, %ld inspections meanwhile, "
		      "%d failures\n", rep.rounds, inspections, rep.failures);
	if (rep.failures)
		fail_msg("%d of %d acquisitions failed while inspected, first: "
			 "%d (%s)", rep.failures, rep.rounds, rep.first_error,
			 pidlock_strerror(rep.first_error));
	assert_int_equal(rep.rounds, CHURN_ROUNDS);
	assert_true(inspections >= 10);
	assert_int_equal(lstat(c.path, &st), 0); /* kept, truncated */
	assert_int_equal(st.st_size, 0);
	gate_close(&c.ready);
	gate_close(&c.go);
	gate_close(&c.report);
	assert_int_equal(unlink(c.path), 0);

	/* A held lock: live, and the kernel names the holder. */
	holder_start(&h, held, 0);
	assert_int_equal(pidlock_inspect(held, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_true(info.nholders >= 1);
	assert_int_equal(info.holders[0].pid, h.pid);
	assert_int_equal(info.holders[0].waiting, 0);
	assert_int_equal(info.holders[0].exclusive, 1);
	assert_int_equal(info.record.pid, h.pid);
	holder_stop(&h);
	assert_true(released(held));
}

/* --- 17. hostile places ------------------------------------------------------------------------------ */

static void assert_unsafe(const char *path)
{
	struct pidlock_info info;

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	if (info.state != PIDLOCK_STATE_UNSAFE)
		fail_msg("%s: inspected as %s, expected unsafe", path,
			 pidlock_state_name(info.state));
	assert_true(info.reason[0] != '\0');
}

/* pidlock_acquire's answer for path (and the handle is freed). */
static int acquire_once(const char *path)
{
	struct pidlock *lock;
	int r;

	assert_int_equal(pidlock_new(&lock, path), 0);
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	if (r == 0)
		assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	return r;
}

static void assert_content(const char *path, const char *text)
{
	char buf[256];

	assert_int_equal(read_file(path, buf, sizeof(buf)), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

struct fifo_probe {
	char path[PATH_MAX];
	struct gate report;
};

struct fifo_report {
	int32_t acquire, inspect, state, has_reason;
};

static int fifo_main(void *arg)
{
	struct fifo_probe *f = arg;
	struct fifo_report rep = { 1, 1, -1, 0 };
	struct pidlock_info info;
	struct pidlock *lock = NULL;

	alarm(5); /* opening the FIFO would hang: that must fail the test */
	if (pidlock_new(&lock, f->path) == 0)
		rep.acquire = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	pidlock_free(lock);
	rep.inspect = pidlock_inspect(f->path, NULL, &info);
	if (rep.inspect == 0) {
		rep.state = info.state;
		rep.has_reason = info.reason[0] != '\0';
	}
	put(f->report.fd[1], &rep, sizeof(rep));
	return 0;
}

/*
 * A writer blocked opening the FIFO: its open returns as soon as anyone
 * opens the FIFO for reading, and it reports when that was.
 */
struct fifo_writer {
	char path[PATH_MAX];
	struct gate report;
};

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int fifo_writer_main(void *arg)
{
	struct fifo_writer *fw = arg;
	int64_t opened;
	int fd;

	alarm(10);
	fd = open(fw->path, O_WRONLY | O_CLOEXEC);
	opened = now_ns();
	put(fw->report.fd[1], &opened, sizeof(opened));
	if (fd >= 0)
		close(fd);
	return 0;
}

static bool sleeps(void *arg)
{
	return pid_state(*(pid_t *)arg) == 'S';
}

static void hostile_places_refused(void **state)
{
	static struct fifo_probe f;
	static struct fifo_writer fw;
	int64_t before_open, writer_opened;
	pid_t writer;
	int fifo_fd;
	const char *target = test_path("t17-target");
	const char *sym = test_path("t17-sym.lock");
	const char *dir = test_path("t17-dir.lock");
	const char *hard = test_path("t17-hard.lock");
	const char *hard2 = test_path("t17-hard-other");
	const char *ww = test_path("t17-ww.lock");
	const char *open_dir = test_path("t17-open");
	char inside[PATH_MAX + 32], inside2[PATH_MAX + 32];
	struct fifo_report rep;
	struct stat st, st2;
	pid_t pid;

	(void)state;
	/* A symlink, never followed. */
	write_file(target, "precious\n", 9);
	assert_int_equal(lstat(target, &st), 0);
	assert_int_equal(symlink(target, sym), 0);
	assert_int_equal(acquire_once(sym), -PIDLOCK_ESYMLINK);
	assert_content(target, "precious\n");
	assert_int_equal(lstat(target, &st2), 0);
	assert_true(st2.st_ino == st.st_ino);
	assert_int_equal(lstat(sym, &st2), 0);
	assert_true(S_ISLNK(st2.st_mode));
	assert_unsafe(sym);

	/* A FIFO, never opened. */
	snprintf(f.path, sizeof(f.path), "%s", test_path("t17-fifo.lock"));
	assert_int_equal(mkfifo(f.path, 0644), 0);
	snprintf(fw.path, sizeof(fw.path), "%s", f.path);
	gate_open(&fw.report);
	writer = kid_start(fifo_writer_main, &fw);
	if (!wait_for(sleeps, &writer, DEADLINE_MS))
		fail_msg("FIFO writer %d never blocked in open", (int)writer);
	gate_open(&f.report);
	pid = kid_start(fifo_main, &f);
	if (!get(f.report.fd[0], &rep, sizeof(rep), DEADLINE_MS + 2000))
		fail_msg("acquire or inspect of a FIFO hung");
	assert_int_equal(kid_reap(pid, DEADLINE_MS), 0);
	gate_close(&f.report);
	/* Only our own open now lets the writer through. */
	before_open = now_ns();
	fifo_fd = open(f.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fifo_fd >= 0);
	if (!get(fw.report.fd[0], &writer_opened, sizeof(writer_opened),
		 DEADLINE_MS))
		fail_msg("FIFO writer %d did not report", (int)writer);
	close(fifo_fd);
	assert_int_equal(kid_reap(writer, DEADLINE_MS), 0);
	gate_close(&fw.report);
	if (writer_opened < before_open)
		fail_msg("the FIFO was opened by acquire or inspect (%lld ns "
			 "before our own open)",
			 (long long)(before_open - writer_opened));
	assert_int_equal(rep.acquire, -PIDLOCK_ENOTREG);
	assert_int_equal(rep.inspect, 0);
	assert_int_equal(rep.state, PIDLOCK_STATE_UNSAFE);
	assert_true(rep.has_reason);

	/* A directory. */
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(acquire_once(dir), -PIDLOCK_EISDIR);
	assert_unsafe(dir);

	/* A file with another hard link. */
	write_file(hard, "hello\n", 6);
	assert_int_equal(link(hard, hard2), 0);
	assert_int_equal(acquire_once(hard), -PIDLOCK_EHARDLINK);
	assert_content(hard, "hello\n");
	assert_content(hard2, "hello\n");
	assert_int_equal(lstat(hard, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	assert_unsafe(hard);

	/* A world-writable file. */
	write_file(ww, "hello\n", 6);
	assert_int_equal(chmod(ww, 0666), 0);
	assert_int_equal(acquire_once(ww), -PIDLOCK_EWRITABLE);
	assert_content(ww, "hello\n");
	assert_unsafe(ww);

	/* A world-writable directory without the sticky bit. */
	assert_int_equal(mkdir(open_dir, 0755), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	snprintf(inside, sizeof(inside), "%s/x.lock", open_dir);
	assert_int_equal(acquire_once(inside), -PIDLOCK_EDIRUNSAFE);
	assert_true(released(inside));
	snprintf(inside2, sizeof(inside2), "%s/y.lock", open_dir);
	write_file(inside2, "1\n", 2);
	assert_unsafe(inside2);

	assert_int_equal(unlink(inside2), 0);
	assert_int_equal(rmdir(open_dir), 0);
	assert_int_equal(unlink(ww), 0);
	assert_int_equal(unlink(hard), 0);
	assert_int_equal(unlink(hard2), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(unlink(f.path), 0);
	assert_int_equal(unlink(sym), 0);
	assert_int_equal(unlink(target), 0);
}

/* --- 18. no descriptor leaks ---------------------------------------------------------------------------- */

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static void no_fd_leaks(void **state)
{
	const char *path = test_path("t18.lock");
	const char *stale = test_path("t18-stale.lock");
	const char *fifo = test_path("t18-fifo.lock");
	struct pidlock_info info;
	struct pidlock *a, *b;
	struct holder h;
	int before, result = 0;

	(void)state;
	assert_int_equal(mkfifo(fifo, 0644), 0);
	make_stale(stale);
	before = count_fds();

	assert_int_equal(pidlock_new(&a, path), 0);
	assert_int_equal(pidlock_new(&b, path), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pidlock_acquire(a, 0, PIDLOCK_NO_WAIT), 0);
		assert_int_equal(pidlock_release(a), 0);
		assert_int_equal(pidlock_acquire(a, PIDLOCK_SHARED, PIDLOCK_NO_WAIT), 0);
		assert_int_equal(pidlock_release(a), 0);
	}
	assert_int_equal(unlink(path), 0); /* the shared lock kept it */

	holder_start(&h, path, 0);
	assert_int_equal(pidlock_acquire(a, 0, PIDLOCK_NO_WAIT), -EWOULDBLOCK);
	assert_int_equal(pidlock_acquire(b, 0, 50), -ETIMEDOUT);
	assert_int_equal(pidlock_acquire(a, PIDLOCK_SHARED, PIDLOCK_NO_WAIT),
			 -EWOULDBLOCK);
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, nothing,
						  NULL, &result), -EWOULDBLOCK);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	holder_stop(&h);

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_FREE); /* kept, emptied */
	assert_int_equal(pidlock_inspect(fifo, NULL, &info), 0);
	assert_int_equal(acquire_once(fifo), -PIDLOCK_ENOTREG);
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, nothing,
						  NULL, &result), 0);

	pidlock_free(b);
	assert_int_equal(pidlock_new(&b, stale), 0);
	assert_int_equal(pidlock_acquire(b, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(b), 1);
	assert_int_equal(pidlock_release(b), 0);
	pidlock_free(b);
	pidlock_free(a);

	assert_int_equal(count_fds(), before);
	assert_int_equal(unlink(fifo), 0);
	assert_true(released(path));
	assert_true(released(stale));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(create_release_record_cloexec, test_cleanup),
		cmocka_unit_test_teardown(racing_creators_one_wins, test_cleanup),
		cmocka_unit_test_teardown(killed_holder_recovered, test_cleanup),
		cmocka_unit_test_teardown(concurrent_breakers_one_wins, test_cleanup),
		cmocka_unit_test_teardown(waiter_sleeps_in_kernel, test_cleanup),
		cmocka_unit_test_teardown(waiter_wake_path_is_short, test_cleanup),
		cmocka_unit_test_teardown(timeout_gives_up_cleanly, test_cleanup),
		cmocka_unit_test_teardown(fd_not_inherited_across_exec, test_cleanup),
		cmocka_unit_test_teardown(threads_exclude_each_other, test_cleanup),
		cmocka_unit_test_teardown(same_thread_twice_edeadlk, test_cleanup),
		cmocka_unit_test_teardown(update_names_child_in_place, test_cleanup),
		cmocka_unit_test_teardown(update_self_takes_back, test_cleanup),
		cmocka_unit_test_teardown(update_refused_without_record, test_cleanup),
		cmocka_unit_test_teardown(keep_mode_existing_files, test_cleanup),
		cmocka_unit_test_teardown(foreign_pidfile, test_cleanup),
		cmocka_unit_test_teardown(shared_holders, test_cleanup),
		cmocka_unit_test_teardown(critical_section_runs_under_lock, test_cleanup),
		cmocka_unit_test_teardown(names_resolve_and_validate, test_cleanup),
		cmocka_unit_test_teardown(inspection_never_disturbs, test_cleanup),
		cmocka_unit_test_teardown(hostile_places_refused, test_cleanup),
		cmocka_unit_test_teardown(no_fd_leaks, test_cleanup),
		cmocka_unit_test_teardown(new_rejects_bad_paths, test_cleanup),
	};

	return cmocka_run_group_tests_name("lock", tests, test_dir_setup,
					   test_dir_teardown);
}
