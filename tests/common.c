/* SPDX-License-Identifier: MIT */
/* Shared test helpers; see common.h. */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "common.h"

char test_dir[PATH_MAX];

int test_dir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "%s/pidlock-test.XXXXXX",
		 tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(test_dir))
		return -1;
	chmod(test_dir, 0755);
	setenv("PIDLOCK_DIR", test_dir, 1);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

int test_dir_teardown(void **state)
{
	(void)state;
	if (test_dir[0])
		nftw(test_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	test_dir[0] = '\0';
	return 0;
}

int test_dir_empty(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return 0;
}

const char *test_path(const char *name)
{
	static char bufs[8][2 * PATH_MAX];
	static unsigned next;
	char *buf = bufs[next++ % 8];

	snprintf(buf, 2 * PATH_MAX, "%s/%s", test_dir, name);
	return buf;
}

void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

void gate_open(struct gate *g)
{
	assert_int_equal(pipe2(g->fd, O_CLOEXEC), 0);
}

void gate_pass(struct gate *g)
{
	char c = 1;

	while (write(g->fd[1], &c, 1) < 0)
		;
}

void gate_wait(struct gate *g)
{
	char c;

	while (read(g->fd[0], &c, 1) < 0)
		;
}

int gate_wait_ms(struct gate *g, int ms)
{
	struct pollfd pfd = { .fd = g->fd[0], .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	return read(g->fd[0], &c, 1) == 1;
}

void gate_close(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

bool pid_in_use(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (access(path, F_OK) == 0)
		return true;
	return syscall(SYS_kill, pid, 0) == 0 || errno == EPERM;
}

int child_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

int count_fds(void)
{
	int n = child_count_fds();

	assert_true(n >= 0);
	return n;
}

int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}
