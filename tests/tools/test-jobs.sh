#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun among real jobs: signals reach the job once (not twice, never
# not at all), lockrun dies by the signal it was stopped with, --max-time
# and forwarded termination signals stop the whole job (background
# children, setsid daemons) and leave the lock free, the waiting line only
# on a terminal, every signal name kill(1) knows.  Terminal cases run
# under a real pseudo-terminal (jobctl.py pty); every wait polls a state.
. "$(dirname "$0")/lib.sh"

JOBCTL=(python3 "$TOP/tests/tools/jobctl.py")

spawn() {
	"$@" >>"$T/.bg.out" 2>>"$T/.bg.err" &
	pid=$!
	track "$pid"
}
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }
# ended NAME: jobctl's report NAME exists; sets $how ("exit N", "signal N").
ended() { wait_until test -s "$T/$1" || { how=never; return 1; }; how=$(cat "$T/$1"); }
expect_how() { [ "$how" = "$1" ] || fail "ended with '$how', expected '$1' ${2:-}"; }
# the lock on FILE is free: util-linux flock(1) gets it at once
lock_free() { "$UL" -n "$1" true || fail "$1 is still locked: $(cat /proc/locks | grep ":$(stat -c %i "$1" 2>/dev/null) " )"; }
# pid_gone FILE: the process whose PID FILE names has ended
pid_gone() { wait_until gone "$(cat "$1")" || fail "PID $(cat "$1") ($1) is still running"; }
# lines LOG SIGNUM: how many times the siglog command got SIGNUM
lines() { grep -c "^$2 " "$1"; }

# --- signals reach the job once ---------------------------------------------

# kill -HUP -- -PGID of lockrun's group: the command gets it once, from lockrun.
t_group_signal_once() {
	spawn setsid lockrun "$T/F" "${JOBCTL[@]}" siglog log HUP TERM
	wait_until grep -qs ready log || return
	kill -HUP -- -"$pid"
	wait_until grep -q '^1 ' log || return
	kill -TERM "$pid"
	wait_until gone "$pid" || return
	[ "$(lines log 1)" = 1 ] || fail "the command got SIGHUP $(lines log 1) times: $(cat log)"
	[ "$(sed -n 's/^1 //p' log)" = "$pid" ] || fail "SIGHUP came from $(sed -n 's/^1 //p' log), not from lockrun ($pid)"
	[ "$(lines log 15)" = 1 ] || fail "the command got SIGTERM $(lines log 15) times"
}

# timeout(1) signals lockrun, then its own process group (lockrun's too),
# when its time is up or, as here, when it gets a signal: one SIGINT.
t_timeout_signal_once() {
	spawn timeout 60 lockrun "$T/F" "${JOBCTL[@]}" siglog log INT TERM
	wait_until grep -qs ready log || return
	kill -INT "$pid"
	wait_until grep -q '^2 ' log || return
	kill -TERM "$(sed -n 's/^ready //p' log)"
	wait_until gone "$pid" || return
	[ "$(lines log 2)" = 1 ] || fail "the command got SIGINT $(lines log 2) times: $(cat log)"
	[ "$(sed -n 's/^2 //p' log)" = "$(sed -n 's/^ready //p' log)" ] ||
		fail "SIGINT came from $(sed -n 's/^2 //p' log), not from lockrun"
}

# The second copy of timeout(1)'s signal can reach lockrun after it
# forwarded the first (a busy machine runs lockrun between timeout's two
# kill calls): here one process sends lockrun SIGINT, waits until the
# command got it, and sends it again, as timeout would.  The command gets
# it once; TERM from another sender still goes on.
t_repeated_stop_signal_once() {
	local lr
	spawn timeout 60 lockrun "$T/F" "${JOBCTL[@]}" siglog log INT TERM
	wait_until grep -qs ready log || return
	lr=$(sed -n 's/^ready //p' log)
	/usr/bin/python3 - "$lr" log <<'EOF' || fail "the sender failed"
import os, signal, sys, time
pid, log = int(sys.argv[1]), sys.argv[2]
os.kill(pid, signal.SIGINT)
deadline = time.monotonic() + 60
while not any(l.startswith("2 ") for l in open(log)):
    assert time.monotonic() < deadline, "the command never got SIGINT"
    time.sleep(0.01)
os.kill(pid, signal.SIGINT)
EOF
	kill -TERM "$lr"
	wait_until gone "$pid" || return
	[ "$(lines log 2)" = 1 ] || fail "the command got SIGINT $(lines log 2) times: $(cat log)"
	[ "$(lines log 15)" = 1 ] || fail "the command got SIGTERM $(lines log 15) times: $(cat log)"
}

# --- Ctrl-C -----------------------------------------------------------------

# ^C in a loop of lockruns ends the loop: lockrun dies by SIGINT, the lock free.
t_ctrl_c_ends_shell_loop() {
	cat >loop.sh <<'EOF'
for i in 1 2 3; do
	lockrun F sh -c 'echo $0 >>iters; touch ready; exec sleep 30' $i
done
echo finished >>iters
EOF
	spawn "${JOBCTL[@]}" pty st --intr ready bash loop.sh
	ended st || return
	expect_how "signal 2" "(bash ends by SIGINT when its child did)"
	[ "$(cat iters)" = 1 ] || fail "the loop went on after ^C: $(cat iters)"
	lock_free F
	# the same as flock
	rm -f iters ready st
	sed -i 's/lockrun F/flock F/' loop.sh
	spawn "${JOBCTL[@]}" pty st --intr ready bash loop.sh
	ended st || return
	expect_how "signal 2" "(as flock)"
	[ "$(cat iters)" = 1 ] || fail "flock: the loop went on after ^C: $(cat iters)"
}

# ^C with the command in another session: it reaches the command.
t_ctrl_c_reaches_setsid_command() {
	spawn "${JOBCTL[@]}" pty st --intr ready lockrun F setsid -w sh -c 'echo $$ >c.pid; touch ready; exec sleep 30'
	ended st || return
	expect_how "signal 2"
	pid_gone c.pid
	lock_free F
}

# --foreground in a terminal: ^C reaches the command once, directly.
t_foreground_ctrl_c() {
	spawn "${JOBCTL[@]}" pty st --intr ready lockrun --foreground F sh -c 'echo $$ >c.pid; touch ready; exec sleep 30'
	ended st || return
	expect_how "signal 2"
	lock_free F
}

# --- dying by the signal ----------------------------------------------------

t_dies_by_forwarded_signal() {
	local tool s n
	for tool in lockrun flock; do
		for s in TERM:15 INT:2 HUP:1 QUIT:3; do
			n=${s#*:} s=${s%:*}
			rm -f st c.pid
			spawn "${JOBCTL[@]}" status st $tool "$T/F" sh -c 'echo $PPID >c.pid; exec sleep 30'
			wait_until test -s c.pid || return
			kill -s $s "$(cat c.pid)"
			ended st || return
			expect_how "signal $n" "($tool, SIG$s)"
			lock_free F
		done
	done
	# the command handles the signal and exits: its status
	rm -f st c.pid
	spawn "${JOBCTL[@]}" status st lockrun "$T/F" sh -c 'trap "exit 7" TERM; echo $PPID >c.pid; while :; do sleep 0.01; done'
	wait_until test -s c.pid || return
	kill -TERM "$(cat c.pid)"
	ended st || return
	expect_how "exit 7"
	# killed by a signal lockrun did not get: 128+N, as flock(1)
	run lockrun F sh -c 'kill -TERM $$'
	expect_status 143
	rm -f st
	"${JOBCTL[@]}" status st lockrun F sh -c 'kill -TERM $$'
	ended st && expect_how "exit 143"
}

# LOCKRUN_RECOVERED is 1 when this lock was recovered, else unset,
# whatever the caller's environment said.
t_recovered_env() {
	run env LOCKRUN_RECOVERED=1 lockrun F sh -c 'echo ${LOCKRUN_RECOVERED-unset}'
	expect_status 0
	expect_out unset
	run env LOCKRUN_RECOVERED=1 flock F sh -c 'echo ${LOCKRUN_RECOVERED-unset}'
	expect_out unset
	# nested: the inner lock was not recovered
	lockrun -F F sh -c 'echo $$ >c.pid; exec sleep 30' &
	track $!
	wait_until test -s c.pid && wait_until is_locked F || return
	kill -9 "$(cat c.pid)"
	wait_until gone "$(cat c.pid)" || return
	run lockrun F sh -c 'echo $LOCKRUN_RECOVERED; lockrun G sh -c "echo \${LOCKRUN_RECOVERED-unset}"'
	expect_out "1
unset"
}

# --- stopping the whole job -------------------------------------------------

t_max_time_stops_background_children() {
	export PIDLOCK_DIR=$T
	run lockrun -T 1 -N job sh -c 'sleep 300 & echo $! >bg.pid; sleep 300'
	expect_status 124
	expect_file bg.pid || return
	pid_gone bg.pid
	run lockrun -n -N job true
	expect_status 0
	lock_free job.lock
}

# A daemon that forks twice and calls setsid has left the process group.
DAEMON='(setsid sh -c "echo \$\$ >d.pid; exec sleep 300" &); touch ready; exec sleep 300'

t_max_time_stops_setsid_daemon() {
	run lockrun -T 1 F sh -c "$DAEMON"
	expect_status 124
	wait_until test -s d.pid || return
	pid_gone d.pid
	lock_free F
}

t_forwarded_term_stops_setsid_daemon() {
	spawn "${JOBCTL[@]}" status st lockrun "$T/F" sh -c "echo \$PPID >lr.pid; $DAEMON"
	wait_until test -s d.pid && wait_until test -e ready || return
	kill -TERM "$(cat lr.pid)"
	ended st || return
	expect_how "signal 15"
	pid_gone d.pid
	lock_free F
}

# Every process ignores SIGTERM: -K sends SIGKILL to all of them.
t_kill_after_stops_whole_job() {
	run lockrun -T 0.5 -K 0.5 F sh -c "trap '' TERM; sleep 300 & echo \$! >bg.pid; $DAEMON"
	expect_status 124
	pid_gone bg.pid
	pid_gone d.pid
	lock_free F
}

# A part of the job ignores the stop and there is no -K: named, status 125.
t_leftover_named() {
	run lockrun -T 0.3 F sh -c "(setsid sh -c 'trap \"\" TERM; echo \$\$ >d.pid; exec sleep 300' &); exec sleep 300"
	expect_status 125
	wait_until test -s d.pid || return
	track "$(cat d.pid)"
	expect_err_match "PID $(cat d.pid) of the job outlived the stop"
	kill -9 "$(cat d.pid)"
}

# --- the waiting line -------------------------------------------------------

HOLD='echo $$ >c.pid; while [ ! -e go ]; do sleep 0.01; done'
is_waiting() { grep -q -- "-> .*:$(stat -c %i "$1") " /proc/locks; }

t_waiting_line_only_on_terminal() {
	spawn lockrun "$T/F" sh -c "$HOLD"
	wait_until test -s c.pid && wait_until is_locked F || return
	# not a terminal: quiet
	( lockrun -w 20 F true 2>w.err; echo $? >w.st ) &
	track $!
	wait_until is_waiting F || return
	# a terminal: the line, on the terminal
	spawn "${JOBCTL[@]}" pty st lockrun -w 20 F true
	wait_until eval '[ "$(grep -c -- "-> .*:$(stat -c %i F) " /proc/locks)" = 2 ]' || return
	# --verbose: the line
	( lockrun --verbose -w 20 F true 2>v.err >/dev/null; echo $? >v.st ) &
	track $!
	wait_until grep -q 'waiting; held by' v.err || return
	touch go
	wait_until test -s w.st && wait_until test -s v.st && ended st || return
	[ "$(cat w.st)" = 0 ] || fail "the waiter exited $(cat w.st)"
	[ ! -s w.err ] || fail "no terminal, yet the waiter said: $(cat w.err)"
	expect_how "exit 0"
	grep -q 'waiting; held by PID' st.log || fail "on a terminal, no waiting line: $(cat st.log)"
	# a conflict still says who holds the lock; -q silences it
	rm -f go c.pid
	spawn lockrun "$T/F" sh -c "$HOLD"
	wait_until test -s c.pid && wait_until is_locked F || return
	run lockrun -n F true
	expect_status 1
	expect_err_match 'held by PID'
	run lockrun -w 0.1 F true
	expect_status 1
	expect_err_match 'timed out after .*held by PID'
	run lockrun -q -w 0.1 F true
	expect_status 1
	expect_err ''
	touch go
}

# --- signal names -----------------------------------------------------------

t_signal_names() {
	local s want
	for s in PIPE SIGPIPE pipe Sigpipe 13 RTMIN SIGRTMIN rtmin RTMIN+3 SIGRTMIN+3 RTMAX-2 RTMAX sigrtmax \
		USR1 ALRM VTALRM XCPU IO:29 POLL:29 IOT:6 CLD:17 SYS 64; do
		case $s in
		*:*) want=${s#*:} s=${s%:*} ;;
		[0-9]*) want=$s ;;
		*) want=$(kill -l "$(printf '%s' "${s#[Ss][Ii][Gg]}" | tr a-z A-Z)") ;;
		esac
		run lockrun -T 0.1 -S "$s" F sleep 30
		expect_status 124
		expect_err_match "sent signal $want to PID"
	done
	for s in RTMIN+99 RTMAX+1 RTMIN-1 RTMAX+0 NOSUCH 0 65 SIG -3 "TERM " RTMIN+ "RTMIN+ 1"; do
		run lockrun -T 1 -S "$s" F true
		expect_status 64
		expect_err_match 'invalid signal'
	done
}

# --- flock(1) exactness -----------------------------------------------------

# -n with -w: fail at once, as flock(1), whatever the order.
t_nonblock_beats_wait() {
	spawn lockrun "$T/F" sh -c "$HOLD"
	wait_until test -s c.pid && wait_until is_locked F || return
	local args
	for args in "-n -w 5" "-w 5 -n" "--nb --timeout 5"; do
		compat $args F true
		expect_status 1
		expect_same $args F true
		run timeout 3 lockrun $args F true
		expect_status 1
	done
	touch go
}

# .007, .5 and 1. are durations to flock(1); lockrun(1) shows the first.
t_fractional_waits() {
	local w
	for w in .007 .5 1. 0.5 .5s; do
		compat -w "$w" F true
		expect_status 0
		[ "$w" = .5s ] || expect_same -w "$w" F true
	done
	# the same grammar for every duration (long enough for true to end)
	for w in 100. .5m 60.s; do
		run lockrun -T "$w" F true
		expect_status 0
	done
	compat -w .007 /tmp -c echo
	expect_status 0
	for w in . .. 1.. .s "" 1.5.2; do
		run flock -w "$w" F true
		expect_status 64
	done
}

# A wait past INT_MAX milliseconds (24.8 days) arms a timer, as any other.
t_long_wait_is_timed() {
	command -v strace >/dev/null || { skip_test "strace is not installed"; return 0; }
	spawn lockrun "$T/F" sh -c "$HOLD"
	wait_until test -s c.pid && wait_until is_locked F || return
	local w
	for w in 30d 2147484 1000000d; do
		rm -f st.log
		env $NOLEAK strace -f -qq -e trace=timer_settime -o st.log lockrun -w "$w" F true &
		local p=$!
		track $p
		wait_until is_waiting F || return
		wait_until grep -qs 'timer_settime(.*it_value={tv_sec=[1-9]' st.log ||
			fail "-w $w: no timer armed: $(cat st.log)"
		pkill -TERM -P $p
		{ wait $p; } 2>/dev/null
	done
	touch go
}

# Under the name flock, its messages, word for word.
t_flock_messages() {
	compat f
	expect_status 64
	expect_same f
	compat nodir/ true
	expect_status 66
	expect_same nodir/ true
	compat "" true
	expect_status 66
	expect_same "" true
	compat "$(printf '%0256d' 0)" true
	expect_status 66
	expect_same "$(printf '%0256d' 0)" true
	local e
	for e in 300 -1 abc 99999999999; do
		compat -E $e F true
		expect_status 64
		expect_same -E $e F true
	done
	# -u FILE cmd creates FILE, as flock(1)
	compat -u ul.f true
	expect_status 0
	expect_file ul.f
	run flock -u ours.f true
	expect_status 0
	expect_file ours.f
	run lockrun -u lr.f true
	expect_status 0
	expect_file lr.f
}

run_tests \
	t_group_signal_once t_timeout_signal_once t_repeated_stop_signal_once \
	t_ctrl_c_ends_shell_loop t_ctrl_c_reaches_setsid_command t_foreground_ctrl_c \
	t_dies_by_forwarded_signal t_recovered_env \
	t_max_time_stops_background_children t_max_time_stops_setsid_daemon \
	t_forwarded_term_stops_setsid_daemon t_kill_after_stops_whole_job t_leftover_named \
	t_waiting_line_only_on_terminal t_signal_names \
	t_nonblock_beats_wait t_fractional_waits t_long_wait_is_timed t_flock_messages
