#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: pidlock at work, in a temporary directory.
set -eu
B=${1:-build}
demo=$(mktemp -d "${TMPDIR:-/tmp}/pidlock-demo.XXXXXX")
holder= job= jobcmd= report= daemon=
# Everything the demo started goes with it, however it ends (most are
# dead by then: set +e).
cleanup() {
	set +e
	[ -n "$report" ] && pkill -P "$report"
	kill $holder $job $jobcmd $report $daemon
	rm -rf "$demo"
	return 0
}
trap 'cleanup 2>/dev/null' EXIT
export PIDLOCK_DIR=$demo
ex=$B/example

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; rc=0; "$@" 2>&1 || rc=$?; [ $rc -eq 0 ] || echo "(exit status $rc)"; }
wait_for() { i=0; until [ -e "$1" ]; do i=$((i+1)); [ $i -lt 500 ] || exit 1; sleep 0.01; done; }
# names_command FILE LOCKRUN-PID: the record's line 1 names lockrun's command
# (lockrun first names itself, then its child, right after the fork).
names_command() { [ -s "$1" ] && [ "$(head -n1 "$1")" != "$2" ]; }
wait_named() { i=0; until names_command "$1" "$2"; do i=$((i+1)); [ $i -lt 500 ] || exit 1; sleep 0.01; done; }

step "library: the first instance takes the lock (a pidfile with a record)"
$ex 60 &
holder=$!
wait_for "$demo/example.lock"
show cat "$demo/example.lock"

step "a second instance is refused and told who holds the lock"
show $ex

step "the holder is killed with SIGKILL: its lock file stays behind"
kill -9 $holder; wait $holder 2>/dev/null || true
show ls -l "$demo"

step "the next instance recovers the stale lock and says so"
show $ex
show ls -A "$demo"

step "lockrun: a cron job runs under a named lock with a message"
lockrun=$B/lockrun
$lockrun -N backup -m "nightly backup" sleep 60 &
job=$!
wait_named "$demo/backup.lock" $job
jobcmd=$(head -n1 "$demo/backup.lock")
show cat "$demo/backup.lock"

step "a second run is refused (exit 1) and names the holder"
show $lockrun -n -N backup true

step "lockrun is killed with SIGKILL, but its command still holds the lock"
kill -9 $job; wait $job 2>/dev/null || true
show $lockrun -n -N backup true

step "the command dies too; the next run recovers the stale lock"
kill -9 $jobcmd
show $lockrun -n --verbose -N backup sh -c 'echo "command sees LOCKRUN_RECOVERED=$LOCKRUN_RECOVERED"'

step "lockstat: who holds what (a live job, a stale lock, a daemon's pidfile)"
$lockrun -N report -m "monthly report" sleep 60 &
report=$!
$lockrun --remove -N crashed sleep 60 &  # a pidfile: lockclean removes it once stale
crashed=$!
wait_for "$demo/report.lock"
wait_named "$demo/crashed.lock" $crashed
crashedcmd=$(head -n1 "$demo/crashed.lock")
kill -9 $crashed; wait $crashed 2>/dev/null || true  # it cannot release
kill -9 $crashedcmd
sleep 60 & daemon=$!
echo $daemon > "$demo/daemon.pid"
show $B/lockstat
show $B/lockstat --status crashed

step "lockclean: the stale lock goes, the live one and the daemon's pidfile stay"
show $B/lockclean -v
show ls -A "$demo"
