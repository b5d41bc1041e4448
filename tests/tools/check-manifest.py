#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks what a tool reported or left behind against tests/data/pidfiles/MANIFEST.

  check-manifest.py json MODE REPORT DIR MANIFEST
      a lockstat -J (MODE lockstat) or lockclean -J (MODE clean, clean+,
      dry, dry+) report of DIR: each file's state, type, reason and action
  check-manifest.py after MODE BEFORE AFTER [RESULTS] MANIFEST
      listings of the lock directory before and after a tool ran.  MODE
      clean or clean+: each file removed or kept untouched; MODE lockrun:
      RESULTS has "name<TAB>status<TAB>stderr" lines, and each file is gone,
      the same, or the same inode emptied.

MANIFEST columns (tab-separated): file, template, state, type, lockclean
action, lockclean --pidfiles action, lockrun "status:what is left", reason
regex.  Prints at most 15 disagreements; exit status 1 if there are any.
"""
import json
import re
import sys


def manifest_rows(path):
    """(name in the lock directory, fields) for each catalogue line."""
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        name = f[0][4:] if f[0].startswith("gen:") else f[0].rsplit("/", 1)[-1]
        if name.endswith(".in"):
            name = name[:-3]
        yield name, f


class Verdict:
    def __init__(self, mode):
        self.mode, self.bad = mode, 0

    def err(self, msg):
        self.bad += 1
        if self.bad <= 15:
            print("ERROR: %s: %s" % (self.mode, msg))

    def done(self, checked):
        print("%s: %d files checked, %d disagreements" % (self.mode, checked, self.bad))
        return 1 if self.bad else 0


def check_json(mode, report, d, manifest):
    v = Verdict(mode)
    want = {d + "/" + name: dict(state=f[2], type=f[3], clean=f[4], cleanp=f[5], reason=f[7])
            for name, f in manifest_rows(manifest)}
    raw = open(report, "rb").read()
    try:
        j = json.loads(raw.decode("utf-8"))
    except Exception as e:
        v.err("not valid JSON: %r: %r" % (e, raw[:200]))
        return 1
    rows = j["locks"] if mode == "lockstat" else j["files"]
    got = {r["path"]: r for r in rows}
    if set(got) != set(want):
        v.err("paths differ: missing %s, extra %s" % (sorted(set(want) - set(got))[:5],
                                                      sorted(set(got) - set(want))[:5]))
    for p, w in sorted(want.items()):
        r = got.get(p)
        if r is None:
            continue
        if r["state"] != w["state"]:
            v.err("%s: state %s (%s), expected %s" % (p, r["state"], r.get("reason"), w["state"]))
        # lockclean gives its own reason for what it keeps, dry or real
        # (test-catalogue checks that the two runs give the same reasons)
        if (mode == "lockstat" or r.get("action") != "kept") and \
                not re.search(w["reason"], r.get("reason") or ""):
            v.err("%s: reason %r does not match /%s/" % (p, r.get("reason"), w["reason"]))
        if mode == "lockstat":
            # lockstat's FORMAT is the MANIFEST's type ("-": none, null)
            if (r["format"] or "-") != w["type"]:
                v.err("%s: format %s, expected %s" % (p, r["format"], w["type"]))
            if w["state"] in ("corrupt", "free", "unsafe", "unknown") and r["filepid"] is not None:
                v.err("%s: %s file shows PID %r" % (p, w["state"], r["filepid"]))
            continue
        expect = w["clean"] if mode in ("clean", "dry") else w["cleanp"]
        if mode.startswith("dry") and expect == "removed":
            expect = "would-remove"
        if r["action"] != expect:
            v.err("%s: action %s (%s: %s), expected %s" % (p, r["action"], r["state"], r["reason"], expect))
    return v.done(len(want))


def load_listing(p):
    return {l.split(" ", 1)[0]: l.rstrip("\n").split(" ") for l in open(p)}


def load_results(p):
    res = {}
    for l in open(p, errors="replace"):
        n, st, msg = (l.rstrip("\n").split("\t") + [""])[:3]
        res[n] = (st, msg)
    return res


def check_after(mode, before, after, results, manifest):
    v = Verdict(mode)
    b, a = load_listing(before), load_listing(after)
    res = load_results(results) if results else {}
    n = 0
    for name, f in manifest_rows(manifest):
        n += 1
        if mode == "lockrun":
            code, want = f[6].split(":")
            st, msg = res.get(name, ("missing", ""))
            if st != code:
                v.err("%s (%s): exit %s (%s), expected %s" % (name, f[2], st, msg, code))
            # A plain pidfile whose PID is in doubt (PID 1, older than the
            # boot) is busy, but its PID is named as the file's claim only.
            if code == "1" and not re.fullmatch(
                    r"lockrun: .*/%s: (held by|its pidfile names) PID [0-9]+ .*" % re.escape(name), msg):
                v.err("%s: exit 1 without a holder line: %r" % (name, msg))
        else:
            want = "gone" if f[4 if mode == "clean" else 5] == "removed" else "same"
        if want == "gone":
            if name in a:
                v.err("%s (%s): still there, expected gone" % (name, f[2]))
        elif name not in a:
            v.err("%s (%s): gone, expected %s" % (name, f[2], want))
        elif want == "same" and a[name] != b[name]:
            v.err("%s (%s): changed: %s -> %s" % (name, f[2], " ".join(b[name][1:5]), " ".join(a[name][1:5])))
        elif want == "empty" and (a[name][1] != b[name][1] or a[name][2] != "0"):
            v.err("%s (%s): not the same file emptied: %s" % (name, f[2], " ".join(a[name][1:3])))
    extra = set(a) - set(b)
    if extra:
        v.err("new files in the lock directory: %s" % sorted(extra)[:5])
    return v.done(n)


def main(argv):
    if len(argv) == 6 and argv[1] == "json":
        return check_json(*argv[2:6])
    if len(argv) in (6, 7) and argv[1] == "after":
        mode, before, after = argv[2:5]
        results = argv[5] if len(argv) == 7 else None
        return check_after(mode, before, after, results, argv[-1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
