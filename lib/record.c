/* SPDX-License-Identifier: MIT */
/*
 * The record: building it, writing it and reading it back, strictly.
 *
 * A reader trusts nothing in a lock file: every number is checked for
 * form and range, every string for control characters, and the whole
 * record for a checksum, so that a torn or tampered file is rejected
 * rather than half-believed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define KEY_MAX 32

/* The record's checksum (sum= line): FNV-1a, 32 bits. */
uint32_t pidlock__fnv1a(const char *buf, size_t len)
{
	uint32_t h = 0x811c9dc5u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)buf[i];
		h *= 0x01000193u;
	}
	return h;
}

/* Control characters would let a record forge lines or terminal escapes. */
static bool text_clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Decimal digits, no sign, no leading zero, value <= max. */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int pidlock__parse_pid(const char *s, size_t len, pid_t *pid)
{
	uint64_t v;

	if (parse_u64(s, len, PIDLOCK_PID_LIMIT, &v) < 0 || v == 0)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

static bool boot_id_valid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-'
			 : !((s[i] >= '0' && s[i] <= '9') ||
			     (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool copy_text(char *dst, size_t size, const char *s, size_t len,
		      size_t min)
{
	if (len < min || len >= size || !text_clean(s, len))
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

static bool key_valid(const char *k, size_t len)
{
	if (len == 0 || len > KEY_MAX || k[0] < 'a' || k[0] > 'z')
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

/* The keys a version 1 reader knows; each may appear once. */
enum { K_BOOT, K_START, K_PIDNS, K_UID, K_HOST, K_TIME, K_COMM, K_MSG,
       K_HOLDER, K_KEEP, K_COUNT };
static const char *const key_names[K_COUNT] = {
	"boot", "start", "pidns", "uid", "host", "time", "comm", "msg",
	"holder", "keep",
};
#define REQUIRED_KEYS ((1u << K_BOOT) | (1u << K_START) | (1u << K_PIDNS) | \
		       (1u << K_UID) | (1u << K_HOST) | (1u << K_TIME) |   \
		       (1u << K_COMM))

static int key_index(const char *k, size_t len)
{
	for (int i = 0; i < K_COUNT; i++)
		if (strlen(key_names[i]) == len && memcmp(k, key_names[i], len) == 0)
			return i;
	return -1;
}

static const char *store_value(struct pidlock_record *rec, int key,
			       const char *v, size_t len)
{
	uint64_t n;

	switch (key) {
	case K_BOOT:
		if (!boot_id_valid(v, len))
			return "bad boot id";
		memcpy(rec->boot_id, v, len);
		rec->boot_id[len] = '\0';
		return NULL;
	case K_START:
		if (parse_u64(v, len, UINT64_MAX, &rec->start_time) < 0)
			return "bad start time";
		return NULL;
	case K_PIDNS:
		if (parse_u64(v, len, UINT64_MAX, &rec->pidns) < 0)
			return "bad pid namespace";
		return NULL;
	case K_UID:
		if (parse_u64(v, len, UINT32_MAX - 1, &n) < 0)
			return "bad uid";
		rec->uid = (uid_t)n;
		return NULL;
	case K_HOST:
		if (!copy_text(rec->host, sizeof(rec->host), v, len, 1) ||
		    memchr(v, ' ', len))
			return "bad host name";
		return NULL;
	case K_TIME:
		if (parse_u64(v, len, INT64_MAX, &n) < 0)
			return "bad time";
		rec->time = (int64_t)n;
		return NULL;
	case K_COMM:
		return copy_text(rec->comm, sizeof(rec->comm), v, len, 1)
			       ? NULL : "bad command name";
	case K_MSG:
		return copy_text(rec->message, sizeof(rec->message), v, len, 0)
			       ? NULL : "bad message";
	case K_HOLDER:
		return pidlock__parse_pid(v, len, &rec->holder) < 0
			       ? "bad holder PID" : NULL;
	case K_KEEP:
		if (len != 1 || v[0] != '1')
			return "bad keep flag";
		rec->keep = 1;
		return NULL;
	}
	return "unknown key";
}

/* Splits off the next line; a missing final newline is malformed. */
static bool next_line(const char **p, const char *end, const char **line,
		      size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (!nl)
		return false;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return true;
}

static const char *parse_version(const char *line, size_t len,
				 unsigned *version)
{
	uint64_t v;

	if (len < 9 || memcmp(line, "pidlock ", 8) != 0)
		return "no version line";
	if (parse_u64(line + 8, len - 8, 1000, &v) < 0 || v == 0)
		return "bad version";
	*version = (unsigned)v;
	return NULL;
}

static const char *parse_sum(const char *buf, const char *line, size_t len,
			     const char *after, const char *end)
{
	char want[9];

	if (after != end)
		return "data after the sum line";
	if (len != 12)
		return "bad sum";
	snprintf(want, sizeof(want), "%08x", pidlock__fnv1a(buf, (size_t)(line - buf)));
	if (memcmp(line + 4, want, 8) != 0)
		return "checksum mismatch";
	return NULL;
}

static const char *parse_record(const char *buf, size_t len,
				struct pidlock_record *rec)
{
	const char *p = buf, *end = buf + len, *line, *err;
	size_t n;
	unsigned seen = 0;

	memset(rec, 0, sizeof(*rec));
	if (len == 0)
		return "empty";
	if (len > PIDLOCK_RECORD_MAX)
		return "longer than 4096 bytes";
	if (memchr(buf, '\0', len))
		return "NUL byte";
	if (!next_line(&p, end, &line, &n) ||
	    pidlock__parse_pid(line, n, &rec->pid) < 0)
		return "line 1 is not a PID";
	if (!next_line(&p, end, &line, &n))
		return "no version line";
	if ((err = parse_version(line, n, &rec->version)))
		return err;
	while (next_line(&p, end, &line, &n)) {
		const char *eq = memchr(line, '=', n);
		if (!eq)
			return "line without '='";
		size_t klen = (size_t)(eq - line), vlen = n - klen - 1;
		if (!key_valid(line, klen))
			return "bad key";
		if (klen == 3 && memcmp(line, "sum", 3) == 0) {
			if ((err = parse_sum(buf, line, n, p, end)))
				return err;
			if ((seen & REQUIRED_KEYS) != REQUIRED_KEYS)
				return "a required key is missing";
			if (!rec->holder)
				rec->holder = rec->pid;
			return NULL;
		}
		if (!text_clean(eq + 1, vlen))
			return "control character";
		int k = key_index(line, klen);
		if (k < 0)
			continue; /* a newer writer's key: ignore it */
		if (seen & (1u << k))
			return "duplicate key";
		seen |= 1u << k;
		if ((err = store_value(rec, k, eq + 1, vlen)))
			return err;
	}
	return p == end ? "no sum line" : "last line has no newline";
}

PIDLOCK_PUBLIC
int pidlock_record_parse(const char *buf, size_t len,
			 struct pidlock_record *rec, const char **why)
{
	const char *err = parse_record(buf, len, rec);

	if (why)
		*why = err;
	return err ? -EBADMSG : 0;
}

static int append(char *buf, size_t size, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *off)
		return -ENAMETOOLONG;
	*off += (size_t)n;
	return 0;
}

/* Writes the record into buf; returns its length or a negative errno. */
int pidlock__record_format(const struct pidlock_record *rec, char *buf,
			   size_t size)
{
	size_t off = 0;
	int r;

	if (size > PIDLOCK_RECORD_MAX + 1)
		size = PIDLOCK_RECORD_MAX + 1;
	r = append(buf, size, &off,
		   "%d\npidlock 1\nboot=%s\nstart=%llu\npidns=%llu\nuid=%u\n"
		   "host=%s\ntime=%lld\ncomm=%s\n",
		   (int)rec->pid, rec->boot_id,
		   (unsigned long long)rec->start_time,
		   (unsigned long long)rec->pidns, (unsigned)rec->uid,
		   rec->host, (long long)rec->time, rec->comm);
	if (!r && rec->message[0])
		r = append(buf, size, &off, "msg=%s\n", rec->message);
	if (!r && rec->holder && rec->holder != rec->pid)
		r = append(buf, size, &off, "holder=%d\n", (int)rec->holder);
	if (!r && rec->keep)
		r = append(buf, size, &off, "keep=1\n");
	if (!r)
		r = append(buf, size, &off, "sum=%08x\n", pidlock__fnv1a(buf, off));
	return r < 0 ? -E2BIG : (int)off;
}

/*
 * Our record, from the facts of this process and machine and what the
 * handle asks for (spec).  The facts of the process that took the lock are
 * read once per process; another process named by an update is read now.
 */
int pidlock__record_build(const struct pidlock__record_spec *spec,
			  struct pidlock_record *rec)
{
	struct pidlock__self self;
	char comm[256] = "";
	pid_t pid;
	int r;

	memset(rec, 0, sizeof(*rec));
	r = pidlock__self_info(&self);
	if (r < 0)
		return r;
	pid = spec->pid ? spec->pid : self.pid;
	rec->pid = pid;
	rec->holder = self.pid;
	rec->version = 1;
	strlcpy(rec->boot_id, self.boot_id, sizeof(rec->boot_id));
	strlcpy(rec->host, self.host, sizeof(rec->host));
	if (pid == self.pid) { /* the common case: facts read once per process */
		rec->start_time = self.start_time;
		rec->pidns = self.pidns;
		rec->uid = spec->euid;
	} else if ((r = pidlock__proc_identity(pid, &rec->start_time, &rec->pidns,
					       &rec->uid, comm, sizeof(comm))) < 0) {
		return r;
	}
	rec->time = time(NULL);
	if (spec->comm[0])
		strlcpy(rec->comm, spec->comm, sizeof(rec->comm));
	else if (pid == self.pid)
		strlcpy(rec->comm, getprogname(), sizeof(rec->comm));
	else
		strlcpy(rec->comm, comm, sizeof(rec->comm));
	for (char *c = rec->comm; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (!rec->comm[0])
		strlcpy(rec->comm, "?", sizeof(rec->comm));
	strlcpy(rec->message, spec->message, sizeof(rec->message));
	rec->keep = spec->keep;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = pwrite(fd, buf + off, len - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/* Writes a fresh record at offset 0 of fd; returns its length. */
int pidlock__record_write(int fd, const struct pidlock__record_spec *spec)
{
	char buf[PIDLOCK_RECORD_MAX + 1];
	struct pidlock_record rec;
	int len, r;

	r = pidlock__record_build(spec, &rec);
	if (r < 0)
		return r;
	len = pidlock__record_format(&rec, buf, sizeof(buf));
	if (len < 0)
		return len;
	r = write_all(fd, buf, (size_t)len);
	return r < 0 ? r : len;
}

/* Text is printable bytes, tabs and line ends; anything else is binary. */
static bool text_lines(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
			return false;
	}
	return true;
}

/* True when line 1 starts like a number: a broken PID, not free text. */
static bool looks_numeric(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	if (i < len && (buf[i] == '-' || buf[i] == '+'))
		i++;
	return i < len && buf[i] >= '0' && buf[i] <= '9';
}

/*
 * Sorts a file's bytes into the kinds of pidlock(5).  rec is filled for
 * CONTENT_RECORD, plain_pid for CONTENT_PIDFILE, why for the bad kinds.
 */
enum pidlock__content pidlock__classify(const char *buf, size_t len,
					struct pidlock_record *rec,
					pid_t *plain_pid, const char **why)
{
	const char *nl, *line2;
	size_t n1;

	*why = NULL;
	if (len == 0)
		return CONTENT_EMPTY;
	nl = memchr(buf, '\n', len);
	line2 = nl ? nl + 1 : buf + len;
	if ((size_t)(buf + len - line2) >= 8 && memcmp(line2, "pidlock ", 8) == 0)
		return pidlock_record_parse(buf, len, rec, why) < 0
			       ? CONTENT_RECORD_CORRUPT : CONTENT_RECORD;
	if (!text_lines(buf, len)) {
		*why = "binary data";
		return CONTENT_PIDLIKE_BAD;
	}
	n1 = nl ? (size_t)(nl - buf) : len;
	if (pidlock__parse_pid(buf, n1, plain_pid) == 0)
		return CONTENT_PIDFILE;
	if (looks_numeric(buf, n1)) {
		*why = "line 1 is not a valid PID";
		return CONTENT_PIDLIKE_BAD;
	}
	return CONTENT_OTHER;
}
