/* SPDX-License-Identifier: MIT */
/*
 * pidlock_inspect() and pidlock_inspectat() on the basic states, with real
 * processes: no file, a live holder, a killed one, a kept file nobody
 * holds, a plain pidfile of a live process.  Inspection judges and never
 * changes anything: each test also checks the file is as it was.
 *
 * The fine points of the judgement (PID reuse, boots, hosts, namespaces,
 * doubts) are test-judge's; this is the public entry point over them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The file's bytes and metadata, to show inspection left it alone. */
struct look {
	char text[PIDLOCK_RECORD_MAX + 1];
	ssize_t len;
	struct stat st;
};

static void look_at(const char *path, struct look *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(lstat(path, &l->st), 0);
	l->len = read_file(path, l->text, sizeof(l->text));
}

static void expect_untouched(const char *path, const struct look *before)
{
	struct look now;

	look_at(path, &now);
	assert_int_equal(now.len, before->len);
	assert_memory_equal(now.text, before->text, (size_t)before->len);
	assert_int_equal(now.st.st_ino, before->st.st_ino);
	assert_int_equal(now.st.st_mtim.tv_sec, before->st.st_mtim.tv_sec);
	assert_int_equal(now.st.st_mtim.tv_nsec, before->st.st_mtim.tv_nsec);
}

static void expect_state(const struct pidlock_info *info,
			 enum pidlock_state want)
{
	if (info->state != want)
		fail_msg("inspected as %s (%s), expected %s",
			 pidlock_state_name(info->state), info->reason,
			 pidlock_state_name(want));
	assert_true(info->reason[0] != '\0');
}

static void missing_file_is_none(void **state)
{
	struct pidlock_info info;

	(void)state;
	assert_int_equal(pidlock_inspect(test_path("none.lock"), NULL, &info), 0);
	assert_int_equal(info.state, PIDLOCK_STATE_NONE);
	assert_int_equal(info.type, PIDLOCK_TYPE_NONE);
	assert_int_equal(info.pid, 0);
	assert_int_equal(info.live_pid, 0);
}

static void live_holder_is_named(void **state)
{
	const char *path = test_path("live.lock");
	struct pidlock_info info;
	struct look before;
	struct holder h;

	(void)state;
	holder_start(&h, path, 0);
	look_at(path, &before);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	expect_state(&info, PIDLOCK_STATE_LIVE);
	assert_int_equal(info.type, PIDLOCK_TYPE_PIDLOCK);
	assert_true(info.has_record);
	assert_int_equal(info.pid, h.pid);
	assert_int_equal(info.record.pid, h.pid);
	assert_int_equal(info.live_pid, h.pid);
	assert_int_equal(info.nholders, 1);
	assert_int_equal(info.holders[0].pid, h.pid);
	assert_true(info.holders[0].exclusive);
	assert_false(info.holders[0].waiting);
	assert_int_equal(info.ino, before.st.st_ino);
	expect_untouched(path, &before);
	holder_stop(&h); /* its lock was never disturbed: it releases */
}

static void killed_holder_is_stale_and_kept(void **state)
{
	const char *path = test_path("stale.lock");
	struct pidlock_info info;
	struct look before;
	pid_t dead;

	(void)state;
	dead = make_stale(path);
	look_at(path, &before);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	expect_state(&info, PIDLOCK_STATE_STALE);
	assert_int_equal(info.pid, dead);
	assert_int_equal(info.live_pid, 0);
	assert_int_equal(info.nholders, 0);
	expect_untouched(path, &before); /* judged, not removed */
}

static void released_kept_file_is_free(void **state)
{
	const char *path = test_path("kept.lock");
	struct pidlock_info info;
	struct holder h;

	(void)state;
	holder_start(&h, path, PIDLOCK_KEEP);
	holder_stop(&h);
	assert_true(exists(path));
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	expect_state(&info, PIDLOCK_STATE_FREE);
	assert_int_equal(info.pid, 0);
	assert_int_equal(info.size, 0);
}

/*
 * A scan asks about the same holders again and again: with one snapshot,
 * a holder's /proc (stat, status, descriptor table) is read once, however
 * the directory orders its locks.  Here a, b, a: the third inspection
 * opens only the directory, the file and the fdinfo of its descriptors
 * (two: the lock's and the record's writer).
 */
static void one_snapshot_reads_a_holder_once(void **state)
{
	const char *a = test_path("scan-a.lock"), *b = test_path("scan-b.lock");
	struct pidlock_snapshot *snap;
	struct pidlock_info info;
	struct holder ha, hb;
	int before;

	(void)state;
	holder_start(&ha, a, 0);
	holder_start(&hb, b, 0);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	assert_int_equal(pidlock_inspect(a, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_LIVE);
	assert_int_equal(pidlock_inspect(b, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_LIVE);
	before = mock_calls(MOCK_OPENAT);
	assert_int_equal(pidlock_inspect(a, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_LIVE);
	assert_int_equal(info.live_pid, ha.pid);
	print_message("third inspection: %d openat\n",
		      mock_calls(MOCK_OPENAT) - before);
	assert_true(mock_calls(MOCK_OPENAT) - before <= 4);
	pidlock_snapshot_free(snap);
	holder_stop(&ha);
	holder_stop(&hb);
}

/*
 * A dead holder's stale records, with one snapshot: /proc is asked about
 * its PID once (that it is gone, and that none of its descriptors holds
 * the file), not once per record.  The second inspection opens only the
 * directory and the file.
 */
static void one_snapshot_asks_about_a_dead_holder_once(void **state)
{
	const char *a = test_path("dead-a.lock"), *b = test_path("dead-b.lock");
	struct pidlock_snapshot *snap;
	struct pidlock_info info;
	char rec[PIDLOCK_RECORD_MAX + 1];
	ssize_t len;
	int before;

	(void)state;
	make_stale(a);
	len = read_file(a, rec, sizeof(rec));
	assert_true(len > 0);
	write_file(b, rec, (size_t)len);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	assert_int_equal(pidlock_inspect(a, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_STALE);
	before = mock_calls(MOCK_OPENAT);
	assert_int_equal(pidlock_inspect(b, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_STALE);
	assert_int_equal(mock_calls(MOCK_OPENAT) - before, 2);
	pidlock_snapshot_free(snap);
}

/*
 * A holder of several locks got them alike: it created the first three
 * files (its record's writer is its lower descriptor on each) and found
 * the last three there (its locked descriptor is the lower).  With one
 * snapshot, after the first lock of each kind the order that found the
 * last one is tried first: one fdinfo read a lock, so an inspection opens
 * the directory, the file and one fdinfo.  Without that, each created one
 * cost two reads.
 */
#define ALIKE 3

struct many {
	char paths[2 * ALIKE][PATH_MAX];
	struct gate ready, release;
};

static int hold_many(void *arg)
{
	struct many *m = arg;
	struct pidlock *locks[2 * ALIKE] = { NULL };
	int r = 0;

	for (int i = 0; i < 2 * ALIKE && r == 0; i++)
		if ((r = pidlock_new(&locks[i], m->paths[i])) == 0)
			r = pidlock_acquire(locks[i], 0, PIDLOCK_NO_WAIT);
	put(m->ready.fd[1], &r, sizeof(r));
	if (r == 0 && !gate_wait_ms(&m->release, 4 * DEADLINE_MS))
		r = 3;
	for (int i = 0; i < 2 * ALIKE; i++)
		pidlock_free(locks[i]); /* releases what it holds */
	return r == 0 ? 0 : 1;
}

static int fdinfo_opens_to_inspect(const char *path,
				   struct pidlock_snapshot *snap, pid_t holder)
{
	struct pidlock_info info;
	int before = mock_calls(MOCK_OPENAT);

	assert_int_equal(pidlock_inspect(path, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_LIVE);
	assert_int_equal(info.live_pid, holder);
	return mock_calls(MOCK_OPENAT) - before - 2; /* the directory, the file */
}

static void one_fdinfo_read_a_lock_of_a_holder_of_many(void **state)
{
	struct pidlock_snapshot *snap;
	struct many m;
	pid_t pid;
	int r = 1;

	(void)state;
	for (int i = 0; i < 2 * ALIKE; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s-%d.lock", i < ALIKE ? "made" : "found", i);
		snprintf(m.paths[i], sizeof(m.paths[i]), "%s", test_path(name));
		if (i >= ALIKE)
			write_file(m.paths[i], "", 0);
	}
	gate_open(&m.ready);
	gate_open(&m.release);
	pid = kid_start(hold_many, &m);
	assert_true(get(m.ready.fd[0], &r, sizeof(r), DEADLINE_MS));
	assert_int_equal(r, 0);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	/* The first reads the holder's /proc into the snapshot; the first
	 * of a kind may take two fdinfo reads: it sets the order. */
	(void)fdinfo_opens_to_inspect(m.paths[0], snap, pid);
	for (int i = 1; i < 2 * ALIKE; i++) {
		int reads = fdinfo_opens_to_inspect(m.paths[i], snap, pid);
		if (i == ALIKE)
			assert_in_range(reads, 1, 2);
		else
			assert_int_equal(reads, 1);
	}
	pidlock_snapshot_free(snap);
	gate_pass(&m.release);
	assert_int_equal(kid_reap(pid, DEADLINE_MS), 0);
	gate_close(&m.ready);
	gate_close(&m.release);
}

/* --- scanning a directory ---------------------------------------------- */

#define SEEN_MAX 8

struct seen {
	int n;
	char names[SEEN_MAX][32];
	enum pidlock_state states[SEEN_MAX];
	int stop_after;        /* return 7 after this many files; 0: never */
	const char *chmod_dir; /* made world-writable after the first file */
	const char *empty_dir; /* its other files removed after the first */
};

/* Removes every file in dir but keep (the scan has listed them already:
 * a directory is read in batches). */
static void remove_others(const char *dir, const char *keep)
{
	const char *names[] = { "x.lock", "y.lock", "z.lock" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i], keep) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(unlink(path), 0);
	}
}

static int note_file(const char *name, const struct pidlock_info *info,
		     void *arg)
{
	struct seen *s = arg;

	if (s->n < SEEN_MAX) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->states[s->n] = info->state;
	}
	s->n++;
	if (s->chmod_dir && s->n == 1)
		assert_int_equal(chmod(s->chmod_dir, 0777), 0);
	if (s->empty_dir && s->n == 1)
		remove_others(s->empty_dir, name);
	return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static int state_seen(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n && i < SEEN_MAX; i++)
		if (strcmp(s->names[i], name) == 0)
			return (int)s->states[i];
	return -1;
}

/* Every lock file, judged as pidlock_inspectat() judges it; no dot file,
 * no subdirectory; fn's non-zero return ends the scan. */
static void inspect_dir_judges_each_lock_file(void **state)
{
	const char *sub = test_path("sub");
	struct seen s = { 0 }, stop = { .stop_after = 2 };
	struct holder h;

	(void)state;
	holder_start(&h, test_path("held.lock"), 0);
	make_stale(test_path("stale.lock"));
	write_file(test_path("empty.lock"), "", 0);
	write_file(test_path(".hidden"), "", 0);
	assert_int_equal(mkdir(sub, 0755), 0);

	assert_int_equal(pidlock_inspect_dir(test_dir, NULL, note_file, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(state_seen(&s, "held.lock"), PIDLOCK_STATE_LIVE);
	assert_int_equal(state_seen(&s, "stale.lock"), PIDLOCK_STATE_STALE);
	assert_int_equal(state_seen(&s, "empty.lock"), PIDLOCK_STATE_FREE);

	assert_int_equal(pidlock_inspect_dir(test_dir, NULL, note_file, &stop), 7);
	assert_int_equal(stop.n, 2);
	assert_int_equal(pidlock_inspect_dir(test_path("held.lock"), NULL,
					     note_file, &s), -ENOTDIR);
	assert_int_equal(pidlock_inspect_dir(test_path("none"), NULL,
					     note_file, &s), -ENOENT);
	assert_int_equal(pidlock_inspect_dir(NULL, NULL, note_file, &s), -EINVAL);
	assert_int_equal(pidlock_inspect_dir(test_dir, NULL, NULL, NULL), -EINVAL);

	assert_int_equal(rmdir(sub), 0);
	holder_stop(&h);
}

/*
 * One look at the directory for the whole scan: made world-writable
 * without the sticky bit during a scan, it is judged as it was when the
 * scan began (every file as of one moment); the next inspection sees it.
 */
static void inspect_dir_looks_at_the_directory_once(void **state)
{
	const char *dir = test_path("scan"), *x = test_path("scan/x.lock"),
		   *y = test_path("scan/y.lock");
	struct pidlock_info info;
	struct seen s = { .chmod_dir = dir };

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	write_file(x, "", 0);
	write_file(y, "", 0);
	assert_int_equal(pidlock_inspect_dir(dir, NULL, note_file, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.states[0], PIDLOCK_STATE_FREE);
	assert_int_equal(s.states[1], PIDLOCK_STATE_FREE);
	assert_int_equal(pidlock_inspect(x, NULL, &info), 0);
	expect_state(&info, PIDLOCK_STATE_UNSAFE);
	assert_int_equal(unlink(x), 0);
	assert_int_equal(unlink(y), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A file removed between the listing and its judgement is not reported
 * (as if the listing had come a moment later). */
static void inspect_dir_skips_files_removed_meanwhile(void **state)
{
	const char *dir = test_path("gone");
	struct seen s = { .empty_dir = dir };
	char path[PATH_MAX];

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	for (char c = 'x'; c <= 'z'; c++) {
		snprintf(path, sizeof(path), "%s/%c.lock", dir, c);
		write_file(path, "", 0);
	}
	assert_int_equal(pidlock_inspect_dir(dir, NULL, note_file, &s), 0);
	assert_int_equal(s.n, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, s.names[0]);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* An empty file (as its stat says) is judged without being opened: the
 * one openat is pidlock_inspect()'s of the directory. */
static void empty_file_is_not_opened(void **state)
{
	const char *path = test_path("empty.lock");
	struct pidlock_snapshot *snap;
	struct pidlock_info info;
	int before;

	(void)state;
	write_file(path, "", 0);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	before = mock_calls(MOCK_OPENAT);
	assert_int_equal(pidlock_inspect(path, snap, &info), 0);
	expect_state(&info, PIDLOCK_STATE_FREE);
	assert_int_equal(info.type, PIDLOCK_TYPE_FLOCK);
	assert_int_equal(mock_calls(MOCK_OPENAT) - before, 1);
	pidlock_snapshot_free(snap);
}

static void plain_pidfile_of_live_process_is_foreign(void **state)
{
	const char *path = test_path("plain.pid");
	struct pidlock_info info;
	struct look before;
	char text[32], comm[64];
	pid_t live = pauser();

	(void)state;
	snprintf(text, sizeof(text), "%d\n", (int)live);
	write_file(path, text, strlen(text));
	look_at(path, &before);
	assert_int_equal(pidlock_inspect(path, NULL, &info), 0);
	expect_state(&info, PIDLOCK_STATE_FOREIGN);
	assert_int_equal(info.type, PIDLOCK_TYPE_PLAIN);
	assert_int_equal(info.pid, live);
	assert_false(info.has_record);
	/* No record, but the system names the process (the pauser is a
	 * fork of this test, so it has this process's name). */
	assert_true(read_file("/proc/self/comm", comm, sizeof(comm)) > 0);
	comm[strcspn(comm, "\n")] = '\0';
	assert_string_equal(info.record.comm, comm);
	expect_untouched(path, &before);
	pauser_end(live);
}

/* A snapshot and a directory descriptor give the same answer. */
static void snapshot_and_dirfd_agree(void **state)
{
	const char *path = test_path("at.lock");
	struct pidlock_snapshot *snap;
	struct pidlock_info plain, snapped, at;
	struct holder h;
	int dirfd;

	(void)state;
	holder_start(&h, path, 0);
	assert_int_equal(pidlock_snapshot_new(&snap), 0);
	dirfd = open(test_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	assert_int_equal(pidlock_inspect(path, NULL, &plain), 0);
	assert_int_equal(pidlock_inspect(path, snap, &snapped), 0);
	assert_int_equal(pidlock_inspectat(dirfd, "at.lock", snap, &at), 0);
	close(dirfd);
	pidlock_snapshot_free(snap);
	expect_state(&plain, PIDLOCK_STATE_LIVE);
	expect_state(&snapped, PIDLOCK_STATE_LIVE);
	expect_state(&at, PIDLOCK_STATE_LIVE);
	assert_int_equal(snapped.live_pid, h.pid);
	assert_int_equal(at.live_pid, h.pid);
	assert_int_equal(at.ino, plain.ino);
	holder_stop(&h);
}

/* An unreadable request is an error, not a state. */
static void bad_arguments_are_errors(void **state)
{
	struct pidlock_info info;

	(void)state;
	assert_int_equal(pidlock_inspect(NULL, NULL, &info), -EINVAL);
	assert_int_equal(pidlock_inspect(test_path("x.lock"), NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(missing_file_is_none, test_cleanup),
		cmocka_unit_test_teardown(live_holder_is_named, test_cleanup),
		cmocka_unit_test_teardown(killed_holder_is_stale_and_kept, test_cleanup),
		cmocka_unit_test_teardown(released_kept_file_is_free, test_cleanup),
		cmocka_unit_test_teardown(plain_pidfile_of_live_process_is_foreign, test_cleanup),
		cmocka_unit_test_teardown(snapshot_and_dirfd_agree, test_cleanup),
		cmocka_unit_test_teardown(one_snapshot_reads_a_holder_once, test_cleanup),
		cmocka_unit_test_teardown(one_snapshot_asks_about_a_dead_holder_once, test_cleanup),
		cmocka_unit_test_teardown(one_fdinfo_read_a_lock_of_a_holder_of_many, test_cleanup),
		cmocka_unit_test_teardown(inspect_dir_judges_each_lock_file, test_cleanup),
		cmocka_unit_test_teardown(inspect_dir_looks_at_the_directory_once, test_cleanup),
		cmocka_unit_test_teardown(inspect_dir_skips_files_removed_meanwhile, test_cleanup),
		cmocka_unit_test_teardown(empty_file_is_not_opened, test_cleanup),
		cmocka_unit_test_teardown(bad_arguments_are_errors, test_cleanup),
	};

	return cmocka_run_group_tests_name("inspect", tests, test_dir_setup,
					   test_dir_teardown);
}
