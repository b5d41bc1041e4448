/* SPDX-License-Identifier: MIT */
/*
 * Paths and names.  A lock is acted on through its directory's descriptor
 * and its last component, so that every step after opening the directory
 * is immune to a swapped path component.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int pidlock__split_path(const char *path, char **dir, char **base)
{
	const char *slash;
	size_t len = strnlen(path, PATH_MAX);
	int r = 0;

	*dir = *base = NULL;
	if (len == 0)
		return -ENOENT;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	if (path[len - 1] == '/')
		return -EISDIR;
	slash = strrchr(path, '/');
	*base = strdup(slash ? slash + 1 : path);
	if (!slash)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	if (!*dir || !*base)
		r = -ENOMEM;
	else if (strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		r = -EISDIR;
	else if (strlen(*base) > NAME_MAX)
		r = -ENAMETOOLONG;
	if (r < 0) {
		free(*dir);
		free(*base);
		*dir = *base = NULL;
	}
	return r;
}

int pidlock__open_dir(const char *dir, int *dirfd, struct stat *st)
{
	int fd = openat(AT_FDCWD, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*dirfd = fd;
	return 0;
}

static bool dir_usable(const char *dir)
{
	return dir && dir[0] == '/' && access(dir, W_OK | X_OK) == 0;
}

PIDLOCK_PUBLIC
int pidlock_dir(char *buf, size_t size)
{
	const char *dir = getenv("PIDLOCK_DIR");

	if (!dir || !dir[0]) {
		const char *tmp = getenv("TMPDIR");
		if (geteuid() == 0 && dir_usable("/run/lock"))
			dir = "/run/lock";
		else if (geteuid() != 0 && dir_usable(getenv("XDG_RUNTIME_DIR")))
			dir = getenv("XDG_RUNTIME_DIR");
		else
			dir = tmp && tmp[0] == '/' ? tmp : "/tmp";
	}
	if (strlcpy(buf, dir, size) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static bool name_valid(const char *name)
{
	size_t len = strnlen(name, PIDLOCK_NAME_MAX + 1);

	/* The temporary files' prefix is reserved: cleaners remove those. */
	return len > 0 && len <= PIDLOCK_NAME_MAX && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strncmp(name, PIDLOCK_TMP_PREFIX, strlen(PIDLOCK_TMP_PREFIX)) != 0;
}

PIDLOCK_PUBLIC
int pidlock_name_path(const char *name, char *buf, size_t size)
{
	char dir[PATH_MAX];
	int r;

	if (!name || !name_valid(name))
		return -EINVAL;
	r = pidlock_dir(dir, sizeof(dir));
	if (r < 0)
		return r;
	r = snprintf(buf, size, "%s%s%s.lock", dir,
		     dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : 0;
}
