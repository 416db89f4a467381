//! authenticatorConfig: enterprise attestation, alwaysUv, minimum PIN length.
use super::Device;
use crate::key::KeyError;
use crate::key::ctap2::{ConfigCommand, Permissions};
use crate::key::ctaphid::Op;
use crate::key::error::StatusContext;
use crate::key::pin_protocol::MAX_PIN_BYTES;
use crate::secret::SecretString;

impl Device {
    /// Run one authenticatorConfig sub-command. The PIN is needed (and used for a token
    /// with the acfg permission) when the key has a PIN or alwaysUv is on.
    pub fn config(&mut self, pin: Option<&SecretString>, command: &ConfigCommand, op: &Op<'_>) -> Result<(), KeyError> {
        let info = self.get_info(op)?;
        if info.option("authnrCfg") != Some(true) {
            return Err(KeyError::Unsupported("key settings (authenticatorConfig)".into()));
        }
        match command {
            ConfigCommand::EnableEnterpriseAttestation if info.option("ep").is_none() => {
                return Err(KeyError::Unsupported("enterprise attestation".into()));
            }
            ConfigCommand::ToggleAlwaysUv if info.option("alwaysUv").is_none() => {
                return Err(KeyError::Unsupported("the alwaysUv setting".into()));
            }
            ConfigCommand::SetMinPinLength(_) if info.option("setMinPINLength") != Some(true) => {
                return Err(KeyError::Unsupported("setting a minimum PIN length".into()));
            }
            ConfigCommand::SetMinPinLength(p) => {
                if let Some(n) = p.new_min_pin_length {
                    if n < info.min_pin_length {
                        return Err(KeyError::PinPolicyViolation(format!(
                            "the minimum PIN length can only be raised; it is {} now (only a factory reset lowers it)",
                            info.min_pin_length
                        )));
                    }
                    if usize::from(n) > MAX_PIN_BYTES {
                        return Err(KeyError::PinPolicyViolation(format!("a minimum PIN length above {MAX_PIN_BYTES} cannot be met")));
                    }
                }
                if let Some(max) = info.max_rp_ids_for_set_min_pin_length
                    && p.rp_ids.len() > max as usize
                {
                    return Err(KeyError::Unsupported(format!("more than {max} RP ids for the minPinLength extension")));
                }
                if p.force_change_pin && !info.pin_is_set() {
                    return Err(KeyError::PinNotSet);
                }
            }
            _ => {}
        }
        let auth = if info.pin_is_set() || info.option("alwaysUv") == Some(true) {
            let pin = pin.ok_or(KeyError::PinRequired)?;
            let token = self.pin_token(pin, Permissions::AUTHENTICATOR_CONFIG, None, op)?;
            Some((token.authenticate(&command.auth_message()), token.protocol().number()))
        } else {
            None
        };
        self.call(&command.into_request(auth), StatusContext::Optional(command.name()), op)?;
        self.get_info(op)?;
        Ok(())
    }
}
