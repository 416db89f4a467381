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
//!   wait; the job is recorded `failed` (kind `cancelled`), or, if the key already has
//!   the station's PIN, left as a crash leaves it (the next run resumes it).
//! * The slip is returned, not shown: the caller shows it once.
//!   [`FinishWhen::Caller`] leaves the job in `handed_over` until [`Station::finish`].
//!
//! [`SharedJournal`]: crate::station::journal::SharedJournal
#![warn(missing_docs)]
mod access;
pub(crate) mod checks;
pub mod crash;
mod error;
mod events;
mod failure;
mod handover;
mod inspect;
mod outcome;
mod precheck;
mod prepare;
mod provision;
mod register;
mod resume;
mod run;
mod spec;

pub use crate::ceremony::webauthn::CancelToken;
pub use access::planned_calls;
pub use crash::{CrashPoint, CRASH_ENV};
pub use error::StationError;
pub use events::{key_handle_options, EventKind, NoEvents, StationEvent, StationEvents, Step};
pub use outcome::{JobOutcome, KeySummary, OutcomeClass, OutcomeError, StepTiming, UserSummary};
pub(crate) use inspect::firmware_text;
pub use precheck::{check_user_scope, tap_needed, PolicyScope, UserCheck};
pub use spec::{CurrentPinRequest, DeskPrompt, FinishWhen, JobSpec, NewPinRequest, PinChoice, PinPolicyOverride};
pub use crate::station::setup::{ConnectOptions, Registrars, StationOptions, StationSetup};

use crate::entra::graph::{Fido2Policy, GraphError, TapPolicy};
use crate::key::ctap2::AuthenticatorInfo;
use crate::key::worker::KeyHandle;
use crate::station::config::{Plan, PlanInput, PlanKey};
use crate::station::journal::{IntentRecord, JobId, JobRecord, ResumeStep};
pub(crate) use crash::CrashHook;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The provisioning station: configuration, journal, Graph, registrars. `Send + Sync`;
/// share it with an `Arc` across tasks (batch runs many keys at once).
pub struct Station {
    setup: StationSetup,
    crash: CrashHook,
    policies: Mutex<PolicyCache>,
}

/// Policies read from Graph, reused for [`StationOptions::policy_cache`].
#[derive(Default)]
struct PolicyCache {
    fido2: Option<(Instant, Fido2Policy)>,
    tap: Option<(Instant, TapPolicy)>,
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
    /// Open a station. Checks that the configuration has a tenant; a job whose
    /// registration path has no registrar fails at inspection (missing component).
    pub async fn open(setup: StationSetup) -> Result<Station, StationError> {
        setup.config.require_tenant().map_err(StationError::Config)?;
        let crash = CrashHook::new(setup.options.crash_point.clone());
        Ok(Station { setup, crash, policies: Mutex::new(PolicyCache::default()) })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, PolicyCache> {
        self.policies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The FIDO2 policy (cached for [`StationOptions::policy_cache`]).
    pub(crate) async fn fido2_policy(&self) -> Result<Fido2Policy, GraphError> {
        let ttl = self.setup.options.policy_cache;
        if let Some((at, p)) = &self.cache().fido2
            && at.elapsed() < ttl
        {
            return Ok(p.clone());
        }
        let p = self.setup.graph.fido2_policy().await?;
        self.cache().fido2 = Some((Instant::now(), p.clone()));
        Ok(p)
    }

    /// The TAP policy (cached like the FIDO2 policy).
    pub(crate) async fn tap_policy(&self) -> Result<TapPolicy, GraphError> {
        let ttl = self.setup.options.policy_cache;
        if let Some((at, p)) = &self.cache().tap
            && at.elapsed() < ttl
        {
            return Ok(p.clone());
        }
        let p = self.setup.graph.tap_policy().await?;
        self.cache().tap = Some((Instant::now(), p.clone()));
        Ok(p)
    }

    /// Forget cached policies (an operator changed the tenant).
    pub fn forget_policies(&self) {
        *self.cache() = PolicyCache::default();
    }

    /// The configuration.
    pub fn config(&self) -> &crate::station::config::StationConfig {
        &self.setup.config
    }

    /// The parts it was built from.
    pub fn setup(&self) -> &StationSetup {
        &self.setup
    }

    /// The crash-test hook (desk operations use the same points as the pipeline).
    pub(crate) fn crash_hook(&self) -> &CrashHook {
        &self.crash
    }

    /// Provision one key for one user: arrived → inspected → prepared → registered →
    /// verified → handed over → done (or `handed_over` with [`FinishWhen::Caller`]).
    pub async fn provision(&self, key: Arc<KeyHandle>, job: JobSpec, events: Arc<dyn StationEvents>, cancel: CancelToken) -> JobOutcome {
        let mut run = run::Run::new(self, Some(key), job, events, cancel);
        let result = match run.begin().await {
            Ok(()) => run.steps().await,
            Err(s) => Err(s),
        };
        run.conclude(result).await
    }

    /// Unfinished jobs from the journal and what each needs (the resume rules of
    /// `docs/journal.md`), oldest first.
    pub async fn pending_resumes(&self) -> Result<Vec<ResumeItem>, StationError> {
        self.resume_items().await
    }

    /// Carry out one resume item, with the key when it needs one (to read its PIN state
    /// or to reset it). A "close and retry" runs the retry job on `key` and returns its
    /// outcome.
    pub async fn resume(&self, item: ResumeItem, key: Option<Arc<KeyHandle>>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> JobOutcome {
        self.resume_item(item, key, events, cancel).await
    }

    /// `--dry-run`: what would be done, touching neither the key nor the tenant. With
    /// `key_info` (from the getInfo a key handle reads when it is opened) the plan names
    /// the exact actions; `serial`/`product` come from the key's descriptor.
    pub async fn plan(&self, job: &JobSpec, key_info: Option<&AuthenticatorInfo>) -> Plan {
        self.plan_for(job, key_info, None, None)
    }

    /// [`Station::plan`] with the key's serial and product name (from its descriptor).
    pub fn plan_for(&self, job: &JobSpec, key_info: Option<&AuthenticatorInfo>, serial: Option<String>, product: Option<String>) -> Plan {
        plan(&self.setup.config, &self.setup.models, &self.setup.state_dir, job, key_info, serial, product)
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
        let job = outcome.job.ok_or_else(|| StationError::Other("the outcome has no job to finish".into()))?;
        let path = outcome.key.path.clone().ok_or_else(|| StationError::Other("the outcome names no key".into()))?;
        let sources = self.setup.sources.clone().ok_or_else(|| StationError::Config("waiting for a key to be removed needs the station's key sources".into()))?;
        loop {
            let present = sources.enumerate()?.iter().any(|d| d.path == path);
            if !present {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                _ = cancel.cancelled() => return Err(StationError::Cancelled),
            }
        }
        self.finish(job).await
    }
}

/// `--dry-run` without a station (nothing is opened, not even the journal): what a job
/// would do under `config`, with the key's getInfo, serial and product name when known.
pub fn plan(
    config: &crate::station::config::StationConfig,
    models: &crate::station::models::ModelTable,
    state_dir: &std::path::Path,
    job: &JobSpec,
    key_info: Option<&AuthenticatorInfo>,
    serial: Option<String>,
    product: Option<String>,
) -> Plan {
    let mut config = config.clone();
    if let Some(o) = &job.pin_policy {
        config.pin.source = o.source.unwrap_or(config.pin.source);
        config.pin.length = o.length.unwrap_or(config.pin.length);
        config.pin.min_length = o.min_length.unwrap_or(config.pin.min_length);
        config.pin.alphabet = o.alphabet.unwrap_or(config.pin.alphabet);
    }
    let selected = config.use_tenant.clone();
    let tenant = if selected == crate::station::config::DEFAULT_TENANT { config.tenant.as_mut() } else { config.tenants.get_mut(&selected) };
    if let (Some(via), Some(t)) = (job.via, tenant) {
        t.registration = via;
    }
    let key = key_info.map(|i| PlanKey {
        aaguid: Some(i.aaguid_string()).filter(|_| i.aaguid.iter().any(|b| *b != 0)),
        product,
        serial,
        pin_set: i.pin_is_set(),
        min_pin_length: i.min_pin_length,
        supports_config: i.option("authnrCfg") == Some(true) && i.option("setMinPINLength") == Some(true),
    });
    let input = PlanInput { user: Some(job.user.clone()).filter(|u| !u.trim().is_empty()), key, date: None };
    Plan::build(&config, models, state_dir, &input)
}
