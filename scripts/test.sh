#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run) and what README.md shows.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

# Tests that need a real peer fail (instead of skipping) when it is missing.
export REGWATCH_REQUIRE_PEERS=1

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The fuzz targets (their own workspace, run by scripts/fuzz.sh) must keep
# building against the library's API: checked here on the stable
# toolchain, without libFuzzer's nightly flags.
cargo check --manifest-path fuzz/Cargo.toml --bins

step "Rust tests (unit, scenarios, validation, FFI, header drift, doc tests)"
cargo test --all-targets 2>&1 | tee -a "$log"
cargo test --doc 2>&1 | tee -a "$log"

# Whole programs below count as one test each.
programs=0
step "C API tests (-Wall -Wextra -Werror; static, shared, ASAN+UBSAN; the driver against Kamailio)"
scripts/c-tests.sh
programs=$((programs + 5))

step "hostile peers against regwatch check, regwatch watch and regwatch_runner from C (time, memory, diagnosis)"
scripts/hostile-peers.sh
programs=$((programs + 1))

step "Prometheus rules, Alertmanager example, Grafana queries, real metrics (promtool check rules/test rules/check metrics, amtool check-config)"
cargo build --quiet --bin regwatch
scripts/prometheus-check.sh "${CARGO_TARGET_DIR:-target}/debug/regwatch"
programs=$((programs + 1))

step "Prometheus and Alertmanager end to end (regwatch watch against Kamailio, the shipped rules with for: 5s, a webhook: alert and resolve times)"
scripts/prometheus-e2e.sh "${CARGO_TARGET_DIR:-target}/debug/regwatch"
programs=$((programs + 1))

step "Asterisk module end to end (res_regwatch in Asterisk 22 from Debian sid, in a chroot, against Kamailio)"
# Fails loudly (never skips) when the machine cannot build the chroot.
scripts/asterisk-e2e.sh
programs=$((programs + 1))

step "FreeSWITCH module end to end (mod_regwatch, with a FreeSWITCH from the environment)"
# FreeSWITCH is in no package registry: without FREESWITCH_PREFIX or
# freeswitch.pc this prints that it skipped (the Rust adapter tests above
# cover what the module decides).
if out=$(scripts/freeswitch-e2e.sh 2>&1); then
    printf '%s\n' "$out" | tail -n 40
    printf '%s\n' "$out" | grep -q 'SKIPPED' || programs=$((programs + 1))
else
    printf '%s\n' "$out"
    exit 1
fi

step "install and link with pkg-config"
scripts/install-test.sh
programs=$((programs + 1))

step "Debian packages (scripts/package.sh; dpkg -i, systemd-analyze verify, man, completions, pkg-config, regwatch watch as its unit runs it, dpkg --purge)"
# Needs root: it installs the packages on this machine and purges them.
scripts/package-test.sh
programs=$((programs + 1))

step "the shipped examples (main job: regwatch lint; the triage replay)"
# The broken example must be reported with errors (exit status 1).
status=0
cargo run --quiet --bin regwatch -- lint examples/lint/pjsip-broken.conf > /dev/null || status=$?
[ "$status" -eq 1 ] || { echo "regwatch lint exited $status, expected 1" >&2; exit 1; }
cargo run --quiet --bin regwatch -- lint examples/lint/pjsip-good.conf > /dev/null
cargo run --quiet --example triage -- examples/sample/trunks.toml > /dev/null
programs=$((programs + 2))

step "hostile clients against regwatch watch --metrics (slowloris, 1 MiB header, 1,000 idle; scrape < 100 ms, RSS < 64 MB, SIGTERM < 1 s)"
cargo build --quiet --bin regwatch
scripts/hostile-metrics.py --bin "${CARGO_TARGET_DIR:-target}/debug/regwatch"
programs=$((programs + 1))

# Every step above stops the script on failure (set -e), so reaching this
# point means they all passed.
passed=$(grep -Eo 'test result: [a-z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$log" | awk '{s += $3} END {print s + 0}')
passed=$((passed + programs))
echo
echo "suite finished in $(( $(date +%s) - start )) s"
echo "regwatch: ${passed:-0} passed, ${failed:-0} failed"
