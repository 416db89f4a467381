//! authenticatorCredentialManagement (0x0A, or 0x41 on FIDO_2_1_PRE keys).
use super::cbor::{MapView, bytes, decode, int, int_map, to_canonical_vec};
use super::command::Request;
use super::make_credential::credential_descriptor;
use super::types::{CredentialsMetadata, UserEntity};
use crate::key::KeyError;
use ciborium::Value;

/// credentialManagement sub-commands.
pub mod sub {
    #![allow(missing_docs)] // the spec names say it all
    pub const GET_CREDS_METADATA: u8 = 0x01;
    pub const ENUMERATE_RPS_BEGIN: u8 = 0x02;
    pub const ENUMERATE_RPS_NEXT: u8 = 0x03;
    pub const ENUMERATE_CREDENTIALS_BEGIN: u8 = 0x04;
    pub const ENUMERATE_CREDENTIALS_NEXT: u8 = 0x05;
    pub const DELETE_CREDENTIAL: u8 = 0x06;
}

/// subCommandParams for enumerateCredentialsBegin.
pub fn rp_params(rp_id_hash: &[u8]) -> Value {
    int_map(vec![(0x01, Some(bytes(rp_id_hash)))])
}

/// subCommandParams for deleteCredential.
pub fn delete_params(credential_id: &[u8]) -> Value {
    int_map(vec![(0x02, Some(credential_descriptor(credential_id)))])
}

/// What pinUvAuthParam authenticates: subCommand ‖ subCommandParams.
pub fn auth_message(sub_command: u8, params: Option<&Value>) -> Vec<u8> {
    let mut m = vec![sub_command];
    if let Some(p) = params {
        m.extend_from_slice(&to_canonical_vec(p));
    }
    m
}

/// Build a request under `command` (0x0A or 0x41).
pub fn request(command: u8, sub_command: u8, params: Option<Value>, auth: Option<(Vec<u8>, u8)>) -> Request {
    let (param, protocol) = match auth {
        Some((param, protocol)) => (Some(bytes(&param)), Some(int(i64::from(protocol)))),
        None => (None, None),
    };
    Request::with(command, int_map(vec![(0x01, Some(int(i64::from(sub_command)))), (0x02, params), (0x03, protocol), (0x04, param)]))
}

/// One RP from enumerateRPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntry {
    /// rp.id (may be absent on some keys).
    pub id: Option<String>,
    /// SHA-256 of the RP id.
    pub id_hash: Vec<u8>,
    /// totalRPs, present on the Begin reply.
    pub total: Option<u32>,
}

/// One credential from enumerateCredentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEntry {
    /// The user the credential belongs to.
    pub user: UserEntity,
    /// Credential id.
    pub credential_id: Vec<u8>,
    /// credProtect level.
    pub cred_protect: Option<u8>,
    /// totalCredentials, present on the Begin reply.
    pub total: Option<u32>,
}

fn body_map(body: &[u8]) -> Result<Value, KeyError> {
    if body.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    decode(body)
}

/// Decode getCredsMetadata.
pub fn decode_metadata(body: &[u8]) -> Result<CredentialsMetadata, KeyError> {
    let v = body_map(body)?;
    let m = MapView::new(&v, "credentialManagement metadata")?;
    Ok(CredentialsMetadata {
        existing: m.opt_u32(0x01)?.ok_or_else(|| KeyError::Protocol("credMgmt: existingResidentCredentialsCount missing".into()))?,
        remaining: m.opt_u32(0x02)?.ok_or_else(|| KeyError::Protocol("credMgmt: maxPossibleRemainingResidentCredentialsCount missing".into()))?,
    })
}

/// Decode an enumerateRPs reply.
pub fn decode_rp(body: &[u8]) -> Result<RpEntry, KeyError> {
    let v = body_map(body)?;
    let m = MapView::new(&v, "credentialManagement RP")?;
    let id = match m.get(0x03) {
        Some(rp) => MapView::new(rp, "credentialManagement RP")?.get_text("id").and_then(|v| v.as_text()).map(str::to_string),
        None => None,
    };
    let id_hash = m.opt_bytes(0x04)?.ok_or_else(|| KeyError::Protocol("credMgmt: rpIDHash missing".into()))?.to_vec();
    Ok(RpEntry { id, id_hash, total: m.opt_u32(0x05)? })
}

/// Decode an enumerateCredentials reply.
pub fn decode_credential(body: &[u8]) -> Result<CredentialEntry, KeyError> {
    let v = body_map(body)?;
    let m = MapView::new(&v, "credentialManagement credential")?;
    let u = MapView::new(m.required(0x06)?, "credentialManagement user")?;
    let text_of = |k: &str| u.get_text(k).and_then(|v| v.as_text()).map(str::to_string);
    let user = UserEntity {
        id: u.get_text("id").and_then(|v| v.as_bytes()).cloned().ok_or_else(|| KeyError::Protocol("credMgmt: user.id missing".into()))?,
        name: text_of("name"),
        display_name: text_of("displayName"),
    };
    let cred = MapView::new(m.required(0x07)?, "credentialManagement credentialID")?;
    let credential_id = cred.get_text("id").and_then(|v| v.as_bytes()).cloned().ok_or_else(|| KeyError::Protocol("credMgmt: credentialID.id missing".into()))?;
    let cred_protect = m.opt_u64(0x0A)?.map(|n| u8::try_from(n).unwrap_or(u8::MAX));
    Ok(CredentialEntry { user, credential_id, cred_protect, total: m.opt_u32(0x09)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ctap2::cbor::text;

    #[test]
    fn delete_auth_message_is_subcommand_then_params() {
        let p = delete_params(&[1, 2]);
        let m = auth_message(sub::DELETE_CREDENTIAL, Some(&p));
        assert_eq!(m[0], 0x06);
        // {2: {"id": h'0102', "type": "public-key"}}
        assert_eq!(&m[1..5], &[0xa1, 0x02, 0xa2, 0x62]);
    }

    #[test]
    fn credential_reply_is_decoded() {
        let body = to_canonical_vec(&Value::Map(vec![
            (int(6), Value::Map(vec![(text("id"), bytes(&[7])), (text("name"), text("u"))])),
            (int(7), credential_descriptor(&[1, 2, 3])),
            (int(9), int(2)),
            (int(10), int(3)),
        ]));
        let c = decode_credential(&body).unwrap();
        assert_eq!(c.user.id, vec![7]);
        assert_eq!(c.user.name.as_deref(), Some("u"));
        assert_eq!(c.credential_id, vec![1, 2, 3]);
        assert_eq!(c.total, Some(2));
        assert_eq!(c.cred_protect, Some(3));
    }
}
