/* SPDX-License-Identifier: MIT */
/*
 * Where lockrun --etcd and lockstat --etcd find etcd: --etcd, then
 * LOCKRUN_ETCD_ENDPOINTS, then the configuration file, which also holds
 * the TLS files and the credentials; see etcd.h and lockrun(1), FILES.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "etcd.h"

#define CONFIG_MAX 65536
#define URL_MAX 256

static int __attribute__((format(printf, 3, 4)))
config_error(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return ETCD_E_CONFIG;
}

/* Printable ASCII only: an endpoint is printed as it is in messages
 * (also by the keeper's thread, which may not use esc()). */
static bool url_printable(const char *u)
{
	for (; *u; u++)
		if (*u <= ' ' || *u >= 0x7f)
			return false;
	return true;
}

static int add_endpoints(struct etcd_config *c, const char *list, char *why,
			 size_t size)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return ETCD_E_NOMEM;
	for (tok = strtok_r(copy, ", \t", &save); tok && r == 0;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if ((strncmp(tok, "http://", 7) != 0 &&
		     strncmp(tok, "https://", 8) != 0) || strlen(tok) >= URL_MAX ||
		    !url_printable(tok))
			r = config_error(why, size, "invalid endpoint '%s': "
					 "expected http://HOST:PORT or https://HOST:PORT",
					 esc(tok));
		else if (c->nendpoints == ETCD_MAX_ENDPOINTS)
			r = config_error(why, size, "more than %d endpoints",
					 ETCD_MAX_ENDPOINTS);
		else if (!(c->endpoints[c->nendpoints++] = strdup(tok)))
			r = ETCD_E_NOMEM;
	}
	free(copy);
	if (r == 0 && c->nendpoints == 0)
		r = config_error(why, size, "no etcd endpoint in '%s'",
				 esc(list));
	return r;
}

/* Reads at most CONFIG_MAX bytes of a regular file. */
static int read_small_file(const char *path, char **out, char *why, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	ssize_t n;
	char *buf;

	if (fd < 0)
		return config_error(why, size, "%s: %s", esc(path), strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= CONFIG_MAX) {
		close(fd);
		return config_error(why, size, "%s: %s", esc(path),
				    "not a regular file of at most 64 KiB");
	}
	if (!(buf = malloc(CONFIG_MAX))) {
		close(fd);
		return ETCD_E_NOMEM;
	}
	n = read(fd, buf, CONFIG_MAX - 1);
	close(fd);
	if (n < 0) {
		free(buf);
		return config_error(why, size, "%s: %s", esc(path), strerror(errno));
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static char **config_field(struct etcd_config *c, const char *k)
{
	if (strcmp(k, "cacert") == 0) return &c->cacert;
	if (strcmp(k, "cert") == 0) return &c->cert;
	if (strcmp(k, "key") == 0) return &c->key;
	if (strcmp(k, "user") == 0) return &c->user;
	if (strcmp(k, "password") == 0) return &c->password;
	return NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* "key = value" lines; '#' starts a comment line.  Endpoints from the
 * file count only when neither --etcd nor the environment gave some. */
static int parse_config(struct etcd_config *c, const char *path, char *text,
			bool want_endpoints, char *why, size_t size)
{
	char *save = NULL, *line;
	int lineno = 0, r = 0;

	for (line = strtok_r(text, "\n", &save); line && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v, **field, num[16];
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		snprintf(num, sizeof(num), "%d", lineno);
		if (!(eq = strchr(line, '=')))
			return config_error(why, size, "%s:%s: expected key = value",
					    esc(path), num);
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (strcmp(k, "endpoints") == 0) {
			if (want_endpoints)
				r = add_endpoints(c, v, why, size);
		} else if ((field = config_field(c, k))) {
			free(*field);
			if (!(*field = strdup(v)))
				r = ETCD_E_NOMEM;
		} else {
			return config_error(why, size, "%s: unknown key '%s'",
					    esc(path), esc(k));
		}
	}
	return r;
}

int etcd_config_load(struct etcd_config *c, const char *urls, char *why,
		     size_t size)
{
	const char *env = getenv("LOCKRUN_ETCD_ENDPOINTS");
	const char *path = getenv("LOCKRUN_ETCD_CONFIG");
	char *text = NULL;
	int r = 0;

	memset(c, 0, sizeof(*c));
	if (urls && *urls)
		r = add_endpoints(c, urls, why, size);
	else if (env && *env)
		r = add_endpoints(c, env, why, size);
	if (r == 0 && (path && *path ? 1 : access(ETCD_CONFIG_DEFAULT, F_OK) == 0)) {
		if (!path || !*path)
			path = ETCD_CONFIG_DEFAULT;
		r = read_small_file(path, &text, why, size);
		if (r == 0)
			r = parse_config(c, path, text, c->nendpoints == 0, why, size);
		free(text);
	}
	if (r == 0 && c->nendpoints == 0)
		r = config_error(why, size, "no etcd endpoint: give --etcd URL, "
				 "LOCKRUN_ETCD_ENDPOINTS or endpoints in %s",
				 path && *path ? esc(path) : ETCD_CONFIG_DEFAULT);
	if (r == 0 && c->password && !c->user)
		r = config_error(why, size, "a password without a user");
	if (r == ETCD_E_NOMEM)
		snprintf(why, size, "out of memory");
	return r;
}

void etcd_config_free(struct etcd_config *c)
{
	for (size_t i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->cacert);
	free(c->cert);
	free(c->key);
	free(c->user);
	free(c->password);
	memset(c, 0, sizeof(*c));
}
