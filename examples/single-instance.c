/* SPDX-License-Identifier: MIT */
/* Run at most one copy of this program; if one runs, say who it is. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <pidlock.h>

int main(int argc, char **argv)
{
	struct pidlock *lock;
	int r = pidlock_new_name(&lock, "example");

	if (r == 0)
		r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	if (r == -EWOULDBLOCK) {
		const struct pidlock_info *h = pidlock_holder(lock);
		fprintf(stderr, "example: already running: PID %d (%s)\n",
			(int)h->record.pid, h->record.comm);
		pidlock_free(lock);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "example: %s\n", pidlock_strerror(r));
		return 2;
	}
	if (pidlock_recovered(lock))
		printf("example: took over from dead PID %d (%s)\n",
		       (int)pidlock_holder(lock)->record.pid,
		       pidlock_holder(lock)->reason);
	printf("example: running as PID %d\n", (int)getpid());
	fflush(stdout);
	sleep(argc > 1 ? (unsigned)atoi(argv[1]) : 0);
	pidlock_free(lock); /* releases: the lock file disappears */
	return 0;
}
