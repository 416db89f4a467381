//! Seed validation: every reference resolves, every id is well formed, every range is
//! legal, so the running simulator never meets a half-valid tenant.
use super::{AppKind, TenantSeed};
use crate::entra::simulator::roles::DirectoryRole;
use std::collections::HashSet;

impl TenantSeed {
    /// Check the seed; the error names the offending entry and says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.tenant;
        check_guid(&t.id, "tenant.id")?;
        if t.domain.trim().is_empty() || !t.domain.contains('.') {
            return Err(format!("tenant.domain {:?} must be a domain name such as contoso.test", t.domain));
        }
        let mut upns = HashSet::new();
        let mut ids = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let at = format!("users[{i}] ({})", u.upn);
            if !u.upn.contains('@') {
                return Err(format!("{at}: upn must look like name@domain"));
            }
            if !upns.insert(u.upn.to_lowercase()) {
                return Err(format!("{at}: the UPN appears twice (UPNs are case-insensitive)"));
            }
            let id = self.user_id(u);
            check_guid(&id, &format!("{at}.id"))?;
            if !ids.insert(id.to_lowercase()) {
                return Err(format!("{at}: object id {id} is used twice"));
            }
            for r in &u.roles {
                if DirectoryRole::from_name(r).is_none() {
                    return Err(format!(
                        "{at}: unknown directory role {r:?}; known roles: {}",
                        DirectoryRole::ALL.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            if u.guest && !u.fido2_methods.is_empty() {
                return Err(format!("{at}: guests cannot have FIDO2 methods"));
            }
            for (j, m) in u.fido2_methods.iter().enumerate() {
                check_guid(&m.aaguid, &format!("{at}.fido2_methods[{j}].aaguid"))?;
                if crate::entra::simulator::webauthn::b64::decode_b64url_strict(&m.credential_id).is_none() {
                    return Err(format!("{at}.fido2_methods[{j}].credential_id must be base64url without padding"));
                }
                if m.display_name.chars().count() > 30 {
                    return Err(format!("{at}.fido2_methods[{j}].display_name is longer than 30 characters"));
                }
            }
        }
        let mut group_names = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = format!("groups[{i}] ({})", g.name);
            if !group_names.insert(g.name.to_lowercase()) {
                return Err(format!("{at}: the group name appears twice"));
            }
            let id = self.group_id(g);
            check_guid(&id, &format!("{at}.id"))?;
            if !ids.insert(id.to_lowercase()) {
                return Err(format!("{at}: object id {id} is used twice"));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            for m in &g.members {
                if !upns.contains(&m.to_lowercase()) && !group_names.contains(&m.to_lowercase()) {
                    return Err(format!("groups[{i}] ({}): member {m:?} is neither a user's UPN nor a group name", g.name));
                }
            }
        }
        let target_ok = |s: &str| {
            s == "all_users"
                || group_names.contains(&s.to_lowercase())
                || self.groups.iter().any(|g| self.group_id(g).eq_ignore_ascii_case(s))
        };
        let f = &self.policies.fido2;
        for (what, include, exclude) in [
            ("policies.fido2", &f.include, &f.exclude),
            ("policies.temporary_access_pass", &self.policies.temporary_access_pass.include, &self.policies.temporary_access_pass.exclude),
        ] {
            for inc in include {
                if !target_ok(&inc.target) {
                    return Err(format!("{what}.include: {:?} is not all_users or a group name/id", inc.target));
                }
            }
            for exc in exclude {
                if exc == "all_users" || !target_ok(exc) {
                    return Err(format!("{what}.exclude: {exc:?} is not a group name/id"));
                }
            }
        }
        check_restrictions(&f.key_restrictions.enforcement, &f.key_restrictions.aaguids, "policies.fido2.key_restrictions")?;
        for (i, p) in f.passkey_profiles.iter().enumerate() {
            let at = format!("policies.fido2.passkey_profiles[{i}] ({})", p.name);
            check_restrictions(&p.key_restrictions.enforcement, &p.key_restrictions.aaguids, &at)?;
            if !matches!(p.attestation_enforcement.as_str(), "disabled" | "registrationOnly") {
                return Err(format!("{at}: attestation_enforcement must be disabled or registrationOnly"));
            }
            for ty in &p.passkey_types {
                if !matches!(ty.as_str(), "deviceBound" | "synced") {
                    return Err(format!("{at}: passkey_types entries must be deviceBound or synced, not {ty:?}"));
                }
            }
        }
        let tap = &self.policies.temporary_access_pass;
        crate::entra::simulator::state::policy::check_tap_numbers(
            tap.minimum_lifetime_minutes,
            tap.maximum_lifetime_minutes,
            tap.default_lifetime_minutes,
            tap.default_length,
        )
        .map_err(|e| format!("policies.temporary_access_pass: {e}"))?;
        let mut client_ids = HashSet::new();
        for (i, a) in self.apps.iter().enumerate() {
            let at = format!("apps[{i}] ({})", a.name);
            check_guid(&a.client_id, &format!("{at}.client_id"))?;
            if !client_ids.insert(a.client_id.to_lowercase()) {
                return Err(format!("{at}: client_id appears twice"));
            }
            match a.kind {
                AppKind::Public if !a.secrets.is_empty() || !a.certificates.is_empty() || a.generate_test_certificate => {
                    return Err(format!("{at}: a public client has no secrets or certificates; make it kind = \"confidential\""));
                }
                AppKind::Confidential if a.secrets.is_empty() && a.certificates.is_empty() && !a.generate_test_certificate => {
                    return Err(format!("{at}: a confidential client needs a secret, a certificate or generate_test_certificate = true"));
                }
                _ => {}
            }
            for (j, pem) in a.certificates.iter().enumerate() {
                crate::entra::simulator::certs::parse_pem_certificates(pem)
                    .map_err(|e| format!("{at}.certificates[{j}]: {e}"))?;
            }
        }
        for (i, pem) in self.attestation.trusted_roots.iter().enumerate() {
            crate::entra::simulator::certs::parse_pem_certificates(pem)
                .map_err(|e| format!("attestation.trusted_roots[{i}]: {e}"))?;
        }
        for (i, m) in self.aaguid_models.iter().enumerate() {
            check_guid(&m.aaguid, &format!("aaguid_models[{i}].aaguid"))?;
        }
        Ok(())
    }
}

fn check_guid(s: &str, what: &str) -> Result<(), String> {
    uuid::Uuid::parse_str(s).map(|_| ()).map_err(|_| format!("{what} {s:?} is not a GUID (8-4-4-4-12 hex)"))
}

fn check_restrictions(enforcement: &str, aaguids: &[String], at: &str) -> Result<(), String> {
    if !matches!(enforcement, "allow" | "block") {
        return Err(format!("{at}.enforcement must be \"allow\" or \"block\", not {enforcement:?}"));
    }
    for a in aaguids {
        check_guid(a, &format!("{at}.aaguids entry"))?;
    }
    Ok(())
}
