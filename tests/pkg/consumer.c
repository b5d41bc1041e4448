/* SPDX-License-Identifier: MIT */
/*
 * A program outside the tree, built only with what an installed pidlock
 * provides: <pidlock.h> and `pkg-config --cflags --libs pidlock`.
 *
 * usage: consumer PATH
 * Takes the lock at PATH without waiting.  Held: prints "held PID", then
 * keeps the lock until its standard input reaches end of file, so that a
 * test decides when it lets go; exit 0.  Busy: prints "busy PID" (the
 * holder) and exits 1.  Any other failure: a message, exit 2.
 */
#include <stdio.h>
#include <unistd.h>

#include <pidlock.h>

static int hold_until_eof(struct pidlock *lock)
{
	char buf[64];

	printf("held %d\n", (int)getpid());
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return pidlock_release(lock) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct pidlock *lock;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: consumer PATH\n");
		return 2;
	}
	r = pidlock_new(&lock, argv[1]);
	if (r == 0)
		r = pidlock_acquire(lock, 0, PIDLOCK_NO_WAIT);
	if (r == -EWOULDBLOCK) {
		printf("busy %d\n", (int)pidlock_holder(lock)->record.pid);
		pidlock_free(lock);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "consumer: %s: %s\n", argv[1], pidlock_strerror(r));
		return 2;
	}
	r = hold_until_eof(lock);
	pidlock_free(lock);
	return r;
}
