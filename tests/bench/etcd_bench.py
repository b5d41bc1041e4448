#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench, table 8: lockrun --etcd against etcdctl lock, one run.

Starts its own etcd on 127.0.0.1 (random free ports, data in a temporary
directory, stopped at the end), then measures, for both tools:
  acquire: one whole `TOOL NAME true` (lease, lock, run, release);
  handoff: the holder's command is told to exit -> the waiter's command
           has started (the waiter already queued on etcd).
Prints a Markdown table of medians and appends it to --markdown.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def keys_under(url, prefix):
    p = prefix.encode()
    end = p[:-1] + bytes([p[-1] + 1])
    r = post(url, "/v3/kv/range", {"key": base64.b64encode(p).decode(),
                                    "range_end": base64.b64encode(end).decode(),
                                    "count_only": True})
    return int(r.get("count", 0))


def wait_for(cond, timeout=20):
    t = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > t:
            raise RuntimeError("timed out")
        time.sleep(0.005)


def start_etcd(tmp):
    c, p = free_port(), free_port()
    url = f"http://127.0.0.1:{c}"
    log = open(os.path.join(tmp, "etcd.log"), "w")
    proc = subprocess.Popen([
        "etcd", "--name", "bench", "--data-dir", os.path.join(tmp, "data"),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", f"http://127.0.0.1:{p}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
        "--initial-cluster", f"bench=http://127.0.0.1:{p}"],
        stdout=log, stderr=log)

    def healthy():
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except OSError:
            return False
    wait_for(healthy)
    return proc, url


def tool_cmd(tool, url, name, lockrun):
    if tool == "lockrun":
        return [lockrun, "--etcd", url, "-N", name]
    return ["etcdctl", "--endpoints", url, "lock", name, "--"]


def acquire(tool, url, lockrun, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic_ns()
        subprocess.run(tool_cmd(tool, url, "acq", lockrun) + ["true"], check=True,
                       stdout=subprocess.DEVNULL)
        out.append(time.monotonic_ns() - t0)
    return out


def handoff(tool, url, lockrun, n, tmp):
    out = []
    for i in range(n):
        name = f"hand{i}{tool}"
        # etcdctl lock gives its command no stdin: the holder is released
        # through a FIFO
        fifo = os.path.join(tmp, name)
        os.mkfifo(fifo)
        a = subprocess.Popen(tool_cmd(tool, url, name, lockrun) +
                             ["sh", "-c", 'echo held; read x <"$0"', fifo],
                             stdout=subprocess.PIPE)
        a.stdout.readline()
        b = subprocess.Popen(tool_cmd(tool, url, name, lockrun) + ["sh", "-c", "echo go"],
                             stdout=subprocess.PIPE)
        wait_for(lambda: keys_under(url, name + "/") == 2)
        t0 = time.monotonic_ns()
        with open(fifo, "w") as f:
            f.write("x\n")
        b.stdout.readline()
        out.append(time.monotonic_ns() - t0)
        a.wait()
        b.wait()
    return out


def ms(ns):
    return f"{ns / 1e6:.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    n = 3 if args.quick else 30
    lockrun = os.path.abspath(os.path.join(args.build, "lockrun"))
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        print("8. etcd: not measured: etcd-server and etcd-client are not installed")
        return
    tmp = tempfile.mkdtemp(prefix="pidlock-bench-etcd.")
    proc = None
    try:
        proc, url = start_etcd(tmp)
        res = {}
        for tool in ("lockrun", "etcdctl"):
            res[tool] = (acquire(tool, url, lockrun, n), handoff(tool, url, lockrun, n, tmp))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["", "## 8. Across hosts: etcd on loopback (lockrun --etcd vs etcdctl lock)", "",
             f"{n} runs each, medians; one etcd 3.4 member on 127.0.0.1, same run.", "",
             "| what | lockrun --etcd | etcdctl lock | lockrun vs etcdctl |",
             "|---|---|---|---|"]
    for i, what in enumerate(("acquire: whole `TOOL NAME true`",
                              "handoff: holder's command exits → waiter's command runs")):
        lr = statistics.median(res["lockrun"][i])
        ec = statistics.median(res["etcdctl"][i])
        lines.append(f"| {what} | {ms(lr)} | {ms(ec)} | {lr / ec:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
