//! Chromium's option validation and defaults, and the CTAP2 request they produce.
//!
//! Sources (Chromium `content/browser/webauth/authenticator_common_impl.cc`,
//! `device/fido/make_credential_request_handler.cc`), copied deliberately:
//! * credProtect consistency: enforcing "no policy" or `userVerificationOptional` is an
//!   error; `userVerificationOptional` without a possible discoverable credential is an
//!   error; `userVerificationRequired` without `userVerification: "required"` is an
//!   error. All three are `NotSupportedError` before any key is touched.
//! * credProtect default when the page gives none: rk required + uv preferred → level 3;
//!   rk required or preferred → level 2 ("or better"); otherwise none. Only sent when the
//!   key supports credProtect; if the page enforces a level the key cannot store, the
//!   key is unsuitable.
//! * residentKey `preferred` makes a discoverable credential when the key supports rk,
//!   has room, and can do PIN/UV.
//! * UV is upgraded to required for discoverable credentials and for `alwaysUv` keys,
//!   and to at least preferred when hmac-secret is requested.
//! * timeout: absent → 10 min; otherwise clamped to 10 s ..= 10 min.
//!
//! keystation-specific, and why:
//! * pubKeyCredParams is filtered to ES256, EdDSA and RS256 (the algorithms keystation
//!   can return a public key for and the tests verify), then to the key's advertised
//!   algorithms; an empty result is `NotSupportedError` without touching the key.
//! * `authenticatorAttachment: "platform"` is refused at once: keystation only drives
//!   roaming keys (Chromium on Linux would wait for its timeout and say NotAllowedError).
//! * A key with a PIN but without `makeCredUvNotRqd` gets the PIN even for
//!   uv=discouraged, because it would refuse makeCredential otherwise.
use super::error::WebAuthnError;
use super::options::{Attachment, Attestation, CreationOptions, ProtectionPolicy, Requirement};
use crate::key::ctap2::types::{
    AuthenticatorInfo, COSE_EDDSA, COSE_ES256, COSE_RS256, MakeCredentialRequest, RpEntity, UserEntity,
};
use std::time::Duration;

/// Algorithms keystation can turn into `getPublicKey()` SPKI, in no particular order.
pub const SUPPORTED_ALGORITHMS: [i64; 3] = [COSE_ES256, COSE_EDDSA, COSE_RS256];
/// Chromium's bounds for a WebAuthn request's timeout.
pub const TIMEOUT_MIN: Duration = Duration::from_secs(10);
/// Upper bound, and the value used when the page gives no timeout.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(600);

/// Chromium's `AdjustTimeout`.
pub fn adjust_timeout(timeout_ms: Option<u64>) -> Duration {
    match timeout_ms {
        None => TIMEOUT_MAX,
        Some(ms) => Duration::from_millis(ms).clamp(TIMEOUT_MIN, TIMEOUT_MAX),
    }
}

/// The credProtect level a request asks for (`OrBetter` = level 2, or the key's own
/// higher default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredProtectRequest {
    /// Exactly this level (1..=3).
    Level(u8),
    /// Level 2, unless the key defaults to better.
    UvOrCredIdRequiredOrBetter,
}

/// Check the option combinations Chromium rejects before it looks for a key, and
/// compute the credProtect request. Needs no key.
pub fn check_options(opts: &CreationOptions) -> Result<Option<CredProtectRequest>, WebAuthnError> {
    let ext = &opts.extensions;
    let might_create_rk = opts.resident_key != Requirement::Discouraged;
    if ext.enforce_protection_policy && matches!(ext.protection_policy, None | Some(ProtectionPolicy::UvOptional)) {
        return Err(WebAuthnError::ProtectionPolicyInconsistent(
            "enforceCredentialProtectionPolicy needs credentialProtectionPolicy stricter than userVerificationOptional",
        ));
    }
    if !might_create_rk && ext.protection_policy == Some(ProtectionPolicy::UvOptional) {
        return Err(WebAuthnError::ProtectionPolicyInconsistent(
            "userVerificationOptional only makes sense when a discoverable credential may be created",
        ));
    }
    if ext.protection_policy == Some(ProtectionPolicy::UvRequired) && opts.user_verification != Requirement::Required {
        return Err(WebAuthnError::ProtectionPolicyInconsistent(
            "userVerificationRequired needs authenticatorSelection.userVerification \"required\"",
        ));
    }
    if opts.attachment == Some(Attachment::Platform) {
        return Err(WebAuthnError::AuthenticatorUnsuitable(
            "the page asked for a platform authenticator; keystation only drives roaming security keys".into(),
        ));
    }
    if ext.large_blob_required == Some(true) {
        return Err(WebAuthnError::AuthenticatorUnsuitable("the page requires largeBlob, which keystation does not support".into()));
    }
    Ok(match ext.protection_policy {
        Some(ProtectionPolicy::UvOptional) => Some(CredProtectRequest::Level(1)),
        Some(ProtectionPolicy::UvOptionalWithCredentialIdList) => Some(CredProtectRequest::Level(2)),
        Some(ProtectionPolicy::UvRequired) => Some(CredProtectRequest::Level(3)),
        None if opts.resident_key == Requirement::Required && opts.user_verification == Requirement::Preferred => {
            Some(CredProtectRequest::Level(3))
        }
        None if might_create_rk => Some(CredProtectRequest::UvOrCredIdRequiredOrBetter),
        None => None,
    })
}

/// The CTAP2 request plus what the response handling needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    /// What goes to the key.
    pub ctap: MakeCredentialRequest,
    /// The clamped ceremony timeout.
    pub timeout: Duration,
    /// Attestation conveyance preference.
    pub attestation: Attestation,
}

/// Build the CTAP2 makeCredential request for this key.
pub fn prepare(
    opts: &CreationOptions,
    rp_id: &str,
    client_data_hash: [u8; 32],
    info: &AuthenticatorInfo,
) -> Result<PreparedRequest, WebAuthnError> {
    let cred_protect = check_options(opts)?;

    let algorithms: Vec<i64> = opts
        .algorithms
        .iter()
        .copied()
        .filter(|a| SUPPORTED_ALGORITHMS.contains(a))
        .filter(|a| info.algorithms.is_empty() || info.algorithms.contains(a))
        .fold(Vec::new(), |mut acc, a| {
            if !acc.contains(&a) {
                acc.push(a);
            }
            acc
        });
    if algorithms.is_empty() {
        return Err(WebAuthnError::NoSupportedAlgorithm { requested: opts.algorithms.clone(), key: info.algorithms.clone() });
    }

    let pin_set = info.option("clientPin") == Some(true);
    let builtin_uv = info.option("uv") == Some(true);
    let can_uv = pin_set || builtin_uv;
    let supports_rk = info.option("rk") == Some(true);
    let resident_key = match opts.resident_key {
        Requirement::Required if !supports_rk => {
            return Err(WebAuthnError::AuthenticatorUnsuitable("the key cannot store discoverable credentials".into()));
        }
        Requirement::Required => true,
        Requirement::Preferred => supports_rk && info.remaining_discoverable_credentials != Some(0) && can_uv,
        Requirement::Discouraged => false,
    };

    let hmac_requested = opts.extensions.hmac_create_secret || opts.extensions.prf;
    let hmac_secret = hmac_requested && info.supports_extension("hmac-secret");
    let user_verification = match opts.user_verification {
        _ if resident_key || info.option("alwaysUv") == Some(true) => true,
        Requirement::Required => true,
        Requirement::Preferred => can_uv,
        Requirement::Discouraged => (hmac_secret && can_uv) || (pin_set && info.option("makeCredUvNotRqd") != Some(true)),
    };
    if user_verification && !can_uv {
        return Err(WebAuthnError::AuthenticatorUnsuitable(
            "user verification is required but the key has neither a PIN nor built-in verification".into(),
        ));
    }

    let cred_protect = match cred_protect {
        Some(_) if !info.supports_extension("credProtect") => {
            if opts.extensions.enforce_protection_policy {
                return Err(WebAuthnError::AuthenticatorUnsuitable(
                    "the page enforces a credProtect level but the key does not support credProtect".into(),
                ));
            }
            None
        }
        Some(CredProtectRequest::Level(l)) => Some(l),
        Some(CredProtectRequest::UvOrCredIdRequiredOrBetter) => Some(2),
        None => None,
    };

    // A credential id longer than the key's maximum cannot be one of its credentials.
    let exclude_list = opts
        .exclude_credentials
        .iter()
        .filter(|id| info.max_credential_id_length.is_none_or(|max| id.len() <= max as usize))
        .cloned()
        .collect();

    let ctap = MakeCredentialRequest {
        client_data_hash,
        rp: RpEntity { id: rp_id.to_string(), name: Some(opts.rp_name.clone()) },
        user: UserEntity {
            id: opts.user_id.clone(),
            name: Some(opts.user_name.clone()),
            display_name: Some(opts.user_display_name.clone()),
        },
        algorithms,
        exclude_list,
        resident_key,
        user_verification,
        cred_protect,
        hmac_secret,
        enterprise_attestation: None,
    };
    Ok(PreparedRequest { ctap, timeout: adjust_timeout(opts.timeout_ms), attestation: opts.attestation })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ceremony::webauthn::options::tests::entra_like;
    use serde_json::json;

    /// A CTAP 2.1 key with a PIN: rk, credProtect, hmac-secret, ES256 + EdDSA.
    pub(crate) fn key_info() -> AuthenticatorInfo {
        AuthenticatorInfo {
            versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: vec!["credProtect".into(), "hmac-secret".into()],
            options: [("rk", true), ("clientPin", true), ("up", true), ("makeCredUvNotRqd", true)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            algorithms: vec![-7, -8],
            transports: vec!["usb".into()],
            max_credential_id_length: Some(128),
            min_pin_length: 4,
            ..Default::default()
        }
    }

    fn opts(v: serde_json::Value) -> CreationOptions {
        CreationOptions::from_json(&v).unwrap()
    }

    #[test]
    fn entra_options_become_the_expected_ctap_request() {
        let p = prepare(&opts(entra_like()), "localhost", [9; 32], &key_info()).unwrap();
        assert_eq!(p.ctap.algorithms, vec![-7]);
        assert!(p.ctap.resident_key && p.ctap.user_verification && p.ctap.hmac_secret);
        // rk required + uv required, no policy: level 2 ("or better").
        assert_eq!(p.ctap.cred_protect, Some(2));
        assert_eq!(p.ctap.rp, RpEntity { id: "localhost".into(), name: Some("Microsoft".into()) });
        assert_eq!(p.ctap.user.name.as_deref(), Some("ada@contoso.com"));
        assert_eq!(p.ctap.client_data_hash, [9; 32]);
        assert_eq!(p.timeout, Duration::from_secs(60));
        assert_eq!(p.attestation, Attestation::Direct);
    }

    #[test]
    fn cred_protect_rules_copy_chromium() {
        let case = |sel: serde_json::Value, ext: serde_json::Value| {
            let mut v = entra_like();
            v["authenticatorSelection"] = sel;
            v["extensions"] = ext;
            check_options(&opts(v))
        };
        let rk_uvreq = json!({"residentKey": "required", "userVerification": "required"});
        let rk_uvpref = json!({"residentKey": "required", "userVerification": "preferred"});
        let no_rk = json!({"residentKey": "discouraged", "userVerification": "preferred"});
        let inconsistent = |r: Result<_, WebAuthnError>| matches!(r, Err(WebAuthnError::ProtectionPolicyInconsistent(_)));
        // The Graph sample's combination, which real Chrome rejected (browser.md §3).
        assert!(inconsistent(case(rk_uvreq.clone(), json!({"credentialProtectionPolicy": "userVerificationOptional", "enforceCredentialProtectionPolicy": true}))));
        assert!(inconsistent(case(rk_uvreq.clone(), json!({"enforceCredentialProtectionPolicy": true}))));
        assert!(inconsistent(case(no_rk.clone(), json!({"credentialProtectionPolicy": "userVerificationOptional"}))));
        assert!(inconsistent(case(rk_uvpref.clone(), json!({"credentialProtectionPolicy": "userVerificationRequired"}))));
        // Accepted combinations and the levels they ask for.
        assert_eq!(case(rk_uvreq.clone(), json!({"credentialProtectionPolicy": "userVerificationOptional"})).unwrap(), Some(CredProtectRequest::Level(1)));
        assert_eq!(case(rk_uvreq.clone(), json!({"credentialProtectionPolicy": "userVerificationRequired", "enforceCredentialProtectionPolicy": true})).unwrap(), Some(CredProtectRequest::Level(3)));
        assert_eq!(case(no_rk.clone(), json!({"credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList"})).unwrap(), Some(CredProtectRequest::Level(2)));
        assert_eq!(case(rk_uvpref, json!({})).unwrap(), Some(CredProtectRequest::Level(3)));
        assert_eq!(case(rk_uvreq, json!({})).unwrap(), Some(CredProtectRequest::UvOrCredIdRequiredOrBetter));
        assert_eq!(case(json!({"residentKey": "preferred"}), json!({})).unwrap(), Some(CredProtectRequest::UvOrCredIdRequiredOrBetter));
        assert_eq!(case(no_rk, json!({})).unwrap(), None);
    }

    #[test]
    fn enforced_cred_protect_needs_a_key_that_supports_it() {
        let mut v = entra_like();
        v["extensions"] = json!({"credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList", "enforceCredentialProtectionPolicy": true});
        let mut info = key_info();
        info.extensions.retain(|e| e != "credProtect");
        assert!(matches!(prepare(&opts(v.clone()), "localhost", [0; 32], &info), Err(WebAuthnError::AuthenticatorUnsuitable(_))));
        v["extensions"] = json!({"credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList"});
        assert_eq!(prepare(&opts(v), "localhost", [0; 32], &info).unwrap().ctap.cred_protect, None);
    }

    #[test]
    fn algorithms_are_filtered_to_keystation_and_the_key() {
        let mut v = entra_like();
        v["pubKeyCredParams"] = json!([{"type": "public-key", "alg": -257}, {"type": "public-key", "alg": -35}, {"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -8}]);
        assert_eq!(prepare(&opts(v.clone()), "localhost", [0; 32], &key_info()).unwrap().ctap.algorithms, vec![-8]);
        let mut info = key_info();
        info.algorithms.clear(); // CTAP 2.0 keys do not say: keep keystation's filter only.
        assert_eq!(prepare(&opts(v.clone()), "localhost", [0; 32], &info).unwrap().ctap.algorithms, vec![-257, -8]);
        v["pubKeyCredParams"] = json!([{"type": "public-key", "alg": -257}]);
        let e = prepare(&opts(v), "localhost", [0; 32], &key_info()).unwrap_err();
        assert_eq!(e.dom_exception().name, "NotSupportedError");
    }

    #[test]
    fn resident_key_and_uv_decisions() {
        let with = |sel: serde_json::Value, info: &AuthenticatorInfo| {
            let mut v = entra_like();
            v["authenticatorSelection"] = sel;
            v["extensions"] = json!({});
            prepare(&opts(v), "localhost", [0; 32], info)
        };
        let info = key_info();
        let p = with(json!({"residentKey": "preferred", "userVerification": "discouraged"}), &info).unwrap();
        assert!(p.ctap.resident_key && p.ctap.user_verification, "rk upgrades uv");
        let p = with(json!({"residentKey": "discouraged", "userVerification": "discouraged"}), &info).unwrap();
        assert!(!p.ctap.resident_key && !p.ctap.user_verification, "makeCredUvNotRqd allows no PIN");
        let mut strict = key_info();
        strict.options.remove("makeCredUvNotRqd");
        let p = with(json!({"residentKey": "discouraged", "userVerification": "discouraged"}), &strict).unwrap();
        assert!(p.ctap.user_verification, "a PIN-protected key without makeCredUvNotRqd needs the PIN");
        let mut full = key_info();
        full.remaining_discoverable_credentials = Some(0);
        assert!(!with(json!({"residentKey": "preferred"}), &full).unwrap().ctap.resident_key);
        let mut no_pin = key_info();
        no_pin.options.insert("clientPin".into(), false);
        assert!(matches!(with(json!({"residentKey": "required"}), &no_pin), Err(WebAuthnError::AuthenticatorUnsuitable(_))));
        let mut no_rk = key_info();
        no_rk.options.insert("rk".into(), false);
        assert!(matches!(with(json!({"residentKey": "required"}), &no_rk), Err(WebAuthnError::AuthenticatorUnsuitable(_))));
        assert!(matches!(with(json!({"authenticatorAttachment": "platform"}), &info), Err(WebAuthnError::AuthenticatorUnsuitable(_))));
    }

    #[test]
    fn long_exclude_ids_cannot_be_on_the_key() {
        let mut v = entra_like();
        v["excludeCredentials"] = json!([{"type": "public-key", "id": crate::ceremony::webauthn::b64::encode(&[1; 200])}, {"type": "public-key", "id": "AQID"}]);
        assert_eq!(prepare(&opts(v), "localhost", [0; 32], &key_info()).unwrap().ctap.exclude_list, vec![vec![1, 2, 3]]);
    }

    #[test]
    fn timeouts_are_clamped_like_chromium() {
        assert_eq!(adjust_timeout(None), Duration::from_secs(600));
        assert_eq!(adjust_timeout(Some(0)), Duration::from_secs(10));
        assert_eq!(adjust_timeout(Some(60_000)), Duration::from_secs(60));
        assert_eq!(adjust_timeout(Some(86_400_000)), Duration::from_secs(600));
    }
}
