//! The tenant seed: who and what exists in the simulated tenant (users, groups, apps,
//! policies, trusted attestation roots, the AAGUID→model table).
//!
//! The seed is read from TOML (format documented in `docs/simulator.md`); the built-in
//! default tenant is [`TenantSeed::builtin`]. A seed is plain data; [`TenantSeed::validate`]
//! checks references (group names, policy targets, certificates) before the simulator uses it.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod validate;

/// The TOML text of the built-in demo tenant.
pub const BUILTIN_TENANT_TOML: &str = include_str!("default_tenant.toml");

/// Everything the simulated tenant starts with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    /// Tenant identity.
    pub tenant: TenantInfo,
    /// Users (members, guests, administrators).
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// Security groups (used by policy targets and `checkMemberGroups`).
    #[serde(default)]
    pub groups: Vec<GroupSeed>,
    /// App registrations that may ask the authority for tokens.
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    /// Authentication-methods policy (FIDO2 and Temporary Access Pass).
    #[serde(default)]
    pub policies: PoliciesSeed,
    /// Attestation trust anchors.
    #[serde(default)]
    pub attestation: AttestationSeed,
    /// AAGUID → model name, used for the `model` of registered keys.
    #[serde(default)]
    pub aaguid_models: Vec<AaguidModel>,
}

/// Tenant id and names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantInfo {
    /// Tenant id (a GUID).
    pub id: String,
    /// The tenant's verified domain (UPN suffix), also accepted in authority URLs.
    pub domain: String,
    /// Organisation name shown on the pages.
    #[serde(default = "default_tenant_name")]
    pub display_name: String,
    /// How many security keys the Security-info pages let one user register.
    #[serde(default = "default_key_limit")]
    pub max_security_keys_per_user: u32,
}

fn default_tenant_name() -> String {
    "Simulated tenant".into()
}
fn default_key_limit() -> u32 {
    10
}
fn yes() -> bool {
    true
}

/// One directory user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// userPrincipalName (unique, compared case-insensitively).
    pub upn: String,
    /// Object id; derived from the tenant id and UPN when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Surname.
    #[serde(default)]
    pub surname: Option<String>,
    /// Mail address; defaults to the UPN for members.
    #[serde(default)]
    pub mail: Option<String>,
    /// Job title.
    #[serde(default)]
    pub job_title: Option<String>,
    /// An external (B2B) guest: no TAP, no passkeys.
    #[serde(default)]
    pub guest: bool,
    /// Whether the account can sign in.
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// Directory roles by display name (e.g. "Authentication Administrator").
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether a TAP sign-in counts as multi-factor for this user (false simulates a
    /// sign-in that did not satisfy MFA, so Security info refuses to add a key).
    #[serde(default = "yes")]
    pub mfa_on_signin: bool,
    /// Sign-in ends on the "More information required" interrupt page.
    #[serde(default)]
    pub proof_up_required: bool,
    /// Per-user override of the tenant's key limit on the Security-info pages.
    #[serde(default)]
    pub max_security_keys: Option<u32>,
    /// Which `/fido/create` variant the Security-info page uses for this user.
    #[serde(default)]
    pub ceremony: Option<CeremonyVariant>,
    /// Keys already registered when the simulator starts.
    #[serde(default)]
    pub fido2_methods: Vec<ExistingFido2Seed>,
}

/// A FIDO2 key registered before the simulator starts (no key material: it only shows in
/// lists and in `excludeCredentials`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExistingFido2Seed {
    /// Name shown in lists.
    pub display_name: String,
    /// Authenticator model id.
    pub aaguid: String,
    /// Credential id, base64url without padding.
    pub credential_id: String,
}

/// How the Security-info page runs the `/fido/create` step.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CeremonyVariant {
    /// A form POST that navigates the same tab (what Microsoft does today).
    #[default]
    SameTab,
    /// The form targets a cross-origin iframe embedded in the Security-info page.
    Iframe,
    /// The form targets a popup opened with `window.open`.
    Popup,
}

impl CeremonyVariant {
    /// The kebab-case name used in TOML, JSON and `$Config`.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyVariant::SameTab => "same-tab",
            CeremonyVariant::Iframe => "iframe",
            CeremonyVariant::Popup => "popup",
        }
    }
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSeed {
    /// Display name (unique; used to refer to the group elsewhere in the seed).
    pub name: String,
    /// Object id; derived from the tenant id and name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Members: UPNs of users or names of other groups (nesting is transitive).
    #[serde(default)]
    pub members: Vec<String>,
}

/// Public client (device code) or confidential client (secret or certificate).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// "Allow public client flows": no credential, device code only.
    Public,
    /// Has a client secret and/or certificate.
    Confidential,
}

/// An app registration with its consented permissions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Public or confidential.
    pub kind: AppKind,
    /// Client secrets (confidential apps).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Registered certificates, PEM (public part only).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Generate an RSA key and self-signed certificate at start-up and register it; the
    /// private key is available from the simulator handle (and `keystation simulator
    /// --write-credentials DIR`).
    #[serde(default)]
    pub generate_test_certificate: bool,
    /// Admin-consented delegated Graph permissions (e.g. "User.Read.All").
    #[serde(default)]
    pub delegated_scopes: Vec<String>,
    /// Admin-consented application permissions (app roles) on Graph.
    #[serde(default)]
    pub application_roles: Vec<String>,
}

/// Policy section of the seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PoliciesSeed {
    /// FIDO2 (passkey) method configuration.
    #[serde(default)]
    pub fido2: Fido2PolicySeed,
    /// Temporary Access Pass method configuration.
    #[serde(default)]
    pub temporary_access_pass: TapPolicySeed,
}

/// `enabled` / `disabled`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PolicyState {
    /// The method is on.
    #[default]
    Enabled,
    /// The method is off.
    Disabled,
}

/// An include target: a group (by name or id) or `all_users`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncludeTargetSeed {
    /// Group name, group id, or `all_users`.
    pub target: String,
    /// `isRegistrationRequired`.
    #[serde(default)]
    pub registration_required: bool,
    /// Passkey profile ids allowed for this target (profiles mode only).
    #[serde(default)]
    pub allowed_passkey_profiles: Option<Vec<String>>,
}

/// Key restrictions (`fido2KeyRestrictions`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyRestrictionsSeed {
    /// Whether the list is enforced.
    #[serde(default)]
    pub enforced: bool,
    /// `allow` or `block`.
    #[serde(default = "default_enforcement")]
    pub enforcement: String,
    /// AAGUIDs in the list.
    #[serde(default)]
    pub aaguids: Vec<String>,
}

fn default_enforcement() -> String {
    "block".into()
}

impl Default for KeyRestrictionsSeed {
    fn default() -> Self {
        KeyRestrictionsSeed { enforced: false, enforcement: default_enforcement(), aaguids: vec![] }
    }
}

/// A passkey profile (profiles mode).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PasskeyProfileSeed {
    /// Profile id (a GUID); derived from the name when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Profile name.
    pub name: String,
    /// `deviceBound` and/or `synced`.
    #[serde(default = "default_passkey_types")]
    pub passkey_types: Vec<String>,
    /// `disabled` or `registrationOnly`.
    #[serde(default = "default_attestation_enforcement")]
    pub attestation_enforcement: String,
    /// AAGUID restrictions of the profile.
    #[serde(default)]
    pub key_restrictions: KeyRestrictionsSeed,
}

fn default_passkey_types() -> Vec<String> {
    vec!["deviceBound".into()]
}
fn default_attestation_enforcement() -> String {
    "disabled".into()
}

/// FIDO2 policy as written in the seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fido2PolicySeed {
    /// `enabled` / `disabled`.
    #[serde(default)]
    pub state: PolicyState,
    /// "Allow self-service set up" (the provisioning API needs it on).
    #[serde(default = "yes")]
    pub self_service_registration: bool,
    /// "Enforce attestation".
    #[serde(default)]
    pub attestation_enforced: bool,
    /// AAGUID allow/block list.
    #[serde(default)]
    pub key_restrictions: KeyRestrictionsSeed,
    /// Who may use the method.
    #[serde(default = "all_users_target")]
    pub include: Vec<IncludeTargetSeed>,
    /// Groups (names or ids) excluded; exclusion wins.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Passkey profiles; empty means profiles are off.
    #[serde(default)]
    pub passkey_profiles: Vec<PasskeyProfileSeed>,
}

fn all_users_target() -> Vec<IncludeTargetSeed> {
    vec![IncludeTargetSeed { target: "all_users".into(), registration_required: false, allowed_passkey_profiles: None }]
}

impl Default for Fido2PolicySeed {
    fn default() -> Self {
        Fido2PolicySeed {
            state: PolicyState::Enabled,
            self_service_registration: true,
            attestation_enforced: false,
            key_restrictions: KeyRestrictionsSeed::default(),
            include: all_users_target(),
            exclude: vec![],
            passkey_profiles: vec![],
        }
    }
}

/// TAP policy as written in the seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TapPolicySeed {
    /// `enabled` / `disabled`.
    #[serde(default)]
    pub state: PolicyState,
    /// Lifetime used when a create request has none.
    #[serde(default = "sixty")]
    pub default_lifetime_minutes: u32,
    /// Shortest lifetime a create request may ask for.
    #[serde(default = "sixty")]
    pub minimum_lifetime_minutes: u32,
    /// Longest lifetime a create request may ask for.
    #[serde(default = "four_eighty")]
    pub maximum_lifetime_minutes: u32,
    /// Length of generated passes (8–48).
    #[serde(default = "eight")]
    pub default_length: u32,
    /// `true` forces every pass to be one-time.
    #[serde(default)]
    pub usable_once: bool,
    /// Who may get a pass.
    #[serde(default = "all_users_target")]
    pub include: Vec<IncludeTargetSeed>,
    /// Groups excluded.
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn sixty() -> u32 {
    60
}
fn four_eighty() -> u32 {
    480
}
fn eight() -> u32 {
    8
}

impl Default for TapPolicySeed {
    fn default() -> Self {
        TapPolicySeed {
            state: PolicyState::Enabled,
            default_lifetime_minutes: 60,
            minimum_lifetime_minutes: 60,
            maximum_lifetime_minutes: 480,
            default_length: 8,
            usable_once: false,
            include: all_users_target(),
            exclude: vec![],
        }
    }
}

/// Attestation trust anchors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AttestationSeed {
    /// Root certificates (PEM) a packed `x5c` chain must end at to count as attested.
    #[serde(default)]
    pub trusted_roots: Vec<String>,
}

/// One row of the AAGUID → model table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AaguidModel {
    /// The AAGUID, 8-4-4-4-12 hex.
    pub aaguid: String,
    /// The model name Graph reports.
    pub model: String,
}

/// Well-known ids of the built-in demo tenant (`default_tenant.toml`), for the demo,
/// benchmarks and tests that drive the simulator in-process. A unit test keeps them equal
/// to the seed file; the secrets are the simulator's public demo values, not real ones.
pub mod well_known {
    /// The demo tenant's directory id.
    pub const TENANT_ID: &str = "5f3c1e2a-7b4d-4c8e-9a61-2d0f8b7e4c19";
    /// The demo tenant's domain.
    pub const DOMAIN: &str = "contoso.test";
    /// Public client for the device-code sign-in of an operator.
    pub const OPERATOR_APP_ID: &str = "0c1e5f3a-6d2b-4a7e-8f19-3b5c7d9e1a20";
    /// Confidential client with a secret and the station's application permissions.
    pub const STATION_APP_ID: &str = "7a2d9c4e-1b3f-4e8a-9c6d-5f0a2b4c6e81";
    /// Its secret.
    pub const STATION_APP_SECRET: &str = "sim-secret-change-me-7a2d9c4e";
    /// Confidential client with a certificate generated at start-up and granular permissions.
    pub const CERTIFICATE_APP_ID: &str = "3e8b1f6c-9a2d-4c7e-8b5f-1d3a6c9e2f47";
    /// Confidential client with only User.Read.All (for permission-error tests).
    pub const READER_APP_ID: &str = "9b4f2a7d-3c1e-4d8b-a6f0-7e2c5b8d1f93";
    /// Its secret.
    pub const READER_APP_SECRET: &str = "sim-reader-secret-9b4f2a7d";
}

/// The AAGUID keystation's virtual keys report (kept equal to `key::virtual_key::VIRTUAL_KEY_AAGUID`
/// by a test in tests/virtual_key; the Entra layer does not depend on the key layer).
pub const KEYSTATION_VIRTUAL_KEY_AAGUID: &str = "d5a92987-df19-484f-890d-2d49daf54f29";

impl TenantSeed {
    /// The built-in demo tenant (`default_tenant.toml`, embedded in the binary).
    pub fn builtin() -> TenantSeed {
        // The embedded file is covered by a unit test, so this cannot fail at runtime.
        toml::from_str(BUILTIN_TENANT_TOML).expect("the built-in tenant seed is valid TOML")
    }

    /// Parse a seed from TOML text.
    pub fn from_toml(text: &str) -> Result<TenantSeed, String> {
        toml::from_str(text).map_err(|e| format!("tenant seed is not valid: {e}"))
    }

    /// A user's object id: the seeded one, or one derived from tenant id and UPN.
    pub fn user_id(&self, user: &UserSeed) -> String {
        user.id.clone().unwrap_or_else(|| derived_guid(&self.tenant.id, &format!("user:{}", user.upn.to_lowercase())))
    }

    /// A group's object id: the seeded one, or one derived from tenant id and name.
    pub fn group_id(&self, group: &GroupSeed) -> String {
        group.id.clone().unwrap_or_else(|| derived_guid(&self.tenant.id, &format!("group:{}", group.name.to_lowercase())))
    }
}

/// A stable GUID-shaped id derived from a namespace and a name (SHA-256, version nibble 4
/// so it parses as an ordinary GUID).
pub fn derived_guid(namespace: &str, name: &str) -> String {
    let digest = Sha256::new().chain_update(namespace.as_bytes()).chain_update([0u8]).chain_update(name.as_bytes()).finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seed_parses_and_validates() {
        let seed = TenantSeed::builtin();
        seed.validate().expect("built-in seed validates");
        assert!(seed.users.iter().any(|u| u.guest));
        assert!(seed.aaguid_models.iter().any(|m| m.aaguid == KEYSTATION_VIRTUAL_KEY_AAGUID));
        assert_eq!(seed.tenant.id, well_known::TENANT_ID);
        assert_eq!(seed.tenant.domain, well_known::DOMAIN);
        let app = |id: &str| seed.apps.iter().find(|a| a.client_id == id).unwrap_or_else(|| panic!("app {id} missing"));
        assert_eq!(app(well_known::OPERATOR_APP_ID).kind, AppKind::Public);
        assert_eq!(app(well_known::STATION_APP_ID).secrets, [well_known::STATION_APP_SECRET]);
        assert!(app(well_known::CERTIFICATE_APP_ID).generate_test_certificate);
        assert_eq!(app(well_known::READER_APP_ID).secrets, [well_known::READER_APP_SECRET]);
    }

    #[test]
    fn derived_ids_are_stable_guids() {
        let a = derived_guid("t", "user:alice");
        assert_eq!(a, derived_guid("t", "user:alice"));
        assert_ne!(a, derived_guid("t", "user:bob"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
