/* SPDX-License-Identifier: MIT */
/*
 * The library's side of the hostile input catalogue: every file of
 * tests/data/pidfiles/MANIFEST through pidlock_inspect(), pidlock_acquire()
 * and, with lockclean's own policy (cmd/policy.c), pidlock_clean_judgeat()
 * (the dry run) against pidlock_clean_at(), each compared with what the
 * MANIFEST says.  No check leaks a descriptor; mock.c's kill() fails the
 * test on any signal the library sends.
 */
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../cmd/policy.h"
#include "harness.h"
#include "internal.h"

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
	assert_no_temp_files();
}

/*
 * As root, the catalogue runs in a PID namespace of its own, numbered from
 * 5001 (tests/tools/in-pidns): the PIDs its static files name (42, 1234,
 * 4242, ...) are then nobody's, however busy the machine.  Not under
 * valgrind, which would not follow the exec.
 */
static void enter_own_pidns(char **argv)
{
	const char *src = getenv("srcdir"), *done = getenv("PIDLOCK_IN_PIDNS");
	char helper[PATH_MAX];

	if ((done && done[0]) || under_valgrind())
		return;
	snprintf(helper, sizeof(helper), "%s/tests/tools/in-pidns",
		 src ? src : ".");
	execv(helper, (char *[]){ helper, argv[0], NULL });
	/* No helper here: run as we are. */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(catalogue),
	};

	(void)argc;
	enter_own_pidns(argv);
	return cmocka_run_group_tests_name("catalogue", tests, test_dir_setup,
					   test_dir_teardown);
}
