#!/usr/bin/env bash
# Builds the Debian packages (scripts/package.sh), installs them with
# dpkg -i on this machine and checks what they installed as a user of
# them would: `systemd-analyze verify` on both units (clean), the
# installed /usr/bin/regwatch, the manual pages through man, the bash
# completion where bash-completion looks, a C program built with
# `pkg-config --cflags --libs regwatch` and found by the loader
# (scripts/link-test.sh), the SONAME, the trunk file's owner and mode,
# and `regwatch watch` run as the unit runs it (its ExecStart, the
# options of watch.env, user regwatch, no new privileges, no
# capabilities): /metrics served, SIGHUP reloads, SIGTERM ends it within
# 1 s. Where systemd runs (PID 1), the same through systemctl. Then
# dpkg -r and --purge, after which nothing of the packages is left.
#
# Needs root and a machine without regwatch's packages (it installs and
# purges them); what it needs is installed by scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s%N)
say() { printf '== %s\n' "$*"; }
fail() { printf 'package test: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i, a service user)"
packages=(regwatch libregwatch0.1 libregwatch-dev)
for p in "${packages[@]}"; do
    if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'installed'; then
        fail "$p is installed on this machine: this test installs and purges it; remove it first"
    fi
done
# A minimal image may keep dpkg from installing manual pages.
if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    fail "dpkg excludes /usr/share/man here ($(grep -ls '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*)): the manual pages cannot be checked"
fi

tmp=$(mktemp -d)
pid=
user_existed=no
getent passwd regwatch >/dev/null && user_existed=yes
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
    if [ "$user_existed" = no ] && getent passwd regwatch >/dev/null; then
        userdel regwatch 2>/dev/null || true
        groupdel regwatch 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

say "build: scripts/package.sh"
mapfile -t debs < <(scripts/package.sh)
[ "${#debs[@]}" -eq 3 ] || fail "scripts/package.sh made ${#debs[@]} packages, not 3"
for d in "${debs[@]}"; do
    printf '   %-44s %8s bytes\n' "${d##*/}" "$(stat -c %s "$d")"
done
if command -v lintian >/dev/null; then
    say "lintian (errors fail; warnings shown)"
    lintian --fail-on error "${debs[@]}" 2>&1 | grep -v '^running with root' || fail "lintian found errors"
else
    say "lintian: not installed, not run"
fi

say "dpkg -i"
dpkg -i "${debs[@]}" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log"; fail "dpkg -i"; }
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f '${Status}' "$p")
    [ "$status" = "install ok installed" ] || fail "$p: $status"
    # What each package put on disk, kept for the check after the purge.
    # (Directories aside: /lib, a link on a merged-/usr system, too.)
    dpkg -L "$p" | while read -r f; do
        if [ ! -d "$f" ]; then printf '%s\n' "$f"; fi
    done >"$tmp/$p.files"
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

say "/usr/bin/regwatch --version"
got=$(/usr/bin/regwatch --version)
echo "   $got"
[ "$got" = "regwatch $version" ] || fail "/usr/bin/regwatch --version says '$got', not 'regwatch $version'"

say "systemd-analyze verify (must print nothing)"
unitdir=$(dirname "$(grep '/regwatch\.service$' "$tmp/regwatch.files")")
for unit in regwatch.service regwatch@office.service; do
    out=$(systemd-analyze verify "$unitdir/$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
    [ -z "$out" ] || fail "systemd-analyze verify $unit: $out"
    echo "   $unitdir/$unit: clean"
done

say "manual pages, completions"
# Every page found by name and rendered without a warning from groff.
pages=$(sed -n 's|^/usr/share/man/man1/\(.*\)\.1\.gz$|\1|p' "$tmp/regwatch.files")
for page in $pages; do
    man -w "$page" >/dev/null || fail "man -w $page: no page"
    MANWIDTH=80 man "$page" 2>"$tmp/man.err" | grep -q "^NAME" || fail "man $page does not render: $(cat "$tmp/man.err")"
    [ ! -s "$tmp/man.err" ] || fail "man $page: $(cat "$tmp/man.err")"
done
echo "   man renders ${pages//$'\n'/ }"
bashdir=$(pkg-config --variable=completionsdir bash-completion)
[ -f "$bashdir/regwatch" ] || fail "no regwatch in bash-completion's $bashdir"
# bash-completion loads it on the first <TAB> after `regwatch`:
loaded=$(bash -c 'source /usr/share/bash-completion/bash_completion; __load_completion regwatch && complete -p regwatch')
echo "   bash: $bashdir/regwatch ($loaded)"
[ -f /usr/share/zsh/vendor-completions/_regwatch ] || fail "no zsh completion"
[ -f /usr/share/fish/vendor_completions.d/regwatch.fish ] || fail "no fish completion"

say "library: SONAME, ld.so.cache, pkg-config, a C program"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
soname=$(sed -n 's/^#define REGWATCH_SONAME "\(.*\)"/\1/p' /usr/include/regwatch.h)
readelf -d "/usr/lib/$multiarch/libregwatch.so.$version" | grep "SONAME.*\[$soname\]" \
    || fail "libregwatch.so.$version has no SONAME $soname"
ldconfig -p | grep -q "$soname " || fail "$soname is not in ld.so.cache (the ldconfig trigger)"
[ "$(pkg-config --modversion regwatch)" = "$version" ] || fail "pkg-config --modversion regwatch"
env -u PKG_CONFIG_PATH scripts/link-test.sh

say "the trunk file: root:regwatch 0640, unreadable to other users"
getent passwd regwatch >/dev/null || fail "no user regwatch"
mode=$(stat -c '%U:%G %a' /etc/regwatch/watch.toml)
[ "$mode" = "root:regwatch 640" ] || fail "/etc/regwatch/watch.toml is $mode"
if setpriv --reuid nobody --regid nogroup --clear-groups cat /etc/regwatch/watch.toml >/dev/null 2>&1; then
    fail "user nobody can read /etc/regwatch/watch.toml"
fi
echo "   $mode; nobody: permission denied"

say "regwatch watch as regwatch.service runs it"
unit="$unitdir/regwatch.service"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
opts=$(sed -n 's/^EnvironmentFile=-\?//p' "$unit" | while read -r f; do
    # shellcheck disable=SC1090 # the unit's own environment file
    (set -a && . "$f" && printf '%s' "${REGWATCH_OPTS:-}")
done)
read -r -a argv <<<"${exec_start//\$REGWATCH_OPTS/$opts}"
metrics=$(sed -n 's/.*--metrics \([^ ]*\).*/\1/p' <<<"$opts")
[ -n "$metrics" ] || fail "watch.env sets no --metrics"
run_dir=/run/regwatch/watch
install -d -o regwatch -g regwatch -m 0750 "$run_dir"
echo "   in $run_dir as regwatch:" "${argv[@]}"
(cd "$run_dir" && exec setpriv --reuid regwatch --regid regwatch --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all -- "${argv[@]}") >"$tmp/watch.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    curl -sf "http://$metrics/metrics" -o "$tmp/metrics" && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/watch.log"; fail "regwatch watch ended"; }
    sleep 0.1
done
grep -q '^# TYPE regwatch_' "$tmp/metrics" || { cat "$tmp/watch.log"; fail "no metrics at http://$metrics/metrics"; }
echo "   http://$metrics/metrics: $(grep -c '^# TYPE' "$tmp/metrics") metric families"
kill -HUP "$pid"
for _ in $(seq 20); do grep -q '^reloaded ' "$tmp/watch.log" && break; sleep 0.1; done
grep -q '^reloaded /etc/regwatch/watch.toml' "$tmp/watch.log" || { cat "$tmp/watch.log"; fail "SIGHUP did not reload"; }
echo "   SIGHUP: $(grep '^reloaded ' "$tmp/watch.log")"
t0=$(date +%s%N)
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
ms=$((($(date +%s%N) - t0) / 1000000))
pid=
[ "$status" -eq 0 ] || { cat "$tmp/watch.log"; fail "exit status $status after SIGTERM"; }
[ "$ms" -le 1000 ] || fail "SIGTERM took $ms ms"
echo "   SIGTERM: exit 0 after $ms ms"
rm -rf /run/regwatch

if [ -d /run/systemd/system ]; then
    say "systemd runs here: systemctl start, reload, stop"
    systemctl start regwatch.service
    for _ in $(seq 50); do curl -sf "http://$metrics/metrics" -o /dev/null && break; sleep 0.1; done
    curl -sf "http://$metrics/metrics" -o /dev/null || { journalctl -u regwatch --no-pager | tail; fail "no metrics from regwatch.service"; }
    systemctl reload regwatch.service
    systemctl stop regwatch.service
    echo "   $(systemctl show -p Result --value regwatch.service)"
else
    say "systemd is not PID 1 here: the unit was run by hand above"
fi

say "enabled units, dpkg -r, dpkg --purge"
systemctl enable regwatch.service regwatch@office.service 2>&1 | sed 's/^/   /'
dpkg -r "${packages[@]}" >"$tmp/dpkg-r.log" 2>&1 || { cat "$tmp/dpkg-r.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/regwatch ] || fail "/usr/bin/regwatch is left after dpkg -r"
[ -f /etc/regwatch/watch.toml ] || fail "dpkg -r removed the conffile /etc/regwatch/watch.toml"
dpkg --purge "${packages[@]}" >"$tmp/dpkg-purge.log" 2>&1 || { cat "$tmp/dpkg-purge.log"; fail "dpkg --purge"; }
left=$(cat "$tmp"/*.files | while read -r f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\n' "$f"; fi
done)
for d in /etc/regwatch /usr/share/doc/regwatch /usr/share/doc/libregwatch0.1 /usr/share/doc/libregwatch-dev; do
    if [ -e "$d" ]; then left+=$'\n'"$d"; fi
done
left+=$'\n'$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled -name '*regwatch*' 2>/dev/null || true)
left+=$'\n'$(dpkg-statoverride --list | grep regwatch || true)
left+=$'\n'$(ldconfig -p | grep libregwatch || true)
left=$(sed '/^$/d' <<<"$left")
[ -z "$left" ] || fail "left after the purge: $left"
echo "   nothing left ($(cat "$tmp"/*.files | wc -l) files and links, /etc/regwatch, enabled links, the override)"

echo "package test: ok ($(( ($(date +%s%N) - start) / 1000000000 )) s)"
