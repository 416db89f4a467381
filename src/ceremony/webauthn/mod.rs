//! The WebAuthn client role, as Chromium plays it, for keystation.
//!
//! When keystation answers `navigator.credentials.create()` itself (browser bridge) or
//! registers a key straight through Graph, it *is* the browser as far as the relying
//! party can tell. This module therefore copies Chromium's client behaviour where it
//! is observable: option validation and defaults, origin and rp.id rules,
//! clientDataJSON byte layout, attestationObject layout, `getPublicKey()` SPKI,
//! transports, client extension outputs and DOMException names/messages. Every
//! deliberate difference is documented where it is made and in
//! `docs/browser-ceremony.md`.
//!
//! ```text
//!  options JSON ─▶ options.rs ─▶ request.rs (Chromium rules, CTAP request)
//!  origin ──────▶ origin.rs, rp_id.rs (allow-list)          │
//!                 client_data.rs (clientDataJSON, hash) ────┤
//!                                              maker.rs: CredentialMaker (the key)
//!  CreatedCredential ◀─ attestation.rs, cose.rs, extensions.rs, credential.rs
//! ```
//! `client.rs` runs the steps in order with timeout and abort.
#![warn(missing_docs)]
pub mod attestation;
pub mod b64;
pub mod client;
pub mod client_data;
pub mod cose;
pub mod credential;
pub mod error;
pub mod extensions;
pub mod key_maker;
pub mod maker;
pub mod options;
pub mod origin;
pub mod request;
pub mod rp_id;

pub use client::{FrameContext, WebAuthnClient};
pub use client_data::TemplateGrease;
pub use credential::CreatedCredential;
pub use error::{DomException, WebAuthnError};
pub use key_maker::KeyCredentialMaker;
pub use maker::{BoxFuture, CancelToken, CredentialMaker};
pub use origin::Origin;
pub use rp_id::{ENTRA_RP_ID, RpIdPolicy};
