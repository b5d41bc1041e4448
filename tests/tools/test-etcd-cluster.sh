#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun --etcd on a 3-member etcd cluster on loopback: killing the
# member both lockruns talk to disturbs neither the holder nor the waiter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-etcd.sh"

t_member_killed() {
	etcd_cluster "$T/etcd" || return
	mkfifo go
	lockrun --etcd "$ETCD_URLS" --ttl 4 -N cl sh -c \
		'echo $LOCKRUN_FENCING_TOKEN >a_tok; cat go >/dev/null' 2>a_err &
	a=$!
	track $a
	wait_until test -s a_tok || return
	lockrun --etcd "$ETCD_URLS" --ttl 4 -N cl -w 60 sh -c \
		'echo $LOCKRUN_FENCING_TOKEN >b_tok' 2>b_err &
	b=$!
	track $b
	wait_until sh -c "etcdctl --endpoints '$ETCD_URL2' get --prefix --keys-only cl/ | grep -c . | grep -qx 2" || return
	kill -9 "$ETCD_PID1"
	# two TTLs with the first member gone (a leader election included): the holder keeps its lease
	# (renewed through the others), the waiter keeps waiting
	sleep 8
	kill -0 $a 2>/dev/null || fail "the holder ended: $(cat a_err)"
	kill -0 $b 2>/dev/null || fail "the waiter ended: $(cat b_err)"
	[ ! -e b_tok ] || fail "the waiter got the lock the holder holds"
	timeout 5 sh -c 'echo x >go' || { fail "the holder's command is gone"; return; }
	wait_until sh -c "! kill -0 $a 2>/dev/null && ! kill -0 $b 2>/dev/null" || return
	wait $a || fail "holder exited $?: $(cat a_err)"
	wait $b || fail "waiter exited $?: $(cat b_err)"
	[ "$(cat b_tok)" -gt "$(cat a_tok)" ] || fail "tokens $(cat a_tok) then $(cat b_tok)"
}

run_tests t_member_killed
