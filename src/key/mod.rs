//! The key layer: everything that talks to a FIDO2 authenticator.
//!
//! ```text
//!  KeyHandle (async, one worker thread per key)            worker.rs
//!    └─ Device: CTAP2 commands, PIN/UV auth protocols     device.rs, ctap2/, pin_protocol.rs
//!         └─ CtapHid: channels, framing, keepalive, cancel ctaphid.rs
//!              └─ dyn ReportIo: one 64-byte report at a time (the seam)  report.rs
//!                   ├─ HidReports (hidapi, real keys)      hid.rs
//!                   └─ VirtualKey (OpenSK core, tests/demo) virtual_key/
//!  sources.rs: enumerate/open keys across backends; watcher.rs: arrived/left events
//! ```
//! Nothing in here knows about Entra or WebAuthn servers.
pub mod report;
pub mod descriptor;
pub mod error;
pub mod ctap2;
pub mod ctaphid;
pub mod pin_protocol;
pub mod device;
pub mod worker;
pub mod hid;
pub mod virtual_key;
pub mod sources;
pub mod watcher;
#[cfg(target_os = "linux")]
pub mod uhid;

pub use descriptor::{Backend, KeyDescriptor};
pub use error::KeyError;
pub use report::{IoError, Report, ReportIo, REPORT_LEN};
