# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: benchmarks (issue 7).
#
#   make bench           install the peers (build-aux/deps bench), build, and
#                        print seven tables with ratios (5b beside the
#                        fifth: the floor of a scan, with io_uring; the
#                        seventh: the Python package against filelock and
#                        fasteners) and an eighth: lockrun --etcd vs
#                        etcdctl lock
#                        (etcd_bench.py); raw numbers go to
#                        bench/results.json, the tables to bench/results.md
#   make bench QUICK=1   the same tables at tiny sizes, under a minute (CI)
#   BENCH_DIR=DIR        where the lock files go (default: a private
#                        directory in /dev/shm, a tmpfs, else /tmp)

BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BIN  := $(B)/bench/pidlock-bench
BENCH_PY   := /usr/bin/python3
QUICK ?=
# liburing: only the scan's io_uring row (tests/bench/scan.c) uses it, to
# measure whether batching pays (issue 18); the library and tools never do.
URING_LIBS := $(shell pkg-config --libs liburing 2>/dev/null)
BENCH_URING := $(if $(URING_LIBS),-DHAVE_LIBURING)

.PHONY: bench bench-build
$(BENCH_BIN): $(BENCH_SRCS) tests/bench/bench.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BENCH_URING) $(ALL_CFLAGS) -Ilib -o $@ $(BENCH_SRCS) \
	    $(LIB_A) $(LDFLAGS) $(BSD_LIBS) $(URING_LIBS)

# lockrun twice more, libbsd and libmd linked each way, whatever STATIC_BSD
# the tools were built with: the process table compares their start-up.
# The static one only where libbsd.a is installed.
BENCH_LOCKRUNS := $(B)/bench/lockrun-dynamic $(if $(BSD_STATIC_LIBS),$(B)/bench/lockrun-static)
$(B)/bench/lockrun-dynamic: $(LOCKRUN_OBJS) $(CMD_COMMON) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(BSD_LIBS)
$(B)/bench/lockrun-static: $(LOCKRUN_OBJS) $(CMD_COMMON) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(STATIC_BSD_LIBS)

bench-build: tools python $(BENCH_BIN) $(BENCH_LOCKRUNS)

# The peers first (hyperfine, lockfile-progs, dotlockfile, Python's filelock
# and fasteners for Debian's /usr/bin/python3), then the build, then the run.
bench:
	@sh build-aux/deps bench
	@$(MAKE) --no-print-directory B=$(B) bench-build
	@mkdir -p bench
	$(BENCH_PY) tests/bench/bench.py --build $(B) $(if $(QUICK),--quick) \
	    --json bench/results.json --markdown bench/results.md
	$(BENCH_PY) tests/bench/etcd_bench.py --build $(B) $(if $(QUICK),--quick) \
	    --markdown bench/results.md
