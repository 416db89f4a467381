//! The FIDO2 and TAP authentication-method configurations, held in Graph's JSON shape so
//! GET and PATCH are plain (de)serialisation, plus the "is this user in scope" rule.
use super::directory::Directory;
use crate::entra::simulator::seed::{KeyRestrictionsSeed, PolicyState, TenantSeed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// `includeTargets[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncludeTarget {
    pub target_type: String,
    pub id: String,
    #[serde(default)]
    pub is_registration_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_passkey_profiles: Option<Vec<String>>,
}

/// `excludeTargets[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExcludeTarget {
    pub target_type: String,
    pub id: String,
}

/// `fido2KeyRestrictions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRestrictions {
    pub is_enforced: bool,
    pub enforcement_type: String,
    pub aa_guids: Vec<String>,
}

impl KeyRestrictions {
    fn from_seed(s: &KeyRestrictionsSeed) -> KeyRestrictions {
        KeyRestrictions { is_enforced: s.enforced, enforcement_type: s.enforcement.clone(), aa_guids: s.aaguids.clone() }
    }

    /// Whether these restrictions let `aaguid` through.
    pub fn allows(&self, aaguid: &str) -> bool {
        if !self.is_enforced {
            return true;
        }
        let listed = self.aa_guids.iter().any(|a| a.eq_ignore_ascii_case(aaguid));
        match self.enforcement_type.as_str() {
            "allow" => listed,
            _ => !listed,
        }
    }
}

/// `passkeyProfile`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasskeyProfile {
    pub id: String,
    pub name: String,
    pub passkey_types: String,
    pub attestation_enforcement: String,
    pub key_restrictions: KeyRestrictions,
}

/// `fido2AuthenticationMethodConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fido2Policy {
    pub id: String,
    pub state: PolicyState,
    pub is_self_service_registration_allowed: bool,
    pub is_attestation_enforced: bool,
    pub key_restrictions: KeyRestrictions,
    pub include_targets: Vec<IncludeTarget>,
    pub exclude_targets: Vec<ExcludeTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkey_profiles: Vec<PasskeyProfile>,
}

/// `temporaryAccessPassAuthenticationMethodConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TapPolicy {
    pub id: String,
    pub state: PolicyState,
    pub default_lifetime_in_minutes: u32,
    pub default_length: u32,
    pub minimum_lifetime_in_minutes: u32,
    pub maximum_lifetime_in_minutes: u32,
    pub is_usable_once: bool,
    pub include_targets: Vec<IncludeTarget>,
    pub exclude_targets: Vec<ExcludeTarget>,
}

/// Range rules of the TAP policy: lifetimes 10–43200 with min ≤ default ≤ max, length 8–48.
pub fn check_tap_numbers(min: u32, max: u32, default: u32, length: u32) -> Result<(), String> {
    for (name, v) in [("minimum lifetime", min), ("maximum lifetime", max), ("default lifetime", default)] {
        if !(10..=43200).contains(&v) {
            return Err(format!("{name} {v} must be between 10 and 43200 minutes"));
        }
    }
    if !(min <= default && default <= max) {
        return Err(format!("lifetimes must satisfy minimum ({min}) <= default ({default}) <= maximum ({max})"));
    }
    if !(8..=48).contains(&length) {
        return Err(format!("default length {length} must be between 8 and 48"));
    }
    Ok(())
}

fn include_targets(dir: &Directory, seed: &[crate::entra::simulator::seed::IncludeTargetSeed]) -> Vec<IncludeTarget> {
    seed.iter()
        .map(|t| IncludeTarget {
            target_type: "group".into(),
            id: if t.target == "all_users" { "all_users".into() } else { dir.group_id(&t.target).unwrap_or_else(|| t.target.clone()) },
            is_registration_required: t.registration_required,
            allowed_passkey_profiles: t.allowed_passkey_profiles.clone(),
        })
        .collect()
}

fn exclude_targets(dir: &Directory, seed: &[String]) -> Vec<ExcludeTarget> {
    seed.iter()
        .map(|g| ExcludeTarget { target_type: "group".into(), id: dir.group_id(g).unwrap_or_else(|| g.clone()) })
        .collect()
}

impl Fido2Policy {
    /// From the seed, with group names resolved to ids.
    pub fn from_seed(seed: &TenantSeed, dir: &Directory) -> Fido2Policy {
        let f = &seed.policies.fido2;
        Fido2Policy {
            id: "Fido2".into(),
            state: f.state,
            is_self_service_registration_allowed: f.self_service_registration,
            is_attestation_enforced: f.attestation_enforced,
            key_restrictions: KeyRestrictions::from_seed(&f.key_restrictions),
            include_targets: include_targets(dir, &f.include),
            exclude_targets: exclude_targets(dir, &f.exclude),
            passkey_profiles: f
                .passkey_profiles
                .iter()
                .map(|p| PasskeyProfile {
                    id: p.id.clone().unwrap_or_else(|| crate::entra::simulator::seed::derived_guid(&seed.tenant.id, &format!("profile:{}", p.name))),
                    name: p.name.clone(),
                    passkey_types: p.passkey_types.join(","),
                    attestation_enforcement: p.attestation_enforcement.clone(),
                    key_restrictions: KeyRestrictions::from_seed(&p.key_restrictions),
                })
                .collect(),
        }
    }

    /// Include targets that contain the user, unless an exclude target does (then none).
    pub fn targets_for(&self, user_groups: &HashSet<String>) -> Vec<&IncludeTarget> {
        targets_for(&self.include_targets, &self.exclude_targets, user_groups)
    }
}

impl TapPolicy {
    /// From the seed, with group names resolved to ids.
    pub fn from_seed(seed: &TenantSeed, dir: &Directory) -> TapPolicy {
        let t = &seed.policies.temporary_access_pass;
        TapPolicy {
            id: "TemporaryAccessPass".into(),
            state: t.state,
            default_lifetime_in_minutes: t.default_lifetime_minutes,
            default_length: t.default_length,
            minimum_lifetime_in_minutes: t.minimum_lifetime_minutes,
            maximum_lifetime_in_minutes: t.maximum_lifetime_minutes,
            is_usable_once: t.usable_once,
            include_targets: include_targets(dir, &t.include),
            exclude_targets: exclude_targets(dir, &t.exclude),
        }
    }

    /// Whether the policy is on and the user is in its scope.
    pub fn applies_to(&self, user_groups: &HashSet<String>) -> bool {
        self.state == PolicyState::Enabled && !targets_for(&self.include_targets, &self.exclude_targets, user_groups).is_empty()
    }
}

fn targets_for<'a>(include: &'a [IncludeTarget], exclude: &[ExcludeTarget], groups: &HashSet<String>) -> Vec<&'a IncludeTarget> {
    if exclude.iter().any(|e| groups.contains(&e.id.to_lowercase())) {
        return vec![];
    }
    include.iter().filter(|t| t.id == "all_users" || groups.contains(&t.id.to_lowercase())).collect()
}

/// Remove OData annotations (`@odata.type` and friends) at every level.
pub fn strip_annotations(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(k, _)| !k.starts_with('@')).map(|(k, v)| (k, strip_annotations(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_annotations).collect()),
        other => other,
    }
}

/// Apply a PATCH body to a policy object: known top-level properties only, `id` fixed.
pub fn merge_patch<T: Serialize + serde::de::DeserializeOwned>(current: &T, patch: Value, type_name: &str) -> Result<T, String> {
    let patch = strip_annotations(patch);
    let Value::Object(patch) = patch else {
        return Err("The request body must be a JSON object.".into());
    };
    let mut cur = serde_json::to_value(current).map_err(|e| e.to_string())?;
    let Some(obj) = cur.as_object_mut() else {
        return Err("internal: policy is not an object".into());
    };
    let known: HashSet<String> = obj.keys().cloned().chain(["passkeyProfiles".to_string()]).collect();
    for (k, v) in patch {
        if k == "id" {
            continue;
        }
        if !known.contains(&k) {
            return Err(format!(
                "The property '{k}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use property names that are defined by the type."
            ));
        }
        obj.insert(k, v);
    }
    serde_json::from_value(cur).map_err(|e| format!("Invalid value in request body: {e}"))
}
