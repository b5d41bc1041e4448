/* SPDX-License-Identifier: MIT */
/*
 * The library's side of the fault matrix and of the hostile input
 * catalogue: descriptor exhaustion at every level, NAME_MAX and PATH_MAX, a signal every millisecond during a wait
 * (with and without SA_RESTART), every catalogue file of
 * tests/data/pidfiles/MANIFEST through pidlock_inspect(), pidlock_acquire()
 * and, with lockclean's own policy, pidlock_clean_judgeat() (the dry run)
 * against pidlock_clean_at(), and /proc missing.  Each check also counts
 * /proc/self/fd before and after: the library leaks no descriptor.  Run
 * under valgrind (make valgrind) for memory.  mock.c's kill() fails the
 * test on any signal the library sends.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
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

#include "../../cmd/policy.h"
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

static bool under_valgrind(void);

/*
 * No leftover temporary file of an interrupted creation in test_dir.
 * Except under valgrind: it enforces the descriptor limit after the
 * system call, so an open(O_CREAT) it fails with EMFILE has created the
 * file all the same (the kernel would have refused before creating it).
 * The plain run of this test is the one that proves no temporary is left.
 */
static void expect_no_temp(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (!pidlock_is_temp_name(e->d_name))
			continue;
		else if (under_valgrind())
			unlinkat(dirfd(d), e->d_name, 0);
		else
			fail_msg("temporary file left: %s", e->d_name);
	closedir(d);
}

/* --- descriptor exhaustion ---------------------------------------------- */

/* valgrind keeps descriptors of its own above the client's limit. */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

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

		expect_no_temp();
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
	expect_no_temp();
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

/* --- the hostile input catalogue ----------------------------------------- */

struct entry {
	char file[256], when[8], state[32], type[16], clean[16], cleanp[16],
		lockrun[16], reason[256];
};

static bool parse_entry(char *line, struct entry *e)
{
	char *f[8], *save = NULL;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return false;
	for (char *p = strtok_r(line, "\t", &save); p && n < 8;
	     p = strtok_r(NULL, "\t", &save))
		f[n++] = p;
	assert_int_equal(n, 8);
	strlcpy(e->file, f[0], sizeof(e->file));
	strlcpy(e->when, f[1], sizeof(e->when));
	strlcpy(e->state, f[2], sizeof(e->state));
	strlcpy(e->type, f[3], sizeof(e->type));
	strlcpy(e->clean, f[4], sizeof(e->clean));
	strlcpy(e->cleanp, f[5], sizeof(e->cleanp));
	strlcpy(e->lockrun, f[6], sizeof(e->lockrun));
	strlcpy(e->reason, f[7], sizeof(e->reason));
	return true;
}

static char data_dir[PATH_MAX];

/* The copy's name: the file's base name without .in; gen:NAME is NAME. */
static const char *copy_name(const struct entry *e)
{
	static char name[256];
	const char *slash = strrchr(e->file, '/');
	size_t len;

	if (strncmp(e->file, "gen:", 4) == 0)
		return strlcpy(name, e->file + 4, sizeof(name)), name;
	strlcpy(name, slash ? slash + 1 : e->file, sizeof(name));
	len = strlen(name);
	if (len > 3 && strcmp(name + len - 3, ".in") == 0)
		name[len - 3] = '\0';
	return name;
}

static int64_t boot_time(void)
{
	char line[256];
	long long bt = 0;
	FILE *f = fopen("/proc/stat", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

/* Replaces every `token` in buf (len bytes) with `with`; returns the length. */
static size_t substitute(char *buf, size_t len, size_t size, const char *token,
			 const char *with)
{
	size_t tl = strlen(token), wl = strlen(with);
	char *p = buf;

	while ((p = memmem(p, len - (size_t)(p - buf), token, tl))) {
		assert_true(len - tl + wl < size);
		memmove(p + wl, p + tl, len - (size_t)(p - buf) - tl);
		memcpy(p, with, wl);
		len = len - tl + wl;
		p += wl;
	}
	return len;
}

/* Makes the catalogue file at path, as test-hostile.sh's populate does. */
static void make_entry(const struct entry *e, const char *path, pid_t live,
		       pid_t dead)
{
	static char buf[4 << 20];
	char src[PATH_MAX * 2], num[32];
	ssize_t n = 0;
	int fd;

	if (strncmp(e->file, "gen:", 4) == 0) {
		const char *g = e->file + 4;
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		if (strcmp(g, "pid-then-hole-1g") == 0)
			assert_int_equal(write(fd, "1234\n", 5), 5);
		if (strcmp(g, "pid-then-2m-text") == 0) {
			memcpy(buf, "1234\n", 5);
			for (n = 5; n + 100 <= 5 + 21000 * 100; n += 100) {
				memset(buf + n, 'z', 99);
				buf[n + 99] = '\n';
			}
		} else if (strcmp(g, "record-then-2m") == 0) {
			memcpy(buf, "1234\npidlock 1\n", 15);
			memset(buf + 15, 'A', 2 << 20);
			n = 15 + (2 << 20);
		} else if (strcmp(g, "binary-elf-header.pid") == 0) {
			memcpy(buf, "\x7f" "ELF\x02\x01\x01\x00", 8);
			for (n = 8; n < 8 + 256; n++)
				buf[n] = (char)(n - 8);
		}
		if (n > 0)
			assert_int_equal(write(fd, buf, (size_t)n), n);
		if (strstr(g, "-1g"))
			assert_int_equal(ftruncate(fd, 1 << 30), 0);
		close(fd);
	} else {
		snprintf(src, sizeof(src), "%s/%s", data_dir, e->file);
		n = read_file(src, buf, sizeof(buf));
		assert_true(n >= 0);
		snprintf(num, sizeof(num), "%d", (int)live);
		n = (ssize_t)substitute(buf, (size_t)n, sizeof(buf), "@LIVE@", num);
		snprintf(num, sizeof(num), "%d", (int)dead);
		n = (ssize_t)substitute(buf, (size_t)n, sizeof(buf), "@DEAD@", num);
		write_file(path, buf, (size_t)n);
	}
	assert_int_equal(chmod(path, 0644), 0);
	if (strcmp(e->when, "old") == 0) {
		struct timespec ts[2] = { { boot_time() - 3600, 0 },
					  { boot_time() - 3600, 0 } };
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

/* The identity and the first 64 KiB of a file: what "same" compares. */
struct look {
	struct stat st;
	char head[65536];
	ssize_t n;
};

static void look_at(const char *path, struct look *l)
{
	int fd;

	memset(l, 0, sizeof(*l));
	if (lstat(path, &l->st) < 0) {
		l->n = -1;
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	assert_true(fd >= 0);
	l->n = read(fd, l->head, sizeof(l->head));
	close(fd);
}

static bool same_look(const struct look *a, const struct look *b)
{
	return a->n == b->n && a->st.st_ino == b->st.st_ino &&
	       a->st.st_size == b->st.st_size &&
	       a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
	       a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec &&
	       a->st.st_ctim.tv_sec == b->st.st_ctim.tv_sec &&
	       a->st.st_ctim.tv_nsec == b->st.st_ctim.tv_nsec &&
	       (a->n <= 0 || memcmp(a->head, b->head, (size_t)a->n) == 0);
}

/*
 * One of lockclean's policies over one catalogue file, dry and for real:
 * the judge-only pidlock_clean_judgeat() removes nothing and says what
 * pidlock_clean_at() then does (the same result, state and reason), and
 * that is what the MANIFEST says lockclean does (want).
 */
static int clean_both(const struct entry *e, int dirfd, const char *path,
		      pid_t live, pid_t dead, struct clean_policy *policy,
		      const char *want, const char *mode)
{
	const char *name = copy_name(e);
	struct pidlock_info dry, real;
	int bad = 0, rd, rr;

	make_entry(e, path, live, dead);
	rd = pidlock_clean_judgeat(dirfd, name, NULL, clean_decide, policy, &dry);
	if (!exists(path)) {
		print_error("%s: %s: the dry run removed it\n", name, mode);
		bad++;
	}
	rr = pidlock_clean_at(dirfd, name, clean_decide, policy, &real);
	if (rd != rr || dry.state != real.state ||
	    strcmp(dry.reason, real.reason) != 0) {
		print_error("%s: %s: dry run %d %s (%s), real run %d %s (%s)\n",
			    name, mode, rd, pidlock_state_name(dry.state),
			    dry.reason, rr, pidlock_state_name(real.state),
			    real.reason);
		bad++;
	}
	if (rr != (strcmp(want, "removed") == 0) || exists(path) != (rr == 0)) {
		print_error("%s: %s: clean_at: %d (%s), expected %s\n", name,
			    mode, rr, real.reason, want);
		bad++;
	}
	unlinkat(dirfd, name, 0);
	return bad;
}

static int check_entry(const struct entry *e, int dirfd, pid_t live, pid_t dead)
{
	const char *name = copy_name(e), *path = test_path(name);
	struct pidlock_info info;
	struct look before, after;
	struct pidlock *lock;
	int code = atoi(e->lockrun), bad = 0, r;
	const char *gone = strchr(e->lockrun, ':') + 1;
	regex_t re;

	make_entry(e, path, live, dead);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(regcomp(&re, e->reason, REG_EXTENDED | REG_NOSUB), 0);
	if (strcmp(pidlock_state_name(info.state), e->state) != 0 ||
	    strcmp(pidlock_type_name(info.type), e->type) != 0 ||
	    regexec(&re, info.reason, 0, NULL, 0) != 0) {
		print_error("%s: inspect: %s %s (%s), expected %s %s /%s/\n", name,
			    pidlock_state_name(info.state),
			    pidlock_type_name(info.type), info.reason, e->state,
			    e->type, e->reason);
		bad++;
	}
	regfree(&re);

	look_at(path, &before);
	assert_int_equal(pidlock_new(&lock, path), 0);
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	if ((code == 0 && r != 0) || (code == 1 && r != -EWOULDBLOCK) ||
	    (code > 1 && (r >= 0 || r == -EWOULDBLOCK))) {
		print_error("%s: acquire: %d (%s), expected like lockrun's %d\n",
			    name, r, pidlock_strerror(r), code);
		bad++;
	}
	if (r == 0 && pidlock_release(lock) != 0) {
		print_error("%s: release failed\n", name);
		bad++;
	}
	pidlock_free(lock);
	look_at(path, &after);
	if ((strcmp(gone, "gone") == 0 && after.n >= 0) ||
	    (strcmp(gone, "same") == 0 && !same_look(&before, &after)) ||
	    (strcmp(gone, "empty") == 0 &&
	     (after.n != 0 || after.st.st_ino != before.st.st_ino))) {
		print_error("%s: after acquire and release: %s, expected %s\n",
			    name, after.n < 0 ? "gone" : "changed", gone);
		bad++;
	}

	unlinkat(dirfd, name, 0);
	/* lockclean FILE, and lockclean --pidfiles --corrupt-older-than 1s */
	bad += clean_both(e, dirfd, path, live, dead,
			  &(struct clean_policy){ 0 }, e->clean, "clean");
	bad += clean_both(e, dirfd, path, live, dead,
			  &(struct clean_policy){ .pidfiles = true,
						  .corrupt_older_than_ms = 1000 },
			  e->cleanp, "clean+");
	return bad;
}

/* Every catalogue file, as tests/data/pidfiles/MANIFEST says. */
static void catalogue(void **state)
{
	char path[PATH_MAX * 2], line[1024];
	const char *src = getenv("srcdir");
	int n = 0, bad = 0, fds, dirfd;
	pid_t live = pauser(), dead = dead_pid();
	struct entry e;
	FILE *f;

	(void)state;
	snprintf(data_dir, sizeof(data_dir), "%s/tests/data/pidfiles", src ? src : ".");
	snprintf(path, sizeof(path), "%s/MANIFEST", data_dir);
	fds = count_fds();
	f = fopen(path, "re");
	assert_non_null(f);
	dirfd = open(test_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	while (fgets(line, sizeof(line), f))
		if (parse_entry(line, &e)) {
			int before = count_fds();
			bad += check_entry(&e, dirfd, live, dead);
			if (count_fds() != before) {
				print_error("%s: %d descriptors leaked\n", e.file,
					    count_fds() - before);
				bad++;
			}
			n++;
		}
	fclose(f);
	close(dirfd);
	assert_true(pid_in_use(live)); /* never signalled */
	pauser_end(live);
	print_message("catalogue: %d files, %d disagreements\n", n, bad);
	assert_true(n >= 60);
	assert_int_equal(bad, 0);
	assert_int_equal(count_fds(), fds);
	expect_no_temp();
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
		cmocka_unit_test(catalogue),
		cmocka_unit_test(proc_missing),
	};

	return cmocka_run_group_tests_name("matrix", tests, test_dir_setup,
					   test_dir_teardown);
}
