//! Hooks the bridge calls around the key operation, and per-context bridge options.
//!
//! The station's journal must hold an intent on disk *before* a credential is made on
//! the key and *before* it is handed to Entra (here: to the page, which posts it). The
//! bridge runs in its own task, so it cannot call the pipeline's observer directly; it
//! calls a [`CeremonyGate`] instead, and the browser registrar forwards those calls to
//! the observer of the running registration. A gate that answers `Err` stops the
//! ceremony at that point: the page's promise rejects with `NotAllowedError` and the
//! bridge reports [`super::BridgeEvent::GateRefused`].
use crate::ceremony::webauthn::{BoxFuture, CreatedCredential};
use std::sync::Arc;

/// Called by the bridge before the key is touched and before the credential is given
/// to the page.
pub trait CeremonyGate: Send + Sync {
    /// The page's request passed every check that needs no key; makeCredential (and the
    /// getInfo before it) is about to run. `Err` stops before the key is touched.
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>>;

    /// The key made `credential`; the page is about to receive it (and submit it to
    /// the relying party). `Err` stops before the page sees it.
    fn before_submit<'a>(&'a self, credential: &'a CreatedCredential) -> BoxFuture<'a, Result<(), String>>;
}

/// How one enrolment context's bridge behaves beyond the WebAuthn client's settings.
#[derive(Clone, Default)]
pub struct ContextOptions {
    /// Journal hooks; `None` runs ceremonies without asking anyone.
    pub gate: Option<Arc<dyn CeremonyGate>>,
    /// Serve cross-origin frames (`crossOrigin: true`, `topOrigin` in clientDataJSON)
    /// when, and only when, the top-level document has one of these origins (exact
    /// serialisations such as `https://mysignins.microsoft.com`). Empty: cross-origin
    /// frames are refused, as by default.
    pub cross_origin_frames_under: Vec<String>,
}

impl std::fmt::Debug for ContextOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextOptions")
            .field("gate", &self.gate.is_some())
            .field("cross_origin_frames_under", &self.cross_origin_frames_under)
            .finish()
    }
}
