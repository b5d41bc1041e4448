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
#include <sys/mman.h>
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
		/* A short read is the end: /proc writes its files whole. */
		if ((size_t)n < size - (got - (size_t)n))
			break;
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
 * kernel's holder, the record's PID, its liveness, its uid), and in a scan
 * of a directory every lock of one holder asks about the same PID again:
 * the answer of a moment ago is as good, so a thread remembers the
 * answers while the inspections of one snapshot run (pidlock__proc_memo()).
 * The lock states themselves come from the snapshot, a moment's picture
 * already; a PID remembered alive that dies meanwhile is judged as it was
 * at that moment, never "stale" sooner than the kernel says.  Outside an
 * inspection (acquirers, cleaners deciding under the lock) nothing is
 * remembered.
 */
#define MEMO_SLOTS 64

struct memo_slot {
	pid_t pid;           /* 0: empty */
	int err;             /* of reading /proc/PID/stat */
	bool exists, has_pidns, has_euid, has_owner;
	char state;
	uint64_t start_time, pidns;
	uid_t euid, owner;
	char comm[16];
};

static __thread struct {
	bool on;
	unsigned long scan;  /* whose answers the slots hold */
	struct memo_slot slot[MEMO_SLOTS];
} memo;

/* scan: the inspection's snapshot serial, or 0 after the inspection. */
void pidlock__proc_memo(unsigned long scan)
{
	memo.on = scan != 0;
	if (!memo.on || scan == memo.scan)
		return;
	for (size_t i = 0; i < MEMO_SLOTS; i++)
		memo.slot[i].pid = 0;
	memo.scan = scan;
}

/* The slot remembering pid (filled by the caller when its pid is 0 or
 * another's), or NULL outside an inspection. */
static struct memo_slot *memo_slot(pid_t pid)
{
	struct memo_slot *m;

	if (!memo.on)
		return NULL;
	m = &memo.slot[(unsigned)pid % MEMO_SLOTS];
	if (m->pid != pid)
		*m = (struct memo_slot){ .pid = 0 };
	return m;
}

/* /proc/PID/stat, through the memory of the current inspection. */
static struct memo_slot stat_memo(pid_t pid)
{
	struct memo_slot *m = memo_slot(pid), fresh = { .pid = pid };

	if (m && m->pid == pid)
		return *m;
	fresh.err = stat_of(pid, fresh.comm, sizeof(fresh.comm), &fresh.state,
			    &fresh.start_time);
	/* /proc may hide the process (hidepid) or be absent: ask the kernel. */
	fresh.exists = fresh.err == 0 || kill(pid, 0) == 0 || errno == EPERM;
	if (m)
		*m = fresh;
	return fresh;
}

int pidlock__proc_read(pid_t pid, struct pidlock__proc *proc)
{
	struct memo_slot m;

	memset(proc, 0, sizeof(*proc));
	if (!pidlock__pid_valid(pid))
		return -EINVAL;
	m = stat_memo(pid);
	proc->exists = m.exists;
	if (m.err == 0) {
		proc->start_known = true;
		proc->start_time = m.start_time;
		proc->zombie = m.state == 'Z' || m.state == 'X';
		memcpy(proc->comm, m.comm, sizeof(proc->comm));
	}
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
	struct memo_slot *slot = pid > 0 ? memo_slot(pid) : NULL, m;
	char path[40];

	/* The name in /proc/PID/stat is /proc/PID/comm's: one read less. */
	m = pid > 0 ? stat_memo(pid) : (struct memo_slot){ .err = -ENOENT };
	if (m.err < 0)
		return m.err == -ENOENT ? -ESRCH : m.err;
	if (!m.has_pidns) {
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
		m.pidns = pidns_of(path);
		m.has_pidns = true;
	}
	/* Our own uid is never remembered: it changes with seteuid(). */
	if (pid == pidlock__self_pid())
		m.euid = geteuid();
	else if (!m.has_euid) {
		m.euid = euid_of(pid);
		m.has_euid = true;
	}
	if (slot && slot->pid == pid)
		*slot = m;
	*start_time = m.start_time;
	*pidns = m.pidns;
	*uid = m.euid;
	if (comm)
		snprintf(comm, comm_size, "%s", m.comm);
	return 0;
}

/* The owner of /proc/PID (its effective uid, unless it is not dumpable). */
uid_t pidlock__proc_owner(pid_t pid)
{
	struct memo_slot *m = pid > 0 ? memo_slot(pid) : NULL;
	char path[32];
	struct stat st;
	uid_t owner;

	if (pid <= 0)
		return (uid_t)-1;
	if (m && m->pid == pid && m->has_owner)
		return m->owner;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	owner = stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
	if (m && m->pid == pid) {
		m->owner = owner;
		m->has_owner = true;
	}
	return owner;
}

/*
 * When the machine booted, in seconds since the epoch (0: unknown), read
 * once per process, and only by a judgement that needs it (a plain
 * pidfile's age): writing a record does not.
 */
int64_t pidlock__boot_time(void)
{
	static int64_t cached; /* the same in every process of one boot */
	char buf[4096], *p;
	long long bt;

	if (__atomic_load_n(&cached, __ATOMIC_RELAXED))
		return __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (read_text("/proc/stat", buf, sizeof(buf)) < 0 ||
	    !(p = strstr(buf, "\nbtime ")) || sscanf(p + 7, "%lld", &bt) != 1)
		return 0;
	__atomic_store_n(&cached, (int64_t)bt, __ATOMIC_RELAXED);
	return bt;
}

/*
 * Telling a forked child from its parent without a system call: a page
 * that the kernel zeroes in every child (MADV_WIPEONFORK, Linux 4.14; any
 * fork, also a raw clone(2) or _Fork(3) that runs no pthread_atfork()
 * handler) holds this process's epoch, a number no ancestor had.  Facts
 * remembered with an epoch are this process's only while the page still
 * says so.  Where the kernel has no MADV_WIPEONFORK the epoch is 0 and the
 * callers ask getpid() as before.
 */
static uint64_t *epoch_page;
static uint64_t epochs; /* the last epoch handed out, copied by fork */
static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;

static void epoch_page_map(void)
{
	long size = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)size, MADV_WIPEONFORK) < 0) {
		munmap(p, (size_t)size);
		return;
	}
	epoch_page = p;
}

uint64_t pidlock__epoch(void)
{
	uint64_t e, fresh;

	pthread_once(&epoch_once, epoch_page_map);
	if (!epoch_page)
		return 0;
	e = __atomic_load_n(epoch_page, __ATOMIC_ACQUIRE);
	if (e)
		return e;
	/* A child's first call (or the first ever): a number above every
	 * epoch the parent handed out, since epochs came along in the copy. */
	fresh = __atomic_add_fetch(&epochs, 1, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(epoch_page, &e, fresh, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return e; /* another thread of this process was first */
	return fresh;
}

/* This process's PID, asked of the kernel once per process. */
pid_t pidlock__self_pid(void)
{
	static pid_t pid;
	static uint64_t pid_epoch;
	uint64_t e = pidlock__epoch();
	pid_t p;

	if (e && __atomic_load_n(&pid_epoch, __ATOMIC_ACQUIRE) == e)
		return __atomic_load_n(&pid, __ATOMIC_RELAXED);
	p = getpid();
	if (e) {
		__atomic_store_n(&pid, p, __ATOMIC_RELAXED);
		__atomic_store_n(&pid_epoch, e, __ATOMIC_RELEASE);
	}
	return p;
}

/* This thread's ID, asked of the kernel once per thread and process. */
pid_t pidlock__tid(void)
{
	static __thread pid_t tid;
	static __thread uint64_t tid_epoch;
	uint64_t e = pidlock__epoch();

	if (!e || tid_epoch != e) {
		tid = gettid();
		tid_epoch = e;
	}
	return tid;
}

/*
 * The machine's facts change only across a reboot or a namespace switch,
 * so they are read once per process.  A forked child may live in a new PID
 * namespace (its parent unshared one), even under the same PID number
 * (PID 1 forking PID 1), so fork invalidates the cache as well: the epoch
 * tells without a system call (see above), else the PID and
 * pthread_atfork() do.
 */
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static struct pidlock__self self_cache;
static pid_t self_cache_pid;
static uint64_t self_cache_epoch;

static void forget_self(void)
{
	self_cache_pid = 0;
	self_cache_epoch = 0;
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_self);
}

/* Is self_cache this process's?  Called under self_lock. */
static bool self_cache_current(void)
{
	uint64_t e = pidlock__epoch();

	if (!self_cache_pid)
		return false;
	if (e)
		return self_cache_epoch == e;
	/* No fork can happen inside one inspection: skip asking for our PID. */
	return memo.on || self_cache_pid == getpid();
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
	self->pid = pidlock__self_pid();
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
	if (!self_cache_current()) {
		r = load_self(&self_cache);
		if (r == 0) {
			self_cache_pid = self_cache.pid;
			self_cache_epoch = pidlock__epoch();
		}
	}
	if (r == 0)
		*self = self_cache;
	pthread_mutex_unlock(&self_lock);
	if (r < 0)
		return r;
	host_name(self->host, sizeof(self->host));
	return 0;
}
