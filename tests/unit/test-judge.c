/* SPDX-License-Identifier: MIT */
/*
 * Liveness judgement with faked processes: lock files are written by
 * hand, their PIDs are fakes (mock_proc) in a range no process of this
 * machine uses, and each case is checked twice, as pidlock_inspect()
 * reports it and as pidlock_acquire(PIDLOCK_NO_WAIT) acts on it.
 *
 * Records meant to be judged locally carry this machine's facts, read
 * here independently of the library: the boot id, the host name and the
 * PID namespace.  The kill() fake fails the test on any call with a PID
 * <= 0 or a real signal, so every test also proves nothing was signalled.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

/* --- this machine ------------------------------------------------------- */

static struct {
	char boot_id[37];
	char host[65];
	uint64_t pidns;
	int64_t btime;  /* boot time, seconds since the epoch */
	long ticks;     /* clock ticks per second */
	long pid_max;
} machine;

/* PIDs that no process has; the tests give them a fake life. */
#define NFAKES 4
static pid_t fakes[NFAKES];

static int64_t read_btime(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char *line = NULL;
	size_t size = 0;
	long long bt = 0;

	if (!f)
		return 0;
	while (getline(&line, &size, f) > 0)
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	free(line);
	fclose(f);
	return bt;
}

static int machine_read(void)
{
	char buf[64];
	struct utsname u;
	struct stat st;
	int n = 0;

	if (read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) < 36)
		return -1;
	memcpy(machine.boot_id, buf, 36);
	machine.boot_id[36] = '\0';
	if (uname(&u) < 0 || !u.nodename[0] || strchr(u.nodename, ' '))
		snprintf(machine.host, sizeof(machine.host), "localhost");
	else
		snprintf(machine.host, sizeof(machine.host), "%s", u.nodename);
	if (stat("/proc/self/ns/pid", &st) < 0)
		return -1;
	machine.pidns = st.st_ino;
	machine.btime = read_btime();
	machine.ticks = sysconf(_SC_CLK_TCK);
	if (read_file("/proc/sys/kernel/pid_max", buf, sizeof(buf)) <= 0)
		return -1;
	machine.pid_max = strtol(buf, NULL, 10);
	if (machine.btime <= 0 || machine.ticks <= 0 || machine.pid_max < 300)
		return -1;
	/* Fakes just below pid_max: PIDs wrap long before they get there. */
	for (pid_t pid = (pid_t)machine.pid_max - 1; n < NFAKES && pid > 300; pid--)
		if (!pid_in_use(pid))
			fakes[n++] = pid;
	return n == NFAKES ? 0 : -1;
}

static int group_setup(void **state)
{
	if (machine_read() < 0) {
		fprintf(stderr, "test-judge: cannot read this machine's facts\n");
		return -1;
	}
	return test_dir_setup(state);
}

/* Before and after each test: no fake armed, an empty directory. */
static int test_reset(void **state)
{
	(void)state;
	mock_reset();
	return test_dir_empty();
}

/* --- lock files --------------------------------------------------------- */

/* A record that this machine judges locally, for pid started at start. */
static struct pidlock_record local_record(pid_t pid, uint64_t start)
{
	struct pidlock_record r = {
		.pid = pid, .holder = pid, .version = 1, .start_time = start,
		.pidns = machine.pidns, .uid = geteuid(), .time = time(NULL),
	};

	memcpy(r.boot_id, machine.boot_id, sizeof(r.boot_id));
	snprintf(r.host, sizeof(r.host), "%s", machine.host);
	snprintf(r.comm, sizeof(r.comm), "fake-holder");
	return r;
}

static void write_record(const char *name, const struct pidlock_record *rec)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len = pidlock__record_format(rec, buf, sizeof(buf));

	assert_true(len > 0);
	write_file(test_path(name), buf, (size_t)len);
}

/* A record with line 1 replaced by line1 (which need not be a PID). */
static void write_record_line1(const char *name, const char *line1)
{
	struct pidlock_record rec = local_record(fakes[0], 100);
	char buf[PIDLOCK_RECORD_MAX + 1], out[PIDLOCK_RECORD_MAX + 64];
	int len = pidlock__record_format(&rec, buf, sizeof(buf));
	char *rest;

	assert_true(len > 0);
	rest = strchr(buf, '\n');
	assert_non_null(rest);
	snprintf(out, sizeof(out), "%s%s", line1, rest);
	write_file(test_path(name), out, strlen(out));
}

static void write_plain(const char *name, pid_t pid, int64_t mtime)
{
	char buf[32];
	struct timespec times[2];

	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	write_file(test_path(name), buf, strlen(buf));
	if (mtime) {
		times[0].tv_sec = times[1].tv_sec = mtime;
		times[0].tv_nsec = times[1].tv_nsec = 0;
		assert_int_equal(utimensat(AT_FDCWD, test_path(name), times, 0), 0);
	}
}

/* A start time, in ticks after boot, of a process started at wall time t. */
static uint64_t ticks_at(int64_t t)
{
	return (uint64_t)(t - machine.btime) * (uint64_t)machine.ticks;
}

/* --- the two views ------------------------------------------------------ */

/* pidlock_inspect() says state, with a reason (containing has, if set). */
static void expect_inspect(const char *name, enum pidlock_state state,
			   enum pidlock_type type, const char *has)
{
	struct pidlock_info info;

	assert_int_equal(pidlock_inspect(test_path(name), NULL, &info), 0);
	if (info.state != state)
		fail_msg("%s: inspect says %s (%s), expected %s", name,
			 pidlock_state_name(info.state), info.reason,
			 pidlock_state_name(state));
	if (!info.reason[0])
		fail_msg("%s: %s without a reason", name,
			 pidlock_state_name(state));
	if (has && !strstr(info.reason, has))
		fail_msg("%s: reason \"%s\" does not mention \"%s\"", name,
			 info.reason, has);
	if (info.type != type)
		fail_msg("%s: type %s, expected %s", name,
			 pidlock_type_name(info.type), pidlock_type_name(type));
}

/*
 * pidlock_acquire(NO_WAIT) breaks the file: it succeeds, says it
 * recovered, reports the file as judged (state, and the PID it named:
 * 0 to skip), and the path then names our inode with our record.
 */
static void expect_recovers(const char *name, unsigned flags,
			    enum pidlock_state was, pid_t pid)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	const struct pidlock_info *h;
	struct pidlock_record rec;
	struct pidlock *lock;
	struct stat mine, named;
	ssize_t n;
	int r;

	assert_int_equal(pidlock_new(&lock, test_path(name)), 0);
	r = pidlock_acquire(lock, flags, PIDLOCK_NO_WAIT);
	if (r != 0)
		fail_msg("%s: acquire: %s, expected recovery from %s", name,
			 pidlock_strerror(r), pidlock_state_name(was));
	assert_int_equal(pidlock_recovered(lock), 1);
	h = pidlock_holder(lock);
	if (h->state != was)
		fail_msg("%s: acquire broke a %s file (%s), expected %s", name,
			 pidlock_state_name(h->state), h->reason,
			 pidlock_state_name(was));
	assert_true(h->reason[0] != '\0');
	if (pid) {
		assert_int_equal(h->pid, pid);
		if (h->has_record)
			assert_int_equal(h->record.pid, pid);
	}
	assert_int_equal(fstat(pidlock_fd(lock), &mine), 0);
	assert_int_equal(lstat(test_path(name), &named), 0);
	assert_true(mine.st_dev == named.st_dev && mine.st_ino == named.st_ino);
	n = read_file(test_path(name), buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(pidlock_record_parse(buf, (size_t)n, &rec, NULL), 0);
	assert_int_equal(rec.pid, getpid());
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
	/* Recovered in place, emptied on release (pidlock(5)). */
	assert_int_equal(lstat(test_path(name), &named), 0);
	assert_true(named.st_ino == mine.st_ino && named.st_size == 0);
}

/* pidlock_acquire(NO_WAIT) says busy, shows the holder, touches nothing. */
static const struct pidlock_info *expect_busy(struct pidlock **lockp,
					      const char *name, unsigned flags,
					      enum pidlock_state state)
{
	char before[PIDLOCK_RECORD_MAX + 1], after[PIDLOCK_RECORD_MAX + 1];
	const struct pidlock_info *h;
	ssize_t n = read_file(test_path(name), before, sizeof(before));
	int r;

	assert_true(n >= 0);
	assert_int_equal(pidlock_new(lockp, test_path(name)), 0);
	r = pidlock_acquire(*lockp, flags, PIDLOCK_NO_WAIT);
	if (r != -EWOULDBLOCK)
		fail_msg("%s: acquire: %s, expected busy (%s)", name,
			 r ? pidlock_strerror(r) : "success",
			 pidlock_state_name(state));
	assert_int_equal(pidlock_fd(*lockp), -1);
	h = pidlock_holder(*lockp);
	if (h->state != state)
		fail_msg("%s: holder is %s (%s), expected %s", name,
			 pidlock_state_name(h->state), h->reason,
			 pidlock_state_name(state));
	assert_true(h->reason[0] != '\0');
	assert_int_equal(read_file(test_path(name), after, sizeof(after)), n);
	assert_memory_equal(before, after, (size_t)n);
	return h;
}

/* --- records ------------------------------------------------------------ */

/* No /proc entry, kill() says ESRCH: dead, and kill was the last word. */
static void record_dead_pid_is_stale(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	mock_proc(fakes[0], false, 0, 0, ESRCH);
	write_record("dead.lock", &rec);
	expect_inspect("dead.lock", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PIDLOCK,
		       "dead");
	assert_int_equal(mock_kill_calls(), 1); /* /proc hid it: ask kill */
	expect_recovers("dead.lock", 0, PIDLOCK_STATE_STALE, fakes[0]);
}

/*
 * /proc hides the process and kill() says EPERM: it exists.  An unlocked
 * record is stale whatever its PID, so that changes only the reason.
 */
static void record_hidden_pid_is_stale(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	mock_proc(fakes[0], false, 0, 0, EPERM);
	write_record("hidden.lock", &rec);
	expect_inspect("hidden.lock", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PIDLOCK,
		       NULL);
	assert_int_equal(mock_kill_calls(), 1);
	expect_recovers("hidden.lock", 0, PIDLOCK_STATE_STALE, fakes[0]);
}

/* The same process behind a plain pidfile: EPERM means alive, so busy. */
static void plain_hidden_pid_eperm_is_foreign(void **state)
{
	struct pidlock *lock;
	int kills;

	(void)state;
	mock_proc(fakes[0], false, 0, 0, EPERM);
	write_plain("hidden.pid", fakes[0], 0);
	expect_inspect("hidden.pid", PIDLOCK_STATE_FOREIGN, PIDLOCK_TYPE_PLAIN,
		       NULL);
	kills = mock_kill_calls();
	assert_int_equal(kills, 1);
	assert_int_equal(expect_busy(&lock, "hidden.pid", 0,
				     PIDLOCK_STATE_FOREIGN)->pid, fakes[0]);
	assert_true(mock_kill_calls() > kills);
	pidlock_free(lock);
}

static void record_zombie_is_stale(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	mock_proc(fakes[0], true, 'Z', 4242, 0);
	write_record("zombie.lock", &rec);
	expect_inspect("zombie.lock", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PIDLOCK,
		       "zombie");
	expect_recovers("zombie.lock", 0, PIDLOCK_STATE_STALE, fakes[0]);
	/* /proc answered every question: kill() alone decides nothing. */
	assert_int_equal(mock_kill_calls(), 0);
}

static void record_other_start_time_is_reused(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	mock_proc(fakes[0], true, 'S', 4242 + 100, 0);
	write_record("reused.lock", &rec);
	expect_inspect("reused.lock", PIDLOCK_STATE_REUSED, PIDLOCK_TYPE_PIDLOCK,
		       NULL);
	expect_recovers("reused.lock", 0, PIDLOCK_STATE_REUSED, fakes[0]);
	assert_int_equal(mock_kill_calls(), 0);
}

/* Flips the first hex digit: another boot id of the same form. */
static void other_boot_id(char *boot)
{
	boot[0] = boot[0] == 'a' ? 'b' : 'a';
}

/* Same host, other boot: the holder died in the reboot, PID or not. */
static void record_previous_boot_is_stale(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	other_boot_id(rec.boot_id);
	mock_proc(fakes[0], true, 'S', 4242, 0); /* a PID that lives again */
	write_record("boot.lock", &rec);
	expect_inspect("boot.lock", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PIDLOCK,
		       "boot");
	expect_recovers("boot.lock", 0, PIDLOCK_STATE_STALE, fakes[0]);
	assert_int_equal(mock_kill_calls(), 0);
}

/* Other boot and other host: another machine's lock, never judged by PID. */
static void record_other_host_is_remote(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);
	const struct pidlock_info *h;
	struct pidlock *lock;

	(void)state;
	other_boot_id(rec.boot_id);
	snprintf(rec.host, sizeof(rec.host), "elsewhere.example");
	mock_proc(fakes[0], false, 0, 0, ESRCH); /* dead here: irrelevant */
	write_record("remote.lock", &rec);
	expect_inspect("remote.lock", PIDLOCK_STATE_REMOTE, PIDLOCK_TYPE_PIDLOCK,
		       "elsewhere.example");
	h = expect_busy(&lock, "remote.lock", 0, PIDLOCK_STATE_REMOTE);
	assert_int_equal(h->has_record, 1);
	assert_string_equal(h->record.host, "elsewhere.example");
	assert_int_equal(h->record.pid, fakes[0]);
	assert_non_null(strstr(h->reason, "elsewhere.example"));
	pidlock_free(lock);
	assert_int_equal(mock_kill_calls(), 0);
	expect_recovers("remote.lock", PIDLOCK_BREAK_REMOTE,
			PIDLOCK_STATE_REMOTE, fakes[0]);
	assert_int_equal(mock_kill_calls(), 0);
}

/* Holder in another PID namespace: its PID means nothing here. */
static void record_other_pidns_is_stale(void **state)
{
	struct pidlock_record rec = local_record(fakes[0], 4242);

	(void)state;
	rec.pidns = machine.pidns + 1;
	mock_proc(fakes[0], true, 'S', 4242, 0); /* same PID, same start here */
	write_record("ns.lock", &rec);
	expect_inspect("ns.lock", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PIDLOCK, NULL);
	expect_recovers("ns.lock", 0, PIDLOCK_STATE_STALE, fakes[0]);
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * Line 1 of a record that is no PID: the record is corrupt, nobody is
 * asked whether "0" or "-1" lives, and an acquirer breaks it.
 */
static void record_line1_bad_pid_is_corrupt(void **state)
{
	static const char *const bad[] = { "0", "-1", "99999999999" };
	char name[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "bad%zu.lock", i);
		write_record_line1(name, bad[i]);
		expect_inspect(name, PIDLOCK_STATE_CORRUPT, PIDLOCK_TYPE_PIDLOCK,
			       NULL);
		expect_recovers(name, 0, PIDLOCK_STATE_CORRUPT, 0);
	}
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * PID 1: a plain pidfile naming init is a live foreign process; a record
 * naming it is unlocked, hence stale or reused, never foreign.
 */
static void pid1_plain_is_foreign_record_is_not(void **state)
{
	struct pidlock_record rec = local_record(1, 1);
	struct pidlock_info info;
	struct pidlock *lock;

	(void)state;
	write_file(test_path("init.pid"), "1\n", 2);
	expect_inspect("init.pid", PIDLOCK_STATE_FOREIGN, PIDLOCK_TYPE_PLAIN,
		       NULL);
	assert_int_equal(expect_busy(&lock, "init.pid", 0,
				     PIDLOCK_STATE_FOREIGN)->pid, 1);
	pidlock_free(lock);

	write_record("init.lock", &rec);
	assert_int_equal(pidlock_inspect(test_path("init.lock"), NULL, &info), 0);
	if (info.state != PIDLOCK_STATE_STALE && info.state != PIDLOCK_STATE_REUSED)
		fail_msg("unlocked record of PID 1: %s (%s)",
			 pidlock_state_name(info.state), info.reason);
	expect_recovers("init.lock", 0, info.state, 1);
}

/* A record PID the parser accepts (<= 4194304) but this kernel cannot. */
static void record_pid_above_pid_max_is_corrupt(void **state)
{
	struct pidlock_record rec;

	(void)state;
	if (machine.pid_max >= PIDLOCK_PID_LIMIT) {
		print_message("SKIP %s: pid_max is %ld, nothing lies above it\n",
			      __func__, machine.pid_max);
		skip();
	}
	rec = local_record((pid_t)machine.pid_max + 1, 4242);
	write_record("high.lock", &rec);
	expect_inspect("high.lock", PIDLOCK_STATE_CORRUPT, PIDLOCK_TYPE_PIDLOCK,
		       "pid_max");
	expect_recovers("high.lock", 0, PIDLOCK_STATE_CORRUPT,
			(pid_t)machine.pid_max + 1);
	assert_int_equal(mock_kill_calls(), 0);
}

/* --- plain pidfiles ------------------------------------------------------ */

static void plain_dead_pid_is_stale(void **state)
{
	(void)state;
	mock_proc(fakes[1], false, 0, 0, ESRCH);
	write_plain("dead.pid", fakes[1], 0);
	expect_inspect("dead.pid", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PLAIN, NULL);
	assert_int_equal(mock_kill_calls(), 1);
	expect_recovers("dead.pid", 0, PIDLOCK_STATE_STALE, fakes[1]);
}

static void plain_zombie_is_stale(void **state)
{
	(void)state;
	mock_proc(fakes[1], true, 'Z', ticks_at(machine.btime + 1), 0);
	write_plain("zombie.pid", fakes[1], 0);
	expect_inspect("zombie.pid", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PLAIN,
		       "zombie");
	expect_recovers("zombie.pid", 0, PIDLOCK_STATE_STALE, fakes[1]);
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * A live process's plain pidfile whose time is in doubt: foreign, the
 * doubt reported (why), the PID not vouched for, busy for acquirers, and
 * nothing signalled.
 */
static void expect_doubted_foreign(const char *name, pid_t pid, const char *why)
{
	struct pidlock_info info;
	struct pidlock *lock;

	expect_inspect(name, PIDLOCK_STATE_FOREIGN, PIDLOCK_TYPE_PLAIN, why);
	assert_int_equal(pidlock_inspect(test_path(name), NULL, &info), 0);
	assert_true(info.doubts & PIDLOCK_DOUBT_START);
	assert_int_equal(info.live_pid, 0);
	assert_int_equal(expect_busy(&lock, name, 0, PIDLOCK_STATE_FOREIGN)->pid,
			 pid);
	pidlock_free(lock);
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * The file's time says its PID's process started after it was written
 * (a reuse, or a stepped clock, a restored snapshot, touch -d): only proof
 * of death makes a plain pidfile stale, so the live process keeps it; the
 * doubt is reported and the PID is not vouched for.
 */
static void plain_started_after_mtime_is_doubted(void **state)
{
	int64_t now = time(NULL);

	(void)state;
	if (now - machine.btime < 30) {
		print_message("SKIP %s: booted %llds ago, too recent to tell "
			      "old from new\n", __func__,
			      (long long)(now - machine.btime));
		skip();
	}
	mock_proc(fakes[1], true, 'S', ticks_at(now), 0);
	write_plain("reused.pid", fakes[1], machine.btime + 5);
	expect_doubted_foreign("reused.pid", fakes[1],
			       "started after the file was written");
}

/* Alive and started before the file was written: its writer, busy. */
static void plain_started_before_mtime_is_foreign(void **state)
{
	struct pidlock *lock;

	(void)state;
	mock_proc(fakes[1], true, 'S', ticks_at(machine.btime + 1), 0);
	write_plain("alive.pid", fakes[1], 0);
	expect_inspect("alive.pid", PIDLOCK_STATE_FOREIGN, PIDLOCK_TYPE_PLAIN,
		       NULL);
	assert_int_equal(expect_busy(&lock, "alive.pid", 0,
				     PIDLOCK_STATE_FOREIGN)->pid, fakes[1]);
	pidlock_free(lock);
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * A pidfile older than this boot names a live process: a clock stepped
 * after boot, a VM snapshot or touch -d make such files, so the time is a
 * doubt, not a verdict; with its PID dead it is stale.
 */
static void plain_written_before_boot_is_doubted(void **state)
{
	(void)state;
	mock_proc(fakes[1], true, 'S', ticks_at(machine.btime + 1), 0);
	write_plain("old.pid", fakes[1], machine.btime - 1000);
	expect_doubted_foreign("old.pid", fakes[1], "predates the boot");
	mock_proc(fakes[2], false, 'S', 0, ESRCH); /* kill(pid, 0) says so */
	write_plain("dead.pid", fakes[2], machine.btime - 1000);
	expect_inspect("dead.pid", PIDLOCK_STATE_STALE, PIDLOCK_TYPE_PLAIN,
		       "before the last boot");
	expect_recovers("dead.pid", 0, PIDLOCK_STATE_STALE, fakes[2]);
}

/*
 * Plain files whose line 1 looks numeric but is no PID: corrupt.  An
 * acquirer locks them in place and leaves their bytes alone; no PID is
 * ever asked about.
 */
static void plain_bad_pid_is_corrupt_and_kept(void **state)
{
	static const char *const bad[] = { "0\n", "-1\n", "99999999999\n" };
	char buf[64];
	struct pidlock *lock;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(test_path("bad.pid"), bad[i], strlen(bad[i]));
		expect_inspect("bad.pid", PIDLOCK_STATE_CORRUPT, PIDLOCK_TYPE_PLAIN,
			       NULL);
		assert_int_equal(pidlock_new(&lock, test_path("bad.pid")), 0);
		assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
		assert_int_equal(pidlock_recovered(lock), 0);
		assert_int_equal(pidlock_release(lock), 0);
		pidlock_free(lock);
		assert_int_equal(read_file(test_path("bad.pid"), buf, sizeof(buf)),
				 (ssize_t)strlen(bad[i]));
		assert_string_equal(buf, bad[i]);
	}
	assert_int_equal(mock_kill_calls(), 0);
}

/*
 * The kernel writes /proc/locks a page per read(): when locks change in
 * between, a line comes twice.  The snapshot counts each lock once.
 */
static void snapshot_drops_repeated_lines(void **state)
{
	static const char locks[] =
		"1: FLOCK  ADVISORY  WRITE 4242 08:01:777 0 EOF\n"
		"2: FLOCK  ADVISORY  READ  4243 08:01:778 0 EOF\n"
		"3: FLOCK  ADVISORY  READ  4244 08:01:778 0 EOF\n"
		"1: FLOCK  ADVISORY  WRITE 4242 08:01:777 0 EOF\n"
		"3: FLOCK  ADVISORY  READ  4244 08:01:778 0 EOF\n";
	struct pidlock_snapshot *snap;
	struct pidlock_kernel_holder h;
	dev_t dev;
	ino_t ino;

	(void)state;
	mock_proc_locks(locks);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	assert_int_equal(pidlock_snapshot_count(snap), 3);
	assert_int_equal(pidlock_snapshot_get(snap, 0, &dev, &ino, &h), 0);
	assert_int_equal(ino, 777);
	assert_int_equal(h.pid, 4242);
	assert_int_equal(pidlock_snapshot_get(snap, 1, &dev, &ino, &h), 0);
	assert_int_equal(ino, 778);
	assert_int_equal(pidlock_snapshot_get(snap, 2, &dev, &ino, &h), 0);
	assert_int_equal(ino, 778);
	assert_int_equal(h.pid, 4244);
	pidlock_snapshot_free(snap);
}

/*
 * /proc/locks is read a page at a time and can skip a line when locks
 * listed before it go meanwhile: a held lock whose line was skipped (here,
 * a /proc/locks that lists nothing) is still live, by its holder's fdinfo.
 */
static void skipped_line_still_live(void **state)
{
	struct pidlock_info info;
	struct pidlock *lock;

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path("skipped.lock")), 0);
	assert_int_equal(pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT), 0);
	mock_proc_locks("");
	assert_int_equal(pidlock_inspect(test_path("skipped.lock"), NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	assert_int_equal(info.live_pid, getpid());
	mock_proc_locks(NULL);
	assert_int_equal(pidlock_release(lock), 0);
	pidlock_free(lock);
}

/*
 * OFD locks are listed with PID -1, so two of them on the same range
 * make identical lines: both are locks, neither is a repeat.
 */
static void snapshot_keeps_identical_ofd_lines(void **state)
{
	static const char locks[] =
		"1: OFDLCK ADVISORY  READ  -1 08:01:779 0 EOF\n"
		"2: OFDLCK ADVISORY  READ  -1 08:01:779 0 EOF\n";
	struct pidlock_snapshot *snap;

	(void)state;
	mock_proc_locks(locks);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	assert_int_equal(pidlock_snapshot_count(snap), 2);
	pidlock_snapshot_free(snap);
}

static int ofd_read_lock(int fd)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl);
}

struct ofd_kid {
	struct gate ready, done;
	char path[512];
};

/* Holds an OFD read lock of its own until told to go. */
static int ofd_kid_main(void *arg)
{
	struct ofd_kid *k = arg;
	int fd = open(k->path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || ofd_read_lock(fd) < 0)
		return 1;
	gate_pass(&k->ready);
	/* Bounded: a failing test must not leave this child behind. */
	return gate_wait_ms(&k->done, 20000) ? 0 : 2;
}

static bool has_holder_pid(const struct pidlock_info *info, pid_t pid)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (!info->holders[i].waiting && info->holders[i].pid == pid)
			return true;
	return false;
}

static void expect_named_holders(const struct pidlock_info *info, pid_t a,
				 pid_t b)
{
	for (unsigned i = 0; i < info->nholders; i++)
		if (info->holders[i].pid <= 0)
			fail_msg("holder %u has PID %d", i, (int)info->holders[i].pid);
	if (!has_holder_pid(info, a) || !has_holder_pid(info, b))
		fail_msg("holders %u, first %d: expected %d and %d",
			 info->nholders, info->nholders ? (int)info->holders[0].pid : 0,
			 (int)a, (int)b);
}

/*
 * Holders of OFD locks (lockrun --fcntl, flock --fcntl) are named: the
 * kernel shows them as PID -1 in /proc/locks but lists each in the fdinfo
 * of the descriptors that hold them, as lslocks(8) reads it.  Two open file descriptions of this process and one of a child
 * hold read locks on the same range; the snapshot counts three locks.
 */
static void ofd_holders_are_named(void **state)
{
	static struct ofd_kid k;
	struct pidlock_snapshot *snap;
	struct pidlock_kernel_holder h;
	const struct pidlock_info *busy;
	struct pidlock_info info;
	struct pidlock *lock;
	struct stat st;
	size_t mine = 0;
	dev_t dev;
	ino_t ino;
	pid_t kid;
	int fd1, fd2;

	(void)state;
	snprintf(k.path, sizeof(k.path), "%s", test_path("ofd.lock"));
	write_file(k.path, "", 0);
	assert_int_equal(stat(k.path, &st), 0);
	fd1 = open(k.path, O_RDWR | O_CLOEXEC);
	fd2 = open(k.path, O_RDWR | O_CLOEXEC);
	assert_true(fd1 >= 0 && fd2 >= 0);
	assert_int_equal(ofd_read_lock(fd1), 0);
	assert_int_equal(ofd_read_lock(fd2), 0);
	gate_open(&k.ready);
	gate_open(&k.done);
	kid = spawn(ofd_kid_main, &k);
	assert_true(gate_wait_ms(&k.ready, 5000));

	/* /proc/locks comes a page per read: while other suites take and
	 * release locks, a line can be skipped or read twice (identical OFD
	 * lines are kept, as they may be two locks).  Three, once. */
	for (int tries = 0; tries < 100 && mine != 3; tries++) {
		mine = 0;
		assert_int_equal(pidlock_snapshot_new(&snap), 0);
		for (size_t i = 0; i < pidlock_snapshot_count(snap); i++)
			if (pidlock_snapshot_get(snap, i, &dev, &ino, &h) == 0 &&
			    dev == st.st_dev && ino == st.st_ino)
				mine++;
		pidlock_snapshot_free(snap);
	}
	assert_int_equal(mine, 3);

	assert_int_equal(pidlock_inspect(k.path, NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_LIVE);
	expect_named_holders(&info, getpid(), kid);
	assert_true(info.live_pid == getpid() || info.live_pid == kid);

	assert_int_equal(pidlock_new(&lock, k.path), 0);
	assert_int_equal(pidlock_acquire(lock, PIDLOCK_OFD, PIDLOCK_NO_WAIT),
			 -EWOULDBLOCK);
	busy = pidlock_holder(lock);
	expect_named_holders(busy, getpid(), kid);
	pidlock_free(lock);

	gate_pass(&k.done);
	assert_int_equal(reap(kid), 0);
	gate_close(&k.ready);
	gate_close(&k.done);
	close(fd1);
	close(fd2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_reset, test_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(record_dead_pid_is_stale),
		T(record_hidden_pid_is_stale),
		T(plain_hidden_pid_eperm_is_foreign),
		T(record_zombie_is_stale),
		T(record_other_start_time_is_reused),
		T(record_previous_boot_is_stale),
		T(record_other_host_is_remote),
		T(record_other_pidns_is_stale),
		T(record_line1_bad_pid_is_corrupt),
		T(pid1_plain_is_foreign_record_is_not),
		T(record_pid_above_pid_max_is_corrupt),
		T(plain_dead_pid_is_stale),
		T(plain_zombie_is_stale),
		T(plain_started_after_mtime_is_doubted),
		T(plain_started_before_mtime_is_foreign),
		T(plain_written_before_boot_is_doubted),
		T(plain_bad_pid_is_corrupt_and_kept),
		T(snapshot_drops_repeated_lines),
		T(snapshot_keeps_identical_ofd_lines),
		T(skipped_line_still_live),
		T(ofd_holders_are_named),
	};

	return cmocka_run_group_tests_name("judge", tests, group_setup,
					   test_dir_teardown);
}
