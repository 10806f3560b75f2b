#!/usr/bin/env bash
# Builds regwatch's Debian packages from this tree with dpkg-deb:
#
#   regwatch          /usr/bin/regwatch, a manual page per command, bash,
#                     zsh and fish completions, regwatch.service and
#                     regwatch@.service, the user they run as (sysusers.d),
#                     /etc/regwatch/watch.toml and watch.env (conffiles)
#   libregwatch0.1    libregwatch.so.0.1.0 and its soname link
#                     (libregwatch.so.0.1, as build.rs sets it)
#   libregwatch-dev   regwatch.h, libregwatch.so, libregwatch.a, regwatch.pc
#
#   scripts/package.sh        # prints the paths of the three .deb files
#
# Output: <cargo target dir>/debian/ (target/debian/ by default). The
# version is Cargo.toml's, with the Debian revision REGWATCH_DEB_REVISION
# (default 1); Maintainer from DEBFULLNAME and DEBEMAIL when set; file
# times and the changelog date from SOURCE_DATE_EPOCH (default: the last
# commit). Needs cargo, dpkg-dev (dpkg-shlibdeps, dpkg-architecture),
# binutils, make and python3; not root (dpkg-deb --root-owner-group).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
debver="$version-${REGWATCH_DEB_REVISION:-1}"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
maintainer="${DEBFULLNAME:-regwatch maintainers} <${DEBEMAIL:-maintainers@users.noreply.r-seed-10997e86.example}>"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
# Where Debian's systemd looks: /lib/systemd/system up to bookworm,
# /usr/lib/systemd/system from trixie on. systemd.pc says which (in
# package systemd, from trixie on systemd-dev); else where the installed
# systemd keeps its own units.
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
if [ -z "$unitdir" ]; then
    unitdir=$(dpkg -L systemd 2>/dev/null | sed -n 's|^\(.*/systemd/system\)/systemd-journald\.service$|\1|p')
fi
if [ -z "$unitdir" ]; then
    unitdir=/lib/systemd/system
    echo "package: neither systemd.pc nor systemd's own units here: units go to $unitdir" >&2
fi
libdir=/usr/lib/$multiarch
soname=$(sed -n 's/^#define REGWATCH_SONAME "\(.*\)"/\1/p' include/regwatch.h)
# Debian names a library package after its soname: libregwatch.so.0.1 ->
# libregwatch0.1.
libpkg="${soname%%.so.*}${soname#*.so.}"

# regwatch.service must be regwatch@.service's instance `watch` (their
# comments aside): one list of hardening options, not two that drift.
units=deploy/systemd
if ! diff -u <(sed -n '/^\[Unit\]/,$p' "$units/regwatch@.service" | sed 's/%i/watch/g') \
    <(sed -n '/^\[Unit\]/,$p' "$units/regwatch.service") >&2; then
    echo "package: $units/regwatch.service is not regwatch@.service with %i=watch" >&2
    exit 1
fi

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
out="$target_dir/debian"
work="$out/build"
rm -rf "$work"
mkdir -p "$work/debian"
# dpkg-shlibdeps reads debian/control and wants the files in
# debian/<package>/.
printf 'Source: regwatch\n\nPackage: regwatch\nArchitecture: any\n' >"$work/debian/control"

echo "== build (release): regwatch, libregwatch.so, libregwatch.a" >&2
cargo build --release --quiet --bin regwatch
make --no-print-directory install CARGO="cargo --quiet" DESTDIR="$work/lib-install" PREFIX=/usr LIBDIR="$libdir" >/dev/null
bin="$target_dir/release/regwatch"

# Strips as dh_strip does (no -dbgsym packages are made).
strip_exe() { strip --remove-section=.comment --remove-section=.note "$@"; }
strip_lib() { strip --remove-section=.comment --remove-section=.note --strip-unneeded "$@"; }

# doc PACKAGE: copyright, changelog.Debian.gz and the upstream changelog.
changelog_debian=$(
    printf 'regwatch (%s) unstable; urgency=medium\n\n' "$debver"
    printf '  * Built by scripts/package.sh from the regwatch tree at %s.\n' \
        "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with changes')"
    printf '    The changes are in /usr/share/doc/regwatch/changelog.gz.\n\n'
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
)
crates=$(cargo tree -e normal --prefix none --format '{p}|{l}' --target "$(rustc -vV | sed -n 's/^host: //p')" \
    | grep -v '(proc-macro)' | sed 's/ (\*)$//; s/ (\/.*)//' | grep -v '^regwatch ' | sort -u \
    | awk -F'|' '{printf " %s: %s\n", $1, $2}')
# The years of the tree's commits, for the copyright notice.
years=$(git log --format=%ad --date=format:%Y 2>/dev/null | sort -u | sed -n '1p;$p' | paste -sd- | sed 's/^\([0-9]*\)-\1$/\1/')
[ -n "$years" ] || years=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
doc() {
    local d="$work/debian/$1/usr/share/doc/$1"
    install -d "$d"
    awk -v crates="$crates" '!done && $0 == "" {print crates; done = 1} {print}' \
        deploy/debian/copyright | sed "s/@YEARS@/$years/" >"$d/copyright"
    printf '%s\n' "$changelog_debian" | gzip -9n >"$d/changelog.Debian.gz"
    gzip -9n <CHANGELOG.md >"$d/changelog.gz"
}

# control PACKAGE FIELDS...: DEBIAN/control and DEBIAN/md5sums (conffiles
# left out, as dh_md5sums does).
control() {
    local pkg=$1 root="$work/debian/$1"
    shift
    install -d "$root/DEBIAN"
    {
        printf 'Package: %s\nSource: regwatch\nVersion: %s\nArchitecture: %s\n' "$pkg" "$debver" "$arch"
        printf 'Maintainer: %s\n' "$maintainer"
        printf 'Installed-Size: %s\n' "$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
        printf '%s\n' "$@"
    } >"$root/DEBIAN/control"
    (
        cd "$root"
        find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0r md5sum
    ) >"$root/DEBIAN/md5sums"
}

# shlibdeps FILE...: the Depends their ELF dependencies call for.
shlibdeps() {
    (cd "$work" && dpkg-shlibdeps -O "${@/#/-e}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

description_common=" regwatch keeps SIP trunk registrations alive and explains why they fail:
 it follows what a PBX or softphone sends and hears (REGISTER, challenges,
 200/403/404/423/5xx, timeouts, transport errors), notices a binding that
 lapses, and turns every failure into a diagnosis with the fix. It also
 validates a trunk's domain and credentials before the first REGISTER and
 sends OPTIONS keep-alives that raise an alert after consecutive failures."

echo "== regwatch" >&2
root="$work/debian/regwatch"
install -D -m 0755 "$bin" "$root/usr/bin/regwatch"
strip_exe "$root/usr/bin/regwatch"
man="$work/man"
install -d "$man" "$root/usr/share/man/man1"
"$bin" man --dir "$man"
for page in "$man"/*.1; do
    name=${page##*/}
    gzip -9n <"$page" >"$root/usr/share/man/man1/$name.gz"
done
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$bin" completions bash >"$root/usr/share/bash-completion/completions/regwatch"
"$bin" completions zsh >"$root/usr/share/zsh/vendor-completions/_regwatch"
"$bin" completions fish >"$root/usr/share/fish/vendor_completions.d/regwatch.fish"
install -D -m 0644 "$units/regwatch.service" "$root$unitdir/regwatch.service"
install -D -m 0644 "$units/regwatch@.service" "$root$unitdir/regwatch@.service"
install -D -m 0644 "$units/regwatch.sysusers" "$root/usr/lib/sysusers.d/regwatch.conf"
# The trunk file holds passwords once filled: never world-readable (the
# postinst gives it to group regwatch).
install -D -m 0640 "$units/watch.toml" "$root/etc/regwatch/watch.toml"
install -D -m 0644 "$units/watch.env" "$root/etc/regwatch/watch.env"
install -D -m 0644 /dev/stdin "$root/usr/share/lintian/overrides/regwatch" <<'EOF'
# Passwords go into this file: root:regwatch 0640 (dpkg-statoverride).
regwatch: non-standard-file-perm 0640 != 0644 [etc/regwatch/watch.toml]
EOF
doc regwatch
gzip -9n <README.md >"$root/usr/share/doc/regwatch/README.md.gz"
depends=$(shlibdeps "$root/usr/bin/regwatch")
control regwatch \
    "Depends: $depends, systemd | systemd-standalone-sysusers | systemd-sysusers" \
    "Section: net" "Priority: optional" \
    "Description: SIP trunk registration monitor and diagnosis" \
    "$description_common" \
    " ." \
    " This package holds the regwatch command (lint, check, explain, analyze," \
    " watch), its manual pages and shell completions, and regwatch.service," \
    " which runs regwatch watch on /etc/regwatch/watch.toml as user regwatch."
printf '/etc/regwatch/watch.toml\n/etc/regwatch/watch.env\n' >"$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "deploy/debian/regwatch.$script" "$root/DEBIAN/$script"
done

echo "== $libpkg" >&2
root="$work/debian/$libpkg"
install -d "$root$libdir"
cp -a "$work/lib-install$libdir/libregwatch.so.$version" "$work/lib-install$libdir/$soname" "$root$libdir/"
chmod 0644 "$root$libdir/libregwatch.so.$version"
strip_lib "$root$libdir/libregwatch.so.$version"
doc "$libpkg"
depends=$(shlibdeps "$root$libdir/libregwatch.so.$version")
control "$libpkg" \
    "Depends: $depends" "Multi-Arch: same" "Section: libs" "Priority: optional" \
    "Description: SIP trunk registration monitor - shared library" \
    "$description_common" \
    " ." \
    " This package holds the shared library with its stable C ABI, for" \
    " PBX modules and softphones."
# Programs linked with -lregwatch depend on this package from this
# version on; ldconfig runs once at the end of the dpkg run.
printf 'libregwatch %s %s (>= %s)\n' "${soname#libregwatch.so.}" "$libpkg" "$version" >"$root/DEBIAN/shlibs"
# The same per exported symbol (every regwatch_* function, at this
# version: the soname changes with every ABI break before 1.0).
printf '%s\n' "$changelog_debian" >"$work/debian/changelog"
(cd "$work" && dpkg-gensymbols -q -p"$libpkg" -P"debian/$libpkg" -v"$version" -O"debian/$libpkg/DEBIAN/symbols")
sed -i '1a * Build-Depends-Package: libregwatch-dev' "$root/DEBIAN/symbols"
printf 'activate-noawait ldconfig\n' >"$root/DEBIAN/triggers"

echo "== libregwatch-dev" >&2
root="$work/debian/libregwatch-dev"
install -d "$root$libdir/pkgconfig" "$root/usr/include"
cp -a "$work/lib-install$libdir/libregwatch.so" "$root$libdir/"
install -m 0644 "$work/lib-install$libdir/libregwatch.a" "$root$libdir/libregwatch.a"
strip --strip-debug --remove-section=.comment --remove-section=.note --enable-deterministic-archives \
    "$root$libdir/libregwatch.a"
install -m 0644 "$work/lib-install$libdir/pkgconfig/regwatch.pc" "$root$libdir/pkgconfig/regwatch.pc"
install -m 0644 include/regwatch.h "$root/usr/include/regwatch.h"
doc libregwatch-dev
install -D -m 0644 examples/c/host_loop.c "$root/usr/share/doc/libregwatch-dev/examples/host_loop.c"
control libregwatch-dev \
    "Depends: $libpkg (= $debver)" "Multi-Arch: same" "Section: libdevel" "Priority: optional" \
    "Description: SIP trunk registration monitor - development files" \
    "$description_common" \
    " ." \
    " This package holds the C header, the static library and the" \
    " pkg-config file (pkg-config --cflags --libs regwatch)."

mkdir -p "$out"
rm -f "$out"/*.deb
for pkg in regwatch "$libpkg" libregwatch-dev; do
    deb="$out/${pkg}_${debver}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$work/debian/$pkg" "$deb" >/dev/null
    printf '%s\n' "$deb"
done
