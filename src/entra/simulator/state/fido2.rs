//! Registered FIDO2 methods and issued creation challenges.
use crate::entra::simulator::clock::graph_time;
use crate::entra::simulator::webauthn::b64;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Where a method came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisteredVia {
    Seed,
    Graph,
    Browser,
}

impl RegisteredVia {
    pub fn as_str(self) -> &'static str {
        match self {
            RegisteredVia::Seed => "seed",
            RegisteredVia::Graph => "graph",
            RegisteredVia::Browser => "browser",
        }
    }
}

/// A registered FIDO2 (passkey) method.
#[derive(Debug, Clone)]
pub struct Fido2Method {
    pub id: String,
    pub credential_id: Vec<u8>,
    pub display_name: String,
    pub created: DateTime<Utc>,
    pub aaguid: String,
    pub model: Option<String>,
    pub attestation_certificates: Vec<String>,
    pub attestation_level: &'static str,
    pub passkey_type: &'static str,
    pub registered_via: RegisteredVia,
    /// COSE algorithm of the credential key (None for seeded methods).
    pub public_key_alg: Option<i64>,
    /// `fmt` of the attestation that registered it.
    pub attestation_format: Option<String>,
    pub sign_count: u32,
}

impl Fido2Method {
    /// Method ids are opaque; like the ones Entra lists, they are the credential id in
    /// base64url followed by a padding-count digit.
    pub fn id_for(credential_id: &[u8]) -> String {
        b64::b64url_padding_digit(credential_id)
    }

    /// Graph representation (never includes `publicKeyCredential`).
    pub fn to_graph(&self) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
            "id": self.id,
            "displayName": self.display_name,
            "createdDateTime": graph_time(self.created),
            "aaGuid": self.aaguid,
            "model": self.model,
            "attestationCertificates": self.attestation_certificates,
            "attestationLevel": self.attestation_level,
            "passkeyType": self.passkey_type,
        })
    }

    /// Simulator-only view for `/_sim` (adds what Graph hides).
    pub fn to_control(&self) -> Value {
        let mut v = self.to_graph();
        if let Some(o) = v.as_object_mut() {
            o.insert("credentialId".into(), json!(b64::b64url(&self.credential_id)));
            o.insert("registeredVia".into(), json!(self.registered_via.as_str()));
            o.insert("publicKeyAlgorithm".into(), json!(self.public_key_alg));
            o.insert("attestationFormat".into(), json!(self.attestation_format));
            o.insert("signCount".into(), json!(self.sign_count));
        }
        v
    }
}

/// Who a challenge was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Graph creationOptions.
    Graph,
    /// Security-info `/fido/create` page.
    Browser,
}

/// An issued WebAuthn creation challenge.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user_id: String,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub used: bool,
    pub purpose: ChallengePurpose,
}
