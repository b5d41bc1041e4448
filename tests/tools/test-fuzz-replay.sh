#!/bin/bash
# SPDX-License-Identifier: MIT
# Replays every fuzz seed and every input that once crashed a harness
# (tests/fuzz/regress/<harness>/) through the harnesses built with the
# normal compiler (mk/fuzz.mk), so that a fixed crash stays fixed and
# the harnesses' properties hold on the seeds.  One test per harness.
. "$(dirname "$0")/lib.sh"

replay() {
	local h=$1 bin=$TOP/$B/fuzz/replay-$1 n
	shift
	[ -x "$bin" ] || { fail "$bin not built (make check builds it)"; return; }
	# Under make valgrind, memcheck watches the harness too (lib.sh).
	${VALGRIND:+$VALGRIND --log-file=$_vg_logs/replay-$h.%p.log} \
		"$bin" "$@" "$TOP/tests/fuzz/regress/$h" >"$T/replay.out" 2>&1
	status=$?
	n=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/replay.out")
	if [ $status -ne 0 ]; then
		tail -n 5 "$T/replay.out"
		fail "replay-$h failed (exit $status) on the last input named above"
		return
	fi
	[ "${n:-0}" -gt 0 ] || fail "replay-$h replayed nothing"
	printf 'replay-%s: %s inputs\n' "$h" "$n"
}

t_fuzz_replay_record() { replay record "$TOP"/tests/data/*/; }
t_fuzz_replay_duration() { replay duration "$TOP/tests/fuzz/seeds/duration"; }
t_fuzz_replay_options() { replay options "$TOP/tests/fuzz/seeds/options"; }

run_tests t_fuzz_replay_record t_fuzz_replay_duration t_fuzz_replay_options
