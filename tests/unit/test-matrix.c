/* SPDX-License-Identifier: MIT */
/*
 * The library's side of the fault matrix: descriptor exhaustion at every
 * level, NAME_MAX and PATH_MAX, a signal every millisecond during a wait
 * (with and without SA_RESTART), and /proc missing.  (The hostile input
 * catalogue is test-catalogue.c's.)  Each check also counts /proc/self/fd
 * before and after: the library leaks no descriptor.  Run under valgrind
 * (make valgrind) for memory.  mock.c's kill() fails the test on any
 * signal the library sends.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

/* A complete record of a dead holder on this host: a stale lock file. */
static void write_stale(const char *path)
{
	struct pidlock_record rec = { .version = 1, .start_time = 1, .time = 1 };
	struct pidlock__self self;
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len;

	assert_int_equal(pidlock__self_info(&self), 0);
	rec.pid = rec.holder = dead_pid();
	rec.pidns = self.pidns;
	rec.uid = geteuid();
	strlcpy(rec.boot_id, self.boot_id, sizeof(rec.boot_id));
	strlcpy(rec.host, self.host, sizeof(rec.host));
	strlcpy(rec.comm, "stale", sizeof(rec.comm));
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	assert_true(len > 0);
	write_file(path, buf, (size_t)len);
}

/* --- descriptor exhaustion ---------------------------------------------- */

static int highest_fd(rlim_t below)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int max = -1;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) > max &&
		    atoi(e->d_name) != dirfd(d) && (rlim_t)atoi(e->d_name) < below)
			max = atoi(e->d_name);
	closedir(d);
	return max;
}

/* Descriptors that plug the holes below the highest one, so that the
 * limit below leaves exactly the spare ones. */
static int plugs[256], nplugs;

/* Allow exactly `spare` more descriptors than are open now. */
static void limit_fds(int spare, struct rlimit *old)
{
	struct rlimit r;
	int top, fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
	top = highest_fd(old->rlim_cur);
	nplugs = 0;
	while (nplugs < 256 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fd > top) {
			close(fd);
			break;
		}
		plugs[nplugs++] = fd;
	}
	r = *old;
	r.rlim_cur = (rlim_t)(top + 1 + spare);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &r), 0);
}

static void unlimit_fds(const struct rlimit *old)
{
	assert_int_equal(setrlimit(RLIMIT_NOFILE, old), 0);
	while (nplugs > 0)
		close(plugs[--nplugs]);
}

static bool ok_or_emfile(int r)
{
	return r == 0 || r == -EMFILE;
}

/*
 * With 0, 1, 2, ... spare descriptors, creating a lock, breaking a stale
 * one, inspecting and cleaning each either work or fail with EMFILE; a
 * failure leaves the stale file as it was, no new file and no temporary
 * file, and no call leaks a descriptor.  The lowest levels must fail (the
 * fault happened) and the highest succeed.
 */
static void descriptor_exhaustion(void **state)
{
	char stale[PIDLOCK_RECORD_MAX + 1], now[PIDLOCK_RECORD_MAX + 1];
	int emfile = 0, worked = 0, dirfd, fds;
	ssize_t len;

	(void)state;
	dirfd = open(test_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	fds = count_fds();
	for (int spare = 0; spare <= 12; spare++) {
		struct pidlock_info info;
		struct pidlock *lock;
		struct rlimit old;
		int r;

		write_stale(test_path("stale.lock"));
		len = read_file(test_path("stale.lock"), stale, sizeof(stale));
		assert_true(len > 0);

		assert_int_equal(pidlock_new(&lock, test_path("new.lock")), 0);
		limit_fds(spare, &old);
		r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
		unlimit_fds(&old);
		if (!ok_or_emfile(r))
			fail_msg("spare %d: create: %d (%s)", spare, r, pidlock_strerror(r));
		if (r == 0)
			assert_int_equal(pidlock_release(lock), 0);
		pidlock_free(lock);
		assert_true(released(test_path("new.lock")));
		emfile += r == -EMFILE;
		worked += r == 0;

		assert_int_equal(pidlock_new(&lock, test_path("stale.lock")), 0);
		limit_fds(spare, &old);
		r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
		unlimit_fds(&old);
		if (!ok_or_emfile(r))
			fail_msg("spare %d: break: %d (%s)", spare, r, pidlock_strerror(r));
		if (r == 0) {
			assert_int_equal(pidlock_recovered(lock), 1);
			assert_int_equal(pidlock_release(lock), 0);
			assert_true(released(test_path("stale.lock")));
		} else {
			assert_int_equal(read_file(test_path("stale.lock"), now, sizeof(now)), len);
			assert_memory_equal(now, stale, (size_t)len);
		}
		pidlock_free(lock);

		write_stale(test_path("stale.lock"));
		limit_fds(spare, &old);
		r = pidlock_inspect(test_path("stale.lock"), NULL, &info);
		unlimit_fds(&old);
		if (!ok_or_emfile(r) ||
		    (r == 0 && info.state != PIDLOCK_STATE_STALE &&
		     !(info.state == PIDLOCK_STATE_UNKNOWN &&
		       strstr(info.reason, strerror(EMFILE)))))
			fail_msg("spare %d: inspect: %d, %s (%s)", spare, r,
				 pidlock_state_name(info.state), info.reason);

		limit_fds(spare, &old);
		r = pidlock_clean_at(dirfd, "stale.lock", NULL, NULL, &info);
		unlimit_fds(&old);
		if (r != 1 && r != -EMFILE)
			fail_msg("spare %d: clean: %d (%s)", spare, r, pidlock_strerror(r));
		assert_int_equal(exists(test_path("stale.lock")), r != 1);

		assert_no_temp_files();
		if (count_fds() != fds)
			fail_msg("spare %d: %d descriptors open, %d before", spare,
				 count_fds(), fds);
		test_dir_empty();
	}
	close(dirfd);
	print_message("descriptor exhaustion: %d EMFILE, %d successes over 13 levels\n",
		      emfile, worked);
	assert_true(emfile > 0 && worked > 0);
}

/* --- NAME_MAX and PATH_MAX ------------------------------------------------ */

static void name_max(void **state)
{
	char name[NAME_MAX + 2], lname[PIDLOCK_NAME_MAX + 2];
	struct pidlock_info info;
	struct pidlock *lock;
	int fds = count_fds(), dirfd;

	(void)state;
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	/* NAME_MAX: a whole life, stale recovery included */
	assert_int_equal(pidlock_new(&lock, test_path(name)), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_inspect(test_path(name), NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released(test_path(name)));
	write_stale(test_path(name));
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	write_stale(test_path(name));
	dirfd = open(test_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(pidlock_clean_at(dirfd, name, NULL, NULL, &info), 1);
	/* NAME_MAX + 1: refused before anything is opened */
	strcat(name, "n");
	assert_int_equal(pidlock_new(&lock, test_path(name)), -ENAMETOOLONG);
	assert_int_equal(pidlock_inspect(test_path(name), NULL, &info), -ENAMETOOLONG);
	assert_int_equal(pidlock_clean_at(dirfd, name, NULL, NULL, &info), -ENAMETOOLONG);
	close(dirfd);
	/* lock names: PIDLOCK_NAME_MAX, and one more */
	memset(lname, 'm', PIDLOCK_NAME_MAX);
	lname[PIDLOCK_NAME_MAX] = '\0';
	assert_int_equal(pidlock_new_name(&lock, lname), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	strcat(lname, "m");
	assert_int_equal(pidlock_new_name(&lock, lname), -EINVAL);
	assert_int_equal(count_fds(), fds);
	assert_no_temp_files();
}

static void path_max(void **state)
{
	static char path[PATH_MAX + 16];
	char comp[201];
	struct pidlock_info info;
	struct pidlock *lock;
	int fds = count_fds(), home, depth = 0;

	(void)state;
	/* PATH_MAX bytes or more: refused; one less: a missing directory */
	memset(path, 'p', PATH_MAX);
	for (int i = 100; i < PATH_MAX; i += 100)
		path[i] = '/';
	path[PATH_MAX] = '\0';
	assert_int_equal(pidlock_new(&lock, path), -ENAMETOOLONG);
	assert_int_equal(pidlock_inspect(path, NULL, &info), -ENAMETOOLONG);
	path[PATH_MAX - 1] = '\0';
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), -ENOENT);
	pidlock_free(lock);

	/* A working directory deeper than PATH_MAX: relative paths work. */
	memset(comp, 'd', 200);
	comp[200] = '\0';
	home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(home >= 0);
	assert_int_equal(chdir(test_dir), 0);
	for (; depth < 22; depth++) {
		assert_int_equal(mkdir(comp, 0755), 0);
		assert_int_equal(chdir(comp), 0);
	}
	assert_int_equal(pidlock_new(&lock, "x.lock"), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_inspect("x.lock", NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_int_equal(pidlock_release(lock), 0);
	assert_true(released("x.lock"));
	write_stale("x.lock");
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	assert_true(released("x.lock"));
	assert_int_equal(unlink("x.lock"), 0); /* kept by design */
	while (depth-- > 0) {
		assert_int_equal(chdir(".."), 0);
		assert_int_equal(rmdir(comp), 0);
	}
	assert_int_equal(fchdir(home), 0);
	close(home);
	assert_int_equal(count_fds(), fds);
}

/* --- a signal every millisecond during a wait ---------------------------- */

static atomic_int storm_count;
static atomic_bool storm_stop;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&storm_count, 1);
}

struct storm {
	pid_t tid;          /* the waiting thread */
	int release_after;  /* pass `release` after this many signals (0: never) */
	struct gate *release;
	pid_t kill_after;   /* or SIGKILL this process then */
};

/* Sends SIGUSR1 to the waiting thread every millisecond. */
static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	struct timespec next;
	bool released = false;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&storm_stop)) {
		syscall(SYS_tgkill, getpid(), s->tid, SIGUSR1);
		if (!released && s->release_after &&
		    atomic_load(&storm_count) >= s->release_after) {
			released = true;
			if (s->release)
				gate_pass(s->release);
			if (s->kill_after)
				sys_kill(s->kill_after, SIGKILL);
		}
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

static pthread_t storm_begin(struct storm *s)
{
	pthread_t t;

	atomic_store(&storm_count, 0);
	atomic_store(&storm_stop, false);
	s->tid = gettid();
	assert_int_equal(pthread_create(&t, NULL, storm_thread, s), 0);
	return t;
}

static void storm_end(pthread_t t)
{
	atomic_store(&storm_stop, true);
	pthread_join(t, NULL);
}

struct holder_arg {
	const char *path;
	struct gate ready, release;
};

static int hold_until_released(void *p)
{
	struct holder_arg *h = p;
	struct pidlock *lock;

	if (pidlock_new(&lock, h->path) < 0 ||
	    pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT) < 0)
		return 1;
	gate_pass(&h->ready);
	gate_wait(&h->release);
	pidlock_free(lock);
	return 0;
}

static void storm_round(int sa_flags)
{
	struct sigaction sa, old_usr1, rt_before, rt_after;
	struct holder_arg h = { .path = test_path(sa_flags ? "storm-r.lock" : "storm.lock") };
	/* valgrind runs one thread at a time: fewer signals, slower waits */
	int min_signals = under_valgrind() ? 1 : 20;
	int64_t max_ms = under_valgrind() ? 20000 : 3000;
	sigset_t mask_before, mask_after;
	struct storm s = { 0 };
	struct pidlock *lock;
	pthread_t t;
	int64_t t0, ms;
	pid_t holder, foreign;
	char buf[32];
	int fds = count_fds(), r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
	sigaction(SIGRTMAX, NULL, &rt_before);
	pthread_sigmask(SIG_SETMASK, NULL, &mask_before);

	gate_open(&h.ready);
	gate_open(&h.release);
	holder = spawn(hold_until_released, &h);
	assert_true(gate_wait_ms(&h.ready, 10000));
	assert_int_equal(pidlock_new(&lock, h.path), 0);

	/* a timed wait: times out on time */
	t = storm_begin(&s);
	t0 = now_ms();
	r = pidlock_acquire(lock, 0, 300);
	ms = now_ms() - t0;
	storm_end(t);
	if (r != -ETIMEDOUT)
		fail_msg("timed wait under a storm: %d (%s)", r, pidlock_strerror(r));
	if (ms < 300 || ms > max_ms)
		fail_msg("a 300 ms wait took %lld ms", (long long)ms);
	print_message("storm (%s): %d signals in a 300 ms wait, %lld ms\n",
		      sa_flags ? "SA_RESTART" : "no SA_RESTART",
		      atomic_load(&storm_count), (long long)ms);
	assert_true(atomic_load(&storm_count) >= min_signals);

	/* a wait without timeout: released after 100 signals, then taken */
	s.release_after = 100;
	s.release = &h.release;
	t = storm_begin(&s);
	r = pidlock_acquire(lock, 0, PIDLOCK_WAIT_FOREVER);
	storm_end(t);
	assert_int_equal(r, 0);
	assert_int_equal(reap(holder), 0);
	assert_int_equal(pidlock_release(lock), 0);

	/* waiting for a foreign pidfile's process (a pidfd poll) */
	foreign = pauser();
	snprintf(buf, sizeof(buf), "%d\n", (int)foreign);
	write_file(h.path, buf, strlen(buf));
	t = storm_begin(&(struct storm){ 0 });
	t0 = now_ms();
	r = pidlock_acquire(lock, 0, 300);
	ms = now_ms() - t0;
	storm_end(t);
	assert_int_equal(r, -ETIMEDOUT);
	if (ms < 300 || ms > max_ms)
		fail_msg("a 300 ms wait for a process took %lld ms", (long long)ms);
	s = (struct storm){ .release_after = 100, .kill_after = foreign };
	t = storm_begin(&s);
	r = pidlock_acquire(lock, 0, 10000);
	storm_end(t);
	assert_int_equal(r, 0);
	assert_int_equal(pidlock_recovered(lock), 1);
	assert_int_equal(pidlock_release(lock), 0);
	pauser_end(foreign);
	pidlock_free(lock);

	/* nothing left behind: handler, mask, descriptors */
	sigaction(SIGRTMAX, NULL, &rt_after);
	assert_ptr_equal(rt_after.sa_handler, rt_before.sa_handler);
	pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
	for (int sig = 1; sig < NSIG; sig++)
		assert_int_equal(sigismember(&mask_after, sig),
				 sigismember(&mask_before, sig));
	assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
	gate_close(&h.ready);
	gate_close(&h.release);
	assert_int_equal(count_fds(), fds);
	assert_true(released(h.path));
}

/* valgrind 3.19 has no pidfd_open and asserts in its signal delivery
 * under a tgkill storm: these run natively only. */
#define SKIP_UNDER_VALGRIND()                                                \
	do {                                                                 \
		if (under_valgrind()) {                                      \
			print_message("SKIP %s: valgrind cannot take a "     \
				      "signal storm\n", __func__);           \
			skip();                                              \
		}                                                            \
	} while (0)

static void signal_storm_no_restart(void **state)
{
	(void)state;
	SKIP_UNDER_VALGRIND();
	storm_round(0);
}

static void signal_storm_restart(void **state)
{
	(void)state;
	SKIP_UNDER_VALGRIND();
	storm_round(SA_RESTART);
}

/* --- /proc missing ------------------------------------------------------- */

/* In a private mount namespace without /proc: 0 = the live lock was not
 * judged stale, 2 = it was, 3 = setup failed. */
static int judge_without_proc(void *arg)
{
	struct pidlock_snapshot *snap;
	struct pidlock_info info;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    umount2("/proc", MNT_DETACH) < 0)
		return 3;
	if (pidlock_snapshot_new(&snap) == 0) {
		pidlock_snapshot_free(snap);
		return 3; /* /proc/locks still readable: nothing tested */
	}
	if (pidlock_inspect(arg, NULL, &info) < 0)
		return 0; /* an error is an honest answer */
	dprintf(STDERR_FILENO, "  without /proc: %s (%s)\n",
		pidlock_state_name(info.state), info.reason);
	return info.state == PIDLOCK_STATE_STALE ||
			       info.state == PIDLOCK_STATE_REUSED
		       ? 2 : 0;
}

/* Without /proc/locks nobody can tell whether a lock is held: a live lock
 * must not be judged stale (the state is unknown). */
static void proc_missing(void **state)
{
	struct holder_arg h = { .path = test_path("live.lock") };
	pid_t holder, judge;
	int r;

	(void)state;
	REQUIRE_ROOT();
	gate_open(&h.ready);
	gate_open(&h.release);
	holder = spawn(hold_until_released, &h);
	assert_true(gate_wait_ms(&h.ready, 10000));
	judge = kid_fork(judge_without_proc, (void *)h.path);
	assert_true(judge > 0);
	r = reap(judge);
	gate_pass(&h.release);
	assert_int_equal(reap(holder), 0);
	gate_close(&h.ready);
	gate_close(&h.release);
	if (r == 3)
		fail_msg("could not set up a mount namespace without /proc");
	if (r != 0)
		fail_msg("without /proc, a live lock is judged stale (exit %d)", r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(descriptor_exhaustion),
		cmocka_unit_test(name_max),
		cmocka_unit_test(path_max),
		cmocka_unit_test(signal_storm_no_restart),
		cmocka_unit_test(signal_storm_restart),
		cmocka_unit_test(proc_missing),
	};

	return cmocka_run_group_tests_name("matrix", tests, test_dir_setup,
					   test_dir_teardown);
}
