/* SPDX-License-Identifier: MIT */
/*
 * Shared by the unit tests and the torture driver (which does not link
 * CMocka, so this is a header, not a function in common.c).
 */
#ifndef PIDLOCK_TEST_CLOCK_TICKS_H
#define PIDLOCK_TEST_CLOCK_TICKS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/*
 * Process start times (/proc/PID/stat field 22) count clock ticks since
 * boot.  To prove that a PID was reused, the new process must start at
 * least one tick after the old one: wait (bounded, about 5 s) until the
 * boot-time clock has passed tick START.  False if it never does.
 */
static inline bool wait_tick_after(uint64_t start)
{
	const struct timespec ms = { 0, 1000000 };
	uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);

	for (int i = 0; i < 5000; i++) {
		struct timespec t;
		clock_gettime(CLOCK_BOOTTIME, &t);
		if ((uint64_t)t.tv_sec * hz +
			    (uint64_t)t.tv_nsec / (1000000000 / hz) > start)
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

#endif
