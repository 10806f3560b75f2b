#!/usr/bin/env bash
# Starts the project's Twilio-like Kamailio registrar (tests/registrar/) on
# free loopback ports, with TLS certificates made for the run, for tests
# outside Rust (the C driver test, benchmarks):
#
#   scripts/registrar.sh start DIR   # writes DIR/env: PORT TLS_PORT CA_FILE PID
#   scripts/registrar.sh stop DIR    # stops it (by its pid) and removes DIR
#   scripts/registrar.sh pause DIR   # stops it, keeps DIR (bindings are lost)
#   scripts/registrar.sh resume DIR  # starts it again on the same ports
#
# REGISTRAR_PORT / REGISTRAR_TLS_PORT pick the ports (default: free ones),
# REGISTRAR_ADDR the loopback address (default 127.0.0.1);
# REGISTRAR_USERS adds users, "name:password name:password" (alice is
# always there); REGISTRAR_DEFINES, "NAME NAME", starts Kamailio with
# -A NAME for each (the kamailio.cfg variants: SOAK, GENERIC), kept for
# resume.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop}
dir=${2:?directory}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
case "$cmd" in
start)
    mkdir -p "$dir"
    port=${REGISTRAR_PORT:-$(free_port)}; tls_port=${REGISTRAR_TLS_PORT:-$(free_port)}
    addr=${REGISTRAR_ADDR:-127.0.0.1}
    cp tests/registrar/kamailio.cfg "$dir/"
    (cd "$dir"
     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
         -days 2 -subj "/CN=regwatch test CA" 2>/dev/null
     openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
         -subj "/CN=acme.sip.twilio.com" 2>/dev/null
     echo "subjectAltName=DNS:acme.sip.twilio.com" > server.ext
     openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
         -days 2 -extfile server.ext 2>/dev/null)
    cat > "$dir/local.cfg" <<CFG
listen=udp:$addr:$port
listen=tcp:$addr:$port
enable_tls=yes
listen=tls:$addr:$tls_port
#!define WITH_TLS
#!define TLS_CONFIG "$dir/tls.cfg"
CFG
    cat > "$dir/tls.cfg" <<CFG
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $dir/server.key
certificate = $dir/server.pem

[client:default]
verify_certificate = no
require_certificate = no
CFG
    {
        echo 'event_route[htable:mod-init] {'
        echo '    $sht(users=>alice) = "Alice-Passw0rd-1";'
        for u in ${REGISTRAR_USERS:-}; do
            echo "    \$sht(users=>${u%%:*}) = \"${u#*:}\";"
        done
        echo '    $sht(domains=>acme.sip.twilio.com) = 1;'
        echo '}'
    } > "$dir/users.cfg"
    printf 'ADDR=%s\nPORT=%s\nTLS_PORT=%s\nCA_FILE=%s\nDEFINES="%s"\n' "$addr" "$port" "$tls_port" "$dir/ca.pem" \
        "${REGISTRAR_DEFINES:-}" > "$dir/env"
    scripts/registrar.sh resume "$dir"
    ;;
resume)
    # shellcheck disable=SC1091
    . "$dir/env"
    defs=()
    for d in ${DEFINES:-}; do defs+=(-A "$d"); done
    /usr/sbin/kamailio -f "$dir/kamailio.cfg" "${defs[@]}" -DD -E -w "$dir" -m 64 -M 8 \
        > "$dir/kamailio.out" 2>> "$dir/kamailio.log" &
    pid=$!
    for _ in $(seq 100); do
        if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('${ADDR:-127.0.0.1}',$PORT)))"; then break; fi
        sleep 0.1
    done
    sed -i '/^PID=/d' "$dir/env"
    echo "PID=$pid" >> "$dir/env"
    ;;
pause)
    # shellcheck disable=SC1091
    . "$dir/env"
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    ;;
stop)
    if [ -f "$dir/env" ]; then
        # shellcheck disable=SC1091
        . "$dir/env"
        kill "$PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$dir"
    ;;
*) echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2 ;;
esac
