/* SPDX-License-Identifier: MIT */
/*
 * lockrun --etcd; see etcdlock.h and lockrun(1), ACROSS HOSTS.
 *
 * A keeper thread renews the lease from the moment it is granted.  Each
 * successful renewal sent at time t (CLOCK_MONOTONIC) moves the deadline
 * to t + TTL - kill-after - margin: etcd counts the TTL from when it
 * received the renewal, after t, so the job is stopped (signal, then
 * SIGKILL kill-after later) before the lease can have run out and anyone
 * else can hold the lock.  The supervisor (job.c) reads the deadline.
 */
#include <curl/curl.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "etcd.h"
#include "etcdlock.h"
#include "format.h"
#include "job.h"

/* How long release and bookkeeping calls may take. */
#define CALL_MS 3000

struct keeper {
	struct etcd *e;          /* the keeper's own client */
	int64_t lease, ttl_ms, give_up_ms;
	atomic_llong deadline;   /* stop the job by then; 0: lost */
	atomic_bool lost;
	char why[512];           /* the last failure, for the report */
	pthread_mutex_t why_lock;
	int wake[2];             /* closed/written to stop the thread */
	pthread_t thread, main;
	bool running;
};

struct acquire {
	const struct etcd_run *r;
	struct etcd_config cfg;
	struct etcd *e;
	struct keeper k;
	char key[ETCD_NAME_MAX + 32], lease_hex[24];
	int64_t token;           /* our key's create revision */
	int64_t wait_until;      /* -w: CLOCK_MONOTONIC ms, 0: forever */
	int signal;              /* a stopping signal came while waiting */
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- the keeper ----------------------------------------------------------- */

static void keeper_note(struct keeper *k, const char *why)
{
	pthread_mutex_lock(&k->why_lock);
	strlcpy(k->why, why, sizeof(k->why));
	pthread_mutex_unlock(&k->why_lock);
}

static void keeper_lost(struct keeper *k, const char *why)
{
	keeper_note(k, why);
	atomic_store(&k->deadline, 0);
	atomic_store(&k->lost, true);
	/* Wakes the supervisor's sigtimedwait (it only reaps on SIGCHLD). */
	pthread_kill(k->main, SIGCHLD);
}

/* Waits up to ms for the stop request; true when asked to stop. */
static bool keeper_sleep(struct keeper *k, int64_t ms)
{
	struct pollfd p = { k->wake[0], POLLIN, 0 };

	return poll(&p, 1, ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms) != 0;
}

static void *keeper_run(void *arg)
{
	struct keeper *k = arg;
	int64_t interval = k->give_up_ms / 3, next = now_ms() + interval;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!keeper_sleep(k, next - now_ms())) {
		int64_t sent = now_ms(), left = atomic_load(&k->deadline) - sent;
		int64_t ttl_s = 0;
		int r;
		if (left <= 0) {
			keeper_lost(k, "no renewal of the lease in time");
			break;
		}
		r = etcd_lease_keepalive(k->e, k->lease, left < interval ? left : interval,
					 &ttl_s);
		if (r == 0 && ttl_s > 0) {
			atomic_store(&k->deadline, sent + ttl_s * 1000 -
				     (k->ttl_ms - k->give_up_ms));
			next = sent + interval;
		} else if (r == 0) {
			keeper_lost(k, "the lease expired or was revoked");
			break;
		} else {
			keeper_note(k, etcd_why(k->e));
			next = now_ms() + interval / 4; /* soon, maybe elsewhere */
		}
	}
	return NULL;
}

static int keeper_start(struct keeper *k, const struct etcd_config *cfg,
			int64_t lease, int64_t ttl_ms, int64_t give_up_ms,
			int64_t granted_at)
{
	k->lease = lease;
	k->ttl_ms = ttl_ms;
	k->give_up_ms = give_up_ms;
	k->main = pthread_self();
	atomic_store(&k->deadline, granted_at + give_up_ms);
	pthread_mutex_init(&k->why_lock, NULL);
	if (!(k->e = etcd_new(cfg)) || pipe2(k->wake, O_CLOEXEC) < 0)
		return -1;
	etcd_set_attempt_timeout(k->e, give_up_ms / 6);
	if (pthread_create(&k->thread, NULL, keeper_run, k) != 0)
		return -1;
	k->running = true;
	return 0;
}

static void keeper_stop(struct keeper *k)
{
	if (!k->running)
		return;
	(void)!write(k->wake[1], "x", 1);
	pthread_join(k->thread, NULL);
	k->running = false;
}

static int64_t lock_deadline(void *arg)
{
	return atomic_load(&((struct keeper *)arg)->deadline);
}

/* --- acquiring ------------------------------------------------------------ */

static void __attribute__((noreturn)) etcd_die(struct acquire *a, int err,
					       const char *what)
{
	warnx("%s: %s: %s", esc(a->r->name), what, etcd_why(a->e));
	exit(etcd_exit_status(err));
}

/* Leaves nothing behind on the way out: revoking the lease deletes our
 * key (a waiter's too). */
static void revoke_lease(struct acquire *a)
{
	/* No exit() while the keeper may be inside libcurl and OpenSSL:
	 * their atexit cleanup would race its keep-alive. */
	keeper_stop(&a->k);
	if (a->k.lease && etcd_lease_revoke(a->e, a->k.lease, CALL_MS) < 0 &&
	    !a->r->quiet)
		warnx("%s: cannot revoke lease %s (it expires within its TTL): %s",
		      esc(a->r->name), a->lease_hex, etcd_why(a->e));
}

static json_object *put_op(const char *key, const char *value, int64_t lease)
{
	json_object *op = json_object_new_object(), *put = json_object_new_object();
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)lease);
	json_object_object_add(put, "key", etcd_b64(key, strlen(key)));
	json_object_object_add(put, "value", etcd_b64(value, strlen(value)));
	json_object_object_add(put, "lease", json_object_new_string(id));
	json_object_object_add(op, "request_put", put);
	return op;
}

static json_object *range_op(json_object *range)
{
	json_object *op = json_object_new_object();

	json_object_object_add(op, "request_range", range);
	return op;
}

static json_object *create_cmp(const char *key, int64_t rev)
{
	json_object *cmps = json_object_new_array(), *c = json_object_new_object();
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)rev);
	json_object_object_add(c, "key", etcd_b64(key, strlen(key)));
	json_object_object_add(c, "target", json_object_new_string("CREATE"));
	json_object_object_add(c, "result", json_object_new_string("EQUAL"));
	json_object_object_add(c, "create_revision", json_object_new_string(s));
	json_object_array_add(cmps, c);
	return cmps;
}

static char *prefix_of(const struct acquire *a)
{
	static char p[ETCD_NAME_MAX + 2];

	snprintf(p, sizeof(p), "%s/", a->r->name);
	return p;
}

/* The kvs[i] of response n of a txn reply (an absent list: no key). */
static int txn_kv(json_object *reply, size_t n, struct etcd_kv *kv)
{
	json_object *resps, *resp, *range, *kvs;

	if (!json_object_object_get_ex(reply, "responses", &resps) ||
	    !json_object_is_type(resps, json_type_array) ||
	    json_object_array_length(resps) <= n ||
	    !(resp = json_object_array_get_idx(resps, n)) ||
	    !json_object_object_get_ex(resp, "response_range", &range))
		return -1;
	if (!json_object_object_get_ex(range, "kvs", &kvs))
		return 1; /* none */
	if (!json_object_is_type(kvs, json_type_array) ||
	    json_object_array_length(kvs) == 0)
		return -1;
	return etcd_kv_parse(json_object_array_get_idx(kvs, 0), kv);
}

/*
 * Puts our key with the record, unless it exists, and reads the oldest
 * key under the prefix in the same transaction.  Returns 1 when ours is
 * the oldest (held), 0 when owner is someone else's.
 */
static int enqueue(struct acquire *a, const char *record, struct etcd_kv *owner)
{
	json_object *req = json_object_new_object(), *ok = json_object_new_array();
	json_object *fail = json_object_new_array(), *reply, *sub, *hdr;
	struct etcd_kv mine;
	int r, got;

	json_object_array_add(ok, put_op(a->key, record, a->k.lease));
	json_object_array_add(ok, range_op(etcd_prefix_range(prefix_of(a), 1, false)));
	sub = json_object_new_object();
	json_object_object_add(sub, "key", etcd_b64(a->key, strlen(a->key)));
	json_object_array_add(fail, range_op(sub));
	json_object_array_add(fail, range_op(etcd_prefix_range(prefix_of(a), 1, false)));
	json_object_object_add(req, "compare", create_cmp(a->key, 0));
	json_object_object_add(req, "success", ok);
	json_object_object_add(req, "failure", fail);
	if ((r = etcd_call(a->e, "/v3/kv/txn", req, CALL_MS, &reply)) < 0) {
		revoke_lease(a);
		etcd_die(a, r, "cannot take the lock");
	}
	if (json_object_object_get_ex(reply, "succeeded", &sub) &&
	    json_object_get_boolean(sub)) {
		if (!json_object_object_get_ex(reply, "header", &hdr) ||
		    etcd_get_int(hdr, "revision", &a->token) < 0)
			a->token = 0;
	} else if (txn_kv(reply, 0, &mine) == 0) {
		a->token = mine.create_revision;
		etcd_kv_free(&mine);
	}
	got = a->token > 0 ? txn_kv(reply, 1, owner) : -1;
	json_object_put(reply);
	if (got != 0) {
		revoke_lease(a);
		errx(EX_ETCD_PROTOCOL, "%s: etcd's reply to the transaction "
		     "lacks the lock keys", esc(a->r->name));
	}
	return owner->create_revision == a->token;
}

static bool wait_abort(void *arg)
{
	static const int stoppers[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	struct acquire *a = arg;
	sigset_t pending;

	if (atomic_load(&a->k.lost))
		return true;
	if (sigpending(&pending) == 0)
		for (size_t i = 0; i < sizeof(stoppers) / sizeof(stoppers[0]); i++)
			if (sigismember(&pending, stoppers[i])) {
				a->signal = stoppers[i];
				return true;
			}
	return false;
}

static void say_holder(const struct acquire *a, const struct etcd_kv *owner,
		       const char *what)
{
	struct pidlock_info info;
	char text[8192];

	if (a->r->quiet)
		return;
	if (etcd_record_parse(owner, &info) == 0)
		format_holder(&info, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "held by key %s (%s)",
			 esc(owner->key), info.reason);
	fprintf(stderr, "%s: %s: %s%s (etcd token %lld)\n", getprogname(),
		esc(a->r->name), what, text, (long long)owner->create_revision);
}

/* The v3lock service waits for the older keys under the prefix to go:
 * etcd's own wait, the same as `etcdctl lock`. */
static int wait_turn(struct acquire *a)
{
	json_object *req = json_object_new_object(), *reply = NULL;
	int64_t left = 0;
	char id[24];
	int r;

	snprintf(id, sizeof(id), "%lld", (long long)a->k.lease);
	json_object_object_add(req, "name", etcd_b64(a->r->name, strlen(a->r->name)));
	json_object_object_add(req, "lease", json_object_new_string(id));
	if (a->wait_until && (left = a->wait_until - now_ms()) <= 0)
		left = 1;
	etcd_set_abort(a->e, wait_abort, a);
	r = etcd_call(a->e, "/v3/lock/lock", req, left, &reply);
	etcd_set_abort(a->e, NULL, NULL);
	json_object_put(reply);
	return r;
}

/*
 * After the wait, our key must still be there, with our lease and our
 * revision, and be the oldest (etcd#9921: a waiter whose lease expired
 * can be told it holds the lock).  A read: no write to etcd's log on the
 * way to the command (record_pid() rewrites the record after the fork).
 */
static int verify_held(struct acquire *a)
{
	json_object *req = json_object_new_object(), *ok = json_object_new_array();
	json_object *reply, *sub;
	struct etcd_kv owner;
	int held = 0, r;

	json_object_array_add(ok, range_op(etcd_prefix_range(prefix_of(a), 1, false)));
	json_object_object_add(req, "compare", create_cmp(a->key, a->token));
	json_object_object_add(req, "success", ok);
	if ((r = etcd_call(a->e, "/v3/kv/txn", req, CALL_MS, &reply)) < 0)
		return r;
	if (json_object_object_get_ex(reply, "succeeded", &sub) &&
	    json_object_get_boolean(sub) && txn_kv(reply, 0, &owner) == 0) {
		held = owner.create_revision == a->token &&
		       owner.lease == a->k.lease;
		etcd_kv_free(&owner);
	}
	json_object_put(reply);
	return held;
}

static void conflict(struct acquire *a, struct etcd_kv *owner, const char *what)
{
	revoke_lease(a);
	if (owner)
		say_holder(a, owner, what);
	exit(a->r->conflict_code);
}

static void take(struct acquire *a, const char *record)
{
	struct etcd_kv owner;
	int r;

	if (enqueue(a, record, &owner) == 1) {
		etcd_kv_free(&owner);
		return;
	}
	if (a->r->timeout_ms == PIDLOCK_NO_WAIT)
		conflict(a, &owner, "");
	if (a->r->verbose || isatty(STDERR_FILENO))
		say_holder(a, &owner, "waiting; ");
	r = wait_turn(a);
	if (a->signal) {
		revoke_lease(a);
		die_by_signal(a->signal);
	}
	if (atomic_load(&a->k.lost)) {
		revoke_lease(a);
		errx(EX_LOCK_LOST, "%s: lease %s lost while waiting: %s",
		     esc(a->r->name), a->lease_hex, a->k.why);
	}
	if (r < 0 && a->wait_until && now_ms() >= a->wait_until) {
		char what[64];
		snprintf(what, sizeof(what), "timed out after %.3gs; ",
			 a->r->timeout_ms / 1000.0);
		conflict(a, &owner, what);
	}
	etcd_kv_free(&owner);
	if (r < 0) {
		revoke_lease(a);
		etcd_die(a, r, "waiting for the lock failed");
	}
	if ((r = verify_held(a)) < 0) {
		revoke_lease(a);
		etcd_die(a, r, "cannot check the lock after the wait");
	}
	if (!r) {
		revoke_lease(a);
		errx(EX_LOCK_LOST, "%s: etcd said acquired, but key %s is not the "
		     "oldest of lease %s: not running", esc(a->r->name),
		     esc(a->key), a->lease_hex);
	}
}

/* --- running -------------------------------------------------------------- */

/* The environment of the command: ours plus the lock's facts, which
 * start at *own (allocated; the rest is environ's). */
static char **command_env(const struct acquire *a, size_t *own)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	if (!(env = calloc(n + 6, sizeof(*env))))
		err(EX_OSERR, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LOCKRUN_FENCING_TOKEN=", 22) &&
		    strncmp(environ[i], "LOCKRUN_ETCD_", 13) &&
		    strncmp(environ[i], "ETCD_LOCK_", 10))
			env[k++] = environ[i];
	*own = k;
	if (asprintf(&env[k++], "LOCKRUN_FENCING_TOKEN=%lld", (long long)a->token) < 0 ||
	    asprintf(&env[k++], "LOCKRUN_ETCD_LEASE=%s", a->lease_hex) < 0 ||
	    asprintf(&env[k++], "LOCKRUN_ETCD_KEY=%s", a->key) < 0 ||
	    /* what `etcdctl lock NAME COMMAND` gives its command */
	    asprintf(&env[k++], "ETCD_LOCK_KEY=%s", a->key) < 0 ||
	    asprintf(&env[k++], "ETCD_LOCK_REV=%lld", (long long)a->token) < 0)
		err(EX_OSERR, "out of memory");
	return env;
}

static void __attribute__((noreturn)) exec_command(const struct etcd_run *r,
						   char **env, pid_t parent)
{
	/* The lock lives only as long as lockrun renews it: the command
	 * must not outlive a SIGKILLed lockrun (its lease then expires). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(EX_OSERR);
	execvpe(r->argv[0], r->argv, env);
	warn("failed to execute %s", esc(r->argv[0]));
	_exit(errno == ENOMEM ? EX_OSERR : EX_UNAVAILABLE);
}

/* The record names the command's PID once it runs (same key, same
 * revision, same lease: only if the key is still ours). */
static void record_pid(struct acquire *a, pid_t child, int64_t since)
{
	char *rec = etcd_record_new(child, a->r->command_name, a->r->message, since);
	json_object *req = json_object_new_object(), *ok = json_object_new_array();
	json_object *reply = NULL;
	/* The command runs unsupervised until this returns: never past the
	 * moment the supervisor must start stopping it. */
	int64_t left = lock_deadline(&a->k) - now_ms();

	if (!rec)
		return;
	json_object_array_add(ok, put_op(a->key, rec, a->k.lease));
	json_object_object_add(req, "compare", create_cmp(a->key, a->token));
	json_object_object_add(req, "success", ok);
	if (etcd_call(a->e, "/v3/kv/txn", req,
		      left < 1 ? 1 : left < CALL_MS ? left : CALL_MS, &reply) < 0 &&
	    !a->r->quiet)
		warnx("%s: cannot record PID %d: %s", esc(a->r->name), (int)child,
		      etcd_why(a->e));
	json_object_put(reply);
	free(rec);
}

static struct job_end run(struct acquire *a, int64_t since, int64_t lost_kill_ms)
{
	const struct etcd_run *r = a->r;
	const struct job_opts o = {
		r->max_time_ms, r->kill_after_ms, r->signal, r->quiet, r->argv[0],
		lock_deadline, &a->k, lost_kill_ms,
	};
	bool own_group = job_own_group(r->foreground);
	size_t own;
	char **env = command_env(a, &own);
	pid_t parent = getpid(), child;

	if (atomic_load(&a->k.lost) || now_ms() >= lock_deadline(&a->k)) {
		revoke_lease(a);
		errx(EX_LOCK_LOST, "%s: lease %s lost before the command started: %s",
		     esc(r->name), a->lease_hex,
		     a->k.why[0] ? a->k.why : "no renewal in time");
	}
	fflush(NULL);
	if ((child = fork()) < 0)
		err(EX_OSERR, "fork failed");
	if (child == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		job_child_setup(own_group);
		exec_command(r, env, parent);
	}
	job_parent_setup(child, own_group);
	for (size_t i = own; env[i]; i++)
		free(env[i]);
	free(env);
	record_pid(a, child, since);
	return job_supervise(&o, child, own_group);
}

/*
 * Deletes our key (if it is still ours) before the lease goes: the next
 * waiter is woken by the delete at once, where the revocation of the
 * lease woke it some 50 ms later (make bench, table 7).
 */
static void delete_key(struct acquire *a)
{
	json_object *req = json_object_new_object(), *ok = json_object_new_array();
	json_object *op = json_object_new_object(), *del = json_object_new_object();
	json_object *reply = NULL;

	json_object_object_add(del, "key", etcd_b64(a->key, strlen(a->key)));
	json_object_object_add(op, "request_delete_range", del);
	json_object_array_add(ok, op);
	json_object_object_add(req, "compare", create_cmp(a->key, a->token));
	json_object_object_add(req, "success", ok);
	(void)etcd_call(a->e, "/v3/kv/txn", req, CALL_MS, &reply);
	json_object_put(reply);
}

/* --- the whole run -------------------------------------------------------- */

/* Without -K, what is left of a job a lost lease's signal did not stop
 * is SIGKILLed this long after it. */
static int64_t lost_kill_after(const struct etcd_run *r)
{
	if (r->kill_after_ms)
		return r->kill_after_ms;
	return r->ttl_ms / 5 < 1000 ? r->ttl_ms / 5 : 1000;
}

static void check_run(const struct etcd_run *r, int64_t *give_up_ms)
{
	const char *why;
	int64_t margin;

	if (!etcd_name_valid(r->name, &why))
		errx(EX_USAGE, "%s: %s", esc(r->name), why);
	if (!r->argv)
		errx(EX_USAGE, "--etcd needs a command to run");
	if (r->ttl_ms < 2000 || r->ttl_ms > 86400000LL)
		errx(EX_USAGE, "--ttl must be between 2s and 1d");
	/* Stopped before the lease can expire: the signal, kill-after,
	 * then a margin for the SIGKILL to land and clocks to differ. */
	margin = r->ttl_ms / 10 > 200 ? r->ttl_ms / 10 : 200;
	*give_up_ms = r->ttl_ms - lost_kill_after(r) - margin;
	if (*give_up_ms < r->ttl_ms / 3)
		errx(EX_USAGE, "--kill-after %.3gs leaves too little of --ttl %.3gs "
		     "(at most a half of it)", lost_kill_after(r) / 1000.0,
		     r->ttl_ms / 1000.0);
}

int etcd_lockrun(const struct etcd_run *r)
{
	struct acquire a = { .r = r };
	int64_t give_up_ms, granted_s, lease, t0, since = (int64_t)time(NULL);
	struct job_end end;
	sigset_t old;
	char why[512], *record;
	int e;

	check_run(r, &give_up_ms);
	use_ctype_locale(); /* once, before the keeper's thread starts */
	if ((e = etcd_config_load(&a.cfg, r->endpoints, why, sizeof(why))) < 0)
		errx(etcd_exit_status(e), "%s", why);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(a.e = etcd_new(&a.cfg)))
		errx(EX_OSERR, "cannot start libcurl");
	if (r->timeout_ms > 0)
		a.wait_until = now_ms() + r->timeout_ms;
	/* Stopping signals wait until the lease is revoked (and are then
	 * acted on), so that none leaves a key to expire. */
	job_block_signals(&old);
	t0 = now_ms();
	/* Whole seconds, rounded up: the deadlines below count from the
	 * TTL etcd grants, never from a longer one than it gave. */
	if ((e = etcd_lease_grant(a.e, (r->ttl_ms + 999) / 1000, CALL_MS,
				  &lease, &granted_s)) < 0)
		etcd_die(&a, e, "cannot get a lease");
	a.k.lease = lease;
	snprintf(a.lease_hex, sizeof(a.lease_hex), "%llx", (long long)lease);
	snprintf(a.key, sizeof(a.key), "%s/%s", r->name, a.lease_hex);
	if (granted_s * 1000 > r->ttl_ms) /* etcd's minimum TTL is longer */
		give_up_ms += granted_s * 1000 - r->ttl_ms;
	if (keeper_start(&a.k, &a.cfg, lease, granted_s * 1000, give_up_ms, t0) < 0) {
		revoke_lease(&a);
		errx(EX_OSERR, "cannot start the lease keeper: %s", strerror(errno));
	}
	if (!(record = etcd_record_new(getpid(), r->command_name, r->message, since))) {
		revoke_lease(&a);
		errx(EX_OSERR, "out of memory");
	}
	take(&a, record);
	free(record);
	if (r->verbose)
		printf("%s: getting lock took %.6f seconds (etcd token %lld)\n",
		       getprogname(), (now_ms() - t0) / 1000.0, (long long)a.token);
	end = run(&a, since, lost_kill_after(r));
	keeper_stop(&a.k);
	if (atomic_load(&a.k.lost) || now_ms() >= lock_deadline(&a.k)) {
		warnx("%s: lease %s lost: %s", esc(r->name), a.lease_hex,
		      a.k.why[0] ? a.k.why : "no renewal in time");
		/* etcd did not answer in time: the revoke is a courtesy */
		etcd_set_attempt_timeout(a.e, 500);
	} else {
		delete_key(&a);
	}
	revoke_lease(&a);
	etcd_free(a.k.e);
	etcd_free(a.e);
	etcd_config_free(&a.cfg);
	curl_global_cleanup();
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (end.die_by)
		die_by_signal(end.die_by);
	return end.status;
}
