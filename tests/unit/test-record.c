/* SPDX-License-Identifier: MIT */
/*
 * The record: what is written parses back, and every malformed file in
 * the corpus (tests/data/records) is rejected, or classified, as listed
 * in its MANIFEST.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

static struct pidlock_record sample(void)
{
	struct pidlock_record r = {
		.pid = 4242, .holder = 4241, .version = 1, .start_time = 123456,
		.pidns = 4026531836u, .uid = 1000, .time = 1763900000,
	};

	strcpy(r.boot_id, "0f5e4a1c-9b2d-4c3e-8a7f-112233445566");
	strcpy(r.host, "testhost");
	strcpy(r.comm, "backup.sh");
	strcpy(r.message, "nightly run");
	r.keep = 1;
	return r;
}

static void format_parses_back(void **state)
{
	struct pidlock_record in = sample(), out;
	char buf[PIDLOCK_RECORD_MAX + 1];
	const char *why = "unset";
	int len = pidlock__record_format(&in, buf, sizeof(buf));

	(void)state;
	assert_true(len > 0);
	assert_memory_equal(buf, "4242\npidlock 1\n", 15);
	assert_int_equal(pidlock_record_parse(buf, (size_t)len, &out, &why), 0);
	assert_null(why);
	assert_int_equal(out.pid, 4242);
	assert_int_equal(out.holder, 4241);
	assert_int_equal(out.start_time, 123456);
	assert_int_equal(out.pidns, 4026531836u);
	assert_int_equal(out.uid, 1000);
	assert_int_equal(out.time, 1763900000);
	assert_int_equal(out.keep, 1);
	assert_string_equal(out.boot_id, in.boot_id);
	assert_string_equal(out.host, "testhost");
	assert_string_equal(out.comm, "backup.sh");
	assert_string_equal(out.message, "nightly run");
}

/* Without holder= in the file, the holder is the PID of line 1. */
static void holder_defaults_to_pid(void **state)
{
	struct pidlock_record in = sample(), out;
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len;

	(void)state;
	in.holder = in.pid;
	in.message[0] = '\0';
	len = pidlock__record_format(&in, buf, sizeof(buf));
	assert_null(strstr(buf, "holder="));
	assert_null(strstr(buf, "msg="));
	assert_int_equal(pidlock_record_parse(buf, (size_t)len, &out, NULL), 0);
	assert_int_equal(out.holder, 4242);
}

/* Flipping any single byte of a record must make it unreadable. */
static void every_byte_is_covered(void **state)
{
	struct pidlock_record in = sample(), out;
	char buf[PIDLOCK_RECORD_MAX + 1];
	int len = pidlock__record_format(&in, buf, sizeof(buf));

	(void)state;
	for (int i = 0; i < len; i++) {
		char saved = buf[i];
		buf[i] = saved == 'x' ? 'y' : 'x';
		assert_int_equal(pidlock_record_parse(buf, (size_t)len, &out, NULL),
				 -EBADMSG);
		buf[i] = saved;
	}
	/* and any truncation too */
	for (int n = 0; n < len; n++)
		assert_int_equal(pidlock_record_parse(buf, (size_t)n, &out, NULL),
				 -EBADMSG);
}

static const char *kind_name(enum pidlock__content k)
{
	static const char *const names[] = { "EMPTY", "RECORD", "RECORD_CORRUPT",
					     "PIDFILE", "PIDLIKE_BAD", "OTHER" };
	return names[k];
}

static char corpus_dir[PATH_MAX];

static void corpus_dir_find(void)
{
	const char *src = getenv("srcdir");

	snprintf(corpus_dir, sizeof(corpus_dir), "%s/tests/data/records",
		 src ? src : ".");
}

/* Each corpus file: parser verdict and content kind as in MANIFEST. */
static void corpus_matches_manifest(void **state)
{
	char path[PATH_MAX + 512], line[512], name[256], expect[32], kind[32];
	static char buf[2 << 20];
	int checked = 0, rejected = 0;
	FILE *manifest;

	(void)state;
	corpus_dir_find();
	snprintf(path, sizeof(path), "%s/MANIFEST", corpus_dir);
	manifest = fopen(path, "r");
	assert_non_null(manifest);
	while (fgets(line, sizeof(line), manifest)) {
		struct pidlock_record rec;
		const char *why;
		pid_t plain;
		ssize_t n;
		if (line[0] == '#' || sscanf(line, "%255s %31s %31s", name,
					     expect, kind) != 3)
			continue;
		snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
		n = read_file(path, buf, sizeof(buf));
		assert_true(n >= 0);
		int r = pidlock_record_parse(buf, (size_t)n, &rec, &why);
		if (strcmp(expect, "reject") == 0) {
			if (r != -EBADMSG || !why)
				fail_msg("%s: accepted, expected rejection", name);
			rejected++;
		} else if (r != 0) {
			fail_msg("%s: rejected (%s), expected acceptance", name, why);
		}
		/* Classification reads at most a record's worth of bytes. */
		size_t len = (size_t)n > PIDLOCK_RECORD_MAX + 1 ? PIDLOCK_RECORD_MAX + 1
							     : (size_t)n;
		enum pidlock__content k = pidlock__classify(buf, len, &rec, &plain, &why);
		if (strcmp(kind_name(k), kind) != 0)
			fail_msg("%s: classified %s, expected %s", name,
				 kind_name(k), kind);
		checked++;
	}
	fclose(manifest);
	print_message("corpus: %d files checked, %d rejected\n", checked, rejected);
	assert_true(rejected >= 40);
}

static void pid_parser_is_strict(void **state)
{
	static const char *const bad[] = { "", "0", "-1", "+1", " 1", "1 ",
					   "01", "42abc", "99999999999",
					   "4194305", "1\r" };
	pid_t pid;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pidlock__parse_pid(bad[i], strlen(bad[i]), &pid), -1);
	assert_int_equal(pidlock__parse_pid("1", 1, &pid), 0);
	assert_int_equal(pid, 1);
	assert_int_equal(pidlock__parse_pid("4194304", 7, &pid), 0);
}

static void messages_reject_control_characters(void **state)
{
	struct pidlock *lock;

	(void)state;
	assert_int_equal(pidlock_new(&lock, test_path("m.lock")), 0);
	assert_int_equal(pidlock_set_message(lock, "ok message"), 0);
	assert_int_equal(pidlock_set_message(lock, "two\nlines"), -EINVAL);
	assert_int_equal(pidlock_set_message(lock, "esc\033[2J"), -EINVAL);
	assert_int_equal(pidlock_set_command(lock, ""), -E2BIG);
	assert_int_equal(pidlock_set_command(lock, "tab\there"), -EINVAL);
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pidlock_set_message(lock, big), -E2BIG);
	pidlock_free(lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_parses_back),
		cmocka_unit_test(holder_defaults_to_pid),
		cmocka_unit_test(every_byte_is_covered),
		cmocka_unit_test(corpus_matches_manifest),
		cmocka_unit_test(pid_parser_is_strict),
		cmocka_unit_test(messages_reject_control_characters),
	};

	return cmocka_run_group_tests_name("record", tests, test_dir_setup,
					   test_dir_teardown);
}
