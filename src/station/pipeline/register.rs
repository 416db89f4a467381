//! prepared → registered: the registration TAP for the browser path, then the path's
//! [`Registrar`](crate::ceremony::Registrar) with an observer that commits the
//! `make_credential` and `register_credential` intents before the key and Entra are
//! touched. A failure whose effect in Entra is uncertain (no answer to the POST) is
//! reconciled with the user's method list at once, so a registration that landed is
//! adopted instead of being made twice.
use super::events::Step;
use super::failure::{Failure, Stop};
use super::run::Run;
use super::{CrashPoint, Station};
use crate::ceremony::webauthn::{b64, BoxFuture, ENTRA_RP_ID};
use crate::ceremony::{CeremonyError, PendingRegistration, RegistrationObserver, RegistrationPath, RegistrationRequest};
use crate::entra::graph::{Fido2Method, GraphErrorKind, TapRequest};
use crate::key::KeyError;
use crate::station::journal::{
    reconcile_registration, Claim, FailureKind, Intent, IntentId, IntentOutcome, JobError, JobId, JobUpdate, JournalError, MethodSummary, OperatorReason, OrphanMatch, TapPurpose, Transition,
};
use crate::station::pipeline::{EventKind, StationEvent, StationEvents};
use crate::station::state::JobState;
use std::sync::{Arc, Mutex};

/// What the observer recorded while the registrar ran.
#[derive(Default)]
struct Recorded {
    make: Option<IntentId>,
    register: Option<IntentId>,
    halted: bool,
    error: Option<JournalError>,
}

/// Commits the registrar's intents; the registrar stops when a commit fails.
struct JobObserver<'a> {
    st: &'a Station,
    job: JobId,
    events: Arc<dyn StationEvents>,
    key: Option<String>,
    user: String,
    exclude_count: usize,
    recorded: Mutex<Recorded>,
    /// The queue claim the job works under (the lease is checked before the POST).
    claim: Option<Claim>,
    margin: std::time::Duration,
}

impl JobObserver<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn halt(&self) -> String {
        self.lock().halted = true;
        "stopped at a test crash point".to_string()
    }

    fn failed(&self, e: JournalError) -> String {
        let text = e.to_string();
        self.lock().error = Some(e);
        text
    }
}

impl RegistrationObserver for JobObserver<'_> {
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let job = self.job;
            // The observer does not see Entra's opaque user handle; the intent names the
            // RP and how many credentials the user already has (the exclude list).
            let intent = Intent::MakeCredential { rp_id: ENTRA_RP_ID.to_string(), user_handle_sha256: String::new(), exclude_count: self.exclude_count };
            let id = self.st.setup.journal.run(move |j| j.record_intent(job, &intent)).await.map_err(|e| self.failed(e))?;
            self.lock().make = Some(id);
            if self.st.crash.reached(&CrashPoint::Intent("make_credential".into())) {
                return Err(self.halt());
            }
            Ok(())
        })
    }

    fn before_submit(&self, pending: &PendingRegistration) -> BoxFuture<'_, Result<(), String>> {
        let pending = pending.clone();
        Box::pin(async move {
            if self.st.crash.reached(&CrashPoint::Effect("make_credential".into())) {
                return Err(self.halt());
            }
            let job = self.job;
            let credential_id = b64::encode(&pending.credential_id);
            let make = self.lock().make.take();
            let intent = Intent::RegisterCredential {
                credential_id: credential_id.clone(),
                display_name: pending.display_name.clone(),
                aaguid: crate::station::models::aaguid_from_bytes(&pending.aaguid),
                challenge_sha256: hex::encode(pending.challenge_sha256),
                challenge_expires_at: pending.challenge_expires_at,
            };
            let update = JobUpdate { credential_id: Some(credential_id.clone()), display_name: Some(pending.display_name.clone()), ..Default::default() };
            let (claim, margin) = (self.claim.clone(), self.margin);
            let id = self
                .st
                .setup
                .journal
                .run(move |j| {
                    // No POST on a lease about to end (see `Run::intent`).
                    if let Some(c) = &claim {
                        j.require_lease(c, margin)?;
                    }
                    if let Some(m) = make {
                        j.resolve_intent(job, m, &IntentOutcome::Done(Some(serde_json::json!({ "credential_id": credential_id }))))?;
                    }
                    j.record_intent_with(job, &intent, &update)
                })
                .await
                .map_err(|e| self.failed(e))?;
            self.lock().register = Some(id);
            if self.st.crash.reached(&CrashPoint::Intent("register_credential".into())) {
                return Err(self.halt());
            }
            Ok(())
        })
    }

    fn progress(&self, step: &str) {
        self.events.event(&StationEvent { job: Some(self.job), key: self.key.clone(), user: Some(self.user.clone()), kind: EventKind::Note { text: step.to_string() } });
    }
}

/// Whether the failure leaves it open if Entra stored the registration.
fn uncertain(e: &CeremonyError) -> bool {
    match e {
        CeremonyError::Graph(g) => matches!(g.kind, GraphErrorKind::Transport | GraphErrorKind::ServiceUnavailable | GraphErrorKind::Throttled | GraphErrorKind::UnexpectedResponse | GraphErrorKind::Other),
        CeremonyError::Browser { .. } | CeremonyError::NotConfirmed(_) | CeremonyError::Cancelled | CeremonyError::Other(_) => true,
        _ => false,
    }
}

/// Worth another registration attempt on the same key right away: Entra (or the network
/// to it) failed in a way time or a fresh challenge fixes. A key that failed (pulled out,
/// not touched) is not retried here: the job ends and the batch gives the user another
/// attempt.
fn retry_in_place(f: &Failure) -> bool {
    f.retryable && f.kind == FailureKind::Entra
}

/// The reconciliation view of a Graph method.
pub(crate) fn summary(m: &Fido2Method) -> MethodSummary {
    MethodSummary { id: m.id.clone(), display_name: m.display_name.clone(), aaguid: m.aa_guid.clone(), created: m.created_date_time }
}

impl Run<'_> {
    /// prepared → registered, with up to [`super::JobSpec::retries`] extra attempts when
    /// Entra fails in a way another attempt can fix. The key keeps the PIN the station
    /// set; each attempt gets fresh creation options (and, on the browser path, a fresh
    /// TAP) and records its own intents, so the journal shows every attempt.
    pub(crate) async fn register(&mut self) -> Result<(), Stop> {
        let mut attempt: u32 = 1;
        loop {
            match self.register_attempt().await {
                Err(Stop::Fail(f)) if attempt <= self.spec.retries && retry_in_place(&f) => {
                    let wait = self.st.setup.options.retry_delay * 2u32.pow((attempt - 1).min(3));
                    self.warn(format!(
                        "registration attempt {attempt} of {} failed ({}); trying again in {} ms with fresh creation options and the PIN already on the key",
                        self.spec.retries + 1,
                        f.message,
                        wait.as_millis()
                    ));
                    // This attempt's intents end here (failed, with its error); the next
                    // attempt records its own.
                    self.close_open_intents(&f).await;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.cancel.cancelled() => return Err(Failure::cancelled(Step::Register).into()),
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn register_attempt(&mut self) -> Result<(), Stop> {
        let path = self.facts.path.unwrap_or(RegistrationPath::Graph);
        let tap = if path == RegistrationPath::Browser {
            let t = self.step_started(Step::RegistrationTap);
            let r = self.registration_tap().await;
            match &r {
                Ok(_) => self.step_finished(Step::RegistrationTap, t),
                Err(s) => self.step_failed(Step::RegistrationTap, t, s),
            }
            Some(r?)
        } else {
            None
        };
        let t = self.step_started(Step::Register);
        let r = self.run_registrar(path, tap).await;
        match &r {
            Ok(()) => self.step_finished(Step::Register, t),
            Err(s) => self.step_failed(Step::Register, t, s),
        }
        r
    }

    async fn registration_tap(&mut self) -> Result<crate::secret::SecretString, Stop> {
        let cfg = &self.st.setup.config.tap;
        let (lifetime, once) = (cfg.registration_lifetime_minutes, cfg.one_time);
        let id = self.intent(Intent::IssueTap { purpose: TapPurpose::Registration, lifetime_minutes: lifetime, one_time: once }, JobUpdate::default()).await?;
        let request = TapRequest { start: None, lifetime_minutes: Some(lifetime), usable_once: Some(once) };
        match self.st.setup.graph.create_tap(&self.user_ref(), &request).await {
            Ok(tap) => {
                self.effect_done("issue_tap")?;
                self.resolve(id, IntentOutcome::Done(Some(serde_json::json!({ "tap_id": tap.id })))).await?;
                tap.pass.ok_or_else(|| Failure::new(FailureKind::Entra, Step::RegistrationTap, "Graph created the TAP without returning it").into())
            }
            Err(e) => {
                let f = Failure::graph(Step::RegistrationTap, &e);
                self.resolve(id, IntentOutcome::Failed(JobError::new(f.kind, f.message.clone()))).await?;
                Err(f.into())
            }
        }
    }

    async fn run_registrar(&mut self, path: RegistrationPath, tap: Option<crate::secret::SecretString>) -> Result<(), Stop> {
        let st = self.st;
        let registrar = st.setup.registrars.get(path).ok_or_else(|| Failure::new(FailureKind::Config, Step::Register, format!("no {path} registrar")))?;
        let key = self.key()?;
        let job = self.job_id()?;
        let pin = self.facts.pin.clone().ok_or_else(|| Failure::new(FailureKind::Internal, Step::Register, "the key's PIN is not known"))?;
        let display_name = self.facts.display_name.clone().unwrap_or_else(|| "Security key".into());
        let evidence_dir = self.out.job_uid.as_ref().map(|u| st.setup.state_dir.join("evidence").join(u));
        let request = RegistrationRequest { user_id: self.user_ref(), upn: self.upn(), display_name, pin, tap, evidence_dir };
        let observer = JobObserver {
            st,
            job,
            events: self.events.clone(),
            key: Some(key.descriptor().path.clone()),
            user: self.upn(),
            exclude_count: self.facts.methods.len(),
            recorded: Mutex::new(Recorded::default()),
            claim: self.spec.claim.clone(),
            margin: self.st.setup.config.journal.lease() / 3,
        };
        let result = registrar.register(&key, &request, &observer, self.cancel.clone()).await;
        let rec = observer.recorded.into_inner().unwrap_or_else(|p| p.into_inner());
        for id in [rec.make, rec.register].into_iter().flatten() {
            if !self.facts.open.contains(&id) {
                self.facts.open.push(id);
            }
        }
        if rec.halted {
            return Err(Stop::Halt);
        }
        match result {
            Ok(reg) => {
                self.effect_done("register_credential")?;
                let method = reg.method_id.clone();
                let credential = b64::encode(&reg.credential_id);
                if let Some(m) = rec.make {
                    self.resolve(m, IntentOutcome::Done(Some(serde_json::json!({ "credential_id": credential })))).await?;
                }
                let update = JobUpdate { entra_method_id: Some(method.clone()), credential_id: Some(credential.clone()), ..Default::default() };
                let mut t = Transition::to(JobState::Registered).with_update(update);
                if let Some(r) = rec.register {
                    t = t.resolving(r, IntentOutcome::Done(Some(serde_json::json!({ "method_id": method }))));
                }
                self.out.method_id = Some(method.clone());
                self.out.credential_id = Some(credential);
                self.out.display_name = Some(reg.display_name.clone());
                self.facts.registered = Some(reg);
                let recorded = self.transition(t).await;
                if recorded.is_err() && self.lease_lost {
                    // Entra accepted a registration this station may no longer record:
                    // another station has taken the user over (and checked the user's
                    // methods before registering again). Take it back, so the user ends
                    // with the one registration the journal knows.
                    self.compensate_lost_registration(&method).await;
                }
                recorded
            }
            Err(e) => {
                if let Some(e) = rec.error {
                    return Err(match e {
                        JournalError::Unreachable { .. } | JournalError::Fenced(_) | JournalError::LeaseLost(_) => self.journal_stop(e),
                        e => Failure::new(FailureKind::Internal, Step::Register, format!("the journal could not record the next step: {e}")).into(),
                    });
                }
                let already = matches!(&e, CeremonyError::Key(KeyError::CredentialExcluded))
                    || matches!(&e, CeremonyError::Graph(g) if g.kind == GraphErrorKind::CredentialAlreadyRegistered);
                if already {
                    return Err(self.already_registered(&e).await);
                }
                // Cancelled with the POST (or the page's submit) possibly in flight: Entra
                // may still store it after this, so looking now proves nothing. The
                // intent stays open and the job is left for the next run, whose resume
                // reconciles it once the answer can no longer be on its way.
                if rec.register.is_some() && matches!(e, CeremonyError::Cancelled) {
                    return Err(Failure::cancelled(Step::Register).into());
                }
                if let Some(register) = rec.register
                    && uncertain(&e)
                {
                    return self.reconcile_uncertain(register, &e).await;
                }
                Err(Failure::ceremony(Step::Register, &e).into())
            }
        }
    }

    /// The key (or Entra) says this credential is already registered to the user:
    /// never register twice; find out which method it is and stop for an operator.
    async fn already_registered(&mut self, e: &CeremonyError) -> Stop {
        let st = self.st;
        let user = self.user_ref();
        let aaguid = self.out.key.aaguid.clone().unwrap_or_default();
        let methods = st.setup.graph.list_fido2_methods(&user).await.unwrap_or_default();
        let ids: Vec<String> = methods.iter().filter(|m| m.aa_guid.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&aaguid))).map(|m| m.id.clone()).collect();
        let known: Vec<(String, bool)> =
            st.setup.journal.run(move |j| ids.into_iter().map(|id| j.knows_method(&id).map(|k| (id, k))).collect::<Result<Vec<_>, _>>()).await.unwrap_or_default();
        let f = Failure::ceremony(Step::Register, e).next("this key already holds a passkey registered to the user; nothing was registered twice");
        match known.iter().find(|(_, k)| !k) {
            Some((id, _)) => {
                let name = methods.iter().find(|m| &m.id == id).and_then(|m| m.display_name.clone());
                Stop::Park(OperatorReason::UnknownMethodOnUser { method_id: id.clone(), display_name: name }, Some(f))
            }
            None => {
                let which = known.first().map(|(id, _)| format!(" (Entra method {id}, known to the journal)")).unwrap_or_default();
                Stop::Park(
                    OperatorReason::Other { message: format!("The key is already registered to this user{which}; its PIN was changed by this job. Give the user the new PIN, or reset the key and enroll it again.") },
                    Some(f),
                )
            }
        }
    }

    /// The POST's fate is unknown: look for it in Entra now.
    async fn reconcile_uncertain(&mut self, register: IntentId, e: &CeremonyError) -> Result<(), Stop> {
        let st = self.st;
        let job = self.job_id()?;
        let failure = Failure::ceremony(Step::Register, e);
        self.note("the registration's answer was lost: checking the user's methods in Entra");
        let intents = st.setup.journal.run(move |j| j.intents(job)).await?;
        let Some(record) = intents.into_iter().find(|i| i.id == register) else {
            return Err(failure.into());
        };
        let methods = match st.setup.graph.list_fido2_methods(&self.user_ref()).await {
            Ok(m) => m,
            Err(_) => return Err(Stop::Park(OperatorReason::Other { message: "The key may or may not have been registered (no answer from Entra, and the method list could not be read): check the user's security keys, then reset the key and enroll it again if needed.".into() }, Some(failure))),
        };
        let summaries: Vec<MethodSummary> = methods.iter().map(summary).collect();
        let ids: Vec<String> = summaries.iter().map(|m| m.id.clone()).collect();
        let known: Vec<String> = st.setup.journal.run(move |j| Ok(ids.into_iter().filter(|id| j.knows_method(id).unwrap_or(true)).collect::<Vec<_>>())).await?;
        let r = reconcile_registration(&record, &summaries, |id| known.iter().any(|k| k == id)).map_err(|m| Failure::new(FailureKind::Internal, Step::Register, m))?;
        match r.orphan {
            OrphanMatch::One(m) => {
                self.warn(format!("Entra's answer was lost, but the registration landed: adopted method {}", m.id));
                let update = JobUpdate { entra_method_id: Some(m.id.clone()), ..Default::default() };
                let t = Transition::to(JobState::Registered)
                    .with_update(update)
                    .resolving(register, IntentOutcome::Done(Some(serde_json::json!({ "method_id": m.id, "adopted": true }))));
                self.out.method_id = Some(m.id.clone());
                self.out.credential_id = match &record.intent {
                    Intent::RegisterCredential { credential_id, .. } => Some(credential_id.clone()),
                    _ => None,
                };
                self.facts.registered = Some(crate::ceremony::Registered {
                    method_id: m.id.clone(),
                    credential_id: self.out.credential_id.as_deref().and_then(|c| b64::decode(c).ok()).unwrap_or_default(),
                    aaguid: [0; 16],
                    display_name: m.display_name.clone().unwrap_or_default(),
                    created: m.created,
                    path: self.facts.path.unwrap_or(RegistrationPath::Graph),
                });
                self.transition(t).await
            }
            OrphanMatch::None => {
                self.resolve(register, IntentOutcome::Failed(JobError::new(failure.kind, failure.message.clone()))).await?;
                Err(failure.into())
            }
            OrphanMatch::Ambiguous(candidates) => Err(Stop::Park(OperatorReason::AmbiguousOrphan { candidates }, Some(failure))),
        }
    }
}

impl Run<'_> {
    /// Delete a method this job registered after its lease was lost (best effort; the
    /// new holder's reconciliation deletes an orphan it sees, and a 404 means it did).
    async fn compensate_lost_registration(&mut self, method: &str) {
        let user = self.user_ref();
        match self.st.setup.graph.delete_fido2_method(&user, method).await {
            Ok(()) => {
                self.warn(format!("another station took this user over while the key was being registered: the registration (Entra method {method}) was deleted again"));
                self.out.method_id = None;
            }
            Err(e) if e.status == Some(404) => self.out.method_id = None,
            Err(e) => self.warn(format!("another station took this user over while the key was being registered; deleting the registration (Entra method {method}) failed: {e} — delete it by hand")),
        }
    }
}
