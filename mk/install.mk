# Included by the top-level Makefile: install and uninstall.

# --- install ---------------------------------------------------------------
install: all
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)/
	for m in $(MANS); do s=$${m##*.}; \
	    $(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	$(INSTALL) -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libpidlock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libpidlock.so
	$(INSTALL) -m 644 lib/pidlock.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(B)/pidlock.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 644 $(UNITS) $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(INSTALL) -m 644 contrib/systemd/pidlock.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pidlock.conf

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libpidlock.a $(DESTDIR)$(LIBDIR)/libpidlock.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libpidlock.so \
	    $(DESTDIR)$(INCLUDEDIR)/pidlock.h $(DESTDIR)$(PKGCONFIGDIR)/pidlock.pc \
	    $(TOOLS:%=$(DESTDIR)$(BINDIR)/%) \
	    $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(UNITS))) \
	    $(DESTDIR)$(TMPFILESDIR)/pidlock.conf
	for m in $(notdir $(MANS)); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; done

