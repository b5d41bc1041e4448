# SPDX-License-Identifier: MIT
# Helpers of the etcd suites (test-etcd*.sh): real etcd servers on
# 127.0.0.1, random free ports, data in the suite's directory, all
# stopped when the suite exits however it ends.
#
#   etcd_start DIR [NAME CLUSTER PEERPORT CLIENTPORT]  one member; sets $ETCD_URL, $ETCD_PID
#   etcd_cluster DIR   three members; sets $ETCD_URLS (comma list), $ETCD_PIDS, $ETCD_URL1..3
#   free_port          a TCP port nobody listens on now

PY=/usr/bin/python3
ETCD_PIDFILE=$SUITE_DIR/.etcd-pids
export ETCDCTL_API=3

# Stops every etcd of the suite (the EXIT trap of lib.sh cleans the rest).
etcd_stop_all() {
	local p
	[ -f "$ETCD_PIDFILE" ] || return 0
	for p in $(cat "$ETCD_PIDFILE"); do
		kill -CONT "$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
	rm -f "$ETCD_PIDFILE"
}
trap "etcd_stop_all; $(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT$/\1/")" EXIT

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# etcd_healthy URL: the member answers and is part of a healthy cluster.
etcd_healthy() {
	etcdctl --endpoints "$1" --dial-timeout 1s --command-timeout 2s \
		endpoint health >/dev/null 2>&1
}

# etcd_spawn DIR NAME CLIENT PEER CLUSTER: starts one member in the
# background; prints its PID.
etcd_spawn() {
	mkdir -p "$1"
	etcd --name "$2" --data-dir "$1/data" \
		--listen-client-urls "http://127.0.0.1:$3" \
		--advertise-client-urls "http://127.0.0.1:$3" \
		--listen-peer-urls "http://127.0.0.1:$4" \
		--initial-advertise-peer-urls "http://127.0.0.1:$4" \
		--initial-cluster "$5" --initial-cluster-state new \
		--heartbeat-interval 50 --election-timeout 500 \
		>"$1/log" 2>&1 &
	echo $! >>"$ETCD_PIDFILE"
	echo $!
}

# etcd_start DIR: a single-member etcd; waits until it is healthy.
etcd_start() {
	local c p
	c=$(free_port) p=$(free_port)
	ETCD_PID=$(etcd_spawn "$1" default "$c" "$p" "default=http://127.0.0.1:$p")
	ETCD_URL=http://127.0.0.1:$c
	wait_etcd "$ETCD_URL" "$1/log"
}

# wait_etcd URL LOG: up to 20 s for a healthy member.
wait_etcd() {
	local i=0
	until etcd_healthy "$1"; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			fail "etcd at $1 did not start: $(tail -n 5 "$2")"
			return 1
		fi
		sleep 0.2
	done
}

# etcd_cluster DIR: three members on loopback.
etcd_cluster() {
	local i c1 c2 c3 p1 p2 p3 cluster
	c1=$(free_port) c2=$(free_port) c3=$(free_port)
	p1=$(free_port) p2=$(free_port) p3=$(free_port)
	cluster="m1=http://127.0.0.1:$p1,m2=http://127.0.0.1:$p2,m3=http://127.0.0.1:$p3"
	ETCD_PID1=$(etcd_spawn "$1/m1" m1 "$c1" "$p1" "$cluster")
	ETCD_PID2=$(etcd_spawn "$1/m2" m2 "$c2" "$p2" "$cluster")
	ETCD_PID3=$(etcd_spawn "$1/m3" m3 "$c3" "$p3" "$cluster")
	ETCD_URL1=http://127.0.0.1:$c1 ETCD_URL2=http://127.0.0.1:$c2
	ETCD_URL3=http://127.0.0.1:$c3
	ETCD_URLS=$ETCD_URL1,$ETCD_URL2,$ETCD_URL3
	for i in 1 2 3; do
		eval "wait_etcd \"\$ETCD_URL$i\" \"$1/m$i/log\"" || return 1
	done
}

# now_ms: CLOCK_MONOTONIC-free wall clock in ms, for ordering logs.
now_ms() { date +%s%3N; }

# etcd_key_count URL PREFIX: keys under PREFIX.
etcd_key_count() {
	etcdctl --endpoints "$1" get --prefix --keys-only "$2" | grep -c .
}

# make_certs DIR: a CA, a server certificate for 127.0.0.1 and a client
# certificate signed by it, and a second CA that signed none of them.
make_certs() {
	local d=$1 n
	mkdir -p "$d"
	for n in ca otherca; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$n" \
			-keyout "$d/$n.key" -out "$d/$n.pem" 2>/dev/null || return 1
	done
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/ext" &&
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=client \
		-keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null &&
	printf 'extendedKeyUsage=clientAuth\n' >"$d/cext" &&
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/cext" -out "$d/client.pem" 2>/dev/null
}

# etcd_start_tls DIR CERTS: a single member serving clients over TLS and
# asking for a client certificate signed by CERTS/ca.pem.
etcd_start_tls() {
	local c p
	c=$(free_port) p=$(free_port)
	mkdir -p "$1"
	etcd --name default --data-dir "$1/data" \
		--listen-client-urls "https://127.0.0.1:$c" \
		--advertise-client-urls "https://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" \
		--initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "default=http://127.0.0.1:$p" \
		--cert-file "$2/server.pem" --key-file "$2/server.key" \
		--client-cert-auth --trusted-ca-file "$2/ca.pem" >"$1/log" 2>&1 &
	ETCD_PID=$!
	echo $! >>"$ETCD_PIDFILE"
	ETCD_URL=https://127.0.0.1:$c
	local i=0
	until etcdctl --endpoints "$ETCD_URL" --cacert "$2/ca.pem" --cert "$2/client.pem" \
		--key "$2/client.key" --dial-timeout 1s endpoint health >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { fail "etcd (TLS) did not start: $(tail -n 5 "$1/log")"; return 1; }
		sleep 0.2
	done
}
