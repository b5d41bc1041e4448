/* SPDX-License-Identifier: MIT */
/*
 * lockrun's supervision of the job: the command and every process it
 * starts, also those that leave its process group or session (lockrun is
 * their child subreaper).  Signals lockrun receives are forwarded to the
 * processes that did not get them already; --max-time, --kill-after and
 * forwarded termination signals stop the whole job.
 */
#ifndef PIDLOCK_CMD_JOB_H
#define PIDLOCK_CMD_JOB_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define EX_TIMEOUT 124
/* --max-time stopped the job, but some of it outlived the stop. */
#define EX_TIMEOUT_LEFT 125
/* The lock was lost while the command ran (lockrun --etcd: the lease);
 * the job was stopped. */
#define EX_LOCK_LOST 120

struct job_opts {
	int64_t max_time_ms, kill_after_ms; /* 0: none */
	int max_time_signal;
	bool quiet;
	const char *command;                 /* argv[0], for messages */
	/*
	 * A lock that can be lost while the job runs (an etcd lease): when
	 * not NULL, called at every wake-up; returns the CLOCK_MONOTONIC
	 * time in ms by which the job must be stopped (INT64_MAX: none
	 * yet).  Once passed, the job gets max_time_signal, then SIGKILL
	 * lost_kill_after_ms later, and lockrun exits EX_LOCK_LOST.
	 */
	int64_t (*lock_deadline)(void *arg);
	void *lock_arg;
	int64_t lost_kill_after_ms;
};

struct job_end {
	int status;  /* lockrun's exit status */
	int die_by;  /* when not 0: die by this signal after the release */
	int stopped_by; /* a signal that told lockrun to stop (TERM, INT,
			   HUP, QUIT), 0 when none came: --respawn ends */
};

/* A process as /proc/PID/stat tells it. */
struct job_proc {
	pid_t pid, ppid, pgrp;
};

/* Reads pid's parent and process group; false when it is gone. */
bool job_read_proc(pid_t pid, struct job_proc *e);

/* The descendants of the processes roots (not the roots themselves),
 * each after its parent, in *out (malloc'd, NULL when none); returns how
 * many.  A snapshot: --stop checks each before it signals it. */
size_t job_descendants(const pid_t *roots, size_t nroots, struct job_proc **out);

/* Blocks the signals the supervisor waits for (before fork); *old is
 * the mask to restore in the child and at the end. */
void job_block_signals(sigset_t *old);

/* Whether the command gets a process group of its own: yes, unless
 * foreground was asked for or lockrun runs in the foreground process
 * group of its controlling terminal (then the command stays there, so it
 * can use the terminal, and the terminal's signals reach it directly). */
bool job_own_group(bool foreground);

/* In the child before exec, and in the parent after fork. */
void job_child_setup(bool own_group);
void job_parent_setup(pid_t child, bool own_group);

/* Forwards signals and enforces the time limit until the command has
 * exited (and, after a stop, the rest of the job too, for a while). */
struct job_end job_supervise(const struct job_opts *o, pid_t child,
			     bool own_group);

/* Dies by sig (its default action, no core dump); never returns. */
void die_by_signal(int sig) __attribute__((noreturn));

#endif
