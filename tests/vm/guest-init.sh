#!/bin/sh
# /init of the keystation VM-tier guest (busybox ash, PID 1). Smoke version.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo "VM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
echo "PLAN 2"
ok=1
for m in hid hid-generic uhid; do insmod /lib/modules/$m.ko || ok=0; done
[ $ok = 1 ] && [ -c /dev/uhid ] && pass modules || fail modules "insmod failed or no /dev/uhid"
keystation --version >/tmp/v 2>&1 && pass keystation-runs || fail keystation-runs "$(cat /tmp/v)"
echo "VM-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "$passed passed, $failed failed"
poweroff -f
