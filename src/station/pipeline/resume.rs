//! Resuming interrupted jobs: the rules of `docs/journal.md` ("Resume rules"), as
//! planned by [`plan_resume`], carried out against the key and Graph.
//!
//! One refinement of the table (documented in `docs/pipeline.md`): where the rules park
//! a random-PIN job with `pin_lost_before_handover` ("the key must be reset and
//! re-enrolled"), and the key is presented now and the reset policy resets keys with a
//! PIN, the station does exactly that itself: it closes the job and retries it, and the
//! retry resets the key. Parking is kept for `reset.policy = "never"` and for resumes
//! without the key.
use super::events::Step;
use super::failure::{Failure, Stop};
use super::register::summary;
use super::run::Run;
use super::spec::{CurrentPinRequest, JobSpec, PinChoice};
use super::{CancelToken, JobOutcome, ResumeItem, Station, StationError, StationEvents};
use crate::entra::graph::GraphErrorKind;
use crate::key::worker::KeyHandle;
use crate::key::KeyError;
use crate::secret::SecretString;
use crate::station::config::ResetPolicy;
use crate::station::journal::{
    plan_resume, reconcile_registration, FailureKind, Intent, IntentId, IntentOutcome, JobError, JobId, JobRecord, JobUpdate, MethodSummary, OperatorReason, OrphanMatch,
    ResumeStep, Transition, UnfinishedJob,
};
use crate::station::pin::PinSource;
use crate::station::state::JobState;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// How carrying out the steps ended for the interrupted job.
enum ResumeEnd {
    /// The job itself reached its end (continued, finished or parked inside the steps).
    Settled,
    /// Close the job (`failed`, kind `interrupted`, or parked with this reason) and
    /// run this retry job.
    Retry(Box<JobSpec>, Option<OperatorReason>),
}

fn describe(step: &ResumeStep) -> String {
    match step {
        ResumeStep::DeleteTapsCreatedAfter(t) => format!("delete the user's TAPs created after {}", t.format("%H:%M:%S")),
        ResumeStep::Abandon(i) => format!("abandon intent {}", i.0),
        ResumeStep::ReconcileRegistration(_) => "look for the registration in Entra (adopt it, or delete it if its PIN is lost)".into(),
        ResumeStep::CheckKeyPin { source: PinSource::UserAtDesk } => "check the key: no PIN → start over; a PIN → ask the user for it".into(),
        ResumeStep::CheckKeyPin { source: PinSource::Random } => "check the key: no PIN → start over; a PIN nobody knows → reset it and start over".into(),
        ResumeStep::CloseAndRetry => "close the job and start over".into(),
        ResumeStep::ContinueFrom(s) => format!("continue from {s}"),
        ResumeStep::DeleteMethod(m) => format!("delete Entra method {m} (its PIN is lost)"),
        ResumeStep::FinishWithSealedCopy => "finish: the PIN's sealed copy is the handover (the help desk opens it)".into(),
        ResumeStep::Park(r) => format!("needs an operator: {}", r.code()),
        ResumeStep::Finish => "mark it done".into(),
    }
}

fn item_for(u: UnfinishedJob) -> ResumeItem {
    let steps = plan_resume(&u);
    // A PIN lost before the handover is retried (reset, start over) when the key is at
    // hand, so that resume waits for a key too; run without one it could only park.
    let needs_key = steps.iter().any(|s| {
        matches!(s, ResumeStep::CheckKeyPin { .. } | ResumeStep::CloseAndRetry | ResumeStep::Park(OperatorReason::PinLostBeforeHandover { method_id: None }))
    });
    let who = u.job.user.upn.clone().or_else(|| u.job.user.object_id.clone()).unwrap_or_else(|| "an unknown user".into());
    let summary = format!(
        "job {} ({} mode, {who}) stopped in state {}: {}",
        u.job.id,
        u.job.mode.as_str(),
        u.job.state,
        steps.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    let mut retry = JobSpec::new(u.job.mode, u.job.user.upn.clone().or_else(|| u.job.user.object_id.clone()).unwrap_or_default());
    retry.batch = u.job.batch.clone();
    retry.resumes = Some(u.job.id);
    retry.display_name = None;
    ResumeItem { job: u.job, open_intents: u.open_intents, steps, needs_key, summary, retry }
}

/// The outcome of an interrupted job as recorded.
fn outcome_of(job: &JobRecord) -> JobOutcome {
    let mut o = JobOutcome::new(job.mode, job.user.upn.as_deref().unwrap_or(""), job.state);
    o.job = Some(job.id);
    o.job_uid = Some(job.uid.clone());
    o.resumes_job = job.resumes;
    o.user.upn = job.user.upn.clone();
    o.user.object_id = job.user.object_id.clone();
    o.key.path = job.key.path.clone();
    o.key.aaguid = job.key.aaguid.clone();
    o.key.model = job.key.model.clone();
    o.key.serial = job.key.serial.clone();
    o.key.firmware = job.key.firmware.clone();
    o.method_id = job.entra_method_id.clone();
    o.credential_id = job.credential_id.clone();
    o.display_name = job.display_name.clone();
    o.pin_sealed = job.sealed_pin.is_some();
    o
}

impl Station {
    pub(crate) async fn resume_items(&self) -> Result<Vec<ResumeItem>, StationError> {
        let unfinished = self.setup.journal.run(|j| j.unfinished()).await?;
        Ok(unfinished.into_iter().map(item_for).collect())
    }

    /// What resuming one job takes, if it is still in progress (a queue takeover).
    pub async fn resume_item_for(&self, job: JobId) -> Result<Option<ResumeItem>, StationError> {
        Ok(self.setup.journal.run(move |j| j.unfinished_job(job)).await?.map(item_for))
    }

    pub(crate) async fn resume_item(&self, item: ResumeItem, key: Option<Arc<KeyHandle>>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> JobOutcome {
        let mut run = Run::new(self, key.clone(), item.retry.clone(), events.clone(), cancel.clone());
        run.resuming = true;
        run.job = Some(item.job.id);
        run.out = outcome_of(&item.job);
        run.facts.open = item.open_intents.iter().map(|i| i.id).collect();
        run.note(item.summary.clone());
        let t = run.step_started(Step::Reconcile);
        let result = run.resume_steps(&item).await;
        match &result {
            Ok(_) => run.step_finished(Step::Reconcile, t),
            Err(s) => run.step_failed(Step::Reconcile, t, s),
        }
        match result {
            Ok(ResumeEnd::Settled) => run.conclude(Ok(())).await,
            Err(stop) => run.conclude(Err(stop)).await,
            Ok(ResumeEnd::Retry(spec, park)) => {
                let job = item.job.id;
                let from = item.job.state;
                let closed = match park {
                    Some(reason) => self.setup.journal.run(move |j| j.park(job, reason)).await,
                    None => {
                        let error = JobError::new(FailureKind::Interrupted, format!("the station stopped while this job was in state {from}; retried as a new job that resumes this one"));
                        self.setup.journal.run(move |j| j.fail(job, error)).await
                    }
                };
                if let Err(e) = closed {
                    let mut o = run.conclude(Ok(())).await;
                    o.error = Some(Failure::journal(&e));
                    return o;
                }
                match (key, spec.user.trim().is_empty()) {
                    (Some(k), false) => self.provision(k, *spec, events, cancel).await,
                    _ => {
                        let mut o = run.conclude(Ok(())).await;
                        o.state = JobState::Failed;
                        o.error = Some(
                            Failure::new(FailureKind::Interrupted, Step::Reconcile, "the interrupted job was closed; its retry needs the key and the user")
                                .next("provision the item's retry job when the key is plugged in")
                                ,
                        );
                        o
                    }
                }
            }
        }
    }
}

impl Run<'_> {
    fn reset_policy_resets_pin_keys(&self) -> bool {
        matches!(self.st.setup.config.reset.policy, ResetPolicy::IfPinSet | ResetPolicy::Always)
    }

    /// Is the presented key the job's key? Only decidable when both serials are known.
    fn presented_key_differs(&self, job: &JobRecord) -> bool {
        let presented = self.key.as_ref().and_then(|k| k.descriptor().serial.clone()).filter(|s| !s.trim().is_empty());
        matches!((presented, &job.key.serial), (Some(a), Some(b)) if &a != b)
    }

    fn no_key(&self) -> Stop {
        Stop::Leave(Failure::new(FailureKind::UserInput, Step::Reconcile, "this interrupted job can only be resumed with its key plugged in").next("plug the key in and run again"))
    }

    async fn resume_steps(&mut self, item: &ResumeItem) -> Result<ResumeEnd, Stop> {
        let desk = item.steps.iter().any(|s| matches!(s, ResumeStep::CheckKeyPin { source: PinSource::UserAtDesk }));
        for step in &item.steps {
            match step {
                ResumeStep::DeleteTapsCreatedAfter(t) => self.delete_taps_after(*t).await?,
                ResumeStep::Abandon(i) => {
                    self.resolve(*i, IntentOutcome::Abandoned(format!("the station stopped while this was under way (job in state {}); superseded by the resume", item.job.state))).await?
                }
                ResumeStep::ReconcileRegistration(i) => {
                    if let Some(end) = self.reconcile(item, *i, desk).await? {
                        return Ok(end);
                    }
                }
                ResumeStep::CheckKeyPin { source } => return self.check_key_pin(item, *source).await,
                ResumeStep::CloseAndRetry => return Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), None)),
                ResumeStep::ContinueFrom(state) => {
                    // The user chose the PIN and still knows it: nothing was lost.
                    self.facts.pin_source = Some(PinSource::UserAtDesk);
                    self.out.pin_source = Some(PinSource::UserAtDesk);
                    self.out.state = *state;
                    self.after_registration().await?;
                    return Ok(ResumeEnd::Settled);
                }
                ResumeStep::DeleteMethod(m) => {
                    let m = if m.is_empty() { item.job.entra_method_id.clone().unwrap_or_default() } else { m.clone() };
                    if !m.is_empty() && !self.delete_method(&m, "its PIN was lost when the station stopped before the handover").await? {
                        return Err(Stop::Park(OperatorReason::PinLostBeforeHandover { method_id: Some(m) }, None));
                    }
                }
                ResumeStep::Park(reason) => {
                    if matches!(reason, OperatorReason::PinLostBeforeHandover { method_id: None }) && self.key.is_some() && self.presented_key_differs(&item.job) {
                        // Another key is at hand (a queue takeover at another station):
                        // the old key needs a reset wherever it is; the user is enrolled
                        // with this one.
                        self.warn(format!("the key presented is not the one job {} used; that key must be reset before reuse", item.job.id));
                        return Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), Some(reason.clone())));
                    }
                    let retryable = matches!(reason, OperatorReason::PinLostBeforeHandover { method_id: None })
                        && self.key.is_some()
                        && !self.presented_key_differs(&item.job)
                        && self.reset_policy_resets_pin_keys();
                    if retryable {
                        self.note("the PIN was lost with the station: the key is here and the reset policy allows resetting it, so the job starts over");
                        return Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), None));
                    }
                    return Err(Stop::Park(reason.clone(), None));
                }
                ResumeStep::FinishWithSealedCopy => {
                    self.finish_with_sealed_copy(item).await?;
                    return Ok(ResumeEnd::Settled);
                }
                ResumeStep::Finish => {
                    self.transition(Transition::to(JobState::Done).with_note("the key was handed over before the station stopped")).await?;
                    return Ok(ResumeEnd::Settled);
                }
            }
        }
        Ok(ResumeEnd::Settled)
    }

    /// `FinishWithSealedCopy`: the key is registered and the journal holds the PIN sealed
    /// to the help desk, which is what the handover is when no slip is shown; when a slip
    /// was to be shown it may not have been seen, and the sealed copy stands in for it.
    async fn finish_with_sealed_copy(&mut self, item: &ResumeItem) -> Result<(), Stop> {
        if item.job.state == JobState::Registered {
            self.verify().await?;
        }
        let note = "the PIN's sealed copy is the handover: the help desk opens it (age -d) and gives it to the user";
        let mut t = Transition::to(JobState::HandedOver).with_note(note);
        if let Some(show) = item.open_intents.iter().find(|i| matches!(i.intent, Intent::ShowPin)) {
            t = t.resolving(show.id, IntentOutcome::Abandoned("the slip may not have been seen; the sealed copy is the handover".into()));
        }
        self.transition(t).await?;
        if self.st.setup.config.handover.show_once {
            self.warn(format!("{}'s PIN slip may not have been shown before the station stopped: the help desk opens the sealed copy (age -d) and gives the PIN to the user", self.upn()));
        }
        self.transition(Transition::to(JobState::Done).with_note("finished from the sealed copy after an interruption")).await
    }

    /// `CheckKeyPin`: decide from the presented key whether the PIN was set.
    async fn check_key_pin(&mut self, item: &ResumeItem, source: PinSource) -> Result<ResumeEnd, Stop> {
        let Some(key) = self.key.clone() else { return Err(self.no_key()) };
        if self.presented_key_differs(&item.job) {
            // The job's own key is elsewhere, maybe with a PIN nobody knows: flag it, and
            // enroll the user with the key at hand.
            self.warn(format!("the key presented ({}) is not the one job {} used; that key must be reset before reuse", key.descriptor().label(), item.job.id));
            return Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), Some(OperatorReason::PinLostBeforeHandover { method_id: None })));
        }
        let info = self.key_op(Step::Reconcile, key.get_info()).await.map_err(Stop::Leave)?;
        if !info.pin_is_set() {
            self.note("the key has no PIN: the PIN was never set, the job starts over");
            return Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), None));
        }
        if source == PinSource::UserAtDesk
            && let Some(pin) = self.ask_current_pin(&key, "the station stopped after your PIN was set: type it again to continue").await?
        {
            let mut spec = item.retry.clone();
            spec.pin = PinChoice::KeepCurrent;
            spec.current_pin = Some(pin);
            return Ok(ResumeEnd::Retry(Box::new(spec), None));
        }
        if self.reset_policy_resets_pin_keys() {
            self.note("the key has a PIN nobody knows any more: the retry resets it");
            Ok(ResumeEnd::Retry(Box::new(item.retry.clone()), None))
        } else {
            Err(Stop::Park(OperatorReason::PinLostBeforeHandover { method_id: None }, None))
        }
    }

    /// Ask the user for the key's PIN and check it on the key (credential management
    /// needs a PIN token). Two wrong answers end the attempt: a key allows three per
    /// power-up, and the user should not lock themselves out.
    async fn ask_current_pin(&mut self, key: &Arc<KeyHandle>, reason: &str) -> Result<Option<SecretString>, Stop> {
        let Some(prompt) = self.spec.prompt.clone() else { return Ok(None) };
        for _ in 0..2 {
            let retries = key.pin_retries().await.ok().map(|r| r.retries);
            let req = CurrentPinRequest { user: self.upn(), key: key.descriptor().path.clone(), retries_left: retries, reason: reason.to_string() };
            let Some(pin) = prompt.current_pin(&req).await else { return Ok(None) };
            match key.credentials_metadata(&pin).await {
                Ok(_) | Err(KeyError::Unsupported(_)) => return Ok(Some(pin)),
                Err(KeyError::PinInvalid { .. } | KeyError::PinInvalidUnknownRetries) => self.warn("that PIN is wrong"),
                Err(e) => {
                    self.warn(format!("the PIN could not be checked: {e}"));
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// `ReconcileRegistration`: find the registration the interrupted POST may have made.
    /// Returns `Some` when the job was settled here (adopted and continued).
    async fn reconcile(&mut self, item: &ResumeItem, intent: IntentId, desk: bool) -> Result<Option<ResumeEnd>, Stop> {
        let st = self.st;
        let Some(record) = item.open_intents.iter().find(|i| i.id == intent).cloned() else { return Ok(None) };
        let user = self.user_ref();
        let methods = st.setup.graph.list_fido2_methods(&user).await.map_err(|e| Stop::Leave(Failure::graph(Step::Reconcile, &e)))?;
        let summaries: Vec<MethodSummary> = methods.iter().map(summary).collect();
        let ids: Vec<String> = summaries.iter().map(|m| m.id.clone()).collect();
        let known: Vec<String> = st.setup.journal.run(move |j| Ok(ids.into_iter().filter(|id| j.knows_method(id).unwrap_or(true)).collect::<Vec<_>>())).await?;
        let r = reconcile_registration(&record, &summaries, |id| known.iter().any(|k| k == id)).map_err(|m| Failure::new(FailureKind::Internal, Step::Reconcile, m))?;
        if let OrphanMatch::Ambiguous(candidates) = &r.orphan {
            return Err(Stop::Park(OperatorReason::AmbiguousOrphan { candidates: candidates.clone() }, None));
        }
        if let Some(u) = r.unknown.first() {
            return Err(Stop::Park(OperatorReason::UnknownMethodOnUser { method_id: u.id.clone(), display_name: u.display_name.clone() }, None));
        }
        match r.orphan {
            OrphanMatch::One(m) => {
                if desk
                    && let Some(key) = self.key.clone()
                    && let Some(pin) = self.ask_current_pin(&key, "the station stopped while registering your key: type your PIN again to finish").await?
                {
                    self.note(format!("the registration landed before the station stopped: adopting method {}", m.id));
                    let update = JobUpdate { entra_method_id: Some(m.id.clone()), ..Default::default() };
                    let t = Transition::to(JobState::Registered)
                        .with_update(update)
                        .resolving(intent, IntentOutcome::Done(Some(serde_json::json!({ "method_id": m.id, "adopted": true }))));
                    self.out.method_id = Some(m.id.clone());
                    if let Intent::RegisterCredential { credential_id, display_name, .. } = &record.intent {
                        self.out.credential_id = Some(credential_id.clone());
                        self.out.display_name = Some(display_name.clone());
                    }
                    self.transition(t).await?;
                    self.facts.pin = Some(pin);
                    self.facts.pin_source = Some(PinSource::UserAtDesk);
                    self.out.pin_source = Some(PinSource::UserAtDesk);
                    self.after_registration().await?;
                    return Ok(Some(ResumeEnd::Settled));
                }
                if !self.delete_method(&m.id, "orphan of an interrupted registration whose PIN is lost").await? {
                    return Err(Stop::Park(OperatorReason::PinLostBeforeHandover { method_id: Some(m.id) }, None));
                }
                self.resolve(intent, IntentOutcome::Abandoned(format!("the registration had landed as method {}; deleted because its PIN was lost", m.id))).await?;
            }
            OrphanMatch::None => {
                self.resolve(intent, IntentOutcome::Abandoned("the POST did not land: Entra lists no matching method".into())).await?;
            }
            OrphanMatch::Ambiguous(_) => {}
        }
        Ok(None)
    }

    /// DELETE a fido2Method under a `delete_method` intent. `false` when Graph refused.
    async fn delete_method(&mut self, method: &str, reason: &str) -> Result<bool, Stop> {
        let id = self.intent(Intent::DeleteMethod { method_id: method.to_string(), reason: reason.to_string() }, JobUpdate::default()).await?;
        match self.st.setup.graph.delete_fido2_method(&self.user_ref(), method).await {
            Ok(()) => {
                self.effect_done("delete_method")?;
                self.method_deleted(id, method, IntentOutcome::Done(None)).await?;
                self.note(format!("deleted Entra method {method} ({reason})"));
                Ok(true)
            }
            Err(e) if e.kind == GraphErrorKind::MethodNotFound => {
                self.method_deleted(id, method, IntentOutcome::Done(Some(serde_json::json!({ "already_gone": true })))).await?;
                Ok(true)
            }
            Err(e) => {
                let f = Failure::graph(Step::Reconcile, &e);
                self.resolve(id, IntentOutcome::Failed(JobError::new(f.kind, f.message.clone()))).await?;
                self.warn(format!("could not delete Entra method {method}: {}", f.message));
                Ok(false)
            }
        }
    }

    /// The deletion is done: resolve its intent and, if the method was the job's own, take
    /// it off the job (a parked job must not name a method the tenant no longer has).
    async fn method_deleted(&mut self, intent: IntentId, method: &str, outcome: IntentOutcome) -> Result<(), Stop> {
        let job = self.job_id()?;
        let m = method.to_string();
        self.st.setup.journal.run(move |j| j.resolve_method_deleted(job, intent, &m, &outcome)).await.map_err(|e| self.journal_stop(e))?;
        self.facts.open.retain(|i| *i != intent);
        if self.out.method_id.as_deref() == Some(method) {
            self.out.method_id = None;
        }
        Ok(())
    }

    /// `DeleteTapsCreatedAfter`: a pass whose value died with the station.
    async fn delete_taps_after(&mut self, after: DateTime<Utc>) -> Result<(), Stop> {
        let user = self.user_ref();
        let taps = match self.st.setup.graph.list_taps(&user).await {
            Ok(t) => t,
            Err(e) => {
                self.warn(format!("could not list the user's TAPs to clean up: {}", Failure::graph(Step::Reconcile, &e).message));
                return Ok(());
            }
        };
        for tap in taps.into_iter().filter(|t| t.created.is_none_or(|c| c >= after)) {
            let id = self.intent(Intent::DeleteTap { tap_id: tap.id.clone() }, JobUpdate::default()).await?;
            let outcome = match self.st.setup.graph.delete_tap(&user, &tap.id).await {
                Ok(()) => IntentOutcome::Done(None),
                Err(e) if e.kind == GraphErrorKind::MethodNotFound => IntentOutcome::Done(None),
                Err(e) => IntentOutcome::Failed(JobError::new(FailureKind::Entra, Failure::graph(Step::Reconcile, &e).message)),
            };
            self.resolve(id, outcome).await?;
        }
        Ok(())
    }
}
