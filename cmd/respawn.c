/* SPDX-License-Identifier: MIT */
/* lockrun --respawn; see respawn.h and lockrun(1). */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"
#include "detach.h"
#include "respawn.h"

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool loop_over(const struct respawn_opts *o, const struct job_end *e)
{
	bool ok = !e->die_by && e->status == 0;

	return e->stopped_by || detach_failed() || (o->until_success && ok) ||
	       (o->until_failure && !ok);
}

/*
 * Waits ms between runs; returns the stopping signal that came meanwhile,
 * or 0.  Orphans of the last run that end meanwhile are reaped (lockrun
 * is their subreaper).
 */
static int pause_between(int64_t ms)
{
	int64_t end = now_ms() + ms;
	struct timespec ts;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	for (;;) {
		int64_t left = end - now_ms();
		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		} else if (sig > 0) {
			return sig;
		} else if (errno != EINTR) {
			return 0; /* EAGAIN: the delay is over */
		}
	}
}

struct job_end respawn_loop(const struct respawn_opts *o,
			    struct job_end (*run)(void *ctx), void *ctx)
{
	int64_t delay = o->delay_ms, max = o->delay_ms > RESPAWN_MAX_DELAY_MS
						  ? o->delay_ms : RESPAWN_MAX_DELAY_MS;
	struct job_end end;
	long long restarts = 0;
	int sig;

	for (;;) {
		int64_t started = now_ms();
		end = run(ctx);
		if (loop_over(o, &end))
			return end;
		if (o->limit && restarts == o->limit) {
			if (o->verbose)
				warnx("gave up after %lld restarts", restarts);
			return end;
		}
		if (now_ms() - started >= RESPAWN_MAX_DELAY_MS)
			delay = o->delay_ms;
		if (o->verbose)
			warnx("the command ended (status %d); restarting in %.3gs",
			      end.status, (double)delay / 1000);
		if ((sig = pause_between(delay)) != 0)
			return (struct job_end){ 128 + sig, sig, sig };
		restarts++;
		delay = delay > max / 2 ? max : delay * 2;
	}
}
