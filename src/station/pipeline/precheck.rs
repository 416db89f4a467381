//! Checking a user before a key is plugged in (the kiosk asks "who are you?" first):
//! the Graph look-up and the policy scope of the inspect step, without a journal row.
use super::checks::{check_targeting, check_tap, target_group_ids};
use super::events::Step;
use super::failure::Failure;
use super::outcome::{OutcomeError, UserSummary};
use super::Station;
use crate::ceremony::RegistrationPath;
use crate::entra::graph::PolicyState;
use crate::station::journal::FailureKind;

impl Station {
    /// Look `user` up (UPN, mail or object id) and check that the tenant's policies let
    /// the station enroll them: FIDO2 method on, self-service setup on, the user in scope
    /// (exclusion wins), and the TAP policy when a TAP will be issued; and that the
    /// station's own sign-in may make every call a job will make. The key model is
    /// not known yet, so key restrictions are checked when the key arrives. Nothing is
    /// recorded and nothing is changed.
    pub async fn check_user(&self, user: &str, via: Option<RegistrationPath>) -> Result<UserSummary, OutcomeError> {
        let cfg = &self.setup.config;
        let tenant = cfg.require_tenant().map_err(|m| Failure::new(FailureKind::Config, Step::Inspect, m))?;
        self.check_permissions(via).await?;
        let graph = &self.setup.graph;
        let u = graph.resolve_user(user).await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
        let upn = u.user_principal_name.clone().unwrap_or_else(|| user.to_string());
        if u.is_guest() {
            return Err(Failure::policy(Step::Inspect, format!("{upn} is a guest (B2B) account; guests cannot register security keys in this tenant"), "enroll the user in their home tenant"));
        }
        let fido2 = self.fido2_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?;
        if fido2.state != PolicyState::Enabled || fido2.is_self_service_registration_allowed != Some(true) {
            // The same words as at inspection: reuse the full check with a neutral key.
            let f = super::checks::check_fido2(&fido2, &upn, &[], "00000000-0000-0000-0000-000000000000", "any key").err();
            if let Some(f) = f {
                return Err(f);
            }
        }
        let path = via.unwrap_or(tenant.registration);
        let tap = if path == RegistrationPath::Browser || cfg.tap.handover { Some(self.tap_policy().await.map_err(|e| Failure::graph(Step::Inspect, &e))?) } else { None };
        let mut groups = target_group_ids(&fido2.include_targets, &fido2.exclude_targets);
        if let Some(t) = &tap {
            groups.extend(target_group_ids(&t.include_targets, &t.exclude_targets));
        }
        let mut member_of = if groups.is_empty() { Vec::new() } else { graph.check_member_groups(&u.id, &groups).await.map_err(|e| Failure::graph(Step::Inspect, &e))? };
        member_of.push(u.id.clone());
        check_targeting("Passkey (FIDO2)", &upn, &fido2.include_targets, &fido2.exclude_targets, &member_of).map_err(|(m, n)| Failure::policy(Step::Inspect, m, n))?;
        if let Some(t) = &tap {
            if path == RegistrationPath::Browser {
                check_tap(t, &upn, &member_of, cfg.tap.registration_lifetime_minutes, cfg.tap.one_time, "the Temporary Access Pass for the browser registration")?;
            }
            if cfg.tap.handover {
                check_tap(t, &upn, &member_of, cfg.tap.lifetime_minutes, cfg.tap.one_time, "the handover Temporary Access Pass (tap.handover)")?;
            }
        }
        Ok(UserSummary { requested: user.to_string(), upn: Some(upn), object_id: Some(u.id), display_name: u.display_name })
    }
}
