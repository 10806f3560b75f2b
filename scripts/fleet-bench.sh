#!/usr/bin/env bash
# The fleet figure: one Prometheus scraping N `regwatch watch` processes
# (N PBXes) of T trunks each, against the project's Kamailio registrar, on
# loopback, for S seconds after every watcher's first round:
#
#   scripts/fleet-bench.sh REGWATCH_BINARY [N [T [S]]]   (default 50 2000 120)
#
# Each watcher has its own trunk file (T trunks, OPTIONS at the default 60 s,
# the credential query at the default 600 s, all against the one Kamailio)
# and serves --metrics with --metrics-host pbx-K; Prometheus scrapes every
# watcher every 15 s (its default) with the shipped rules loaded. Printed:
# the scrape duration (median and max over the run, per target), the series
# per scrape and in all, the watchers' CPU (from /proc, over the S seconds:
# per watcher and per 1,000 trunks) and resident memory, Prometheus's CPU and
# memory, Kamailio's CPU, and whether every target stayed up. Not part of
# scripts/test.sh: a figure for the README, not a pass/fail test (it fails
# only when something does not start or a target is down).
#
# Every process it starts is stopped by its pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/fleet-bench.sh REGWATCH_BINARY [N [TRUNKS [SECONDS]]]}
n=${2:-50}
trunks=${3:-2000}
secs=${4:-120}
[ -x "$bin" ] || { echo "fleet-bench: $bin is not an executable" >&2; exit 1; }
for tool in prometheus promtool python3 /usr/sbin/kamailio; do
    command -v "$tool" >/dev/null || { echo "fleet-bench: $tool is missing (run scripts/install-deps.sh as root)" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
reg=$tmp/registrar
cleanup() {
    local status=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    scripts/registrar.sh stop "$reg" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        tail -n 20 "$tmp"/watch-1.log "$tmp/prometheus.log" 2>/dev/null >&2 || true
        echo "fleet-bench: FAILED" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "fleet-bench: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# utime + stime of a pid, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

scripts/registrar.sh start "$reg" >/dev/null
# shellcheck disable=SC1091
. "$reg/env"

echo "fleet-bench: $n watchers x $trunks trunks against Kamailio on 127.0.0.1:$PORT, measured for $secs s"
ports=()
wpids=()
for k in $(seq "$n"); do
    python3 - "$tmp/trunks-$k.toml" "$trunks" "$k" "$PORT" <<'PY'
import sys
path, count, k, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "w") as f:
    for i in range(count):
        f.write(f'[[trunk]]\nname = "pbx{k}-trunk{i:05d}"\ndomain = "acme.sip.twilio.com"\n'
                f'username = "alice"\npassword = "Alice-Passw0rd-1"\nproxy = "127.0.0.1:{port}"\n'
                f'transport = "udp"\n\n')
PY
    p=$(free_port)
    "$bin" watch --config "$tmp/trunks-$k.toml" --metrics "127.0.0.1:$p" --metrics-host "pbx-$k" \
        >"$tmp/watch-$k.log" 2>&1 &
    pids+=($!)
    wpids+=($!)
    ports+=("$p")
done

prom_port=$(free_port)
{
    printf 'global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n'
    printf 'rule_files:\n  - %s/deploy/prometheus/regwatch.rules.yml\n' "$PWD"
    printf 'scrape_configs:\n  - job_name: regwatch\n    static_configs:\n      - targets:\n'
    for p in "${ports[@]}"; do printf "          - '127.0.0.1:%s'\n" "$p"; done
} >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "prometheus.yml does not pass promtool check config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
ppid_prom=$!
pids+=($!)

# The first round of probes and queries spreads one trunk per 10 ms: wait
# for it (T x 10 ms, plus a scrape) before measuring.
warm=$((trunks / 100 + 20))
echo "fleet-bench: waiting $warm s for every watcher's first round"
sleep "$warm"
for p in "${wpids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a watcher ended (see its log)"; done

hz=$(getconf CLK_TCK)
kam=${PID:?no Kamailio pid in $reg/env}
w0=0; for p in "${wpids[@]}"; do w0=$((w0 + $(ticks "$p"))); done
p0=$(ticks "$ppid_prom"); k0=$(ticks "$kam"); t0=$(date +%s.%N)
sleep "$secs"
w1=0; for p in "${wpids[@]}"; do w1=$((w1 + $(ticks "$p"))); done
p1=$(ticks "$ppid_prom"); k1=$(ticks "$kam"); t1=$(date +%s.%N)
wrss=0; for p in "${wpids[@]}"; do wrss=$((wrss + $(rss_kb "$p"))); done

python3 - "$prom_port" "$n" "$trunks" "$hz" "$t0" "$t1" "$((w1 - w0))" "$((p1 - p0))" "$((k1 - k0))" \
    "$wrss" "$(rss_kb "$ppid_prom")" <<'PY'
import json, sys, urllib.parse, urllib.request
port, n, trunks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1 = float(sys.argv[5]), float(sys.argv[6])
wt, pt, kt = (int(x) / hz for x in sys.argv[7:10])
wrss, prss = int(sys.argv[10]), int(sys.argv[11])
span = t1 - t0
def q(expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}&time={t1}"
    return json.load(urllib.request.urlopen(url, timeout=30))["data"]["result"]
def one(expr):
    r = q(expr)
    return float(r[0]["value"][1]) if r else float("nan")
w = f"{int(span)}s"
up = one('sum(up{job="regwatch"})')
down = one(f'count(min_over_time(up{{job="regwatch"}}[{w}]) == 0) or vector(0)')
med = one(f'quantile(0.5, quantile_over_time(0.5, scrape_duration_seconds{{job="regwatch"}}[{w}]))')
mx = one(f'max(max_over_time(scrape_duration_seconds{{job="regwatch"}}[{w}]))')
samples = one('max(scrape_samples_scraped{job="regwatch"})')
series = one('sum(scrape_samples_scraped{job="regwatch"})')
tsdb = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status/tsdb", timeout=30))
head = float(tsdb["data"]["headStats"]["numSeries"])
trunks_up = one('sum(regwatch_trunk_up)')
print(f"fleet-bench: {n} targets up: {up:.0f} (targets down at some scrape: {down:.0f}); trunks up: {trunks_up:.0f} of {n * trunks}")
print(f"fleet-bench: scrape duration per target: median {med * 1000:.1f} ms, max {mx * 1000:.1f} ms")
print(f"fleet-bench: samples per scrape (one target, {trunks} trunks): {samples:.0f} ({samples / trunks:.1f} per trunk); all targets: {series:.0f}; Prometheus head series: {head:.0f}")
print(f"fleet-bench: watchers' CPU over {span:.0f} s: {wt:.1f} s in all ({100 * wt / span:.1f} % of one core; "
      f"{100 * wt / span / n:.2f} % per watcher, {100 * wt / span / (n * trunks / 1000):.3f} % per 1,000 trunks); "
      f"resident memory {wrss / 1024:.0f} MiB in all, {wrss / n / 1024:.1f} MiB per watcher")
print(f"fleet-bench: Prometheus CPU {100 * pt / span:.1f} % of one core, resident {prss / 1024:.0f} MiB; "
      f"Kamailio's main process CPU {100 * kt / span:.1f} % (its SIP workers are its children, not counted)")
if up < n or down > 0:
    sys.exit("fleet-bench: a target was down")
PY
