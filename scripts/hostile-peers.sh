#!/usr/bin/env bash
# Hostile peers (scripts/hostile-peer.py: endless stream, endless CRs, one
# byte per second, TLS handshake trickle, a 1 MB header, a connection that
# never answers nor closes, garbage; over TCP, TLS and UDP) against
#   (a) `regwatch check` (one process per peer),
#   (b) `regwatch watch` (the keep-alive runner through the CLI; one
#       process, one trunk per peer, its /metrics scraped all along),
#   (c) regwatch_runner from C (tests/c/hostile_runner.c; one runner, one
#       trunk per peer, asked for a trunk's JSON every 100 ms).
# Each must end (check: its two exchanges, OPTIONS then the test REGISTER,
# each within --timeout) or raise its alert (watch, runner: within the
# keep-alive timeouts) with the right diagnosis, stay responsive (metrics
# scrapes, runner calls under 1 s), and grow by less than 64 MB (peak
# VmHWM minus the VmRSS first seen after exec, read from /proc every
# 20 ms; a process past the limit is killed at once). Prints a table of
# figures; exits non-zero on any violated bound. Needs python3, openssl,
# curl and a C compiler; about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

GROWTH_MB=64
# The trunks' password (a test value: no peer here checks it).
export HOSTILE_PASSWORD=Hostile-Peers-Test-9
CHECK_TIMEOUT=2   # regwatch check --timeout: each of its two exchanges (OPTIONS, REGISTER)
WATCH_SECONDS=17  # watch: interval 1 s, keep-alive timeout 5 s, 2 failures to alert
RUNNER_MIN_MS=7000 RUNNER_MAX_MS=14000  # C: interval 1 s, timeout 2 s, confirm 0.5 s
SLOW_RESPONSE_MS=1000  # a metrics scrape or a runner call slower than this: stalled

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "== building regwatch and libregwatch (debug)"
cargo build --quiet --bin regwatch --lib
bin="$target_dir/debug/regwatch"
lib="$target_dir/debug"

work=$(mktemp -d)
peer=""
cleanup() {
    [ -n "$peer" ] && kill "$peer" 2>/dev/null || true
    for f in "$work"/res/*.pid; do
        [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/out" "$work/err" "$work/res"

echo "== the C program"
CC=${CC:-cc}
$CC -std=c11 -Wall -Wextra -Werror -pedantic -O1 -g -Iinclude tests/c/hostile_runner.c \
    "$lib/libregwatch.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$work/hostile_runner"

echo "== a CA and a certificate for hostile.test, and the peers"
(cd "$work" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 1 -subj "/CN=hostile peers test CA" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
        -subj "/CN=hostile.test" 2>/dev/null &&
    echo "subjectAltName=DNS:hostile.test" > server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
        -days 1 -extfile server.ext 2>/dev/null)
python3 scripts/hostile-peer.py --cert "$work/server.pem" --key "$work/server.key" --max-seconds 300 \
    > "$work/ports" &
peer=$!
for _ in $(seq 100); do grep -q '^ready$' "$work/ports" && break; sleep 0.1; done
grep -q '^ready$' "$work/ports" || { echo "the hostile peer did not start" >&2; exit 1; }
# HOSTILE_ONLY (a regular expression on "transport/mode") runs some of them.
mapfile -t peers < <(grep -v '^ready$' "$work/ports" |
    awk -v only="${HOSTILE_ONLY:-.}" '$1 "/" $2 ~ only')

# Sleeping and reading /proc without a fork: the polling loops below run
# side by side.
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }
# NOW: the time in µs.
now_us() { NOW=${EPOCHREALTIME/./}; }
# Sets STATE, RSS and HWM (kB) of a process; fails once it is gone.
proc_mem() {
    STATE="" RSS=0 HWM=0
    local k v rest
    [ -r "/proc/$1/status" ] || return 1
    { while read -r k v rest; do
        case $k in State:) STATE=$v ;; VmRSS:) RSS=$v ;; VmHWM:) HWM=$v ;; esac
    done < "/proc/$1/status"; } 2>/dev/null || return 1
}
# Prefixes each line with the time in µs.
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done; }

# measure LABEL MAX_SECONDS CMD...: runs CMD (stdout to out/LABEL, time-
# stamped when STAMP=1), reads its /proc status every 20 ms, kills it when
# it has grown by GROWTH_MB or run MAX_SECONDS, and writes
# "start_us elapsed_ms growth_kB end exit_status" to res/LABEL (end: exited,
# killed:memory, killed:time). Growth is the peak VmHWM minus the VmRSS
# first seen after the exec.
measure() {
    local label=$1 max_s=$2
    shift 2
    local t0 pid base="" peak=0 end=exited rc=0
    now_us
    t0=$NOW
    if [ "${STAMP:-0}" = 1 ]; then
        "$@" > >(stamp > "$work/out/$label") 2> "$work/err/$label" &
    else
        "$@" > "$work/out/$label" 2> "$work/err/$label" &
    fi
    pid=$!
    echo "$pid" > "$work/res/$label.pid"
    while proc_mem "$pid" && [[ $STATE != Z* ]]; do
        now_us
        if [ -z "$base" ] && [[ /proc/$pid/exe -ef $1 ]]; then base=$RSS; fi
        if [ -n "$base" ] && [ "$HWM" -gt "$peak" ]; then peak=$HWM; fi
        if [ -n "$base" ] && [ $((peak - base)) -ge $((GROWTH_MB * 1024)) ]; then
            end=killed:memory
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        if [ $((NOW - t0)) -gt $((max_s * 1000000)) ]; then
            end=killed:time
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        nap 0.02
    done
    now_us
    wait "$pid" || rc=$?
    rm -f "$work/res/$label.pid"
    echo "$t0 $(((NOW - t0) / 1000)) $((${base:-0} ? peak - ${base:-0} : 0)) $end $rc" > "$work/res/$label"
}

# What each mode must be diagnosed as: the cause, and words the summary
# must hold ("" for none).
expect_cause() {
    case $1/$2 in
        tcp/stream | tcp/crs | tcp/big-header | tcp/garbage) echo protocol_error ;;
        tls/stream | tls/crs | tls/big-header | tls/garbage) echo protocol_error ;;
        *) echo registrar_unreachable ;;
    esac
}
expect_words() {
    case $2 in
        stream | crs | big-header) [ "$1" = udp ] || echo "without a complete SIP message" ;;
        garbage) [ "$1" = udp ] || echo "not a SIP message" ;;
    esac
}

violations=0
rows=()
summaries=()
row() { rows+=("$(printf '%-22s %-7s %9s %9s  %s' "$@")"); }
fail() {
    violations=$((violations + 1))
    echo "VIOLATION: $*"
}
# judge TARGET TRANSPORT MODE ELAPSED_MS BOUND_MS GROWTH_KB CAUSE SUMMARY
judge() {
    local target=$1 tr=$2 mode=$3 ms=$4 bound=$5 kb=$6 cause=$7 summary=$8 verdict="ok"
    local want words
    want=$(expect_cause "$tr" "$mode")
    words=$(expect_words "$tr" "$mode")
    if [ "$ms" -lt 0 ] || [ "$ms" -gt "$bound" ]; then
        fail "$target $tr/$mode: took ${ms} ms, bound ${bound} ms"
        verdict="SLOW"
    fi
    if [ "$kb" -ge $((GROWTH_MB * 1024)) ]; then
        fail "$target $tr/$mode: grew by $((kb / 1024)) MB"
        verdict="BIG"
    fi
    case $target/$tr in
        # A UDP trunk of the keep-alive also probes TCP 5060 and TLS 5061 on
        # the same host: whatever listens there may make it transport_blocked.
        watch/udp) [[ $cause == registrar_unreachable || $cause == transport_blocked ]] || want=bad ;;
        *) [ "$cause" = "$want" ] || want=bad ;;
    esac
    if [ "$want" = bad ] || { [ -n "$words" ] && [[ $summary != *"$words"* ]]; }; then
        fail "$target $tr/$mode: diagnosis '$cause' ($summary), want $(expect_cause "$tr" "$mode") ${words:+saying \"$words\"}"
        verdict="WRONG"
    fi
    row "$tr/$mode" "$target" "${ms} ms" "$((kb / 1024)).$(((kb % 1024) * 10 / 1024)) MB" "$cause $verdict"
    if [ "$target" = check ] && [ "$tr" = tcp ]; then
        summaries+=("$tr/$mode: $summary")
    fi
}

echo "== (a) regwatch check --timeout $CHECK_TIMEOUT against each peer"
jobs_=()
for p in "${peers[@]}"; do
    read -r tr mode port <<< "$p"
    measure "check-$tr-$mode" $((CHECK_TIMEOUT * 4 + 10)) "$bin" check --domain hostile.test --user alice \
        --password-env HOSTILE_PASSWORD --proxy "127.0.0.1:$port" --transport "$tr" --timeout "$CHECK_TIMEOUT" \
        --ca-file "$work/ca.pem" --profile generic --json &
    jobs_+=($!)
done
wait "${jobs_[@]}"
for p in "${peers[@]}"; do
    read -r tr mode port <<< "$p"
    read -r _ ms kb end _ < "$work/res/check-$tr-$mode"
    read -r cause summary < <(python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))["diagnosis"]
    print(d["cause"], d["summary"].replace("\n", " "))
except Exception:
    print("-", "no JSON")' "$work/out/check-$tr-$mode")
    [ "$end" = exited ] || cause="$end"
    # Two exchanges (OPTIONS, then the test REGISTER), each within the timeout.
    judge check "$tr" "$mode" "$ms" $((2 * CHECK_TIMEOUT * 1000 + 1500)) "$kb" "$cause" "$summary"
done

echo "== (b) regwatch watch (--interval 1) and (c) regwatch_runner from C, one trunk per peer"
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trunks=()
: > "$work/trunks.toml"
for p in "${peers[@]}"; do
    read -r tr mode port <<< "$p"
    printf '[[trunk]]\nname = "%s"\ndomain = "hostile.test"\nusername = "alice"\npassword = "%s"\nproxy = "127.0.0.1:%s"\ntransport = "%s"\n\n' \
        "$tr-$mode" "$HOSTILE_PASSWORD" "$port" "$tr" >> "$work/trunks.toml"
    trunks+=("$tr-$mode:$tr:$port")
done
STAMP=1 measure watch $((WATCH_SECONDS + 15)) "$bin" watch --config "$work/trunks.toml" --interval 1 \
    --json --ca-file "$work/ca.pem" --metrics "127.0.0.1:$metrics_port" &
jobs_=($!)
measure runner $((RUNNER_MAX_MS / 1000 + 15)) "$work/hostile_runner" "$work/ca.pem" \
    "$RUNNER_MIN_MS" "$RUNNER_MAX_MS" "${trunks[@]}" &
jobs_+=($!)
# Scrape the metrics all along: a runner thread stuck on one connection
# answers late or not at all.
for _ in $(seq 100); do [ -s "$work/res/watch.pid" ] && break; nap 0.05; done
now_us
scrape_start=$NOW
scrapes=0 slowest=0 failed_scrapes=0
while now_us && [ $((NOW - scrape_start)) -lt $((WATCH_SECONDS * 1000000)) ]; do
    nap 0.5
    scrapes=$((scrapes + 1))
    if ! got=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$metrics_port/metrics") ||
        [ "${got%% *}" != 200 ]; then
        failed_scrapes=$((failed_scrapes + 1))
        continue
    fi
    ms=$(awk -v t="${got#* }" 'BEGIN { printf "%d", t * 1000 }')
    [ "$ms" -gt "$slowest" ] && slowest=$ms
done
if [ -e "$work/res/watch.pid" ]; then kill -TERM "$(cat "$work/res/watch.pid")" 2>/dev/null || true; fi
wait "${jobs_[@]}"

read -r watch_t0 _ watch_kb watch_end _ < "$work/res/watch"
for p in "${peers[@]}"; do
    read -r tr mode port <<< "$p"
    # The first alert for the trunk: its time since the start, cause, summary.
    read -r ms cause summary < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t, _, text = line.partition(" ")
    try:
        e = json.loads(text)
    except ValueError:
        continue
    if e.get("event") == "alert_raised" and e.get("trunk") == sys.argv[2]:
        print((int(t) - int(sys.argv[3])) // 1000, e["cause"], e.get("summary", "").replace("\n", " "))
        break
else:
    print(-1, "-", "no alert")' "$work/out/watch" "$tr-$mode" "$watch_t0")
    [ "$watch_end" = exited ] || cause="$watch_end"
    case $mode in
        stream | crs | big-header | garbage) bound=8000 ;;
        # Two probes that each wait the 5 s keep-alive timeout.
        *) bound=$((WATCH_SECONDS * 1000)) ;;
    esac
    [ "$tr" = udp ] && bound=$((WATCH_SECONDS * 1000))
    judge watch "$tr" "$mode" "$ms" "$bound" "$watch_kb" "$cause" "$summary"
done
if [ "$failed_scrapes" -gt 0 ] || [ "$slowest" -gt "$SLOW_RESPONSE_MS" ]; then
    fail "watch: $failed_scrapes of $scrapes metrics scrapes failed, slowest ${slowest} ms"
fi

read -r _ _ runner_kb runner_end _ < "$work/res/runner"
for p in "${peers[@]}"; do
    read -r tr mode port <<< "$p"
    line=$(grep "^trunk $tr-$mode " "$work/out/runner" || echo "trunk $tr-$mode -1 - no answer from the program")
    read -r _ _ ms cause summary <<< "$line"
    [ "$runner_end" = exited ] || cause="$runner_end"
    case $mode in
        stream | crs | big-header | garbage) bound=5000 ;;
        *) bound=9000 ;;
    esac
    [ "$tr" = udp ] && bound=9000
    judge runner "$tr" "$mode" "$ms" "$bound" "$runner_kb" "$cause" "$summary"
done
read -r _ calls _ slowest_call < <(grep '^calls ' "$work/out/runner" || echo "calls 0 max_call_ms 999999")
if [ "$slowest_call" -gt "$SLOW_RESPONSE_MS" ]; then
    fail "runner: the slowest of $calls calls took ${slowest_call} ms"
fi
# The endless streams over TCP and TLS are dropped: the C ABI counts them.
read -r _ dstatus dropped < <(grep '^dropped ' "$work/out/runner" || echo "dropped - 0")
if [ "$dstatus" != ok ] || [ "$dropped" -lt 2 ]; then
    fail "runner: regwatch_runner_connections_dropped said $dstatus $dropped (want ok, at least 2)"
else
    echo "runner: regwatch_runner_connections_dropped = $dropped"
fi

proc_line() {
    local t0 ms kb end rc
    read -r t0 ms kb end rc < "$work/res/$1"
    echo "$1 process: ran $ms ms, grew by $((kb / 1024)).$(((kb % 1024) * 10 / 1024)) MB, $end (status $rc)"
}
echo
proc_line watch
proc_line runner
echo "Hostile peers: elapsed is the check's run time, or the time to the trunk's"
echo "alert (watch, runner); watch and runner are one process each (growth shared)."
printf '%-22s %-7s %9s %9s  %s\n' "mode" "target" "elapsed" "growth" "diagnosis"
printf '%s\n' "${rows[@]}"
echo
echo "What regwatch check says (TCP):"
printf '  %s\n' "${summaries[@]}"
echo
echo "watch: $scrapes metrics scrapes, $failed_scrapes failed, slowest ${slowest} ms; runner: $calls calls, slowest ${slowest_call} ms"
if [ "$violations" -gt 0 ]; then
    echo "hostile peers: $violations violated bounds"
    exit 1
fi
echo "hostile peers: every bound held"
