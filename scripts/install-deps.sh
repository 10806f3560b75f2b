#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, skipping what
# is already there. Safe to run again.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v objdump >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3)
command -v make >/dev/null || need+=(make)
# Real SIP peers for the end-to-end tests: Kamailio as the registrar.
[ -x /usr/sbin/kamailio ] || need+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || need+=(kamailio-tls-modules)
command -v openssl >/dev/null || need+=(openssl)
# A DNS server for the RFC 3263 (SRV, NAPTR) tests.
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
# SIPp, a second and independent SIP client.
[ -x /usr/bin/sipp ] || need+=(sip-tester)
# sipsak and baresip (headless core), more SIP clients, and tcpdump to
# capture them on loopback: the capture `regwatch analyze` reads in
# tests/live_analyze.rs.
[ -x /usr/bin/sipsak ] || need+=(sipsak)
[ -x /usr/bin/baresip ] || need+=(baresip-core)
[ -x /usr/bin/tcpdump ] || need+=(tcpdump)
# Network namespaces and a firewall inside them, for blocked-UDP tests.
[ -x /usr/sbin/ip ] || need+=(iproute2)
[ -x /usr/sbin/iptables ] || need+=(iptables)
# promtool and amtool: the shipped Prometheus rules, their unit tests, the
# Alertmanager example, the dashboard's queries and real metrics output.
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
# The Debian packages (scripts/package.sh, scripts/package-test.sh):
# dpkg-shlibdeps and dpkg-gensymbols; systemd for systemd-analyze verify
# and systemd-sysusers (PID 1 or not); man to render the installed pages;
# bash-completion to load the installed completion; curl for /metrics.
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
[ -e /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: need ${need[*]} (run as root, or install them)" >&2
        exit 1
    fi
    echo "install-deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Installed daemons (prometheus, alertmanager, kamailio) are not
    # started: the tests run their own. Docker images already say so in
    # policy-rc.d; elsewhere one is put in place for the install.
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${need[@]}"
    if [ -n "$policy" ]; then rm -f "$policy"; fi
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
echo "install-deps: ok"
