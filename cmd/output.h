/* SPDX-License-Identifier: MIT */
/*
 * Tables for lockstat and lockclean on util-linux's libsmartcols, as
 * lslocks(8) prints them: a table sized to the terminal (widths counted in
 * characters, cut between characters), raw, KEY="value" pairs or JSON.
 * libsmartcols escapes control characters and invalid multibyte text in
 * all but JSON the way util-linux does (\xHH); out_set() makes JSON text
 * valid UTF-8 before libsmartcols escapes it as JSON.
 */
#ifndef PIDLOCK_CMD_OUTPUT_H
#define PIDLOCK_CMD_OUTPUT_H

#include <libsmartcols.h>
#include <stdbool.h>
#include <stddef.h>

enum out_format { OUT_TABLE, OUT_RAW, OUT_PAIRS, OUT_JSON };

struct out_opts {
	enum out_format format;
	bool noheadings, notruncate;
	bool jsonl; /* JSON on one line (JSON Lines, for --watch) */
};

struct out_column {
	const char *name;
	double whint;  /* width hint: < 1 a share of the terminal, else characters */
	int flags;     /* SCOLS_FL_* */
	int json_type; /* SCOLS_JSON_* */
	const char *help;
};

/*
 * -o LIST: column names (any case) separated by commas, into sel; "+LIST"
 * adds to the columns already in sel.  Exits EX_USAGE on an unknown name.
 */
void out_parse_columns(const char *list, const struct out_column *cols,
		       size_t ncols, int *sel, size_t *nsel);
/* The "Columns:" part of --help. */
void out_help_columns(const struct out_column *cols, size_t ncols);

/* A table named name (the JSON key of its rows); exits on ENOMEM. */
struct libscols_table *out_table_new(const char *name, const struct out_opts *o);
struct libscols_column *out_add_column(struct libscols_table *tb,
				       const struct out_column *c,
				       const struct out_opts *o);
/* Cell n of ln; NULL or "" leaves it empty (null in JSON). */
void out_set(struct libscols_table *tb, struct libscols_line *ln, size_t n,
	     const char *data);

/*
 * Prints the table.  In JSON, json_extra (if not NULL) is added after the
 * rows as more members of the top-level object, e.g. "\"summary\":{...}".
 * Exits EX_IOERR when stdout cannot be written.
 */
void out_print(struct libscols_table *tb, const struct out_opts *o,
	       const char *json_extra);

#endif
