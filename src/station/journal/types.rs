//! What the journal stores: jobs, their transitions and the intents recorded before
//! every side effect. Nothing here ever holds a clear PIN, TAP or token: PINs only as
//! [`SealedPin`], challenges only as hashes.
use crate::station::handover::SealedPin;
use crate::station::pin::PinSource;
use crate::station::state::JobState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Row id of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

/// Row id of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntentId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which mode ran the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    /// `keystation enroll`: one user, one key.
    Enroll,
    /// `keystation batch`: a CSV row.
    Batch,
    /// `keystation kiosk`: the desk loop.
    Kiosk,
    /// `keystation demo`: simulated tenant and virtual keys.
    Demo,
}

impl JobMode {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Enroll => "enroll",
            JobMode::Batch => "batch",
            JobMode::Kiosk => "kiosk",
            JobMode::Demo => "demo",
        }
    }
}

impl FromStr for JobMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enroll" => Ok(JobMode::Enroll),
            "batch" => Ok(JobMode::Batch),
            "kiosk" => Ok(JobMode::Kiosk),
            "demo" => Ok(JobMode::Demo),
            _ => Err(format!("unknown mode `{s}`; use enroll, batch, kiosk or demo")),
        }
    }
}

/// A batch run and the CSV line a job came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRef {
    /// Batch run id (e.g. a UUID the batch mode makes up).
    pub id: String,
    /// 1-based line in the CSV file.
    pub line: u64,
}

/// The user a job enrols. Both fields may be filled in later (kiosk: the key arrives first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// User principal name.
    pub upn: Option<String>,
    /// Entra object id.
    pub object_id: Option<String>,
}

/// What is known about the key. Fields fill in as the job learns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFacts {
    /// Device path while plugged in (hidraw path, `virtual:N`).
    pub path: Option<String>,
    /// AAGUID, canonical form.
    pub aaguid: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Serial number, when the key exposes one.
    pub serial: Option<String>,
    /// Firmware version as reported.
    pub firmware: Option<String>,
}

/// A new job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Mode.
    pub mode: JobMode,
    /// The tenant id (GUID or verified domain, as configured).
    pub tenant: Option<String>,
    /// Batch and CSV line, in batch mode.
    pub batch: Option<BatchRef>,
    /// User, when known.
    pub user: UserRef,
    /// Key, when known.
    pub key: KeyFacts,
    /// The interrupted job this one takes over from (resume).
    pub resumes: Option<JobId>,
}

impl NewJob {
    /// A job in `mode` with nothing known yet.
    pub fn new(mode: JobMode) -> NewJob {
        NewJob { mode, tenant: None, batch: None, user: UserRef::default(), key: KeyFacts::default(), resumes: None }
    }
}

/// Facts learnt along the way. `None` fields leave the stored value unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobUpdate {
    /// User fields.
    pub user: UserRef,
    /// Key fields.
    pub key: KeyFacts,
    /// Display name chosen for the Entra method.
    pub display_name: Option<String>,
    /// Entra fido2Method id.
    pub entra_method_id: Option<String>,
    /// Credential id (base64url) made on the key.
    pub credential_id: Option<String>,
    /// The PIN sealed to the handover recipients.
    pub sealed_pin: Option<SealedPin>,
    /// Tenant name.
    pub tenant: Option<String>,
}

/// What went wrong, for the operator. Never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Category.
    pub kind: FailureKind,
    /// Operator-facing message.
    pub message: String,
}

impl JobError {
    /// An error of `kind` with `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> JobError {
        JobError { kind, message: message.into() }
    }
}

/// Error categories (mirrors the CLI exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The key refused or failed.
    Key,
    /// Entra / Graph / sign-in failure.
    Entra,
    /// The tenant's policy forbids it.
    Policy,
    /// Bad configuration.
    Config,
    /// Bad input at the desk (CSV row, user choice).
    UserInput,
    /// Cancelled by the operator.
    Cancelled,
    /// The station stopped (crash, power loss) while the job ran.
    Interrupted,
    /// A bug.
    Internal,
}

impl FailureKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Key => "key",
            FailureKind::Entra => "entra",
            FailureKind::Policy => "policy",
            FailureKind::Config => "config",
            FailureKind::UserInput => "user_input",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Internal => "internal",
        }
    }
}

/// Why a job waits for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum OperatorReason {
    /// The key has a PIN set by the station, but registration failed: the key is no
    /// longer blank and its PIN is gone.
    PinSetRegistrationFailed,
    /// The station stopped after setting the PIN and before handing it over; the PIN only
    /// lived in memory.
    PinLostBeforeHandover {
        /// The Entra method registered with that key, if any (to be deleted).
        method_id: Option<String>,
    },
    /// The key is registered but the station stopped before the PIN was handed over.
    HandoverInterrupted {
        /// The registered method.
        method_id: String,
        /// A sealed copy of the PIN is in the journal (the help desk can open it).
        sealed: bool,
    },
    /// The user has a FIDO2 method the journal does not know about.
    UnknownMethodOnUser {
        /// Its id.
        method_id: String,
        /// Its display name.
        display_name: Option<String>,
    },
    /// Several methods match a registration the station may have made.
    AmbiguousOrphan {
        /// Matching method ids.
        candidates: Vec<String>,
    },
    /// The key already has a PIN nobody knows and the reset policy is `never`.
    KeyHasUnknownPin,
    /// Anything else, in words.
    Other {
        /// What to do.
        message: String,
    },
}

impl OperatorReason {
    /// The job was parked for its key alone: the PIN on that key is lost and no method
    /// of the job is left on the user (it was never made or was deleted again). The key
    /// needs a reset; the user needs nothing from a person, and another key can enroll
    /// them (a queue gives the user out again instead of parking them).
    pub fn concerns_only_the_key(&self) -> bool {
        matches!(self, OperatorReason::PinLostBeforeHandover { method_id: None })
    }

    /// Stable code (stored, filterable).
    pub fn code(&self) -> &'static str {
        match self {
            OperatorReason::PinSetRegistrationFailed => "pin_set_registration_failed",
            OperatorReason::PinLostBeforeHandover { .. } => "pin_lost_before_handover",
            OperatorReason::HandoverInterrupted { .. } => "handover_interrupted",
            OperatorReason::UnknownMethodOnUser { .. } => "unknown_method_on_user",
            OperatorReason::AmbiguousOrphan { .. } => "ambiguous_orphan",
            OperatorReason::KeyHasUnknownPin => "key_has_unknown_pin",
            OperatorReason::Other { .. } => "other",
        }
    }

    /// What happened and what the operator should do.
    pub fn message(&self) -> String {
        match self {
            OperatorReason::PinSetRegistrationFailed => {
                "The key got a PIN but registration failed: reset the key (re-plug it and touch it) and enroll it again.".into()
            }
            OperatorReason::PinLostBeforeHandover { method_id: Some(m) } => format!(
                "The PIN was lost in a crash before handover: delete Entra method {m} for this user, reset the key and re-enroll."
            ),
            OperatorReason::PinLostBeforeHandover { method_id: None } => {
                "The PIN was lost in a crash before handover: reset the key and re-enroll.".into()
            }
            OperatorReason::HandoverInterrupted { method_id, sealed: true } => format!(
                "The key is registered (method {method_id}) but the station stopped before handing the PIN over: open the sealed PIN from the report with `age -d`, give it to the user in person, then mark the job resolved (keystation jobs resolve JOB --note TEXT)."
            ),
            OperatorReason::HandoverInterrupted { method_id, sealed: false } => format!(
                "The key is registered (method {method_id}) but the station stopped while the PIN slip was shown: ask the user; if they have the PIN, mark the job resolved (keystation jobs resolve JOB --note TEXT), else delete that method, release the job (keystation jobs retry JOB) and enroll the key again."
            ),
            OperatorReason::UnknownMethodOnUser { method_id, display_name } => format!(
                "The user has a security key the journal does not know about (method {method_id}{}): check who registered it, then keep or delete it.",
                display_name.as_deref().map(|n| format!(", \"{n}\"")).unwrap_or_default()
            ),
            OperatorReason::AmbiguousOrphan { candidates } => format!(
                "Several Entra methods ({}) could be the one registered before the crash: delete the ones that are not on this key, then re-enroll.",
                candidates.join(", ")
            ),
            OperatorReason::KeyHasUnknownPin => {
                "The key already has a PIN and the reset policy is \"never\": enter its PIN, or reset it by hand.".into()
            }
            OperatorReason::Other { message } => message.clone(),
        }
    }
}

/// Why a TAP is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapPurpose {
    /// The browser registration path signs in with it.
    Registration,
    /// Printed on the slip for the user's first sign-in.
    Handover,
}

/// A side effect the pipeline is about to cause. Recorded (and committed) before the
/// side effect starts, resolved when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// authenticatorReset.
    ResetKey,
    /// clientPIN setPIN with a PIN of this length. `sealed`: a sealed copy was stored
    /// with this intent (so the PIN survives a crash for the recipients).
    SetPin {
        /// PIN length in code points.
        length: usize,
        /// Where the PIN came from.
        source: PinSource,
        /// Whether a sealed copy was stored.
        sealed: bool,
    },
    /// clientPIN changePIN (a key whose current PIN was given at the desk).
    ChangePin,
    /// authenticatorConfig setMinPINLength.
    SetMinPinLength {
        /// New minimum.
        min: u32,
        /// Also set forcePINChange.
        force_change: bool,
    },
    /// authenticatorConfig forcePINChange only.
    ForcePinChange,
    /// POST temporaryAccessPassMethods (replaces any existing TAP of the user).
    IssueTap {
        /// Why.
        purpose: TapPurpose,
        /// Lifetime asked for.
        lifetime_minutes: u32,
        /// One-time pass.
        one_time: bool,
    },
    /// authenticatorMakeCredential (a resident credential on the key).
    MakeCredential {
        /// RP id, `login.microsoft.com`.
        rp_id: String,
        /// SHA-256 (hex) of the user handle.
        user_handle_sha256: String,
        /// Credentials in the exclude list.
        exclude_count: usize,
    },
    /// POST fido2Methods.
    RegisterCredential {
        /// Credential id, base64url.
        credential_id: String,
        /// Display name sent.
        display_name: String,
        /// AAGUID of the key.
        aaguid: String,
        /// SHA-256 (hex) of the challenge.
        challenge_sha256: String,
        /// When the challenge expires (the POST cannot succeed later).
        challenge_expires_at: Option<DateTime<Utc>>,
    },
    /// DELETE a fido2Method (orphan clean-up).
    DeleteMethod {
        /// Method id.
        method_id: String,
        /// Why.
        reason: String,
    },
    /// DELETE a TAP nobody will use.
    DeleteTap {
        /// TAP method id.
        tap_id: String,
    },
    /// Show the handover slip (the point after which the PIN is the user's).
    ShowPin,
}

impl Intent {
    /// Stored kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::ResetKey => "reset_key",
            Intent::SetPin { .. } => "set_pin",
            Intent::ChangePin => "change_pin",
            Intent::SetMinPinLength { .. } => "set_min_pin_length",
            Intent::ForcePinChange => "force_pin_change",
            Intent::IssueTap { .. } => "issue_tap",
            Intent::MakeCredential { .. } => "make_credential",
            Intent::RegisterCredential { .. } => "register_credential",
            Intent::DeleteMethod { .. } => "delete_method",
            Intent::DeleteTap { .. } => "delete_tap",
            Intent::ShowPin => "show_pin",
        }
    }
}

/// How an intent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentOutcome {
    /// It happened; optional result data (e.g. the method id).
    Done(Option<serde_json::Value>),
    /// It did not happen.
    Failed(JobError),
    /// Given up on during reconciliation (what happened is in the note).
    Abandoned(String),
}

/// Stored resolution of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// See [`IntentOutcome::Done`].
    Done,
    /// See [`IntentOutcome::Failed`].
    Failed,
    /// See [`IntentOutcome::Abandoned`].
    Abandoned,
}

/// A state change with everything that must be committed together with it.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Target state.
    pub to: JobState,
    /// The intent whose result this transition records.
    pub resolves: Option<(IntentId, IntentOutcome)>,
    /// Facts learnt.
    pub update: JobUpdate,
    /// Free text for the history.
    pub note: Option<String>,
    /// The error, for `failed` (and optionally `needs_operator`).
    pub error: Option<JobError>,
    /// The reason, required for `needs_operator`.
    pub operator_reason: Option<OperatorReason>,
    /// Commit durably (synced before `transition` returns) although the state is not
    /// terminal: e.g. `handed_over` when the job then waits for the key to leave.
    /// Terminal states are always durable; see [`Durability`].
    pub durable: bool,
}

impl Transition {
    /// A move to `state`.
    pub fn to(state: JobState) -> Transition {
        Transition { to: state, resolves: None, update: JobUpdate::default(), note: None, error: None, operator_reason: None, durable: false }
    }
    /// Sync this commit to disk before returning, whatever the state.
    pub fn durable(mut self) -> Transition {
        self.durable = true;
        self
    }
    /// How this transition is committed: terminal states and [`Transition::durable`]
    /// ones are synced; the others ride on the next synced commit.
    pub fn durability(&self) -> Durability {
        if self.durable || !self.to.is_in_progress() { Durability::Sync } else { Durability::Relaxed }
    }
    /// Also resolve an intent.
    pub fn resolving(mut self, intent: IntentId, outcome: IntentOutcome) -> Transition {
        self.resolves = Some((intent, outcome));
        self
    }
    /// Also store facts.
    pub fn with_update(mut self, update: JobUpdate) -> Transition {
        self.update = update;
        self
    }
    /// Add a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Transition {
        self.note = Some(note.into());
        self
    }
    /// Attach an error.
    pub fn with_error(mut self, error: JobError) -> Transition {
        self.error = Some(error);
        self
    }
    /// Attach an operator reason.
    pub fn with_reason(mut self, reason: OperatorReason) -> Transition {
        self.operator_reason = Some(reason);
        self
    }
}

/// How a write is committed.
///
/// An intent must be on stable storage before its side effect starts, and so must a
/// job's end; everything else a job writes (its start, facts, the result of a side
/// effect, intermediate states) only needs to be visible at once and to reach the disk
/// *in order*, no later than the next intent. Losing such a write in a power cut is the
/// same as a crash right after the side effect (`effect:<kind>` in the crash tests),
/// which the resume rules already reconcile. So a relaxed commit skips the sync and the
/// next synced commit carries it to disk (SQLite: `synchronous = NORMAL` for that
/// transaction — WAL order; PostgreSQL: `synchronous_commit = off` — WAL order).
/// A killed process loses neither: only the operating system or the database server
/// going down can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Synced before the call returns (intents, terminal states).
    Sync,
    /// Visible at once, synced with the next [`Durability::Sync`] commit.
    Relaxed,
}

/// Commits made through one [`crate::station::journal::Journal`] handle, for tests and
/// benchmarks (`keystation bench fleet` reports synced commits per key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CommitStats {
    /// Every committed write transaction.
    pub commits: u64,
    /// Those synced to stable storage before returning.
    pub synced: u64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// Row id.
    pub id: JobId,
    /// Stable unique id (UUID) for logs and reports.
    pub uid: String,
    /// Mode.
    pub mode: JobMode,
    /// Current state.
    pub state: JobState,
    /// Tenant name.
    pub tenant: Option<String>,
    /// Batch and line.
    pub batch: Option<BatchRef>,
    /// Job this one resumes.
    pub resumes: Option<JobId>,
    /// User.
    pub user: UserRef,
    /// Key.
    pub key: KeyFacts,
    /// Display name in Entra.
    pub display_name: Option<String>,
    /// Entra method id.
    pub entra_method_id: Option<String>,
    /// Credential id.
    pub credential_id: Option<String>,
    /// Sealed PIN.
    pub sealed_pin: Option<SealedPin>,
    /// Last error.
    pub error: Option<JobError>,
    /// Why it needs an operator.
    pub operator_reason: Option<OperatorReason>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Reached `done`, `failed` or `needs_operator`.
    pub finished_at: Option<DateTime<Utc>>,
    /// The station that began it (`--station`, else its host name).
    pub station: Option<String>,
    /// The machine it ran on.
    pub host: Option<String>,
}

/// One state change in a job's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionRecord {
    /// From (none for the first).
    pub from: Option<JobState>,
    /// To.
    pub to: JobState,
    /// When.
    pub at: DateTime<Utc>,
    /// Intent resolved by this transition.
    pub intent: Option<IntentId>,
    /// Note.
    pub note: Option<String>,
}

/// An intent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentRecord {
    /// Row id.
    pub id: IntentId,
    /// Job.
    pub job: JobId,
    /// What was about to happen.
    pub intent: Intent,
    /// When it was recorded (before the side effect started).
    pub recorded_at: DateTime<Utc>,
    /// How it ended; `None` while open (or if the station died during it).
    pub resolution: Option<Resolution>,
    /// When it ended.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Result data for `done`.
    pub result: Option<serde_json::Value>,
    /// Error or note for `failed` / `abandoned`.
    pub message: Option<String>,
}

impl IntentRecord {
    /// Still open: the station may have died during the side effect.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}

/// A job that was running when its process stopped, with what resume needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedJob {
    /// The job.
    pub job: JobRecord,
    /// When it reached its current state.
    pub state_since: DateTime<Utc>,
    /// Intents never resolved, oldest first: the side effects that may or may not have happened.
    pub open_intents: Vec<IntentRecord>,
    /// Every intent, oldest first.
    pub intents: Vec<IntentRecord>,
}

/// A job parked for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedsOperatorEntry {
    /// The job.
    pub job: JobRecord,
    /// Why.
    pub reason: OperatorReason,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// An Entra method the journal says a user still has: a job recorded it
/// (`entra_method_id`) and no job deleted it again (a `delete_method` intent resolved
/// `done`). "The journal equals the tenant" means: these are exactly the user's methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveMethod {
    /// The fido2Method id.
    pub method_id: String,
    /// The job that owns it.
    pub job: JobId,
    /// That job's state (`done`, or `needs_operator` for a method an operator must
    /// decide about; in progress while a station still works on it).
    pub state: JobState,
    /// The station that made it (shared journal).
    pub station: Option<String>,
}

/// How to pick jobs for reports and look-ups. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// In one of these states.
    pub states: Vec<JobState>,
    /// For this UPN (case-insensitive).
    pub user: Option<String>,
    /// In this mode.
    pub mode: Option<JobMode>,
    /// In this batch.
    pub batch_id: Option<String>,
    /// At most this many (the oldest first).
    pub limit: Option<usize>,
}

/// How to find a key's jobs. Given fields must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyQuery {
    /// Serial number.
    pub serial: Option<String>,
    /// AAGUID.
    pub aaguid: Option<String>,
    /// Device path.
    pub path: Option<String>,
}
