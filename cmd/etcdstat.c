/* SPDX-License-Identifier: MIT */
/*
 * lockstat --etcd; see etcdstat.h and lockstat(1).  A lock is a prefix
 * NAME/ under which keys NAME/<lease in hex> carry that lease (etcd's
 * mutex layout): the oldest holds the lock, the others wait.  Listing
 * every lock reads the whole key space once and keeps the keys of that
 * shape; naming locks reads only their prefixes.
 */
#include <curl/curl.h>
#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "etcd.h"
#include "etcdstat.h"
#include "format.h"

#define CALL_MS 5000
#define LOCKS_MAX 10000

enum col { C_NAME, C_TOKEN, C_TTL, C_PID, C_COMMAND, C_HOST, C_SINCE,
	   C_AGE, C_MESSAGE, C_WAITERS, C_LEASE, C_COUNT };

static const struct out_column columns[C_COUNT] = {
	[C_NAME] = { "NAME", 0.3, SCOLS_FL_TRUNC, SCOLS_JSON_STRING, "lock name (etcd key prefix)" },
	[C_TOKEN] = { "TOKEN", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "fencing token: the lock key's create revision" },
	[C_TTL] = { "TTL", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "seconds left of the holder's lease" },
	[C_PID] = { "PID", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "PID in the record (on its host)" },
	[C_COMMAND] = { "COMMAND", 0, 0, SCOLS_JSON_STRING, "command in the record" },
	[C_HOST] = { "HOST", 0, 0, SCOLS_JSON_STRING, "host name in the record" },
	[C_SINCE] = { "SINCE", 0, 0, SCOLS_JSON_NUMBER, "when the lock was taken (record)" },
	[C_AGE] = { "AGE", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "how long ago" },
	[C_MESSAGE] = { "MESSAGE", 0.2, SCOLS_FL_TRUNC, SCOLS_JSON_STRING, "message in the record" },
	[C_WAITERS] = { "WAITERS", 0, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER, "clients waiting for the lock" },
	[C_LEASE] = { "LEASE", 0, 0, SCOLS_JSON_STRING, "the holder's lease (hex)" },
};

struct elock {
	char name[ETCD_NAME_MAX + 1];
	struct etcd_kv holder;
	struct pidlock_info info;
	bool has_record;
	int64_t ttl, waiters;
};

struct elocks {
	struct elock *v;
	size_t n;
};

static void __attribute__((noreturn)) fail(const struct etcd *e, int r,
					   const struct etcd_stat *s)
{
	if (!s->quiet || s->status)
		warnx("%s", etcd_why(e));
	exit(s->status ? 4 : etcd_exit_status(r));
}

/* The lock name of a key NAME/<hex of lease>, or false. */
static bool lock_key(const struct etcd_kv *kv, char *name)
{
	const char *slash = strrchr(kv->key, '/');
	char hex[24];

	if (!kv->lease || !slash || slash == kv->key ||
	    (size_t)(slash - kv->key) > ETCD_NAME_MAX ||
	    strlen(kv->key) != kv->keylen)
		return false;
	snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)kv->lease);
	if (strcmp(slash + 1, hex) != 0)
		return false;
	memcpy(name, kv->key, (size_t)(slash - kv->key));
	name[slash - kv->key] = '\0';
	return true;
}

static struct elock *find_or_add(struct elocks *l, const char *name, bool *added)
{
	struct elock *v;

	*added = false;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	if (l->n == LOCKS_MAX)
		return NULL;
	if (!(v = reallocarray(l->v, l->n + 1, sizeof(*v))))
		err(EX_OSERR, "out of memory");
	l->v = v;
	memset(&v[l->n], 0, sizeof(v[0]));
	strlcpy(v[l->n].name, name, sizeof(v[0].name));
	*added = true;
	return &v[l->n++];
}

/* Adds the lock keys of a range reply (oldest first) to l.  only: the
 * lock name asked for, or NULL for any. */
static int add_kvs(struct elocks *l, json_object *reply, const char *only)
{
	json_object *kvs;
	size_t n;

	if (!json_object_object_get_ex(reply, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return -1;
	n = json_object_array_length(kvs);
	for (size_t i = 0; i < n; i++) {
		char name[ETCD_NAME_MAX + 1];
		struct etcd_kv kv;
		struct elock *k;
		bool added;
		if (etcd_kv_parse(json_object_array_get_idx(kvs, i), &kv) < 0)
			continue; /* a key too long for a lock's */
		if (!lock_key(&kv, name) || (only && strcmp(name, only) != 0) ||
		    !(k = find_or_add(l, name, &added))) {
			etcd_kv_free(&kv);
			continue;
		}
		if (added) {
			k->holder = kv;
			k->has_record = etcd_record_parse(&kv, &k->info) == 0;
		} else {
			k->waiters++;
			etcd_kv_free(&kv);
		}
	}
	return 0;
}

static void collect(struct etcd *e, const struct etcd_stat *s, char **names,
		    int nnames, struct elocks *l)
{
	json_object *reply;
	char prefix[ETCD_NAME_MAX + 2];
	const char *why;
	int r;

	for (int i = 0; i < (nnames ? nnames : 1); i++) {
		if (nnames && !etcd_name_valid(names[i], &why))
			errx(s->status ? 4 : EX_USAGE, "%s: %s", esc(names[i]), why);
		snprintf(prefix, sizeof(prefix), "%s/", nnames ? names[i] : "");
		r = etcd_call(e, "/v3/kv/range",
			      etcd_prefix_range(nnames ? prefix : "", 0, false),
			      CALL_MS, &reply);
		if (r < 0)
			fail(e, r, s);
		if (add_kvs(l, reply, nnames ? names[i] : NULL) < 0) {
			warnx("%s: a range reply whose kvs is not a list",
			      esc(etcd_endpoint(e)));
			exit(s->status ? 4 : EX_ETCD_PROTOCOL);
		}
		json_object_put(reply);
	}
	for (size_t i = 0; i < l->n; i++) {
		l->v[i].ttl = -1;
		if ((r = etcd_lease_ttl(e, l->v[i].holder.lease, CALL_MS,
					&l->v[i].ttl)) < 0)
			fail(e, r, s);
	}
}

static void cell(const struct elock *k, enum col c, char *buf, size_t size)
{
	const struct pidlock_record *rec = &k->info.record;

	buf[0] = '\0';
	switch (c) {
	case C_NAME: strlcpy(buf, k->name, size); break;
	case C_TOKEN: snprintf(buf, size, "%" PRId64, k->holder.create_revision); break;
	case C_TTL: if (k->ttl >= 0) snprintf(buf, size, "%" PRId64, k->ttl); break;
	case C_PID: if (k->has_record) snprintf(buf, size, "%d", (int)rec->pid); break;
	case C_COMMAND:
		strlcpy(buf, k->has_record ? rec->comm : "(no record)", size);
		break;
	case C_HOST: if (k->has_record) strlcpy(buf, rec->host, size); break;
	case C_SINCE: if (k->has_record) format_since(rec->time, buf, size); break;
	case C_AGE:
		if (k->has_record)
			format_age((int64_t)time(NULL) - rec->time, buf, size);
		break;
	case C_MESSAGE: if (k->has_record) strlcpy(buf, rec->message, size); break;
	case C_WAITERS: snprintf(buf, size, "%" PRId64, k->waiters); break;
	case C_LEASE: snprintf(buf, size, "%" PRIx64, (uint64_t)k->holder.lease); break;
	default: break;
	}
}

static void print_locks(const struct etcd_stat *s, const struct elocks *l)
{
	struct libscols_table *tb = out_table_new("locks", s->out);
	char buf[4096];

	for (size_t c = 0; c < C_COUNT; c++)
		out_add_column(tb, &columns[c], s->out);
	for (size_t i = 0; i < l->n; i++) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		if (!ln)
			err(EX_OSERR, "out of memory");
		for (size_t c = 0; c < C_COUNT; c++) {
			cell(&l->v[i], (enum col)c, buf, sizeof(buf));
			/* JSON numbers: the epoch, not the words */
			if (c == C_SINCE && s->out->format == OUT_JSON && l->v[i].has_record)
				snprintf(buf, sizeof(buf), "%" PRId64, l->v[i].info.record.time);
			if (c == C_AGE && s->out->format == OUT_JSON && l->v[i].has_record)
				snprintf(buf, sizeof(buf), "%" PRId64,
					 (int64_t)time(NULL) - l->v[i].info.record.time);
			out_set(tb, ln, c, buf);
		}
	}
	out_print(tb, s->out, NULL);
	scols_unref_table(tb);
}

int etcd_lockstat(const struct etcd_stat *s)
{
	struct etcd_config cfg;
	struct elocks l = { NULL, 0 };
	struct etcd *e;
	char why[512], *one[1] = { (char *)s->status };
	int r;

	if ((r = etcd_config_load(&cfg, s->endpoints, why, sizeof(why))) < 0)
		errx(s->status ? 4 : etcd_exit_status(r), "%s", why);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(e = etcd_new(&cfg)))
		errx(EX_OSERR, "cannot start libcurl");
	if (s->status)
		collect(e, s, one, 1, &l);
	else
		collect(e, s, s->names, s->nnames, &l);
	if (!s->quiet && !s->status)
		print_locks(s, &l);
	r = s->status ? (l.n ? 0 : 3) : 0;
	for (size_t i = 0; i < l.n; i++)
		etcd_kv_free(&l.v[i].holder);
	free(l.v);
	etcd_free(e);
	etcd_config_free(&cfg);
	curl_global_cleanup();
	return r;
}
