//! The direct Graph registration path: `fido2Methods/creationOptions` → keystation as
//! the WebAuthn client (Chromium-exact clientDataJSON for origin
//! `https://` + rp.id = `https://login.microsoft.com`) → makeCredential on the key with
//! the station's PIN → `POST fido2Methods` with only the members Graph accepts.
//!
//! Graph's options are turned into WebAuthn's JSON form before they reach the WebAuthn
//! client, with two adaptations, both documented in `docs/pipeline.md`:
//!
//! * `excludeCredentials` ids arrive in one of three encodings (standard base64 with
//!   padding, base64url, base64url with a padding-count digit); every plausible reading
//!   of each id goes into the exclude list ([`crate::entra::graph::decode_credential_id`]),
//!   so a key already registered to the user always answers CREDENTIAL_EXCLUDED.
//! * `enforceCredentialProtectionPolicy: true` with `userVerificationOptional` is a
//!   combination Chromium refuses (enforcing level 1 means nothing); it is dropped and
//!   level 1 is requested, which is what Entra asks for.
#![warn(missing_docs)]
use crate::ceremony::registrar::{CeremonyError, PendingRegistration, Registered, Registrar, RegistrationObserver, RegistrationPath, RegistrationRequest};
use crate::ceremony::webauthn::{b64, BoxFuture, CancelToken, FrameContext, KeyCredentialMaker, Origin, RpIdPolicy, WebAuthnClient, WebAuthnError, ENTRA_RP_ID};
use crate::entra::graph::{ApiVersion, CreationOptions, Fido2Registration, GraphClient};
use crate::key::worker::KeyHandle;
use crate::key::KeyError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Registers keys through Graph's FIDO2 provisioning API.
#[derive(Debug, Clone)]
pub struct GraphRegistrar {
    graph: GraphClient,
    challenge_timeout_minutes: Option<u32>,
    client: WebAuthnClient,
}

impl GraphRegistrar {
    /// A registrar on `graph`. With `challenge_timeout_minutes`, creation options come
    /// from the beta API with that challenge lifetime (5–43200); otherwise from the
    /// client's API version (v1.0: a fixed 5 minutes).
    pub fn new(graph: GraphClient, challenge_timeout_minutes: Option<u32>) -> GraphRegistrar {
        GraphRegistrar { graph, challenge_timeout_minutes, client: WebAuthnClient::new(RpIdPolicy::entra()) }
    }

    /// Use another rp.id allow-list (tests against a relying party other than Entra).
    pub fn with_rp_policy(mut self, policy: RpIdPolicy) -> GraphRegistrar {
        self.client = WebAuthnClient::new(policy);
        self
    }

    async fn creation_options(&self, user_id: &str) -> Result<CreationOptions, CeremonyError> {
        let graph = match self.challenge_timeout_minutes {
            Some(_) => self.graph.with_api_version(ApiVersion::Beta),
            None => self.graph.clone(),
        };
        Ok(graph.fido2_creation_options(user_id, self.challenge_timeout_minutes).await?)
    }

    async fn run(&self, key: &Arc<KeyHandle>, request: &RegistrationRequest, observer: &dyn RegistrationObserver, cancel: CancelToken) -> Result<Registered, CeremonyError> {
        observer.progress("asking Graph for creation options");
        let options = tokio::select! {
            o = self.creation_options(&request.user_id) => o?,
            _ = cancel.cancelled() => return Err(CeremonyError::Cancelled),
        };
        let rp_id = options.public_key.rp.id.clone();
        let origin = Origin::parse(&format!("https://{rp_id}")).map_err(|e| CeremonyError::Other(format!("Graph's rp.id {rp_id:?} cannot form an origin: {e}")))?;
        let webauthn_options = webauthn_json(&options, &request.upn)?;
        let challenge = options.public_key.challenge_bytes().map_err(|e| CeremonyError::Other(format!("Graph's challenge is not base64url: {e}")))?;

        observer.before_make_credential().await.map_err(CeremonyError::Journal)?;
        observer.progress("touch the key to create the passkey");
        let maker = KeyCredentialMaker::new(Arc::clone(key), Some(request.pin.clone()));
        let created = self
            .client
            .create(&webauthn_options, &origin, &FrameContext::TopLevel, &maker, &cancel)
            .await
            .map_err(ceremony_error)?;

        let pending = PendingRegistration {
            credential_id: created.raw_id.clone(),
            aaguid: created.key_response.aaguid,
            display_name: request.display_name.clone(),
            challenge_sha256: Sha256::digest(&challenge).into(),
            challenge_expires_at: options.challenge_timeout_date_time,
        };
        observer.before_submit(&pending).await.map_err(CeremonyError::Journal)?;
        observer.progress("registering the passkey with Graph");
        let extension_results = match serde_json::to_value(&created.extension_results) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let registration = Fido2Registration {
            display_name: request.display_name.clone(),
            credential_id: created.raw_id.clone(),
            client_data_json: created.client_data_json.as_bytes().to_vec(),
            attestation_object: created.attestation_object.clone(),
            client_extension_results: extension_results,
        };
        // Not raced against `cancel`: once the POST is on its way, its answer decides
        // what is true in Entra, and the pipeline must learn it.
        let method = self.graph.register_fido2_method(&request.user_id, &registration).await?;
        Ok(Registered {
            method_id: method.id,
            credential_id: created.raw_id,
            aaguid: created.key_response.aaguid,
            display_name: method.display_name.unwrap_or_else(|| request.display_name.clone()),
            created: method.created_date_time,
            path: RegistrationPath::Graph,
        })
    }
}

impl Registrar for GraphRegistrar {
    fn path(&self) -> RegistrationPath {
        RegistrationPath::Graph
    }

    fn register<'a>(
        &'a self,
        key: &'a Arc<KeyHandle>,
        request: &'a RegistrationRequest,
        observer: &'a dyn RegistrationObserver,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<Registered, CeremonyError>> {
        Box::pin(self.run(key, request, observer, cancel))
    }
}

fn ceremony_error(e: WebAuthnError) -> CeremonyError {
    match e {
        WebAuthnError::CredentialExcluded => CeremonyError::Key(KeyError::CredentialExcluded),
        WebAuthnError::Key(k) => CeremonyError::Key(k),
        WebAuthnError::Aborted => CeremonyError::Cancelled,
        WebAuthnError::RpIdNotAllowed { rp_id, .. } => {
            CeremonyError::Policy(format!("Graph asked for a credential for {rp_id:?}; keystation only registers keys for {ENTRA_RP_ID}"))
        }
        other => CeremonyError::Other(other.to_string()),
    }
}

// CeremonyError carries a GraphError (ids, hint) and is large; failures are rare.
#[allow(clippy::result_large_err)]
/// Graph's creation options in WebAuthn's JSON form (every binary member unpadded
/// base64url), with the adaptations listed in the module docs.
pub fn webauthn_json(options: &CreationOptions, upn: &str) -> Result<Value, CeremonyError> {
    let pk = &options.public_key;
    let bad = |what: &str, e: &dyn std::fmt::Display| CeremonyError::Other(format!("Graph's creation options have an unusable {what}: {e}"));
    let user_handle = pk.user_handle().map_err(|e| bad("user.id", &e))?;
    let challenge = pk.challenge_bytes().map_err(|e| bad("challenge", &e))?;
    let exclude: Vec<Value> = pk
        .exclude_credential_ids()
        .map_err(|e| bad("excludeCredentials id", &e))?
        .iter()
        .map(|id| json!({"type": "public-key", "id": b64::encode(id)}))
        .collect();
    let mut extensions = Map::new();
    if let Value::Object(given) = &pk.extensions {
        for (k, v) in given {
            match k.as_str() {
                "enforceCredentialProtectionPolicy" => {
                    let level1 = given.get("credentialProtectionPolicy").and_then(Value::as_str).is_none_or(|p| p == "userVerificationOptional");
                    if !level1 {
                        extensions.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    extensions.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let params: Vec<Value> = pk.pub_key_cred_params.iter().map(|p| json!({"type": p.kind.clone().unwrap_or_else(|| "public-key".into()), "alg": p.alg})).collect();
    let mut out = json!({
        "rp": {"id": pk.rp.id, "name": pk.rp.name.clone().unwrap_or_else(|| "Microsoft".into())},
        "user": {
            "id": b64::encode(&user_handle),
            "name": pk.user.name.clone().unwrap_or_else(|| upn.to_string()),
            "displayName": pk.user.display_name.clone().or_else(|| pk.user.name.clone()).unwrap_or_else(|| upn.to_string()),
        },
        "challenge": b64::encode(&challenge),
        "pubKeyCredParams": params,
        "excludeCredentials": exclude,
        "attestation": pk.attestation.clone().unwrap_or_else(|| "direct".into()),
        "extensions": extensions,
    });
    if let Some(t) = pk.timeout.filter(|t| *t > 0) {
        out["timeout"] = json!(t);
    }
    if let Some(sel) = &pk.authenticator_selection {
        let mut s = Map::new();
        if let Some(a) = &sel.authenticator_attachment {
            s.insert("authenticatorAttachment".into(), json!(a));
        }
        if let Some(r) = sel.require_resident_key {
            s.insert("requireResidentKey".into(), json!(r));
        }
        if let Some(r) = &sel.resident_key {
            s.insert("residentKey".into(), json!(r));
        }
        if let Some(uv) = &sel.user_verification {
            s.insert("userVerification".into(), json!(uv));
        }
        out["authenticatorSelection"] = Value::Object(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::webauthn::options::CreationOptions as WebAuthnOptions;
    use crate::entra::graph::parse_creation_options;

    fn graph_options(exclude_id: &str) -> CreationOptions {
        parse_creation_options(
            json!({
                "challengeTimeoutDateTime": "2030-01-01T00:05:00Z",
                "publicKey": {
                    "rp": {"id": "login.microsoft.com", "name": "Microsoft"},
                    "user": {"id": "T0Y6AAECAwQ", "name": "a@contoso.com", "displayName": "A"},
                    "challenge": "Y2hhbGxlbmdl",
                    "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                    "timeout": 60000,
                    "excludeCredentials": [{"type": "public-key", "id": exclude_id, "transports": ["usb"]}],
                    "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
                    "attestation": "direct",
                    "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"}
                }
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn graph_options_become_acceptable_webauthn_options() {
        let v = webauthn_json(&graph_options("+/+/AA=="), "a@contoso.com").unwrap();
        let o = WebAuthnOptions::from_json(&v).unwrap();
        // Chromium's option rules accept it (the raw Graph combination is refused).
        crate::ceremony::webauthn::request::check_options(&o).unwrap();
        assert_eq!(o.rp_id.as_deref(), Some("login.microsoft.com"));
        assert_eq!(o.challenge, b"challenge");
        assert!(o.exclude_credentials.contains(&vec![0xfb, 0xff, 0xbf, 0x00]), "standard base64 id decoded");
        assert!(o.extensions.hmac_create_secret);
        assert!(!o.extensions.enforce_protection_policy);
        assert_eq!(v["user"]["id"], "T0Y6AAECAwQ");
    }
}
