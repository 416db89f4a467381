//! authenticatorClientPIN (0x06) requests and replies.
use super::cbor::{MapView, as_u64, bytes, decode, int, int_map, text};
use super::command::{CLIENT_PIN, Request};
use super::types::{Permissions, PinRetries};
use crate::key::KeyError;
use ciborium::Value;

/// clientPIN sub-commands.
pub mod sub {
    #![allow(missing_docs)] // the spec names say it all
    pub const GET_PIN_RETRIES: u8 = 0x01;
    pub const GET_KEY_AGREEMENT: u8 = 0x02;
    pub const SET_PIN: u8 = 0x03;
    pub const CHANGE_PIN: u8 = 0x04;
    pub const GET_PIN_TOKEN: u8 = 0x05;
    pub const GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS: u8 = 0x06;
    pub const GET_UV_RETRIES: u8 = 0x07;
    pub const GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS: u8 = 0x09;
}

/// The fields a clientPIN request may carry; unset ones are left out of the map.
#[derive(Debug, Default, Clone)]
pub struct ClientPinParams {
    /// 0x01 pinUvAuthProtocol (always sent: CTAP 2.0 keys require it).
    pub protocol: u8,
    /// 0x02 subCommand.
    pub sub_command: u8,
    /// 0x03 keyAgreement: the platform's COSE key.
    pub key_agreement: Option<Value>,
    /// 0x04 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x05 newPinEnc.
    pub new_pin_enc: Option<Vec<u8>>,
    /// 0x06 pinHashEnc.
    pub pin_hash_enc: Option<Vec<u8>>,
    /// 0x09 permissions.
    pub permissions: Option<Permissions>,
    /// 0x0A rpId.
    pub rp_id: Option<String>,
}

impl ClientPinParams {
    /// A request carrying only protocol and sub-command.
    pub fn new(protocol: u8, sub_command: u8) -> ClientPinParams {
        ClientPinParams { protocol, sub_command, ..Default::default() }
    }

    /// The clientPIN request.
    pub fn into_request(self) -> Request {
        Request::with(
            CLIENT_PIN,
            int_map(vec![
                (0x01, Some(int(i64::from(self.protocol)))),
                (0x02, Some(int(i64::from(self.sub_command)))),
                (0x03, self.key_agreement),
                (0x04, self.pin_uv_auth_param.as_deref().map(bytes)),
                (0x05, self.new_pin_enc.as_deref().map(bytes)),
                (0x06, self.pin_hash_enc.as_deref().map(bytes)),
                (0x09, self.permissions.map(|p| int(i64::from(p.0)))),
                (0x0A, self.rp_id.as_deref().map(text)),
            ]),
        )
    }
}

/// Decoded clientPIN reply fields.
#[derive(Debug, Default)]
pub struct ClientPinReply {
    /// 0x01 keyAgreement (COSE key).
    pub key_agreement: Option<Value>,
    /// 0x02 pinUvAuthToken, encrypted.
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// 0x03 pinRetries.
    pub pin_retries: Option<u8>,
    /// 0x04 powerCycleState.
    pub power_cycle_state: Option<bool>,
    /// 0x05 uvRetries.
    pub uv_retries: Option<u8>,
}

/// Decode a clientPIN reply body (may be empty for setPIN/changePIN).
pub fn decode_reply(body: &[u8]) -> Result<ClientPinReply, KeyError> {
    if body.is_empty() {
        return Ok(ClientPinReply::default());
    }
    let v = decode(body)?;
    let m = MapView::new(&v, "clientPIN")?;
    let small = |k: i64| -> Result<Option<u8>, KeyError> {
        m.get(k)
            .map(|v| as_u64(v).map(|n| u8::try_from(n).unwrap_or(u8::MAX)).ok_or_else(|| KeyError::Protocol(format!("clientPIN: field 0x{k:02x} is not a count"))))
            .transpose()
    };
    Ok(ClientPinReply {
        key_agreement: m.get(0x01).cloned(),
        pin_uv_auth_token: m.opt_bytes(0x02)?.map(<[u8]>::to_vec),
        pin_retries: small(0x03)?,
        power_cycle_state: m.opt_bool(0x04)?,
        uv_retries: small(0x05)?,
    })
}

impl ClientPinReply {
    /// The getPINRetries answer.
    pub fn retries(&self) -> Result<PinRetries, KeyError> {
        let retries = self.pin_retries.ok_or_else(|| KeyError::Protocol("clientPIN getPINRetries: pinRetries (0x03) missing".into()))?;
        Ok(PinRetries { retries, power_cycle_required: self.power_cycle_state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_is_canonical() {
        let p = ClientPinParams {
            protocol: 2,
            sub_command: sub::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS,
            key_agreement: Some(int(0)),
            pin_hash_enc: Some(vec![0xee; 2]),
            permissions: Some(Permissions::MAKE_CREDENTIAL),
            rp_id: Some("x".into()),
            ..Default::default()
        };
        let r = p.into_request();
        assert_eq!(r.command, 0x06);
        assert_eq!(r.params_cbor(), vec![0xa6, 0x01, 0x02, 0x02, 0x09, 0x03, 0x00, 0x06, 0x42, 0xee, 0xee, 0x09, 0x01, 0x0a, 0x61, b'x']);
    }

    #[test]
    fn retries_reply_is_decoded() {
        let r = decode_reply(&[0xa2, 0x03, 0x07, 0x04, 0xf4]).unwrap();
        assert_eq!(r.retries().unwrap(), PinRetries { retries: 7, power_cycle_required: Some(false) });
        assert!(decode_reply(&[]).unwrap().retries().is_err());
    }
}
