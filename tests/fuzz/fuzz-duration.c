/* SPDX-License-Identifier: MIT */
/*
 * The duration parser of the tools (parse_duration in cmd/common.c) fed
 * arbitrary strings, checked against an independent reference.
 *
 * The grammar is (DIGITS [ "." [DIGITS] ] | "." DIGITS) [ "ms" | "s" | "m" |
 * "h" | "d" ] (flock(1) takes ".5" and "1.");
 * digits past the ninth after the point are ignored (truncated).  The
 * reference computes the exact value in 128 bits, so:
 *  - accepted: the input is in the grammar, the result is never negative
 *    and equals the exact value (no wrap-around, no rounding error);
 *  - rejected: the input is outside the grammar, or its value is huge
 *    (the whole part has 11 or more digits; 10^10 days fit easily).
 */
#include "fuzz.h"
#include "common.h"

typedef __int128 i128;

struct ref {
	bool ok;        /* in the grammar */
	bool huge;      /* whole part >= 10^10 */
	bool capped;    /* whole part >= 10^20: ms is not exact */
	i128 ms;        /* exact value, unless capped */
};

static int64_t unit_ms(const char *u)
{
	static const struct { const char *name; int64_t ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(u, units[i].name) == 0)
			return units[i].ms;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct ref reference(const char *s)
{
	struct ref r = { false, false, false, 0 };
	i128 whole = 0, frac = 0, scale = 1;
	int64_t unit;
	const char *p = s;

	if (!is_digit(*p) && !(*p == '.' && is_digit(p[1])))
		return r;
	for (; is_digit(*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole >= (i128)10000000000)
			r.huge = true;
		if (whole >= (i128)10000000000 * 10000000000)
			r.capped = true, whole = (i128)10000000000 * 10000000000;
	}
	if (*p == '.') {
		p++;
		for (int n = 0; is_digit(*p); p++, n++)
			if (n < 9)
				frac = frac * 10 + (*p - '0'), scale *= 10;
	}
	if (!(unit = unit_ms(p)))
		return r;
	r.ok = true;
	r.ms = whole * unit + frac * unit / scale;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	struct ref want = reference(s);
	int64_t ms = -42;
	int r = parse_duration(s, &ms);

	FUZZ_CHECK(r == 0 || r == -1);
	if (r == 0) {
		FUZZ_CHECK(want.ok);
		FUZZ_CHECK(ms >= 0);
		FUZZ_CHECK(!want.capped && (i128)ms == want.ms);
	} else {
		FUZZ_CHECK(ms == -42); /* a failed parse leaves the output alone */
		FUZZ_CHECK(!want.ok || want.huge);
	}
	free(s);
	return 0;
}
