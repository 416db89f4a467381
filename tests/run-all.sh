#!/usr/bin/env bash
# Runs every keystation test tier: unit, key client vs virtual keys, Graph client vs the
# Entra simulator, the journal on SQLite and PostgreSQL, station end to end, browser ceremony (headless Chromium), the
# web console's pages (headless Chromium) and the real-kernel HID tier (qemu guest). Installs the Debian packages a tier needs when they
# are missing, so it works on a fresh Debian machine with only the Rust toolchain and gcc.
#
# Usage: tests/run-all.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- system packages the browser, console and VM tiers need -------------------------
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have qemu-system-x86_64 || missing+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
have cpio || missing+=(cpio)
have fido2-token || missing+=(fido2-tools)
# The journal tier starts a throw-away PostgreSQL cluster (initdb in a temp dir).
have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# keystation's HTTPS client loads the system trust store (the VM tier copies it into the guest).
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# The package test (tests/cli/package.rs) builds a .deb and installs it into a throw-away root.
have dpkg-deb || missing+=(dpkg)
have strip || missing+=(binutils)
have systemd-sysusers || missing+=(systemd)
have lintian || missing+=(lintian)
# `deeplink register` hands the keystation: scheme to the desktop through xdg-mime (tests/cli).
have xdg-mime || missing+=(xdg-utils)

if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages for the browser, VM and journal tiers: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo; then SUDO="sudo"; else
            echo "error: need root (or sudo) to install: ${missing[*]}" >&2
            echo "       install them yourself, then run this script again" >&2
            exit 2
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser, console and VM tiers skip themselves when their tools are absent, unless
# told that they are required. Here they are: a missing tool is a failure, not a skip.
export KEYSTATION_REQUIRE_BROWSER=1
export KEYSTATION_REQUIRE_VM=1
export KEYSTATION_REQUIRE_POSTGRES=1
export KEYSTATION_REQUIRE_PACKAGE=1

log "building and running all tests"
cargo test --locked "$@"
log "all test tiers passed"
