//! Ceremonies combine the key layer and the Entra layer: they act as the WebAuthn
//! client (clientDataJSON, attestationObject, extension outputs) and register a key's
//! new credential with Entra, either straight through Graph or through Microsoft's
//! own pages in a real browser.
pub mod webauthn;
pub mod browser;
pub mod registrar;
pub mod graph_direct;

pub use registrar::{CeremonyError, PendingRegistration, Registered, Registrar, RegistrationObserver, RegistrationPath, RegistrationRequest};
