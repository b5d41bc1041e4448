#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun --stop, --replace, --respawn, --background and --auto: the
# start-stop-daemon and run-one behaviours (lockrun(1), STARTING AND
# STOPPING).  Who gets signalled is checked on the processes themselves:
# the whole job is gone after a stop, and a process that a file merely
# names (a reused PID, a plain pidfile) is still alive.  As root the suite
# runs in a PID namespace of its own (in-pidns), where a PID can be handed
# to an innocent process on purpose.
[ -n "${PIDLOCK_IN_PIDNS:-}" ] || exec "$(dirname "$0")/in-pidns" bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockrun.sh"

# A job that ignores SIGTERM: sh (TERM ignored, which exec keeps) runs a
# grandchild in a session of its own, then becomes sleep.  Usage:
# lockrun F sh -c "$STUBBORN" sh NAME; NAME.pid is the command, NAME.gc
# the grandchild.
STUBBORN='trap "" TERM; echo $$ >>.pids; setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo $! >"$1.gc"; echo $! >>.pids; echo $$ >"$1.tmp"; mv "$1.tmp" "$1.pid"; exec sleep 300'

# spawn_killed CMD...: spawn for a lockrun that the test SIGKILLs: the
# shell's "Killed" notice goes to .bg.err.
spawn_killed() { spawn bash -c '"$@"; true' sh "$@"; }

# live PID: the process exists and is not a zombie.
live() { [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# --- --stop ---------------------------------------------------------------------

t_stop_nothing() {
	run lockrun --stop f.lock
	expect_status 1
	expect_err_match 'f\.lock: nothing to stop \(none'
	run lockrun --stop --oknodo f.lock
	expect_status 0
	expect_err ""
	expect_no_file f.lock
	# a lock file nobody holds: free
	run lockrun -n f.lock true
	run lockrun --stop f.lock
	expect_status 1
	run lockrun --stop --oknodo -q f.lock
	expect_status 0
}

# The default schedule's TERM reaches lockrun, which stops its whole job:
# the command and a grandchild that left for a session of its own.
t_stop_term_whole_job() {
	spawn lockrun f.lock sh -c 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! >gc; echo $! >>.pids; echo $$ >c.pid; exec sleep 300'
	local lr=$pid
	wait_until test -s c.pid && wait_until test -s gc && wait_until is_locked f.lock || return
	local c gc
	c=$(cat c.pid) gc=$(cat gc)
	run lockrun --stop f.lock
	expect_status 0
	expect_err ""
	live "$c" && fail "the command $c survived the stop"
	live "$gc" && fail "the grandchild $gc (own session) survived the stop"
	is_locked f.lock && fail "still locked after the stop"
	wait_until gone "$lr"
	run lockstat --status f.lock
	expect_status 3
}

# TERM is ignored by the whole job: the schedule's KILL ends it, after
# the TERM's wait.  Without the KILL the job stays and the stop says 2.
t_stop_schedule_ignoring_term() {
	spawn_killed lockrun f.lock sh -c "$STUBBORN" sh c
	local lr=$pid c gc t0 took
	started c && wait_until test -s c.gc && wait_until is_locked f.lock || return
	c=$(cat c.pid) gc=$(cat c.gc)
	t0=$(now_ms)
	run lockrun --stop --retry TERM/300ms f.lock
	expect_status 2
	expect_err_match 'f\.lock: still running after the retry schedule: held by PID'
	took=$(($(now_ms) - t0))
	[ $took -ge 300 ] || fail "gave up after $took ms, before the 300 ms wait"
	live "$c" && live "$gc" || fail "the job did not ignore TERM"
	is_locked f.lock || fail "the lock was let go"
	run lockrun --stop --retry TERM/300ms/KILL/5 f.lock
	expect_status 0
	live "$c" && fail "the command $c survived the KILL"
	live "$gc" && fail "the grandchild $gc survived the KILL"
	# lockrun died by KILL too: the stop took the stale record away
	run lockstat --status f.lock
	expect_status 3
	run lockrun -n f.lock true
	expect_status 0
	reap "$lr"
}

# A lone timeout is SIG/T/KILL/T, the signal -S names.
t_stop_lone_timeout() {
	spawn_killed lockrun f.lock sh -c "$STUBBORN" sh c
	started c && wait_until is_locked f.lock || return
	run lockrun --stop --retry 200ms f.lock
	expect_status 0
	live "$(cat c.pid)" && fail "the command survived --retry 200ms"
	reap "$pid"
	run lockrun --stop --retry TERM//KILL f.lock
	expect_status 64
	expect_err_match "invalid retry schedule: 'TERM//KILL': empty item"
	run lockrun --stop --retry TERM/1x f.lock
	expect_status 64
	run lockrun --stop --retry NOSUCH/1 f.lock
	expect_status 64
	expect_err_match 'invalid signal'
}

# The record names a PID that an innocent process has now (the holder
# died by SIGKILL and the PID was handed on): nothing is signalled.
t_stop_reused_pid() {
	if [ "${PIDLOCK_IN_PIDNS:-0}" != 1 ]; then
		skip_test "needs a PID namespace of its own (root: in-pidns) to reuse a PID on purpose"
		return
	fi
	spawn lockrun f.lock sh -c "$HOLD_EXEC" sh c
	local lr=$pid c innocent=0 i
	started c && wait_until is_locked f.lock || return
	c=$cpid
	kill -9 "$lr" "$c"
	reap "$lr"
	wait_until gone "$c" || return
	wait_until eval '! is_locked f.lock' || return
	for i in 1 2 3 4 5; do
		echo $((c - 1)) >/proc/sys/kernel/ns_last_pid
		sleep 1000 </dev/null >/dev/null 2>&1 &
		innocent=$!
		track $innocent
		[ "$innocent" = "$c" ] && break
	done
	[ "$innocent" = "$c" ] || { fail "could not hand PID $c to a new process"; return; }
	[ "$(head -n1 f.lock)" = "$c" ] || { fail "the record does not name $c"; return; }
	run lockrun --stop f.lock
	expect_status 1
	expect_err_match 'nothing to stop \((reused|stale)'
	run lockrun --stop --oknodo --retry KILL/1 f.lock
	expect_status 0
	live "$innocent" || fail "the innocent process $innocent that got the record's PID was killed"
}

# A plain pidfile nobody locks names a live process: never signalled.
t_stop_plain_pidfile() {
	sleep 1000 </dev/null >/dev/null 2>&1 &
	local victim=$!
	track $victim
	echo $victim >plain.pid
	run lockrun --stop --retry KILL/1 plain.pid
	expect_status 3
	expect_err_match 'plain\.pid: a PID in a file nobody locks proves nothing: not signalled'
	live "$victim" || fail "the process a plain pidfile names was killed"
}

t_stop_usage() {
	run lockrun --stop f.lock true
	expect_status 64
	run lockrun --stop
	expect_status 64
	run lockrun --stop -s f.lock
	expect_status 64
	run lockrun --oknodo f.lock true
	expect_status 64
	run lockrun --retry 5 f.lock true
	expect_status 64
	run lockrun --stop -N 'a/b'
	expect_status 64
}

# --stop -N NAME and --stop --auto COMMAND find the lock the same way a
# start does.
t_stop_by_name_and_auto() {
	export PIDLOCK_DIR=$T
	spawn lockrun -N svc sh -c "$HOLD_EXEC" sh c
	started c && wait_until is_locked svc.lock || return
	run lockrun --stop -N svc
	expect_status 0
	gone "$cpid" || fail "-N svc: the command survived"
	spawn lockrun --auto sleep 301
	wait_until eval 'ls auto-sleep-*.lock >/dev/null 2>&1 && is_locked auto-sleep-*.lock' || return
	run lockrun --stop --auto sleep 302
	expect_status 1
	run lockrun --stop --auto sleep 301
	expect_status 0
}

# --- --replace ----------------------------------------------------------------

t_replace() {
	spawn lockrun f.lock sh -c "$HOLD_EXEC" sh c
	local old
	started c && wait_until is_locked f.lock || return
	old=$cpid
	spawn lockrun --replace f.lock sh -c "$HOLD_EXEC" sh d
	started d || return
	gone "$old" || fail "the old holder $old still runs"
	wait_until eval '[ "$(lockstat --pid f.lock 2>/dev/null)" = "$cpid" ]' ||
		fail "the lock does not name the new command $cpid"
	# nothing held: --replace just runs
	run lockrun --replace g.lock true
	expect_status 0
}

# Five replacers at once against a holder: at the end exactly one
# command runs, it holds the lock, and every other replacer has ended
# (stopped by a later one, or refused: exit 1).
t_replace_concurrent() {
	spawn lockrun f.lock sh -c "$HOLD_EXEC" sh c
	started c && wait_until is_locked f.lock || return
	local i lrs="" left n holder
	for i in 1 2 3 4 5; do
		lockrun -q --replace f.lock sh -c 'echo $$ >>.pids; echo $$ >>cmds; exec sleep 300' 2>r$i.err &
		lrs="$lrs $!"
		track $!
	done
	# wait until four of the five lockruns have ended
	left() { local p k=0; for p in $lrs; do gone "$p" || k=$((k + 1)); done; [ $k = 1 ]; }
	wait_until left || { fail "lockruns left: $(for i in $lrs; do gone $i || echo $i; done); $(lockstat f.lock; cat .bg.err r*.err; ps -ef | grep -v grep | grep -E "sleep|lockrun")"; return; }
	holder=$(lockstat --pid f.lock) || { fail "nobody holds the lock at the end"; return; }
	n=0
	for i in $(cat cmds); do live "$i" && n=$((n + 1)); done
	[ $n = 1 ] || fail "$n commands run at the end (expected 1)"
	live "$holder" && grep -qx "$holder" cmds || fail "the lock names $holder, not one of the commands"
	gone "$cpid" || fail "the first holder still runs"
}

# --- --respawn ------------------------------------------------------------------

# Between runs the lock stays held (the same file, the record naming
# lockrun): a concurrent -n is refused.  TERM between runs ends the loop
# and releases the lock.
t_respawn_holds_lock_between_runs() {
	spawn lockrun --respawn --respawn-delay 1h f.lock sh -c 'echo $$ >>.pids; echo run >>runs; exit 3'
	local lr=$pid ino
	wait_until test -s runs && wait_until is_locked f.lock || return
	ino=$(stat -c %i f.lock)
	wait_until eval '[ "$(head -n1 f.lock)" = "$lr" ]' || return
	run lockstat --pid f.lock
	expect_out "$lr"
	run lockrun -n f.lock true
	expect_status 1
	expect_err_match "held by PID $lr"
	[ "$(stat -c %i f.lock)" = "$ino" ] || fail "the lock file changed between runs"
	kill -TERM "$lr"
	wait "$lr"
	[ $? = 143 ] || fail "lockrun ended $?, not by the TERM"
	[ "$(wc -l <runs)" = 1 ] || fail "ran $(wc -l <runs) times after a TERM between runs"
	expect_released f.lock
}

# The command runs again after a doubling delay, up to the limit, with
# the same lock throughout; lockrun ends with the last run's status.
t_respawn_limit_and_backoff() {
	run lockrun --verbose --respawn --respawn-delay 10ms --respawn-limit 3 f.lock \
		sh -c 'stat -c %i f.lock >>inodes; head -n1 f.lock >>pids; exit 7'
	expect_status 7
	[ "$(wc -l <inodes)" = 4 ] || fail "$(wc -l <inodes) runs, expected 4 (1 + 3 restarts)"
	[ "$(sort -u inodes | wc -l)" = 1 ] || fail "the lock file changed: $(sort -u inodes | tr '\n' ' ')"
	[ "$(sort -u pids | wc -l)" = 4 ] || fail "the record did not name each run: $(cat pids | tr '\n' ' ')"
	expect_err_match 'restarting in 0\.01s'
	expect_err_match 'restarting in 0\.02s'
	expect_err_match 'restarting in 0\.04s'
	expect_released f.lock
}

t_respawn_until() {
	run lockrun --respawn --respawn-delay 1ms --until-success f.lock \
		sh -c 'echo x >>n; [ "$(wc -l <n)" -ge 3 ]'
	expect_status 0
	[ "$(wc -l <n)" = 3 ] || fail "--until-success: $(wc -l <n) runs, expected 3"
	run lockrun --respawn --respawn-delay 1ms --until-failure f.lock \
		sh -c 'echo x >>m; [ "$(wc -l <m)" -lt 3 ] || exit 5'
	expect_status 5
	[ "$(wc -l <m)" = 3 ] || fail "--until-failure: $(wc -l <m) runs, expected 3"
	run lockrun --until-success f.lock true
	expect_status 64
}

# A TERM during a run ends the loop even when the command takes it and
# exits 0: no run follows.
t_respawn_term_during_run() {
	bg lr lockrun --respawn --respawn-delay 1ms f.lock \
		sh -c 'trap "exit 0" TERM; echo $$ >>.pids; echo $PPID >lr; echo $$ >>runs; while :; do sleep 0.01; done'
	wait_until test -s runs || return
	kill -TERM "$(cat lr)"
	bg_status lr || { fail "lockrun did not end after a TERM: $(wc -l <runs) runs"; return; }
	expect_status 0
	[ "$(wc -l <runs)" = 1 ] || fail "ran again after the TERM: $(wc -l <runs) runs"
	expect_released f.lock
}

# --- --background --------------------------------------------------------------

# When -b returns 0 the command runs (its exec is done: its comm is
# its own, not lockrun's) and the record names it.
t_background() {
	run lockrun -b f.lock sleep 300
	expect_status 0
	expect_out ""
	expect_err ""
	local pid lr
	pid=$(head -n1 f.lock)
	echo "$pid" >>.pids
	[ "$(cat "/proc/$pid/comm")" = sleep ] || fail "-b returned before the exec: PID $pid is $(cat "/proc/$pid/comm")"
	run lockstat --pid f.lock
	expect_out "$pid"
	# detached: lockrun leads a session of its own
	lr=$(ps -o ppid= -p "$pid" | tr -d ' ')
	[ "$(ps -o sid= -p "$lr" | tr -d ' ')" = "$lr" ] ||
		fail "the background lockrun is not a session leader: not detached"
	run lockrun -b -n f.lock true
	expect_status 1
	expect_err_match 'f\.lock: held by PID'
	run lockrun --stop f.lock
	expect_status 0
}

# --output, --umask and --chdir are the command's.
t_background_output() {
	run lockrun -b --output log --umask 077 --chdir / f.lock \
		sh -c 'echo $$ >>'"'$T/.pids'"'; echo "out $(umask) $(pwd)"; exec sleep 300'
	expect_status 0
	wait_until grep -qx 'out 0077 /' log || fail "output: $(cat log)"
	run lockrun --stop f.lock
	expect_status 0
}

# The exec fails: the status says so, and the lock is free already.
t_background_exec_fails() {
	run lockrun -b f.lock ./no-such-command
	expect_status 69
	expect_err "lockrun: failed to execute ./no-such-command: No such file or directory"
	is_locked f.lock && fail "the lock is held after a failed start"
	run lockstat --status f.lock
	expect_status 3
	run lockrun -b --chdir ./no-such-dir f.lock true
	expect_status 66
	expect_err_match 'cannot change directory to \./no-such-dir'
	run lockrun -b --output . f.lock true
	expect_status 73
	run lockrun --output log f.lock true
	expect_status 64
	run lockrun -b --umask 999 f.lock true
	expect_status 64
	run lockrun -b --respawn f.lock ./no-such-command
	expect_status 69
}

# --- --auto -------------------------------------------------------------------

# The name: auto-BASE-HASH, FNV-1a 64 of the words, each NUL-terminated
# (lockrun(1) gives this very example).
t_auto_name() {
	export PIDLOCK_DIR=$T
	run lockrun --auto echo hello world
	expect_status 0
	expect_file auto-echo-1e319644cbd2f720.lock
	spawn lockrun --auto sh -c "$HOLD_EXEC" sh c
	started c || return
	run lockrun -n --auto sh -c "$HOLD_EXEC" sh c
	expect_status 1
	run lockrun -n --auto sh -c true sh c
	expect_status 0
	run lockrun -n --auto -c 'echo $((1+1))'
	expect_status 0
	expect_out 2
	expect_file auto--c-1403ee77fa64ecc1.lock
	run lockrun --auto -N x true
	expect_status 64
}

run_tests \
	t_stop_nothing \
	t_stop_term_whole_job \
	t_stop_schedule_ignoring_term \
	t_stop_lone_timeout \
	t_stop_reused_pid \
	t_stop_plain_pidfile \
	t_stop_usage \
	t_stop_by_name_and_auto \
	t_replace \
	t_replace_concurrent \
	t_respawn_holds_lock_between_runs \
	t_respawn_limit_and_backoff \
	t_respawn_until \
	t_respawn_term_during_run \
	t_background \
	t_background_output \
	t_background_exec_fails \
	t_auto_name
