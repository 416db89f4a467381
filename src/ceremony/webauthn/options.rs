//! `PublicKeyCredentialCreationOptions` in WebAuthn's JSON form
//! (`PublicKeyCredentialCreationOptionsJSON`: every BufferSource as unpadded base64url),
//! which is what the bridge script sends and what Graph's creationOptions returns.
//!
//! Parsing mirrors Blink's WebIDL conversion: required members must be present (else
//! `TypeError`), unknown members are ignored, and unknown enum *strings*
//! (`attestation`, `userVerification`, `residentKey`, `authenticatorAttachment`) fall
//! back to their defaults, because WebAuthn declares them as DOMString.
use super::b64;
use super::error::WebAuthnError;
use serde::Deserialize;

/// Decoded creation options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationOptions {
    /// rp.id as given (None: the caller's host will be used), and rp.name.
    pub rp_id: Option<String>,
    /// rp.name (required by WebIDL).
    pub rp_name: String,
    /// user.id bytes.
    pub user_id: Vec<u8>,
    /// user.name.
    pub user_name: String,
    /// user.displayName.
    pub user_display_name: String,
    /// Challenge bytes.
    pub challenge: Vec<u8>,
    /// `alg` of each entry whose `type` is `public-key`, in the page's order (already
    /// defaulted to ES256, RS256 when the page sent an empty list).
    pub algorithms: Vec<i64>,
    /// Timeout in milliseconds, when given.
    pub timeout_ms: Option<u64>,
    /// excludeCredentials ids of type `public-key`, de-duplicated, in first-seen order.
    pub exclude_credentials: Vec<Vec<u8>>,
    /// authenticatorSelection.authenticatorAttachment, when a known value.
    pub attachment: Option<Attachment>,
    /// Effective resident-key requirement.
    pub resident_key: Requirement,
    /// Effective user-verification requirement.
    pub user_verification: Requirement,
    /// Attestation conveyance preference.
    pub attestation: Attestation,
    /// Extension inputs keystation understands.
    pub extensions: ExtensionInputs,
}

/// `required` / `preferred` / `discouraged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// `required`
    Required,
    /// `preferred`
    Preferred,
    /// `discouraged`
    Discouraged,
}

/// authenticatorAttachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// `platform`
    Platform,
    /// `cross-platform`
    CrossPlatform,
}

/// AttestationConveyancePreference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attestation {
    /// `none` (the default)
    None,
    /// `indirect`
    Indirect,
    /// `direct`
    Direct,
    /// `enterprise`
    Enterprise,
}

/// credentialProtectionPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionPolicy {
    /// `userVerificationOptional` (credProtect 1)
    UvOptional,
    /// `userVerificationOptionalWithCredentialIDList` (credProtect 2)
    UvOptionalWithCredentialIdList,
    /// `userVerificationRequired` (credProtect 3)
    UvRequired,
}

/// Extension inputs keystation acts on. Others are ignored, as a client may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionInputs {
    /// `credProps: true`
    pub cred_props: bool,
    /// `hmacCreateSecret: true`
    pub hmac_create_secret: bool,
    /// `prf` present (evaluation at creation is not supported and is dropped).
    pub prf: bool,
    /// `credentialProtectionPolicy`
    pub protection_policy: Option<ProtectionPolicy>,
    /// `enforceCredentialProtectionPolicy`
    pub enforce_protection_policy: bool,
    /// `largeBlob.support`: Some(true) = required, Some(false) = preferred.
    pub large_blob_required: Option<bool>,
    /// `credBlob` present.
    pub cred_blob: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    rp: Option<RawRp>,
    user: Option<RawUser>,
    challenge: Option<String>,
    pub_key_cred_params: Option<Vec<RawParam>>,
    timeout: Option<f64>,
    #[serde(default)]
    exclude_credentials: Vec<RawDescriptor>,
    authenticator_selection: Option<RawSelection>,
    attestation: Option<String>,
    extensions: Option<RawExtensions>,
}

#[derive(Deserialize)]
struct RawRp {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct RawParam {
    #[serde(rename = "type")]
    kind: Option<String>,
    alg: Option<f64>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSelection {
    authenticator_attachment: Option<String>,
    resident_key: Option<String>,
    #[serde(default)]
    require_resident_key: bool,
    user_verification: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExtensions {
    #[serde(default)]
    cred_props: bool,
    #[serde(default)]
    hmac_create_secret: bool,
    prf: Option<serde_json::Value>,
    credential_protection_policy: Option<String>,
    #[serde(default)]
    enforce_credential_protection_policy: bool,
    large_blob: Option<RawLargeBlob>,
    cred_blob: Option<String>,
}

#[derive(Deserialize)]
struct RawLargeBlob {
    support: Option<String>,
}

/// COSE ES256 and RS256: what Blink uses when pubKeyCredParams is empty.
const DEFAULT_ALGORITHMS: [i64; 2] = [-7, -257];

fn missing(member: &str, dict: &str) -> WebAuthnError {
    WebAuthnError::MalformedOptions(format!("Failed to read the '{member}' property from '{dict}': Required member is undefined."))
}

fn bytes(member: &str, text: &str) -> Result<Vec<u8>, WebAuthnError> {
    b64::decode(text).map_err(|_| WebAuthnError::MalformedOptions(format!("'{member}' is not base64url without padding")))
}

impl CreationOptions {
    /// Parse the JSON form. Errors are `TypeError`-class ([`WebAuthnError::MalformedOptions`])
    /// for shape problems and `NotSupportedError`-class ([`WebAuthnError::UnsupportedOptions`])
    /// where Blink's own conversion gives up.
    pub fn from_json(value: &serde_json::Value) -> Result<CreationOptions, WebAuthnError> {
        let raw: Raw = serde_json::from_value(value.clone())
            .map_err(|e| WebAuthnError::MalformedOptions(format!("publicKey: {e}")))?;
        const OPTS: &str = "PublicKeyCredentialCreationOptions";
        let rp = raw.rp.ok_or_else(|| missing("rp", OPTS))?;
        let user = raw.user.ok_or_else(|| missing("user", OPTS))?;
        let challenge = bytes("challenge", &raw.challenge.ok_or_else(|| missing("challenge", OPTS))?)?;
        let params = raw.pub_key_cred_params.ok_or_else(|| missing("pubKeyCredParams", OPTS))?;

        let rp_name = rp.name.ok_or_else(|| missing("name", "PublicKeyCredentialRpEntity"))?;
        const USER: &str = "PublicKeyCredentialUserEntity";
        let user_id = bytes("user.id", &user.id.ok_or_else(|| missing("id", USER))?)?;
        let user_name = user.name.ok_or_else(|| missing("name", USER))?;
        let user_display_name = user.display_name.ok_or_else(|| missing("displayName", USER))?;

        let algorithms = if params.is_empty() {
            DEFAULT_ALGORITHMS.to_vec()
        } else {
            let mut algs = Vec::new();
            for p in &params {
                let kind = p.kind.as_deref().ok_or_else(|| missing("type", "PublicKeyCredentialParameters"))?;
                let alg = p.alg.ok_or_else(|| missing("alg", "PublicKeyCredentialParameters"))?;
                if kind == "public-key" {
                    algs.push(webidl_long(alg));
                }
            }
            if algs.is_empty() {
                return Err(WebAuthnError::UnsupportedOptions("no pubKeyCredParams entry has type \"public-key\"".into()));
            }
            algs
        };

        let mut exclude_credentials: Vec<Vec<u8>> = Vec::new();
        for d in &raw.exclude_credentials {
            let kind = d.kind.as_deref().ok_or_else(|| missing("type", "PublicKeyCredentialDescriptor"))?;
            let id = bytes("excludeCredentials.id", d.id.as_deref().ok_or_else(|| missing("id", "PublicKeyCredentialDescriptor"))?)?;
            if kind == "public-key" && !exclude_credentials.contains(&id) {
                exclude_credentials.push(id);
            }
        }
        if raw.exclude_credentials.len() > 64 {
            return Err(WebAuthnError::TooManyExcludedCredentials(raw.exclude_credentials.len()));
        }
        if user_id.len() > 64 {
            return Err(WebAuthnError::UserHandleTooLong(user_id.len()));
        }

        let sel = raw.authenticator_selection;
        let attachment = sel.as_ref().and_then(|s| match s.authenticator_attachment.as_deref() {
            Some("platform") => Some(Attachment::Platform),
            Some("cross-platform") => Some(Attachment::CrossPlatform),
            _ => None,
        });
        let require_rk = sel.as_ref().is_some_and(|s| s.require_resident_key);
        let resident_key = match sel.as_ref().and_then(|s| s.resident_key.as_deref()).and_then(requirement) {
            Some(r) => r,
            None if require_rk => Requirement::Required,
            None => Requirement::Discouraged,
        };
        let user_verification =
            sel.as_ref().and_then(|s| s.user_verification.as_deref()).and_then(requirement).unwrap_or(Requirement::Preferred);
        let attestation = match raw.attestation.as_deref() {
            Some("direct") => Attestation::Direct,
            Some("indirect") => Attestation::Indirect,
            Some("enterprise") => Attestation::Enterprise,
            _ => Attestation::None,
        };

        let extensions = match raw.extensions {
            None => ExtensionInputs::default(),
            Some(x) => ExtensionInputs {
                cred_props: x.cred_props,
                hmac_create_secret: x.hmac_create_secret,
                prf: x.prf.is_some(),
                protection_policy: match x.credential_protection_policy.as_deref() {
                    None => None,
                    Some("userVerificationOptional") => Some(ProtectionPolicy::UvOptional),
                    Some("userVerificationOptionalWithCredentialIDList") => Some(ProtectionPolicy::UvOptionalWithCredentialIdList),
                    Some("userVerificationRequired") => Some(ProtectionPolicy::UvRequired),
                    Some(other) => {
                        return Err(WebAuthnError::UnsupportedOptions(format!("unknown credentialProtectionPolicy {other:?}")));
                    }
                },
                enforce_protection_policy: x.enforce_credential_protection_policy,
                large_blob_required: x.large_blob.map(|l| l.support.as_deref() == Some("required")),
                cred_blob: x.cred_blob.is_some(),
            },
        };

        Ok(CreationOptions {
            rp_id: rp.id,
            rp_name,
            user_id,
            user_name,
            user_display_name,
            challenge,
            algorithms,
            timeout_ms: raw.timeout.filter(|t| t.is_finite() && *t >= 0.0).map(|t| t.min(u32::MAX as f64) as u64),
            exclude_credentials,
            attachment,
            resident_key,
            user_verification,
            attestation,
            extensions,
        })
    }
}

fn requirement(s: &str) -> Option<Requirement> {
    match s {
        "required" => Some(Requirement::Required),
        "preferred" => Some(Requirement::Preferred),
        "discouraged" => Some(Requirement::Discouraged),
        _ => None,
    }
}

/// WebIDL `long` conversion: truncate toward zero, wrap modulo 2^32 into i32.
fn webidl_long(x: f64) -> i64 {
    if !x.is_finite() {
        return 0;
    }
    let t = x.trunc() % 4294967296.0;
    let t = if t < 0.0 { t + 4294967296.0 } else { t };
    let u = t as u64 as u32;
    u as i32 as i64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Options shaped like Entra's (browser.md §4, entra-graph.md §2.2), rp.id localhost.
    pub(crate) fn entra_like() -> serde_json::Value {
        json!({
            "rp": {"id": "localhost", "name": "Microsoft"},
            "user": {"id": b64::encode(b"OF:user-handle"), "name": "ada@contoso.com", "displayName": "Ada Lovelace"},
            "challenge": b64::encode(b"eyJhbGciOi.JWE.challenge"),
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "timeout": 60000,
            "excludeCredentials": [],
            "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
            "attestation": "direct",
            "extensions": {"hmacCreateSecret": true, "credProps": true}
        })
    }

    #[test]
    fn parses_entra_like_options() {
        let o = CreationOptions::from_json(&entra_like()).unwrap();
        assert_eq!(o.rp_id.as_deref(), Some("localhost"));
        assert_eq!(o.user_id, b"OF:user-handle");
        assert_eq!(o.algorithms, vec![-7, -257]);
        assert_eq!(o.resident_key, Requirement::Required);
        assert_eq!(o.user_verification, Requirement::Required);
        assert_eq!(o.attestation, Attestation::Direct);
        assert_eq!(o.attachment, Some(Attachment::CrossPlatform));
        assert!(o.extensions.hmac_create_secret && o.extensions.cred_props);
        assert_eq!(o.timeout_ms, Some(60000));
    }

    #[test]
    fn missing_required_members_are_type_errors() {
        for (path, member) in [("challenge", "challenge"), ("rp", "rp"), ("user", "user"), ("pubKeyCredParams", "pubKeyCredParams")] {
            let mut v = entra_like();
            v.as_object_mut().unwrap().remove(path);
            let e = CreationOptions::from_json(&v).unwrap_err();
            assert_eq!(e.dom_exception().name, "TypeError");
            assert!(e.to_string().contains(member), "{e}");
        }
        let mut v = entra_like();
        v["user"].as_object_mut().unwrap().remove("displayName");
        assert_eq!(CreationOptions::from_json(&v).unwrap_err().dom_exception().name, "TypeError");
        let mut v = entra_like();
        v["challenge"] = json!("padded==");
        assert_eq!(CreationOptions::from_json(&v).unwrap_err().dom_exception().name, "TypeError");
    }

    #[test]
    fn defaults_follow_webidl() {
        let mut v = entra_like();
        let o = v.as_object_mut().unwrap();
        o.remove("authenticatorSelection");
        o.remove("attestation");
        o.remove("timeout");
        o.insert("pubKeyCredParams".into(), json!([]));
        let o = CreationOptions::from_json(&v).unwrap();
        assert_eq!(o.algorithms, vec![-7, -257]);
        assert_eq!(o.resident_key, Requirement::Discouraged);
        assert_eq!(o.user_verification, Requirement::Preferred);
        assert_eq!(o.attestation, Attestation::None);
        assert_eq!(o.timeout_ms, None);
    }

    #[test]
    fn unknown_enum_strings_fall_back_and_resident_key_wins_over_require() {
        let mut v = entra_like();
        v["authenticatorSelection"] = json!({"residentKey": "preferred", "requireResidentKey": true, "userVerification": "sometimes"});
        v["attestation"] = json!("maybe");
        let o = CreationOptions::from_json(&v).unwrap();
        assert_eq!(o.resident_key, Requirement::Preferred);
        assert_eq!(o.user_verification, Requirement::Preferred);
        assert_eq!(o.attestation, Attestation::None);
        v["authenticatorSelection"] = json!({"residentKey": "bogus", "requireResidentKey": true});
        assert_eq!(CreationOptions::from_json(&v).unwrap().resident_key, Requirement::Required);
    }

    #[test]
    fn params_of_unknown_type_are_skipped_but_not_all_of_them() {
        let mut v = entra_like();
        v["pubKeyCredParams"] = json!([{"type": "future", "alg": -7}, {"type": "public-key", "alg": -8}]);
        assert_eq!(CreationOptions::from_json(&v).unwrap().algorithms, vec![-8]);
        v["pubKeyCredParams"] = json!([{"type": "future", "alg": -7}]);
        assert_eq!(CreationOptions::from_json(&v).unwrap_err().dom_exception().name, "NotSupportedError");
    }

    #[test]
    fn exclude_list_is_deduplicated_and_limited() {
        let mut v = entra_like();
        let a = b64::encode(b"cred-a");
        v["excludeCredentials"] = json!([{"type": "public-key", "id": a}, {"type": "public-key", "id": a, "transports": ["usb"]}, {"type": "other", "id": "AA"}]);
        assert_eq!(CreationOptions::from_json(&v).unwrap().exclude_credentials, vec![b"cred-a".to_vec()]);
        let many: Vec<_> = (0..65u8).map(|i| json!({"type": "public-key", "id": b64::encode(&[i])})).collect();
        v["excludeCredentials"] = json!(many);
        assert_eq!(CreationOptions::from_json(&v).unwrap_err().dom_exception().name, "RangeError");
    }

    #[test]
    fn long_user_handles_are_type_errors() {
        let mut v = entra_like();
        v["user"]["id"] = json!(b64::encode(&[7u8; 65]));
        let e = CreationOptions::from_json(&v).unwrap_err();
        assert_eq!(e.dom_exception(), super::super::error::DomException { name: "TypeError", message: "User handle exceeds 64 bytes.".into() });
    }

    #[test]
    fn cred_protect_strings() {
        let mut v = entra_like();
        v["extensions"] = json!({"credentialProtectionPolicy": "userVerificationOptional", "enforceCredentialProtectionPolicy": true});
        let o = CreationOptions::from_json(&v).unwrap();
        assert_eq!(o.extensions.protection_policy, Some(ProtectionPolicy::UvOptional));
        assert!(o.extensions.enforce_protection_policy);
        v["extensions"] = json!({"credentialProtectionPolicy": "whatever"});
        assert_eq!(CreationOptions::from_json(&v).unwrap_err().dom_exception().name, "NotSupportedError");
    }

    #[test]
    fn webidl_long_wraps() {
        assert_eq!(webidl_long(-7.9), -7);
        assert_eq!(webidl_long(4294967289.0), -7);
        assert_eq!(webidl_long(f64::NAN), 0);
    }
}
