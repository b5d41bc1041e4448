/* SPDX-License-Identifier: MIT */
/*
 * Whole-process cost: wall time and peak RSS of commands, run in
 * alternation so that a change in machine load hits every command alike.
 *
 * Each run is posix_spawn + wait4; the wall time is CLOCK_MONOTONIC from
 * before the spawn to after the reap, and the peak RSS is the child's
 * ru_maxrss.  Linux folds the RSS high-water mark of the image that
 * execve() replaces into ru_maxrss, so this driver stays small: its own
 * peak is reported as the floor below which no row can go.  The child's
 * CPU time (user + system, from the same rusage) is reported too: on a
 * busy machine it moves far less than the wall time.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CMDS 8

struct series {
	char **argv;
	int64_t *wall, *cpu, *rss, *status;
};

static int split_commands(int argc, char **argv, struct series *s)
{
	int m = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") != 0)
			continue;
		argv[i] = NULL;
		if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0) {
			if (m == MAX_CMDS)
				errx(2, "at most %d commands", MAX_CMDS);
			s[m++].argv = &argv[i + 1];
		}
	}
	return m;
}

static void run_once(struct series *s, long k, const char *out)
{
	struct rusage ru;
	int status;
	int64_t t0 = now_ns();
	pid_t pid = spawn_argv(s->argv, out, out);

	if (wait4(pid, &status, 0, &ru) < 0)
		err(1, "wait4");
	s->wall[k] = now_ns() - t0;
	s->cpu[k] = rusage_cpu_ns(&ru);
	s->rss[k] = ru.ru_maxrss;
	s->status[k] = WIFEXITED(status) ? WEXITSTATUS(status)
					 : 128 + WTERMSIG(status);
}

/* spawn ROUNDS OUT -- CMD [ARGS...] [-- CMD [ARGS...]]... */
int cmd_spawn(int argc, char **argv)
{
	struct series s[MAX_CMDS];
	struct rusage self;
	char key[32];
	long rounds;
	int m;

	if (argc < 5)
		errx(2, "usage: spawn ROUNDS OUT -- CMD [ARGS...] [-- CMD...]");
	rounds = arg_long(argv[1], 1, 1000000, "ROUNDS");
	m = split_commands(argc - 3, argv + 3, s);
	for (int j = 0; j < m; j++) {
		s[j].wall = calloc((size_t)rounds, sizeof(int64_t));
		s[j].cpu = calloc((size_t)rounds, sizeof(int64_t));
		s[j].rss = calloc((size_t)rounds, sizeof(int64_t));
		s[j].status = calloc((size_t)rounds, sizeof(int64_t));
		if (!s[j].wall || !s[j].cpu || !s[j].rss || !s[j].status)
			err(1, "calloc");
	}
	/* Round k starts with command k mod m: each goes first equally often. */
	for (long k = 0; k < rounds; k++)
		for (int j = 0; j < m; j++)
			run_once(&s[(k + j) % m], k, argv[2]);
	getrusage(RUSAGE_SELF, &self);
	json_begin();
	json_int("commands", m);
	json_int("driver_maxrss_kb", self.ru_maxrss);
	for (int j = 0; j < m; j++) {
		snprintf(key, sizeof(key), "wall_ns_%d", j);
		json_array(key, s[j].wall, (size_t)rounds);
		snprintf(key, sizeof(key), "cpu_ns_%d", j);
		json_array(key, s[j].cpu, (size_t)rounds);
		snprintf(key, sizeof(key), "maxrss_kb_%d", j);
		json_array(key, s[j].rss, (size_t)rounds);
		snprintf(key, sizeof(key), "status_%d", j);
		json_array(key, s[j].status, (size_t)rounds);
	}
	json_end();
	return 0;
}
