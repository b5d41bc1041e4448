/* SPDX-License-Identifier: MIT */
/* The etcd v3 JSON gateway client; see etcd.h. */
#include <curl/curl.h>
#include <err.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "etcd.h"

/* A reply larger than this is not one we asked for (lockstat's listing
 * of every lock included). */
#define REPLY_MAX (8u << 20)
#define URL_MAX 256
/* How long one endpoint may take to accept a connection. */
#define CONNECT_TIMEOUT_MS 2000

struct etcd {
	const struct etcd_config *c;
	CURL *curl;
	size_t current;         /* the endpoint to try first */
	char token[512];        /* auth token, "" when none yet */
	char why[512];
	int64_t attempt_ms;     /* at most this long per endpoint (0: no cap) */
	bool (*abort_fn)(void *);
	void *abort_arg;
	char *buf;              /* the reply being received */
	size_t len, cap;
	bool too_long;
};

/* --- the client ---------------------------------------------------------- */

struct etcd *etcd_new(const struct etcd_config *c)
{
	struct etcd *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->c = c;
	if (!(e->curl = curl_easy_init())) {
		free(e);
		return NULL;
	}
	return e;
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	explicit_bzero(e->token, sizeof(e->token));
	free(e->buf);
	free(e);
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->c->endpoints[e->current];
}

const char *etcd_why(const struct etcd *e)
{
	return e->why;
}

void etcd_set_abort(struct etcd *e, bool (*abort_fn)(void *), void *arg)
{
	e->abort_fn = abort_fn;
	e->abort_arg = arg;
}

void etcd_set_attempt_timeout(struct etcd *e, int64_t ms)
{
	e->attempt_ms = ms;
}

int etcd_exit_status(int err)
{
	switch (err) {
	case ETCD_E_UNREACHABLE: return EX_ETCD_UNREACHABLE;
	case ETCD_E_TLS: return EX_ETCD_TLS;
	case ETCD_E_AUTH: return EX_ETCD_AUTH;
	case ETCD_E_PROTOCOL: return EX_ETCD_PROTOCOL;
	case ETCD_E_CONFIG: return EX_USAGE;
	case ETCD_E_NOMEM: return EX_OSERR;
	default: return EX_UNAVAILABLE;
	}
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct etcd *e = arg;
	size_t len = size * n;
	char *b;

	if (len > REPLY_MAX - e->len) {
		e->too_long = true;
		return 0; /* stops the transfer */
	}
	if (e->len + len + 1 > e->cap) { /* doubling: no copy per chunk */
		size_t cap = e->cap ? e->cap : 4096;
		while (cap < e->len + len + 1)
			cap *= 2;
		if (!(b = realloc(e->buf, cap)))
			return 0;
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, len);
	e->len += len;
	e->buf[e->len] = '\0';
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	struct etcd *e = arg;

	(void)a, (void)b, (void)c, (void)d;
	return e->abort_fn && e->abort_fn(e->abort_arg);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The class of a transfer's failure; the ones worth another endpoint
 * are unreachable and TLS (a member's own certificate may be the bad one). */
static int curl_class(CURLcode rc)
{
	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return ETCD_E_ABORTED;
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR:
	case CURLE_USE_SSL_FAILED:
		return ETCD_E_TLS;
	case CURLE_OUT_OF_MEMORY:
		return ETCD_E_NOMEM;
	default:
		return ETCD_E_UNREACHABLE;
	}
}

static void set_tls(struct etcd *e)
{
	const struct etcd_config *c = e->c;

	if (c->cacert)
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, c->cacert);
	if (c->cert)
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, c->cert);
	if (c->key)
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, c->key);
}

/* One POST to one endpoint; the reply's body is in e->buf. */
static int post_once(struct etcd *e, const char *url, const char *body,
		     int64_t timeout_ms, long *http)
{
	struct curl_slist *h = NULL, *h2;
	char auth[600] = "";
	CURLcode rc;

	e->len = 0;
	e->too_long = false;
	curl_easy_reset(e->curl);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h && e->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		if ((h2 = curl_slist_append(h, auth)))
			h = h2;
	}
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Loopback and cluster addresses: a proxy from the environment
	 * (http_proxy) would only be in the way. */
	curl_easy_setopt(e->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(timeout_ms && timeout_ms < CONNECT_TIMEOUT_MS ?
				timeout_ms : CONNECT_TIMEOUT_MS));
	if (timeout_ms)
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	set_tls(e);
	rc = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	if (auth[0])
		explicit_bzero(auth, sizeof(auth));
	if (e->too_long) {
		snprintf(e->why, sizeof(e->why), "%s: reply longer than %u bytes",
			 url, REPLY_MAX);
		return ETCD_E_PROTOCOL;
	}
	if (rc != CURLE_OK) {
		snprintf(e->why, sizeof(e->why), "%s: %s", url,
			 curl_easy_strerror(rc));
		return curl_class(rc);
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, http);
	return 0;
}

/* The body of an error reply: {"error":..,"message":..,"code":N}. */
static int server_error(struct etcd *e, const char *url, long http,
			json_object *j)
{
	json_object *m = NULL, *code = NULL;
	const char *msg = "";
	char text[256];
	int c = -1;

	if (j && json_object_object_get_ex(j, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	if (j && json_object_object_get_ex(j, "code", &code) &&
	    json_object_is_type(code, json_type_int))
		c = json_object_get_int(code);
	/* esc() is not for the keeper's thread: a buffer of our own */
	safe_encode(msg, text, sizeof(text));
	snprintf(e->why, sizeof(e->why), "%s: HTTP %ld%s%.160s", url, http,
		 *msg ? ": " : "", text);
	/* gRPC's UNAUTHENTICATED and PERMISSION_DENIED; a wrong password is
	 * INVALID_ARGUMENT with etcd's own words. */
	if (c == 16 || c == 7 || strstr(msg, "authentication failed") ||
	    strstr(msg, "user name is empty") || strstr(msg, "permission denied"))
		return ETCD_E_AUTH;
	return j ? ETCD_E_SERVER : ETCD_E_PROTOCOL;
}

static json_object *parse_reply(struct etcd *e)
{
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *j = NULL;

	if (!tok)
		return NULL;
	if (e->buf && e->len)
		j = json_tokener_parse_ex(tok, e->buf, (int)e->len);
	if (j && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(j, json_type_object) ||
		  tok->char_offset != (int)e->len)) {
		json_object_put(j);
		j = NULL;
	}
	json_tokener_free(tok);
	return j;
}

static int authenticate(struct etcd *e, int64_t timeout_ms);

/* POSTs body to path at every endpoint in turn until one answers. */
static int post(struct etcd *e, const char *path, const char *body,
		int64_t deadline, json_object **reply)
{
	size_t n = e->c->nendpoints;
	int r = ETCD_E_UNREACHABLE, first = 0;

	for (size_t i = 0; i < n; i++) {
		char url[URL_MAX + 64];
		int64_t left = 0;
		long http = 0;
		if (deadline && (left = deadline - now_ms()) <= 0)
			break;
		/* A member that is stopped accepts connections and never
		 * answers: it may not take all the time there is. */
		if (e->attempt_ms && (!left || left > e->attempt_ms))
			left = e->attempt_ms;
		snprintf(url, sizeof(url), "%s%s", e->c->endpoints[e->current], path);
		r = post_once(e, url, body, left, &http);
		if (r == ETCD_E_ABORTED || r == ETCD_E_NOMEM)
			return r;
		if (r == 0) {
			json_object *j = parse_reply(e);
			if (http == 200 && j) {
				*reply = j;
				return 0;
			}
			if (http == 200)
				snprintf(e->why, sizeof(e->why),
					 "%s: reply is not a JSON object", url);
			r = http == 200 ? ETCD_E_PROTOCOL : server_error(e, url, http, j);
			json_object_put(j);
			/* Only an endpoint that is not there is worth another. */
			if (r != ETCD_E_SERVER || http < 500)
				return r;
		}
		if (!first)
			first = r;
		e->current = (e->current + 1) % n;
	}
	/* A TLS failure says more than the others' silence. */
	return first == ETCD_E_TLS ? ETCD_E_TLS : r;
}

static int authenticate(struct etcd *e, int64_t deadline)
{
	json_object *req = json_object_new_object(), *reply = NULL, *t;
	int r;

	if (!req)
		return ETCD_E_NOMEM;
	json_object_object_add(req, "name", json_object_new_string(e->c->user));
	json_object_object_add(req, "password",
			       json_object_new_string(e->c->password ? e->c->password : ""));
	r = post(e, "/v3/auth/authenticate",
		 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
		 deadline, &reply);
	json_object_put(req);
	if (r == 0 && (!json_object_object_get_ex(reply, "token", &t) ||
		       !json_object_is_type(t, json_type_string) ||
		       json_object_get_string_len(t) >= (int)sizeof(e->token))) {
		snprintf(e->why, sizeof(e->why), "%s: no token in the reply",
			 etcd_endpoint(e));
		r = ETCD_E_PROTOCOL;
	}
	if (r == 0)
		strlcpy(e->token, json_object_get_string(t), sizeof(e->token));
	json_object_put(reply);
	return r;
}

int etcd_call(struct etcd *e, const char *path, json_object *req,
	      int64_t timeout_ms, json_object **reply)
{
	int64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
	const char *body;
	int r = 0;

	*reply = NULL;
	if (!req)
		return ETCD_E_NOMEM;
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (e->c->user && !e->token[0])
		r = authenticate(e, deadline);
	if (r == 0)
		r = post(e, path, body, deadline, reply);
	/* An expired token (etcd's simple tokens live 5 minutes idle): once
	 * more with a new one. */
	if (r == ETCD_E_AUTH && e->c->user && e->token[0] &&
	    strstr(e->why, "invalid auth token")) {
		e->token[0] = '\0';
		if ((r = authenticate(e, deadline)) == 0)
			r = post(e, path, body, deadline, reply);
	}
	json_object_put(req);
	return r;
}

/* --- reply fields -------------------------------------------------------- */

json_object *etcd_b64(const void *data, size_t len)
{
	size_t size = (len + 2) / 3 * 4 + 1;
	char *out = malloc(size);
	json_object *j;

	if (!out)
		return NULL;
	if (b64_ntop(data, len, out, size) < 0) {
		free(out);
		return NULL;
	}
	j = json_object_new_string(out);
	free(out);
	return j;
}

int etcd_get_int(json_object *o, const char *field, int64_t *v)
{
	json_object *f;
	const char *s, *why = NULL;

	*v = 0;
	if (!o || !json_object_object_get_ex(o, field, &f))
		return 0; /* a default value is omitted */
	if (json_object_is_type(f, json_type_int)) {
		*v = json_object_get_int64(f);
		return 0;
	}
	if (!json_object_is_type(f, json_type_string))
		return -1;
	s = json_object_get_string(f);
	*v = strtonum(s, INT64_MIN + 1, INT64_MAX, &why);
	return why ? -1 : 0;
}

/* Decodes a base64 field into buf (size bytes); -1 when malformed or
 * too long. */
static int b64_field(json_object *o, const char *field, unsigned char *buf,
		     size_t size, size_t *len)
{
	json_object *f;
	int n;

	*len = 0;
	if (!json_object_object_get_ex(o, field, &f))
		return 0;
	if (!json_object_is_type(f, json_type_string) ||
	    (size_t)json_object_get_string_len(f) / 4 * 3 >= size + 3)
		return -1;
	n = b64_pton(json_object_get_string(f), buf, size);
	if (n < 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

int etcd_kv_parse(json_object *kv, struct etcd_kv *out)
{
	json_object *v;
	size_t vsize;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(kv, json_type_object) ||
	    b64_field(kv, "key", (unsigned char *)out->key, sizeof(out->key) - 1,
		      &out->keylen) < 0 || out->keylen == 0 ||
	    etcd_get_int(kv, "create_revision", &out->create_revision) < 0 ||
	    etcd_get_int(kv, "mod_revision", &out->mod_revision) < 0 ||
	    etcd_get_int(kv, "lease", &out->lease) < 0)
		return -1;
	out->key[out->keylen] = '\0';
	vsize = json_object_object_get_ex(kv, "value", &v) &&
		json_object_is_type(v, json_type_string) ?
		(size_t)json_object_get_string_len(v) / 4 * 3 + 4 : 4;
	if (!(out->value = malloc(vsize)) ||
	    b64_field(kv, "value", (unsigned char *)out->value, vsize - 1,
		      &out->value_len) < 0) {
		etcd_kv_free(out);
		return -1;
	}
	out->value[out->value_len] = '\0';
	return 0;
}

void etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->value);
	kv->value = NULL;
}

json_object *etcd_prefix_range(const char *prefix, int64_t limit, bool keys_only)
{
	json_object *req = json_object_new_object();
	size_t len = strlen(prefix);
	char end[ETCD_NAME_MAX + 64];

	if (!req)
		return NULL;
	/* The range end of a prefix: its last byte plus one ("\0": all keys). */
	if (len == 0 || len >= sizeof(end)) {
		end[0] = '\0';
		json_object_object_add(req, "key", etcd_b64("", 1));
		json_object_object_add(req, "range_end", etcd_b64("", 1));
	} else {
		memcpy(end, prefix, len);
		end[len - 1]++;
		json_object_object_add(req, "key", etcd_b64(prefix, len));
		json_object_object_add(req, "range_end", etcd_b64(end, len));
	}
	json_object_object_add(req, "sort_order", json_object_new_string("ASCEND"));
	json_object_object_add(req, "sort_target", json_object_new_string("CREATE"));
	if (limit)
		json_object_object_add(req, "limit", json_object_new_int64(limit));
	if (keys_only)
		json_object_object_add(req, "keys_only", json_object_new_boolean(1));
	return req;
}

/* --- leases -------------------------------------------------------------- */

static json_object *lease_req(int64_t id)
{
	json_object *req = json_object_new_object();
	char s[24];

	if (req) {
		snprintf(s, sizeof(s), "%lld", (long long)id);
		json_object_object_add(req, "ID", json_object_new_string(s));
	}
	return req;
}

static int no_field(struct etcd *e, const char *what)
{
	snprintf(e->why, sizeof(e->why), "%s: reply without %s",
		 etcd_endpoint(e), what);
	return ETCD_E_PROTOCOL;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t timeout_ms,
		     int64_t *id, int64_t *granted_s)
{
	json_object *req = json_object_new_object(), *reply;
	int r;

	if (req)
		json_object_object_add(req, "TTL", json_object_new_int64(ttl_s));
	if ((r = etcd_call(e, "/v3/lease/grant", req, timeout_ms, &reply)) < 0)
		return r;
	if (etcd_get_int(reply, "ID", id) < 0 || *id <= 0 ||
	    etcd_get_int(reply, "TTL", granted_s) < 0 || *granted_s <= 0)
		r = no_field(e, "a lease ID and TTL");
	json_object_put(reply);
	return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t timeout_ms,
			 int64_t *ttl_s)
{
	json_object *reply, *res;
	int r;

	if ((r = etcd_call(e, "/v3/lease/keepalive", lease_req(id), timeout_ms,
			   &reply)) < 0)
		return r;
	/* A stream of one message: {"result":{..., "TTL":"N"}}; an unknown
	 * or expired lease has no TTL. */
	if (!json_object_object_get_ex(reply, "result", &res) ||
	    etcd_get_int(res, "TTL", ttl_s) < 0)
		r = no_field(e, "a keep-alive result");
	json_object_put(reply);
	return r;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, int64_t timeout_ms)
{
	json_object *reply;
	int r = etcd_call(e, "/v3/lease/revoke", lease_req(id), timeout_ms, &reply);

	json_object_put(reply);
	return r;
}

int etcd_lease_ttl(struct etcd *e, int64_t id, int64_t timeout_ms,
		   int64_t *ttl_s)
{
	json_object *reply;
	int r = etcd_call(e, "/v3/lease/timetolive", lease_req(id), timeout_ms,
			  &reply);

	if (r == 0 && etcd_get_int(reply, "TTL", ttl_s) < 0)
		r = no_field(e, "a TTL");
	json_object_put(reply);
	return r;
}

/* --- the holder's record (the lock key's value) -------------------------- */

static void copy_field(json_object *j, const char *field, char *buf, size_t size)
{
	json_object *f;

	buf[0] = '\0';
	if (json_object_object_get_ex(j, field, &f) &&
	    json_object_is_type(f, json_type_string))
		strlcpy(buf, json_object_get_string(f), size);
}

int etcd_record_parse(const struct etcd_kv *kv, struct pidlock_info *info)
{
	struct pidlock_record *r = &info->record;
	json_object *j = NULL;
	int64_t pid = 0, since = 0, uid = -1;

	memset(info, 0, sizeof(*info));
	info->state = PIDLOCK_STATE_LIVE;
	if (kv->value_len && strlen(kv->value) == kv->value_len)
		j = json_tokener_parse(kv->value);
	if (!j || !json_object_is_type(j, json_type_object) ||
	    etcd_get_int(j, "pid", &pid) < 0 || pid <= 0 || pid > INT32_MAX ||
	    etcd_get_int(j, "since", &since) < 0 ||
	    (json_object_object_get_ex(j, "uid", NULL) &&
	     etcd_get_int(j, "uid", &uid) < 0)) {
		json_object_put(j);
		snprintf(info->reason, sizeof(info->reason),
			 "no lockrun record (an etcd client such as etcdctl lock)");
		return -1;
	}
	info->has_record = 1;
	info->pid = info->live_pid = r->pid = r->holder = (pid_t)pid;
	r->time = since;
	r->uid = uid >= 0 && uid <= UINT32_MAX ? (uid_t)uid : (uid_t)-1;
	copy_field(j, "command", r->comm, sizeof(r->comm));
	copy_field(j, "host", r->host, sizeof(r->host));
	copy_field(j, "message", r->message, sizeof(r->message));
	json_object_put(j);
	return 0;
}

char *etcd_record_new(pid_t pid, const char *command, const char *message,
		      int64_t since)
{
	json_object *j = json_object_new_object();
	char host[256] = "";
	char *s = NULL;

	if (!j)
		return NULL;
	(void)gethostname(host, sizeof(host) - 1);
	json_object_object_add(j, "pid", json_object_new_int64(pid));
	json_object_object_add(j, "uid", json_object_new_int64(geteuid()));
	json_object_object_add(j, "host", json_object_new_string(host));
	json_object_object_add(j, "command", json_object_new_string(command ? command : ""));
	json_object_object_add(j, "since", json_object_new_int64(since));
	json_object_object_add(j, "message", json_object_new_string(message ? message : ""));
	s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	return s;
}

bool etcd_name_valid(const char *name, const char **why)
{
	size_t len = strlen(name);

	*why = NULL;
	if (len == 0)
		*why = "empty lock name";
	else if (len > ETCD_NAME_MAX)
		*why = "lock name longer than 255 bytes";
	for (const char *p = name; !*why && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*why = "control character in lock name";
	return !*why;
}
