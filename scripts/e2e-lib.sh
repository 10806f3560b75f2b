# Shared by scripts/asterisk-e2e.sh and scripts/freeswitch-e2e.sh (sourced,
# from the repository root, inside the network namespace they create).
# The caller sets OUT (transcripts) before using it.

# The four registrars: address:port. Those on 5060 also get the
# keep-alive's alternative-transport probes (TCP 5060, TLS 5061) on their
# own address. SOAK is tests/registrar/kamailio.cfg with -A SOAK: it grants
# at most 120 s (several refresh cycles in one run) and serves
# SOAK_REGOFF_DOMAIN, a domain with registration turned off (403 before
# any challenge, Twilio's 32210).
MAIN=127.0.0.1:5080 BLOCKED=127.0.0.2:5060 OUTAGE=127.0.0.3:5060 SOAK=127.0.0.4:5060
SOAK_REGOFF_DOMAIN=acme-noreg.sip.twilio.com
# What SOAK grants at most (its registrar max_expires).
SOAK_GRANT=120
# Users of the registrars besides alice, and every password the cases use
# (none may appear in any output).
E2E_USERS="bob:Bob-Passw0rd-2 carol:Carol-Passw0rd-3 dave:Dave-Passw0rd-4 erin:Erin-Passw0rd-5 frank:Frank-Passw0rd-6 grace:Grace-Passw0rd-7 heidi:Heidi-Passw0rd-8 ivan:Ivan-Passw0rd-10 judy:Judy-Passw0rd-11"
E2E_PASSWORDS="Alice-Passw0rd-1 Not-The-Passw0rd-9 Bob-Passw0rd-2 Carol-Passw0rd-3 Dave-Passw0rd-4 Erin-Passw0rd-5 Heidi-Passw0rd-8 Ivan-Passw0rd-10"

failures=0
regs=()

# check NAME COMMAND...: records "ok NAME" or "FAIL NAME" in results.txt.
check() {
    local name=$1
    shift
    if "$@"; then
        printf 'ok   %s\n' "$name" | tee -a "$OUT/results.txt" >&2
    else
        printf 'FAIL %s\n' "$name" | tee -a "$OUT/results.txt" >&2
        failures=$((failures + 1))
    fi
}

mono() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }

# seconds A B: B - A, one decimal.
seconds() { python3 -c "print('%.1f' % ($2 - $1))"; }

# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
    local end=$(($(date +%s) + $1))
    shift
    while [ "$(date +%s)" -lt "$end" ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

# has TEXT PATTERN: grep -q on a captured text (no pipe, so no SIGPIPE
# under pipefail when grep stops early).
has() { grep -q -- "$2" <<<"$1"; }

# start_registrars: the four Kamailio registrars, UDP to BLOCKED dropped.
start_registrars() {
    local spec dir addr defines
    for spec in "main=$MAIN" "blocked=$BLOCKED" "outage=$OUTAGE" "soak=$SOAK"; do
        dir=$OUT/registrar-${spec%%=*}
        addr=${spec#*=}
        defines=""
        [ "${spec%%=*}" = soak ] && defines=SOAK
        REGISTRAR_ADDR=${addr%:*} REGISTRAR_PORT=${addr#*:} REGISTRAR_TLS_PORT=$((${addr#*:} + 1)) \
            REGISTRAR_USERS="$E2E_USERS" REGISTRAR_DEFINES=$defines scripts/registrar.sh start "$dir"
        regs+=("$dir")
    done
    iptables -A INPUT -d "${BLOCKED%:*}" -p udp --dport "${BLOCKED#*:}" -j DROP
}

# stop_registrars: keeps their logs as OUT/registrar-*.log.
stop_registrars() {
    local r
    for r in "${regs[@]}"; do cp "$r/kamailio.log" "$r.log" 2>/dev/null || true; done
    for r in "${regs[@]}"; do scripts/registrar.sh stop "$r" || true; done
}

# no_password_in FILES [WHAT]: checks every case password against the
# files (FILES one word, quoted for sh; WHAT names them, "the output" by
# default).
no_password_in() {
    local pw
    for pw in $E2E_PASSWORDS; do
        check "no password ($pw) in ${2:-the output}" sh -c "! grep -q -- '$pw' $1"
    done
}

# registers_since LOG LINE USER: REGISTERs of USER saved after line LINE.
registers_since() { tail -n +"$(($2 + 1))" "$1" | grep -c "REGISTER of $3 " || true; }

# received_since LOG LINE USER: REGISTERs for USER received after line
# LINE, answered or not (challenged, rejected, saved).
received_since() { tail -n +"$(($2 + 1))" "$1" | grep -c "REGISTER from [^ ]* for $3@" || true; }

# saves_at LOG USER: the time (Unix seconds) of each REGISTER of USER the
# registrar saved, one a line.
saves_at() { grep "REGISTER of $2 .* saved " "$1" | sed -n 's/.* at \([0-9.]*\)$/\1/p'; }

# Resident size (kB), threads and open files (but epoll sets, which a
# console client's connection leaves for a moment) of process PID.
proc_field() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
open_files() { ls -l "/proc/$1/fd" | grep -vc 'anon_inode:\[eventpoll\]'; }

# outage_down / outage_up: the OUTAGE registrar goes away and comes back.
# Kamailio closes its UDP listeners a moment before its TCP ones when it
# stops, which a probe can fall into; refusing both at once first (ICMP
# port unreachable, TCP reset: what a stopped registrar gives) makes the
# outage sharp. The process is really stopped and started again.
outage_down() {
    iptables -I INPUT -d "${OUTAGE%:*}" -p udp --dport "${OUTAGE#*:}" -j REJECT --reject-with icmp-port-unreachable
    iptables -I INPUT -d "${OUTAGE%:*}" -p tcp -j REJECT --reject-with tcp-reset
    scripts/registrar.sh pause "$OUT/registrar-outage"
}
outage_up() {
    iptables -D INPUT -d "${OUTAGE%:*}" -p tcp -j REJECT --reject-with tcp-reset
    iptables -D INPUT -d "${OUTAGE%:*}" -p udp --dport "${OUTAGE#*:}" -j REJECT --reject-with icmp-port-unreachable
    scripts/registrar.sh resume "$OUT/registrar-outage"
}

# check_cases: the same case verdicts through either PBX. The caller
# defines cause_is TRUNK CAUSE and state_is TRUNK STATE over its console.
check_cases() {
    local spec trunk cause
    for spec in good:healthy wrongpw:credentials_rejected nodomain:domain_not_found \
        mismatch:auth_username_mismatch; do
        trunk=${spec%%:*} cause=${spec#*:}
        wait_for 20 cause_is "$trunk" "$cause" || true
        check "$trunk: $cause" cause_is "$trunk" "$cause"
    done
    wait_for 20 state_is brief registered || true
    check "brief (Expires 60, below the registrar's minimum): registered after the 423" state_is brief registered
    # The alternates come after two UDP failures, the REGISTER's own
    # timeout (32 s over UDP) later.
    wait_for 60 cause_is udpblocked transport_blocked || true
    check "udpblocked (UDP dropped, TCP answers): transport_blocked" cause_is udpblocked transport_blocked
    for trunk in outage plain; do
        wait_for 20 cause_is "$trunk" healthy || true
        check "$trunk: healthy before the outage" cause_is "$trunk" healthy
    done
}
