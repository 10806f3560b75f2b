#!/usr/bin/env bash
# Installs libregwatch into a temporary prefix with `make install`, then
# builds examples/c/host_loop.c the usual way, with
# `pkg-config --cflags --libs regwatch`, once against the shared library
# (checking the soname) and once statically, and runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "== installed under $prefix:"
(cd "$prefix" && find . -type f -o -type l | sort | sed 's/^/   /')
soname=$(objdump -p "$prefix/lib/libregwatch.so" | awk '/SONAME/ {print $2}')
expected=$(sed -n 's/^#define REGWATCH_SONAME "\(.*\)"/\1/p' include/regwatch.h)
echo "== soname: $soname"
[ "$soname" = "$expected" ] || { echo "soname $soname, header says $expected"; exit 1; }
[ -e "$prefix/lib/$soname" ] || { echo "no $soname symlink"; exit 1; }
CC=${CC:-cc}
out=$(mktemp -d)
trap 'rm -rf "$prefix" "$out"' EXIT
echo "== cc ... \$(pkg-config --cflags --libs regwatch)"
$CC -std=c11 -Wall -Wextra -Werror examples/c/host_loop.c $(pkg-config --cflags --libs regwatch) \
    -Wl,-rpath,"$prefix/lib" -o "$out/host_loop"
"$out/host_loop" > "$out/shared.txt"
# (Captured first: `ldd | grep -q` under pipefail fails when grep stops
# reading before ldd has written everything.)
linked=$(ldd "$out/host_loop")
grep -q "$prefix/lib/$soname" <<<"$linked" || { echo "not linked to the installed $soname"; echo "$linked"; exit 1; }
echo "== static: cc ... \$(pkg-config --cflags --libs --static regwatch)"
$CC -std=c11 -Wall -Wextra -Werror examples/c/host_loop.c -I"$prefix/include" \
    "$prefix/lib/libregwatch.a" $(pkg-config --libs-only-l --static regwatch | sed 's/-lregwatch//') -o "$out/host_loop_static"
"$out/host_loop_static" > "$out/static.txt"
cmp "$out/shared.txt" "$out/static.txt"
grep -q "ALERT office" "$out/shared.txt"
grep -q "registration_expired" "$out/shared.txt"
cat "$out/shared.txt" | head -n 12
echo "install test: ok"
