#!/usr/bin/env bash
# Checks what deploy/ ships for Prometheus, Alertmanager and Grafana:
#  - the rules parse (promtool check rules) and pass their unit tests
#    (promtool test rules: series in, alerts out, for: durations);
#  - the Alertmanager example is valid (amtool check-config), routes pages
#    and tickets where it says, and in a real Alertmanager (on a loopback
#    port, clustering off) a host-down alert suppresses the keep-alive
#    alert of its own host only, and alerts group by host and cause;
#  - every PromQL query of the Grafana dashboard parses (each expr, with
#    Grafana's $variables replaced, checked as a recording rule);
#  - the renderer's exact text for a fed engine (a 2xx after a challenge,
#    refused credentials: the histogram and the failure counters filled;
#    src/hosts/metrics/tests.rs keeps it current) and, with a regwatch
#    binary as $1, real `regwatch watch --metrics` output pass `promtool
#    check metrics`.
# Fails loudly when promtool, amtool or alertmanager is missing (Debian: prometheus,
# prometheus-alertmanager; scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in promtool amtool python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "prometheus-check: $tool is missing (run scripts/install-deps.sh as root)" >&2
        exit 1
    fi
done
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

promtool check rules deploy/prometheus/regwatch.rules.yml
promtool test rules deploy/prometheus/tests/*.test.yml

amtool check-config deploy/alertmanager/alertmanager.yml
route() {
    got=$(amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml "${@:2}")
    if [ "$got" != "$1" ]; then
        echo "prometheus-check: alert ${*:2} went to '$got', not '$1'" >&2
        exit 1
    fi
}
route on-call alertname=RegwatchTrunkDown severity=page host=pbx1 cause=registrar_unreachable
route tickets alertname=RegwatchKeepaliveFailing severity=ticket host=pbx1
route tickets alertname=Other

# The inhibition and the routing, in a real Alertmanager: a host down
# suppresses the keep-alive alert of its host, not another host's.
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$am" ]; then
    echo "prometheus-check: alertmanager is missing (Debian: prometheus-alertmanager)" >&2
    exit 1
fi
amport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$am" --config.file=deploy/alertmanager/alertmanager.yml --storage.path="$tmp/am" \
    --web.listen-address="127.0.0.1:$amport" --cluster.listen-address= >"$tmp/am.log" 2>&1 &
ampid=$!
python3 - "$amport" <<'PY' || { kill "$ampid"; cat "$tmp/am.log" >&2; exit 1; }
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v2"
def call(path, body=None):
    req = urllib.request.Request(base + path, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=5).read() or "null")
end = time.monotonic() + 15
while True:
    try:
        call("/status")
        break
    except OSError:
        if time.monotonic() > end:
            sys.exit("prometheus-check: alertmanager did not start")
        time.sleep(0.1)
alerts = [
    {"alertname": "RegwatchHostDown", "severity": "page", "host": "pbx1"},
    {"alertname": "RegwatchKeepaliveFailing", "severity": "ticket", "host": "pbx1", "trunk": "t1"},
    {"alertname": "RegwatchKeepaliveFailing", "severity": "ticket", "host": "pbx2", "trunk": "t2"},
    {"alertname": "RegwatchTrunkDown", "severity": "page", "host": "pbx2", "trunk": "t2",
     "cause": "registrar_unreachable"},
]
call("/alerts", [{"labels": l} for l in alerts])
want = {("RegwatchHostDown", "pbx1"): "active", ("RegwatchKeepaliveFailing", "pbx1"): "suppressed",
        ("RegwatchKeepaliveFailing", "pbx2"): "active", ("RegwatchTrunkDown", "pbx2"): "active"}
while True:
    got = {(a["labels"]["alertname"], a["labels"]["host"]): a["status"]["state"]
           for a in call("/alerts")}
    if got == want:
        break
    if time.monotonic() > end:
        sys.exit(f"prometheus-check: alertmanager states {got}, want {want}")
    time.sleep(0.2)
groups = {(g["receiver"]["name"], tuple(sorted(g["labels"].items()))) for g in call("/alerts/groups")}
want_groups = {("on-call", (("host", "pbx1"),)), ("tickets", (("host", "pbx1"),)),
               ("tickets", (("host", "pbx2"),)),
               ("on-call", (("cause", "registrar_unreachable"), ("host", "pbx2")))}
if groups != want_groups:
    sys.exit(f"prometheus-check: alertmanager groups {sorted(groups)}, want {sorted(want_groups)}")
print("prometheus-check: alertmanager: the host-down alert suppresses its host's keep-alive alert only; groups by host and cause, pages and tickets apart")
PY
kill "$ampid"
wait "$ampid" 2>/dev/null || true

# Every expr of the dashboard (and the metric of each label_values()
# variable), as recording rules for promtool to parse.
python3 - deploy/grafana/regwatch.json "$tmp/dashboard.rules.yml" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str):
                exprs.append(x)
            else:
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(dash.get("panels", []))
for var in dash.get("templating", {}).get("list", []):
    q = var.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    m = re.fullmatch(r"\s*label_values\((.+),\s*\w+\)\s*", q or "")
    if var.get("type") == "query":
        if not m:
            sys.exit(f"variable {var.get('name')}: query not understood: {q!r}")
        exprs.append(m.group(1))
if not exprs:
    sys.exit("no queries found in the dashboard")
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        e = re.sub(r"\$\{?(\w+)\}?", ".*", e)
        out.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
print(f"prometheus-check: {len(exprs)} dashboard queries")
PY
promtool check rules "$tmp/dashboard.rules.yml"

promtool check metrics <src/hosts/metrics/fed_engine.prom
echo "prometheus-check: src/hosts/metrics/fed_engine.prom: promtool clean"

if [ $# -ge 1 ]; then
    bin=$1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$tmp/trunks.toml" <<'TOML'
[[trunk]]
name = "refused"
domain = "sip.example.com"
username = "alice"
password = "Pr0metheus-Check-Secret"
proxy = "127.0.0.1:9"
transport = "udp"

[[trunk]]
name = "refused \"tcp\""
domain = "pbx.example.net"
username = "bob"
password = "Pr0metheus-Check-Secret"
proxy = "127.0.0.1:9"
transport = "tcp"
TOML
    "$bin" watch --config "$tmp/trunks.toml" --interval 1 --metrics "127.0.0.1:$port" \
        --metrics-host check >"$tmp/watch.log" 2>&1 &
    pid=$!
    # Up to 10 s for the endpoint; then 3 s more so that keep-alives have
    # failed and the counters moved.
    python3 - "$port" "$tmp/metrics.prom" <<'PY' || { cat "$tmp/watch.log" >&2; exit 1; }
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/metrics"
end = time.monotonic() + 10
while True:
    try:
        urllib.request.urlopen(url, timeout=5).read()
        break
    except OSError as e:
        if time.monotonic() > end:
            sys.exit(f"prometheus-check: {url}: {e}")
        time.sleep(0.1)
time.sleep(3)
open(sys.argv[2], "wb").write(urllib.request.urlopen(url, timeout=5).read())
PY
    promtool check metrics <"$tmp/metrics.prom"
    if grep -q 'Pr0metheus-Check-Secret' "$tmp/metrics.prom"; then
        echo "prometheus-check: the password is in the metrics" >&2
        exit 1
    fi
    for name in regwatch_trunk_up regwatch_register_attempts_total \
        regwatch_registration_request_delay_seconds_bucket regwatch_keepalive_failures_total \
        regwatch_alerts_active regwatch_peer_connections_dropped_total; do
        grep -q "^$name[{ ]" "$tmp/metrics.prom" || {
            echo "prometheus-check: $name missing from real output" >&2
            exit 1
        }
    done
    echo "prometheus-check: real output of $bin watch --metrics: $(grep -vc '^#' "$tmp/metrics.prom") samples, promtool clean"
fi
echo "prometheus-check: ok"
