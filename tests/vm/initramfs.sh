#!/bin/sh
# Build the guest's initramfs for the keystation VM tier.
#
# Usage: tests/vm/initramfs.sh OUT.cpio KERNEL_DIR KEYSTATION_BIN
#
#   OUT.cpio        the archive to write (uncompressed newc cpio: the kernel unpacks it
#                   faster under TCG than it would inflate a gzip'ed one)
#   KERNEL_DIR      what tests/vm/kernel.sh printed (holds modules/*.ko)
#   KEYSTATION_BIN  the keystation binary to test
#
# The guest gets busybox-static (its applets as symlinks), the three HID modules, the
# keystation binary, libfido2's fido2-token, the system CA bundle, every shared library
# `ldd` lists for the dynamic programs, tests/vm/guest-init.sh as /init and the
# checks it sources (tests/vm/guest-enroll.sh, tests/vm/guest-replug.sh).
set -eu

die() { echo "initramfs.sh: error: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: $0 OUT.cpio KERNEL_DIR KEYSTATION_BIN"
out=$1 kernel_dir=$2 keystation=$3
here=$(cd "$(dirname "$0")" && pwd)

busybox=${KEYSTATION_VM_BUSYBOX:-/bin/busybox}
fido2_token=${KEYSTATION_VM_FIDO2_TOKEN:-$(command -v fido2-token || true)}
[ -x "$busybox" ] || die "$busybox is missing: install the Debian package busybox-static"
# A dynamically linked busybox (package `busybox`) would need its libraries and is not
# what the guest expects; insist on the static one.
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked: install busybox-static (it replaces busybox)"
fi
[ -n "$fido2_token" ] && [ -x "$fido2_token" ] || die "fido2-token is missing: install the Debian package fido2-tools"
[ -x "$keystation" ] || die "keystation binary $keystation does not exist"
for m in hid hid-generic uhid; do
    [ -f "$kernel_dir/modules/$m.ko" ] || die "$kernel_dir/modules/$m.ko is missing: rerun tests/vm/kernel.sh"
done
command -v cpio >/dev/null 2>&1 || die "cpio is missing: install the Debian package cpio"
# keystation's HTTP client loads the system trust roots before it talks to anything,
# even the simulator on plain-HTTP loopback; the guest gets the host's bundle.
ca_bundle=${KEYSTATION_VM_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca_bundle" ] || die "$ca_bundle is missing: install the Debian package ca-certificates"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT INT TERM
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/lib/modules" \
    "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/etc" "$root/root"

cp "$busybox" "$root/bin/busybox"
# One symlink per applet. Skip the applet called `busybox`: a link bin/busybox ->
# busybox would replace the binary itself and the kernel finds no working init.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] && continue
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

cp "$kernel_dir"/modules/*.ko "$root/lib/modules/"
mkdir -p "$root/etc/ssl/certs"
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"

# Debug info is useless in the guest and would triple the archive.
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$root/bin/keystation" "$keystation"
else
    cp "$keystation" "$root/bin/keystation"
fi
cp "$fido2_token" "$root/usr/bin/fido2-token"

# Shared libraries, at the paths the dynamic loader will look for them.
copy_libs() {
    ldd "$1" | while read -r first second third _; do
        case "$first" in
            /*) lib=$first ;;                      # the loader itself: /lib64/ld-linux...
            *) [ "$second" = "=>" ] && lib=$third || lib= ;;
        esac
        case "$lib" in
            /*) [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; } ;;
        esac
    done
}
copy_libs "$keystation"
copy_libs "$fido2_token"

cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$here/guest-enroll.sh" "$root/guest-enroll.sh"
cp "$here/guest-replug.sh" "$root/guest-replug.sh"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
