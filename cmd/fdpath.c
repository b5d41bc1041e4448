/* SPDX-License-Identifier: MIT */
/*
 * lockstat -a: which path names a file some process holds locked.
 * /proc/locks gives only device and inode numbers; the holder's
 * descriptors in /proc/PID/fd give the name.  See fdpath.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpath.h"

/*
 * An inode created with O_TMPFILE and linked in later keeps the name
 * "/dir/#12345 (deleted)" in /proc/PID/fd: look the inode up in /dir.
 * The last directory's listing is kept (lockstat -a asks about many files
 * of one directory), and readdir's d_ino picks the candidate, so a lookup
 * costs one fstatat; where d_ino cannot be trusted (some overlay setups),
 * every entry is checked.
 */
struct dir_entry {
	ino_t ino;
	char *name;
};

static struct {
	char *path;
	struct dir_entry *v;
	size_t n;
} listing;

static void forget_listing(void)
{
	for (size_t i = 0; i < listing.n; i++)
		free(listing.v[i].name);
	free(listing.v);
	free(listing.path);
	memset(&listing, 0, sizeof(listing));
}

static void read_listing(const char *path)
{
	struct dir_entry *v;
	struct dirent *d;
	DIR *dp;

	if (listing.path && strcmp(listing.path, path) == 0)
		return;
	forget_listing();
	if (!(listing.path = strdup(path)) || !(dp = opendir(path)))
		return;
	while ((d = readdir(dp)) != NULL) {
		if (!(v = reallocarray(listing.v, listing.n + 1, sizeof(*v))))
			break;
		listing.v = v;
		if (!(v[listing.n].name = strdup(d->d_name)))
			break;
		v[listing.n++].ino = d->d_ino;
	}
	closedir(dp);
}

static bool is_inode(const char *dir, const char *name, dev_t dev, ino_t ino)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static const char *find_in_dir(const char *dir, dev_t dev, ino_t ino)
{
	read_listing(dir);
	for (int by_d_ino = 1; by_d_ino >= 0; by_d_ino--)
		for (size_t i = 0; i < listing.n; i++)
			if ((!by_d_ino || listing.v[i].ino == ino) &&
			    is_inode(dir, listing.v[i].name, dev, ino))
				return listing.v[i].name;
	return NULL;
}

static int name_in_dir(char *path, dev_t dev, ino_t ino, size_t size)
{
	static const char deleted[] = " (deleted)";
	size_t len = strlen(path), dl = sizeof(deleted) - 1, dirlen;
	char *slash = strrchr(path, '/');
	const char *name;

	if (len < dl || strcmp(path + len - dl, deleted) != 0)
		return 0;
	if (!slash)
		return -1;
	*slash = '\0';
	name = find_in_dir(path[0] ? path : "/", dev, ino);
	dirlen = strlen(path);
	if (!name || dirlen + 1 + strlen(name) >= size)
		return -1;
	path[dirlen] = '/';
	strcpy(path + dirlen + 1, name);
	return 0;
}

/*
 * The open files of the processes asked about, each read from /proc once:
 * lockstat -a asks for every lock, and a process holding 1,000 locks would
 * otherwise have its 1,000 descriptors stat'ed 1,000 times.
 */
struct open_file {
	dev_t dev;
	ino_t ino;
	int fd;
	bool linked; /* st_nlink > 0: the file has a name somewhere */
};

static struct fd_table {
	pid_t pid;
	struct open_file *v;
	size_t n;
} *tables;
static size_t ntables;

static struct fd_table *read_fd_table(pid_t pid)
{
	struct fd_table *t, *grown;
	char dir[32], link[64];
	struct dirent *d;
	struct stat st;
	DIR *dp;

	for (size_t i = 0; i < ntables; i++)
		if (tables[i].pid == pid)
			return &tables[i];
	grown = reallocarray(tables, ntables + 1, sizeof(*tables));
	if (!grown)
		return NULL;
	tables = grown;
	t = &tables[ntables++];
	*t = (struct fd_table){ pid, NULL, 0 };
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (!(dp = opendir(dir)))
		return t;
	while ((d = readdir(dp)) != NULL) {
		const char *err = NULL;
		int fd = (int)strtonum(d->d_name, 0, INT_MAX, &err);
		struct open_file *v;
		if (err)
			continue;
		snprintf(link, sizeof(link), "%s/%d", dir, fd);
		if (stat(link, &st) < 0)
			continue;
		if (!(v = reallocarray(t->v, t->n + 1, sizeof(*v))))
			break;
		t->v = v;
		t->v[t->n++] = (struct open_file){ st.st_dev, st.st_ino, fd,
						   st.st_nlink > 0 };
	}
	closedir(dp);
	return t;
}

void forget_locked_paths(void)
{
	forget_listing();
	for (size_t i = 0; i < ntables; i++)
		free(tables[i].v);
	free(tables);
	tables = NULL;
	ntables = 0;
}

int find_locked_path(pid_t pid, dev_t dev, ino_t ino, char *buf, size_t size)
{
	struct fd_table *t;
	char link[64];

	if (pid <= 0 || !(t = read_fd_table(pid)))
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		ssize_t n;
		if (t->v[i].dev != dev || t->v[i].ino != ino)
			continue;
		/* No name anywhere: no directory to search (see fdpath.h). */
		if (!t->v[i].linked)
			return -ENOENT;
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, t->v[i].fd);
		n = readlink(link, buf, size - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (name_in_dir(buf, dev, ino, size) == 0)
			return 0;
	}
	return -1;
}
