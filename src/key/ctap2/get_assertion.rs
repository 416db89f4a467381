//! authenticatorGetAssertion (0x02), used only as the silent "pre-flight" that tells
//! whether a key holds any credential from an excludeList batch (options up=false).
use super::cbor::{MapView, bytes, decode, int, int_map, text};
use super::command::{GET_ASSERTION, Request};
use super::make_credential::credential_descriptor;
use crate::key::KeyError;
use ciborium::Value;

/// A silent probe for `allow` under `rp_id`, optionally with pinUvAuthParam.
pub fn preflight(rp_id: &str, client_data_hash: &[u8; 32], allow: &[Vec<u8>], auth: Option<(Vec<u8>, u8)>) -> Request {
    let (param, protocol) = match auth {
        Some((param, protocol)) => (Some(bytes(&param)), Some(int(i64::from(protocol)))),
        None => (None, None),
    };
    Request::with(
        GET_ASSERTION,
        int_map(vec![
            (0x01, Some(text(rp_id))),
            (0x02, Some(bytes(client_data_hash))),
            (0x03, Some(Value::Array(allow.iter().map(|id| credential_descriptor(id)).collect()))),
            (0x05, Some(Value::Map(vec![(text("up"), Value::Bool(false))]))),
            (0x06, param),
            (0x07, protocol),
        ]),
    )
}

/// The credential id a pre-flight found. Keys may leave out the credential when the
/// allowList had exactly one entry; then it is that entry.
pub fn found_credential(body: &[u8], allow: &[Vec<u8>]) -> Result<Vec<u8>, KeyError> {
    let v = decode(body)?;
    let m = MapView::new(&v, "getAssertion")?;
    match m.get(0x01) {
        Some(c) => MapView::new(c, "getAssertion credential")?
            .get_text("id")
            .and_then(|v| v.as_bytes())
            .cloned()
            .ok_or_else(|| KeyError::Protocol("getAssertion: credential.id missing".into())),
        None if allow.len() == 1 => Ok(allow[0].clone()),
        None => Err(KeyError::Protocol("getAssertion: credential (0x01) missing".into())),
    }
}
