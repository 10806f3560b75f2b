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
# The copies, Alertmanager and the webhook come from scripts/alert-chain.sh
# and scripts/alert-chain.py, which scripts/asterisk-e2e.sh uses too.
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
# shellcheck source=scripts/alert-chain.sh
. scripts/alert-chain.sh
if ! chain_alertmanager_binary >/dev/null; then
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
    for p in "${pids[@]}" "${chain_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}" "${chain_pids[@]}"; do wait "$p" 2>/dev/null || true; done
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

# The rules (every for: shortened unless "shipped"), Alertmanager and the
# webhook (scripts/alert-chain.sh).
rules=$tmp/regwatch.rules.yml
chain_rules "$for_value" "$rules" || fail "the rules copy"
trunk_for=$(python3 scripts/alert-chain.py for "$rules" RegwatchTrunkDown)
webhook_port=$(free_port)
am_port=$(free_port)
chain_alertmanager "$tmp" "$tmp" "$group_wait" "$am_port" "$webhook_port" || fail "Alertmanager or the webhook did not start"

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
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
    --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)

took=$(python3 scripts/alert-chain.py query "http://127.0.0.1:$prom_port" \
    'regwatch_trunk_up{trunk="e2e",host="e2e-host"} == 1 and on (trunk, host) regwatch_trunk_credentials_ok == 1') ||
    fail "the trunk never showed up healthy in Prometheus"
echo "prometheus-e2e: the trunk is up, credentials accepted, in Prometheus after $took s"

# wait_notification SKIP STATUS LIMIT SINCE: the RegwatchTrunkDown page of
# the trunk, cause connection_refused, with STATUS, in the webhook's file
# after line SKIP, at most LIMIT s after SINCE (epoch). Prints the alerts
# seen, then "TOOK SECONDS".
wait_notification() {
    python3 scripts/alert-chain.py notified "$tmp/webhook.jsonl" --name prometheus-e2e --skip "$1" --status "$2" \
        --limit "$3" --since "$4" --path /page alertname=RegwatchTrunkDown cause=connection_refused trunk=e2e \
        host=e2e-host severity=page
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
