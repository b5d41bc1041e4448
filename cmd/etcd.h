/* SPDX-License-Identifier: MIT */
/*
 * A small client of etcd's v3 JSON gateway (etcd 3.4 and later) on
 * libcurl and json-c, for lockrun --etcd and lockstat --etcd.
 *
 * It lives with the tools, not in libpidlock: the library stays free of
 * network code and of libcurl, json-c and TLS in its address space, so a
 * program that only wants a local lock links nothing more.
 *
 * Endpoints come from --etcd, else LOCKRUN_ETCD_ENDPOINTS, else the
 * configuration file (LOCKRUN_ETCD_CONFIG, default /etc/pidlock/etcd.conf),
 * which also holds the TLS files and the user and password.  Every call
 * tries the endpoints in turn from the last one that answered (failover).
 * Keys and values are bytes: they are base64 on the wire, and whatever
 * etcd returns is untrusted (bounded, escaped before it is printed).
 */
#ifndef PIDLOCK_CMD_ETCD_H
#define PIDLOCK_CMD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <sys/types.h>

#include "pidlock.h"

#define ETCD_MAX_ENDPOINTS 16
#define ETCD_CONFIG_DEFAULT "/etc/pidlock/etcd.conf"
/* A lock name: at most this many bytes (the key adds "/" and the lease). */
#define ETCD_NAME_MAX 255

/* Exit statuses of the etcd modes (lockrun(1), lockstat(1)). */
#define EX_ETCD_UNREACHABLE 68 /* EX_NOHOST: no endpoint answered */
#define EX_ETCD_PROTOCOL 76    /* EX_PROTOCOL: a reply that is not etcd's */
#define EX_ETCD_AUTH 77        /* EX_NOPERM: credentials refused */
#define EX_ETCD_TLS 78         /* EX_CONFIG: TLS failed or TLS files bad */

/* What went wrong, as a class (each its exit status above). */
enum etcd_err {
	ETCD_OK = 0,
	ETCD_E_UNREACHABLE = -1, /* no endpoint answered in time */
	ETCD_E_TLS = -2,
	ETCD_E_AUTH = -3,
	ETCD_E_PROTOCOL = -4,    /* not JSON, or not the fields etcd sends */
	ETCD_E_SERVER = -5,      /* etcd answered with an error */
	ETCD_E_ABORTED = -6,     /* the abort callback said stop */
	ETCD_E_CONFIG = -7,      /* configuration: bad URL, unreadable file */
	ETCD_E_NOMEM = -8,
};

struct etcd_config {
	char *endpoints[ETCD_MAX_ENDPOINTS];
	size_t nendpoints;
	char *cacert, *cert, *key, *user, *password;
};

/*
 * Fills c from urls (--etcd "URL[,URL...]", or NULL), the environment and
 * the configuration file.  Returns 0 or ETCD_E_CONFIG with why filled.
 */
int etcd_config_load(struct etcd_config *c, const char *urls, char *why,
		     size_t size);
void etcd_config_free(struct etcd_config *c);

struct etcd;

/* A client (one connection at a time; one per thread).  NULL: no memory. */
struct etcd *etcd_new(const struct etcd_config *c);
void etcd_free(struct etcd *e);
/* The endpoint of the last call. */
const char *etcd_endpoint(const struct etcd *e);
/* Why the last call failed: a sentence, untrusted parts escaped. */
const char *etcd_why(const struct etcd *e);
/* The exit status for a class of error. */
int etcd_exit_status(int err);

/* Each endpoint gets at most ms of a call before the next is tried. */
void etcd_set_attempt_timeout(struct etcd *e, int64_t ms);
/* Called during a transfer: true stops it (ETCD_E_ABORTED). */
void etcd_set_abort(struct etcd *e, bool (*abort_fn)(void *), void *arg);

/*
 * POSTs req (consumed) to path ("/v3/kv/range") and parses the reply into
 * *reply (the caller puts it).  timeout_ms bounds the whole call over all
 * endpoints (0: none).  Authenticates first when a user is configured.
 */
int etcd_call(struct etcd *e, const char *path, json_object *req,
	      int64_t timeout_ms, json_object **reply);

/* --- what the lock code needs from the replies ---------------------------- */

/* A key-value as the range reply has it, decoded. */
struct etcd_kv {
	char key[ETCD_NAME_MAX + 64];
	size_t keylen;
	char *value;      /* NUL-terminated copy; value_len bytes */
	size_t value_len;
	int64_t create_revision, mod_revision, lease;
};

/* base64 of len bytes, as a JSON string. */
json_object *etcd_b64(const void *data, size_t len);
/* A 64-bit integer as etcd writes it (a string); missing: 0. */
int etcd_get_int(json_object *o, const char *field, int64_t *v);
/* Decodes kv (one of "kvs"); -1 when malformed or too long. */
int etcd_kv_parse(json_object *kv, struct etcd_kv *out);
void etcd_kv_free(struct etcd_kv *kv);

/* The range request for every key under prefix ("NAME/"), oldest
 * create_revision first, at most limit (0: all). */
json_object *etcd_prefix_range(const char *prefix, int64_t limit,
			       bool keys_only);

/* Lease calls: grant (*ttl_s gets what etcd granted), one keep-alive
 * (ttl_s 0: the lease is gone), revoke. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t timeout_ms,
		     int64_t *id, int64_t *granted_s);
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t timeout_ms,
			 int64_t *ttl_s);
int etcd_lease_revoke(struct etcd *e, int64_t id, int64_t timeout_ms);
int etcd_lease_ttl(struct etcd *e, int64_t id, int64_t timeout_ms,
		   int64_t *ttl_s);

/* --- the holder's record: the lock key's value, JSON ------------------ */

/* {"pid":..,"uid":..,"host":..,"command":..,"since":..,"message":..};
 * NULL: no memory. */
char *etcd_record_new(pid_t pid, const char *command, const char *message,
		      int64_t since);
/* The record in kv's value as the local tools describe a holder (state
 * LIVE, has_record); -1 (reason filled) when there is none: an etcdctl
 * lock holder, or a value that is not lockrun's. */
int etcd_record_parse(const struct etcd_kv *kv, struct pidlock_info *info);
/* 1 to ETCD_NAME_MAX bytes, no control characters. */
bool etcd_name_valid(const char *name, const char **why);

#endif
