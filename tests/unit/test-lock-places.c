/* SPDX-License-Identifier: MIT */
/*
 * Where a lock may be: names resolve and are validated, bad paths are
 * refused, hostile places (symlinks, directories, FIFOs, hard links,
 * writable files and directories) are refused without touching them,
 * inspection never disturbs a holder, and no descriptor leaks.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

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

/*
 * The churn runs until both sides did their share, whichever is faster
 * on a busy machine: at least CHURN_ROUNDS rounds, and until the parent
 * has made CHURN_INSPECTIONS inspections meanwhile.
 */
#define CHURN_ROUNDS 3000
#define CHURN_INSPECTIONS 200

struct churn {
	char path[PATH_MAX];
	struct gate ready, go, enough, report;
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
	while (r == 0 && (rep.rounds < CHURN_ROUNDS || !readable(c->enough.fd[0]))) {
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
	gate_open(&c.enough);
	gate_open(&c.report);
	pid = kid_start(churn_main, &c);
	assert_true(gate_wait_ms(&c.ready, DEADLINE_MS));
	assert_int_equal(pidlock_inspect(c.path, NULL, &info), 0);
	gate_pass(&c.go);
	end = now_ms() + DEADLINE_MS;
	for (; inspections < CHURN_INSPECTIONS; inspections++) {
		if (now_ms() > end)
			fail_msg("%d inspections took over %d ms",
				 CHURN_INSPECTIONS, DEADLINE_MS);
		assert_int_equal(pidlock_inspect(c.path, NULL, &info), 0);
	}
	gate_pass(&c.enough);
	assert_true(get(c.report.fd[0], &rep, sizeof(rep), DEADLINE_MS));
	assert_int_equal(kid_reap(pid, DEADLINE_MS), 0);
	print_message("%d acquire/release rounds, %ld inspections meanwhile, "
		      "%d failures\n", rep.rounds, inspections, rep.failures);
	if (rep.failures)
		fail_msg("%d of %d acquisitions failed while inspected, first: "
			 "%d (%s)", rep.failures, rep.rounds, rep.first_error,
			 pidlock_strerror(rep.first_error));
	assert_true(rep.rounds >= CHURN_ROUNDS);
	assert_int_equal(lstat(c.path, &st), 0); /* kept, truncated */
	assert_int_equal(st.st_size, 0);
	gate_close(&c.ready);
	gate_close(&c.go);
	gate_close(&c.enough);
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

/*
 * A holder that has let go while a reader of its /proc/PID/fdinfo still
 * had the open file description pinned (lockstat, lslocks(8)): the kernel
 * keeps the lock until that reference goes, and no process holds it.  A
 * descriptor in flight in a socket (SCM_RIGHTS, never received) is such a
 * reference that stays until the test lets it go: from the second flock()
 * call on, as a reader's read would have ended.
 */
struct pinner {
	char path[PATH_MAX];
	int sock;
};

static int pinner_main(void *arg)
{
	struct pinner *p = arg;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd = open(p->path, O_RDWR | O_CLOEXEC);

	memset(&u, 0, sizeof(u)); /* the header's padding is sent too */
	cm = CMSG_FIRSTHDR(&m);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return 1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(p->sock, &m, 0) == 1 ? 0 : 2; /* and exits: let go */
}

static int pin_sock = -1;

/* Receives the descriptor in flight and closes it: the pin is over. */
static void unpin(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd;

	if (pin_sock < 0 || recvmsg(pin_sock, &m, MSG_CMSG_CLOEXEC) != 1 ||
	    !(cm = CMSG_FIRSTHDR(&m)) || cm->cmsg_type != SCM_RIGHTS)
		return;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	close(fd);
	pin_sock = -1;
}

static void unpin_from_second_flock(void)
{
	if (mock_calls(MOCK_FLOCK) >= 2)
		unpin();
}

/* Starts a pinner on path; the socket end that holds the pin. */
static int pin_released_lock(const char *path)
{
	static struct pinner p;
	struct stat st;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(p.path, sizeof(p.path), "%s", path);
	p.sock = sv[0];
	assert_int_equal(kid_reap(kid_start(pinner_main, &p), DEADLINE_MS), 0);
	close(sv[0]);
	assert_int_equal(stat(path, &st), 0);
	assert_true(any_lock_on(st.st_dev, st.st_ino)); /* held by nobody */
	return sv[1];
}

static void released_lock_pinned_by_reader(void **state)
{
	const char *path = test_path("t16-pinned.lock");
	const struct pidlock_info *info;
	struct pidlock *lock;
	int sock;

	(void)state;
	write_file(path, "", 0);
	assert_int_equal(pidlock_new(&lock, path), 0);

	/* While the pin lasts, the lock is busy, and nobody is named. */
	sock = pin_released_lock(path);
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_KEEP, PIDLOCK_NO_WAIT),
			 -EWOULDBLOCK);
	info = pidlock_holder(lock);
	assert_int_equal(info->nholders, 0);

	/* A pin that ends after the first try: the second one gets it. */
	mock_reset();
	pin_sock = sock;
	mock_hook(MOCK_FLOCK, unpin_from_second_flock);
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_KEEP, PIDLOCK_NO_WAIT), 0);
	mock_hook(MOCK_FLOCK, NULL);
	assert_int_equal(pin_sock, -1);
	assert_int_equal(pidlock_holder(lock)->nholders, 0);
	assert_int_equal(file_line1_pid(path), getpid());
	assert_int_equal(pidlock_release(lock), 0);
	close(sock);

	/* The same through a descriptor the caller opened (flock(1) FD). */
	sock = pin_released_lock(path);
	pidlock_free(lock);
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(pidlock_new_fd(&lock, fd), 0);
		mock_reset();
		pin_sock = sock;
		mock_hook(MOCK_FLOCK, unpin_from_second_flock);
		assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
		mock_hook(MOCK_FLOCK, NULL);
		assert_int_equal(pin_sock, -1);
		assert_int_equal(pidlock_release(lock), 0);
		pidlock_free(lock);
		close(fd);
	}
	close(sock);
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
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, exit_now,
						  NULL, &result), -EWOULDBLOCK);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	holder_stop(&h);

	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_FREE); /* kept, emptied */
	assert_int_equal(pidlock_inspect(fifo, NULL, &info), 0);
	assert_int_equal(acquire_once(fifo), -PIDLOCK_ENOTREG);
	assert_int_equal(pidlock_critical_section(path, 0, PIDLOCK_NO_WAIT, exit_now,
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
		cmocka_unit_test_teardown(names_resolve_and_validate, test_cleanup),
		cmocka_unit_test_teardown(inspection_never_disturbs, test_cleanup),
		cmocka_unit_test_teardown(released_lock_pinned_by_reader, test_cleanup),
		cmocka_unit_test_teardown(hostile_places_refused, test_cleanup),
		cmocka_unit_test_teardown(no_fd_leaks, test_cleanup),
		cmocka_unit_test_teardown(new_rejects_bad_paths, test_cleanup),
	};

	return cmocka_run_group_tests_name("lock-places", tests, test_dir_setup,
					   test_dir_teardown);
}
