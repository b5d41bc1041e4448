# SPDX-License-Identifier: MIT
# Shell test harness for the tools.  Sourced by tests/tools/test-*.sh.
# Prints CMocka-style lines so tests/run-tests counts these like the unit
# tests.  Each test is a function; helpers fail the current test with a
# message.  Every test runs in its own fresh directory $T.
#
#   . tests/tools/lib.sh
#   t_example() { run lockrun -n x true; expect_status 0; }
#   run_tests t_example ...

set -u
: "${B:=build}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$TOP/$B
export PATH="$BIN:$PATH"
SUITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pidlock-tools.XXXXXX")
chmod 755 "$SUITE_DIR"
# Tests run commands as nobody in their directory: a TMPDIR nobody cannot
# enter (root's private one) gives way to /tmp.
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=65534 --regid=65534 --clear-groups \
	test -x "$SUITE_DIR" 2>/dev/null; then
	rm -rf "$SUITE_DIR"
	SUITE_DIR=$(mktemp -d /tmp/pidlock-tools.XXXXXX)
	chmod 755 "$SUITE_DIR"
fi
# USER_BIN: copies of the tools that any user can run.  Tests run tools
# as nobody (setpriv, lockrun --user), but the checkout may sit in a
# private directory (/root, a mktemp -d) that nobody cannot enter.  The
# copies live in their own 0755 directory under /tmp (TMPDIR may be
# private too) and come after $BIN on PATH: root runs the build, and
# another user's execvp, sh or env, denied $BIN, goes on to the copies.
# A test that names a tool by path for another user uses $USER_BIN.
USER_BIN=$BIN
if [ "$(id -u)" = 0 ]; then
	USER_BIN=$(mktemp -d /tmp/pidlock-bin.XXXXXX)
	chmod 755 "$USER_BIN"
	for _t in lockrun lockstat lockclean; do
		cp "$BIN/$_t" "$USER_BIN/$_t"
	done
	ln -s lockrun "$USER_BIN/flock"
	export PATH="$BIN:$USER_BIN:${PATH#"$BIN:"}"
fi
trap 'rm -rf "$SUITE_DIR"; [ "$USER_BIN" = "$BIN" ] || rm -rf "$USER_BIN"' EXIT
_failed=0
# SANITIZED: the tools were built with SANITIZE=1 (they then need /proc,
# and programs linked to the library need the sanitizers too).
# NOLEAK: LeakSanitizer cannot work in a process under ptrace, so runs
# under strace use "env $NOLEAK strace ...".
SANITIZED=
if ldd "$TOP/$B/lockrun" 2>/dev/null | grep -q libasan; then
	SANITIZED=1
fi
NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# Under make valgrind, $VALGRIND is the memcheck command line
# (mk/valgrind.mk): the tools on PATH and in $BIN become wrapper scripts
# that exec it on the real binary.  exec keeps the PID (lockrun's PID,
# $!, $PPID and signals are the tool's own); valgrind runs the binary
# under the path given, so "flock" stays argv[0] for the flock symlink.
# Each process writes VALGRIND_LOGDIR/<suite>/<tool>.<pid>.log; make
# valgrind scans them when the suites are done.  VALGRIND_SKIP lists
# "test-name reason" lines: tests that cannot work under valgrind.
if [ -n "${VALGRIND:-}" ]; then
	_vg_logs=${VALGRIND_LOGDIR:-$TOP/$B/valgrind}/$(basename "$0" .sh)
	mkdir -p "$_vg_logs" "$SUITE_DIR/.vg"
	chmod 1777 "$_vg_logs" # tests run tools as other users too
	# The wrapper runs the binary of its own name, so that a symlink
	# "flock" to the lockrun wrapper still runs the tool as flock; valgrind
	# finds it on PATH by that bare name, so argv[0] (which getopt's
	# messages print) is "flock", not a path.  The price: a tool started
	# by a tool's command finds the real binary first and is not traced.
	printf '#!/bin/sh\nn=${0##*/}\nPATH=%s:$PATH exec %s --log-file=%s/$n.%%p.log $n "$@"\n' \
		"$BIN" "$VALGRIND" "$_vg_logs" >"$SUITE_DIR/.vg/lockrun"
	chmod 755 "$SUITE_DIR/.vg/lockrun"
	for _t in lockstat lockclean flock; do
		cp "$SUITE_DIR/.vg/lockrun" "$SUITE_DIR/.vg/$_t"
	done
	chmod 755 "$SUITE_DIR/.vg"
	BIN=$SUITE_DIR/.vg
	export PATH="$BIN:$PATH"
fi
# What /proc/PID/comm says of a running lockrun: valgrind keeps its own
# executable's name (cut to 15 bytes) for the process it runs.
if [ -n "${VALGRIND:-}" ]; then
	LOCKRUN_COMM=memcheck-amd64-
else
	LOCKRUN_COMM=lockrun
fi
# valgrind_skip NAME: the reason NAME cannot run under valgrind, if any.
valgrind_skip() {
	[ -n "${VALGRIND:-}" ] || return 1
	printf '%s\n' "${VALGRIND_SKIP:-}" | sed -n "s/^ *$1  *//p" | grep .
}

fail() { printf 'ERROR: %s\n' "$*"; _failed=1; return 1; }
skip_test() { printf 'SKIP %s: %s\n' "$_current" "$*"; _skipped=1; }
need_root() { [ "$(id -u)" = 0 ] || { skip_test "needs root (run as root; CI does)"; return 1; }; }

# run CMD...: runs with a safety limit that only catches a hang (RUN_LIMIT
# seconds: 60, and 120 under memcheck, where every tool runs 20-50 times
# slower); sets $status, $out, $err.  Never a measure.  Not for a command
# that must end by a signal under ASan: timeout(1) follows its signal with
# SIGCONT to its process group, which cancels the SIGSTOP of the leak
# check's ptrace attach at exit, and the process then never ends (see
# watch() in test-lockstat-output.sh).
RUN_LIMIT=${RUN_LIMIT:-$([ -n "${VALGRIND:-}" ] && echo 120 || echo 60)}
run() {
	timeout -k 2 "$RUN_LIMIT" "$@" >"$T/.out" 2>"$T/.err"
	status=$?
	out=$(cat "$T/.out"); err=$(cat "$T/.err")
	return 0
}
# The tables of lockstat and lockclean fit COLUMNS when it is set: tests
# that want a width set it themselves.
unset COLUMNS

# clean_lines: lockclean's report table (stdin) as one line per file in
# the form "ACTION PATH (STATE: REASON; was PID N, COMMAND)", the header
# dropped and other lines (the summary) kept, so that tests match what a
# row says, not how wide its columns are.  Columns are cut at the header's
# word positions (the names in the tests have no wide characters).
clean_lines() {
	awk '
	/^ACTION +PATH +STATE +FILEPID +FILECOMMAND +REASON *$/ {
		np = 0
		for (i = 1; i <= length($0); i++)
			if (substr($0, i, 1) != " " && (i == 1 || substr($0, i - 1, 1) == " "))
				pos[++np] = i
		next
	}
	np == 6 && /^(removed|would-remove|kept|failed) / && !/^removed [0-9]+, kept [0-9]+, failed [0-9]+$/ {
		for (k = 1; k <= 6; k++) {
			f[k] = k < 6 ? substr($0, pos[k], pos[k + 1] - pos[k]) : substr($0, pos[k])
			gsub(/^ +| +$/, "", f[k])
		}
		printf "%s %s (%s%s%s", f[1], f[2], f[3], f[6] != "" ? ": " : "", f[6]
		if (f[5] != "")
			printf "; was PID %s, %s", f[4], f[5]
		print ")"
		next
	}
	{ print }'
}
# run_clean CMD...: run, with $out through clean_lines.
run_clean() {
	run "$@"
	out=$(printf '%s\n' "$out" | clean_lines)
}

expect_status() { [ "$status" = "$1" ] || fail "exit status $status, expected $1 (stderr: $err)"; }
expect_out() { [ "$out" = "$1" ] || fail "stdout '$out', expected '$1'"; }
expect_err() { [ "$err" = "$1" ] || fail "stderr '$err', expected '$1'"; }
expect_err_match() { printf '%s' "$err" | grep -Eq -- "$1" || fail "stderr '$err' does not match /$1/"; }
expect_out_match() { printf '%s' "$out" | grep -Eq -- "$1" || fail "stdout '$out' does not match /$1/"; }
expect_file() { [ -e "$1" ] || fail "$1 missing"; }
expect_no_file() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1 exists"; }
# after a release: the lock file is kept and empty (pidlock(5)), or gone
expect_released() {
	[ ! -e "$1" ] && [ ! -L "$1" ] && return 0
	[ -f "$1" ] && [ ! -L "$1" ] && [ ! -s "$1" ] ||
		fail "$1 holds a record after release: $(head -c 100 "$1" | tr '\n' ' ')"
}

# compat ARGS...: runs util-linux flock(1) as "flock" (ul_status, ul_out,
# ul_err), then ours as "flock" ($status, $out, $err).
UL=/usr/bin/flock
compat() {
	run bash -c 'exec -a flock '"$UL"' "$@"' flock "$@"
	ul_status=$status ul_out=$out ul_err=$err
	run flock "$@"
}
expect_same_status() {
	[ "$status" = "$ul_status" ] || fail "flock $*: exit $status, util-linux flock(1) exits $ul_status (stderr: '$err' vs '$ul_err')"
}
expect_same() {
	expect_same_status "$@"
	[ "$err" = "$ul_err" ] || fail "flock $*: stderr '$err', util-linux flock(1) prints '$ul_err'"
}

# wait_until CMD...: polls a condition for up to 10 s (never a fixed sleep).
wait_until() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt 1000 ] || { fail "timed out waiting for: $*"; return 1; }
		sleep 0.01
	done
}
# the file exists and its lock is held (seen in /proc/locks by inode)
is_locked() {
	[ -e "$1" ] || return 1
	ino=$(stat -c %i "$1")
	grep -q ":$ino " /proc/locks
}

# ours PID: PID is a process of the current test.  Every process a test
# starts inherits PIDLOCK_TEST_TAG=$T (run_tests exports it); a PID listed
# in $T/.pids whose process ended long ago may meanwhile name anyone's
# process (PIDs wrap at pid_max in seconds on a busy machine), and must
# not be killed: that SIGKILLed a parallel suite's loop once.
# A subshell of the test that has not exec'd (sleep 30 >FIFO &, blocked
# in open) shows the environment the suite started with: a descendant of
# the test's shell is ours too (an unreaped child keeps its PID).
ours() {
	local p=$1 n=0
	grep -qzxF "PIDLOCK_TEST_TAG=$T" "/proc/$1/environ" 2>/dev/null && return 0
	while [ $n -lt 64 ]; do
		p=$(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$p" ] && [ "$p" -gt 1 ] || return 1
		[ "$p" = "$BASHPID" ] && return 0
		n=$((n + 1))
	done
	return 1
}

# kill_tree PID: SIGKILL to PID and all its descendants (stopped first, so
# that none forks away meanwhile), if PID is still the test's process.
kill_tree() {
	ours "$1" || return 0
	kill -STOP "$1" 2>/dev/null || return 0
	# the PID may have changed hands between the check and the stop
	ours "$1" || { kill -CONT "$1" 2>/dev/null; return 0; }
	_kill_stopped_tree "$1"
}
# The children of a stopped process of ours are ours (a child that ends
# stays a zombie, its PID taken, until the stopped parent reaps it), even
# one whose environment was emptied.
_kill_stopped_tree() {
	local c
	for c in $(pgrep -P "$1"); do
		kill -STOP "$c" 2>/dev/null && _kill_stopped_tree "$c"
	done
	kill -9 "$1" 2>/dev/null
	return 0
}

# track PID...: background processes of the test (commands may append
# their own PIDs to $T/.pids too), killed with their descendants when the
# test's subshell exits, however it ends: a test's stragglers must not
# hold its locks or pipes into the next test.
track() { echo "$@" >>"$T/.pids"; trap "kill_tracked 2>/dev/null" EXIT; }
kill_tracked() {
	[ -f "$T/.pids" ] || return 0
	local pids
	pids=$(cat "$T/.pids")
	for p in $pids; do kill_tree "$p"; done
	wait $pids # reap ours (a PID that is not our child: no wait)
	return 0
}

# PIDLOCK_TESTS="t_a t_b ...": run only these of the suite (make valgrind's short
# CI run picks a few of each suite this way); the rest are not counted.
run_tests() {
	n=0 passed=0 failed=0 skipped=0 names=""
	if [ -n "${PIDLOCK_TESTS:-}" ]; then
		local picked="" x
		for x in "$@"; do
			case " $PIDLOCK_TESTS " in *" $x "*) picked="$picked $x" ;; esac
		done
		set -- $picked
	fi
	printf '[==========] Running %d test(s).\n' "$#"
	for t in "$@"; do
		n=$((n + 1)); _failed=0; _skipped=0; _current=$t
		T=$SUITE_DIR/$t; mkdir -p "$T"; chmod 755 "$T"
		export PIDLOCK_TEST_TAG=$T
		printf '[ RUN      ] %s\n' "$t"
		if _why=$(valgrind_skip "$t"); then
			printf 'SKIP %s: skipped under valgrind: %s\n' "$t" "$_why"
			rc=77
		else
			(cd "$T" && { "$t"; verdict; }); rc=$?
		fi
		# a test's subshell cannot set our variables: read its verdict
		if [ $rc -eq 77 ]; then
			skipped=$((skipped + 1)); printf '[  SKIPPED ] %s\n' "$t"
		elif [ $rc -ne 0 ]; then
			failed=$((failed + 1)); names="$names $t"; printf '[  FAILED  ] %s\n' "$t"
		else
			passed=$((passed + 1)); printf '[       OK ] %s\n' "$t"
		fi
		pkill -9 -f "$T/" 2>/dev/null
	done
	printf '[==========] %d test(s) run.\n' "$n"
	printf '[  PASSED  ] %d test(s).\n' "$passed"
	[ $skipped -eq 0 ] || printf '[  SKIPPED ] %d test(s).\n' "$skipped"
	if [ $failed -ne 0 ]; then
		printf '[  FAILED  ] %d test(s), listed below:\n' "$failed"
		for x in $names; do printf '[  FAILED  ] %s\n' "$x"; done
		exit 1
	fi
	exit 0
}

# A test's verdict, taken in its subshell after it returns.
verdict() { [ "$_skipped" = 1 ] && return 77; return $_failed; }
