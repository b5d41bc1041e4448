/* SPDX-License-Identifier: MIT */
/*
 * How a lock's holder, a time and an age are written for a person:
 * lockrun's "held by ..." and lockstat's SINCE, AGE and COMMAND.  The
 * library judges (struct pidlock_info); this only renders its verdict.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "common.h"
#include "format.h"

void format_age(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60),
			 (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

void format_since(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when, now = time(NULL);
	struct tm tm, today;

	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, size, "%H:%M:%S", &tm);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
}

static void holders_text(const struct pidlock_info *info, char *buf,
			 size_t size)
{
	size_t off = 0;
	unsigned shown = 0;

	for (unsigned i = 0; i < info->nholders && off < size; i++) {
		const struct pidlock_kernel_holder *h = &info->holders[i];
		if (h->waiting)
			continue;
		int n = snprintf(buf + off, size - off, "%s%s%d", shown ? ", " : "",
				 shown ? "" : (h->exclusive ? "PID " : "(shared) PID "),
				 (int)h->pid);
		if (n > 0 && h->uid != (uid_t)-1)
			n += snprintf(buf + off + n, size - off - (size_t)n,
				      " (uid %u)", (unsigned)h->uid);
		if (n > 0)
			off += (size_t)n;
		shown++;
	}
	if (!shown)
		snprintf(buf, size, "another process");
}

/* The command name of pid, from /proc (only read, never signalled), as
 * the kernel has it: not escaped.  For the kernel's holders, which the
 * library names by PID only (as lslocks(8) does, the name is read when
 * shown): shown, never judged. */
void proc_comm(pid_t pid, char *buf, size_t size)
{
	char path[32];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!(f = fopen(path, "re")))
		return;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

void format_holder(const struct pidlock_info *info, char *buf, size_t size)
{
	const struct pidlock_record *r = &info->record;
	char since[32], age[32], who[256], host[4 * 65] = "", msg[4 * 1024 + 2] = "";
	struct utsname u;

	if (!info->has_record && info->pid > 0 && info->nholders == 0) {
		/* A plain pidfile of a live process: name it, as pgrep would,
		 * unless the system contradicts the file (then say so). */
		strlcpy(who, info->record.comm, sizeof(who));
		if (info->live_pid)
			snprintf(buf, size, "held by PID %d (%s), per its pidfile",
				 (int)info->pid, who[0] ? esc(who) : "?");
		else
			snprintf(buf, size, "its pidfile names PID %d (%s), "
				 "alive, not proven its writer: %s",
				 (int)info->pid, who[0] ? esc(who) : "?",
				 esc(info->reason));
		return;
	}
	if (!info->has_record || (info->state == PIDLOCK_STATE_LIVE &&
				  (info->doubts & (PIDLOCK_DOUBT_UNPROVEN |
						   PIDLOCK_DOUBT_UID)))) {
		/* Name the kernel's holders, never a PID only a file claims. */
		holders_text(info, who, sizeof(who));
		snprintf(buf, size, "held by %s", who);
		if (info->has_record || info->pid > 0) {
			size_t len = strlen(buf);
			snprintf(buf + len, size - len, " (%s)", info->reason);
		}
		return;
	}
	format_since(r->time, since, sizeof(since));
	format_age((int64_t)time(NULL) - r->time, age, sizeof(age));
	if (uname(&u) == 0 && strcmp(u.nodename, r->host) != 0)
		snprintf(host, sizeof(host), " on %s", esc(r->host));
	if (r->message[0])
		snprintf(msg, sizeof(msg), ": %s", esc(r->message));
	snprintf(buf, size, "held by PID %d (%s)%s since %s, %s%s", (int)r->pid,
		 esc(r->comm), host, since, age, msg);
	if (info->state == PIDLOCK_STATE_LIVE_INHERITED) {
		size_t len = strlen(buf);
		holders_text(info, who, sizeof(who));
		snprintf(buf + len, size - len, " (gone; now held by %s)", who);
	}
}
