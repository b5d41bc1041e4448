/* SPDX-License-Identifier: MIT */
/*
 * _pidlock: the thin C layer of the Python package over libpidlock.
 *
 * It holds a struct pidlock in a Handle, waits with the GIL released, and
 * turns the library's structs into dicts; everything idiomatic (the Lock
 * class, exceptions, dataclasses) is pidlock/__init__.py.  Errors come
 * back as the library's negative codes, which the Python layer maps, so
 * that the mapping is in one place; the only exception raised here is the
 * one a signal handler raises while we wait (KeyboardInterrupt).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <time.h>

#include <pidlock.h>

typedef struct {
	PyObject_HEAD
	struct pidlock *lock;
	int forked; /* a copy in a fork child: never release the parent's lock */
} Handle;

static PyObject *holder_dict(const struct pidlock_kernel_holder *h)
{
	return Py_BuildValue("{s:i,s:k,s:O,s:O,s:O}", "pid", (int)h->pid,
			     "uid", (unsigned long)h->uid,
			     "exclusive", h->exclusive ? Py_True : Py_False,
			     "waiting", h->waiting ? Py_True : Py_False,
			     "flock", h->flock ? Py_True : Py_False);
}

static PyObject *record_dict(const struct pidlock_record *r)
{
	/* comm, message and host are added by the caller (set_str) */
	return Py_BuildValue("{s:i,s:i,s:I,s:s,s:K,s:K,s:k,s:L,s:O}",
			     "pid", (int)r->pid, "holder", (int)r->holder,
			     "version", (unsigned)r->version, "boot_id", r->boot_id,
			     "start_time", (unsigned long long)r->start_time,
			     "pidns", (unsigned long long)r->pidns,
			     "uid", (unsigned long)r->uid, "time", (long long)r->time,
			     "keep", r->keep ? Py_True : Py_False);
}

/* Strings from files are free of control characters but may not be UTF-8:
 * surrogateescape keeps every byte (Py_BuildValue's "s" would fail). */
static int set_str(PyObject *d, const char *key, const char *value)
{
	PyObject *v = PyUnicode_DecodeFSDefault(value);
	int r;

	if (!v)
		return -1;
	r = PyDict_SetItemString(d, key, v);
	Py_DECREF(v);
	return r;
}

static PyObject *info_dict(const struct pidlock_info *info)
{
	PyObject *d, *rec = NULL, *holders;

	holders = PyList_New(0);
	if (!holders)
		return NULL;
	for (uint32_t i = 0; i < info->nholders && i < PIDLOCK_HOLDERS_MAX; i++) {
		PyObject *h = holder_dict(&info->holders[i]);
		if (!h || PyList_Append(holders, h) < 0) {
			Py_XDECREF(h);
			Py_DECREF(holders);
			return NULL;
		}
		Py_DECREF(h);
	}
	if (info->has_record || info->record.comm[0]) {
		rec = record_dict(&info->record);
		if (!rec || set_str(rec, "comm", info->record.comm) < 0 ||
		    set_str(rec, "message", info->record.message) < 0 ||
		    set_str(rec, "host", info->record.host) < 0) {
			Py_XDECREF(rec);
			Py_DECREF(holders);
			return NULL;
		}
	} else {
		rec = Py_NewRef(Py_None);
	}
	d = Py_BuildValue("{s:s,s:s,s:i,s:i,s:O,s:N,s:N,s:O,s:K,s:K,s:k,s:k,s:L,s:L,s:k}",
			  "state", pidlock_state_name(info->state),
			  "type", pidlock_type_name(info->type),
			  "pid", (int)info->pid, "live_pid", (int)info->live_pid,
			  "has_record", info->has_record ? Py_True : Py_False,
			  "record", rec, "holders", holders,
			  "netfs", info->netfs ? Py_True : Py_False,
			  "dev", (unsigned long long)info->dev,
			  "ino", (unsigned long long)info->ino,
			  "file_uid", (unsigned long)info->file_uid,
			  "file_mode", (unsigned long)info->file_mode,
			  "size", (long long)info->size, "mtime", (long long)info->mtime,
			  "doubts", (unsigned long)info->doubts);
	if (d && set_str(d, "reason", info->reason) < 0)
		Py_CLEAR(d);
	return d;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static Handle *handle_or_raise(PyObject *self)
{
	Handle *h = (Handle *)self;

	if (!h->lock) {
		PyErr_SetString(PyExc_ValueError, "the lock handle is closed");
		return NULL;
	}
	return h;
}

/*
 * acquire(flags, timeout_ms) -> 0 or a negative code.  The wait is
 * interruptible: a signal makes it return -EINTR, its Python handler runs
 * here (PyErr_CheckSignals), and if that raised (KeyboardInterrupt) the
 * exception propagates with nothing held; otherwise the wait goes on
 * for what is left of the timeout (PEP 475).
 */
static PyObject *handle_acquire(PyObject *self, PyObject *args)
{
	Handle *h = handle_or_raise(self);
	unsigned flags;
	int timeout, r;
	int64_t deadline;

	if (!h || !PyArg_ParseTuple(args, "Ii", &flags, &timeout))
		return NULL;
	deadline = timeout > 0 ? now_ms() + timeout : 0;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		r = pidlock_acquire(h->lock, flags | PIDLOCK_INTERRUPTIBLE, timeout);
		Py_END_ALLOW_THREADS
		if (r != -EINTR)
			break;
		if (PyErr_CheckSignals() < 0)
			return NULL;
		if (timeout > 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				r = -ETIMEDOUT;
				break;
			}
			timeout = (int)left;
		}
	}
	return PyLong_FromLong(r);
}

static PyObject *handle_release(PyObject *self, PyObject *unused)
{
	Handle *h = handle_or_raise(self);
	int r;

	(void)unused;
	if (!h)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = pidlock_release(h->lock);
	Py_END_ALLOW_THREADS
	return PyLong_FromLong(r);
}

static PyObject *handle_update(PyObject *self, PyObject *args)
{
	Handle *h = handle_or_raise(self);
	int pid;

	if (!h || !PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	return PyLong_FromLong(pidlock_update(h->lock, pid));
}

static PyObject *handle_set_message(PyObject *self, PyObject *args)
{
	Handle *h = handle_or_raise(self);
	const char *message;

	if (!h || !PyArg_ParseTuple(args, "s", &message))
		return NULL;
	return PyLong_FromLong(pidlock_set_message(h->lock, message));
}

static PyObject *handle_fd(PyObject *self, PyObject *unused)
{
	Handle *h = handle_or_raise(self);

	(void)unused;
	return h ? PyLong_FromLong(pidlock_fd(h->lock)) : NULL;
}

static PyObject *handle_path(PyObject *self, PyObject *unused)
{
	Handle *h = handle_or_raise(self);

	(void)unused;
	return h ? PyUnicode_DecodeFSDefault(pidlock_path(h->lock)) : NULL;
}

static PyObject *handle_recovered(PyObject *self, PyObject *unused)
{
	Handle *h = handle_or_raise(self);

	(void)unused;
	return h ? PyBool_FromLong(pidlock_recovered(h->lock)) : NULL;
}

static PyObject *handle_holder(PyObject *self, PyObject *unused)
{
	Handle *h = handle_or_raise(self);

	(void)unused;
	return h ? info_dict(pidlock_holder(h->lock)) : NULL;
}

/* In a fork child: the lock is the parent's too; forget it, untouched. */
static PyObject *handle_forget(PyObject *self, PyObject *unused)
{
	Handle *h = (Handle *)self;

	(void)unused;
	h->forked = 1;
	h->lock = NULL;
	Py_RETURN_NONE;
}

static void handle_dealloc(PyObject *self)
{
	Handle *h = (Handle *)self;

	if (h->lock && !h->forked)
		pidlock_free(h->lock);
	Py_TYPE(self)->tp_free(self);
}

static PyMethodDef handle_methods[] = {
	{ "acquire", handle_acquire, METH_VARARGS, "acquire(flags, timeout_ms) -> code" },
	{ "release", handle_release, METH_NOARGS, "release() -> code" },
	{ "update", handle_update, METH_VARARGS, "update(pid) -> code" },
	{ "set_message", handle_set_message, METH_VARARGS, "set_message(text) -> code" },
	{ "fd", handle_fd, METH_NOARGS, "the locked descriptor or -1" },
	{ "path", handle_path, METH_NOARGS, "the lock file's path" },
	{ "recovered", handle_recovered, METH_NOARGS, "broke a stale lock" },
	{ "holder", handle_holder, METH_NOARGS, "what the last acquire found (dict)" },
	{ "forget", handle_forget, METH_NOARGS, "drop without releasing (fork child)" },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject HandleType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pidlock._pidlock.Handle",
	.tp_basicsize = sizeof(Handle),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A libpidlock handle; use pidlock.Lock.",
	.tp_methods = handle_methods,
	.tp_dealloc = handle_dealloc,
};

/* new(name, path) -> (code, Handle or None): exactly one of them set. */
static PyObject *mod_new(PyObject *mod, PyObject *args)
{
	PyObject *name_obj, *path_obj, *bytes = NULL;
	struct pidlock *lock = NULL;
	Handle *h;
	int r;

	(void)mod;
	if (!PyArg_ParseTuple(args, "OO", &name_obj, &path_obj))
		return NULL;
	if (!PyUnicode_FSConverter(name_obj != Py_None ? name_obj : path_obj, &bytes))
		return NULL;
	if (name_obj != Py_None)
		r = pidlock_new_name(&lock, PyBytes_AS_STRING(bytes));
	else
		r = pidlock_new(&lock, PyBytes_AS_STRING(bytes));
	Py_DECREF(bytes);
	if (r < 0)
		return Py_BuildValue("(iO)", r, Py_None);
	h = PyObject_New(Handle, &HandleType);
	if (!h) {
		pidlock_free(lock);
		return NULL;
	}
	h->lock = lock;
	h->forked = 0;
	return Py_BuildValue("(iN)", 0, (PyObject *)h);
}

/* inspect(path) -> (code, dict or None) */
static PyObject *mod_inspect(PyObject *mod, PyObject *args)
{
	struct pidlock_info info;
	PyObject *bytes;
	int r;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &bytes))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = pidlock_inspect(PyBytes_AS_STRING(bytes), NULL, &info);
	Py_END_ALLOW_THREADS
	Py_DECREF(bytes);
	if (r < 0)
		return Py_BuildValue("(iO)", r, Py_None);
	return Py_BuildValue("(iN)", 0, info_dict(&info));
}

static PyObject *mod_name_path(PyObject *mod, PyObject *args)
{
	char buf[4096];
	const char *name;
	int r;

	(void)mod;
	if (!PyArg_ParseTuple(args, "s", &name))
		return NULL;
	r = pidlock_name_path(name, buf, sizeof(buf));
	if (r < 0)
		return Py_BuildValue("(iO)", r, Py_None);
	return Py_BuildValue("(iN)", 0, PyUnicode_DecodeFSDefault(buf));
}

static PyObject *mod_strerror(PyObject *mod, PyObject *args)
{
	int err;

	(void)mod;
	if (!PyArg_ParseTuple(args, "i", &err))
		return NULL;
	return PyUnicode_FromString(pidlock_strerror(err));
}

static PyObject *mod_version(PyObject *mod, PyObject *unused)
{
	(void)mod;
	(void)unused;
	return PyUnicode_FromString(pidlock_version());
}

static PyMethodDef mod_methods[] = {
	{ "new", mod_new, METH_VARARGS, "new(name, path) -> (code, Handle)" },
	{ "inspect", mod_inspect, METH_VARARGS, "inspect(path) -> (code, dict)" },
	{ "name_path", mod_name_path, METH_VARARGS, "name_path(name) -> (code, path)" },
	{ "strerror", mod_strerror, METH_VARARGS, "pidlock_strerror(code)" },
	{ "version", mod_version, METH_NOARGS, "the library's version" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_pidlock", "libpidlock, for pidlock/__init__.py",
	-1, mod_methods, NULL, NULL, NULL, NULL,
};

#define ADD_INT(m, name) \
	do { if (PyModule_AddIntConstant(m, #name, name) < 0) goto fail; } while (0)

PyMODINIT_FUNC PyInit__pidlock(void);

PyMODINIT_FUNC PyInit__pidlock(void)
{
	PyObject *m;

	if (PyType_Ready(&HandleType) < 0)
		return NULL;
	m = PyModule_Create(&module);
	if (!m)
		return NULL;
	ADD_INT(m, PIDLOCK_SHARED);
	ADD_INT(m, PIDLOCK_NO_RECORD);
	ADD_INT(m, PIDLOCK_UNLINK);
	ADD_INT(m, PIDLOCK_BREAK_REMOTE);
	ADD_INT(m, PIDLOCK_WAIT_FOREVER);
	ADD_INT(m, PIDLOCK_NO_WAIT);
	ADD_INT(m, PIDLOCK_ESYMLINK);
	ADD_INT(m, PIDLOCK_EISDIR);
	ADD_INT(m, PIDLOCK_ENOTREG);
	ADD_INT(m, PIDLOCK_EHARDLINK);
	ADD_INT(m, PIDLOCK_EWRITABLE);
	ADD_INT(m, PIDLOCK_EDIRUNSAFE);
	ADD_INT(m, PIDLOCK_EOWNER);
	ADD_INT(m, PIDLOCK_ENOTOURS);
	ADD_INT(m, PIDLOCK_EBASE);
	if (PyModule_AddStringConstant(m, "HEADER_VERSION", PIDLOCK_VERSION_STRING) < 0)
		goto fail;
	Py_INCREF(&HandleType);
	if (PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0) {
		Py_DECREF(&HandleType);
		goto fail;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
