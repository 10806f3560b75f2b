#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/*.rs), each seeded from the
# test corpus and fixtures, one after another, and prints per target the
# executions, seconds, executions per second and the result.
#
#   scripts/fuzz.sh                  # every target, 10 million executions each
#   scripts/fuzz.sh 100000           # every target, a short smoke run
#   scripts/fuzz.sh framer           # one target, 10 million executions
#   scripts/fuzz.sh framer 100000    # one target, a short run
#
# The targets are the [[bin]] entries of fuzz/Cargo.toml: a new target
# needs its [[bin]] there, and, if it wants them, a line in `seeds` (files
# to start from; fuzz/seeds/TARGET/ is always used when it exists) and in
# `max_len` (default 8192 bytes) below.
#
# Needs cargo-fuzz (installed here when missing) and libFuzzer's nightly
# flags, which RUSTC_BOOTSTRAP=1 allows on the stable toolchain. Runs
# without a sanitizer: the code under test is safe Rust, and libFuzzer's
# own checks (crash, timeout, out-of-memory: FUZZ_TIMEOUT s, default 60,
# and 2 GB) still apply; FUZZ_SANITIZER=address for an ASAN build (about
# 4x slower). Runs with `nice` when FUZZ_NICE is set (e.g. FUZZ_NICE=10).
# Exit status: 0 when every target ran its executions without a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-60}
runs=10000000
all=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx regwatch-fuzz)
targets=$all
if [[ $# -gt 0 && ! $1 =~ ^[0-9]+$ ]]; then
    if ! grep -qx -- "$1" <<<"$all"; then
        echo "fuzz: no target '$1'; the targets are:" $all >&2
        exit 2
    fi
    targets=$1
    shift
fi
runs=${1:-$runs}

# Files to seed each target's corpus with (globs; missing ones are fine).
seeds() {
    case $1 in
        sip) echo tests/corpus/sip/*.sip ;;
        sofia_xml) echo tests/fixtures/freeswitch/*.xml examples/lint/*.xml tests/freeswitch/*.xml.in ;;
        asterisk) echo tests/fixtures/asterisk/*.log tests/fixtures/asterisk/*.txt ;;
        freeswitch_events) echo tests/fixtures/freeswitch/events_*.txt ;;
        *) ;;
    esac
}

# The largest input libFuzzer makes for each target.
max_len() {
    case $1 in
        framer) echo 65536 ;;
        # A log line, an AMI message, a JSON blob, an event, a profile's
        # gateways: well under 4 KiB.
        asterisk | freeswitch_events | sofia_xml) echo 4096 ;;
        *) echo 8192 ;;
    esac
}

# Seeds the working corpus fuzz/corpus/TARGET (ignored by git): files
# larger than the target's max_len are cut at line ends into pieces of a
# quarter of it (small inputs run faster, and libFuzzer joins them).
seed() {
    local t=$1 dir=fuzz/corpus/$1 limit f
    limit=$(max_len "$t")
    mkdir -p "$dir"
    for f in $(seeds "$t") fuzz/seeds/"$t"/*; do
        [[ -f $f ]] || continue
        if [[ $(stat -c %s "$f") -le $limit ]]; then
            cp "$f" "$dir/seed-$(basename "$f")"
        else
            split -C $((limit / 4)) -d -a 3 "$f" "$dir/seed-$(basename "$f")-"
        fi
    done
    if [[ $t == framer ]]; then
        # The framer's input starts with its cut points (see framer.rs):
        # each SIP message twice, cut at 1/4, 1/2 and 3/4.
        for f in tests/corpus/sip/*.sip; do
            [[ -f $f ]] || continue
            { printf '\003\000\000\000\000\100\000\200\000\300'; cat "$f" "$f"; } \
                >"$dir/seed-$(basename "$f")"
        done
    fi
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

nice=()
[[ -n ${FUZZ_NICE:-} ]] && nice=(nice -n "$FUZZ_NICE")
build=(build -s "$sanitizer")
[[ $targets == "$all" ]] || build+=("$targets")
RUSTC_BOOTSTRAP=1 "${nice[@]}" cargo fuzz "${build[@]}"

summary=()
failed=0
for t in $targets; do
    seed "$t"
    mkdir -p fuzz/artifacts
    log=fuzz/artifacts/$t.log
    echo "fuzz: $t, $runs executions, inputs up to $(max_len "$t") bytes (log: $log)"
    start=$(date +%s.%N)
    status=0
    RUSTC_BOOTSTRAP=1 "${nice[@]}" cargo fuzz run -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
        -runs="$runs" -max_len="$(max_len "$t")" -timeout="$timeout" \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    end=$(date +%s.%N)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=${execs:-0}
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    if [[ $status -eq 0 && $execs -ge $runs ]]; then
        result="no crash"
    else
        failed=1
        artifact=$(grep -o 'fuzz/artifacts/[^ ]*' "$log" | grep -v '\.log$' | tail -1 || true)
        result="FAILED (exit $status${artifact:+, $artifact}; see $log)"
    fi
    line=$(printf '%-20s %12s executions %8s s %8s exec/s  %s' "$t" "$execs" "$secs" "$rate" "$result")
    echo "fuzz: $line"
    summary+=("$line")
done

echo
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
exit "$failed"
