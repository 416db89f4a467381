//! What happens after a registration verified cryptographically: the tenant's policy
//! (attestation enforcement, key restrictions, passkey profiles), the duplicate check, and
//! storing the method. Shared by Graph's POST fido2Methods and the Security-info pages.
use super::state::directory::User;
use super::state::fido2::{Challenge, ChallengePurpose, Fido2Method, RegisteredVia};
use super::state::TenantState;
use super::webauthn::{Attestation, Verified, VerifyError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Check a presented challenge against the issued ones.
pub fn check_challenge(
    challenges: &HashMap<Vec<u8>, Challenge>,
    presented: &[u8],
    user_id: &str,
    purpose: ChallengePurpose,
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let c = challenges
        .get(presented)
        .filter(|c| c.purpose == purpose)
        .ok_or_else(|| VerifyError::new("challengeUnknown", "the clientDataJSON challenge was not issued by this tenant's creationOptions"))?;
    if !c.user_id.eq_ignore_ascii_case(user_id) {
        return Err(VerifyError::new("challengeWrongUser", "the challenge was issued for a different user"));
    }
    if c.used {
        return Err(VerifyError::new("challengeUsed", "the challenge has already been used for a registration; request new creation options"));
    }
    if now >= c.expires {
        return Err(VerifyError::new("challengeExpired", "the challenge has expired; request new creation options"));
    }
    Ok(())
}

/// Policy and duplicate checks, in the documented order.
pub fn admit(st: &TenantState, user: &User, v: &Verified) -> Result<(), VerifyError> {
    let policy = &st.fido2_policy;
    let aaguid = v.aaguid_string();
    if policy.is_attestation_enforced && !v.is_attested() {
        return Err(not_trusted(&v.attestation));
    }
    if policy.passkey_profiles.is_empty() {
        if !policy.key_restrictions.allows(&aaguid) {
            return Err(VerifyError::new(
                "aaguidBlocked",
                format!("the authenticator model (AAGUID {aaguid}) is not allowed by the FIDO2 key restrictions"),
            ));
        }
    } else {
        let groups = st.groups_of(&user.id);
        let targets = policy.targets_for(&groups);
        let passkey_type = if v.backup_eligible { "synced" } else { "deviceBound" };
        let allowed = policy.passkey_profiles.iter().filter(|p| {
            targets.iter().any(|t| t.allowed_passkey_profiles.as_ref().is_none_or(|ids| ids.iter().any(|i| i.eq_ignore_ascii_case(&p.id))))
        });
        let mut satisfied = false;
        for p in allowed {
            let type_ok = p.passkey_types.split(',').any(|t| t.trim() == passkey_type);
            let attestation_ok = p.attestation_enforcement != "registrationOnly" || v.is_attested();
            if type_ok && attestation_ok && p.key_restrictions.allows(&aaguid) {
                satisfied = true;
                break;
            }
        }
        if !satisfied {
            return Err(VerifyError::new(
                "passkeyProfileMismatch",
                format!("no passkey profile assigned to the user accepts this key (AAGUID {aaguid}, {passkey_type})"),
            ));
        }
    }
    if st.methods_of(&user.id).iter().any(|m| m.credential_id == v.credential_id) {
        return Err(VerifyError::new("credentialAlreadyRegistered", "this credential is already registered for the user"));
    }
    Ok(())
}

fn not_trusted(a: &Attestation) -> VerifyError {
    let why = match a {
        Attestation::None => "the key sent 'none' attestation".to_string(),
        Attestation::SelfAttested => "the key sent self attestation (no certificate chain)".to_string(),
        Attestation::Certified { trusted: Err(e), .. } => format!("the attestation certificate chain is not trusted: {e}"),
        Attestation::Certified { .. } => "the attestation is not trusted".to_string(),
    };
    VerifyError::new("attestationNotTrusted", format!("the FIDO2 policy enforces attestation and {why}"))
}

/// Store a verified, admitted registration and mark its challenge used.
pub fn store(st: &mut TenantState, user: &User, v: &Verified, display_name: String, via: RegisteredVia, now: DateTime<Utc>) -> Fido2Method {
    if let Some(c) = st.challenges.get_mut(&v.client_data.challenge) {
        c.used = true;
    }
    let attestation_certificates = match &v.attestation {
        Attestation::Certified { chain, .. } => chain.iter().map(|c| hex::encode(super::certs::sha1_thumbprint(c))).collect(),
        _ => vec![],
    };
    let method = Fido2Method {
        id: Fido2Method::id_for(&v.credential_id),
        credential_id: v.credential_id.clone(),
        display_name,
        created: now,
        aaguid: v.aaguid_string(),
        model: st.model_for(&v.aaguid_string()),
        attestation_certificates,
        attestation_level: if v.is_attested() { "attested" } else { "notAttested" },
        passkey_type: if v.backup_eligible { "synced" } else { "deviceBound" },
        registered_via: via,
        public_key_alg: Some(v.public_key_alg),
        attestation_format: Some(v.fmt.clone()),
        sign_count: v.sign_count,
    };
    st.fido2.entry(user.id.to_lowercase()).or_default().push(method.clone());
    method
}
