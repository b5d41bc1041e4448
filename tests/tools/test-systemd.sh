#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/systemd: every unit passes systemd-analyze verify, and the
# command lines the units run do what their comments say, with the built
# tools.
. "$(dirname "$0")/lib.sh"

UNITS=$TOP/contrib/systemd
NOBODY=65534

have() { command -v "$1" >/dev/null 2>&1; }
# The built tools under a path without spaces (the checkout may have some;
# unit files and eval'd command lines cannot quote them).
BIN_NS=$SUITE_DIR/.bin
ln -s "$BIN" "$BIN_NS"
need_systemd_analyze() {
	have systemd-analyze || { skip_test "systemd-analyze is not installed (apt-get install systemd)"; return 1; }
}

# units_copy DIR: the units, with /usr/bin/lockrun and /usr/bin/lockclean
# pointing at the built tools when those are not installed (verify checks
# that the first word of every ExecStart= is an executable).  The copies in
# $USER_BIN: systemd splits an ExecStart= path with a space in it.
units_copy() {
	local u tool script=""
	mkdir -p "$1"
	for tool in lockrun lockclean; do
		[ -x /usr/bin/$tool ] || script="$script s|/usr/bin/$tool |$USER_BIN/$tool |g;"
	done
	for u in "$UNITS"/*.service "$UNITS"/*.timer; do
		sed -e "$script" "$u" >"$1/$(basename "$u")"
	done
}

# exec_start UNIT: its ExecStart= command line.
exec_start() { sed -n 's/^ExecStart=//p' "$UNITS/$1"; }

t_verify_units() {
	need_systemd_analyze || return 0
	units_copy u
	local u name n=0
	for u in u/*.service u/*.timer; do
		name=$(basename "$u")
		# a template is verified through an instance of it
		case $name in
		*@.service) name=${name%@.service}@example.service ;;
		*@.timer) name=${name%@.timer}@example.timer ;;
		esac
		run systemd-analyze verify --man=no "u/$name"
		expect_status 0 || continue
		[ -z "$err" ] || fail "systemd-analyze verify $name: $err"
		n=$((n + 1))
	done
	[ $n -ge 5 ] || fail "only $n units verified"
}

t_units_name_existing_man_pages() {
	local page
	for page in $(sed -n 's/^Documentation=//p' "$UNITS"/*.service "$UNITS"/*.timer | tr ' ' '\n' |
		sed -n 's/^man:\([a-z]*\)(\([0-9]\))$/\1.\2/p' | sort -u); do
		[ -f "$TOP/man/$page.scd" ] || fail "Documentation= names man:$page, but man/$page.scd is missing"
	done
}

t_lockclean_unit_hardening() {
	need_systemd_analyze || return 0
	units_copy u
	run systemd-analyze security --offline=yes --threshold=20 u/lockclean.service
	case $err in *"unrecognized option"*|*"Unknown option"*)
		skip_test "systemd-analyze security --offline is not supported"; return 0 ;;
	esac
	expect_status 0 || printf '%s\n' "$out" | tail -n 3
	local want
	for want in Type=oneshot ProtectSystem=strict ReadWritePaths=/run/lock NoNewPrivileges=yes \
		PrivateNetwork=yes ProtectHome=yes PrivateTmp=yes RestrictAddressFamilies=AF_UNIX \
		ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes \
		RestrictNamespaces=yes LockPersonality=yes MemoryDenyWriteExecute=yes \
		SystemCallArchitectures=native; do
		grep -qx "$want" "$UNITS/lockclean.service" || fail "lockclean.service lacks $want"
	done
	# lockclean must see the processes it judges
	grep -Eq '^(ProtectProc=invisible|ProtectProc=noaccess|ProcSubset=pid)' "$UNITS/lockclean.service" &&
		fail "lockclean.service hides /proc from lockclean"
	grep -qx 'OnBootSec=1min' "$UNITS/lockclean.timer" || fail "lockclean.timer does not run at boot"
	grep -qx 'OnUnitActiveSec=1h' "$UNITS/lockclean.timer" || fail "lockclean.timer does not run hourly"
}

t_tmpfiles_snippet() {
	need_root || return 0
	have systemd-tmpfiles || { skip_test "systemd-tmpfiles is not installed"; return 0; }
	mkdir root
	run systemd-tmpfiles --root="$T/root" --create "$UNITS/pidlock.tmpfiles"
	expect_status 0
	[ -z "$err" ] || fail "systemd-tmpfiles: $err"
	[ "$(stat -c '%a %U %G' root/run/lock 2>&1)" = "1777 root root" ] ||
		fail "root/run/lock is $(stat -c '%a %U %G' root/run/lock 2>&1)"
	# no age: systemd-tmpfiles --clean must never remove a lock file
	grep -Eq '^d /run/lock 1777 root root -$' "$UNITS/pidlock.tmpfiles" ||
		fail "the /run/lock line has an age field"
	cp /dev/null root/run/lock/old.lock
	touch -d '2000-01-01' root/run/lock/old.lock
	run systemd-tmpfiles --root="$T/root" --clean "$UNITS/pidlock.tmpfiles"
	expect_status 0
	expect_file root/run/lock/old.lock
}

# The service's command line, on a directory in place of /run/lock.
t_lockclean_service_command() {
	mkdir lock
	lockrun --remove -F lock/stale.lock sleep 1000 &
	local p=$!
	wait_until is_locked lock/stale.lock || return
	kill -9 $p
	{ wait $p; } 2>/dev/null
	lockrun -F lock/live.lock sleep 1000 &
	p=$!
	wait_until is_locked lock/live.lock || { kill $p; return; }
	local cmd
	cmd=$(exec_start lockclean.service)
	[ -n "$cmd" ] || { fail "no ExecStart= in lockclean.service"; kill $p; return; }
	cmd=${cmd//\/usr\/bin\/lockclean/$BIN_NS/lockclean}
	cmd=${cmd//\/run\/lock/$T/lock}
	eval "run $cmd"
	kill $p
	{ wait $p; } 2>/dev/null
	expect_status 0
	expect_no_file lock/stale.lock
	expect_file lock/live.lock
	expect_out_match "^removed $T/lock/stale\\.lock "
}

# lockclean with no more capabilities than the unit gives it removes a
# stale file of another user, mode 0600, from a sticky root-owned
# directory; without them it cannot.
t_lockclean_service_capabilities() {
	need_root || return 0
	local caps set=""
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNITS/lockclean.service")
	for c in $caps; do
		c=${c#CAP_}
		set="$set,+$(printf '%s' "$c" | tr 'A-Z' 'a-z')"
	done
	mkdir lock
	chmod 1777 lock
	local i
	for i in 1 2; do
		setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sh -c \
			'exec lockrun --remove -F lock/job.lock sleep 1000' &
		p=$!
		wait_until is_locked lock/job.lock || { kill $p; return; }
		kill -9 $p
		{ wait $p; } 2>/dev/null
		chmod 600 lock/job.lock
		[ "$(stat -c '%a %U' lock/job.lock)" = "600 nobody" ] ||
			{ fail "lock/job.lock is $(stat -c '%a %U' lock/job.lock)"; return; }
		if [ $i = 1 ]; then
			run setpriv --bounding-set=-all lockclean -v lock
			expect_status 1
			expect_file lock/job.lock
		else
			run setpriv --bounding-set="-all$set" lockclean -v lock
			expect_status 0
			expect_no_file lock/job.lock
		fi
		rm -f lock/job.lock
	done
}

# The example singleton: a second start is refused with the status that
# RestartPreventExitStatus= names; SIGTERM to lockrun (KillMode=mixed)
# stops the daemon, removes the lock file, and lockrun dies by SIGTERM,
# which systemd judges a clean stop (no SuccessExitStatus= needed).
t_singleton_service_command() {
	local cmd busy
	cmd=$(exec_start example-singleton.service)
	busy=$(sed -n 's/^RestartPreventExitStatus=//p' "$UNITS/example-singleton.service")
	cmd=${cmd//\/usr\/bin\/lockrun/$BIN_NS/lockrun}
	cmd=${cmd//%n/example-singleton.service}
	cmd=${cmd//\/usr\/bin\/sleep/sleep}
	export PIDLOCK_DIR=$T
	eval "python3 \"\$TOP/tests/tools/jobctl.py\" status st $cmd &"
	local p=$!
	wait_until is_locked example-daemon.lock || { kill $p; return; }
	grep -qx 'msg=systemd unit example-singleton.service' example-daemon.lock ||
		fail "no message in the record: $(cat example-daemon.lock)"
	eval "run $cmd"
	expect_status "$busy"
	expect_err_match 'held by PID'
	kill -TERM "$(pgrep -P $p)"
	wait $p
	[ "$(cat st)" = "signal 15" ] || fail "lockrun ended with '$(cat st)' after SIGTERM, not by SIGTERM"
	grep -q '^SuccessExitStatus=' "$UNITS/example-singleton.service" &&
		fail "example-singleton.service still needs SuccessExitStatus="
	expect_released example-daemon.lock
}

# The template: lockrun@NAME runs /etc/lockrun.d/NAME under the lock NAME;
# a run that finds the lock busy exits with a SuccessExitStatus= status.
t_lockrun_template_command() {
	local cmd ok
	cmd=$(exec_start lockrun@.service)
	ok=$(sed -n 's/^SuccessExitStatus=//p' "$UNITS/lockrun@.service")
	cmd=${cmd//\/usr\/bin\/lockrun/$BIN_NS/lockrun}
	cmd=${cmd//\/etc\/lockrun.d/$T/lockrun.d}
	cmd=${cmd//%n/lockrun@job.service}
	cmd=${cmd//%i/job}
	mkdir lockrun.d
	printf '#!/bin/sh\necho ran >> %s/ran\n[ -e %s/hold ] || exit 0\nexec sleep 1000\n' "$T" "$T" >lockrun.d/job
	chmod 755 lockrun.d/job
	export PIDLOCK_DIR=$T
	eval "run $cmd"
	expect_status 0
	[ "$(cat ran 2>/dev/null)" = ran ] || fail "the job did not run"
	expect_released job.lock
	touch hold
	eval "$cmd &"
	local p=$!
	wait_until is_locked job.lock || { kill $p; return; }
	eval "run $cmd"
	expect_status "$ok"
	kill $p
	{ wait $p; } 2>/dev/null
	[ "$(wc -l <ran)" = 2 ] || fail "the busy run ran the job"
}

# snippets FILE: the [Service] blocks of FILE's examples, one unit each
# (u/snippet-N.service), with the tools' paths as in units_copy.
snippets() {
	awk -v dir=u -v bin="$BIN_NS" '
		/^```/ { if (n) close(f); inblock = !inblock; n = 0; next }
		inblock && /^\[Service\]/ { k++; f = dir "/snippet-" k ".service"; n = 1
			print "[Unit]\nDescription=snippet " k >f }
		inblock && n { line = $0
			if (!system("test -x /usr/bin/lockrun")) {} else gsub("/usr/bin/lockrun ", bin "/lockrun ", line)
			print line >f }
		END { print k + 0 }' "$1"
}

# Every example unit and snippet passes verify, and each that runs lockrun
# (not -F) lets lockrun stop the job: KillMode=mixed.
t_snippets_verify() {
	need_systemd_analyze || return 0
	mkdir -p u
	local n u
	n=$(snippets "$TOP/man/lockrun.1.scd")
	[ "$n" -ge 1 ] || fail "no [Service] snippet found in lockrun(1)"
	for u in u/snippet-*.service; do
		run systemd-analyze verify --man=no "$u"
		[ "$status" = 0 ] && [ -z "$err" ] || fail "$u: $err: $(cat "$u")"
	done
	for u in u/snippet-*.service "$UNITS"/*.service; do
		grep -q '^ExecStart=.*lockrun ' "$u" || continue
		grep -q '^ExecStart=.*lockrun .*-F' "$u" && continue
		grep -qx 'KillMode=mixed' "$u" ||
			fail "$(basename "$u") runs lockrun without KillMode=mixed: the job would get SIGTERM twice"
	done
}

run_tests \
	t_verify_units \
	t_snippets_verify \
	t_units_name_existing_man_pages \
	t_lockclean_unit_hardening \
	t_tmpfiles_snippet \
	t_lockclean_service_command \
	t_lockclean_service_capabilities \
	t_singleton_service_command \
	t_lockrun_template_command
