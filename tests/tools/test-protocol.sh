#!/bin/bash
# SPDX-License-Identifier: MIT
# The lock-file protocol where it meets other programs and other users
# (pidlock(5)): exclusion with util-linux flock(1) on the same path, root
# and files planted by untrusted users in sticky directories, what a
# command run with lockrun -U can do to root's record, and what the
# holder's descriptor is named in /proc and lslocks(8).
. "$(dirname "$0")/lib.sh"

UL=/usr/bin/flock
NOBODY=65534

# A command that records its PID (NAME.pid) and holds on until NAME.go
# exists (as in test-lockrun.sh).
HOLD='echo $$ >>.pids; echo $$ >"$1.tmp"; mv "$1.tmp" "$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.01; done'
started() { wait_until test -s "$T/$1.pid" || return 1; cpid=$(cat "$T/$1.pid"); }
spawn() {
	"$@" >>"$T/.bg.out" 2>>"$T/.bg.err" &
	pid=$!
	track "$pid"
}

# The critical section of the mixed loop: a directory that only one
# process at a time may own; a second owner is a violation.
CS='mkdir "$1.inside" 2>/dev/null || echo VIOLATION >>"$1.violations"
sleep 0.005
rmdir "$1.inside"'

# mixed_worker N PATH: two critical sections on PATH, through lockrun,
# util-linux flock(1) or lockrun invoked as "flock", by worker number.
mixed_worker() {
	local n=$1 f=$2 i
	for i in 1 2; do
		case $(((i + n) % 4)) in
		0|2) lockrun -q "$f" sh -c "$CS" sh "$f" ;;
		1) "$UL" "$f" sh -c "$CS" sh "$f" ;;
		3) flock "$f" sh -c "$CS" sh "$f" ;;
		esac
	done
}

# Four workers, half lockrun, half flock(1), meet on a path
# that does not exist at the start (a new path each round, since the race
# is at creation and at the release of a file lockrun created): neither
# unlinks nor replaces the file they share, so no two are ever inside.
t_mixed_with_flock1() {
	[ -x "$UL" ] || { skip_test "util-linux flock(1) missing"; return; }
	local rounds=${PROTOCOL_ROUNDS:-25} k n pids v
	for k in $(seq "$rounds"); do
		pids=
		for n in 1 2 3 4; do
			mixed_worker "$n" "$T/F$k" &
			pids="$pids $!"
		done
		track $pids
		wait $pids
	done
	v=$(cat "$T"/F*.violations 2>/dev/null | wc -l)
	[ "$v" = 0 ] || fail "$v violations in $((8 * rounds)) sections"
	for k in $(seq "$rounds"); do
		[ -f "F$k" ] && [ ! -s "F$k" ] || { fail "F$k not kept empty: $(cat "F$k" 2>&1)"; break; }
	done
}

# --- files planted by an untrusted user -------------------------------------

AS_NOBODY="setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups"

# sticky_dir: $T/s, 1777 like /run/lock, the lock directory of -N names.
sticky_dir() {
	mkdir s && chmod 1777 s
	export PIDLOCK_DIR=$T/s
	# nobody must reach it: the suite's directory may be 0700
	chmod o+x "$T" "$SUITE_DIR" 2>/dev/null
}

# nobody plants s/NAME.lock: a valid record, keep=1, uid=65534, dead PID
# (its lockrun and command are killed while holding it).
plant_dead_record() {
	$AS_NOBODY lockrun -N "$1" sh -c 'kill -9 $PPID; kill -9 $$' 2>/dev/null
	[ -s "s/$1.lock" ] && grep -qx 'keep=1' "s/$1.lock" &&
		grep -qx "uid=$NOBODY" "s/$1.lock" ||
		{ fail "could not plant a record: $(cat "s/$1.lock" 2>&1)"; return 1; }
	[ "$(stat -c %u "s/$1.lock")" = $NOBODY ] || { fail "not nobody's file"; return 1; }
}

# Root never holds its lock in a file that nobody owns (and could unlink
# under it): it replaces the planted file with its own, then a second root
# job is busy, nobody cannot remove root's file, and a third is busy too.
t_root_replaces_planted_file() {
	need_root || return 0
	sticky_dir
	plant_dead_record rtjob || return
	spawn lockrun -n -N rtjob sh -c "$HOLD" sh a
	started a || return
	[ "$(stat -c %u s/rtjob.lock)" = 0 ] || fail "root took nobody's file in place"
	[ "$(head -n1 s/rtjob.lock)" = "$cpid" ] || fail "line 1 is not A's command"
	run lockrun -n -N rtjob true
	expect_status 1
	expect_err_match "held by PID $cpid"
	run $AS_NOBODY rm -f s/rtjob.lock
	[ -e s/rtjob.lock ] || fail "nobody removed root's lock file"
	run lockrun -n -N rtjob true
	expect_status 1
	run lockrun -n -k -N rtjob true
	expect_status 1
	touch a.go
	wait_until eval '! is_locked s/rtjob.lock' || return
	# An empty file planted by nobody: replaced the same way.
	rm -f s/rtjob.lock
	$AS_NOBODY sh -c ': >s/rtjob.lock'
	run lockrun -n -N rtjob sh -c 'stat -c %u "$PIDLOCK_DIR/rtjob.lock"'
	expect_status 0
	expect_out 0
}

# A planted file that nobody holds locked is busy to root (never taken,
# never replaced while nobody's process holds it).
t_root_busy_on_planted_locked_file() {
	need_root || return 0
	sticky_dir
	$AS_NOBODY sh -c ': >s/held.lock'
	$AS_NOBODY "$UL" "$T/s/held.lock" sh -c "$HOLD" sh s/n 2>/dev/null &
	track $!
	started s/n || return
	run lockrun -n -N held true
	expect_status 1
	[ "$(stat -c %u s/held.lock)" = $NOBODY ] || fail "replaced while nobody held it"
	touch s/n.go
}

# --- lockrun -U: what the command inherits ----------------------------------

# The command, as nobody, finds every descriptor it has to the lock file
# and tries every write it can through each: write, pwrite, ftruncate,
# fchmod, fchown, and reopening /proc/self/fd/N for writing.  It prints
# what succeeded, and the access mode of each descriptor.
TRY_WRITES='import os, sys
ino = os.stat(sys.argv[1]).st_ino
done = []
for n in os.listdir("/proc/self/fd"):
    fd = int(n)
    try:
        if os.fstat(fd).st_ino != ino:
            continue
    except OSError:
        continue
    flags = int(open("/proc/self/fdinfo/%d" % fd).read().split("flags:")[1].split()[0], 8)
    print("fd", fd, "accmode", flags & 3)
    tries = [("write", lambda: os.write(fd, b"1\n")),
             ("pwrite", lambda: os.pwrite(fd, b"1\n", 0)),
             ("ftruncate", lambda: os.ftruncate(fd, 0)),
             ("fchmod", lambda: os.fchmod(fd, 0o666)),
             ("fchown", lambda: os.fchown(fd, 65534, 65534)),
             ("reopen-w", lambda: os.open("/proc/self/fd/%d" % fd, os.O_WRONLY)),
             ("reopen-rw", lambda: os.open("/proc/self/fd/%d" % fd, os.O_RDWR))]
    for name, f in tries:
        try:
            f()
            done.append(name)
        except OSError:
            pass
print("succeeded:", " ".join(done))
print("line1:", open(sys.argv[1]).readline().strip(), "me:", os.getpid())'

t_user_cannot_change_record() {
	need_root || return 0
	chmod o+x "$T" "$SUITE_DIR" 2>/dev/null
	run lockrun -U nobody "$T/F" python3 -c "$TRY_WRITES" "$T/F"
	expect_status 0
	printf '%s\n' "$out" | grep -q '^fd ' || fail "the command inherited no descriptor of F: $out"
	printf '%s\n' "$out" | grep '^fd ' | grep -qv 'accmode 0$' &&
		fail "the command inherited a writable descriptor: $out"
	expect_out_match 'succeeded: $'
	printf '%s\n' "$out" | grep -Eq '^line1: ([0-9]+) me: \1$' ||
		fail "line 1 is not the command's PID: $out"
}

# The record names the uid the command runs as, every time.
t_user_record_uid() {
	need_root || return 0
	chmod o+x "$T" "$SUITE_DIR" 2>/dev/null
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		run lockrun -U nobody "$T/F" sh -c 'grep "^uid=" "$0"' "$T/F"
		expect_status 0
		expect_out "uid=$NOBODY" || return
	done
}

# --- the holder's descriptor names the real path ----------------------------

# A lock file lockrun creates is published by renaming a named temporary
# file, so /proc/PID/fd (and lslocks, which reads it) of the holder and of
# the command name the real path, not "/dir/#12345 (deleted)".
t_fd_names_real_path() {
	run lockrun "$T/F" sh -c 'for p in $PPID $$; do
		for f in /proc/$p/fd/*; do readlink "$f"; done; done' sh
	expect_status 0
	printf '%s\n' "$out" | grep -q '(deleted)' && fail "a descriptor of a deleted name: $out"
	[ "$(printf '%s\n' "$out" | grep -cx "$T/F")" -ge 2 ] ||
		fail "lockrun and its command do not both name $T/F: $out"
	if command -v lslocks >/dev/null; then
		run lockrun "$T/G" sh -c 'lslocks -n -o PATH -p $PPID' sh
		expect_out "$T/G"
	fi
}

run_tests \
	t_mixed_with_flock1 \
	t_root_replaces_planted_file t_root_busy_on_planted_locked_file \
	t_user_cannot_change_record t_user_record_uid t_fd_names_real_path
