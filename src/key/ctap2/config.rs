//! authenticatorConfig (0x0D): sub-commands and the message their pinUvAuthParam signs.
use super::cbor::{bytes, int, int_map, text, to_canonical_vec};
use super::command::{CONFIG, Request};
use ciborium::Value;

/// An authenticatorConfig sub-command with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCommand {
    /// 0x01 enableEnterpriseAttestation.
    EnableEnterpriseAttestation,
    /// 0x02 toggleAlwaysUv.
    ToggleAlwaysUv,
    /// 0x03 setMinPINLength.
    SetMinPinLength(MinPinLength),
}

/// setMinPINLength parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MinPinLength {
    /// New minimum in code points (it can only grow); `None` keeps the current one.
    pub new_min_pin_length: Option<u8>,
    /// RP ids allowed to read the minimum through the minPinLength extension.
    pub rp_ids: Vec<String>,
    /// Make the next PIN use require a PIN change first.
    pub force_change_pin: bool,
}

impl ConfigCommand {
    /// The sub-command number.
    pub fn sub_command(&self) -> u8 {
        match self {
            ConfigCommand::EnableEnterpriseAttestation => 0x01,
            ConfigCommand::ToggleAlwaysUv => 0x02,
            ConfigCommand::SetMinPinLength(_) => 0x03,
        }
    }

    /// A short name for messages ("setMinPINLength").
    pub fn name(&self) -> &'static str {
        match self {
            ConfigCommand::EnableEnterpriseAttestation => "enableEnterpriseAttestation",
            ConfigCommand::ToggleAlwaysUv => "toggleAlwaysUv",
            ConfigCommand::SetMinPinLength(_) => "setMinPINLength",
        }
    }

    /// subCommandParams, when the sub-command has any.
    pub fn params(&self) -> Option<Value> {
        match self {
            ConfigCommand::SetMinPinLength(p) => Some(int_map(vec![
                (0x01, p.new_min_pin_length.map(|n| int(i64::from(n)))),
                (0x02, (!p.rp_ids.is_empty()).then(|| Value::Array(p.rp_ids.iter().map(|r| text(r)).collect()))),
                (0x03, p.force_change_pin.then_some(Value::Bool(true))),
            ])),
            _ => None,
        }
    }

    /// What pinUvAuthParam authenticates: 32×0xff ‖ 0x0d ‖ subCommand ‖ subCommandParams.
    pub fn auth_message(&self) -> Vec<u8> {
        let mut m = vec![0xff; 32];
        m.push(CONFIG);
        m.push(self.sub_command());
        if let Some(p) = self.params() {
            m.extend_from_slice(&to_canonical_vec(&p));
        }
        m
    }

    /// The request, with pinUvAuthParam and protocol when the key needs them.
    pub fn into_request(&self, auth: Option<(Vec<u8>, u8)>) -> Request {
        let (param, protocol) = match auth {
            Some((param, protocol)) => (Some(bytes(&param)), Some(int(i64::from(protocol)))),
            None => (None, None),
        };
        Request::with(
            CONFIG,
            int_map(vec![(0x01, Some(int(i64::from(self.sub_command())))), (0x02, self.params()), (0x03, protocol), (0x04, param)]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_min_pin_length_auth_message_matches_the_spec_layout() {
        let c = ConfigCommand::SetMinPinLength(MinPinLength { new_min_pin_length: Some(6), rp_ids: vec![], force_change_pin: true });
        let m = c.auth_message();
        assert_eq!(&m[..32], &[0xff; 32]);
        assert_eq!(&m[32..], &[0x0d, 0x03, 0xa2, 0x01, 0x06, 0x03, 0xf5]);
        assert_eq!(ConfigCommand::ToggleAlwaysUv.auth_message()[32..], [0x0d, 0x02]);
    }

    #[test]
    fn request_puts_protocol_before_param() {
        let r = ConfigCommand::ToggleAlwaysUv.into_request(Some((vec![1, 2], 2)));
        assert_eq!(r.params_cbor(), vec![0xa3, 0x01, 0x02, 0x03, 0x02, 0x04, 0x42, 0x01, 0x02]);
    }
}
