/* SPDX-License-Identifier: MIT */
/*
 * The record parser (pidlock_record_parse, pidlock__classify and
 * pidlock__parse_pid) fed arbitrary bytes.
 *
 * Properties beyond "no crash, no out-of-bounds read":
 *  - an accepted record has every field in its documented range, and
 *    formatting it gives a record that parses back to the same fields and
 *    is never longer than the input (the canonical form);
 *  - classify agrees with the parser (RECORD exactly when the parse
 *    succeeds on a "pidlock " second line) and gives a reason for every
 *    bad kind;
 *  - an accepted plain PID is the canonical decimal spelling of its value.
 *
 * A checksum would stop the fuzzer at the last line, so each input is
 * parsed twice: as given, and with its final "sum=" line recomputed, so
 * that the value checks behind the checksum are reached too.
 */
#include <errno.h>
#include <limits.h>

#include "fuzz.h"
#include "internal.h"

static void check_text(const char *s, size_t size, size_t min)
{
	size_t len = strnlen(s, size);

	FUZZ_CHECK(len < size); /* terminated inside its array */
	FUZZ_CHECK(len >= min);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void check_fields(const struct pidlock_record *r)
{
	FUZZ_CHECK(r->pid >= 1 && r->pid <= PIDLOCK_PID_LIMIT);
	FUZZ_CHECK(r->holder >= 1 && r->holder <= PIDLOCK_PID_LIMIT);
	FUZZ_CHECK(r->version >= 1 && r->version <= 1000);
	FUZZ_CHECK(strnlen(r->boot_id, sizeof(r->boot_id)) == 36);
	check_text(r->host, sizeof(r->host), 1);
	FUZZ_CHECK(!strchr(r->host, ' '));
	check_text(r->comm, sizeof(r->comm), 1);
	check_text(r->message, sizeof(r->message), 0);
	FUZZ_CHECK(r->uid != (uid_t)-1);
	FUZZ_CHECK(r->time >= 0);
	FUZZ_CHECK(r->keep == 0 || r->keep == 1);
}

/* format(rec) parses back to rec (written as version 1) and is stable. */
static void check_round_trip(const struct pidlock_record *rec, size_t in_len)
{
	char out[PIDLOCK_RECORD_MAX + 1], again[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record want, back;
	const char *why = "unset";
	int n, m;

	n = pidlock__record_format(rec, out, sizeof(out));
	FUZZ_CHECK(n > 0 && (size_t)n <= in_len);
	FUZZ_CHECK(pidlock_record_parse(out, (size_t)n, &back, &why) == 0);
	FUZZ_CHECK(why == NULL);
	/* memcpy, not assignment: padding bytes must stay the parser's zeros. */
	memcpy(&want, rec, sizeof(want));
	want.version = 1;
	FUZZ_CHECK(memcmp(&want, &back, sizeof(want)) == 0);
	m = pidlock__record_format(&back, again, sizeof(again));
	FUZZ_CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
}

static bool second_line_is_record(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	const char *l2 = nl ? nl + 1 : buf + len;

	return (size_t)(buf + len - l2) >= 8 && memcmp(l2, "pidlock ", 8) == 0;
}

static void check_classify(const char *buf, size_t len, int parsed,
			   const struct pidlock_record *rec)
{
	struct pidlock_record crec;
	pid_t plain = 0;
	const char *why = "unset";
	enum pidlock__content c = pidlock__classify(buf, len, &crec, &plain, &why);

	FUZZ_CHECK((c == CONTENT_EMPTY) == (len == 0));
	if (len && second_line_is_record(buf, len))
		FUZZ_CHECK(c == (parsed == 0 ? CONTENT_RECORD : CONTENT_RECORD_CORRUPT));
	else
		FUZZ_CHECK(c != CONTENT_RECORD && c != CONTENT_RECORD_CORRUPT);
	switch (c) {
	case CONTENT_RECORD:
		FUZZ_CHECK(why == NULL);
		FUZZ_CHECK(memcmp(&crec, rec, sizeof(crec)) == 0);
		break;
	case CONTENT_RECORD_CORRUPT:
	case CONTENT_PIDLIKE_BAD:
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		break;
	case CONTENT_PIDFILE:
		FUZZ_CHECK(plain >= 1 && plain <= PIDLOCK_PID_LIMIT);
		break;
	case CONTENT_EMPTY:
	case CONTENT_OTHER:
		FUZZ_CHECK(why == NULL);
		break;
	}
}

static void check_plain_pid(const char *buf, size_t len)
{
	char want[16];
	pid_t pid = 0;

	if (pidlock__parse_pid(buf, len, &pid) < 0)
		return;
	FUZZ_CHECK(pid >= 1 && pid <= PIDLOCK_PID_LIMIT);
	FUZZ_CHECK((size_t)snprintf(want, sizeof(want), "%d", (int)pid) == len);
	FUZZ_CHECK(memcmp(want, buf, len) == 0);
}

static void check_one(const char *buf, size_t len)
{
	struct pidlock_record rec;
	const char *why = "unset";
	int r = pidlock_record_parse(buf, len, &rec, &why);

	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	FUZZ_CHECK((r == 0) == (why == NULL));
	if (r == 0) {
		check_fields(&rec);
		check_round_trip(&rec, len);
	}
	check_classify(buf, len, r, &rec);
	check_plain_pid(buf, len);
}

/*
 * The input with its last line, when it is a "sum=" line, replaced by the
 * right checksum; NULL when there is no such line.
 */
static char *with_fixed_sum(const uint8_t *data, size_t size, size_t *len)
{
	const char *s = (const char *)data;
	size_t start = 0;
	char *buf;

	if (size < 2 || s[size - 1] != '\n')
		return NULL;
	for (size_t i = size - 1; i > 0; i--)
		if (s[i - 1] == '\n') {
			start = i;
			break;
		}
	if (size - start < 4 || memcmp(s + start, "sum=", 4) != 0)
		return NULL;
	*len = start + 13;
	buf = malloc(*len + 1); /* +1: snprintf's NUL, not seen by the parser */
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, s, start);
	snprintf(buf + start, 14, "sum=%08x\n", pidlock__fnv1a(buf, start));
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size), *fixed;
	size_t len;

	check_one(buf, size);
	free(buf);
	if ((fixed = with_fixed_sum(data, size, &len))) {
		/* Exactly len bytes again, so over-reads still show. */
		buf = fuzz_copy((const uint8_t *)fixed, len);
		free(fixed);
		check_one(buf, len);
		free(buf);
	}
	return 0;
}
