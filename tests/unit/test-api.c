/* SPDX-License-Identifier: MIT */
/*
 * The API's promises that are not behaviour of a lock: refusal codes that
 * no errno value can be, their messages, the version, the layout that the
 * ABI section of pidlock(3) promises.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const int refusals[] = {
	PIDLOCK_ESYMLINK, PIDLOCK_EISDIR, PIDLOCK_ENOTREG, PIDLOCK_EHARDLINK,
	PIDLOCK_EWRITABLE, PIDLOCK_EDIRUNSAFE, PIDLOCK_EOWNER, PIDLOCK_ENOTOURS,
};
#define NREFUSALS (sizeof(refusals) / sizeof(refusals[0]))

/* Above the kernel's errno range (MAX_ERRNO 4095), all different. */
static void refusals_are_not_errno_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < NREFUSALS; i++) {
		assert_true(refusals[i] > 4095);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(refusals[i], refusals[j]);
	}
}

/* A system call's EPERM or ESTALE reads as itself, a refusal as pidlock's. */
static void strerror_tells_them_apart(void **state)
{
	static const int errnos[] = { EPERM, ESTALE, ELOOP, EISDIR, EMLINK,
				      EPROTO, ENOTUNIQ, EMEDIUMTYPE };

	(void)state;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		assert_string_equal(pidlock_strerror(-errnos[i]), strerror(errnos[i]));
		assert_string_equal(pidlock_strerror(errnos[i]), strerror(errnos[i]));
	}
	for (size_t i = 0; i < NREFUSALS; i++) {
		const char *m = pidlock_strerror(-refusals[i]);
		assert_non_null(m);
		assert_null(strstr(m, "Unknown error"));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m, pidlock_strerror(-refusals[j]));
	}
	assert_string_equal(pidlock_strerror(-PIDLOCK_EOWNER),
			    "owned by an untrusted user in a shared directory");
	assert_string_equal(pidlock_strerror(-(PIDLOCK_EBASE + 99)),
			    "unknown pidlock refusal");
}

static void version_is_the_header_s(void **state)
{
	char want[32];

	(void)state;
	snprintf(want, sizeof(want), "%d.%d.%d", PIDLOCK_VERSION_MAJOR,
		 PIDLOCK_VERSION_MINOR, PIDLOCK_VERSION_PATCH);
	assert_string_equal(PIDLOCK_VERSION_STRING, want);
	assert_string_equal(pidlock_version(), PIDLOCK_VERSION_STRING);
}

/* The sizes a binding compiled today relies on; lib/abi guards the rest. */
static void structs_have_fixed_sizes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct pidlock_kernel_holder), 32);
	assert_int_equal(offsetof(struct pidlock_info, reserved) + 256,
			 sizeof(struct pidlock_info));
	assert_int_equal(offsetof(struct pidlock_record, reserved) + 68,
			 sizeof(struct pidlock_record));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusals_are_not_errno_values),
		cmocka_unit_test(strerror_tells_them_apart),
		cmocka_unit_test(version_is_the_header_s),
		cmocka_unit_test(structs_have_fixed_sizes),
	};

	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
