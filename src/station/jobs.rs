//! The operator's view of jobs that did not end well: which ones need a person (parked,
//! `needs_operator`) and which ones the next run resumes by itself (unfinished), why,
//! and what to do, with the command for it. An operator then either releases a parked
//! job for another attempt ([`retry`]) or closes it with a note ([`resolve`]).
//!
//! `keystation jobs list | show | retry | resolve` is the command line for this; the
//! journal is read only for `list` and `show`.
use crate::station::journal::{IntentRecord, JobId, JobMode, JobRecord, Journal, JournalError, OperatorReason, TransitionRecord, Transition};
use crate::station::state::JobState;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Which {
    /// Parked and unfinished jobs: everything that is not over.
    #[default]
    Open,
    /// Only jobs that wait for a person.
    Parked,
    /// Only jobs the next run resumes by itself.
    Unfinished,
}

/// Where a listed job stands, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Waits for a person (`needs_operator`).
    Parked,
    /// Stopped half-way (crash, Ctrl-C, an internal error); the next run resumes it.
    Unfinished,
    /// Over (`done` or `failed`); nothing to do.
    Closed,
}

/// A job with why it stopped and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct JobEntry {
    /// The job as stored.
    pub job: JobRecord,
    /// Parked, unfinished or closed.
    pub standing: Standing,
    /// When it reached its current state.
    pub since: DateTime<Utc>,
    /// Why it stopped (the operator reason's code, or the error kind).
    pub why: String,
    /// What to do, in words.
    pub what_to_do: String,
    /// The commands to run, in order.
    pub commands: Vec<String>,
}

/// A job in full: the entry, its intents and its history.
#[derive(Debug, Clone, Serialize)]
pub struct JobDetail {
    /// The job and what to do.
    #[serde(flatten)]
    pub entry: JobEntry,
    /// Side effects recorded before they happened, and how each ended.
    pub intents: Vec<IntentRecord>,
    /// State changes, oldest first.
    pub history: Vec<TransitionRecord>,
}

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// No such job.
    #[error("there is no job {0} in the journal (`keystation jobs list` shows the open ones)")]
    NotFound(String),
    /// The action does not apply to the job's state.
    #[error("{0}")]
    NotApplicable(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The command that runs a user's job again.
fn rerun(job: &JobRecord) -> String {
    let user = job.user.upn.clone().or_else(|| job.user.object_id.clone()).unwrap_or_else(|| "USER".into());
    match (&job.mode, &job.batch) {
        (JobMode::Batch, Some(b)) if b.id.starts_with("queue:") => format!("keystation batch --queue {}", &b.id["queue:".len()..]),
        (JobMode::Batch | JobMode::Demo, Some(b)) => format!("keystation batch --batch-id {} FILE   (the same user list)", b.id),
        (JobMode::Kiosk, _) => format!("at the kiosk: {user} types their name again"),
        _ => format!("keystation enroll --user {user}"),
    }
}

/// Why, what to do and the commands, for a job.
fn advice(job: &JobRecord) -> (Standing, String, String, Vec<String>) {
    // The bare number: `#42` would start a comment in a shell.
    let id = job.id.0;
    let retry = format!("keystation jobs retry {id}");
    let resolve = |note: &str| format!("keystation jobs resolve {id} --note \"{note}\"");
    if job.state.is_in_progress() {
        let why = job.error.as_ref().map(|e| e.kind.as_str().to_string()).unwrap_or_else(|| "interrupted".into());
        let what = match &job.error {
            Some(e) => format!("{} Nothing to do by hand: the next run resumes it where it stopped.", e.message),
            None => "The station stopped while this job ran (a crash or a power cut). Nothing to do by hand: the next run resumes it where it stopped.".into(),
        };
        return (Standing::Unfinished, why, what, vec![rerun(job)]);
    }
    if job.state != JobState::NeedsOperator {
        let why = job.error.as_ref().map(|e| e.kind.as_str().to_string()).unwrap_or_else(|| job.state.as_str().to_string());
        let what = match job.state {
            JobState::Done => "Nothing: the key was handed over.".to_string(),
            _ => "Nothing to close: a failed job is tried again by the next run of its batch or enrollment.".to_string(),
        };
        return (Standing::Closed, why, what, Vec::new());
    }
    let reason = job.operator_reason.clone().unwrap_or(OperatorReason::Other { message: "no reason was recorded".into() });
    let method = |m: &str| format!("delete Entra method {m} of this user (Entra admin center > Users > the user > Authentication methods)");
    let (what, commands) = match &reason {
        OperatorReason::PinSetRegistrationFailed => (
            "The key got a PIN but registration failed for a reason another attempt would not fix by itself. Fix the cause shown in the error, then release the job: the next attempt resets the key (reset.policy) and enrolls it again.".to_string(),
            vec![retry.clone(), rerun(job)],
        ),
        OperatorReason::PinLostBeforeHandover { method_id } => (
            format!(
                "The PIN was lost before the handover. {}reset the key (plug it in, `keystation keys reset --yes`), then release the job and enroll it again.",
                method_id.as_deref().map(|m| format!("First {}; then ", method(m))).unwrap_or_default()
            ),
            vec!["keystation keys reset --yes".into(), retry.clone(), rerun(job)],
        ),
        OperatorReason::HandoverInterrupted { method_id, sealed: true } => (
            format!("The key is registered (method {method_id}); the PIN's sealed copy is in the journal. Open it (`keystation report --user USER --format json`, then `age -d -i desk.key`), give it to the user in person, then mark the job resolved."),
            vec![resolve("sealed PIN handed over in person")],
        ),
        OperatorReason::HandoverInterrupted { method_id, sealed: false } => (
            format!("The key is registered (method {method_id}), but the station stopped while the PIN slip was shown: ask the user. If they have the PIN, mark the job resolved. If not, {}, then release the job and enroll the key again (it is reset first).", method(method_id)),
            vec![resolve("the user has the PIN"), retry.clone(), rerun(job)],
        ),
        OperatorReason::UnknownMethodOnUser { method_id, .. } => (
            format!("The user has a security key the journal does not know (method {method_id}). Find out who registered it. To keep it, mark the job resolved; otherwise {}, then release the job.", method(method_id)),
            vec![resolve("method kept: registered by …"), retry.clone(), rerun(job)],
        ),
        OperatorReason::AmbiguousOrphan { candidates } => (
            format!("Several Entra methods ({}) could be the registration made before the station stopped: delete those that are not on this key, then release the job.", candidates.join(", ")),
            vec![retry.clone(), rerun(job)],
        ),
        OperatorReason::KeyHasUnknownPin => (
            "The key already had a PIN nobody here knows and reset.policy is \"never\": reset it by hand (`keystation keys reset --yes`) or enroll it at a desk where the user types its PIN, then release the job.".to_string(),
            vec!["keystation keys reset --yes".into(), retry.clone(), rerun(job)],
        ),
        OperatorReason::Other { message } => (
            format!("{message} When that is done: release the job for another attempt, or mark it resolved if nothing is left to do."),
            vec![retry.clone(), resolve("what was done")],
        ),
    };
    (Standing::Parked, reason.code().to_string(), what, commands)
}

fn entry(journal: &Journal, job: JobRecord) -> Result<JobEntry, JournalError> {
    let since = journal.transitions(job.id)?.last().map(|t| t.at).unwrap_or(job.updated_at);
    let (standing, why, what_to_do, commands) = advice(&job);
    Ok(JobEntry { job, standing, since, why, what_to_do, commands })
}

/// Parked and/or unfinished jobs, oldest first.
pub fn list(journal: &Journal, which: Which) -> Result<Vec<JobEntry>, JournalError> {
    let mut jobs = Vec::new();
    if which != Which::Unfinished {
        jobs.extend(journal.needs_operator()?.into_iter().map(|e| e.job));
    }
    if which != Which::Parked {
        jobs.extend(journal.unfinished()?.into_iter().map(|u| u.job));
    }
    jobs.sort_by_key(|j| j.id);
    jobs.into_iter().map(|j| entry(journal, j)).collect()
}

/// Find a job by its number (`42`, `#42`) or its uid.
pub fn find(journal: &Journal, text: &str) -> Result<JobRecord, JobsError> {
    let t = text.trim().trim_start_matches('#');
    let found = match t.parse::<i64>() {
        Ok(n) => journal.job(JobId(n))?,
        Err(_) => journal.job_by_uid(t)?,
    };
    found.ok_or_else(|| JobsError::NotFound(crate::text::echo(text).to_string()))
}

/// One job in full.
pub fn detail(journal: &Journal, text: &str) -> Result<JobDetail, JobsError> {
    let job = find(journal, text)?;
    let id = job.id;
    Ok(JobDetail { entry: entry(journal, job)?, intents: journal.intents(id)?, history: journal.transitions(id)? })
}

fn parked(journal: &Journal, text: &str, action: &str) -> Result<JobRecord, JobsError> {
    let job = find(journal, text)?;
    match job.state {
        JobState::NeedsOperator => Ok(job),
        s if s.is_in_progress() => Err(JobsError::NotApplicable(format!(
            "job {} is not parked but unfinished (state {s}): nothing to {action}; the next run resumes it ({})",
            job.id.0,
            rerun(&job)
        ))),
        s => Err(JobsError::NotApplicable(format!("job {} is already over (state {s}): nothing to {action}", job.id.0))),
    }
}

/// Release a parked job for another attempt: it is closed `failed` (its error kept, the
/// operator's note in its history), so the next run of its batch, or the next
/// enrollment of the user, provisions the user again.
pub fn retry(journal: &mut Journal, text: &str, note: Option<&str>) -> Result<JobEntry, JobsError> {
    let job = parked(journal, text, "retry")?;
    let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("released for another attempt by the operator: {n}"),
        None => "released for another attempt by the operator".to_string(),
    };
    // A user a queue parked with this job goes back to that queue, in the same write.
    let queue = journal.operator_release(job.id, Transition::to(JobState::Failed).with_note(note))?;
    let job = find(journal, &job.id.0.to_string())?;
    let mut e = entry(journal, job)?;
    e.what_to_do = match queue {
        Some(q) => format!("Released: the user is pending again in queue {q}; a station working it (`keystation batch --queue {q}`) enrolls them."),
        None => "Released: run the job again.".into(),
    };
    e.commands = vec![rerun(&e.job)];
    Ok(e)
}

/// Close a parked job as done, with the operator's note (what they did) in its history.
pub fn resolve(journal: &mut Journal, text: &str, note: &str) -> Result<JobEntry, JobsError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(JobsError::NotApplicable("--note is empty: say what was done (it is kept in the job's history)".into()));
    }
    let job = parked(journal, text, "resolve")?;
    journal.operator_transition(job.id, Transition::to(JobState::Done).with_note(format!("resolved by the operator: {note}")))?;
    let job = find(journal, &job.id.0.to_string())?;
    entry(journal, job).map_err(JobsError::from)
}
