/* SPDX-License-Identifier: MIT */
/*
 * What a child gets: pidlock_update hands the lock to a child in place
 * (and takes it back), and the lock's descriptor is not inherited across
 * exec.
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

/* --- 10. update ------------------------------------------------------------------------ */

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
	kid = kid_start(wait_on_gate, &g);

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
	kid = kid_start(wait_on_gate, &g1);
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
	heir = kid_start(wait_on_gate, &g2);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(fd_not_inherited_across_exec, test_cleanup),
		cmocka_unit_test_teardown(update_names_child_in_place, test_cleanup),
		cmocka_unit_test_teardown(update_self_takes_back, test_cleanup),
		cmocka_unit_test_teardown(update_refused_without_record, test_cleanup),
	};

	return cmocka_run_group_tests_name("lock-handoff", tests, test_dir_setup,
					   test_dir_teardown);
}
