# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: fuzzing (tests/fuzz/).
#
#   make fuzz                 build the libFuzzer harnesses with clang and run
#                             each for FUZZ_TIME seconds (default 60)
#   make fuzz FUZZ=record     only one harness (record, duration, options)
#   make fuzz-build           build them only
#
# Corpora grow in $(B)/fuzz/corpus/<harness> (out of git); the seeds in git
# are tests/data/* for records and tests/fuzz/seeds/<harness> for the rest.
# A crash stops make fuzz and leaves $(B)/fuzz/crash-<harness>-*: fix the
# bug, then keep the input in tests/fuzz/regress/<harness>/.  make check
# replays every seed and every regress input through the same harnesses
# built with $(CC) and a small main (tests/fuzz/replay.c), so no clang is
# needed there.

FUZZ_HARNESSES := record duration options
FUZZ ?= $(FUZZ_HARNESSES)
FUZZ_TIME ?= 60
FUZZ_CC ?= clang
FUZZ_ARGS ?=
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
FUZZ_CFLAGS = $(WARN) -g -O1 $(FUZZ_SAN) -Ilib -Icmd -Itests/fuzz
FUZZ_DIR := $(B)/fuzz

# What each harness is built from, besides its own tests/fuzz/fuzz-<h>.c.
FUZZ_SRCS_record := lib/record.c lib/proc.c
FUZZ_SRCS_duration := cmd/common.c $(LIB_SRCS)
FUZZ_SRCS_options := cmd/common.c $(LIB_SRCS)

# Seeds: every catalogue directory of tests/data for the record parser.
FUZZ_SEEDS_record := $(wildcard tests/data/*/)
FUZZ_SEEDS_duration := tests/fuzz/seeds/duration
FUZZ_SEEDS_options := tests/fuzz/seeds/options
FUZZ_OPTS_record := -dict=tests/fuzz/record.dict -max_len=8192

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ:%=$(FUZZ_DIR)/clang/fuzz-%)

$(FUZZ_DIR)/clang/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz.h cmd/common.h \
                          lib/internal.h lib/pidlock.h $(LIB_SRCS) cmd/common.c
	@sh build-aux/deps fuzz
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(BSD_LIBS)

# One harness after the other: each gets the whole FUZZ_TIME.
fuzz: fuzz-build
	@for h in $(FUZZ); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$h; \
	    case $$h in \
	    record) seeds="$(FUZZ_SEEDS_record)"; opts="$(FUZZ_OPTS_record)" ;; \
	    duration) seeds="$(FUZZ_SEEDS_duration)"; opts="" ;; \
	    options) seeds="$(FUZZ_SEEDS_options)"; opts="" ;; \
	    esac; \
	    echo "fuzz: $$h for $(FUZZ_TIME) s"; \
	    $(FUZZ_DIR)/clang/fuzz-$$h $$opts -max_total_time=$(FUZZ_TIME) \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$h- \
	        $(FUZZ_ARGS) $(FUZZ_DIR)/corpus/$$h $$seeds \
	        tests/fuzz/regress/$$h > $(FUZZ_DIR)/$$h.log 2>&1; rc=$$?; \
	    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::peak_rss' \
	        $(FUZZ_DIR)/$$h.log | sed "s/^/fuzz: $$h: /"; \
	    if [ $$rc -ne 0 ]; then \
	        tail -n 40 $(FUZZ_DIR)/$$h.log; \
	        echo "fuzz: $$h FAILED (log: $(FUZZ_DIR)/$$h.log); keep the input in tests/fuzz/regress/$$h/"; \
	        exit 1; \
	    fi; \
	done

# --- replay in make check ---------------------------------------------------
FUZZ_REPLAYS := $(FUZZ_HARNESSES:%=$(FUZZ_DIR)/replay-%)

$(FUZZ_DIR)/%.o: tests/fuzz/%.c tests/fuzz/fuzz.h cmd/common.h lib/internal.h \
                 lib/pidlock.h $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Ilib -Icmd -Itests/fuzz -c -o $@ $<

$(FUZZ_DIR)/replay-%: $(FUZZ_DIR)/fuzz-%.o $(FUZZ_DIR)/replay.o $(CMD_COMMON) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(BSD_LIBS)

CHECK_DEPS += $(FUZZ_REPLAYS)
