//! The station journal: every attempt, its state transitions, and the intents recorded
//! before every side effect, in SQLite (WAL, `synchronous=FULL`).
//!
//! The API is synchronous and small. Async code shares one [`Journal`] through
//! [`SharedJournal`] (a mutex, calls on the blocking pool). Schema, durability choices
//! and the resume rules the pipeline applies are in `docs/journal.md`.
//!
//! ```text
//! let job = j.begin_job(&NewJob { mode: JobMode::Enroll, user, key, .. })?;
//! j.transition(job, Transition::to(JobState::Inspected).with_update(facts))?;
//! let i = j.record_intent_with(job, &Intent::SetPin { .. }, &JobUpdate { sealed_pin, .. })?;
//! key.set_pin(&pin).await?;                                   // the side effect
//! j.transition(job, Transition::to(JobState::Prepared).resolving(i, IntentOutcome::Done(None)))?;
//! ```
mod operations;
mod query;
mod resume;
mod schema;
mod shared;
mod types;

pub use resume::{plan_resume, reconcile_registration, MethodSummary, OrphanMatch, Reconciliation, ResumeStep, CLOCK_SKEW_MINUTES};
pub use query::QueryPlan;
pub use operations::{NewOperation, OpIntentId, OperationId, OperationIntent, OperationKind, OperationPlan, OperationRecord, OperationState, PlannedDeletion};
pub use schema::LATEST as SCHEMA_VERSION;
pub use shared::SharedJournal;
pub use types::*;

use crate::station::state::JobState;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another connection's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Journal errors, with the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file or its directory could not be created or opened.
    #[error("cannot open the journal {}: {message}", .path.display())]
    Open {
        /// Journal file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `open_existing` on a file that is not there.
    #[error("there is no journal at {} yet: nothing has been enrolled with this state directory (pass --state-dir or set journal.path)", .path.display())]
    Missing {
        /// Journal file.
        path: PathBuf,
    },
    /// Written by a newer keystation.
    #[error("the journal {} was written by a newer keystation (schema version {found}; this one knows up to {supported}): upgrade keystation", .path.display())]
    NewerSchema {
        /// Journal file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// SQLite failed.
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No such job.
    #[error("job {0} is not in the journal")]
    UnknownJob(JobId),
    /// The state machine forbids this move.
    #[error("job {job} cannot move from {from} to {to}")]
    IllegalTransition {
        /// Job.
        job: JobId,
        /// Current state.
        from: JobState,
        /// Requested state.
        to: JobState,
    },
    /// The intent does not belong to the job or is already resolved.
    #[error("intent {} is not an open intent of job {job}", .intent.0)]
    IntentNotOpen {
        /// Intent.
        intent: IntentId,
        /// Job.
        job: JobId,
    },
    /// `needs_operator` without a reason.
    #[error("job {0} cannot need an operator without a reason")]
    MissingReason(JobId),
    /// A stored value could not be read back.
    #[error("the journal holds a value this keystation cannot read: {0}")]
    Corrupt(String),
    /// The shared journal's lock was poisoned by a panic.
    #[error("the journal is unusable after a crash in another task; restart keystation")]
    Poisoned,
    /// The blocking task failed.
    #[error("journal task failed: {0}")]
    Task(String),
}

type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// An open journal (one SQLite connection).
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    clock: Clock,
    /// The connection's current `synchronous` level (1 = NORMAL, 2 = FULL).
    sync_level: i64,
    stats: CommitStats,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Timestamps are stored as fixed-width UTC RFC 3339 with milliseconds, so that text
/// order is time order and range queries can use the index.
pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_stamp(s: &str) -> Result<DateTime<Utc>, JournalError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| JournalError::Corrupt(format!("timestamp {s:?}")))
}

/// `file:` URI of `path` opened as immutable (no locks, no -shm).
fn immutable_uri(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let text = abs.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file:");
    if !text.starts_with('/') {
        out.push('/');
    }
    for c in text.chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("?immutable=1");
    out
}

#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

impl Journal {
    /// Open (creating it, mode 0600 in a 0700 directory, if needed) and migrate.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path).map_err(|message| JournalError::Open { path: path.clone(), message })?;
        Journal::connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Open a journal that must already exist, for writing (migrated like [`Journal::open`]).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(JournalError::Missing { path });
        }
        Journal::connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Open an existing journal for reading only (reports): nothing is
    /// written, not even the WAL switch or a migration, so it works on a read-only state
    /// directory and alongside a running station. Every write through it fails.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(JournalError::Missing { path });
        }
        let open_err = |e: rusqlite::Error| JournalError::Open { path: path.clone(), message: e.to_string() };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let readable = |conn: &Connection| conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0));
        let conn = match Connection::open_with_flags(&path, flags).and_then(|c| readable(&c).map(|_| c)) {
            Ok(c) => c,
            // A WAL database needs its -shm file, which a read-only directory cannot
            // get: then nobody can be writing it either, and it is read as immutable.
            Err(_) => {
                let uri = immutable_uri(&path);
                let c = Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_URI).map_err(open_err)?;
                readable(&c).map_err(open_err)?;
                c
            }
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.execute_batch("PRAGMA query_only = ON;").map_err(open_err)?;
        // A station that has just created the file migrates it within milliseconds.
        let mut found = schema::version(&conn)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while found == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = schema::version(&conn)?;
        }
        if found > schema::LATEST {
            return Err(JournalError::NewerSchema { path, found, supported: schema::LATEST });
        }
        if found == 0 {
            return Err(JournalError::Open { path, message: "this file is not a keystation journal (it has no schema)".into() });
        }
        Ok(Journal { conn, path, clock: Box::new(Utc::now), sync_level: 0, stats: CommitStats::default() })
    }

    fn connect(path: PathBuf, flags: OpenFlags) -> Result<Journal, JournalError> {
        let open_err = |e: rusqlite::Error| JournalError::Open { path: path.clone(), message: e.to_string() };
        let mut conn = Connection::open_with_flags(&path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers (a report, a second station process) never block the writer.
        // synchronous=FULL: in WAL mode NORMAL may lose the last commits on power loss;
        // an intent must be on disk before its side effect starts, so every commit syncs.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Open { path, message: format!("the file system refused WAL mode (got {mode}); put the state directory on a local disk") });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(open_err)?;
        let now = stamp(Utc::now());
        schema::migrate(&mut conn, &path, &now)?;
        Ok(Journal { conn, path, clock: Box::new(Utc::now), sync_level: 2, stats: CommitStats::default() })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version of the open file.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        schema::version(&self.conn)
    }

    /// Current SQLite journal mode (`wal`).
    pub fn journal_mode(&self) -> Result<String, JournalError> {
        Ok(self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// Current `synchronous` level (2 = FULL).
    pub fn synchronous(&self) -> Result<i64, JournalError> {
        Ok(self.conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    /// Replace the clock that stamps rows (tests and replays; the default is `Utc::now`).
    pub fn set_clock(&mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) {
        self.clock = Box::new(clock);
    }

    fn now(&self) -> String {
        stamp((self.clock)())
    }

    /// Commits made through this handle so far.
    pub fn commit_stats(&self) -> CommitStats {
        self.stats
    }

    /// Start a write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting
    /// up to [`BUSY_TIMEOUT`]) instead of failing with SQLITE_BUSY when a read turns into
    /// a write; the sync level is set per transaction (see [`Durability`]).
    fn begin(&mut self, durability: Durability) -> Result<rusqlite::Transaction<'_>, JournalError> {
        let level = match durability {
            Durability::Sync => 2,
            Durability::Relaxed => 1,
        };
        if self.sync_level != level {
            self.conn.pragma_update(None, "synchronous", level)?;
            self.sync_level = level;
        }
        Ok(self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    fn committed(&mut self, durability: Durability) {
        self.stats.commits += 1;
        if durability == Durability::Sync {
            self.stats.synced += 1;
        }
    }

    /// Start a job in `arrived`.
    pub fn begin_job(&mut self, job: &NewJob) -> Result<JobId, JournalError> {
        let now = self.now();
        let tx = self.begin(Durability::Relaxed)?;
        tx.execute(
            "INSERT INTO jobs (uid, mode, state, tenant, batch_id, batch_line, resumes_job, user_upn, user_object_id,
                               key_path, key_aaguid, key_model, key_serial, key_firmware, created_at, updated_at)
             VALUES (?1, ?2, 'arrived', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
            params![
                uuid::Uuid::new_v4().to_string(),
                job.mode.as_str(),
                job.tenant,
                job.batch.as_ref().map(|b| b.id.clone()),
                job.batch.as_ref().map(|b| b.line as i64),
                job.resumes.map(|j| j.0),
                job.user.upn,
                job.user.object_id,
                job.key.path,
                job.key.aaguid,
                job.key.model,
                job.key.serial,
                job.key.firmware,
                now,
            ],
        )?;
        let id = JobId(tx.last_insert_rowid());
        tx.execute("INSERT INTO transitions (job_id, from_state, to_state, at) VALUES (?1, NULL, 'arrived', ?2)", params![id.0, now])?;
        tx.commit()?;
        self.committed(Durability::Relaxed);
        Ok(id)
    }

    fn apply_update(tx: &rusqlite::Transaction<'_>, job: JobId, u: &JobUpdate, now: &str) -> Result<(), JournalError> {
        let n = tx.execute(
            "UPDATE jobs SET
                user_upn        = COALESCE(?2, user_upn),
                user_object_id  = COALESCE(?3, user_object_id),
                key_path        = COALESCE(?4, key_path),
                key_aaguid      = COALESCE(?5, key_aaguid),
                key_model       = COALESCE(?6, key_model),
                key_serial      = COALESCE(?7, key_serial),
                key_firmware    = COALESCE(?8, key_firmware),
                display_name    = COALESCE(?9, display_name),
                entra_method_id = COALESCE(?10, entra_method_id),
                credential_id   = COALESCE(?11, credential_id),
                sealed_pin      = COALESCE(?12, sealed_pin),
                tenant          = COALESCE(?13, tenant),
                updated_at      = ?14
             WHERE id = ?1",
            params![
                job.0,
                u.user.upn,
                u.user.object_id,
                u.key.path,
                u.key.aaguid,
                u.key.model,
                u.key.serial,
                u.key.firmware,
                u.display_name,
                u.entra_method_id,
                u.credential_id,
                u.sealed_pin.as_ref().map(|s| s.as_armored().to_string()),
                u.tenant,
                now,
            ],
        )?;
        if n == 0 {
            return Err(JournalError::UnknownJob(job));
        }
        Ok(())
    }

    /// Store facts learnt without changing state (e.g. the user chosen at a kiosk).
    pub fn update_job(&mut self, job: JobId, update: &JobUpdate) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self.begin(Durability::Relaxed)?;
        Journal::apply_update(&tx, job, update, &now)?;
        tx.commit()?;
        self.committed(Durability::Relaxed);
        Ok(())
    }

    /// Record (and commit) that a side effect is about to start.
    pub fn record_intent(&mut self, job: JobId, intent: &Intent) -> Result<IntentId, JournalError> {
        self.record_intent_with(job, intent, &JobUpdate::default())
    }

    /// Record an intent together with facts that must be on disk before the side effect,
    /// e.g. the sealed PIN before setPIN.
    pub fn record_intent_with(&mut self, job: JobId, intent: &Intent, update: &JobUpdate) -> Result<IntentId, JournalError> {
        let now = self.now();
        let detail = serde_json::to_string(intent).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        let tx = self.begin(Durability::Sync)?;
        Journal::apply_update(&tx, job, update, &now)?;
        tx.execute(
            "INSERT INTO intents (job_id, kind, detail, recorded_at) VALUES (?1, ?2, ?3, ?4)",
            params![job.0, intent.kind(), detail, now],
        )?;
        let id = IntentId(tx.last_insert_rowid());
        tx.commit()?;
        self.committed(Durability::Sync);
        Ok(id)
    }

    fn apply_resolution(tx: &rusqlite::Transaction<'_>, job: JobId, intent: IntentId, outcome: &IntentOutcome, now: &str) -> Result<(), JournalError> {
        let (resolution, result, message) = match outcome {
            IntentOutcome::Done(v) => ("done", v.as_ref().map(|v| v.to_string()), None),
            IntentOutcome::Failed(e) => ("failed", None, Some(format!("{}: {}", e.kind.as_str(), e.message))),
            IntentOutcome::Abandoned(note) => ("abandoned", None, Some(note.clone())),
        };
        let n = tx.execute(
            query::RESOLVE_INTENT,
            params![intent.0, job.0, resolution, now, result, message],
        )?;
        if n == 0 {
            return Err(JournalError::IntentNotOpen { intent, job });
        }
        Ok(())
    }

    /// Resolve an intent without a state change (e.g. a TAP issued within `registered`).
    pub fn resolve_intent(&mut self, job: JobId, intent: IntentId, outcome: &IntentOutcome) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self.begin(Durability::Relaxed)?;
        Journal::apply_resolution(&tx, job, intent, outcome, &now)?;
        tx.execute(query::TOUCH_JOB, params![job.0, now])?;
        tx.commit()?;
        self.committed(Durability::Relaxed);
        Ok(())
    }

    /// Move a job to a new state, with its intent result, facts, error and reason, in
    /// one transaction: either all of it is on disk or none of it.
    pub fn transition(&mut self, job: JobId, t: Transition) -> Result<(), JournalError> {
        let now = self.now();
        let durability = t.durability();
        let tx = self.begin(durability)?;
        let from: String = tx
            .query_row(query::JOB_STATE, [job.0], |r| r.get(0))
            .optional()?
            .ok_or(JournalError::UnknownJob(job))?;
        let from: JobState = from.parse().map_err(JournalError::Corrupt)?;
        if !from.can_move_to(t.to) {
            return Err(JournalError::IllegalTransition { job, from, to: t.to });
        }
        if t.to == JobState::NeedsOperator && t.operator_reason.is_none() {
            return Err(JournalError::MissingReason(job));
        }
        Journal::apply_update(&tx, job, &t.update, &now)?;
        let finished = matches!(t.to, JobState::Done | JobState::Failed | JobState::NeedsOperator);
        let reason_detail = t.operator_reason.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
        tx.execute(
            "UPDATE jobs SET state = ?2,
                error_kind       = COALESCE(?3, error_kind),
                error_message    = COALESCE(?4, error_message),
                operator_reason  = COALESCE(?5, operator_reason),
                operator_detail  = COALESCE(?6, operator_detail),
                operator_message = COALESCE(?7, operator_message),
                finished_at      = CASE WHEN ?8 THEN ?9 ELSE finished_at END
             WHERE id = ?1",
            params![
                job.0,
                t.to.as_str(),
                t.error.as_ref().map(|e| e.kind.as_str()),
                t.error.as_ref().map(|e| e.message.clone()),
                t.operator_reason.as_ref().map(|r| r.code()),
                reason_detail,
                t.operator_reason.as_ref().map(|r| r.message()),
                finished,
                now,
            ],
        )?;
        tx.execute(
            "INSERT INTO transitions (job_id, from_state, to_state, at, intent_id, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![job.0, from.as_str(), t.to.as_str(), now, t.resolves.as_ref().map(|(i, _)| i.0), t.note],
        )?;
        // Resolving last: if the intent is not this job's open intent, everything above
        // is rolled back with it.
        if let Some((intent, outcome)) = &t.resolves {
            Journal::apply_resolution(&tx, job, *intent, outcome, &now)?;
        }
        tx.commit()?;
        self.committed(durability);
        Ok(())
    }

    /// Shortcut: the job failed.
    pub fn fail(&mut self, job: JobId, error: JobError) -> Result<(), JournalError> {
        self.transition(job, Transition::to(JobState::Failed).with_error(error))
    }

    /// Shortcut: park the job for an operator.
    pub fn park(&mut self, job: JobId, reason: OperatorReason) -> Result<(), JournalError> {
        self.transition(job, Transition::to(JobState::NeedsOperator).with_reason(reason))
    }

    /// Shortcut: `handed_over` → `done` (or an operator closing a parked job).
    pub fn finish(&mut self, job: JobId) -> Result<(), JournalError> {
        self.transition(job, Transition::to(JobState::Done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_text_and_round_trip() {
        let a = DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap();
        let b = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        assert!(stamp(a) < stamp(b));
        assert_eq!(stamp(a), "2023-11-14T22:13:20.005Z");
        assert_eq!(parse_stamp(&stamp(a)).unwrap(), a);
    }
}
