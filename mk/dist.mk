# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: source tarball and Debian packages.
#
#   make dist       pidlock-VERSION.tar.gz from the files git tracks, with
#                   SOURCE_DATE_EPOCH (default: the last commit's date):
#                   the same tree gives the same bytes.
#   make distcheck  unpack the tarball in a temporary directory, make
#                   $(DISTCHECK_TARGETS) there (default: check), then
#                   install and uninstall into a staging directory.
#   make deb        build the Debian source and binary packages from the
#                   tarball with contrib/debian as debian/, run lintian on
#                   both and the autopkgtests on the unpacked .debs
#                   (tests/pkg/check-debs.sh); they go to $(DEBDIR)
#                   (default: build-deb).

DIST_NAME := pidlock-$(VERSION)
DISTDIR ?= .
DIST_TARBALL = $(DISTDIR)/$(DIST_NAME).tar.gz
DISTCHECK_TARGETS ?= check
DEBDIR ?= build-deb
# The package build runs only the fast checks (see contrib/debian/rules);
# DEB_BUILD_OPTIONS=nocheck skips even those.
DEB_BUILD_OPTIONS ?=
LINTIAN_FLAGS ?= --fail-on error --info --display-info

SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)

.PHONY: dist distcheck deb

# Files are listed by git (tracked and still present), sorted by name,
# owned by 0:0 with normalised modes and one time stamp; gzip -n stores no
# name or time.
dist:
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "dist: not a git checkout"; exit 1; }
	@[ -n "$(SOURCE_DATE_EPOCH)" ] || { echo "dist: no SOURCE_DATE_EPOCH"; exit 1; }
	@mkdir -p $(B) $(DISTDIR)
	git ls-files -z | xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done; :' sh \
	    >$(B)/dist.list
	tar --create --file=- --no-recursion --null --files-from=$(B)/dist.list \
	    --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
	    --mode='u+rw,go=u-w' --mtime=@$(SOURCE_DATE_EPOCH) \
	    --transform='s,^,$(DIST_NAME)/,' | gzip -9n >$(DIST_TARBALL).tmp
	mv $(DIST_TARBALL).tmp $(DIST_TARBALL)
	@echo "dist: $(DIST_TARBALL) $$(sha256sum $(DIST_TARBALL) | cut -d' ' -f1)"

# The tarball's own Makefile builds, tests, installs and uninstalls; the
# files left after uninstall must be none.  The directory is made 0755 as a
# checkout would be: root-only tests run the tools as nobody.
distcheck: dist
	@set -e; d=$$(mktemp -d "$${TMPDIR:-/tmp}/pidlock-distcheck.XXXXXX"); \
	trap 'chmod -R u+w "$$d" 2>/dev/null; rm -rf "$$d"' EXIT; \
	chmod 755 "$$d"; \
	tar -xzf $(DIST_TARBALL) -C "$$d"; \
	cd "$$d/$(DIST_NAME)"; \
	echo "distcheck: make $(DISTCHECK_TARGETS) in $$d/$(DIST_NAME)"; \
	$(MAKE) B=build $(DISTCHECK_TARGETS); \
	$(MAKE) B=build install DESTDIR="$$d/stage" PREFIX=/usr; \
	$(MAKE) B=build uninstall DESTDIR="$$d/stage" PREFIX=/usr; \
	left=$$(find "$$d/stage" ! -type d); \
	if [ -n "$$left" ]; then echo "distcheck: left after uninstall: $$left"; exit 1; fi; \
	echo "distcheck: $(DIST_TARBALL) builds, passes $(DISTCHECK_TARGETS), installs and uninstalls"

# dpkg-buildpackage needs debian/ at the top of the source: the tarball is
# unpacked in a temporary directory and contrib/debian is copied there.
deb: dist
	@sh build-aux/deps deb
	@set -e; d=$$(mktemp -d "$${TMPDIR:-/tmp}/pidlock-deb.XXXXXX"); \
	trap 'rm -rf "$$d"' EXIT; \
	tar -xzf $(DIST_TARBALL) -C "$$d"; \
	cp -R contrib/debian "$$d/$(DIST_NAME)/debian"; \
	chmod 755 "$$d/$(DIST_NAME)/debian/rules"; \
	cd "$$d/$(DIST_NAME)"; \
	DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	    dpkg-buildpackage -us -uc; \
	echo "deb: lintian $(LINTIAN_FLAGS) (the source package and the binaries)"; \
	lintian $(LINTIAN_FLAGS) "$$d"/*.changes; \
	rm -rf "$(CURDIR)/$(DEBDIR)"; mkdir -p "$(CURDIR)/$(DEBDIR)"; \
	cp "$$d"/*.deb "$$d"/*.dsc "$$d"/*.tar.* "$$d"/*.changes "$$d"/*.buildinfo "$(CURDIR)/$(DEBDIR)/"; \
	ls -l "$(CURDIR)/$(DEBDIR)"
	@sh tests/pkg/check-debs.sh $(DEBDIR)
