//! The provisioning pipeline: one key, one user, explicit recorded states.
//!
//! ```text
//! arrived → inspected → prepared → registered → verified → handed_over → done
//!    └──────────┴───────────┴───────────┴───────────┴────────────┴──→ failed | needs_operator
//! ```
//!
//! Every side effect (reset, setPIN, makeCredential, POST, TAP, …) is preceded by an
//! intent committed to the journal, and every result is committed together with the
//! state it leads to (`docs/journal.md`). States, checks and the failure table are in
//! `docs/pipeline.md`.
//!
//! # Using it (modes: enroll, batch, kiosk, demo, bench)
//!
//! ```text
//! let setup = StationSetup::from_config(config, &state_dir, &ConnectOptions::default())?;
//! setup.sources = Some(key_sources.clone());        // for re-plug (reset window) and removal waits
//! let station = Arc::new(Station::open(setup).await?);   // Send + Sync; share it
//!
//! // Unfinished jobs from a previous run first (docs/journal.md, "Resume rules"):
//! for item in station.pending_resumes().await? { … station.resume(item, Some(key), events, cancel).await … }
//!
//! // Open keys with the pipeline's handle options so "touch the key" becomes an event:
//! let key = Arc::new(KeyHandle::open(d.clone(), sources.open(&d)?, key_handle_options(events.clone(), touch)).await?);
//! let mut outcome = station.provision(key, JobSpec::new(JobMode::Batch, "ada@contoso.com"), events, cancel).await;
//! if let Some(slip) = outcome.take_slip() { show(slip.render()) }      // once; never log it
//! exit_code_from(outcome.class());
//! ```
//!
//! * [`Station::provision`] never returns an error: every failure is a [`JobOutcome`]
//!   with the job's final state (`failed` before the key has the station's PIN,
//!   `needs_operator` with a documented reason after), an [`OutcomeError`] (kind,
//!   operator message, next step) and an [`OutcomeClass`] for exit codes.
//! * Concurrency: one `Station` serves many keys at once (batch); each call works on
//!   its own key and job. Journal writes are serialised by [`SharedJournal`].
//! * Events ([`StationEvents`]) are emitted before each step's side effect starts and
//!   after it ends; they never contain secrets.
//! * Cancel ([`CancelToken`]) stops the current key operation (CTAPHID_CANCEL) or Graph
//!   wait; the job is recorded `failed` (kind `cancelled`) or parked if the key already
//!   has the station's PIN.
//! * The slip is returned, not shown: the caller shows it once.
//!   [`FinishWhen::Caller`] leaves the job in `handed_over` until [`Station::finish`].
//!
//! [`SharedJournal`]: crate::station::journal::SharedJournal
pub mod crash;
mod error;
mod events;
mod outcome;
mod spec;

pub use crate::ceremony::webauthn::CancelToken;
pub use crash::{CrashPoint, CRASH_ENV};
pub use error::StationError;
pub use events::{key_handle_options, EventKind, NoEvents, StationEvent, StationEvents, Step};
pub use outcome::{JobOutcome, KeySummary, OutcomeClass, OutcomeError, StepTiming, UserSummary};
pub use spec::{CurrentPinRequest, DeskPrompt, FinishWhen, JobSpec, NewPinRequest, PinChoice, PinPolicyOverride};
pub use crate::station::setup::{ConnectOptions, Registrars, StationOptions, StationSetup};

use crate::key::ctap2::AuthenticatorInfo;
use crate::key::worker::KeyHandle;
use crate::station::config::Plan;
use crate::station::journal::{FailureKind, IntentRecord, JobId, JobRecord, ResumeStep};
use crate::station::state::JobState;
use std::sync::Arc;

/// The provisioning station: configuration, journal, Graph, registrars. `Send + Sync`;
/// share it with an `Arc` across tasks (batch runs many keys at once).
pub struct Station {
    setup: StationSetup,
}

impl std::fmt::Debug for Station {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Station").field("state_dir", &self.setup.state_dir).field("registrars", &self.setup.registrars).finish_non_exhaustive()
    }
}

/// One unfinished job from the journal and what resuming it takes.
#[derive(Debug, Clone)]
pub struct ResumeItem {
    /// The interrupted job as recorded.
    pub job: JobRecord,
    /// Its intents that were never resolved (side effects that may have happened).
    pub open_intents: Vec<IntentRecord>,
    /// The resume rules' steps (`docs/journal.md`), in order.
    pub steps: Vec<ResumeStep>,
    /// Whether the key must be presented (to read its PIN state, or to reset it).
    pub needs_key: bool,
    /// What will happen, for the operator.
    pub summary: String,
    /// The job to run when the rules say "close and retry" (user, mode, batch line
    /// copied from the interrupted job; adjust the PIN choice or prompt if needed).
    pub retry: JobSpec,
}

impl Station {
    /// Open a station. Checks that the configuration has a tenant and that the default
    /// registration path has a registrar.
    pub async fn open(setup: StationSetup) -> Result<Station, StationError> {
        setup.config.require_tenant().map_err(StationError::Config)?;
        Ok(Station { setup })
    }

    /// The configuration.
    pub fn config(&self) -> &crate::station::config::StationConfig {
        &self.setup.config
    }

    /// The parts it was built from.
    pub fn setup(&self) -> &StationSetup {
        &self.setup
    }

    /// Provision one key for one user: arrived → inspected → prepared → registered →
    /// verified → handed over → done (or `handed_over` with [`FinishWhen::Caller`]).
    pub async fn provision(&self, key: Arc<KeyHandle>, job: JobSpec, events: Arc<dyn StationEvents>, cancel: CancelToken) -> JobOutcome {
        let _ = (key, events, cancel);
        not_yet(&job)
    }

    /// Unfinished jobs from the journal and what each needs (the resume rules of
    /// `docs/journal.md`), oldest first.
    pub async fn pending_resumes(&self) -> Result<Vec<ResumeItem>, StationError> {
        Err(StationError::Other("pending_resumes is not implemented yet".into()))
    }

    /// Carry out one resume item, with the key when it needs one (to read its PIN state
    /// or to reset it). A "close and retry" runs the retry job on `key` and returns its
    /// outcome.
    pub async fn resume(&self, item: ResumeItem, key: Option<Arc<KeyHandle>>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> JobOutcome {
        let _ = (key, events, cancel);
        not_yet(&item.retry)
    }

    /// `--dry-run`: what would be done, touching neither the key nor the tenant.
    pub async fn plan(&self, job: &JobSpec, key_info: Option<&AuthenticatorInfo>) -> Plan {
        let _ = (job, key_info);
        Plan::build(&self.setup.config, &self.setup.models, &self.setup.state_dir, &Default::default())
    }

    /// Close a job the caller left in `handed_over` ([`FinishWhen::Caller`]) once the
    /// key has left the desk.
    pub async fn finish(&self, job: JobId) -> Result<(), StationError> {
        self.setup.journal.run(move |j| j.finish(job)).await?;
        Ok(())
    }

    /// Wait (with the key watcher) until the outcome's key is removed, then
    /// [`Station::finish`] the job. Needs [`StationSetup::sources`].
    pub async fn finish_when_removed(&self, outcome: &JobOutcome, cancel: CancelToken) -> Result<(), StationError> {
        let _ = (outcome, cancel);
        Err(StationError::Other("finish_when_removed is not implemented yet".into()))
    }
}

fn not_yet(job: &JobSpec) -> JobOutcome {
    let mut o = JobOutcome::new(job.mode, &job.user, JobState::Failed);
    o.error = Some(OutcomeError {
        kind: FailureKind::Internal,
        message: "the provisioning pipeline is not implemented yet".into(),
        next_step: None,
        step: None,
        policy: false,
        missing_component: false,
    });
    o
}
