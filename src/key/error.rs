//! Typed key errors with operator-facing messages.
//!
//! Every CTAP status code maps to a variant (see [`KeyError::from_status`], owned by the
//! CTAP client). Messages say what happened and what the operator should do next; they
//! never contain a PIN or token.
#![warn(missing_docs)]
use crate::key::ctap2::status::{code, status_hint, status_name};
use std::time::Duration;

/// Everything that can go wrong talking to a key. `Display` is the operator message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    // ---- presence and availability -------------------------------------------------
    /// No key is plugged in.
    #[error("no FIDO2 key was found; plug one in (on Linux check the udev rule, on Windows run elevated)")]
    NoKey,
    /// The key went away (unplugged) during the operation.
    #[error("the key was removed during the operation; plug it in again and retry")]
    Removed,
    /// The device does not speak CTAPHID INIT / CTAP2 getInfo.
    #[error("this device is not a FIDO2 key ({0})")]
    NotFido(String),
    /// The key did not answer before the deadline.
    #[error("the key did not answer within {0:?}; unplug it, plug it in again and retry")]
    Timeout(Duration),
    /// Cancelled by the caller (or the key reported KEEPALIVE_CANCEL).
    #[error("the operation was cancelled")]
    Cancelled,
    /// The key asked for a touch and none came in time.
    #[error("nobody touched the key in time; touch the key when it blinks and retry")]
    UserActionTimeout,
    /// The key refused (OPERATION_DENIED, NOT_ALLOWED).
    #[error("the key refused the operation (touch denied or operation not allowed)")]
    Denied,
    /// The key is busy with another client.
    #[error("the key is busy with another application; close other FIDO tools and retry")]
    Busy,

    // ---- PIN ---------------------------------------------------------------------
    /// Wrong PIN, with the attempts left.
    #[error("wrong PIN; {retries_left} attempt(s) left before the key locks")]
    PinInvalid {
        /// Attempts left before the PIN is blocked.
        retries_left: u8,
    },
    /// Wrong PIN; the key did not say how many attempts are left.
    #[error("wrong PIN")]
    PinInvalidUnknownRetries,
    /// No PIN attempts left: only a factory reset helps.
    #[error("the PIN is blocked after too many wrong attempts; the key must be factory reset (this erases its credentials)")]
    PinBlocked,
    /// Three wrong PINs in a row: re-plug the key before the next attempt.
    #[error("too many wrong PINs in a row; unplug the key and plug it in again before the next attempt")]
    PinAuthBlocked,
    /// The operation needs a PIN but the key has none.
    #[error("the key has no PIN yet; set one first")]
    PinNotSet,
    /// setPIN on a key that already has one.
    #[error("the key already has a PIN; change it instead (or factory reset the key, which erases its credentials)")]
    PinAlreadySet,
    /// The key has a PIN and the operation needs it (none was given).
    #[error("the key needs its PIN for this operation")]
    PinRequired,
    /// The key refused a PIN or setting by its policy (text says which rule).
    #[error("the key rejected the PIN by its policy: {0}")]
    PinPolicyViolation(String),
    /// forcePINChange is set: change the PIN before using it.
    #[error("the key requires a PIN change before it can be used (forcePINChange is set); change the PIN first")]
    PinChangeRequired,
    /// The pinUvAuthParam or token was rejected.
    #[error("the PIN/UV auth token was rejected; retry the operation")]
    PinAuthInvalid,
    /// Refused by keystation before anything was sent: the key would reject it anyway.
    #[error("the new PIN is too short: this key requires at least {min_length} characters")]
    PinTooShort {
        /// The key's minimum, in characters (code points).
        min_length: u8,
    },
    /// Refused by keystation before anything was sent (CTAP2 PINs are at most 63 bytes in UTF-8).
    #[error("the new PIN is too long: at most 63 bytes (UTF-8) are allowed")]
    PinTooLong,

    // ---- reset ---------------------------------------------------------------------
    /// authenticatorReset outside the key's power-up window.
    #[error("factory reset is only allowed within 10 seconds of plugging the key in; unplug the key, plug it in again and reset at once")]
    ResetWindowPassed,
    /// Waiting for an operator to unplug and re-plug a key took too long.
    #[error("the key was not unplugged and plugged in again within {0:?}")]
    ReplugTimeout(Duration),

    // ---- credentials ----------------------------------------------------------------
    /// An excludeList credential is on the key.
    #[error("this key already holds a credential for this account (excludeList match); it is already registered")]
    CredentialExcluded,
    /// No room for another discoverable credential.
    #[error("the key's storage for discoverable credentials is full; delete credentials or reset the key")]
    KeyStoreFull,
    /// No such credential (or none at all).
    #[error("no such credential on the key")]
    NoCredentials,
    /// None of the requested COSE algorithms is supported.
    #[error("the key does not support the requested algorithm(s)")]
    UnsupportedAlgorithm,
    /// The key lacks a feature (named in the text).
    #[error("the key does not support {0}")]
    Unsupported(String),

    // ---- protocol ------------------------------------------------------------------
    /// A status code without a dedicated variant; the message adds what to do about it.
    #[error("the key answered with CTAP error {name} (0x{code:02X}): {}", status_hint(*.code))]
    Ctap {
        /// The status byte.
        code: u8,
        /// Its spec name.
        name: &'static str,
    },
    /// The key sent something that breaks the protocol.
    #[error("the key sent a malformed reply: {0}")]
    Protocol(String),
    /// The report transport failed (not an unplug).
    #[error("HID transport error: {0}")]
    Transport(String),
}

impl From<crate::key::IoError> for KeyError {
    fn from(e: crate::key::IoError) -> Self {
        match e {
            crate::key::IoError::Removed => KeyError::Removed,
            crate::key::IoError::Transport(s) => KeyError::Transport(s),
        }
    }
}

/// Which command a status code answered, for the codes whose meaning depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusContext {
    /// No special meaning.
    Generic,
    /// authenticatorReset: NOT_ALLOWED means the 10-second power-up window has passed.
    Reset,
    /// A PIN token request (getPinToken or getPinUvAuthTokenUsingPinWithPermissions);
    /// `force_pin_change` is the key's getInfo flag.
    PinToken {
        /// getInfo's forcePINChange.
        force_pin_change: bool,
    },
    /// setPIN or changePIN; `min_pin_length` is the key's current minimum.
    NewPin {
        /// The key's minimum PIN length in code points.
        min_pin_length: u8,
    },
    /// An optional command or sub-command, named for the `Unsupported` message
    /// (INVALID_COMMAND / INVALID_SUBCOMMAND / UNSUPPORTED_OPTION mean "not supported").
    Optional(&'static str),
}

impl KeyError {
    /// Map a non-zero CTAP status byte to an error.
    ///
    /// PIN_INVALID maps to [`KeyError::PinInvalidUnknownRetries`]; the device layer then
    /// asks the key for its retries and refines it with [`KeyError::with_pin_retries`].
    pub fn from_status(status: u8, context: StatusContext) -> KeyError {
        match (status, context) {
            (code::NOT_ALLOWED, StatusContext::Reset) => KeyError::ResetWindowPassed,
            (code::PIN_POLICY_VIOLATION, StatusContext::PinToken { force_pin_change: true }) => KeyError::PinChangeRequired,
            (code::PIN_POLICY_VIOLATION, StatusContext::NewPin { min_pin_length }) => KeyError::PinPolicyViolation(format!(
                "the new PIN must have at least {min_pin_length} characters, at most 63 bytes, and (when a PIN change is forced) differ from the current one"
            )),
            (code::PIN_POLICY_VIOLATION, _) => KeyError::PinPolicyViolation(
                "the PIN does not meet the key's minimum length or the key requires a PIN change first".into(),
            ),
            (code::INVALID_COMMAND | code::INVALID_SUBCOMMAND | code::UNSUPPORTED_OPTION, StatusContext::Optional(what)) => {
                KeyError::Unsupported(what.to_string())
            }
            (0x05, _) => KeyError::Ctap { code: status, name: status_name(status) },
            (code::CHANNEL_BUSY | 0x0A | 0x21 | 0x23 | 0x24, _) => KeyError::Busy,
            (code::CREDENTIAL_EXCLUDED, _) => KeyError::CredentialExcluded,
            (code::UNSUPPORTED_ALGORITHM, _) => KeyError::UnsupportedAlgorithm,
            (code::OPERATION_DENIED | code::NOT_ALLOWED, _) => KeyError::Denied,
            (code::KEY_STORE_FULL, _) => KeyError::KeyStoreFull,
            (code::KEEPALIVE_CANCEL, _) => KeyError::Cancelled,
            (code::NO_CREDENTIALS, _) => KeyError::NoCredentials,
            (code::USER_ACTION_TIMEOUT, _) => KeyError::UserActionTimeout,
            (code::PIN_INVALID, _) => KeyError::PinInvalidUnknownRetries,
            (code::PIN_BLOCKED, _) => KeyError::PinBlocked,
            (code::PIN_AUTH_INVALID | 0x38, _) => KeyError::PinAuthInvalid,
            (code::PIN_AUTH_BLOCKED, _) => KeyError::PinAuthBlocked,
            (code::PIN_NOT_SET, _) => KeyError::PinNotSet,
            (code::PUAT_REQUIRED, _) => KeyError::PinRequired,
            _ => KeyError::Ctap { code: status, name: status_name(status) },
        }
    }

    /// Turn a PIN_INVALID into the operator-facing form once the retries are known.
    pub fn with_pin_retries(self, retries_left: Option<u8>) -> KeyError {
        match (self, retries_left) {
            (KeyError::PinInvalidUnknownRetries, Some(0)) => KeyError::PinBlocked,
            (KeyError::PinInvalidUnknownRetries, Some(n)) => KeyError::PinInvalid { retries_left: n },
            (other, _) => other,
        }
    }

    /// True for errors after which the key is gone or unusable until re-plugged, so a
    /// caller should not try further commands on the same handle.
    pub fn is_fatal_for_handle(&self) -> bool {
        matches!(self, KeyError::Removed | KeyError::NotFido(_) | KeyError::Timeout(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_code_maps_to_an_operator_message() {
        for c in 1u8..=0xff {
            let e = KeyError::from_status(c, StatusContext::Generic);
            let text = e.to_string();
            assert!(!text.is_empty());
            if let KeyError::Ctap { code, name } = e {
                assert_eq!(code, c);
                assert!(text.contains(name));
                // The hint must follow the code, not be missing.
                assert!(text.len() > format!("the key answered with CTAP error {name} (0x{c:02X}): ").len());
            }
        }
    }

    #[test]
    fn context_dependent_codes() {
        assert_eq!(KeyError::from_status(0x30, StatusContext::Reset), KeyError::ResetWindowPassed);
        assert_eq!(KeyError::from_status(0x30, StatusContext::Generic), KeyError::Denied);
        assert_eq!(KeyError::from_status(0x37, StatusContext::PinToken { force_pin_change: true }), KeyError::PinChangeRequired);
        match KeyError::from_status(0x37, StatusContext::NewPin { min_pin_length: 6 }) {
            KeyError::PinPolicyViolation(text) => assert!(text.contains("at least 6")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(KeyError::from_status(0x37, StatusContext::PinToken { force_pin_change: false }), KeyError::PinPolicyViolation(_)));
        assert_eq!(KeyError::from_status(0x01, StatusContext::Optional("credential management")), KeyError::Unsupported("credential management".into()));
        assert_eq!(KeyError::from_status(0x19, StatusContext::Generic), KeyError::CredentialExcluded);
        assert_eq!(KeyError::from_status(0x28, StatusContext::Generic), KeyError::KeyStoreFull);
        assert_eq!(KeyError::from_status(0x27, StatusContext::Generic), KeyError::Denied);
        assert_eq!(KeyError::from_status(0x2F, StatusContext::Generic), KeyError::UserActionTimeout);
        assert_eq!(KeyError::from_status(0x2D, StatusContext::Generic), KeyError::Cancelled);
        assert_eq!(KeyError::from_status(0x32, StatusContext::Generic), KeyError::PinBlocked);
        assert_eq!(KeyError::from_status(0x34, StatusContext::Generic), KeyError::PinAuthBlocked);
        assert_eq!(KeyError::from_status(0x35, StatusContext::Generic), KeyError::PinNotSet);
    }

    #[test]
    fn pin_invalid_is_refined_with_retries() {
        let e = KeyError::from_status(0x31, StatusContext::Generic);
        assert_eq!(e.clone().with_pin_retries(Some(7)), KeyError::PinInvalid { retries_left: 7 });
        assert_eq!(e.clone().with_pin_retries(Some(0)), KeyError::PinBlocked);
        assert_eq!(e.with_pin_retries(None), KeyError::PinInvalidUnknownRetries);
        assert!(KeyError::PinInvalid { retries_left: 7 }.to_string().contains("7 attempt"));
    }
}
