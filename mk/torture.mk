# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: the mutual-exclusion torture
# (tests/torture/).
#
#   make torture    the long run: TORTURE_PROCS workers complete
#                   TORTURE_TOTAL critical sections in all (or
#                   TORTURE_ITERS each), 1 in TORTURE_LOCKRUN_EVERY
#                   through lockrun, with chaos, lockclean/lockstat loops
#                   and (as root) PID reuse; TORTURE_ARGS adds options
#                   (see $(B)/torture --help).  Runs nice'd.
#
# The short run is tests/tools/test-torture.sh, part of make check.

TORTURE_PROCS ?= 16
TORTURE_TOTAL ?= 1000000
TORTURE_ITERS ?=
TORTURE_LOCKRUN_EVERY ?= 100
TORTURE_ARGS ?=

TORTURE_OBJS := $(patsubst tests/torture/%.c,$(B)/tort/%.o,$(wildcard tests/torture/*.c))

$(B)/tort/%.o: tests/torture/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -Ilib -c -o $@ $<

# Next to the tools, which it runs (lockrun, lockstat, lockclean).
$(B)/torture: $(TORTURE_OBJS) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(BSD_LIBS)

CHECK_DEPS += $(B)/torture

.PHONY: torture
torture: $(B)/torture tools
	nice -n 10 $(B)/torture -p $(TORTURE_PROCS) \
	    $(if $(TORTURE_ITERS),-i $(TORTURE_ITERS),-n $(TORTURE_TOTAL)) \
	    -l $(TORTURE_LOCKRUN_EVERY) $(TORTURE_ARGS)
