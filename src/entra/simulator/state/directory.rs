//! Users, groups and app registrations as the running simulator holds them.
use crate::entra::simulator::certs::{self, GeneratedCertificate};
use crate::entra::simulator::roles::DirectoryRole;
use crate::entra::simulator::seed::{AppKind, CeremonyVariant, TenantSeed};
use crate::secret::SecretString;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};

/// A directory user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    pub guest: bool,
    pub account_enabled: bool,
    pub roles: Vec<DirectoryRole>,
    pub mfa_on_signin: bool,
    pub proof_up_required: bool,
    pub max_security_keys: Option<u32>,
    pub ceremony: Option<CeremonyVariant>,
    /// The opaque WebAuthn user handle (stable per user, "OF:"-prefixed like Entra's).
    pub user_handle: Vec<u8>,
}

impl User {
    /// Holds any directory role (Authentication Administrators may not manage them).
    pub fn is_admin(&self) -> bool {
        !self.roles.is_empty()
    }

    /// Graph's user representation: the default property set, or `$select`ed properties.
    pub fn to_graph(&self, select: Option<&[String]>) -> Value {
        let all = json!({
            "id": self.id,
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": self.given_name,
            "jobTitle": self.job_title,
            "mail": self.mail,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": null,
            "surname": self.surname,
            "userPrincipalName": self.upn,
            "userType": if self.guest { "Guest" } else { "Member" },
            "accountEnabled": self.account_enabled,
        });
        let default = [
            "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation",
            "preferredLanguage", "surname", "userPrincipalName",
        ];
        let mut out = serde_json::Map::new();
        let wanted: Vec<&str> = match select {
            Some(s) => s.iter().map(String::as_str).collect(),
            None => default.to_vec(),
        };
        for k in wanted {
            if let Some((key, v)) = all.as_object().and_then(|o| o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k))) {
                out.insert(key.clone(), v.clone());
            }
        }
        Value::Object(out)
    }

    /// Property names `$select` and `$filter` may use.
    pub const PROPERTIES: [&'static str; 13] = [
        "id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
        "preferredLanguage", "surname", "userPrincipalName", "userType", "accountEnabled",
    ];
}

/// A security group with its direct members.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub member_users: Vec<String>,
    pub member_groups: Vec<String>,
}

/// A certificate registered on an app.
#[derive(Debug, Clone)]
pub struct AppCertificate {
    pub der: Vec<u8>,
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

/// An app registration.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub name: String,
    pub kind: AppKind,
    pub secrets: Vec<SecretString>,
    pub certificates: Vec<AppCertificate>,
    pub delegated_scopes: Vec<String>,
    pub application_roles: Vec<String>,
}

/// Users, groups, apps.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub apps: Vec<App>,
}

impl Directory {
    /// Build from a validated seed (`generated` holds certificates made at start-up).
    pub fn from_seed(seed: &TenantSeed, generated: &[GeneratedCertificate]) -> Result<Directory, String> {
        use rand::RngCore;
        let users = seed
            .users
            .iter()
            .map(|u| {
                let mut handle = b"OF:".to_vec();
                let mut rnd = [0u8; 48];
                rand::thread_rng().fill_bytes(&mut rnd);
                handle.extend_from_slice(&rnd);
                User {
                    id: seed.user_id(u),
                    upn: u.upn.clone(),
                    display_name: u.display_name.clone(),
                    given_name: u.given_name.clone(),
                    surname: u.surname.clone(),
                    mail: u.mail.clone().or_else(|| (!u.guest).then(|| u.upn.clone())),
                    job_title: u.job_title.clone(),
                    guest: u.guest,
                    account_enabled: u.account_enabled,
                    roles: u.roles.iter().filter_map(|r| DirectoryRole::from_name(r)).collect(),
                    mfa_on_signin: u.mfa_on_signin,
                    proof_up_required: u.proof_up_required,
                    max_security_keys: u.max_security_keys,
                    ceremony: u.ceremony,
                    user_handle: handle,
                }
            })
            .collect::<Vec<_>>();
        let user_id_of = |upn: &str| users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn)).map(|u| u.id.clone());
        let group_id_of = |name: &str| seed.groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)).map(|g| seed.group_id(g));
        let groups = seed
            .groups
            .iter()
            .map(|g| Group {
                id: seed.group_id(g),
                display_name: g.name.clone(),
                member_users: g.members.iter().filter_map(|m| user_id_of(m)).collect(),
                member_groups: g.members.iter().filter(|m| user_id_of(m).is_none()).filter_map(|m| group_id_of(m)).collect(),
            })
            .collect();
        let mut apps = Vec::new();
        for a in &seed.apps {
            let mut certificates = Vec::new();
            for pem in &a.certificates {
                for der in certs::parse_pem_certificates(pem)? {
                    certificates.push(AppCertificate { sha1: certs::sha1_thumbprint(&der), sha256: certs::sha256_thumbprint(&der), der });
                }
            }
            for g in generated.iter().filter(|g| g.client_id.eq_ignore_ascii_case(&a.client_id)) {
                for der in certs::parse_pem_certificates(&g.certificate_pem)? {
                    certificates.push(AppCertificate { sha1: certs::sha1_thumbprint(&der), sha256: certs::sha256_thumbprint(&der), der });
                }
            }
            apps.push(App {
                client_id: a.client_id.to_lowercase(),
                name: a.name.clone(),
                kind: a.kind,
                secrets: a.secrets.iter().map(|s| SecretString::new(s.as_str())).collect(),
                certificates,
                delegated_scopes: a.delegated_scopes.clone(),
                application_roles: a.application_roles.clone(),
            });
        }
        Ok(Directory { users, groups, apps })
    }

    /// Find a user by object id or UPN (case-insensitive).
    pub fn user(&self, key: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
    }

    /// Mutable variant of [`Self::user`].
    pub fn user_mut(&mut self, key: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
    }

    /// Find an app by client id.
    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Mutable variant of [`Self::app`].
    pub fn app_mut(&mut self, client_id: &str) -> Option<&mut App> {
        self.apps.iter_mut().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Every group the user is in, directly or through nested groups (ids, lower case).
    pub fn groups_of(&self, user_id: &str) -> HashSet<String> {
        let mut found: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|g| g.member_users.iter().any(|m| m.eq_ignore_ascii_case(user_id)))
            .map(|g| g.id.to_lowercase())
            .collect();
        loop {
            let more: Vec<String> = self
                .groups
                .iter()
                .filter(|g| !found.contains(&g.id.to_lowercase()))
                .filter(|g| g.member_groups.iter().any(|m| found.contains(&m.to_lowercase())))
                .map(|g| g.id.to_lowercase())
                .collect();
            if more.is_empty() {
                break;
            }
            found.extend(more);
        }
        found.into_iter().collect()
    }

    /// Resolve a seed reference (group name or id) to a group id.
    pub fn group_id(&self, name_or_id: &str) -> Option<String> {
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(name_or_id) || g.display_name.eq_ignore_ascii_case(name_or_id))
            .map(|g| g.id.clone())
    }
}
