#!/bin/bash
# SPDX-License-Identifier: MIT
# lockstat(1), what it shows: the table and its columns, raw and JSON
# output (the schema), the arguments (files, directories, names, -a at
# scale), --watch, and the property that matters most: lockstat never
# takes a lock it inspects.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-lockstat.sh"

# --- output -----------------------------------------------------------------

t_table_default() {
	setup
	hold "$L/a.lock" -m "first lock" || return 1
	: >"$L/b.lock"
	run lockstat
	expect_status 0
	hdr=$(printf '%s\n' "$out" | head -n1 | tr -s ' ' | sed 's/ $//')
	[ "$hdr" = "PATH STATE FILEPID FILECOMMAND SINCE AGE HOST HOLDERS MESSAGE" ] ||
		fail "header '$hdr'"
	[ "$(printf '%s\n' "$out" | wc -l)" = 3 ] || fail "rows: $out"
	printf '%s\n' "$out" | sed -n 2p | grep -Eq "^$L/a\\.lock +live +$cmd +sh +[0-9:]{8} +[0-9]+s +$(uname -n) +$lr +first lock\$" ||
		fail "row '$(printf '%s\n' "$out" | sed -n 2p)'"
	printf '%s\n' "$out" | sed -n 3p | grep -Eq "^$L/b\\.lock +free *\$" ||
		fail "row '$(printf '%s\n' "$out" | sed -n 3p)'"
}

t_columns() {
	setup
	: >"$L/b.lock"
	run lockstat -o PATH,STATE
	expect_status 0
	[ "$(printf '%s\n' "$out" | tr -s ' ')" = "PATH STATE
$L/b.lock free" ] || fail "-o PATH,STATE: '$out'"
	run lockstat -o path,state
	[ "$(printf '%s\n' "$out" | head -n1 | tr -s ' ')" = "PATH STATE" ] || fail "lower case: '$out'"
	run lockstat -o PATH,STATE -o +FORMAT,REASON
	[ "$(printf '%s\n' "$out" | head -n1 | tr -s ' ')" = "PATH STATE FORMAT REASON" ] || fail "-o +LIST: '$out'"
	# +LIST alone adds to the default columns, as in util-linux.
	run lockstat -o +INODE
	[ "$(printf '%s\n' "$out" | head -n1 | tr -s ' ' | sed 's/ $//')" = \
		"PATH STATE FILEPID FILECOMMAND SINCE AGE HOST HOLDERS MESSAGE INODE" ] || fail "-o +INODE: '$out'"
	run lockstat --output-all
	expect_status 0
	[ "$(printf '%s\n' "$out" | head -n1 | tr -s ' ' | sed 's/ $//')" = \
		"PATH STATE FILEPID FILECOMMAND SINCE AGE HOST HOLDERS MESSAGE PID COMMAND WAITERS MODE TYPE FORMAT UID BOOT REASON HOLDER OWNER SIZE INODE" ] ||
		fail "--output-all header: '$(printf '%s\n' "$out" | head -n1)'"
	run lockstat -n -o PATH,STATE
	[ "$(printf '%s' "$out" | tr -s ' ' | sed 's/ $//')" = "$L/b.lock free" ] || fail "-n: '$out'"
	run lockstat -o NOPE
	expect_status 64
	expect_err_match "unknown column: NOPE"
	# -n with nothing to list prints nothing at all.
	mkdir "$T/empty"
	run lockstat -n "$T/empty"
	expect_status 0
	expect_out ""
	# Nor without -n: as lslocks, an empty table is no output.
	run lockstat "$T/empty"
	expect_status 0
	expect_out ""
}

t_raw() {
	setup
	hold "$L/my lock.lock" -m 'two words\here' || return 1
	run lockstat -r -n -o PATH,MESSAGE,HOLDERS,REASON "$L/my lock.lock"
	expect_status 0
	expect_out "$L/my\\x20lock.lock two\\x20words\\x5chere $lr held\\x20by\\x20PID\\x20$cmd"
	: >"$L/free.lock"
	# An empty cell is empty (as in lslocks -r), not "-".
	run lockstat -r -n -o PATH,FILEPID,FILECOMMAND "$L/free.lock"
	expect_out "$L/free.lock  "
	run lockstat -r -o PATH,STATE "$L/free.lock"
	expect_out "PATH STATE
$L/free.lock free"
}

# Text is cut to the terminal's width (COLUMNS when the output is not a
# terminal), never without one; -u and JSON never cut.
t_truncate() {
	setup
	msg=abcdefghij0123456789ABCDEFGHIJ0123456789klmnopqrst
	hold "$L/m.lock" -m "$msg" || return 1
	run env COLUMNS=30 lockstat -n -o STATE,MESSAGE "$L/m.lock"
	expect_status 0
	[ ${#out} -le 30 ] && [ ${#out} -ge 20 ] || fail "COLUMNS=30: '$out' (${#out} characters)"
	case $out in "live  ${msg:0:10}"*) ;; *) fail "COLUMNS=30: '$out'" ;; esac
	run env COLUMNS=30 lockstat -u -n -o STATE,MESSAGE "$L/m.lock"
	expect_out "live  $msg"
	run env -u COLUMNS lockstat -n -o STATE,MESSAGE "$L/m.lock"
	expect_out "live  $msg"
	run env COLUMNS=30 lockstat -J -o MESSAGE
	expect_out_match "\"message\": \"$msg\""
}

t_json() {
	setup
	need_python || return 0
	hold "$L/live.lock" -m 'say "hi"' || return 1
	: >"$L/free.lock"
	echo 42abc >"$L/bad.pid"
	mkfifo "$L/fifo.pid"
	keys=path,state,filepid,filecommand,since,age,host,holders,message
	run lockstat -J
	expect_status 0
	printf '%s' "$out" | "$PY" -c 'import json,sys; json.load(sys.stdin)' ||
		{ fail "not JSON: $out"; return 1; }
	summary=$(printf '%s' "$out" | json_check "$keys" 2>&1) || { fail "schema: $summary"; return 1; }
	[ "$summary" = "$L/bad.pid corrupt None -
$L/fifo.pid unsafe None -
$L/free.lock free None -
$L/live.lock live $cmd $lr" ] || fail "JSON rows: $summary"
	printf '%s' "$out" | "$PY" -c '
import json, sys, time
locks = {o["path"].rsplit("/", 1)[1]: o for o in json.load(sys.stdin)["locks"]}
live, free = locks["live.lock"], locks["free.lock"]
assert live["message"] == "say \"hi\"", live
assert live["filecommand"] == "sh" and isinstance(live["host"], str), live
assert abs(live["since"] - time.time()) < 60 and 0 <= live["age"] < 60, live
for k in ("filepid", "filecommand", "since", "age", "host", "message"):
    assert free[k] is None, (k, free)
assert free["holders"] == [], free
' || fail "JSON values: $out"
	# Selected columns become the keys, in order.
	run lockstat -J -o PATH,STATE
	summary=$(printf '%s' "$out" | "$PY" -c '
import json, sys
for o in json.load(sys.stdin)["locks"]: assert list(o) == ["path", "state"], o
print("ok")' 2>&1)
	[ "$summary" = ok ] || fail "-J -o PATH,STATE: $out"
	# All columns, with their types.
	run lockstat -J --output-all
	summary=$(printf '%s' "$out" | json_check \
		path,state,filepid,filecommand,since,age,host,holders,message,pid,command,waiters,mode,type,format,uid,boot,reason,holder,owner,size,inode 2>&1) ||
		fail "--output-all schema: $summary"
	printf '%s' "$out" | "$PY" -c '
import json, os, sys
locks = {o["path"].rsplit("/", 1)[1]: o for o in json.load(sys.stdin)["locks"]}
l = locks["live.lock"]
st = os.stat(sys.argv[1])
assert l["mode"] == "WRITE" and l["type"] == "FLOCK" and l["format"] == "pidlock", l
assert l["pid"] == int(sys.argv[2]) and l["command"] == sys.argv[3], l
assert l["waiters"] == [], l
assert l["uid"] == os.geteuid() and l["owner"] == st.st_uid, l
assert l["size"] == "%dB" % st.st_size and l["inode"] == st.st_ino, l
assert l["boot"] == open("/proc/sys/kernel/random/boot_id").read().strip(), l
assert l["holder"] == int(sys.argv[2]) and isinstance(l["reason"], str), l
f = locks["free.lock"]
assert f["format"] == "flock" and f["type"] is None and f["mode"] is None, f
assert f["uid"] is None and f["pid"] is None and f["command"] is None, f
assert f["size"] == "0B" and f["reason"], f
' "$L/live.lock" "$lr" "$LOCKRUN_COMM" || fail "--output-all values: $out"
}

# lslocks -J prints nothing at all when there is nothing; lockstat prints
# an empty list.
t_json_empty() {
	setup
	run lockstat -J
	expect_status 0
	[ "$(printf '%s' "$out" | tr -d ' \n')" = '{"locks":[]}' ] || fail "empty: $out"
	mkdir "$T/empty"
	run lockstat -J "$T/empty"
	[ "$(printf '%s' "$out" | tr -d ' \n')" = '{"locks":[]}' ] || fail "empty dir: $out"
}

t_quiet() {
	setup
	: >"$L/free.lock"
	run lockstat -q
	expect_status 0
	expect_out ""
	expect_err ""
}

# --- arguments --------------------------------------------------------------

t_dir_arg() {
	setup
	d=$T/run
	mkdir -p "$d/sub"
	: >"$d/b.lock"
	echo 42abc >"$d/a.pid"
	: >"$d/.hidden"
	: >"$d/sub/inner.lock"
	run lockstat -n -o PATH,STATE "$d"
	expect_status 0
	[ "$(printf '%s\n' "$out" | tr -s ' ')" = "$d/a.pid corrupt
$d/b.lock free" ] || fail "directory listing: '$out'"
	# Several arguments, files and directories, in one sorted table.
	run lockstat -n -o PATH "$d/sub" "$d/b.lock"
	[ "$(printf '%s\n' "$out" | sed 's/ *$//')" = "$d/b.lock
$d/sub/inner.lock" ] || fail "mixed arguments: '$out'"
	# A glob as in lockstat /run/*.pid
	run lockstat -n -o PATH "$d"/*.pid
	expect_out "$d/a.pid"
}

t_name_arg() {
	setup
	hold "$L/backup.lock" || return 1
	run lockstat -n -o PATH,STATE backup
	expect_status 0
	[ "$(printf '%s' "$out" | tr -s ' ')" = "$L/backup.lock live" ] || fail "NAME: '$out'"
	expect_lsb backup 0
	expect_pid backup "$cmd"
	run lockstat ''
	expect_status 1
	expect_err_match "invalid lock name"
}

t_default_dir() {
	setup
	hold "$L/one.lock" || return 1
	: >"$L/two.lock"
	: >"$T/elsewhere.lock"
	run lockstat -n -o PATH,STATE
	expect_status 0
	[ "$(printf '%s\n' "$out" | tr -s ' ')" = "$L/one.lock live
$L/two.lock free" ] || fail "default listing: '$out'"
}

t_all() {
	setup
	hold "$L/rec.lock" || return 1
	: >"$L/plain.lock"
	spawn "$T/fl" "$FLOCK" -F "$L/plain.lock" sleep 30
	wait_until is_locked "$L/plain.lock" || return 1
	run lockstat -a -n -o PATH,STATE,HOLDERS
	expect_status 0
	mine=$(printf '%s\n' "$out" | grep -E " ($lr|$(cat "$T/fl"))\$")
	printf '%s\n' "$out" | grep -Eq "^$L/rec\\.lock +live +$lr\$" ||
		fail "-a: no row for $L/rec.lock (inode $(stat -c %i "$L/rec.lock")); the rows of this test's holders: $mine"
	printf '%s\n' "$out" | grep -Eq "^$L/plain\\.lock +live +$(cat "$T/fl")\$" ||
		fail "-a: no row for $L/plain.lock; the rows of this test's holders: $mine"
	run lockstat --all -J
	summary=$(printf '%s' "$out" | json_check path,state,filepid,filecommand,since,age,host,holders,message 2>&1) ||
		fail "-a -J: $summary"
}

# JSON is UTF-8: file names are bytes, and those that are not UTF-8 (a
# stray byte, a surrogate, an overlong form) show as U+FFFD, not raw.
t_json_non_utf8_names() {
	setup
	need_python || return 0
	: >"$L/$(printf 'bad\377name')"
	: >"$L/$(printf 'sur\355\240\200')"
	: >"$L/$(printf 'over\340\200\257')"
	: >"$L/$(printf 'caf\303\251')"
	run lockstat -J
	expect_status 0
	printf '%s' "$out" | "$PY" -c '
import json, sys
paths = sorted(o["path"].rsplit("/", 1)[1] for o in json.loads(sys.stdin.buffer.read().decode("utf-8"))["locks"])
assert paths == ["bad\ufffdname", "caf\u00e9", "over\ufffd\ufffd\ufffd", "sur\ufffd\ufffd\ufffd"], paths
' || fail "lockstat -J with names that are not UTF-8: $out"
}

# A waiter readies the inode it will publish, unnamed and locked, before it
# sleeps: lockstat -a leaves such locks on nameless files out (they were
# rows "(dev:ino) live, path unknown", each costing a search of the
# directory), and still lists the lock the waiter waits for.
t_all_leaves_out_nameless() {
	setup
	hold "$L/rec.lock" || return 1
	# --remove: such a waiter readies an unnamed inode (pidlock(5))
	spawn "$T/w" lockrun --remove -w 30 "$L/rec.lock" true
	wait_until waits_on_flock "$(cat "$T/w")" || return 1
	run lockstat -a -n -o PATH,HOLDERS,WAITERS
	expect_status 0
	printf '%s\n' "$out" | grep -Eq "^$L/rec\\.lock +$lr +$(cat "$T/w")\$" ||
		fail "-a: no row for the held lock: $out"
	printf '%s\n' "$out" | grep -v "^$L/rec\\.lock " | grep -E " $(cat "$T/w") *\$" &&
		fail "-a: a row for the waiter's unnamed inode"
	return 0
}
# waits_on_flock PID: PID is blocked in flock(2) and holds a lock too.
waits_on_flock() {
	grep -Eq "^[0-9]+: -> FLOCK +ADVISORY +WRITE +$1 " /proc/locks &&
		grep -Eq "^[0-9]+: FLOCK +ADVISORY +WRITE +$1 " /proc/locks
}

# lockstat -a finds each lock's path through its holder's descriptors and,
# for files created unnamed (O_TMPFILE) as pidlock creates them, through
# the directory: both are read once, not once per lock, so 300 locks of one
# process in a directory of 600 files cost a few syscalls each.  (They cost
# hundreds each when every lock re-read both.)
t_all_scales() {
	setup
	need_python || return 0
	command -v strace >/dev/null || { skip_test "strace missing"; return; }
	local d=$T/many i before
	mkdir "$d"
	for i in $(seq 300); do : >"$d/idle$i"; done
	spawn "$T/py" "$PY" -c '
import ctypes, fcntl, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
fds = []
for i in range(150):
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    # os.link() does not follow /proc/self/fd links: linkat(AT_SYMLINK_FOLLOW)
    if libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100,
                   os.fsencode("%s/tmp%d.lock" % (d, i)), 0x400) != 0:
        sys.exit(os.strerror(ctypes.get_errno()))
    fds.append(fd)
    fd = os.open("%s/named%d.lock" % (d, i), os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fds.append(fd)
open(d + "/ready", "w").close()
time.sleep(3600)  # until teardown kills it, however slow the run
' "$d"
	wait_until test -e "$d/ready" || return 1
	before=$(wc -l </proc/locks)
	env "$NOLEAK" strace -f -qq -c -o trace lockstat -a -n -o PATH >out 2>err ||
		{ fail "lockstat -a: $(cat err)"; return; }
	n=$(grep -cE "^$d/(tmp|named)[0-9]+\.lock\$" out)
	[ "$n" = 300 ] || fail "-a found $n of the 300 paths: $(sort out | uniq -d | head -3)"
	calls=$(awk '$NF == "total" { print $4 }' trace)
	# -a lists every lock on the machine: ours, and whatever else runs
	# (other test suites come and go beside it: the larger count counts)
	locks=$(wc -l </proc/locks)
	[ "$before" -gt "$locks" ] && locks=$before
	[ "${calls:-0}" -gt 0 ] && [ "$calls" -lt $(((locks + 50) * 40)) ] ||
		fail "lockstat -a made $calls syscalls for $locks locks"
}

t_usage() {
	setup
	run lockstat --help
	expect_status 0
	expect_out_match "^Usage:"
	run lockstat -V
	expect_status 0
	expect_out_match "^lockstat from pidlock "
	run lockstat --bogus
	expect_status 64
	expect_err_match "Try 'lockstat --help'"
	run lockstat --status a b
	expect_status 64
	run lockstat --status a --pid b
	expect_status 64
	run lockstat --watch=0
	expect_status 64
	run lockstat --watch=soon
	expect_status 64
}

# --- the property that matters ----------------------------------------------

# While lockstat inspects a lock in a tight loop, non-blocking acquirers
# never fail because of it.  (Substituting "flock -n F true" for lockstat
# in the loops makes this test fail.)
t_never_takes_a_lock() {
	setup
	c=$T/ctl F=$L/kept.lock
	mkdir -p "$c"
	: >"$F"
	touch "$c/go"
	# One loop, the file and the directory in turn: a second loop would
	# only starve the acquirers of CPU on a small machine.
	spawn "$c/loop" sh -c '
		n=0
		while [ -e "$1/go" ]; do
			lockstat "$2" >/dev/null 2>&1
			lockstat >/dev/null 2>&1
			n=$((n + 1))
			[ $n = 1 ] && : >"$1/ready"
		done
		echo $n >"$1/n"' sh "$c" "$F"
	wait_until [ -e "$c/ready" ] || return 1
	# make valgrind and the sanitized check scale the loops down
	# (VALGRIND_SCALE or STRESS_SCALE, a divisor).
	local k=${VALGRIND_SCALE:-${STRESS_SCALE:-1}}
	fails=0 i=0
	while [ $i -lt $((500 / k)) ]; do
		"$FLOCK" -n "$F" true 2>>"$c/err"
		rc=$?
		[ $rc = 0 ] || { fails=$((fails + 1)); echo "flock -n: exit $rc" >>"$c/err"; }
		i=$((i + 1))
	done
	i=0
	while [ $i -lt $((500 / k)) ]; do
		lockrun -n -k "$F" true 2>>"$c/err" || fails=$((fails + 1))
		i=$((i + 1))
	done
	rm -f "$c/go"
	wait_until [ -s "$c/n" ] || return 1
	[ $fails = 0 ] || fail "$fails of $((1000 / k)) non-blocking acquisitions failed while lockstat ran: $(head -n3 "$c/err")"
	[ "$(cat "$c/n")" -ge $((20 / k)) ] || fail "lockstat ran only $(cat "$c/n") times"
	expect_state "$F" free
}

# The same property, exactly: lockstat makes no locking system call at all
# (F_GETLK would be allowed: it only asks).
t_never_takes_a_lock_syscalls() {
	setup
	command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null ||
		{ skip_test "strace missing or not permitted"; return 0; }
	hold "$L/held.lock" || return 1
	: >"$L/kept.lock"
	printf '1\n' >"$L/plain.pid"
	lockrun -N x sh -c 'sleep 30 </dev/null >/dev/null 2>&1 & echo $! >"$1"' sh "$T/child" >/dev/null 2>&1
	remember "$(cat "$T/child")"
	for args in "" "-J --output-all" "-a" "--status held" "--pid held" "--pid x" \
		"$L/kept.lock" "--status $L/kept.lock"; do
		# shellcheck disable=SC2086
		run env "$NOLEAK" strace -f -qq -o "$T/trace" -e trace=flock,fcntl lockstat $args
		grep -E 'flock\(|F_SETLK|F_OFD_SETLK' "$T/trace" &&
			fail "lockstat $args took a lock: $(grep -E 'flock\(|F_SETLK|F_OFD_SETLK' "$T/trace" | head -n3)"
	done
	return 0
}

# --- watch ------------------------------------------------------------------

redraws() { printf '%s\n' "$out" | grep -c 'PATH *STATE'; }
# has_ended PID: the child PID exited (a zombie until waited for) or is gone
has_ended() { ! [ -e "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
has_redrawn_twice() { [ "$(grep -c 'PATH *STATE' "$T/watch.out")" -ge 2 ]; }

# watch SIG ARGS...: runs lockstat ARGS in the background, waits until it
# has drawn its table twice, sends it SIG, and sets status/out/err.  The
# signal goes to lockstat alone: timeout(1) would also send SIGCONT to its
# process group, and that SIGCONT discards the SIGSTOP that an ASan
# build's leak check (LeakSanitizer's ptrace attach at exit) waits for, so
# the leak check and lockstat waited for each other for ever.
watch() {
	sig=$1; shift
	: >"$T/watch.out"
	"$BIN/lockstat" "$@" >"$T/watch.out" 2>"$T/watch.err" &
	wpid=$!
	wait_until has_redrawn_twice || { kill -KILL "$wpid"; wait "$wpid"; return; }
	kill -"$sig" "$wpid"
	# run()'s hang bound, for a lockstat that does not end
	i=0
	until has_ended "$wpid"; do
		i=$((i + 1))
		[ $i -lt $((RUN_LIMIT * 20)) ] || { fail "lockstat $* did not end after SIG$sig"; kill -KILL "$wpid"; break; }
		sleep 0.05
	done
	wait "$wpid"
	status=$?
	out=$(cat "$T/watch.out"); err=$(cat "$T/watch.err")
}

# -w INTERVAL as the usage writes it: "-w/--watch [INTERVAL]".
t_watch() {
	setup
	: >"$L/free.lock"
	watch INT -w 100ms
	expect_status 0
	case $out in *100ms*) fail "-w 100ms took 100ms as a lock name: '$out'" ;; esac
}

# The attached forms, and a clean exit on SIGINT and SIGTERM.
t_watch_attached() {
	setup
	: >"$L/free.lock"
	watch INT -w100ms
	expect_status 0
	watch INT --watch=100ms -o PATH,STATE
	expect_status 0
	expect_out_match "free"
	watch TERM --watch=100ms
	expect_status 0
}

run_tests t_table_default t_columns t_raw t_truncate t_json t_json_empty \
	t_quiet t_dir_arg t_name_arg t_default_dir t_all t_all_leaves_out_nameless \
	t_json_non_utf8_names t_all_scales t_usage t_never_takes_a_lock \
	t_never_takes_a_lock_syscalls t_watch t_watch_attached
