//! makeCredential with PIN token, extension checks and excludeList batching.
use super::Device;
use crate::key::KeyError;
use crate::key::ctap2::get_assertion::{found_credential, preflight};
use crate::key::ctap2::make_credential::{Verification, decode_reply, encode};
use crate::key::ctap2::{MakeCredentialRequest, MakeCredentialResponse, Permissions};
use crate::key::ctaphid::Op;
use crate::key::error::StatusContext;
use crate::key::pin_protocol::PinToken;
use crate::secret::SecretString;

impl Device {
    /// authenticatorMakeCredential. With a PIN, a fresh token with the mc permission for
    /// the RP is used (user verification). The key waits for a touch; the operation's
    /// touch prompt fires when it starts waiting.
    ///
    /// An excludeList longer than the key's `maxCredentialCountInList` is probed in
    /// batches with silent getAssertion calls (up=false), as CTAP 2.1 platforms do; a hit
    /// is then sent as the only excludeList entry, so the key itself refuses (after a
    /// touch) with CREDENTIAL_EXCLUDED.
    pub fn make_credential(&mut self, req: &MakeCredentialRequest, pin: Option<&SecretString>, op: &Op<'_>) -> Result<MakeCredentialResponse, KeyError> {
        self.check_request(req)?;
        // Ids longer than the key's maximum cannot be this key's credentials.
        let exclude: Vec<Vec<u8>> = match self.info.max_credential_id_length {
            Some(max) => req.exclude_list.iter().filter(|id| id.len() <= max as usize).cloned().collect(),
            None => req.exclude_list.clone(),
        };
        let batch = self.info.max_credential_count_in_list.map(|n| n.max(1) as usize);
        let needs_preflight = batch.is_some_and(|b| exclude.len() > b);

        let token = match pin {
            Some(pin) => {
                let permissions = if needs_preflight { Permissions::MAKE_CREDENTIAL.union(Permissions::GET_ASSERTION) } else { Permissions::MAKE_CREDENTIAL };
                Some(self.pin_token(pin, permissions, Some(&req.rp.id), op)?)
            }
            None => None,
        };
        let verification = match &token {
            Some(t) => Verification::PinToken { param: t.authenticate(&req.client_data_hash), protocol: t.protocol().number() },
            None if req.user_verification && self.info.option("uv") == Some(true) => Verification::BuiltIn,
            None if req.user_verification && self.info.pin_is_set() => return Err(KeyError::PinRequired),
            None if req.user_verification => return Err(KeyError::PinNotSet),
            None => Verification::None,
        };

        let exclude = match batch {
            Some(b) if needs_preflight => self.find_excluded(req, &exclude, b, token.as_ref(), op)?.into_iter().collect(),
            _ => exclude,
        };
        let body = self.call(&encode(req, &exclude, &verification), StatusContext::Generic, op)?;
        decode_reply(&body, &req.rp.id)
    }

    /// Refuse requests the key cannot honour, before it is asked to wait for a touch.
    fn check_request(&self, req: &MakeCredentialRequest) -> Result<(), KeyError> {
        if req.algorithms.is_empty() {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        if !self.info.algorithms.is_empty() && !req.algorithms.iter().any(|a| self.info.algorithms.contains(a)) {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        if req.cred_protect.is_some() && !self.info.supports_extension("credProtect") {
            return Err(KeyError::Unsupported("the credProtect extension".into()));
        }
        if req.cred_protect.is_some_and(|l| !(1..=3).contains(&l)) {
            return Err(KeyError::Unsupported("a credProtect level outside 1..=3".into()));
        }
        if req.hmac_secret && !self.info.supports_extension("hmac-secret") {
            return Err(KeyError::Unsupported("the hmac-secret extension".into()));
        }
        if req.resident_key && self.info.option("rk") != Some(true) {
            return Err(KeyError::Unsupported("discoverable (resident) credentials".into()));
        }
        if req.enterprise_attestation.is_some() && self.info.option("ep") != Some(true) {
            return Err(KeyError::Unsupported("enterprise attestation (it is not enabled on this key)".into()));
        }
        Ok(())
    }

    /// Probe `exclude` in batches of `batch`; the first credential the key holds, if any.
    fn find_excluded(&mut self, req: &MakeCredentialRequest, exclude: &[Vec<u8>], batch: usize, token: Option<&PinToken>, op: &Op<'_>) -> Result<Option<Vec<u8>>, KeyError> {
        for chunk in exclude.chunks(batch) {
            let auth = token.map(|t| (t.authenticate(&req.client_data_hash), t.protocol().number()));
            match self.call(&preflight(&req.rp.id, &req.client_data_hash, chunk, auth), StatusContext::Generic, op) {
                Ok(body) => return found_credential(&body, chunk).map(Some),
                Err(KeyError::NoCredentials) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}
