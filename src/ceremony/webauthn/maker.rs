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
use std::sync::Arc;
use tokio::sync::watch;

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

/// A one-shot cancellation flag that async code can wait on. Clones share the flag.
#[derive(Debug, Clone)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl CancelToken {
    /// A token that has not fired.
    pub fn new() -> CancelToken {
        CancelToken { tx: Arc::new(watch::Sender::new(false)) }
    }

    /// Fire the token (idempotent).
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Has it fired?
    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolve once the token has fired (at once if it already has).
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail here.
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn cancelled_wakes_waiters_and_is_sticky() {
        let t = CancelToken::new();
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move { t.cancelled().await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!t.is_cancelled());
        t.cancel();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(t.is_cancelled());
        tokio::time::timeout(Duration::from_secs(5), t.cancelled()).await.unwrap();
    }
}
