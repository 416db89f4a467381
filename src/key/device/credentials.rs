//! Credential management: metadata, listing and deleting discoverable credentials.
use super::Device;
use crate::key::KeyError;
use crate::key::ctap2::command::{CREDENTIAL_MANAGEMENT, CREDENTIAL_MANAGEMENT_PREVIEW};
use crate::key::ctap2::cred_mgmt::{self, auth_message, decode_credential, decode_metadata, decode_rp, delete_params, request, rp_params, sub};
use crate::key::ctap2::{AuthenticatorInfo, CredentialsMetadata, Permissions, StoredCredential};
use crate::key::ctaphid::Op;
use crate::key::error::StatusContext;
use crate::key::pin_protocol::PinToken;
use crate::secret::SecretString;
use ciborium::Value;

const CONTEXT: StatusContext = StatusContext::Optional("credential management");

/// 0x0A on CTAP 2.1 keys, 0x41 on keys that only have the 2.1 preview.
fn cred_mgmt_command(i: &AuthenticatorInfo) -> Result<u8, KeyError> {
    if i.supports_version("FIDO_2_1") || i.option("credMgmt") == Some(true) {
        Ok(CREDENTIAL_MANAGEMENT)
    } else if i.supports_version("FIDO_2_1_PRE") || i.option("credentialMgmtPreview") == Some(true) {
        Ok(CREDENTIAL_MANAGEMENT_PREVIEW)
    } else {
        Err(KeyError::Unsupported("credential management (listing or deleting credentials)".into()))
    }
}

impl Device {
    fn cm_token(&mut self, pin: &SecretString, op: &Op<'_>) -> Result<(u8, PinToken), KeyError> {
        let command = cred_mgmt_command(&self.info)?;
        let token = self.pin_token(pin, Permissions::CREDENTIAL_MANAGEMENT, None, op)?;
        Ok((command, token))
    }

    fn cm_call(&mut self, command: u8, sub_command: u8, params: Option<Value>, token: Option<&PinToken>, op: &Op<'_>) -> Result<Vec<u8>, KeyError> {
        let auth = token.map(|t| (t.authenticate(&auth_message(sub_command, params.as_ref())), t.protocol().number()));
        self.call(&request(command, sub_command, params, auth), CONTEXT, op)
    }

    /// getCredsMetadata: discoverable credentials stored and room left.
    pub fn credentials_metadata(&mut self, pin: &SecretString, op: &Op<'_>) -> Result<CredentialsMetadata, KeyError> {
        let (command, token) = self.cm_token(pin, op)?;
        decode_metadata(&self.cm_call(command, sub::GET_CREDS_METADATA, None, Some(&token), op)?)
    }

    /// Every discoverable credential, RP by RP.
    pub fn list_credentials(&mut self, pin: &SecretString, op: &Op<'_>) -> Result<Vec<StoredCredential>, KeyError> {
        let (command, token) = self.cm_token(pin, op)?;
        let first = match self.cm_call(command, sub::ENUMERATE_RPS_BEGIN, None, Some(&token), op) {
            Ok(body) => decode_rp(&body)?,
            Err(KeyError::NoCredentials) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let total = first.total.unwrap_or(1);
        let mut rps = vec![first];
        for _ in 1..total {
            rps.push(decode_rp(&self.cm_call(command, sub::ENUMERATE_RPS_NEXT, None, None, op)?)?);
        }
        let mut out = Vec::new();
        for rp in rps {
            let first = match self.cm_call(command, sub::ENUMERATE_CREDENTIALS_BEGIN, Some(rp_params(&rp.id_hash)), Some(&token), op) {
                Ok(body) => decode_credential(&body)?,
                Err(KeyError::NoCredentials) => continue,
                Err(e) => return Err(e),
            };
            let total = first.total.unwrap_or(1);
            let mut creds = vec![first];
            for _ in 1..total {
                creds.push(decode_credential(&self.cm_call(command, sub::ENUMERATE_CREDENTIALS_NEXT, None, None, op)?)?);
            }
            out.extend(creds.into_iter().map(|c: cred_mgmt::CredentialEntry| StoredCredential {
                rp_id: rp.id.clone(),
                rp_id_hash: rp.id_hash.clone(),
                user: c.user,
                credential_id: c.credential_id,
                cred_protect: c.cred_protect,
            }));
        }
        Ok(out)
    }

    /// deleteCredential. An unknown id is [`KeyError::NoCredentials`].
    pub fn delete_credential(&mut self, pin: &SecretString, credential_id: &[u8], op: &Op<'_>) -> Result<(), KeyError> {
        let (command, token) = self.cm_token(pin, op)?;
        self.cm_call(command, sub::DELETE_CREDENTIAL, Some(delete_params(credential_id)), Some(&token), op)?;
        self.get_info(op)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(versions: &[&str], options: &[(&str, bool)]) -> AuthenticatorInfo {
        AuthenticatorInfo {
            versions: versions.iter().map(|v| v.to_string()).collect(),
            options: options.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_command_follows_the_keys_version() {
        assert_eq!(cred_mgmt_command(&info(&["FIDO_2_0", "FIDO_2_1"], &[])), Ok(0x0A));
        assert_eq!(cred_mgmt_command(&info(&["FIDO_2_0"], &[("credMgmt", true)])), Ok(0x0A));
        assert_eq!(cred_mgmt_command(&info(&["FIDO_2_0", "FIDO_2_1_PRE"], &[])), Ok(0x41));
        assert_eq!(cred_mgmt_command(&info(&["FIDO_2_0"], &[("credentialMgmtPreview", true)])), Ok(0x41));
        assert!(matches!(cred_mgmt_command(&info(&["FIDO_2_0"], &[])), Err(KeyError::Unsupported(_))));
    }
}
