/* SPDX-License-Identifier: MIT */
/*
 * lockrun's options for starting and stopping (--stop, --retry, --oknodo,
 * --replace, --respawn and its kin, -b and its kin, --auto): their
 * values, how they are parsed and what they exclude.  What they do is in
 * stop.h, respawn.h, detach.h and autoname.h.
 */
#ifndef PIDLOCK_CMD_STARTSTOP_H
#define PIDLOCK_CMD_STARTSTOP_H

#include <getopt.h>
#include <stdbool.h>

#include "detach.h"
#include "respawn.h"
#include "stop.h"

struct start_stop {
	bool stop, oknodo, replace, respawn, background, auto_name;
	const char *retry;
	struct stop_schedule schedule;
	struct respawn_opts re;
	struct detach_opts bg;
	char name[PIDLOCK_NAME_MAX + 1]; /* --auto's */
};

/* Option values (above lockrun's own) and getopt_long entries. */
enum { SS_STOP = 512, SS_RETRY, SS_OKNODO, SS_REPLACE, SS_RESPAWN,
       SS_RESPAWN_DELAY, SS_RESPAWN_LIMIT, SS_UNTIL_SUCCESS, SS_UNTIL_FAILURE,
       SS_BACKGROUND = 'b', SS_OUTPUT = SS_UNTIL_FAILURE + 1, SS_CHDIR,
       SS_UMASK, SS_AUTO };

#define START_STOP_LONG_OPTIONS \
	{ "stop", no_argument, NULL, SS_STOP }, \
	{ "retry", required_argument, NULL, SS_RETRY }, \
	{ "oknodo", no_argument, NULL, SS_OKNODO }, \
	{ "replace", no_argument, NULL, SS_REPLACE }, \
	{ "respawn", no_argument, NULL, SS_RESPAWN }, \
	{ "respawn-delay", required_argument, NULL, SS_RESPAWN_DELAY }, \
	{ "respawn-limit", required_argument, NULL, SS_RESPAWN_LIMIT }, \
	{ "until-success", no_argument, NULL, SS_UNTIL_SUCCESS }, \
	{ "until-failure", no_argument, NULL, SS_UNTIL_FAILURE }, \
	{ "background", no_argument, NULL, SS_BACKGROUND }, \
	{ "output", required_argument, NULL, SS_OUTPUT }, \
	{ "chdir", required_argument, NULL, SS_CHDIR }, \
	{ "umask", required_argument, NULL, SS_UMASK }, \
	{ "auto", no_argument, NULL, SS_AUTO }

/* The part of lockrun --help that lists them. */
void start_stop_usage(void);

void start_stop_init(struct start_stop *s);
/* Takes option c (getopt_long's value) if it is one of these. */
bool start_stop_option(struct start_stop *s, int c, const char *arg);

/* What the rest of lockrun's command line says, for the checks. */
struct start_stop_ctx {
	bool plain;      /* an exclusive lock with a record, not --fd */
	bool command;    /* a command to run was given */
	bool no_fork;    /* -F */
	bool runs;       /* --max-time or --user */
	bool verbose;
	int signal;      /* -S: the first signal of a lone --retry timeout */
};
/* Exits EX_USAGE for a combination that makes no sense; fills in the
 * schedule and the defaults. */
void start_stop_check(struct start_stop *s, const struct start_stop_ctx *c);

#endif
