//! One job in flight: what it has learnt so far ([`Facts`]) and the journal, event and
//! key helpers every step uses. Each journal helper commits before it returns and then
//! checks the crash hook, so "recorded before the next side effect" holds by
//! construction.
use super::crash::CrashPoint;
use super::events::{EventKind, StationEvent, StationEvents, Step};
use super::failure::{Failure, Stop};
use super::outcome::{JobOutcome, StepTiming};
use super::spec::JobSpec;
use super::{CancelToken, Station};
use crate::ceremony::{Registered, RegistrationPath};
use crate::entra::graph::{Fido2Method, GraphError, User};
use crate::key::ctap2::AuthenticatorInfo;
use crate::key::worker::KeyHandle;
use crate::key::KeyError;
use crate::secret::SecretString;
use crate::station::config::PinPolicy;
use crate::station::handover::{HandoverTap, SealedPin};
use crate::station::journal::{Intent, IntentId, IntentOutcome, JobId, JobUpdate, JournalError, Transition};
use crate::station::models::ModelInfo;
use crate::station::pin::{PinRequirements, PinSource};
use crate::station::state::JobState;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// What a job has learnt and decided so far.
#[derive(Default)]
pub(crate) struct Facts {
    pub info: Option<AuthenticatorInfo>,
    pub user: Option<User>,
    pub model: Option<ModelInfo>,
    pub methods: Vec<Fido2Method>,
    pub pin_policy: PinPolicy,
    pub requirements: Option<PinRequirements>,
    /// Reset the key before the PIN.
    pub reset: bool,
    /// The key's current PIN, given by the user (change instead of set).
    pub current_pin: Option<SecretString>,
    /// Keep the current PIN as it is (resume of a user-at-desk job).
    pub keep_pin: bool,
    /// The PIN the key has (or is about to have).
    pub pin: Option<SecretString>,
    pub pin_source: Option<PinSource>,
    /// The key carries a PIN this job set or changed: failing now parks the job.
    pub pin_on_key: bool,
    pub sealed: Option<SealedPin>,
    pub display_name: Option<String>,
    pub path: Option<RegistrationPath>,
    pub registered: Option<Registered>,
    pub handover_tap: Option<HandoverTap>,
    pub force_change_set: bool,
    /// Intents recorded and not yet resolved, oldest first.
    pub open: Vec<IntentId>,
}

/// A job being run.
pub(crate) struct Run<'s> {
    pub st: &'s Station,
    pub key: Option<Arc<KeyHandle>>,
    pub spec: JobSpec,
    pub events: Arc<dyn StationEvents>,
    pub cancel: CancelToken,
    pub out: JobOutcome,
    pub job: Option<JobId>,
    pub started: Instant,
    pub facts: Facts,
    /// This run reconciles an interrupted job (open intents are abandoned, not failed).
    pub resuming: bool,
    /// A journal write was refused because another station took the user over.
    pub lease_lost: bool,
}

impl<'s> Run<'s> {
    pub fn new(st: &'s Station, key: Option<Arc<KeyHandle>>, spec: JobSpec, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Run<'s> {
        let out = JobOutcome::new(spec.mode, &spec.user, JobState::Arrived);
        Run { st, key, spec, events, cancel, out, job: None, started: Instant::now(), facts: Facts::default(), resuming: false, lease_lost: false }
    }

    pub fn key(&self) -> Result<Arc<KeyHandle>, Failure> {
        self.key.clone().ok_or_else(|| Failure::new(crate::station::journal::FailureKind::UserInput, Step::Reconcile, "this step needs the key: plug it in and run again"))
    }

    pub fn upn(&self) -> String {
        self.facts
            .user
            .as_ref()
            .and_then(|u| u.user_principal_name.clone())
            .or_else(|| self.out.user.upn.clone())
            .unwrap_or_else(|| self.spec.user.clone())
    }

    /// The user's object id (or what was typed, before the look-up).
    pub fn user_ref(&self) -> String {
        self.facts.user.as_ref().map(|u| u.id.clone()).or_else(|| self.out.user.object_id.clone()).unwrap_or_else(|| self.spec.user.clone())
    }

    pub fn emit(&self, kind: EventKind) {
        let key = self.key.as_ref().map(|k| k.descriptor().path.clone()).or_else(|| self.out.key.path.clone());
        self.events.event(&StationEvent { job: self.job, key, user: Some(self.upn()), kind });
    }

    pub fn note(&self, text: impl Into<String>) {
        self.emit(EventKind::Note { text: text.into() });
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!(job = ?self.job, "{text}");
        self.emit(EventKind::Warning { text: text.clone() });
        self.out.warnings.push(text);
    }

    pub fn step_started(&self, step: Step) -> Instant {
        self.emit(EventKind::StepStarted { step });
        Instant::now()
    }

    pub fn step_finished(&mut self, step: Step, since: Instant) {
        let elapsed = since.elapsed();
        self.out.timings.push(StepTiming { step, millis: elapsed.as_millis() as u64 });
        self.emit(EventKind::StepFinished { step, elapsed });
    }

    pub fn step_failed(&mut self, step: Step, since: Instant, stop: &Stop) {
        self.out.timings.push(StepTiming { step, millis: since.elapsed().as_millis() as u64 });
        let message = match stop {
            Stop::Fail(f) => f.message.clone(),
            Stop::Park(r, _) => r.message(),
            Stop::Leave(f) => f.message.clone(),
            Stop::Halt => return,
        };
        self.emit(EventKind::StepFailed { step, message });
    }

    pub fn job_id(&self) -> Result<JobId, Stop> {
        self.job.ok_or_else(|| Stop::Fail(Failure::new(crate::station::journal::FailureKind::Internal, Step::Inspect, "no job was recorded")))
    }

    fn crash(&self, point: CrashPoint) -> Result<(), Stop> {
        if self.st.crash.reached(&point) { Err(Stop::Halt) } else { Ok(()) }
    }

    /// A journal error as the step's stop, noting a lost lease.
    pub fn journal_stop(&mut self, e: JournalError) -> Stop {
        if matches!(e, JournalError::Fenced(_) | JournalError::LeaseLost(_)) {
            self.lease_lost = true;
        }
        e.into()
    }

    /// Commit an intent (with facts that must be on disk before the side effect). Under a
    /// queue lease, the lease must have at least a third of its length left by the
    /// database's clock: a side effect never starts on a lease about to end.
    pub async fn intent(&mut self, intent: Intent, update: JobUpdate) -> Result<IntentId, Stop> {
        let job = self.job_id()?;
        let kind = intent.kind();
        let claim = self.spec.claim.clone();
        let margin = self.st.setup.config.journal.lease() / 3;
        let recorded = self
            .st
            .setup
            .journal
            .run(move |j| {
                if let Some(c) = &claim {
                    j.require_lease(c, margin)?;
                }
                j.record_intent_with(job, &intent, &update)
            })
            .await;
        let id = recorded.map_err(|e| self.journal_stop(e))?;
        self.facts.open.push(id);
        self.crash(CrashPoint::Intent(kind.to_string()))?;
        Ok(id)
    }

    /// The side effect of an intent of `kind` happened; its result is not yet recorded.
    pub fn effect_done(&self, kind: &str) -> Result<(), Stop> {
        self.crash(CrashPoint::Effect(kind.to_string()))
    }

    /// Resolve an intent without a state change.
    pub async fn resolve(&mut self, intent: IntentId, outcome: IntentOutcome) -> Result<(), Stop> {
        let job = self.job_id()?;
        self.st.setup.journal.run(move |j| j.resolve_intent(job, intent, &outcome)).await.map_err(|e| self.journal_stop(e))?;
        self.facts.open.retain(|i| *i != intent);
        Ok(())
    }

    /// Commit a state change (and whatever goes with it).
    pub async fn transition(&mut self, t: Transition) -> Result<(), Stop> {
        let job = self.job_id()?;
        let to = t.to;
        let resolved = t.resolves.as_ref().map(|(i, _)| *i);
        self.st.setup.journal.run(move |j| j.transition(job, t)).await.map_err(|e| self.journal_stop(e))?;
        if let Some(i) = resolved {
            self.facts.open.retain(|x| *x != i);
        }
        self.out.state = to;
        self.emit(EventKind::StateReached { state: to });
        self.crash(CrashPoint::State(to))
    }

    /// Run a key operation; the operator's cancel stops it (CTAPHID_CANCEL).
    pub async fn key_op<T>(&self, step: Step, op: impl Future<Output = Result<T, KeyError>>) -> Result<T, Failure> {
        if self.cancel.is_cancelled() {
            return Err(Failure::cancelled(step));
        }
        tokio::select! {
            r = op => r.map_err(|e| Failure::key(step, &e)),
            _ = self.cancel.cancelled() => Err(Failure::cancelled(step)),
        }
    }

    /// Run a read-only Graph call; the operator's cancel abandons it.
    pub async fn graph_read<T>(&self, step: Step, call: impl Future<Output = Result<T, GraphError>>) -> Result<T, Failure> {
        if self.cancel.is_cancelled() {
            return Err(Failure::cancelled(step));
        }
        tokio::select! {
            r = call => r.map_err(|e| Failure::graph(step, &e)),
            _ = self.cancel.cancelled() => Err(Failure::cancelled(step)),
        }
    }

    pub fn check_cancel(&self, step: Step) -> Result<(), Failure> {
        if self.cancel.is_cancelled() { Err(Failure::cancelled(step)) } else { Ok(()) }
    }
}
