/* SPDX-License-Identifier: MIT */
/* The process harness of the C suites; see harness.h. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* --- children ------------------------------------------------------------- */

/* Children still running, killed by the per-test cleanup if a test fails. */
#define KIDS_MAX 64
static pid_t kids[KIDS_MAX];
static size_t nkids;

void kid_track(pid_t pid)
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
int sys_kill(pid_t pid, int sig)
{
	return (int)syscall(SYS_kill, pid, sig);
}

/*
 * A forked child must never jump back into its copy of the test runner
 * (which would run the remaining tests again in the child): a cmocka
 * failure in it aborts it, and a crash kills it, which the parent sees as
 * 128+signal.
 */
static void kid_init(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS,
				    SIGABRT, SIGALRM };

	setenv("CMOCKA_TEST_ABORT", "1", 1);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

pid_t kid_fork(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		kid_init();
		_exit(fn(arg));
	}
	return pid;
}

pid_t kid_start(int (*fn)(void *), void *arg)
{
	pid_t pid = kid_fork(fn, arg);

	assert_true(pid > 0);
	kid_track(pid);
	return pid;
}

/*
 * Waits up to ms for pid to exit (sleeping on its pidfd): its exit
 * status, 128+signal when killed, or -1 on timeout (it is then killed).
 */
int kid_reap(pid_t pid, int ms)
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
			sys_kill(pid, SIGKILL);
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

static int pause_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0; /* not reached */
}

pid_t pauser(void)
{
	return kid_start(pause_forever, NULL);
}

void pauser_end(pid_t pid)
{
	sys_kill(pid, SIGKILL);
	kid_reap(pid, DEADLINE_MS);
}

int exit_now(void *arg)
{
	(void)arg;
	return 0;
}

int wait_on_gate(void *gate)
{
	gate_wait(gate);
	return 0;
}

pid_t dead_pid(void)
{
	pid_t pid = kid_start(exit_now, NULL);

	kid_reap(pid, DEADLINE_MS);
	return pid;
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
int test_cleanup(void **state)
{
	(void)state;
	while (nkids) {
		pid_t pid = kids[0];
		sys_kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kid_untrack(pid);
	}
	chmod(test_dir, 0755);
	nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* --- pipes ------------------------------------------------------------------ */

/* Child side: writes everything (reports are small: one atomic write). */
void put(int fd, const void *buf, size_t len)
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
bool get(int fd, void *buf, size_t len, int ms)
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
bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* --- files and /proc --------------------------------------------------------- */

/* The PID on line 1 of text, or -1. */
long line1_pid(const char *text)
{
	char *end;
	long pid = strtol(text, &end, 10);

	return end != text && *end == '\n' ? pid : -1;
}

long file_line1_pid(const char *path)
{
	char buf[PIDLOCK_RECORD_MAX + 1];

	return read_file(path, buf, sizeof(buf)) > 0 ? line1_pid(buf) : -1;
}

bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Nothing left that names a holder: no file, or (pidlock(5): the file
 * is kept and emptied on release) an empty regular file. */
bool released(const char *path)
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

char pid_state(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_state(path);
}

char tid_state(pid_t tid)
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
bool proc_locks_has(dev_t dev, ino_t ino, bool waiting, pid_t pid)
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

bool any_lock_on(dev_t dev, ino_t ino)
{
	return proc_locks_has(dev, ino, false, 0) || proc_locks_has(dev, ino, true, 0);
}

/* Does process pid have a pidfd open? */
bool has_pidfd(pid_t pid)
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
bool wait_for(bool (*cond)(void *), void *arg, int ms)
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

/* valgrind preloads its own objects into the programs it runs. */
bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/*
 * No leftover temporary file of a creation or a break.  Except under
 * valgrind: it enforces the descriptor limit after the system call, so an
 * open(O_CREAT) it fails with EMFILE has created the file all the same
 * (the kernel refuses before creating it).  The plain run is the one that
 * proves no temporary file is left.
 */
void assert_no_temp_files(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!pidlock_is_temp_name(e->d_name))
			continue;
		if (under_valgrind()) {
			unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		closedir(d);
		fail_msg("leftover temporary file %s", e->d_name);
	}
	closedir(d);
}

/* --- a child that holds a lock until told to let go --------------------------- */

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

void holder_start(struct holder *h, const char *path, unsigned flags)
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

void holder_gates_close(struct holder *h)
{
	gate_close(&h->ready);
	gate_close(&h->release);
}

void holder_stop(struct holder *h)
{
	gate_pass(&h->release);
	assert_int_equal(kid_reap(h->pid, DEADLINE_MS), 0);
	holder_gates_close(h);
}

/* A child holding a lock, SIGKILLed: its file stays behind, stale. */
pid_t make_stale_flags(const char *path, unsigned flags)
{
	struct holder h;

	holder_start(&h, path, flags);
	assert_int_equal(sys_kill(h.pid, SIGKILL), 0);
	assert_int_equal(kid_reap(h.pid, DEADLINE_MS), 128 + SIGKILL);
	holder_gates_close(&h);
	assert_true(exists(path));
	assert_int_equal(file_line1_pid(path), h.pid);
	return h.pid;
}

pid_t make_stale(const char *path)
{
	return make_stale_flags(path, 0);
}

/* --- a child that asks for a lock once and reports ---------------------------- */

bool trace_waiters;

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

void waiter_start(struct waiter *w, const char *path, unsigned flags,
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
void waiter_go(struct waiter *w)
{
	gate_pass(&w->go);
}

void waiter_result(struct waiter *w, struct wait_report *rep, int ms)
{
	if (!get(w->report.fd[0], rep, sizeof(*rep), ms))
		fail_msg("waiter child %d did not report within %d ms",
			 (int)w->pid, ms);
	assert_int_equal(kid_reap(w->pid, DEADLINE_MS), 0);
	gate_close(&w->ready);
	gate_close(&w->go);
	gate_close(&w->report);
}
