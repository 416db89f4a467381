//! Before the first key: every user the batch will provision is looked up and checked
//! against the tenant's policies, a few at a time, so that no key is handed to a user
//! the station already knows will be refused (not found, guest, out of scope, TAP
//! policy). Per user: one look-up, plus one `checkMemberGroups` when a policy targets
//! groups; the policies themselves are read once.
use super::plan::{BatchPlan, Disposition};
use crate::ceremony::RegistrationPath;
use crate::station::journal::FailureKind;
use crate::station::pipeline::{OutcomeError, Station};
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;

/// Users checked at the same time.
pub const CONCURRENT_CHECKS: usize = 8;

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct Precheck {
    /// Rows (by line) the tenant would refuse, with the refusal.
    pub refused: BTreeMap<u64, OutcomeError>,
    /// Rows that could not be checked now (Graph throttled or down): they stay in the
    /// queue and the pipeline checks them when their key arrives.
    pub unchecked: BTreeMap<u64, OutcomeError>,
    /// Rows that passed.
    pub passed: usize,
    /// A failure every user would hit (the station's sign-in or permissions): the batch
    /// should not start.
    pub station_wide: Option<OutcomeError>,
}

/// Check the users of the rows that will be provisioned (resumed and skipped rows are
/// left alone). `via` as for the run.
pub async fn precheck_batch(station: &Station, plan: &BatchPlan, via: Option<RegistrationPath>) -> Precheck {
    let mut out = Precheck::default();
    let rows: Vec<(u64, String)> = plan.rows.iter().filter(|r| matches!(r.disposition, Disposition::Provision)).map(|r| (r.row.line, r.row.upn.clone())).collect();
    if rows.is_empty() {
        return out;
    }
    // Read the policies once, before the users (they are cached for the run).
    if let Err(e) = station.user_scope_policies(via).await {
        if e.station_wide || !e.retryable {
            out.station_wide = Some(e);
        } else {
            for (line, _) in rows {
                out.unchecked.insert(line, e.clone());
            }
        }
        return out;
    }
    let results: Vec<(u64, Result<Option<OutcomeError>, OutcomeError>)> = stream::iter(rows)
        .map(|(line, upn)| async move { (line, station.user_scope(&upn, via).await.map(|c| c.refusal)) })
        .buffer_unordered(CONCURRENT_CHECKS)
        .collect()
        .await;
    for (line, r) in results {
        match r {
            Ok(None) => out.passed += 1,
            Ok(Some(refusal)) => {
                out.refused.insert(line, refusal);
            }
            Err(e) if e.station_wide => {
                out.station_wide.get_or_insert(e);
            }
            // Not found (or ambiguous): certain to be refused when a key arrives.
            Err(e) if e.kind == FailureKind::UserInput || e.policy => {
                out.refused.insert(line, e);
            }
            Err(e) => {
                out.unchecked.insert(line, e);
            }
        }
    }
    out
}
