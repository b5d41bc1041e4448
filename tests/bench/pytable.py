# SPDX-License-Identifier: MIT
"""Table 7 of bench.py: the Python package against filelock and fasteners,
from Python, in one run: handoff latency (bench.py's two-process handoff,
with a pidlock peer beside its filelock and fasteners peers) and the
uncontended acquire + release cycle in one process.

Imports the package built by make python in the build directory.
"""
import os
import sys
import time


def peer_class(bench_mod, build):
    sys.path.insert(0, os.path.join(build, "python"))
    import pidlock

    class PidlockPeer(bench_mod.Peer):
        poll_ms = 0  # it does not poll: the waiter sleeps in flock(2)

        def __init__(self, *a):
            super().__init__(*a)
            self.lock = pidlock.Lock(path=self.path)
            self.probe(os.getpid())

        def acquire(self):
            self.lock.acquire()

        def release(self):
            self.lock.release()

    return pidlock, PidlockPeer


def cycle_makers(pidlock):
    import fasteners
    import filelock
    return {
        "pidlock": lambda p: pidlock.Lock(path=p),
        "filelock": lambda p: filelock.FileLock(p),
        "fasteners": lambda p: fasteners.InterProcessLock(p),
    }


def cycles_per_s(lock, ms):
    end = time.monotonic() + ms / 1000
    n = 0
    t0 = time.monotonic()
    while time.monotonic() < end:
        for _ in range(10):
            lock.acquire()
            lock.release()
        n += 10
    return n / (time.monotonic() - t0)


def run(b, bench_mod):
    c = b.cfg
    pidlock, peer = peer_class(bench_mod, b.build)
    bench_mod.PEERS["pidlock"] = peer
    labels = {"pidlock": f"pidlock {pidlock.__version__} (waits in flock(2))",
              "filelock": "filelock (polls 50 ms)",
              "fasteners": "fasteners (polls 10–100 ms)"}
    handoff = {k: bench_mod.py_handoff(k, b.path(f"py-handoff-{k}"), c["handoff_python"])
               for k in labels}
    makers = cycle_makers(pidlock)
    rates = {k: [] for k in labels}
    locks = {k: makers[k](b.path(f"py-cycle-{k}")) for k in labels}
    for _ in range(c["cycle_reps"]):
        for k in labels:  # alternating: load drift hits each alike
            rates[k].append(cycles_per_s(locks[k], c["cycle_ms"]))
    ours_h = bench_mod.med(handoff["pidlock"]["samples_ns"])
    ours_c = bench_mod.med(rates["pidlock"])
    rows, data = [], {}
    for k, label in labels.items():
        s = handoff[k]["samples_ns"]
        h50, rate = bench_mod.med(s), bench_mod.med(rates[k])
        rows.append([label, len(s), bench_mod.fmt_us(h50), bench_mod.fmt_us(bench_mod.pct(s, 99)),
                     bench_mod.fmt_ratio(h50 / ours_h), bench_mod.fmt_us(1e9 / rate),
                     bench_mod.fmt_ratio(ours_c / rate)])
        data[label] = {"handoff_samples_ns": s, "handoff_p50_ns": h50,
                       "cycle_per_s": rates[k], "cycle_median_per_s": rate}
    b.results["tables"]["python"] = data
    worst = min(bench_mod.med(handoff[k]["samples_ns"]) for k in ("filelock", "fasteners"))
    b.goal("python: filelock and fasteners handoff p50 ≥ 100× pidlock's", worst / ours_h, 100,
           higher=True)
    b.table("7. From Python: pidlock against filelock and fasteners",
            ["", "handoffs", "handoff p50", "p99", "handoff p50 vs pidlock",
             "uncontended cycle", "cycle time vs pidlock"], rows,
            ["Handoff: as table 1 (two processes, the holder releases once the waiter is seen "
             "waiting, at a random phase of a poller's interval), each lock used from Python.  "
             "Cycle: acquire + release of one lock object in one process, the median of "
             f"{c['cycle_reps']} runs of {c['cycle_ms']} ms, the three alternating; pidlock "
             "writes and truncates its record each time, the others lock a kept file "
             "(fasteners) or create and unlink one (filelock).",
             f"Waiters not seen waiting within 10 s: "
             f"{sum(h['unverified'] for h in handoff.values())}."])
