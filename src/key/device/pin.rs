//! PIN management: retries, setPIN, changePIN, and reset (which clears the PIN).
use super::Device;
use crate::key::KeyError;
use crate::key::ctap2::PinRetries;
use crate::key::ctap2::client_pin::{ClientPinParams, decode_reply, sub};
use crate::key::ctap2::command::{RESET, Request};
use crate::key::ctaphid::Op;
use crate::key::error::StatusContext;
use crate::key::pin_protocol::{check_new_pin, padded_pin, pin_hash16};
use crate::secret::SecretString;

impl Device {
    /// clientPIN getPINRetries.
    pub fn pin_retries(&mut self, op: &Op<'_>) -> Result<PinRetries, KeyError> {
        let req = ClientPinParams::new(self.protocol()?.number(), sub::GET_PIN_RETRIES).into_request();
        let body = self.call(&req, StatusContext::Optional("PINs (clientPIN)"), op)?;
        decode_reply(&body)?.retries()
    }

    /// clientPIN getUVRetries (keys with built-in verification, e.g. fingerprint).
    pub fn uv_retries(&mut self, op: &Op<'_>) -> Result<u8, KeyError> {
        let req = ClientPinParams::new(self.protocol()?.number(), sub::GET_UV_RETRIES).into_request();
        let body = self.call(&req, StatusContext::Optional("built-in user verification (getUVRetries)"), op)?;
        decode_reply(&body)?.uv_retries.ok_or_else(|| KeyError::Protocol("clientPIN getUVRetries: uvRetries (0x05) missing".into()))
    }

    /// clientPIN setPIN on a key without a PIN. The PIN is checked against the key's
    /// minimum length before anything is sent.
    pub fn set_pin(&mut self, new_pin: &SecretString, op: &Op<'_>) -> Result<(), KeyError> {
        let info = self.get_info(op)?;
        match info.option("clientPin") {
            None => return Err(KeyError::Unsupported("PINs (no clientPin option)".into())),
            Some(true) => return Err(KeyError::PinAlreadySet),
            Some(false) => {}
        }
        check_new_pin(new_pin, info.min_pin_length)?;
        let protocol = self.protocol()?;
        let ka = self.key_agreement(protocol, op)?;
        let new_pin_enc = ka.shared.encrypt(&padded_pin(new_pin)?)?;
        let mut params = ClientPinParams::new(protocol.number(), sub::SET_PIN);
        params.pin_uv_auth_param = Some(ka.shared.authenticate(&new_pin_enc));
        params.key_agreement = Some(ka.platform_key);
        params.new_pin_enc = Some(new_pin_enc);
        self.call(&params.into_request(), StatusContext::NewPin { min_pin_length: info.min_pin_length }, op)?;
        self.get_info(op)?;
        Ok(())
    }

    /// clientPIN changePIN. A wrong current PIN comes back as
    /// [`KeyError::PinInvalid`] with the attempts left.
    pub fn change_pin(&mut self, current: &SecretString, new_pin: &SecretString, op: &Op<'_>) -> Result<(), KeyError> {
        let info = self.get_info(op)?;
        if !info.pin_is_set() {
            return Err(KeyError::PinNotSet);
        }
        check_new_pin(new_pin, info.min_pin_length)?;
        let protocol = self.protocol()?;
        let ka = self.key_agreement(protocol, op)?;
        let new_pin_enc = ka.shared.encrypt(&padded_pin(new_pin)?)?;
        let pin_hash_enc = ka.shared.encrypt(&pin_hash16(current))?;
        let mut params = ClientPinParams::new(protocol.number(), sub::CHANGE_PIN);
        params.pin_uv_auth_param = Some(ka.shared.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat()));
        params.key_agreement = Some(ka.platform_key);
        params.new_pin_enc = Some(new_pin_enc);
        params.pin_hash_enc = Some(pin_hash_enc);
        let result = self.call(&params.into_request(), StatusContext::NewPin { min_pin_length: info.min_pin_length }, op);
        if let Err(e) = result {
            return Err(self.explain_pin_invalid(e, op));
        }
        self.get_info(op)?;
        Ok(())
    }

    /// authenticatorReset: erases every credential and the PIN. Keys allow it only within
    /// about 10 s of power-up and want a touch; outside the window this is
    /// [`KeyError::ResetWindowPassed`]. Send it as the first command after open.
    pub fn reset(&mut self, op: &Op<'_>) -> Result<(), KeyError> {
        self.call(&Request::bare(RESET), StatusContext::Reset, op)?;
        self.get_info(op)?;
        Ok(())
    }
}
