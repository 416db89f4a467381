//! User checks: each user exists, is a member (not a guest), is in scope of both
//! policies; their FIDO2 methods and TAPs are reported alongside. Users are checked a few
//! at a time.
use super::tenant::TenantFindings;
use super::{Area, Check, DoctorInput, Trouble, UserReport};
use crate::station::journal::FailureKind;
use crate::station::manage::users::{user_report, PolicyView};
use crate::station::setup::model_table;
use futures_util::stream::{self, StreamExt};

const U: Area = Area::Users;

/// Users looked up at the same time.
const CONCURRENT_USERS: usize = 8;

/// Check every user of `input.users`; one check line per user (plus warnings).
pub async fn check(input: &DoctorInput, t: &TenantFindings, out: &mut Vec<Check>) -> Vec<UserReport> {
    let models = match model_table(&input.config) {
        Ok(m) => m,
        Err(_) => crate::station::models::ModelTable::builtin(),
    };
    let policies = PolicyView { fido2: t.fido2.as_ref(), tap: t.tap.as_ref() };
    let results: Vec<_> = stream::iter(input.users.iter().cloned())
        .map(|u| {
            let (graph, cfg, models) = (&t.graph, &input.config, &models);
            async move {
                let r = user_report(graph, cfg, models, policies, &u, t.path).await;
                (u, r)
            }
        })
        .buffered(CONCURRENT_USERS)
        .collect()
        .await;
    let mut reports = Vec::new();
    for (requested, r) in results {
        let id = format!("user.{}", requested.to_lowercase());
        match r {
            Err(e) => {
                let trouble = match e.kind {
                    FailureKind::UserInput => Trouble::UserInput,
                    FailureKind::Policy => Trouble::Policy,
                    _ => Trouble::Entra,
                };
                out.push(Check::fail(U, id, requested.clone(), e.for_staff(), e.next_step.clone().unwrap_or_else(|| "check the user's name".into()), trouble));
            }
            Ok(rep) => {
                out.push(user_check(id, &rep));
                reports.push(rep);
            }
        }
    }
    reports
}

/// One line for one user: refused (FAIL), TAP scope or account worth a look (WARN), or fine.
fn user_check(id: String, r: &UserReport) -> Check {
    let upn = r.upn.clone().unwrap_or_else(|| r.requested.clone());
    let keys = match r.fido2_methods.len() {
        0 => "no security key".to_string(),
        1 => "1 security key".to_string(),
        n => format!("{n} security keys"),
    };
    let taps = match r.taps.len() {
        0 => "no TAP".to_string(),
        _ => format!("a TAP ({})", r.taps[0].usability_reason.as_deref().unwrap_or("state unknown")),
    };
    let kind = if r.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("guest")) { "guest" } else { "member" };
    if let Some(refusal) = &r.refusal {
        let trouble = if refusal.policy { Trouble::Policy } else { Trouble::Entra };
        return Check::fail(U, id, upn, format!("{}; has {keys}, {taps}", refusal.for_staff()), refusal.next_step.clone().unwrap_or_default(), trouble);
    }
    if r.fido2_scope.is_none() {
        return Check::warn(U, id, upn, format!("{kind}; scope not checked (the FIDO2 policy could not be read); has {keys}, {taps}"), "fix the FIDO2 policy check above");
    }
    let mut warnings = r.warnings.clone();
    let mut fixes = Vec::new();
    let tap_words = match &r.tap_scope {
        Some(s) if s.in_scope => "in scope of the Passkey (FIDO2) and TAP policies".to_string(),
        Some(s) => {
            // Needed TAP scope problems are refusals (above); here only the unneeded case.
            warnings.push(format!("{} (this configuration issues no TAP, so it only matters for the browser path or tap.handover)", s.reason.clone().unwrap_or_default()));
            fixes.extend(s.fix.clone());
            "in scope of the Passkey (FIDO2) policy".to_string()
        }
        None => "in scope of the Passkey (FIDO2) policy (TAP policy not read)".to_string(),
    };
    fixes.extend(r.unreadable.iter().map(|u| format!("could not read {u}")));
    let detail = format!("{kind}, {tap_words}; has {keys}, {taps}");
    if warnings.is_empty() && r.unreadable.is_empty() {
        Check::pass(U, id, upn, detail)
    } else {
        let mut d = detail;
        for w in &warnings {
            d.push_str(&format!("; {w}"));
        }
        Check::warn(U, id, upn, d, if fixes.is_empty() { "enable the account before handing the key over".to_string() } else { fixes.join("; ") })
    }
}
