/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz harnesses.  Each harness defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (clang,
 * -fsanitize=fuzzer) or with replay.c, which feeds it the seeds and the
 * kept crashing inputs under the normal compiler in make check.
 *
 * A harness checks properties, not only the absence of crashes: a broken
 * property prints what was wrong and aborts, which libFuzzer reports as a
 * crash (and saves the input) and replay reports as a failed test.
 */
#ifndef PIDLOCK_FUZZ_H
#define PIDLOCK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: property broken: %s\n",      \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/*
 * A heap copy of exactly size bytes, no terminator: a parser that reads
 * one byte past the length it was given trips AddressSanitizer (and
 * valgrind), which a copy inside a larger buffer would hide.
 */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	else
		buf[0] = '\0'; /* never read: the length is 0 */
	return buf;
}

/* A heap copy ending in the NUL a C-string parser expects, and no more. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
