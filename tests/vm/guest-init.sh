#!/bin/sh
# /init of the keystation VM-tier guest: PID 1, busybox ash, no udev.
#
# Prints `PLAN n`, one `PASS name` or `FAIL name: reason` line per check, then
# `N passed, M failed`, and powers off. tests/vm.rs judges exactly those lines; anything
# else on the console is for humans. Detail of a failed check goes to lines starting
# with `  | ` right after the FAIL line.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
export KEYSTATION_STATE_DIR=/tmp/state
# RUST_BACKTRACE helps when a keystation process panics inside the guest.
export RUST_BACKTRACE=1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p "$KEYSTATION_STATE_DIR"
# The firmware's last line ("Booting from ROM..") has no newline: start a fresh line.
echo
echo "VM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"

# The PIN keystation sets, and a wrong one for the retry-counter check.
PIN=271828
WRONG_PIN=999999
# keystation's virtual-key AAGUID (src/key/virtual_key), as fido2-token prints it.
AAGUID=d5a92987df19484f890d2d49daf54f29
AAGUID_DASHED=d5a92987-df19-484f-890d-2d49daf54f29

# ---- reporting --------------------------------------------------------------------
CHECKS="modules uhid-key-created keys-list keys-list-json keys-list-usage-page keys-info
fido2-token-list fido2-token-list-usage-page fido2-token-info keys-set-pin keys-info-pin-set fido2-token-pin-set fido2-token-uses-pin
pin-retries-agree virtual-state-persists keys-reset touch-deny watch-arrive watch-leave
virtual-key-stop
enroll-graph enroll-in-graph enroll-libfido2-sees-credential enroll-journal
replug-after-40ms replug-after-80ms replug-after-120ms"
echo "PLAN $(echo $CHECKS | wc -w)"
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
# fail NAME REASON [FILE...]: the files' contents follow as detail lines.
fail() {
    name=$1 reason=$2
    shift 2
    echo "FAIL $name: $reason"
    for f in "$@"; do
        # awk ends every line, also a file's last one without a newline, so that the
        # next check line starts at the beginning of a line.
        [ -s "$f" ] && awk '{ print "  | " $0 }' "$f" | head -n 40
    done
    failed=$((failed + 1))
}
finish() {
    echo "VM-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
    echo "$passed passed, $failed failed"
    # Debugging by hand: boot with `keystation.shell` on the kernel command line to get
    # a shell here (the logs of every check are in /tmp); leave it to power off.
    if grep -qw keystation.shell /proc/cmdline; then
        echo "keystation.shell: logs are in /tmp; exit the shell to power off"
        setsid cttyhack sh
    fi
    sync
    poweroff -f
}
# abort REASON: later checks cannot run; the host sees fewer results than planned.
abort() {
    echo "ABORT $1"
    finish
}

uptime_ms() {
    awk '{ printf "%d", $1 * 1000 }' /proc/uptime
}
# wait_for SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds or time runs out.
wait_for() {
    deadline=$(($(uptime_ms) + $1 * 1000))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(uptime_ms)" -ge "$deadline" ] && return 1
        usleep 50000
    done
    return 0
}
# The hidraw node a `virtual-key --json` output file announced (first, or Nth with $2).
hidraw_of() {
    sed -n 's/.*"event":"created".*"hidraw":"\([^"]*\)".*/\1/p' "$1" | sed -n "${2:-1}p"
}
announced() {
    [ -n "$(hidraw_of "$1" "${2:-1}")" ]
}
process_gone() {
    ! kill -0 "$1" 2>/dev/null
}
# keystation's JSON is pretty-printed; flatten it so that one grep sees a whole object.
flat() {
    tr -d ' \n' < "$1"
}

# ---- checks -------------------------------------------------------------------------
ok=1
for m in hid hid-generic uhid; do
    insmod "/lib/modules/$m.ko" 2>/tmp/insmod.err || { ok=0; break; }
done
if [ $ok = 1 ] && [ -c /dev/uhid ]; then
    pass modules
else
    fail modules "loading hid, hid-generic, uhid failed or /dev/uhid is missing" /tmp/insmod.err
    abort "no uhid"
fi

t0=$(uptime_ms)
keystation --json virtual-key --uhid --serial KS-VM-1 >/tmp/vk1.out 2>/tmp/vk1.err &
VK1=$!
if wait_for 30 announced /tmp/vk1.out && DEV1=$(hidraw_of /tmp/vk1.out) && [ -c "$DEV1" ]; then
    pass uhid-key-created
    echo "  virtual key 1 on $DEV1 after $(($(uptime_ms) - t0)) ms"
else
    fail uhid-key-created "no hidraw node announced within 30 s" /tmp/vk1.out /tmp/vk1.err
    abort "no virtual key"
fi
# A negative control: the same device with a vendor usage page (0xFF00) instead of
# FIDO's 0xF1D0. Clients must find keys by usage page, so nobody may list it.
keystation --json virtual-key --uhid --usage-page 0xFF00 --serial KS-VM-VENDOR >/tmp/vkv.out 2>/tmp/vkv.err &
VKV=$!
if wait_for 30 announced /tmp/vkv.out; then
    DEVV=$(hidraw_of /tmp/vkv.out)
else
    DEVV=
    echo "  the vendor-usage-page device did not appear" && sed -e 's/^/  | /' /tmp/vkv.err
fi

# keystation enumerates through hidapi (hidraw + sysfs): no --virtual anywhere below.
if keystation keys list >/tmp/list.out 2>/tmp/list.err && grep -q "($DEV1)" /tmp/list.out; then
    pass keys-list
else
    fail keys-list "keys list does not show $DEV1" /tmp/list.out /tmp/list.err
fi

if keystation --json keys list >/tmp/list.json 2>/tmp/list.err \
    && flat /tmp/list.json | grep -q "\"backend\":\"hid\",\"path\":\"$DEV1\"" \
    && flat /tmp/list.json | grep -q '"serial":"KS-VM-1"' \
    && flat /tmp/list.json | grep -q "\"aaguid\":\"$AAGUID_DASHED\"" \
    && flat /tmp/list.json | grep -q '"pin_set":false'; then
    pass keys-list-json
else
    fail keys-list-json "keys list --json lacks the hid key $DEV1 (serial KS-VM-1, AAGUID, no PIN)" /tmp/list.json /tmp/list.err
fi

# hidapi saw the vendor device (it is a hidraw node like any other); keystation must
# have dropped it for its usage page.
if [ -n "$DEVV" ] && [ -c "$DEVV" ] && ! grep -q "$DEVV\|KS-VM-VENDOR" /tmp/list.json \
    && [ "$(flat /tmp/list.json | grep -o '"backend":"hid"' | wc -l)" = 1 ]; then
    pass keys-list-usage-page
else
    fail keys-list-usage-page "keys list shows the non-FIDO device ${DEVV:-(missing)} or not exactly one key" /tmp/list.json /tmp/vkv.err
fi

if keystation --json keys info --key "$DEV1" >/tmp/info.json 2>/tmp/info.err \
    && flat /tmp/info.json | grep -q '"versions":\[[^]]*"FIDO_2_' \
    && flat /tmp/info.json | grep -q "\"aaguid\":\"$AAGUID_DASHED\"" \
    && flat /tmp/info.json | grep -q '"clientPin":false'; then
    pass keys-info
else
    fail keys-info "keys info on $DEV1 lacks FIDO_2_x, the AAGUID or clientPin false" /tmp/info.json /tmp/info.err
fi

# libfido2 enumerates through libudev (sysfs) and talks CTAPHID over the same node.
if fido2-token -L >/tmp/fl.out 2>&1 && grep -q "^$DEV1:" /tmp/fl.out; then
    pass fido2-token-list
else
    fail fido2-token-list "fido2-token -L does not list $DEV1" /tmp/fl.out
fi

if [ -n "$DEVV" ] && ! grep -q "^$DEVV:" /tmp/fl.out && [ "$(grep -c '^/dev/hidraw' /tmp/fl.out)" = 1 ]; then
    pass fido2-token-list-usage-page
else
    fail fido2-token-list-usage-page "fido2-token -L lists the non-FIDO device ${DEVV:-(missing)} or not exactly one key" /tmp/fl.out
fi
kill -TERM "$VKV" 2>/dev/null

# The re-plug checks' keys start now (after the checks that count keys), so that they are
# past the 10 s reset window at the end.
. /guest-replug.sh
replug_start_keys

if fido2-token -I "$DEV1" >/tmp/fi.out 2>&1 \
    && grep -q '^version strings:.*FIDO_2_0' /tmp/fi.out \
    && grep -q "^aaguid: $AAGUID" /tmp/fi.out \
    && grep -q '^options:.*noclientPin' /tmp/fi.out; then
    pass fido2-token-info
else
    fail fido2-token-info "fido2-token -I lacks FIDO_2_0, aaguid $AAGUID or noclientPin" /tmp/fi.out
fi

if printf '%s\n' "$PIN" | keystation keys set-pin --key "$DEV1" --new-pin-stdin >/tmp/sp.out 2>/tmp/sp.err; then
    pass keys-set-pin
else
    fail keys-set-pin "keys set-pin exited $?" /tmp/sp.out /tmp/sp.err
fi

if keystation --json keys info --key "$DEV1" >/tmp/info2.json 2>/tmp/info2.err \
    && flat /tmp/info2.json | grep -q '"clientPin":true'; then
    pass keys-info-pin-set
else
    fail keys-info-pin-set "keys info does not show clientPin true after set-pin" /tmp/info2.json /tmp/info2.err
fi

if fido2-token -I "$DEV1" >/tmp/fi2.out 2>&1 \
    && grep -q '^options:.*[ ,]clientPin' /tmp/fi2.out \
    && grep -q '^pin retries: 8$' /tmp/fi2.out; then
    pass fido2-token-pin-set
else
    fail fido2-token-pin-set "fido2-token -I does not show clientPin and 8 PIN retries" /tmp/fi2.out
fi

# The PIN keystation set opens the key for libfido2 too (credential management needs a
# PIN token): proves both sides agree on the PIN protocol, not just on a flag.
if printf '%s\n' "$PIN" | fido2-token -I -c "$DEV1" >/tmp/fc.out 2>&1 \
    && grep -q 'existing rk(s): 0$' /tmp/fc.out; then
    pass fido2-token-uses-pin
else
    fail fido2-token-uses-pin "fido2-token -I -c with the PIN keystation set failed" /tmp/fc.out
fi

# A wrong PIN through libfido2 costs one retry; keystation must see the same counter.
printf '%s\n%s\n%s\n' "$WRONG_PIN" 11111111 11111111 | fido2-token -C "$DEV1" >/tmp/wp.out 2>&1
if grep -q 'FIDO_ERR_PIN_INVALID' /tmp/wp.out \
    && keystation --json keys info --key "$DEV1" >/tmp/info3.json 2>/tmp/info3.err \
    && flat /tmp/info3.json | grep -q '"pin_retries":{"retries":7' \
    && fido2-token -I "$DEV1" 2>&1 | grep -q '^pin retries: 7$'; then
    pass pin-retries-agree
else
    fail pin-retries-agree "after one wrong PIN, keystation and libfido2 do not both report 7 retries" /tmp/wp.out /tmp/info3.json /tmp/info3.err
fi

# --virtual-state: a key whose storage lives in a directory keeps its PIN when its
# process (the "USB cable") is restarted; the kernel shows it under a new hidraw node.
start_key_r() {
    : >/tmp/vkr.out
    keystation --json --virtual-state /tmp/vkr virtual-key --uhid --serial KS-VM-R "$@" >/tmp/vkr.out 2>/tmp/vkr.err &
    VKR=$!
    wait_for 30 announced /tmp/vkr.out && DEVR=$(hidraw_of /tmp/vkr.out)
}
stop_key_r() {
    kill -TERM "$VKR" 2>/dev/null
    wait_for 10 process_gone "$VKR"
    wait "$VKR" 2>/dev/null
}
if start_key_r \
    && printf '%s\n' "$PIN" | keystation keys set-pin --key "$DEVR" --new-pin-stdin >/tmp/rp.out 2>/tmp/rp.err \
    && stop_key_r \
    && start_key_r --touch 1s \
    && keystation --json keys list >/tmp/infor.json 2>/tmp/infor.err \
    && flat /tmp/infor.json | grep -q "\"path\":\"$DEVR\",[^}]*\"serial\":\"KS-VM-R\",[^}]*\"pin_set\":true"; then
    pass virtual-state-persists
else
    fail virtual-state-persists "the PIN set before a restart with --virtual-state is gone" /tmp/rp.err /tmp/vkr.err /tmp/infor.json /tmp/infor.err
fi

# Factory reset over hidraw, inside the 10 s window after the (re)plug. The key touches
# after 1 s, so the reset waits through CTAPHID KEEPALIVE reports on the real node.
# (Only getInfo may reach the key between the plug and the reset: OpenSK, like the
# spec's intent, drops the reset permission after any other command, which is why the
# check above uses `keys list` and not `keys info`, which asks for the PIN retries.)
t0=$(uptime_ms)
if keystation keys reset --key "$DEVR" --yes >/tmp/reset.out 2>/tmp/reset.err \
    && [ $(($(uptime_ms) - t0)) -ge 1000 ] \
    && keystation --json keys info --key "$DEVR" >/tmp/infor2.json 2>/tmp/infor2.err \
    && flat /tmp/infor2.json | grep -q '"clientPin":false' \
    && fido2-token -I "$DEVR" 2>&1 | grep -q '^options:.*noclientPin'; then
    pass keys-reset
    echo "  reset with a 1 s touch took $(($(uptime_ms) - t0)) ms including keys info"
else
    fail keys-reset "keys reset on $DEVR failed or the PIN survived it" /tmp/reset.out /tmp/reset.err /tmp/infor2.json /tmp/vkr.err
fi
stop_key_r

# --touch deny: the key refuses, keystation says so with the key-error exit code (4).
# (This key runs without --json: the human announcement names the node too.)
keystation virtual-key --uhid --touch deny --serial KS-VM-DENY >/tmp/vkd.out 2>/tmp/vkd.err &
VKD=$!
human_hidraw() {
    sed -n 's|^virtual key 1: \(/dev/hidraw[0-9]*\) (serial KS-VM-DENY, .*|\1|p' /tmp/vkd.out
}
human_announced() {
    [ -n "$(human_hidraw)" ]
}
if wait_for 30 human_announced; then
    DEVD=$(human_hidraw)
    keystation keys reset --key "$DEVD" --yes >/tmp/deny.out 2>/tmp/deny.err
    rc=$?
    if [ "$rc" = 4 ] && grep -qi 'refused\|denied' /tmp/deny.err; then
        pass touch-deny
    else
        fail touch-deny "keys reset on a key that denies the touch exited $rc" /tmp/deny.out /tmp/deny.err
    fi
else
    fail touch-deny "the --touch deny key did not appear" /tmp/vkd.out /tmp/vkd.err
fi
kill -TERM "$VKD" 2>/dev/null
wait_for 10 process_gone "$VKD"

# The watcher: a second UHID process brings two keys, then takes them away.
keystation --json keys watch >/tmp/watch.out 2>/tmp/watch.err &
WATCH=$!
watch_has() {
    flat /tmp/watch.out | grep -q "\"event\":\"$1\"[^}]*\"path\":\"$2\"\|\"path\":\"$2\"[^}]*\"event\":\"$1\""
}
# The watcher reports keys present at its start as arrived; wait for that so that the
# second process's keys are seen as new arrivals, not as the initial population.
if ! wait_for 20 watch_has arrived "$DEV1"; then
    echo "  watcher did not report the present key $DEV1 at start"
fi
keystation --json virtual-key --uhid --count 2 --serial KS-VM-2 >/tmp/vk2.out 2>/tmp/vk2.err &
VK2=$!
if wait_for 30 announced /tmp/vk2.out 2; then
    DEV2=$(hidraw_of /tmp/vk2.out 1)
    DEV3=$(hidraw_of /tmp/vk2.out 2)
    if wait_for 20 watch_has arrived "$DEV2" && wait_for 10 watch_has arrived "$DEV3"; then
        pass watch-arrive
    else
        fail watch-arrive "keys watch did not report $DEV2 and $DEV3 arriving" /tmp/watch.out /tmp/watch.err
    fi
    kill -TERM "$VK2"
    if wait_for 20 watch_has left "$DEV2" && wait_for 10 watch_has left "$DEV3"; then
        pass watch-leave
    else
        fail watch-leave "keys watch did not report $DEV2 and $DEV3 leaving" /tmp/watch.out /tmp/watch.err /tmp/vk2.err
    fi
else
    fail watch-arrive "the second virtual-key process announced no two hidraw nodes" /tmp/vk2.out /tmp/vk2.err
    fail watch-leave "nothing to remove"
    kill -TERM "$VK2" 2>/dev/null
fi
kill -TERM "$WATCH" 2>/dev/null

# Stopping the first process destroys its device: the node goes, the exit is clean.
kill -TERM "$VK1"
wait_for 10 process_gone "$VK1"
wait "$VK1"
rc=$?
if [ "$rc" = 0 ] && [ ! -e "$DEV1" ] && grep -q '"event":"destroyed"' /tmp/vk1.out; then
    pass virtual-key-stop
else
    fail virtual-key-stop "exit $rc, node $DEV1 $( [ -e "$DEV1" ] && echo still there || echo gone)" /tmp/vk1.out /tmp/vk1.err
fi

# A full direct-Graph enrollment through the real hidraw against an in-guest simulator.
. /guest-enroll.sh
enroll_checks

# The re-plug wait: the key pulled 40-120 ms after keystation's prompt.
replug_checks

finish
