# SPDX-License-Identifier: MIT
"""The pidlock Python package against real processes."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import pidlock
from conftest import DEADLINE, Holder, python, wait_until, waits_in_flock


def record_pid(path):
    with open(path) as f:
        return int(f.readline())


def test_version():
    assert pidlock.library_version() == pidlock.__version__


def test_with_holds_and_releases(lockpath):
    with pidlock.Lock(path=lockpath, timeout=5) as lk:
        assert lk.is_locked
        assert record_pid(lockpath) == os.getpid()
        info = pidlock.inspect(lockpath)
        assert info.state == "live" and info.held
        assert info.holder.pid == os.getpid()
        assert not lk.recovered and lk.previous_holder is None
    assert not lk.is_locked
    assert pidlock.inspect(lockpath).state in ("none", "free")


def test_busy_names_the_holder(lockpath):
    h = Holder(lockpath, message="nightly backup")
    try:
        with pytest.raises(pidlock.Busy) as e:
            pidlock.Lock(path=lockpath, timeout=0).acquire()
        assert isinstance(e.value, BlockingIOError)
        assert e.value.errno == errno.EWOULDBLOCK
        assert e.value.pid == h.pid
        assert e.value.command.startswith("python")
        assert e.value.message == "nightly backup"
        assert e.value.host == os.uname().nodename[:64]
        assert abs(e.value.since.timestamp() - time.time()) < 3600
        assert str(h.pid) in str(e.value)
        with pytest.raises(BlockingIOError):  # blocking=False, as fasteners
            pidlock.Lock(path=lockpath).acquire(blocking=False)
    finally:
        h.stop()


def test_timeout_raises_timeouterror_holding_nothing(lockpath):
    h = Holder(lockpath)
    try:
        lk = pidlock.Lock(path=lockpath, timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as e:
            lk.acquire()
        assert time.monotonic() - t0 >= 0.2
        assert isinstance(e.value, pidlock.Timeout)
        assert e.value.pid == h.pid
        assert not lk.is_locked and lk.fileno() == -1
    finally:
        h.stop()


def test_waiter_gets_the_lock_when_the_holder_lets_go(lockpath):
    h = Holder(lockpath)
    got = []

    def wait():
        with pidlock.Lock(path=lockpath):
            got.append(record_pid(lockpath))

    t = threading.Thread(target=wait)
    t.start()
    wait_until(lambda: waits_in_flock(os.getpid(), lockpath), "thread waits")
    h.stop()
    t.join(DEADLINE)
    assert got == [os.getpid()]


def test_gil_is_released_while_waiting(lockpath):
    h = Holder(lockpath)
    t = threading.Thread(target=lambda: pidlock.Lock(path=lockpath).acquire().release())
    t.start()
    try:
        wait_until(lambda: waits_in_flock(os.getpid(), lockpath), "thread waits")
        # this thread keeps running Python while the other sleeps in flock
        n = sum(range(100000))
        assert n and t.is_alive()
    finally:
        h.stop()
        t.join(DEADLINE)


def test_recovers_a_dead_holder(lockpath):
    h = Holder(lockpath)
    h.kill()
    assert pidlock.inspect(lockpath).state == "stale"
    with pidlock.Lock(path=lockpath, timeout=0) as lk:
        assert lk.recovered
        assert lk.previous_holder.pid == h.pid
        assert lk.previous_holder.message == "held by a test"


def test_shared_locks(lockpath):
    h = Holder(lockpath, shared=True)
    try:
        with pidlock.Lock(path=lockpath, shared=True, timeout=0):
            pass
        with pytest.raises(pidlock.Busy):
            pidlock.Lock(path=lockpath, timeout=0).acquire()
    finally:
        h.stop()


def test_update_names_a_child(lockpath):
    child = subprocess.Popen(["sleep", "60"])
    try:
        with pidlock.Lock(path=lockpath) as lk:
            lk.update(child.pid)
            assert record_pid(lockpath) == child.pid
            lk.update(0)
            assert record_pid(lockpath) == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_names(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDLOCK_DIR", str(tmp_path))
    assert pidlock.name_path("job") == str(tmp_path / "job.lock")
    with pidlock.Lock("job") as lk:
        assert lk.path == str(tmp_path / "job.lock")
    with pytest.raises(ValueError):
        pidlock.Lock("a/b")
    with pytest.raises(TypeError):
        pidlock.Lock()


def test_refusal_is_not_an_errno(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    link = tmp_path / "link.lock"
    link.symlink_to(target)
    with pytest.raises(pidlock.Refused) as e:
        pidlock.Lock(path=str(link), timeout=0).acquire()
    assert e.value.errno == pidlock.ESYMLINK != errno.ELOOP
    assert "symbolic link" in e.value.strerror


def test_inspect_states(lockpath):
    assert pidlock.inspect(lockpath).state == "none"
    with open(lockpath, "w"):
        pass
    info = pidlock.inspect(lockpath)
    assert info.state == "free" and info.holder is None and not info.held


def test_decorator_runs_under_the_lock(lockpath):
    @pidlock.locked(path=lockpath, timeout=5)
    def work(x):
        """doc"""
        assert pidlock.inspect(lockpath).holder.pid == os.getpid()
        return x * 2

    assert work(21) == 42
    assert work.__doc__ == "doc"
    assert pidlock.inspect(lockpath).state in ("none", "free")


def test_threads_exclude_each_other(lockpath):
    inside, overlap = [0], []

    def worker():
        for _ in range(50):
            with pidlock.Lock(path=lockpath):
                inside[0] += 1
                overlap.append(inside[0])
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert overlap == [1] * 200


def test_fork_child_does_not_release_the_parent_s_lock(lockpath):
    lk = pidlock.Lock(path=lockpath).acquire()
    pid = os.fork()
    if pid == 0:
        try:
            lk.release()          # drops the child's copy only
            lk.acquire(timeout=0)  # a copy cannot be taken again
        except RuntimeError:
            os._exit(0)
        except BaseException:
            os._exit(2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert record_pid(lockpath) == os.getpid()
    assert pidlock.inspect(lockpath).state == "live"
    lk.release()


COUNT = """
import sys, pidlock
for _ in range(int(sys.argv[2])):
    with pidlock.Lock(path=sys.argv[1]):
        with open(sys.argv[1] + ".count") as f:
            n = int(f.read())
        with open(sys.argv[1] + ".count", "w") as f:
            f.write(str(n + 1))
"""


def test_processes_count_under_the_lock(lockpath):
    """filelock's and fasteners' usual example: processes share a file."""
    with open(lockpath + ".count", "w") as f:
        f.write("0")
    procs = [python(COUNT, lockpath, "50") for _ in range(4)]
    for p in procs:
        assert p.wait(DEADLINE) == 0, p.stderr.read()
    with open(lockpath + ".count") as f:
        assert f.read() == "200"


WAIT_INTERRUPTED = """
import signal, sys, time, pidlock
# Python leaves SIGINT ignored when it starts with it ignored (a suite run
# in the background, as CI may be): Ctrl-C's handler, as a terminal has it.
signal.signal(signal.SIGINT, signal.default_int_handler)
lk = pidlock.Lock(path=sys.argv[1], timeout=float(sys.argv[2]))
try:
    lk.acquire()
    print("acquired")
except KeyboardInterrupt:
    print("interrupted", lk.is_locked, lk.fileno())
"""


@pytest.mark.parametrize("timeout", [-1, 600])
def test_ctrl_c_interrupts_a_wait_at_once(lockpath, timeout):
    h = Holder(lockpath)
    try:
        w = python(WAIT_INTERRUPTED, lockpath, str(timeout))
        wait_until(lambda: waits_in_flock(w.pid, lockpath), "the child waits")
        os.kill(w.pid, signal.SIGINT)
        out, err = w.communicate(timeout=DEADLINE)
        assert out == "interrupted False -1\n", err
        # nothing held or waiting is left, the holder still holds
        info = pidlock.inspect(lockpath)
        assert [k.pid for k in info.holders] == [h.pid]
        assert info.holder.pid == h.pid
    finally:
        h.stop()


REUSE = """
import json, os, signal, subprocess, sys, pidlock
path = sys.argv[1]
holder = subprocess.Popen([sys.executable, "-c", sys.argv[2], path, "x", "m"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert holder.stdout.readline() == "held\\n"
dead = holder.pid
holder.kill(); holder.wait()
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(dead - 1))
reuser = subprocess.Popen(["sleep", "60"])
state = pidlock.inspect(path).state
with pidlock.Lock(path=path, timeout=0) as lk:
    out = dict(dead=dead, reuser=reuser.pid, state=state,
               recovered=lk.recovered, previous=lk.previous_holder.pid)
reuser.kill(); reuser.wait()
print(json.dumps(out))
"""


def test_ctrl_c_as_the_acquire_returns_leaves_it_releasable(lockpath):
    # Python runs a pending handler as soon as the C call returns: a
    # KeyboardInterrupt can come after flock() succeeded, before acquire()
    # returns.  The Lock must then know it holds the lock, so that
    # release() (or the next process) is not stuck with it.
    lk = pidlock.Lock(path=lockpath)
    real = lk._handle

    class InterruptedOnReturn:
        def __getattr__(self, name):
            return getattr(real, name)

        def acquire(self, *args):
            assert real.acquire(*args) == 0
            raise KeyboardInterrupt

    lk._handle = InterruptedOnReturn()
    with pytest.raises(KeyboardInterrupt):
        lk.acquire()
    lk._handle = real
    assert lk.is_locked
    lk.release()
    assert not lk.is_locked
    with pidlock.Lock(path=lockpath, timeout=0):
        pass


def test_pid_reuse_as_root(lockpath):
    """The holder's PID belongs to another process: recovered, not busy."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1): a PID is reused on purpose "
                    "in a PID namespace of its own")
    from conftest import HOLD
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                        sys.executable, "-c", REUSE, lockpath, HOLD],
                       env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["reuser"] == out["dead"], out
    assert out["state"] == "reused"
    assert out["recovered"] and out["previous"] == out["dead"]
