/* SPDX-License-Identifier: MIT */
/*
 * The floor of a scan (issue 18): the system calls lockstat DIR makes for
 * every file it reads, and nothing else (no judgement, no holders, no
 * output).  "plain" makes them one after another, as lockstat does;
 * "uring" batches them through io_uring, where the driver was built with
 * liburing.  The calls depend on each other's answers (open only a regular
 * file that has content, read only the file opened), so a batched scan runs
 * in stages over BATCH files at a time: every look, then every open, then
 * every identity and read, then every close.
 *
 * scanfloor DIR plain|uring: one pass; prints the files, the files opened,
 * the files whose identity or read failed (plain only; never a name: they
 * are anybody's), the wall time and the process's CPU time (io_uring's
 * workers included).
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "bench.h"

#define BATCH 256
#define OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* What a stage needs of a file; BATCH of them, reused (no page faults
 * in the measurement beyond the names). */
struct entry {
	const char *name;
	struct statx look, opened;
	int fd;
	char buf[512];
};

struct scan {
	char **names;
	size_t n, alloc;
	long opened, failed; /* failed: a read or an identity check */
	struct entry e[BATCH];
};

static void list_dir(int dirfd, struct scan *s)
{
	DIR *d = fdopendir(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
	struct dirent *de;

	if (!d)
		err(1, "fdopendir");
	errno = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (s->n == s->alloc) {
			s->alloc = s->alloc ? s->alloc * 2 : 1024;
			s->names = reallocarray(s->names, s->alloc, sizeof(*s->names));
			if (!s->names)
				err(1, "reallocarray");
		}
		if (!(s->names[s->n++] = strdup(de->d_name)))
			err(1, "strdup");
	}
	if (errno)
		err(1, "readdir");
	closedir(d);
}

static bool worth_opening(const struct statx *st)
{
	return S_ISREG(st->stx_mode) && st->stx_size > 0;
}

static bool same_file(const struct statx *a, const struct statx *b)
{
	return a->stx_ino == b->stx_ino && a->stx_dev_major == b->stx_dev_major &&
	       a->stx_dev_minor == b->stx_dev_minor;
}

/* lockstat's calls for one file: look, open, identity, read, close. */
static void plain(int dirfd, struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[0];
		e->name = s->names[i];
		if (statx(dirfd, e->name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
			  &e->look) < 0 || !worth_opening(&e->look))
			continue;
		e->fd = openat(dirfd, e->name, OPEN_FLAGS);
		if (e->fd < 0)
			continue;
		s->opened++;
		/* Counted, never printed: the names are anybody's. */
		if (statx(e->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &e->opened) < 0 ||
		    !same_file(&e->look, &e->opened) ||
		    pread(e->fd, e->buf, sizeof(e->buf), 0) < 0)
			s->failed++;
		close(e->fd);
	}
}

#ifdef HAVE_LIBURING
/* Submits what is queued and reaps every completion: res by user_data. */
static void run_stage(struct io_uring *ring, unsigned queued, int *res)
{
	struct io_uring_cqe *cqe;
	int r = io_uring_submit_and_wait(ring, queued);

	if (r < 0)
		errx(1, "io_uring_submit_and_wait: %s", strerror(-r));
	for (unsigned got = 0; got < queued; got++) {
		r = io_uring_wait_cqe(ring, &cqe);
		if (r < 0)
			errx(1, "io_uring_wait_cqe: %s", strerror(-r));
		if (res && cqe->user_data != UINT64_MAX)
			res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
}

static struct io_uring_sqe *sqe_for(struct io_uring *ring, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		errx(1, "io_uring: submission queue full");
	io_uring_sqe_set_data64(sqe, data);
	return sqe;
}

static void uring_batch(struct io_uring *ring, int dirfd, struct scan *s,
			size_t first, size_t n)
{
	struct entry *e = s->e;
	int res[BATCH];
	unsigned q = 0;

	for (size_t i = 0; i < n; i++)
		e[i].name = s->names[first + i];
	for (size_t i = 0; i < n; i++)
		io_uring_prep_statx(sqe_for(ring, i), dirfd, e[i].name, AT_SYMLINK_NOFOLLOW,
				    STATX_BASIC_STATS, &e[i].look);
	run_stage(ring, (unsigned)n, res);
	for (size_t i = 0; i < n; i++) {
		e[i].fd = -1;
		if (res[i] == 0 && worth_opening(&e[i].look)) {
			io_uring_prep_openat(sqe_for(ring, i), dirfd, e[i].name, OPEN_FLAGS, 0);
			q++;
		} else {
			res[i] = -1;
		}
	}
	run_stage(ring, q, res);
	q = 0;
	for (size_t i = 0; i < n; i++) {
		if (res[i] < 0)
			continue;
		e[i].fd = res[i];
		s->opened++;
		io_uring_prep_statx(sqe_for(ring, UINT64_MAX), e[i].fd, "", AT_EMPTY_PATH,
				    STATX_BASIC_STATS, &e[i].opened);
		io_uring_prep_read(sqe_for(ring, UINT64_MAX), e[i].fd, e[i].buf,
				   sizeof(e[i].buf), 0);
		q += 2;
	}
	run_stage(ring, q, NULL);
	q = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].fd < 0)
			continue;
		io_uring_prep_close(sqe_for(ring, UINT64_MAX), e[i].fd);
		q++;
	}
	run_stage(ring, q, NULL);
}

static int uring(int dirfd, struct scan *s)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2 * BATCH, &ring, 0);

	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n; i += BATCH)
		uring_batch(&ring, dirfd, s, i, s->n - i < BATCH ? s->n - i : BATCH);
	io_uring_queue_exit(&ring);
	return 0;
}
#else
static int uring(int dirfd, struct scan *s)
{
	(void)dirfd;
	(void)s;
	return -ENOSYS;
}
#endif

/* scanfloor DIR plain|uring */
int cmd_scanfloor(int argc, char **argv)
{
	static struct scan s;
	int64_t t0, c0, wall, cpu;
	int dirfd, r = 0;
	bool batched;

	if (argc != 3 || (strcmp(argv[2], "plain") && strcmp(argv[2], "uring")))
		errx(2, "usage: scanfloor DIR plain|uring");
	batched = strcmp(argv[2], "uring") == 0;
	t0 = now_ns();
	c0 = cpu_ns(RUSAGE_SELF);
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		err(1, "scanfloor: the directory");
	list_dir(dirfd, &s);
	if (batched)
		r = uring(dirfd, &s);
	else
		plain(dirfd, &s);
	wall = now_ns() - t0;
	cpu = cpu_ns(RUSAGE_SELF) - c0;
	json_begin();
	json_str("mode", argv[2]);
	if (r < 0) {
		json_str("error", strerror(-r));
	} else {
		json_int("files", (long long)s.n);
		json_int("opened", s.opened);
		json_int("failed", s.failed);
		json_int("wall_ns", wall);
		json_int("cpu_ns", cpu);
	}
	json_end();
	close(dirfd);
	for (size_t i = 0; i < s.n; i++)
		free(s.names[i]);
	free(s.names);
	return 0;
}
