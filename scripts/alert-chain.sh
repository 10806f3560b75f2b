# shellcheck shell=bash
# The shipped Prometheus rules and Alertmanager example as a chain the e2e
# scripts run for real: Prometheus (the rules) -> Debian's Alertmanager (the
# example's routes and inhibitions) -> a webhook receiver of the test
# (scripts/alert-chain.py webhook). Sourced, from the repository root, by
# scripts/prometheus-e2e.sh and scripts/asterisk-e2e.sh. Each function says
# on stderr what its copy changes from the shipped file, and fails when the
# copy does not pass promtool or amtool.

# chain_rules FOR OUT: deploy/prometheus/regwatch.rules.yml into OUT with
# every for: set to FOR (a run takes seconds, not minutes); FOR "shipped"
# keeps the shipped durations.
chain_rules() {
    local for_value=$1 out=$2 shipped=deploy/prometheus/regwatch.rules.yml
    if [ "$for_value" = shipped ]; then
        cp "$shipped" "$out"
        echo "alert chain: rules: $shipped as shipped" >&2
    else
        sed -E "s/^( +for: ).*/\\1$for_value/" "$shipped" >"$out"
        echo "alert chain: rules: $shipped with every for: set to $for_value (PROMETHEUS_E2E_FOR; 'shipped' keeps them):" >&2
        diff "$shipped" "$out" | grep '^>' | sort | uniq -c >&2 || true
    fi
    promtool check rules "$out" >/dev/null || { echo "alert chain: $out does not pass promtool check rules" >&2; return 1; }
}

# chain_alertmanager_binary: Debian's prometheus-alertmanager (or an
# alertmanager on PATH).
chain_alertmanager_binary() { command -v prometheus-alertmanager || command -v alertmanager; }

# chain_alertmanager WORKDIR LOGDIR WAIT AM_PORT WEBHOOK_PORT: starts the
# webhook receiver on 127.0.0.1:WEBHOOK_PORT (LOGDIR/webhook.jsonl, one line
# per notification with its receive time; LOGDIR/webhook.log) and
# Alertmanager on 127.0.0.1:AM_PORT (LOGDIR/alertmanager.log; its
# configuration and storage in WORKDIR) with
# deploy/alertmanager/alertmanager.yml, group_wait and group_interval set to
# WAIT seconds (shipped: 30 s / 10 s and 5 m; a resolved notification would
# wait for the 5 m group_interval) and both receivers' URLs at the webhook;
# routes, grouping, repeat_interval and inhibitions as shipped. Their pids
# go to the array chain_pids, for the caller to stop. Returns once both
# listen.
chain_pids=()
chain_alertmanager() {
    local work=$1 logs=$2 wait=$3 am_port=$4 webhook_port=$5 am
    local shipped=deploy/alertmanager/alertmanager.yml conf=$1/alertmanager.yml
    am=$(chain_alertmanager_binary) || { echo "alert chain: alertmanager is missing (Debian: prometheus-alertmanager)" >&2; return 1; }
    sed -E -e "s/^( +group_wait: ).*/\\1${wait}s/" \
        -e "s/^( +group_interval: ).*/\\1${wait}s/" \
        -e "s#http://127\\.0\\.0\\.1:9095/#http://127.0.0.1:$webhook_port/#" \
        "$shipped" >"$conf"
    echo "alert chain: Alertmanager: $shipped with:" >&2
    diff "$shipped" "$conf" | grep '^>' >&2 || true
    if ! grep -q "group_interval: ${wait}s" "$conf" ||
        [ "$(grep -c "http://127.0.0.1:$webhook_port/" "$conf")" -ne 2 ]; then
        echo "alert chain: group_interval or the two receiver URLs not found in $shipped" >&2
        return 1
    fi
    amtool check-config "$conf" >/dev/null || { echo "alert chain: $conf does not pass amtool check-config" >&2; return 1; }
    : >"$logs/webhook.jsonl"
    python3 scripts/alert-chain.py webhook "$webhook_port" "$logs/webhook.jsonl" 2>"$logs/webhook.log" &
    chain_pids+=($!)
    "$am" --config.file="$conf" --storage.path="$work/alertmanager" \
        --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$logs/alertmanager.log" 2>&1 &
    chain_pids+=($!)
    python3 scripts/alert-chain.py listening "$webhook_port" "$am_port"
}
