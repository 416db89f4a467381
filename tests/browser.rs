//! Browser ceremony tests: a real Chromium (Debian `chromium` + `chromium-driver`)
//! driven over WebDriver BiDi, keystation's bridge answering WebAuthn.
//!
//! Without the binaries these tests print a loud SKIPPED message and pass, unless
//! `KEYSTATION_REQUIRE_BROWSER` is set (CI sets it), in which case they fail.
#[path = "shared/browser_gate.rs"]
mod browser_gate;

mod browser {
    pub mod site;
    pub mod soft_key;
    pub mod support;
    pub mod verify;

    mod ceremony;
    mod key_events;
    mod lifecycle;
    mod refusals;
    mod virtual_key;
}
