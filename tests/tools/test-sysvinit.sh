#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/sysvinit/example-singleton: its start, status, stop, restart
# actions with the built tools, a dummy daemon (sleep, under a name in $T)
# and a lock file in $T, checked by LSB exit codes and by the processes.
. "$(dirname "$0")/lib.sh"

SCRIPT=$TOP/contrib/sysvinit/example-singleton

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
LOGFILE='$T/daemon.log'
START_TIMEOUT=5
STOP_TIMEOUT=5
EOF
	export EXAMPLE_SINGLETON_DEFAULTS=$T/defaults
}

# action ARGS...: runs the script (with dash, as /bin/sh on Debian).
action() { run sh "$SCRIPT" "$@"; }

# daemons: the PIDs of running dummy daemons.
daemons() { pgrep -f "^$T/bin/example-daemon " | sort; }

t_script_is_lsb() {
	local f
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
}

t_not_running() {
	setup
	action status
	expect_status 3
	expect_out "example singleton daemon is not running"
	action stop
	expect_status 0
}

t_start_status_stop() {
	setup
	action start
	expect_status 0 || return
	local pid
	pid=$(daemons)
	[ -n "$pid" ] || { fail "no daemon after start"; return; }
	expect_out "started example singleton daemon (PID $pid)"
	[ "$(head -n1 example.lock)" = "$pid" ] || fail "the lock file's line 1 is not the daemon: $(head -n1 example.lock)"
	grep -qx 'msg=init script example-singleton' example.lock || fail "no message in the record"
	action status
	expect_status 0
	expect_out "example singleton daemon is running (PID $pid)"
	# start again: nothing new, success (LSB)
	action start
	expect_status 0
	expect_out "example singleton daemon is already running"
	[ "$(daemons)" = "$pid" ] || fail "daemons after a second start: $(daemons | tr '\n' ' ')"
	action stop
	expect_status 0
	expect_out "stopped example singleton daemon"
	[ -z "$(daemons)" ] || fail "daemon still running after stop"
	expect_released example.lock
	action status
	expect_status 3
}

t_restart() {
	setup
	action restart
	expect_status 0
	local p1 p2
	p1=$(daemons)
	[ -n "$p1" ] || { fail "restart of a stopped service did not start it"; return; }
	action restart
	expect_status 0
	p2=$(daemons)
	[ -n "$p2" ] && [ "$p2" != "$p1" ] || fail "restart: daemon $p1 then '$p2'"
	action force-reload
	expect_status 0
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
	[ "$(daemons | wc -l)" = 1 ] || fail "daemons after start over a stale file: $(daemons | tr '\n' ' ')"
	action status
	expect_status 0
	action stop
	expect_status 0
}

# A daemon that ignores SIGTERM is killed after STOP_TIMEOUT.  (The
# ignored disposition survives exec: the sleep ignores it too.)
t_stop_escalates_to_kill() {
	setup
	cat >bin/stubborn <<EOF
#!/bin/sh
trap '' TERM
exec $T/bin/example-daemon 1000
EOF
	chmod 755 bin/stubborn
	sed -i "s|^DAEMON=.*|DAEMON=$T/bin/stubborn|; s|^STOP_TIMEOUT=.*|STOP_TIMEOUT=1|" defaults
	action start
	expect_status 0 || return
	local t0=$SECONDS
	action stop
	expect_status 0
	[ $((SECONDS - t0)) -ge 1 ] || fail "stopped before STOP_TIMEOUT: did SIGTERM work?"
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
	# a daemon that cannot run: start fails at once, not after the timeout
	sed -i "s|^LOCKSTAT=.*|LOCKSTAT='$BIN/lockstat'|; s|^DAEMON=.*|DAEMON=$T/bin/broken|; s|^START_TIMEOUT=.*|START_TIMEOUT=15|" defaults
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

run_tests \
	t_script_is_lsb \
	t_not_running \
	t_start_status_stop \
	t_restart \
	t_dead_with_pidfile \
	t_stop_escalates_to_kill \
	t_concurrent_starts \
	t_usage_and_errors
