# SPDX-License-Identifier: MIT
# Sourced by test-lockclean*.sh: the tools copied once, facts of this
# boot, and helpers that make records, stale files and reports.

# The tools under test, copied once: a rebuild while the suite runs (the
# race test takes a minute) must not swap binaries under running loops.
mkdir "$SUITE_DIR/bin" &&
	cp "$BIN/lockrun" "$BIN/lockclean" "$SUITE_DIR/bin/" &&
	ln -s lockrun "$SUITE_DIR/bin/flock" &&
	PATH=$SUITE_DIR/bin:$PATH

BOOT=$(cat /proc/sys/kernel/random/boot_id)
HOST=$(uname -n)
BTIME=$(awk '$1 == "btime" { print $2 }' /proc/stat)
NOBODY=65534
OTHER_BOOT=0f0e0d0c-0b0a-4908-8706-050403020100

# --- helpers ----------------------------------------------------------------

# spawn CMD...: runs CMD in the background, sets $pid, and makes sure it is
# killed when the test ends, however it ends.
spawn() {
	"$@" &
	pid=$!
	track "$pid"
}
# reap PID: waits for a process we killed, without the shell's "Killed".
reap() { { wait "$1"; } 2>/dev/null; return 0; }

# make_stale FILE [lockrun options]: a record whose holder was killed.
# Without -k it is written with --remove (no keep=1): the kind of record
# that lockclean removes once stale (pidlock(5): keep=1 records are kept).
make_stale() {
	local f=$1 p
	shift
	case " $* " in *" -k "*) ;; *) set -- --remove "$@" ;; esac
	spawn lockrun "$@" -F "$f" sleep 1000
	p=$pid
	wait_until is_locked "$f" || return 1
	kill -9 "$p"
	reap "$p"
}

# A PID that no process has: a shell that has exited.
dead_pid() { sh -c 'echo $$'; }

# mkrec FILE PID BOOT HOST UID [LINE...]: writes a pidlock record with a
# correct sum= (FNV-1a 32 over every byte before the sum line).
mkrec() {
	python3 - "$@" <<'EOF'
import os, sys, time
f, pid, boot, host, uid = sys.argv[1:6]
extra = "".join(line + "\n" for line in sys.argv[6:])
pidns = os.stat("/proc/self/ns/pid").st_ino
body = (f"{pid}\npidlock 1\nboot={boot}\nstart=4242\npidns={pidns}\n"
        f"uid={uid}\nhost={host}\ntime={int(time.time())}\ncomm=forged\n{extra}")
h = 0x811C9DC5
for b in body.encode():
    h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
with open(f, "w") as out:
    out.write(body + "sum=%08x\n" % h)
EOF
}

# json_check FILE PYTHON-EXPR...: loads FILE as JSON into j (files: the list,
# by: path -> entry) and asserts each expression.
json_check() {
	local f=$1
	shift
	python3 - "$f" "$@" <<'EOF' || fail "JSON check failed (see above)"
import json, sys
raw = open(sys.argv[1], "rb").read()
try:
    j = json.loads(raw.decode("utf-8"))
except Exception as e:
    print("ERROR: not valid UTF-8 JSON: %r: %r" % (e, raw[:300]))
    sys.exit(1)
files = j["files"]
by = {e["path"]: e for e in files}
ok = True
for expr in sys.argv[2:]:
    try:
        good = eval(expr)
    except Exception as e:
        good = False
        print("ERROR: %s raised %r" % (expr, e))
    if not good:
        ok = False
        print("ERROR: JSON check: %s\n  in %s" % (expr, json.dumps(j)[:2000]))
sys.exit(0 if ok else 1)
EOF
}

# A snapshot of a tree: names, types, modes, owners, link counts, sizes,
# link targets and content checksums.  Timestamps are left out on purpose.
snapshot() {
	find "$@" -printf '%p %y %m %u %n %s %l\n' | sort
	find "$@" -type f -exec sha256sum {} + | sort
}

as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

# age FILE SECONDS: sets FILE's mtime SECONDS into the past.
age() { touch -d "@$(($(date +%s) - $2))" "$1"; }
