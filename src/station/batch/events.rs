//! What a batch run reports while it runs: its own notices ([`BatchNotice`]: rows,
//! keys, users assigned and finished) and the pipeline's per-job events
//! ([`StationEvent`]), in one stream ([`BatchEvent`]) for the progress display, the
//! JSON-lines output and tests. No event ever carries a PIN, a TAP or a token.
use super::report::{BatchReport, RowStatus};
use crate::station::pipeline::{OutcomeClass, StationEvent};
use crate::station::state::JobState;
use serde::Serialize;

/// One thing that happened in a batch run.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BatchEvent {
    /// The batch's own notices.
    Batch(BatchNotice),
    /// The pipeline's events for one job (steps, touch, state changes).
    Job(StationEvent),
}

/// The batch scheduler's notices. JSON: `{"event": "<snake_case name>", ...}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BatchNotice {
    /// The run begins.
    BatchStarted {
        /// Batch id (journal `batch_id`).
        batch_id: String,
        /// The user list.
        file: String,
        /// Good rows in the file.
        users: usize,
        /// Rows to provision in this run (including resumed ones).
        to_do: usize,
        /// Rows done in an earlier run of this batch.
        already_done: usize,
        /// Rows whose job was interrupted and will be resumed.
        resuming: usize,
        /// Bad rows.
        bad_rows: usize,
        /// Keys provisioned at the same time.
        concurrency: usize,
    },
    /// A row of the file cannot be provisioned (its line and why).
    RowRejected {
        /// 1-based line.
        line: u64,
        /// User cell, if any.
        upn: Option<String>,
        /// Why.
        message: String,
    },
    /// A row is skipped because an earlier run finished it (or parked it for an operator).
    RowSkipped {
        /// 1-based line.
        line: u64,
        /// The user.
        upn: String,
        /// Its status from the journal.
        status: RowStatus,
        /// Why, in words.
        reason: String,
    },
    /// A key was plugged in.
    KeyArrived {
        /// Device path.
        key: String,
        /// USB serial, when the key has one.
        serial: Option<String>,
    },
    /// A key waits: every slot is busy (or a re-plug is pending).
    KeyWaiting {
        /// Device path.
        key: String,
        /// Why.
        reason: String,
    },
    /// A key will not be used; the operator should take it out.
    KeyRefused {
        /// Device path.
        key: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A key was taken out.
    KeyRemoved {
        /// Device path.
        key: String,
    },
    /// A key got its user and the job starts.
    UserAssigned {
        /// Device path.
        key: String,
        /// CSV line.
        line: u64,
        /// The user.
        upn: String,
        /// 1 for the first attempt in this run.
        attempt: u32,
        /// The interrupted job this run resumes, if any.
        resumes: Option<i64>,
    },
    /// A job ended.
    UserFinished {
        /// Device path.
        key: String,
        /// CSV line.
        line: u64,
        /// The user.
        upn: String,
        /// Attempt number.
        attempt: u32,
        /// The job's state when the pipeline returned.
        state: JobState,
        /// Classification (exit codes).
        class: OutcomeClass,
        /// Entra method id, when registered.
        method_id: Option<String>,
        /// Key model.
        model: Option<String>,
        /// Why it did not succeed, and what to do.
        message: Option<String>,
        /// Whether the user goes back to the queue for another key.
        will_retry: bool,
        /// Wall time of the job, ms.
        millis: u64,
    },
    /// The job on this key is over: the operator takes the key out (and puts it with the
    /// finished or the failed keys).
    TakeKeyOut {
        /// Device path.
        key: String,
        /// The user it was for.
        upn: String,
        /// Whether the job succeeded.
        ok: bool,
    },
    /// No key can be used for the users left (virtual keys used up); they stay pending.
    OutOfKeys {
        /// Users not started.
        pending: usize,
    },
    /// The run stops taking keys (the operator asked, or a failure would hit every
    /// user): running jobs finish.
    Stopping {
        /// Users not started.
        pending: usize,
        /// Why.
        reason: String,
    },
    /// A station working a shared queue (`batch --queue`) says what it is doing:
    /// `claiming`, `waiting` (users still running at other stations), `offline` (the
    /// journal database cannot be reached: no new user is claimed, jobs on keys wait for
    /// their records, it reconnects with backoff), `online` again, `lease_lost` (another
    /// station took a user over), `finished`.
    Queue {
        /// The queue.
        queue: String,
        /// One of the words above.
        state: String,
        /// What it means, in words.
        message: String,
    },
    /// The run is over; the full report follows.
    BatchFinished {
        /// Per-user results and counts.
        report: BatchReport,
    },
}

impl From<BatchNotice> for BatchEvent {
    fn from(n: BatchNotice) -> Self {
        BatchEvent::Batch(n)
    }
}

/// Receives a batch's events. Called from the scheduler and from the pipeline's tasks
/// (and key worker threads, for "touch the key"): keep it quick and never block.
pub trait BatchObserver: Send + Sync {
    /// One event.
    fn event(&self, e: &BatchEvent);
}

impl<F: Fn(&BatchEvent) + Send + Sync> BatchObserver for F {
    fn event(&self, e: &BatchEvent) {
        self(e)
    }
}
