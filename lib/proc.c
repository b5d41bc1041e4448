/* SPDX-License-Identifier: MIT */
/*
 * What /proc says about processes and this machine.
 *
 * Liveness is decided from /proc/PID/stat (state and start time), never
 * from kill() alone: kill(pid, 0) says "alive" for a PID that now belongs
 * to somebody else.  kill() is used only as a fallback where /proc cannot
 * see the process, and only with a validated PID > 0.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int pidlock__read_file(int dirfd, const char *path, char *buf, size_t size,
		       size_t *len)
{
	ssize_t n;
	size_t got = 0;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* Reads a small /proc file as a NUL-terminated string. */
static int read_text(const char *path, char *buf, size_t size)
{
	size_t len;
	int r = pidlock__read_file(AT_FDCWD, path, buf, size - 1, &len);

	if (r < 0)
		return r;
	buf[len] = '\0';
	return 0;
}

static uint64_t read_number(const char *path, uint64_t fallback)
{
	char buf[32];

	if (read_text(path, buf, sizeof(buf)) < 0)
		return fallback;
	buf[strcspn(buf, "\n")] = '\0';
	long long v = strtonum(buf, 1, LLONG_MAX, NULL);
	return v ? (uint64_t)v : fallback;
}

long pidlock__pid_max(void)
{
	static long cached;

	if (!__atomic_load_n(&cached, __ATOMIC_RELAXED))
		__atomic_store_n(&cached,
				 (long)read_number("/proc/sys/kernel/pid_max",
						   PIDLOCK_PID_LIMIT),
				 __ATOMIC_RELAXED);
	return __atomic_load_n(&cached, __ATOMIC_RELAXED);
}

bool pidlock__pid_valid(pid_t pid)
{
	return pid > 0 && pid <= pidlock__pid_max();
}

/*
 * Parses the command name, state and start time from /proc/PID/stat.  The
 * name in parentheses may itself contain ") ", so the fields start after
 * the last ')'.  comm may be NULL.
 */
static int parse_stat(const char *buf, char *comm, size_t comm_size,
		      char *state, uint64_t *start)
{
	const char *open = strchr(buf, '('), *p = strrchr(buf, ')');
	unsigned long long st;

	if (!open || !p || p < open ||
	    sscanf(p + 1,
		   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u"
		   " %*d %*d %*d %*d %*d %*d %llu", state, &st) != 2)
		return -EBADMSG;
	*start = st;
	if (comm)
		snprintf(comm, comm_size, "%.*s", (int)(p - open - 1), open + 1);
	return 0;
}

/*
 * One read() is enough: the kernel produces /proc/PID/stat whole, and the
 * fields we need (up to 22) come within the first few hundred bytes even
 * if a longer line were cut.  Saves the read that would only see EOF.
 */
static int stat_of(pid_t pid, char *comm, size_t comm_size, char *state,
		   uint64_t *start)
{
	char path[32], buf[1024];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return parse_stat(buf, comm, comm_size, state, start);
}

/*
 * Within one inspection the same PID is asked about several times (the
 * kernel's holder, the record's PID, its liveness): the answer of a moment
 * ago is as good, so a thread remembers the last one while an inspection
 * runs (pidlock__proc_memo()).
 */
static __thread struct {
	bool on, valid;
	pid_t pid;
	struct pidlock__proc proc;
} memo;

void pidlock__proc_memo(bool on)
{
	memo.on = on;
	memo.valid = false;
}

static int proc_read_uncached(pid_t pid, struct pidlock__proc *proc);

int pidlock__proc_read(pid_t pid, struct pidlock__proc *proc)
{
	int r;

	if (memo.on && memo.valid && memo.pid == pid) {
		*proc = memo.proc;
		return 0;
	}
	r = proc_read_uncached(pid, proc);
	if (r == 0 && memo.on) {
		memo.pid = pid;
		memo.proc = *proc;
		memo.valid = true;
	}
	return r;
}

static int proc_read_uncached(pid_t pid, struct pidlock__proc *proc)
{
	char state;
	int r;

	memset(proc, 0, sizeof(*proc));
	if (!pidlock__pid_valid(pid))
		return -EINVAL;
	r = stat_of(pid, proc->comm, sizeof(proc->comm), &state,
		    &proc->start_time);
	if (r == 0) {
		proc->exists = true;
		proc->start_known = true;
		proc->zombie = state == 'Z' || state == 'X';
		return 0;
	}
	/* /proc may hide the process (hidepid) or be absent: ask the kernel. */
	if (kill(pid, 0) == 0 || errno == EPERM)
		proc->exists = true;
	return 0;
}

static uint64_t pidns_of(const char *nspath)
{
	struct stat st;

	return stat(nspath, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static uid_t euid_of(pid_t pid)
{
	char path[32], buf[2048], *p;
	unsigned long r, e;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_text(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nUid:")) ||
	    sscanf(p + 5, "%lu %lu", &r, &e) != 2)
		return (uid_t)-1;
	return (uid_t)e;
}

int pidlock__proc_identity(pid_t pid, uint64_t *start_time, uint64_t *pidns,
			   uid_t *uid, char *comm, size_t comm_size)
{
	char path[40], state;
	int r;

	/* The name in /proc/PID/stat is /proc/PID/comm's: one read less. */
	r = stat_of(pid, comm, comm_size, &state, start_time);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	*pidns = pidns_of(path);
	*uid = pid == getpid() ? geteuid() : euid_of(pid);
	return 0;
}

static int64_t boot_time(void)
{
	char buf[4096], *p;
	long long bt;

	if (read_text("/proc/stat", buf, sizeof(buf)) < 0 ||
	    !(p = strstr(buf, "\nbtime ")) || sscanf(p + 7, "%lld", &bt) != 1)
		return 0;
	return bt;
}

/*
 * The machine's facts change only across a reboot or a namespace switch,
 * so they are read once per process.  A forked child may live in a new PID
 * namespace (its parent unshared one), even under the same PID number
 * (PID 1 forking PID 1), so fork invalidates the cache as well.
 */
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static struct pidlock__self self_cache;
static pid_t self_cache_pid;

static void forget_self(void)
{
	self_cache_pid = 0;
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_self);
}

static int load_self(struct pidlock__self *self)
{
	char boot[64];
	int r;

	memset(self, 0, sizeof(*self));
	r = read_text("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	if (r < 0)
		return r;
	boot[strcspn(boot, "\n")] = '\0';
	if (strlen(boot) != 36)
		return -EBADMSG;
	strlcpy(self->boot_id, boot, sizeof(self->boot_id));
	self->pidns = pidns_of("/proc/self/ns/pid");
	self->clock_ticks = sysconf(_SC_CLK_TCK);
	self->boot_time = boot_time();
	self->pid = getpid();
	return stat_of(self->pid, NULL, 0, &(char){ 0 }, &self->start_time);
}

/*
 * The host name can change at any time, but a scan of thousands of files
 * should not ask for it thousands of times: it is re-read when a coarse
 * clock (no system call) says a second has passed.
 */
static void host_name(char *host, size_t size)
{
	static __thread char cached[sizeof(((struct pidlock__self *)0)->host)];
	static __thread time_t read_at;
	struct timespec now;
	struct utsname u;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (!cached[0] || now.tv_sec != read_at) {
		if (uname(&u) == 0)
			strlcpy(cached, u.nodename, sizeof(cached));
		if (!cached[0] || strchr(cached, ' '))
			strlcpy(cached, "localhost", sizeof(cached));
		read_at = now.tv_sec;
	}
	strlcpy(host, cached, size);
}

int pidlock__self_info(struct pidlock__self *self)
{
	int r = 0;

	pthread_once(&self_once, watch_forks);
	pthread_mutex_lock(&self_lock);
	/* No fork can happen inside one inspection: skip asking for our PID. */
	if (!(memo.on && self_cache_pid) && self_cache_pid != getpid()) {
		r = load_self(&self_cache);
		if (r == 0)
			self_cache_pid = getpid();
	}
	if (r == 0)
		*self = self_cache;
	pthread_mutex_unlock(&self_lock);
	if (r < 0)
		return r;
	host_name(self->host, sizeof(self->host));
	return 0;
}
