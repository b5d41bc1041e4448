# SPDX-License-Identifier: MIT
# Sourced by test-lockrun*.sh: background processes that are always
# reaped, holders, and the start-up cost of a run.

UL=/usr/bin/flock
NOBODY=65534

# --- helpers ----------------------------------------------------------------

# Every background process is tracked (lib.sh) and SIGKILLed when the
# test ends, however it ends.  Commands append their own PIDs (they may
# outlive a SIGKILLed lockrun); lockrun itself always gets a path under $T,
# so the harness's pkill -f "$T/" catches it too.
# spawn CMD...: runs CMD in the background (output to files, so that no
# straggler keeps a caller's pipe open); sets $pid.
spawn() {
	"$@" >>"$T/.bg.out" 2>>"$T/.bg.err" &
	pid=$!
	track "$pid"
}
# bg NAME CMD...: runs CMD in the background; its stderr goes to NAME.err
# and, when it ends, its exit status to NAME.st (waits stay bounded).
bg() {
	local n=$1
	shift
	( "$@" >>"$T/.bg.out" 2>"$T/$n.err"; echo $? >"$T/$n.st.tmp"; mv "$T/$n.st.tmp" "$T/$n.st" ) &
	track "$!"
}
# bg_status NAME: waits for bg NAME to end; sets $status and $err.
bg_status() {
	wait_until test -s "$T/$1.st" || { status=timeout; err=$(cat "$T/$1.err"); return 1; }
	status=$(cat "$T/$1.st"); err=$(cat "$T/$1.err")
}
# reap PID: waits for a process we killed, without the shell's "Killed".
reap() { { wait "$1"; } 2>/dev/null; return 0; }
# a blocked lock request waits on FILE (a "->" line in /proc/locks)
is_waiting() { grep -q -- "-> .*:$(stat -c %i "$1") " /proc/locks; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# start_cost: what starting and ending a tool costs here and now, in ms (a
# sanitized build, a busy machine): time limits are judged on top of it.
start_cost() {
	local s
	s=$(now_ms)
	lockrun -n "$T/.start-cost" true
	echo $(($(now_ms) - s))
}

# A command that records its PID (NAME.pid, written last, atomically) and
# lockrun's (NAME.lr: its parent), then holds on until NAME.go exists.
# Usage: lockrun ... sh -c "$HOLD" sh NAME
HOLD='echo $$ >>.pids; echo $PPID >"$1.lr"; echo $$ >"$1.tmp"; mv "$1.tmp" "$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.01; done'
# The same, but it becomes "sleep 60" (no child processes; dies of signals).
HOLD_EXEC='echo $$ >>.pids; echo $PPID >"$1.lr"; echo $$ >"$1.tmp"; mv "$1.tmp" "$1.pid"; exec sleep 60'

# started NAME: waits until the command NAME runs; sets $cpid (its PID).
started() { wait_until test -s "$T/$1.pid" || return 1; cpid=$(cat "$T/$1.pid"); }

# hold FILE [lockrun options]: lockrun holds FILE (command c); sets $cpid.
hold() {
	local f=$1
	shift
	spawn lockrun "$@" "$T/$f" sh -c "$HOLD" sh c
	started c && wait_until is_locked "$f"
}

# compat, expect_same_status, expect_same: see lib.sh.

# nothing_left: the test directory holds nothing but the harness's files
# and emptied lock files (kept on release: pidlock(5)).
nothing_left() {
	local left
	left=$(find . -mindepth 1 -maxdepth 1 ! \( -type f -empty \) -printf '%P\n' |
		grep -Ev '^\.(out|err|pids|bg\.out|bg\.err)$' | grep -Ev "${1:-^$}")
	[ -z "$left" ] || fail "files left behind: $(echo $left)"
}
