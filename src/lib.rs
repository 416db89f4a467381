//! keystation: turns blank FIDO2 security keys into Entra ID passkeys.
//!
//! Layering (enforced by convention, checked in review):
//! - [`key`]: everything that talks to a FIDO2 authenticator (report seam, hidapi,
//!   CTAP2 client, virtual key, watcher). Knows nothing of Entra.
//! - [`entra`]: OAuth, Microsoft Graph and the Entra simulator. Knows nothing of keys.
//! - [`ceremony`]: combines the two: WebAuthn client logic, direct-Graph and browser
//!   registration ceremonies.
//! - [`station`]: the provisioning pipeline, journal, PIN policy and the three modes.
//! - [`console`]: the web console (desk, hub, journal) on top of the station.
//! - [`cli`]: parses arguments and prints; no business logic.
//!
//! Shared by every layer: [`secret`] (the `SecretString` wrapper), [`lockfile`] (the
//! cross-process file lock) and [`CancelToken`] (cancellation).
/// The one cancellation type of every layer: tokio_util's token. Whoever may stop an
/// operation holds a clone and calls `cancel()`; a key's worker thread polls
/// `is_cancelled()` between short reads, async code awaits `cancelled()`.
pub use tokio_util::sync::CancellationToken as CancelToken;
pub mod secret;
pub mod lockfile;
pub mod text;
pub mod key;
pub mod entra;
pub mod ceremony;
pub mod station;
pub mod console;
pub mod bench;
pub mod cli;
