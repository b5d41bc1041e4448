#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A hand-written schema check of lockstat -J and lockclean -J (the shape
lockstat(1) and lockclean(8) document), with no dependency beyond python3.

usage: check-json.py lockstat [--keys K1,K2,...] [--iso] [--bytes] [--lines]
       check-json.py lockclean [--dry-run]
Reads the JSON (with --lines: JSON Lines, one document per line) on stdin,
fails with the first violation, and prints one summary line per lock:
"PATH STATE FILEPID HOLDERS" (lockstat) or "ACTION PATH STATE" (lockclean).
"""
import datetime
import json
import sys

STATES = {"none", "free", "live", "live-inherited", "stale", "reused",
          "foreign", "remote", "corrupt", "unsafe", "unknown"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def opt(check):
    return lambda v: v is None or check(v)


def is_str(v):
    return isinstance(v, str) and v != ""


def one_of(*values):
    return lambda v: v in values


def int_list(v):
    return isinstance(v, list) and all(is_int(x) and x > 0 for x in v)


def iso_time(v):
    datetime.datetime.fromisoformat(v)  # raises if it is not ISO 8601
    return is_str(v) and "T" in v


# Every key lockstat -J can write, in --output-all order, and its type.
LOCKSTAT = {
    "path": is_str,
    "state": lambda v: v in STATES,
    "filepid": opt(is_int),
    "filecommand": opt(is_str),
    "since": opt(is_int),
    "age": opt(is_int),
    "host": opt(is_str),
    "holders": int_list,
    "message": opt(is_str),
    "pid": opt(lambda v: is_int(v) and v > 0),
    "command": opt(is_str),
    "waiters": int_list,
    "mode": opt(one_of("WRITE", "READ")),
    "type": opt(one_of("FLOCK", "POSIX", "OFDLCK")),
    "format": opt(one_of("pidlock", "plain", "flock")),
    "uid": opt(is_int),
    "boot": opt(is_str),
    "reason": opt(is_str),
    "holder": opt(is_int),
    "owner": opt(is_int),
    "size": opt(is_str),
    "inode": opt(is_int),
}
DEFAULT = ["path", "state", "filepid", "filecommand", "since", "age", "host",
           "holders", "message"]

LOCKCLEAN = {
    "action": one_of("removed", "would-remove", "kept", "failed"),
    "path": is_str,
    "state": lambda v: v in STATES,
    "filepid": opt(is_int),
    "filecommand": opt(is_str),
    "host": opt(is_str),
    "reason": opt(is_str),
}


def fail(msg):
    sys.stderr.write("schema: %s\n" % msg)
    sys.exit(1)


def check_object(o, schema, keys):
    if not isinstance(o, dict):
        fail("not an object: %r" % (o,))
    if list(o) != keys:
        fail("keys %r, expected %r" % (list(o), keys))
    for k, v in o.items():
        try:
            ok = schema[k](v)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            fail("%s: %r in %r" % (k, v, o))


def lockstat(doc, args):
    schema = dict(LOCKSTAT)
    if "--iso" in args:
        schema["since"] = opt(iso_time)
    if "--bytes" in args:
        schema["size"] = opt(is_int)
    keys = DEFAULT
    if "--keys" in args:
        keys = args[args.index("--keys") + 1].split(",")
    if not isinstance(doc, dict) or list(doc) != ["locks"]:
        fail("top level: %r" % (doc,))
    if not isinstance(doc["locks"], list):
        fail("locks is not a list")
    for o in doc["locks"]:
        check_object(o, schema, keys)
        print(o.get("path"), o.get("state"), o.get("filepid"),
              ",".join(str(p) for p in o.get("holders", [])) or "-")


def lockclean(doc, args):
    if not isinstance(doc, dict) or list(doc) != ["files", "summary"]:
        fail("top level: %r" % (doc,))
    count = {"removed": 0, "would-remove": 0, "kept": 0, "failed": 0}
    for o in doc["files"]:
        check_object(o, LOCKCLEAN, list(LOCKCLEAN))
        count[o["action"]] += 1
        print(o["action"], o["path"], o["state"])
    first = "would-remove" if "--dry-run" in args else "removed"
    want = {first: count[first], "kept": count["kept"], "failed": count["failed"]}
    if doc["summary"] != want:
        fail("summary %r, the files say %r" % (doc["summary"], want))
    paths = [o["path"] for o in doc["files"]]
    if paths != sorted(paths, key=lambda p: p.encode("utf-8", "surrogateescape")):
        fail("files not sorted by path: %r" % paths)


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")  # strict: JSON is UTF-8
    except UnicodeDecodeError as e:
        fail("not UTF-8: %s" % e)
    docs = text.splitlines() if "--lines" in args else [text]
    if not docs:
        fail("no document")
    for d in docs:
        try:
            doc = json.loads(d)
        except ValueError as e:
            fail("not JSON (%s): %r" % (e, d[:200]))
        (lockstat if tool == "lockstat" else lockclean)(doc, args)


main()
