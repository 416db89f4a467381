//! One opened key, synchronously: CTAP2 commands over CTAPHID, PIN tokens, and the
//! context-dependent error mapping. The worker thread owns a [`Device`]; nothing else
//! should (it is deliberately not `Sync`-shared).
//!
//! Every method takes the operation's [`Op`] (deadline, cancel flag, touch prompt); a
//! method may send several commands, all within that one budget.
#![warn(missing_docs)]
mod config;
mod credentials;
mod make_credential;
mod pin;

use crate::key::ctap2::client_pin::{ClientPinParams, decode_reply, sub};
use crate::key::ctap2::command::{GET_INFO, Request, SELECTION};
use crate::key::ctap2::info::decode_info;
use crate::key::ctap2::status::CTAP2_OK;
use crate::key::ctap2::{AuthenticatorInfo, Permissions};
use crate::key::ctaphid::{CtapHid, InitInfo, Op};
use crate::key::error::StatusContext;
use crate::key::pin_protocol::{KeyAgreement, PinToken, PinUvAuthProtocol, encapsulate, pin_hash16};
use crate::key::{KeyError, ReportIo};
use crate::secret::SecretString;

/// An opened key: CTAPHID channel plus the getInfo it answered at open time (refreshed
/// after every command that changes it).
pub struct Device {
    hid: CtapHid,
    info: AuthenticatorInfo,
    forced_protocol: Option<PinUvAuthProtocol>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("hid", &self.hid).field("aaguid", &self.info.aaguid_string()).finish()
    }
}

impl Device {
    /// CTAPHID_INIT then getInfo. Nothing else is sent, so a following
    /// [`Device::reset`] still falls inside the key's power-up window.
    /// `forced_protocol` pins the PIN/UV auth protocol (otherwise 2 is preferred).
    pub fn open(io: Box<dyn ReportIo>, forced_protocol: Option<PinUvAuthProtocol>, op: &Op<'_>) -> Result<Device, KeyError> {
        let hid = CtapHid::open(io, op)?;
        let mut device = Device { hid, info: AuthenticatorInfo::default(), forced_protocol };
        match device.get_info(op) {
            Ok(_) => Ok(device),
            // The device speaks CTAPHID but not CTAP2 getInfo: a U2F-only token.
            Err(KeyError::Ctap { code: 0x01, .. } | KeyError::Unsupported(_) | KeyError::Protocol(_)) => {
                Err(KeyError::NotFido("it does not answer CTAP2 getInfo; it is probably a U2F-only key".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// The getInfo answer as last read.
    pub fn info(&self) -> &AuthenticatorInfo {
        &self.info
    }

    /// What CTAPHID_INIT reported (device version, capabilities).
    pub fn init_info(&self) -> InitInfo {
        self.hid.init_info()
    }

    /// Read getInfo afresh (and remember it).
    pub fn get_info(&mut self, op: &Op<'_>) -> Result<AuthenticatorInfo, KeyError> {
        let body = self.call(&Request::bare(GET_INFO), StatusContext::Generic, op)?;
        let info = decode_info(&body)?;
        if let Some(size) = info.max_msg_size {
            self.hid.set_max_msg_size(size as usize);
        }
        self.info = info.clone();
        Ok(info)
    }

    /// authenticatorSelection: blink and wait for a touch (tells which key the person
    /// means when several are plugged in).
    pub fn selection(&mut self, op: &Op<'_>) -> Result<(), KeyError> {
        self.call(&Request::bare(SELECTION), StatusContext::Optional("authenticatorSelection (choosing a key by touch)"), op).map(|_| ())
    }

    /// CTAPHID_WINK, when the key can blink on request.
    pub fn wink(&mut self, op: &Op<'_>) -> Result<(), KeyError> {
        self.hid.wink(op)
    }

    /// Send one CTAP2 request; a non-zero status becomes a typed error for `context`.
    /// Returns the CBOR body after the status byte.
    fn call(&mut self, request: &Request, context: StatusContext, op: &Op<'_>) -> Result<Vec<u8>, KeyError> {
        let params = request.params_cbor();
        let mut reply = self.hid.cbor(request.command, &params, op)?;
        match reply[0] {
            CTAP2_OK => {
                reply.remove(0);
                Ok(reply)
            }
            status => Err(KeyError::from_status(status, context)),
        }
    }

    /// The PIN/UV auth protocol to use with this key.
    pub fn protocol(&self) -> Result<PinUvAuthProtocol, KeyError> {
        PinUvAuthProtocol::choose(&self.info.pin_uv_auth_protocols, self.forced_protocol)
    }

    /// getKeyAgreement and the platform half of ECDH.
    fn key_agreement(&mut self, protocol: PinUvAuthProtocol, op: &Op<'_>) -> Result<KeyAgreement, KeyError> {
        let req = ClientPinParams::new(protocol.number(), sub::GET_KEY_AGREEMENT).into_request();
        let body = self.call(&req, StatusContext::Optional("PINs (clientPIN)"), op)?;
        let reply = decode_reply(&body)?;
        let peer = reply.key_agreement.ok_or_else(|| KeyError::Protocol("clientPIN getKeyAgreement: keyAgreement (0x01) missing".into()))?;
        encapsulate(protocol, &peer)
    }

    /// After PIN_INVALID: ask how many attempts are left so the operator sees it.
    fn explain_pin_invalid(&mut self, e: KeyError, op: &Op<'_>) -> KeyError {
        if e != KeyError::PinInvalidUnknownRetries {
            return e;
        }
        let retries = self.pin_retries(op).ok().map(|r| r.retries);
        e.with_pin_retries(retries)
    }

    /// A PIN token with `permissions` (and `rp_id` for mc/ga). Keys without the
    /// `pinUvAuthToken` option get the CTAP 2.0 getPinToken, whose token has the default
    /// permissions.
    pub fn pin_token(&mut self, pin: &SecretString, permissions: Permissions, rp_id: Option<&str>, op: &Op<'_>) -> Result<PinToken, KeyError> {
        if !self.info.pin_is_set() && self.info.option("clientPin").is_some() {
            return Err(KeyError::PinNotSet);
        }
        let protocol = self.protocol()?;
        let force_pin_change = self.info.force_pin_change;
        // Some keys (OpenSK among them) answer a correct PIN on a key with forcePINChange
        // with PIN_INVALID instead of PIN_POLICY_VIOLATION; a correct PIN restores the
        // retry counter, a wrong one lowers it, so the counter tells the two apart.
        let retries_before = if force_pin_change { Some(self.pin_retries(op)?.retries) } else { None };
        let ka = self.key_agreement(protocol, op)?;
        let with_permissions = self.info.option("pinUvAuthToken") == Some(true);
        let mut params = ClientPinParams::new(
            protocol.number(),
            if with_permissions { sub::GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS } else { sub::GET_PIN_TOKEN },
        );
        params.key_agreement = Some(ka.platform_key.clone());
        params.pin_hash_enc = Some(ka.shared.encrypt(&pin_hash16(pin))?);
        if with_permissions {
            params.permissions = Some(permissions);
            params.rp_id = rp_id.map(str::to_string);
        }
        match self.call(&params.into_request(), StatusContext::PinToken { force_pin_change }, op) {
            Ok(body) => {
                let reply = decode_reply(&body)?;
                let encrypted = reply.pin_uv_auth_token.ok_or_else(|| KeyError::Protocol("clientPIN: pinUvAuthToken (0x02) missing".into()))?;
                PinToken::decrypt(&ka.shared, &encrypted)
            }
            Err(KeyError::PinInvalidUnknownRetries) => {
                let after = self.pin_retries(op).ok().map(|r| r.retries);
                match (retries_before, after) {
                    (Some(before), Some(after)) if after >= before => Err(KeyError::PinChangeRequired),
                    _ => Err(KeyError::PinInvalidUnknownRetries.with_pin_retries(after)),
                }
            }
            Err(e) => Err(e),
        }
    }
}
