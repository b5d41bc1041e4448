/* SPDX-License-Identifier: MIT */
/* lockrun --background; see detach.h and lockrun(1), BACKGROUND START. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "detach.h"

/* What the command's child reports when it could not exec. */
struct exec_report {
	int stage; /* 0: exec, 1: chdir */
	int err;
};

static struct {
	bool on, done, failed;
	const struct detach_opts *o;
	int out_fd;       /* --output or /dev/null, for the command and us */
	int ready_fd;     /* to the starter: one byte once started */
	int report[2];    /* from the command's child: struct exec_report */
} bg = { false, false, false, NULL, -1, -1, { -1, -1 } };

int umask_or_die(const char *s)
{
	size_t n = strspn(s, "01234567");
	long v;

	if (n == 0 || n > 4 || s[n] || (v = strtol(s, NULL, 8)) > 0777)
		errx(EX_USAGE, "invalid umask: '%s' (use e.g. 022)", esc(s));
	return (int)v;
}

/* --output: appended to, never through a symlink, never a FIFO. */
static int open_output(const char *path)
{
	const int flags = O_WRONLY | O_APPEND | O_NOCTTY | O_NOFOLLOW |
			  O_NONBLOCK | O_CLOEXEC;
	int fd = open(path, flags | O_CREAT, 0644);
	struct stat st;

	if (fd < 0)
		err(EX_CANTCREAT, "%s", esc(path));
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
		errx(EX_CANTCREAT, "%s: not a regular file", esc(path));
	(void)fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
	return fd;
}

/* The starter: passes on what the background lockrun says until it is
 * started or has ended, and exits with the verdict. */
static void __attribute__((noreturn)) await_start(pid_t child, int err_fd,
						  int ready_fd)
{
	char buf[4096], c;
	ssize_t n;
	int st;

	while ((n = read(err_fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(STDERR_FILENO, buf, (size_t)n) < 0)
			break;
	}
	while ((n = read(ready_fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		exit(EX_OK);
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			err(EX_OSERR, "waitpid");
	if (WIFSIGNALED(st))
		exit(128 + WTERMSIG(st));
	/* A background lockrun that ended with 0 before it said "started"
	 * cannot have started the command: never 0 for that. */
	exit(WEXITSTATUS(st) ? WEXITSTATUS(st) : EX_SOFTWARE);
}

void detach_or_die(const struct detach_opts *d)
{
	int err_pipe[2], ready_pipe[2], in;
	pid_t child;

	bg.o = d;
	bg.out_fd = open_output(d->output ? d->output : "/dev/null");
	if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(ready_pipe, O_CLOEXEC) < 0)
		err(EX_OSERR, "cannot start in the background");
	fflush(NULL);
	if ((child = fork()) < 0)
		err(EX_OSERR, "fork failed");
	if (child > 0) {
		close(err_pipe[1]);
		close(ready_pipe[1]);
		await_start(child, err_pipe[0], ready_pipe[0]);
	}
	close(err_pipe[0]);
	close(ready_pipe[0]);
	(void)setsid();
	/* Messages go to the starter until the command is started. */
	if (dup2(in, STDIN_FILENO) < 0 || dup2(bg.out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_pipe[1], STDERR_FILENO) < 0)
		err(EX_OSERR, "cannot start in the background");
	close(in);
	close(err_pipe[1]);
	bg.ready_fd = ready_pipe[1];
	bg.on = true;
}

void detach_before_fork(void)
{
	if (bg.on && !bg.done && pipe2(bg.report, O_CLOEXEC) < 0)
		err(EX_OSERR, "cannot start in the background");
}

void detach_exec_failed(int e)
{
	struct exec_report r = { 0, e };

	if (bg.on && bg.report[1] >= 0)
		(void)!write(bg.report[1], &r, sizeof(r));
}

void detach_in_child(void)
{
	if (!bg.on)
		return;
	if (bg.report[0] >= 0)
		close(bg.report[0]);
	/* The command's messages go to --output, from here on. */
	(void)dup2(bg.out_fd, STDOUT_FILENO);
	(void)dup2(bg.out_fd, STDERR_FILENO);
	if (bg.o->chdir && chdir(bg.o->chdir) < 0) {
		struct exec_report r = { 1, errno };
		warn("cannot change directory to %s", esc(bg.o->chdir));
		if (bg.report[1] >= 0)
			(void)!write(bg.report[1], &r, sizeof(r));
		_exit(EX_NOINPUT);
	}
	if (bg.o->umask >= 0)
		umask((mode_t)bg.o->umask);
}

void detach_command_started(pid_t child, bool recorded, const char *command)
{
	struct exec_report r;
	ssize_t n;

	if (!bg.on || bg.done)
		return;
	bg.done = true;
	close(bg.report[1]);
	/* End of file: the exec succeeded (the pipe was close-on-exec). */
	while ((n = read(bg.report[0], &r, sizeof(r))) < 0 && errno == EINTR)
		;
	close(bg.report[0]);
	if (n == (ssize_t)sizeof(r)) {
		bg.failed = true;
		if (r.stage == 1)
			warnx("cannot change directory to %s: %s", esc(bg.o->chdir),
			      strerror(r.err));
		else
			warnx("failed to execute %s: %s", esc(command), strerror(r.err));
		return;
	}
	if (!recorded) {
		bg.failed = true;
		warnx("%s: started, but the lock's record does not name it; "
		      "stopped it", esc(command));
		kill(child, SIGTERM); /* our child: its PID is still its own */
		return;
	}
	if (write(bg.ready_fd, "R", 1) != 1)
		bg.failed = true;
	close(bg.ready_fd);
	(void)dup2(bg.out_fd, STDERR_FILENO);
}

bool detach_active(void)
{
	return bg.on;
}

bool detach_failed(void)
{
	return bg.failed;
}
