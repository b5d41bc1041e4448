# SPDX-License-Identifier: MIT
# pidlock: libpidlock, lockrun, lockstat, lockclean.
#
#   make            build the library, the tools and the man pages
#   make check      build and run every test (SANITIZE=1: under ASan+UBSan)
#   make check-suites     the test suites alone: the C unit binaries and
#                         the tool scripts, in one run
#   make check-unit       the C unit test binaries alone (tests/unit/)
#   make check-tools      the tool test scripts alone (tests/tools/)
#   make demo       a scripted scenario in a temporary directory
#   make install    PREFIX, DESTDIR, BINDIR, LIBDIR, INCLUDEDIR, MANDIR

# The version is the public header's (PIDLOCK_VERSION_STRING), so that
# pidlock_version() and the header cannot disagree.  The soname changes
# only with an ABI break (pidlock(3), "ABI"); make check-abi guards it.
VERSION   := $(shell sed -n 's/^\#define PIDLOCK_VERSION_STRING "\(.*\)"/\1/p' lib/pidlock.h)
SOVERSION := 1

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PKG_CONFIG ?= pkg-config
# systemd's own directories, but under PREFIX (systemd also reads
# /usr/local/lib/systemd/system): a PREFIX=$$HOME/.local install must not
# write to /lib.
SYSTEMD_PC = $(PKG_CONFIG) --define-variable=prefix=$(PREFIX) \
	--define-variable=root_prefix=$(PREFIX) --define-variable=rootprefix=$(PREFIX)
SYSTEMDUNITDIR ?= $(or $(shell $(SYSTEMD_PC) --variable=systemdsystemunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)
TMPFILESDIR ?= $(or $(shell $(SYSTEMD_PC) --variable=tmpfilesdir systemd 2>/dev/null),$(PREFIX)/lib/tmpfiles.d)
UNITS := $(wildcard contrib/systemd/*.service contrib/systemd/*.timer)
INSTALL    ?= install

CC      ?= cc
# _FORTIFY_SOURCE as Debian's build flags set it: its checks (unused
# results of ftruncate, write) fail here first, not in make deb.
CFLAGS  ?= -O2 -g -D_FORTIFY_SOURCE=2
SANITIZE ?=

ifeq ($(SANITIZE),1)
B ?= build-san
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B ?= build
SAN :=
endif

# Goals that must not trigger the dependency check.
NODEPS_GOALS := clean distclean help
ifeq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
else
include $(B)/config.mk
endif

WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2
CPPFLAGS += -D_GNU_SOURCE -DPIDLOCK_VERSION='"$(VERSION)"' $(BSD_CFLAGS)
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SAN)
# Each object's header dependencies, written by the compiler beside it
# (the .d files included at the end); -MP keeps a removed header from
# breaking the build.
DEPFLAGS = -MMD -MP
LIB_CFLAGS = $(ALL_CFLAGS) -fPIC -fvisibility=hidden
# Test code and the library copy it links are built so that --wrap sees
# every call: no _FORTIFY_SOURCE (it renames open/read), no inlining.
TEST_CFLAGS = $(WARN) -g -O0 -U_FORTIFY_SOURCE $(SAN) $(CMOCKA_CFLAGS)

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:lib/%.c=$(B)/lib/%.o)
LIB_A    := $(B)/libpidlock.a
LIB_SO   := $(B)/libpidlock.so.$(VERSION)
LIB_SONAME := libpidlock.so.$(SOVERSION)

TOOLS    := lockrun lockstat lockclean
TOOL_BINS := $(TOOLS:%=$(B)/%)
CMD_COMMON := $(B)/cmd/common.o

MAN_SRCS := $(wildcard man/*.scd)
MANS     := $(MAN_SRCS:man/%.scd=$(B)/man/%)

.PHONY: all lib tools man check check-suites check-unit check-tools check-symbols check-licence check-example demo install uninstall \
        clean distclean help
all: lib tools man
ifeq ($(ETCD_MISSING),1)
	@echo "pidlock: built WITHOUT the etcd client (lockrun --etcd, lockstat --etcd):"
	@echo "  libcurl or json-c is missing (Debian: libcurl4-openssl-dev libjson-c-dev)"
endif

# The "#   make ..." block at the top of the Makefile and of each fragment
# (up to its first blank comment line).
help:
	@awk 'FNR == 1 { on = 0; done = 0 } !/^#/ { done = 1 } done { next } \
	    /^#   / { on = 1 } on && /^#$$/ { done = 1; next } on && sub(/^#   /, "")' \
	    Makefile $(sort $(wildcard mk/*.mk))

$(B)/config.mk: build-aux/deps
	@mkdir -p $(B)
	@sh build-aux/deps test
	@{ echo "BSD_CFLAGS := $$($(PKG_CONFIG) --cflags libbsd-overlay)"; \
	   echo "BSD_LIBS := $$($(PKG_CONFIG) --libs libbsd-overlay)"; \
	   a=$$($(CC) -print-file-name=libbsd.a); test -f "$$a" && \
	   echo "BSD_STATIC_LIBS := $$($(PKG_CONFIG) --static --libs libbsd-overlay)"; \
	   echo "SCOLS_CFLAGS := $$($(PKG_CONFIG) --cflags smartcols)"; \
	   echo "SCOLS_LIBS := $$($(PKG_CONFIG) --libs smartcols)"; \
	   echo "CMOCKA_CFLAGS := $$($(PKG_CONFIG) --cflags cmocka)"; \
	   echo "CMOCKA_LIBS := $$($(PKG_CONFIG) --libs cmocka)"; \
	   if $(PKG_CONFIG) --exists libcurl json-c; then \
	   echo "ETCD_CFLAGS := $$($(PKG_CONFIG) --cflags libcurl json-c)"; \
	   echo "ETCD_LIBS := $$($(PKG_CONFIG) --libs libcurl json-c) -lresolv -lpthread"; \
	   else echo "ETCD_MISSING := 1"; fi; } > $@

# --- library ---------------------------------------------------------------
lib: $(LIB_A) $(B)/$(LIB_SONAME) $(B)/pidlock.pc

$(B)/lib/%.o: lib/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(LIB_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS) lib/libpidlock.sym
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(LIB_OBJS) \
	    -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libpidlock.sym \
	    -Wl,-z,defs $(LDFLAGS) $(BSD_LIBS)

$(B)/$(LIB_SONAME): $(LIB_SO)
	ln -sf $(notdir $<) $@
	ln -sf $(LIB_SONAME) $(B)/libpidlock.so

# libdir and includedir are written relative to ${prefix} when they are
# under it, as meson and autotools write them: pkg-config --define-prefix
# and a staged or moved tree then find the files.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
PIDLOCK_PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
	-e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|'
$(B)/pidlock.pc: lib/pidlock.pc.in Makefile
	$(PIDLOCK_PC_SED) $< > $@

# --- tools -----------------------------------------------------------------
# The tools link the library statically: they run from the tree as they are.
# libbsd (and libmd) are linked dynamically: a distribution ships them, and
# an embedded copy would miss its security updates.  STATIC_BSD=1 links
# their archives (when installed) instead: loading two fewer shared objects
# saves a little of a short `lockrun -n F true` (make bench measures both).
STATIC_BSD ?= 0
STATIC_BSD_LIBS = -Wl,-Bstatic $(BSD_STATIC_LIBS) -Wl,-Bdynamic
TOOL_LIBS = $(if $(and $(filter 1,$(STATIC_BSD)),$(BSD_STATIC_LIBS)),\
	$(STATIC_BSD_LIBS),$(BSD_LIBS))
tools: $(TOOL_BINS) $(B)/flock

$(B)/cmd/%.o: cmd/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(SCOLS_CFLAGS) $(ALL_CFLAGS) -Ilib -c -o $@ $<

$(B)/%: $(B)/cmd/%.o $(CMD_COMMON) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(TOOL_LIBS) $(OUTPUT_LIBS)

# lockstat and lockclean print their tables with libsmartcols (as
# lslocks does); lockrun prints no table and does not load it.
$(B)/lockstat $(B)/lockclean: $(B)/cmd/output.o
$(B)/lockstat $(B)/lockclean: OUTPUT_LIBS = $(SCOLS_LIBS)

# lockrun's job supervision lives in a file of its own (make bench links
# the same objects twice more).  lockrun and lockstat put holders, times
# and ages into words (format.c); only lockstat finds a locked file's
# path in /proc/PID/fd (fdpath.c).
LOCKRUN_PARTS = $(B)/cmd/runopts.o $(B)/cmd/stop.o $(B)/cmd/detach.o $(B)/cmd/respawn.o \
		     $(B)/cmd/autoname.o $(B)/cmd/startstop.o
LOCKRUN_OBJS = $(B)/cmd/lockrun.o $(B)/cmd/job.o $(B)/cmd/format.o \
	       $(LOCKRUN_PARTS) $(LOCKRUN_ETCD_OBJS)
$(B)/lockrun: $(B)/cmd/job.o $(B)/cmd/format.o $(LOCKRUN_PARTS)
$(B)/lockstat: $(B)/cmd/format.o $(B)/cmd/fdpath.o

# The etcd client (lockrun --etcd, lockstat --etcd) is the tools' own, on
# libcurl and json-c: libpidlock stays free of network code.  Without
# them the tools build with a stub that says so (and make says it too).
# lockrun and lockstat exec a helper of their own for --etcd (etcdexec.c),
# lockrun-etcd and lockstat-etcd, the same mains linked with the client:
# only a run that talks to etcd loads libcurl and its shared objects.
# LIBEXECDIR is compiled into lockrun and lockstat: build and install
# with the same one (as make deb and make install with one PREFIX do).
LIBEXECDIR ?= $(PREFIX)/libexec
ifeq ($(ETCD_MISSING),1)
LOCKRUN_ETCD_OBJS := $(B)/cmd/etcdstub.o
LOCKSTAT_ETCD_OBJS := $(B)/cmd/etcdstub.o
ETCD_HELPERS :=
else
LOCKRUN_ETCD_OBJS := $(B)/cmd/etcdexec.o
LOCKSTAT_ETCD_OBJS := $(B)/cmd/etcdexec.o
ETCD_HELPERS := $(B)/lockrun-etcd $(B)/lockstat-etcd
endif
tools: $(ETCD_HELPERS)
$(B)/lockrun: $(LOCKRUN_ETCD_OBJS)
$(B)/lockstat: $(LOCKSTAT_ETCD_OBJS)
$(B)/cmd/etcd.o $(B)/cmd/etcdconf.o $(B)/cmd/etcdlock.o $(B)/cmd/etcdstat.o: CPPFLAGS += $(ETCD_CFLAGS)
$(B)/cmd/etcdexec.o: CPPFLAGS += -DPIDLOCK_LIBEXECDIR='"$(LIBEXECDIR)/pidlock"'
$(B)/lockrun-etcd: $(B)/cmd/lockrun.o $(B)/cmd/job.o $(B)/cmd/format.o \
		$(LOCKRUN_PARTS) $(B)/cmd/etcdlock.o $(B)/cmd/etcd.o $(B)/cmd/etcdconf.o $(CMD_COMMON) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(TOOL_LIBS) $(ETCD_LIBS)
$(B)/lockstat-etcd: $(B)/cmd/lockstat.o $(B)/cmd/output.o $(B)/cmd/format.o \
		$(B)/cmd/fdpath.o $(B)/cmd/etcdstat.o $(B)/cmd/etcd.o $(B)/cmd/etcdconf.o $(CMD_COMMON) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(TOOL_LIBS) $(SCOLS_LIBS) $(ETCD_LIBS)

# lockclean's removal policy lives in a file of its own: test-catalogue
# judges the hostile catalogue with it.
$(B)/lockclean: $(B)/cmd/policy.o

# Invoked as flock, lockrun is flock(1).
$(B)/flock: $(B)/lockrun
	ln -sf lockrun $@

# --- man pages -------------------------------------------------------------
man: $(MANS)

$(B)/man/%: man/%.scd
	@mkdir -p $(@D)
	sed 's/pidlock VERSION/pidlock $(VERSION)/' $< | scdoc > $@

# --- tests -----------------------------------------------------------------
# Every libc call that decides liveness or a failure path can be faked.
WRAPPED := kill openat flock linkat renameat renameat2 pwrite pread \
           ftruncate fstatat unlinkat fchmod sigaction geteuid
WRAP_FLAGS := $(foreach f,$(WRAPPED),-Wl,--wrap=$(f))

TEST_LIB_OBJS := $(LIB_SRCS:lib/%.c=$(B)/test/lib/%.o)
TEST_LIB_A    := $(B)/test/libpidlock-test.a
UNIT_TESTS    := $(patsubst tests/unit/%.c,$(B)/test/%,$(wildcard tests/unit/test-*.c))
# Every unit binary links the shared helpers (common.c), the process
# harness (harness.c) and the libc fakes (mock.c).
TEST_COMMON   := $(B)/test/common.o $(B)/test/harness.o $(B)/test/mock.o

$(B)/test/lib/%.o: lib/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(TEST_CFLAGS) -fvisibility=hidden -c -o $@ $<

$(TEST_LIB_A): $(TEST_LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/test/%.o: tests/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(TEST_CFLAGS) -Ilib -c -o $@ $<

$(B)/test/unit/%.o: tests/unit/%.c $(B)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(TEST_CFLAGS) -Ilib -Itests -c -o $@ $<

TEST_LINK = $(CC) $(TEST_CFLAGS) -o $@ $^ $(WRAP_FLAGS) $(LDFLAGS) \
	$(CMOCKA_LIBS) $(BSD_LIBS) -lpthread

$(B)/test/test-%: $(B)/test/unit/test-%.o $(TEST_COMMON) $(TEST_LIB_A)
	$(TEST_LINK)

# The suites that need root share their child-side checks (tests/root.c).
ROOT_TESTS := $(B)/test/test-root $(B)/test/test-root-fs
$(ROOT_TESTS): $(B)/test/%: $(B)/test/unit/%.o $(B)/test/root.o $(TEST_COMMON) $(TEST_LIB_A)
	$(TEST_LINK)

# The catalogue test judges with lockclean's own policy (see above).
$(B)/test/test-catalogue: $(B)/cmd/policy.o

# --- fragments ------------------------------------------------------------
# Each mk/*.mk adds one area (install, dist, bench, fuzz, torture, ...).
# They may append to CHECK_DEPS (built before the tests run) and
# CHECK_EXTRA (targets make check also runs), so they come before check.
TOOL_TESTS := $(wildcard tests/tools/test-*.sh)
CHECK_DEPS :=
CHECK_EXTRA :=
include $(sort $(wildcard mk/*.mk))

check: all check-symbols check-licence check-suites check-example $(CHECK_EXTRA)

# Every source, script, unit and man page names its licence (MIT).  Data,
# fixtures, the generated ABI dump and the Debian metadata (covered by
# debian/copyright) do not.
check-licence:
	@missing=$$(git ls-files 2>/dev/null | grep -Ev '^(tests/data|tests/fuzz/(seeds|regress)|contrib/debian|lib/abi)/|(^|/)\.gitignore$$|\.md$$|^LICENSE$$' | \
	    while read -r f; do [ ! -e "$$f" ] || grep -q 'SPDX-License-Identifier: MIT' "$$f" || echo "$$f"; done); \
	if [ -n "$$missing" ]; then echo "no SPDX-License-Identifier: MIT in: $$missing"; exit 1; fi; \
	echo "check-licence: every source file names its licence"


# The README's library example is examples/single-instance.c, compiled here.
$(B)/example: examples/single-instance.c $(LIB_A)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -Ilib -o $@ $< $(LIB_A) $(LDFLAGS) $(BSD_LIBS)

check-example: $(B)/example
	@sed -n '/^```c$$/,/^```$$/p' README.md | sed '1d;$$d' >$(B)/readme-example.c
	@grep -v SPDX-License-Identifier examples/single-instance.c | \
	    diff -u - $(B)/readme-example.c >/dev/null || \
	    { echo "README.md's example differs from examples/single-instance.c"; exit 1; }
	@echo "check-example: README example compiles and matches"

# Under the sanitizers, the suites that test shell completion, the init
# script and the systemd units run no code of ours that the others do not:
# they are left out of that (second, slower) run and say so; and the
# stress loops of lockclean's and lockstat's races run a quarter as long
# (STRESS_SCALE): the plain run has them whole.
SAN_SKIP_SUITES := test-completion test-sysvinit test-systemd
CHECK_TOOL_TESTS = $(if $(filter 1,$(SANITIZE)),\
	$(filter-out $(SAN_SKIP_SUITES:%=tests/tools/%.sh),$(TOOL_TESTS)),$(TOOL_TESTS))

RUN_TESTS = B=$(B) $(if $(filter 1,$(SANITIZE)),STRESS_SCALE=4) bash tests/run-tests
SAN_SKIP_NOTE = $(if $(filter 1,$(SANITIZE)),echo "SANITIZE=1: not run here (shell and unit files only): $(SAN_SKIP_SUITES)";)

# The unit binaries and the tool scripts in one run (they share the two
# cores), then each kind alone.
check-suites: $(UNIT_TESTS) tools $(CHECK_DEPS)
	@$(SAN_SKIP_NOTE)
	@$(RUN_TESTS) $(UNIT_TESTS) $(CHECK_TOOL_TESTS)

check-unit: $(UNIT_TESTS)
	@$(RUN_TESTS) $(UNIT_TESTS)

check-tools: tools $(CHECK_DEPS)
	@$(SAN_SKIP_NOTE)
	@$(RUN_TESTS) $(CHECK_TOOL_TESTS)

# Only pidlock_* may leave the shared object.
check-symbols: $(B)/$(LIB_SONAME)
	@bad=$$(nm -D --defined-only $(B)/$(LIB_SONAME) | awk '$$3 !~ /^pidlock_/ && $$3 != "PIDLOCK_1" {print $$3}'); \
	if [ -n "$$bad" ]; then echo "exported by mistake: $$bad"; exit 1; fi; \
	echo "check-symbols: only pidlock_* exported"

demo: all $(B)/example
	@sh tests/demo.sh $(B)

# The header dependencies of every object built so far.
-include $(wildcard $(B)/*.d $(B)/*/*.d $(B)/*/*/*.d)

clean:
	rm -rf build build-san $(filter-out build-aux,$(wildcard build-*))

distclean: clean
.SECONDARY:
