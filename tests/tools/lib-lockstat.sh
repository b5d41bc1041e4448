# SPDX-License-Identifier: MIT
# Sourced by test-lockstat*.sh: the peers, and helpers that start holders
# and check what lockstat says of them.

FLOCK=/usr/bin/flock # util-linux flock(1), not build/flock
PY=$(command -v python3 || true)
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# --- helpers ----------------------------------------------------------------

# Every test starts here: its lock directory is $L, and whatever it
# started (listed in $T/.pids) is killed, by PID, when it ends.
setup() {
	trap cleanup EXIT
	L=$T/locks
	mkdir -p "$L"
	export PIDLOCK_DIR=$L
}
cleanup() {
	local p
	[ -f "$T/.pids" ] || return 0
	# kill_tree: only a PID that is still the test's (lib.sh)
	while read -r p; do kill_tree "$p"; done <"$T/.pids"
	return 0
}
remember() { echo "$1" >>"$T/.pids"; }

# spawn PIDFILE CMD...: runs CMD in the background, outside this shell's
# job table (no "Killed" notices), and writes its PID to PIDFILE.
spawn() {
	local f=$1
	shift
	("$@" </dev/null >/dev/null 2>&1 &
	 echo $! >"$f"; echo $! >>"$T/.pids")
}

# The record in $1 is complete and its line 1 names the PID in file $2
# (lockrun first records itself, then rewrites line 1 to the command).
record_ready() {
	[ -s "$2" ] && [ "$(head -n1 "$1" 2>/dev/null)" = "$(cat "$2")" ] &&
		tail -n1 "$1" 2>/dev/null | grep -q '^sum='
}
# The process is gone (or a zombie waiting for a reaper).
gone() {
	[ ! -e "/proc/$1" ] ||
		[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]
}

# expect_state FILE STATE [REASON-ERE]
expect_state() {
	run lockstat -n -o STATE,REASON "$1"
	[ "$status" = 0 ] || { fail "lockstat $1: exit $status ($err)"; return 1; }
	local st=${out%% *} why
	why=$(printf '%s' "${out#* }" | sed 's/^ *//')
	[ "$st" = "$2" ] || { fail "$1: state '$st' ($why), expected $2"; return 1; }
	[ -z "${3:-}" ] || printf '%s\n' "$why" | grep -Eq -- "$3" ||
		fail "$1: reason '$why' does not match /$3/"
}
# expect_col FILE COLUMN VALUE: one cell, padding removed
expect_col() {
	run lockstat -n -o "$2" "$1"
	out=$(printf '%s' "$out" | sed 's/^ *//; s/ *$//')
	[ "$status" = 0 ] && [ "$out" = "$3" ] ||
		fail "$1: $2 '$out' (exit $status), expected '$3'"
}
# expect_lsb FILE CODE: --status prints nothing and exits CODE
expect_lsb() {
	run lockstat --status "$1"
	[ "$status" = "$2" ] || fail "--status $1: exit $status, expected $2 ($err)"
	[ -z "$out$err" ] || fail "--status $1 printed '$out' '$err'"
}
expect_pid() {
	run lockstat --pid "$1"
	[ "$status" = 0 ] && [ "$out" = "$2" ] ||
		fail "--pid $1: exit $status, stdout '$out', expected $2 ($err)"
}
# --pid refuses: exit 1, nothing on stdout, the reason on stderr
expect_no_pid() {
	run lockstat --pid "$1"
	[ "$status" = 1 ] && [ -z "$out" ] ||
		fail "--pid $1: exit $status, stdout '$out', expected exit 1 and nothing"
	[ -n "$err" ] || fail "--pid $1: no reason on stderr"
}

need_python() { [ -n "$PY" ] || { skip_test "python3 missing"; return 1; }; }

# FNV-1a 32 of stdin, as in pidlock(5).
fnv1a() {
	"$PY" -c 'import sys
h = 0x811c9dc5
for b in sys.stdin.buffer.read():
    h = ((h ^ b) * 0x01000193) & 0xffffffff
print("%08x" % h)'
}
# record PID BOOT HOST [LINE...]: a version 1 record with a correct sum.
record() {
	local pid=$1 boot=$2 host=$3 body
	shift 3
	body=$(printf '%s\npidlock 1\nboot=%s\nstart=1\npidns=1\nuid=0\nhost=%s\ntime=1700000000\ncomm=remoted\n' \
		"$pid" "$boot" "$host"; for l in "$@"; do printf '%s\n' "$l"; done)
	printf '%s\nsum=%s\n' "$body" "$(printf '%s\n' "$body" | fnv1a)"
}
OTHER_BOOT=00000000-1111-2222-3333-444444444444

# json_check KEYS [ARGS]: stdin must be {"locks":[...]} whose objects have
# exactly KEYS (comma-separated, in order) with the types lockstat(1)
# documents (tests/tools/check-json.py).  Prints one line per lock: path
# state filepid holder-pids.
json_check() {
	local keys=$1
	shift
	"$PY" "$TOP/tests/tools/check-json.py" lockstat --keys "$keys" "$@"
}

# A lock held by lockrun running CMD: sets $lr (lockrun) and $cmd (the
# command, whose PID the record names once lockrun updated it).
hold() {
	local f=$1
	shift
	rm -f "$T/ready"
	# the holder lives until the test's cleanup kills it: a test that
	# takes over 30 s on a loaded machine must not see it go
	spawn "$T/lr.pid" lockrun "$@" "$f" sh -c 'echo $$ >"$1"; exec sleep 1000' sh "$T/ready"
	wait_until record_ready "$f" "$T/ready" || return 1
	lr=$(cat "$T/lr.pid") cmd=$(cat "$T/ready")
	remember "$cmd"
}
