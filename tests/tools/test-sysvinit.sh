#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/sysvinit/example-singleton: its start, status, stop, restart
# actions with the built tools, a dummy daemon (sleep, under a name in $T)
# and a lock file in $T, checked by LSB exit codes and by the processes.
# The behaviours an LSB script gets from start-stop-daemon are checked on
# the same script written with start-stop-daemon too (docs/sysvinit/), and
# where the two differ, both answers are pinned (docs/sysvinit/README.md).
# As root in a PID namespace of its own (in-pidns), where a PID can be
# handed to an innocent process on purpose.
[ -n "${PIDLOCK_IN_PIDNS:-}" ] || exec "$(dirname "$0")/in-pidns" bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

LR_SCRIPT=$TOP/contrib/sysvinit/example-singleton
SSD_SCRIPT=$TOP/docs/sysvinit/example-singleton.start-stop-daemon
SCRIPT=$LR_SCRIPT
SSD=$(PATH=/usr/sbin:/sbin:$PATH command -v start-stop-daemon)

# setup: a defaults file pointing the script at the test's paths (quoted:
# the checkout's path may have a space).
setup() {
	mkdir -p bin
	ln -sf "$(command -v sleep)" bin/example-daemon
	cat >defaults <<EOF
DAEMON='$T/bin/example-daemon'
DAEMON_ARGS=1000
LOCKRUN='$BIN/lockrun'
LOCKSTAT='$BIN/lockstat'
LOCKFILE='$T/example.lock'
PIDFILE='$T/example.pid'
SSD='$SSD'
LOGFILE='$T/daemon.log'
RETRY=TERM/5/KILL/5
EOF
	export EXAMPLE_SINGLETON_DEFAULTS=$T/defaults
}

# action ARGS...: runs the script (with dash, as /bin/sh on Debian).
action() { run sh "$SCRIPT" "$@"; }

# daemons: the PIDs of running dummy daemons.
daemons() { pgrep -f "^$T/bin/example-daemon " | sort; }

# settled: what the lockrun script's start waits for itself, the daemon's
# exec, waited for here after the start-stop-daemon script's (its
# --background returns before the exec).  A restart too soon after a start
# makes it start a second daemon: its stop does not recognise the first.
settled() {
	[ "$SCRIPT" = "$SSD_SCRIPT" ] || return 0
	wait_until eval '[ -s example.pid ] && [ "$(readlink /proc/$(cat example.pid)/exe)" = "$(readlink -f "$(command -v sleep)")" ]'
}

t_script_is_lsb() {
	local f SCRIPT
	for SCRIPT in "$LR_SCRIPT" "$SSD_SCRIPT"; do
	for f in Provides Required-Start Required-Stop Default-Start Default-Stop Short-Description; do
		sed -n '/^### BEGIN INIT INFO$/,/^### END INIT INFO$/p' "$SCRIPT" | grep -q "^# $f:" ||
			fail "LSB header lacks $f"
	done
	[ -x "$SCRIPT" ] || fail "$SCRIPT is not executable"
	run sh -n "$SCRIPT"
	expect_status 0
	if command -v checkbashisms >/dev/null 2>&1; then
		run checkbashisms "$SCRIPT"
		expect_status 0
	fi
	done
}

t_not_running() {
	setup
	action status
	expect_status 3
	expect_out "example singleton daemon is not running"
	action stop
	expect_status 0
	expect_out "example singleton daemon is not running"
}

t_start_status_stop() {
	setup
	action start
	expect_status 0 || return
	settled
	local pid
	pid=$(daemons)
	[ -n "$pid" ] || { fail "no daemon after start"; return; }
	expect_out "started example singleton daemon (PID $pid)"
	if [ "$SCRIPT" = "$LR_SCRIPT" ]; then
		[ "$(head -n1 example.lock)" = "$pid" ] || fail "the lock file's line 1 is not the daemon: $(head -n1 example.lock)"
		grep -qx 'msg=init script example-singleton' example.lock || fail "no message in the record"
	fi
	action status
	expect_status 0
	expect_out "example singleton daemon is running (PID $pid)"
	# start again: nothing new, success (LSB)
	action start
	expect_status 0
	settled
	expect_out "example singleton daemon is already running"
	[ "$(daemons)" = "$pid" ] || fail "daemons after a second start: $(daemons | tr '\n' ' ')"
	action stop
	expect_status 0
	expect_out "stopped example singleton daemon"
	[ -z "$(daemons)" ] || fail "daemon still running after stop"
	[ "$SCRIPT" = "$SSD_SCRIPT" ] || expect_released example.lock
	action status
	expect_status 3
	action stop
	expect_status 0
	expect_out "example singleton daemon is not running"
}

t_restart() {
	setup
	action restart
	expect_status 0
	settled
	local p1 p2
	p1=$(daemons)
	[ -n "$p1" ] || { fail "restart of a stopped service did not start it"; return; }
	action restart
	expect_status 0
	settled
	p2=$(daemons)
	[ -n "$p2" ] && [ "$p2" != "$p1" ] || fail "restart: daemon $p1 then '$p2'"
	action force-reload
	expect_status 0
	settled
	[ "$(daemons | wc -l)" = 1 ] || fail "daemons after force-reload: $(daemons | tr '\n' ' ')"
	action stop
	expect_status 0
}

# Daemon and lockrun killed: status says "dead, pidfile exists" (1); start
# takes over the stale lock file.
t_dead_with_pidfile() {
	setup
	action start
	expect_status 0 || return
	settled
	local pid lr
	pid=$(daemons)
	lr=$(ps -o ppid= -p "$pid" | tr -d ' ')
	kill -9 "$lr" "$pid"
	wait_until eval '[ -z "$(daemons)" ]' || return
	expect_file example.lock
	action status
	expect_status 1
	expect_out_match 'not running, but .*example\.lock exists'
	action start
	expect_status 0
	settled
	[ "$(daemons | wc -l)" = 1 ] || fail "daemons after start over a stale file: $(daemons | tr '\n' ' ')"
	action status
	expect_status 0
	action stop
	expect_status 0
}

# A daemon that ignores SIGTERM is killed after the TERM's wait.  (The
# ignored disposition survives exec: the sleep ignores it too.)
t_stop_escalates_to_kill() {
	setup
	cat >bin/stubborn <<EOF
#!/bin/sh
trap '' TERM
exec $T/bin/example-daemon 1000
EOF
	chmod 755 bin/stubborn
	sed -i "s|^DAEMON=.*|DAEMON=$T/bin/stubborn|; s|^RETRY=.*|RETRY=TERM/1/KILL/5|" defaults
	# start-stop-daemon --exec matches the process's executable: sleep
	[ "$SCRIPT" = "$SSD_SCRIPT" ] && echo "SSD_MATCH=$(readlink -f "$(command -v sleep)")" >>defaults
	action start
	expect_status 0 || return
	settled
	local t0=$SECONDS
	action stop
	expect_status 0
	[ $((SECONDS - t0)) -ge 1 ] || fail "stopped before the TERM's wait: did SIGTERM work?"
	action status
	expect_status 3
	[ -z "$(daemons)" ] || fail "daemon still running after stop"
}

# Two starts at once: both succeed, one daemon runs.
t_concurrent_starts() {
	setup
	sh "$SCRIPT" start >a.out 2>&1 &
	local a=$!
	sh "$SCRIPT" start >b.out 2>&1 &
	local b=$! sa sb
	wait $a; sa=$?
	wait $b; sb=$?
	[ $sa = 0 ] && [ $sb = 0 ] || fail "start exits $sa and $sb: $(cat a.out b.out)"
	[ "$(daemons | wc -l)" = 1 ] || fail "daemons: $(daemons | tr '\n' ' ')"
	action stop
	expect_status 0
}

t_usage_and_errors() {
	setup
	action frobnicate
	expect_status 2
	expect_err_match '^Usage: .*\{start\|stop\|restart\|force-reload\|status\}'
	action
	expect_status 2
	action reload
	expect_status 3
	sed -i "s|^DAEMON=.*|DAEMON=$T/bin/missing|" defaults
	action start
	expect_status 5
	expect_err_match 'is not installed'
	sed -i "s|^LOCKSTAT=.*|LOCKSTAT=$T/bin/missing|" defaults
	action status
	expect_status 4
	# a daemon that cannot run: start fails at once
	sed -i "s|^LOCKSTAT=.*|LOCKSTAT='$BIN/lockstat'|; s|^DAEMON=.*|DAEMON=$T/bin/broken|" defaults
	printf '#!/nonexistent/interpreter\n' >bin/broken
	chmod 755 bin/broken
	local t0=$SECONDS
	action start
	expect_status 1
	expect_err_match 'failed to start'
	[ $((SECONDS - t0)) -lt 10 ] || fail "start waited $((SECONDS - t0)) s for a daemon that failed at once"
	action status
	expect_status 3
}

# Where start-stop-daemon differs: its --background start says 0 before
# the exec, so a daemon that cannot run is "started".
t_ssd_broken_daemon_started() {
	SCRIPT=$SSD_SCRIPT
	setup
	printf '#!/nonexistent/interpreter\n' >bin/broken
	chmod 755 bin/broken
	sed -i "s|^DAEMON=.*|DAEMON=$T/bin/broken|" defaults
	action start
	expect_status 0
	action status
	[ "$status" = 1 ] || [ "$status" = 3 ] || fail "status $status after the broken start"
}

# The daemon and its supervisor died by SIGKILL and the daemon's PID went
# to an innocent process running the same program.  stop must not touch
# it: the lockrun script says "not running"; the start-stop-daemon script
# (pidfile + --exec sleep) kills the innocent process.
stop_after_reuse() {
	setup
	action start
	expect_status 0 || return 1
	settled
	local pid i
	pid=$(daemons)
	[ "$SCRIPT" = "$LR_SCRIPT" ] && kill -9 "$(ps -o ppid= -p "$pid")"
	kill -9 "$pid"
	wait_until eval '[ -z "$(daemons)" ]' || return 1
	for i in 1 2 3 4 5; do
		echo $((pid - 1)) >/proc/sys/kernel/ns_last_pid
		"$T/bin/example-daemon" 1000 </dev/null >/dev/null 2>&1 &
		innocent=$!
		[ "$innocent" = "$pid" ] && break
		{ kill -9 "$innocent"; wait "$innocent"; } 2>/dev/null
	done
	[ "$innocent" = "$pid" ] || { fail "could not hand PID $pid to a new process"; return 1; }
	action stop
}
t_stop_spares_reused_pid() {
	[ "${PIDLOCK_IN_PIDNS:-0}" = 1 ] || { skip_test "needs a PID namespace of its own (root: in-pidns)"; return; }
	SCRIPT=$LR_SCRIPT
	stop_after_reuse || return
	expect_status 0
	expect_out "example singleton daemon is not running"
	[ -e "/proc/$innocent" ] || fail "the innocent process $innocent was killed"
	{ kill -9 "$innocent"; wait "$innocent"; } 2>/dev/null
	SCRIPT=$SSD_SCRIPT
	stop_after_reuse || return
	expect_status 0
	expect_out "stopped example singleton daemon"
	{ wait "$innocent"; } 2>/dev/null
	[ -e "/proc/$innocent" ] &&
		fail "start-stop-daemon spared the innocent process: update docs/sysvinit/README.md"
}

# The same behaviours, the script written with start-stop-daemon.
for _t in t_not_running t_start_status_stop t_restart t_stop_escalates_to_kill; do
	eval "${_t}_ssd() { SCRIPT=\$SSD_SCRIPT; $_t; }"
done

run_tests \
	t_script_is_lsb \
	t_not_running \
	t_start_status_stop \
	t_restart \
	t_dead_with_pidfile \
	t_stop_escalates_to_kill \
	t_concurrent_starts \
	t_usage_and_errors \
	t_not_running_ssd \
	t_start_status_stop_ssd \
	t_restart_ssd \
	t_stop_escalates_to_kill_ssd \
	t_ssd_broken_daemon_started \
	t_stop_spares_reused_pid
