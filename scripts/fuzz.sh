#!/usr/bin/env bash
# Fuzzes the SIP parser, framer, credential check and raw-SIP observation
# (fuzz/fuzz_targets/sip.rs), seeded with the test corpus.
#
#   scripts/fuzz.sh              # 10 million executions
#   scripts/fuzz.sh 100000       # a short smoke run
#
# Needs cargo-fuzz (installed here when missing) and libFuzzer's nightly
# flags, which RUSTC_BOOTSTRAP=1 allows on the stable toolchain. Runs
# without a sanitizer: the code under test is safe Rust, and libFuzzer's
# own checks (crash, timeout, out-of-memory) still apply; add
# FUZZ_SANITIZER=address for an ASAN build (about 4x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# libFuzzer's working corpus lives under fuzz/corpus (ignored by git); the
# committed messages seed it.
mkdir -p fuzz/corpus/sip
cp -n tests/corpus/sip/*.sip fuzz/corpus/sip/ 2>/dev/null || true

start=$(date +%s)
RUSTC_BOOTSTRAP=1 cargo fuzz run -s "$sanitizer" sip fuzz/corpus/sip -- \
    -runs="$runs" -max_len=8192 -print_final_stats=1
echo "fuzz: $runs executions in $(( $(date +%s) - start )) s, no crash"
