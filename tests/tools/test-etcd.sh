#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun --etcd and lockstat --etcd against a real etcd on loopback:
# exclusion (also with etcdctl lock), handoff, the holder's record and
# token, lease loss.  Bad input: test-etcd-input.sh; a 3-member cluster:
# test-etcd-cluster.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-etcd.sh"

T=$SUITE_DIR/main
mkdir -p "$T"
etcd_start "$SUITE_DIR/etcd" || { echo "etcd did not start"; exit 1; }
E=$ETCD_URL

# keys_are PREFIX N: N keys under PREFIX on the suite's etcd.
keys_are() { [ "$(etcd_key_count "$E" "$1")" = "$2" ]; }

# A held lock refuses -n with the holder's record and the token; the
# command gets the token, lease and key.
t_conflict_names_holder() {
	lockrun --etcd "$E" -N conflict -m 'nightly backup' sh -c \
		'echo "$LOCKRUN_FENCING_TOKEN $LOCKRUN_ETCD_LEASE $LOCKRUN_ETCD_KEY" >env; exec sleep 30' &
	track $!
	wait_until test -s env || return
	read -r token lease key <env
	[ "$key" = "conflict/$lease" ] || fail "key '$key', lease '$lease'"
	[ "$token" -gt 0 ] 2>/dev/null || fail "token '$token'"
	run lockrun --etcd "$E" -N conflict -n true
	expect_status 1
	expect_err_match "^lockrun: conflict: held by PID [0-9]+ \(sh\) since .*: nightly backup \(etcd token $token\)$"
	run lockrun --etcd "$E" -N conflict -n -E 9 true
	expect_status 9
}

# A clean exit revokes the lease: the next lockrun gets the lock at once
# with a larger token, and nothing is left under the prefix.
t_release_revokes() {
	run lockrun --etcd "$E" -N rel sh -c 'echo $LOCKRUN_FENCING_TOKEN'
	expect_status 0
	first=$out
	[ "$(etcd_key_count "$E" rel/)" = 0 ] || fail "keys left under rel/"
	run lockrun --etcd "$E" -N rel -n sh -c 'echo $LOCKRUN_FENCING_TOKEN; exit 3'
	expect_status 3
	[ "$out" -gt "$first" ] || fail "token $out after $first"
}

# A fractional --ttl is rounded up to etcd's whole seconds, never down: a
# lease shorter than asked would expire before lockrun's deadlines, which
# count from the TTL asked for.
t_fractional_ttl_rounds_up() {
	run lockrun --etcd "$E" -N frac --ttl 2.5s sh -c \
		'etcdctl --endpoints "$1" lease timetolive "$LOCKRUN_ETCD_LEASE"' sh "$E"
	expect_status 0
	case $out in
	*"granted with TTL(3s)"*) ;;
	*) fail "--ttl 2.5s: '$out' (want a lease granted with TTL(3s))" ;;
	esac
}

# Handoff after a clean exit is immediate (a waiter is woken by etcd, not
# by the TTL of 10 s running out).
t_handoff_clean() {
	mkfifo go
	lockrun --etcd "$E" -N hand sh -c 'cat go >/dev/null; date +%s%3N >a_end' &
	track $!
	wait_until lockstat --etcd "$E" -q --status hand || return
	lockrun --etcd "$E" -N hand -w 20 sh -c 'date +%s%3N >b_start' &
	b=$!
	track $b
	wait_until keys_are hand/ 2 || return
	timeout 5 sh -c 'echo x >go' || { fail "the holder's command is gone"; return; }
	wait_until sh -c "! kill -0 $b 2>/dev/null" || return
	wait $b || fail "waiter exited $?"
	gap=$(( $(cat b_start) - $(cat a_end) ))
	echo "handoff after a clean exit: $gap ms"
	[ "$gap" -lt 2000 ] || fail "handoff took $gap ms"
}

# A SIGKILLed lockrun: its command dies with it (it must not run on
# without the lease), and a waiter gets the lock once the lease expires.
t_handoff_sigkill() {
	lockrun --etcd "$E" --ttl 2 -N killed sh -c 'echo $$ >pid; exec sleep 60' &
	a=$!
	track $a
	wait_until test -s pid || return
	lockrun --etcd "$E" -N killed -w 20 sh -c 'date +%s%3N >b_start' &
	b=$!
	track $b
	wait_until keys_are killed/ 2 || return
	t0=$(now_ms)
	kill -9 $a
	wait_until sh -c '! kill -0 $(cat pid) 2>/dev/null' || return
	wait_until sh -c "! kill -0 $b 2>/dev/null" || return
	wait $b || fail "waiter exited $?"
	gap=$(( $(cat b_start) - t0 ))
	echo "handoff after SIGKILL (TTL 2 s): $gap ms"
	[ "$gap" -lt 4000 ] || fail "handoff after SIGKILL took $gap ms"
}

# SIGTERM to a waiting lockrun: it revokes its lease (its queued key goes
# at once, not after the TTL of 30 s) and dies by the signal.
t_term_while_waiting() {
	lockrun --etcd "$E" -N termw sh -c 'echo x >held; exec sleep 30' &
	track $!
	wait_until test -s held || return
	lockrun --etcd "$E" --ttl 30 -N termw -w 60 touch ran 2>err &
	b=$!
	track $b
	wait_until keys_are termw/ 2 || return
	kill -TERM $b
	wait_until keys_are termw/ 1 || return
	wait_until sh -c "! kill -0 $b 2>/dev/null" || return
	wait $b
	st=$?
	[ $st = 143 ] || fail "waiter exited $st, expected death by SIGTERM (143): $(cat err)"
	expect_no_file ran
}

# lockrun --etcd and etcdctl lock exclude each other (the same mutex).
t_etcdctl_excludes() {
	etcdctl --endpoints "$E" lock --ttl 2 ectl -- sh -c 'echo held >held; exec sleep 30' >/dev/null &
	track $!
	wait_until test -s held || return
	run lockrun --etcd "$E" -N ectl -n true
	expect_status 1
	expect_err_match "^lockrun: ectl: held by key ectl/[0-9a-f]+ \(no lockrun record"
	kill_tracked
	wait_until keys_are ectl/ 0 || return
	lockrun --etcd "$E" -N ectl sh -c 'echo held >held2; exec sleep 30' &
	track $!
	wait_until test -s held2 || return
	run timeout 2 etcdctl --endpoints "$E" lock ectl echo got-it
	[ "$out" != got-it ] || fail "etcdctl lock got the lock lockrun holds"
}

# lockstat --etcd: table, JSON, --status, with record, TTL and token.
t_lockstat() {
	lockrun --etcd "$E" --ttl 5 -N 'stat/one' -m 'msg	tab' sh -c 'echo $LOCKRUN_FENCING_TOKEN >tok; exec sleep 30' &
	track $!
	wait_until test -s tok || return
	run lockstat --etcd "$E" -n -r stat/one
	expect_status 0
	set -- $out
	[ "$1 $2" = "stat/one $(cat tok)" ] || fail "row '$out'"
	[ "$3" -ge 1 ] && [ "$3" -le 5 ] || fail "TTL '$3' in '$out'"
	expect_out_match ' sh '
	expect_out_match 'msg\\x09tab'
	run lockstat --etcd "$E" -J
	printf '%s' "$out" | $PY -c '
import json, sys
d = json.load(sys.stdin)
l = [x for x in d["locks"] if x["name"] == "stat/one"]
assert len(l) == 1 and l[0]["message"] == "msg\ttab" and l[0]["command"] == "sh", d
assert isinstance(l[0]["token"], int) and l[0]["waiters"] == 0, d' || fail "JSON: $out"
	run lockstat --etcd "$E" --status stat/one
	expect_status 0
	run lockstat --etcd "$E" --status stat/none
	expect_status 3
}

# kill -STOP of etcd while the command runs: lockrun stops the command
# before the lease can expire and exits 120; the next holder's token is
# larger and it starts only after the first command ended.
t_lease_loss() {
	etcd_start "$T/etcd" || return
	lockrun --etcd "$ETCD_URL" --ttl 3 -N lost sh -c \
		'echo $LOCKRUN_FENCING_TOKEN >tok; trap "date +%s%3N >a_end; exit 0" TERM; while :; do sleep 0.05; done' \
		>/dev/null 2>err &
	a=$!
	track $a
	wait_until test -s tok || return
	t0=$(now_ms)
	kill -STOP "$ETCD_PID"
	# lockrun must end by itself within the TTL (3 s); 10 s bound a hang
	wait_until sh -c "! kill -0 $a 2>/dev/null"
	kill -CONT "$ETCD_PID"
	kill -9 $a 2>/dev/null
	wait $a
	st=$?
	[ $st = 120 ] || fail "lockrun exited $st, expected 120"
	grep -q 'the lock was lost' err || fail "stderr: $(cat err)"
	stopped=$(( $(cat a_end) - t0 ))
	echo "command stopped $stopped ms after etcd was stopped (TTL 3000 ms)"
	[ "$stopped" -lt 3000 ] || fail "stopped after $stopped ms: past the TTL"
	run lockrun --etcd "$ETCD_URL" -N lost -w 20 sh -c 'echo $LOCKRUN_FENCING_TOKEN'
	expect_status 0
	[ "$out" -gt "$(cat tok)" ] || fail "next token $out, not above $(cat tok)"
}

# A revoked lease (etcdctl lease revoke) is lost at the next renewal.
t_lease_revoked() {
	lockrun --etcd "$E" --ttl 3 -N revoked sh -c \
		'echo $LOCKRUN_ETCD_LEASE >lease; exec sleep 30' 2>err &
	a=$!
	track $a
	wait_until test -s lease || return
	etcdctl --endpoints "$E" lease revoke "$(cat lease)" >/dev/null
	wait_until sh -c "! kill -0 $a 2>/dev/null"
	kill -9 $a 2>/dev/null
	wait $a
	st=$?
	[ $st = 120 ] || fail "lockrun exited $st, expected 120"
	grep -q 'expired or was revoked' err || fail "stderr: $(cat err)"
}

# Mutual exclusion under SIGKILL chaos: workers (half of them "on another
# host": a UTS namespace with its own host name) loop around a critical
# section that a symlink marks; holders are SIGKILLed at random.
t_chaos() {
	need_root || return
	cat >cs.sh <<'CS'
echo "$LOCKRUN_FENCING_TOKEN $LOCKRUN_ETCD_LEASE $(date +%s%3N)" >"tok.$$"
# A mark whose process is gone was left by a holder that was killed (or
# stopped on a lost lease) before it could clear it: only a live one is
# a second holder.  A zombie runs nothing (its lockrun was SIGKILLed and
# the orphan waits for PID 1 to reap it): gone too.
running() { s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$s" != Z ]; }
while ! ln -s "$$" cs 2>/dev/null; do
	other=$(readlink cs) || continue
	if running "$other"; then echo "$$ ($(cat tok.$$)) found $other ($(cat tok.$other)) at $(date +%s%3N)" >>violations; break; fi
	rm -f cs
done
echo "$LOCKRUN_FENCING_TOKEN $(hostname)" >>log
sleep 0.2
rm -f cs
CS
	deadline=$(( $(date +%s) + ${CHAOS_SECONDS:-12} ))
	for w in 1 2 3 4; do
		if [ $((w % 2)) = 0 ]; then pre="unshare --uts sh -c 'hostname host-b; exec \"\$0\" \"\$@\"'"; else pre=; fi
		( while [ "$(date +%s)" -lt $deadline ]; do
			eval "$pre lockrun --etcd \"$E\" --ttl 2 -N chaos -w 30 sh cs.sh" 2>>errs
		  done ) &
		track $!
	done
	kills=0
	while [ "$(date +%s)" -lt $deadline ]; do
		sleep 1
		# a lockrun whose command is in the critical section
		holder=$(readlink cs 2>/dev/null) || continue
		lr=$(awk '$1 == "PPid:" { print $2 }' "/proc/$holder/status" 2>/dev/null)
		[ -n "$lr" ] && ours "$lr" || { echo "no lockrun for $holder ($lr)"; continue; }
		kill -9 "$lr" && kills=$((kills + 1))
		# its command dies with it: the mark is left; clear it only once
		# that process is gone (the lease still keeps the others out)
		wait_until sh -c "s=\$(cut -d' ' -f3 /proc/$holder/stat 2>/dev/null) && [ \"\$s\" = Z ] || [ -z \"\$s\" ]" || return
		[ "$(readlink cs 2>/dev/null)" = "$holder" ] && rm -f cs
	done
	kill_tracked
	entries=$(wc -l <log)
	hosts=$(awk '{ print $2 }' log | sort -u | wc -l)
	echo "chaos: $entries critical sections, $kills holders SIGKILLed, $(cat violations 2>/dev/null | wc -l) violations, $hosts host names"
	[ ! -s violations ] || fail "violations: $(cat violations)"
	awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' log ||
		fail "fencing tokens not increasing: $(cat log | tr '\n' ' ')"
	[ "$hosts" -ge 2 ] || fail "one host name only"
	[ "$kills" -ge 2 ] || fail "only $kills SIGKILLs"
	[ "$entries" -ge 10 ] || fail "only $entries critical sections"
}

run_tests t_conflict_names_holder t_release_revokes t_fractional_ttl_rounds_up t_handoff_clean \
	t_handoff_sigkill t_term_while_waiting t_etcdctl_excludes t_lockstat t_lease_loss \
	t_lease_revoked t_chaos
