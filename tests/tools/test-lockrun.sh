#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun as flock(1): compatibility (compared with util-linux
# /usr/bin/flock where the behaviour must match), exclusion with flock(1)
# both ways, hostile lock paths.  (What lockrun adds:
# test-lockrun-pidfile.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockrun.sh"

# --- flock(1) compatibility -------------------------------------------------

t_conflict_nonblock() {
	hold F || return
	compat -n F true
	expect_status 1
	expect_same -n F true
	expect_err ''
	compat -E 42 -n F true
	expect_status 42
	expect_same -E 42 -n F true
	run lockrun -n F true
	expect_status 1
	run lockrun --conflict-exit-code 42 --nb F true
	expect_status 42
	run lockrun -E 42 -w 0.05 F true
	expect_status 42
	alive "$cpid" || fail "the holder died"
}

t_wait_zero_is_nonblock() {
	hold F || return
	compat -w 0 F true
	expect_status 1
	expect_same -w 0 F true
	run lockrun -w 0 F true
	expect_status 1
	# -n: no wait, so no "waiting" line
	printf '%s' "$err" | grep -q waiting && fail "-w 0 waited: $err"
	return 0
}

# -w 0.3: exit 1 after 0.3 s, within tens of milliseconds (+ process start).
t_wait_timeout_accuracy() {
	local s e ms tool base limit
	hold F || return
	# The limit tells a wait that ended at its deadline from one that
	# ignored it (it would last until timeout's 10 s): generous, because a
	# start measured a moment earlier says little about the next one on a
	# busy machine (849 ms against 500 + 2 x 174 once).
	base=$(start_cost)
	limit=$((2000 + 4 * base))
	for tool in lockrun flock; do
		s=$(now_ms)
		timeout -k 1 10 "$tool" -w 0.3 F true 2>/dev/null
		status=$?
		e=$(now_ms)
		ms=$((e - s))
		expect_status 1
		[ $ms -ge 300 ] || fail "$tool -w 0.3 returned after ${ms}ms (< 300ms)"
		[ $ms -lt $limit ] ||
			fail "$tool -w 0.3 returned after ${ms}ms (>= ${limit}ms: 2 s + 4 times a ${base}ms start)"
	done
	compat -w 0.3 F true
	expect_status 1
	expect_same -w 0.3 F true
	compat -E 7 --timeout 0.1 F true
	expect_status 7
	expect_same -E 7 --timeout 0.1 F true
}

t_usage_errors() {
	run lockrun
	expect_status 64
	expect_err_match "Try 'lockrun --help'"
	compat
	expect_status 64
	expect_same
	[ "$(printf '%s\n' "$err" | sed -n 2p)" = "Try 'flock --help' for more information." ] ||
		fail "usage message: $err"
	run lockrun --no-such-option F true
	expect_status 64
	expect_err_match "Try 'lockrun --help'"
	compat --no-such-option F true
	expect_status 64
	expect_same --no-such-option F true
	compat -Z F true
	expect_status 64
	expect_same -Z F true
	run lockrun -h
	expect_status 0
	expect_out_match '^Usage:'
	run lockrun -V
	expect_status 0
	nothing_left
}

# flock 2.38 exits 71 for these; lockrun rejects them as usage errors,
# under both names.
t_bad_timeouts_rejected() {
	local w tool
	for tool in lockrun flock; do
		for w in -1 inf nan; do
			run "$tool" -w "$w" F true
			expect_status 64
			expect_err_match "$w"
		done
	done
	nothing_left
}

t_command_status() {
	compat F sh -c 'exit 3'
	expect_status 3
	expect_same F sh -c 'exit 3'
	run lockrun F sh -c 'exit 3'
	expect_status 3
	compat F sh -c 'kill -9 $$'
	expect_status 137
	expect_same F sh -c 'kill -9 $$'
	run lockrun F sh -c 'kill -9 $$'
	expect_status 137
	run lockrun F sh -c 'kill -TERM $$'
	expect_status 143
	run lockrun G sh -c 'exit 0'
	expect_status 0
	expect_released G
}

t_exec_failure() {
	: >noexec
	for c in ./no-such-command ./noexec; do
		compat F "$c"
		expect_status 69
		expect_same F "$c"
		run lockrun G "$c"
		expect_status 69
		expect_err_match "^lockrun: .*${c#./}"
		[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line: $err"
	done
}

t_nonexistent_dir() {
	compat no/such/dir/F true
	expect_status 66
	expect_same no/such/dir/F true
	run lockrun no/such/dir/F true
	expect_status 66
	expect_err_match '^lockrun: .*no/such/dir/F.*No such file or directory$'
	[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line: $err"
	nothing_left
}

t_permission_denied() {
	local as=""
	mkdir ro && chmod 555 ro
	if [ "$(id -u)" = 0 ]; then
		as="setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups"
		chmod 755 "$T"
	fi
	run $as lockrun ro/F true
	expect_status 66
	expect_err_match '^lockrun: .*ro/F.*Permission denied$'
	run $as $UL ro/F true
	ul_status=$status
	run $as flock ro/F true
	expect_same_status ro/F true
	expect_no_file ro/F
}

# EROFS and ENOSPC: 73, as flock(1); nothing created.
t_readonly_and_full_fs() {
	need_root || return 0
	mkdir ro full
	run unshare -m sh -c '
		mount -t tmpfs -o ro tmpfs ro || exit 90
		mount -t tmpfs -o size=16k,nr_inodes=2 tmpfs full || exit 91
		: >full/x || exit 92
		lockrun ro/F true 2>lr-ro.err; echo "ro lockrun $?"
		flock ro/F true 2>fl-ro.err; echo "ro flock $?"
		'"$UL"' ro/F true 2>ul-ro.err; echo "ro util-linux $?"
		lockrun full/F true 2>lr-full.err; echo "full lockrun $?"
		flock full/F true 2>fl-full.err; echo "full flock $?"
		'"$UL"' full/F true 2>ul-full.err; echo "full util-linux $?"
		echo "left: $(ls -A full | tr "\n" " ")"'
	expect_status 0
	expect_out "ro lockrun 73
ro flock 73
ro util-linux 73
full lockrun 73
full flock 73
full util-linux 73
left: x "
	grep -Eq '^lockrun: ro/F: Read-only file system$' lr-ro.err ||
		fail "lockrun's EROFS message: $(cat lr-ro.err)"
	grep -Eq '^lockrun: full/F: No space left on device$' lr-full.err ||
		fail "lockrun's ENOSPC message: $(cat lr-full.err)"
	cmp -s fl-ro.err ul-ro.err || fail "flock EROFS: '$(cat fl-ro.err)' vs util-linux '$(cat ul-ro.err)'"
	cmp -s fl-full.err ul-full.err || fail "flock ENOSPC: '$(cat fl-full.err)' vs util-linux '$(cat ul-full.err)'"
}

# -c STRING runs through $SHELL -c (as flock(1)).
t_command_string_uses_shell() {
	printf '#!/bin/sh\necho "myshell $*" >>"%s/shell.log"\nexec /bin/sh "$@"\n' "$T" >myshell
	chmod +x myshell
	run env SHELL="$T/myshell" lockrun F -c 'echo hi; exit 4'
	expect_status 4
	expect_out hi
	[ "$(cat shell.log)" = "myshell -c echo hi; exit 4" ] || fail "shell log: $(cat shell.log)"
	rm shell.log
	run env SHELL="$T/myshell" lockrun --command 'exit 5' F
	expect_status 5
	[ "$(cat shell.log)" = "myshell -c exit 5" ] || fail "shell log: $(cat shell.log)"
	run env SHELL="$T/myshell" $UL U -c 'exit 4'
	expect_status 4
	rm U
	run env -u SHELL lockrun F -c 'echo "$0"'
	expect_status 0
	expect_out /bin/sh
	run lockrun F -c 'true' extra
	expect_status 64
	expect_released F
}

# -o: the command does not hold the lock; killing lockrun frees it.
# Without -o the command keeps holding the very lock the path carries
# after lockrun is SIGKILLed (the trap from the spec).
t_close_vs_inherit() {
	local lr
	# -o
	spawn lockrun -o "$T/F" sh -c "$HOLD_EXEC" sh c
	started c || return
	kill -9 "$pid"
	reap "$pid"
	alive "$cpid" || fail "the command died with lockrun"
	run lockrun -n F true
	expect_status 0
	run $UL -n F true
	expect_status 0
	kill -9 "$cpid"
	# without -o
	spawn lockrun "$T/G" sh -c "$HOLD_EXEC" sh d
	started d || return
	lr=$pid
	kill -9 "$lr"
	reap "$lr"
	alive "$cpid" || { fail "the command died with lockrun"; return; }
	is_locked G || fail "G not locked after lockrun was killed"
	run lockrun -n G true
	expect_status 1
	expect_err_match "G: held by PID $cpid \(sh\)"
	run $UL -n G true
	expect_status 1
	run flock -n G true
	expect_status 1
	[ "$(head -n1 G)" = "$cpid" ] || fail "line 1 of G: $(head -n1 G), command $cpid"
	kill -9 "$cpid"
	wait_until gone "$cpid"
	wait_until eval '! is_locked G' || return
	run lockrun -n G true
	expect_status 0
}

# The same with util-linux flock(1), and ours under the name flock.
t_close_vs_inherit_flock_name() {
	local tool n=0
	for tool in "$UL" flock; do
		n=$((n + 1))
		spawn "$tool" -o "$T/F$n" sh -c "$HOLD_EXEC" sh o$n
		started o$n || return
		kill -9 "$pid"
		reap "$pid"
		run "$tool" -n F$n true
		expect_status 0
		kill -9 "$cpid"
		spawn "$tool" "$T/G$n" sh -c "$HOLD_EXEC" sh i$n
		started i$n || return
		kill -9 "$pid"
		reap "$pid"
		run "$tool" -n G$n true
		expect_status 1
		kill -9 "$cpid"
	done
}

# -F: exec in place: the PID that ran lockrun is the command's PID.
t_no_fork() {
	run sh -c 'echo $$; exec lockrun -F F sh -c "echo \$\$; head -n1 F"'
	expect_status 0
	[ "$(printf '%s\n' "$out" | sort -u | wc -l)" = 1 ] &&
		[ "$(printf '%s\n' "$out" | wc -l)" = 3 ] || fail "PIDs differ: $out"
	# nobody is left to remove the file: it is stale, and recovered
	run lockrun --verbose -n F sh -c 'echo "R=$LOCKRUN_RECOVERED"'
	expect_status 0
	expect_out_match '^R=1$'
	expect_released F
	run sh -c 'echo $$; exec flock -F F sh -c "echo \$\$"'
	[ "$(printf '%s\n' "$out" | sort -u | wc -l)" = 1 ] || fail "flock -F: PIDs differ: $out"
	run sh -c 'echo $$; exec lockrun F sh -c "echo \$\$"'
	[ "$(printf '%s\n' "$out" | sort -u | wc -l)" = 2 ] || fail "without -F: same PID: $out"
	run lockrun -F -o F true
	expect_status 64
	# a -F holder is reported like any other
	spawn lockrun -F "$T/G" sh -c "$HOLD" sh c
	started c || return
	[ "$cpid" = "$pid" ] || fail "-F: command PID $cpid, lockrun PID $pid"
	run lockrun -n G true
	expect_status 1
	expect_err_match "^lockrun: .*G: held by PID $pid \(sh\) since"
	touch c.go
	wait_until eval '! is_locked G'
}

t_shared() {
	spawn lockrun -s "$T/F" sh -c "$HOLD" sh a
	started a || return
	run lockrun -s -n F sh -c 'echo shared'
	expect_status 0
	expect_out shared
	run $UL -s -n F true
	expect_status 0
	run flock --shared -n F true
	expect_status 0
	run lockrun -n F true
	expect_status 1
	expect_err_match 'held by \(shared\) PID'
	run $UL -n F true
	expect_status 1
	run lockrun -x -n F true
	expect_status 1
	# two shared holders at once
	spawn lockrun -s "$T/F" sh -c "$HOLD" sh b
	started b || return
	run lockrun -e -n F true
	expect_status 1
	touch a.go b.go
	wait_until eval '! is_locked F' || return
	run lockrun -n F true
	expect_status 0
}

# FD form: exec 9>F; lockrun -n 9 locks fd 9 and creates no other file;
# -u 9 unlocks it.
t_fd_form() {
	exec 9>F
	run lockrun -n 9
	expect_status 0
	is_locked F || fail "fd 9 not locked"
	run $UL -n F true
	expect_status 1
	run lockrun -n F true
	expect_status 1
	run lockrun -u 9
	expect_status 0
	run $UL -n F true
	expect_status 0
	# flock(1) on fd 9, lockrun unlocks it, and the other way round
	$UL -n 9 || fail "util-linux flock -n 9 failed"
	run lockrun -n 9
	expect_status 0
	run lockrun -u 9
	expect_status 0
	run $UL -n F true
	expect_status 0
	run lockrun -n 9
	$UL -u 9 || fail "util-linux flock -u 9 failed"
	run $UL -n F true
	expect_status 0
	[ ! -s F ] || fail "F was written to"
	exec 9>&-
	nothing_left '^F$'
	compat -n 57
	expect_status 65
	expect_same_status -n 57
	run lockrun -n 57
	expect_status 65
}

t_fd_option() {
	exec 8>F
	run lockrun --fd 8 sh -c "$UL -n F true; echo \$?"
	expect_status 0
	expect_out 1
	run lockrun --fd 8 -c "$UL -n F true; echo \$?"
	expect_out 1
	run $UL -n F true
	expect_status 0
	exec 8>&-
	[ ! -s F ] || fail "F was written to"
	nothing_left '^F$'
}

t_long_option_abbreviations() {
	hold F || return
	run lockrun --nonblock F true
	expect_status 1
	run lockrun --nonb G true
	expect_status 0
	run lockrun --verb G true
	expect_status 0
	expect_out_match 'executing true'
	run lockrun --conflict-e 9 --nonblock F true
	expect_status 9
}

t_verbose() {
	run lockrun --verbose F true
	expect_status 0
	[ "$(printf '%s\n' "$out" | sed 's/took [0-9]*\.[0-9]* seconds/took N seconds/')" = \
	  "lockrun: getting lock took N seconds
lockrun: executing true" ] || fail "--verbose stdout: '$out'"
	expect_err ''
	# under the name flock: the same wording as flock(1)
	compat --verbose F true
	expect_status 0
	expect_same --verbose F true
	[ "$(printf '%s' "$out" | sed 's/[0-9.]* seconds/N seconds/')" = \
	  "$(printf '%s' "$ul_out" | sed 's/[0-9.]* seconds/N seconds/')" ] ||
		fail "flock --verbose: '$out' vs util-linux '$ul_out'"
}

# Invoked as flock: nothing on stderr on a conflict, --verbose says
# "failed to get lock", lock files stay in place and empty.
t_flock_name() {
	run flock N sh -c 'wc -c <N'
	expect_status 0
	expect_out 0
	expect_file N
	[ ! -s N ] || fail "N is not empty"
	hold F || return
	compat -n F true
	expect_status 1
	expect_err ''
	expect_same -n F true
	compat --verbose -n F true
	expect_status 1
	expect_err 'flock: failed to get lock'
	expect_same --verbose -n F true
	compat --verbose -w 0.1 F true
	expect_status 1
	expect_err 'flock: timeout while waiting to get lock'
	expect_same --verbose -w 0.1 F true
	# an existing empty file stays empty under flock
	: >E
	run flock E sh -c 'wc -c <E'
	expect_out 0
	expect_file E
	[ ! -s E ] || fail "E is not empty"
}

# --- mutual exclusion with flock(1) -------------------------------------------

t_exclusion_with_flock_both_ways() {
	: >F
	# flock(1) holds: lockrun is refused, then waits and gets it on release
	spawn $UL "$T/F" sh -c "$HOLD" sh a
	started a || return
	run lockrun -n F true
	expect_status 1
	expect_err_match "F: held by PID $pid"
	run flock -n F true
	expect_status 1
	bg w lockrun --verbose -w 10 "$T/F" sh -c 'echo $$ >w.pid; wc -c <F >w.size; $0 -n F true; echo $? >w.ul' "$UL"
	wait_until grep -qs 'waiting; held by' w.err || return
	touch a.go
	bg_status w
	expect_status 0
	[ "$(cat w.ul)" = 1 ] || fail "flock(1) got the lock while lockrun held it"
	[ "$(cat w.size)" -gt 0 ] || fail "no record written in place"
	expect_file F
	[ ! -s F ] || fail "F not emptied after lockrun"
	# lockrun holds: flock(1) is refused, then waits and gets it
	spawn lockrun "$T/F" sh -c "$HOLD" sh b
	started b || return
	run $UL -n F true
	expect_status 1
	[ "$(head -n1 F)" = "$cpid" ] || fail "line 1 of F: $(head -n1 F), command $cpid"
	bg u $UL -w 10 "$T/F" sh -c 'timeout 5 lockrun -n F true 2>/dev/null; echo $? >u.lr'
	wait_until is_waiting F || return
	touch b.go
	bg_status u
	expect_status 0
	[ "$(cat u.lr)" = 1 ] || fail "lockrun got the lock while flock(1) held it"
	expect_file F
	[ ! -s F ] || fail "F not empty"
}

# --- hostile lock paths -------------------------------------------------------

t_symlink_not_followed() {
	local tool
	echo data >target
	ln -s target S
	ln -s missing D
	for tool in lockrun flock; do
		run "$tool" S true
		expect_status 66
		expect_err_match "^$tool: .*S.*symbolic link"
		run "$tool" D true
		expect_status 66
		expect_no_file missing
		run "$tool" -n S true
		expect_status 66
	done
	[ "$(cat target)" = data ] || fail "target changed"
	is_locked target && fail "target locked"
	return 0
}

t_fifo_no_hang() {
	local tool
	mkfifo P
	for tool in lockrun flock; do
		run "$tool" P true
		expect_status 66
		expect_err_match "^$tool: .*P"
		run "$tool" -w 5 P true
		expect_status 66
	done
}

run_tests t_conflict_nonblock t_wait_zero_is_nonblock \
	t_wait_timeout_accuracy t_usage_errors t_bad_timeouts_rejected \
	t_command_status t_exec_failure t_nonexistent_dir t_permission_denied \
	t_readonly_and_full_fs t_command_string_uses_shell t_close_vs_inherit \
	t_close_vs_inherit_flock_name t_no_fork t_shared t_fd_form t_fd_option \
	t_long_option_abbreviations t_verbose t_flock_name \
	t_exclusion_with_flock_both_ways t_symlink_not_followed t_fifo_no_hang
