#!/bin/sh
# Fetch (once) and cache the Debian stock kernel plus the three HID modules the guest needs.
#
# Usage: tests/vm/kernel.sh            prints the cached kernel directory on stdout
#
# The directory holds `vmlinuz`, `modules/hid.ko`, `modules/hid-generic.ko`,
# `modules/uhid.ko` and `release` (the kernel release string). It lives under
# ${KEYSTATION_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keystation-vm}/kernels/, outside the
# repository, so a machine downloads the 70 MB package only once per Debian kernel ABI.
#
# The package name changes whenever Debian bumps the kernel ABI, so it is resolved at run
# time from what the `linux-image-amd64` metapackage depends on. Offline, or when apt
# cannot resolve or download it, the newest kernel already in the cache is used instead.
set -eu

log() { echo "kernel.sh: $*" >&2; }
die() { echo "kernel.sh: error: $*" >&2; exit 1; }

cache_root=${KEYSTATION_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/keystation-vm}
kernels="$cache_root/kernels"
mkdir -p "$kernels"

# The modules, in the order the guest loads them: hid (contains hidraw), the generic
# driver (without it no driver binds, the kernel never starts the device and no hidraw
# node appears), then uhid.
modules="hid hid-generic uhid"

newest_cached() {
    # Directory names are <package>_<version>; sort -V puts the newest last.
    for d in "$kernels"/*/; do
        [ -f "$d/vmlinuz" ] && [ -f "$d/modules/uhid.ko" ] && echo "${d%/}"
    done | sort -V | tail -n 1
}

fallback_or_die() {
    cached=$(newest_cached)
    if [ -n "$cached" ]; then
        log "warning: $1; using the cached kernel $cached"
        echo "$cached"
        exit 0
    fi
    die "$1 (and no kernel is cached in $kernels). Check that apt works: apt-get update"
}

command -v apt-cache >/dev/null 2>&1 || fallback_or_die "apt-cache is not installed"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
[ -n "$pkg" ] || fallback_or_die "cannot resolve the kernel package from 'apt-cache depends linux-image-amd64'"
version=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
[ -n "$version" ] || fallback_or_die "apt knows no version of $pkg"

target="$kernels/${pkg}_$version"
if [ -f "$target/vmlinuz" ] && [ -f "$target/modules/uhid.ko" ]; then
    log "cached: $target"
    echo "$target"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || fallback_or_die "apt-get is not installed"
command -v dpkg-deb >/dev/null 2>&1 || fallback_or_die "dpkg-deb is not installed"

work=$(mktemp -d "$kernels/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
log "downloading $pkg $version (about 70 MB, only on the first run)"
# apt-get download writes into the current directory. As root, apt would hand the
# download to its _apt sandbox user, who cannot write under a private cache directory;
# downloading as root directly avoids a spurious warning (non-root users are unaffected).
if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2); then
    fallback_or_die "apt-get download $pkg=$version failed"
fi
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fallback_or_die "apt-get download produced no .deb"
dpkg-deb -x "$deb" "$work/root"
rm -f "$deb"

vmlinuz=$(ls "$work"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$pkg has no /boot/vmlinuz-*"
release=${vmlinuz##*/vmlinuz-}
moddir=$(ls -d "$work"/root/lib/modules/* "$work"/root/usr/lib/modules/* 2>/dev/null | head -n 1)
[ -n "$moddir" ] || die "$pkg has no lib/modules directory"

mkdir -p "$work/out/modules"
cp "$vmlinuz" "$work/out/vmlinuz"
echo "$release" > "$work/out/release"
for m in $modules; do
    # Newer Debian kernels compress modules; busybox insmod wants them plain.
    src=$(find "$moddir/kernel/drivers/hid" -maxdepth 1 \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n 1)
    [ -n "$src" ] || die "$pkg has no $m module under drivers/hid (is it built in? then drop it from the list)"
    case "$src" in
        *.ko) cp "$src" "$work/out/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$src" > "$work/out/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$src" > "$work/out/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$src" > "$work/out/modules/$m.ko" ;;
    esac
done

# rename(2) onto an existing non-empty directory fails, so a concurrent run that cached
# the same kernel first wins and this copy is dropped with the work directory.
if [ -d "$target" ] && ! [ -f "$target/modules/uhid.ko" ]; then
    rm -rf "$target"   # an incomplete directory that this script did not make
fi
if mv -T "$work/out" "$target" 2>/dev/null; then
    log "cached $pkg $version (kernel $release) in $target"
else
    log "another run cached $pkg $version first; using it"
fi
echo "$target"
