#!/usr/bin/env bash
# The keep-alive runner under load, side by side with SIPp, against the
# project's Kamailio registrar on loopback:
#   1. regwatch's runner: 20,000 trunks probed every second (20,000 OPTIONS/s)
#      for SECONDS; probes, failures, alerts, CPU;
#   2. SIPp sending the same OPTIONS at the same rate for the same time, to
#      the same Kamailio; its CPU (user + system, /usr/bin/time);
#   3. the runner at the default 60 s interval: 5,000 trunks for 120 s, CPU
#      per 1,000 monitored trunks.
#
#   scripts/bench-keepalive.sh [SECONDS]     (default 60)
#
# Needs kamailio, sip-tester and time (Debian); not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
for c in /usr/sbin/kamailio /usr/bin/sipp /usr/bin/time; do
    [ -x "$c" ] || { echo "bench-keepalive: $c is missing (apt-get install kamailio sip-tester time)" >&2; exit 2; }
done
cargo build --quiet --release --example keepalive_load

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cp tests/registrar/kamailio.cfg "$dir/"
printf 'listen=udp:127.0.0.1:%s\nlisten=tcp:127.0.0.1:%s\n' "$port" "$port" > "$dir/local.cfg"
cat > "$dir/users.cfg" <<'CFG'
event_route[htable:mod-init] {
    $sht(domains=>acme.sip.twilio.com) = 1;
}
CFG
/usr/sbin/kamailio -f "$dir/kamailio.cfg" -DD -E -w "$dir" -m 64 -M 8 > "$dir/kamailio.out" 2> "$dir/kamailio.log" &
kpid=$!
trap 'kill $kpid 2>/dev/null; wait $kpid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 2

echo "== regwatch runner, 20,000 trunks, 1 s interval, ${seconds} s"
target/release/examples/keepalive_load "127.0.0.1:$port" 20000 1000 "$seconds"

echo "== SIPp, 20,000 OPTIONS/s, ${seconds} s"
(cd "$dir" && /usr/bin/time -f "sipp: CPU user %U s + system %S s over %e s" \
    sipp "127.0.0.1:$port" -sf "$OLDPWD/tests/sipp/options.xml" -r 20000 -rp 1000 \
    -m $((20000 * seconds)) -i 127.0.0.1 -p 0 -nostdin > sipp.out 2> sipp.err) || true
tail -1 "$dir/sipp.err"
grep -E "Successful call|Failed call" "$dir/sipp.out" | tail -2 | sed 's/  */ /g'

echo "== regwatch runner, 5,000 trunks, default 60 s interval, 120 s"
target/release/examples/keepalive_load "127.0.0.1:$port" 5000 60000 120
