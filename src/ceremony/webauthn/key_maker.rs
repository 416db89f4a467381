//! [`CredentialMaker`] for a real (or virtual) key opened by the key layer.
use super::maker::{BoxFuture, CancelToken, CredentialMaker};
use crate::key::KeyError;
use crate::key::ctap2::types::{AuthenticatorInfo, MakeCredentialRequest, MakeCredentialResponse};
use crate::key::worker::KeyHandle;
use crate::secret::SecretString;
use std::sync::Arc;

/// Makes credentials on one key with the station's PIN.
///
/// Cancelling the ceremony cancels the key operation through the handle (the worker
/// sends CTAPHID_CANCEL and the call ends with [`KeyError::Cancelled`]).
pub struct KeyCredentialMaker {
    handle: Arc<KeyHandle>,
    pin: Option<SecretString>,
}

impl KeyCredentialMaker {
    /// `pin`: the PIN the station set on the key (`None` for a key without one).
    pub fn new(handle: Arc<KeyHandle>, pin: Option<SecretString>) -> KeyCredentialMaker {
        KeyCredentialMaker { handle, pin }
    }

    /// The key handle.
    pub fn handle(&self) -> &Arc<KeyHandle> {
        &self.handle
    }
}

impl std::fmt::Debug for KeyCredentialMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCredentialMaker").field("handle", &self.handle).field("pin", &self.pin).finish()
    }
}

impl CredentialMaker for KeyCredentialMaker {
    fn info(&self) -> BoxFuture<'_, Result<AuthenticatorInfo, KeyError>> {
        // Fresh, not cached: remaining discoverable slots and the PIN state matter.
        Box::pin(self.handle.get_info())
    }

    fn make_credential(
        &self,
        request: MakeCredentialRequest,
        cancel: CancelToken,
    ) -> BoxFuture<'_, Result<MakeCredentialResponse, KeyError>> {
        Box::pin(async move {
            let op = self.handle.make_credential(request, self.pin.as_ref());
            tokio::pin!(op);
            tokio::select! {
                r = &mut op => r,
                _ = cancel.cancelled() => {
                    self.handle.cancel();
                    // The worker answers Cancelled within ~100 ms; waiting for it keeps
                    // the key idle before anything else is sent to it.
                    op.await
                }
            }
        })
    }
}
