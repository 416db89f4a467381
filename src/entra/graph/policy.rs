//! The authentication-methods policy for FIDO2 (passkeys) and Temporary Access Pass,
//! read-only, typed, tolerant of fields Microsoft adds later.
use super::client::GraphClient;
use super::error::GraphError;
use super::operation::Operation;
use serde::{Deserialize, Serialize};

const POLICY_PATH: &str = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations";

/// Default TAP lifetime bounds of a tenant that never changed them.
pub const DEFAULT_TAP_BOUNDS: (u32, u32) = (60, 480);

/// `enabled` / `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyState {
    /// The method is on.
    Enabled,
    /// The method is off.
    Disabled,
    /// A value this version does not know.
    #[serde(other)]
    Unknown,
}

/// An include or exclude target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodTarget {
    /// `group` (or `user`).
    #[serde(default)]
    pub target_type: Option<String>,
    /// Group id, or `all_users`.
    pub id: String,
    /// Registration campaign flag.
    #[serde(default)]
    pub is_registration_required: Option<bool>,
    /// Passkey profiles assigned to this target (when profiles are on).
    #[serde(default)]
    pub allowed_passkey_profiles: Option<Vec<String>>,
}

impl MethodTarget {
    /// True for the `all_users` target.
    pub fn is_all_users(&self) -> bool {
        self.id.eq_ignore_ascii_case("all_users")
    }
}

/// `allow` or `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnforcementType {
    /// Only the listed AAGUIDs.
    Allow,
    /// All but the listed AAGUIDs.
    Block,
    /// A value this version does not know.
    #[serde(other)]
    Unknown,
}

/// FIDO2 key restrictions by AAGUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRestrictions {
    /// Whether restrictions apply.
    #[serde(default)]
    pub is_enforced: bool,
    /// Allow or block list.
    #[serde(default)]
    pub enforcement_type: Option<EnforcementType>,
    /// The listed AAGUIDs.
    #[serde(default)]
    pub aa_guids: Vec<String>,
}

impl KeyRestrictions {
    /// Would a key with this AAGUID pass (case-insensitive compare)?
    pub fn allows(&self, aaguid: &str) -> bool {
        if !self.is_enforced {
            return true;
        }
        let listed = self.aa_guids.iter().any(|g| g.trim().eq_ignore_ascii_case(aaguid.trim()));
        match self.enforcement_type {
            Some(EnforcementType::Allow) => listed,
            Some(EnforcementType::Block) => !listed,
            // Unknown enforcement: do not claim the key is fine.
            _ => false,
        }
    }
}

/// A passkey profile (tenants that opted in to profiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyProfile {
    /// Profile id (GUID).
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// `deviceBound,synced` etc.
    #[serde(default)]
    pub passkey_types: Option<String>,
    /// `disabled` / `registrationOnly`.
    #[serde(default)]
    pub attestation_enforcement: Option<String>,
    /// AAGUID restrictions of this profile.
    #[serde(default)]
    pub key_restrictions: Option<KeyRestrictions>,
}

/// `fido2AuthenticationMethodConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fido2Policy {
    /// `Fido2`.
    #[serde(default)]
    pub id: Option<String>,
    /// On or off.
    pub state: PolicyState,
    /// Portal: "Allow self-service set up" (needed by the provisioning API).
    #[serde(default)]
    pub is_self_service_registration_allowed: Option<bool>,
    /// Portal: "Enforce attestation".
    #[serde(default)]
    pub is_attestation_enforced: Option<bool>,
    /// AAGUID restrictions (without profiles).
    #[serde(default)]
    pub key_restrictions: Option<KeyRestrictions>,
    /// Who may use the method.
    #[serde(default)]
    pub include_targets: Vec<MethodTarget>,
    /// Who may not.
    #[serde(default)]
    pub exclude_targets: Vec<MethodTarget>,
    /// Passkey profiles, when the tenant uses them.
    #[serde(default)]
    pub passkey_profiles: Option<Vec<PasskeyProfile>>,
}

impl Fido2Policy {
    /// Reasons the provisioning API will refuse every user, for a pre-flight check.
    pub fn provisioning_blockers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.state != PolicyState::Enabled {
            v.push("the Passkey (FIDO2) method is disabled");
        }
        if self.is_self_service_registration_allowed != Some(true) {
            v.push("\"Allow self-service set up\" is off (the provisioning API needs it on)");
        }
        v
    }
}

/// `temporaryAccessPassAuthenticationMethodConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TapPolicy {
    /// `TemporaryAccessPass`.
    #[serde(default)]
    pub id: Option<String>,
    /// On or off.
    pub state: PolicyState,
    /// Default lifetime (minutes).
    #[serde(default)]
    pub default_lifetime_in_minutes: Option<u32>,
    /// Minimum lifetime (minutes).
    #[serde(default)]
    pub minimum_lifetime_in_minutes: Option<u32>,
    /// Maximum lifetime (minutes).
    #[serde(default)]
    pub maximum_lifetime_in_minutes: Option<u32>,
    /// Pass length.
    #[serde(default)]
    pub default_length: Option<u32>,
    /// True: only one-time passes.
    #[serde(default)]
    pub is_usable_once: Option<bool>,
    /// Who may get a pass.
    #[serde(default)]
    pub include_targets: Vec<MethodTarget>,
    /// Who may not.
    #[serde(default)]
    pub exclude_targets: Vec<MethodTarget>,
}

impl TapPolicy {
    /// (minimum, maximum) lifetime in minutes, with Entra's defaults for missing values.
    pub fn lifetime_bounds(&self) -> (u32, u32) {
        (
            self.minimum_lifetime_in_minutes.unwrap_or(DEFAULT_TAP_BOUNDS.0),
            self.maximum_lifetime_in_minutes.unwrap_or(DEFAULT_TAP_BOUNDS.1),
        )
    }

    /// Does `minutes` fit the policy?
    pub fn allows_lifetime(&self, minutes: u32) -> bool {
        let (min, max) = self.lifetime_bounds();
        (min..=max).contains(&minutes)
    }
}

/// Is a user with these (transitive) group memberships targeted: in an include target
/// (or `all_users`) and in no exclude target?
pub fn is_targeted(include: &[MethodTarget], exclude: &[MethodTarget], member_of: &[String]) -> bool {
    let hit = |t: &MethodTarget| t.is_all_users() || member_of.iter().any(|g| g.eq_ignore_ascii_case(&t.id));
    include.iter().any(hit) && !exclude.iter().any(hit)
}

impl GraphClient {
    /// The FIDO2 (passkey) method configuration.
    pub async fn fido2_policy(&self) -> Result<Fido2Policy, GraphError> {
        let url = self.url(&format!("{POLICY_PATH}/fido2"), None);
        self.get_json(Operation::ReadFido2Policy, url, None).await
    }

    /// The Temporary Access Pass method configuration.
    pub async fn tap_policy(&self) -> Result<TapPolicy, GraphError> {
        let url = self.url(&format!("{POLICY_PATH}/temporaryAccessPass"), None);
        self.get_json(Operation::ReadTapPolicy, url, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fido2_policy_with_profiles_decodes() {
        let p: Fido2Policy = serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
            "id": "Fido2", "state": "enabled", "isSelfServiceRegistrationAllowed": false, "isAttestationEnforced": true,
            "keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": ["90A3CCDF-635C-4729-A248-9B709135078F"]},
            "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "allowedPasskeyProfiles": ["p1"]}],
            "excludeTargets": [{"targetType": "group", "id": "g-excl"}],
            "passkeyProfiles": [{"id": "p1", "name": "Default", "passkeyTypes": "deviceBound", "attestationEnforcement": "registrationOnly",
                                  "keyRestrictions": {"isEnforced": false, "enforcementType": "block", "aaGuids": []}}],
            "somethingNew": 1
        }))
        .unwrap();
        let kr = p.key_restrictions.as_ref().unwrap();
        assert!(kr.allows("90a3ccdf-635c-4729-a248-9b709135078f"));
        assert!(!kr.allows("00000000-0000-0000-0000-000000000000"));
        assert_eq!(p.provisioning_blockers().len(), 1);
        assert_eq!(p.passkey_profiles.as_ref().unwrap()[0].attestation_enforcement.as_deref(), Some("registrationOnly"));
        assert!(is_targeted(&p.include_targets, &p.exclude_targets, &[]));
        assert!(!is_targeted(&p.include_targets, &p.exclude_targets, &["G-EXCL".into()]));
    }

    #[test]
    fn tap_policy_bounds() {
        let p: TapPolicy = serde_json::from_value(serde_json::json!({"state": "enabled", "minimumLifetimeInMinutes": 30, "maximumLifetimeInMinutes": 120, "includeTargets": [{"id": "g1", "targetType": "group"}]})).unwrap();
        assert_eq!(p.lifetime_bounds(), (30, 120));
        assert!(p.allows_lifetime(60) && !p.allows_lifetime(121));
        let p: TapPolicy = serde_json::from_value(serde_json::json!({"state": "weird"})).unwrap();
        assert_eq!(p.state, PolicyState::Unknown);
        assert_eq!(p.lifetime_bounds(), DEFAULT_TAP_BOUNDS);
        let block = KeyRestrictions { is_enforced: true, enforcement_type: Some(EnforcementType::Block), aa_guids: vec!["a".into()] };
        assert!(!block.allows("A") && block.allows("b"));
    }
}
