//! Typed key errors with operator-facing messages.
//!
//! Every CTAP status code maps to a variant (see `KeyError::from_status`, owned by the
//! CTAP client). Messages say what happened and what the operator should do next; they
//! never contain a PIN or token.
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    // ---- presence and availability -------------------------------------------------
    #[error("no FIDO2 security key was found; plug one in (on Linux check the udev rule, on Windows run elevated)")]
    NoKey,
    #[error("the key was removed during the operation; plug it in again and retry")]
    Removed,
    #[error("this device is not a FIDO2 key ({0})")]
    NotFido(String),
    #[error("the key did not answer within {0:?}; unplug it, plug it in again and retry")]
    Timeout(Duration),
    #[error("the operation was cancelled")]
    Cancelled,
    #[error("nobody touched the key in time; touch the key when it blinks and retry")]
    UserActionTimeout,
    #[error("the key refused the operation (touch denied or operation not allowed)")]
    Denied,
    #[error("the key is busy with another application; close other FIDO tools and retry")]
    Busy,

    // ---- PIN ---------------------------------------------------------------------
    #[error("wrong PIN; {retries_left} attempt(s) left before the key locks")]
    PinInvalid { retries_left: u8 },
    #[error("wrong PIN")]
    PinInvalidUnknownRetries,
    #[error("the PIN is blocked after too many wrong attempts; the key must be factory reset (this erases its credentials)")]
    PinBlocked,
    #[error("too many wrong PINs in a row; unplug the key and plug it in again before the next attempt")]
    PinAuthBlocked,
    #[error("the key has no PIN yet; set one first")]
    PinNotSet,
    #[error("the key needs its PIN for this operation")]
    PinRequired,
    #[error("the key rejected the PIN by its policy: {0}")]
    PinPolicyViolation(String),
    #[error("the key requires a PIN change before it can be used (forcePINChange is set); change the PIN first")]
    PinChangeRequired,
    #[error("the PIN/UV auth token was rejected; retry the operation")]
    PinAuthInvalid,

    // ---- reset ---------------------------------------------------------------------
    #[error("factory reset is only allowed within 10 seconds of plugging the key in; unplug the key, plug it in again and reset at once")]
    ResetWindowPassed,

    // ---- credentials ----------------------------------------------------------------
    #[error("this key already holds a credential for this account (excludeList match); it is already registered")]
    CredentialExcluded,
    #[error("the key's storage for discoverable credentials is full; delete credentials or reset the key")]
    KeyStoreFull,
    #[error("no such credential on the key")]
    NoCredentials,
    #[error("the key does not support the requested algorithm(s)")]
    UnsupportedAlgorithm,
    #[error("the key does not support {0}")]
    Unsupported(String),

    // ---- protocol ------------------------------------------------------------------
    #[error("the key answered with CTAP error {name} (0x{code:02X})")]
    Ctap { code: u8, name: &'static str },
    #[error("the key sent a malformed reply: {0}")]
    Protocol(String),
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
