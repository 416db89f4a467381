//! FIDO2 creation options (`fido2Methods/creationOptions`): the WebAuthn
//! `PublicKeyCredentialCreationOptions` Entra wants the key to answer.
//!
//! v1.0 has a fixed 5-minute challenge; beta takes `challengeTimeoutInMinutes` (5 to
//! 43200) in the function form `creationOptions(challengeTimeoutInMinutes=N)`. The
//! object is accepted both top-level (real traffic) and wrapped in `value` (a beta doc
//! example).
use super::base64_tolerant::{decode_credential_id, Base64Error};
use super::client::GraphClient;
use super::error::{GraphError, GraphErrorKind};
use super::operation::Operation;
use super::path::user_path;
use super::wire::{lenient_datetime, null_as_empty};
use super::ApiVersion;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Allowed `challengeTimeoutInMinutes` (beta only).
pub const CHALLENGE_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 5..=43200;

/// The answer of creationOptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    /// When the challenge stops being accepted.
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub challenge_timeout_date_time: Option<DateTime<Utc>>,
    /// The WebAuthn options.
    pub public_key: PublicKeyOptions,
}

/// WebAuthn `PublicKeyCredentialCreationOptions` as Graph spells them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyOptions {
    /// Relying party (`login.microsoft.com`, "Microsoft").
    pub rp: RelyingParty,
    /// The user entity (`id` is a base64url user handle).
    pub user: UserEntity,
    /// base64url of the challenge bytes (opaque; several kB).
    pub challenge: String,
    /// Acceptable algorithms (ES256 = -7, RS256 = -257).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub pub_key_cred_params: Vec<CredentialParameter>,
    /// Client timeout in milliseconds.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Credentials the user already has.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub exclude_credentials: Vec<CredentialDescriptor>,
    /// Authenticator requirements.
    #[serde(default)]
    pub authenticator_selection: Option<AuthenticatorSelection>,
    /// Attestation conveyance (`direct`).
    #[serde(default)]
    pub attestation: Option<String>,
    /// Requested extensions (hmacCreateSecret, credProtect...), kept as JSON.
    #[serde(default)]
    pub extensions: serde_json::Value,
}

/// `rp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingParty {
    /// RP id.
    pub id: String,
    /// RP name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// base64url user handle.
    pub id: String,
    /// UPN.
    #[serde(default)]
    pub name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `pubKeyCredParams[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialParameter {
    /// `public-key`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// COSE algorithm.
    pub alg: i64,
}

/// `excludeCredentials[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDescriptor {
    /// `public-key`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The id, in one of Entra's three encodings (see [`decode_credential_id`]).
    pub id: String,
    /// Transports.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub transports: Vec<String>,
}

/// `authenticatorSelection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    /// `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Always true for Entra.
    #[serde(default)]
    pub require_resident_key: Option<bool>,
    /// WebAuthn L2 spelling, if present.
    #[serde(default)]
    pub resident_key: Option<String>,
    /// `required`.
    #[serde(default)]
    pub user_verification: Option<String>,
}

impl PublicKeyOptions {
    /// The challenge bytes (base64url, padding tolerated).
    pub fn challenge_bytes(&self) -> Result<Vec<u8>, Base64Error> {
        URL_SAFE_NO_PAD.decode(self.challenge.trim_end_matches('=')).map_err(|_| Base64Error(self.challenge.chars().take(40).collect()))
    }

    /// The user handle bytes.
    pub fn user_handle(&self) -> Result<Vec<u8>, Base64Error> {
        decode_credential_id(&self.user.id).map(|d| d.primary)
    }

    /// Every reading of every excluded credential id (see the module notes on
    /// ambiguity); feed all of them to the authenticator's exclude list.
    pub fn exclude_credential_ids(&self) -> Result<Vec<Vec<u8>>, Base64Error> {
        let mut out = Vec::new();
        for c in &self.exclude_credentials {
            for id in decode_credential_id(&c.id)?.candidates() {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// Whether the RP accepts this COSE algorithm.
    pub fn accepts_alg(&self, alg: i64) -> bool {
        self.pub_key_cred_params.iter().any(|p| p.alg == alg)
    }
}

/// Parse a creationOptions answer, top-level or wrapped in `value`.
pub fn parse_creation_options(body: &[u8]) -> Result<CreationOptions, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({:?} error at line {})", e.classify(), e.line()))?;
    let object = if v.get("publicKey").is_some() {
        v
    } else if let Some(inner) = v.get("value").filter(|i| i.get("publicKey").is_some()) {
        inner.clone()
    } else {
        return Err("no publicKey in the creation options (neither top-level nor under value)".into());
    };
    serde_json::from_value(object).map_err(|e| format!("creation options have an unexpected shape: {e}"))
}

impl GraphClient {
    /// Get creation options for registering a key for `user`. `challenge_timeout_minutes`
    /// needs the beta API (use [`GraphClient::with_api_version`]).
    pub async fn fido2_creation_options(&self, user: &str, challenge_timeout_minutes: Option<u32>) -> Result<CreationOptions, GraphError> {
        let op = Operation::Fido2CreationOptions;
        let function = match (challenge_timeout_minutes, self.api_version()) {
            (None, _) => "creationOptions".to_string(),
            (Some(_), ApiVersion::V1) => {
                return Err(self.error(
                    op,
                    GraphErrorKind::InvalidInput,
                    "a custom challenge timeout needs the beta API (v1.0 has a fixed 5-minute challenge): use API version beta or drop the timeout",
                    Some(user),
                ))
            }
            (Some(m), ApiVersion::Beta) if !CHALLENGE_TIMEOUT_MINUTES.contains(&m) => {
                return Err(self.error(op, GraphErrorKind::InvalidInput, format!("challenge timeout {m} minutes is outside 5..43200"), Some(user)))
            }
            (Some(m), ApiVersion::Beta) => format!("creationOptions(challengeTimeoutInMinutes={m})"),
        };
        let url = self.url(&format!("{}/authentication/fido2Methods/{function}", user_path(user)), None);
        let r = self
            .send(super::client::GraphRequest { op, method: reqwest::Method::GET, url, body: None, replay: crate::entra::http::Replay::Idempotent, user: Some(user), headers: vec![] })
            .await?;
        parse_creation_options(&r.body).map_err(|m| self.error(op, GraphErrorKind::UnexpectedResponse, m, Some(user)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.webauthnCredentialCreationOptions",
            "challengeTimeoutDateTime": "2030-01-01T00:05:00Z",
            "publicKey": {
                "rp": {"id": "login.microsoft.com", "name": "Microsoft"},
                "user": {"id": "T0Y6AAECAwQ", "name": "a@contoso.com", "displayName": "A"},
                "challenge": "Y2hhbGxlbmdl",
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                "timeout": 60000,
                "excludeCredentials": [{"type": "public-key", "id": "+/+/AA==", "transports": ["usb"]}, {"type":"public-key","id":"AAECAw2"}],
                "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
                "attestation": "direct",
                "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"}
            }
        })
    }

    #[test]
    fn top_level_and_wrapped_forms_parse_the_same() {
        let top = parse_creation_options(sample().to_string().as_bytes()).unwrap();
        let wrapped = parse_creation_options(serde_json::json!({"value": sample()}).to_string().as_bytes()).unwrap();
        assert_eq!(top, wrapped);
        assert_eq!(top.public_key.rp.id, "login.microsoft.com");
        assert_eq!(top.public_key.challenge_bytes().unwrap(), b"challenge");
        assert!(top.public_key.accepts_alg(-7) && top.public_key.accepts_alg(-257) && !top.public_key.accepts_alg(-8));
        let ids = top.public_key.exclude_credential_ids().unwrap();
        assert!(ids.contains(&vec![0xfb, 0xff, 0xbf, 0x00]));
        assert!(ids.contains(&vec![0, 1, 2, 3]));
        assert!(parse_creation_options(b"{\"value\":[]}").is_err());
        assert!(parse_creation_options(b"nope").is_err());
    }
}
