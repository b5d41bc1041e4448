# SPDX-License-Identifier: MIT
"""pidlock: locks that say who holds them, for Python.

A binding of libpidlock (see pidlock(3)): a lock file is a pidfile whose
flock(2) lock is the truth.  Waiting sleeps in the kernel (no polling), a
holder that died or whose PID was reused is recovered at once, and a busy
lock says who holds it::

    import pidlock

    with pidlock.Lock("backup", timeout=5) as lk:
        ...                      # only one "backup" runs at a time

    try:
        with pidlock.Lock(path="/run/lock/app.lock", timeout=0):
            ...
    except pidlock.Busy as e:
        print(f"held by {e.command} ({e.pid}) since {e.since}")

Ctrl-C (KeyboardInterrupt) ends a wait at once, with nothing held.
"""

import dataclasses
import datetime
import errno
import functools
import os
import threading
import weakref
from typing import Callable, List, Optional, TypeVar

from . import _pidlock

__all__ = [
    "Lock", "Busy", "Timeout", "Refused", "Holder", "KernelHolder",
    "LockInfo", "inspect", "locked", "name_path", "library_version",
]

#: The refusal codes of pidlock(3) (positive; above the errno range).
ESYMLINK = _pidlock.PIDLOCK_ESYMLINK
EISDIR = _pidlock.PIDLOCK_EISDIR
ENOTREG = _pidlock.PIDLOCK_ENOTREG
EHARDLINK = _pidlock.PIDLOCK_EHARDLINK
EWRITABLE = _pidlock.PIDLOCK_EWRITABLE
EDIRUNSAFE = _pidlock.PIDLOCK_EDIRUNSAFE
EOWNER = _pidlock.PIDLOCK_EOWNER
ENOTOURS = _pidlock.PIDLOCK_ENOTOURS

__version__ = _pidlock.HEADER_VERSION


def library_version() -> str:
    """The version of the libpidlock this module runs with."""
    return _pidlock.version()


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as its record and the kernel say.

    ``pid`` is the process to name: one the kernel lock proves holds the
    file (0 when none can be named).  ``command``, ``since`` (an aware
    datetime, or None), ``host`` and ``message`` come from the record.
    """
    pid: int
    command: str
    since: Optional[datetime.datetime]
    host: str
    message: str
    uid: Optional[int]


@dataclasses.dataclass(frozen=True)
class KernelHolder:
    """A process holding or waiting for the kernel lock on a file."""
    pid: int
    uid: Optional[int]
    exclusive: bool
    waiting: bool
    flock: bool


@dataclasses.dataclass(frozen=True)
class LockInfo:
    """What pidlock.inspect() found: lockstat(1)'s view of one file.

    ``state`` is one of "none", "free", "live", "live-inherited", "stale",
    "reused", "foreign", "remote", "corrupt", "unsafe", "unknown";
    ``type`` one of "pidlock", "plain", "flock", "-".
    """
    path: str
    state: str
    type: str
    reason: str
    pid: int
    live_pid: int
    holder: Optional[Holder]
    holders: List[KernelHolder]
    netfs: bool
    doubts: int

    @property
    def held(self) -> bool:
        """True when a process holds the lock."""
        return self.state in ("live", "live-inherited")


_UID_UNKNOWN = 0xFFFFFFFF


def _holder(info: dict) -> Optional[Holder]:
    rec = info["record"]
    if info["state"] == "none" or (rec is None and not info["live_pid"]):
        return None
    rec = rec or {}
    when = rec.get("time") if info["has_record"] else None
    uid = rec.get("uid") if info["has_record"] else None
    return Holder(
        pid=info["live_pid"] or info["pid"],
        command=rec.get("comm", ""),
        since=(datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
               if when else None),
        host=rec.get("host", ""),
        message=rec.get("message", ""),
        uid=uid,
    )


def _info(path: str, info: dict) -> LockInfo:
    return LockInfo(
        path=path, state=info["state"], type=info["type"],
        reason=info["reason"], pid=info["pid"], live_pid=info["live_pid"],
        holder=_holder(info),
        holders=[KernelHolder(pid=h["pid"],
                              uid=None if h["uid"] == _UID_UNKNOWN else h["uid"],
                              exclusive=h["exclusive"], waiting=h["waiting"],
                              flock=h["flock"]) for h in info["holders"]],
        netfs=info["netfs"], doubts=info["doubts"],
    )


class _HolderMixin:
    """Attributes of a refusal that names the holder."""
    holder: Optional[Holder]
    info: Optional[LockInfo]

    def _set_holder(self, info: Optional[LockInfo]) -> None:
        self.info = info
        self.holder = info.holder if info else None
        h = self.holder
        self.pid = h.pid if h else None
        self.command = h.command if h else None
        self.since = h.since if h else None
        self.host = h.host if h else None
        self.message = h.message if h else None


class Busy(_HolderMixin, BlockingIOError):
    """The lock is held by another process (timeout 0).

    ``pid``, ``command``, ``since``, ``host`` and ``message`` describe the
    holder when it can be named (else None); ``info`` is the LockInfo.
    """

    def __init__(self, path: str, info: Optional[LockInfo]):
        super().__init__(errno.EWOULDBLOCK, _describe("held", info), path)
        self._set_holder(info)


class Timeout(_HolderMixin, TimeoutError):
    """The wait ran out; nothing is held.  The holder as in Busy."""

    def __init__(self, path: str, info: Optional[LockInfo]):
        super().__init__(errno.ETIMEDOUT,
                         _describe("timed out waiting; held", info), path)
        self._set_holder(info)


class Refused(OSError):
    """A hostile place: a symlink, FIFO, world-writable file, a file of an
    untrusted owner...  ``errno`` is one of the refusal codes (ESYMLINK...,
    never a system errno value); ``strerror`` says which.
    """


def _describe(what: str, info: Optional[LockInfo]) -> str:
    h = info.holder if info else None
    if not h or not h.pid:
        return what
    text = f"{what} by {h.command or 'PID'} ({h.pid})"
    if h.host:
        text += f" on {h.host}"
    if h.since:
        text += f" since {h.since.isoformat(timespec='seconds')}"
    if h.message:
        text += f": {h.message}"
    return text


def _error(code: int, path: Optional[str]) -> OSError:
    """An exception for a library code (negative)."""
    err = -code
    text = _pidlock.strerror(code)
    if err >= _pidlock.PIDLOCK_EBASE:
        return Refused(err, text, path)
    return OSError(err, text, path)  # OSError picks the subclass by errno


def _timeout_ms(timeout: Optional[float]) -> int:
    if timeout is None or timeout < 0:
        return _pidlock.PIDLOCK_WAIT_FOREVER
    if timeout == 0:
        return _pidlock.PIDLOCK_NO_WAIT
    return max(1, min(int(timeout * 1000 + 0.999), 2**31 - 1))


# Every Lock of this process, so that a fork child can let go of the
# copies of those held, without touching the parent's lock (see Lock).
# Whether one is held is the C handle's word (its descriptor), not a flag
# set after acquire() returns: a fork, or a KeyboardInterrupt raised as
# the acquire returns, can come between the two.
_locks: "weakref.WeakSet[Lock]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_locks):
        if lock._handle is not None and lock._handle.fd() >= 0:
            lock._forked_copy()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Lock:
    """An inter-process lock, by name or by path.

    ``Lock("backup")`` is the lock named backup in the lock directory
    (/run/lock as root, else /tmp/pidlock-UID; $PIDLOCK_DIR overrides);
    ``Lock(path="/some/dir/app.lock")`` a lock file anywhere.

    ``timeout`` (seconds) is how long acquire() waits: None (the default)
    or a negative number waits for ever, 0 does not wait.  ``shared``
    takes a shared lock (excludes exclusive holders only; no record).
    ``message`` is recorded for lockstat(1) and Busy.message.

    Used as a context manager it is acquired on entry and released on
    exit.  Locks are per Lock object, as flock(2) locks are per open file:
    two Lock objects for the same path exclude each other, in two
    processes or two threads alike.  One Lock object is not meant to be
    shared between threads.  A second acquire of a held object raises
    RuntimeError (it does not count).

    Signals: the wait sleeps in the kernel with the GIL released.  A
    signal whose Python handler raises (SIGINT: KeyboardInterrupt) ends it
    at once with nothing held.  Python runs handlers in the main thread
    only, so only a wait in the main thread is interrupted; a wait in
    another thread goes on (give it a timeout).

    fork: the child inherits the lock (it shares the open file, as with
    flock(2)); the lock is freed when parent and child have both let go.
    In the child a held Lock becomes a copy that release() and the
    context manager's exit drop without releasing the parent's lock.
    exec: the descriptor is close-on-exec, the lock is not passed on.
    """

    def __init__(self, name: Optional[str] = None, *, path: Optional[str] = None,
                 timeout: Optional[float] = None, shared: bool = False,
                 message: Optional[str] = None):
        if (name is None) == (path is None):
            raise TypeError("Lock() takes a name or path=, exactly one")
        code, handle = _pidlock.new(name, os.fspath(path) if path is not None else None)
        if code < 0:
            if name is not None and code == -errno.EINVAL:
                raise ValueError(f"{name!r}: invalid lock name (a path? use path=)")
            raise _error(code, name if path is None else os.fspath(path))
        self._handle = handle
        self._timeout = timeout
        self._shared = shared
        self._forked = False
        self._guard = threading.Lock()
        _locks.add(self)
        if message is not None:
            self._check(handle.set_message(message))

    def _check(self, code: int) -> None:
        if code < 0:
            if code == -errno.EINVAL or code == -errno.E2BIG:
                raise ValueError(_pidlock.strerror(code))
            raise _error(code, self.path)

    @property
    def path(self) -> str:
        """The lock file's path."""
        return self._handle.path() if self._handle else ""

    @property
    def _held(self) -> bool:
        return self._handle is not None and self._handle.fd() >= 0

    @property
    def is_locked(self) -> bool:
        """True while this object holds the lock."""
        return self._held

    @property
    def recovered(self) -> bool:
        """True when the last acquire() broke a stale lock (its holder
        died, or its PID was reused): what was protected may be half
        done.  previous_holder says who that was."""
        return self._handle.recovered() if self._handle else False

    @property
    def previous_holder(self) -> Optional[Holder]:
        """The dead holder of a recovered lock, else None."""
        if not self.recovered:
            return None
        return _holder(self._handle.holder())

    def fileno(self) -> int:
        """The locked descriptor, or -1 when not held."""
        return self._handle.fd() if self._handle else -1

    def acquire(self, timeout: Optional[float] = ..., blocking: bool = True) -> "Lock":
        """Take the lock; returns self.

        ``timeout`` overrides the constructor's; ``blocking=False`` is
        timeout 0.  Raises Busy (timeout 0), Timeout, Refused, OSError,
        or KeyboardInterrupt (Ctrl-C during the wait: nothing is held).
        """
        if timeout is ...:
            timeout = self._timeout
        if not blocking:
            timeout = 0
        if self._forked:
            raise RuntimeError("this Lock is a fork child's copy of the parent's")
        if self._held:
            raise RuntimeError(f"{self.path}: already held by this Lock")
        flags = _pidlock.PIDLOCK_SHARED if self._shared else 0
        with self._guard:
            code = self._handle.acquire(flags, _timeout_ms(timeout))
        if code == 0:
            return self
        if code == -errno.EWOULDBLOCK:
            raise Busy(self.path, _info(self.path, self._handle.holder()))
        if code == -errno.ETIMEDOUT:
            raise Timeout(self.path, _info(self.path, self._handle.holder()))
        if code == -errno.EDEADLK:
            raise RuntimeError(f"{self.path}: this thread already holds it "
                               "through another Lock")
        raise _error(code, self.path)

    def release(self) -> None:
        """Let go: the record is emptied while still held, then unlocked.

        Raises Refused (ENOTOURS) if someone replaced the file meanwhile;
        the lock is released anyway.  In a fork child, drops the child's
        copy only.
        """
        if self._forked or not self._held:
            return
        with self._guard:
            code = self._handle.release()
        if code < 0 and code != -errno.EWOULDBLOCK:
            raise _error(code, self.path)

    def update(self, pid: int) -> None:
        """Name pid on line 1 of the record (a child that runs the work
        and inherited the descriptor); 0 or os.getpid() names us again."""
        if not self._held:
            raise RuntimeError(f"{self.path}: not held")
        self._check(self._handle.update(pid))

    def _forked_copy(self) -> None:
        self._forked = True
        self._handle.forget()
        self._handle = None

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self._held else "not held"
        return f"<pidlock.Lock {self.path!r} {state}>"


def inspect(path: "os.PathLike[str] | str") -> LockInfo:
    """Judge the lock file at path without taking its lock (lockstat(1))."""
    p = os.fspath(path)
    code, info = _pidlock.inspect(p)
    if code < 0:
        raise _error(code, p)
    return _info(p, info)


def name_path(name: str) -> str:
    """The path of the lock called name (created directory included)."""
    code, path = _pidlock.name_path(name)
    if code < 0:
        raise _error(code, name) if code != -errno.EINVAL \
            else ValueError(f"{name!r}: invalid lock name")
    return path


F = TypeVar("F", bound=Callable)


def locked(name: Optional[str] = None, *, path: Optional[str] = None,
           timeout: Optional[float] = None, shared: bool = False) -> Callable[[F], F]:
    """Decorator: run the function while holding the lock (like fasteners'
    interprocess_locked).  Each call takes a Lock of its own, so that
    calls from several threads exclude each other too::

        @pidlock.locked("nightly-report", timeout=60)
        def report(): ...
    """
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with Lock(name, path=path, timeout=timeout, shared=shared):
                return fn(*args, **kwargs)
        return run  # type: ignore[return-value]
    return wrap
