//! Finding jobs: a [`JournalQuery`] run through the journal's query API (so a journal on
//! another backend answers the same way), newest first.
use crate::console::params::query::JournalQuery;
use crate::station::journal::{JobFilter, JobRecord, Journal, JournalError, KeyQuery};
use chrono::SecondsFormat;
use serde::Serialize;

/// One job in a result list.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Journal row id.
    pub id: i64,
    /// Job UUID.
    pub uid: String,
    /// Mode.
    pub mode: &'static str,
    /// State.
    pub state: &'static str,
    /// The user.
    pub user: Option<String>,
    /// Key serial.
    pub key_serial: Option<String>,
    /// Key model.
    pub key_model: Option<String>,
    /// Key path.
    pub key_path: Option<String>,
    /// Batch id.
    pub batch_id: Option<String>,
    /// Batch line.
    pub batch_line: Option<u64>,
    /// Entra method id.
    pub method_id: Option<String>,
    /// Started.
    pub created_at: String,
    /// Ended.
    pub finished_at: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// What an operator must do.
    pub operator_message: Option<String>,
}

impl JobSummary {
    /// From a journal record.
    pub fn from_job(j: &JobRecord) -> JobSummary {
        let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        JobSummary {
            id: j.id.0,
            uid: j.uid.clone(),
            mode: j.mode.as_str(),
            state: j.state.as_str(),
            user: j.user.upn.clone(),
            key_serial: j.key.serial.clone(),
            key_model: j.key.model.clone(),
            key_path: j.key.path.clone(),
            batch_id: j.batch.as_ref().map(|b| b.id.clone()),
            batch_line: j.batch.as_ref().map(|b| b.line),
            method_id: j.entra_method_id.clone(),
            created_at: t(j.created_at),
            finished_at: j.finished_at.map(t),
            error: j.error.as_ref().map(|e| e.message.clone()),
            operator_message: j.operator_reason.as_ref().map(|r| r.message()),
        }
    }
}

/// The journal filter for everything but the key.
fn filter(q: &JournalQuery) -> JobFilter {
    JobFilter { since: q.since, until: q.until, states: q.states.clone(), user: q.user.clone(), mode: q.mode, batch_id: q.batch.clone(), limit: None }
}

fn matches(j: &JobRecord, q: &JournalQuery) -> bool {
    let f = filter(q);
    f.since.is_none_or(|s| j.created_at >= s)
        && f.until.is_none_or(|u| j.created_at < u)
        && (f.states.is_empty() || f.states.contains(&j.state))
        && f.user.as_ref().is_none_or(|u| j.user.upn.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
        && f.mode.is_none_or(|m| j.mode == m)
        && f.batch_id.as_ref().is_none_or(|b| j.batch.as_ref().is_some_and(|x| &x.id == b))
}

/// Every job matching `q` (oldest first, all of them: exports take every row).
pub fn all(journal: &Journal, q: &JournalQuery) -> Result<Vec<JobRecord>, JournalError> {
    let Some(key) = &q.key else { return journal.query(&filter(q)) };
    // A key is named by its serial or its AAGUID (a path only while plugged in).
    let mut jobs = Vec::new();
    for kq in [
        KeyQuery { serial: Some(key.clone()), ..Default::default() },
        KeyQuery { aaguid: Some(key.clone()), ..Default::default() },
        KeyQuery { path: Some(key.clone()), ..Default::default() },
    ] {
        for j in journal.jobs_for_key(&kq)? {
            if !jobs.iter().any(|x: &JobRecord| x.id == j.id) && matches(&j, q) {
                jobs.push(j);
            }
        }
    }
    jobs.sort_by_key(|j| j.id.0);
    Ok(jobs)
}

/// The newest `q.limit` jobs matching `q`, newest first, and how many matched in all.
pub fn newest(journal: &Journal, q: &JournalQuery) -> Result<(Vec<JobSummary>, usize), JournalError> {
    let jobs = all(journal, q)?;
    let total = jobs.len();
    Ok((jobs.iter().rev().take(q.limit).map(JobSummary::from_job).collect(), total))
}
