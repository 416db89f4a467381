//! Why a WebAuthn ceremony failed: a typed error for keystation (operator-facing
//! `Display`) that also knows which `DOMException` the page must see.
//!
//! The page-facing names and messages copy Chromium's (`AuthenticatorStatus` →
//! `DOMException` in Blink's `authentication_credentials_container.cc`) so that a
//! page's error handling takes the same branch it would take in a real Chrome.
use crate::key::KeyError;
use std::time::Duration;

/// The exception a page receives: `name` is the DOMException name (or `TypeError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomException {
    /// `NotAllowedError`, `SecurityError`, `InvalidStateError`, `NotSupportedError`,
    /// `AbortError`, `OperationError`, `RangeError` or `TypeError`.
    pub name: &'static str,
    /// The message, worded like Chromium's.
    pub message: String,
}

const NOT_ALLOWED: &str = "The operation either timed out or was not allowed. See: https://www.w3.org/TR/webauthn-2/#sctn-privacy-considerations-client.";
const BAD_RP_ID: &str = "The relying party ID is not a registrable domain suffix of, nor equal to the current domain.";

/// A failed `navigator.credentials.create()` (or a refused `get()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// The options do not have the shape WebIDL demands (missing required member,
    /// wrong type). The page sees a `TypeError`.
    #[error("the page's creation options are malformed: {0}")]
    MalformedOptions(String),
    /// `user.id` is longer than 64 bytes.
    #[error("the page's user.id is {0} bytes long; WebAuthn allows at most 64")]
    UserHandleTooLong(usize),
    /// More than 64 `excludeCredentials` entries.
    #[error("the page sent {0} excludeCredentials entries; at most 64 are allowed")]
    TooManyExcludedCredentials(usize),
    /// Blink could not convert the options (e.g. every pubKeyCredParams entry has an
    /// unknown type, or credentialProtectionPolicy is not a known value).
    #[error("the page's creation options are not supported: {0}")]
    UnsupportedOptions(String),
    /// The calling document has an opaque origin (sandboxed frame, data: URL).
    #[error("a document with an opaque origin asked for a credential")]
    OpaqueOrigin,
    /// The caller's scheme is neither https nor http.
    #[error("{origin} may not use WebAuthn: only https and http://localhost origins may")]
    InvalidProtocol {
        /// The caller's origin.
        origin: String,
    },
    /// The caller is an IP address or a plain-http host other than localhost.
    #[error("{origin} may not use WebAuthn: IP-address hosts and plain http (except localhost) are refused")]
    InvalidDomain {
        /// The caller's origin.
        origin: String,
    },
    /// rp.id is neither the caller's host nor a registrable suffix of it.
    #[error("rp.id {rp_id:?} does not belong to {origin}")]
    RpIdMismatch {
        /// What the page asked for.
        rp_id: String,
        /// The browser-reported origin of the caller.
        origin: String,
    },
    /// rp.id is not on keystation's allow-list; keystation never makes credentials for
    /// relying parties the operator did not configure.
    #[error("rp.id {rp_id:?} is not on keystation's allow-list ({allowed}); add it to the configuration if this relying party is legitimate")]
    RpIdNotAllowed {
        /// What the page asked for.
        rp_id: String,
        /// The configured allow-list, comma separated.
        allowed: String,
    },
    /// The request came from a frame that is not same-origin with all its ancestors.
    #[error("a cross-origin frame ({origin} inside {top_origin}) asked for a credential; keystation only serves top-level documents and same-origin frames")]
    CrossOriginFrame {
        /// The frame's origin.
        origin: String,
        /// The top-level document's origin.
        top_origin: String,
    },
    /// credProtect options contradict each other (Chromium's rule set).
    #[error("the page's credProtect options are inconsistent: {0}")]
    ProtectionPolicyInconsistent(&'static str),
    /// No requested algorithm is both known to keystation and offered by the key.
    #[error("none of the page's algorithms {requested:?} is supported (keystation: ES256, EdDSA, RS256; key: {key:?})")]
    NoSupportedAlgorithm {
        /// COSE ids from pubKeyCredParams.
        requested: Vec<i64>,
        /// COSE ids the key advertises (empty when it does not say).
        key: Vec<i64>,
    },
    /// A ceremony is already running for this page.
    #[error("the page started a second WebAuthn request while one was still running")]
    PendingRequest,
    /// The key cannot do what the options require (rk, UV, credProtect enforcement,
    /// platform attachment, largeBlob).
    #[error("the key cannot satisfy the page's request: {0}")]
    AuthenticatorUnsuitable(String),
    /// The key already holds one of the excluded credentials.
    #[error("the key already holds a credential for this account (excludeCredentials match); it is already registered")]
    CredentialExcluded,
    /// The ceremony's (clamped) timeout passed.
    #[error("the ceremony timed out after {0:?}")]
    Timeout(Duration),
    /// The page aborted the request through its AbortSignal, or navigated away.
    #[error("the page aborted the ceremony")]
    Aborted,
    /// The key failed or refused.
    #[error("{0}")]
    Key(KeyError),
    /// The key answered, but the answer is unusable (wrong rpIdHash, malformed CBOR...).
    #[error("the key's answer is unusable: {0}")]
    BadKeyResponse(String),
    /// keystation's own plumbing failed (browser gone, bridge message refused...).
    #[error("the ceremony failed inside keystation: {0}")]
    Internal(String),
    /// `navigator.credentials.get()` is refused by keystation's policy.
    #[error("the page called navigator.credentials.get(), which keystation refuses (it only registers keys)")]
    GetRefused,
}

impl WebAuthnError {
    /// The DOMException the page's promise rejects with.
    pub fn dom_exception(&self) -> DomException {
        use WebAuthnError as E;
        let (name, message): (&'static str, String) = match self {
            E::MalformedOptions(m) => ("TypeError", format!("Failed to execute 'create' on 'CredentialsContainer': {m}")),
            E::UserHandleTooLong(_) => ("TypeError", "User handle exceeds 64 bytes.".into()),
            E::TooManyExcludedCredentials(_) => {
                ("RangeError", "The `excludeCredentials` attribute exceeds the maximum allowed size (64).".into())
            }
            E::UnsupportedOptions(_) => ("NotSupportedError", "Required parameters missing in `options.publicKey`.".into()),
            E::OpaqueOrigin => (
                "NotAllowedError",
                "The current origin is an opaque origin and hence not allowed to access 'PublicKeyCredential' objects.".into(),
            ),
            E::InvalidProtocol { .. } => (
                "SecurityError",
                "Public-key credentials are only available to HTTPS origins with valid certificates, HTTP origins that fall under 'localhost', or pages served from an extension. See https://chromium.googlesource.com/chromium/src/+/main/content/browser/webauth/origins.md for details".into(),
            ),
            E::InvalidDomain { .. } => ("SecurityError", "This is an invalid domain.".into()),
            E::RpIdMismatch { .. } | E::RpIdNotAllowed { .. } => ("SecurityError", BAD_RP_ID.into()),
            E::CrossOriginFrame { .. } => (
                "NotAllowedError",
                "The 'publickey-credentials-create' feature is not enabled in this document.".into(),
            ),
            E::ProtectionPolicyInconsistent(_) => (
                "NotSupportedError",
                "Requested protection policy is inconsistent or incongruent with other requested parameters.".into(),
            ),
            E::NoSupportedAlgorithm { .. } | E::Key(KeyError::UnsupportedAlgorithm) => (
                "NotSupportedError",
                "None of the algorithms specified in `pubKeyCredParams` are supported by this device.".into(),
            ),
            E::PendingRequest => ("OperationError", "A request is already pending.".into()),
            E::CredentialExcluded | E::Key(KeyError::CredentialExcluded) => (
                "InvalidStateError",
                "The user attempted to register an authenticator that contains one of the credentials already registered with the relying party.".into(),
            ),
            E::Aborted => ("AbortError", "Request has been aborted.".into()),
            E::AuthenticatorUnsuitable(_)
            | E::Timeout(_)
            | E::Key(_)
            | E::BadKeyResponse(_)
            | E::Internal(_)
            | E::GetRefused => ("NotAllowedError", NOT_ALLOWED.into()),
        };
        DomException { name, message }
    }

    /// Map a key-layer failure. Exclusion keeps its own variant because pages act on
    /// it (InvalidStateError = "already registered").
    pub fn from_key(e: KeyError) -> WebAuthnError {
        match e {
            KeyError::CredentialExcluded => WebAuthnError::CredentialExcluded,
            other => WebAuthnError::Key(other),
        }
    }

    /// True when the key was never asked to do anything (a policy or input refusal).
    pub fn is_refusal_before_key(&self) -> bool {
        use WebAuthnError as E;
        matches!(
            self,
            E::MalformedOptions(_)
                | E::UserHandleTooLong(_)
                | E::TooManyExcludedCredentials(_)
                | E::UnsupportedOptions(_)
                | E::OpaqueOrigin
                | E::InvalidProtocol { .. }
                | E::InvalidDomain { .. }
                | E::RpIdMismatch { .. }
                | E::RpIdNotAllowed { .. }
                | E::CrossOriginFrame { .. }
                | E::ProtectionPolicyInconsistent(_)
                | E::NoSupportedAlgorithm { .. }
                | E::PendingRequest
                | E::GetRefused
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_errors_map_to_the_exceptions_pages_act_on() {
        let name = |e: KeyError| WebAuthnError::from_key(e).dom_exception().name;
        assert_eq!(name(KeyError::CredentialExcluded), "InvalidStateError");
        assert_eq!(name(KeyError::Cancelled), "NotAllowedError");
        assert_eq!(name(KeyError::UserActionTimeout), "NotAllowedError");
        assert_eq!(name(KeyError::PinBlocked), "NotAllowedError");
        assert_eq!(name(KeyError::PinAuthBlocked), "NotAllowedError");
        assert_eq!(name(KeyError::Denied), "NotAllowedError");
        assert_eq!(name(KeyError::Removed), "NotAllowedError");
        assert_eq!(name(KeyError::UnsupportedAlgorithm), "NotSupportedError");
    }

    #[test]
    fn origin_and_rp_problems_are_security_errors() {
        let e = WebAuthnError::RpIdMismatch { rp_id: "evil.com".into(), origin: "https://login.microsoft.com".into() };
        assert_eq!(e.dom_exception().name, "SecurityError");
        assert!(e.dom_exception().message.starts_with("The relying party ID is not a registrable domain suffix"));
        assert!(e.is_refusal_before_key());
        assert!(!WebAuthnError::Key(KeyError::Removed).is_refusal_before_key());
    }
}
