#!/usr/bin/env bash
# Builds tests/c/api_test.c against include/regwatch.h and libregwatch with
# -Wall -Wextra -Werror, runs it against the static and the shared library,
# then again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --lib
lib="$target_dir/debug"
out=build-c
mkdir -p "$out"
CC=${CC:-cc}
CFLAGS="-std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude"
LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

echo "== C API test, static library"
$CC $CFLAGS tests/c/api_test.c "$lib/libregwatch.a" $LIBS -o "$out/api_test_static"
"$out/api_test_static"

echo "== C API test, shared library"
# The library's soname (libregwatch.so.MAJOR.MINOR) is what the loader looks for.
soname=$(sed -n 's/^#define REGWATCH_SONAME "\(.*\)"/\1/p' include/regwatch.h)
ln -sf "$lib/libregwatch.so" "$out/$soname"
$CC $CFLAGS tests/c/api_test.c -L"$lib" -Wl,-rpath,"$PWD/$out" -lregwatch -o "$out/api_test_shared"
"$out/api_test_shared"

echo "== C API test under ASAN + UBSAN"
$CC $CFLAGS -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    tests/c/api_test.c "$lib/libregwatch.a" $LIBS -o "$out/api_test_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/api_test_asan" 2> "$out/asan.log" || { cat "$out/asan.log"; exit 1; }
if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$out/asan.log"; then
    cat "$out/asan.log"
    exit 1
fi
echo "ASAN/UBSAN: 0 reports"

echo "== C driver test against the Kamailio registrar (static, then ASAN + UBSAN)"
reg=$(mktemp -d)
trap 'scripts/registrar.sh stop "$reg"' EXIT
scripts/registrar.sh start "$reg"
# shellcheck disable=SC1091
. "$reg/env"
$CC $CFLAGS tests/c/driver_test.c "$lib/libregwatch.a" $LIBS -o "$out/driver_test_static"
"$out/driver_test_static" "$PORT" "$TLS_PORT" "$CA_FILE"
$CC $CFLAGS -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    tests/c/driver_test.c "$lib/libregwatch.a" $LIBS -o "$out/driver_test_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/driver_test_asan" "$PORT" "$TLS_PORT" "$CA_FILE" 2> "$out/asan-driver.log" \
    || { cat "$out/asan-driver.log"; exit 1; }
if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$out/asan-driver.log"; then
    cat "$out/asan-driver.log"
    exit 1
fi
echo "ASAN/UBSAN (driver): 0 reports"
