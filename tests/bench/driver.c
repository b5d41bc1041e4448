/* SPDX-License-Identifier: MIT */
/* pidlock-bench SUBCOMMAND ...: see bench.h and tests/bench/bench.py. */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "handoff", cmd_handoff }, { "chain", cmd_chain },
	{ "stamp", cmd_stamp },     { "cycle", cmd_cycle },
	{ "contend", cmd_contend }, { "hold", cmd_hold },
	{ "spawn", cmd_spawn },     { "scanfloor", cmd_scanfloor },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].fn(argc - 1, argv + 1);
	errx(2, "usage: pidlock-bench handoff|chain|stamp|cycle|contend|hold|spawn|scanfloor ...");
}
