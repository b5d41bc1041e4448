/* SPDX-License-Identifier: MIT */
/*
 * Waiting: in the kernel on the holder's lock, with a deadline.
 *
 * flock(2) has no timeout.  A timed wait arms a POSIX timer that sends
 * SIGRTMAX (SIGRTMAX-1 where SIGRTMAX is taken, as valgrind takes it) to
 * this thread only (SIGEV_THREAD_ID) and keeps firing every
 * millisecond after the deadline, so a signal that lands just before
 * flock() sleeps cannot strand the waiter.  The no-op handler is installed
 * while any timed wait is in progress and the previous disposition is
 * restored by the last one out.  Waits without a deadline use no signal.
 *
 * Other signals: a handler installed with SA_RESTART never shows (the
 * kernel restarts flock(2) itself); one without it makes flock() fail
 * with EINTR, and the wait goes on, unless the caller asked for
 * PIDLOCK_INTERRUPTIBLE: then it ends with -EINTR (flock(2) semantics),
 * which is how a Ctrl-C reaches a Python program waiting for a lock.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned waiters;
static int wait_signal; /* chosen by the first waiter in */
static struct sigaction saved_action;

static void wake_up(int sig)
{
	(void)sig; /* its only job is to make flock() return EINTR */
}

/* Installs the no-op handler; returns the signal the timer must send. */
static int handler_get(void)
{
	int sig = 0;

	pthread_mutex_lock(&wait_lock);
	if (waiters == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = wake_up; /* no SA_RESTART: flock must fail */
		sigemptyset(&sa.sa_mask);
		wait_signal = 0;
		for (int s = SIGRTMAX; s >= SIGRTMAX - 1 && !wait_signal; s--)
			if (sigaction(s, &sa, &saved_action) == 0)
				wait_signal = s;
	}
	if (wait_signal) {
		waiters++;
		sig = wait_signal;
	}
	pthread_mutex_unlock(&wait_lock);
	return sig ? sig : -EINVAL;
}

static void handler_put(void)
{
	pthread_mutex_lock(&wait_lock);
	if (--waiters == 0)
		sigaction(wait_signal, &saved_action, NULL);
	pthread_mutex_unlock(&wait_lock);
}

/* The CLOCK_MONOTONIC moment timeout_ms from now. */
struct timespec pidlock__deadline_after(int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static int arm_timer(timer_t *timer, int sig, const struct timespec *deadline)
{
	struct sigevent sev;
	struct itimerspec its;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig;
	sev._sigev_un._tid = pidlock__tid();
	if (timer_create(CLOCK_MONOTONIC, &sev, timer) < 0)
		return -errno;
	its.it_value = *deadline;
	its.it_interval.tv_sec = 0;
	its.it_interval.tv_nsec = 1000000;
	if (timer_settime(*timer, TIMER_ABSTIME, &its, NULL) < 0) {
		int err = -errno;
		timer_delete(*timer);
		return err;
	}
	return 0;
}

/* One lock request; OFD conflicts (EAGAIN or EACCES) become EWOULDBLOCK. */
static int lock_once(int fd, const struct pidlock__how *how, bool block)
{
	struct flock fl = {
		.l_type = how->shared ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = how->start,
		.l_len = how->len,
	};
	int r;

	if (how->ofd)
		r = fcntl(fd, block ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
	else
		r = flock(fd, (how->shared ? LOCK_SH : LOCK_EX) | (block ? 0 : LOCK_NB));
	if (r == 0)
		return 0;
	if (errno == EWOULDBLOCK || (how->ofd && errno == EACCES))
		return -EWOULDBLOCK;
	return -errno;
}

int pidlock__lock_try(int fd, const struct pidlock__how *how)
{
	int r;

	do
		r = lock_once(fd, how, false);
	while (r == -EINTR);
	return r;
}

void pidlock__unlock(int fd, const struct pidlock__how *how)
{
	struct flock fl = {
		.l_type = F_UNLCK,
		.l_whence = SEEK_SET,
		.l_start = how->start,
		.l_len = how->len,
	};

	if (how->ofd)
		fcntl(fd, F_OFD_SETLK, &fl);
	else
		flock(fd, LOCK_UN);
}

static int lock_until(int fd, const struct pidlock__how *how,
		      const struct timespec *deadline)
{
	for (;;) {
		int r = lock_once(fd, how, true);
		if (r != -EINTR)
			return r;
		if (deadline && past(deadline))
			return -ETIMEDOUT;
		/* Not our timer, which fires only once the deadline is past:
		 * a handler of the caller's ran. */
		if (how->interruptible)
			return -EINTR;
	}
}

int pidlock__lock_wait(int fd, const struct pidlock__how *how,
		       const struct timespec *deadline)
{
	sigset_t unblock, old_mask;
	timer_t timer;
	int r, sig;

	if (!deadline)
		return lock_until(fd, how, NULL);
	if (past(deadline))
		return -ETIMEDOUT;
	sig = handler_get();
	if (sig < 0)
		return sig;
	sigemptyset(&unblock);
	sigaddset(&unblock, sig);
	pthread_sigmask(SIG_UNBLOCK, &unblock, &old_mask);
	r = arm_timer(&timer, sig, deadline);
	if (r == 0) {
		r = lock_until(fd, how, deadline);
		timer_delete(timer);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	handler_put();
	return r;
}

static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	int64_t ms;

	if (!deadline)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms + 1;
}

/*
 * Waits for a foreign process (a plain pidfile's writer, which holds no
 * lock) to exit; start_time, when not 0, must still match.  A pidfd makes that a kernel wait; without one (old
 * kernels) the PID is checked every 50 ms.  Returns 0 when it is gone or
 * no longer the same process, -ETIMEDOUT at the deadline, -EINTR when
 * interruptible and a handler ran (poll(2) is never restarted, so here
 * even a SA_RESTART handler interrupts).
 */
int pidlock__pid_wait(pid_t pid, uint64_t start_time,
		      const struct timespec *deadline, bool interruptible)
{
	struct pidlock__proc proc;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	/* The PID may have been reused between judging and opening. */
	if (pidlock__proc_read(pid, &proc) < 0 || !proc.exists || proc.zombie ||
	    (start_time && proc.start_known && proc.start_time != start_time)) {
		if (pidfd >= 0)
			close(pidfd);
		return 0;
	}
	for (;;) {
		int left = ms_left(deadline);
		int step = pidfd >= 0 ? left : (left < 0 || left > 50 ? 50 : left);
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int n = pidfd >= 0 ? poll(&pfd, 1, step) : poll(NULL, 0, step);
		if (n > 0)
			break;
		if (n < 0 && errno == EINTR && interruptible) {
			if (pidfd >= 0)
				close(pidfd);
			return -EINTR;
		}
		if (n < 0 && errno != EINTR)
			break;
		if (pidfd < 0 && (pidlock__proc_read(pid, &proc) < 0 ||
				  !proc.exists || proc.zombie))
			break;
		if (deadline && ms_left(deadline) == 0) {
			if (pidfd >= 0)
				close(pidfd);
			return -ETIMEDOUT;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

/*
 * The locks this process holds, so that a thread asking again for a lock
 * it holds through another handle gets EDEADLK instead of sleeping
 * forever on itself.
 */
struct held {
	dev_t dev;
	ino_t ino;
	pid_t tid;
	const void *owner;
};

static struct held *held_list;
static size_t held_count, held_alloc;

int pidlock__deadlock_check(dev_t dev, ino_t ino)
{
	pid_t tid = pidlock__tid();
	int r = 0;

	pthread_mutex_lock(&wait_lock);
	for (size_t i = 0; i < held_count; i++)
		if (held_list[i].dev == dev && held_list[i].ino == ino &&
		    held_list[i].tid == tid)
			r = -EDEADLK;
	pthread_mutex_unlock(&wait_lock);
	return r;
}

void pidlock__held_add(dev_t dev, ino_t ino, const void *owner)
{
	pthread_mutex_lock(&wait_lock);
	if (held_count == held_alloc) {
		size_t n = held_alloc ? held_alloc * 2 : 8;
		struct held *p = reallocarray(held_list, n, sizeof(*p));
		if (!p)
			goto out; /* only costs the EDEADLK diagnosis */
		held_list = p;
		held_alloc = n;
	}
	held_list[held_count++] = (struct held){ dev, ino, pidlock__tid(), owner };
out:
	pthread_mutex_unlock(&wait_lock);
}

void pidlock__held_remove(const void *owner)
{
	pthread_mutex_lock(&wait_lock);
	for (size_t i = 0; i < held_count; i++)
		if (held_list[i].owner == owner) {
			held_list[i] = held_list[--held_count];
			break;
		}
	if (held_count == 0) {
		free(held_list);
		held_list = NULL;
		held_alloc = 0;
	}
	pthread_mutex_unlock(&wait_lock);
}
