//! Checking a user before a key is plugged in (the kiosk asks "who are you?" first, a
//! batch checks its whole list up front, `doctor --user` and `--dry-run` report it):
//! the Graph look-up and the policy scope of the inspect step, without a journal row.
//! [`check_user_scope`] is the one implementation; [`Station::check_user`] wraps it with
//! the station's cached policies.
use super::checks::{check_fido2, check_tap, check_targeting, target_group_ids};
use super::events::Step;
use super::failure::Failure;
use super::outcome::{OutcomeError, UserSummary};
use super::Station;
use crate::ceremony::RegistrationPath;
use crate::entra::graph::{Fido2Policy, GraphClient, PolicyState, TapPolicy, User};
use crate::station::config::StationConfig;
use crate::station::journal::FailureKind;
use serde::Serialize;

/// Whether a user is in scope of one authentication-method policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyScope {
    /// In an include target and in no exclude target.
    pub in_scope: bool,
    /// Why not (operator text), when not.
    pub reason: Option<String>,
    /// What to change, when not.
    pub fix: Option<String>,
}

impl PolicyScope {
    fn of(r: Result<(), (String, String)>) -> PolicyScope {
        match r {
            Ok(()) => PolicyScope { in_scope: true, reason: None, fix: None },
            Err((reason, fix)) => PolicyScope { in_scope: false, reason: Some(reason), fix: Some(fix) },
        }
    }
}

/// One user as the tenant sees them, before any key.
#[derive(Debug, Clone, Serialize)]
pub struct UserCheck {
    /// The Entra user.
    pub user: User,
    /// Their UPN (what was typed when Graph has none).
    pub upn: String,
    /// Scope of the Passkey (FIDO2) policy.
    pub fido2: PolicyScope,
    /// Scope of the Temporary Access Pass policy (`None` when it was not read).
    pub tap: Option<PolicyScope>,
    /// Whether the station's configuration issues a TAP for this user (browser path or
    /// `tap.handover`), i.e. whether the TAP scope matters.
    pub tap_needed: bool,
    /// What enrolling this user would be refused with before the key is touched
    /// (`None`: the tenant lets the station enroll them).
    pub refusal: Option<OutcomeError>,
    /// Things worth telling that do not stop an enrollment (a disabled account).
    pub warnings: Vec<String>,
}

impl UserCheck {
    /// The user as an outcome names them.
    pub fn summary(&self, requested: &str) -> UserSummary {
        UserSummary { requested: requested.to_string(), upn: Some(self.upn.clone()), object_id: Some(self.user.id.clone()), display_name: self.user.display_name.clone() }
    }
}

/// Does the configuration issue a TAP for a job on `path`?
pub fn tap_needed(cfg: &StationConfig, path: RegistrationPath) -> bool {
    path == RegistrationPath::Browser || cfg.tap.handover
}

/// Look `user` up (UPN, mail or object id) and check what the tenant's policies say
/// about enrolling them on `path`: not a guest, FIDO2 method on with self-service setup
/// (the provisioning API's known prerequisite), in scope of the FIDO2 policy (exclusion
/// wins), and, when a TAP will be issued, the TAP policy (on, in scope, lifetime and
/// one-time rule). The key model is not known, so key restrictions are left to the
/// inspect step. `tap` must be given when [`tap_needed`] (else the TAP rules are not
/// checked); it is reported when given. Graph calls: the look-up, and
/// `checkMemberGroups` when a policy targets groups. Nothing is changed.
///
/// `Err` only when the check itself could not be made (user not found, Graph failing).
pub async fn check_user_scope(
    graph: &GraphClient,
    cfg: &StationConfig,
    fido2: &Fido2Policy,
    tap: Option<&TapPolicy>,
    user: &str,
    path: RegistrationPath,
) -> Result<UserCheck, OutcomeError> {
    let u = graph.resolve_user(user).await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
    let upn = u.user_principal_name.clone().unwrap_or_else(|| user.to_string());
    let mut groups = target_group_ids(&fido2.include_targets, &fido2.exclude_targets);
    if let Some(t) = tap {
        for g in target_group_ids(&t.include_targets, &t.exclude_targets) {
            if !groups.iter().any(|x| x.eq_ignore_ascii_case(&g)) {
                groups.push(g);
            }
        }
    }
    let mut member_of = if groups.is_empty() { Vec::new() } else { graph.check_member_groups(&u.id, &groups).await.map_err(|e| Failure::graph(Step::Inspect, &e))? };
    member_of.push(u.id.clone());

    let fido2_scope = PolicyScope::of(check_targeting("Passkey (FIDO2)", &upn, &fido2.include_targets, &fido2.exclude_targets, &member_of));
    let tap_scope = tap.map(|t| PolicyScope::of(check_targeting("Temporary Access Pass", &upn, &t.include_targets, &t.exclude_targets, &member_of)));
    let needs_tap = tap_needed(cfg, path);

    let mut warnings = Vec::new();
    if u.account_enabled == Some(false) {
        warnings.push(format!("{upn}'s account is disabled: a key can be registered, but it cannot be used until the account is enabled"));
    }
    let refusal = refusal(cfg, fido2, tap, &u, &upn, &member_of, path).err();
    Ok(UserCheck { user: u, upn, fido2: fido2_scope, tap: tap_scope, tap_needed: needs_tap, refusal, warnings })
}

/// The first rule that refuses the user, in the inspect step's order and words.
fn refusal(cfg: &StationConfig, fido2: &Fido2Policy, tap: Option<&TapPolicy>, u: &User, upn: &str, member_of: &[String], path: RegistrationPath) -> Result<(), OutcomeError> {
    if u.is_guest() {
        return Err(Failure::policy(Step::Inspect, format!("{upn} is a guest (B2B) account; guests cannot register security keys in this tenant"), "enroll the user in their home tenant"));
    }
    if fido2.state != PolicyState::Enabled || fido2.is_self_service_registration_allowed != Some(true) {
        // The same words as at inspection: the full check with a neutral key.
        check_fido2(fido2, upn, member_of, "00000000-0000-0000-0000-000000000000", "any key")?;
    }
    check_targeting("Passkey (FIDO2)", upn, &fido2.include_targets, &fido2.exclude_targets, member_of).map_err(|(m, n)| Failure::policy(Step::Inspect, m, n))?;
    if let Some(t) = tap {
        if path == RegistrationPath::Browser {
            check_tap(t, upn, member_of, cfg.tap.registration_lifetime_minutes, cfg.tap.one_time, "the Temporary Access Pass for the browser registration")?;
        }
        if cfg.tap.handover {
            check_tap(t, upn, member_of, cfg.tap.lifetime_minutes, cfg.tap.one_time, "the handover Temporary Access Pass (tap.handover)")?;
        }
    }
    Ok(())
}

impl Station {
    /// Look `user` up (UPN, mail or object id) and check that the tenant's policies let
    /// the station enroll them ([`check_user_scope`] with the station's cached policies),
    /// and that the station's own sign-in may make every call a job will make
    /// ([`Station::check_permissions`]). The key model is not known yet, so key
    /// restrictions are checked when the key arrives. Nothing is recorded and nothing is
    /// changed.
    pub async fn check_user(&self, user: &str, via: Option<RegistrationPath>) -> Result<UserSummary, OutcomeError> {
        self.check_permissions(via).await?;
        let check = self.user_scope(user, via).await?;
        match check.refusal {
            Some(r) => Err(r),
            None => Ok(check.summary(user)),
        }
    }

    /// The station-wide part of a user check, once for many users: the sign-in's
    /// permissions for every call a job on `via` makes, and the policies
    /// [`Station::user_scope`] needs (read and cached, so that users checked at once
    /// share one read).
    pub async fn user_scope_policies(&self, via: Option<RegistrationPath>) -> Result<(), OutcomeError> {
        let cfg = &self.setup.config;
        let tenant = cfg.require_tenant().map_err(|m| Failure::new(FailureKind::Config, Step::Inspect, m))?;
        self.check_permissions(via).await?;
        self.fido2_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
        if tap_needed(cfg, via.unwrap_or(tenant.registration)) {
            self.tap_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
        }
        Ok(())
    }

    /// [`check_user_scope`] with the station's configuration and cached policies (the TAP
    /// policy is read only when a TAP will be issued).
    pub async fn user_scope(&self, user: &str, via: Option<RegistrationPath>) -> Result<UserCheck, OutcomeError> {
        let cfg = &self.setup.config;
        let tenant = cfg.require_tenant().map_err(|m| Failure::new(FailureKind::Config, Step::Inspect, m))?;
        let path = via.unwrap_or(tenant.registration);
        let fido2 = self.fido2_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
        let tap = if tap_needed(cfg, path) { Some(self.tap_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?) } else { None };
        check_user_scope(&self.setup.graph, cfg, &fido2, tap.as_ref(), user, path).await
    }
}
