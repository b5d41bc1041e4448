/* SPDX-License-Identifier: MIT */
/*
 * Replays inputs through a fuzz harness without libFuzzer, so that make
 * check (with the normal compiler, or SANITIZE=1) runs every seed and
 * every input that once crashed.  Arguments are files or directories
 * (whose regular files are all replayed, in name order).
 *
 * Prints CMocka-style lines, one test per input, for tests/run-tests.  A
 * broken property aborts the harness: the process dies, and the last
 * "[ RUN      ]" line names the input.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_input(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return -1;
	}
	for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
		n += got;
		if (n == cap) {
			uint8_t *bigger = realloc(buf, cap *= 2);
			if (!bigger) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = bigger;
		}
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*data = buf;
	*size = n;
	return 0;
}

static int replay_file(const char *path, unsigned *count)
{
	uint8_t *data, *exact;
	size_t size;

	printf("[ RUN      ] %s\n", path);
	fflush(stdout);
	if (read_input(path, &data, &size) < 0) {
		printf("[  FAILED  ] %s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	/* The harness gets a buffer of exactly size bytes, as libFuzzer's. */
	exact = malloc(size ? size : 1);
	FUZZ_CHECK(exact != NULL);
	memcpy(exact, data, size);
	free(data);
	LLVMFuzzerTestOneInput(exact, size);
	free(exact);
	printf("[       OK ] %s\n", path);
	(*count)++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name), bad = 0;

	if (n < 0) {
		printf("[  FAILED  ] %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode) && replay_file(path, count) < 0)
			bad = -1;
		free(names[i]);
	}
	free(names);
	return bad;
}

int main(int argc, char **argv)
{
	unsigned count = 0, failed = 0;

	printf("[==========] Replaying fuzz inputs.\n");
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0)
			continue; /* e.g. an empty regress directory git lost */
		r = S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
					: replay_file(argv[i], &count);
		failed += r < 0;
	}
	printf("[==========] %u test(s) run.\n", count);
	printf("[  PASSED  ] %u test(s).\n", count);
	if (failed) {
		printf("[  FAILED  ] %u test(s).\n", failed);
		return 1;
	}
	return 0;
}
