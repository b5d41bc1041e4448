/* SPDX-License-Identifier: MIT */
/*
 * Crash at every step.
 *
 * For each operation (create, create without O_TMPFILE, recover a stale
 * file, update, release, in the default mode that keeps the file and with
 * PIDLOCK_UNLINK), a child first runs it once with every wrapped libc call
 * traced (tests/mock.c: mock_trace); that gives its K steps.  Then, for
 * k = 1..K, a fresh child runs it again and raises SIGKILL at step k,
 * before call k is made (mock_die_at): what a crash there leaves behind
 * is exactly what the kernel leaves, since the child really dies.
 *
 * After each death the next acquirer must get the lock within its wait
 * (2 s), and release it; then nothing may be left that a human would have
 * to delete: the directory must be empty but for the lock file itself,
 * emptied (unless PIDLOCK_UNLINK removed it), and temporary files
 * ".pidlock-tmp.*" (pidlock(5) CRASH SAFETY), which pidlock_clean_at --
 * what lockclean runs -- must remove.  A table of the steps per operation
 * is printed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define LOCK "crash.lock"
#define NEXT_WAIT_MS 2000
#define MAX_STEPS 256

enum op {
	OP_CREATE, OP_BREAK, OP_UPDATE, OP_RELEASE, OP_UPDATE_OTHER,
};

struct scenario {
	const char *name;
	enum op op;
	unsigned flags;   /* for the child's acquisition */
	bool no_tmpfile;  /* the named temporary file path, as on NFS */
	bool stale_first; /* a dead holder's file is at the path */
};

/* What the runs found, for the table. */
struct row {
	int steps;
	char trace[MAX_STEPS + 1];
	int recovered;   /* next acquirers that recovered a stale file */
	int temps;       /* temporary files pidlock_clean_at removed */
	int64_t max_ms;  /* longest next acquisition */
};

/* --- the child ------------------------------------------------------------ */

/*
 * Leaves a dead holder's record at the path: a child takes the lock and
 * exits without releasing it.
 */
static int hold_and_vanish(void *arg)
{
	const struct scenario *sc = arg;
	struct pidlock *lock;

	if (pidlock_new(&lock, test_path(LOCK)) < 0 ||
	    pidlock_acquire(lock, sc->flags, PIDLOCK_NO_WAIT) < 0)
		return 1;
	_exit(0); /* the kernel drops the lock; the file stays */
}

/* A process that the update names, alive until its pipe closes. */
static pid_t sleeper(int *wfd)
{
	int fds[2];
	char c;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0)
			;
		_exit(0);
	}
	close(fds[0]);
	*wfd = fds[1];
	return pid;
}

/*
 * The operation, with crash injection armed just before it (die_at > 0)
 * or with its calls traced to trace_fd.  Exit 0: it completed.  Never
 * uses cmocka's assertions: the child reports by its exit status.
 */
static int run_op(const struct scenario *sc, int die_at, int trace_fd)
{
	struct pidlock *lock;
	int r, wfd = -1;
	pid_t other = 0;

	mock_reset();
	mock_no_tmpfile(sc->no_tmpfile);
	if (pidlock_new(&lock, test_path(LOCK)) < 0)
		return 10;
	if (sc->op != OP_CREATE && sc->op != OP_BREAK) {
		if (pidlock_acquire(lock, sc->flags, PIDLOCK_NO_WAIT) < 0 ||
		    pidlock_set_message(lock, "updated") < 0)
			return 11;
		if (sc->op == OP_UPDATE_OTHER && (other = sleeper(&wfd)) < 0)
			return 12;
	}
	if (die_at)
		mock_die_at(die_at);
	else
		mock_trace(trace_fd);
	switch (sc->op) {
	case OP_CREATE:
	case OP_BREAK:
		r = pidlock_acquire(lock, sc->flags, PIDLOCK_NO_WAIT);
		break;
	case OP_UPDATE:
		r = pidlock_update(lock, getpid());
		break;
	case OP_UPDATE_OTHER:
		r = pidlock_update(lock, other);
		break;
	default:
		r = pidlock_release(lock);
		break;
	}
	mock_trace(-1);
	mock_die_at(0);
	if (wfd >= 0)
		close(wfd);
	/* Completed: exit holding (or not) -- the kernel cleans up. */
	return r == 0 ? 0 : 20;
}

struct child_arg {
	const struct scenario *sc;
	int die_at, trace_fd;
};

static int child(void *arg)
{
	struct child_arg *c = arg;

	_exit(run_op(c->sc, c->die_at, c->trace_fd));
}

/* --- the parent ------------------------------------------------------------ */

static void prepare(const struct scenario *sc)
{
	assert_int_equal(test_dir_empty(), 0);
	if (sc->stale_first)
		assert_int_equal(reap(spawn(hold_and_vanish, (void *)sc)), 0);
}

/* Runs the operation once, tracing: its steps, as mock_fn bytes. */
static int trace_steps(const struct scenario *sc, char *trace)
{
	struct child_arg c = { sc, 0, -1 };
	unsigned char buf[MAX_STEPS];
	int fds[2], n = 0;
	ssize_t got;
	pid_t pid;

	prepare(sc);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	c.trace_fd = fds[1];
	pid = spawn(child, &c);
	close(fds[1]);
	while (n < MAX_STEPS && (got = read(fds[0], buf + n, sizeof(buf) - (size_t)n)) > 0)
		n += (int)got;
	close(fds[0]);
	assert_int_equal(reap(pid), 0);
	for (int i = 0; i < n; i++)
		trace[i] = (char)buf[i];
	return n;
}

/* Temporary leftovers go through pidlock_clean_at; nothing else may stay. */
static int clean_leftovers(int step, const char *name)
{
	DIR *d = opendir(test_dir);
	struct pidlock_info info;
	struct dirent *e;
	int temps = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!pidlock_is_temp_name(e->d_name))
			fail_msg("%s, killed at step %d: %s left behind", name, step,
				 e->d_name);
		if (pidlock_clean_at(dirfd(d), e->d_name, NULL, NULL, &info) != 1)
			fail_msg("%s, killed at step %d: lockclean keeps %s: %s",
				 name, step, e->d_name, info.reason);
		temps++;
	}
	closedir(d);
	return temps;
}

/* The next acquirer after a crash at step (0: after completion). */
static void next_acquirer(const struct scenario *sc, int step, struct row *row)
{
	struct pidlock *lock;
	int64_t t0, ms;
	int r;

	assert_int_equal(pidlock_new(&lock, test_path(LOCK)), 0);
	t0 = now_ms();
	r = pidlock_acquire(lock, sc->flags, NEXT_WAIT_MS);
	ms = now_ms() - t0;
	if (r != 0)
		fail_msg("%s, killed at step %d: the next acquirer got %s after "
			 "%lld ms", sc->name, step, pidlock_strerror(r), (long long)ms);
	if (ms > NEXT_WAIT_MS)
		fail_msg("%s, step %d: the next acquirer waited %lld ms", sc->name,
			 step, (long long)ms);
	row->max_ms = ms > row->max_ms ? ms : row->max_ms;
	row->recovered += pidlock_recovered(lock);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	/* Files stay by design (pidlock(5): the name never changes inode),
	 * emptied on release, free to the next one; only PIDLOCK_UNLINK
	 * removes them. */
	if (!(sc->flags & PIDLOCK_UNLINK)) {
		struct stat st;
		if (stat(test_path(LOCK), &st) < 0 || st.st_size != 0)
			fail_msg("%s, killed at step %d: the kept file is not empty "
				 "after the next release", sc->name, step);
		unlink(test_path(LOCK));
	}
	row->temps += clean_leftovers(step, sc->name);
}

static void crash_every_step(const struct scenario *sc)
{
	struct row row = { 0 };
	struct child_arg c = { sc, 0, -1 };
	char names[MAX_STEPS * 12] = "";
	int status;

	mock_reset();
	row.steps = trace_steps(sc, row.trace);
	assert_true(row.steps > 0 && row.steps < MAX_STEPS);
	next_acquirer(sc, 0, &row);
	for (int k = 1; k <= row.steps; k++) {
		prepare(sc);
		c.die_at = k;
		status = reap(spawn(child, &c));
		if (status != 128 + SIGKILL)
			fail_msg("%s: step %d of %d was not reached (exit %d)",
				 sc->name, k, row.steps, status);
		next_acquirer(sc, k, &row);
	}
	for (int k = 0; k < row.steps; k++) {
		strlcat(names, k ? " " : "", sizeof(names));
		strlcat(names, mock_fn_name((enum mock_fn)row.trace[k]), sizeof(names));
	}
	print_message("crash: %-22s %3d steps, each killed: next acquirer got the "
		      "lock (max %lld ms, %d recovered), %d temp files cleaned\n"
		      "crash:   steps: %s\n", sc->name, row.steps,
		      (long long)row.max_ms, row.recovered, row.temps, names);
}

#define SCENARIO(fn, ...)                                         \
	static void fn(void **state)                              \
	{                                                         \
		static const struct scenario sc = { __VA_ARGS__ }; \
		(void)state;                                      \
		crash_every_step(&sc);                            \
	}

/* The default: the file is kept, emptied on release. */
SCENARIO(crash_create, .name = "create", .op = OP_CREATE)
SCENARIO(crash_create_named_tmp, .name = "create (no O_TMPFILE)",
	 .op = OP_CREATE, .no_tmpfile = true)
SCENARIO(crash_break, .name = "recover stale", .op = OP_BREAK, .stale_first = true)
SCENARIO(crash_update, .name = "update", .op = OP_UPDATE)
SCENARIO(crash_update_other, .name = "update (other PID)", .op = OP_UPDATE_OTHER)
SCENARIO(crash_release, .name = "release", .op = OP_RELEASE)
/* PIDLOCK_UNLINK: removed on release. */
SCENARIO(crash_create_unlink, .name = "create (unlink)", .op = OP_CREATE,
	 .flags = PIDLOCK_UNLINK)
SCENARIO(crash_create_unlink_named_tmp, .name = "create (unlink, no O_TMPFILE)",
	 .op = OP_CREATE, .flags = PIDLOCK_UNLINK, .no_tmpfile = true)
SCENARIO(crash_break_unlink, .name = "recover stale (unlink)", .op = OP_BREAK,
	 .flags = PIDLOCK_UNLINK, .stale_first = true)
SCENARIO(crash_release_unlink, .name = "release (unlink)", .op = OP_RELEASE,
	 .flags = PIDLOCK_UNLINK)

static int test_reset(void **state)
{
	(void)state;
	mock_reset();
	return test_dir_empty();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(crash_create, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_create_named_tmp, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_break, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_update, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_update_other, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_release, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_create_unlink, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_create_unlink_named_tmp, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_break_unlink, test_reset, test_reset),
		cmocka_unit_test_setup_teardown(crash_release_unlink, test_reset, test_reset),
	};

	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
