#!/bin/bash
# SPDX-License-Identifier: MIT
# The fault matrix, for real where the machine allows it: a full tmpfs (blocks, inodes), a read-only bind mount, a directory
# the caller may not write, descriptor exhaustion (ulimit -n), a name at
# NAME_MAX and one byte more, paths longer than PATH_MAX, a signal every
# millisecond while lockrun waits or supervises, and /proc missing.  Each
# row runs lockrun, lockstat and lockclean and checks the exit status and
# message documented in their EXIT STATUS, and that no file is left
# half-written: the lock path is absent, unchanged or a complete record,
# and no temporary file stays behind.  The library's side of each row
# (descriptors, memory) is tests/unit/test-matrix.c.
. "$(dirname "$0")/lib.sh"

NOBODY=65534
AS_NOBODY="setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups"

# --- helpers -----------------------------------------------------------------

# make_stale FILE: a complete record whose holder was SIGKILLed (written
# with --remove: no keep=1, so lockclean removes it once stale).
make_stale() {
	rm -f "$1"
	lockrun --remove -F "$1" sleep 1000 &
	local p=$!
	wait_until is_locked "$1" || return 1
	kill -9 $p
	{ wait $p; } 2>/dev/null
	return 0
}
# hold FILE: lockrun holds FILE until the test ends; sets $holder.
hold() {
	lockrun "$T/$1" sleep 1000 </dev/null >/dev/null 2>&1 &
	holder=$!
	track $holder
	wait_until is_locked "$1"
}
fp() { stat -c '%i %s %y %z %h %a %u' "$1" 2>/dev/null || echo missing; sha256sum <"$1" 2>/dev/null; }

# complete_or_absent FILE: FILE is absent, empty, or a whole record (its
# last line is sum= and it parses: lockstat does not call it corrupt).
complete_or_absent() {
	[ -e "$1" ] || return 0
	[ -s "$1" ] || return 0
	run lockstat -n -o STATE,REASON "$1"
	case $out in
	corrupt*) fail "$1 is half-written: $out ($(head -c 80 "$1" | od -c | head -2))" ;;
	esac
}
# no_temp DIR: no leftover temporary file of an interrupted creation.
no_temp() {
	ls -A "$1" | grep -q '^\.pidlock-tmp\.' && fail "temporary file left in $1: $(ls -A "$1")"
	return 0
}

# --- a full tmpfs -----------------------------------------------------------------

# In a private mount namespace: a tmpfs holding a stale record, an empty kept
# file and a live lock, then filled up (blocks, or inodes).  lockrun exits 73
# with the system's message where it needs a new file, and leaves every
# file as it was; the stale record is recovered in place, which needs no
# new inode or block (pidlock(5)), and kept, empty; lockstat and lockclean
# -n judge as usual.
full_fs() {
	local opts=$1 fill=$2 empty=$3
	mkdir -p seed full
	make_stale seed/stale.lock || return
	run unshare -m sh -c '
		mount -t tmpfs -o "$1",mode=0755 tmpfs full || exit 90
		cp -p seed/stale.lock full/stale.lock && : >full/empty.lock || exit 91
		lockrun full/live.lock sleep 1000 </dev/null >/dev/null 2>&1 &
		echo $! >live.pid
		# (an absent file must not make the pattern ": ", which any lock matches)
		i=0; until ino=$(stat -c %i full/live.lock 2>/dev/null) &&
			grep -q ":$ino " /proc/locks; do
			i=$((i + 1)); [ $i -lt 1000 ] || exit 92; sleep 0.01; done
		if [ "$2" = blocks ]; then
			cat /dev/zero >full/filler 2>/dev/null
		else
			i=0; while touch full/f$i 2>/dev/null; do i=$((i + 1)); done
		fi
		before=$(sha256sum full/stale.lock | cut -c1-64)
		lockrun full/new.lock true 2>new.err; echo "new $?"
		lockrun full/empty.lock true 2>empty.err; echo "empty $?"
		lockrun -n full/live.lock true 2>live.err; echo "live $?"
		PIDLOCK_DIR=$PWD/full lockrun -N named true 2>named.err; echo "named $?"
		# last: its release frees the block of the stale record
		lockrun full/stale.lock true 2>stale.err; echo "stale $?"
		[ "$(sha256sum full/stale.lock | cut -c1-64)" = "$before" ] && echo "stale unchanged"
		[ -s full/empty.lock ] || echo "empty still empty"
		echo "left: $(ls -A full | grep -v "^f[0-9]*$" | grep -v "^filler$" | tr "\n" " ")"
		lockstat --status full/stale.lock; echo "status stale $?"
		lockstat --status full/live.lock; echo "status live $?"
		lockstat --status full/empty.lock; echo "status empty $?"
		lockclean -n full >/dev/null; echo "dry $?"
		lockclean -v full >clean.out 2>clean.err; echo "clean $?"
		echo "after: $(ls -A full | grep -v "^f[0-9]*$" | grep -v "^filler$" | tr "\n" " ")"
		kill "$(cat live.pid)"
	' sh "$opts" "$fill"
	expect_status 0
	expect_out "new 73
empty $empty
live 1
named 73
stale 0
empty still empty
left: empty.lock live.lock stale.lock 
status stale 3
status live 0
status empty 3
dry 0
clean 0
after: empty.lock live.lock stale.lock "
	local f
	for f in new empty named; do
		[ $f = empty ] && [ "$empty" = 0 ] && continue
		grep -Eqx "lockrun: .*full/$f(\.lock)?: No space left on device" $f.err ||
			fail "lockrun $f: '$(cat $f.err)', expected the ENOSPC message"
	done
	grep -Eqx 'lockrun: full/live.lock: held by PID [0-9]+ .*' live.err ||
		fail "busy on a full filesystem: $(cat live.err)"
}
# No block for the record of the empty file: 73 too.  No inode: the empty
# file is locked in place and its record written (it needs no new inode).
t_full_tmpfs_blocks() { need_root || return 0; full_fs size=64k blocks 73; }
t_full_tmpfs_inodes() { need_root || return 0; full_fs nr_inodes=8 inodes 0; }

# --- a read-only bind mount ------------------------------------------------------

# lockrun 73 "Read-only file system"; an existing empty file is locked in
# place without a record (pidlock(5): "An acquirer that cannot write the
# file locks it without writing a record"), silently; lockstat judges;
# lockclean -n says would-remove; lockclean fails with 1 and says why;
# nothing changes.
t_readonly_bind_mount() {
	need_root || return 0
	mkdir d
	make_stale d/stale.lock || return
	: >d/empty.lock
	hold d/live.lock || return
	local before
	before=$(fp d/stale.lock; fp d/empty.lock; fp d/live.lock)
	run unshare -m sh -c '
		mount --bind d d && mount -o remount,bind,ro d || exit 90
		touch d/probe 2>/dev/null && exit 91
		lockrun d/stale.lock true 2>stale.err; echo "stale $?"
		lockrun d/new.lock true 2>new.err; echo "new $?"
		lockrun d/empty.lock true 2>empty.err; echo "empty $?"
		lockrun -n d/live.lock true 2>/dev/null; echo "live $?"
		lockstat --status d/stale.lock; echo "status stale $?"
		lockclean -n d | awk "\$1 == \"would-remove\" { print \$1, \$2 }"; echo "dry $?"
		lockclean -J d >clean.json 2>clean.err; echo "clean $?"'
	expect_status 0
	expect_out "stale 73
new 73
empty 0
live 1
status stale 1
would-remove d/stale.lock
dry 0
clean 1"
	for f in stale new; do
		grep -Eqx "lockrun: d/$f.lock: Read-only file system" $f.err ||
			fail "lockrun $f: '$(cat $f.err)'"
	done
	[ ! -s empty.err ] || fail "lockrun on the read-only empty file said: $(cat empty.err)"
	python3 -c '
import json, sys
by = {e["path"]: e for e in json.load(open("clean.json"))["files"]}
assert by["d/stale.lock"]["action"] == "failed", by
assert "Read-only file system" in by["d/stale.lock"]["reason"], by
assert by["d/live.lock"]["action"] == "kept", by
assert by["d/empty.lock"]["action"] == "kept", by
' || fail "lockclean's report: $(cat clean.json)"
	[ "$(fp d/stale.lock; fp d/empty.lock; fp d/live.lock)" = "$before" ] || fail "a file changed"
	[ "$(ls -A d | tr '\n' ' ')" = "empty.lock live.lock stale.lock " ] || fail "left: $(ls -A d)"
}

# --- a directory without write permission -----------------------------------------

# As root DAC is bypassed, so nobody tries: 66 "Permission denied" from
# lockrun, 1 from lockclean (failed, with the reason); lockstat works.
t_directory_not_writable() {
	need_root || return 0
	chmod 755 "$T"
	mkdir d
	make_stale d/stale.lock || return
	local before
	before=$(fp d/stale.lock)
	for f in new stale; do
		run $AS_NOBODY lockrun d/$f.lock true
		expect_status 66
		expect_err "lockrun: d/$f.lock: Permission denied"
	done
	run $AS_NOBODY env PIDLOCK_DIR="$T/d" lockrun -N named true
	expect_status 66
	expect_err_match "^lockrun: $T/d/named.lock: Permission denied$"
	run $AS_NOBODY lockstat --status d/stale.lock
	expect_status 1
	run_clean $AS_NOBODY lockclean -v d
	expect_status 1
	expect_out_match '^failed d/stale\.lock \(stale: Permission denied; was PID [0-9]+, sleep\)$'
	expect_err "lockclean: d/stale.lock: Permission denied"
	# lockrun -U drops to nobody only after taking the lock as root
	run lockrun -U nobody d/new.lock sh -c 'test -w d/new.lock || echo "not writable by $(id -u)"'
	expect_status 0
	expect_out "not writable by $NOBODY"
	[ "$(fp d/stale.lock)" = "$before" ] || fail "stale.lock changed"
	[ "$(ls -A d | tr '\n' ' ')" = "new.lock stale.lock " ] && [ ! -s d/new.lock ] ||
		fail "left: $(ls -A d)"
}

# --- descriptor exhaustion -----------------------------------------------------------

# With 4 or 5 descriptors (3 and the dynamic loader fails before main),
# each tool fails with its documented code and the system's message, or
# works; nothing is half-written, no temporary file is left.
t_ulimit_nofile() {
	mkdir d
	make_stale d/stale.lock || return
	echo 4242 >d/plain.pid
	hold d/live.lock || return
	local n before
	before=$(fp d/stale.lock)
	for n in 4 5; do
		run sh -c "ulimit -n $n; exec lockrun d/new.lock true"
		expect_status 71
		expect_err "lockrun: d/new.lock: Too many open files"
		run sh -c "ulimit -n $n; exec lockrun d/stale.lock true"
		expect_status 71
		expect_err "lockrun: d/stale.lock: Too many open files"
		[ "$(fp d/stale.lock)" = "$before" ] || fail "ulimit $n: stale.lock changed"
		expect_no_file d/new.lock
		no_temp d
	done
	run sh -c 'ulimit -n 4; exec lockstat -n -r -o PATH,STATE,REASON d'
	expect_status 0
	expect_out 'd/live.lock unknown Too\x20many\x20open\x20files
d/plain.pid unknown Too\x20many\x20open\x20files
d/stale.lock unknown Too\x20many\x20open\x20files'
	run sh -c 'ulimit -n 4; exec lockstat --status d/live.lock'
	expect_status 4
	run sh -c 'ulimit -n 4; exec lockstat --pid d/live.lock'
	expect_status 1
	expect_out ""
	# a file that could not be judged makes lockclean exit 1, dry run or not
	run sh -c 'ulimit -n 4; exec lockclean -v d'
	expect_status 1
	expect_err_match 'lockclean: d/stale.lock: Too many open files'
	run sh -c 'ulimit -n 4; exec lockclean -n -v d'
	[ "$status" = 1 ] ||
		fail "lockclean -n: exit $status for files it could not judge ($out), expected 1 as without -n"
	# from 4 descriptors up: documented failures or success, never damage
	for n in 4 5 6 7 8 9 10 12 16; do
		run sh -c "ulimit -n $n; exec lockrun d/stale.lock true"
		case $status in 0 | 71) ;; *) fail "ulimit $n: lockrun exit $status ($err)" ;; esac
		complete_or_absent d/stale.lock
		run sh -c "ulimit -n $n; exec lockrun d/x.lock true"
		case $status in 0 | 71) ;; *) fail "ulimit $n: lockrun exit $status ($err)" ;; esac
		expect_released d/x.lock
		run sh -c "ulimit -n $n; exec lockclean d"
		case $status in 0 | 1) ;; *) fail "ulimit $n: lockclean exit $status ($err)" ;; esac
		is_locked d/live.lock || fail "ulimit $n: the live lock was lost"
		no_temp d
	done
}

# --- NAME_MAX -------------------------------------------------------------------------

t_name_max() {
	local n255 n256 n250 n251
	n255=$(printf '%0255d' 0 | tr 0 a)
	n256=$(printf '%0256d' 0 | tr 0 a)
	n250=$(printf '%0250d' 0 | tr 0 b)
	n251=$(printf '%0251d' 0 | tr 0 b)
	mkdir d
	# 255 bytes: everything works, stale recovery included
	run lockrun "d/$n255" sh -c 'head -n1 "$1"' sh "d/$n255"
	expect_status 0
	expect_out_match '^[0-9]+$'
	expect_released "d/$n255"
	make_stale "d/$n255" || return
	run lockstat --status "d/$n255"
	expect_status 1
	run lockrun -n "d/$n255" true
	expect_status 0
	expect_released "d/$n255"
	make_stale "d/$n255" || return
	run_clean lockclean -v d
	expect_status 0
	expect_out_match "^removed d/$n255 \(stale: holder [0-9]+ is (dead|a zombie)"
	expect_no_file "d/$n255"
	# 256 bytes: refused with the system's message, nothing created
	run lockrun "d/$n256" true
	expect_status 66
	expect_err "lockrun: d/$n256: File name too long"
	run lockrun -n -w 1 "./$n256" true
	expect_status 66
	run lockstat -n -r -o STATE,REASON "d/$n256"
	expect_status 0
	expect_out 'unknown File\x20name\x20too\x20long'
	run lockstat --status "d/$n256"
	expect_status 4
	run lockclean -v "d/$n256"
	expect_status 1
	expect_err "lockclean: d/$n256: File name too long"
	# names: 250 bytes + ".lock" is NAME_MAX; 251 is a usage error
	PIDLOCK_DIR=$T/d run lockrun -N "$n250" true
	expect_status 0
	PIDLOCK_DIR=$T/d run lockrun -N "$n251" true
	expect_status 64
	expect_err "lockrun: $n251: invalid lock name"
	PIDLOCK_DIR=$T/d run lockstat --status "$n251"
	expect_status 64
	PIDLOCK_DIR=$T/d run lockclean "$n251"
	expect_status 64
	# (lock files are kept, emptied: pidlock(5))
	[ -z "$(find d -mindepth 1 ! -empty)" ] || fail "left: $(ls -A d | cut -c1-40)"
}

# --- PATH_MAX -----------------------------------------------------------------------

# deep DIR LEVELS: a chain of 200-byte directory names LEVELS deep (made
# step by step: mkdir -p of the whole path fails); prints the relative path.
DEEP=$(printf '%0200d' 0 | tr 0 d)
deep() {
	local p=$1
	(cd "$1" && for _ in $(seq "$2"); do mkdir "$DEEP" && cd "$DEEP" || exit 1; done) || return 1
	for _ in $(seq "$2"); do p=$p/$DEEP; done
	printf '%s' "$p"
}
# in_deep DIR LEVELS CMD...: runs CMD in the deep directory, reached one
# component at a time (chdir of the whole path fails too).
in_deep() {
	local d=$1 n=$2
	shift 2
	(cd "$d" && for _ in $(seq "$n"); do cd "$DEEP" || exit 99; done && "$@")
}
# tail_of TEXT: the end of a message about a very long path.
tail_of() { printf '%s' "${1: -100}"; }

t_path_max() {
	local p
	mkdir d
	p=$(deep d 22) || return # 4423 bytes: more than PATH_MAX
	run lockrun "$p/x.lock" true
	expect_status 66
	case $err in "lockrun: d/ddd"*"/x.lock: File name too long") ;;
	*) fail "lockrun: '...$(tail_of "$err")'" ;; esac
	# relative to a deep working directory, all is well
	out=$(in_deep d 22 sh -c 'lockrun x.lock sh -c "head -n1 x.lock" && lockstat --status x.lock; echo $?')
	expect_out_match '^[0-9]+
3$'
	# a path argument that is too long is not a usage error nor a "lock name"
	run lockstat -n "$p/x.lock"
	[ "$status" = 1 ] || fail "lockstat: exit $status, expected 1"
	case $err in *"File name too long") ;; *) fail "lockstat: '...$(tail_of "$err")'" ;; esac
	run lockstat --status "$p/x.lock"
	[ "$status" = 4 ] || fail "lockstat --status: exit $status, expected 4 (unknown): '...$(tail_of "$err")'"
	run lockclean "$p/x.lock"
	[ "$status" = 1 ] || fail "lockclean: exit $status, expected 1"
	case $err in *"File name too long") ;; *) fail "lockclean: '...$(tail_of "$err")'" ;; esac
}

# lockclean -r finds a stale lock deeper than any path buffer: it removes it
# relative to the directory descriptors, and reports the path it removed.
t_path_max_recursive() {
	local p
	mkdir d
	p=$(deep d 45) || return # 9068 bytes
	in_deep d 45 sh -c 'lockrun --remove -F x.lock sleep 1000 & p=$!
		i=0; until ino=$(stat -c %i x.lock 2>/dev/null) && grep -q ":$ino " /proc/locks; do
			i=$((i + 1)); [ $i -lt 1000 ] || break; sleep 0.01; done
		kill -9 $p; wait $p' 2>/dev/null
	in_deep d 45 test -s x.lock || { fail "no stale lock at depth 45"; return; }
	run lockclean -n -J -r d
	expect_status 0
	printf '%s' "$out" >r.json
	python3 - "$p/x.lock" <<'EOF' || fail "lockclean -r: wrong path in the report (see above)"
import json, sys
files = json.load(open("r.json"))["files"]
paths = [f["path"] for f in files]
ok = len(files) == 1 and paths[0] == sys.argv[1] and files[0]["action"] == "would-remove"
if not ok:
    print("ERROR: expected one would-remove of the %d-byte path; got %s" %
          (len(sys.argv[1]), [(len(p), "..." + p[-40:], f["action"]) for p, f in zip(paths, files)]))
sys.exit(0 if ok else 1)
EOF
	run lockclean -r d
	expect_status 0
	in_deep d 45 test ! -e x.lock || fail "the deep stale lock is still there"
}

# --- EINTR storms -------------------------------------------------------------------

# storm_start SIGNALS...: a process that, once a PID appears in
# $T/storm.target, sends each signal in turn to it every millisecond until
# stopped or the PID is gone, keeping its count in $T/storm.count.  STOP is
# followed by CONT at once (a job-control storm: the kernel restarts the
# wait).  It is started first, so that its start-up is not part of a
# measured wait.
storm_start() {
	rm -f "$T/storm.count" "$T/storm.target" "$T/storm.ready"
	python3 - "$T/storm" "$@" <<'EOF' &
import os, signal, sys, time
base = sys.argv[1]
sigs = [getattr(signal, "SIG" + s) for s in sys.argv[2:]]
n = 0
def save():
    with open(base + ".count.tmp", "w") as f:
        f.write("%d\n" % n)
    os.rename(base + ".count.tmp", base + ".count")
signal.signal(signal.SIGTERM, lambda *_: (save(), sys.exit(0)))
open(base + ".ready", "w").close()
while not os.path.exists(base + ".target"):
    time.sleep(0.001)
pid = int(open(base + ".target").read())
nxt = time.monotonic()
while True:
    for s in sigs:
        try:
            os.kill(pid, s)
            if s == signal.SIGSTOP:
                os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            save()
            sys.exit(0)
        n += 1
    if n % (20 * len(sigs)) == len(sigs):
        save()
    nxt += 0.001
    time.sleep(max(0, nxt - time.monotonic()))
EOF
	storm_pid=$!
	track $storm_pid
	wait_until test -e "$T/storm.ready"
}
# storm_at PID: the storm begins.
storm_at() { echo "$1" >"$T/storm.target.tmp" && mv "$T/storm.target.tmp" "$T/storm.target"; }
storm_stop() {
	kill -TERM "$storm_pid" 2>/dev/null
	wait "$storm_pid" 2>/dev/null
	storms=$(cat "$T/storm.count" 2>/dev/null || echo 0)
}

# (Under the storms a sanitized lockrun runs without LeakSanitizer: its
# exit-time leak check stops the process with ptrace, and a signal every
# millisecond keeps interrupting that for ever.)

# A waiter with -w under a storm of harmless signals (ignored by default:
# CHLD, WINCH, URG, CONT) and of STOP/CONT pairs: it times out on time
# with exit 1 and the timeout line, or takes the lock as soon as it is
# freed.
t_eintr_storm_wait() {
	local t0 t1 w rc ms
	hold F || return
	storm_start CHLD WINCH URG CONT STOP || return
	t0=$(date +%s%N)
	env "$NOLEAK" lockrun -w 1.5 F true 2>w.err &
	w=$!
	storm_at $w
	wait $w
	rc=$?
	t1=$(date +%s%N)
	storm_stop
	[ $rc = 1 ] || fail "waiter: exit $rc, expected 1 ($(cat w.err))"
	grep -Eq '^lockrun: F: timed out after 1.5s; held by PID [0-9]+' w.err ||
		fail "waiter's message: $(cat w.err)"
	ms=$(((t1 - t0) / 1000000))
	[ $ms -ge 1500 ] && [ $ms -lt 5000 ] || fail "a 1.5 s wait took $ms ms"
	[ "$storms" -ge 100 ] || fail "only $storms signals were sent"
	printf 'storm during a timed wait: %d signals, %d ms for -w 1.5\n' "$storms" $ms
	# released during the storm: the waiter runs the command at once
	storm_start CHLD WINCH URG CONT STOP || return
	env "$NOLEAK" lockrun -w 30 F sh -c 'echo ran >ran' 2>w2.err &
	w=$!
	storm_at $w
	wait_until grep -q -- "-> .*:$(stat -c %i F) " /proc/locks || return
	wait_until sh -c '[ "$(cat storm.count 2>/dev/null || echo 0)" -ge 200 ]' || return
	kill_tree $holder
	{ wait $holder; } 2>/dev/null
	t0=$(date +%s%N)
	wait_until test -s ran || return
	t1=$(date +%s%N)
	wait $w
	rc=$?
	storm_stop
	[ $rc = 0 ] || fail "waiter after release: exit $rc ($(cat w2.err))"
	printf 'storm during a wait, then release: %d signals, ran %d ms after the release\n' \
		"$storms" $(((t1 - t0) / 1000000))
}

# lockrun supervising under a storm: the command's exit status comes
# through, and SIGWINCH (forwarded) does not hurt it.  The command ends
# once 200 signals were sent.
t_eintr_storm_supervise() {
	local w rc
	storm_start CHLD WINCH URG CONT || return
	env "$NOLEAK" lockrun F sh -c 'trap "" WINCH
		until [ "$(cat storm.count 2>/dev/null || echo 0)" -ge 200 ]; do sleep 0.01; done
		exit 7' &
	w=$!
	storm_at $w
	wait $w
	rc=$?
	storm_stop
	[ $rc = 7 ] || fail "exit $rc under a storm, expected the command's 7"
	[ "$storms" -ge 200 ] || fail "only $storms signals"
	expect_released F
}

# --- /proc missing ------------------------------------------------------------------

# Without /proc (a chroot, a container that did not mount it) nobody can
# tell whether a lock is held: a live lock must never be judged stale.
t_proc_missing() {
	need_root || return 0
	[ -z "$SANITIZED" ] || { skip_test "the sanitizers' runtime needs /proc"; return 0; }
	hold live.lock || return
	run unshare -m sh -c '
		umount -l /proc || exit 90
		lockstat --status live.lock; echo "status $?"
		lockstat -n -o STATE live.lock 2>/dev/null
		lockclean -n live.lock 2>/dev/null | awk "NR > 1 { print \$1 }"
		lockclean -v live.lock 2>/dev/null | awk "\$1 == \"kept\" { print \$1, \$3 }"
		lockrun -n live.lock true 2>/dev/null; echo "lockrun $?"'
	expect_status 0
	local first
	first=$(printf '%s\n' "$out" | head -1)
	[ "$first" = "status 4" ] || [ "$first" = "status 0" ] ||
		fail "lockstat --status of a live lock without /proc: $first, expected 4 (unknown) or 0"
	printf '%s\n' "$out" | grep -qx 'stale' && fail "lockstat calls a live lock stale without /proc"
	printf '%s\n' "$out" | grep -qx 'would-remove' && fail "lockclean -n would remove a live lock without /proc"
	printf '%s\n' "$out" | grep -qx 'kept live' || fail "lockclean did not keep the live lock: $out"
	printf '%s\n' "$out" | grep -qx 'lockrun 1' || fail "lockrun did not see the lock busy: $out"
	is_locked live.lock || fail "the live lock is gone"
}

[ $# -gt 0 ] && run_tests "$@"
run_tests \
	t_full_tmpfs_blocks \
	t_full_tmpfs_inodes \
	t_readonly_bind_mount \
	t_directory_not_writable \
	t_ulimit_nofile \
	t_name_max \
	t_path_max \
	t_path_max_recursive \
	t_eintr_storm_wait \
	t_eintr_storm_supervise \
	t_proc_missing
