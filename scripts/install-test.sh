#!/usr/bin/env bash
# Installs libregwatch into a temporary prefix with `make install`, then
# builds examples/c/host_loop.c the usual way, with
# `pkg-config --cflags --libs regwatch`, once against the shared library
# (checking the soname) and once statically, and runs both
# (scripts/link-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "== installed under $prefix:"
(cd "$prefix" && find . -type f -o -type l | sort | sed 's/^/   /')
scripts/link-test.sh --rpath
echo "install test: ok"
