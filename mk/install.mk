# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: install and uninstall.
#
#   make install    DESTDIR PREFIX BINDIR LIBEXECDIR LIBDIR INCLUDEDIR MANDIR PKGCONFIGDIR
#                   SYSTEMDUNITDIR TMPFILESDIR BASHCOMPDIR ZSHCOMPDIR DOCDIR
#                   MANCOMPRESS=gzip (default: uncompressed pages)
#   make uninstall  the same variables: removes exactly the files install
#                   put there; directories stay, as they may be shared
#                   (/usr/local/bin) and were not necessarily created by us.

# bash-completion's own pkg-config file names its directory; asking with our
# prefix keeps a /usr/local install inside /usr/local (bash-completion also
# searches $XDG_DATA_DIRS/bash-completion/completions).
BASHCOMPDIR ?= $(or $(shell $(PKG_CONFIG) --define-variable=prefix=$(PREFIX) \
	--variable=completionsdir bash-completion 2>/dev/null),$(PREFIX)/share/bash-completion/completions)
# zsh's upstream place for third-party functions; Debian's zsh also reads
# /usr/share/zsh/vendor-completions, which the Debian package uses.
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
# Examples to copy, not to run: the example unit runs `sleep infinity`, so
# it goes to the documentation, never to the system unit directory.
DOCDIR ?= $(PREFIX)/share/doc/pidlock
EXAMPLES := $(filter contrib/systemd/example-%,$(UNITS)) contrib/sysvinit/example-singleton
SYSTEM_UNITS := $(filter-out $(EXAMPLES),$(UNITS))
# Distributions compress man pages (Debian: gzip -9n); a plain make install
# leaves them as they are.  gzip -n keeps no name or time: reproducible.
MANCOMPRESS ?=

ifeq ($(MANCOMPRESS),)
MANSUFFIX :=
else ifeq ($(MANCOMPRESS),gzip)
MANSUFFIX := .gz
else
$(error MANCOMPRESS must be empty or gzip, not '$(MANCOMPRESS)')
endif

# The completion for lockrun holds all three tools' functions; bash loads
# completions/<command> on demand, so the other two names are links to it.
BASH_COMPLETION := contrib/completion/pidlock.bash
BASH_COMPLETION_LINKS := lockstat lockclean
ZSH_COMPLETION := contrib/completion/_pidlock

# pidlock.pc is written from the directories of this install, not copied
# from $(B): a build made with another PREFIX must not leak into it
# (PIDLOCK_PC_SED: the Makefile).

.PHONY: install-lib install-tools install-man install-systemd install-completion install-examples

install: install-lib install-tools install-man install-systemd install-completion install-examples

install-lib: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libpidlock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libpidlock.so
	$(INSTALL) -m 644 lib/pidlock.h $(DESTDIR)$(INCLUDEDIR)/
	$(PIDLOCK_PC_SED) lib/pidlock.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/pidlock.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/pidlock.pc

# flock is not installed: util-linux owns that name.
install-tools: tools
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)/
	$(if $(ETCD_HELPERS),$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR)/pidlock)
	$(if $(ETCD_HELPERS),$(INSTALL) -m 755 $(ETCD_HELPERS) $(DESTDIR)$(LIBEXECDIR)/pidlock/)

install-man: man
	for m in $(MANS); do s=$${m##*.}; d=$(DESTDIR)$(MANDIR)/man$$s; \
	    $(INSTALL) -d $$d || exit 1; \
	    if [ -n "$(MANSUFFIX)" ]; then \
	        gzip -9n <$$m >$$d/$${m##*/}.gz && chmod 644 $$d/$${m##*/}.gz || exit 1; \
	    else $(INSTALL) -m 644 $$m $$d/ || exit 1; fi; \
	done

install-systemd:
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 644 $(SYSTEM_UNITS) $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(INSTALL) -m 644 contrib/systemd/pidlock.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pidlock.conf

install-examples:
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/

install-completion:
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 644 $(BASH_COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/lockrun
	for t in $(BASH_COMPLETION_LINKS); do \
	    ln -sf lockrun $(DESTDIR)$(BASHCOMPDIR)/$$t || exit 1; done
	$(INSTALL) -m 644 $(ZSH_COMPLETION) $(DESTDIR)$(ZSHCOMPDIR)/_pidlock

# Both forms of each page go, whatever MANCOMPRESS says now: a page
# installed compressed is still ours when uninstalled without the option.
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libpidlock.a $(DESTDIR)$(LIBDIR)/libpidlock.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libpidlock.so \
	    $(DESTDIR)$(INCLUDEDIR)/pidlock.h $(DESTDIR)$(PKGCONFIGDIR)/pidlock.pc \
	    $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) \
	    $(DESTDIR)$(LIBEXECDIR)/pidlock/lockrun-etcd $(DESTDIR)$(LIBEXECDIR)/pidlock/lockstat-etcd \
	    $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(SYSTEM_UNITS))) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES))) \
	    $(DESTDIR)$(TMPFILESDIR)/pidlock.conf \
	    $(DESTDIR)$(BASHCOMPDIR)/lockrun $(BASH_COMPLETION_LINKS:%=$(DESTDIR)$(BASHCOMPDIR)/%) \
	    $(DESTDIR)$(ZSHCOMPDIR)/_pidlock
	for m in $(notdir $(MANS)); do \
	    rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m.gz; done
