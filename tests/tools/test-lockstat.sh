#!/bin/bash
# SPDX-License-Identifier: MIT
# lockstat(1), what it judges: every state with real processes, the
# bad-input set, plain pidfiles of start-stop-daemon and libbsd, and the
# LSB codes of --status and --pid.  (Its output: test-lockstat-output.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockstat.sh"

# --- states -----------------------------------------------------------------

t_live() {
	setup
	hold "$L/job.lock" -m "nightly backup" || return 1
	expect_state "$L/job.lock" live "held by PID $cmd"
	expect_col "$L/job.lock" FILEPID "$cmd"
	expect_col "$L/job.lock" HOLDERS "$lr"
	expect_col "$L/job.lock" FILECOMMAND sh
	expect_col "$L/job.lock" HOST "$(uname -n)"
	expect_col "$L/job.lock" MESSAGE "nightly backup"
	expect_col "$L/job.lock" FORMAT pidlock
	expect_col "$L/job.lock" MODE WRITE
	expect_col "$L/job.lock" HOLDER "$lr"
	# As lslocks names them: the process holding the lock (lockrun, which
	# supervises the command), its command, the kind of lock.
	expect_col "$L/job.lock" PID "$lr"
	expect_col "$L/job.lock" COMMAND "$LOCKRUN_COMM"
	expect_col "$L/job.lock" TYPE FLOCK
	expect_lsb "$L/job.lock" 0
	expect_pid "$L/job.lock" "$cmd"
}

# The command forks a child that keeps the lock after everyone else exits.
t_live_inherited() {
	setup
	run lockrun -N x sh -c 'sleep 30 </dev/null >/dev/null 2>&1 & echo $! >"$1"; exit 0' sh "$T/child"
	expect_status 0
	child=$(cat "$T/child")
	remember "$child"
	wait_until is_locked "$L/x.lock" || return 1
	dead=$(head -n1 "$L/x.lock")
	[ "$dead" != "$child" ] || fail "the record names the child itself"
	expect_state "$L/x.lock" live-inherited "PID $dead is gone"
	expect_col "$L/x.lock" FILEPID "$dead"
	expect_col "$L/x.lock" HOLDERS "$child"
	expect_lsb "$L/x.lock" 0
	expect_pid "$L/x.lock" "$child"
	expect_pid x "$child"
}

t_stale() {
	setup
	hold "$L/s.lock" || return 1
	kill -9 "$lr" "$cmd"
	wait_until gone "$lr" && wait_until gone "$cmd" || return 1
	expect_state "$L/s.lock" stale "holder $cmd is (dead|a zombie)"
	expect_col "$L/s.lock" FILEPID "$cmd"
	expect_col "$L/s.lock" HOLDERS ""
	# With no message in the record, the MESSAGE column says why.
	run lockstat -n -o MESSAGE "$L/s.lock"
	expect_out_match "^\(holder $cmd is (dead|a zombie)\)\$"
	expect_lsb "$L/s.lock" 1
	expect_no_pid "$L/s.lock"
}

t_stale_previous_boot() {
	setup
	need_python || return 0
	record 4242 "$OTHER_BOOT" "$(uname -n)" >"$L/old.lock"
	expect_state "$L/old.lock" stale "before the last boot"
	expect_lsb "$L/old.lock" 1
	expect_no_pid "$L/old.lock"
}

# A PID reused by another process: forced inside a fresh PID namespace by
# setting ns_last_pid so that the next fork gets the dead holder's PID.
t_reused() {
	setup
	need_root || return 0
	cat >"$T/ns.sh" <<'EOF'
F=$1 O=$2
lockrun "$F" sleep 30 >/dev/null 2>&1 &
lr=$! i=0
until [ -s "$F" ] && p=$(head -n1 "$F") && [ "$p" != "$lr" ] &&
	tail -n1 "$F" | grep -q '^sum='; do
	i=$((i + 1)); [ $i -lt 1000 ] || { echo "no record" >"$O/ns.err"; exit 1; }
	sleep 0.01
done
kill -9 "$lr" "$p"
wait
i=0
while [ -e "/proc/$p" ]; do
	i=$((i + 1)); [ $i -lt 1000 ] || { echo "$p lingers" >"$O/ns.err"; exit 1; }
	sleep 0.01
done
echo $((p - 1)) >/proc/sys/kernel/ns_last_pid
sleep 30 >/dev/null 2>&1 &
echo "$p $!" >"$O/ns.pids"
lockstat -n -o STATE,REASON "$F" >"$O/ns.state" 2>&1
lockstat --status "$F"; echo $? >"$O/ns.status"
lockstat --pid "$F" >"$O/ns.pid.out" 2>/dev/null; echo $? >"$O/ns.pid.rc"
kill $!
EOF
	run unshare --pid --fork --kill-child --mount-proc bash "$T/ns.sh" "$L/r.lock" "$T"
	expect_status 0
	[ ! -s "$T/ns.err" ] || { fail "$(cat "$T/ns.err")"; return 1; }
	[ -s "$T/ns.pids" ] || { fail "the namespace script did not run: $err"; return 1; }
	read -r old new <"$T/ns.pids"
	[ "$old" = "$new" ] || { fail "PID $old not reused (got $new)"; return 1; }
	grep -Eq "^reused PID $old now belongs to another process" "$T/ns.state" ||
		fail "inside the namespace: '$(cat "$T/ns.state")', expected reused"
	[ "$(cat "$T/ns.status")" = 1 ] || fail "--status: $(cat "$T/ns.status"), expected 1"
	[ "$(cat "$T/ns.pid.rc")" = 1 ] && [ ! -s "$T/ns.pid.out" ] ||
		fail "--pid printed '$(cat "$T/ns.pid.out")', exit $(cat "$T/ns.pid.rc")"
	# Seen from outside, the holder's namespace cannot be checked.
	expect_state "$L/r.lock" stale "another PID namespace"
}

# A plain pidfile naming a process that started before it was written.
t_foreign() {
	setup
	spawn "$T/sp" sleep 30
	sp=$(cat "$T/sp")
	echo "$sp" >"$L/daemon.pid"
	expect_state "$L/daemon.pid" foreign "process $sp is alive"
	expect_col "$L/daemon.pid" FORMAT plain
	expect_col "$L/daemon.pid" FILEPID "$sp"
	expect_col "$L/daemon.pid" HOLDERS ""
	expect_lsb "$L/daemon.pid" 0
	expect_pid "$L/daemon.pid" "$sp"
	# Anything may follow line 1 (PostgreSQL's postmaster.pid).
	printf '%s\n/var/lib/pg\n1700000000\n' "$sp" >"$L/postmaster.pid"
	expect_state "$L/postmaster.pid" foreign
}

# A plain pidfile written before its PID's current process started.
# A live process's plain pidfile whose time says nothing true (a clock
# stepped after boot, a restored VM snapshot, touch -d): the process is
# alive, so the file is not stale -- only proof of death is.  The doubt is reported, and --pid does not vouch for the PID.
t_plain_time_is_no_proof() {
	setup
	local now btime
	now=$(date +%s)
	btime=$(awk '/^btime/ {print $2}' /proc/stat)
	spawn "$T/sp" sleep 30
	sp=$(cat "$T/sp")
	echo "$sp" >"$L/daemon.pid"
	touch -d "@$((btime - 1000))" "$L/daemon.pid"
	expect_state "$L/daemon.pid" foreign "alive \(the file predates the boot\)"
	expect_lsb "$L/daemon.pid" 0
	expect_no_pid "$L/daemon.pid"
	run lockrun -n "$L/daemon.pid" true
	expect_status 1
	expect_err_match "names PID $sp \(sleep\)"
	expect_file "$L/daemon.pid"
	[ "$(cat "$L/daemon.pid")" = "$sp" ] || fail "the pidfile was rewritten"
	if [ $((now - btime)) -gt 120 ]; then
		touch -d "@$((now - 60))" "$L/daemon.pid"
		expect_state "$L/daemon.pid" foreign "started after the file was written"
		expect_lsb "$L/daemon.pid" 0
	fi
	kill "$sp"
	wait_until gone "$sp"
	expect_state "$L/daemon.pid" stale "(no process $sp|process $sp is a zombie)"
}

t_free() {
	setup
	: >"$L/empty.lock"
	expect_state "$L/empty.lock" free "empty"
	expect_col "$L/empty.lock" FORMAT flock
	expect_lsb "$L/empty.lock" 3
	expect_no_pid "$L/empty.lock"
	echo hello >"$L/text.lock"
	expect_state "$L/text.lock" free "no PID"
	expect_lsb "$L/text.lock" 3
	# A flock(1) lock file is live while flock holds it; --pid names flock.
	spawn "$T/fl" "$FLOCK" -F "$L/empty.lock" sleep 30
	wait_until is_locked "$L/empty.lock" || return 1
	fl=$(cat "$T/fl")
	expect_state "$L/empty.lock" live "locked"
	expect_col "$L/empty.lock" HOLDERS "$fl"
	expect_lsb "$L/empty.lock" 0
	expect_pid "$L/empty.lock" "$fl"
}

t_missing() {
	setup
	expect_lsb "$L/nothere.lock" 3
	expect_no_pid "$L/nothere.lock"
	expect_lsb nothere 3
}

t_remote() {
	setup
	need_python || return 0
	[ "$(printf '' | fnv1a) $(printf a | fnv1a)" = "811c9dc5 e40c292c" ] ||
		{ fail "the test's FNV-1a is wrong"; return 1; }
	record 4242 "$OTHER_BOOT" far.example "msg=on the other side" >"$L/r.lock"
	expect_state "$L/r.lock" remote "far.example"
	expect_col "$L/r.lock" HOST far.example
	expect_col "$L/r.lock" FILEPID 4242
	expect_col "$L/r.lock" FILECOMMAND remoted
	expect_col "$L/r.lock" MESSAGE "on the other side"
	expect_lsb "$L/r.lock" 4
	expect_no_pid "$L/r.lock"
}

t_corrupt() {
	setup
	need_python || return 0
	printf '\001\002\377junk\000\n' >"$L/junk.pid"
	echo 42abc >"$L/abc.pid"
	record 4242 "$OTHER_BOOT" far.example | sed 's/^sum=.*/sum=00000000/' >"$L/badsum.lock"
	record 4242 "$OTHER_BOOT" far.example | sed '/^sum=/d' >"$L/nosum.lock"
	echo 0 >"$L/zero.pid"
	echo -1 >"$L/minus1.pid"
	echo 99999999999 >"$L/huge.pid"
	expect_state "$L/junk.pid" corrupt "binary"
	expect_state "$L/abc.pid" corrupt "not a valid PID"
	expect_state "$L/badsum.lock" corrupt "checksum"
	expect_state "$L/nosum.lock" corrupt "sum"
	expect_state "$L/zero.pid" corrupt "not a valid PID"
	expect_state "$L/minus1.pid" corrupt "not a valid PID"
	expect_state "$L/huge.pid" corrupt "not a valid PID"
	for f in junk.pid abc.pid badsum.lock nosum.lock zero.pid minus1.pid huge.pid; do
		expect_lsb "$L/$f" 4
		expect_no_pid "$L/$f"
		expect_col "$L/$f" FILEPID ""
	done
	# The reason is shown where a message would be.
	expect_col "$L/badsum.lock" MESSAGE "(checksum mismatch)"
}

# PID 1 is alive and older than any file, so the start-time rule cannot
# prove anything; a pidfile saying "1" is bad input, and
# kill "$(lockstat --pid F)" must never signal init.
t_pid_one() {
	setup
	echo 1 >"$L/one.pid"
	run lockstat -n -o STATE,REASON "$L/one.pid"
	expect_status 0
	judged=$out
	run lockstat --pid "$L/one.pid"
	[ "$status" = 1 ] && [ -z "$out" ] ||
		fail "--pid printed '$out' (exit $status) for a pidfile saying 1, judged '$judged'"
}

# A plain pidfile saying 1, locked by flock(1) in another process: the
# kernel names the holder, and --pid and "held by" name it, never init.
t_pid_one_flocked() {
	setup
	echo 1 >"$L/one.pid"
	spawn "$T/fl" "$FLOCK" "$L/one.pid" sleep 30
	wait_until is_locked "$L/one.pid" || return 1
	fl=$(cat "$T/fl")
	expect_state "$L/one.pid" live "locked by PID $fl; the file names PID 1, which does not hold it"
	expect_pid "$L/one.pid" "$fl"
	run lockrun -n "$L/one.pid" true
	expect_status 1
	expect_err_match "held by PID $fl "
	kill_tree "$fl"
}

# OFD locks (--fcntl) show as PID -1 in /proc/locks; the holders are
# named from fdinfo, as lslocks(8) does.
ofd_locked() { [ -e "$1" ] && grep -q "OFDLCK.*:$(stat -c %i "$1") " /proc/locks; }
t_ofd_holders() {
	setup
	spawn "$T/lr" lockrun --fcntl "$L/ofd.lock" sleep 30
	wait_until ofd_locked "$L/ofd.lock" || return 1
	lr=$(cat "$T/lr")
	run lockstat -n -o HOLDERS "$L/ofd.lock"
	expect_status 0
	case ",${out// /}," in *",$lr,"*) ;; *) fail "HOLDERS '$out', expected $lr among them" ;; esac
	case ",${out// /}," in *",0,"*) fail "HOLDERS '$out' has PID 0" ;; esac
	run lockrun -n --fcntl "$L/ofd.lock" true
	expect_status 1
	expect_err_match "held by PID [1-9]"
	case $err in *"PID 0"*) fail "names PID 0: $err" ;; esac
	kill_tree "$lr"
}

# resolve_as UID ENV...: the path lockstat gives the name "job" as user
# UID (root: 0) in the environment ENV (env(1) arguments), PIDLOCK_DIR unset.
resolve_as() {
	local u=$1
	shift
	if [ "$u" = 0 ]; then
		env -u PIDLOCK_DIR "$@" "$T/bin/lockstat" -n -o PATH job
	else
		env -u PIDLOCK_DIR "$@" setpriv --reuid="$u" --regid="$u" --clear-groups \
			"$T/bin/lockstat" -n -o PATH job
	fi | sed 's/ *$//'
}

# One name is one lock for one user, whatever the environment: a login
# session (XDG_RUNTIME_DIR), cron (no XDG_RUNTIME_DIR, another HOME),
# sudo -u, ssh; root keeps /run/lock; another user's directory in its
# place is refused.
t_name_dir_per_user() {
	need_root || return 0
	local u=$((40000 + $$ % 20000)) d got env
	d=/tmp/pidlock-$u
	[ ! -e "$d" ] || { skip_test "$d exists already"; return 0; }
	# copies a user can run, whatever the checkout's permissions
	mkdir -m 755 "$T/bin"
	cp "$BIN/lockstat" "$BIN/lockrun" "$T/bin/"
	mkdir -m 700 "$T/xdg"
	for env in "XDG_RUNTIME_DIR=$T/xdg HOME=/root" "-u XDG_RUNTIME_DIR -u HOME" "TMPDIR=$T HOME=/"; do
		# shellcheck disable=SC2086
		got=$(resolve_as 0 $env)
		[ ! -d /run/lock ] || [ "$got" = /run/lock/job.lock ] ||
			fail "root with $env: '$got', expected /run/lock/job.lock"
		chown "$u" "$T/xdg"
		# shellcheck disable=SC2086
		got=$(resolve_as "$u" $env)
		[ "$got" = "$d/job.lock" ] || fail "uid $u with $env: '$got', expected $d/job.lock"
	done
	[ "$(stat -c '%u %a %F' "$d")" = "$u 700 directory" ] ||
		fail "$d: $(stat -c '%u %a %F' "$d"), expected $u 700 directory"
	run env -u PIDLOCK_DIR setpriv --reuid="$u" --regid="$u" --clear-groups \
		"$T/bin/lockrun" -n -N job true
	expect_status 0
	rm -rf "$d"
	# squatted: nobody made it first; user u refuses it, with the reason
	$NOBODY mkdir -m 755 "$d"
	run env -u PIDLOCK_DIR setpriv --reuid="$u" --regid="$u" --clear-groups \
		"$T/bin/lockrun" -n -N job true
	[ "$status" != 0 ] || fail "lockrun ran in $d, made by nobody"
	expect_err_match "job: lock directory $d: owned by an untrusted user"
	[ ! -e "$d/job.lock" ] || fail "a lock file was made in nobody's $d"
	rm -rf "$d"
}

# init_start: the start time of PID 1, in ticks after boot (stat field 22).
init_start() { sed 's/.*) //' /proc/1/stat | cut -d' ' -f20; }

# local_record PID START UID: a record of this boot, host and PID namespace.
local_record() {
	local body
	body=$(printf '%s\npidlock 1\nboot=%s\nstart=%s\npidns=%s\nuid=%s\nhost=%s\ntime=%s\ncomm=forged\nholder=%s\n' \
		"$1" "$(cat /proc/sys/kernel/random/boot_id)" "$2" \
		"$(stat -L -c %i /proc/self/ns/pid)" "$3" "$(uname -n)" "$(date +%s)" "$1")
	printf '%s\nsum=%s\n' "$body" "$(printf '%s\n' "$body" | fnv1a)"
}

# nobody forges a record naming init (with init's start time and its own
# uid, so its file is "trusted" in a sticky directory) and holds the lock:
# root's lockstat --pid, "held by" and the state name nobody's holder and
# say the record lies.
t_pid_forged_record() {
	setup
	need_root || return 0
	need_python || return 0
	local S
	S=$(mktemp -d /tmp/pidlock-forge.XXXXXX)
	chmod 1777 "$S"
	local_record 1 "$(init_start)" 65534 >"$T/forged"
	chmod 644 "$T/forged"
	$NOBODY sh -c 'cat >"$1"' sh "$S/rtjob.lock" <"$T/forged"
	spawn "$T/fl" $NOBODY "$FLOCK" "$S/rtjob.lock" sleep 30
	wait_until is_locked "$S/rtjob.lock" || { rm -rf "$S"; return 1; }
	fl=$(cat "$T/fl")
	expect_state "$S/rtjob.lock" live "locked by PID $fl; the file names PID 1, which (does not hold it|runs as another uid)"
	expect_pid "$S/rtjob.lock" "$fl"
	run lockrun -n "$S/rtjob.lock" true
	expect_status 1
	expect_err_match "held by PID $fl \\(uid 65534\\)"
	case $err in *"held by PID 1 "*) fail "names init: $err" ;; esac
	kill_tree "$fl"
	rm -rf "$S"
}

t_unsafe() {
	setup
	printf '4242\nSECRET-CONTENT\n' >"$T/secret"
	ln -s /etc/shadow "$L/shadow.pid"
	ln -s "$T/secret" "$L/secret.pid"
	mkfifo "$L/fifo.pid"
	echo 4242 >"$L/hard1.pid"
	ln "$L/hard1.pid" "$L/hard2.pid"
	echo 4242 >"$L/open.pid"
	chmod 666 "$L/open.pid"
	expect_state "$L/shadow.pid" unsafe "symbolic link"
	expect_state "$L/secret.pid" unsafe "symbolic link"
	expect_state "$L/fifo.pid" unsafe "FIFO"
	expect_state "$L/hard1.pid" unsafe "2 hard links"
	expect_state "$L/hard2.pid" unsafe "2 hard links"
	expect_state "$L/open.pid" unsafe "world-writable"
	if [ -n "$PY" ]; then
		"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$L/sock.pid"
		expect_state "$L/sock.pid" unsafe "socket"
	fi
	for f in shadow.pid secret.pid fifo.pid hard1.pid open.pid; do
		expect_lsb "$L/$f" 4
		expect_no_pid "$L/$f"
	done
	# Never followed: nothing of the targets shows, in any output form.
	for args in "" "--output-all" "-J --output-all" "-r --output-all"; do
		# shellcheck disable=SC2086
		run lockstat $args "$L"
		expect_status 0
		case "$out$err" in
		*SECRET* | *root:*) fail "lockstat $args shows the content of a target: $out" ;;
		esac
	done
	# No PID of an unsafe file is believed.
	[ -z "$PY" ] && return 0
	run lockstat -J -o PATH,STATE,FILEPID,PID "$L"
	printf '%s' "$out" | "$PY" -c '
import json, sys
for o in json.load(sys.stdin)["locks"]:
    assert o["state"] == "unsafe" and o["filepid"] is None and o["pid"] is None, o
' || fail "unsafe files with a PID: $out"
}

# Files this user cannot read are "unknown", with the reason.
t_unknown() {
	setup
	need_root || return 0
	echo 4242 >"$L/secret.pid"
	chmod 600 "$L/secret.pid"
	run $NOBODY lockstat -n -o STATE,REASON "$L/secret.pid"
	expect_status 0
	expect_out "unknown Permission denied"
	run $NOBODY lockstat --status "$L/secret.pid"
	expect_status 4
	run $NOBODY lockstat --pid "$L/secret.pid"
	expect_status 1
	expect_out ""
	run $NOBODY lockstat -n -r -o STATE "$L"
	expect_out "unknown"
	# A directory it cannot list: exit 1, with the reason.
	mkdir -m 700 "$T/private"
	run $NOBODY lockstat "$T/private"
	expect_status 1
	expect_err_match "Permission denied"
}

# A lock taken in another PID namespace: live while held, and --pid names a
# process of this namespace, not the PID the record has in its own.
t_other_pidns() {
	setup
	need_root || return 0
	rm -f "$T/ready"
	spawn "$T/un" unshare --pid --fork --kill-child --mount-proc \
		lockrun "$L/ns.lock" sh -c 'echo $$ >"$1"; exec sleep 30' sh "$T/ready"
	wait_until record_ready "$L/ns.lock" "$T/ready" || return 1
	ns=$(sed -n 's/^pidns=//p' "$L/ns.lock")
	[ "$ns" != "$(stat -L -c %i /proc/self/ns/pid)" ] || { fail "same namespace"; return 1; }
	expect_state "$L/ns.lock" live
	expect_lsb "$L/ns.lock" 0
	run lockstat -n -o HOLDERS "$L/ns.lock"
	h=$(printf '%s' "$out" | tr -d ' ')
	[ -n "$h" ] && [ "$(stat -L -c %i "/proc/$h/ns/pid" 2>/dev/null)" = "$ns" ] ||
		fail "HOLDERS '$h' is not the holder in the other namespace"
	run lockstat --pid "$L/ns.lock"
	expect_status 0
	[ -n "$out" ] && [ "$(stat -L -c %i "/proc/$out/ns/pid" 2>/dev/null)" = "$ns" ] ||
		fail "--pid printed '$out' ($(cat "/proc/$out/comm" 2>/dev/null)), the record's PID in the other namespace, not a holder of the lock (kernel holder: $h)"
}

# --- bad input that must not hang or be read --------------------------------

t_sparse_1g() {
	setup
	truncate -s 1G "$L/big.pid"
	t0=$(date +%s%N)
	run lockstat -n -o STATE,REASON "$L/big.pid"
	t1=$(date +%s%N)
	expect_status 0
	case $out in
	"corrupt "?* | "free "?*) ;;
	*) fail "1 GiB file: '$out', expected corrupt or free with a reason" ;;
	esac
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "took $(((t1 - t0) / 1000000)) ms"
	expect_lsb "$L/big.pid" 4
	expect_no_pid "$L/big.pid"
	# Read at most a record's worth: the kernel counts the bytes read.
	if [ -r /proc/self/io ]; then
		run sh -c 'lockstat "$1" >/dev/null; exec cat /proc/self/io' sh "$L/big.pid"
		rchar=$(printf '%s\n' "$out" | awk '/^rchar:/ {print $2}')
		[ -n "$rchar" ] && [ "$rchar" -lt 16777216 ] ||
			fail "lockstat read $rchar bytes for a 1 GiB file"
	fi
}

# --- plain pidfiles of other programs ---------------------------------------

t_start_stop_daemon() {
	setup
	command -v start-stop-daemon >/dev/null || { skip_test "start-stop-daemon missing"; return 0; }
	run start-stop-daemon --start --background --make-pidfile \
		--pidfile "$L/ssd.pid" --exec /bin/sleep -- 30
	expect_status 0
	wait_until grep -Eqx '[0-9]+' "$L/ssd.pid" || return 1
	pid=$(cat "$L/ssd.pid")
	remember "$pid"
	expect_state "$L/ssd.pid" foreign "process $pid is alive"
	expect_col "$L/ssd.pid" FORMAT plain
	expect_lsb "$L/ssd.pid" 0
	expect_pid "$L/ssd.pid" "$pid"
}

t_libbsd_pidfile() {
	setup
	command -v cc >/dev/null || { skip_test "no C compiler"; return 0; }
	cat >"$T/pf.c" <<'EOF'
#include <bsd/libutil.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct pidfh *pf;
	pid_t other;
	char c;

	if (argc != 2 || !(pf = pidfile_open(argv[1], 0644, &other)) ||
	    pidfile_write(pf) < 0) {
		perror("pidfile");
		return 1;
	}
	while (read(0, &c, 1) > 0)
		;
	pidfile_remove(pf);
	return 0;
}
EOF
	cc -x c - -lbsd -o "$T/pf" <"$T/pf.c" 2>"$T/cc.err" ||
		{ skip_test "libbsd missing: $(head -n1 "$T/cc.err")"; return 0; }
	mkfifo "$T/in"
	spawn "$T/pf.pid" sh -c 'exec "$1" "$2" <"$3"' sh "$T/pf" "$L/bsd.pid" "$T/in"
	exec 7>"$T/in"
	pid=$(cat "$T/pf.pid")
	wait_until [ "$(cat "$L/bsd.pid" 2>/dev/null)" = "$pid" ] || return 1
	wait_until is_locked "$L/bsd.pid" || return 1
	expect_state "$L/bsd.pid" live
	expect_col "$L/bsd.pid" FORMAT plain
	expect_col "$L/bsd.pid" FILEPID "$pid"
	expect_col "$L/bsd.pid" HOLDERS "$pid"
	expect_lsb "$L/bsd.pid" 0
	expect_pid "$L/bsd.pid" "$pid"
	exec 7>&-
	wait_until [ ! -e "$L/bsd.pid" ]
}

# --- LSB codes in one place -------------------------------------------------

t_status_codes() {
	setup
	hold "$L/live.lock" || return 1
	spawn "$T/sp" sleep 30
	cat "$T/sp" >"$L/foreign.pid"
	: >"$L/free.lock"
	echo 42abc >"$L/corrupt.pid"
	mkfifo "$L/fifo.pid"
	expect_lsb "$L/live.lock" 0
	expect_lsb "$L/foreign.pid" 0
	expect_lsb "$L/free.lock" 3
	expect_lsb "$L/none.lock" 3
	expect_lsb "$L/corrupt.pid" 4
	expect_lsb "$L/fifo.pid" 4
	kill -9 "$lr" "$cmd"
	wait_until gone "$cmd" || return 1
	expect_lsb "$L/live.lock" 1
	# -q is accepted with --status
	run lockstat -q --status "$L/free.lock"
	expect_status 3
	expect_out ""
}

run_tests t_live t_live_inherited t_stale t_stale_previous_boot t_reused \
	t_foreign t_plain_time_is_no_proof t_free t_missing t_remote t_corrupt \
	t_pid_one t_pid_one_flocked t_pid_forged_record t_ofd_holders \
	t_name_dir_per_user t_unsafe t_unknown t_other_pidns t_sparse_1g \
	t_start_stop_daemon t_libbsd_pidfile t_status_codes
