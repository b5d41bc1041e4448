/* SPDX-License-Identifier: MIT */
/* lockrun --auto; see autoname.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "autoname.h"

#define BASE_MAX 32

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void auto_lock_name(char *const words[], char *buf, size_t size)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const char *base = strrchr(words[0], '/');
	char clean[BASE_MAX + 1];
	size_t n = 0;

	base = base && base[1] ? base + 1 : words[0];
	for (; base[n] && n < BASE_MAX; n++)
		clean[n] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789._+-", base[n]) ? base[n] : '_';
	clean[n] = '\0';
	if (!n) /* "lockrun --auto ''": a name all the same */
		strcpy(clean, "_");
	for (size_t i = 0; words[i]; i++)
		h = fnv1a(h, words[i], strlen(words[i]) + 1);
	snprintf(buf, size, "auto-%s-%016llx", clean, (unsigned long long)h);
}
