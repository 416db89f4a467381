//! FIDO2 security-key methods: list, get, delete, and register (the POST that completes
//! a provisioning ceremony started with creation options).
use super::client::GraphClient;
use super::error::{GraphError, GraphErrorKind};
use super::operation::Operation;
use super::path::{segment, user_path};
use super::wire::{lenient_datetime, null_as_empty};
use crate::entra::http::Replay;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest `displayName` Entra accepts for a key (observed limit).
pub const MAX_DISPLAY_NAME_CHARS: usize = 30;

/// A registered FIDO2 security key (passkey) of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fido2Method {
    /// Method id (opaque).
    pub id: String,
    /// Name shown to the user.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When it was registered.
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub created_date_time: Option<DateTime<Utc>>,
    /// Authenticator model GUID.
    #[serde(default)]
    pub aa_guid: Option<String>,
    /// Model name.
    #[serde(default)]
    pub model: Option<String>,
    /// Attestation certificate thumbprints.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attestation_certificates: Vec<String>,
    /// `attested` or `notAttested`.
    #[serde(default)]
    pub attestation_level: Option<String>,
    /// `deviceBound` or `synced`.
    #[serde(default)]
    pub passkey_type: Option<String>,
}

/// The result of a WebAuthn registration ceremony, ready to be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fido2Registration {
    /// Name for the key (1..=30 characters).
    pub display_name: String,
    /// Credential id.
    pub credential_id: Vec<u8>,
    /// The exact clientDataJSON bytes the signature covers.
    pub client_data_json: Vec<u8>,
    /// The CBOR attestation object.
    pub attestation_object: Vec<u8>,
    /// Client extension results (e.g. `{"hmacCreateSecret": true}`), may be empty.
    pub client_extension_results: serde_json::Map<String, serde_json::Value>,
}

impl Fido2Registration {
    /// Check what Graph would refuse before sending.
    pub fn validate(&self) -> Result<(), String> {
        let chars = self.display_name.trim().chars().count();
        if chars == 0 || chars > MAX_DISPLAY_NAME_CHARS {
            return Err(format!("the key name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters, not {chars}"));
        }
        if self.credential_id.is_empty() || self.client_data_json.is_empty() || self.attestation_object.is_empty() {
            return Err("credential id, clientDataJSON and attestationObject must all be present".into());
        }
        Ok(())
    }

    /// The request body: only the fields the service accepts (no `rawId`, `type` or
    /// `authenticatorAttachment`), binary values base64url without padding.
    pub fn to_body(&self) -> serde_json::Value {
        serde_json::json!({
            "displayName": self.display_name.trim(),
            "publicKeyCredential": {
                "id": URL_SAFE_NO_PAD.encode(&self.credential_id),
                "response": {
                    "clientDataJSON": URL_SAFE_NO_PAD.encode(&self.client_data_json),
                    "attestationObject": URL_SAFE_NO_PAD.encode(&self.attestation_object),
                },
                "clientExtensionResults": serde_json::Value::Object(self.client_extension_results.clone()),
            }
        })
    }
}

impl GraphClient {
    fn fido2_path(user: &str) -> String {
        format!("{}/authentication/fido2Methods", user_path(user))
    }

    /// The user's registered keys.
    pub async fn list_fido2_methods(&self, user: &str) -> Result<Vec<Fido2Method>, GraphError> {
        let url = self.url(&Self::fido2_path(user), None);
        self.get_collection(Operation::ListFido2Methods, url, Some(user), vec![]).await
    }

    /// One registered key.
    pub async fn get_fido2_method(&self, user: &str, method_id: &str) -> Result<Fido2Method, GraphError> {
        let url = self.url(&format!("{}/{}", Self::fido2_path(user), segment(method_id)), None);
        self.get_json(Operation::GetFido2Method, url, Some(user)).await
    }

    /// Remove a registered key.
    pub async fn delete_fido2_method(&self, user: &str, method_id: &str) -> Result<(), GraphError> {
        let url = self.url(&format!("{}/{}", Self::fido2_path(user), segment(method_id)), None);
        self.delete(Operation::DeleteFido2Method, url, Some(user)).await
    }

    /// Register a key for `user` with the result of a ceremony over creation options
    /// obtained from [`GraphClient::fido2_creation_options`].
    pub async fn register_fido2_method(&self, user: &str, registration: &Fido2Registration) -> Result<Fido2Method, GraphError> {
        let op = Operation::RegisterFido2Method;
        registration.validate().map_err(|m| self.error(op, GraphErrorKind::InvalidInput, m, Some(user)))?;
        let url = self.url(&Self::fido2_path(user), None);
        // The challenge is single-use: a processed POST must not be sent again.
        let method: Fido2Method = self.post_json(op, url, &registration.to_body(), Replay::NotIfProcessed, Some(user)).await?;
        tracing::info!(call = op.log_name(), method_id = %method.id, aaguid = method.aa_guid.as_deref().unwrap_or("-"), "FIDO2 key registered");
        Ok(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Fido2Registration {
        Fido2Registration {
            display_name: "YubiKey 5 NFC".into(),
            credential_id: vec![1, 2, 3, 250],
            client_data_json: br#"{"type":"webauthn.create"}"#.to_vec(),
            attestation_object: vec![0xa3, 1],
            client_extension_results: serde_json::Map::new(),
        }
    }

    #[test]
    fn body_has_only_the_accepted_fields() {
        let b = reg().to_body();
        let top: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(top.len(), 2);
        let pkc = b["publicKeyCredential"].as_object().unwrap();
        let mut keys: Vec<&str> = pkc.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["clientExtensionResults", "id", "response"]);
        let mut rkeys: Vec<&str> = pkc["response"].as_object().unwrap().keys().map(String::as_str).collect();
        rkeys.sort();
        assert_eq!(rkeys, ["attestationObject", "clientDataJSON"]);
        assert_eq!(pkc["id"], "AQID-g");
        assert!(!b.to_string().contains('='));
    }

    #[test]
    fn display_name_limits() {
        let mut r = reg();
        r.display_name = "x".repeat(31);
        assert!(r.validate().is_err());
        r.display_name = "é".repeat(30);
        assert!(r.validate().is_ok());
        r.display_name = "  ".into();
        assert!(r.validate().is_err());
    }

    #[test]
    fn method_decodes_with_nulls() {
        let m: Fido2Method = serde_json::from_str(r#"{"id":"x","displayName":null,"attestationCertificates":null,"createdDateTime":"2024-01-01T00:00:00Z","aaGuid":"90a3ccdf-635c-4729-a248-9b709135078f"}"#).unwrap();
        assert!(m.attestation_certificates.is_empty());
        assert!(m.created_date_time.is_some());
    }
}
