/* SPDX-License-Identifier: MIT */
/* Tables on libsmartcols for lockstat and lockclean; see output.h. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "common.h"
#include "output.h"

void out_parse_columns(const char *list, const struct out_column *cols,
		       size_t ncols, int *sel, size_t *nsel)
{
	char *buf, *tok, *save = NULL;

	if (*list == '+')
		list++;
	else
		*nsel = 0;
	if (!(buf = strdup(list)))
		err(EX_OSERR, "out of memory");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t c;
		for (c = 0; c < ncols && strcasecmp(tok, cols[c].name); c++)
			;
		if (c == ncols)
			errx(EX_USAGE, "unknown column: %s", esc(tok));
		if (*nsel < ncols) /* sel has room for each column once */
			sel[(*nsel)++] = (int)c;
	}
	free(buf);
	if (!*nsel)
		errx(EX_USAGE, "no columns");
}

void out_help_columns(const struct out_column *cols, size_t ncols)
{
	printf("\nAvailable output columns:\n");
	for (size_t i = 0; i < ncols; i++)
		printf(" %12s  %s\n", cols[i].name, cols[i].help);
}

struct libscols_table *out_table_new(const char *name, const struct out_opts *o)
{
	struct libscols_table *tb;

	use_ctype_locale(); /* libsmartcols judges printable by LC_CTYPE */
	if (!(tb = scols_new_table()))
		err(EX_OSERR, "out of memory");
	scols_table_set_name(tb, name);
	scols_table_enable_noheadings(tb, o->noheadings);
	switch (o->format) {
	case OUT_RAW: scols_table_enable_raw(tb, 1); break;
	case OUT_PAIRS: scols_table_enable_export(tb, 1); break;
	case OUT_JSON: scols_table_enable_json(tb, 1); break;
	case OUT_TABLE:
		/* COLUMNS set and no terminal: fit the table to COLUMNS anyway,
		 * as ps(1) does (a terminal's own width comes first). */
		if (!isatty(STDOUT_FILENO) && getenv("COLUMNS"))
			scols_table_set_termforce(tb, SCOLS_TERMFORCE_ALWAYS);
		break;
	}
	return tb;
}

struct libscols_column *out_add_column(struct libscols_table *tb,
				       const struct out_column *c,
				       const struct out_opts *o)
{
	int flags = c->flags;
	struct libscols_column *cl;

	bool array = c->json_type == SCOLS_JSON_ARRAY_STRING ||
		     c->json_type == SCOLS_JSON_ARRAY_NUMBER;

	if (o->notruncate)
		flags &= ~SCOLS_FL_TRUNC;
	/* A JSON array's cell holds one element per line, split here. */
	if (array && o->format == OUT_JSON)
		flags |= SCOLS_FL_WRAP;
	if (!(cl = scols_table_new_column(tb, c->name, c->whint, flags)))
		err(EX_OSERR, "out of memory");
	scols_column_set_json_type(cl, c->json_type);
	if (array && o->format == OUT_JSON)
		scols_column_set_wrapfunc(cl, scols_wrapnl_chunksize,
					  scols_wrapnl_nextchunk, NULL);
	return cl;
}

/*
 * The length of the UTF-8 sequence at s, or 0 if it is not one (a stray
 * byte, an overlong form, a surrogate, past U+10FFFF).
 */
static size_t utf8_length(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = u[0] < 0x80 ? 1 : (u[0] & 0xe0) == 0xc0 ? 2
		 : (u[0] & 0xf0) == 0xe0 ? 3 : (u[0] & 0xf8) == 0xf0 ? 4 : 0;

	if ((n == 2 && u[0] < 0xc2) || u[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	if ((u[0] == 0xe0 && u[1] < 0xa0) || (u[0] == 0xed && u[1] >= 0xa0) ||
	    (u[0] == 0xf0 && u[1] < 0x90) || (u[0] == 0xf4 && u[1] >= 0x90))
		return 0;
	return n;
}

/*
 * JSON is UTF-8, file names are bytes: libsmartcols escapes control
 * characters, quotes and backslashes for JSON but passes other bytes as
 * they are, so each byte that is not part of valid UTF-8 becomes U+FFFD
 * here.  Returns a new string, or NULL when s is valid as it is.
 */
static char *valid_utf8(const char *s)
{
	size_t len = strlen(s), off = 0;
	const char *p;
	char *out;

	for (p = s; *p && utf8_length(p); p += utf8_length(p))
		;
	if (!*p)
		return NULL;
	if (!(out = malloc(3 * len + 1)))
		err(EX_OSERR, "out of memory");
	for (p = s; *p;) {
		size_t n = utf8_length(p);
		if (n) {
			memcpy(out + off, p, n);
			off += n;
			p += n;
		} else {
			memcpy(out + off, "\xef\xbf\xbd", 3);
			off += 3;
			p++;
		}
	}
	out[off] = '\0';
	return out;
}

void out_set(struct libscols_table *tb, struct libscols_line *ln, size_t n,
	     const char *data)
{
	char *fixed = NULL;
	int r;

	if (!data || !*data)
		return;
	if (scols_table_is_json(tb))
		fixed = valid_utf8(data);
	r = scols_line_set_data(ln, n, fixed ? fixed : data);
	free(fixed);
	if (r < 0)
		err(EX_OSERR, "out of memory");
}

/*
 * libsmartcols writes an empty array as [null] (one empty element): make
 * it [].  It indents its JSON, and a newline is never inside a string (it
 * is escaped there), so "[", a newline, blanks, "null", a newline, blanks
 * and "]" are an empty array, never text.
 */
static void empty_arrays(char *s)
{
	char *w = s, *r = s;

	while (*r) {
		const char *p = r + 1;
		if (*r == '[' && *p == '\n') {
			while (*++p == ' ')
				;
			if (strncmp(p, "null\n", 5) == 0) {
				for (p += 5; *p == ' '; p++)
					;
				if (*p == ']') {
					*w++ = '[';
					*w++ = ']';
					r = (char *)p + 1;
					continue;
				}
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/* Dropping each newline and the indentation after it leaves the same
 * document on one line (see above). */
static void one_line(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '\n') {
			while (r[1] == ' ')
				r++;
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
}

void out_print(struct libscols_table *tb, const struct out_opts *o,
	       const char *json_extra)
{
	char *text = NULL, *end;
	int r;

	if (o->format != OUT_JSON) {
		r = scols_print_table(tb);
	} else if ((r = scols_print_table_to_string(tb, &text)) == 0) {
		empty_arrays(text);
		/* The document ends "]\n}": put the extra members before "}". */
		if ((end = strrchr(text, '}')) != NULL)
			*end = '\0';
		for (end = text + strlen(text); end > text && end[-1] == '\n'; end--)
			end[-1] = '\0';
		if (o->jsonl)
			one_line(text);
		r = printf("%s%s%s%s%s}\n", text, json_extra ? "," : "",
			   json_extra && !o->jsonl ? "\n   " : "",
			   json_extra ? json_extra : "", o->jsonl ? "" : "\n");
		r = r < 0 ? -1 : 0;
		free(text);
	}
	if (r < 0 || fflush(stdout) != 0 || ferror(stdout))
		err(EX_IOERR, "write error");
}
