/* SPDX-License-Identifier: MIT */
/*
 * What an acquirer that does not get the lock learns about its holder,
 * what it pays for that, and what release does when the path is no
 * longer ours.  Holders are real child processes; they hand over through
 * pipes and /proc/locks, never through sleeps.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

struct kid {
	struct gate ready, done;
	char path[512];
	pid_t waiter; /* release when this process waits for the lock */
	dev_t dev;
	ino_t ino;
};

/*
 * Holds an exclusive flock of its own; lets go when told through the
 * gate, or (k->waiter set) once that process waits for the lock.  Both
 * with a deadline, so a failing test leaves nothing behind.
 */
static int holder_main(void *arg)
{
	struct kid *k = arg;
	int fd = open(k->path, O_RDONLY | O_CLOEXEC);
	int64_t end = now_ms() + DEADLINE_MS;

	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return 1;
	gate_pass(&k->ready);
	if (!k->waiter)
		return gate_wait_ms(&k->done, DEADLINE_MS) ? 0 : 2;
	while (!proc_locks_has(k->dev, k->ino, true, k->waiter))
		if (now_ms() > end)
			return 3;
	return 0; /* exiting releases the lock */
}

static pid_t hold(struct kid *k, const char *name, pid_t waiter)
{
	struct stat st;
	pid_t pid;

	snprintf(k->path, sizeof(k->path), "%s", test_path(name));
	assert_int_equal(stat(k->path, &st), 0);
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->waiter = waiter;
	gate_open(&k->ready);
	gate_open(&k->done);
	pid = spawn(holder_main, k);
	assert_true(gate_wait_ms(&k->ready, DEADLINE_MS));
	return pid;
}

static void let_go(struct kid *k, pid_t pid)
{
	gate_pass(&k->done);
	assert_int_equal(reap(pid), 0);
	gate_close(&k->ready);
	gate_close(&k->done);
}

/* A record of this boot and host, but of another PID namespace. */
static void write_foreign_ns_record(const char *name, pid_t pid)
{
	struct pidlock_record rec = {
		.pid = pid, .holder = pid, .version = 1, .start_time = 100,
		.pidns = 1, .uid = geteuid(), .time = time(NULL),
	};
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct utsname u;
	int len;

	assert_true(read_file("/proc/sys/kernel/random/boot_id", buf,
			      sizeof(buf)) >= 36);
	memcpy(rec.boot_id, buf, 36);
	rec.boot_id[36] = '\0';
	assert_int_equal(uname(&u), 0);
	snprintf(rec.host, sizeof(rec.host), "%s",
		 u.nodename[0] && !strchr(u.nodename, ' ') ? u.nodename
							   : "localhost");
	snprintf(rec.comm, sizeof(rec.comm), "elsewhere");
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	assert_true(len > 0);
	write_file(test_path(name), buf, (size_t)len);
}

/*
 * A locked record that cannot be checked from here (another PID
 * namespace): the conflict names the holder the kernel shows, not the
 * record's PID, which means nothing in this namespace (the judgement
 * once skipped /proc/locks for such records).
 */
static void busy_uncheckable_record_names_kernel_holder(void **state)
{
	static struct kid k;
	const struct pidlock_info *h;
	struct pidlock *lock;
	pid_t pid;

	(void)state;
	write_foreign_ns_record("ns.lock", 4194303);
	pid = hold(&k, "ns.lock", 0);
	assert_int_equal(pidlock_new(&lock, test_path("ns.lock")), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), -EWOULDBLOCK);
	h = pidlock_holder(lock);
	assert_true(h->state == PIDLOCK_STATE_LIVE ||
		    h->state == PIDLOCK_STATE_LIVE_INHERITED);
	if (h->nholders < 1 || h->holders[0].pid != pid)
		fail_msg("holders: %u, first %d, expected %d (%s)", h->nholders,
			 h->nholders ? (int)h->holders[0].pid : 0, (int)pid,
			 h->reason);
	assert_int_equal(h->live_pid, pid);
	assert_true(h->doubts & PIDLOCK_DOUBT_UNPROVEN);
	pidlock_free(lock);
	let_go(&k, pid);
}

/*
 * A descriptor handle (flock(1)'s "flock 9") that waits and gets the lock
 * never reads /proc/locks: reading it stalls every locker on the machine,
 * and only a caller that does not get the lock needs to know who holds it
 *.  One that times out is told who holds it.
 */
static void fd_handle_reads_no_locks_when_it_gets_the_lock(void **state)
{
	static struct kid k;
	struct pidlock *lock;
	pid_t pid;
	int fd;

	(void)state;
	write_file(test_path("fd.lock"), "", 0);
	pid = hold(&k, "fd.lock", getpid());
	fd = open(test_path("fd.lock"), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pidlock_new_fd(&lock, fd), 0);
	mock_reset();
	assert_int_equal(pidlock_acquire(lock, 0, DEADLINE_MS), 0);
	assert_int_equal(mock_proc_locks_opens(), 0);
	assert_int_equal(reap(pid), 0);
	gate_close(&k.ready);
	gate_close(&k.done);
	pidlock_free(lock);

	pid = hold(&k, "fd.lock", 0);
	assert_int_equal(pidlock_new_fd(&lock, fd), 0);
	assert_int_equal(pidlock_acquire(lock, 0, 50), -ETIMEDOUT);
	assert_int_equal(pidlock_holder(lock)->live_pid, pid);
	pidlock_free(lock);
	let_go(&k, pid);
	close(fd);
}

/*
 * Someone else unlinked our lock file (and maybe made another at the
 * path).  With PIDLOCK_UNLINK, release says PIDLOCK_ENOTOURS and leaves
 * the path alone, and the lock is released anyway.
 */
static void release_after_foreign_unlink_is_enotours(void **state)
{
	const char *path = test_path("gone.lock");
	struct pidlock *lock, *again;
	char buf[64];

	(void)state;
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_UNLINK, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pidlock_release(lock), -PIDLOCK_ENOTOURS);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(pidlock_fd(lock), -1);

	assert_int_equal(pidlock_acquire(lock, PIDLOCK_UNLINK, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(unlink(path), 0);
	write_file(path, "someone else's\n", 15);
	assert_int_equal(pidlock_release(lock), -PIDLOCK_ENOTOURS);
	assert_int_equal(read_file(path, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "someone else's\n");
	/* the lock was released: the path's new file is free to take */
	assert_int_equal(pidlock_new(&again, path), 0);
	assert_int_equal(pidlock_acquire(again, PIDLOCK_NO_RECORD,
					 PIDLOCK_NO_WAIT), 0);
	pidlock_free(again);
	pidlock_free(lock);
}

/*
 * In the default (kept-file) mode release empties the inode it holds,
 * never the path: a file someone else put at the path is left as it is.
 */
static void kept_release_after_foreign_unlink_leaves_the_path(void **state)
{
	const char *path = test_path("gone-kept.lock");
	struct pidlock *lock;
	char buf[64];

	(void)state;
	assert_int_equal(pidlock_new(&lock, path), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	assert_int_equal(unlink(path), 0);
	write_file(path, "someone else's\n", 15);
	assert_int_equal(pidlock_release(lock), 0);
	assert_int_equal(read_file(path, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "someone else's\n");
	assert_int_equal(pidlock_fd(lock), -1);
	pidlock_free(lock);
}

/*
 * The per-inspection memory of /proc answers (pidlock__proc_memo) lives
 * for one inspection only: a process that dies between two inspections
 * is seen dead by the second.
 */
static void proc_memo_lasts_one_inspection(void **state)
{
	struct pidlock_info info;
	pid_t fake = (pid_t)pidlock__pid_max() - 7;
	char line[32];

	(void)state;
	if (pid_in_use(fake))
		skip();
	mock_proc(fake, true, 'S', 1, 0);
	snprintf(line, sizeof(line), "%d\n", (int)fake);
	write_file(test_path("memo.pid"), line, strlen(line));
	assert_int_equal(pidlock_inspect(test_path("memo.pid"), NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_FOREIGN);
	mock_reset();
	mock_proc(fake, false, 'S', 0, ESRCH);
	assert_int_equal(pidlock_inspect(test_path("memo.pid"), NULL, &info), 0);
	if (info.state != PIDLOCK_STATE_STALE)
		fail_msg("a process dead since the last inspection is %s (%s)",
			 pidlock_state_name(info.state), info.reason);
}

/*
 * Where SIGRTMAX is taken (valgrind takes it), a timed wait uses
 * SIGRTMAX-1: it still times out on time, and the signal's disposition is
 * restored afterwards.  Outside valgrind, sigaction() is made to refuse
 * SIGRTMAX, so the fallback is tested in every run.
 */
static void timed_wait_falls_back_to_sigrtmax_minus_1(void **state)
{
	static struct kid k;
	struct sigaction before, after;
	struct pidlock *lock;
	int64_t start, took;
	pid_t pid;

	(void)state;
	write_file(test_path("rt.lock"), "", 0);
	pid = hold(&k, "rt.lock", 0);
	assert_int_equal(sigaction(SIGRTMAX - 1, NULL, &before), 0);
	mock_refuse_signal(SIGRTMAX);
	assert_int_equal(pidlock_new(&lock, test_path("rt.lock")), 0);
	start = now_ms();
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_NO_RECORD, 100),
			 -ETIMEDOUT);
	took = now_ms() - start;
	if (took < 100 || took > DEADLINE_MS)
		fail_msg("a 100 ms wait took %lld ms", (long long)took);
	assert_int_equal(sigaction(SIGRTMAX - 1, NULL, &after), 0);
	assert_ptr_equal(after.sa_handler, before.sa_handler);
	pidlock_free(lock);
	let_go(&k, pid);
}

static const char other_boot[] = "00000000-1111-2222-3333-444444444444";

/* A record of another boot written on host, for a dead PID. */
static void write_other_boot_record(const char *name, const char *host)
{
	struct pidlock_record rec = {
		.pid = 4242, .holder = 4242, .version = 1, .start_time = 100,
		.pidns = 1, .uid = geteuid(), .time = time(NULL),
	};
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len;

	snprintf(rec.boot_id, sizeof(rec.boot_id), "%s", other_boot);
	snprintf(rec.host, sizeof(rec.host), "%s", host);
	snprintf(rec.comm, sizeof(rec.comm), "old");
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	assert_true(len > 0);
	write_file(test_path(name), buf, (size_t)len);
}

/* In a UTS namespace of its own: 0 when the renamed host is noticed. */
static int rename_host_main(void *arg)
{
	const char *path = arg;
	struct pidlock_info info;
	int64_t end = now_ms() + DEADLINE_MS;

	if (unshare(CLONE_NEWUTS) < 0 || sethostname("pidlock-a", 9) < 0)
		return 10;
	if (pidlock_inspect(path, NULL, &info) < 0 ||
	    info.state != PIDLOCK_STATE_REMOTE)
		return 11;
	if (sethostname("pidlock-b", 9) < 0)
		return 12;
	/* The host name is re-read once a second: wait for that, no more. */
	while (pidlock_inspect(path, NULL, &info) == 0 &&
	       info.state == PIDLOCK_STATE_REMOTE)
		if (now_ms() > end)
			return 13;
	return info.state == PIDLOCK_STATE_STALE ? 0 : 14;
}

/*
 * The host name is remembered between inspections (a scan of thousands
 * of files asks once), but not for long: a renamed host is noticed within
 * a second or two, and a record of the new name is then this host's.
 */
static void host_name_cache_follows_a_rename(void **state)
{
	int r;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP %s: renaming the host in a UTS namespace "
			      "needs root (CI runs as root)\n", __func__);
		skip();
	}
	write_other_boot_record("host.lock", "pidlock-b");
	r = reap(spawn(rename_host_main, (void *)test_path("host.lock")));
	if (r != 0)
		fail_msg("renamed host: step %d failed (11: not remote before, "
			 "13: still remote after the rename)", r);
}

static int reset(void **state)
{
	(void)state;
	mock_reset();
	return test_dir_empty();
}

#define T(f) cmocka_unit_test_setup_teardown(f, reset, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(busy_uncheckable_record_names_kernel_holder),
		T(fd_handle_reads_no_locks_when_it_gets_the_lock),
		T(release_after_foreign_unlink_is_enotours),
		T(kept_release_after_foreign_unlink_leaves_the_path),
		T(proc_memo_lasts_one_inspection),
		T(timed_wait_falls_back_to_sigrtmax_minus_1),
		T(host_name_cache_follows_a_rename),
	};

	return cmocka_run_group_tests_name("holder", tests, test_dir_setup,
					   test_dir_teardown);
}
