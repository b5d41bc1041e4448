/* SPDX-License-Identifier: MIT */
/* lockrun's options for starting and stopping; see startstop.h. */
#include <err.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "startstop.h"

void start_stop_usage(void)
{
	printf("\nStarting and stopping:\n"
	       "     --stop                 stop the job holding the lock (no command)\n"
	       "     --retry SCHEDULE       how: SIG/DUR/SIG/DUR... (default TERM/30/KILL/5)\n"
	       "     --oknodo               --stop: exit 0 when nothing holds the lock\n"
	       "     --replace              stop the holder's job, then run the command\n"
	       "     --respawn              run the command again when it ends, lock held\n"
	       "     --respawn-delay DUR    first delay before a restart (1), doubling\n"
	       "     --respawn-limit N      restart at most N times\n"
	       "     --until-success        --respawn: stop once the command exits 0\n"
	       "     --until-failure        --respawn: stop once the command fails\n"
	       " -b, --background           detach; exit 0 once the command runs\n"
	       "     --output FILE          --background: append output to FILE\n"
	       "     --chdir DIR            --background: run the command in DIR\n"
	       "     --umask MASK           --background: the command's umask (octal)\n"
	       "     --auto                 name the lock after the command line\n");
}

void start_stop_init(struct start_stop *s)
{
	memset(s, 0, sizeof(*s));
	s->re.delay_ms = -1;
	s->bg.umask = -1;
}

bool start_stop_option(struct start_stop *s, int c, const char *arg)
{
	switch (c) {
	case SS_STOP: s->stop = true; break;
	case SS_RETRY: s->retry = arg; break;
	case SS_OKNODO: s->oknodo = true; break;
	case SS_REPLACE: s->replace = true; break;
	case SS_RESPAWN: s->respawn = true; break;
	case SS_RESPAWN_DELAY: s->re.delay_ms = duration_or_die(arg, "respawn delay"); break;
	case SS_RESPAWN_LIMIT: s->re.limit = number_or_die(arg, 1, LLONG_MAX, "respawn limit"); break;
	case SS_UNTIL_SUCCESS: s->re.until_success = true; break;
	case SS_UNTIL_FAILURE: s->re.until_failure = true; break;
	case SS_BACKGROUND: s->background = true; break;
	case SS_OUTPUT: s->bg.output = arg; break;
	case SS_CHDIR: s->bg.chdir = arg; break;
	case SS_UMASK: s->bg.umask = umask_or_die(arg); break;
	case SS_AUTO: s->auto_name = true; break;
	default: return false;
	}
	return true;
}

void start_stop_check(struct start_stop *s, const struct start_stop_ctx *c)
{
	const bool starts = s->replace || s->respawn || s->background;

	stop_schedule_or_die(s->retry ? s->retry : STOP_DEFAULT_RETRY, c->signal,
			     &s->schedule);
	if (s->stop && (starts || c->no_fork || c->runs))
		errx(EX_USAGE, "--stop runs nothing: not with options that run a command");
	if ((s->stop || s->replace) && !c->plain)
		errx(EX_USAGE, "--stop and --replace need an exclusive lock with a record "
		     "(not -s, --fcntl, --fd or flock)");
	if ((s->retry && !s->stop && !s->replace) || (s->oknodo && !s->stop))
		errx(EX_USAGE, "--retry goes with --stop or --replace, --oknodo with --stop");
	if ((s->re.limit || s->re.until_success || s->re.until_failure ||
	     s->re.delay_ms >= 0) && !s->respawn)
		errx(EX_USAGE, "--respawn-delay, --respawn-limit and --until-* need --respawn");
	if (s->re.until_success && s->re.until_failure)
		errx(EX_USAGE, "--until-success and --until-failure are exclusive");
	if ((s->bg.output || s->bg.chdir || s->bg.umask >= 0) && !s->background)
		errx(EX_USAGE, "--output, --chdir and --umask need --background");
	if ((s->respawn || s->background) && (c->no_fork || !c->command))
		errx(EX_USAGE, "--respawn and --background need a command and "
		     "a supervising lockrun: not with --no-fork");
	if (s->re.delay_ms < 0)
		s->re.delay_ms = 1000;
	s->re.verbose = c->verbose;
}
