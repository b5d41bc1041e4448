#!/bin/bash
# SPDX-License-Identifier: MIT
# lockrun --etcd and lockstat --etcd given bad input: each a clear
# message, a distinct exit status, and nothing held on etcd.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-etcd.sh"

# fake MODE: a fake gateway (fake-etcd.py); sets $FAKE_URL.
fake() {
	$PY "$TOP/tests/tools/fake-etcd.py" "$1" "$T/port" &
	track $!
	wait_until test -s "$T/port" || return
	FAKE_URL=http://127.0.0.1:$(cat "$T/port")
}

t_unreachable() {
	port=$(free_port)
	run lockrun --etcd "http://127.0.0.1:$port" -N x touch ran
	expect_status 68
	expect_err_match "^lockrun: x: cannot get a lease: http://127.0.0.1:$port/v3/lease/grant: Couldn't connect to server$"
	expect_no_file ran
	run lockstat --etcd "http://127.0.0.1:$port"
	expect_status 68
}

t_bad_endpoint_and_config() {
	run lockrun --etcd 'ftp://host' -N x true
	expect_status 64
	expect_err_match "invalid endpoint 'ftp://host'"
	env -u LOCKRUN_ETCD_ENDPOINTS LOCKRUN_ETCD_CONFIG="$T/none" \
		lockrun --etcd '' -N x true 2>err
	[ $? = 64 ] || fail "no endpoint: status not 64"
	grep -q "$T/none" err || fail "stderr: $(cat err)"
	printf 'endpoints = http://127.0.0.1:1\nbogus = 1\n' >conf
	LOCKRUN_ETCD_CONFIG=$PWD/conf run lockrun -N x --etcd '' true
	expect_status 64
	expect_err_match "unknown key 'bogus'"
	run lockrun --etcd http://127.0.0.1:1 --ttl 1 -N x true
	expect_status 64
	run lockrun --etcd http://127.0.0.1:1 -s -N x true
	expect_status 64
	# the start/stop verbs are the local lock's (a remote holder is
	# never signalled): refused before anything reaches etcd
	run lockrun --etcd http://127.0.0.1:1 --stop -N x
	expect_status 64
	expect_err_match "--etcd takes none of --stop"
	for verb in --replace --respawn -b; do
		run lockrun --etcd http://127.0.0.1:1 $verb -N x true
		expect_status 64
		expect_err_match "--etcd takes none of --stop"
	done
}

t_long_and_control_names() {
	long=$(printf 'n%.0s' $(seq 256))
	run lockrun --etcd http://127.0.0.1:1 -N "$long" touch ran
	expect_status 64
	expect_err_match 'longer than 255 bytes'
	run lockrun --etcd http://127.0.0.1:1 -N "$(printf 'a\033b')" touch ran
	expect_status 64
	expect_err_match '^lockrun: a\\x1bb: control character in lock name$'
	expect_no_file ran
	run lockstat --etcd http://127.0.0.1:1 "$long"
	expect_status 64
}

t_malformed_replies() {
	for mode in garbage shape huge; do
		rm -f port
		fake $mode || return
		run lockrun --etcd "$FAKE_URL" -N x touch ran
		[ "$status" = 76 ] || fail "$mode: status $status, expected 76 ($err)"
		case $err in *$'\033'*) fail "$mode: raw escape in '$err'" ;; esac
		expect_no_file ran
		kill_tracked
	done
	rm -f port
	fake error || return
	run lockrun --etcd "$FAKE_URL" -N x touch ran
	expect_status 69
	expect_err_match 'HTTP 500: bad \\x1b\[31m thing'
	expect_no_file ran
}

# bad_and_good_conf STATUS PATTERN: with bad.conf lockrun is refused with
# STATUS and a message matching PATTERN, and runs nothing; with good.conf
# it runs with a token, and lockstat sees the lock free afterwards.
bad_and_good_conf() {
	LOCKRUN_ETCD_CONFIG=$PWD/bad.conf run lockrun --etcd "$ETCD_URL" -N a touch ran
	expect_status "$1"
	expect_err_match "$2"
	expect_no_file ran
	LOCKRUN_ETCD_CONFIG=$PWD/good.conf run lockrun --etcd "$ETCD_URL" -N a sh -c 'echo $LOCKRUN_FENCING_TOKEN'
	expect_status 0
	[ "$out" -gt 0 ] 2>/dev/null || fail "token '$out'"
	LOCKRUN_ETCD_CONFIG=$PWD/good.conf run lockstat --etcd "$ETCD_URL" --status a
	expect_status 3
}

# etcd with authentication: a wrong password is refused with 77; the
# right one works (the token is sent on every call).
t_auth() {
	etcd_start "$T/etcd" || return
	etcdctl --endpoints "$ETCD_URL" user add root:rootpw >/dev/null &&
		etcdctl --endpoints "$ETCD_URL" auth enable >/dev/null 2>&1 ||
		{ fail "cannot enable auth"; return; }
	printf 'user = root\npassword = wrong\n' >bad.conf
	printf '# ok\nuser = root\npassword = rootpw\n' >good.conf
	bad_and_good_conf 77 'authentication failed'
	run lockstat --etcd "$ETCD_URL" a
	expect_status 77
}

# TLS: the CA file that signed the server's certificate and a client
# certificate work; another CA is refused with 78, and nothing runs.
t_tls() {
	command -v openssl >/dev/null || { skip_test "openssl is not installed (apt-get install openssl)"; return; }
	make_certs "$T/certs" || { fail "cannot make certificates"; return; }
	etcd_start_tls "$T/etcd" "$T/certs" || return
	c=$T/certs
	printf 'cacert = %s\ncert = %s\nkey = %s\n' "$c/otherca.pem" "$c/client.pem" "$c/client.key" >bad.conf
	printf 'cacert = %s\ncert = %s\nkey = %s\n' "$c/ca.pem" "$c/client.pem" "$c/client.key" >good.conf
	bad_and_good_conf 78 'SSL peer certificate'
}

run_tests t_unreachable t_bad_endpoint_and_config t_long_and_control_names \
	t_malformed_replies t_auth t_tls
