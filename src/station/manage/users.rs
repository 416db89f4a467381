//! One user as the tenant sees them, for the operator's desk (`users show`, `methods
//! list`, `doctor --user`): who they are, whether the policies let the station enroll
//! them, their FIDO2 security keys (AAGUID, model, creation date) and their Temporary
//! Access Passes (never the pass itself). Reads only.
use crate::ceremony::RegistrationPath;
use crate::entra::graph::{Fido2Method, Fido2Policy, GraphClient, TapPolicy, TemporaryAccessPass};
use crate::station::config::StationConfig;
use crate::station::models::ModelTable;
use crate::station::journal::FailureKind;
use crate::station::pipeline::{check_user_scope, tap_needed, ConnectOptions, OutcomeError, PolicyScope, StationError, Step, UserCheck};
use crate::station::setup::Connection;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A FIDO2 method, as shown at the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodRow {
    /// Method id (what `methods delete --id` takes).
    pub id: String,
    /// Name in Security info.
    pub display_name: Option<String>,
    /// AAGUID.
    pub aaguid: Option<String>,
    /// Model: Graph's name, else keystation's table.
    pub model: Option<String>,
    /// Registered at.
    pub created: Option<DateTime<Utc>>,
    /// `attested` / `notAttested`.
    pub attestation_level: Option<String>,
}

impl MethodRow {
    /// From Graph's method, naming the model from `models` when Graph does not.
    pub fn from_method(m: &Fido2Method, models: &ModelTable) -> MethodRow {
        let model = m.model.clone().filter(|s| !s.trim().is_empty()).or_else(|| m.aa_guid.as_deref().and_then(|a| models.lookup(a)).map(|i| i.name.clone()));
        MethodRow { id: m.id.clone(), display_name: m.display_name.clone(), aaguid: m.aa_guid.clone(), model, created: m.created_date_time, attestation_level: m.attestation_level.clone() }
    }
}

/// A Temporary Access Pass, without the pass (Graph never returns it after creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TapRow {
    /// Method id.
    pub id: String,
    /// Created at.
    pub created: Option<DateTime<Utc>>,
    /// Usable from.
    pub start: Option<DateTime<Utc>>,
    /// Usable until.
    pub expires: Option<DateTime<Utc>>,
    /// Lifetime in minutes.
    pub lifetime_minutes: Option<u32>,
    /// One-time pass.
    pub usable_once: Option<bool>,
    /// Usable right now.
    pub is_usable: Option<bool>,
    /// `EnabledByPolicy`, `Expired`, `OneTimeUsed`, …
    pub usability_reason: Option<String>,
}

impl TapRow {
    /// From Graph's TAP method (the pass, if any, is dropped).
    pub fn from_tap(t: &TemporaryAccessPass) -> TapRow {
        TapRow {
            id: t.id.clone(),
            created: t.created,
            start: t.start,
            expires: t.expires_at(),
            lifetime_minutes: t.lifetime_minutes,
            usable_once: t.usable_once,
            is_usable: t.is_usable,
            usability_reason: t.usability_reason.clone(),
        }
    }
}

/// Everything the desk shows about one user.
#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    /// As typed.
    pub requested: String,
    /// UPN.
    pub upn: Option<String>,
    /// Object id.
    pub object_id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: Option<bool>,
    /// Scope of the FIDO2 policy (`None`: the policy could not be read).
    pub fido2_scope: Option<PolicyScope>,
    /// Scope of the TAP policy (`None`: it could not be read).
    pub tap_scope: Option<PolicyScope>,
    /// Whether this configuration issues TAPs (so the TAP scope matters).
    pub tap_needed: bool,
    /// What an enrollment would be refused with before the key is touched.
    pub refusal: Option<OutcomeError>,
    /// Other things worth knowing.
    pub warnings: Vec<String>,
    /// FIDO2 security keys.
    pub fido2_methods: Vec<MethodRow>,
    /// Temporary Access Passes (at most one).
    pub taps: Vec<TapRow>,
    /// A part that could not be read (methods or TAPs), in words.
    pub unreadable: Vec<String>,
}

/// The policies a user report is made against (`None` fields: could not be read).
#[derive(Debug, Clone, Copy)]
pub struct PolicyView<'a> {
    /// FIDO2 policy.
    pub fido2: Option<&'a Fido2Policy>,
    /// TAP policy.
    pub tap: Option<&'a TapPolicy>,
}

/// Look a user up and gather the report: scope (when the FIDO2 policy is known), FIDO2
/// methods, TAPs. `Err` when the user cannot be found or Graph fails on the look-up.
pub async fn user_report(graph: &GraphClient, cfg: &StationConfig, models: &ModelTable, policies: PolicyView<'_>, user: &str, path: RegistrationPath) -> Result<UserReport, OutcomeError> {
    let mut report = match policies.fido2 {
        Some(fido2) => {
            let c = check_user_scope(graph, cfg, fido2, policies.tap, user, path).await?;
            UserReport {
                requested: user.to_string(),
                upn: Some(c.upn.clone()),
                object_id: Some(c.user.id.clone()),
                display_name: c.user.display_name.clone(),
                user_type: c.user.user_type.clone(),
                account_enabled: c.user.account_enabled,
                fido2_scope: Some(c.fido2),
                tap_scope: c.tap,
                tap_needed: c.tap_needed,
                refusal: c.refusal,
                warnings: c.warnings,
                fido2_methods: Vec::new(),
                taps: Vec::new(),
                unreadable: Vec::new(),
            }
        }
        None => {
            let u = graph.resolve_user(user).await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?;
            UserReport {
                requested: user.to_string(),
                upn: u.user_principal_name.clone(),
                object_id: Some(u.id.clone()),
                display_name: u.display_name.clone(),
                user_type: u.user_type.clone(),
                account_enabled: u.account_enabled,
                fido2_scope: None,
                tap_scope: None,
                tap_needed: tap_needed(cfg, path),
                refusal: None,
                warnings: Vec::new(),
                fido2_methods: Vec::new(),
                taps: Vec::new(),
                unreadable: Vec::new(),
            }
        }
    };
    let id = report.object_id.clone().unwrap_or_else(|| user.to_string());
    let (methods, taps) = tokio::join!(graph.list_fido2_methods(&id), graph.list_taps(&id));
    match methods {
        Ok(ms) => report.fido2_methods = ms.iter().map(|m| MethodRow::from_method(m, models)).collect(),
        Err(e) => report.unreadable.push(format!("FIDO2 methods: {}", first_line(&e.to_string()))),
    }
    match taps {
        Ok(ts) => report.taps = ts.iter().map(TapRow::from_tap).collect(),
        Err(e) => report.unreadable.push(format!("Temporary Access Passes: {}", first_line(&e.to_string()))),
    }
    Ok(report)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Check one user as an enrollment on `via` (default: the tenant's path) would, before
/// any key (reads only): sign in as the configured tenant, read the policies,
/// [`check_user_scope`]. What `enroll --dry-run` reports.
pub async fn check_user_for_config(config: &StationConfig, state_dir: &std::path::Path, connect: &ConnectOptions, user: &str, via: Option<RegistrationPath>) -> Result<UserCheck, OutcomeError> {
    let graph = tenant_graph(config, state_dir, connect)?;
    let path = via.or_else(|| config.tenant().map(|t| t.registration)).unwrap_or_default();
    let fido2 = graph.fido2_policy().await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?;
    let tap = if tap_needed(config, path) { Some(graph.tap_policy().await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?) } else { None };
    check_user_scope(&graph, config, &fido2, tap.as_ref(), user, path).await
}

/// Everything `users show` prints about one user: sign in as the configured tenant,
/// read the policies (a policy that cannot be read leaves its scope unknown, with a
/// note), then [`user_report`].
pub async fn show_user(config: &StationConfig, state_dir: &std::path::Path, connect: &ConnectOptions, user: &str, via: Option<RegistrationPath>) -> Result<UserReport, OutcomeError> {
    let graph = tenant_graph(config, state_dir, connect)?;
    let models = crate::station::setup::model_table(config).unwrap_or_else(|_| ModelTable::builtin());
    let path = via.or_else(|| config.tenant().map(|t| t.registration)).unwrap_or_default();
    let (fido2, tap) = tokio::join!(graph.fido2_policy(), graph.tap_policy());
    let mut notes = Vec::new();
    let fido2 = fido2.map_err(|e| notes.push(format!("the FIDO2 policy (scope not checked): {}", first_line(&e.to_string())))).ok();
    let tap = tap.map_err(|e| notes.push(format!("the TAP policy (scope not checked): {}", first_line(&e.to_string())))).ok();
    let mut report = user_report(&graph, config, &models, PolicyView { fido2: fido2.as_ref(), tap: tap.as_ref() }, user, path).await?;
    report.unreadable.extend(notes);
    Ok(report)
}

/// A user's FIDO2 methods (`methods list`): their UPN and the methods.
pub async fn list_methods(config: &StationConfig, state_dir: &std::path::Path, connect: &ConnectOptions, user: &str) -> Result<(String, Vec<MethodRow>), OutcomeError> {
    let graph = tenant_graph(config, state_dir, connect)?;
    let models = crate::station::setup::model_table(config).unwrap_or_else(|_| ModelTable::builtin());
    let u = graph.resolve_user(user).await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?;
    let methods = graph.list_fido2_methods(&u.id).await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?;
    Ok((u.user_principal_name.unwrap_or_else(|| user.to_string()), methods.iter().map(|m| MethodRow::from_method(m, &models)).collect()))
}

/// Graph for the configured tenant, or the reason there is none (station-wide).
fn tenant_graph(config: &StationConfig, state_dir: &std::path::Path, connect: &ConnectOptions) -> Result<GraphClient, OutcomeError> {
    Connection::new(config, connect).and_then(|c| c.graph(state_dir)).map_err(|e| {
        let mut f = match e {
            StationError::Config(m) => OutcomeError::new(FailureKind::Config, Step::Inspect, m),
            StationError::Graph(g) => OutcomeError::graph(Step::Inspect, &g),
            other => OutcomeError::new(FailureKind::Entra, Step::Inspect, other.to_string()),
        };
        f.station_wide = true;
        f
    })
}
