#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the packages that make deb built, without installing them on this
# system: what each contains, what it depends on, that dpkg would accept
# them, and that the unpacked packages work: the tools run, and a program
# built with pkg-config against libpidlock-dev links libpidlock.so.1 from
# libpidlock1 and sees a second instance refused.
#
# usage: tests/pkg/check-debs.sh DEBDIR
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
debdir=$(cd "$1" && pwd)
version=$(sed -n 's/^#define PIDLOCK_VERSION_STRING "\(.*\)"/\1/p' "$top/lib/pidlock.h")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pidlock-debs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() { echo "check-debs: FAIL: $*"; failed=1; }
deb() { echo "$debdir/${1}_${version}_$arch.deb"; }
# contents PKG: its files and links (no directories), as /path.
contents() { dpkg-deb -c "$(deb "$1")" | awk '$1 !~ /^d/ {print $6}' | sed 's,^\.,,' | sort; }

for p in libpidlock1 libpidlock-dev pidlock python3-pidlock; do
	[ -f "$(deb $p)" ] || { fail "$(deb $p) is missing"; exit 1; }
done

# --- contents ---------------------------------------------------------------
expect_contents() {
	pkg=$1; shift
	got=$(contents "$pkg")
	for f in "$@"; do
		printf '%s\n' "$got" | grep -qx -- "$f" || fail "$pkg lacks $f"
	done
}
lib=/usr/lib/$multiarch
expect_contents libpidlock1 "$lib/libpidlock.so.1" "$lib/libpidlock.so.$version"
expect_contents libpidlock-dev /usr/include/pidlock.h "$lib/libpidlock.so" "$lib/libpidlock.a" \
	"$lib/pkgconfig/pidlock.pc" /usr/share/man/man3/pidlock.3.gz \
	/usr/share/doc/libpidlock-dev/examples/single-instance.c
expect_contents pidlock /usr/bin/lockrun /usr/bin/lockstat /usr/bin/lockclean \
	/usr/share/man/man1/lockrun.1.gz /usr/share/man/man1/lockstat.1.gz \
	/usr/share/man/man8/lockclean.8.gz /usr/share/man/man5/pidlock.5.gz \
	/lib/systemd/system/lockclean.service /lib/systemd/system/lockclean.timer \
	/lib/systemd/system/lockrun@.service /lib/systemd/system/lockrun@.timer \
	/usr/lib/tmpfiles.d/pidlock.conf \
	/usr/share/bash-completion/completions/lockrun /usr/share/bash-completion/completions/lockstat \
	/usr/share/bash-completion/completions/lockclean /usr/share/zsh/vendor-completions/_pidlock \
	/usr/share/doc/pidlock/examples/example-singleton \
	/usr/share/doc/pidlock/examples/example-singleton.service
contents pidlock | grep -q 'systemd/system/example-singleton.service' &&
	fail "the example unit is installed as a system unit"
contents pidlock | grep -q '/flock$' && fail "pidlock ships a flock (util-linux owns it)"
# the shared library lives only in libpidlock1, the tools link it statically
contents pidlock | grep -q 'libpidlock' && fail "pidlock contains the library"

contents python3-pidlock | grep -q '^/usr/lib/python3/dist-packages/pidlock/__init__\.py$' ||
	fail "python3-pidlock lacks pidlock/__init__.py"
contents python3-pidlock | grep -q '^/usr/lib/python3/dist-packages/pidlock/_pidlock\..*\.so$' ||
	fail "python3-pidlock lacks the extension"

# --- control data -------------------------------------------------------------
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
field libpidlock-dev Depends | grep -q "libpidlock1 (= $version)" ||
	fail "libpidlock-dev Depends: $(field libpidlock-dev Depends)"
field libpidlock-dev Depends | grep -q 'libbsd-dev' ||
	fail "libpidlock-dev does not depend on libbsd-dev (pidlock.pc requires libbsd)"
field libpidlock1 Multi-Arch | grep -qx same || fail "libpidlock1 is not Multi-Arch: same"
dpkg-deb --ctrl-tarfile "$(deb libpidlock1)" | tar -t | grep -qx './symbols' ||
	fail "libpidlock1 has no symbols file"
dpkg-deb --ctrl-tarfile "$(deb libpidlock1)" | tar -t | grep -qx './triggers' ||
	fail "libpidlock1 has no ldconfig trigger"
field pidlock Depends | grep -q 'libc6' || fail "pidlock Depends: $(field pidlock Depends)"
# libbsd is Debian's, not embedded: the tools need it, the package says so
field pidlock Depends | grep -q 'libbsd0' ||
	fail "pidlock does not depend on libbsd0 (libbsd linked statically?): $(field pidlock Depends)"

field python3-pidlock Depends | grep -q 'libpidlock1' && field python3-pidlock Depends | grep -q 'python3' ||
	fail "python3-pidlock Depends: $(field python3-pidlock Depends)"

# dpkg would install them together on this system (nothing is installed)
dpkg --dry-run -i "$(deb libpidlock1)" "$(deb libpidlock-dev)" "$(deb pidlock)" "$(deb python3-pidlock)" >"$tmp/dry" 2>&1 ||
	fail "dpkg --dry-run -i: $(cat "$tmp/dry")"

# --- the unpacked packages work -----------------------------------------------
root=$tmp/root
for p in libpidlock1 libpidlock-dev pidlock python3-pidlock; do dpkg -x "$(deb $p)" "$root"; done
"$root/usr/bin/lockrun" --version | grep -q "$version" || fail "lockrun --version: $("$root/usr/bin/lockrun" --version)"
"$root/usr/bin/lockrun" -F "$tmp/t.lock" true || fail "the packaged lockrun does not run"
for t in lockrun lockstat lockclean; do
	readelf -d "$root/usr/bin/$t" | grep -q 'NEEDED.*\[libbsd\.so\.0\]' ||
		fail "the packaged $t does not link libbsd.so.0 dynamically"
done

# A program built as a user of libpidlock-dev would build it: the sysroot
# is the unpacked packages.
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$root$lib/pkgconfig"
flags=$(pkg-config --cflags --libs pidlock) || fail "pkg-config pidlock"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" "$top/tests/pkg/consumer.c" $flags ||
	fail "the consumer does not build against libpidlock-dev"
readelf -d "$tmp/consumer" | grep -q 'NEEDED.*\[libpidlock\.so\.1\]' || fail "the consumer does not NEED libpidlock.so.1"
mkfifo "$tmp/hold"
LD_LIBRARY_PATH=$root$lib "$tmp/consumer" "$tmp/app.lock" <"$tmp/hold" >"$tmp/first" &
pid=$!
exec 3>"$tmp/hold"
i=0
until grep -q '^held' "$tmp/first" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 1000 ] || { fail "the first consumer never held the lock"; break; }
	sleep 0.01
done
grep -q "$root$lib/libpidlock.so.$version" /proc/$pid/maps || fail "the consumer did not load libpidlock1's library"
out=$(LD_LIBRARY_PATH=$root$lib "$tmp/consumer" "$tmp/app.lock") && st=0 || st=$?
[ "$st" = 1 ] && [ "$out" = "busy $pid" ] || fail "second consumer: exit $st, '$out'"
exec 3>&-
wait $pid || fail "the first consumer failed"

# The Python module, from the unpacked package, on libpidlock1's library.
out=$(cd "$tmp" && LD_LIBRARY_PATH=$root$lib PYTHONPATH=$root/usr/lib/python3/dist-packages \
	/usr/bin/python3 -c 'import pidlock, sys
with pidlock.Lock(path=sys.argv[1]) as lk:
    print(pidlock.library_version(), pidlock.inspect(sys.argv[1]).state, pidlock._pidlock.__file__)' "$tmp/py.lock") ||
	fail "python3-pidlock does not import or lock"
[ "${out%% *}" = "$version" ] && case $out in *" live $root/usr/lib/python3/dist-packages/"*) ;; *) false ;; esac ||
	fail "python3-pidlock: $out"

# The autopkgtests (contrib/debian/tests, run by the archive on the
# installed packages), here on the unpacked ones: their tools first on
# PATH, their library found through the sysroot set above.
grep -q '^Tests: tools$' "$top/contrib/debian/tests/control" &&
	grep -q '^Tests: library$' "$top/contrib/debian/tests/control" &&
	grep -q '^Tests: python$' "$top/contrib/debian/tests/control" ||
	fail "contrib/debian/tests/control does not list the tools, library and python tests"
for t in tools library python; do
	mkdir "$tmp/autopkgtest-$t"
	(cd "$top" && PATH="$root/usr/bin:$PATH" LD_LIBRARY_PATH="$root$lib" \
		PYTHONPATH="$root/usr/lib/python3/dist-packages" \
		AUTOPKGTEST_TMP="$tmp/autopkgtest-$t" sh "contrib/debian/tests/$t") >"$tmp/$t.log" 2>&1 ||
		fail "autopkgtest $t: $(cat "$tmp/$t.log")"
done

if [ $failed = 0 ]; then
	echo "check-debs: libpidlock1, libpidlock-dev, pidlock, python3-pidlock $version: contents, dependencies, symbols, a consumer built against them and the autopkgtests: ok"
fi
exit $failed
