#!/usr/bin/env bash
# End-to-end test of mod_regwatch in a real FreeSWITCH, taken from the
# environment (FreeSWITCH is in no package registry this project can
# install from): FREESWITCH_PREFIX, else `pkg-config freeswitch`. Without
# one it says so and exits 0 (skipped); everything the module decides is
# covered in CI through the Rust adapters and the captured events.
#
#   FREESWITCH_PREFIX=/opt/freeswitch scripts/freeswitch-e2e.sh [OUTDIR]
#
# Like scripts/asterisk-e2e.sh, inside a network namespace it creates:
# gateways for good, wrong password, unknown domain, auth user ≠ AOR user,
# Expires below the minimum, UDP dropped with TCP working, and a registrar
# stopped then started again (regwatch re-registers one gateway; its twin
# is left to FreeSWITCH alone; one rejected for its password before must
# get no REGISTER), then unload/load cycles. Beside them, from the start,
# a soak against the registrar that grants 120 s (REGWATCH_E2E_SOAK_CYCLES
# refresh cycles, default 4, and at least 450 s): a healthy gateway, one
# on the same account with a wrong password, one asking 600 s, one to a
# domain with registration off; sampled every ~10 s, through a reloadxml
# and an unload/load. mod_sofia is loaded only once the event listener is
# subscribed, and the profile is waited for as mod_sofia reports it.
# Transcripts of `regwatch status|show|check`, the events and the figures
# (REGISTER counts, FreeSWITCH's refresh intervals as the registrars saw
# them) go to OUTDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
if [ "${1:-}" != "--inside" ]; then OUT=${1:-$TOP/target/freeswitch/e2e}; fi
CYCLES=${REGWATCH_E2E_CYCLES:-20}
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh

say() { printf 'freeswitch-e2e: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [ "${1:-}" != "--inside" ]; then
    if [ -n "${FREESWITCH_PREFIX:-}" ]; then
        export PKG_CONFIG_PATH="$FREESWITCH_PREFIX/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
    fi
    if ! pkg-config --exists freeswitch 2>/dev/null; then
        say "SKIPPED: no FreeSWITCH here (set FREESWITCH_PREFIX, or install one with freeswitch.pc)."
        say "SKIPPED: mod_regwatch's decisions are tested through the Rust adapters and the captured events."
        exit 0
    fi
    PREFIX=$(pkg-config --variable=prefix freeswitch)
    FS_BIN=$PREFIX/bin/freeswitch
    [ -x "$FS_BIN" ] || die "no $FS_BIN"
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespace, iptables)"
    scripts/install-deps.sh >&2 || die "cannot install Kamailio, iptables"
    say "FreeSWITCH $(pkg-config --modversion freeswitch) in $PREFIX"
    cargo build --release --lib --quiet
    make -s -C freeswitch-module clean
    make -s -C freeswitch-module all install
    rm -rf "$OUT"
    mkdir -p "$OUT"
    NS=regwatch-fs-$$
    trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
    ip netns add "$NS"
    t0=$(date +%s)
    status=0
    ip netns exec "$NS" env OUT="$OUT" PREFIX="$PREFIX" "$0" --inside || status=$?
    printf 'test %ss\n' $(($(date +%s) - t0)) | tee -a "$OUT/figures.txt" >&2
    [ "$status" -eq 0 ] || die "see $OUT"
    say "passed; transcripts in $OUT"
    exit 0
fi

# --- inside the namespace ------------------------------------------------
: "${OUT:?}" "${PREFIX:?}"
ip link set lo up
FS=$OUT/fs
pids=()
cleanup_inside() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${FS_PID:-}" ]; then
        kill "$FS_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$FS_PID" 2>/dev/null || true
    fi
    stop_registrars
}
trap cleanup_inside EXIT

fsx() { "$PREFIX/bin/fs_cli" -H 127.0.0.1 -P 8021 -p ClueCon -x "$1" 2>&1; }
GATEWAYS="good wrongpw nodomain mismatch brief udpblocked outage plain outagewrongpw soakgood soakbad soaklong regoff"
cause_is() { has "$(fsx "regwatch show $1")" "Cause: $2\b"; }
state_is() { has "$(fsx "regwatch show $1")" "State: $2 "; }

say "registrars on $MAIN, $BLOCKED (UDP dropped), $OUTAGE, $SOAK (soak)"
start_registrars

mkdir -p "$FS/conf" "$FS/log" "$FS/run" "$FS/db"
sed -e "s/@MAIN@/$MAIN/g" -e "s/@BLOCKED@/$BLOCKED/g" -e "s/@OUTAGE@/$OUTAGE/g" -e "s/@SOAK@/$SOAK/g" \
    -e "s/@REGOFF@/$SOAK_REGOFF_DOMAIN/g" tests/freeswitch/freeswitch.xml.in >"$FS/conf/freeswitch.xml"
"$PREFIX/bin/freeswitch" -nc -nf -nonat -nonatmap -conf "$FS/conf" -log "$FS/log" -run "$FS/run" -db "$FS/db" \
    >"$OUT/freeswitch-stdout.txt" 2>&1 &
FS_PID=$!
wait_for 60 sh -c "'$PREFIX/bin/fs_cli' -H 127.0.0.1 -P 8021 -p ClueCon -x 'module_exists mod_regwatch' | grep -q true" ||
    die "FreeSWITCH did not start with mod_regwatch (see $OUT/freeswitch-stdout.txt, $FS/log)"
# mod_sofia is not in modules.conf: it is loaded once the event listener
# is subscribed, so that the listener sees every gateway event from the
# first one (as mod_regwatch, loaded before it, does).
python3 tests/freeswitch/esl.py listen "$OUT/events.jsonl" &
pids+=($!)
wait_for 20 grep -q '"_ready"' "$OUT/events.jsonl" || die "no event socket"
fsx "load mod_sofia" >"$OUT/load-mod-sofia.txt"
grep -q '^+OK' "$OUT/load-mod-sofia.txt" || die "load mod_sofia: $(cat "$OUT/load-mod-sofia.txt")"
# The profile as mod_sofia reports it: RUNNING, with every gateway.
profile_up() {
    local st
    st=$(fsx "sofia status")
    has "$st" "external[[:space:]].*RUNNING" || return 1
    for gw in $GATEWAYS; do has "$st" "external::$gw[[:space:]]" || return 1; done
}
wait_for 30 profile_up || die "profile external not RUNNING with every gateway: $(fsx "sofia status")"
fsx "sofia status" >"$OUT/sofia-status-start.txt"
check "mod_regwatch loaded" sh -c "'$PREFIX/bin/fs_cli' -H 127.0.0.1 -P 8021 -p ClueCon -x 'module_exists mod_regwatch' | grep -q true"
# Every gateway's first state event (TRYING or, for a gateway that needs
# no REGISTER, NOREG) reached both the listener and mod_regwatch.
first_events() {
    local ev
    ev=$(grep '"Event-Subclass": "sofia::gateway_state"' "$OUT/events.jsonl") || return 1
    for gw in $GATEWAYS; do has "$ev" "\"Gateway\": \"$gw\"" || return 1; done
}
wait_for 20 first_events || true
check "the event listener saw every gateway's first sofia::gateway_state" first_events
check "regwatch.conf: an old name is read with a warning naming the new one" \
    grep -q "regwatch.conf: keepalive_successes_to_clear is deprecated: write keepalive-successes-to-clear" "$FS/log/freeswitch.log"
check "regwatch.conf: a value out of range is refused, naming the range" \
    grep -q "regwatch.conf: keepalive-jitter = 0.9: must be a fraction between 0 and 0.5; not applied" "$FS/log/freeswitch.log"

# --- the soak: from soakgood's first 200 OK, beside everything below ------------
# Against the soak registrar (grants at most 120 s): soakgood asks 120 s
# (FreeSWITCH re-registers a gateway expire-seconds - 15 s after its
# REGISTER succeeded, sofia_reg.c), for REGWATCH_E2E_SOAK_CYCLES (4) such
# cycles and at least 450 s; soakbad is soakgood's account with a wrong
# password; soaklong asks 600 s and is granted 120; regoff's domain has
# registration turned off. Every ~10 s each soak gateway's state and
# cause goes to soak-samples.txt (but while the module is unloaded on
# purpose: soak.gen is odd then).
SOAK_CYCLES=${REGWATCH_E2E_SOAK_CYCLES:-4}
soak_log=$OUT/registrar-soak/kamailio.log
soak_trunks="soakgood soakbad soaklong regoff"
wall() { python3 -c 'import time; print("%.3f" % time.time())'; }
py() { python3 -c "print($1)"; }
state_cause() { fsx "regwatch show $1" | sed -n '/State:/{s/^ *State: \([a-z_]*\) *Cause: \([a-z_]*\).*/\1 \2/p;q}'; }
soak_saved() { [ -n "$(saves_at "$soak_log" ivan)" ]; }
wait_for 30 soak_saved || die "soakgood never registered at the soak registrar (see $soak_log)"
soak_t0=$(saves_at "$soak_log" ivan | sed -n 1p)
soak_end=$(py "$soak_t0 + max(450, $SOAK_CYCLES * 105 + 30)")
echo 0 >"$OUT/soak.gen"
soak_sampler() {
    local g1 lines t
    while [ ! -e "$OUT/soak.stop" ]; do
        g1=$(cat "$OUT/soak.gen")
        if [ $((g1 % 2)) -eq 0 ]; then
            lines=""
            for t in $soak_trunks; do lines+="$(wall) $t $(state_cause "$t")"$'\n'; done
            if [ "$(cat "$OUT/soak.gen")" = "$g1" ]; then printf '%s' "$lines" >>"$OUT/soak-samples.txt"; fi
        fi
        for _ in $(seq 10); do [ -e "$OUT/soak.stop" ] && break; sleep 1; done
    done
}
soak_sampler &
soak_pid=$!
pids+=("$soak_pid")
wait_for 20 cause_is regoff account_forbidden || true
check "regoff (registration off, 403 before any challenge): account_forbidden" cause_is regoff account_forbidden
wait_for 20 cause_is soakbad credentials_rejected || true
check "soakbad (soakgood's account, wrong password): credentials_rejected" cause_is soakbad credentials_rejected
check "soakgood (soakbad's account, right password): healthy" cause_is soakgood healthy

# --- the cases -----------------------------------------------------------------
check_cases
wait_for 20 cause_is outagewrongpw credentials_rejected || true
check "outagewrongpw: credentials_rejected before the outage" cause_is outagewrongpw credentials_rejected

fsx "regwatch status" >"$OUT/status.txt"
fsx "regwatch findings" >"$OUT/findings.txt"
for t in $GATEWAYS; do
    fsx "regwatch show $t" >"$OUT/show-$t.txt"
done
fsx "regwatch check good" >"$OUT/check-good.txt"
fsx "regwatch check wrongpw" >"$OUT/check-wrongpw.txt"
fsx "regwatch show nosuch" >"$OUT/show-nosuch.txt" || true
fsx "regwatch" >"$OUT/usage.txt" || true
check "regwatch check good: healthy" grep -q "Diagnosis: healthy" "$OUT/check-good.txt"
check "regwatch check wrongpw: credentials_rejected" grep -q "Diagnosis: credentials_rejected" "$OUT/check-wrongpw.txt"
check "regwatch show of an unknown gateway: -ERR" grep -q "^-ERR" "$OUT/show-nosuch.txt"
check "findings name the auth user mismatch" grep -q "credentials.auth_user_mismatch" "$OUT/findings.txt"
ev_has() { grep -q "$1" "$OUT/events.jsonl"; }
check "event regwatch::alert credentials_rejected" ev_has '"Event-Subclass": "regwatch::alert".*"Gateway": "wrongpw".*"Cause": "credentials_rejected"'
check "event regwatch::state for good" ev_has '"Event-Subclass": "regwatch::state".*"Gateway": "good".*"State": "registered"'
check "log lines through switch_log_printf" grep -q "\[regwatch\]" "$FS/log/freeswitch.log"

# --- metrics: what a Prometheus scrapes through mod_xml_rpc ------------------------
# The same exposition as `regwatch watch --metrics`, the switch's name in
# the host label, for the gateways registered and rejected above.
scrape() { curl -sf --max-time 5 -u prometheus:scrape-e2e "http://127.0.0.1:8080/txtapi/regwatch_metrics"; }
scrape >"$OUT/metrics.prom" || true
fsx "regwatch metrics" >"$OUT/metrics-console.prom"
metric() { grep -E "^$1\{[^}]*trunk=\"$2\"[^}]*\} $3\$" "$OUT/metrics.prom"; }
check "metrics over HTTP: good up, healthy" metric regwatch_trunk_up good 1
check "metrics over HTTP: wrongpw down, credentials_rejected" sh -c "$(declare -f metric); metric regwatch_trunk_up wrongpw 0 | grep -q 'cause=\"credentials_rejected\"'"
check "metrics over HTTP: wrongpw's failures counted by cause" grep -Eq '^regwatch_register_failures_total\{trunk="wrongpw".*cause="credentials_rejected"\} [1-9]' "$OUT/metrics.prom"
check "metrics over HTTP: the host label is the switch's name" grep -Eq '^regwatch_trunk_up\{trunk="good",host="[^"]+"' "$OUT/metrics.prom"
check "metrics over HTTP: promtool check metrics clean" sh -c "promtool check metrics <'$OUT/metrics.prom' >'$OUT/promtool-metrics.txt' 2>&1"
check "metrics on the console: the same series" \
    test "$(grep -c '^regwatch_' "$OUT/metrics-console.prom")" -eq "$(grep -c '^regwatch_' "$OUT/metrics.prom")"
check "metrics over HTTP: refused without the password" sh -c "! curl -sf --max-time 5 http://127.0.0.1:8080/txtapi/regwatch_metrics >/dev/null"
printf 'metrics scrape: %s bytes, %s series\n' "$(wc -c <"$OUT/metrics.prom")" \
    "$(grep -c '^regwatch_' "$OUT/metrics.prom")" | tee -a "$OUT/figures.txt" >&2
grep '\[regwatch\]' "$FS/log/freeswitch.log" >"$OUT/regwatch-log-lines.log" || true
no_password_in "'$OUT'/*.txt '$OUT'/events.jsonl '$OUT'/regwatch-log-lines.log"

# --- outage ------------------------------------------------------------------------
say "stopping the outage registrar"
outage_dir=$OUT/registrar-outage
before=$(wc -l <"$outage_dir/kamailio.log")
# REGISTERs received per user at the outage registrar (challenged,
# rejected or saved): outage (carol) failed on reachability, outagewrongpw
# (judy) was rejected before the outage, plain (dave) is FreeSWITCH alone.
recv_counts() { for u in carol judy dave; do printf '%s=%s ' "$u" "$(received_since "$outage_dir/kamailio.log" "$1" "$u")"; done; }
stop_at=$(mono)
outage_down
alert_seen() { has "$(grep '"Event-Subclass": "regwatch::alert"' "$OUT/events.jsonl" | grep '"Gateway": "outage"')" '"Alert": "raised"'; }
wait_for 30 alert_seen || true
check "outage: regwatch::alert raised after the registrar stops" alert_seen
alert_at=$(grep '"Event-Subclass": "regwatch::alert"' "$OUT/events.jsonl" | grep '"Gateway": "outage"' | grep '"Alert": "raised"' | head -n 1 |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("_mono", 0))')
fsx "regwatch show outage" >"$OUT/show-outage-down.txt"
check "outage: registrar_unreachable or connection_refused while down" grep -Eq "Cause: (registrar_unreachable|connection_refused)" "$OUT/show-outage-down.txt"
sleep 2
say "starting the outage registrar again"
resume_at=$(mono)
outage_up
rereg() { [ "$(registers_since "$outage_dir/kamailio.log" "$before" carol)" -gt 0 ]; }
wait_for 30 rereg || true
rereg_at=$(mono)
check "outage: carol's binding is back (sofia profile external register outage, via regwatch)" rereg
sleep 10
fsx "regwatch show outage" >"$OUT/show-outage-back.txt"
fsx "sofia status gateway plain" >"$OUT/sofia-status-plain.txt"
plain_rereg=$(registers_since "$outage_dir/kamailio.log" "$before" dave)
check "plain (FreeSWITCH alone): no REGISTER in the 10 s after the registrar's return" test "$plain_rereg" -eq 0
recv1=$(recv_counts "$before")
check "outage recovery: regwatch re-registers outage (reachability failed), REGISTERs at the registrar: $recv1" \
    test "$(received_since "$outage_dir/kamailio.log" "$before" carol)" -gt 0
check "outage recovery: no REGISTER of outagewrongpw (rejected 403, not a reachability failure): $recv1" \
    test "$(received_since "$outage_dir/kamailio.log" "$before" judy)" -eq 0
{
    printf 'outage: regwatch::alert raised %s s after the registrar stopped\n' "$(seconds "$stop_at" "$alert_at")"
    printf 'outage: binding back %s s after the registrar returned (regwatch re-registered)\n' "$(seconds "$resume_at" "$rereg_at")"
    printf 'plain (FreeSWITCH alone): %s REGISTERs in the same window (sofia status gateway plain: %s)\n' "$plain_rereg" \
        "$(grep -E '^(State|Status)' "$OUT/sofia-status-plain.txt" | tr -s ' \t' ' ' | paste -sd';')"
    printf 'outage: REGISTERs received by the outage registrar from the stop to the return + 10 s, per user: %s(carol: outage, judy: outagewrongpw, dave: plain)\n' "$recv1"
} | tee -a "$OUT/figures.txt" >&2
rereg_s=$(python3 -c "print(int(($rereg_at - $resume_at) * 10))")
check "outage: re-registration within 5 s of the registrar's return" test "$rereg_s" -le 50

# --- an outage that catches both gateways re-registering ----------------------------
# FreeSWITCH alone: the REGISTER fails (503 on ICMP port unreachable), the
# gateway waits in FAIL_WAIT for retry-seconds (30) and only then tries
# again; regwatch re-registers its twin as soon as the keep-alive answers.
say "stopping the outage registrar, then both gateways re-register into the outage"
before2=$(wc -l <"$outage_dir/kamailio.log")
events_before=$(wc -l <"$OUT/events.jsonl")
outage_down
fsx "sofia profile external register outage" >/dev/null
fsx "sofia profile external register plain" >/dev/null
failwait() { tail -n +"$((events_before + 1))" "$OUT/events.jsonl" | grep '"Gateway": "plain"' | grep -q '"State": "FAIL_WAIT"'; }
alert2() { tail -n +"$((events_before + 1))" "$OUT/events.jsonl" | grep '"regwatch::alert"' | grep '"Gateway": "outage"' | grep -q '"Alert": "raised"'; }
wait_for 30 sh -c "$(declare -f failwait alert2); failwait && alert2" || true
check "plain in FAIL_WAIT and outage alerting during the second outage" sh -c "$(declare -f failwait alert2); failwait && alert2"
fsx "sofia status gateway plain" >"$OUT/sofia-status-plain-failwait.txt"
resume2_at=$(mono)
outage_up
rereg2() { [ "$(registers_since "$outage_dir/kamailio.log" "$before2" carol)" -gt 0 ]; }
plain2() { [ "$(registers_since "$outage_dir/kamailio.log" "$before2" dave)" -gt 0 ]; }
wait_for 30 rereg2 || true
rereg2_at=$(mono)
check "outage: binding back within 5 s of the registrar's return (regwatch)" \
    test "$(python3 -c "print(int(($rereg2_at - $resume2_at) * 10))")" -le 50
wait_for 70 plain2 || true
plain2_at=$(mono)
check "plain: FreeSWITCH alone re-registers only at its FAIL_WAIT retry" plain2
recv2=$(recv_counts "$before2")
check "second outage: no REGISTER of outagewrongpw (rejected 403): $recv2" \
    test "$(received_since "$outage_dir/kamailio.log" "$before2" judy)" -eq 0
{
    printf 'second outage: regwatch re-registered outage %s s after the registrar returned\n' "$(seconds "$resume2_at" "$rereg2_at")"
    printf 'second outage: FreeSWITCH alone (FAIL_WAIT, retry-seconds 30) re-registered plain %s s after the registrar returned\n' \
        "$(seconds "$resume2_at" "$plain2_at")"
    printf 'second outage: REGISTERs received by the outage registrar from the stop on, per user: %s\n' "$recv2"
} | tee -a "$OUT/figures.txt" >&2

# --- the soak: reloadxml and an unload/load in the middle, then its end --------
# Each soak gateway's state and cause right before, and sampled within
# 2 s after, must be the same.
soak_keep() {
    local what=$1 t before after t_done t_after ok=0
    declare -A before_of
    for t in $soak_trunks; do before_of[$t]=$(state_cause "$t"); done
    echo 1 >"$OUT/soak.gen"
    shift
    for c in "$@"; do fsx "$c" >>"$OUT/soak-$what.txt"; done
    t_done=$(mono)
    declare -A after_of
    for t in $soak_trunks; do after_of[$t]=$(state_cause "$t"); done
    t_after=$(mono)
    echo 2 >"$OUT/soak.gen"
    for t in $soak_trunks; do
        printf '%s: %s %s -> %s (sampled %s s after)\n' "$what" "$t" "${before_of[$t]}" "${after_of[$t]}" \
            "$(seconds "$t_done" "$t_after")" | tee -a "$OUT/soak-reloads.txt" >&2
        check "soak: $what keeps $t's state and cause (${before_of[$t]} -> ${after_of[$t]})" \
            test -n "${before_of[$t]}" -a "${before_of[$t]}" = "${after_of[$t]}"
    done
    check "soak: $what sampled within 2 s after" test "$(py "int(($t_after - $t_done) * 10)")" -le 20
}
soak_keep reloadxml "reloadxml"
# The unload/load lands between two of soakgood's refreshes: 20 s after
# the next one.
n_saves=$(saves_at "$soak_log" ivan | wc -l)
next_save() { [ "$(saves_at "$soak_log" ivan | wc -l)" -gt "$n_saves" ]; }
wait_for 130 next_save || true
sleep 20
soak_keep unload-load "unload mod_regwatch" "load mod_regwatch"
check "soak: unload and load answered +OK" test "$(grep -cx '+OK' "$OUT/soak-unload-load.txt")" -eq 2
say "soak: until $SOAK_CYCLES refresh cycles of soakgood and 450 s have passed ($(py "int($soak_end - $(wall))") s more)"
sleep "$(py "max(0, $soak_end - $(wall))")"
touch "$OUT/soak.stop"
wait "$soak_pid" || true
soak_end_mono=$(mono)
for t in $soak_trunks; do fsx "regwatch show $t" >"$OUT/show-$t-end.txt"; done
fsx "sofia status" >"$OUT/sofia-status-soak-end.txt"
cp "$soak_log" "$OUT/registrar-soak-at-end.log"
python3 - "$OUT" "$soak_t0" "$soak_end" "$soak_end_mono" >"$OUT/soak-verdict.txt" <<'PY'
import json, re, sys
out, t0, t_end, end_mono = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
log = open(out + "/registrar-soak-at-end.log", errors="replace").read().splitlines()
# Bindings FreeSWITCH (port 5070) saved, not those of `regwatch check`.
SAVED = re.compile(r"REGISTER of (\S+) from 127\.0\.0\.1:5070 saved \(expires (\d+)\) at ([0-9.]+)$")
def saves(user):
    return [float(m.group(3)) for m in map(SAVED.search, log) if m and m.group(1) == user and m.group(2) != "0"]
def asked(user):
    return sorted({m.group(2) for m in map(SAVED.search, log) if m and m.group(1) == user})
def received(contact):
    return [(float(m.group(2)), m.group(1)) for m in
            (re.search(r"REGISTER from \S+ for \S+ \(contact %s, credentials: (\w+)\) at ([0-9.]+)$" % re.escape(contact), l) for l in log) if m]
print("soak: soakgood's first 200 OK at %.1f, soak end %.1f s later" % (t0, t_end - t0))
verdict = {}
for gw, user, asks in (("soakgood", "ivan", 120), ("soaklong", "alice", 600)):
    ts = [t for t in saves(user) if t <= t_end]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    # Each exchange's first REGISTER (a challenged one and its answer
    # with credentials come within a second).
    sent = []
    for t, _ in received("gw+" + gw):
        if t <= t_end and (not sent or t - sent[-1][1] > 2):
            sent.append([t, t])
        elif sent:
            sent[-1][1] = t
    print("refresh: %s: REGISTER exchanges sent at (s after soakgood's first 200 OK): %s"
          % (gw, " ".join("%.1f" % (a - t0) for a, _ in sent)))
    print("refresh: %s (expire-seconds %d, registrar grants 120, asked %s): %d bindings saved; intervals between saves (s): %s"
          % (gw, asks, "/".join(asked(user)), len(ts), " ".join("%.1f" % g for g in gaps)))
    if gaps:
        print("refresh: %s: interval min %.1f, max %.1f, mean %.1f s; the binding lapsed at the registrar %d time(s) (interval > 120 s)"
              % (gw, min(gaps), max(gaps), sum(gaps) / len(gaps), sum(1 for g in gaps if g > 120)))
    verdict[gw + "_cycles"] = len(gaps)
    verdict[gw + "_lapses"] = sum(1 for g in gaps if g > 120)
# The same on the main registrar, which grants what is asked: good
# (alice, 600 s) and brief (heidi: expire-seconds 60, sent as 600 after
# the 423's Min-Expires, granted 600).
main = open(out + "/registrar-main/kamailio.log", errors="replace").read().splitlines()
for gw, user in (("good", "alice"), ("brief", "heidi")):
    ts = [float(m.group(3)) for m in map(SAVED.search, main) if m and m.group(1) == user and m.group(2) != "0"]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    print("refresh: %s (expire-seconds %d, main registrar grants 600): %d bindings saved in %.0f s; intervals between saves (s): %s"
          % (gw, 600 if gw == "good" else 60, len(ts), (ts[-1] - ts[0]) if ts else 0, " ".join("%.1f" % g for g in gaps) or "none"))
# Samples: soakgood healthy from its first registered sample; soakbad's
# cause credentials_rejected from its first rejection.
samples = {}
for line in open(out + "/soak-samples.txt"):
    parts = line.split()
    if len(parts) >= 2:
        samples.setdefault(parts[1], []).append((float(parts[0]), " ".join(parts[2:])))
def from_first(gw, ok):
    s = samples.get(gw, [])
    i = next((k for k, (_, sc) in enumerate(s) if ok(sc)), len(s))
    return s[i:], i
for gw, ok in (("soakgood", lambda sc: sc == "registered healthy"),
               ("soakbad", lambda sc: sc.endswith(" credentials_rejected")),
               ("regoff", lambda sc: sc.endswith(" account_forbidden")),
               ("soaklong", lambda sc: sc == "registered healthy")):
    s, skipped = from_first(gw, ok)
    bad = [(round(t - t0, 1), sc) for t, sc in s if not ok(sc)]
    print("samples: %s: %d samples (%d before the first good one), %d not as expected%s"
          % (gw, len(s) + skipped, skipped, len(bad), (": " + "; ".join("%s s %s" % b for b in bad[:10])) if bad else ""))
    verdict[gw + "_samples"] = len(s)
    verdict[gw + "_bad"] = len(bad)
    verdict[gw + "_span"] = round(s[-1][0] - s[0][0], 1) if s else 0
# Events up to the soak's end.
def parsed(lines):
    for l in lines:
        try:
            yield json.loads(l)
        except ValueError:
            pass
evs = list(parsed(open(out + "/events.jsonl")))
evs = [e for e in evs if e.get("_mono", 0) <= end_mono]
for gw in ("soakgood", "soakbad", "soaklong", "regoff"):
    st = [e for e in evs if e.get("Event-Subclass") == "regwatch::state" and e.get("Gateway") == gw]
    al = [e for e in evs if e.get("Event-Subclass") == "regwatch::alert" and e.get("Gateway") == gw]
    i = next((k for k, e in enumerate(st) if e.get("State") == "registered"), None)
    after = st[i + 1:] if i is not None else []
    fmt = lambda e: "%s/%s" % (e.get("State"), e.get("Cause"))
    print("events: %s: %d regwatch::state (%s), %d after its first registered; %d regwatch::alert (%s)"
          % (gw, len(st), " ".join(fmt(e) for e in st[:12]), len(after), len(al),
             " ".join("%s %s" % (e.get("Alert"), e.get("Cause")) for e in al[:12])))
    verdict[gw + "_registered_seen"] = int(i is not None)
    verdict[gw + "_state_after"] = len(after)
    verdict[gw + "_alerts"] = len(al)
    sofia = [e for e in evs if e.get("Event-Subclass") == "sofia::gateway_state" and e.get("Gateway") == gw]
    print("events: %s: %d sofia::gateway_state (%s)" % (gw, len(sofia), " ".join(e.get("State", "?") for e in sofia[:16])))
with open(out + "/soak-verdict.env", "w") as f:
    for k, v in verdict.items():
        f.write("%s=%s\n" % (k, v))
PY
tee -a "$OUT/figures.txt" <"$OUT/soak-verdict.txt" >&2
# shellcheck disable=SC1091
. "$OUT/soak-verdict.env"
check "soak: soakgood refreshed $soakgood_cycles times (at least $SOAK_CYCLES full cycles)" test "$soakgood_cycles" -ge "$SOAK_CYCLES"
check "soak: soakgood's binding never lapsed at the registrar" test "$soakgood_lapses" -eq 0
check "soak: soakgood registered healthy at every sample ($soakgood_samples over $soakgood_span s, $soakgood_bad not)" \
    test "$soakgood_samples" -ge 30 -a "$soakgood_bad" -eq 0
check "soak: soakbad credentials_rejected at every sample ($soakbad_samples from its first rejection, $soakbad_bad not)" \
    test "$soakbad_samples" -ge 30 -a "$soakbad_bad" -eq 0
check "soak: regoff account_forbidden at every sample ($regoff_samples from its first account_forbidden, $regoff_bad not)" \
    test "$regoff_samples" -ge 30 -a "$regoff_bad" -eq 0
check "soak: soakgood raised no alert ($soakgood_alerts)" test "$soakgood_alerts" -eq 0
check "soak: soakgood at most one state event after its first registered ($soakgood_state_after)" \
    test "$soakgood_registered_seen" -eq 1 -a "$soakgood_state_after" -le 1

# --- unload/load cycles ---------------------------------------------------------------
proc() { proc_field "$FS_PID" "$1"; }
fds() { open_files "$FS_PID"; }
sleep 5
rss0=$(proc VmRSS) thr0=$(proc Threads) fd0=$(fds)
ls -l "/proc/$FS_PID/fd" >"$OUT/fds-before-cycles.txt" 2>&1 || true
cyc_start=$(mono)
for i in $(seq "$CYCLES"); do
    fsx "unload mod_regwatch" >>"$OUT/cycles.txt"
    fsx "load mod_regwatch" >>"$OUT/cycles.txt"
    sleep "0.$((RANDOM % 6))"
done
cyc_end=$(mono)
wait_for 20 cause_is good healthy || true
# fs_cli's event-socket connections close a moment after it exits.
sleep 5
# A console connection's socket can outlive the client by a moment; a
# leaked descriptor never goes away.
fds_back() { [ "$(fds)" -le "$fd0" ]; }
wait_for 10 fds_back || true
rss1=$(proc VmRSS) thr1=$(proc Threads) fd1=$(fds)
ls -l "/proc/$FS_PID/fd" >"$OUT/fds-after-cycles.txt" 2>&1 || true
# The same cycles of a stock module: FreeSWITCH's loader (and the
# reloadxml each `load` runs) grow the resident size on their own.
for i in $(seq "$CYCLES"); do
    fsx "unload mod_dialplan_xml" >/dev/null
    fsx "load mod_dialplan_xml" >/dev/null
    sleep "0.$((RANDOM % 6))"
done
sleep 5
rss2=$(proc VmRSS)
check "FreeSWITCH alive after $CYCLES cycles" kill -0 "$FS_PID"
check "mod_regwatch loaded after the cycles" sh -c "'$PREFIX/bin/fs_cli' -H 127.0.0.1 -P 8021 -p ClueCon -x 'module_exists mod_regwatch' | grep -q true"
check "every unload and load answered +OK" test "$(grep -cx '+OK' "$OUT/cycles.txt")" -eq $((2 * CYCLES))
check "no -ERR in the cycles" sh -c "! grep -q '^-ERR' '$OUT/cycles.txt'"
check "no thread left behind by the cycles" test "$thr1" -le "$thr0"
check "no file descriptor left behind by the cycles" test "$fd1" -le "$fd0"
{
    printf 'cycles: %d unload/load in %s s\n' "$CYCLES" "$(seconds "$cyc_start" "$cyc_end")"
    printf 'cycles: RSS %s -> %s kB, threads %s -> %s, fds %s -> %s\n' "$rss0" "$rss1" "$thr0" "$thr1" "$fd0" "$fd1"
    printf 'cycles: the same %d cycles of mod_dialplan_xml (baseline): RSS %s -> %s kB\n' "$CYCLES" "$rss1" "$rss2"
} | tee -a "$OUT/figures.txt" >&2

fsx "fsctl shutdown" >/dev/null || true
for _ in $(seq 100); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
done_pid=$FS_PID
unset FS_PID
check "FreeSWITCH stopped cleanly" sh -c "! kill -0 $done_pid 2>/dev/null"
[ "$failures" -eq 0 ] || die "$failures check(s) failed"
