#!/bin/bash
# SPDX-License-Identifier: MIT
# make install / make uninstall into staging directories: the tree is the
# expected one for the default and for custom directories, man pages are
# compressed reproducibly on request, uninstall removes exactly what install
# put there (directories stay: they may be shared), and a program outside
# the tree builds against the installed copy with pkg-config, links it
# dynamically and sees a second instance refused.
. "$(dirname "$0")/lib.sh"

VERSION=$(sed -n 's/^#define PIDLOCK_VERSION_STRING "\(.*\)"/\1/p' "$TOP/lib/pidlock.h")
MANPAGES=$(cd "$TOP/man" && ls *.scd | sed 's/\.scd$//')
# the system units; the example unit is documentation (DOCDIR/examples)
UNITS=$(cd "$TOP/contrib/systemd" && ls *.service *.timer | grep -v '^example-')
EXAMPLES="example-fleet-job.service example-fleet-job.timer example-singleton.service example-singleton"

# mk ARGS...: make in the source tree with this build directory.  The
# caller's make flags (a jobserver, -k, ...) are not ours.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR \
		make -s --no-print-directory -C "$TOP" B="$B" "$@"
}

# tree DIR: every non-directory under DIR (relative, with its type: f or l
# -> target), sorted.
tree() {
	(cd "$1" && find . ! -type d -printf '%y %P%l\n' | sed 's/^\(l [^ ]*\)\(.\)/\1/' | sort)
}
tree_list() {
	(cd "$1" && find . ! -type d -printf '%P\n' | sort)
}

# expected LAYOUT: the file list an install with the directories in
# BIN LIBEX LIB INC MAN PC UNIT TMPF BASHC ZSHC DOC (relative, no leading /) and
# man page suffix MS has.
expected() {
	local p u
	{
		for p in lockrun lockstat lockclean; do echo "$BINd/$p"; done
		for p in lockrun-etcd lockstat-etcd; do echo "$LIBEXd/pidlock/$p"; done
		for p in libpidlock.a libpidlock.so libpidlock.so.1 "libpidlock.so.$VERSION"; do echo "$LIBd/$p"; done
		echo "$INCd/pidlock.h"
		echo "$PCd/pidlock.pc"
		for p in $MANPAGES; do echo "$MANd/man${p##*.}/$p$MS"; done
		for u in $UNITS; do echo "$UNITd/$u"; done
		echo "$TMPFd/pidlock.conf"
		for p in lockrun lockstat lockclean; do echo "$BASHCd/$p"; done
		echo "$ZSHCd/_pidlock"
		for p in $EXAMPLES; do echo "$DOCd/examples/$p"; done
	} | sort
}

# The defaults with PREFIX=/usr: everything where a distribution puts it.
t_install_default_tree() {
	mk install DESTDIR="$T/stage" PREFIX=/usr >log 2>&1 || { fail "make install: $(cat log)"; return; }
	# systemd's directories, under PREFIX (not bookworm's /lib)
	BINd=usr/bin LIBEXd=usr/libexec LIBd=usr/lib INCd=usr/include PCd=usr/lib/pkgconfig MANd=usr/share/man
	UNITd=usr/lib/systemd/system TMPFd=usr/lib/tmpfiles.d BASHCd=usr/share/bash-completion/completions
	ZSHCd=usr/share/zsh/site-functions DOCd=usr/share/doc/pidlock MS=
	diff -u <(expected) <(tree_list stage) >diff || fail "installed tree differs: $(cat diff)"
	grep -qx 'prefix=/usr' stage/usr/lib/pkgconfig/pidlock.pc || fail "pidlock.pc: $(cat stage/usr/lib/pkgconfig/pidlock.pc)"
	find stage -name 'example-*' -path '*/systemd/*' | grep -q . &&
		fail "an example is installed as a system unit: $(find stage -name 'example-*' -path '*/systemd/*')"
	mk uninstall DESTDIR="$T/stage" PREFIX=/usr >log 2>&1 || { fail "make uninstall: $(cat log)"; return; }
	[ -z "$(tree_list stage)" ] || fail "left after uninstall: $(tree_list stage)"
}

# Every directory variable honoured, pages gzipped reproducibly, links and
# modes right, and uninstall leaves a foreign file in a shared directory.
t_install_custom_dirs() {
	local vars="PREFIX=/opt/pl BINDIR=/opt/b LIBEXECDIR=/opt/lx LIBDIR=/opt/l INCLUDEDIR=/opt/i MANDIR=/opt/m
		PKGCONFIGDIR=/opt/pc SYSTEMDUNITDIR=/opt/u TMPFILESDIR=/opt/t BASHCOMPDIR=/opt/bc
		ZSHCOMPDIR=/opt/zc DOCDIR=/opt/d MANCOMPRESS=gzip"
	mkdir -p stage/opt/b
	echo keep >stage/opt/b/other-tool
	mk install DESTDIR="$T/stage" $vars >log 2>&1 || { fail "make install: $(cat log)"; return; }
	BINd=opt/b LIBEXd=opt/lx LIBd=opt/l INCd=opt/i PCd=opt/pc MANd=opt/m UNITd=opt/u TMPFd=opt/t
	BASHCd=opt/bc ZSHCd=opt/zc DOCd=opt/d MS=.gz
	diff -u <( { expected; echo opt/b/other-tool; } | sort) <(tree_list stage) >diff ||
		fail "installed tree differs: $(cat diff)"
	# links: the soname chain and the completions loaded by command name
	[ "$(readlink stage/opt/l/libpidlock.so)" = libpidlock.so.1 ] || fail "libpidlock.so -> $(readlink stage/opt/l/libpidlock.so)"
	[ "$(readlink stage/opt/l/libpidlock.so.1)" = "libpidlock.so.$VERSION" ] || fail "libpidlock.so.1 -> $(readlink stage/opt/l/libpidlock.so.1)"
	[ "$(readlink stage/opt/bc/lockstat)" = lockrun ] || fail "bash completion lockstat is not a link to lockrun"
	[ "$(readlink stage/opt/bc/lockclean)" = lockrun ] || fail "bash completion lockclean is not a link to lockrun"
	[ "$(stat -c %a stage/opt/b/lockrun)" = 755 ] || fail "lockrun mode $(stat -c %a stage/opt/b/lockrun)"
	local f
	for f in stage/opt/i/pidlock.h stage/opt/pc/pidlock.pc stage/opt/m/man1/lockrun.1.gz stage/opt/zc/_pidlock \
		stage/opt/u/lockclean.timer stage/opt/t/pidlock.conf stage/opt/l/libpidlock.a; do
		[ "$(stat -c %a "$f")" = 644 ] || fail "$f mode $(stat -c %a "$f")"
	done
	# pkg-config file of this install, whatever PREFIX the build used
	grep -qx 'prefix=/opt/pl' stage/opt/pc/pidlock.pc || fail "pidlock.pc prefix: $(cat stage/opt/pc/pidlock.pc)"
	# outside PREFIX, a directory stays absolute
	grep -qx 'libdir=/opt/l' stage/opt/pc/pidlock.pc || fail "pidlock.pc libdir: $(cat stage/opt/pc/pidlock.pc)"
	grep -qx 'includedir=/opt/i' stage/opt/pc/pidlock.pc || fail "pidlock.pc includedir: $(cat stage/opt/pc/pidlock.pc)"
	grep -qx "Version: $VERSION" stage/opt/pc/pidlock.pc || fail "pidlock.pc version"
	# gzip -n: no name, no time stamp (bytes 4-7 of the header are 0)
	local page=stage/opt/m/man1/lockrun.1.gz
	gzip -t "$page" || fail "$page is not gzip"
	[ "$(od -An -tx1 -j4 -N4 "$page" | tr -d ' ')" = 00000000 ] || fail "$page has a time stamp"
	zcat "$page" | cmp -s - "$TOP/$B/man/lockrun.1" || fail "$page is not the built page"
	local sum1
	sum1=$(cd stage && find opt/m -type f | sort | xargs sha256sum)
	mk install DESTDIR="$T/stage2" $vars >log 2>&1 || { fail "second make install: $(cat log)"; return; }
	[ "$sum1" = "$(cd stage2 && find opt/m -type f | sort | xargs sha256sum)" ] ||
		fail "compressed man pages differ between two installs"
	# uninstall removes our files, both page forms, and nothing else
	mk uninstall DESTDIR="$T/stage" $vars >log 2>&1 || { fail "make uninstall: $(cat log)"; return; }
	[ "$(tree_list stage)" = opt/b/other-tool ] || fail "after uninstall: $(tree_list stage | tr '\n' ' ')"
	[ -d stage/opt/l ] || fail "uninstall removed a directory"
	mk uninstall DESTDIR="$T/stage2" PREFIX=/opt/pl BINDIR=/opt/b LIBEXECDIR=/opt/lx LIBDIR=/opt/l INCLUDEDIR=/opt/i \
		MANDIR=/opt/m PKGCONFIGDIR=/opt/pc SYSTEMDUNITDIR=/opt/u TMPFILESDIR=/opt/t \
		BASHCOMPDIR=/opt/bc ZSHCOMPDIR=/opt/zc DOCDIR=/opt/d >log 2>&1 || { fail "make uninstall: $(cat log)"; return; }
	[ -z "$(tree_list stage2)" ] || fail "uninstall without MANCOMPRESS left: $(tree_list stage2 | tr '\n' ' ')"
	# a second uninstall of nothing succeeds
	mk uninstall DESTDIR="$T/stage" $vars >log 2>&1 || fail "uninstall of an empty tree failed: $(cat log)"
}

t_install_rejects_unknown_compression() {
	run env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP" B="$B" install DESTDIR="$T/stage" MANCOMPRESS=xz
	[ "$status" != 0 ] || fail "MANCOMPRESS=xz accepted"
	expect_err_match 'MANCOMPRESS must be empty or gzip'
	[ ! -e stage ] || fail "something was installed: $(tree_list stage)"
}

# A program outside the tree, built with pkg-config against the installed
# copy (PREFIX=$T/prefix: pidlock.pc names the real paths), linked to
# libpidlock.so.1 and run with LD_LIBRARY_PATH: the first instance holds
# the lock, the second is told it is busy and by whom.
t_consumer_against_installed_copy() {
	# PREFIX alone puts everything under it, systemd's directories too
	local dirs="PREFIX=$T/prefix"
	mk install $dirs >log 2>&1 || { fail "make install: $(cat log)"; return; }
	[ -z "$(find "$T/prefix" -name '*.service' ! -path "$T/prefix/lib/systemd/system/*" ! -path "$T/prefix/share/doc/*")" ] &&
	[ -e "$T/prefix/lib/systemd/system/lockclean.service" ] &&
	[ -e "$T/prefix/lib/tmpfiles.d/pidlock.conf" ] ||
		fail "systemd files not under PREFIX: $(find "$T/prefix" -name '*.service' -o -name 'pidlock.conf')"
	mkdir src
	cp "$TOP/tests/pkg/consumer.c" "$TOP/examples/single-instance.c" src/
	export PKG_CONFIG_PATH=$T/prefix/lib/pkgconfig
	local flags
	flags=$(pkg-config --cflags --libs pidlock) || { fail "pkg-config --cflags --libs pidlock failed"; return; }
	case " $flags " in *" -I$T/prefix/include "*"-L$T/prefix/lib "*) ;;
	*) fail "pkg-config flags: $flags" ;; esac
	# a sanitized library wants its runtime in the program too
	[ -z "$SANITIZED" ] || flags="-fsanitize=address,undefined $flags"
	run ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o consumer src/consumer.c $flags
	expect_status 0 || return
	run ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o example src/single-instance.c $flags
	expect_status 0 || return
	readelf -d consumer | grep -q 'NEEDED.*\[libpidlock\.so\.1\]' ||
		{ fail "consumer does not NEED libpidlock.so.1: $(readelf -d consumer | grep NEEDED)"; return; }
	nm consumer | grep -q ' T pidlock_' && fail "consumer has the library linked in statically"
	export LD_LIBRARY_PATH=$T/prefix/lib
	mkfifo hold
	./consumer "$T/app.lock" <hold >first.out 2>first.err &
	local p=$!
	exec 3>hold
	wait_until grep -q '^held ' first.out || { exec 3>&-; wait $p; return; }
	[ "$(cat first.out)" = "held $p" ] || fail "first: $(cat first.out)"
	# the library it runs with is the installed copy
	grep -q "$T/prefix/lib/libpidlock.so.$VERSION" /proc/$p/maps ||
		fail "the consumer did not load the staging library: $(grep pidlock /proc/$p/maps)"
	run ./consumer "$T/app.lock"
	expect_status 1
	expect_out "busy $p"
	# the compiled README example agrees, through the name in PIDLOCK_DIR
	export PIDLOCK_DIR=$T
	exec 3>&-
	wait $p
	local st=$?
	[ $st = 0 ] || fail "first consumer exited $st: $(cat first.err)"
	expect_released app.lock
	run ./example
	expect_status 0
	expect_out_match '^example: running as PID [0-9]+$'
	run ./consumer "$T/app.lock"
	expect_status 0
	mk uninstall $dirs >log 2>&1 || fail "make uninstall: $(cat log)"
	[ -z "$(tree_list prefix)" ] || fail "left after uninstall: $(tree_list prefix)"
}

# contrib/debian follows the tree: the changelog's version is VERSION and
# the symbols file lists exactly what the shared library exports (a new
# function needs its line, with the version that introduced it).
t_debian_packaging_follows_the_tree() {
	local deb=$TOP/contrib/debian
	[ "$(sed -n '1s/^pidlock (\([^)]*\)).*/\1/p' "$deb/changelog")" = "$VERSION" ] ||
		fail "contrib/debian/changelog is at $(sed -n 1p "$deb/changelog"), the Makefile at $VERSION"
	[ "$(cat "$deb/source/format")" = "3.0 (native)" ] || fail "source format $(cat "$deb/source/format")"
	grep -qx 'Build-Depends: debhelper-compat (= 13),' "$deb/control" || fail "not debhelper compat 13"
	local so=$TOP/$B/libpidlock.so.1
	[ -e "$so" ] || { fail "$so is not built"; return; }
	diff -u <(sed -n 's/^ \([^ ]*\) .*/\1/p' "$deb/libpidlock1.symbols" | sort) \
		<(nm -D --defined-only --with-symbol-versions "$so" | awk '{print $3}' |
		  sed 's/@@*/@/; /@/!s/.*/&@&/' | sort) >diff ||
		fail "contrib/debian/libpidlock1.symbols and $B/libpidlock.so differ (+ exported, not listed: add it with the version that introduces it): $(grep '^[-+][^-+]' diff | tr '\n' ' ')"
}

# make dist twice: the same bytes (SOURCE_DATE_EPOCH, sorted, 0:0, gzip -n),
# and every tracked file is in it.
t_dist_is_reproducible() {
	git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1 || { skip_test "not a git checkout (an unpacked tarball)"; return 0; }
	mk dist DISTDIR="$T/a" >log 2>&1 || { fail "make dist: $(cat log)"; return; }
	mk dist DISTDIR="$T/b" >log 2>&1 || { fail "second make dist: $(cat log)"; return; }
	local a=a/pidlock-$VERSION.tar.gz b=b/pidlock-$VERSION.tar.gz
	[ "$(sha256sum <$a)" = "$(sha256sum <$b)" ] || fail "two make dist runs differ"
	[ "$(od -An -tx1 -j4 -N4 $a | tr -d ' ')" = 00000000 ] || fail "the gzip header has a time stamp"
	tar -tvzf $a >list
	awk '$2 != "0/0" {bad=1} END {exit bad}' list || fail "files not owned by 0/0: $(awk '$2 != "0/0"' list | head -3)"
	[ "$(awk '{print $4" "$5}' list | sort -u | wc -l)" = 1 ] || fail "more than one time stamp"
	diff <(git -C "$TOP" ls-files | while read -r f; do [ -e "$TOP/$f" ] && echo "pidlock-$VERSION/$f"; done | sort) \
		<(tar -tzf $a | sort) >diff || fail "tarball and git ls-files differ: $(cat diff)"
}

# pidlock.pc names libdir and includedir through ${prefix} (as meson and
# autotools write them), so a staged tree works: pkg-config --define-prefix
# takes the prefix from where the file is, and the flags name the stage.
t_pc_is_relocatable() {
	mk install-lib DESTDIR="$T/stage" PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu >log 2>&1 ||
		{ fail "make install-lib: $(cat log)"; return; }
	local pc=stage/usr/lib/x86_64-linux-gnu/pkgconfig/pidlock.pc
	grep -qx 'libdir=${prefix}/lib/x86_64-linux-gnu' $pc || fail "pidlock.pc libdir: $(cat $pc)"
	grep -qx 'includedir=${prefix}/include' $pc || fail "pidlock.pc includedir: $(cat $pc)"
	rm -rf stage
	mk install-lib DESTDIR="$T/stage" PREFIX=/usr >log 2>&1 || { fail "make install-lib: $(cat log)"; return; }
	local flags
	flags=$(PKG_CONFIG_PATH=$T/stage/usr/lib/pkgconfig pkg-config --define-prefix --cflags --libs pidlock) ||
		{ fail "pkg-config --define-prefix failed"; return; }
	case " $flags " in *" -I$T/stage/usr/include "*"-L$T/stage/usr/lib "*) ;;
	*) fail "pkg-config --define-prefix: $flags" ;; esac
	# moved elsewhere, the tree still builds a program
	mv stage/usr moved
	flags=$(PKG_CONFIG_PATH=$T/moved/lib/pkgconfig pkg-config --define-prefix --cflags --libs pidlock) ||
		{ fail "pkg-config --define-prefix (moved) failed"; return; }
	[ -z "$SANITIZED" ] || flags="-fsanitize=address,undefined $flags"
	run ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o consumer "$TOP/tests/pkg/consumer.c" $flags
	expect_status 0
}

run_tests \
	t_pc_is_relocatable \
	t_debian_packaging_follows_the_tree \
	t_dist_is_reproducible \
	t_install_default_tree \
	t_install_custom_dirs \
	t_install_rejects_unknown_compression \
	t_consumer_against_installed_copy
