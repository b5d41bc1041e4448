#!/bin/bash
# SPDX-License-Identifier: MIT
# lockclean as root among other users: hostile places (a sticky
# world-writable directory, untrusted owners, a directory swapped for a
# symlink while it runs) and the race test: cleaners beside lockers,
# never a live lock removed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockclean.sh"

# --- hostile places (root in a sticky world-writable directory) -------------------

t_hostile_sticky_dir() {
	need_root || return 0
	mkdir pub outside
	chmod 1777 pub
	make_stale outside/target.lock || return
	cp outside/target.lock outside/victim.lock
	echo "root's data" >outside/data
	# planted by nobody
	as_nobody ln -s "$T/outside/target.lock" pub/stale.lock
	as_nobody ln -s "$T/outside" pub/dirlink
	as_nobody mkfifo pub/fifo.lock
	as_nobody sh -c 'echo 1 > pub/plain.pid'
	ln outside/victim.lock pub/hard.lock # protected_hardlinks stops nobody
	mkrec pub/forged.lock "$(dead_pid)" "$BOOT" "$HOST" 0
	chown $NOBODY:$NOBODY pub/forged.lock
	# controls: nobody's own stale record, and root's, are removable
	mkrec pub/own.lock "$(dead_pid)" "$BOOT" "$HOST" $NOBODY
	chown $NOBODY:$NOBODY pub/own.lock
	cp outside/target.lock pub/roots.lock
	snapshot outside >before
	snapshot pub | grep -v -e 'pub/own\.lock' -e 'pub/roots\.lock' >pub-before
	run_clean lockclean -r -v --pidfiles --corrupt-older-than 1ms pub
	expect_status 0
	snapshot outside >after
	snapshot pub >pub-after
	cmp -s before after || fail "outside changed: $(diff before after)"
	cmp -s pub-before pub-after || fail "planted files changed: $(diff pub-before pub-after)"
	expect_no_file pub/own.lock
	expect_no_file pub/roots.lock
	expect_out_match '^kept pub/stale\.lock \(unsafe: symbolic link\)$'
	expect_out_match '^kept pub/dirlink \(unsafe: symbolic link\)$'
	expect_out_match '^kept pub/fifo\.lock \(unsafe: FIFO\)$'
	expect_out_match '^kept pub/hard\.lock \(unsafe: 2 hard links\)$'
	expect_out_match '^kept pub/forged\.lock \(unsafe: owned by uid 65534 in a shared directory'
	# dry run and JSON agree
	run_clean lockclean -n -J -r --pidfiles pub
	expect_status 0
	printf '%s' "$out" >r.json
	json_check r.json 'not any(e["action"] == "would-remove" for e in files)'
}

# The owner rule for files without a record: in a sticky world-writable
# directory only root's and the caller's files are trusted.
t_hostile_untrusted_owner_without_record() {
	need_root || return 0
	mkdir pub
	chmod 1777 pub
	as_nobody sh -c 'sh -c "echo \$\$" > pub/dead.pid'
	as_nobody sh -c 'printf "123\npidlock 1\ngarbage\n" > pub/torn.lock'
	as_nobody sh -c ': > pub/.pidlock-tmp.NoBoDy'
	age pub/torn.lock 100
	snapshot pub >before
	run_clean lockclean -v --pidfiles --corrupt-older-than 1s pub
	expect_status 0
	snapshot pub >after
	cmp -s before after || fail "files of nobody removed: $(diff before after)"
	expect_out_match '^kept pub/dead\.pid \(unsafe: owned by uid 65534'
}

# While lockclean cleans A/sub (a directory of nobody's, full of stale
# files), nobody swaps A/sub for a symlink to a directory of root's stale
# files and back, again and again: the directory-relative calls must keep
# lockclean where it started, and nothing in elsewhere may go.
t_hostile_path_swap() {
	need_root || return 0
	mkdir pub elsewhere seed seed/many
	chmod 1777 pub
	make_stale seed/s.lock || return
	local n=2000
	python3 -c '
import shutil, sys
for i in range(int(sys.argv[1])):
    shutil.copy("seed/s.lock", "seed/many/%d.lock" % i)
    shutil.copy("seed/s.lock", "elsewhere/%d.lock" % i)' $n
	chown -R $NOBODY seed/many
	snapshot elsewhere >before
	as_nobody mkdir pub/A
	local deadline=$((SECONDS + 8)) rounds=0 swapper
	while [ $SECONDS -lt $deadline ]; do
		cp -a seed/many pub/A/sub
		# the attacker swaps A/sub and a symlink to elsewhere, back and forth
		spawn as_nobody sh -c '
			while :; do
				mv pub/A/sub pub/A/sub.real 2>/dev/null
				ln -s ../../elsewhere pub/A/sub 2>/dev/null
				rm -f pub/A/sub
				mv pub/A/sub.real pub/A/sub 2>/dev/null
			done'
		swapper=$pid
		lockclean -v pub/A/sub >>log 2>&1
		lockclean -v -r pub/A >>log 2>&1
		lockclean -v -r pub >>log 2>&1
		kill_tree "$swapper"
		reap "$swapper"
		rm -rf pub/A/sub pub/A/sub.real
		rounds=$((rounds + 1))
		[ "$(find elsewhere -type f | wc -l)" = $n ] || break
	done
	snapshot elsewhere >after
	cmp -s before after ||
		fail "files outside were touched in round $rounds: $(diff before after | head -5)"
	clean_lines <log >log.lines && mv log.lines log
	printf 'path swap: %d rounds, %d files removed in A/sub, %d times A/sub was a symlink, %d errors\n' \
		$rounds "$(grep -c '^removed [^0-9]' log)" "$(grep -c 'sub (unsafe: symbolic link)' log)" \
		"$(grep -c '^lockclean: ' log)"
	# (A/sub.real is A/sub renamed: -r on A or pub may find it there)
	if grep '^removed [^0-9]' log | grep -Ev '^removed pub/A/sub(\.real)?/[0-9]+\.lock \(stale: ' >odd; then
		fail "removed something other than a stale file in A/sub: $(head -5 odd)"
	fi
}

# --- THE RACE TEST ---------------------------------------------------------------

# Workers take the lock (waiting up to 10 s) and run a critical section
# that increments a shared counter with a non-atomic read-modify-write and
# keeps a marker: the holder's token in $T/inside, empty when nobody is
# inside.  Any overlap of two critical sections is seen by one of them: at
# entry (the marker is not empty) or at exit (the marker is not its own
# token).  Only shell builtins run in the critical section, so that the
# test spends its time on locking and cleaning, not on exec.
#
# Workers 1 and 2 use -F: their files are left behind, stale, every time,
# and the next acquirer or a cleaner removes them.  Workers 3 and 4 fork:
# lockrun removes the file on release.  Worker 5 kills its own lockrun with
# SIGKILL in every third critical section: the command keeps the lock it
# inherited, finishes, and leaves a stale file.  Two lockclean loops run
# all the time.  All use --remove: only files without keep=1 are ever
# removed by a cleaner (pidlock(5)), so that is the mode that races with it.
CS='read cur < "$0/inside"; [ -z "$cur" ] || echo "VIOLATION at entry: $cur inside" >> "$0/violations"
echo "$1.$$" > "$0/inside"
read n < "$0/counter"; echo $((n + 1)) > "$0/counter"
echo x >> "$0/tally.$1"
read cur < "$0/inside"; [ "$cur" = "$1.$$" ] || echo "VIOLATION at exit: $cur inside" >> "$0/violations"
: > "$0/inside"'

race_worker() {
	local w=$1 iters=$2 mode=$3 i=0
	while [ $i -lt "$iters" ]; do
		i=$((i + 1))
		case $mode in
		F) lockrun --remove -q -w 10 -F "$T/d/x.lock" sh -c "$CS" "$T" "$w" ;;
		fork) lockrun --remove -q -w 10 "$T/d/x.lock" sh -c "$CS" "$T" "$w" ;;
		crash)
			if [ $((i % 3)) = 0 ]; then
				lockrun --remove -q -w 10 "$T/d/x.lock" sh -c "kill -9 \$PPID; $CS" "$T" "$w"
			else
				lockrun --remove -q -w 10 "$T/d/x.lock" sh -c "$CS" "$T" "$w"
			fi ;;
		esac
		[ $? = 1 ] && echo "$w" >>"$T/timeouts"
	done
}

cleaner_loop() {
	local errs=0 runs=0
	while [ ! -e "$T/stop" ]; do
		lockclean "$T/d" >/dev/null 2>>"$T/cleaner.err" || errs=$((errs + 1))
		runs=$((runs + 1))
	done
	echo "$runs $errs" >"$T/cleaner.$1"
}

t_race() {
	mkdir d
	echo 0 >counter
	: >inside
	: >violations
	: >timeouts
	local start=$SECONDS w workers="" c1 c2
	spawn cleaner_loop 1
	c1=$pid
	spawn cleaner_loop 2
	c2=$pid
	# make valgrind and the sanitized check scale the loops down
	# (VALGRIND_SCALE or STRESS_SCALE, a divisor).
	local k=${VALGRIND_SCALE:-${STRESS_SCALE:-1}}
	for w in 1 2; do spawn race_worker $w $((300 / k)) F 2>>workers.err; workers="$workers $pid"; done
	for w in 3 4; do spawn race_worker $w $((300 / k)) fork 2>>workers.err; workers="$workers $pid"; done
	spawn race_worker 5 $((150 / k)) crash 2>>workers.err
	workers="$workers $pid"
	for w in $workers; do wait "$w"; done
	touch stop
	wait "$c1" "$c2"
	local total count runs1 errs1 runs2 errs2
	total=$(cat tally.* | wc -l)
	count=$(cat counter)
	read -r runs1 errs1 <cleaner.1
	read -r runs2 errs2 <cleaner.2
	printf 'race: %d critical sections, %d lockclean runs (%d failed), %d timeouts, %d s\n' \
		"$total" $((runs1 + runs2)) $((errs1 + errs2)) "$(wc -l <timeouts)" $((SECONDS - start))
	grep -v 'Killed' workers.err | sort | uniq -c | sed 's/^/race: lockrun said: /'
	[ ! -s violations ] || fail "$(wc -l <violations) mutual-exclusion violations: $(head -3 violations)"
	[ "$count" = "$total" ] || fail "counter $count, but $total critical sections ran"
	[ "$total" -ge $((1300 / k)) ] || fail "only $total of $((1350 / k)) critical sections ran (timeouts?)"
	[ $((runs1 + runs2)) -ge $((100 / k)) ] || fail "the cleaners ran only $((runs1 + runs2)) times"
	[ ! -s inside ] || fail "a critical section's marker was left behind: $(cat inside)"
	run lockrun -n "$T/d/x.lock" true
	expect_status 0
	# for t_race_cleaners_exit_status
	{ echo $((errs1 + errs2)); sort cleaner.err | uniq -c | sort -rn | head -5; } \
		>"$SUITE_DIR/race-cleaners"
}

# A file that an acquirer replaced while lockclean judged it is not "a
# stale file that could not be removed": lockclean must not fail for it.
# (Uses what t_race's two lockclean loops saw.)
t_race_cleaners_exit_status() {
	[ -f "$SUITE_DIR/race-cleaners" ] || { skip_test "t_race did not run"; return 0; }
	local errs
	errs=$(head -n1 "$SUITE_DIR/race-cleaners")
	[ "$errs" = 0 ] ||
		fail "lockclean exited non-zero $errs times during t_race: $(tail -n +2 "$SUITE_DIR/race-cleaners")"
}

# Arguments: the tests to run (default: all).
[ $# -gt 0 ] && run_tests "$@"

run_tests t_hostile_sticky_dir t_hostile_untrusted_owner_without_record \
	t_hostile_path_swap t_race t_race_cleaners_exit_status
