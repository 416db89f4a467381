//! The order of the steps, and how a job ends: begin (arrived), the steps, then
//! conclude: `failed` before the key has the station's PIN, `needs_operator` with the
//! documented reason after, and the outcome filled in for the caller.
use super::events::EventKind;
use super::failure::{Failure, Stop};
use super::inspect::key_facts;
use super::run::Run;
use crate::station::config::ResetPolicy;
use crate::station::journal::{FailureKind, IntentOutcome, JobError, NewJob, OperatorReason, Transition, UserRef};
use crate::station::state::JobState;

impl Run<'_> {
    /// Record the job (`arrived`).
    pub(crate) async fn begin(&mut self) -> Result<(), Stop> {
        let key = self.key()?;
        let info = key.info();
        let facts = key_facts(self, &info);
        let new = NewJob {
            mode: self.spec.mode,
            // The tenant id (GUID or domain, as configured), not the configuration's name
            // for it: reports from several stations must agree (docs/json.md).
            tenant: Some(self.st.setup.config.tenant().and_then(|t| t.id.clone()).unwrap_or_else(|| self.st.setup.config.use_tenant.clone())),
            batch: self.spec.batch.clone(),
            user: UserRef { upn: Some(self.spec.user.trim().to_string()).filter(|u| !u.is_empty()), object_id: None },
            key: facts,
            resumes: self.spec.resumes,
        };
        let claim = self.spec.claim.clone();
        let (id, record) = self
            .st
            .setup
            .journal
            .run(move |j| {
                let id = match &claim {
                    Some(c) => j.begin_claimed_job(&new, c)?,
                    None => j.begin_job(&new)?,
                };
                Ok((id, j.job(id)?))
            })
            .await
            .map_err(|e| self.journal_stop(e))?;
        self.job = Some(id);
        self.out.job = Some(id);
        self.out.job_uid = record.map(|r| r.uid);
        self.out.resumes_job = self.spec.resumes;
        self.out.state = JobState::Arrived;
        self.emit(EventKind::JobStarted { resumes: self.spec.resumes });
        if self.st.crash.reached(&super::CrashPoint::State(JobState::Arrived)) {
            return Err(Stop::Halt);
        }
        Ok(())
    }

    /// arrived → … → handed_over (→ done).
    pub(crate) async fn steps(&mut self) -> Result<(), Stop> {
        self.inspect().await?;
        self.check_cancel(super::Step::Reset)?;
        self.prepare().await?;
        self.check_cancel(super::Step::Register)?;
        self.register().await?;
        self.after_registration().await
    }

    /// registered → verified → handed_over (→ done).
    pub(crate) async fn after_registration(&mut self) -> Result<(), Stop> {
        if self.out.state == JobState::Registered {
            self.verify().await?;
        }
        self.hand_over().await
    }

    /// Turn how the steps ended into the job's final state and the outcome.
    pub(crate) async fn conclude(mut self, result: Result<(), Stop>) -> super::JobOutcome {
        match result {
            Ok(()) => {}
            Err(Stop::Halt) => {
                let f = Failure::new(FailureKind::Interrupted, super::Step::Inspect, format!("stopped at the test crash point (state {}); nothing further was recorded", self.out.state));
                self.out.error = Some(f);
            }
            Err(Stop::Leave(f)) => self.out.error = Some(f),
            Err(Stop::Fail(f)) => self.end_failed(f).await,
            Err(Stop::Park(reason, f)) => self.end_parked(reason, f).await,
        }
        self.out.total_millis = self.started.elapsed().as_millis() as u64;
        self.emit(EventKind::JobEnded { state: self.out.state });
        self.out
    }

    /// Resolve intents left open by a step that stopped (their side effect did not
    /// complete as far as this process knows).
    pub(crate) async fn close_open_intents(&mut self, f: &Failure) {
        let Some(job) = self.job else { return };
        let open = std::mem::take(&mut self.facts.open);
        for id in open {
            let outcome = if self.resuming {
                IntentOutcome::Abandoned(format!("given up while resuming: {}", f.message))
            } else {
                IntentOutcome::Failed(JobError::new(f.kind, f.message.clone()))
            };
            if let Err(e) = self.st.setup.journal.run(move |j| j.resolve_intent(job, id, &outcome)).await {
                tracing::warn!("cannot close intent {} of job {job}: {e}", id.0);
            }
        }
    }

    async fn end_failed(&mut self, f: Failure) {
        self.out.error = Some(f.clone());
        let Some(job) = self.job else {
            self.out.state = JobState::Failed;
            return;
        };
        // The operator stopped a job whose key already has the station's PIN: leave it as
        // a crash would, so that the next run resumes it (instead of parking it).
        if f.kind == FailureKind::Cancelled && (self.facts.pin_on_key || self.out.method_id.is_some() || self.resuming) {
            return self.end_interrupted(f).await;
        }
        self.close_open_intents(&f).await;
        if let Some(method) = self.out.method_id.clone() {
            let reason = OperatorReason::Other {
                message: format!("The key was registered (Entra method {method}) but the job stopped before the handover: {} Check the user's security keys; delete the method, reset the key and enroll it again if the PIN was not handed over.", f.message),
            };
            return self.end_parked(reason, Some(f)).await;
        }
        if self.facts.pin_on_key {
            // Another attempt can finish it when the next job may reset a key with a PIN
            // (the default): fail, and the batch (or a re-run) tries again. Otherwise the
            // key's PIN needs a person.
            if f.retryable && matches!(self.st.setup.config.reset.policy, ResetPolicy::IfPinSet | ResetPolicy::Always) {
                let f = f.next("the key keeps the PIN this job set; the next attempt resets it (reset.policy) and enrolls it again");
                self.out.error = Some(f.clone());
                let error = JobError::new(f.kind, f.journal_text());
                match self.st.setup.journal.run(move |j| j.fail(job, error)).await {
                    Ok(()) => self.out.state = JobState::Failed,
                    Err(e) => self.journal_broken(e),
                }
                return;
            }
            return self.end_parked(OperatorReason::PinSetRegistrationFailed, Some(f)).await;
        }
        let error = JobError::new(f.kind, f.journal_text());
        match self.st.setup.journal.run(move |j| j.fail(job, error)).await {
            Ok(()) => self.out.state = JobState::Failed,
            Err(e) => self.journal_broken(e),
        }
    }

    /// Stop without an end state: the job keeps its state and open intents (what a
    /// crash leaves), the journal says why, and the next run's resume rules take it up.
    async fn end_interrupted(&mut self, f: Failure) {
        let Some(job) = self.job else { return };
        let mut f = f;
        if f.next_step.is_none() {
            f = f.next("run the same command again: the job is resumed where it stopped");
        }
        self.out.error = Some(f.clone());
        let error = JobError::new(f.kind, f.journal_text());
        if let Err(e) = self.st.setup.journal.run(move |j| j.record_interruption(job, &error)).await {
            self.journal_broken(e);
        }
    }

    async fn end_parked(&mut self, reason: OperatorReason, f: Option<Failure>) {
        if let Some(f) = &f {
            self.out.error = Some(f.clone());
            self.close_open_intents(f).await;
        } else {
            let note = Failure::new(FailureKind::Internal, super::Step::Reconcile, reason.message());
            self.close_open_intents(&note).await;
        }
        self.out.operator_message = Some(reason.message());
        self.out.operator_reason = Some(reason.clone());
        let Some(job) = self.job else { return };
        let mut t = Transition::to(JobState::NeedsOperator).with_reason(reason);
        if let Some(f) = f {
            t = t.with_error(JobError::new(f.kind, f.journal_text()));
        }
        match self.st.setup.journal.run(move |j| j.transition(job, t)).await {
            Ok(()) => self.out.state = JobState::NeedsOperator,
            Err(e) => self.journal_broken(e),
        }
    }

    fn journal_broken(&mut self, e: crate::station::journal::JournalError) {
        tracing::error!("the journal could not record how job {:?} ended: {e}", self.job);
        self.out.warnings.push(format!("the journal could not record how this job ended: {e}"));
        if self.out.error.is_none() {
            self.out.error = Some(Failure::journal(&e));
        }
    }
}
