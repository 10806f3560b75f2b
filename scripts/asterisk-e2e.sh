#!/usr/bin/env bash
# End-to-end test of res_regwatch in a real Asterisk 22 (Debian sid, in a
# chroot built by scripts/asterisk-chroot.sh) against the project's
# Twilio-like Kamailio registrars, all inside a network namespace this
# script creates (so iptables can drop UDP for one case, and nothing
# touches the machine's own ports).
#
#   scripts/asterisk-e2e.sh [OUTDIR]     (default target/asterisk/e2e)
#
# Cases (one registration each): good, wrong password, unknown domain,
# auth user ≠ AOR user, Expires below the registrar's minimum, UDP blocked
# with TCP working, registrar stopped then started again (regwatch
# re-registers; a twin registration left to Asterisk alone does not, nor
# does one rejected for its password). Beside them, from the start, a soak
# against a registrar that grants 120 s, for REGWATCH_E2E_SOAK_CYCLES
# (default 4) of Asterisk's refresh cycles: a healthy registration, one
# with the same AOR and a wrong password, one to a domain with
# registration turned off, sampled every 10 s, through a module reload
# and an unload/load. Asterisk's /metrics (res_prometheus, on its HTTP
# server) must carry regwatch's series for every trunk as the CLI shows
# them, promtool-clean; a Prometheus scrapes it with the shipped rules
# (every for: set to PROMETHEUS_E2E_FOR, default 5s; "shipped" keeps
# them) and must fire them for the failing trunks only; res_prometheus
# unloaded leaves the module working, loaded again and the module
# refreshed brings the series back, its reload and the module's
# unload/load keep /metrics right. The same Prometheus also scrapes a
# `regwatch watch --metrics` (the CLI built here) with a trunk on the
# outage registrar and one on the main one, and sends its alerts to
# Debian's Alertmanager (deploy/alertmanager/alertmanager.yml, group_wait
# and group_interval 1 s) and on to a webhook of the test
# (scripts/alert-chain.sh): when the registrar stops, the
# RegwatchTrunkDown page of Asterisk's outage trunk and that of the
# watch's must reach the webhook, with the cause regwatch gives, within
# scrape interval + for: + group_wait + PROMETHEUS_E2E_SLACK (default
# 15 s, for the source's own detection and the delivery); their resolved
# notifications within scrape interval + group_interval + the slack of
# its return; the times go to figures.txt. Then 50 unload/load/reload cycles of
# the module under SIP load while /metrics is scraped, and Asterisk once
# more with a res_prometheus that fails to load (no prometheus.conf): the
# module runs. Transcripts of the CLI, the AMI events, the scraped pages
# and the figures go to OUTDIR. Exits non-zero on any failed assertion; fails loudly when the
# machine cannot run it (no root, no debootstrap, no mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
if [ "${1:-}" != "--inside" ]; then OUT=${1:-$TOP/target/asterisk/e2e}; fi
CYCLES=${REGWATCH_E2E_CYCLES:-50}
PROM_FOR=${PROMETHEUS_E2E_FOR:-5s}
CHAIN_SLACK=${PROMETHEUS_E2E_SLACK:-15}
SOAK_CYCLES=${REGWATCH_E2E_SOAK_CYCLES:-4}
ETC=/etc/regwatch-e2e
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh
# shellcheck source=scripts/alert-chain.sh
. scripts/alert-chain.sh

say() { printf 'asterisk-e2e: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [ "${1:-}" != "--inside" ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root (chroot, network namespace, iptables)"
    t0=$(date +%s)
    scripts/install-deps.sh >&2 || die "cannot install Kamailio, SIPp, iptables"
    for tool in prometheus promtool; do
        command -v "$tool" >/dev/null || die "$tool is missing (Debian: prometheus; scripts/install-deps.sh)"
    done
    for tool in amtool "$(chain_alertmanager_binary || echo alertmanager)"; do
        command -v "$tool" >/dev/null || die "$tool is missing (Debian: prometheus-alertmanager; scripts/install-deps.sh)"
    done
    cached=no
    [ -f "${ASTERISK_BASE:-$TOP/target/asterisk}/.ready" ] && cached=yes
    ROOT=$(scripts/asterisk-chroot.sh) || die "no Asterisk chroot"
    BASE=$(dirname "$ROOT")
    t1=$(date +%s)

    say "building libregwatch.a, res_regwatch.so and the regwatch command"
    cargo build --release --lib --bin regwatch --quiet
    # Cargo's target directory (CARGO_TARGET_DIR, or the configured one).
    TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    PJ=""
    for d in pjlib pjlib-util pjnath pjmedia pjsip; do PJ="$PJ -I$BASE/pjproject/$d/include"; done
    make -s -C asterisk-module clean
    make -s -C asterisk-module ASTERISK_INCLUDE="$BASE/include" PJPROJECT_CFLAGS="$PJ" \
        REGWATCH_LIB="$TARGET/release/libregwatch.a"
    make -s -C asterisk-module install DESTDIR="$ROOT" MODULES_DIR=/usr/lib/x86_64-linux-gnu/asterisk/modules \
        ASTERISK_DATA_DIR=/usr/share/asterisk REGWATCH_LIB="$TARGET/release/libregwatch.a"
    t2=$(date +%s)

    rm -rf "$OUT"
    mkdir -p "$OUT"
    cp "$BASE/versions.txt" "$OUT/versions.txt"
    NS=regwatch-e2e-$$
    cleanup() {
        ip netns del "$NS" 2>/dev/null || true
        scripts/asterisk-chroot.sh --umount || true
    }
    trap cleanup EXIT
    scripts/asterisk-chroot.sh --mount >/dev/null
    ip netns add "$NS"
    status=0
    ip netns exec "$NS" env ROOT="$ROOT" OUT="$OUT" REGWATCH_BIN="$TARGET/release/regwatch" "$0" --inside || status=$?
    t3=$(date +%s)
    printf 'chroot %ss (cached: %s), build %ss, test %ss, total %ss\n' $((t1 - t0)) \
        "$cached" $((t2 - t1)) $((t3 - t2)) $((t3 - t0)) \
        | tee -a "$OUT/figures.txt" >&2
    [ "$status" -eq 0 ] || die "see $OUT (asterisk/messages.log, ami.jsonl, *.txt)"
    say "passed; transcripts in $OUT"
    exit 0
fi

# --- inside the namespace ------------------------------------------------
: "${ROOT:?}" "${OUT:?}" "${REGWATCH_BIN:?}"
ip link set lo up
pids=()
cleanup_inside() {
    for p in "${pids[@]}" "${chain_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${AST_PID:-}" ]; then
        kill "$AST_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$AST_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$AST_PID" 2>/dev/null || true
    fi
    stop_registrars
    [ -z "${prom_dir:-}" ] || rm -rf "$prom_dir"
}
trap cleanup_inside EXIT

# The remote console warns that the namespace has no Ethernet; drop that.
ast() { chroot "$ROOT" /usr/sbin/asterisk -C $ETC/asterisk.conf -rx "$1" 2>&1 | grep -v "^No ethernet interface found"; }
cause_is() { has "$(ast "regwatch show trunk $1")" "Cause: $2\b"; }
state_is() { has "$(ast "regwatch show trunk $1")" "State: $2 "; }
# trunks_table: "TRUNK STATE CAUSE" a line for every trunk, from one
# `regwatch show trunks`; row_of TABLE TRUNK: "STATE CAUSE" of one.
trunks_table() { ast "regwatch show trunks" | awk 'NR > 1 && NF >= 4 && $1 !~ /^[0-9]+$/ {print $1, $2, $3}' || true; }
row_of() { awk -v t="$2" '$1 == t {print $2, $3}' <<<"$1"; }
wall() { date +%s.%N; }
# py EXPR: a Python expression's value (arithmetic on times).
py() { python3 -c "print($1)"; }

say "registrars on $MAIN, $BLOCKED (UDP dropped), $OUTAGE, $SOAK (soak)"
start_registrars

say "Asterisk $(chroot "$ROOT" dpkg-query -W -f '${Version}' asterisk)"
rm -rf "$ROOT$ETC" "$ROOT/run/regwatch-e2e" "$ROOT/var/log/regwatch-e2e" "$ROOT/var/lib/regwatch-e2e" "$ROOT/var/spool/regwatch-e2e"
mkdir -p "$ROOT$ETC" "$ROOT/run/regwatch-e2e" "$ROOT/var/log/regwatch-e2e" "$ROOT/var/lib/regwatch-e2e" "$ROOT/var/spool/regwatch-e2e"
cp tests/asterisk/{asterisk,modules,manager,logger,regwatch,http,prometheus}.conf "$ROOT$ETC/"
sed -e "s/@MAIN@/$MAIN/g" -e "s/@BLOCKED@/$BLOCKED/g" -e "s/@OUTAGE@/$OUTAGE/g" -e "s/@SOAK@/$SOAK/g" \
    -e "s/@REGOFF@/$SOAK_REGOFF_DOMAIN/g" tests/asterisk/pjsip.conf.in >"$ROOT$ETC/pjsip.conf"
chmod 0644 "$ROOT$ETC"/*.conf
chroot "$ROOT" chown -R asterisk:asterisk /run/regwatch-e2e /var/log/regwatch-e2e /var/lib/regwatch-e2e /var/spool/regwatch-e2e

start_mono=$(mono)
chroot "$ROOT" /usr/sbin/asterisk -C $ETC/asterisk.conf -f -n >"$OUT/asterisk-stdout.txt" 2>&1 &
AST_PID=$!
# The AMI listener connects as soon as the manager listens (it retries for
# 20 s), before the first REGISTERs: their events come about 1 s after the
# modules load.
python3 tests/asterisk/ami.py listen "$OUT/ami.jsonl" &
pids+=($!)
wait_for 60 ast "core waitfullybooted" || die "Asterisk did not start (see $OUT/asterisk-stdout.txt)"
ast "module show like regwatch" >"$OUT/module.txt"
# running MODULE FILE: `module show` in FILE has MODULE Running (not "Not Running").
running() { grep -Eq "^$1 .* [0-9]+ +Running " "$2"; }
check "res_regwatch loaded" running res_regwatch.so "$OUT/module.txt"

# --- the soak: runs from soakgood's first 200 OK beside everything below -----
# soakgood asks 120 s and is granted 120; Asterisk refreshes 10 s before
# the granted expiry. soakbad has soakgood's AOR and a wrong password
# (retried every 30 s); regoff's domain has registration turned off. The
# registrar's log has the time of every binding it saved.
soak_log=$OUT/registrar-soak/kamailio.log
soak_trunks="soakgood soakbad regoff"
wait_for 20 cause_is soakgood healthy || true
soak_t0=$(saves_at "$soak_log" ivan | sed -n 1p)
[ -n "$soak_t0" ] || soak_t0=$(wall)
soak_end=$(py "$soak_t0 + $SOAK_CYCLES * ($SOAK_GRANT - 10) + 15")
# Every ~10 s each soak trunk's "wall trunk state cause" to soak-samples.txt,
# but while the module is unloaded on purpose: soak.gen is odd then, and a
# sample that overlaps a change of it is dropped.
echo 0 >"$OUT/soak.gen"
soak_sampler() {
    local g1 lines t table at
    while [ ! -e "$OUT/soak.stop" ]; do
        g1=$(cat "$OUT/soak.gen")
        if [ $((g1 % 2)) -eq 0 ]; then
            table=$(trunks_table)
            at=$(wall)
            lines=""
            for t in $soak_trunks; do lines+="$at $t $(row_of "$table" "$t")"$'\n'; done
            if [ "$(cat "$OUT/soak.gen")" = "$g1" ]; then printf '%s' "$lines" >>"$OUT/soak-samples.txt"; fi
        fi
        for _ in $(seq 10); do [ -e "$OUT/soak.stop" ] && break; sleep 1; done
    done
}
soak_sampler &
soak_pid=$!
pids+=("$soak_pid")

# --- the cases ---------------------------------------------------------------
check_cases
wait_for 20 cause_is outagewrongpw credentials_rejected || true
check "outagewrongpw: credentials_rejected before the outage" cause_is outagewrongpw credentials_rejected
wait_for 20 cause_is regoff account_forbidden || true
check "regoff (registration off, 403 before any challenge): account_forbidden" cause_is regoff account_forbidden
check "soakbad (soakgood's AOR, wrong password): credentials_rejected" cause_is soakbad credentials_rejected
check "soakgood (soakbad's AOR, right password): healthy" cause_is soakgood healthy

ast "regwatch show trunks" >"$OUT/show-trunks.txt"
ast "regwatch show findings" >"$OUT/show-findings.txt"
for t in good wrongpw nodomain mismatch brief udpblocked outage plain outagewrongpw soakgood soakbad regoff; do
    ast "regwatch show trunk $t" >"$OUT/show-trunk-$t.txt"
done
ast "regwatch check good" >"$OUT/check-good.txt"
ast "regwatch check wrongpw" >"$OUT/check-wrongpw.txt"
check "regwatch check good: healthy" grep -q "Diagnosis: healthy" "$OUT/check-good.txt"
check "regwatch check wrongpw: credentials_rejected" grep -q "Diagnosis: credentials_rejected" "$OUT/check-wrongpw.txt"
check "show findings names the auth user mismatch" grep -q "credentials.auth_user_mismatch" "$OUT/show-findings.txt"
python3 tests/asterisk/ami.py action RegwatchShowTrunks >"$OUT/ami-show-trunks.jsonl"
check "AMI RegwatchShowTrunks lists 12 trunks" test "$(grep -c '"Event": "RegwatchTrunk"' "$OUT/ami-show-trunks.jsonl")" -eq 12
ami_has() { grep -q "$1" "$OUT/ami.jsonl"; }
check "AMI RegwatchAlert credentials_rejected" ami_has '"Event": "RegwatchAlert".*"Trunk": "wrongpw".*"Cause": "credentials_rejected"'
check "AMI RegwatchAlert for brief's 423: interval_too_brief" ami_has '"Event": "RegwatchAlert".*"Trunk": "brief".*"Cause": "interval_too_brief".*"Code": "423"'
check "AMI RegwatchState for good" ami_has '"Event": "RegwatchState".*"Trunk": "good".*"State": "registered"'
check "AMI RegwatchAlert account_forbidden for regoff" ami_has '"Event": "RegwatchAlert".*"Trunk": "regoff".*"Cause": "account_forbidden"'
# The events' documentation, installed by `make install` as third-party
# xmldoc, answers `manager show event` (Asterisk reads it at startup).
for ev in RegwatchState RegwatchAlert RegwatchTrunk RegwatchTrunkListComplete; do
    ast "manager show event $ev" >"$OUT/manager-show-event-$ev.txt"
    check "manager show event $ev: documented" sh -c "grep -q 'Event: $ev' '$OUT/manager-show-event-$ev.txt' && grep -q 'Synopsis' '$OUT/manager-show-event-$ev.txt' && ! grep -q 'Could not find' '$OUT/manager-show-event-$ev.txt'"
done
# make samples: regwatch.conf from the sample when absent, never over an
# admin's file.
samples_dir=$(mktemp -d)
make -s -C asterisk-module samples DESTDIR="$samples_dir" >/dev/null
check "make samples installs regwatch.conf when there is none" cmp -s asterisk-module/regwatch.conf.sample "$samples_dir/etc/asterisk/regwatch.conf"
echo "; the admin's own" >"$samples_dir/etc/asterisk/regwatch.conf"
make -s -C asterisk-module samples DESTDIR="$samples_dir" >/dev/null
check "make samples leaves an existing regwatch.conf as it is" grep -qx "; the admin's own" "$samples_dir/etc/asterisk/regwatch.conf"
rm -rf "$samples_dir"

# --- Asterisk's /metrics: res_prometheus with regwatch's series ------------------
# res_prometheus starts before res_regwatch (load_pri), which looks its
# two functions up at load: nothing of it is linked, and no reference to
# it is held.
METRICS_URL=http://127.0.0.1:8088/metrics
HOST_LABEL=$(cat /proc/sys/kernel/hostname)
check "res_regwatch.so refers to no res_prometheus symbol" sh -c "! nm -D asterisk-module/res_regwatch.so | grep -q prometheus"
check "res_prometheus running, not held by res_regwatch (use count 0)" \
    sh -c "chroot '$ROOT' /usr/sbin/asterisk -C $ETC/asterisk.conf -rx 'module show like res_prometheus' | grep -Eq 'res_prometheus.so .* 0 +Running'"
# The trunks' "trunk state cause alert", the same before and after the
# scrape and `regwatch show metrics`, or the comparison is taken again.
alert_table() { ast "regwatch show trunks" | awk 'NR == 1 || (NF >= 4 && $1 !~ /^[0-9]+$/) {print $1, $2, $3, $NF}'; }
metrics_scrape() {
    local a
    a=$(alert_table)
    ast "regwatch show metrics" >"$OUT/show-metrics.txt"
    python3 tests/asterisk/metrics.py fetch "$METRICS_URL" "$OUT/metrics-asterisk.prom" >"$OUT/metrics-fetch.txt" || return 1
    [ "$(alert_table)" = "$a" ] || return 1
    printf '%s\n' "$a" >"$OUT/metrics-trunks.txt"
    python3 tests/asterisk/metrics.py check "$OUT/metrics-asterisk.prom" "$OUT/metrics-trunks.txt" "$HOST_LABEL" \
        "$OUT/show-metrics.txt" >"$OUT/metrics-check.txt"
}
metrics_ok=no
wait_for 20 metrics_scrape && metrics_ok=yes
cat "$OUT/metrics-check.txt" >&2
check "Asterisk's /metrics: regwatch's series for every trunk (host=\"$HOST_LABEL\") as regwatch show trunks and regwatch show metrics have them" \
    test "$metrics_ok" = yes
ntrunks=$(trunks_table | wc -l)
python3 tests/asterisk/metrics.py part "$OUT/metrics-asterisk.prom" >"$OUT/metrics-regwatch.prom"
check "promtool check metrics: regwatch's part of Asterisk's /metrics is clean" sh -c "promtool check metrics <'$OUT/metrics-regwatch.prom'"
# The whole page: res_prometheus's own asterisk_* names draw promtool's
# lint notes (counters without _total, gauges named _count, _ms); a
# format error (exit 1) or a note on any other name fails.
prc=0
promtool check metrics <"$OUT/metrics-asterisk.prom" >"$OUT/promtool-asterisk-metrics.txt" 2>&1 || prc=$?
check "promtool check metrics on the whole page: parses; lint notes only on Asterisk's own asterisk_* names (exit $prc)" \
    sh -c "[ $prc -eq 0 ] || { [ $prc -eq 3 ] && ! grep -qv '^asterisk_' '$OUT/promtool-asterisk-metrics.txt'; }"
{
    printf 'metrics: Asterisk'"'"'s /metrics %s\n' "$(head -n 1 "$OUT/metrics-check.txt")"
    printf 'metrics: promtool check metrics: regwatch'"'"'s part clean; the whole page exit %s, %s lint notes, on %s\n' "$prc" \
        "$(grep -c . "$OUT/promtool-asterisk-metrics.txt")" "$(cut -d' ' -f1 "$OUT/promtool-asterisk-metrics.txt" | sort -u | tr '\n' ' ')"
} | tee -a "$OUT/figures.txt" >&2

# A Prometheus scrapes Asterisk every second and evaluates the shipped
# rules (for: shortened unless PROMETHEUS_E2E_FOR=shipped); its alerts are
# checked after the soak. It also scrapes a `regwatch watch --metrics`
# (host regwatch-e2e-watch) with two trunks, watch-outage on the outage
# registrar and watch-main on the main one (so that the watch's host is
# never all down), and sends its alerts to an Alertmanager with the
# shipped routes, which notifies a webhook of this script
# (OUT/webhook.jsonl, each notification with its receive time): the
# outage below measures the whole chain for both sources.
prom_dir=$(mktemp -d)
chain_rules "$PROM_FOR" "$prom_dir/rules.yml" || die "the rules copy"
CHAIN_SCRAPE=1 CHAIN_WAIT=1  # scrape and evaluation interval; group_wait and group_interval (s)
WATCH_HOST=regwatch-e2e-watch
cat >"$prom_dir/watch.toml" <<TOML
[[trunk]]
name = "watch-outage"
domain = "acme.sip.twilio.com"
username = "alice"
password = "Alice-Passw0rd-1"
proxy = "$OUTAGE"
transport = "udp"
register_interval = 5

[[trunk]]
name = "watch-main"
domain = "acme.sip.twilio.com"
username = "erin"
password = "Erin-Passw0rd-5"
proxy = "$MAIN"
transport = "udp"
register_interval = 5
TOML
"$REGWATCH_BIN" watch --json --config "$prom_dir/watch.toml" --interval 1 --metrics 127.0.0.1:9477 \
    --metrics-host "$WATCH_HOST" >"$OUT/watch.jsonl" 2>"$OUT/watch-stderr.txt" &
watch_pid=$!
pids+=("$watch_pid")
chain_alertmanager "$prom_dir" "$OUT" "$CHAIN_WAIT" 9093 9095 || die "Alertmanager or the webhook did not start"
cat >"$prom_dir/prometheus.yml" <<YML
global:
  scrape_interval: ${CHAIN_SCRAPE}s
  evaluation_interval: ${CHAIN_SCRAPE}s
rule_files:
  - $prom_dir/rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:9093']
scrape_configs:
  - job_name: asterisk
    static_configs:
      - targets: ['127.0.0.1:8088']
  - job_name: regwatch
    static_configs:
      - targets: ['127.0.0.1:9477']
YML
promtool check config "$prom_dir/prometheus.yml" >/dev/null || die "prometheus.yml does not pass promtool check config"
prom_start=$(wall)
prometheus --config.file="$prom_dir/prometheus.yml" --storage.tsdb.path="$prom_dir/data" \
    --web.listen-address=127.0.0.1:9090 >"$OUT/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
no_password_in "'$OUT'/*.txt '$OUT'/*.jsonl '$OUT'/*.prom '$ROOT/var/log/regwatch-e2e/messages.log'"

# --- outage: the registrar stops, then comes back ------------------------------
# The alert chain's sources: Asterisk's outage trunk (job asterisk) and the
# watch's watch-outage (job regwatch), both on the outage registrar, whose
# RegwatchTrunkDown page must reach the webhook when it stops. A firing
# page may come CHAIN_SLACK s after scrape + for: + group_wait, a resolved
# one CHAIN_SLACK s after scrape + group_interval: the slack is for the
# source's own detection (Asterisk here: keep-alives every 3 s, a 1.5 s
# timeout, two failures 1 s apart, up to ~7 s; the watch's every 1 s) and
# for the delivery on a loaded machine.
CHAIN_FOR=$(python3 scripts/alert-chain.py for "$prom_dir/rules.yml" RegwatchTrunkDown)
fire_limit=$((CHAIN_SCRAPE + CHAIN_FOR + CHAIN_WAIT + CHAIN_SLACK))
resolve_limit=$((CHAIN_SCRAPE + CHAIN_WAIT + CHAIN_SLACK))
CHAIN_AST=(job=asterisk trunk=outage "host=$HOST_LABEL")
CHAIN_WATCH=(job=regwatch trunk=watch-outage "host=$WATCH_HOST")
# chain_page STATUS SKIP SINCE LIMIT FROM LABEL=VALUE...: waits for the
# RegwatchTrunkDown page with STATUS and the labels at the webhook (after
# its first SKIP lines, at most LIMIT s after the Unix time SINCE, the
# moment of FROM; what came meanwhile to OUT/chain.txt) and checks that it
# came in time; the seconds it took in chain_took ("none": it never came).
chain_page() {
    local status=$1 skip=$2 since=$3 limit=$4 from=$5 out ok=yes kv sel="" trunk=""
    shift 5
    for kv in "$@"; do
        case $kv in host=*) ;; *) sel+="${sel:+,}${kv%%=*}=\"${kv#*=}\"" ;; esac
        case $kv in trunk=*) trunk=${kv#*=} ;; esac
    done
    out=$(python3 scripts/alert-chain.py notified "$OUT/webhook.jsonl" --name "chain: $trunk" --skip "$skip" \
        --since "$since" --limit "$limit" --status "$status" --path /page alertname=RegwatchTrunkDown severity=page "$@" 2>&1) ||
        ok=no
    { grep -v '^TOOK' <<<"$out" || true; } | tee -a "$OUT/chain.txt" >&2
    chain_took=$(sed -n 's/^TOOK //p' <<<"$out")
    chain_took=${chain_took:-none}
    check "chain: RegwatchTrunkDown{$sel} $status at the webhook (/page) within $limit s of $from ($chain_took s)" test "$ok" = yes
}
# chain_pages: the RegwatchTrunkDown notifications of either source so far.
chain_pages() {
    python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    for a in json.loads(line)["body"]["alerts"]:
        l = a["labels"]
        n += l.get("alertname") == "RegwatchTrunkDown" and (l.get("trunk"), l.get("job")) in (("outage", "asterisk"), ("watch-outage", "regwatch"))
print(n)' "$OUT/webhook.jsonl"
}
chain_up() {
    python3 scripts/alert-chain.py query http://127.0.0.1:9090 "regwatch_trunk_up{job=\"asterisk\",trunk=\"outage\"} == 1" >/dev/null &&
        python3 scripts/alert-chain.py query http://127.0.0.1:9090 \
            "regwatch_trunk_up{job=\"regwatch\",trunk=\"watch-outage\"} == 1 and on (trunk, host) regwatch_trunk_credentials_ok == 1" >/dev/null
}
check "chain: Prometheus has outage (job asterisk) and watch-outage (job regwatch) up before the outage" chain_up
check "chain: no RegwatchTrunkDown of either at the webhook before the outage" test "$(chain_pages)" -eq 0

say "stopping the outage registrar"
outage_dir=$OUT/registrar-outage
before=$(wc -l <"$outage_dir/kamailio.log")
chain_skip=$(wc -l <"$OUT/webhook.jsonl")
stop_wall=$(wall)
stop_at=$(mono)
outage_down
alert_seen() { has "$(grep '"Event": "RegwatchAlert"' "$OUT/ami.jsonl" | grep '"Trunk": "outage"')" '"Alert": "raised"'; }
wait_for 30 alert_seen || true
check "outage: RegwatchAlert raised after the registrar stops" alert_seen
alert_at=$(grep '"Event": "RegwatchAlert"' "$OUT/ami.jsonl" | grep '"Trunk": "outage"' | grep '"Alert": "raised"' | head -n 1 |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("_mono", 0))')
ast "regwatch show trunk outage" >"$OUT/show-trunk-outage-down.txt"
check "outage: registrar_unreachable or connection_refused while down" grep -Eq "Cause: (registrar_unreachable|connection_refused)" "$OUT/show-trunk-outage-down.txt"
# The chain: each source's page, with the cause regwatch gives the trunk
# (`regwatch show trunk outage` just now; the watch's is connection_refused:
# its own UDP socket gets the ICMP port unreachable).
ast_cause=$(sed -n 's/.*Cause: \([a-z_]*\).*/\1/p' "$OUT/show-trunk-outage-down.txt" | head -n 1)
say "chain: waiting up to $fire_limit s from the stop for both pages (scrape $CHAIN_SCRAPE s + for: $CHAIN_FOR s + group_wait $CHAIN_WAIT s + slack $CHAIN_SLACK s)"
chain_page firing "$chain_skip" "$stop_wall" "$fire_limit" "the stop" "${CHAIN_AST[@]}" "cause=$ast_cause"
fire_ast=$chain_took
chain_page firing "$chain_skip" "$stop_wall" "$fire_limit" "the stop" "${CHAIN_WATCH[@]}" cause=connection_refused
fire_watch=$chain_took
sleep 2
say "starting the outage registrar again"
chain_skip=$(wc -l <"$OUT/webhook.jsonl")
resume_wall=$(wall)
resume_at=$(mono)
resumed=$(wc -l <"$outage_dir/kamailio.log")
outage_up
rereg() { [ "$(registers_since "$outage_dir/kamailio.log" "$before" carol)" -gt 0 ]; }
wait_for 30 rereg || true
rereg_at=$(mono)
check "outage: carol's binding is back (REGISTER from Asterisk, via regwatch)" rereg
sleep 10
ast "regwatch show trunk outage" >"$OUT/show-trunk-outage-back.txt"
ast "regwatch show trunk plain" >"$OUT/show-trunk-plain-back.txt"
ast "pjsip show registrations" >"$OUT/pjsip-show-registrations.txt"
plain_rereg=$(registers_since "$outage_dir/kamailio.log" "$before" dave)
# Every REGISTER the outage registrar received per user, answered or not:
# from its stop, and from its return, to 10 s after it. Asterisk sends
# none for outagewrongpw (forbidden_retry_interval 0: it stopped at the
# 403), so any is regwatch's.
recv_counts() { for u in carol dave judy; do printf '%s %s\n' "$u" "$(received_since "$outage_dir/kamailio.log" "$1" "$u")"; done; }
recv_stop=$(recv_counts "$before")
recv_back=$(recv_counts "$resumed")
recv_of() { awk -v u="$2" '$1 == u {print $2}' <<<"$1"; }
# Asterisk refreshes at expiration - 10 s; "(exp. Ns)" is its binding's lapse.
plain_next=$(awk '$1 ~ /^plain\// {for (i = 1; i <= NF; i++) if ($i == "(exp.") {gsub(/[^0-9]/, "", $(i + 1)); print $(i + 1) - 10}}' \
    "$OUT/pjsip-show-registrations.txt")
check "plain (Asterisk alone): no REGISTER in the 10 s after the registrar's return" test "$plain_rereg" -eq 0
check "outagewrongpw (credentials rejected): no REGISTER from the registrar's stop to 10 s after its return" \
    test "$(recv_of "$recv_stop" judy)" -eq 0
wait_for 20 cause_is outagewrongpw credentials_rejected || true
check "outagewrongpw: credentials_rejected after the registrar's return" cause_is outagewrongpw credentials_rejected
ast "regwatch show trunk outagewrongpw" >"$OUT/show-trunk-outagewrongpw-back.txt"
check "outage: alert cleared" sh -c "grep '\"Event\": \"RegwatchAlert\"' '$OUT/ami.jsonl' | grep '\"Trunk\": \"outage\"' | grep -q '\"Alert\": \"cleared\"'"
# The chain: each page resolved. The webhook has stamped each notification
# as it came, so the waits after the checks above measure the same.
chain_page resolved "$chain_skip" "$resume_wall" "$resolve_limit" "the registrar's return" "${CHAIN_AST[@]}" "cause=$ast_cause"
resolve_ast=$chain_took
chain_page resolved "$chain_skip" "$resume_wall" "$resolve_limit" "the registrar's return" "${CHAIN_WATCH[@]}" cause=connection_refused
resolve_watch=$chain_took
# When the watch raised its alert (its JSON lines' "time"), for the figures.
watch_raised=$(python3 -c 'import datetime, json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "alert_raised" and e.get("trunk") == "watch-outage":
        t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() - float(sys.argv[2])
        if t >= 0:
            print("%.1f" % t)
            break' "$OUT/watch.jsonl" "$stop_wall" || true)
no_password_in "'$OUT'/watch.jsonl '$OUT'/watch-stderr.txt '$OUT'/webhook.jsonl '$OUT'/alertmanager.log '$OUT'/chain.txt" \
    "the alert chain's output (watch, webhook, Alertmanager)"
{
    printf 'outage: registrar stopped at +%s s after Asterisk started\n' "$(seconds "$start_mono" "$stop_at")"
    printf 'outage: RegwatchAlert raised %s s after the registrar stopped\n' "$(seconds "$stop_at" "$alert_at")"
    printf 'outage: binding back %s s after the registrar returned (regwatch re-registered)\n' "$(seconds "$resume_at" "$rereg_at")"
    printf 'chain: Prometheus (scrape and evaluation every %s s, the shipped rules with for: %s s) -> Alertmanager (the shipped routes, group_wait and group_interval %s s) -> webhook; bounds: firing %s s (scrape + for: + group_wait + slack %s s), resolved %s s (scrape + group_interval + slack)\n' \
        "$CHAIN_SCRAPE" "$CHAIN_FOR" "$CHAIN_WAIT" "$fire_limit" "$CHAIN_SLACK" "$resolve_limit"
    printf 'chain: Asterisk'"'"'s outage (job asterisk): RegwatchTrunkDown cause=%s at the webhook %s s after the registrar stopped (RegwatchAlert after %s s), resolved %s s after it returned\n' \
        "$ast_cause" "$fire_ast" "$(seconds "$stop_at" "$alert_at")" "$resolve_ast"
    printf 'chain: regwatch watch'"'"'s watch-outage (job regwatch): RegwatchTrunkDown cause=connection_refused at the webhook %s s after the registrar stopped (alert_raised after %s s), resolved %s s after it returned\n' \
        "$fire_watch" "${watch_raised:-?}" "$resolve_watch"
    printf 'plain (Asterisk alone): %s REGISTERs in the same window; its next one in %s s (pjsip show registrations), the registrar holding no binding until then\n' "$plain_rereg" "${plain_next:-?}"
    printf 'outage: REGISTERs received (challenged, rejected or saved) from the stop to return + 10 s: outage (carol) %s, plain (dave) %s, outagewrongpw (judy) %s; from the return: %s, %s, %s\n' \
        "$(recv_of "$recv_stop" carol)" "$(recv_of "$recv_stop" dave)" "$(recv_of "$recv_stop" judy)" \
        "$(recv_of "$recv_back" carol)" "$(recv_of "$recv_back" dave)" "$(recv_of "$recv_back" judy)"
} | tee -a "$OUT/figures.txt" >&2
rereg_s=$(python3 -c "print(int(($rereg_at - $resume_at) * 10))")
check "outage: re-registration within 5 s of the registrar's return" test "$rereg_s" -le 50

# --- the soak: a reload and an unload/load in the middle, then its end ---------
# Trunks whose state and cause come from what Asterisk and the registrar
# said (not from keep-alive inference alone): each must be the same in
# `regwatch show trunks` taken within 2 s of the module coming back (taken
# again until all match, the last one within the 2 s counts).
KEEP="soakgood soakbad regoff good wrongpw nodomain mismatch brief outagewrongpw"
same() { [ -n "$1" ] && [ "$1" = "$2" ]; }
keep_check() {
    local label=$1 before=$2 done_at=$3 t table="" took="-" now sample all
    while :; do
        sample=$(trunks_table)
        now=$(mono)
        [ "$(py "int($now - $done_at > 2.0)")" = 1 ] && break
        table=$sample took=$(seconds "$done_at" "$now")
        all=yes
        for t in $KEEP; do [ "$(row_of "$before" "$t")" = "$(row_of "$table" "$t")" ] || all=no; done
        [ "$all" = yes ] && break
        sleep 0.1
    done
    for t in $KEEP; do
        printf '%s: %s before "%s", after "%s" (regwatch show trunks at +%s s)\n' "$label" "$t" \
            "$(row_of "$before" "$t")" "$(row_of "$table" "$t")" "$took" | tee -a "$OUT/soak-reloads.txt" >&2
        check "$label: $t keeps \"$(row_of "$before" "$t")\" (within 2 s)" same "$(row_of "$before" "$t")" "$(row_of "$table" "$t")"
    done
}
ast "regwatch show trunks" >"$OUT/show-trunks-before-reload.txt"
before_reload=$(trunks_table)
ast "module reload res_regwatch" >"$OUT/soak-reload.txt"
keep_check "module reload" "$before_reload" "$(mono)"
# The unload/load lands between two of soakgood's refreshes, so that the
# next ones are watched by the module loaded again.
mid=$(py "$soak_t0 + ($SOAK_CYCLES - 1.5) * ($SOAK_GRANT - 10)")
sleep "$(py "max(0, $mid - $(wall))")"
before_load=$(trunks_table)
echo 1 >"$OUT/soak.gen"
unload_wall=$(wall)
ast "module unload res_regwatch" >"$OUT/soak-unload.txt"
ast "module load res_regwatch" >>"$OUT/soak-unload.txt"
keep_check "module unload/load" "$before_load" "$(mono)"
echo 2 >"$OUT/soak.gen"
ast "regwatch show trunks" >"$OUT/show-trunks-after-load.txt"
say "soak: until $SOAK_CYCLES refresh cycles of soakgood have passed ($(py "int($soak_end - $(wall))") s more)"
sleep "$(py "max(0, $soak_end - $(wall))")"
touch "$OUT/soak.stop"
wait "$soak_pid" || true
for t in $soak_trunks; do ast "regwatch show trunk $t" >"$OUT/show-trunk-$t-end.txt"; done
ast "pjsip show registrations" >"$OUT/pjsip-show-registrations-soak.txt"
# What the samples, the AMI events and the registrar's log say over the
# soak window (soakgood's first 200 OK to its end); figures to stdout,
# failures as "FAIL: reason" lines.
python3 - "$OUT" "$soak_t0" "$soak_end" "$SOAK_GRANT" "$SOAK_CYCLES" "$unload_wall" "$KEEP" >"$OUT/soak-verdict.txt" <<'PY'
import json, re, sys
out, t0, end, grant, cycles = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
unload, keep = float(sys.argv[6]), sys.argv[7].split()
samples = {}
for line in open(out + "/soak-samples.txt"):
    f = line.split()
    if len(f) >= 2:
        samples.setdefault(f[1], []).append((float(f[0]), " ".join(f[2:])))
want = {"soakgood": lambda sc: sc == "registered healthy",
        "soakbad": lambda sc: sc.endswith(" credentials_rejected"),
        "regoff": lambda sc: sc.endswith(" account_forbidden")}
for t, ok in want.items():
    s = samples.get(t, [])
    bad = [(round(w - t0, 1), sc) for w, sc in s if not ok(sc)]
    seen = sorted(set(sc for _, sc in s))
    print("samples %s: %d over %.0f s, seen %s, off: %d %s" % (t, len(s), (s[-1][0] - s[0][0]) if s else 0, seen, len(bad), bad[:5]))
    if len(s) < (end - t0) / 10 * 0.6:
        print("FAIL: %s has %d samples, too few for %.0f s" % (t, len(s), end - t0))
    if bad:
        print("FAIL: %s off at +%s s after soakgood's first 200" % (t, [b[0] for b in bad]))
ev = [json.loads(l) for l in open(out + "/ami.jsonl")]
ev = [e for e in ev if e.get("_wall", 0) <= end and e.get("Event") in ("RegwatchState", "RegwatchAlert")]
def of(t, name):
    return [e for e in ev if e.get("Trunk") == t and e["Event"] == name]
def short(e):
    return "+%.1f s %s %s %s %s" % (e["_wall"] - t0, e["Event"], e.get("Alert", e.get("PreviousState", "")), e.get("State"), e.get("Cause"))
alerts = of("soakgood", "RegwatchAlert")
states = of("soakgood", "RegwatchState")
# Its first registration: the registrar's first 200 (t0), announced by a
# RegwatchState registered within 5 s. Counted after it: every other
# RegwatchState later than that event or than t0 + 2 s.
first = next((e for e in states if e.get("State") == "registered"), None)
cutoff = min(first["_wall"] if first else end, t0 + 2)
after = [e for e in states if e is not first and e["_wall"] > cutoff]
print("events soakgood: %d RegwatchAlert, %d RegwatchState (%d after its first registration): %s; first RegwatchState registered at %s"
      % (len(alerts), len(states), len(after), [short(e) for e in alerts + after], short(first) if first else "none"))
if alerts:
    print("FAIL: soakgood raised %d RegwatchAlert" % len(alerts))
if first is None or first["_wall"] > t0 + 5:
    print("FAIL: soakgood never RegwatchState registered within 5 s of its first 200 OK")
if len(after) > 1:
    print("FAIL: soakgood %d RegwatchState after its first registered" % len(after))
for t in ("soakbad", "regoff"):
    a, s = of(t, "RegwatchAlert"), of(t, "RegwatchState")
    print("events %s: %d RegwatchAlert, %d RegwatchState: %s" % (t, len(a), len(s), [short(e) for e in a + s][:12]))
    cleared = [e for e in a if e.get("Alert") == "cleared"]
    if cleared:
        print("FAIL: %s alert cleared: %s" % (t, [short(e) for e in cleared]))
# The module loaded again starts from Asterisk's view: no event of the
# load (10 s from the unload) may name cause unknown for a trunk whose
# cause was known.
at_load = [e for e in ev if unload <= e["_wall"] <= unload + 10 and e.get("Trunk") in keep]
unknown = [e["Trunk"] + " " + short(e) for e in at_load if e.get("Cause") == "unknown"]
print("events at the unload/load: %d for the kept trunks, %d naming cause unknown: %s" % (len(at_load), len(unknown), unknown[:6]))
if unknown:
    print("FAIL: load events with cause unknown: %s" % unknown)
saves = []
for line in open(out + "/registrar-soak/kamailio.log"):
    m = re.search(r"REGISTER of ivan .* saved \(expires (-?\d+)\) at ([0-9.]+)$", line)
    if m and t0 <= float(m.group(2)) <= end:
        saves.append(float(m.group(2)))
gaps = [b - a for a, b in zip(saves, saves[1:])]
print("registrar: soakgood's binding saved %d times over the soak (%d refresh cycles), gaps %s s, last %.1f s before the end"
      % (len(saves), max(len(saves) - 1, 0), [round(g, 1) for g in gaps], end - saves[-1] if saves else -1))
if len(saves) - 1 < cycles:
    print("FAIL: registrar saw %d refreshes of soakgood, fewer than %d" % (len(saves) - 1, cycles))
if not saves or max(gaps + [end - saves[-1]]) >= grant:
    print("FAIL: soakgood's binding lapsed at the registrar (a gap of %d s or more)" % grant)
recv = {}
for line in open(out + "/registrar-soak/kamailio.log"):
    m = re.search(r"REGISTER from \S+ for ivan@\S+ \(contact (\S+), credentials: (\w+)\) at ([0-9.]+)$", line)
    if m and float(m.group(3)) <= end:
        k = m.group(1)
        recv[k] = recv.get(k, 0) + 1
print("registrar: REGISTERs received from the start to the end of the soak, per Contact: %s" % recv)
print("done")
PY
cat "$OUT/soak-verdict.txt" >&2
# soak_fail PATTERN: the verdict is complete and has no "FAIL: PATTERN".
soak_fail() { grep -qx done "$OUT/soak-verdict.txt" && ! grep -q "^FAIL: $1" "$OUT/soak-verdict.txt"; }
check "soak: every sample of soakgood registered/healthy" soak_fail "soakgood \(has\|off\)"
check "soak: every sample of soakbad credentials_rejected" soak_fail "soakbad \(has\|off\)"
check "soak: every sample of regoff account_forbidden" soak_fail "regoff \(has\|off\)"
check "soak: soakgood raised no RegwatchAlert" soak_fail "soakgood raised"
check "soak: soakgood's first 200 OK announced by RegwatchState registered (within 5 s)" soak_fail "soakgood never"
check "soak: soakgood at most one RegwatchState after its first registered" soak_fail "soakgood [0-9]* RegwatchState"
check "soak: soakbad's alert never cleared (soakgood's 200s are not soakbad's)" soak_fail "soakbad alert cleared"
check "soak: regoff's alert never cleared" soak_fail "regoff alert cleared"
check "soak: no event of the module's load names cause unknown for a trunk whose cause was known" soak_fail "load events"
check "soak: the registrar saw soakgood refreshed $SOAK_CYCLES times or more" soak_fail "registrar saw"
check "soak: soakgood's binding never lapsed at the registrar" soak_fail "soakgood's binding lapsed"
soak_exp=$(awk '$1 ~ /^soakgood\// {for (i = 1; i <= NF; i++) if ($i == "(exp.") {gsub(/[^0-9]/, "", $(i + 1)); print $(i + 1)}}' \
    "$OUT/pjsip-show-registrations-soak.txt")
check "soak: Asterisk holds soakgood's binding for the granted $SOAK_GRANT s or less (exp. ${soak_exp:-?} s)" \
    test "${soak_exp:-999}" -le "$SOAK_GRANT"
# Every field the events carried is documented (manager show event).
python3 - "$OUT" >"$OUT/undocumented-fields.txt" <<'PY'
import json, sys
out = sys.argv[1]
seen = {}
for f in ("ami.jsonl", "ami-show-trunks.jsonl"):
    for l in open(out + "/" + f):
        e = json.loads(l)
        if e.get("Event", "").startswith("Regwatch"):
            seen.setdefault(e["Event"], set()).update(k for k in e if k not in ("Event", "Privilege", "_mono", "_wall"))
for ev, keys in sorted(seen.items()):
    try:
        doc = open("%s/manager-show-event-%s.txt" % (out, ev)).read()
    except OSError:
        doc = ""
    for k in sorted(keys):
        if k not in doc:
            print("%s %s" % (ev, k))
print("checked %s" % sorted(seen))
PY
check "every field of the Regwatch* AMI events seen is documented" \
    sh -c "grep -q '^checked .*RegwatchState' '$OUT/undocumented-fields.txt' && ! grep -qv '^checked ' '$OUT/undocumented-fields.txt'"
{
    printf 'soak: %s refresh cycles of %s s granted (Asterisk asks 120), %s s from soakgood'"'"'s first 200 OK\n' \
        "$SOAK_CYCLES" "$SOAK_GRANT" "$(py "int($soak_end - $soak_t0)")"
    grep -v '^FAIL\|^done$' "$OUT/soak-verdict.txt" | sed 's/^/soak: /'
} | tee -a "$OUT/figures.txt" >&2

# --- /metrics over the soak and through module unloads and reloads -------------
python3 tests/asterisk/metrics.py alerts http://127.0.0.1:9090 "$prom_dir/rules.yml" "$prom_start" \
    >"$OUT/prometheus-alerts.txt" 2>&1 && prom_ok=yes || prom_ok=no
# Prometheus, then the rest of the alert chain: Alertmanager, the webhook, the watch.
for p in "$prom_pid" "${chain_pids[@]}" "$watch_pid"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
done
cat "$OUT/prometheus-alerts.txt" >&2
check "Prometheus scraping Asterisk's /metrics fires the shipped rules (for: $PROM_FOR) for each failing trunk, none for the healthy ones" \
    test "$prom_ok" = yes
grep -v '^FAIL' "$OUT/prometheus-alerts.txt" | tee -a "$OUT/figures.txt" >/dev/null
# has_trunks N: /metrics answers 200 with N trunks in regwatch_trunk_up.
has_trunks() {
    python3 tests/asterisk/metrics.py fetch "$METRICS_URL" "$OUT/metrics-now.prom" >/dev/null &&
        [ "$(python3 tests/asterisk/metrics.py count "$OUT/metrics-now.prom")" -eq "$1" ]
}
# res_prometheus unloaded under res_regwatch: completely (nothing pins
# it), /metrics gone, regwatch working; loaded again, its series come
# with a refresh of res_regwatch.
ast "module unload res_prometheus.so" >"$OUT/metrics-modules.txt"
ast "module show like res_prometheus" >>"$OUT/metrics-modules.txt"
check "module unload res_prometheus.so under res_regwatch: unloaded completely" \
    sh -c "grep -q 'Unloaded res_prometheus.so' '$OUT/metrics-modules.txt' && grep -q '^0 modules loaded' '$OUT/metrics-modules.txt'"
python3 tests/asterisk/metrics.py fetch "$METRICS_URL" "$OUT/metrics-unloaded.prom" >"$OUT/metrics-unloaded-fetch.txt" || true
check "  ... /metrics is Asterisk's 404" grep -q '^404 ' "$OUT/metrics-unloaded-fetch.txt"
regwatch_works() { cause_is good healthy && cause_is wrongpw credentials_rejected; }
check "  ... good healthy, wrongpw credentials_rejected" regwatch_works
ast "regwatch show metrics" >"$OUT/show-metrics-unloaded.txt"
check "  ... regwatch show metrics has the $ntrunks trunks" \
    test "$(python3 tests/asterisk/metrics.py count "$OUT/show-metrics-unloaded.txt")" -eq "$ntrunks"
ast "module load res_prometheus.so" >>"$OUT/metrics-modules.txt"
check "res_prometheus loaded again: /metrics answers, without regwatch's series until res_regwatch is refreshed" has_trunks 0
ast "module refresh res_regwatch.so" >>"$OUT/metrics-modules.txt"
wait_for 10 has_trunks "$ntrunks" || true
check "module refresh res_regwatch.so: its $ntrunks trunks back on /metrics" has_trunks "$ntrunks"
ast "module reload res_prometheus.so" >>"$OUT/metrics-modules.txt"
check "module reload res_prometheus.so: regwatch's $ntrunks trunks still on /metrics" has_trunks "$ntrunks"
ast "module unload res_regwatch.so" >>"$OUT/metrics-modules.txt"
check "res_regwatch unloaded: /metrics answers, without regwatch's series" has_trunks 0
ast "module load res_regwatch.so" >>"$OUT/metrics-modules.txt"
wait_for 10 has_trunks "$ntrunks" || true
check "res_regwatch loaded again: its $ntrunks trunks back on /metrics" has_trunks "$ntrunks"

# --- unload/load/reload cycles under load ------------------------------------------
proc() { proc_field "$AST_PID" "$1"; }
fds() { open_files "$AST_PID"; }
sipp_pid=""
if command -v sipp >/dev/null; then
    sipp -sf tests/asterisk/options-load.xml 127.0.0.1:5070 -i 127.0.0.1 -p 5099 -r 100 -nostdin -bg \
        -trace_stat -fd 1 -stf "$OUT/sipp-load.csv" -trace_err -error_file "$OUT/sipp-errors.log" >/dev/null 2>&1 || true
    sipp_pid=$(pgrep -n -f "sipp -sf tests/asterisk/options-load.xml" || true)
    [ -n "$sipp_pid" ] && pids+=("$sipp_pid")
fi
ast "regwatch show trunks" >/dev/null
rss0=$(proc VmRSS) thr0=$(proc Threads) fd0=$(fds)
ls -l "/proc/$AST_PID/fd" >"$OUT/fds-before-cycles.txt" 2>&1 || true
# /metrics scraped every 0.1 s through the cycles.
python3 tests/asterisk/metrics.py watch "$METRICS_URL" "$OUT/metrics-watch.stop" "$OUT/metrics-watch.json" &
metrics_watch=$!
pids+=("$metrics_watch")
cyc_start=$(mono)
# A pause of 0-0.5 s after each load: unloads land at every point of the
# keep-alive cycle, some while OPTIONS are in flight (the UDP-blocked
# trunk's never come back).
for i in $(seq "$CYCLES"); do
    ast "module unload res_regwatch" >>"$OUT/cycles.txt"
    ast "module load res_regwatch" >>"$OUT/cycles.txt"
    sleep "0.$((RANDOM % 6))"
    ast "module reload res_regwatch" >>"$OUT/cycles.txt"
done
cyc_end=$(mono)
touch "$OUT/metrics-watch.stop"
wait "$metrics_watch" || true
wait_for 20 cause_is good healthy || true
# A console connection's socket can outlive the client by a moment; a
# leaked descriptor never goes away.
fds_back() { [ "$(fds)" -le "$fd0" ]; }
wait_for 10 fds_back || true
rss1=$(proc VmRSS) thr1=$(proc Threads) fd1=$(fds)
ls -l "/proc/$AST_PID/fd" >"$OUT/fds-after-cycles.txt" 2>&1 || true
# The same cycles of a stock PJSIP module, for what Asterisk's own loader
# and allocator add to the resident size.
for i in $(seq "$CYCLES"); do
    ast "module unload res_pjsip_logger" >/dev/null
    ast "module load res_pjsip_logger" >/dev/null
    sleep "0.$((RANDOM % 6))"
    ast "module reload res_pjsip_logger" >/dev/null
done
rss2=$(proc VmRSS)
sleep 1.5
sipp_total=$(tail -n 1 "$OUT/sipp-load.csv" 2>/dev/null | cut -d';' -f13 || true)
sipp_ok=$(tail -n 1 "$OUT/sipp-load.csv" 2>/dev/null | cut -d';' -f16 || true)
[ -n "$sipp_pid" ] && kill "$sipp_pid" 2>/dev/null || true
check "Asterisk alive after $CYCLES cycles" kill -0 "$AST_PID"
ast "module show like regwatch" >"$OUT/module-after-cycles.txt"
check "res_regwatch running after the cycles" running res_regwatch.so "$OUT/module-after-cycles.txt"
check "good healthy again after the cycles" cause_is good healthy
check "no thread left behind by the cycles" test "$thr1" -le "$thr0"
check "no file descriptor left behind by the cycles" test "$fd1" -le "$fd0"
check "/metrics scraped through the cycles: every page a 200, regwatch's families once, its trunks all there or none" \
    python3 -c 'import json, sys; n = json.load(open(sys.argv[1])); sys.exit(n["bad"] or not n["with_trunks"] or n["trunks"] != int(sys.argv[2]))' \
    "$OUT/metrics-watch.json" "$ntrunks"
{
    printf 'cycles: %d unload/load/reload in %s s under %s\n' "$CYCLES" "$(seconds "$cyc_start" "$cyc_end")" \
        "$([ -n "$sipp_pid" ] && echo "100 OPTIONS/s from SIPp to Asterisk (${sipp_total:-?} sent, ${sipp_ok:-?} answered)" || echo "keep-alives only (no SIPp)")"
    printf 'cycles: RSS %s -> %s kB, threads %s -> %s, fds %s -> %s\n' "$rss0" "$rss1" "$thr0" "$thr1" "$fd0" "$fd1"
    printf 'cycles: the same %d cycles of res_pjsip_logger (baseline): RSS %s -> %s kB\n' "$CYCLES" "$rss1" "$rss2"
    python3 -c 'import json, sys; n = json.load(open(sys.argv[1])); print("cycles: /metrics scraped %(scrapes)d times meanwhile: %(with_trunks)d with regwatch'"'"'s %(trunks)d trunks, %(without_trunks)d while it was unloaded, %(bad)d bad %(examples)s" % n)' \
        "$OUT/metrics-watch.json"
} | tee -a "$OUT/figures.txt" >&2
grep -c "Unloaded res_regwatch\|Loaded res_regwatch" "$OUT/cycles.txt" >/dev/null || true

ast "core stop now" >/dev/null || true
for _ in $(seq 100); do kill -0 "$AST_PID" 2>/dev/null || break; sleep 0.1; done
AST_PID_DONE=$AST_PID
unset AST_PID
check "Asterisk stopped cleanly" sh -c "! kill -0 $AST_PID_DONE 2>/dev/null"

# --- Asterisk again, res_prometheus failing to load ------------------------------
# Without a prometheus.conf res_prometheus declines; res_regwatch must not
# go with it (what Asterisk's loader does to a module that lists the
# declined one among its optional modules).
say "Asterisk again, without prometheus.conf: res_prometheus declines"
rm "$ROOT$ETC/prometheus.conf"
chroot "$ROOT" /usr/sbin/asterisk -C $ETC/asterisk.conf -f -n >"$OUT/asterisk-stdout-noprom.txt" 2>&1 &
AST_PID=$!
wait_for 60 ast "core waitfullybooted" || die "Asterisk did not start again (see $OUT/asterisk-stdout-noprom.txt)"
ast "module show like re" >"$OUT/module-noprom.txt"
check "res_prometheus declined (no prometheus.conf)" grep -q "res_prometheus.so .*Not Running" "$OUT/module-noprom.txt"
check "  ... res_regwatch running" running res_regwatch.so "$OUT/module-noprom.txt"
wait_for 20 cause_is good healthy || true
check "  ... good healthy" cause_is good healthy
check "  ... wrongpw credentials_rejected" cause_is wrongpw credentials_rejected
ast "core stop now" >/dev/null || true
for _ in $(seq 100); do kill -0 "$AST_PID" 2>/dev/null || break; sleep 0.1; done
AST_PID_DONE=$AST_PID
unset AST_PID
check "Asterisk (res_prometheus declined) stopped cleanly" sh -c "! kill -0 $AST_PID_DONE 2>/dev/null"
cp "$ROOT/var/log/regwatch-e2e/messages.log" "$OUT/messages.log" 2>/dev/null || true
[ "$failures" -eq 0 ] || die "$failures check(s) failed"
