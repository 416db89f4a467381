# Sourced by the guest's /init (tests/vm/guest-init.sh): the re-plug wait through a real
# kernel's hidraw. `keystation keys reset --yes --wait-replug` on a key plugged in more
# than 10 s ago is refused by the key, so keystation asks the operator to re-plug it and
# waits. The "operator" pulls the key (stops its `virtual-key` process, which destroys the
# kernel device) a set number of milliseconds after the prompt appears and plugs it back
# (starts the process again on the same --virtual-state: a new kernel HID device, often
# on the same /dev/hidrawN). The reset must then succeed, whenever the pull came. The
# wait allows 30 s: bringing a key process back takes seconds on a loaded TCG guest.
#
# Checks (listed in /init's CHECKS): replug-after-40ms replug-after-80ms
# replug-after-120ms. Uses /init's helpers (pass, fail, wait_for, announced, hidraw_of,
# process_gone, uptime_ms).
#
# The keys are started early (`replug_start_keys`) and used at the end (`replug_checks`),
# so that they are past the 10 s reset window with little or no wait.

REPLUG_DELAYS="40 80 120"

# start_replug_key MS: the key for the check with that delay, on its own storage.
start_replug_key() {
    : >"/tmp/vkp$1.out"
    keystation --json --virtual-state "/tmp/vkp$1" virtual-key --uhid --serial "KS-VM-P$1" >"/tmp/vkp$1.out" 2>>"/tmp/vkp$1.err" &
    echo $! >"/tmp/vkp$1.pid"
}

replug_start_keys() {
    REPLUG_KEYS_AT=$(uptime_ms)
    for ms in $REPLUG_DELAYS; do
        start_replug_key "$ms"
    done
}

# prompt_seen FILE: keystation's re-plug prompt is on its standard error.
prompt_seen() {
    grep -q "Unplug the key" "$1"
}

replug_checks() {
    # The key must refuse the reset (window passed) for keystation to ask for a re-plug.
    while [ $(($(uptime_ms) - REPLUG_KEYS_AT)) -lt 11000 ]; do
        usleep 100000
    done
    for ms in $REPLUG_DELAYS; do
        name="replug-after-${ms}ms"
        if ! wait_for 30 announced "/tmp/vkp$ms.out"; then
            fail "$name" "the key KS-VM-P$ms did not appear" "/tmp/vkp$ms.out" "/tmp/vkp$ms.err"
            continue
        fi
        dev=$(hidraw_of "/tmp/vkp$ms.out")
        keystation keys reset --key "$dev" --yes --wait-replug --replug-timeout 30 >"/tmp/rr$ms.out" 2>"/tmp/rr$ms.err" &
        rr=$!
        # Watch for the prompt closely (2 ms), then pull the key $ms ms later.
        deadline=$(($(uptime_ms) + 20000))
        while ! prompt_seen "/tmp/rr$ms.err" && kill -0 "$rr" 2>/dev/null && [ "$(uptime_ms)" -lt "$deadline" ]; do
            usleep 2000
        done
        t_prompt=$(uptime_ms)
        pulled=no
        if prompt_seen "/tmp/rr$ms.err"; then
            usleep $((ms * 1000))
            t_pull=$(uptime_ms)
            vkp=$(cat "/tmp/vkp$ms.pid")
            kill -TERM "$vkp"
            wait_for 10 process_gone "$vkp"
            wait "$vkp" 2>/dev/null
            pulled=yes
            # Back a moment later, as a person would be.
            usleep 300000
            start_replug_key "$ms"
            wait_for 30 announced "/tmp/vkp$ms.out"
            echo "  $name: pulled $((t_pull - t_prompt)) ms after the prompt was seen; back on $(hidraw_of "/tmp/vkp$ms.out") (was $dev) $(($(uptime_ms) - t_pull)) ms after the pull"
        fi
        wait_for 20 process_gone "$rr"
        wait "$rr"
        rc=$?
        if [ "$pulled" = yes ] && [ "$rc" = 0 ] && grep -q "^Key reset" "/tmp/rr$ms.out"; then
            pass "$name"
        else
            fail "$name" "keys reset --wait-replug exited $rc (prompt seen: $pulled)" "/tmp/rr$ms.out" "/tmp/rr$ms.err" "/tmp/vkp$ms.err"
        fi
    done
    for ms in $REPLUG_DELAYS; do
        kill -TERM "$(cat "/tmp/vkp$ms.pid")" 2>/dev/null
    done
}
