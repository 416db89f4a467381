//! The station journal: every attempt, its state transitions, and the intents recorded
//! before every side effect — in a local SQLite file (one station) or a shared
//! PostgreSQL database (a fleet of stations, with a queue of users and leases fenced on
//! every write). One implementation over both ([`backend`]); `docs/journal.md` and
//! `docs/fleet.md`.
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
pub mod backend;
mod deeplinks;
mod fleet;
mod operations;
mod query;
mod resume;
mod schema;
mod shared;
mod types;

pub use resume::{plan_resume, reconcile_registration, MethodSummary, OrphanMatch, Reconciliation, ResumeStep, CLOCK_SKEW_MINUTES};
pub use backend::postgres::PgSettings;
pub use fleet::*;
pub use query::QueryPlan;
pub use operations::{NewOperation, OpIntentId, OperationId, OperationIntent, OperationKind, OperationPlan, OperationRecord, OperationState, PlannedDeletion};
pub use schema::LATEST as SCHEMA_VERSION;
pub use shared::SharedJournal;
pub use types::*;

use crate::station::state::JobState;
use chrono::{DateTime, SecondsFormat, Utc};
use backend::sqlite::SqliteBackend;
use backend::{params, Backend, Dialect, TxMode};
use rusqlite::{Connection, OpenFlags};
use std::cell::RefCell;
use std::collections::HashMap;
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
    /// Another station took this job over (its lease expired): this handle's writes for
    /// it are refused, so a station that lost its lease can never record (and so never
    /// start) another side effect for that user.
    #[error("job {0} was taken over by another station after this station's lease on it expired; this station stops working on it")]
    Fenced(JobId),
    /// The lease on a queued user ended and another station took the user over.
    #[error("the lease on {0} ended and another station took the user over; this station stops working on it")]
    LeaseLost(String),
    /// The user already has a job in progress (at this or another station).
    #[error("{upn} already has a job in progress (job {job}{}); one user is enrolled at one desk at a time", .station.as_deref().map(|s| format!(" at station {s}")).unwrap_or_default())]
    UserBusy {
        /// The user.
        upn: String,
        /// The job in progress.
        job: JobId,
        /// Its station, when recorded.
        station: Option<String>,
    },
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
    /// The `[journal]` settings cannot be used (URL, TLS, password).
    #[error("{0}")]
    Config(String),
    /// The shared database cannot be reached right now (network, restart, deadline).
    /// Nothing was written, unless `commit_unknown`: the connection broke during the
    /// commit itself, so the write may or may not be there.
    #[error("the journal database {location} cannot be reached: {message}{}", if *.commit_unknown { " (the last write may or may not have been committed)" } else { "" })]
    Unreachable {
        /// Where (without credentials).
        location: String,
        /// What happened.
        message: String,
        /// The connection broke during COMMIT.
        commit_unknown: bool,
    },
    /// The database refused a statement.
    #[error("journal database error {code}: {message}")]
    Database {
        /// SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
}

type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// Which station writes (recorded on every job it begins).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StationIdentity {
    /// The station's name (`--station`, default: the host name).
    pub name: String,
    /// The machine.
    pub host: String,
}

impl StationIdentity {
    /// This machine, named after its host name.
    pub fn this_host() -> StationIdentity {
        let host = host_name();
        StationIdentity { name: host.clone(), host }
    }
}

/// The machine's host name (`localhost` if it has none).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = if ok { String::from_utf8_lossy(&buf[..end]).trim().to_string() } else { String::new() };
    if name.is_empty() { "localhost".into() } else { name }
}

/// Where a journal lives.
#[derive(Debug, Clone)]
pub enum JournalLocation {
    /// A SQLite file (one station).
    File(PathBuf),
    /// A PostgreSQL database (a fleet).
    Postgres(PgSettings),
}

/// An open journal: one connection to its database.
pub struct Journal {
    db: RefCell<Box<dyn Backend>>,
    path: PathBuf,
    clock: Clock,
    stats: CommitStats,
    identity: StationIdentity,
    /// The queue item and fencing token of each job this handle works on under a lease
    /// (tokens count per item, so the item tells two claims apart).
    held: HashMap<JobId, (i64, i64)>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("location", &self.path).finish_non_exhaustive()
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

const IN_PROGRESS: &str = "('arrived', 'inspected', 'prepared', 'registered', 'verified', 'handed_over')";

const UPDATE_JOB: &str = "UPDATE jobs SET
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
             WHERE id = ?1 AND COALESCE(fence, 0) = ?15";

const SET_STATE: &str = "UPDATE jobs SET state = ?2,
                error_kind       = COALESCE(?3, error_kind),
                error_message    = COALESCE(?4, error_message),
                operator_reason  = COALESCE(?5, operator_reason),
                operator_detail  = COALESCE(?6, operator_detail),
                operator_message = COALESCE(?7, operator_message),
                finished_at      = CASE WHEN ?8 = 1 THEN ?9 ELSE finished_at END
             WHERE id = ?1";

const INSERT_JOB: &str = "INSERT INTO jobs (uid, mode, state, tenant, batch_id, batch_line, resumes_job, user_upn, user_object_id,
                               key_path, key_aaguid, key_model, key_serial, key_firmware, created_at, updated_at,
                               station, host, fence, queue_item)
             VALUES (?1, ?2, 'arrived', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16, ?17, ?18)";

/// Whether a failed write hit the one-job-in-progress-per-user constraint.
fn is_unique_violation(e: &JournalError, index: &str) -> bool {
    match e {
        JournalError::Sqlite(rusqlite::Error::SqliteFailure(f, msg)) => {
            f.code == rusqlite::ErrorCode::ConstraintViolation && msg.as_deref().is_some_and(|m| m.contains("lower(user_upn)") || m.contains(index))
        }
        JournalError::Database { code, message } => code == "23505" && message.contains(index),
        _ => false,
    }
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

    /// Connect to a shared journal on PostgreSQL and migrate it.
    pub fn connect_postgres(settings: PgSettings) -> Result<Journal, JournalError> {
        let mut db = backend::postgres::PgBackend::connect(settings)?;
        let path = PathBuf::from(db.location());
        schema::migrate(&mut db, &stamp(Utc::now()))?;
        Ok(Journal::with_backend(Box::new(db), path))
    }

    /// Open the journal wherever it lives (creating a SQLite file if needed).
    pub fn open_location(location: &JournalLocation) -> Result<Journal, JournalError> {
        match location {
            JournalLocation::File(p) => Journal::open(p),
            JournalLocation::Postgres(s) => Journal::connect_postgres(s.clone()),
        }
    }

    fn with_backend(db: Box<dyn Backend>, path: PathBuf) -> Journal {
        Journal { db: RefCell::new(db), path, clock: Box::new(Utc::now), stats: CommitStats::default(), identity: StationIdentity::this_host(), held: HashMap::new() }
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
        let mut db = SqliteBackend::new(conn, &path);
        // A station that has just created (or upgraded) the file migrates it within
        // milliseconds.
        let mut found = schema::version(&mut db)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while found < schema::LATEST && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = schema::version(&mut db)?;
        }
        if found > schema::LATEST {
            return Err(JournalError::NewerSchema { path, found, supported: schema::LATEST });
        }
        if found == 0 {
            return Err(JournalError::Open { path, message: "this file is not a keystation journal (it has no schema)".into() });
        }
        if found < schema::LATEST {
            return Err(JournalError::Open {
                path,
                message: format!("it was written by an older keystation (schema version {found}; this one reads {}): run a station command (enroll, batch) once to upgrade it", schema::LATEST),
            });
        }
        Ok(Journal::with_backend(Box::new(db), path))
    }

    fn connect(path: PathBuf, flags: OpenFlags) -> Result<Journal, JournalError> {
        let open_err = |e: rusqlite::Error| JournalError::Open { path: path.clone(), message: e.to_string() };
        let conn = Connection::open_with_flags(&path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers (a report, a second station process) never block the writer.
        // synchronous=FULL by default; relaxed commits lower it per transaction
        // (types::Durability): an intent is always on disk before its side effect.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Open { path, message: format!("the file system refused WAL mode (got {mode}); put the state directory on a local disk") });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(open_err)?;
        let mut db = SqliteBackend::new(conn, &path);
        schema::migrate(&mut db, &stamp(Utc::now()))?;
        Ok(Journal::with_backend(Box::new(db), path))
    }

    /// The journal file (for PostgreSQL: its URL without credentials).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the journal is, for messages.
    pub fn location(&self) -> String {
        self.db.borrow().location()
    }

    /// Whether the journal is shared by a fleet (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.borrow().dialect() == Dialect::Postgres
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        schema::version(&mut **self.db.borrow_mut())
    }

    /// A PostgreSQL session setting of this handle's connection (`SHOW name`), e.g.
    /// `lock_timeout`; `None` on SQLite, which has no such settings.
    pub fn database_setting(&self, name: &str) -> Result<Option<String>, JournalError> {
        if !self.is_shared() {
            return Ok(None);
        }
        self.db.borrow_mut().query("SELECT current_setting(?1)", &params![name])?.first().map(|r| r.text(0)).transpose()
    }

    /// Current SQLite journal mode (`wal`); SQLite only.
    pub fn journal_mode(&self) -> Result<String, JournalError> {
        self.db.borrow_mut().query("PRAGMA journal_mode", &[])?.first().map(|r| r.text(0)).transpose()?.ok_or_else(|| JournalError::Corrupt("no journal mode".into()))
    }

    /// Current `synchronous` level (2 = FULL); SQLite only.
    pub fn synchronous(&self) -> Result<i64, JournalError> {
        self.db.borrow_mut().query("PRAGMA synchronous", &[])?.first().map(|r| r.int(0)).transpose()?.ok_or_else(|| JournalError::Corrupt("no synchronous level".into()))
    }

    /// Replace the clock that stamps rows (tests and replays; the default is `Utc::now`).
    pub fn set_clock(&mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) {
        self.clock = Box::new(clock);
    }

    /// Name the station recorded on the jobs this handle begins (default: the host).
    pub fn set_identity(&mut self, identity: StationIdentity) {
        self.identity = identity;
    }

    /// The station this handle writes as.
    pub fn identity(&self) -> &StationIdentity {
        &self.identity
    }

    fn now(&self) -> String {
        stamp((self.clock)())
    }

    /// Commits made through this handle so far.
    pub fn commit_stats(&self) -> CommitStats {
        self.stats
    }

    /// The fencing token this handle writes `job` with (0: not under a lease).
    fn fence(&self, job: JobId) -> i64 {
        self.held.get(&job).map(|h| h.1).unwrap_or(0)
    }

    /// Run `f` in one write transaction: all of it is committed, or none of it.
    fn write<R>(&mut self, durability: Durability, f: impl FnOnce(&mut dyn Backend) -> Result<R, JournalError>) -> Result<R, JournalError> {
        let db = self.db.get_mut();
        db.begin(TxMode::Write(durability))?;
        match f(&mut **db) {
            Ok(r) => {
                db.commit()?;
                self.stats.commits += 1;
                if durability == Durability::Sync {
                    self.stats.synced += 1;
                }
                Ok(r)
            }
            Err(e) => {
                db.rollback();
                Err(e)
            }
        }
    }

    /// Start a job in `arrived`.
    pub fn begin_job(&mut self, job: &NewJob) -> Result<JobId, JournalError> {
        self.begin_job_in(job, None)
    }

    /// Start a job for a claimed queue user: the job carries the claim's fencing token
    /// and is linked to the queue item, in one transaction (refused if the lease is lost).
    pub fn begin_claimed_job(&mut self, job: &NewJob, claim: &Claim) -> Result<JobId, JournalError> {
        self.begin_job_in(job, Some(claim))
    }

    fn begin_job_in(&mut self, job: &NewJob, claim: Option<&Claim>) -> Result<JobId, JournalError> {
        let now = self.now();
        let identity = self.identity.clone();
        let upn = job.user.upn.clone();
        let r = self.write(Durability::Relaxed, |db| {
            let id = JobId(db.insert(
                INSERT_JOB,
                &params![
                    uuid::Uuid::new_v4().to_string(),
                    job.mode.as_str(),
                    job.tenant.clone(),
                    job.batch.as_ref().map(|b| b.id.clone()),
                    job.batch.as_ref().map(|b| b.line as i64),
                    job.resumes.map(|j| j.0),
                    job.user.upn.clone(),
                    job.user.object_id.clone(),
                    job.key.path.clone(),
                    job.key.aaguid.clone(),
                    job.key.model.clone(),
                    job.key.serial.clone(),
                    job.key.firmware.clone(),
                    now.clone(),
                    identity.name.clone(),
                    identity.host.clone(),
                    claim.map(|c| c.token),
                    claim.map(|c| c.item),
                ],
            )?);
            db.execute("INSERT INTO transitions (job_id, from_state, to_state, at) VALUES (?1, NULL, 'arrived', ?2)", &params![id.0, now.clone()])?;
            if let Some(c) = claim {
                fleet::attach_job(db, c, id, &now)?;
            }
            Ok(id)
        });
        match r {
            Ok(id) => {
                if let Some(c) = claim {
                    self.held.insert(id, (c.item, c.token));
                }
                Ok(id)
            }
            Err(e) if is_unique_violation(&e, "jobs_one_active_per_user") => Err(self.user_busy(upn.unwrap_or_default())),
            Err(e) => Err(e),
        }
    }

    fn user_busy(&self, upn: String) -> JournalError {
        let sql = format!("SELECT id, station FROM jobs WHERE lower(user_upn) = lower(?1) AND state IN {IN_PROGRESS} ORDER BY id DESC LIMIT 1");
        let row = self.db.borrow_mut().query(&sql, &params![upn.clone()]).ok().and_then(|r| r.into_iter().next());
        match row {
            Some(r) => JournalError::UserBusy { upn, job: JobId(r.int(0).unwrap_or(0)), station: r.opt_text(1).ok().flatten() },
            None => JournalError::UserBusy { upn, job: JobId(0), station: None },
        }
    }

    /// Why a write that matched no row failed: no such job, or fenced off.
    fn missing_or_fenced(db: &mut dyn Backend, job: JobId) -> JournalError {
        match db.query("SELECT fence FROM jobs WHERE id = ?1", &params![job.0]) {
            Ok(rows) if rows.is_empty() => JournalError::UnknownJob(job),
            Ok(_) => JournalError::Fenced(job),
            Err(e) => e,
        }
    }

    fn apply_update(db: &mut dyn Backend, job: JobId, fence: i64, u: &JobUpdate, now: &str) -> Result<(), JournalError> {
        let n = db.execute(
            UPDATE_JOB,
            &params![
                job.0,
                u.user.upn.clone(),
                u.user.object_id.clone(),
                u.key.path.clone(),
                u.key.aaguid.clone(),
                u.key.model.clone(),
                u.key.serial.clone(),
                u.key.firmware.clone(),
                u.display_name.clone(),
                u.entra_method_id.clone(),
                u.credential_id.clone(),
                u.sealed_pin.as_ref().map(|s| s.as_armored().to_string()),
                u.tenant.clone(),
                now,
                fence,
            ],
        )?;
        if n == 0 {
            return Err(Journal::missing_or_fenced(db, job));
        }
        Ok(())
    }

    /// Store facts learnt without changing state (e.g. the user chosen at a kiosk).
    pub fn update_job(&mut self, job: JobId, update: &JobUpdate) -> Result<(), JournalError> {
        let now = self.now();
        let fence = self.fence(job);
        let upn = update.user.upn.clone();
        match self.write(Durability::Relaxed, |db| Journal::apply_update(db, job, fence, update, &now)) {
            Err(e) if is_unique_violation(&e, "jobs_one_active_per_user") => Err(self.user_busy(upn.unwrap_or_default())),
            r => r,
        }
    }

    /// A job that stops without reaching an end (the operator's Ctrl-C after the key got
    /// its PIN, a panic) keeps its state and its open intents, exactly as a crash leaves
    /// it, so that the next run resumes it by the resume rules; only why it stopped is
    /// written (`error_kind`, `error_message`).
    pub fn record_interruption(&mut self, job: JobId, error: &JobError) -> Result<(), JournalError> {
        let now = self.now();
        let fence = self.fence(job);
        self.write(Durability::Sync, |db| {
            let n = db.execute(query::RECORD_INTERRUPTION, &params![job.0, error.kind.as_str(), error.message.clone(), now.clone(), fence])?;
            if n == 0 {
                return Err(Journal::missing_or_fenced(db, job));
            }
            Ok(())
        })
    }

    /// Record (and commit) that a side effect is about to start.
    pub fn record_intent(&mut self, job: JobId, intent: &Intent) -> Result<IntentId, JournalError> {
        self.record_intent_with(job, intent, &JobUpdate::default())
    }

    /// Record an intent together with facts that must be on disk before the side effect,
    /// e.g. the sealed PIN before setPIN.
    pub fn record_intent_with(&mut self, job: JobId, intent: &Intent, update: &JobUpdate) -> Result<IntentId, JournalError> {
        let now = self.now();
        let fence = self.fence(job);
        let detail = serde_json::to_string(intent).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        self.write(Durability::Sync, |db| {
            Journal::apply_update(db, job, fence, update, &now)?;
            let id = db.insert("INSERT INTO intents (job_id, kind, detail, recorded_at) VALUES (?1, ?2, ?3, ?4)", &params![job.0, intent.kind(), detail, now.clone()])?;
            Ok(IntentId(id))
        })
    }

    fn apply_resolution(db: &mut dyn Backend, job: JobId, intent: IntentId, outcome: &IntentOutcome, now: &str) -> Result<(), JournalError> {
        let (resolution, result, message) = match outcome {
            IntentOutcome::Done(v) => ("done", v.as_ref().map(|v| v.to_string()), None),
            IntentOutcome::Failed(e) => ("failed", None, Some(format!("{}: {}", e.kind.as_str(), e.message))),
            IntentOutcome::Abandoned(note) => ("abandoned", None, Some(note.clone())),
        };
        let n = db.execute(query::RESOLVE_INTENT, &params![intent.0, job.0, resolution, now, result, message])?;
        if n == 0 {
            return Err(JournalError::IntentNotOpen { intent, job });
        }
        Ok(())
    }

    /// Resolve an intent without a state change (e.g. a TAP issued within `registered`).
    pub fn resolve_intent(&mut self, job: JobId, intent: IntentId, outcome: &IntentOutcome) -> Result<(), JournalError> {
        let now = self.now();
        let fence = self.fence(job);
        self.write(Durability::Relaxed, |db| {
            // The job row first: it carries the fence (and, on PostgreSQL, its lock).
            if db.execute(query::TOUCH_JOB, &params![job.0, now.clone(), fence])? == 0 {
                return Err(Journal::missing_or_fenced(db, job));
            }
            Journal::apply_resolution(db, job, intent, outcome, &now)
        })
    }

    /// Resolve a job's `delete_method` intent as done and take the method off the job
    /// when it was the job's own, in one transaction: the job no longer owns a method in
    /// Entra, so the journal's live methods stay equal to the tenant's (the intent keeps
    /// which method it was).
    pub fn resolve_method_deleted(&mut self, job: JobId, intent: IntentId, method_id: &str, outcome: &IntentOutcome) -> Result<(), JournalError> {
        let now = self.now();
        let fence = self.fence(job);
        self.write(Durability::Sync, |db| {
            if db.execute(query::TOUCH_JOB, &params![job.0, now.clone(), fence])? == 0 {
                return Err(Journal::missing_or_fenced(db, job));
            }
            db.execute(query::FORGET_METHOD, &params![job.0, method_id.to_string()])?;
            Journal::apply_resolution(db, job, intent, outcome, &now)
        })
    }

    /// Move a job to a new state, with its intent result, facts, error and reason, in
    /// one transaction: either all of it is on disk or none of it.
    pub fn transition(&mut self, job: JobId, t: Transition) -> Result<(), JournalError> {
        let fence = self.fence(job);
        self.transition_fenced(job, t, fence, |_, _| Ok(()))
    }

    /// An operator closes or releases a parked job (`keystation jobs resolve|retry`).
    /// A parked job is worked on by no station (takeovers fence only jobs in progress),
    /// so the operator writes with the fence it was parked under, not a lease of their own.
    pub fn operator_transition(&mut self, job: JobId, t: Transition) -> Result<(), JournalError> {
        let fence = self.operator_fence(job)?;
        self.transition_fenced(job, t, fence, |_, _| Ok(()))
    }

    /// An operator releases a parked job for another attempt (`keystation jobs retry`):
    /// the job's transition and, when a queue parked the user with it, that queue entry
    /// pending again, in one transaction (never a released job whose user stays parked).
    /// Returns the queue's name.
    pub fn operator_release(&mut self, job: JobId, t: Transition) -> Result<Option<String>, JournalError> {
        let fence = self.operator_fence(job)?;
        let note = t.note.clone().unwrap_or_default();
        self.transition_fenced(job, t, fence, |db, now| fleet::requeue_parked_item_in(db, job, &note, now))
    }

    /// The fence a parked job was parked under (a parked job is held by no station).
    fn operator_fence(&mut self, job: JobId) -> Result<i64, JournalError> {
        let parked = self.rows("SELECT COALESCE(fence, 0) FROM jobs WHERE id = ?1 AND state = 'needs_operator'", &params![job.0])?;
        Ok(match parked.first() {
            Some(r) => r.int(0)?,
            None => self.fence(job),
        })
    }

    /// A transition written under `fence`, and `then` (more writes) in the same
    /// transaction.
    fn transition_fenced<R>(&mut self, job: JobId, t: Transition, fence: i64, then: impl FnOnce(&mut dyn Backend, &str) -> Result<R, JournalError>) -> Result<R, JournalError> {
        let now = self.now();
        let durability = t.durability();
        let r = self.write(durability, |db| {
            // Facts first: this checks the fence and locks the job row.
            Journal::apply_update(db, job, fence, &t.update, &now)?;
            let from = db.query(query::JOB_STATE, &params![job.0])?.first().map(|r| r.text(0)).transpose()?.ok_or(JournalError::UnknownJob(job))?;
            let from: JobState = from.parse().map_err(JournalError::Corrupt)?;
            if !from.can_move_to(t.to) {
                return Err(JournalError::IllegalTransition { job, from, to: t.to });
            }
            if t.to == JobState::NeedsOperator && t.operator_reason.is_none() {
                return Err(JournalError::MissingReason(job));
            }
            let finished = matches!(t.to, JobState::Done | JobState::Failed | JobState::NeedsOperator);
            let reason_detail = t.operator_reason.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
            db.execute(
                SET_STATE,
                &params![
                    job.0,
                    t.to.as_str(),
                    t.error.as_ref().map(|e| e.kind.as_str()),
                    t.error.as_ref().map(|e| e.message.clone()),
                    t.operator_reason.as_ref().map(|r| r.code()),
                    reason_detail,
                    t.operator_reason.as_ref().map(|r| r.message()),
                    finished,
                    now.clone(),
                ],
            )?;
            db.execute(
                "INSERT INTO transitions (job_id, from_state, to_state, at, intent_id, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &params![job.0, from.as_str(), t.to.as_str(), now.clone(), t.resolves.as_ref().map(|(i, _)| i.0), t.note.clone()],
            )?;
            // Resolving last: if the intent is not this job's open intent, everything above
            // is rolled back with it.
            if let Some((intent, outcome)) = &t.resolves {
                Journal::apply_resolution(db, job, *intent, outcome, &now)?;
            }
            then(db, &now)
        });
        if r.is_ok() && !t.to.is_in_progress() {
            self.held.remove(&job);
        }
        r
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
