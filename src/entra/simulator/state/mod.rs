//! The simulated tenant's mutable state. One mutex guards it all: every handler takes the
//! lock for a short, await-free critical section.
pub mod directory;
pub mod fido2;
pub mod oauth;
pub mod policy;
pub mod sessions;
pub mod tap;

use crate::entra::simulator::certs::{self, GeneratedCertificate};
use crate::entra::simulator::seed::{PolicyState, TenantSeed};
use crate::entra::simulator::webauthn::b64;
use chrono::{DateTime, Utc};
use directory::{Directory, User};
use fido2::{Challenge, Fido2Method, RegisteredVia};
use oauth::{DeviceCode, RefreshGrant};
use policy::{Fido2Policy, TapPolicy};
use std::collections::{HashMap, HashSet};
use tap::Tap;

/// Everything that changes while the simulator runs.
#[derive(Debug)]
pub struct TenantState {
    pub tenant_id: String,
    pub domain: String,
    pub display_name: String,
    pub max_keys_per_user: u32,
    pub dir: Directory,
    pub fido2_policy: Fido2Policy,
    pub tap_policy: TapPolicy,
    /// Trusted attestation roots, DER.
    pub trusted_roots: Vec<Vec<u8>>,
    /// AAGUID (lower case) → model.
    pub models: HashMap<String, String>,
    /// User id (lower case) → the user's TAP.
    pub taps: HashMap<String, Tap>,
    /// User id (lower case) → the user's FIDO2 methods.
    pub fido2: HashMap<String, Vec<Fido2Method>>,
    /// Challenge bytes → issued challenge.
    pub challenges: HashMap<Vec<u8>, Challenge>,
    pub device_codes: HashMap<String, DeviceCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Client-assertion `jti`s already seen, with the assertion's expiry.
    pub used_jtis: HashMap<String, DateTime<Utc>>,
    pub pages: sessions::PagesState,
}

impl TenantState {
    /// Build the starting state from a validated seed.
    pub fn from_seed(seed: &TenantSeed, extra_roots: &[String], generated: &[GeneratedCertificate], now: DateTime<Utc>) -> Result<TenantState, String> {
        let dir = Directory::from_seed(seed, generated)?;
        let mut trusted_roots = Vec::new();
        for pem in seed.attestation.trusted_roots.iter().chain(extra_roots) {
            trusted_roots.extend(certs::parse_pem_certificates(pem)?);
        }
        let models: HashMap<String, String> = seed.aaguid_models.iter().map(|m| (m.aaguid.to_lowercase(), m.model.clone())).collect();
        let mut fido2 = HashMap::new();
        for u in &seed.users {
            let id = seed.user_id(u).to_lowercase();
            let methods: Vec<Fido2Method> = u
                .fido2_methods
                .iter()
                .filter_map(|m| {
                    let cred = b64::decode_b64url_strict(&m.credential_id)?;
                    Some(Fido2Method {
                        id: Fido2Method::id_for(&cred),
                        credential_id: cred,
                        display_name: m.display_name.clone(),
                        created: now,
                        aaguid: m.aaguid.to_lowercase(),
                        model: models.get(&m.aaguid.to_lowercase()).cloned(),
                        attestation_certificates: vec![],
                        attestation_level: "notAttested",
                        passkey_type: "deviceBound",
                        registered_via: RegisteredVia::Seed,
                        public_key_alg: None,
                        attestation_format: None,
                        sign_count: 0,
                    })
                })
                .collect();
            if !methods.is_empty() {
                fido2.insert(id, methods);
            }
        }
        Ok(TenantState {
            tenant_id: seed.tenant.id.to_lowercase(),
            domain: seed.tenant.domain.clone(),
            display_name: seed.tenant.display_name.clone(),
            max_keys_per_user: seed.tenant.max_security_keys_per_user,
            fido2_policy: Fido2Policy::from_seed(seed, &dir),
            tap_policy: TapPolicy::from_seed(seed, &dir),
            dir,
            trusted_roots,
            models,
            taps: HashMap::new(),
            fido2,
            challenges: HashMap::new(),
            device_codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            used_jtis: HashMap::new(),
            pages: sessions::PagesState::default(),
        })
    }

    /// Forget challenges, device codes, sign-in flows and codes that expired more than an
    /// hour ago, so a long-running simulator does not grow without bound.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let horizon = now - chrono::Duration::hours(1);
        self.challenges.retain(|_, c| c.expires > horizon);
        self.device_codes.retain(|_, d| d.expires > horizon);
        self.pages.flows.retain(|_, f| f.created > horizon);
        self.pages.codes.retain(|_, c| c.expires > horizon);
        self.pages.login_sessions.retain(|_, s| s.deadline > horizon);
    }

    /// Whether `tenant` (from a URL path) names this tenant: its id, its domain, or one of
    /// the multi-tenant aliases.
    pub fn matches_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id)
            || tenant.eq_ignore_ascii_case(&self.domain)
            || tenant.eq_ignore_ascii_case("organizations")
            || tenant.eq_ignore_ascii_case("common")
    }

    /// Groups of a user, transitively (lower-case ids).
    pub fn groups_of(&self, user_id: &str) -> HashSet<String> {
        self.dir.groups_of(user_id)
    }

    /// TAP policy on, user targeted, not a guest.
    pub fn tap_applies(&self, user: &User) -> bool {
        !user.guest && self.tap_policy.applies_to(&self.groups_of(&user.id))
    }

    /// FIDO2 policy on and the user targeted (self-service is checked separately).
    pub fn fido2_applies(&self, user: &User) -> bool {
        !user.guest
            && self.fido2_policy.state == PolicyState::Enabled
            && !self.fido2_policy.targets_for(&self.groups_of(&user.id)).is_empty()
    }

    /// The model name for an AAGUID, if the table knows it.
    pub fn model_for(&self, aaguid: &str) -> Option<String> {
        self.models.get(&aaguid.to_lowercase()).cloned()
    }

    /// How many security keys the pages let this user have.
    pub fn key_limit(&self, user: &User) -> u32 {
        user.max_security_keys.unwrap_or(self.max_keys_per_user)
    }

    /// The user's FIDO2 methods (empty when none).
    pub fn methods_of(&self, user_id: &str) -> &[Fido2Method] {
        self.fido2.get(&user_id.to_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The user's TAP, if any.
    pub fn tap_of(&self, user_id: &str) -> Option<&Tap> {
        self.taps.get(&user_id.to_lowercase())
    }
}
