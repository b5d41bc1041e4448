/* SPDX-License-Identifier: MIT */
/*
 * torture: mutual exclusion of one pidlock under chaos.
 *
 *   torture [-p PROCS] [-i ITERS | -n TOTAL] [options]
 *
 * PROCS workers (default 16) complete ITERS critical sections each on one
 * lock file, through the library and through lockrun(1), while the chaos
 * kills holders and waiters, lockclean and lockstat run on the directory,
 * and (as root) dead holders' PIDs are reused in a PID namespace.  At the
 * end the lock must be free at once, the directory clean after lockclean,
 * and the shared counter equal to the completed critical sections.
 * Prints every figure as "name value  description"; exits 1 on any
 * violation or error.  See torture.h for how the checks work.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidlock.h"
#include "torture.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: torture [-p PROCS] [-i ITERS | -n TOTAL] [options]\n"
"  -p, --procs N         workers (16)\n"
"  -i, --iters N         critical sections each worker completes (2000)\n"
"  -n, --total N         total critical sections (sets --iters)\n"
"  -l, --lockrun-every N 1 in N iterations through lockrun (50; 0: never)\n"
"  -t, --timeout MS      long acquire timeout (2000)\n"
"      --bound MS        a library wait past timeout + MS is late (1000)\n"
"      --lockrun-bound MS  the same for lockrun -w (2000)\n"
"      --strict-bound    a late wait is a violation (else 10x the bound is)\n"
"      --linger PCT      share of acquisitions to kill holding (10)\n"
"      --duration S      stop after S seconds even if not done\n"
"      --cs-us US        busy time in each critical section (0)\n"
"      --wedge S         no progress for S seconds is a wedge (30)\n"
"      --no-chaos        no kills   --no-tools  no lockclean/lockstat\n"
"      --no-reuse        no PID namespace (also without root)\n"
"      --no-flock1       no util-linux flock(1) runs (half of the -l runs\n"
"                        go through /usr/bin/flock when it exists)\n"
"      --broken          self-test: each worker its own lock (must fail)\n"
"  -d, --dir DIR         where the work directory goes (/dev/shm, $TMPDIR)\n"
"  -B, --bin DIR         where lockrun, lockstat, lockclean are\n"
"      --keep            keep the work directory\n");
}

static long number_or_die(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "torture: bad number '%s' (%ld..%ld)\n", s, min, max);
		exit(64);
	}
	return v;
}

enum { O_BOUND = 256, O_LRBOUND, O_STRICT, O_DURATION, O_BROKEN, O_LINGER, O_CSUS, O_WEDGE, O_NOCHAOS,
       O_NOTOOLS, O_NOREUSE, O_KEEP, O_NOFLOCK1 };

static bool keep_dir;
volatile sig_atomic_t t_interrupted;

static void interrupted(int sig)
{
	(void)sig;
	t_interrupted = 1;
}

static void parse(int argc, char **argv, struct t_config *c, char *dir)
{
	static const struct option opts[] = {
		{ "procs", 1, NULL, 'p' }, { "iters", 1, NULL, 'i' },
		{ "total", 1, NULL, 'n' }, { "lockrun-every", 1, NULL, 'l' },
		{ "timeout", 1, NULL, 't' }, { "bound", 1, NULL, O_BOUND },
		{ "lockrun-bound", 1, NULL, O_LRBOUND },
		{ "strict-bound", 0, NULL, O_STRICT },
		{ "duration", 1, NULL, O_DURATION },
		{ "broken", 0, NULL, O_BROKEN },
		{ "linger", 1, NULL, O_LINGER }, { "cs-us", 1, NULL, O_CSUS },
		{ "wedge", 1, NULL, O_WEDGE }, { "no-chaos", 0, NULL, O_NOCHAOS },
		{ "no-tools", 0, NULL, O_NOTOOLS },
		{ "no-reuse", 0, NULL, O_NOREUSE }, { "dir", 1, NULL, 'd' },
		{ "no-flock1", 0, NULL, O_NOFLOCK1 },
		{ "bin", 1, NULL, 'B' }, { "keep", 0, NULL, O_KEEP },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	long total = 0;
	int o;

	while ((o = getopt_long(argc, argv, "p:i:n:l:t:d:B:h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': c->procs = (unsigned)number_or_die(optarg, 1, T_SLOTS_MAX - 1); break;
		case 'i': c->iters = (uint64_t)number_or_die(optarg, 1, 1L << 40); break;
		case 'n': total = number_or_die(optarg, 1, 1L << 40); break;
		case 'l': c->lockrun_every = (unsigned)number_or_die(optarg, 0, 1 << 30); break;
		case 't': c->timeout_ms = (int)number_or_die(optarg, 1, 3600000); break;
		case O_BOUND: c->bound_ms = (int)number_or_die(optarg, 0, 3600000); break;
		case O_LRBOUND: c->lockrun_bound_ms = (int)number_or_die(optarg, 0, 3600000); break;
		case O_STRICT: c->strict_bound = true; break;
		case O_BROKEN: c->broken = true; break;
		case O_DURATION: c->duration_s = (int)number_or_die(optarg, 1, 864000); break;
		case O_LINGER: c->linger_pct = (unsigned)number_or_die(optarg, 0, 100); break;
		case O_CSUS: c->cs_us = (unsigned)number_or_die(optarg, 0, 1000000); break;
		case O_WEDGE: c->wedge_s = (int)number_or_die(optarg, 1, 86400); break;
		case O_NOCHAOS: c->chaos = false; break;
		case O_NOTOOLS: c->tools = false; break;
		case O_NOREUSE: c->reuse = false; break;
		case O_NOFLOCK1: c->flock1 = false; break;
		case O_KEEP: keep_dir = true; break;
		case 'd': snprintf(dir, PATH_MAX / 4, "%s", optarg); break;
		case 'B': snprintf(c->bin, sizeof(c->bin), "%s", optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(64);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(64);
	}
	if (total)
		c->iters = ((uint64_t)total + c->procs - 1) / c->procs;
}

static void defaults(struct t_config *c, char *dir)
{
	const char *tmp = getenv("TMPDIR");
	ssize_t n;

	*c = (struct t_config){
		.procs = 16, .iters = 2000, .lockrun_every = 50,
		.timeout_ms = 2000, .bound_ms = 1000, .lockrun_bound_ms = 2000,
		.linger_pct = 10, .random_kill_pm = 50, .wait_kill_pm = 5,
		.wedge_s = 30, .chaos = true, .tools = true,
		.reuse = geteuid() == 0,
		/* pidlock(5): util-linux flock(1) on the same path is excluded */
		.flock1 = access(T_UL_FLOCK, X_OK) == 0,
	};
	/* Lock directories are tmpfs (/run/lock): so is the default here. */
	if (access("/dev/shm", W_OK | X_OK) == 0)
		tmp = "/dev/shm";
	snprintf(dir, PATH_MAX / 4, "%s", tmp && tmp[0] == '/' ? tmp : "/tmp");
	n = readlink("/proc/self/exe", c->self, sizeof(c->self) - 1);
	c->self[n > 0 ? n : 0] = '\0';
	snprintf(c->bin, sizeof(c->bin), "%s", c->self);
	dirname(c->bin);
}

static int setup(struct t_config *c, const char *dir)
{
	snprintf(c->work, sizeof(c->work), "%s/pidlock-torture.XXXXXX", dir);
	if (!mkdtemp(c->work))
		return -1;
	chmod(c->work, 0755);
	snprintf(c->locks, sizeof(c->locks), "%s/locks", c->work);
	snprintf(c->cs, sizeof(c->cs), "%s/cs", c->work);
	snprintf(c->shm, sizeof(c->shm), "%s/shm", c->work);
	snprintf(c->lock, sizeof(c->lock), "%s/t.lock", c->locks);
	if (mkdir(c->locks, 0755) < 0 || mkdir(c->cs, 0755) < 0)
		return -1;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int run_lockclean(const struct t_config *c)
{
	char path[PATH_MAX];
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		snprintf(path, sizeof(path), "%s/lockclean", c->bin);
		execl(path, "lockclean", "-q", c->locks, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Files in dir; counts the temporary ones apart, reports the others.  An
 * empty lock file is not a leftover: lock files are kept, emptied, on
 * release (pidlock(5)).
 */
static int leftovers(struct t_shm *shm, const char *dir, int *tmps)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	int n = 0;

	*tmps = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!pidlock_is_temp_name(e->d_name) &&
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_size == 0)
			continue;
		if (pidlock_is_temp_name(e->d_name))
			(*tmps)++;
		else
			t_error(shm, "left in %s: %s", dir, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* After the chaos: free at once, nothing that needs a human. */
static void final_check(struct t_shm *shm, int64_t *took, int *recovered,
			int *tmps_left)
{
	const struct t_config *c = &shm->cfg;
	struct pidlock *lock;
	int csfd = open(c->cs, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, tmps;
	int64_t t0;

	if (pidlock_new(&lock, c->lock) < 0 || csfd < 0) {
		t_error(shm, "final check: setup failed");
		return;
	}
	t0 = t_now();
	r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	*took = t_now() - t0;
	if (r != 0) {
		t_error(shm, "after the chaos the lock is not free at once: %s",
			pidlock_strerror(r));
	} else {
		*recovered = pidlock_recovered(lock);
		if (faccessat(csfd, "marker", F_OK, 0) == 0)
			t_marker_check(shm, csfd, t_now());
		if ((r = pidlock_release(lock)) != 0)
			t_error(shm, "final release: %s", pidlock_strerror(r));
	}
	pidlock_free(lock);
	close(csfd);
	leftovers(shm, c->locks, &tmps);
	*tmps_left = tmps;
	if ((r = run_lockclean(c)) != 0)
		t_error(shm, "final lockclean exited %d", r);
	if (leftovers(shm, c->locks, &tmps) != 0)
		t_error(shm, "%s is not empty after lockclean", c->locks);
}

static void report(const struct t_shm *shm, int64_t elapsed_ns, int64_t took,
		   int recovered, int tmps)
{
	const struct t_config *c = &shm->cfg;
	const struct t_stats *st = &shm->st;
	uint64_t acq = st->acq_lib + st->acq_lockrun;
	uint64_t held_kills = st->kill_cs + st->kill_release + st->kill_ns;
	double secs = (double)elapsed_ns / 1e9;

	printf("torture: %u workers x %" PRIu64 " critical sections, lockrun 1 in %u, "
	       "timeout %d ms, chaos %s, tools %s, PID reuse %s\n",
	       c->procs, c->iters, c->lockrun_every, c->timeout_ms,
	       c->chaos ? "on" : "off", c->tools ? "on" : "off",
	       c->reuse ? "on" : geteuid() ? "off (needs root)" : "off");
#define X(name, text) printf("%-20s %10" PRIu64 "  %s\n", #name, \
			     (uint64_t)st->name, text);
	T_STATS(X)
#undef X
	printf("%-20s %10" PRIu64 "  %s\n", "acquisitions", acq, "in all");
	printf("%-20s %10" PRIu64 "  %s\n", "counter", (uint64_t)shm->counter,
	       "the shared counter (must equal completed)");
	printf("%-20s %10" PRIu64 "  %s\n", "held_kills", held_kills,
	       "holders killed while holding");
	printf("%-20s %10.1f  %s\n", "held_kill_pct",
	       acq ? 100.0 * (double)held_kills / (double)acq : 0.0,
	       "% of acquisitions whose holder was killed holding");
	printf("%-20s %10.1f  %s\n", "max_wait_ms", (double)st->max_wait_ns / 1e6,
	       "longest library acquire call");
	printf("%-20s %10.1f  %s\n", "max_over_ms",
	       (double)st->max_over_ns / 1e6, "longest past its timeout");
	printf("%-20s %10.1f  %s (bound %d)\n", "max_over_cpu_ms",
	       (double)st->max_over_adj_ns / 1e6,
	       "the same, less time waiting for a CPU", c->bound_ms);
	printf("%-20s %10.1f  %s\n", "lockrun_wait_ms",
	       (double)st->max_lockrun_wait_ns / 1e6,
	       "longest from starting lockrun to its command");
	printf("%-20s %10.1f  %s\n", "lockrun_over_ms",
	       (double)st->max_lockrun_over_ns / 1e6, "longest lockrun past its -w");
	printf("%-20s %10.1f  %s (bound %d)\n", "lockrun_over_cpu_ms",
	       (double)st->max_lockrun_over_adj_ns / 1e6,
	       "the same, less time waiting for a CPU", c->lockrun_bound_ms);
	printf("%-20s %10.3f  %s%s\n", "final_acquire_ms", (double)took / 1e6,
	       "no-wait acquire after the chaos", recovered ? " (recovered)" : "");
	printf("%-20s %10d  %s\n", "final_tmp_files", tmps,
	       "temporary files left (lockclean removes them)");
	printf("%-20s %10.1f  %s\n", "elapsed_s", secs, "wall time");
	printf("%-20s %10.0f  %s\n", "acq_per_s", secs > 0 ? (double)acq / secs : 0.0,
	       "acquisitions per second");
	for (unsigned i = 0; i < shm->nlog && i < T_LOG; i++)
		printf("log: %s\n", shm->log[i]);
	printf("torture: %s\n", st->violations || st->errors ? "FAILED" : "passed");
}

int main(int argc, char **argv)
{
	struct t_config cfg;
	struct t_shm *shm;
	char dir[PATH_MAX / 4];
	int64_t t0, elapsed, took = 0;
	int recovered = 0, tmps = 0, failed;

	if (argc > 1 && strcmp(argv[1], "--cs") == 0)
		return t_helper_main(argc, argv);
	defaults(&cfg, dir);
	parse(argc, argv, &cfg, dir);
	if (setup(&cfg, dir) < 0 || !(shm = t_shm_create(cfg.shm))) {
		perror("torture: setup");
		return 2;
	}
	shm->cfg = cfg;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, interrupted);
	signal(SIGTERM, interrupted);
	signal(SIGHUP, interrupted);
	t0 = t_now();
	t_supervise(shm);
	elapsed = t_now() - t0;
	final_check(shm, &took, &recovered, &tmps);
	if (shm->counter != shm->st.completed)
		t_violation(shm, "the counter is %" PRIu64 " after %" PRIu64
			    " completed critical sections",
			    (uint64_t)shm->counter, (uint64_t)shm->st.completed);
	report(shm, elapsed, took, recovered, tmps);
	failed = shm->st.violations || shm->st.errors;
	if (!keep_dir)
		nftw(cfg.work, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("torture: work directory kept: %s\n", cfg.work);
	return failed ? 1 : 0;
}
