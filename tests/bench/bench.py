#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench: pidlock measured against the tools people use today.

Runs tests/bench's C driver (pidlock-bench), the Python peers (filelock,
fasteners, lockfile-progs, dotlockfile: run from here), and the tools
(lockrun, lockstat, lockclean, flock(1), lslocks), all in one run on one
machine, and prints six Markdown tables of medians with their ratios to the
baseline measured in the same run.  Raw samples go to --json.

Run by Debian's /usr/bin/python3: python3-filelock and python3-fasteners
install there, not into a pyenv python3 that may come first in PATH.
"""
import argparse
import json
import math
import mmap
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

# Sizes: QUICK is for CI (the harness must not rot; numbers are not judged).
FULL = dict(
    handoff_kernel=2000, handoff_blocks=4, handoff_pidfile=1000,
    handoff_python=300, handoff_lockfile=5, handoff_dotlock=20,
    chain=200, chain_blocks=4,
    cycle_reps=7, cycle_ms=300,
    contend_n=(2, 4, 16, 64), contend_reps=5, contend_ms=1000,
    spawn_rounds=200,
    inspect_sizes=(1000, 10000, 100000), inspect_reps=5, inspect_reps_big=3, inspect_timeout=60,
    clean_sizes=(10000, 100000), clean_reps=3,
)
QUICK = dict(
    handoff_kernel=100, handoff_blocks=2, handoff_pidfile=20,
    handoff_python=6, handoff_lockfile=1, handoff_dotlock=1,
    chain=10, chain_blocks=2,
    cycle_reps=3, cycle_ms=50,
    contend_n=(2, 4, 16, 64), contend_reps=2, contend_ms=100,
    spawn_rounds=20,
    inspect_sizes=(100, 400), inspect_reps=3, inspect_reps_big=3, inspect_timeout=10,
    clean_sizes=(1000,), clean_reps=2,
)
# Live holders keep this many locks each: lslocks (util-linux 2.38) looks
# up every lock's path by scanning the holder's /proc/PID/fd, so its cost
# per lock grows with the descriptors per holder (two per pidlock handle).
LOCKS_PER_LIVE_HOLDER = 100
LOCKS_PER_STALE_HOLDER = 1000


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def med(values):
    return statistics.median(values)


def fmt_us(ns):
    us = ns / 1000
    if us >= 100000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs" if us >= 10 else f"{us:.1f} µs"


def fmt_ratio(x):
    if x is None:
        return "–"
    return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def fmt_rate(x):
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.1f} k/s" if x >= 1e3 else f"{x:.0f}/s"


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = QUICK if args.quick else FULL
        self.build = os.path.abspath(args.build)
        self.driver = os.path.join(self.build, "bench", "pidlock-bench")
        self.tool = {t: os.path.join(self.build, t) for t in ("lockrun", "lockstat", "lockclean")}
        self.dir = args.dir
        self.results = {"quick": bool(args.quick), "config": self.cfg, "tables": {}}
        self.md = []
        self.notes = []
        self.failed = False

    # --- output ---------------------------------------------------------
    def out(self, text=""):
        print(text, flush=True)
        self.md.append(text)

    def table(self, title, head, rows, notes=()):
        self.out(f"### {title}")
        self.out()
        self.out("| " + " | ".join(head) + " |")
        self.out("|" + "|".join("---" if i == 0 else "--:" for i in range(len(head))) + "|")
        for r in rows:
            self.out("| " + " | ".join(str(c) for c in r) + " |")
        self.out()
        for n in notes:
            self.out(n)
        if notes:
            self.out()

    def run_driver(self, *argv, timeout=600):
        """Runs pidlock-bench; on timeout its whole process group is killed."""
        p = subprocess.Popen([self.driver, *map(str, argv)], stdout=subprocess.PIPE,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            raise
        if p.returncode != 0:
            raise RuntimeError(f"pidlock-bench {' '.join(map(str, argv))}: exit {p.returncode}")
        return json.loads(out)

    def path(self, name):
        return os.path.join(self.dir, name)

    # --- the machine ----------------------------------------------------
    def describe(self):
        def first(cmd):
            try:
                return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True).stdout.strip().splitlines()[0]
            except (OSError, IndexError):
                return "?"
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        import importlib.metadata as md
        def version(pkg):
            try:
                return md.version(pkg)
            except md.PackageNotFoundError:
                return "missing"
        git = first(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe",
                     "--always", "--dirty"])
        m = {
            "cpu": cpu, "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "loadavg_start": os.getloadavg()[0],
            "bench_dir": self.dir, "bench_fs": first(["stat", "-f", "-c", "%T", self.dir]),
            "pidlock": git, "util_linux": first(["flock", "--version"]),
            "python": platform.python_version(), "filelock": version("filelock"),
            "fasteners": version("fasteners"),
            "libbsd": first(["pkg-config", "--modversion", "libbsd"]),
            "liblockfile": first(["dpkg-query", "-W", "-f", "${Version}", "liblockfile-bin"]),
            "lockfile_progs": first(["dpkg-query", "-W", "-f", "${Version}", "lockfile-progs"]),
        }
        self.results["machine"] = m
        self.out("## pidlock benchmarks" + (" (QUICK=1: tiny sizes, numbers not meaningful)"
                                          if self.args.quick else ""))
        self.out()
        self.out(f"- machine: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
                 f"load average {m['loadavg_start']:.2f} at start")
        self.out(f"- lock files in {m['bench_dir']} ({m['bench_fs']})")
        self.out(f"- pidlock {m['pidlock']}; {m['util_linux']}; libbsd {m['libbsd']}; "
                 f"liblockfile {m['liblockfile']}; lockfile-progs {m['lockfile_progs']}; "
                 f"Python {m['python']} filelock {m['filelock']} fasteners {m['fasteners']}")
        self.out("- every figure is a median (or percentile) of many runs; ratios compare "
                 "rows measured in this same run")
        self.out()

    # --- 1. handoff -----------------------------------------------------
    def handoff_blocks(self, lockers, total, blocks):
        """Alternates the C lockers in blocks: load drift hits each alike.
        A name ending in "@cpus" runs its two workers on two CPUs."""
        got = {name: {"samples_ns": [], "unverified": 0, "same_cpu": 0} for name in lockers}
        per = max(1, total // blocks)
        for b in range(blocks):
            for name in lockers:
                locker, _, pin = name.partition("@")
                d = self.run_driver("handoff", locker,
                                    self.path(f"handoff-{locker.split(':')[0]}"), per,
                                    *([pin] if pin else []))
                for k in got[name]:
                    got[name][k] += d[k]
        return got

    def chain_blocks(self, tools, total, blocks):
        got = {key: {"samples_ns": [], "unverified": 0} for key in tools}
        per = max(1, total // blocks)
        for b in range(blocks):
            for key, (argv, prep) in tools.items():
                lock = self.path(f"chain-{key}")
                prep(lock)
                d = self.run_driver("chain", per, self.path("chain.shm"), *argv, lock)
                got[key]["samples_ns"] += d["samples_ns"]
                got[key]["unverified"] += d["unverified"]
        return got

    def t_handoff(self):
        c = self.cfg
        rows = {}
        kernel = ["pidlock", "flock-fd", "pidlock-keep"]
        if len(os.sched_getaffinity(0)) >= 2:  # the CPUs we may run on
            kernel += ["pidlock@cpus", "flock-fd@cpus"]
        kern = self.handoff_blocks(kernel, c["handoff_kernel"], c["handoff_blocks"])
        rows["libpidlock"] = kern["pidlock"]
        rows["libpidlock, PIDLOCK_KEEP"] = kern["pidlock-keep"]
        rows["raw flock(2), kept fd"] = kern["flock-fd"]
        if "pidlock@cpus" in kern:
            rows[PINNED_OURS] = kern["pidlock@cpus"]
            rows[PINNED_RAW] = kern["flock-fd@cpus"]

        def absent(p):
            if os.path.exists(p):
                os.unlink(p)

        def empty(p):
            open(p, "w").close()
        chains = self.chain_blocks({
            "lockrun": ([self.tool["lockrun"]], absent),
            "lockrun-keep": ([self.tool["lockrun"]], empty),
            "flock1": (["/usr/bin/flock"], empty),
        }, c["chain"], c["chain_blocks"])
        rows["lockrun chain (pidfile mode)"] = chains["lockrun"]
        rows["lockrun chain (existing file)"] = chains["lockrun-keep"]
        rows["flock(1) chain"] = chains["flock1"]
        rows["libbsd pidfile_open retry, 10 ms sleep"] = self.handoff_blocks(
            ["pidfile:10"], c["handoff_pidfile"], 1)["pidfile:10"]
        for key, label, n in (("filelock", "Python filelock (polls 50 ms)", c["handoff_python"]),
                              ("fasteners", "Python fasteners (polls 10–100 ms)", c["handoff_python"]),
                              ("lockfile", "lockfile-create (retries after 5 s)", c["handoff_lockfile"]),
                              ("dotlock", "dotlockfile -i 1 (retries every 1 s)", c["handoff_dotlock"])):
            rows[label] = py_handoff(key, self.path(f"handoff-{key}"), n)

        base = med(rows["raw flock(2), kept fd"]["samples_ns"])
        ours = med(rows["libpidlock"]["samples_ns"])
        flock1 = med(rows["flock(1) chain"]["samples_ns"])
        kernel_rows = ("libpidlock", "libpidlock, PIDLOCK_KEEP", "raw flock(2), kept fd",
                       PINNED_OURS, PINNED_RAW)
        table, data = [], {}
        for label, r in rows.items():
            s = r["samples_ns"]
            p50 = med(s)
            is_chain = "chain" in label
            polling = not is_chain and label not in kernel_rows
            if is_chain:
                vs = fmt_ratio(p50 / flock1) + " of flock(1)"
            elif label == PINNED_OURS:
                vs = fmt_ratio(p50 / med(rows[PINNED_RAW]["samples_ns"])) + " of two-CPU raw"
            else:
                vs = fmt_ratio(p50 / base)
            gain = fmt_ratio(p50 / ours) if polling else "–"
            same = (f"{100 * r['same_cpu'] / len(s):.0f}%"
                    if "same_cpu" in r and label in kernel_rows else "–")
            table.append([label, len(s), fmt_us(p50), fmt_us(pct(s, 99)), fmt_us(max(s)), same,
                          vs, gain])
            data[label] = dict(r, p50_ns=p50, p99_ns=pct(s, 99), max_ns=max(s))
        self.results["tables"]["handoff"] = data
        self.goal("handoff: libpidlock p50 ≤ 3× raw flock(2)", ours / base, 3)
        pinned = ""
        if PINNED_OURS in rows:
            p_ours, p_raw = (med(rows[k]["samples_ns"]) for k in (PINNED_OURS, PINNED_RAW))
            pinned = (f"on two CPUs {fmt_us(p_ours)} vs {fmt_us(p_raw)}: "
                      f"{fmt_ratio(p_ours / p_raw)}")
        self.figure("handoff p50 vs raw flock(2)", fmt_us(ours), "raw flock(2), kept fd",
                    fmt_us(base), ours / base, "≤ 3×", ours / base <= 3, pinned)
        worst = min(med(rows[k]["samples_ns"]) for k in rows
                    if k not in kernel_rows and "chain" not in k)
        self.goal("handoff: every polling peer p50 ≥ 100× libpidlock", worst / ours, 100, higher=True)
        unver = sum(r["unverified"] for r in rows.values())
        self.table("1. Handoff latency: holder releases → waiter's acquire returns",
                   ["", "handoffs", "p50", "p99", "max", "waiter on releaser's CPU",
                    "p50 vs raw flock(2)", "p50 vs libpidlock"], table,
                   ["Timing: the holder waits until the waiter is seen waiting (asleep in flock(2) per "
                    "/proc/PID/syscall for kernel waiters — not /proc/locks, whose reading stalls every "
                    "flock(2) on the machine; state S after it started its acquire for pollers), holds on for a random time below a poller's interval (so the release "
                    "falls at a random phase of its poll), stores CLOCK_MONOTONIC in shared memory "
                    "and releases; the waiter reads the clock when its acquire returns.  The releaser "
                    "re-queues only after the waiter owns the lock, so every sample is a handoff.",
                    "CPUs: left to the scheduler, a woken waiter runs on the releaser's CPU (the "
                    "column counts how often), so it starts when the releaser sleeps: after "
                    "everything its release does after the unlock, and before its own steps after "
                    "the wake.  The two-CPU rows pin each process to a CPU of its own, so the "
                    "waiter wakes on another CPU, as when the releaser goes on working: the "
                    "kernel's wake-up then costs more, and the two sides' steps overlap.",
                    "Chains: `TOOL F stamp` processes, link k+1 started and seen blocked, then link "
                    "k's command exits; the sample is from that command's last clock read to the next "
                    "command's first (tool release and exit, wake, fork, exec), compared with the "
                    "flock(1) chain.  lockfile-create and dotlockfile are released by unlinking the "
                    "lock file (what lockfile-remove and dotlockfile -u do); their waiter runs when "
                    "the tool exits.  Fewer handoffs for the pollers: each costs its poll interval.",
                    f"Waiters not seen waiting within 2 s (released anyway): {unver}."])

    # --- 2. uncontended cycle ------------------------------------------
    def t_cycle(self):
        c = self.cfg
        names = {"pidlock": "libpidlock (default: record, truncate on release)",
                 "pidlock-unlink": "libpidlock, PIDLOCK_UNLINK (unlink on release)",
                 "flock": "raw open + flock(2) + close",
                 "pidfile": "libbsd pidfile_open + pidfile_write + pidfile_remove",
                 "excl": "PostgreSQL-style O_EXCL create + write + fsync + close; unlink"}
        rates = {k: [] for k in names}
        cpu = {k: [] for k in names}
        for rep in range(c["cycle_reps"]):
            for k in names:
                d = self.run_driver("cycle", k, self.path(f"cycle-{k}"), c["cycle_ms"])
                rates[k].append(d["count"] / (d["elapsed_ns"] / 1e9))
                cpu[k].append(d["cpu_ns"] / d["count"])
        base, base_cpu = med(rates["flock"]), med(cpu["flock"])
        bsd_cpu = med(cpu["pidfile"])
        table = []
        for k, label in names.items():
            r = med(rates[k])
            table.append([label, fmt_rate(r), fmt_us(1e9 / r), fmt_ratio(base / r),
                          fmt_us(med(cpu[k])), fmt_ratio(med(cpu[k]) / base_cpu),
                          fmt_ratio(med(cpu[k]) / bsd_cpu)])
        self.results["tables"]["cycle"] = {
            names[k]: {"per_s": v, "median_per_s": med(v), "cpu_ns_per_cycle": cpu[k]}
            for k, v in rates.items()}
        ours_cpu = med(cpu["pidlock"])
        self.goal("cycle: libpidlock ≤ 4× raw open+flock+close (CPU time)",
                  ours_cpu / base_cpu, 4)
        self.goal("cycle: libpidlock CPU ≤ libbsd pidfile_open+write+remove",
                  ours_cpu / bsd_cpu, 1.0)
        self.figure("cycle CPU vs raw open+flock+close", fmt_us(ours_cpu),
                    "raw open + flock(2) + close", fmt_us(base_cpu), ours_cpu / base_cpu,
                    "≤ 4×", ours_cpu / base_cpu <= 4)
        self.figure("cycle CPU vs libbsd pidfile", fmt_us(ours_cpu),
                    "libbsd pidfile_open + write + remove", fmt_us(bsd_cpu),
                    ours_cpu / bsd_cpu, "≤ 1×", ours_cpu / bsd_cpu <= 1)
        self.table("2. Uncontended cycle: acquire + release in one process",
                   ["", "cycles/s", "wall per cycle", "wall vs raw flock(2)", "CPU per cycle",
                    "CPU vs raw flock(2)", "CPU vs libbsd pidfile"], table,
                   [f"Median of {c['cycle_reps']} runs of {c['cycle_ms']} ms each, the "
                    "implementations alternating.  libpidlock reuses one handle (pidlock_new once); "
                    "by default each cycle opens the kept file, locks it, writes the record in place "
                    "and truncates it (pidlock(5)); with PIDLOCK_UNLINK it creates, records, "
                    "publishes and unlinks the file.  The PostgreSQL "
                    "row writes a postmaster.pid-like 8-line record and fsyncs it, as "
                    "CreateLockFile() does (on tmpfs fsync costs little).  CPU = user + system time of "
                    "the process (getrusage) over the cycles: other load on the machine inflates the "
                    "wall time, much less the CPU time."])

    # --- 7. from Python (pytable.py) ------------------------------------
    def t_python(self):
        import pytable
        pytable.run(self, sys.modules[__name__])

    # --- 3. contended throughput ---------------------------------------
    def t_contend(self):
        c = self.cfg
        lockers = {"pidlock": "libpidlock", "flock-fd": "raw flock(2), kept fd"}
        data, table = {}, []
        for n in c["contend_n"]:
            runs = {k: [] for k in lockers}
            for rep in range(c["contend_reps"]):
                for k in lockers:
                    runs[k].append(self.run_driver("contend", k, self.path(f"contend-{k}"), n,
                                                   c["contend_ms"]))
            rate = {k: med([d["count"] / (d["elapsed_ns"] / 1e9) for d in v])
                    for k, v in runs.items()}
            for k, label in lockers.items():
                v = runs[k]
                mw = [d["max_wait_ns"] for d in v]
                fair = med([min(d["per_process"]) / max(1, max(d["per_process"])) for d in v])
                viol = sum(d["violations"] for d in v)
                table.append([n, label, fmt_rate(rate[k]), fmt_us(med(mw)), fmt_us(max(mw)),
                              f"{fair:.2f}", fmt_ratio(rate[k] / rate["flock-fd"]),
                              viol])
                data[f"{label}, N={n}"] = {"runs": v, "median_per_s": rate[k]}
                if viol:
                    self.notes.append(f"contend {label} N={n}: {viol} mutual-exclusion violations")
        self.results["tables"]["contend"] = data
        self.table("3. Contended throughput: N processes, one lock",
                   ["N", "", "acquisitions/s", "max wait (median run)", "max wait (worst run)",
                    "fairness min/max", "throughput vs raw flock(2)", "overlaps"], table,
                   [f"{c['contend_reps']} runs of {c['contend_ms']} ms per cell, alternating.  Each "
                    "process loops acquire → release with an empty critical section; the wait is "
                    "from the acquire call to its return.  Fairness: fewest acquisitions of a "
                    "process / most of any process.  Overlaps counts two processes inside the "
                    "critical section together (must be 0).  A kept-fd flock(2) releaser can "
                    "re-take the lock before the woken waiter runs, which favours throughput over "
                    "fairness."])

    # --- 4. process overhead -------------------------------------------
    def t_spawn(self):
        c = self.cfg
        true = shutil.which("true") or "/bin/true"
        a, b, f = self.path("spawn-lockrun"), self.path("spawn-keep"), self.path("spawn-flock")
        for p in (a,):
            if os.path.exists(p):
                os.unlink(p)
        open(b, "w").close()
        cmds = [("lockrun -n F true (F created, removed)", [self.tool["lockrun"], "-n", a, "true"]),
                ("lockrun -n F true (F exists)", [self.tool["lockrun"], "-n", b, "true"]),
                ("flock -n F true (util-linux)", ["/usr/bin/flock", "-n", f, "true"]),
                ("true", [true])]
        # lockrun with libbsd and libmd linked each way (mk/bench.mk)
        for how in ("dynamic", "static"):
            exe = os.path.join(self.build, "bench", "lockrun-" + how)
            if os.path.exists(exe):
                cmds.append((f"lockrun -n F true (F exists; libbsd {how})", [exe, "-n", b, "true"]))
        argv = ["spawn", c["spawn_rounds"], "/dev/null"]
        for _, cmd in cmds:
            argv += ["--", *cmd]
        d = self.run_driver(*argv)
        wall = {i: d[f"wall_ns_{i}"] for i in range(len(cmds))}
        rss = {i: d[f"maxrss_kb_{i}"] for i in range(len(cmds))}
        cpu = {i: d[f"cpu_ns_{i}"] for i in range(len(cmds))}
        bad = {cmds[i][0]: sum(1 for s in d[f"status_{i}"] if s) for i in range(len(cmds))}
        fl, tr = med(wall[2]), med(wall[3])
        table, data = [], {}
        for i, (label, cmd) in enumerate(cmds):
            w, r = med(wall[i]), med(rss[i])
            extra = (w - tr) / (fl - tr) if i != 3 and fl > tr else None
            table.append([label, fmt_us(w), fmt_us(pct(wall[i], 90)), fmt_ratio(w / fl),
                          fmt_ratio(extra) if extra is not None else "–",
                          fmt_us(med(cpu[i])), fmt_ratio(med(cpu[i]) / med(cpu[2])),
                          f"{r:.0f} KiB", fmt_ratio(r / med(rss[2]))])
            data[label] = {"argv": cmd, "wall_ns": wall[i], "maxrss_kb": rss[i], "cpu_ns": cpu[i],
                           "median_wall_ns": w, "median_maxrss_kb": r, "failures": bad[label]}
        self.results["tables"]["spawn"] = dict(data, driver_maxrss_kb=d["driver_maxrss_kb"])
        dyn = next((i for i, (label, _) in enumerate(cmds) if "libbsd dynamic" in label), 1)
        self.goal("process: lockrun -n F true (libbsd dynamic) wall ≤ 1.0× flock -n F true",
                  med(wall[dyn]) / fl, 1.0)
        self.figure("`lockrun -n F true` wall vs flock(1), libbsd dynamic", fmt_us(med(wall[dyn])),
                    "flock -n F true", fmt_us(fl), med(wall[dyn]) / fl, "≤ 1.0×",
                    med(wall[dyn]) / fl <= 1.0,
                    f"CPU {fmt_ratio(med(cpu[dyn]) / med(cpu[2]))}")
        self.goal("process: lockrun peak RSS ≤ flock(1)'s", med(rss[0]) / med(rss[2]), 1.0)
        failures = {k: v for k, v in bad.items() if v}
        self.table("4. Process overhead: one run of each command",
                   ["", "wall p50", "wall p90", "wall vs flock(1)", "cost over `true` vs flock(1)'s",
                    "CPU p50", "CPU vs flock(1)", "peak RSS p50", "RSS vs flock(1)"], table,
                   [f"{c['spawn_rounds']} rounds; each round runs every command once, in rotating "
                    "order (posix_spawn + wait4: wall from spawn to reap; CPU = the child's user + system "
                    "time and peak RSS = its ru_maxrss, both from wait4's rusage).  "
                    "\"Cost over true\" is (row − true) / (flock − true): the lock tool's own work.",
                    "Non-zero exits: " + (", ".join(f"{k}: {v}" for k, v in failures.items())
                                          if failures else "none") + "."])

    # --- 5/6. many lock files -------------------------------------------
    def populate(self, d, total, live):
        """total files in d, live of them held by live holders (returned)."""
        os.makedirs(d, exist_ok=True)
        holders, first = [], 0
        while first < live:
            n = min(LOCKS_PER_LIVE_HOLDER, live - first)
            holders.append(subprocess.Popen([self.driver, "hold", d, str(first), str(n), "live"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE))
            first += n
        for h in holders:
            if h.stdout.readline() != b"ready\n":
                raise RuntimeError("a holder failed")
        self.add_stale(d, first, total - live)
        return holders

    def add_stale(self, d, first, count):
        procs = []
        while count > 0:
            n = min(LOCKS_PER_STALE_HOLDER, count)
            procs.append(subprocess.Popen([self.driver, "hold", d, str(first), str(n), "stale"]))
            first += n
            count -= n
            if len(procs) >= 2:
                if procs.pop(0).wait() != 0:
                    raise RuntimeError("a stale holder failed")
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError("a stale holder failed")

    @staticmethod
    def release(holders):
        for h in holders:
            h.stdin.close()
        for h in holders:
            h.wait()

    def timed(self, rounds, *cmds, timeout=600):
        argv = ["spawn", rounds, "/dev/null"]
        for cmd in cmds:
            argv += ["--", *cmd]
        d = self.run_driver(*argv, timeout=timeout)
        # The child's user + system time (wait4's rusage), of the last run.
        self.last_cpu = [d[f"cpu_ns_{i}"] for i in range(len(cmds))]
        return [(d[f"wall_ns_{i}"], d[f"status_{i}"]) for i in range(len(cmds))]

    def states(self, d):
        out = subprocess.run([self.tool["lockstat"], "-o", "STATE", d], stdout=subprocess.PIPE,
                             text=True, check=True).stdout.split()[1:]
        return {s: out.count(s) for s in set(out)}

    def run_series(self, reps, cmds, skip, timeout):
        """reps rounds of cmds (a dict), alternating; a command that takes
        longer than timeout once is dropped (and added to skip)."""
        walls = {k: [] for k in cmds}
        self.series_cpu = {k: [] for k in cmds}
        for rep in range(reps):
            for k, argv in cmds.items():
                if k in skip:
                    continue
                try:
                    (w, st), = self.timed(1, argv, timeout=timeout)
                except subprocess.TimeoutExpired:
                    skip[k] = f"a run took over {timeout} s"
                    continue
                if st[0] != 0:
                    self.notes.append(f"{' '.join(argv)}: exit status {st[0]}")
                walls[k] += w
                self.series_cpu[k] += self.last_cpu[0]
        return {k: v for k, v in walls.items() if v and k not in skip}

    def t_inspect(self):
        c = self.cfg
        table, data, skip, last = [], {}, {}, {}
        lslocks = shutil.which("lslocks")
        if not lslocks:
            skip["lslocks"] = "not installed"
        for size in c["inspect_sizes"]:
            live = size // 2
            d = self.path(f"inspect-{size}")
            cmds = {"lockstat": [self.tool["lockstat"], d],
                    "lockstat -a": [self.tool["lockstat"], "-a"], "lslocks": [lslocks]}
            # Linear extrapolation from the last size: skip what cannot finish.
            for k, (n, t) in last.items():
                if k not in skip and t * size / n > c["inspect_timeout"] * 1e9:
                    skip[k] = (f"{fmt_us(t)} at {n} files: over {c['inspect_timeout']} s "
                               f"at {size} by linear extrapolation")
            holders = self.populate(d, size, live)
            try:
                seen = self.states(d)
                if seen.get("live") != live or seen.get("stale") != size - live:
                    self.notes.append(f"inspect {size}: lockstat saw {seen}, expected "
                                      f"{live} live and {size - live} stale")
                with open("/proc/locks") as f:
                    kernel_locks = sum(1 for _ in f)
                reps = c["inspect_reps"] if size < 100000 else c["inspect_reps_big"]
                walls = self.run_series(reps, cmds, skip, c["inspect_timeout"])
                if size == max(c["inspect_sizes"][:2]):
                    floor = self.scan_floor(d, c["inspect_reps"])
            finally:
                self.release(holders)
                shutil.rmtree(d, ignore_errors=True)
            m = {k: med(v) for k, v in walls.items()}
            cpu_ls = med(self.series_cpu["lockstat"]) if self.series_cpu.get("lockstat") else None
            last.update({k: (size, t) for k, t in m.items()})

            def cell(k, per):
                return [fmt_us(m[k]), fmt_us(m[k] / per)] if k in m else ["skipped", "–"]
            row = [size, live] + cell("lockstat", size) + [
                fmt_us(m["lockstat"] / live) if "lockstat" in m else "–",
                fmt_us(cpu_ls) if cpu_ls and "lockstat" in m else "–"]
            row += cell("lockstat -a", kernel_locks) + cell("lslocks", kernel_locks)
            row.append(fmt_ratio((m["lockstat"] / live) / (m["lslocks"] / kernel_locks))
                       if "lockstat" in m and "lslocks" in m else "–")
            table.append(row)
            data[str(size)] = {"files": size, "held": live, "kernel_locks": kernel_locks,
                               "states": seen, "wall_ns": walls,
                               "cpu_ns": dict(self.series_cpu)}
            if size == max(c["inspect_sizes"][:2]) and "lockstat" in m:
                vs = (m["lockstat"] / live) / (m["lslocks"] / kernel_locks) if "lslocks" in m else None
                self.figure(f"lockstat DIR, {size:,} files, wall", fmt_us(m["lockstat"]),
                            "the goal", "0.15 s",
                            m["lockstat"] / 0.15e9, "≤ 0.15 s", m["lockstat"] <= 0.15e9,
                            (f"per held lock {fmt_ratio(vs)} of lslocks; " if vs else "")
                            + f"CPU {fmt_us(cpu_ls)}; " + self.floor_note(floor))
            if size == 10000 and "lockstat" in m:
                self.goal("inspect: lockstat over 10,000 files ≤ 150 ms", m["lockstat"] / 1e6, 150)
                if "lslocks" in m:
                    self.goal("inspect: lockstat per held lock ≤ lslocks per lock",
                              (m["lockstat"] / live) / (m["lslocks"] / kernel_locks), 1.0)
        self.results["tables"]["inspect"] = data
        self.results["tables"]["inspect_skipped"] = skip
        self.results["tables"]["scan_floor"] = floor
        self.table("5. Inspection: lockstat DIR over N files, half held by live processes",
                   ["files", "held", "lockstat DIR", "per file", "per held lock",
                    "lockstat DIR CPU", "lockstat -a",
                    "per kernel lock", "lslocks", "per kernel lock",
                    "per held lock: lockstat DIR vs lslocks"],
                   table,
                   [f"Median of {c['inspect_reps']} runs ({c['inspect_reps_big']} at 100,000 "
                    "files), alternating, output to /dev/null; CPU is lockstat's user + system time (less sensitive to other load than wall time).  The files are real pidlock records: "
                    f"holder processes take {LOCKS_PER_LIVE_HOLDER} locks each with libpidlock and "
                    "keep them; the other half are records of holders that exited holding them "
                    "(stale).  `lockstat -a` and lslocks list every kernel lock on the machine "
                    "(the held ones plus other programs'); \"per kernel lock\" divides by the "
                    "lines of /proc/locks.  util-linux 2.38's lslocks finds each lock's path by "
                    "scanning the holder's /proc/PID/fd, so its cost per lock grows with the "
                    "descriptors per holder.",
                    "Skipped: " + ("; ".join(f"{k}: {v}" for k, v in skip.items()) or "nothing")
                    + "."])
        self.floor_table(floor, data[str(max(c["inspect_sizes"][:2]))])

    def scan_floor(self, d, reps):
        """The bare calls of a scan over d, made one by one and batched in
        io_uring (tests/bench/scan.c), alternating."""
        got = {"plain": [], "uring": []}
        for _ in range(reps):
            for mode in got:
                r = self.run_driver("scanfloor", d, mode)
                if "error" in r:
                    got[mode] = r["error"]
                elif isinstance(got[mode], list):
                    got[mode].append(r)
        return got

    @staticmethod
    def floor_med(runs, key):
        return med([r[key] for r in runs]) if isinstance(runs, list) and runs else None

    def floor_note(self, floor):
        plain, uring = (self.floor_med(floor[m], "wall_ns") for m in ("plain", "uring"))
        return (f"its 5 calls a file alone {fmt_us(plain)}"
                + (f", batched in io_uring {fmt_us(uring)}" if uring else ""))

    def floor_table(self, floor, row):
        """Table 5b: the floor measured beside table 5's row for its size."""
        walls, cpus = row["wall_ns"].get("lockstat"), row["cpu_ns"].get("lockstat")
        ls_wall = med(walls) if walls else None
        ls_cpu = med(cpus) if cpus else None
        rows = [["lockstat DIR (table 5)", fmt_us(ls_wall), fmt_us(ls_cpu), "1.00×"]]
        for mode, label in (("plain", "its 5 calls a file, one by one (as lockstat makes them)"),
                            ("uring", "the same calls batched in io_uring, 256 files a stage")):
            runs = floor[mode]
            if not isinstance(runs, list):
                rows.append([label, f"not measured: {runs}", "–", "–"])
                continue
            w, cpu = self.floor_med(runs, "wall_ns"), self.floor_med(runs, "cpu_ns")
            rows.append([label, fmt_us(w), fmt_us(cpu), fmt_ratio(w / ls_wall) if ls_wall else "–"])
        self.table(f"5b. The floor of a scan: {row['files']:,} files, the calls alone",
                   ["", "wall", "CPU", "vs lockstat DIR"], rows,
                   ["The same directory, while its holders hold, in the same minutes as table 5.  "
                    "The calls lockstat makes for every file it reads (look at the name, open, "
                    "identity of the opened file, read, close) and nothing else: no holders "
                    "looked for, no judgement, no output.  Batched, they run in stages (every "
                    "look, then every open, then every identity and read, then every close), "
                    "since each depends on the last one's answer; CPU includes io_uring's "
                    "workers.  Built without liburing, the io_uring row is not measured."])

    def t_clean(self):
        c = self.cfg
        table, data = [], {}
        for size in c["clean_sizes"]:
            live = size // 10
            d = self.path(f"clean-{size}")
            holders = self.populate(d, live, live)
            times, left = [], []
            try:
                for rep in range(c["clean_reps"]):
                    self.add_stale(d, live, size - live)
                    (wall, status), = self.timed(1, [self.tool["lockclean"], "-q", d])
                    times.append(wall[0])
                    left.append(len(os.listdir(d)))
                    if status[0] != 0:
                        self.notes.append(f"clean {size}: lockclean exited {status[0]}")
            finally:
                self.release(holders)
                shutil.rmtree(d, ignore_errors=True)
            if any(n != live for n in left):
                self.notes.append(f"clean {size}: files left {left}, expected {live} (the live ones)")
            t = med(times)
            table.append([size, size - live, fmt_us(t), fmt_rate(size / (t / 1e9)),
                          fmt_rate((size - live) / (t / 1e9)), fmt_us(t / size)])
            data[str(size)] = {"files": size, "stale": size - live, "wall_ns": times,
                               "left": left}
        self.results["tables"]["clean"] = data
        self.table("6. Cleanup: lockclean DIR, 90% of the files stale",
                   ["files", "stale", "lockclean", "files/s", "removed/s", "per file"], table,
                   [f"Median of {c['clean_reps']} runs; before each run the stale files are "
                    "recreated (records of holders that exited holding them); the live 10% are "
                    "held by live processes and must survive (checked)."])

    # --- goals ----------------------------------------------------------
    def figure(self, what, ours, peer, peer_value, ratio, goal, met, note=""):
        """One row of the table of issue 18: a figure and its peer, this run."""
        self.results.setdefault("figures", []).append(
            {"figure": what, "ours": ours, "peer": peer, "peer_value": peer_value,
             "ratio": ratio, "goal": goal, "met": met, "note": note})

    def figures(self):
        rows = [[f["figure"], f["ours"], f"{f['peer']}: {f['peer_value']}",
                 fmt_ratio(f["ratio"]), f["goal"], "met" if f["met"] else "NOT met",
                 f["note"] or "–"] for f in self.results.get("figures", [])]
        if rows:
            self.table("The four figures (issue 18), each against its peer in this run",
                       ["figure", "pidlock", "peer or limit", "ratio", "goal", "", "also"],
                       rows, ["QUICK=1 runs the scan at 400 files, not 10,000: its row then says so "
                              "and the time is no test of the goal."])

    def goal(self, what, value, limit, higher=False):
        ok = value >= limit if higher else value <= limit
        self.results.setdefault("goals", []).append(
            {"goal": what, "value": value, "limit": limit, "met": ok})

    def summary(self):
        self.figures()
        self.out("### Goals (issues 7 and 18)")
        self.out()
        for g in self.results.get("goals", []):
            self.out(f"- {'met' if g['met'] else 'NOT met'}: {g['goal']} (measured {g['value']:.3g})")
        for n in self.notes:
            self.out(f"- note: {n}")
        self.results["notes"] = self.notes
        self.results["machine"]["loadavg_end"] = os.getloadavg()[0]
        self.out(f"- load average {self.results['machine']['loadavg_end']:.2f} at the end")
        self.out()


# --- the Python-side peers ---------------------------------------------
PINNED_OURS = "libpidlock, holder and waiter on two CPUs"
PINNED_RAW = "raw flock(2), kept fd, two CPUs"


# The same protocol as tests/bench/handoff.c, for peers that are Python
# modules or command-line tools.  Shared anonymous memory survives fork.
class Shared:
    """Fields of shared anonymous memory, each written on its own."""
    FIELDS = {"t": (0, "q"), "releaser": (8, "i"), "owner": (12, "i"), "started": (16, "i"),
              "done": (20, "i"), "tr0": (24, "i"), "tr1": (28, "i"), "p0": (32, "i"),
              "p1": (36, "i"), "n": (40, "q"), "unv": (48, "q")}
    SIZE = 64

    def __init__(self, n):
        self.m = mmap.mmap(-1, self.SIZE + 8 * n)
        self.set(releaser=-1, owner=-1)

    def get(self, name):
        off, f = self.FIELDS[name]
        return struct.unpack_from("=" + f, self.m, off)[0]

    def set(self, **kw):
        for k, x in kw.items():
            off, f = self.FIELDS[k]
            struct.pack_into("=" + f, self.m, off, x)


def proc_sleeping(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "S"
    except (OSError, IndexError):
        return False


def wait_for(pred, timeout):
    until = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > until:
            return False
        time.sleep(0.0002)
    return True


class Peer:
    """acquire() blocks (by polling, as the peer does); release() lets go."""
    poll_ms = 0

    def __init__(self, path, sh, me):
        self.path, self.sh, self.me = path, sh, me

    def probe(self, pid):
        self.sh.set(**{f"p{self.me}": pid})


class FileLockPeer(Peer):
    poll_ms = 50

    def __init__(self, *a):
        super().__init__(*a)
        import filelock
        self.lock = filelock.FileLock(self.path)  # poll_interval 0.05 s
        self.probe(os.getpid())

    def acquire(self):
        self.lock.acquire()

    def release(self):
        self.lock.release()


class FastenersPeer(Peer):
    poll_ms = 100

    def __init__(self, *a):
        super().__init__(*a)
        import fasteners
        self.lock = fasteners.InterProcessLock(self.path)  # delay 0.01 s .. 0.1 s
        self.probe(os.getpid())

    def acquire(self):
        self.lock.acquire(blocking=True)

    def release(self):
        self.lock.release()


class ToolPeer(Peer):
    argv = ()

    def acquire(self):
        p = subprocess.Popen([*self.argv, self.path])
        self.probe(p.pid)
        if p.wait() != 0:
            raise RuntimeError(f"{self.argv[0]} exited {p.returncode}")

    def release(self):
        os.unlink(self.path)


class LockfilePeer(ToolPeer):
    poll_ms = 5000
    argv = ("lockfile-create", "-q", "--retry", "1000", "--lock-name")


class DotlockPeer(ToolPeer):
    poll_ms = 1000
    argv = ("dotlockfile", "-q", "-r", "-1", "-i", "1")


PEERS = {"filelock": FileLockPeer, "fasteners": FastenersPeer,
         "lockfile": LockfilePeer, "dotlock": DotlockPeer}


def py_worker(kind, path, sh, want, me):
    other = 1 - me
    peer = PEERS[kind](path, sh, me)
    rnd = random.Random(os.getpid())
    if me == 1 and not wait_for(lambda: sh.get("started"), 30):
        raise RuntimeError("worker 0 never started")
    while True:
        sh.set(**{f"tr{me}": 1})
        peer.acquire()
        t = now_ns()
        sh.set(**{f"tr{me}": 0})
        if sh.get("releaser") == other:
            k = sh.get("n")
            if k < want:
                struct.pack_into("=q", sh.m, Shared.SIZE + 8 * k, t - sh.get("t"))
            sh.set(n=k + 1)
        sh.set(owner=me, started=1)
        if sh.get("n") >= want or sh.get("done"):
            sh.set(done=1)
            peer.release()
            return
        if not wait_for(lambda: sh.get(f"tr{other}") and proc_sleeping(sh.get(f"p{other}")), 10):
            sh.set(unv=sh.get("unv") + 1)
        time.sleep(rnd.uniform(0, peer.poll_ms / 1000))
        sh.set(t=now_ns(), releaser=me)
        peer.release()
        if not wait_for(lambda: sh.get("owner") != me or sh.get("done"), 300):
            raise RuntimeError("the waiter never took the lock")


def py_handoff(kind, path, n):
    sh = Shared(n)
    pids = []
    for me in (0, 1):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                py_worker(kind, path, sh, n, me)
            except BaseException as e:  # the child must never return
                print(f"bench: {kind} worker {me}: {e!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        pids.append(pid)
    if any(os.waitpid(p, 0)[1] != 0 for p in pids):
        raise RuntimeError(f"{kind}: a worker failed")
    samples = list(struct.unpack_from(f"={n}q", sh.m, Shared.SIZE))
    return {"samples_ns": samples, "unverified": sh.get("unv")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="the build directory (B)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, under a minute")
    ap.add_argument("--json", help="write raw numbers here")
    ap.add_argument("--markdown", help="write the tables here")
    ap.add_argument("--only", help="comma-separated tables: handoff,cycle,contend,spawn,"
                    "inspect,clean,python")
    args = ap.parse_args()
    env_dir = os.environ.get("BENCH_DIR")
    base = env_dir or ("/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
    args.dir = tempfile.mkdtemp(prefix="pidlock-bench.", dir=base)
    os.chmod(args.dir, 0o755)
    b = Bench(args)
    started = time.monotonic()
    try:
        b.describe()
        tables = ["handoff", "cycle", "contend", "spawn", "inspect", "clean", "python"]
        b.results["table_seconds"] = {}
        for t in (args.only.split(",") if args.only else tables):
            t0 = time.monotonic()
            try:
                getattr(b, "t_" + t)()
            except (RuntimeError, OSError, subprocess.SubprocessError, KeyError) as e:
                b.notes.append(f"table {t} failed: {e}")
                b.out(f"### {t}: FAILED ({e})")
                b.out()
                b.failed = True
            b.results["table_seconds"][t] = round(time.monotonic() - t0, 1)
        b.summary()
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    b.results["seconds"] = time.monotonic() - started
    b.out(f"({b.results['seconds']:.0f} s; raw numbers in {args.json or '(not saved)'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(b.results, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(b.md) + "\n")
    # Goals may be missed (the numbers are reported); a broken harness fails.
    sys.exit(1 if b.failed else 0)


if __name__ == "__main__":
    main()
