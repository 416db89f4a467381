//! The seam between the WebAuthn client and a security key: [`CredentialMaker`].
//!
//! The browser bridge and the direct-Graph ceremony only need two things from a key:
//! its getInfo and a cancellable makeCredential (run with the station's PIN, which the
//! implementation holds). Keeping that behind a trait lets the WebAuthn logic be tested
//! without hardware and keeps the key layer's worker API out of the ceremony code.
use crate::key::KeyError;
use crate::key::ctap2::types::{AuthenticatorInfo, MakeCredentialRequest, MakeCredentialResponse};
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that can make a credential: a real key (through the key layer's
/// `KeyHandle`, with the station's PIN) or a test double.
pub trait CredentialMaker: Send + Sync {
    /// authenticatorGetInfo (implementations may cache it).
    fn info(&self) -> BoxFuture<'_, Result<AuthenticatorInfo, KeyError>>;

    /// authenticatorMakeCredential. When `cancel` fires, the implementation must stop
    /// the key (CTAPHID_CANCEL) and return [`KeyError::Cancelled`] promptly.
    fn make_credential(
        &self,
        request: MakeCredentialRequest,
        cancel: CancelToken,
    ) -> BoxFuture<'_, Result<MakeCredentialResponse, KeyError>>;
}

pub use crate::CancelToken;
