# Included by the top-level Makefile: make valgrind.
#
#   make valgrind B=build-vg CFLAGS="-O1 -g"
#                        every unit test binary and the tool suites under
#                        memcheck (about 10 minutes on 2 cores)
#   make valgrind VALGRIND_QUICK=1
#                        the same with the stress loops scaled down and the
#                        slowest suites left out (about 3-4 minutes)
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
# "Possibly lost" (a pointer into the middle of a block) is shown in the
# logs but is not an error: nothing in pidlock keeps interior pointers, so
# a real one would show as definite, and glibc's own thread and locale
# caches produce possible ones.  --track-fds is off: a tool that exits while
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

# Not run under valgrind, with why: they run no code of $(B) that another
# suite does not run, or not through PATH.
VALGRIND_EXCLUDE := test-install test-completion
# VALGRIND_QUICK: also leave out the slowest suites (their code paths are
# covered by the lockrun, lockstat and lockclean suites), and scale the
# stress loops of those suites down (VALGRIND_SCALE, a divisor).
VALGRIND_QUICK_EXCLUDE := test-systemd test-sysvinit test-lock
VALGRIND_SCALE ?= $(if $(VALGRIND_QUICK),10,1)

VG_UNIT := $(filter-out $(if $(VALGRIND_QUICK),$(VALGRIND_QUICK_EXCLUDE:%=$(B)/test/%)),$(UNIT_TESTS))
VG_TOOL := $(filter-out $(foreach t,$(VALGRIND_EXCLUDE) $(if $(VALGRIND_QUICK),$(VALGRIND_QUICK_EXCLUDE)),tests/tools/$(t).sh),$(TOOL_TESTS))

# Tests that cannot work under valgrind: "name reason", one per line.
# lib.sh prints "skipped under valgrind: reason" for each.
define VALGRIND_SKIP
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

.PHONY: valgrind valgrind-scan
valgrind: all $(UNIT_TESTS) $(CHECK_DEPS)
	@if [ "$(SANITIZE)" = 1 ]; then echo "make valgrind: not with SANITIZE=1"; exit 2; fi
	@sh build-aux/deps valgrind
	@rm -rf $(VG_LOGDIR) && mkdir -p $(VG_LOGDIR)/unit $(VG_LOGDIR)/run
	@printf '%s\n' "$$VALGRIND_SUPPRESSIONS" > $(VG_SUPP)
	@for t in $(notdir $(VG_UNIT)); do \
	    printf '#!/bin/sh\nexec %s --log-file=%s/unit/%s.%%p.log %s\n' \
	        "$(VALGRIND_CMD)" "$(abspath $(VG_LOGDIR))" $$t "$(abspath $(B))/test/$$t" \
	        > $(VG_LOGDIR)/run/$$t.sh; \
	done
	@start=$$(date +%s); \
	B=$(B) VALGRIND="$(VALGRIND_CMD)" VALGRIND_LOGDIR=$(abspath $(VG_LOGDIR)) \
	    VALGRIND_SCALE=$(VALGRIND_SCALE) \
	    sh tests/run-tests $(VG_UNIT:$(B)/test/%=$(VG_LOGDIR)/run/%.sh) $(VG_TOOL); \
	rc=$$?; \
	echo "make valgrind: $$(( $$(date +%s) - start )) s$(if $(VALGRIND_QUICK), (quick))"; \
	$(MAKE) --no-print-directory valgrind-scan || rc=1; \
	exit $$rc

# Every log with an error, and the first lines of each error.
valgrind-scan:
	@bad=$$(grep -lE 'ERROR SUMMARY: [1-9]' -r $(VG_LOGDIR) --include='*.log' 2>/dev/null); \
	n=$$(find $(VG_LOGDIR) -name '*.log' | wc -l); \
	if [ -n "$$bad" ]; then \
	    for f in $$bad; do echo "== $$f"; \
	        grep -vE '^==[0-9]+== *$$|Copyright|Using Valgrind|Memcheck, a memory' $$f | \
	        grep -A12 -E 'Invalid|uninitialised|unaddressable|definitely lost in|indirectly lost in|Mismatched|overlap|Syscall param' | head -n 40; \
	    done; \
	    echo "valgrind: errors in $$(echo $$bad | wc -w) of $$n process logs (above)"; exit 1; \
	fi; \
	echo "valgrind: $$n process logs, no errors"
