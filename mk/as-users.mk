# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: the tests a private checkout breaks.
#
#   make check-as-users   only the tool tests that run something as another
#                         user (setpriv, lockrun --user, as nobody), and the
#                         init script's and units' suites, which write the
#                         checkout's path into files other programs parse.
#                         CI runs it from a clone in a 0700 directory whose
#                         path has a space (.ci/run): a minute, not ten.
#
# A test is picked by what its body says (setpriv, as_nobody, $NOBODY,
# --user, -U nobody), so a new test of that kind is picked without a list.
AS_USER_AWK := FNR == 1 || /^}/ { t = "" } \
	/^t_[a-z0-9_]*\(\)/ { t = $$1; sub(/\(\).*/, "", t) } \
	t && /setpriv|as_nobody|AS_NOBODY|\$$NOBODY|--user|-U nobody/ { print FILENAME, t; t = "" }
AS_USER_PAIRS = $(shell awk '$(AS_USER_AWK)' $(TOOL_TESTS))
PATH_TEST_SUITES := tests/tools/test-systemd.sh tests/tools/test-sysvinit.sh
PATH_TESTS = $(shell sed -n 's/^\(t_[a-z0-9_]*\)() {.*/\1/p' $(PATH_TEST_SUITES))
AS_USER_SUITES = $(sort $(filter tests/%,$(AS_USER_PAIRS)) $(PATH_TEST_SUITES))
AS_USER_NAMES = $(sort $(filter t_%,$(AS_USER_PAIRS)) $(PATH_TESTS))

.PHONY: check-as-users
check-as-users: tools
	@echo "check-as-users: $(words $(AS_USER_NAMES)) tests of $(words $(AS_USER_SUITES)) suites"
	@B=$(B) PIDLOCK_TESTS="$(AS_USER_NAMES)" bash tests/run-tests $(AS_USER_SUITES)
