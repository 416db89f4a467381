//! The browser registration path end to end: `BrowserRegistrar` walks the Entra
//! simulator's sign-in and Security-info pages in a real headless Chromium (Debian
//! `chromium` + `chromium-driver`), keystation answers WebAuthn with an OpenSK virtual
//! key, the simulator verifies the attestation, Graph shows the method.
//!
//! Without the binaries these tests print a loud SKIPPED message and pass, unless
//! `KEYSTATION_REQUIRE_BROWSER` is set (CI sets it), in which case they fail.
#[path = "shared/browser_gate.rs"]
mod browser_gate;

#[path = "shared/keystation_cli.rs"]
mod keystation_cli;

mod browser_flow {
    pub mod support;

    mod automatic;
    mod cli;
    mod key_events;
    mod manual;
    mod production;
    mod refusals;
    mod variants;
}
