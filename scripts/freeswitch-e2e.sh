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
# is left to FreeSWITCH alone), then unload/load cycles. Transcripts of
# `regwatch status|show|check`, the events and the figures go to OUTDIR.
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
cause_is() { has "$(fsx "regwatch show $1")" "Cause: $2\b"; }
state_is() { has "$(fsx "regwatch show $1")" "State: $2 "; }

say "registrars on $MAIN, $BLOCKED (UDP dropped), $OUTAGE"
start_registrars

mkdir -p "$FS/conf" "$FS/log" "$FS/run" "$FS/db"
sed -e "s/@MAIN@/$MAIN/g" -e "s/@BLOCKED@/$BLOCKED/g" -e "s/@OUTAGE@/$OUTAGE/g" \
    tests/freeswitch/freeswitch.xml.in >"$FS/conf/freeswitch.xml"
start_mono=$(mono)
"$PREFIX/bin/freeswitch" -nc -nf -nonat -nonatmap -conf "$FS/conf" -log "$FS/log" -run "$FS/run" -db "$FS/db" \
    >"$OUT/freeswitch-stdout.txt" 2>&1 &
FS_PID=$!
wait_for 60 sh -c "'$PREFIX/bin/fs_cli' -H 127.0.0.1 -P 8021 -p ClueCon -x 'module_exists mod_regwatch' | grep -q true" ||
    die "FreeSWITCH did not start with mod_regwatch (see $OUT/freeswitch-stdout.txt, $FS/log)"
python3 tests/freeswitch/esl.py listen "$OUT/events.jsonl" &
pids+=($!)
wait_for 20 grep -q '"_ready"' "$OUT/events.jsonl" || die "no event socket"

# The gateways registered before the event socket was listening: restart
# the profile (gateway_delete, gateway_add, then every registration again)
# with the listener in place; regwatch follows the gateways through it.
# mod_sofia refuses to restart a profile up for less than 10 s, counted
# from when the profile came up (later than the launch when FreeSWITCH
# first makes its certificates, or on a loaded machine): ask again while
# it says so.
sleep "$(python3 -c "print(max(0.5, 11 - ($(mono) - $start_mono)))")"
for _ in $(seq 1 30); do
    fsx "sofia profile external restart" >"$OUT/profile-restart.txt" || true
    grep -q "must be up for at least" "$OUT/profile-restart.txt" || break
    sleep 1
done
if grep -q "must be up for at least" "$OUT/profile-restart.txt"; then
    die "mod_sofia refused to restart the profile: $(cat "$OUT/profile-restart.txt")"
fi
sleep 3
check "mod_regwatch loaded" sh -c "'$PREFIX/bin/fs_cli' -H 127.0.0.1 -P 8021 -p ClueCon -x 'module_exists mod_regwatch' | grep -q true"

# --- the cases -----------------------------------------------------------------
check_cases

fsx "regwatch status" >"$OUT/status.txt"
fsx "regwatch findings" >"$OUT/findings.txt"
for t in good wrongpw nodomain mismatch brief udpblocked outage plain; do
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
grep '\[regwatch\]' "$FS/log/freeswitch.log" >"$OUT/regwatch-log-lines.log" || true
no_password_in "'$OUT'/*.txt '$OUT'/events.jsonl '$OUT'/regwatch-log-lines.log"

# --- outage ------------------------------------------------------------------------
say "stopping the outage registrar"
outage_dir=$OUT/registrar-outage
before=$(wc -l <"$outage_dir/kamailio.log")
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
{
    printf 'outage: regwatch::alert raised %s s after the registrar stopped\n' "$(seconds "$stop_at" "$alert_at")"
    printf 'outage: binding back %s s after the registrar returned (regwatch re-registered)\n' "$(seconds "$resume_at" "$rereg_at")"
    printf 'plain (FreeSWITCH alone): %s REGISTERs in the same window (sofia status gateway plain: %s)\n' "$plain_rereg" \
        "$(grep -E '^(State|Status)' "$OUT/sofia-status-plain.txt" | tr -s ' \t' ' ' | paste -sd';')"
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
{
    printf 'second outage: regwatch re-registered outage %s s after the registrar returned\n' "$(seconds "$resume2_at" "$rereg2_at")"
    printf 'second outage: FreeSWITCH alone (FAIL_WAIT, retry-seconds 30) re-registered plain %s s after the registrar returned\n' \
        "$(seconds "$resume2_at" "$plain2_at")"
} | tee -a "$OUT/figures.txt" >&2

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
