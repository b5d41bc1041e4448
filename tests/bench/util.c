/* SPDX-License-Identifier: MIT */
/* Clocks, shared memory, /proc probes, spawning and JSON output. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* Every timestamp of every row, C or Python, is CLOCK_MONOTONIC. */
int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
}

/* User + system CPU time: what a busy machine's other load cannot inflate. */
int64_t cpu_ns(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) < 0)
		err(1, "getrusage");
	return rusage_cpu_ns(&ru);
}

int64_t rusage_cpu_ns(const struct rusage *ru)
{
	return ((int64_t)ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * NS_PER_S +
	       ((int64_t)ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000;
}

void sleep_ns(int64_t ns)
{
	struct timespec t = { ns / NS_PER_S, ns % NS_PER_S };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* Memory shared with the children this process forks. */
void *shared_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		err(1, "mmap");
	return p;
}

/*
 * Memory shared with processes that are exec'd (by flock(1), lockrun):
 * the creator sizes the file, the others map a part of it.
 */
void *shared_file(const char *path, size_t size, bool create)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	void *p;

	if (fd < 0)
		err(1, "%s", path);
	if (create && ftruncate(fd, (off_t)size) < 0)
		err(1, "%s: ftruncate", path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(1, "%s: mmap", path);
	close(fd);
	return p;
}

/* Reads a whole /proc file into a NUL-terminated malloc'd buffer. */
static char *slurp(const char *path)
{
	size_t size = 1 << 16, len = 0;
	char *buf = malloc(size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf)
		err(1, "malloc");
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf + len, size - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == size && !(buf = realloc(buf, size *= 2)))
			err(1, "realloc");
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* The slow way: "N: -> FLOCK  ADVISORY  WRITE PID ..." in /proc/locks. */
static bool listed_as_waiter(pid_t pid)
{
	char *buf = slurp("/proc/locks"), *line, *save = NULL;
	bool found = false;

	if (!buf)
		return false;
	for (line = strtok_r(buf, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, "-> ");
		int who;

		if (p && sscanf(p + 3, "%*s %*s %*s %d", &who) == 1)
			found = who == pid;
	}
	free(buf);
	return found;
}

/*
 * Is pid blocked in the kernel waiting for a file lock?  Asked of
 * /proc/PID/syscall (asleep in flock or fcntl), not of /proc/locks: a
 * read of /proc/locks takes the kernel's file_rwsem for writing, which
 * stalls every flock(2) on the machine while it runs, and would disturb
 * what is being measured.  /proc/locks is the fallback where
 * /proc/PID/syscall cannot be read.
 */
bool proc_lock_waiter(pid_t pid)
{
	char path[32], *buf;
	long nr;
	bool readable, in_lock_call = false;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	buf = slurp(path);
	readable = buf && buf[0];
	if (readable && sscanf(buf, "%ld", &nr) == 1)
		in_lock_call = nr == SYS_flock || nr == SYS_fcntl;
	free(buf);
	if (!readable)
		return listed_as_waiter(pid);
	return in_lock_call && proc_sleeping(pid);
}

/* Is pid asleep (state S), as a poller is between its attempts? */
bool proc_sleeping(pid_t pid)
{
	char path[32], *buf, *p;
	bool sleeping = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = slurp(path);
	if (buf && (p = strrchr(buf, ')')))
		sleeping = p[1] == ' ' && p[2] == 'S';
	free(buf);
	return sleeping;
}

/* xorshift64*: random hold times, reproducible from the seed. */
uint64_t rnd_next(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ULL;
}

/* posix_spawn (vfork-based in glibc) with stdout and stderr redirected. */
pid_t spawn_argv(char *const argv[], const char *out, const char *errout)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_addopen(&fa, 1, out,
						 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (errout)
		posix_spawn_file_actions_addopen(&fa, 2, errout,
						 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		errc(1, r, "spawn %s", argv[0]);
	return pid;
}

/* --- JSON: one flat object per subcommand ------------------------------ */

static bool json_first;

void json_begin(void)
{
	json_first = true;
	putchar('{');
}

static void json_key(const char *key)
{
	printf("%s\"%s\": ", json_first ? "" : ", ", key);
	json_first = false;
}

void json_int(const char *key, long long v)
{
	json_key(key);
	printf("%lld", v);
}

void json_str(const char *key, const char *v)
{
	json_key(key);
	putchar('"');
	for (; *v; v++)
		if (*v == '"' || *v == '\\')
			printf("\\%c", *v);
		else if ((unsigned char)*v < 0x20)
			printf("\\u%04x", *v);
		else
			putchar(*v);
	putchar('"');
}

void json_array(const char *key, const int64_t *v, size_t n)
{
	json_key(key);
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s%" PRId64, i ? "," : "", v[i]);
	putchar(']');
}

void json_end(void)
{
	puts("}");
	if (fflush(stdout) != 0)
		err(1, "stdout");
}

long arg_long(const char *s, long min, long max, const char *what)
{
	const char *why;
	long long v = strtonum(s, min, max, &why);

	if (why)
		errx(2, "%s: %s: %s", what, s, why);
	return (long)v;
}

/* Holders keep two descriptors per lock (the file and its directory). */
void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		err(1, "getrlimit");
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want; /* needs CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		err(1, "setrlimit RLIMIT_NOFILE %llu", (unsigned long long)want);
}
