#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/*.rs), each seeded from the
# test corpus and fixtures, one after another, and prints per target the
# executions, seconds, executions per second and the result.
#
#   scripts/fuzz.sh                  # every target, 10 million executions each
#   scripts/fuzz.sh 100000           # every target, a short smoke run
#   scripts/fuzz.sh framer           # one target, 10 million executions
#   scripts/fuzz.sh framer 100000    # one target, a short run
#   FUZZ_MAX_TIME=900 scripts/fuzz.sh  # each target stops after 900 s at most
#
# The targets are the [[bin]] entries of fuzz/Cargo.toml: a new target
# needs its [[bin]] there, and, if it wants them, a line in `seeds` (files
# to start from; fuzz/seeds/TARGET/ is always used when it exists) and in
# `max_len` (default 4096 bytes) below; fuzz/TARGET.dict, when it exists,
# is passed as the target's dictionary.
#
# Inputs are kept small (4 KiB): a target that must cross a larger limit
# (the framer's and the capture readers' 64 KiB and 128 KiB, the include
# budget) makes the large input from a small one (a chunk repeated, a file
# included many times), so each execution stays cheap.
#
# Needs cargo-fuzz (installed here when missing) and libFuzzer's nightly
# flags, which RUSTC_BOOTSTRAP=1 allows on the stable toolchain. Builds
# with debug assertions (`-a`: integer overflow panics, as in a debug
# build) and without a sanitizer (`-s none`): the code under test is safe
# Rust (the fuzz targets' only unsafe code calls the C ABI with valid
# pointers), so AddressSanitizer would find nothing that a bounds check or
# a panic does not already catch, at several times the cost per execution;
# libFuzzer's own checks (crash, timeout, out-of-memory: FUZZ_TIMEOUT s,
# default 60, and 2 GB) still apply. FUZZ_SANITIZER=address builds with
# AddressSanitizer instead (about 4x slower), e.g. for a run after a change
# to the C ABI's unsafe code. Runs with `nice` when FUZZ_NICE is set
# (e.g. FUZZ_NICE=19).
# Exit status: 0 when every target ran its executions without a finding;
# 1 on a finding (a crash, a failed check, a timeout, out of memory); 3 when
# a target stopped at FUZZ_MAX_TIME before its executions, without a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-60}
max_time=${FUZZ_MAX_TIME:-0}
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
        pjsip_conf) echo tests/fixtures/asterisk/pjsip.conf examples/lint/*.conf tests/asterisk/pjsip.conf.in ;;
        analyze) echo examples/analyze/*.txt examples/analyze/*.log examples/analyze/*.pcap examples/analyze/*.pcapng ;;
        *) ;;
    esac
}

# The largest input libFuzzer makes for each target: 4 KiB for all of
# them (a log line, an AMI message, an event, a profile's gateways, a SIP
# message, a set of config files, a short capture; see above for the
# larger limits).
max_len() {
    case $1 in
        *) echo 4096 ;;
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
            [[ -f $f && $(stat -c %s "$f") -le $((limit / 2 - 8)) ]] || continue
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
build=(build -a -s "$sanitizer")
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
    dict=()
    [[ -f fuzz/$t.dict ]] && dict=(-dict="fuzz/$t.dict")
    RUSTC_BOOTSTRAP=1 "${nice[@]}" cargo fuzz run -a -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
        -runs="$runs" -max_len="$(max_len "$t")" -timeout="$timeout" "${dict[@]}" \
        -max_total_time="$max_time" \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    end=$(date +%s.%N)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=${execs:-0}
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    if [[ $status -eq 0 && $execs -ge $runs ]]; then
        result="no crash"
    elif [[ $status -eq 0 && $max_time -gt 0 ]] && grep -q '^Done [0-9]* runs in' "$log"; then
        [[ $failed -eq 1 ]] || failed=3
        result="no crash, stopped at FUZZ_MAX_TIME=${max_time}s before $runs executions"
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
