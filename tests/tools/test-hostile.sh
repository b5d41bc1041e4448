#!/bin/bash
# SPDX-License-Identifier: MIT
# The hostile input catalogue and the hostile places.
#
# Every file of tests/data/pidfiles/MANIFEST (the record corpus included)
# is fed to lockstat (table, JSON, --status, --pid), lockclean (dry run and
# real, with and without --pidfiles --corrupt-older-than) and lockrun -n,
# each checked against the MANIFEST line.  Then the hostile places (a
# symlink to a root-owned file, FIFO, device nodes, socket, hard link,
# world-writable file, unsafe directories, a directory swapped for a
# symlink during cleaning).  Throughout: every tool runs under a timeout
# (never hangs) and under strace (never calls kill, tgkill, tkill,
# pidfd_send_signal or rt_*sigqueueinfo), sacrificial processes named by
# the files survive, and nothing outside the lock directory changes (names,
# modes, owners, sizes, contents, mtimes and ctimes).  As root, in a PID
# namespace of its own (in-pidns): the PIDs the static files name are then
# nobody's.
[ -n "${PIDLOCK_IN_PIDNS:-}" ] || exec "$(dirname "$0")/in-pidns" bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

DATA=$TOP/tests/data/pidfiles
NOBODY=65534
BTIME=$(awk '$1 == "btime" { print $2 }' /proc/stat)
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }
SIGCALLS=kill,tkill,tgkill,pidfd_send_signal,rt_sigqueueinfo,rt_tgsigqueueinfo

# --- helpers -----------------------------------------------------------------

# sacrificial: a live process that pidfiles name; sets $victim.  It must
# outlive every tool run.
sacrificial() {
	sleep 1000 </dev/null >/dev/null 2>&1 &
	victim=$!
	track "$victim"
}
victim_alive() {
	[ -e "/proc/$victim" ] && [ "$(cut -d' ' -f3 "/proc/$victim/stat")" != Z ] ||
		fail "sacrificial process $victim named by a pidfile was killed"
}
dead_pid() { sh -c 'echo $$'; }

# traced NAME CMD...: run CMD (bounded, as run does) under strace; a call
# that sends a signal fails the test (kill(PID, 0), a liveness probe, sends
# none).  $status, $out, $err as run.
traced() {
	local log=$T/strace.$1
	shift
	run env "$NOLEAK" strace -f -qq -o "$log" -e trace=$SIGCALLS -e signal=none "$@"
	if grep -q 'SIG' "$log"; then
		fail "$* sent a signal: $(grep 'SIG' "$log" | head -3)"
	fi
	rm -f "$log"
}

# fingerprints DIR: one line per entry: name, inode, size, mtime, ctime,
# link count, mode, owner, and a hash of the first MiB: all that must not
# change about a file that is kept.
fingerprints() {
	python3 - "$1" <<'EOF2'
import hashlib, os, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)):
    st = os.lstat(os.path.join(d, n))
    h = ""
    if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n)):
        with open(os.path.join(d, n), "rb") as f:
            h = hashlib.sha256(f.read(1 << 20)).hexdigest()
    print(n, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink,
          oct(st.st_mode), st.st_uid, h)
EOF2
}
# fingerprint FILE: the same for one file.
fingerprint() {
	stat -c '%i %s %y %z %h %a %u %F' "$1" 2>/dev/null || echo missing
	[ -f "$1" ] && [ ! -L "$1" ] && head -c 1048576 "$1" | sha256sum
}
# tree_sum DIR...: every name, type, mode, owner, link count, size, mtime,
# ctime and symlink target, and the content of every regular file.
tree_sum() {
	find "$@" -printf '%p %y %m %u %n %s %T@ %C@ %l\n' | sort
	find "$@" -type f -size -8M -exec sha256sum {} + | sort
}

# The surroundings that no tool may touch: a sentinel directory beside the
# lock directory, and the catalogue itself.
outside_setup() {
	mkdir -p "$T/outside"
	printf 'sentinel\n' >"$T/outside/sentinel"
	cp /etc/passwd "$T/outside/passwd"
	chmod 644 "$T/outside/passwd"
	touch -d @1700000000 "$T/outside/sentinel" "$T/outside/passwd"
	outside_sums >"$T/outside.before"
}
outside_sums() { tree_sum "$T/outside" "$DATA" "$TOP/tests/data/records"; }
outside_unchanged() {
	outside_sums >"$T/outside.after"
	cmp -s "$T/outside.before" "$T/outside.after" ||
		fail "something outside the lock directory changed: $(diff "$T/outside.before" "$T/outside.after" | head -5)"
}

# manifest: the catalogue lines, tab-separated, without comments.
manifest() { grep -v '^#' "$DATA/MANIFEST" | grep -v '^$'; }
# copy_name FILE: the name of a catalogue file in the lock directory.
copy_name() {
	case $1 in
	gen:*) echo "${1#gen:}" ;;
	*) local b=${1##*/}; echo "${b%.in}" ;;
	esac
}

# populate DIR: every catalogue file in DIR (mode 0644), with its mtime;
# templates name $victim (@LIVE@) and a dead PID (@DEAD@); the gen: files
# are made here (one process for all: forks are slow on a loaded CI).
populate() {
	mkdir -p "$1"
	python3 - "$1" "$DATA" "$victim" "$(dead_pid)" "$BTIME" <<'EOF2' || fail "populate failed"
import os, sys
d, data, live, dead, btime = sys.argv[1:6]
def gen(name, path):
    with open(path, "wb") as f:
        if name == "sparse-1g":
            f.truncate(1 << 30)
        elif name == "pid-then-hole-1g":
            f.write(b"1234\n")
            f.truncate(1 << 30)
        elif name == "pid-then-2m-text":
            f.write(b"1234\n" + (b"z" * 99 + b"\n") * 21000)
        elif name == "record-then-2m":
            f.write(b"1234\npidlock 1\n" + b"A" * (2 << 20))
        elif name == "binary-elf-header.pid":
            f.write(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
        else:
            sys.exit("unknown generated file " + name)
for line in open(os.path.join(data, "MANIFEST"), encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    src, when = line.split("\t")[:2]
    if src.startswith("gen:"):
        name = src[4:]
        gen(name, os.path.join(d, name))
    else:
        name = os.path.basename(src)
        raw = open(os.path.join(data, src), "rb").read()
        if name.endswith(".in"):
            name = name[:-3]
            raw = raw.replace(b"@LIVE@", live.encode()).replace(b"@DEAD@", dead.encode())
        with open(os.path.join(d, name), "wb") as f:
            f.write(raw)
    path = os.path.join(d, name)
    os.chmod(path, 0o644)
    if when == "old":
        t = int(btime) - 3600
        os.utime(path, (t, t))
EOF2
}

# check_json MODE JSON DIR: a lockstat -J or lockclean -J report against the
# MANIFEST.  MODE: lockstat, clean, clean+, dry, dry+.
check_json() {
	python3 "$TOP/tests/tools/check-manifest.py" json "$@" "$DATA/MANIFEST" ||
		fail "$1: the report disagrees with the MANIFEST (see above)"
}

# check_after MODE BEFORE AFTER [RESULTS]: what a tool left in the lock
# directory against the MANIFEST (modes: see check-manifest.py).
check_after() {
	python3 "$TOP/tests/tools/check-manifest.py" after "$@" "$DATA/MANIFEST" ||
		fail "$1: the results disagree with the MANIFEST (see above)"
}

# lsb_for STATE: lockstat --status for a state (lockstat(1) EXIT STATUS).
lsb_for() {
	case $1 in
	live | live-inherited | foreign) echo 0 ;;
	stale | reused) echo 1 ;;
	free | none) echo 3 ;;
	*) echo 4 ;;
	esac
}

# --- the catalogue ---------------------------------------------------------------

t_catalogue_size() {
	local n
	n=$(manifest | wc -l)
	[ "$n" -ge 60 ] || fail "only $n catalogue files"
	# every file in the data directories is in the catalogue exactly once
	local listed
	listed=$(manifest | cut -f1 | grep -v '^gen:' | sort)
	[ -z "$(printf '%s\n' "$listed" | uniq -d)" ] || fail "listed twice: $(printf '%s\n' "$listed" | uniq -d)"
	(cd "$DATA" && ls | grep -v '^MANIFEST$' | sort) >present
	(cd "$DATA" && ls ../records | grep -v '^MANIFEST$' | sed 's|^|../records/|' | sort) >>present
	sort -o present present
	printf '%s\n' "$listed" >listed
	cmp -s present listed || fail "catalogue and data differ: $(diff present listed | head -5)"
	printf 'catalogue: %d files (%d generated at test time)\n' "$n" "$(manifest | grep -c '^gen:')"
}

# lockstat: every file's state, type and reason in JSON and the table;
# --status and --pid for one file of each state and type.  lockstat
# changes nothing at all.
t_catalogue_lockstat() {
	local file when state type clean cleanp lockrun reason name seen=" "
	sacrificial
	outside_setup
	populate "$T/L" || return
	fingerprints "$T/L" >L.before
	traced lockstat lockstat -J -o PATH,STATE,FORMAT,REASON,FILEPID "$T/L"
	expect_status 0
	printf '%s' "$out" >stat.json
	check_json lockstat stat.json "$T/L"
	traced lockstat-table lockstat -r -n -o PATH,STATE "$T/L"
	expect_status 0
	[ "$(printf '%s\n' "$out" | wc -l)" = "$(manifest | wc -l)" ] ||
		fail "the table has $(printf '%s\n' "$out" | wc -l) rows"
	while IFS=$'\t' read -r file when state type clean cleanp lockrun reason; do
		# A live PID the suite did not start (init): --pid never names
		# PID 1 read from a file.
		case $state/$file in foreign/*.in) ;; foreign/*)
			traced pid lockstat --pid "$T/L/$(copy_name "$file")"
			[ "$status" = 1 ] && [ -z "$out" ] ||
				fail "--pid $file: exit $status, printed '$out'"
			continue ;;
		esac
		case $seen in *" $state/$type "*) continue ;; esac
		seen="$seen$state/$type "
		name=$(copy_name "$file")
		want=$(lsb_for "$state")
		traced status lockstat --status "$T/L/$name"
		[ "$status" = "$want" ] && [ -z "$out$err" ] ||
			fail "--status $name: exit $status ($out$err), expected $want ($state)"
		traced pid lockstat --pid "$T/L/$name"
		if [ "$state" = foreign ]; then
			[ "$status" = 0 ] && [ "$out" = "$victim" ] ||
				fail "--pid $name: exit $status, '$out', expected $victim"
		else
			[ "$status" = 1 ] && [ -z "$out" ] && [ -n "$err" ] ||
				fail "--pid $name ($state): exit $status, printed '$out'"
		fi
	done < <(manifest)
	printf 'lockstat --status and --pid for:%s\n' "$seen"
	fingerprints "$T/L" >L.after
	cmp -s L.before L.after || fail "lockstat changed the lock directory: $(diff L.before L.after | head -3)"
	victim_alive
	outside_unchanged
}

# lockclean -n: the same judgement as a real run, and nothing changes.
t_catalogue_lockclean_dry_run() {
	sacrificial
	outside_setup
	populate "$T/L" || return
	fingerprints "$T/L" >L.before
	traced dry lockclean -n -J "$T/L"
	expect_status 0
	printf '%s' "$out" >dry.json
	check_json dry dry.json "$T/L"
	traced dry+ lockclean -n -J --pidfiles --corrupt-older-than 1s "$T/L"
	expect_status 0
	printf '%s' "$out" >dryp.json
	check_json dry+ dryp.json "$T/L"
	fingerprints "$T/L" >L.after
	cmp -s L.before L.after || fail "lockclean -n changed the lock directory: $(diff L.before L.after | head -3)"
	victim_alive
	outside_unchanged
}

# lockclean for real: what it removes is gone, what it keeps is untouched.
clean_real() {
	local mode=$1
	shift
	rm -rf "$T/L"
	populate "$T/L" || return
	fingerprints "$T/L" >L.before
	traced "$mode" lockclean -J "$@" "$T/L"
	expect_status 0
	printf '%s' "$out" >"$mode.json"
	check_json "$mode" "$mode.json" "$T/L"
	fingerprints "$T/L" >L.after
	check_after "$mode" L.before L.after
}
t_catalogue_lockclean() {
	sacrificial
	outside_setup
	clean_real clean
	clean_real clean+ --pidfiles --corrupt-older-than 1s
	victim_alive
	outside_unchanged
}

# lockrun -n FILE true, for each file (one traced loop): exit status, the
# holder line when busy, and what remains.
t_catalogue_lockrun() {
	sacrificial
	outside_setup
	populate "$T/L" || return
	fingerprints "$T/L" >L.before
	manifest | cut -f1 | while read -r f; do copy_name "$f"; done >names
	# Not run(): 186 lockruns under strace -f may take more than its 20 s.
	# One bound for the loop (a timeout inside would show up as a kill).
	timeout -k 5 600 env "$NOLEAK" strace -f -qq -o strace.lockrun -e trace=$SIGCALLS -e signal=none \
		bash -c 'while read -r n; do
			lockrun -n "$1/$n" true 2>"$1.err"
			printf "%s\t%s\t%s\n" "$n" $? "$(head -n1 "$1.err")"
		done <names >results' sh "$T/L"
	[ $? = 0 ] || fail "the lockrun loop failed or timed out"
	! grep -q SIG strace.lockrun || fail "lockrun sent a signal: $(grep SIG strace.lockrun | head -3)"
	fingerprints "$T/L" >L.after
	check_after lockrun L.before L.after results
	victim_alive
	outside_unchanged
}

# --- hostile places ------------------------------------------------------------

# place_setup: the places, in $T/P (root's 0755 directory), $T/W (1777) and
# $T/O (0777, not sticky); $T/outside holds what symlinks and hard links
# point at.  Prints nothing.
places_setup() {
	mkdir -p P W O
	chmod 755 P
	chmod 1777 W
	chmod 777 O
	printf '4242\nROOT-SECRET\n' >"$T/outside/secret"
	chmod 600 "$T/outside/secret"
	printf '%s\n' "$victim" >"$T/outside/victim.pid"
	ln -s "$T/outside/passwd" P/sym-passwd.lock
	ln -s "$T/outside/secret" P/sym-secret.lock
	ln -s "$T/outside/victim.pid" P/sym-victim.pid
	ln -s "$T/outside/does-not-exist" P/dangling.lock
	ln -s "$T/outside" P/sym-dir.lock
	mkfifo P/fifo.lock
	ln "$T/outside/victim.pid" P/hard.pid
	printf '%s\n' "$(dead_pid)" >P/ww.pid
	chmod 666 P/ww.pid
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' P/sock.lock
	if [ "$(id -u)" = 0 ]; then
		mknod P/null.lock c 1 3
		mknod P/loop.lock b 7 0
		as_nobody sh -c 'echo $$ >W/nobodys.pid'
		as_nobody ln -s "$T/outside/passwd" W/nobodys-sym.lock
	fi
	printf '%s\n' "$(dead_pid)" >O/open-dir.pid
	outside_sums >"$T/outside.before"
}

# The places: path, lockstat reason, lockrun message (a prefix root: or
# asroot:, see check_places).
PLACES='P/sym-passwd.lock|symbolic link|is a symbolic link \(not followed\)
P/sym-secret.lock|symbolic link|is a symbolic link \(not followed\)
P/sym-victim.pid|symbolic link|is a symbolic link \(not followed\)
P/dangling.lock|symbolic link|is a symbolic link \(not followed\)
P/fifo.lock|FIFO|not a regular file \(FIFO, socket or device\)
P/sock.lock|socket|not a regular file \(FIFO, socket or device\)
P/hard.pid|2 hard links|has other hard links
P/ww.pid|world-writable|is world-writable
O/open-dir.pid|world-writable directory without sticky bit|world-writable directory without sticky bit
root:P/null.lock|device node|not a regular file \(FIFO, socket or device\)
root:P/loop.lock|device node|not a regular file \(FIFO, socket or device\)
asroot:W/nobodys.pid|owned by uid 65534 in a shared directory|owned by an untrusted user in a shared directory
root:W/nobodys-sym.lock|symbolic link|is a symbolic link \(not followed\)'

# check_places [AS...]: every place is unsafe to lockstat, kept by lockclean
# (dry and real), refused by lockrun with 66 and one line naming the cause;
# nothing it points at changes.
check_places() {
	local line path why msg fp replaced
	while IFS='|' read -r path why msg; do
		# root: needs root to make; asroot: unsafe only for another user
		# (nobody's own file in a sticky directory is nobody's lock), and
		# root's lockrun replaces it with its own file rather than lock
		# it (pidlock(5): its owner could unlink it under the lock)
		replaced=
		case $path in
		root:*) [ "$(id -u)" = 0 ] || continue; path=${path#root:} ;;
		asroot:*) [ "$(id -u)" = 0 ] && [ $# = 0 ] || continue; path=${path#asroot:}; replaced=1 ;;
		esac
		fp=$(fingerprint "$path")
		traced stat "$@" lockstat -r -n -o STATE,REASON "$path"
		[ "$status" = 0 ] && [ "$out" = "unsafe $(printf '%s' "$why" | sed 's/ /\\x20/g')" ] ||
			fail "${*:-root}: lockstat $path: exit $status, '$out', expected unsafe ($why)"
		run "$@" lockstat --status "$path"
		[ "$status" = 4 ] || fail "${*:-root}: lockstat --status $path: $status, expected 4"
		run "$@" lockstat --pid "$path"
		[ "$status" = 1 ] && [ -z "$out" ] || fail "${*:-root}: lockstat --pid $path: $status '$out'"
		for mode in -n ""; do
			# shellcheck disable=SC2086
			traced clean "$@" lockclean -v $mode --pidfiles --corrupt-older-than 1ms "$path"
			out=$(printf '%s\n' "$out" | clean_lines | grep -v ', kept [0-9]*, failed ')
			[ "$status" = 0 ] && [ "$out" = "kept $path (unsafe: $why)" ] ||
				fail "${*:-root}: lockclean $mode $path: exit $status, '$out' ($err)"
		done
		traced lockrun "$@" lockrun -n -w 2 "$path" true
		if [ -n "$replaced" ]; then
			[ "$status" = 0 ] && [ "$(stat -c %u "$path")" = 0 ] ||
				fail "root: lockrun $path: exit $status, owner $(stat -c %u "$path"), expected 0 and root's file ($err)"
			continue
		fi
		[ "$status" = 66 ] || fail "${*:-root}: lockrun $path: exit $status, expected 66 ($err)"
		printf '%s' "$err" | grep -Eqx "lockrun: $path: $msg" ||
			fail "${*:-root}: lockrun $path: message '$err', expected /lockrun: $path: $msg/"
		[ "$(fingerprint "$path")" = "$fp" ] || fail "${*:-root}: $path changed"
	done <<<"$PLACES"
	[ ! -e "$T/outside/does-not-exist" ] || fail "a dangling symlink's target was created"
}

t_places() {
	sacrificial
	outside_setup
	places_setup
	check_places
	victim_alive
	outside_unchanged
}

# The same places seen by an unprivileged user: a symlink to root's file is
# still never followed, and the secret never shows.
t_places_as_nobody() {
	need_root || return 0
	chmod 755 "$T"
	sacrificial
	outside_setup
	places_setup
	check_places setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups
	run as_nobody lockstat --output-all -J P
	case $out in *ROOT-SECRET* | *root:x:*) fail "a symlink target's content shows: $out" ;; esac
	victim_alive
	outside_unchanged
}

# Whole directories of places, as a cleaner sees them at boot: one run.
t_places_directory() {
	sacrificial
	outside_setup
	places_setup
	tree_sum P O >P.before
	for d in P O W; do
		traced clean-$d lockclean -r -v --pidfiles --corrupt-older-than 1ms "$d"
		[ "$status" = 0 ] || fail "lockclean $d: exit $status ($err)"
		printf '%s\n' "$out" | clean_lines | grep -v ', kept [0-9]*, failed ' | grep -v '^kept ' | grep -v '^removed O/open-dir' | grep . &&
			fail "lockclean removed a place: $out"
		traced stat-$d lockstat -J "$d"
		[ "$status" = 0 ] || fail "lockstat $d: exit $status"
	done
	tree_sum P O >P.after
	cmp -s P.before P.after || fail "a place changed: $(diff P.before P.after | head -3)"
	victim_alive
	outside_unchanged
}

# A FIFO with a writer attached and one without: nothing blocks, ever.
t_fifo_with_writer() {
	mkfifo F
	sleep 30 >F &
	track $!
	local t0=$SECONDS
	run lockstat -n -o STATE,REASON ./F
	expect_out "unsafe FIFO"
	run_clean lockclean -v ./F
	expect_out "kept ./F (unsafe: FIFO)
removed 0, kept 1, failed 0"
	run lockrun -w 1 ./F true
	expect_status 66
	[ $((SECONDS - t0)) -lt 5 ] || fail "took $((SECONDS - t0)) s"
}

# While lockclean runs over $T/A, an attacker swaps its subdirectory for a
# symlink to $T/outside/victims (full of stale records) and back in a loop.
# The sentinel beside it and every victim keep their content and mtime.
t_path_swap_sentinel() {
	need_root || return 0
	chmod 755 "$T"
	sacrificial
	mkdir -p A seed "$T/outside/victims"
	lockrun -F seed/s.lock sleep 1000 &
	local p=$!
	wait_until is_locked seed/s.lock || return
	kill -9 $p
	{ wait $p; } 2>/dev/null
	for i in $(seq 200); do
		cp seed/s.lock "$T/outside/victims/$i.lock"
		touch -d @1700000000 "$T/outside/victims/$i.lock"
	done
	outside_setup
	chmod 1777 A
	local rounds=0 swapper removed=0
	while [ $rounds -lt 4 ]; do
		as_nobody mkdir A/sub
		for i in $(seq 40); do cp seed/s.lock "A/sub/$i.lock"; done
		chown -R $NOBODY A/sub
		as_nobody sh -c 'while :; do
			mv A/sub A/sub.real 2>/dev/null
			ln -s '"$T"'/outside/victims A/sub 2>/dev/null
			rm -f A/sub
			mv A/sub.real A/sub 2>/dev/null
		done' &
		swapper=$!
		track $swapper
		timeout 20 lockclean -v A/sub >>log 2>&1
		timeout 20 lockclean -v -r A >>log 2>&1
		timeout 20 lockclean -v -n -r A >>log 2>&1
		kill_tree $swapper
		{ wait $swapper; } 2>/dev/null
		rm -rf A/sub A/sub.real
		rounds=$((rounds + 1))
	done
	clean_lines <log >log.lines && mv log.lines log
	removed=$(grep -c '^removed [^0-9]' log)
	printf 'path swap: %d rounds, %d stale files removed inside A, %d refusals\n' \
		$rounds "$removed" "$(grep -c 'unsafe: symbolic link' log)"
	grep '^removed [^0-9]' log | grep -Ev '^removed A/sub(\.real)?/[0-9]+\.lock \(stale: ' |
		head -3 | grep . && fail "removed something else"
	[ "$(ls "$T/outside/victims" | wc -l)" = 200 ] || fail "victims removed"
	victim_alive
	outside_unchanged
}

[ $# -gt 0 ] && run_tests "$@"
run_tests \
	t_catalogue_size \
	t_catalogue_lockstat \
	t_catalogue_lockclean_dry_run \
	t_catalogue_lockclean \
	t_catalogue_lockrun \
	t_places \
	t_places_as_nobody \
	t_places_directory \
	t_fifo_with_writer \
	t_path_swap_sentinel
