#!/bin/bash
# SPDX-License-Identifier: MIT
# lockclean: what it removes, what it keeps, and that it never removes a
# live lock or follows an attacker.  Real processes throughout: lockrun
# holds the locks, kill -9 makes the stale ones.
. "$(dirname "$0")/lib.sh"

# The tools under test, copied once: a rebuild while the suite runs (the
# race test takes a minute) must not swap binaries under running loops.
mkdir "$SUITE_DIR/bin" &&
	cp "$BIN/lockrun" "$BIN/lockclean" "$SUITE_DIR/bin/" &&
	ln -s lockrun "$SUITE_DIR/bin/flock" &&
	PATH=$SUITE_DIR/bin:$PATH

BOOT=$(cat /proc/sys/kernel/random/boot_id)
HOST=$(uname -n)
BTIME=$(awk '$1 == "btime" { print $2 }' /proc/stat)
NOBODY=65534
OTHER_BOOT=0f0e0d0c-0b0a-4908-8706-050403020100

# --- helpers ----------------------------------------------------------------

# spawn CMD...: runs CMD in the background, sets $pid, and makes sure it is
# killed when the test ends, however it ends.
spawn() {
	"$@" &
	pid=$!
	track "$pid"
}
# reap PID: waits for a process we killed, without the shell's "Killed".
reap() { { wait "$1"; } 2>/dev/null; return 0; }

# make_stale FILE [lockrun options]: a record whose holder was killed.
# Without -k it is written with --remove (no keep=1): the kind of record
# that lockclean removes once stale (pidlock(5): keep=1 records are kept).
make_stale() {
	local f=$1 p
	shift
	case " $* " in *" -k "*) ;; *) set -- --remove "$@" ;; esac
	spawn lockrun "$@" -F "$f" sleep 1000
	p=$pid
	wait_until is_locked "$f" || return 1
	kill -9 "$p"
	reap "$p"
}

# A PID that no process has: a shell that has exited.
dead_pid() { sh -c 'echo $$'; }

# mkrec FILE PID BOOT HOST UID [LINE...]: writes a pidlock record with a
# correct sum= (FNV-1a 32 over every byte before the sum line).
mkrec() {
	python3 - "$@" <<'EOF'
import os, sys, time
f, pid, boot, host, uid = sys.argv[1:6]
extra = "".join(line + "\n" for line in sys.argv[6:])
pidns = os.stat("/proc/self/ns/pid").st_ino
body = (f"{pid}\npidlock 1\nboot={boot}\nstart=4242\npidns={pidns}\n"
        f"uid={uid}\nhost={host}\ntime={int(time.time())}\ncomm=forged\n{extra}")
h = 0x811C9DC5
for b in body.encode():
    h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
with open(f, "w") as out:
    out.write(body + "sum=%08x\n" % h)
EOF
}

# json_check FILE PYTHON-EXPR...: loads FILE as JSON into j (files: the list,
# by: path -> entry) and asserts each expression.
json_check() {
	local f=$1
	shift
	python3 - "$f" "$@" <<'EOF' || fail "JSON check failed (see above)"
import json, sys
raw = open(sys.argv[1], "rb").read()
try:
    j = json.loads(raw.decode("utf-8"))
except Exception as e:
    print("ERROR: not valid UTF-8 JSON: %r: %r" % (e, raw[:300]))
    sys.exit(1)
files = j["files"]
by = {e["path"]: e for e in files}
ok = True
for expr in sys.argv[2:]:
    try:
        good = eval(expr)
    except Exception as e:
        good = False
        print("ERROR: %s raised %r" % (expr, e))
    if not good:
        ok = False
        print("ERROR: JSON check: %s\n  in %s" % (expr, json.dumps(j)[:2000]))
sys.exit(0 if ok else 1)
EOF
}

# A snapshot of a tree: names, types, modes, owners, link counts, sizes,
# link targets and content checksums.  Timestamps are left out on purpose.
snapshot() {
	find "$@" -printf '%p %y %m %u %n %s %l\n' | sort
	find "$@" -type f -exec sha256sum {} + | sort
}

as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

# age FILE SECONDS: sets FILE's mtime SECONDS into the past.
age() { touch -d "@$(($(date +%s) - $2))" "$1"; }

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
run_tests \
	t_stale_record_removed \
	t_live_record_kept \
	t_proc_locks_read_once \
	t_inherited_lock_kept \
	t_reused_pid_removed \
	t_previous_boot_record_removed \
	t_foreign_pidfile_kept \
	t_dead_pidfile \
	t_dead_pidfile_with_more_lines \
	t_pidfile_before_boot_kept \
	t_pidfile_older_than_process_kept \
	t_remote_record \
	t_same_boot_other_host_is_judged_by_pid \
	t_corrupt \
	t_older_than \
	t_age_not_rounded_up \
	t_empty_and_flock_files_never_removed \
	t_keep_record_never_removed \
	t_leftover_temp_files t_temp_file_of_live_creator_kept \
	t_dry_run_removes_nothing \
	t_verbose_gives_every_reason \
	t_json_report \
	t_json_report_non_utf8_name \
	t_exit_status_failed_removal \
	t_exit_status_zero_when_only_kept \
	t_usage_errors \
	t_recursive \
	t_recursive_stays_on_filesystem \
	t_name_argument \
	t_hostile_sticky_dir \
	t_hostile_untrusted_owner_without_record \
	t_hostile_path_swap \
	t_race \
	t_race_cleaners_exit_status
