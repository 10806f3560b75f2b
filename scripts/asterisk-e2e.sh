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
# re-registers; a twin registration left to Asterisk alone does not), then
# 50 unload/load/reload cycles of the module under SIP load. Transcripts of
# the CLI, the AMI events and the figures go to OUTDIR. Exits non-zero on
# any failed assertion; fails loudly when the machine cannot run it (no
# root, no debootstrap, no mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
if [ "${1:-}" != "--inside" ]; then OUT=${1:-$TOP/target/asterisk/e2e}; fi
CYCLES=${REGWATCH_E2E_CYCLES:-50}
ETC=/etc/regwatch-e2e
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh

say() { printf 'asterisk-e2e: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [ "${1:-}" != "--inside" ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root (chroot, network namespace, iptables)"
    t0=$(date +%s)
    scripts/install-deps.sh >&2 || die "cannot install Kamailio, SIPp, iptables"
    cached=no
    [ -f "${ASTERISK_BASE:-$TOP/target/asterisk}/.ready" ] && cached=yes
    ROOT=$(scripts/asterisk-chroot.sh) || die "no Asterisk chroot"
    BASE=$(dirname "$ROOT")
    t1=$(date +%s)

    say "building libregwatch.a and res_regwatch.so"
    cargo build --release --lib --quiet
    PJ=""
    for d in pjlib pjlib-util pjnath pjmedia pjsip; do PJ="$PJ -I$BASE/pjproject/$d/include"; done
    make -s -C asterisk-module clean
    make -s -C asterisk-module ASTERISK_INCLUDE="$BASE/include" PJPROJECT_CFLAGS="$PJ"
    make -s -C asterisk-module install DESTDIR="$ROOT" MODULES_DIR=/usr/lib/x86_64-linux-gnu/asterisk/modules
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
    ip netns exec "$NS" env ROOT="$ROOT" OUT="$OUT" "$0" --inside || status=$?
    t3=$(date +%s)
    printf 'chroot %ss (cached: %s), build %ss, test %ss, total %ss\n' $((t1 - t0)) \
        "$cached" $((t2 - t1)) $((t3 - t2)) $((t3 - t0)) \
        | tee -a "$OUT/figures.txt" >&2
    [ "$status" -eq 0 ] || die "see $OUT (asterisk/messages.log, ami.jsonl, *.txt)"
    say "passed; transcripts in $OUT"
    exit 0
fi

# --- inside the namespace ------------------------------------------------
: "${ROOT:?}" "${OUT:?}"
ip link set lo up
pids=()
cleanup_inside() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${AST_PID:-}" ]; then
        kill "$AST_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$AST_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$AST_PID" 2>/dev/null || true
    fi
    stop_registrars
}
trap cleanup_inside EXIT

# The remote console warns that the namespace has no Ethernet; drop that.
ast() { chroot "$ROOT" /usr/sbin/asterisk -C $ETC/asterisk.conf -rx "$1" 2>&1 | grep -v "^No ethernet interface found"; }
cause_is() { has "$(ast "regwatch show trunk $1")" "Cause: $2\b"; }
state_is() { has "$(ast "regwatch show trunk $1")" "State: $2 "; }

say "registrars on $MAIN, $BLOCKED (UDP dropped), $OUTAGE"
start_registrars

say "Asterisk $(chroot "$ROOT" dpkg-query -W -f '${Version}' asterisk)"
rm -rf "$ROOT$ETC" "$ROOT/run/regwatch-e2e" "$ROOT/var/log/regwatch-e2e" "$ROOT/var/lib/regwatch-e2e" "$ROOT/var/spool/regwatch-e2e"
mkdir -p "$ROOT$ETC" "$ROOT/run/regwatch-e2e" "$ROOT/var/log/regwatch-e2e" "$ROOT/var/lib/regwatch-e2e" "$ROOT/var/spool/regwatch-e2e"
cp tests/asterisk/{asterisk,modules,manager,logger,regwatch}.conf "$ROOT$ETC/"
sed -e "s/@MAIN@/$MAIN/g" -e "s/@BLOCKED@/$BLOCKED/g" -e "s/@OUTAGE@/$OUTAGE/g" \
    tests/asterisk/pjsip.conf.in >"$ROOT$ETC/pjsip.conf"
chmod 0644 "$ROOT$ETC"/*.conf
chroot "$ROOT" chown -R asterisk:asterisk /run/regwatch-e2e /var/log/regwatch-e2e /var/lib/regwatch-e2e /var/spool/regwatch-e2e

start_mono=$(mono)
chroot "$ROOT" /usr/sbin/asterisk -C $ETC/asterisk.conf -f -n >"$OUT/asterisk-stdout.txt" 2>&1 &
AST_PID=$!
wait_for 60 ast "core waitfullybooted" || die "Asterisk did not start (see $OUT/asterisk-stdout.txt)"
python3 tests/asterisk/ami.py listen "$OUT/ami.jsonl" &
pids+=($!)
ast "module show like regwatch" >"$OUT/module.txt"
check "res_regwatch loaded" grep -q "res_regwatch.so.*Running" "$OUT/module.txt"

# --- the cases ---------------------------------------------------------------
check_cases

ast "regwatch show trunks" >"$OUT/show-trunks.txt"
ast "regwatch show findings" >"$OUT/show-findings.txt"
for t in good wrongpw nodomain mismatch brief udpblocked outage plain; do
    ast "regwatch show trunk $t" >"$OUT/show-trunk-$t.txt"
done
ast "regwatch check good" >"$OUT/check-good.txt"
ast "regwatch check wrongpw" >"$OUT/check-wrongpw.txt"
check "regwatch check good: healthy" grep -q "Diagnosis: healthy" "$OUT/check-good.txt"
check "regwatch check wrongpw: credentials_rejected" grep -q "Diagnosis: credentials_rejected" "$OUT/check-wrongpw.txt"
check "show findings names the auth user mismatch" grep -q "credentials.auth_user_mismatch" "$OUT/show-findings.txt"
python3 tests/asterisk/ami.py action RegwatchShowTrunks >"$OUT/ami-show-trunks.jsonl"
check "AMI RegwatchShowTrunks lists 8 trunks" test "$(grep -c '"Event": "RegwatchTrunk"' "$OUT/ami-show-trunks.jsonl")" -eq 8
ami_has() { grep -q "$1" "$OUT/ami.jsonl"; }
check "AMI RegwatchAlert credentials_rejected" ami_has '"Event": "RegwatchAlert".*"Trunk": "wrongpw".*"Cause": "credentials_rejected"'
check "AMI RegwatchAlert for brief's 423: interval_too_brief" ami_has '"Event": "RegwatchAlert".*"Trunk": "brief".*"Cause": "interval_too_brief".*"Code": "423"'
check "AMI RegwatchState for good" ami_has '"Event": "RegwatchState".*"Trunk": "good".*"State": "registered"'
no_password_in "'$OUT'/*.txt '$OUT'/*.jsonl '$ROOT/var/log/regwatch-e2e/messages.log'"

# --- outage: the registrar stops, then comes back ------------------------------
say "stopping the outage registrar"
outage_dir=$OUT/registrar-outage
before=$(wc -l <"$outage_dir/kamailio.log")
stop_at=$(mono)
outage_down
alert_seen() { has "$(grep '"Event": "RegwatchAlert"' "$OUT/ami.jsonl" | grep '"Trunk": "outage"')" '"Alert": "raised"'; }
wait_for 30 alert_seen || true
check "outage: RegwatchAlert raised after the registrar stops" alert_seen
alert_at=$(grep '"Event": "RegwatchAlert"' "$OUT/ami.jsonl" | grep '"Trunk": "outage"' | grep '"Alert": "raised"' | head -n 1 |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("_mono", 0))')
ast "regwatch show trunk outage" >"$OUT/show-trunk-outage-down.txt"
check "outage: registrar_unreachable or connection_refused while down" grep -Eq "Cause: (registrar_unreachable|connection_refused)" "$OUT/show-trunk-outage-down.txt"
sleep 2
say "starting the outage registrar again"
resume_at=$(mono)
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
# Asterisk refreshes at expiration - 10 s; "(exp. Ns)" is its binding's lapse.
plain_next=$(awk '$1 ~ /^plain\// {for (i = 1; i <= NF; i++) if ($i == "(exp.") {gsub(/[^0-9]/, "", $(i + 1)); print $(i + 1) - 10}}' \
    "$OUT/pjsip-show-registrations.txt")
check "plain (Asterisk alone): no REGISTER in the 10 s after the registrar's return" test "$plain_rereg" -eq 0
check "outage: alert cleared" sh -c "grep '\"Event\": \"RegwatchAlert\"' '$OUT/ami.jsonl' | grep '\"Trunk\": \"outage\"' | grep -q '\"Alert\": \"cleared\"'"
{
    printf 'outage: registrar stopped at +%s s after Asterisk started\n' "$(seconds "$start_mono" "$stop_at")"
    printf 'outage: RegwatchAlert raised %s s after the registrar stopped\n' "$(seconds "$stop_at" "$alert_at")"
    printf 'outage: binding back %s s after the registrar returned (regwatch re-registered)\n' "$(seconds "$resume_at" "$rereg_at")"
    printf 'plain (Asterisk alone): %s REGISTERs in the same window; its next one in %s s (pjsip show registrations), the registrar holding no binding until then\n' "$plain_rereg" "${plain_next:-?}"
} | tee -a "$OUT/figures.txt" >&2
rereg_s=$(python3 -c "print(int(($rereg_at - $resume_at) * 10))")
check "outage: re-registration within 5 s of the registrar's return" test "$rereg_s" -le 50

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
check "res_regwatch running after the cycles" sh -c "chroot '$ROOT' /usr/sbin/asterisk -C $ETC/asterisk.conf -rx 'module show like regwatch' | grep -q Running"
check "good healthy again after the cycles" cause_is good healthy
check "no thread left behind by the cycles" test "$thr1" -le "$thr0"
check "no file descriptor left behind by the cycles" test "$fd1" -le "$fd0"
{
    printf 'cycles: %d unload/load/reload in %s s under %s\n' "$CYCLES" "$(seconds "$cyc_start" "$cyc_end")" \
        "$([ -n "$sipp_pid" ] && echo "100 OPTIONS/s from SIPp to Asterisk (${sipp_total:-?} sent, ${sipp_ok:-?} answered)" || echo "keep-alives only (no SIPp)")"
    printf 'cycles: RSS %s -> %s kB, threads %s -> %s, fds %s -> %s\n' "$rss0" "$rss1" "$thr0" "$thr1" "$fd0" "$fd1"
    printf 'cycles: the same %d cycles of res_pjsip_logger (baseline): RSS %s -> %s kB\n' "$CYCLES" "$rss1" "$rss2"
} | tee -a "$OUT/figures.txt" >&2
grep -c "Unloaded res_regwatch\|Loaded res_regwatch" "$OUT/cycles.txt" >/dev/null || true

cp "$ROOT/var/log/regwatch-e2e/messages.log" "$OUT/messages.log" 2>/dev/null || true
ast "core stop now" >/dev/null || true
for _ in $(seq 100); do kill -0 "$AST_PID" 2>/dev/null || break; sleep 0.1; done
AST_PID_DONE=$AST_PID
unset AST_PID
check "Asterisk stopped cleanly" sh -c "! kill -0 $AST_PID_DONE 2>/dev/null"
[ "$failures" -eq 0 ] || die "$failures check(s) failed"
