#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers for tests/tools/test-jobs.sh: what a shell cannot see or do.

  jobctl.py status OUT CMD...
      runs CMD (default signal dispositions) and writes how it ended to OUT:
      "exit N" or "signal N" (a shell's $? cannot tell 143 from SIGTERM).
  jobctl.py pty OUT [--intr FILE] CMD...
      runs CMD as the session leader of a new pseudo-terminal (its
      controlling terminal, CMD in its foreground process group); with
      --intr, types ^C once FILE exists.  Writes the terminal's output to
      OUT.log, then how CMD ended to OUT.  Gives up after 20 s ("timeout"),
      killing CMD's process group.
  jobctl.py siglog LOG SIG...
      blocks the signals SIG (names or numbers) and logs each one it
      receives as "SIGNUM SENDER-PID" to LOG, after a first line "ready PPID";
      exits 0 on SIGTERM (when TERM is among them), or with SIGLOG_ONCE=1
      in the environment, after the first signal.
OUT and LOG are written so that a reader never sees half a line.
"""
import os
import pty
import select
import signal
import subprocess
import sys
import time


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def how_ended(st):
    if os.WIFSIGNALED(st):
        return "signal %d\n" % os.WTERMSIG(st)
    return "exit %d\n" % os.WEXITSTATUS(st)


def default_signals():
    # SIGHUP too: under nohup (a CI run started with it) the tests of
    # dying by SIGHUP would wait for a lockrun that ignores it.
    for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE,
              signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def cmd_status(out, argv):
    p = subprocess.Popen(argv, preexec_fn=default_signals)
    _, st = os.waitpid(p.pid, 0)
    write_atomic(out, how_ended(st))


def cmd_pty(out, argv):
    intr = None
    if argv[:1] == ["--intr"]:
        intr, argv = argv[1], argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        default_signals()
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    log, st, deadline = b"", None, time.monotonic() + 20
    while st is None:
        if intr and os.path.exists(intr):
            os.write(fd, b"\x03")
            intr = None
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                log += os.read(fd, 4096)
            except OSError:  # EIO: the terminal has no process left
                pass
        p, s = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            st = s
        elif time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        log += chunk
    with open(out + ".log", "wb") as f:
        f.write(log)
    write_atomic(out, how_ended(st) if st is not None else "timeout\n")


def signum(name):
    if name.isdigit():
        return int(name)
    return int(getattr(signal, "SIG" + name.upper()))


def cmd_siglog(logpath, names):
    sigs = {signum(n) for n in names}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    with open(logpath, "a") as f:
        f.write("ready %d\n" % os.getppid())
        f.flush()
        while True:
            info = signal.sigwaitinfo(sigs)
            f.write("%d %d\n" % (info.si_signo, info.si_pid))
            f.flush()
            if info.si_signo == signal.SIGTERM or os.environ.get("SIGLOG_ONCE"):
                return


def main():
    what, arg, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"status": cmd_status, "pty": cmd_pty, "siglog": cmd_siglog}[what](arg, rest)


if __name__ == "__main__":
    main()
