//! The tenant-policy checks made before anything is written to a key: FIDO2 method on,
//! self-service setup on (the provisioning API's known prerequisite), the user targeted
//! (exclusion wins), key restrictions / passkey profiles allowing the AAGUID,
//! attestation enforcement, and the TAP policy when a TAP will be issued. Pure
//! functions over Graph's policy objects, so every rule has a unit test.
use super::events::Step;
use super::failure::Failure;
use crate::entra::graph::{EnforcementType, Fido2Policy, KeyRestrictions, MethodTarget, PasskeyProfile, PolicyState, TapPolicy};

/// Group ids that decide targeting (every include/exclude target but `all_users`).
pub(crate) fn target_group_ids(include: &[MethodTarget], exclude: &[MethodTarget]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for t in include.iter().chain(exclude) {
        if !t.is_all_users() && !ids.iter().any(|i| i.eq_ignore_ascii_case(&t.id)) {
            ids.push(t.id.clone());
        }
    }
    ids
}

fn hits(t: &MethodTarget, member_of: &[String]) -> bool {
    t.is_all_users() || member_of.iter().any(|g| g.eq_ignore_ascii_case(&t.id))
}

/// Targeting: in an include target and in no exclude target. `member_of` holds the
/// user's (transitive) groups among the targets, plus the user's own id (user targets).
pub(crate) fn check_targeting(method: &str, upn: &str, include: &[MethodTarget], exclude: &[MethodTarget], member_of: &[String]) -> Result<(), (String, String)> {
    if let Some(ex) = exclude.iter().find(|t| hits(t, member_of)) {
        let by = if ex.is_all_users() { "all users are excluded".to_string() } else { format!("through group {}", ex.id) };
        return Err((
            format!("{upn} is excluded from the {method} policy ({by}); exclusion wins over inclusion"),
            format!("remove {upn} from the excluded group in Entra admin center > Authentication methods > {method}, or enroll another user"),
        ));
    }
    if !include.iter().any(|t| hits(t, member_of)) {
        return Err((
            format!("{upn} is not in scope of the {method} policy (no include target contains them)"),
            format!("add a group containing {upn} to the targets in Entra admin center > Authentication methods > {method}"),
        ));
    }
    Ok(())
}

/// What the FIDO2 policy says about this user and key model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fido2Verdict {
    /// Registration requires a trusted `packed` attestation (policy or every profile).
    pub attestation_enforced: bool,
}

/// Check the FIDO2 policy for `upn` (member of `member_of`) and a key with `aaguid`.
pub(crate) fn check_fido2(policy: &Fido2Policy, upn: &str, member_of: &[String], aaguid: &str, model: &str) -> Result<Fido2Verdict, Failure> {
    const METHOD: &str = "Passkey (FIDO2)";
    if policy.state != PolicyState::Enabled {
        return Err(Failure::policy(
            Step::Inspect,
            "the Passkey (FIDO2) authentication method is disabled in this tenant; the key was not changed",
            "enable it in Entra admin center > Authentication methods > Passkey (FIDO2)",
        ));
    }
    if policy.is_self_service_registration_allowed != Some(true) {
        return Err(Failure::policy(
            Step::Inspect,
            "\"Allow self-service set up\" is off in the Passkey (FIDO2) policy; Microsoft's FIDO2 provisioning API (and Security info) only work with it on (a documented known issue); the key was not changed",
            "turn it on in Entra admin center > Authentication methods > Passkey (FIDO2) > Configure",
        ));
    }
    check_targeting(METHOD, upn, &policy.include_targets, &policy.exclude_targets, member_of).map_err(|(m, n)| Failure::policy(Step::Inspect, format!("{m}; the key was not changed"), n))?;
    let blocked = |why: String| {
        Failure::policy(
            Step::Inspect,
            format!("this key model ({model}, AAGUID {aaguid}) is not allowed by the tenant: {why}; the key was not changed"),
            format!("use a key model the tenant allows, or ask an administrator to allow AAGUID {aaguid} in Authentication methods > Passkey (FIDO2)"),
        )
    };
    let mut enforced = policy.is_attestation_enforced == Some(true);
    match policy.passkey_profiles.as_deref().filter(|p| !p.is_empty()) {
        None => {
            if let Some(kr) = &policy.key_restrictions
                && !kr.allows(aaguid)
            {
                return Err(blocked(restriction_refusal(kr).to_string()));
            }
        }
        Some(profiles) => {
            let targets: Vec<&MethodTarget> = policy.include_targets.iter().filter(|t| hits(t, member_of)).collect();
            let assigned = profiles.iter().filter(|p| {
                targets.iter().any(|t| t.allowed_passkey_profiles.as_ref().is_none_or(|ids| ids.iter().any(|i| i.eq_ignore_ascii_case(&p.id))))
            });
            let accepting: Vec<&PasskeyProfile> = assigned.filter(|p| profile_accepts(p, aaguid)).collect();
            if accepting.is_empty() {
                return Err(blocked("no passkey profile assigned to the user accepts it".into()));
            }
            // Enforced only if every profile that would accept the key enforces it.
            enforced = enforced || accepting.iter().all(|p| p.attestation_enforcement.as_deref() == Some("registrationOnly"));
        }
    }
    Ok(Fido2Verdict { attestation_enforced: enforced })
}

/// Why key restrictions refuse a model, in words.
pub(crate) fn restriction_refusal(kr: &KeyRestrictions) -> &'static str {
    match kr.enforcement_type {
        Some(EnforcementType::Allow) => "it is not on the allow list",
        Some(EnforcementType::Block) => "it is on the block list",
        _ => "the key restrictions have an enforcement type this keystation does not know",
    }
}

/// Does a passkey profile take a device-bound key (a security key) with `aaguid`?
pub(crate) fn profile_accepts(p: &PasskeyProfile, aaguid: &str) -> bool {
    let device_bound = p.passkey_types.as_deref().is_none_or(|t| t.split(',').any(|x| x.trim().eq_ignore_ascii_case("deviceBound")));
    device_bound && p.key_restrictions.as_ref().is_none_or(|kr| kr.allows(aaguid))
}

/// Check the TAP policy before a TAP is issued for `purpose` ("the browser registration",
/// "the handover TAP (tap.handover)") with the configured lifetime and one-time setting.
pub(crate) fn check_tap(policy: &TapPolicy, upn: &str, member_of: &[String], lifetime_minutes: u32, one_time: bool, purpose: &str) -> Result<(), Failure> {
    const METHOD: &str = "Temporary Access Pass";
    if policy.state != PolicyState::Enabled {
        return Err(Failure::policy(
            Step::Inspect,
            format!("the Temporary Access Pass method is disabled in this tenant, so {purpose} cannot be issued; the key was not changed"),
            "enable Temporary Access Pass in Entra admin center > Authentication methods, or switch the TAP off in the station configuration",
        ));
    }
    check_targeting(METHOD, upn, &policy.include_targets, &policy.exclude_targets, member_of)
        .map_err(|(m, n)| Failure::policy(Step::Inspect, format!("{m}, so {purpose} cannot be issued; the key was not changed"), n))?;
    let (min, max) = policy.lifetime_bounds();
    if !policy.allows_lifetime(lifetime_minutes) {
        return Err(Failure::policy(
            Step::Inspect,
            format!("{purpose} would last {lifetime_minutes} minutes, but the tenant's TAP policy allows {min} to {max} minutes; the key was not changed"),
            format!("set the TAP lifetime in the station configuration between {min} and {max} minutes"),
        ));
    }
    if policy.is_usable_once == Some(true) && !one_time {
        return Err(Failure::policy(
            Step::Inspect,
            format!("the tenant's TAP policy only allows one-time passes, but the station asks for a reusable one for {purpose}; the key was not changed"),
            "set tap.one_time = true in the station configuration",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> MethodTarget {
        MethodTarget { target_type: Some("group".into()), id: id.into(), is_registration_required: None, allowed_passkey_profiles: None }
    }

    fn policy() -> Fido2Policy {
        Fido2Policy {
            id: None,
            state: PolicyState::Enabled,
            is_self_service_registration_allowed: Some(true),
            is_attestation_enforced: Some(false),
            key_restrictions: None,
            include_targets: vec![target("pilot")],
            exclude_targets: vec![target("breakglass")],
            passkey_profiles: None,
        }
    }

    const A: &str = "d5a92987-df19-484f-890d-2d49daf54f29";

    #[test]
    fn targeting_and_exclusion() {
        let p = policy();
        assert!(check_fido2(&p, "u", &["PILOT".into()], A, "m").is_ok());
        let e = check_fido2(&p, "u", &[], A, "m").unwrap_err();
        assert!(e.message.contains("not in scope"), "{}", e.message);
        let e = check_fido2(&p, "u", &["pilot".into(), "breakglass".into()], A, "m").unwrap_err();
        assert!(e.message.contains("excluded") && e.policy);
        assert_eq!(target_group_ids(&p.include_targets, &p.exclude_targets), vec!["pilot".to_string(), "breakglass".to_string()]);
    }

    #[test]
    fn method_off_and_self_service_off() {
        let mut p = policy();
        p.is_self_service_registration_allowed = Some(false);
        assert!(check_fido2(&p, "u", &["pilot".into()], A, "m").unwrap_err().message.contains("self-service"));
        p.state = PolicyState::Disabled;
        assert!(check_fido2(&p, "u", &["pilot".into()], A, "m").unwrap_err().message.contains("disabled"));
    }

    #[test]
    fn key_restrictions_and_profiles() {
        let mut p = policy();
        p.key_restrictions = Some(KeyRestrictions { is_enforced: true, enforcement_type: Some(EnforcementType::Block), aa_guids: vec![A.to_uppercase()] });
        let e = check_fido2(&p, "u", &["pilot".into()], A, "Virtual Key").unwrap_err();
        assert!(e.message.contains("block list") && e.message.contains(A), "{}", e.message);
        p.key_restrictions = None;
        p.is_attestation_enforced = Some(true);
        assert!(check_fido2(&p, "u", &["pilot".into()], A, "m").unwrap().attestation_enforced);
        p.is_attestation_enforced = Some(false);
        let profile = |id: &str, enforcement: &str, allow: &[&str]| PasskeyProfile {
            id: id.into(),
            name: None,
            passkey_types: Some("deviceBound".into()),
            attestation_enforcement: Some(enforcement.into()),
            key_restrictions: Some(KeyRestrictions { is_enforced: !allow.is_empty(), enforcement_type: Some(EnforcementType::Allow), aa_guids: allow.iter().map(|s| s.to_string()).collect() }),
        };
        p.passkey_profiles = Some(vec![profile("p1", "registrationOnly", &[A]), profile("p2", "disabled", &["00000000-0000-0000-0000-000000000001"])]);
        assert!(check_fido2(&p, "u", &["pilot".into()], A, "m").unwrap().attestation_enforced, "only p1 accepts the key, and it enforces");
        p.include_targets[0].allowed_passkey_profiles = Some(vec!["p2".into()]);
        assert!(check_fido2(&p, "u", &["pilot".into()], A, "m").unwrap_err().message.contains("no passkey profile"));
    }

    #[test]
    fn tap_policy() {
        let p = TapPolicy {
            id: None,
            state: PolicyState::Enabled,
            default_lifetime_in_minutes: Some(60),
            minimum_lifetime_in_minutes: Some(60),
            maximum_lifetime_in_minutes: Some(480),
            default_length: None,
            is_usable_once: Some(true),
            include_targets: vec![MethodTarget { target_type: None, id: "all_users".into(), is_registration_required: None, allowed_passkey_profiles: None }],
            exclude_targets: vec![],
        };
        assert!(check_tap(&p, "u", &[], 60, true, "the handover TAP").is_ok());
        assert!(check_tap(&p, "u", &[], 30, true, "the handover TAP").unwrap_err().message.contains("60 to 480"));
        assert!(check_tap(&p, "u", &[], 60, false, "the handover TAP").unwrap_err().message.contains("one-time"));
        let mut off = p.clone();
        off.state = PolicyState::Disabled;
        assert!(check_tap(&off, "u", &[], 60, true, "the handover TAP").unwrap_err().message.contains("disabled"));
    }
}
