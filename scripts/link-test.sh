#!/usr/bin/env bash
# Builds examples/c/host_loop.c against an installed libregwatch the way a
# C host does, with `pkg-config --cflags --libs regwatch` (regwatch.pc
# found as the caller's PKG_CONFIG_PATH says), once against the shared
# library and once statically, runs both and compares what they print.
# Checks that the shared library's SONAME is the installed header's
# REGWATCH_SONAME, that a link of that name is installed beside it, and
# that the program is linked to it.
#
#   scripts/link-test.sh [--rpath]
#
# --rpath: a prefix outside the loader's path (scripts/install-test.sh);
# without it the loader must find the library itself, from ld.so.cache
# (scripts/package-test.sh, after the packages' ldconfig trigger).
set -euo pipefail
cd "$(dirname "$0")/.."
rpath=no
[ "${1:-}" = --rpath ] && rpath=yes
libdir=$(pkg-config --variable=libdir regwatch)
includedir=$(pkg-config --variable=includedir regwatch)
soname=$(objdump -p "$libdir/libregwatch.so" | awk '/SONAME/ {print $2}')
expected=$(sed -n 's/^#define REGWATCH_SONAME "\(.*\)"/\1/p' "$includedir/regwatch.h")
echo "== soname: $soname"
[ "$soname" = "$expected" ] || { echo "soname $soname, header says $expected"; exit 1; }
[ -e "$libdir/$soname" ] || { echo "no $soname in $libdir"; exit 1; }
CC=${CC:-cc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
extra=()
[ "$rpath" = yes ] && extra=("-Wl,-rpath,$libdir")
echo "== cc ... \$(pkg-config --cflags --libs regwatch)"
# shellcheck disable=SC2046 # pkg-config's flags are words
$CC -std=c11 -Wall -Wextra -Werror examples/c/host_loop.c $(pkg-config --cflags --libs regwatch) \
    "${extra[@]}" -o "$out/host_loop"
"$out/host_loop" > "$out/shared.txt"
# (Captured first: `ldd | grep -q` under pipefail fails when grep stops
# reading before ldd has written everything.)
linked=$(ldd "$out/host_loop")
# (Compared as real paths: /lib is /usr/lib on a merged-/usr system.)
found=$(awk -v s="$soname" '$1 == s {print $3}' <<<"$linked")
if [ -z "$found" ] || [ "$(readlink -f "$found")" != "$(readlink -f "$libdir/$soname")" ]; then
    echo "not linked to $libdir/$soname"; echo "$linked"; exit 1
fi
echo "   $soname => $found"
echo "== static: cc ... \$(pkg-config --cflags --libs --static regwatch)"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror examples/c/host_loop.c $(pkg-config --cflags regwatch) \
    "$libdir/libregwatch.a" $(pkg-config --libs-only-l --static regwatch | sed 's/-lregwatch//') -o "$out/host_loop_static"
"$out/host_loop_static" > "$out/static.txt"
cmp "$out/shared.txt" "$out/static.txt"
grep -q "ALERT office" "$out/shared.txt"
grep -q "registration_expired" "$out/shared.txt"
head -n 12 "$out/shared.txt"
