/* SPDX-License-Identifier: MIT */
/*
 * Waiting for a lock held by a real process or thread: the waiter sleeps
 * in the kernel and wakes on a short path, timeouts give up cleanly,
 * threads exclude each other, the same thread twice is EDEADLK, a plain
 * pidfile's holder is waited for on a pidfd, the critical section, and
 * a signal handler interrupts a PIDLOCK_INTERRUPTIBLE wait.
 *
 * No fake is armed: mock.c is linked but stays off.  The children and
 * the waits are harness.h's.
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
#include "harness.h"

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
 * file is kept, pidlock(5)): one look at the name (it still carries the
 * inode locked, and its size says the release emptied it, so no read),
 * then the record written through the writer opened before sleeping --
 * no cut, since nothing was there, and no geteuid: the uid was read as
 * the call began.  With PIDLOCK_UNLINK: the look at the name (the holder
 * unlinked it), the record written into the inode readied before
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
	/* The writer was opened before the wait, and the look at the name
	 * says the file is empty: no open, no read after the wake. */
	static const uint8_t want[] = { MOCK_FSTATAT, MOCK_PWRITE };
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

/* --- 12. plain pidfiles --------------------------------------------------------------------- */

static bool waits_on_pidfd(void *arg)
{
	pid_t pid = *(pid_t *)arg;

	return has_pidfd(pid) && pid_state(pid) == 'S';
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
	foreign = kid_start(wait_on_gate, &g);
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
	assert_int_equal(sys_kill(foreign, SIGKILL), 0);
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
	dead = kid_start(exit_now, NULL);
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

/* --- 15. a signal interrupts an interruptible wait ------------------------------------- */

static atomic_int handled;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

struct intr_thread {
	char path[PATH_MAX];
	unsigned flags;
	int timeout;
	atomic_int tid;
	atomic_int done;
	int r, fd;
};

static void *intr_thread_main(void *arg)
{
	struct intr_thread *t = arg;
	struct pidlock *lock = NULL;
	int r;

	atomic_store(&t->tid, gettid());
	r = pidlock_new(&lock, t->path);
	if (r == 0)
		r = pidlock_acquire(lock, t->flags, t->timeout);
	t->fd = lock ? pidlock_fd(lock) : -1;
	t->r = r;
	pidlock_free(lock);
	atomic_store(&t->done, 1);
	return NULL;
}

static bool intr_thread_waits(void *arg)
{
	struct thread_wait *t = arg;

	return t->tid && proc_locks_has(t->dev, t->ino, true, getpid()) &&
	       tid_state(t->tid) == 'S';
}

static bool handler_ran(void *arg)
{
	(void)arg;
	return atomic_load(&handled) > 0;
}

static bool intr_thread_started(void *arg)
{
	return atomic_load(&((struct intr_thread *)arg)->tid) != 0;
}

/*
 * A thread waits for a lock a child holds; SIGUSR1 (handler installed
 * with sa_flags) is sent to that thread alone.  Returns what its acquire
 * returned, once it returned: at once after the signal when interrupted,
 * else after the holder let go.
 */
static int signal_during_wait(const char *name, unsigned flags, int timeout,
			      int sa_flags, struct intr_thread *t)
{
	const char *path = test_path(name);
	struct sigaction sa, old;
	struct thread_wait tw;
	struct timespec until;
	struct holder h;
	pthread_t thread;
	struct stat st;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->flags = flags;
	t->timeout = timeout;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	atomic_store(&handled, 0);

	holder_start(&h, path, 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(pthread_create(&thread, NULL, intr_thread_main, t), 0);
	assert_true(wait_for(intr_thread_started, t, DEADLINE_MS));
	tw = (struct thread_wait){ st.st_dev, st.st_ino, atomic_load(&t->tid) };
	if (!wait_for(intr_thread_waits, &tw, DEADLINE_MS))
		fail_msg("the thread never waited in flock(2)");
	assert_int_equal(pthread_kill(thread, SIGUSR1), 0);

	/* An interrupted wait ends with the holder still there; one that
	 * goes on ends when the holder lets go. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEADLINE_MS / 1000;
	if (flags & PIDLOCK_INTERRUPTIBLE && !(sa_flags & SA_RESTART)) {
		assert_int_equal(pthread_timedjoin_np(thread, NULL, &until), 0);
		/* Nothing held, nothing waiting: no entry of ours is left. */
		assert_false(proc_locks_has(st.st_dev, st.st_ino, false, getpid()));
		assert_false(proc_locks_has(st.st_dev, st.st_ino, true, getpid()));
		holder_stop(&h);
	} else {
		/* The handler ran and the thread sleeps in flock(2) again. */
		assert_true(wait_for(handler_ran, NULL, DEADLINE_MS));
		assert_true(wait_for(intr_thread_waits, &tw, DEADLINE_MS));
		assert_false(atomic_load(&t->done));
		holder_stop(&h);
		assert_int_equal(pthread_timedjoin_np(thread, NULL, &until), 0);
	}
	assert_int_equal(atomic_load(&handled), 1);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	return t->r;
}

static void signal_interrupts_interruptible_wait(void **state)
{
	struct intr_thread t;

	(void)state;
	/* Without a deadline, and with one (the library's own timer signal
	 * is then armed too, and must not be mistaken for the caller's). */
	assert_int_equal(signal_during_wait("i1.lock", PIDLOCK_INTERRUPTIBLE,
					    PIDLOCK_WAIT_FOREVER, 0, &t), -EINTR);
	assert_int_equal(t.fd, -1);
	assert_int_equal(signal_during_wait("i2.lock", PIDLOCK_INTERRUPTIBLE,
					    DEADLINE_MS, 0, &t), -EINTR);
	assert_int_equal(t.fd, -1);
}

/* flock(2) semantics: a SA_RESTART handler runs and the wait goes on; and
 * without the flag, signals never end a wait. */
static void signal_restarts_other_waits(void **state)
{
	struct intr_thread t;

	(void)state;
	assert_int_equal(signal_during_wait("r1.lock", PIDLOCK_INTERRUPTIBLE,
					    PIDLOCK_WAIT_FOREVER, SA_RESTART, &t), 0);
	assert_int_equal(signal_during_wait("r2.lock", 0, PIDLOCK_WAIT_FOREVER,
					    0, &t), 0);
	assert_int_equal(signal_during_wait("r3.lock", 0, DEADLINE_MS, 0, &t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(waiter_sleeps_in_kernel, test_cleanup),
		cmocka_unit_test_teardown(waiter_wake_path_is_short, test_cleanup),
		cmocka_unit_test_teardown(timeout_gives_up_cleanly, test_cleanup),
		cmocka_unit_test_teardown(threads_exclude_each_other, test_cleanup),
		cmocka_unit_test_teardown(same_thread_twice_edeadlk, test_cleanup),
		cmocka_unit_test_teardown(foreign_pidfile, test_cleanup),
		cmocka_unit_test_teardown(critical_section_runs_under_lock, test_cleanup),
		cmocka_unit_test_teardown(signal_interrupts_interruptible_wait, test_cleanup),
		cmocka_unit_test_teardown(signal_restarts_other_waits, test_cleanup),
	};

	return cmocka_run_group_tests_name("lock-wait", tests, test_dir_setup,
					   test_dir_teardown);
}
