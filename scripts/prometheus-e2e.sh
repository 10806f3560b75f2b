#!/usr/bin/env bash
# The shipped rules and Alertmanager example end to end, with Debian's
# prometheus and prometheus-alertmanager, against a real `regwatch watch
# --metrics` and the project's Kamailio registrar (tests/registrar/), all
# on loopback ports:
#
#   Kamailio <- regwatch watch (OPTIONS every 1 s, a credential query
#   every 5 s) <- Prometheus (scrape and rule evaluation every 1 s,
#   deploy/prometheus/regwatch.rules.yml) -> Alertmanager (the routes and
#   inhibitions of deploy/alertmanager/alertmanager.yml) -> a webhook
#   receiver of this script (Python, one JSON line per POST with its
#   receive time).
#
# Once Prometheus sees the trunk up (and its credentials accepted), the
# registrar is stopped (by its pid): the RegwatchTrunkDown page with cause
# connection_refused must reach the webhook within scrape interval + for:
# + group_wait + SLACK seconds; the registrar is started again and the
# resolved notification must arrive within scrape interval +
# group_interval + SLACK seconds. Both times are printed.
#
# What differs from the shipped files, so that a run takes under a minute
# and not ten (each change is printed and checked, and the copies pass
# promtool check rules / amtool check-config):
#   - rules: every `for:` is set to PROMETHEUS_E2E_FOR (default 5s);
#     PROMETHEUS_E2E_FOR=shipped keeps the shipped durations (2m for
#     RegwatchTrunkDown);
#   - Alertmanager: group_wait and group_interval 1s (shipped: 30s/10s and
#     5m: a resolved notification would wait for the 5 m group_interval),
#     the receivers' URLs pointed at the webhook; routes, grouping and
#     inhibitions as shipped.
#
#   scripts/prometheus-e2e.sh REGWATCH_BINARY
#
# Fails (exit 1, with the logs) when a tool is missing, a process does not
# start, or a notification is late or wrong. Every process it starts is
# stopped by its pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/prometheus-e2e.sh REGWATCH_BINARY}
[ -x "$bin" ] || { echo "prometheus-e2e: $bin is not an executable" >&2; exit 1; }
for tool in prometheus promtool amtool python3 /usr/sbin/kamailio openssl; do
    if ! command -v "$tool" >/dev/null; then
        echo "prometheus-e2e: $tool is missing (run scripts/install-deps.sh as root)" >&2
        exit 1
    fi
done
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$am" ]; then
    echo "prometheus-e2e: alertmanager is missing (Debian: prometheus-alertmanager)" >&2
    exit 1
fi

for_value=${PROMETHEUS_E2E_FOR:-5s}
slack=${PROMETHEUS_E2E_SLACK:-10}
scrape=1      # scrape and evaluation interval, seconds
group_wait=1  # Alertmanager group_wait and group_interval, seconds

tmp=$(mktemp -d)
pids=()
reg=$tmp/registrar
cleanup() {
    local status=$?
    scripts/registrar.sh stop "$reg" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for f in watch.log prometheus.log alertmanager.log webhook.log webhook.jsonl; do
            if [ -s "$tmp/$f" ]; then
                echo "--- $f (last 40 lines)" >&2
                tail -n 40 "$tmp/$f" >&2
            fi
        done
        if [ -s "$reg/kamailio.log" ]; then
            echo "--- kamailio.log (last 20 lines)" >&2
            tail -n 20 "$reg/kamailio.log" >&2
        fi
        echo "prometheus-e2e: FAILED" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "prometheus-e2e: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# The rules, with every for: shortened (unless "shipped").
rules=$tmp/regwatch.rules.yml
if [ "$for_value" = shipped ]; then
    cp deploy/prometheus/regwatch.rules.yml "$rules"
    echo "prometheus-e2e: rules: deploy/prometheus/regwatch.rules.yml as shipped"
else
    sed -E "s/^( +for: ).*/\\1$for_value/" deploy/prometheus/regwatch.rules.yml >"$rules"
    echo "prometheus-e2e: rules: deploy/prometheus/regwatch.rules.yml with every for: set to $for_value (PROMETHEUS_E2E_FOR; 'shipped' keeps them):"
    diff deploy/prometheus/regwatch.rules.yml "$rules" | grep '^>' | sort | uniq -c || true
fi
promtool check rules "$rules" >/dev/null || fail "the rules copy does not pass promtool check rules"
# The for: of RegwatchTrunkDown in seconds, from the copy Prometheus runs.
trunk_for=$(python3 - "$rules" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"- alert: RegwatchTrunkDown\n(?:(?!  - alert:).*\n)*?\s+for: (\S+)", text)
if not m:
    sys.exit("no for: for RegwatchTrunkDown")
secs = 0
for n, unit in re.findall(r"(\d+)(ms|s|m|h)", m.group(1)):
    secs += int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
print(int(secs))
PY
)

# The Alertmanager example, group timings short and receivers at the webhook.
webhook_port=$(free_port)
amconf=$tmp/alertmanager.yml
sed -E -e "s/^( +group_wait: ).*/\\1${group_wait}s/" \
    -e "s/^( +group_interval: ).*/\\1${group_wait}s/" \
    -e "s#http://127\\.0\\.0\\.1:9095/#http://127.0.0.1:$webhook_port/#" \
    deploy/alertmanager/alertmanager.yml >"$amconf"
echo "prometheus-e2e: Alertmanager: deploy/alertmanager/alertmanager.yml with:"
diff deploy/alertmanager/alertmanager.yml "$amconf" | grep '^>' || true
grep -q "group_interval: ${group_wait}s" "$amconf" || fail "group_interval not found in the Alertmanager example"
[ "$(grep -c "127.0.0.1:$webhook_port/" "$amconf")" -eq 2 ] || fail "the two receiver URLs not found in the Alertmanager example"
amtool check-config "$amconf" >/dev/null || fail "the Alertmanager copy does not pass amtool check-config"

# The webhook receiver: each POST as a JSON line {"t": receive time, "path", "body"}.
cat >"$tmp/webhook.py" <<'PY'
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
out = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        t = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"t": t, "path": self.path, "body": json.loads(body)}) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, fmt, *args):
        sys.stderr.write("webhook: " + fmt % args + "\n")
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
: >"$tmp/webhook.jsonl"
python3 "$tmp/webhook.py" "$webhook_port" "$tmp/webhook.jsonl" 2>"$tmp/webhook.log" &
pids+=($!)

# The registrar and the trunk file.
scripts/registrar.sh start "$reg" >/dev/null
# shellcheck disable=SC1091
. "$reg/env"
cat >"$tmp/trunks.toml" <<TOML
[[trunk]]
name = "e2e"
domain = "acme.sip.twilio.com"
username = "alice"
password = "Alice-Passw0rd-1"
proxy = "127.0.0.1:$PORT"
transport = "udp"
register_interval = 5
TOML

metrics_port=$(free_port)
"$bin" watch --json --config "$tmp/trunks.toml" --interval 1 --metrics "127.0.0.1:$metrics_port" \
    --metrics-host e2e-host >"$tmp/watch.log" 2>&1 &
pids+=($!)

# Prometheus: scrape and evaluate every second, alerts to the Alertmanager.
prom_port=$(free_port)
am_port=$(free_port)
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: ${scrape}s
  evaluation_interval: ${scrape}s
rule_files:
  - $rules
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$am_port']
scrape_configs:
  - job_name: regwatch
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
YML
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "prometheus.yml does not pass promtool check config"
"$am" --config.file="$amconf" --storage.path="$tmp/am" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$tmp/alertmanager.log" 2>&1 &
pids+=($!)
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)

# Waits (python) for a condition; prints how long it took.
python3 - "$prom_port" <<'PY' || fail "the trunk never showed up healthy in Prometheus"
import json, sys, time, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?query="
q = 'regwatch_trunk_up{trunk="e2e",host="e2e-host"} == 1 and on (trunk, host) regwatch_trunk_credentials_ok == 1'
start = time.monotonic()
while True:
    try:
        r = json.load(urllib.request.urlopen(base + urllib.parse.quote(q), timeout=5))
        if r["data"]["result"]:
            break
    except OSError:
        pass
    if time.monotonic() - start > 60:
        sys.exit("prometheus-e2e: after 60 s Prometheus has no healthy regwatch_trunk_up for e2e")
    time.sleep(0.2)
print(f"prometheus-e2e: the trunk is up, credentials accepted, in Prometheus after {time.monotonic() - start:.1f} s")
PY

# Waits for a notification in the webhook file after line $1, for alert
# RegwatchTrunkDown, cause connection_refused, status $2; at most $3 s
# after time $4 (epoch). Prints the delay.
wait_notification() {
    python3 - "$tmp/webhook.jsonl" "$@" <<'PY'
import json, sys, time
path, skip, status, limit, since = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
want = {"alertname": "RegwatchTrunkDown", "cause": "connection_refused", "trunk": "e2e",
        "host": "e2e-host", "severity": "page"}
seen = set()
while True:
    lines = open(path).read().splitlines()[skip:]
    for i, line in enumerate(lines):
        n = json.loads(line)
        for a in n["body"]["alerts"]:
            key = (i, a["labels"].get("alertname"), a["status"])
            if key not in seen:
                seen.add(key)
                print(f"prometheus-e2e:   {n['t'] - since:6.2f} s  {n['path']}: {a['labels'].get('alertname')} "
                      f"{a['status']} cause={a['labels'].get('cause', '-')}")
            if a["status"] == status and all(a["labels"].get(k) == v for k, v in want.items()):
                took = n["t"] - since
                if took > limit:
                    sys.exit(f"prometheus-e2e: the {status} RegwatchTrunkDown came {took:.2f} s after, over the {limit:.0f} s allowed")
                if n["path"] != "/page":
                    sys.exit(f"prometheus-e2e: the page went to {n['path']}, not /page")
                print(f"TOOK {took:.2f}")
                sys.exit(0)
    if time.time() - since > limit:
        sys.exit(f"prometheus-e2e: no {status} RegwatchTrunkDown cause=connection_refused at the webhook within {limit:.0f} s")
    time.sleep(0.1)
PY
}

early=$(grep -c RegwatchTrunkDown "$tmp/webhook.jsonl" || true)
[ "$early" -eq 0 ] || fail "RegwatchTrunkDown notified while the registrar was up"

# Stop the registrar (by its pid).
fire_limit=$((scrape + trunk_for + group_wait + slack))
skip=$(wc -l <"$tmp/webhook.jsonl")
stopped=$(now)
scripts/registrar.sh pause "$reg"
echo "prometheus-e2e: registrar stopped; waiting up to $fire_limit s (scrape ${scrape} s + for: ${trunk_for} s + group_wait ${group_wait} s + ${slack} s)"
out=$(wait_notification "$skip" firing "$fire_limit" "$stopped") || { printf '%s\n' "$out"; fail "the firing alert did not arrive in time"; }
printf '%s\n' "$out" | grep -v '^TOOK'
fired=$(printf '%s\n' "$out" | sed -n 's/^TOOK //p')

# Start it again on the same ports.
resolve_limit=$((scrape + group_wait + slack))
skip=$(wc -l <"$tmp/webhook.jsonl")
resumed=$(now)
scripts/registrar.sh resume "$reg"
echo "prometheus-e2e: registrar started again; waiting up to $resolve_limit s (scrape ${scrape} s + group_interval ${group_wait} s + ${slack} s)"
out=$(wait_notification "$skip" resolved "$resolve_limit" "$resumed") || { printf '%s\n' "$out"; fail "the resolved notification did not arrive in time"; }
printf '%s\n' "$out" | grep -v '^TOOK'
resolved=$(printf '%s\n' "$out" | sed -n 's/^TOOK //p')

grep -q '"cause":"connection_refused"' "$tmp/watch.log" || fail "watch never reported connection_refused"
echo "prometheus-e2e: RegwatchTrunkDown{cause=\"connection_refused\"} at the webhook $fired s after the registrar stopped (for: ${trunk_for} s), resolved $resolved s after it started again"
echo "prometheus-e2e: ok"
