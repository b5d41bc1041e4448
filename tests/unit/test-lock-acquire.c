/* SPDX-License-Identifier: MIT */
/*
 * Acquiring and releasing with real processes: creation and the record,
 * racing creators, a killed holder recovered, concurrent breakers, keep
 * mode over existing files, shared holders.
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

/* --- 13. shared --------------------------------------------------------------------------------- */

/*
 * Taking a kept, empty file (the usual acquisition) costs one look at the
 * name before the lock and one after, no read (the look after the lock
 * says the file is empty) and one write; the writer is reopened from the
 * locked descriptor, so the only openat by name is the locked one's.
 */
static void kept_empty_file_takes_few_calls(void **state)
{
	const char *path = test_path("few.lock");
	struct pidlock *lock;
	struct stat st;
	int stats, reads, writes, opens;

	(void)state;
	write_file(path, "", 0);
	assert_int_equal(pidlock_new(&lock, path), 0);
	stats = mock_calls(MOCK_FSTATAT);
	reads = mock_calls(MOCK_PREAD);
	writes = mock_calls(MOCK_PWRITE);
	opens = mock_calls(MOCK_OPENAT);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(file_line1_pid(path), getpid());
	assert_int_equal(mock_calls(MOCK_FSTATAT) - stats, 2);
	assert_int_equal(mock_calls(MOCK_PREAD) - reads, 0);
	assert_int_equal(mock_calls(MOCK_PWRITE) - writes, 1);
	assert_int_equal(mock_calls(MOCK_OPENAT) - opens, 2); /* dir, file */
	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0); /* kept, emptied */
	pidlock_free(lock);
}

/*
 * A held lock costs two descriptors (the locked one and the record's
 * writer) when release empties the file; the directory is kept too only
 * when release unlinks the file relative to it (PIDLOCK_UNLINK, on a file
 * it created: a kept file found there stays).  Release gives all back.
 */
static void held_lock_costs_two_descriptors(void **state)
{
	const struct { unsigned flags; int held; } modes[] = {
		{ 0, 2 }, { PIDLOCK_KEEP, 2 }, { PIDLOCK_UNLINK, 3 },
	};
	const char *path = test_path("fds.lock");

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct pidlock *lock;
		int before;

		(void)unlink(path);
		assert_int_equal(pidlock_new(&lock, path), 0);
		before = count_fds();
		assert_int_equal(pidlock_acquire(lock, modes[i].flags, PIDLOCK_NO_WAIT), 0);
		assert_int_equal(count_fds() - before, modes[i].held);
		assert_int_equal(pidlock_release(lock), 0);
		assert_int_equal(count_fds(), before);
		pidlock_free(lock);
	}
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(create_release_record_cloexec, test_cleanup),
		cmocka_unit_test_teardown(kept_empty_file_takes_few_calls, test_cleanup),
		cmocka_unit_test_teardown(held_lock_costs_two_descriptors, test_cleanup),
		cmocka_unit_test_teardown(racing_creators_one_wins, test_cleanup),
		cmocka_unit_test_teardown(killed_holder_recovered, test_cleanup),
		cmocka_unit_test_teardown(concurrent_breakers_one_wins, test_cleanup),
		cmocka_unit_test_teardown(keep_mode_existing_files, test_cleanup),
		cmocka_unit_test_teardown(shared_holders, test_cleanup),
	};

	return cmocka_run_group_tests_name("lock-acquire", tests, test_dir_setup,
					   test_dir_teardown);
}
