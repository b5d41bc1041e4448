#!/bin/bash
# SPDX-License-Identifier: MIT
# Output people and scripts can trust: hostile names and
# messages (ESC, BEL, CR, LF, invalid UTF-8, 4-byte UTF-8, wide CJK,
# combining marks) through every output mode of every tool, checked byte
# by byte and decoded back; the table at COLUMNS=60 and 200; the JSON
# schema and what its keys mean next to lslocks -J; --watch off a
# terminal; lockclean's sorted report, summary and exit status; lockstat's
# exit status for what does not exist.
. "$(dirname "$0")/lib.sh"

NOBODY=65534
AS_NOBODY="setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups"
CHECK_JSON=$TOP/tests/tools/check-json.py
export LC_ALL=C.UTF-8

# The hostile names, as printf formats.
NAMES=(
	'x\033]0;pwned\007\033[2Jy.lock'  # sets the title, clears the screen
	'n\nremoved FORGED.lock (stale)'  # a forged line in a log
	'cr\rhidden.lock'                 # overwrites its own line
	'bad\377name.lock'                # not UTF-8
	'emoji\360\237\230\200.lock'      # 4-byte UTF-8
	'\344\270\255\346\226\207.lock'   # wide CJK
	'e\314\201.lock'                  # a combining mark
	'lit\\x41.lock'                   # a literal \x: escaped to stay reversible
)

# make_names DIR [CONTENT]: one file per hostile name in DIR.
make_names() {
	local n
	mkdir -p "$1"
	for n in "${NAMES[@]}"; do
		printf '%s' "${2:-}" >"$1/$(printf "$n")"
	done
}

dead_pid() { sh -c 'echo $$'; }

# no_controls WHAT TEXT-FILE: no byte below 0x20 but newline, no DEL, and
# (under a UTF-8 locale) valid UTF-8: nothing a terminal would act on.
no_controls() {
	python3 - "$1" "$2" <<'EOF' || fail "$1: raw bytes in the output (see above)"
import sys
what, data = sys.argv[1], open(sys.argv[2], "rb").read()
bad = [(i, b) for i, b in enumerate(data) if (b < 0x20 and b != 0x0a) or b == 0x7f]
if bad:
    sys.exit("%s: control byte 0x%02x at %d: %r" % (what, bad[0][1], bad[0][0], data[:300]))
try:
    data.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("%s: not UTF-8: %s" % (what, e))
EOF
}

# decodes_to DIR MODE FILE: each line of FILE (a lockstat -n -o PATH table,
# -r, or -P output), with the util-linux \xHH escapes undone, is the path
# of one file of DIR, and every file of DIR is there: visible and
# reversible, one row one line.
decodes_to() {
	python3 - "$@" <<'EOF' || fail "$2: the output does not decode to the names (see above)"
import os, re, sys
d, mode, path = sys.argv[1:4]
lines = open(path, "rb").read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
got = []
for line in lines:
    if mode == "pairs":
        m = re.fullmatch(rb'PATH="(.*)"', line)
        assert m, line
        line = m.group(1)
    else:
        line = line.rstrip(b" ")
    got.append(re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), line))
want = sorted(os.path.join(d.encode(), n) for n in os.listdir(d.encode()))
if sorted(got) != want:
    sys.exit("%s: decoded %r\nexpected %r" % (mode, sorted(got), want))
EOF
}

# --- lockstat ---------------------------------------------------------------

# The table, -r, -P and -J, on hostile names.
t_lockstat_modes() {
	make_names d
	run lockstat -n -o PATH d
	expect_status 0
	printf '%s\n' "$out" >table
	no_controls table table
	decodes_to d table table
	# Byte by byte, under a UTF-8 locale: printable UTF-8 passes as it is.
	grep -qxF 'd/x\x1b]0;pwned\x07\x1b[2Jy.lock' table || fail "ESC row: $(cat table)"
	grep -qxF 'd/n\x0aremoved FORGED.lock (stale)' table || fail "LF row: $(cat table)"
	grep -qxF 'd/cr\x0dhidden.lock' table || fail "CR row"
	grep -qxF 'd/bad\xffname.lock' table || fail "invalid UTF-8 row"
	grep -qxF "d/$(printf 'emoji\360\237\230\200.lock')" table || fail "4-byte UTF-8 row"
	grep -qxF "d/$(printf '\344\270\255\346\226\207.lock')" table || fail "CJK row"
	grep -qxF "d/$(printf 'e\314\201.lock')" table || fail "combining mark row"
	grep -qxF 'd/lit\x5cx41.lock' table || fail "literal \\x row"
	[ "$(wc -l <table)" = ${#NAMES[@]} ] || fail "rows: $(cat table)"
	# -r: blanks escaped too, and everything that is not ASCII
	run lockstat -r -n -o PATH d
	printf '%s\n' "$out" >raw
	no_controls raw raw
	decodes_to d raw raw
	grep -qxF 'd/n\x0aremoved\x20FORGED.lock\x20(stale)' raw || fail "-r: $(cat raw)"
	LC_ALL=C python3 -c 'import sys; sys.stdin.buffer.read().decode("ascii")' <raw ||
		fail "-r is not ASCII: $(cat raw)"
	# -P: KEY="value"
	run lockstat -P -o PATH d
	expect_status 0
	printf '%s\n' "$out" >pairs
	no_controls pairs pairs
	decodes_to d pairs pairs
	# the default table (every column) is safe too, one line per file
	run lockstat d
	printf '%s\n' "$out" >default
	no_controls default default
	[ "$(wc -l <default)" = $((${#NAMES[@]} + 1)) ] || fail "default table: $(cat default)"
	# JSON: the names exactly (valid UTF-8), the invalid byte as U+FFFD
	run lockstat -J -o PATH d
	printf '%s' "$out" | python3 -c '
import json, os, sys
raw = sys.stdin.buffer.read()
got = sorted(o["path"] for o in json.loads(raw.decode("utf-8"))["locks"])
want = sorted("d/" + os.fsdecode(n).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
              for n in os.listdir(b"d"))
assert got == want, (got, want)
assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw, raw
' || fail "-J: $out"
}

# Under the C locale, as util-linux: every byte above 0x7f is escaped.
t_lockstat_c_locale() {
	make_names d
	LC_ALL=C run lockstat -n -o PATH d
	expect_status 0
	printf '%s\n' "$out" >table
	python3 -c 'import sys; sys.stdin.buffer.read().decode("ascii")' <table ||
		fail "not ASCII under LC_ALL=C: $(cat table)"
	decodes_to d table table
	grep -qxF 'd/emoji\xf0\x9f\x98\x80.lock' table || fail "4-byte UTF-8 under C: $(cat table)"
}

# Records and /proc text: a message (wide, combining, not UTF-8) and the
# command name of a holder (ESC, from /proc/PID/comm).
t_lockstat_record_text() {
	mkdir d
	local msg hostile
	msg=$(printf 'msg\377 \344\270\255\346\226\207 e\314\201 \360\237\230\200')
	lockrun -m "$msg" d/m.lock sh -c 'echo ready >m.ready; exec sleep 30' &
	track $!
	wait_until test -s m.ready || return
	run lockstat -n -o MESSAGE d/m.lock
	expect_out "$(printf 'msg\\xff \344\270\255\346\226\207 e\314\201 \360\237\230\200')"
	run lockstat -J -o MESSAGE d/m.lock
	printf '%s' "$out" | python3 -c '
import json, sys
m = json.loads(sys.stdin.buffer.read().decode("utf-8"))["locks"][0]["message"]
assert m == "msg\ufffd \u4e2d\u6587 e\u0301 \U0001f600", ascii(m)' || fail "-J message: $out"
	# a holder whose command name has ESC and BEL in it
	hostile="h$(printf '\033]0;t\007')x"
	cp /usr/bin/flock "$T/$hostile"
	: >d/f.lock
	"$T/$hostile" d/f.lock sleep 30 &
	track $!
	wait_until is_locked d/f.lock || return
	run lockstat -n -o PID,COMMAND,TYPE d/f.lock
	printf '%s\n' "$out" >cmd
	no_controls command cmd
	printf '%s\n' "$out" | grep -Eq '^ *[0-9]+ h\\x1b\]0;t\\x07x +FLOCK$' ||
		fail "COMMAND: $out"
}

# COLUMNS=60: every line fits in 60 columns (wide characters count 2,
# combining marks 0), is cut between characters, and the columns line up;
# COLUMNS=200: the long path and the message are whole.
t_table_width() {
	local dir msg
	dir=$T/$(printf '%050d' 0 | tr 0 p)
	mkdir "$dir"
	msg=$(printf '\344\270\255\346\226\207%.0s' 1 2 3 4 5 6 7 8 9 10 11 12)
	msg="$msg $(printf 'e\314\201%.0s' 1 2 3 4 5 6 7 8 9 10) end"
	lockrun -m "$msg" "$dir/a-rather-long-name.lock" sh -c 'echo ready >w.ready; exec sleep 30' &
	track $!
	wait_until test -s w.ready || return
	: >"$dir/$(printf '\344\270\255.lock')"
	: >"$dir/plain.lock"
	for cols in 60 200; do
		run env COLUMNS=$cols lockstat -o PATH,STATE,FILEPID,MESSAGE "$dir"
		expect_status 0
		printf '%s\n' "$out" >table.$cols
		no_controls "COLUMNS=$cols" table.$cols
		python3 - "$cols" "table.$cols" "$dir" "$msg" <<'EOF' || fail "COLUMNS=$cols: $(cat table.$cols)"
import sys, unicodedata
cols, path, d, msg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(path, encoding="utf-8").read().splitlines()
assert len(lines) == 4, lines
for l in lines:
    assert width(l) <= cols, (width(l), l)
# STATE starts at one display column on every line
starts = set()
for l in lines:
    for st in ("STATE", "live", "free"):
        i = l.find(" " + st + " ")
        if i >= 0:
            starts.add(width(l[:i + 1]))
            break
assert len(starts) == 1, (starts, lines)
if cols == 200:
    assert any(d + "/a-rather-long-name.lock" in l for l in lines), lines
    assert any(l.rstrip().endswith(msg) for l in lines), lines
else:
    assert not any(d in l for l in lines), "not truncated"
EOF
	done
}

# --- JSON -------------------------------------------------------------------

# Every key, its type (check-json.py is the schema of lockstat(1)), and
# the keys lslocks -J also has mean what they mean there.
t_json_schema() {
	mkdir d
	lockrun -m 'm' d/live.lock sh -c 'echo ready >j.ready; exec sleep 30' &
	track $!
	: >d/free.lock
	echo "$(dead_pid)" >d/dead.pid
	echo 42abc >d/bad.pid
	: >d/f.lock
	/usr/bin/flock -s d/f.lock sleep 30 &
	track $!
	wait_until test -s j.ready || return
	wait_until is_locked d/f.lock || return
	local all=path,state,filepid,filecommand,since,age,host,holders,message,pid,command,waiters,mode,type,format,uid,boot,reason,holder,owner,size,inode
	run lockstat -J d
	expect_status 0
	printf '%s' "$out" | python3 "$CHECK_JSON" lockstat >/dev/null || fail "default keys: $out"
	run lockstat -J --output-all d
	printf '%s' "$out" >all.json
	python3 "$CHECK_JSON" lockstat --keys "$all" <all.json >/dev/null || fail "--output-all: $out"
	run lockstat -J --output-all --time-format=iso --bytes d
	printf '%s' "$out" | python3 "$CHECK_JSON" lockstat --keys "$all" --iso --bytes >/dev/null ||
		fail "--time-format=iso --bytes: $out"
	run lockstat -J -o PATH,STATE,SINCE --time-format=iso d/live.lock
	printf '%s' "$out" | python3 -c '
import datetime, json, sys, time
since = json.load(sys.stdin)["locks"][0]["since"]
t = datetime.datetime.fromisoformat(since).timestamp()
assert abs(t - time.time()) < 120, since' || fail "iso since: $out"
	# lslocks -J about the same locks: pid, command, type, mode, path,
	# inode and size mean the same.
	lslocks -J -o PID,COMMAND,TYPE,MODE,PATH,INODE,SIZE >lslocks.json || { fail "lslocks -J"; return; }
	python3 - all.json lslocks.json "$T" <<'EOF' || fail "lockstat and lslocks disagree (see above)"
import json, os, sys
ours = {o["inode"]: o for o in json.load(open(sys.argv[1]))["locks"] if o["holders"]}
theirs = json.load(open(sys.argv[2]))["locks"]
seen = 0
for t in theirs:
    o = ours.get(t["inode"])
    if o is None or not (t["path"] or "").startswith(sys.argv[3]):
        continue
    seen += 1
    for k in ("pid", "command", "type", "mode"):
        assert o[k] == t[k], (k, o[k], t[k])
    # (lslocks names the inode lockrun created unnamed as "#N (deleted)")
    if not t["path"].endswith(" (deleted)"):
        assert os.path.realpath(o["path"]) == t["path"], (o["path"], t["path"])
    # lslocks writes no size for an empty file; ours says 0B
    assert t["size"] in (o["size"], None), (o["size"], t["size"])
assert seen == 2, "locks seen by both: %d" % seen
EOF
	# the file's PID has a name of its own
	python3 -c '
import json, sys
by = {o["path"]: o for o in json.load(open("all.json"))["locks"]}
assert by["d/dead.pid"]["filepid"] > 0 and by["d/dead.pid"]["pid"] is None, by["d/dead.pid"]
assert by["d/live.lock"]["filepid"] != by["d/live.lock"]["pid"], by["d/live.lock"]
assert by["d/live.lock"]["holders"] == [by["d/live.lock"]["pid"]], by["d/live.lock"]
assert by["d/f.lock"]["format"] == "flock" and by["d/f.lock"]["mode"] == "READ", by["d/f.lock"]
' || fail "filepid and pid: $(cat all.json)"
}

# --- watch --------------------------------------------------------------------

# rounds FILE PATTERN N: FILE has at least N lines matching PATTERN.
rounds() { [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ]; }

# watch_until_two OUT ARGS...: lockstat -w 100ms ARGS >OUT until two rounds
# are written (no time is assumed), then SIGINT; it must exit 0.
watch_until_two() {
	local out=$1 pattern=$2 p
	shift 2
	lockstat -w 100ms "$@" >"$out" 2>"$out.err" &
	p=$!
	wait_until rounds "$out" "$pattern" 2 || { kill $p; return 1; }
	kill -INT $p
	wait $p || fail "lockstat -w $*: exit $? ($(cat "$out.err"))"
}

# Off a terminal: no screen control at all; -J -w: JSON Lines.
t_watch_not_a_tty() {
	mkdir d
	: >d/free.lock
	watch_until_two watch.out '^PATH ' d || return
	no_controls watch watch.out
	watch_until_two watch.json '^{"locks": ' -J d || return
	no_controls json-lines watch.json
	python3 "$CHECK_JSON" lockstat --lines <watch.json >/dev/null || fail "JSON Lines: $(cat watch.json)"
}

# --- lockclean ------------------------------------------------------------------

# The report in every mode, with hostile names removed and kept.
t_lockclean_modes() {
	local dead
	dead=$(dead_pid)
	make_names d "$dead
"
	make_names k
	cp -a d d2
	run lockclean -n -v --pidfiles d
	expect_status 0
	printf '%s\n' "$out" >dry
	no_controls dry dry
	grep -q '^removed FORGED' dry && fail "a forged line: $(cat dry)"
	# header, one row per file, summary
	[ "$(wc -l <dry)" = $((${#NAMES[@]} + 2)) ] || fail "rows: $(cat dry)"
	grep -qF 'd/x\x1b]0;pwned\x07\x1b[2Jy.lock' dry || fail "ESC row: $(cat dry)"
	grep -qF 'd/n\x0aremoved FORGED.lock (stale)' dry || fail "LF row: $(cat dry)"
	[ "$(tail -n1 dry)" = "would remove ${#NAMES[@]}, kept 0, failed 0" ] || fail "summary: $(tail -n1 dry)"
	run lockclean -n -J --pidfiles d
	printf '%s' "$out" | python3 "$CHECK_JSON" lockclean --dry-run >/dev/null || fail "-n -J: $out"
	printf '%s' "$out" | grep -q "$(printf '\033')" && fail "-J: raw ESC"
	run lockclean -v --pidfiles d
	expect_status 0
	printf '%s\n' "$out" >real
	no_controls real real
	grep -q '^removed FORGED' real && fail "a forged line: $(cat real)"
	[ "$(tail -n1 real)" = "removed ${#NAMES[@]}, kept 0, failed 0" ] || fail "summary: $(tail -n1 real)"
	run lockclean -J --pidfiles d2
	printf '%s' "$out" | python3 "$CHECK_JSON" lockclean >/dev/null || fail "-J: $out"
	[ -z "$(ls -A d; ls -A d2)" ] || fail "left: $(ls -A d d2)"
	run lockclean -v k
	printf '%s\n' "$out" >kept
	no_controls kept kept
	[ "$(tail -n1 kept)" = "removed 0, kept ${#NAMES[@]}, failed 0" ] || fail "summary: $(tail -n1 kept)"
}

# Sorted by path, whatever the directory's order; the summary; the status.
t_lockclean_sorted() {
	mkdir d
	local f
	for f in m c x a q b; do : >d/$f.lock; done
	run lockclean -v d
	expect_status 0
	[ "$(printf '%s\n' "$out" | awk '$1 == "kept" { print $2 }' | tr '\n' ' ')" = \
		"d/a.lock d/b.lock d/c.lock d/m.lock d/q.lock d/x.lock " ] || fail "order: $out"
	[ "$(printf '%s\n' "$out" | tail -n1)" = "removed 0, kept 6, failed 0" ] || fail "summary: $out"
	run lockclean -J d
	printf '%s' "$out" | python3 "$CHECK_JSON" lockclean >/dev/null || fail "-J: $out"
}

# A target that cannot be looked at is in the report, -J included, and the
# exit status says so.
t_lockclean_target_errors() {
	local long
	long=$T/$(printf '%04100d' 0 | sed 's/0000/d\/d\//g')
	run lockclean -J "$long/x.lock"
	expect_status 1
	printf '%s' "$out" | python3 "$CHECK_JSON" lockclean >/dev/null || fail "-J, ENAMETOOLONG: $out"
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [f["action"] for f in d["files"]] == ["failed"], d
assert d["files"][0]["reason"] == "File name too long", d
assert d["summary"]["failed"] == 1, d' || fail "ENAMETOOLONG report: $out"
	expect_err ""
	need_root || return 0
	mkdir -m 700 private
	: >private/x.lock
	run $AS_NOBODY lockclean -J "$T/private"
	expect_status 1
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [(f["action"], f["reason"]) for f in d["files"]] == [("failed", "Permission denied")], d
assert d["summary"] == {"removed": 0, "kept": 0, "failed": 1}, d' ||
		fail "unopenable directory: $out"
	# and the text report names it, escaped, on stderr too
	mkdir -m 700 "$(printf 'p\033[2J')"
	run $AS_NOBODY lockclean -v "$T/$(printf 'p\033[2J')"
	expect_status 1
	expect_err "lockclean: $T/p\\x1b[2J: Permission denied"
}

# --- lockrun and error messages ------------------------------------------------

# "held by ..." and every message that quotes a path or a name.
t_lockrun_messages() {
	local p msg hostile
	mkdir d
	p=d/$(printf 'x\033]0;pwned\007\033[2Jy.lock')
	msg=$(printf 'msg\377 \344\270\255')
	lockrun -m "$msg" "$p" sh -c 'echo ready >r.ready; exec sleep 30' &
	track $!
	wait_until test -s r.ready || return
	run lockrun -n "$p" true
	expect_status 1
	printf '%s\n' "$err" >busy
	no_controls busy busy
	[ "$(wc -l <busy)" = 1 ] || fail "not one line: $err"
	printf '%s' "$err" | grep -qF "lockrun: d/x\\x1b]0;pwned\\x07\\x1b[2Jy.lock: held by PID " ||
		fail "path: $err"
	printf '%s' "$err" | grep -qF "$(printf ': msg\\xff \344\270\255')" || fail "message: $err"
	# a plain pidfile of a process whose command name is hostile
	hostile="z$(printf '\033[2J\r')"
	cp /bin/sleep "$T/$hostile"
	"$T/$hostile" 30 &
	track $!
	echo $! >d/plain.pid
	wait_until grep -q '^z' "/proc/$(cat d/plain.pid)/comm" || return
	run lockrun -n d/plain.pid true
	printf '%s\n' "$err" >plain
	no_controls plain plain
	printf '%s' "$err" | grep -qF "held by PID $(cat d/plain.pid) (z\\x1b[2J\\x0d), per its pidfile" ||
		fail "plain pidfile: $err"
	# errors that quote what was given
	run lockrun "$T/$(printf 'no\033dir')/x.lock" true
	expect_status 66
	expect_err "lockrun: $T/no\\x1bdir/x.lock: No such file or directory"
	run lockrun -w "$(printf '1\033')" x true
	expect_status 64
	printf '%s\n' "$err" >usage
	no_controls usage usage
	run lockstat -o "$(printf 'PATH,X\033')"
	expect_status 64
	expect_err "lockstat: unknown column: X\\x1b"
	run lockstat "$(printf 'a\033b%0250d' 0)"
	expect_status 1
	expect_err "lockstat: a\\x1bb$(printf '%0250d' 0): invalid lock name"
	run lockclean "$T/$(printf 'no\033dir')/x.lock"
	expect_status 1
	expect_err "lockclean: $T/no\\x1bdir: No such file or directory"
}

# As root in a sticky 1777 directory where nobody made the names: seen
# through lockstat, lockstat -r and lockclean -v.
t_root_sees_nobodys_names() {
	need_root || return 0
	local dead n
	dead=$(dead_pid)
	mkdir -m 1777 pub
	for n in "${NAMES[@]}"; do
		$AS_NOBODY sh -c 'printf "%s\n" "$1" >"$2"' sh "$dead" "pub/$(printf "$n")" ||
			{ fail "nobody could not create $n"; return; }
	done
	[ "$(stat -c %U "pub/$(printf "${NAMES[0]}")")" = nobody ] || fail "not nobody's"
	run lockstat pub
	printf '%s\n' "$out" >stat
	no_controls lockstat stat
	[ "$(wc -l <stat)" = $((${#NAMES[@]} + 1)) ] || fail "lockstat rows: $(cat stat)"
	run lockstat -r pub
	printf '%s\n' "$out" >raw
	no_controls lockstat-r raw
	run lockclean -n -v pub
	printf '%s\n' "$out" >clean
	no_controls lockclean clean
	grep -q '^removed FORGED' clean && fail "a forged line: $(cat clean)"
	[ "$(wc -l <clean)" = $((${#NAMES[@]} + 2)) ] || fail "lockclean rows: $(cat clean)"
	run lockclean -v --pidfiles pub
	printf '%s\n%s\n' "$out" "$err" >clean2
	no_controls lockclean-real clean2
	grep -q '^removed FORGED' clean2 && fail "a forged line: $(cat clean2)"
	return 0
}

# --- lockstat's exit status and help ----------------------------------------------

t_lockstat_missing() {
	mkdir d
	: >d/here.lock
	run lockstat d/nosuch.lock
	expect_status 2
	expect_out_match 'd/nosuch\.lock +none'
	PIDLOCK_DIR=$T/d run lockstat -n -o STATE nosuchname
	expect_status 2
	expect_out "none"
	run lockstat -J d/here.lock d/nosuch.lock
	expect_status 2
	run lockstat -q d/nosuch.lock
	expect_status 2
	expect_out ""
	run lockstat d/here.lock
	expect_status 0
	# the LSB codes of --status are unchanged: 3, not running
	run lockstat --status d/nosuch.lock
	expect_status 3
}

# -a without /proc/locks is an error, not an empty table.
t_lockstat_all_without_proc_locks() {
	need_root || return 0
	[ -z "$SANITIZED" ] || { skip_test "the sanitizers' runtime needs /proc"; return 0; }
	run unshare -m sh -c 'umount -l /proc || exit 90; exec lockstat -a'
	expect_status 1
	expect_err_match '^lockstat: /proc/locks: .*cannot list the locks'
}

t_lockstat_help() {
	run lockstat --help
	expect_status 0
	printf '%s\n' "$out" | awk 'length($0) > 80 { print; bad = 1 } END { exit bad }' ||
		fail "--help lines over 80 columns"
	local s
	for s in live live-inherited stale reused foreign free remote corrupt unsafe unknown none; do
		printf '%s\n' "$out" | sed -n '/^States:/,$p' | grep -qw -- "$s" || fail "--help: no state $s"
	done
	for s in PATH STATE FILEPID FILECOMMAND PID COMMAND TYPE FORMAT WAITERS SIZE; do
		printf '%s\n' "$out" | grep -Eq "^ +$s  " || fail "--help: no column $s"
	done
	for s in --pairs --time-format --bytes --output-all --noheadings; do
		printf '%s\n' "$out" | grep -q -- "$s" || fail "--help: no $s"
	done
}

[ $# -gt 0 ] && run_tests "$@"
run_tests t_lockstat_modes t_lockstat_c_locale t_lockstat_record_text \
	t_table_width t_json_schema t_watch_not_a_tty t_lockclean_modes \
	t_lockclean_sorted t_lockclean_target_errors t_lockrun_messages \
	t_root_sees_nobodys_names t_lockstat_missing \
	t_lockstat_all_without_proc_locks t_lockstat_help
