# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: make valgrind.
#
#   make valgrind B=build-vg CFLAGS="-O1 -g"
#                        every unit test binary and the tool suites under
#                        memcheck (about 10 minutes on 2 cores)
#   make valgrind VALGRIND_QUICK=1
#                        the same with the stress loops scaled down and the
#                        slowest suites left out
#   make valgrind VALGRIND_CI=1
#                        CI's run: every unit binary and a chosen set of
#                        tool tests (VALGRIND_CI_TESTS)
#
# A unit test runs as "valgrind test-x"; the tool suites get wrapper scripts
# on PATH from tests/tools/lib.sh, so that every lockrun, lockstat,
# lockclean and flock they start runs under memcheck.  Commands that the
# tests or the tools exec (sh, sleep, true) are not traced: they are not
# ours, and a traced child would change the timing of every lock handoff.
#
# The verdict has two parts, and both must be clean:
#  - each process exits 99 when memcheck found an error (a test that checks
#    an exit status fails there and then);
#  - every log in $(VG_LOGDIR) is scanned at the end for "ERROR SUMMARY"
#    with errors, which also catches processes whose status no one reads.
#
# Errors: every memory error, and leaks of the kinds "definitely" and
# "indirectly" lost.  "Still reachable" is not an error: forked test
# children _exit() with CMocka's and the parent's live allocations (and the
# tools exit with libc's and libbsd's caches); it is shown neither.
# "Possibly lost" (only a pointer into the middle of a block is left) is
# shown in the logs but is not an error: pidlock keeps no interior
# pointers, so a leak of ours shows as definite.  --track-fds is off: a tool that exits while
# holding its lock has its descriptor open by design, and the library's
# descriptors are checked exactly by the unit and fault tests
# (/proc/self/fd before and after); VALGRIND_FDS=1 adds it to the logs.

VALGRIND_BIN ?= valgrind
VG_LOGDIR = $(B)/valgrind
VG_SUPP = $(B)/valgrind.supp
VALGRIND_FLAGS = --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect --trace-children=no \
    --num-callers=30 --suppressions=$(abspath $(VG_SUPP)) \
    $(if $(VALGRIND_FDS),--track-fds=yes)
VALGRIND_CMD = $(VALGRIND_BIN) $(VALGRIND_FLAGS)
# A unit test's forked children _exit() holding whatever their parent had
# allocated; after a failed test (CMocka longjmps out of it, past its
# frees) that includes definitely lost blocks that are not the child's.
# So in unit tests a leak is not an error that changes an exit status
# (which would fail every later test): the scan below counts leaks in the
# test binary's own process only, and memory errors everywhere.
VALGRIND_UNIT_CMD = $(VALGRIND_CMD) --errors-for-leak-kinds=none

# Not run under valgrind, with why: they run no code of $(B) that another
# suite does not run, or not through PATH.
VALGRIND_EXCLUDE := test-install test-completion
# VALGRIND_QUICK: also leave out the slowest suites -- test-hostile (the
# whole catalogue through every tool, several hundred runs under memcheck,
# over 25 minutes), test-systemd, test-sysvinit and the test-lock-* binaries --
# and scale the stress loops of the rest down (VALGRIND_SCALE, a divisor).
# The lockrun, lockstat and lockclean suites still run every tool through
# every option and state.
VALGRIND_QUICK_EXCLUDE := test-hostile test-systemd test-sysvinit test-lock-%
# VALGRIND_CI: CI's run, which must fit its time budget: every unit binary
# (test-lock-* too), and of the tool suites the tests below, which take each
# tool through its main paths once: every state, output format, exit code
# class, recovery, signals, max time, the fault and hostile rows that run
# quickly.  The full and quick runs cover the rest.
VALGRIND_CI_TESTS := \
    t_conflict_nonblock t_command_status t_exec_failure t_pidfile \
    t_stale_recovery t_holder_report t_named_lock t_message t_flock_name \
    t_fd_form t_shared t_max_time t_signals_forwarded t_usage_errors \
    t_daemon_keeps_lock t_live t_live_inherited t_stale t_reused t_foreign \
    t_unsafe t_status_codes t_columns t_json t_all t_usage \
    t_stale_record_removed t_live_record_kept t_reused_pid_removed \
    t_leftover_temp_files t_dry_run_removes_nothing t_json_report \
    t_recursive t_hostile_sticky_dir t_full_tmpfs_blocks \
    t_readonly_bind_mount t_name_max \
    t_stop_schedule_ignoring_term t_stop_reused_pid t_replace \
    t_respawn_holds_lock_between_runs t_background_exec_fails
VALGRIND_CI_EXCLUDE := test-hostile test-systemd test-sysvinit test-torture \
    test-fuzz-replay
ifneq ($(VALGRIND_CI),)
VALGRIND_QUICK := 1
VALGRIND_QUICK_EXCLUDE := $(VALGRIND_CI_EXCLUDE)
endif
VALGRIND_SCALE ?= $(if $(VALGRIND_QUICK),10,1)

VG_UNIT := $(filter-out $(if $(VALGRIND_QUICK),$(VALGRIND_QUICK_EXCLUDE:%=$(B)/test/%)),$(UNIT_TESTS))
VG_TOOL := $(filter-out $(foreach t,$(VALGRIND_EXCLUDE) $(if $(VALGRIND_QUICK),$(VALGRIND_QUICK_EXCLUDE)),tests/tools/$(t).sh),$(TOOL_TESTS))

# Tests that cannot work under valgrind: "name reason", one per line.
# lib.sh prints "skipped under valgrind: reason" for each.
# Under memcheck a process runs 20-50 times slower, and valgrind 3.19 has
# no pidfd_open(2) (ENOSYS: the library falls back to polling /proc).
define VALGRIND_SKIP
racing_creators_one_wins 16 racers must all report within the test's deadline; under memcheck most are still starting
timeout_gives_up_cleanly it times a 300 ms wait to within 150 ms
same_thread_twice_edeadlk it requires EDEADLK within 500 ms
foreign_pidfile it checks that the waiter sleeps on a pidfd, and valgrind 3.19 has no pidfd_open(2)
create_linkat_eexist_forever a 10 s alarm bounds the retries, and each retry costs 20-50 times more under memcheck
inspection_never_disturbs 3000 acquire/release rounds and 200 inspections (which may walk /proc) must finish within 60 s, and memcheck makes each 20-50 times slower
t_ulimit_nofile valgrind itself cannot start under a small ulimit -n (its preloaded objects need descriptors)
t_all_scales it counts lockstat's system calls under strace, and memcheck makes thousands of its own
t_wait_timeout_accuracy it times a 300 ms wait to within 200 ms
t_wakeup_on_release the waiter must start within 400 ms of the release
t_proc_missing valgrind cannot start a program without /proc (it reads /proc/self)
endef
export VALGRIND_SKIP

# Known false positives of valgrind 3.19, not of pidlock.
define VALGRIND_SUPPRESSIONS
{
   mount(2) with a NULL file system type (MS_BIND, MS_REMOUNT, MS_PRIVATE): valid, valgrind < 3.20 reads it as a string
   Memcheck:Param
   mount(type)
   fun:mount
}
endef
export VALGRIND_SUPPRESSIONS

# The unit tests are CMocka binaries whose sources are not ours to change:
# a preloaded shim (LD_PRELOAD, passed on by valgrind) drops the tests
# named in VALGRIND_SKIP from the group before CMocka runs it, and says so.
define VALGRIND_CMOCKA_SKIP_C
/* Generated by mk/valgrind.mk: drops the tests in VALGRIND_SKIP. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef int run_fn(const char *, const struct CMUnitTest *, size_t,
		   CMFixtureFunction, CMFixtureFunction);

/* The reason a test is skipped, or NULL: lines "name reason". */
static const char *why_skip(const char *name, char *buf, size_t size)
{
	const char *list = getenv("VALGRIND_SKIP"), *p = list;
	size_t len = strlen(name);

	while (p && *p) {
		while (*p == ' ' || *p == '\n')
			p++;
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > len && strncmp(p, name, len) == 0 && p[len] == ' ') {
			snprintf(buf, size, "%.*s", (int)(n - len - 1), p + len + 1);
			return buf;
		}
		p = end;
	}
	return NULL;
}

int _cmocka_run_group_tests(const char *group, const struct CMUnitTest *tests,
			    size_t n, CMFixtureFunction setup,
			    CMFixtureFunction teardown)
{
	run_fn *real = (run_fn *)dlsym(RTLD_NEXT, "_cmocka_run_group_tests");
	struct CMUnitTest *kept = calloc(n ? n : 1, sizeof(*kept));
	size_t k = 0, skipped = 0;
	char why[512];
	int r;

	if (!real || !kept)
		abort();
	for (size_t i = 0; i < n; i++)
		if (why_skip(tests[i].name, why, sizeof(why))) {
			printf("SKIP %s: skipped under valgrind: %s\n",
			       tests[i].name, why);
			skipped++;
		} else {
			kept[k++] = tests[i];
		}
	/* For tests/run-tests, which counts this summary line. */
	if (skipped)
		printf("[  SKIPPED ] %zu test(s).\n", skipped);
	fflush(stdout);
	r = real(group, kept, k, setup, teardown);
	free(kept);
	return r;
}
endef
export VALGRIND_CMOCKA_SKIP_C
VG_SHIM = $(B)/valgrind-skip.so

$(VG_SHIM): mk/valgrind.mk $(B)/config.mk
	@printf '%s\n' "$$VALGRIND_CMOCKA_SKIP_C" > $(B)/valgrind-skip.c
	$(CC) -shared -fPIC -O1 -g -Wall -Wextra -Werror $(CMOCKA_CFLAGS) \
	    -o $@ $(B)/valgrind-skip.c -ldl

.PHONY: valgrind valgrind-scan
valgrind: all $(UNIT_TESTS) $(CHECK_DEPS) $(VG_SHIM)
	@if [ "$(SANITIZE)" = 1 ]; then echo "make valgrind: not with SANITIZE=1"; exit 2; fi
	@sh build-aux/deps valgrind
	@rm -rf $(VG_LOGDIR) && mkdir -p $(VG_LOGDIR)/unit $(VG_LOGDIR)/run
	@printf '%s\n' "$$VALGRIND_SUPPRESSIONS" > $(VG_SUPP)
	@for t in $(notdir $(VG_UNIT)); do \
	    printf '#!/bin/sh\necho $$$$ >%s/unit/%s.top\nLD_PRELOAD=%s exec %s --log-file=%s/unit/%s.%%p.log %s\n' \
	        "$(abspath $(VG_LOGDIR))" $$t "$(abspath $(VG_SHIM))" "$(VALGRIND_UNIT_CMD)" \
	        "$(abspath $(VG_LOGDIR))" $$t "$(abspath $(B))/test/$$t" \
	        > $(VG_LOGDIR)/run/$$t.sh; \
	done
	@start=$$(date +%s); \
	B=$(B) VALGRIND="$(VALGRIND_CMD)" VALGRIND_LOGDIR=$(abspath $(VG_LOGDIR)) \
	    VALGRIND_SCALE=$(VALGRIND_SCALE) \
	    PIDLOCK_TESTS="$(if $(VALGRIND_CI),$(strip $(VALGRIND_CI_TESTS)))" \
	    sh tests/run-tests $(VG_UNIT:$(B)/test/%=$(VG_LOGDIR)/run/%.sh) $(VG_TOOL); \
	rc=$$?; \
	echo "make valgrind: $$(( $$(date +%s) - start )) s$(if $(VALGRIND_QUICK), (quick))"; \
	$(MAKE) --no-print-directory valgrind-scan || rc=1; \
	exit $$rc

# Every log with an error, and the first lines of each error.
valgrind-scan:
	@bad=$$(grep -lE 'ERROR SUMMARY: [1-9]' -r $(VG_LOGDIR) --include='*.log' 2>/dev/null); \
	for top in $(VG_LOGDIR)/unit/*.top; do \
	    [ -e "$$top" ] || continue; \
	    f=$${top%.top}.$$(cat $$top).log; \
	    grep -qE 'are (definitely|indirectly) lost' $$f 2>/dev/null && bad="$$bad $$f"; \
	done; \
	n=$$(find $(VG_LOGDIR) -name '*.log' | wc -l); \
	bad=$$(printf '%s\n' $$bad | sort -u); \
	if [ -n "$$bad" ]; then \
	    for f in $$bad; do echo "== $$f"; \
	        grep -vE '^==[0-9]+== *$$|Copyright|Using Valgrind|Memcheck, a memory' $$f | \
	        grep -A12 -E 'Invalid|uninitialised|unaddressable|are definitely lost|are indirectly lost|Mismatched|overlap|Syscall param' | head -n 40; \
	    done; \
	    echo "valgrind: errors in $$(echo $$bad | wc -w) of $$n process logs (above)"; exit 1; \
	fi; \
	echo "valgrind: $$n process logs, no errors"
