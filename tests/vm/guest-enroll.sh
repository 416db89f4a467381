# Sourced by the guest's /init (tests/vm/guest-init.sh), which calls `enroll_checks`
# after the hidraw checks: a full direct-Graph enrollment, `keystation enroll`, through
# the hidapi backend on a fresh uhid key, against a `keystation simulator` running inside
# the guest on 127.0.0.1.
#
# Checks (listed in /init's CHECKS): enroll-graph enroll-in-graph
# enroll-libfido2-sees-credential enroll-journal. Uses /init's helpers (pass, fail,
# wait_for, announced, hidraw_of, flat, process_gone, uptime_ms) and $AAGUID_DASHED.
#
# The key self-attests (`virtual-key --uhid` has no batch CA); the simulator's built-in
# tenant does not enforce attestation, so Entra accepts it as "notAttested", as it would
# a real key with self attestation.
#
# The simulator starts here, not earlier in the background: the checks before are
# CPU-bound on the guest's one CPU, so overlapping them with its start-up saved nothing
# and made every check slower.

# The simulator's built-in tenant (docs/simulator.md §8): its confidential station app
# with a client secret, and a user inside the FIDO2 policy's scope.
SIM_TENANT=5f3c1e2a-7b4d-4c8e-9a61-2d0f8b7e4c19
SIM_APP=7a2d9c4e-1b3f-4e8a-9c6d-5f0a2b4c6e81
SIM_SECRET=sim-secret-change-me-7a2d9c4e
ENROLL_USER=alice@contoso.test
# The relying party of Graph's FIDO2 provisioning API (creationOptions' rp.id).
RP_ID=login.microsoft.com
ENROLL_DIR=/tmp/enroll

# The simulator's base URL from its --json summary line (empty until it listens).
sim_url() {
    sed -n 's/.*"authority":"\(http:\/\/127\.0\.0\.1:[0-9]*\)".*/\1/p' /tmp/sim.out | head -n 1
}
sim_ready() {
    [ -n "$(sim_url)" ]
}
# The value of the first string field NAME in JSON (a file, or stdin with "-"); empty
# when absent or null.
json_str() {
    if [ "$1" = - ]; then tr -d ' \n'; else flat "$1"; fi \
        | grep -o "\"$2\":\"[^\"]*\"" | head -n 1 | sed -e 's/^"[^"]*":"//' -e 's/"$//'
}
# The simulator's method object (flat, without braces) whose id is $1.
sim_method() {
    flat /tmp/sim-fido2.json | tr '{}' '\n\n' | grep -F "\"id\":\"$1\","
}
# base64url (Entra's credential ids) -> standard padded base64 (what fido2-token prints).
b64url_to_b64() {
    s=$(printf '%s' "$1" | tr '_-' '/+')
    case $((${#s} % 4)) in
        2) s="$s==" ;;
        3) s="$s=" ;;
    esac
    printf '%s' "$s"
}
# A copy of enroll's JSON without the PIN, for failure detail on the console.
redacted() {
    sed -e 's/"pin": *"[^"]*"/"pin": "(redacted)"/' "$1" >"$1.redacted"
    echo "$1.redacted"
}
# fido2-token ARGS... with the enrolled key's PIN ($EPIN) on stdin; its prompt (without
# a newline, since stdin is not a terminal) is removed from the start of the output.
fido2_with_pin() {
    printf '%s\n' "$EPIN" | fido2-token "$@" 2>&1 | sed -e 's/^Enter PIN for [^:]*: //'
}
# keystation with the enrollment desk's configuration, state and client secret (in the
# environment variable the configuration names). `timeout` bounds a hang well inside
# the guest's timeout, so that the remaining checks still report.
ks_enroll_env() {
    KS_VM_SIM_SECRET=$SIM_SECRET timeout 90 \
        keystation --config "$ENROLL_DIR/keystation.toml" --state-dir "$ENROLL_DIR/state" "$@"
}

enroll_checks() {
    t_enroll=$(uptime_ms)
    mkdir -p "$ENROLL_DIR/state"
    # The simulator listens on 127.0.0.1: the guest needs its loopback interface up.
    ip link set lo up 2>/tmp/lo.err || ifconfig lo 127.0.0.1 up 2>>/tmp/lo.err
    # The built-in tenant, except that its certificate app (unused here) gets a secret
    # instead of an RSA key pair generated at start-up: under TCG that generation takes
    # 1.5-5 s, the rest of the start-up 0.5 s.
    keystation simulator --print-default-tenant 2>/tmp/sim.err \
        | sed -e 's/^generate_test_certificate = true$/secrets = ["vm-tier-unused"]/' >"$ENROLL_DIR/tenant.toml"
    # Port 0: the simulator picks one and prints it; its --json line means it is listening.
    keystation --json simulator --port 0 --tenant "$ENROLL_DIR/tenant.toml" >/tmp/sim.out 2>>/tmp/sim.err &
    SIM=$!
    # A fresh key (no PIN, no credential), started while the simulator comes up.
    keystation --json virtual-key --uhid --serial KS-VM-ENROLL >/tmp/vke.out 2>/tmp/vke.err &
    VKE=$!

    DEVE=
    SIM_URL=
    if wait_for 30 announced /tmp/vke.out; then
        DEVE=$(hidraw_of /tmp/vke.out)
    fi
    if wait_for 60 sim_ready; then
        SIM_URL=$(sim_url)
    fi
    echo "  simulator on ${SIM_URL:-(none)}, enrollment key on ${DEVE:-(none)} after $(($(uptime_ms) - t_enroll)) ms"

    cat >"$ENROLL_DIR/keystation.toml" <<EOF
[tenant]
id = "$SIM_TENANT"
client_id = "$SIM_APP"
authority_host = "$SIM_URL"
graph_host = "$SIM_URL"
registration = "graph"
[tenant.sign_in]
method = "client-secret"
secret_env = "KS_VM_SIM_SECRET"
EOF

    # The hidapi backend on the uhid node (no --virtual); the PIN slip goes into the JSON
    # because nobody reads a terminal here.
    t0=$(uptime_ms)
    rc=none
    if [ -n "$DEVE" ] && [ -n "$SIM_URL" ]; then
        ks_enroll_env --json enroll --user "$ENROLL_USER" --key "$DEVE" --wait 30 --show-pin-in-json \
            </dev/null >/tmp/enroll.json 2>/tmp/enroll.err
        rc=$?
        echo "  keystation enroll took $(($(uptime_ms) - t0)) ms (exit $rc)"
    else
        : >/tmp/enroll.json
    fi
    METHOD_ID=$(json_str /tmp/enroll.json method_id)
    EPIN=$(json_str /tmp/enroll.json pin)
    if [ "$rc" = 0 ] \
        && flat /tmp/enroll.json | grep -q '"state":"done"' \
        && flat /tmp/enroll.json | grep -q "\"key\":{\"path\":\"$DEVE\",\"aaguid\":\"$AAGUID_DASHED\"" \
        && flat /tmp/enroll.json | grep -q '"registration_path":"graph"' \
        && [ -n "$METHOD_ID" ] && [ -n "$EPIN" ]; then
        pass enroll-graph
    else
        fail enroll-graph "keystation enroll on ${DEVE:-(no key)} against ${SIM_URL:-(no simulator)} exited $rc, not done with a method id" \
            "$(redacted /tmp/enroll.json)" /tmp/enroll.err /tmp/sim.err /tmp/vke.err /tmp/lo.err
    fi

    # Entra's side, read from the simulator's own store (docs/simulator.md §6), not through
    # keystation: exactly one FIDO2 method for the user, the one enroll returned, made by
    # the Graph provisioning API from this key model.
    CRED_ID=
    if [ -n "$SIM_URL" ] && wget -q -O /tmp/sim-fido2.json "$SIM_URL/_sim/users/$ENROLL_USER/fido2" 2>/tmp/sim-fido2.err; then
        CRED_ID=$(sim_method "$METHOD_ID" | json_str - credentialId)
    fi
    if [ -n "$METHOD_ID" ] && [ -s /tmp/sim-fido2.json ] \
        && [ "$(flat /tmp/sim-fido2.json | grep -o '"@odata.type"' | wc -l)" = 1 ] \
        && sim_method "$METHOD_ID" | grep -q "\"aaGuid\":\"$AAGUID_DASHED\"" \
        && sim_method "$METHOD_ID" | grep -q '"registeredVia":"graph"' \
        && [ -n "$CRED_ID" ]; then
        pass enroll-in-graph
    else
        fail enroll-in-graph "the simulator does not list exactly one graph-registered fido2 method ${METHOD_ID:-(no id from enroll)} for $ENROLL_USER" \
            /tmp/sim-fido2.json /tmp/sim-fido2.err
    fi

    # The key's side, read by libfido2 with the PIN from the slip: the key holds exactly one
    # discoverable credential, for login.microsoft.com, and it is the one Entra registered.
    # Lines are "NN: <rp id hash> <rp id>" and "NN: <credential id> <user name> ...".
    if [ -n "$EPIN" ] && [ -n "$CRED_ID" ] \
        && fido2_with_pin -L -r "$DEVE" >/tmp/frp.out \
        && [ "$(grep -c '^[0-9][0-9]: ' /tmp/frp.out)" = 1 ] \
        && grep -q "^00: [^ ]* $RP_ID\$" /tmp/frp.out \
        && fido2_with_pin -L -k "$RP_ID" "$DEVE" >/tmp/frk.out \
        && [ "$(grep -c '^[0-9][0-9]: ' /tmp/frk.out)" = 1 ] \
        && grep -qF "00: $(b64url_to_b64 "$CRED_ID") " /tmp/frk.out; then
        pass enroll-libfido2-sees-credential
    else
        fail enroll-libfido2-sees-credential "fido2-token does not list exactly the credential ${CRED_ID:-(unknown)} for $RP_ID on ${DEVE:-(no key)}" \
            /tmp/frp.out /tmp/frk.out
    fi

    # The station's journal: its only job is this enroll job, done, on this hidraw node,
    # with Entra's method id (so nothing is left unfinished either).
    if ks_enroll_env report --json >/tmp/report.json 2>/tmp/report.err \
        && [ "$(flat /tmp/report.json | grep -o '"job":' | wc -l)" = 1 ] \
        && flat /tmp/report.json | grep -q '"mode":"enroll"' \
        && flat /tmp/report.json | grep -q "\"user_upn\":\"$ENROLL_USER\"" \
        && flat /tmp/report.json | grep -q "\"key_path\":\"$DEVE\"" \
        && flat /tmp/report.json | grep -q "\"entra_method_id\":\"$METHOD_ID\"" \
        && flat /tmp/report.json | grep -q '"state":"done"' \
        && [ -n "$METHOD_ID" ]; then
        pass enroll-journal
    else
        fail enroll-journal "keystation report does not show one done enroll job for $ENROLL_USER on ${DEVE:-(no key)} with ${METHOD_ID:-(no method id)}" \
            /tmp/report.json /tmp/report.err
    fi

    kill -TERM "$VKE" "$SIM" 2>/dev/null
    wait_for 10 process_gone "$VKE"
    wait_for 10 process_gone "$SIM"
    echo "  enrollment checks took $(($(uptime_ms) - t_enroll)) ms"
}
