#!/usr/bin/env bash
# Builds (once) a Debian sid chroot with Asterisk 22 from Debian's packages,
# the matching asterisk-dev headers, and pjproject headers configured the way
# Debian's Asterisk build configures its bundled pjproject. Nothing of
# Asterisk or pjproject lands in the repository: everything goes under
# $ASTERISK_ROOT (default target/asterisk/root), which later runs reuse.
#
#   scripts/asterisk-chroot.sh            build or reuse; prints the root
#   scripts/asterisk-chroot.sh --mount    also mount /proc, /dev, /dev/pts
#   scripts/asterisk-chroot.sh --umount   unmount what --mount mounted
#
# Writes $ASTERISK_ROOT/../versions.txt (the exact package versions tested)
# and $ASTERISK_ROOT/../include/ (Asterisk headers only) and
# $ASTERISK_ROOT/../pjproject/ (configured pjproject include directories).
# Fails loudly when it cannot (not root, no debootstrap, no mirror).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${ASTERISK_BASE:-$PWD/target/asterisk}
ROOT=${ASTERISK_ROOT:-$BASE/root}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
APT=(apt-get -o Acquire::Check-Valid-Until=false -o Acquire::Retries=3)

say() { printf 'asterisk-chroot: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

mounted() { mountpoint -q "$1" 2>/dev/null; }

do_mount() {
    mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    mounted "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
    mounted "$ROOT/dev/pts" || mount --bind /dev/pts "$ROOT/dev/pts"
}

do_umount() {
    for m in "$ROOT/dev/pts" "$ROOT/dev" "$ROOT/proc"; do
        if mounted "$m"; then umount "$m" || umount -l "$m"; fi
    done
}

case "${1:-}" in
--umount)
    do_umount
    exit 0
    ;;
esac

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount); this machine runs as $(id -un)"
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
        die "cannot install debootstrap"
fi

mkdir -p "$BASE"
stamp="$BASE/.ready"
if [ -f "$stamp" ] && [ -x "$ROOT/usr/sbin/asterisk" ] && [ -d "$BASE/pjproject/pjsip/include" ]; then
    say "reusing $ROOT ($(cat "$BASE/versions.txt" | head -n 1))"
    [ "${1:-}" = "--mount" ] && do_mount
    echo "$ROOT"
    exit 0
fi

t0=$(date +%s)
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    rm -rf "$ROOT"
    say "debootstrap sid into $ROOT"
    debootstrap --variant=minbase sid "$ROOT" "$MIRROR" >"$BASE/debootstrap.log" 2>&1 ||
        { tail -n 20 "$BASE/debootstrap.log" >&2; die "debootstrap (log: $BASE/debootstrap.log)"; }
fi
t1=$(date +%s)

trap do_umount EXIT
do_mount
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
echo "deb-src $MIRROR sid main" >"$ROOT/etc/apt/sources.list.d/src.list"
in_root() { DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }

say "apt: asterisk asterisk-dev and build tools"
in_root "${APT[@]}" -qq update || die "apt-get update in the chroot"
in_root "${APT[@]}" install -y -qq --no-install-recommends \
    asterisk asterisk-dev gcc make libc6-dev dpkg-dev xz-utils g++ >"$BASE/apt.log" 2>&1 ||
    { tail -n 20 "$BASE/apt.log" >&2; die "apt-get install in the chroot (log: $BASE/apt.log)"; }
t2=$(date +%s)

# pjproject headers, configured exactly as Asterisk configures its bundled
# copy (Asterisk's config_site.h changes struct layouts).
say "pjproject headers from Debian's asterisk source package"
in_root sh -c 'rm -rf /root/src && mkdir -p /root/src && cd /root/src && apt-get -o Acquire::Check-Valid-Until=false source --download-only asterisk' \
    >"$BASE/source.log" 2>&1 || { tail -n 20 "$BASE/source.log" >&2; die "apt-get source asterisk"; }
src="$ROOT/root/src"
mkdir -p "$src/pj" "$src/orig"
tar -xJf "$(ls "$src"/asterisk_*orig-Xpjproject.tar.xz | head -n 1)" -C "$src/pj"
tar -xJf "$(ls "$src"/asterisk_*.orig.tar.xz | head -n 1)" -C "$src/orig" --wildcards '*/third-party/pjproject/*'
rm -rf "$src/pjbuild"
cp -a "$src"/pj/pjsip-pjproject-* "$src/pjbuild"
cp "$src"/orig/*/third-party/pjproject/patches/config_site.h \
    "$src"/orig/*/third-party/pjproject/patches/asterisk_malloc_debug.h "$src/pjbuild/pjlib/include/pj/"
# The options of Asterisk's third-party/pjproject/Makefile.rules.
in_root sh -c 'cd /root/src/pjbuild && ./aconfigure --prefix=/opt/pjproject --disable-speex-codec --disable-speex-aec \
  --disable-bcg729 --disable-gsm-codec --disable-ilbc-codec --disable-l16-codec --disable-g722-codec --disable-g7221-codec \
  --disable-opencore-amr --disable-silk --disable-opus --disable-video --disable-v4l2 --disable-sound --disable-ext-sound \
  --disable-sdl --disable-libyuv --disable-ffmpeg --disable-openh264 --disable-ipp --disable-libwebrtc --disable-libsrtp \
  --disable-upnp --without-external-pa --without-external-srtp --disable-resample --disable-g711-codec --enable-epoll' \
    >"$BASE/pjconfigure.log" 2>&1 || { tail -n 20 "$BASE/pjconfigure.log" >&2; die "pjproject aconfigure"; }
rm -rf "$BASE/pjproject"
for d in pjlib pjlib-util pjnath pjmedia pjsip; do
    mkdir -p "$BASE/pjproject/$d"
    cp -a "$src/pjbuild/$d/include" "$BASE/pjproject/$d/"
done

# Asterisk's headers alone, so the host compiler never sees the chroot's libc.
rm -rf "$BASE/include"
mkdir -p "$BASE/include"
cp -a "$ROOT/usr/include/asterisk.h" "$ROOT/usr/include/asterisk" "$BASE/include/"
rm -rf "$src"
t3=$(date +%s)

{
    in_root dpkg-query -W -f '${Package} ${Version}\n' asterisk asterisk-modules asterisk-dev asterisk-config
    pjv() { sed -n "s/^#define PJ_VERSION_NUM_$1[^0-9]*\\([0-9]*\\).*/\\1/p" "$BASE/pjproject/pjlib/include/pj/config.h" | head -n 1; }
    printf 'pjproject %s.%s.%s (bundled in the asterisk source package; headers configured with its config_site.h)\n' \
        "$(pjv MAJOR)" "$(pjv MINOR)" "$(pjv REV)"
    printf 'built %s; debootstrap %ss, apt %ss, pjproject %ss\n' "$(date -u +%FT%TZ)" $((t1 - t0)) $((t2 - t1)) $((t3 - t2))
} >"$BASE/versions.txt"
touch "$stamp"
say "ready in $((t3 - t0)) s: $(head -n 1 "$BASE/versions.txt")"
if [ "${1:-}" = "--mount" ]; then trap - EXIT; fi
echo "$ROOT"
