//! The finished registration: everything the page's `PublicKeyCredential` exposes,
//! plus what keystation records about it.
use super::b64;
use super::extensions::ClientExtensionResults;
use super::origin::Origin;
use crate::key::ctap2::types::{AuthenticatorInfo, MakeCredentialResponse};
use serde_json::json;

/// A credential made by [`super::WebAuthnClient::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCredential {
    /// The rp.id the credential is scoped to.
    pub rp_id: String,
    /// The browser-reported origin of the calling document.
    pub origin: Origin,
    /// Credential id (`rawId`).
    pub raw_id: Vec<u8>,
    /// The exact clientDataJSON whose SHA-256 the key signed.
    pub client_data_json: String,
    /// The WebAuthn attestationObject.
    pub attestation_object: Vec<u8>,
    /// authenticatorData as returned to the page (AAGUID zeroed if attestation was erased).
    pub authenticator_data: Vec<u8>,
    /// `getTransports()`: sorted, without duplicates.
    pub transports: Vec<String>,
    /// `getPublicKey()`: SPKI DER, or `None` (→ `null`).
    pub public_key_spki: Option<Vec<u8>>,
    /// `getPublicKeyAlgorithm()`: the COSE alg of the credential key.
    pub public_key_algorithm: i64,
    /// `getClientExtensionResults()`.
    pub extension_results: ClientExtensionResults,
    /// True when the attestation was replaced by `none` (attestation: "none").
    pub attestation_erased: bool,
    /// The key's untouched answer (for records and byte-exactness checks).
    pub key_response: MakeCredentialResponse,
}

/// WebAuthn transports keystation reports; anything else from getInfo is dropped.
const KNOWN_TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// `getTransports()` for a USB key: the key's getInfo transports (known values only)
/// plus `usb`, sorted and de-duplicated. Chromium reports nothing when the key does
/// not list transports; keystation reports `["usb"]` because it always talks to the
/// key over USB and Entra's own post carries `transports=usb`.
pub fn transports_for(info: &AuthenticatorInfo) -> Vec<String> {
    let mut t: Vec<String> =
        info.transports.iter().filter(|t| KNOWN_TRANSPORTS.contains(&t.as_str())).cloned().collect();
    t.push("usb".into());
    t.sort();
    t.dedup();
    t
}

impl CreatedCredential {
    /// `PublicKeyCredential.toJSON()` (WebAuthn L3 `RegistrationResponseJSON`): binary
    /// members as unpadded base64url. The bridge script builds the page's object from
    /// this same JSON.
    pub fn registration_response_json(&self) -> serde_json::Value {
        let id = b64::encode(&self.raw_id);
        let mut response = json!({
            "clientDataJSON": b64::encode(self.client_data_json.as_bytes()),
            "authenticatorData": b64::encode(&self.authenticator_data),
            "transports": self.transports,
            "publicKeyAlgorithm": self.public_key_algorithm,
            "attestationObject": b64::encode(&self.attestation_object),
        });
        if let (Some(spki), Some(obj)) = (&self.public_key_spki, response.as_object_mut()) {
            obj.insert("publicKey".into(), json!(b64::encode(spki)));
        }
        json!({
            "id": id,
            "rawId": id,
            "response": response,
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": self.extension_results,
            "type": "public-key",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_sorted_known_values_with_usb() {
        let mut info = AuthenticatorInfo::default();
        assert_eq!(transports_for(&info), ["usb"]);
        info.transports = vec!["usb".into(), "nfc".into(), "lightning".into()];
        assert_eq!(transports_for(&info), ["nfc", "usb"]);
    }
}
