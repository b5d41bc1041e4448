#!/bin/bash
# SPDX-License-Identifier: MIT
# lockclean: what it removes, what it keeps, its reports and exit
# status.  Real processes throughout: lockrun holds the locks, kill -9
# makes the stale ones.  (Hostile places and the race:
# test-lockclean-hostile.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockclean.sh"

# --- records ------------------------------------------------------------------

t_stale_record_removed() {
	mkdir d && make_stale d/job.lock || return
	run_clean lockclean d
	expect_status 0
	expect_no_file d/job.lock
	expect_out_match '^removed d/job\.lock \(stale: holder [0-9]+ is dead; was PID [0-9]+, sleep\)$'
}

t_live_record_kept() {
	mkdir d
	spawn lockrun d/live.lock sleep 1000
	wait_until is_locked d/live.lock || return
	run_clean lockclean -v d
	expect_status 0
	expect_file d/live.lock
	expect_out_match '^kept d/live\.lock \(live: locked'
	# quiet without -v: nothing was removed, nothing to say
	run_clean lockclean d
	expect_status 0
	expect_out ''
	expect_file d/live.lock
}

# Reading /proc/locks stalls every locker on the machine, and once per
# file it made cleaning a directory of live locks quadratic (100,000 files,
# 10% live: 179 s): a run reads it at most once, dry or real.
t_proc_locks_read_once() {
	command -v strace >/dev/null || { skip_test "strace missing"; return; }
	local i
	mkdir d
	for i in 1 2 3 4 5 6 7 8; do
		spawn lockrun "d/live$i.lock" sleep 1000
	done
	for i in 1 2 3 4 5 6 7 8; do
		wait_until is_locked "d/live$i.lock" || return
	done
	for mode in -n ""; do
		run_clean env "$NOLEAK" strace -f -qq -e trace=openat -o trace lockclean -v $mode d
		expect_status 0
		[ "$(printf '%s\n' "$out" | grep -c '^kept d/live')" = 8 ] ||
			fail "lockclean $mode: not every live lock kept: $out"
		n=$(grep -c '"/proc/locks"' trace)
		[ "$n" -le 1 ] || fail "lockclean $mode read /proc/locks $n times"
	done
}

# The kernel lock is the truth: the recorded PID is dead, but a process it
# started still holds the lock.
t_inherited_lock_kept() {
	mkdir d
	spawn lockrun -F d/inh.lock sh -c 'sleep 1000 & echo $! > child; wait'
	local holder=$pid
	wait_until test -s child || return
	echo "$(cat child)" >>"$T/.pids"
	wait_until is_locked d/inh.lock || return
	kill -9 "$holder"
	reap "$holder"
	is_locked d/inh.lock || { fail "the child no longer holds the lock"; return; }
	run_clean lockclean -v --pidfiles --corrupt-older-than 1ms d
	expect_status 0
	expect_file d/inh.lock
	expect_out_match '^kept d/inh\.lock \(live'
}

t_reused_pid_removed() {
	need_root || return 0
	mkdir d
	# In a new PID namespace nothing else forks: ns_last_pid makes the
	# next process get the dead holder's PID.
	run unshare --pid --fork --mount-proc bash -c '
		lockrun --remove -F d/r.lock sleep 1000 & p=$!
		i=0; until [ -s d/r.lock ] && grep -q ":$(stat -c %i d/r.lock) " /proc/locks
		do i=$((i+1)); [ $i -lt 1000 ] || exit 3; sleep 0.01; done
		kill -9 $p; wait $p 2>/dev/null
		echo $((p - 1)) > /proc/sys/kernel/ns_last_pid
		sleep 1000 & q=$!
		[ "$q" = "$p" ] || { echo "got PID $q, not $p" >&2; kill $q; exit 4; }
		lockclean -J d; rc=$?
		kill $q
		exit $rc'
	expect_status 0 || return
	printf '%s' "$out" >j
	json_check j 'by["d/r.lock"]["action"] == "removed"' \
		'by["d/r.lock"]["state"] == "reused"' \
		'"belongs to another process" in by["d/r.lock"]["reason"]' \
		'isinstance(by["d/r.lock"]["filepid"], int)'
	expect_no_file d/r.lock
}

t_previous_boot_record_removed() {
	mkdir d
	mkrec d/old.lock "$(dead_pid)" "$OTHER_BOOT" "$HOST" 0
	run_clean lockclean d
	expect_status 0
	expect_no_file d/old.lock
	expect_out_match 'removed d/old\.lock \(stale: written before the last boot'
}

# --- plain pidfiles -------------------------------------------------------------

t_foreign_pidfile_kept() {
	mkdir d
	spawn sleep 1000
	echo "$pid" >d/daemon.pid
	run_clean lockclean -v --pidfiles d
	expect_status 0
	expect_file d/daemon.pid
	expect_out_match "^kept d/daemon\\.pid \\(foreign: process $pid is alive"
}

t_dead_pidfile() {
	mkdir d
	local p
	p=$(dead_pid)
	printf '%s\n' "$p" >d/daemon.pid
	run_clean lockclean -v d
	expect_status 0
	expect_file d/daemon.pid
	expect_out_match "kept d/daemon\\.pid \\(stale: no process $p: plain pidfile \\(use --pidfiles\\)\\)"
	run_clean lockclean -v --pidfiles d
	expect_status 0
	expect_no_file d/daemon.pid
	expect_out_match "^removed d/daemon\\.pid \\(stale: no process $p\\)$"
}

# PostgreSQL-style: more lines after the PID.
t_dead_pidfile_with_more_lines() {
	mkdir d
	printf '%s\n/var/lib/postgresql\n1700000000\n5432\n' "$(dead_pid)" >d/postmaster.pid
	run_clean lockclean --pidfiles d
	expect_status 0
	expect_no_file d/postmaster.pid
}

# A live daemon's pidfile whose time says nothing true (clock stepped,
# VM snapshot restored, touch -d): only proof of death removes, never the
# file's time.
t_pidfile_before_boot_kept() {
	mkdir d
	spawn sleep 1000 # alive: the file's time proves nothing against it
	echo "$pid" >d/daemon.pid
	touch -d "@$((BTIME - 100))" d/daemon.pid
	run_clean lockclean -v --pidfiles d
	expect_status 0
	expect_file d/daemon.pid
	expect_out_match 'kept d/daemon\.pid \(foreign: process [0-9]+ is alive \(the file predates the boot\)\)'
	kill "$pid"
	reap "$pid"
	run_clean lockclean -v --pidfiles d
	expect_status 0
	expect_no_file d/daemon.pid
	expect_out_match "^removed d/daemon\\.pid \\(stale: no process $pid \\(written before the last boot\\)\\)\$"
}

t_pidfile_older_than_process_kept() {
	mkdir d
	local now
	now=$(date +%s)
	[ $((now - BTIME)) -gt 100 ] || { skip_test "booted less than 100 s ago"; return 0; }
	spawn sleep 1000 # alive, but started after the file's time
	echo "$pid" >d/daemon.pid
	touch -d "@$((now - 60))" d/daemon.pid
	run_clean lockclean -v --pidfiles d
	expect_status 0
	expect_file d/daemon.pid
	expect_out_match "kept d/daemon\\.pid \\(foreign: process $pid is alive \\(it started after the file was written\\)\\)"
}

# --- other hosts, corrupt files, ages ------------------------------------------

t_remote_record() {
	mkdir d
	mkrec d/nfs.lock "$(dead_pid)" "$OTHER_BOOT" farhost 0
	# the same record for this host is accepted (so the sum is right)
	mkrec d/control.lock "$(dead_pid)" "$BOOT" "$HOST" 0
	run_clean lockclean -v d
	expect_status 0
	expect_no_file d/control.lock
	expect_file d/nfs.lock
	expect_out_match '^kept d/nfs\.lock \(remote: record of host farhost: record of another host \(use --host-dead\)'
	run_clean lockclean -v --host-dead otherhost --host-dead "$HOST" d
	expect_status 0
	expect_file d/nfs.lock
	run_clean lockclean -v --host-dead farhost d
	expect_status 0
	expect_no_file d/nfs.lock
	expect_out_match '^removed d/nfs\.lock \(remote: record of host farhost; was PID [0-9]+, forged\)$'
}

# The same boot id is the same kernel, whatever the host name says.
t_same_boot_other_host_is_judged_by_pid() {
	mkdir d
	mkrec d/renamed.lock "$(dead_pid)" "$BOOT" oldname 0
	run_clean lockclean d
	expect_status 0
	expect_no_file d/renamed.lock
}

t_corrupt() {
	mkdir d
	printf '123\npidlock 1\ngarbage\n' >d/torn.lock     # a record that does not parse
	printf -- '-1\n' >d/minus.pid                      # a PID-like line that is no PID
	run_clean lockclean -v --pidfiles --host-dead farhost d
	expect_status 0
	expect_file d/torn.lock
	expect_file d/minus.pid
	expect_out_match '^kept d/torn\.lock \(corrupt: .*use --corrupt-older-than\)\)$'
	expect_out_match '^kept d/minus\.pid \(corrupt: .*use --corrupt-older-than\)\)$'
	run_clean lockclean -v --corrupt-older-than 1h d
	expect_status 0
	expect_file d/torn.lock
	expect_file d/minus.pid
	# young against 1s: start early in a second so the check is not near
	# a second boundary (see t_age_not_rounded_up for that case)
	wait_until sh -c '[ "$(date +%N)" -lt 300000000 ]' || return
	printf '123\npidlock 1\ngarbage\n' >d/torn.lock
	printf -- '-1\n' >d/minus.pid
	run_clean lockclean -v --corrupt-older-than 1s d
	expect_file d/torn.lock
	expect_file d/minus.pid
	age d/torn.lock 5
	run_clean lockclean -v --corrupt-older-than 1s d
	expect_status 0
	expect_no_file d/torn.lock
	expect_file d/minus.pid
	expect_out_match '^removed d/torn\.lock \(corrupt: '
	age d/minus.pid 5
	run_clean lockclean --corrupt-older-than 1s d
	expect_no_file d/minus.pid
}

t_older_than() {
	mkdir d
	make_stale d/young.lock || return
	make_stale d/old.lock || return
	age d/old.lock 7200
	printf '%s\n' "$(dead_pid)" >d/young.pid
	run_clean lockclean -v --pidfiles --older-than 1h d
	expect_status 0
	expect_file d/young.lock
	expect_file d/young.pid
	expect_no_file d/old.lock
	expect_out_match '^kept d/young\.lock \(stale: .*younger than --older-than'
	expect_out_match '^kept d/young\.pid \(stale: .*younger than --older-than'
	run_clean lockclean --pidfiles --older-than 30m d
	expect_file d/young.lock
	run_clean lockclean --pidfiles d
	expect_no_file d/young.lock
	expect_no_file d/young.pid
}

# A file written 100 ms ago is not "older than 1s", however the seconds
# fall: mtime is written late in one second, lockclean runs early in the
# next.
t_age_not_rounded_up() {
	mkdir d
	local try t0 t1 s
	for try in 1 2 3 4 5; do
		make_stale d/young.lock || return
		printf '123\npidlock 1\ngarbage\n' >d/torn.lock
		wait_until sh -c '[ "$(date +%N)" -gt 900000000 ]' || return
		touch d/torn.lock d/young.lock
		t0=$(date +%s%N)
		s=${t0%?????????}
		wait_until sh -c '[ "$(date +%s)" -gt '"$s"' ]' || return
		run_clean lockclean -v --older-than 1s --corrupt-older-than 1s d
		t1=$(date +%s%N)
		# inconclusive when the machine was too slow to stay under 1 s
		[ $(((t1 - t0) / 1000000)) -lt 900 ] && break
		rm -f d/young.lock d/torn.lock
	done
	[ $(((t1 - t0) / 1000000)) -lt 900 ] || { skip_test "too slow to get under 1 s"; return 0; }
	expect_file d/young.lock
	expect_file d/torn.lock
	[ "$_failed" = 0 ] ||
		printf 'ERROR: files at most %d ms old removed as older than 1s:\n%s\n' \
			$(((t1 - t0) / 1000000)) "$out"
}

# --- files lockclean never removes ----------------------------------------------

t_empty_and_flock_files_never_removed() {
	mkdir d
	: >d/empty.lock
	echo hello >d/words.lock
	age d/empty.lock 86400
	touch -d "@$((BTIME - 100))" d/words.lock
	run_clean lockclean -v --pidfiles --corrupt-older-than 1ms --older-than 1ms --host-dead "$HOST" d
	expect_status 0
	expect_file d/empty.lock
	expect_file d/words.lock
	expect_out_match '^kept d/empty\.lock \(free: '
	expect_out_match '^kept d/words\.lock \(free: '
}

t_keep_record_never_removed() {
	mkdir d
	make_stale d/kept.lock -k || return
	grep -qx 'keep=1' d/kept.lock || { fail "lockrun -k wrote no keep=1"; return; }
	age d/kept.lock 86400
	run_clean lockclean -v --pidfiles --corrupt-older-than 1ms d
	expect_status 0
	expect_file d/kept.lock
	expect_out_match '^kept d/kept\.lock \(.*keep=1'
}

t_leftover_temp_files() {
	mkdir d
	: >d/.pidlock-tmp.AbC123          # interrupted before the record
	make_stale d/s.lock || return
	mv d/s.lock d/.pidlock-tmp.XyZ789 # interrupted before publishing
	: >d/.pidlock-tmp.busy000         # a creation in progress
	spawn flock d/.pidlock-tmp.busy000 sleep 1000
	wait_until is_locked d/.pidlock-tmp.busy000 || return
	: >d/.hidden                      # other dotfiles are not ours
	run_clean lockclean -v d
	expect_status 0
	expect_no_file d/.pidlock-tmp.AbC123
	expect_no_file d/.pidlock-tmp.XyZ789
	expect_file d/.pidlock-tmp.busy000
	expect_file d/.hidden
	expect_out_match '^removed d/\.pidlock-tmp\.AbC123 \(stale: leftover of an interrupted creation\)'
	expect_out_match '^kept d/\.pidlock-tmp\.busy000 \(live: locked'
}

# An unlocked temporary file whose creator (the PID in its name) lives is
# a creation between its openat and its flock: never removed.  Once the
# creator is gone it is a leftover.
t_temp_file_of_live_creator_kept() {
	mkdir d
	spawn sleep 1000
	local dead
	dead=$(dead_pid)
	: >"d/.pidlock-tmp.$pid.0123456789abcdef"
	: >"d/.pidlock-tmp.$dead.0123456789abcdef"
	run_clean lockclean -v d
	expect_status 0
	expect_file "d/.pidlock-tmp.$pid.0123456789abcdef"
	expect_no_file "d/.pidlock-tmp.$dead.0123456789abcdef"
	expect_out_match "^kept d/\\.pidlock-tmp\\.$pid\\.0123456789abcdef \\(live: a creation in progress \\(creator $pid is alive\\)\\)"
	kill "$pid"
	reap "$pid"
	run_clean lockclean -v d
	expect_status 0
	expect_no_file "d/.pidlock-tmp.$pid.0123456789abcdef"
}

# --- reports -------------------------------------------------------------------

# A directory with one file of every kind; stale ones listed in $T/stale.
populate() {
	mkdir -p d
	make_stale d/stale.lock || return 1
	make_stale d/kept.lock -k || return 1
	spawn lockrun d/live.lock sleep 1000
	wait_until is_locked d/live.lock || return 1
	: >d/empty.lock
	printf '%s\n' "$(dead_pid)" >d/dead.pid
	spawn sleep 1000
	echo "$pid" >d/alive.pid
	mkrec d/remote.lock "$(dead_pid)" "$OTHER_BOOT" farhost 0
	printf '123\npidlock 1\ngarbage\n' >d/torn.lock
	age d/torn.lock 100
	: >d/.pidlock-tmp.QwErTy
	cp d/stale.lock d/.pidlock-tmp.AsDfGh
}

t_dry_run_removes_nothing() {
	populate || return
	local opts="--pidfiles --corrupt-older-than 10s --host-dead farhost"
	ls -la --time-style=full-iso d/ | grep -v ' \.\.$' >before
	run_clean lockclean -n $opts d
	expect_status 0
	ls -la --time-style=full-iso d/ | grep -v ' \.\.$' >after
	cmp -s before after || fail "dry run changed the directory: $(diff before after)"
	expect_out_match '^would-remove d/stale\.lock \(stale'
	printf '%s\n' "$out" | grep -v '^would-remove ' | grep . &&
		fail "dry run printed lines other than would-remove"
	# the dry run names exactly the files the real run removes
	run_clean lockclean -n -J $opts d
	expect_status 0
	printf '%s' "$out" >dry.json
	run lockclean -J $opts d
	expect_status 0
	printf '%s' "$out" >real.json
	python3 - <<'EOF' || fail "dry run and real run disagree (see above)"
import json
dry = json.load(open("dry.json"))["files"]
real = json.load(open("real.json"))["files"]
would = sorted(e["path"] for e in dry if e["action"] == "would-remove")
removed = sorted(e["path"] for e in real if e["action"] == "removed")
if would != removed:
    print("ERROR: would-remove only: %s; removed only: %s" % (
        sorted(set(would) - set(removed)), sorted(set(removed) - set(would))))
    raise SystemExit(1)
EOF
}

t_verbose_gives_every_reason() {
	populate || return
	mkfifo d/fifo.lock
	ln -s stale.lock d/link.lock
	# every file is reported once, removed or kept, and every kept one
	# with a reason
	local files lines
	files=$(find d -mindepth 1 -maxdepth 1 \( ! -name '.*' -o -name '.pidlock-tmp.*' \) | wc -l)
	run_clean lockclean -v d
	expect_status 0
	lines=$(printf '%s\n' "$out" | grep -Ec '^(kept|removed) d/')
	[ "$files" = "$lines" ] || fail "$files files, $lines report lines: $out"
	printf '%s\n' "$out" | grep '^kept ' | grep -Ev '^kept [^ ]+ \([a-z-]+: [^)]' &&
		fail "kept files without a reason"
	expect_out_match '^kept d/fifo\.lock \(unsafe: FIFO\)$'
	expect_out_match '^kept d/link\.lock \(unsafe: symbolic link\)$'
	expect_out_match '^kept d/live\.lock \(live: '
	expect_out_match '^kept d/empty\.lock \(free: '
	expect_out_match '^kept d/alive\.pid \(foreign: '
	expect_out_match '^kept d/dead\.pid \(stale: .*--pidfiles'
	expect_out_match '^kept d/remote\.lock \(remote: .*--host-dead'
	expect_out_match '^kept d/torn\.lock \(corrupt: .*--corrupt-older-than'
	expect_out_match '^kept d/kept\.lock \(.*keep=1'
	# the last line sums it up
	[ "$(printf '%s\n' "$out" | tail -n1)" = "removed $(printf '%s\n' "$out" | grep -c '^removed d/'), kept $(printf '%s\n' "$out" | grep -c '^kept d/'), failed 0" ] ||
		fail "summary line: $(printf '%s\n' "$out" | tail -n1)"
	# -q: nothing at all
	run_clean lockclean -q -v d
	expect_status 0
	expect_out ''
}

t_json_report() {
	populate || return
	local stale_pid
	stale_pid=$(head -n1 d/stale.lock)
	make_stale "d/we\"ird\\ na
me.lock" || return
	run lockclean -J d
	expect_status 0
	printf '%s' "$out" >r.json
	json_check r.json \
		'all(set(e) >= {"path", "action", "state", "reason", "filepid"} for e in files)' \
		'all(e["action"] in ("removed", "kept", "would-remove", "failed") for e in files)' \
		'all(e["filepid"] is None or type(e["filepid"]) is int for e in files)' \
		'all(isinstance(e[k], str) for e in files for k in ("path", "state"))' \
		'all(e["reason"] for e in files if e["action"] == "kept")' \
		'by["d/stale.lock"]["action"] == "removed"' \
		'by["d/stale.lock"]["state"] == "stale"' \
		"by['d/stale.lock']['filepid'] == $stale_pid" \
		'by["d/stale.lock"]["filecommand"] == "sleep"' \
		"by['d/stale.lock']['host'] == '$HOST'" \
		'by["d/live.lock"]["action"] == "kept"' \
		'by["d/live.lock"]["state"] == "live"' \
		'by["d/empty.lock"]["filepid"] is None' \
		'by["d/empty.lock"]["filecommand"] is None' \
		'by["d/remote.lock"]["host"] == "farhost"' \
		'by["d/alive.pid"]["state"] == "foreign"' \
		'by["d/we\"ird\\ na\nme.lock"]["action"] == "removed"'
	# nothing to report is still a document
	mkdir empty
	run lockclean -J empty
	expect_status 0
	printf '%s' "$out" >e.json
	json_check e.json 'j == {"files": [], "summary": {"removed": 0, "kept": 0, "failed": 0}}'
}

# JSON is UTF-8: a file name that is not must not break the report.
t_json_report_non_utf8_name() {
	mkdir d
	make_stale "d/$(printf 'bad\377name')" || return
	run lockclean -J d
	expect_status 0
	printf '%s' "$out" >r.json
	json_check r.json 'len(files) == 1' 'files[0]["action"] == "removed"'
}

# --- exit status ---------------------------------------------------------------

t_exit_status_failed_removal() {
	mkdir d
	make_stale d/stuck.lock || return
	spawn lockrun d/live.lock sleep 1000
	wait_until is_locked d/live.lock || return
	if [ "$(id -u)" = 0 ]; then
		# root ignores permissions: a read-only bind mount, private to
		# a mount namespace
		run unshare -m sh -c 'mount --bind d d && mount -o remount,bind,ro d && exec lockclean -J d'
	else
		chmod 555 d
		run lockclean -J d
		chmod 755 d
	fi
	expect_status 1
	expect_file d/stuck.lock
	printf '%s' "$out" >r.json
	json_check r.json 'by["d/stuck.lock"]["action"] == "failed"' \
		'by["d/stuck.lock"]["reason"]' \
		'by["d/live.lock"]["action"] == "kept"'
	run_clean lockclean d
	expect_status 0
	expect_no_file d/stuck.lock
	expect_file d/live.lock
}

t_exit_status_zero_when_only_kept() {
	populate || return
	run_clean lockclean d
	expect_status 0
	run_clean lockclean d
	expect_status 0
	expect_out ''
}

t_usage_errors() {
	mkdir d
	run_clean lockclean --bogus d
	expect_status 64
	expect_err_match "Try 'lockclean --help' for more information"
	run_clean lockclean -Z d
	expect_status 64
	for bad in abc -5 1x 1e3 '' . inf nan; do
		run_clean lockclean --older-than "$bad" d
		expect_status 64
		expect_err_match "invalid age: '"
		run_clean lockclean --corrupt-older-than "$bad" d
		expect_status 64
	done
	run_clean lockclean --older-than
	expect_status 64
	run_clean lockclean --host-dead
	expect_status 64
	run_clean lockclean -- ''
	expect_status 64
	run_clean lockclean --help
	expect_status 0
	expect_out_match '^Usage:'
	expect_out_match '--corrupt-older-than DUR'
	run_clean lockclean --version
	expect_status 0
	expect_out_match '^lockclean from pidlock [0-9]'
	# durations that are fine
	for good in 250ms 1.5 2m 1h 3d 0; do
		run_clean lockclean --older-than "$good" d
		expect_status 0
	done
}

# --- what is cleaned -------------------------------------------------------------

t_recursive() {
	mkdir -p d/sub/deeper elsewhere
	make_stale d/sub/deeper/s.lock || return
	make_stale d/top.lock || return
	cp d/top.lock elsewhere/target.lock
	ln -s ../elsewhere d/link
	run_clean lockclean d
	expect_status 0
	expect_no_file d/top.lock
	expect_file d/sub/deeper/s.lock
	run_clean lockclean -r -v d
	expect_status 0
	expect_no_file d/sub/deeper/s.lock
	expect_out_match '^removed d/sub/deeper/s\.lock '
	expect_file elsewhere/target.lock
	[ -L d/link ] || fail "the symlink was removed"
	expect_out_match '^kept d/link \(unsafe: symbolic link\)$'
}

t_recursive_stays_on_filesystem() {
	need_root || return 0
	mkdir -p d/mnt d/sub
	make_stale d/sub/s.lock || return
	cp d/sub/s.lock d/stale-copy
	run unshare -m sh -c '
		mount -t tmpfs -o mode=755 tmpfs d/mnt || exit 3
		cp d/stale-copy d/mnt/x.lock
		lockclean -r -v d; rc=$?
		[ -e d/mnt/x.lock ] && echo SURVIVED
		exit $rc'
	expect_status 0
	expect_out_match '^SURVIVED$'
	expect_no_file d/sub/s.lock
	expect_no_file d/stale-copy
}

t_name_argument() {
	mkdir d elsewhere
	make_stale d/job.lock || return
	cp d/job.lock d/other.lock
	cp d/job.lock elsewhere/job.lock
	cd elsewhere || return
	PIDLOCK_DIR=$T/d run_clean lockclean -v job
	cd .. || return
	expect_status 0
	expect_no_file d/job.lock
	expect_file d/other.lock
	expect_file elsewhere/job.lock
	expect_out_match "^removed $T/d/job\\.lock "
	# a file path is a file path
	run_clean lockclean d/other.lock
	expect_status 0
	expect_no_file d/other.lock
	# no argument: the whole lock directory
	cp elsewhere/job.lock d/a.lock
	cp elsewhere/job.lock d/b.lock
	PIDLOCK_DIR=$T/d run lockclean
	expect_status 0
	expect_no_file d/a.lock
	expect_no_file d/b.lock
	expect_file elsewhere/job.lock
}

run_tests t_stale_record_removed t_live_record_kept t_proc_locks_read_once \
	t_inherited_lock_kept t_reused_pid_removed t_previous_boot_record_removed \
	t_foreign_pidfile_kept t_dead_pidfile t_dead_pidfile_with_more_lines \
	t_pidfile_before_boot_kept t_pidfile_older_than_process_kept \
	t_remote_record t_same_boot_other_host_is_judged_by_pid t_corrupt \
	t_older_than t_age_not_rounded_up t_empty_and_flock_files_never_removed \
	t_keep_record_never_removed t_leftover_temp_files \
	t_temp_file_of_live_creator_kept t_dry_run_removes_nothing \
	t_verbose_gives_every_reason t_json_report t_json_report_non_utf8_name \
	t_exit_status_failed_removal t_exit_status_zero_when_only_kept \
	t_usage_errors t_recursive t_recursive_stays_on_filesystem t_name_argument
