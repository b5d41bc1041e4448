# SPDX-License-Identifier: MIT
"""Helpers of the pidlock Python suite: real processes that hold or wait
for locks, coordinated through pipes and /proc/locks, never sleeps."""

import os
import subprocess
import sys
import time

import pytest

#: How long a wait for another process may take before it is called a
#: hang: a bound, never a measure.
DEADLINE = 60.0


def python(script, *args, **kwargs):
    """A child Python running script (with this package importable)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


HOLD = """
import sys, pidlock
lk = pidlock.Lock(path=sys.argv[1], shared=sys.argv[2] == "shared",
                  message=sys.argv[3])
lk.acquire(timeout=0)
print("held", flush=True)
sys.stdin.read()          # until the test closes our stdin
lk.release()
print("released", flush=True)
"""


class Holder:
    """A child process that holds a lock until stop()."""

    def __init__(self, path, shared=False, message="held by a test"):
        self.proc = python(HOLD, str(path), "shared" if shared else "x", message)
        line = self.proc.stdout.readline()
        if line != "held\n":
            raise AssertionError(f"holder: {line!r} {self.proc.stderr.read()}")
        self.pid = self.proc.pid

    def stop(self):
        self.proc.stdin.close()
        assert self.proc.stdout.readline() == "released\n"
        assert self.proc.wait(DEADLINE) == 0

    def kill(self):
        self.proc.kill()
        self.proc.wait(DEADLINE)


def wait_until(cond, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)


def waits_in_flock(pid, path):
    """Does pid have a blocked lock request on path (/proc/locks '->')?"""
    ino = os.stat(path).st_ino
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 5 and fields[1] == "->" and fields[5] == str(pid) \
                    and fields[6].rsplit(":", 1)[-1] == str(ino):
                return True
    return False


@pytest.fixture
def lockpath(tmp_path):
    return str(tmp_path / "test.lock")
