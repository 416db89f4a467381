//! inspected → prepared: factory reset (per `reset.policy`, inside the power-up window,
//! or after the operator re-plugs the key), the PIN (random, chosen at the desk, or a
//! change of the PIN the user gave), sealed to the handover recipients in the same
//! commit as the `set_pin` intent, and the minimum PIN length on the key.
use super::events::{key_handle_options, EventKind, Step};
use super::failure::{Failure, Stop};
use super::run::Run;
use super::spec::{NewPinRequest, PinChoice};
use crate::key::ctap2::MinPinLength;
use crate::key::worker::{wait_for_replug, KeyHandle};
use crate::key::KeyError;
use crate::secret::SecretString;
use crate::station::handover::seal_pin;
use crate::station::journal::{FailureKind, Intent, IntentOutcome, JobError, JobUpdate, Transition};
use crate::station::pin::{check_user_pin, generate, PinSource};
use crate::station::state::JobState;
use std::sync::Arc;

/// How many times the desk may offer a PIN that breaks the rules before the job stops.
const DESK_PIN_ATTEMPTS: usize = 5;

/// The journal outcome of a key side effect that failed: a removed or silent key may or
/// may not have done it.
pub(crate) fn key_effect_outcome(e: &Failure, error: &KeyError) -> IntentOutcome {
    match error {
        KeyError::Removed | KeyError::Timeout(_) | KeyError::Transport(_) => {
            IntentOutcome::Abandoned(format!("the key stopped answering ({}); it may or may not have done it", e.message))
        }
        _ => IntentOutcome::Failed(JobError::new(e.kind, e.message.clone())),
    }
}

impl Run<'_> {
    pub(crate) async fn prepare(&mut self) -> Result<(), Stop> {
        if self.facts.reset {
            let t = self.step_started(Step::Reset);
            let r = self.reset().await;
            match &r {
                Ok(()) => self.step_finished(Step::Reset, t),
                Err(s) => self.step_failed(Step::Reset, t, s),
            }
            r?;
        }
        // A PIN given for the key means nothing once the key is blank.
        if !self.facts.info.as_ref().is_some_and(|i| i.pin_is_set()) {
            self.facts.current_pin = None;
            self.facts.keep_pin = false;
        }
        let step = if self.facts.current_pin.is_some() && !self.facts.keep_pin { Step::ChangePin } else { Step::SetPin };
        let t = self.step_started(step);
        let r = self.set_pin(step).await;
        match &r {
            Ok(()) => self.step_finished(step, t),
            Err(s) => self.step_failed(step, t, s),
        }
        r?;
        if let Some(min) = self.facts.pin_policy.set_min_length_on_key {
            let t = self.step_started(Step::MinPinLength);
            let r = self.min_pin_length(min).await;
            match &r {
                Ok(()) => self.step_finished(Step::MinPinLength, t),
                Err(s) => self.step_failed(Step::MinPinLength, t, s),
            }
            r?;
        }
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), Stop> {
        let intent = self.intent(Intent::ResetKey, JobUpdate::default()).await?;
        self.note("touch the key to confirm the reset");
        let key = self.key()?;
        let first = tokio::select! {
            r = key.reset() => r,
            _ = self.cancel.cancelled() => Err(KeyError::Cancelled),
        };
        let result = match first {
            Err(KeyError::ResetWindowPassed) => self.reset_after_replug(&key).await,
            other => other.map_err(|e| (Failure::key(Step::Reset, &e), e)),
        };
        match result {
            Ok(()) => {
                self.effect_done("reset_key")?;
                self.resolve(intent, IntentOutcome::Done(None)).await?;
                let key = self.key()?;
                let info = self.key_op(Step::Reset, key.get_info()).await?;
                self.facts.info = Some(info);
                Ok(())
            }
            Err((f, e)) => {
                let outcome = key_effect_outcome(&f, &e);
                self.resolve(intent, outcome).await?;
                Err(f.into())
            }
        }
    }

    /// The window has passed: ask for a re-plug, wait for the key, open it and reset it
    /// first thing.
    async fn reset_after_replug(&mut self, old: &Arc<KeyHandle>) -> Result<(), (Failure, KeyError)> {
        let st = self.st;
        let fail = |e: KeyError| (Failure::key(Step::Reset, &e), e);
        let Some(sources) = st.setup.sources.clone() else {
            let e = KeyError::ResetWindowPassed;
            return Err((Failure::key(Step::Reset, &e).next("unplug the key, plug it in again and run the enrollment again at once"), e));
        };
        let descriptor = old.descriptor().clone();
        let timeout = st.setup.options.replug_timeout;
        // The request goes out only once the watcher has looked (see `wait_for_replug`).
        let prompt = || {
            self.emit(EventKind::ReplugKey { reason: "the key's reset window (10 seconds after plugging in) has passed: unplug the key, plug it in again and touch it when it blinks".into() })
        };
        let arrived = tokio::select! {
            r = wait_for_replug(&sources, &descriptor, timeout, prompt) => r.map_err(fail)?,
            _ = self.cancel.cancelled() => return Err(fail(KeyError::Cancelled)),
        };
        let io = sources.open(&arrived).map_err(fail)?;
        let handle = KeyHandle::open(arrived.clone(), io, key_handle_options(self.events.clone(), st.setup.options.touch_timeout)).await.map_err(fail)?;
        let handle = Arc::new(handle);
        self.key = Some(Arc::clone(&handle));
        self.out.key.path = Some(arrived.path.clone());
        self.emit(EventKind::KeyReplugged { path: arrived.path.clone() });
        tokio::select! {
            r = handle.reset() => r.map_err(fail),
            _ = self.cancel.cancelled() => Err(fail(KeyError::Cancelled)),
        }
    }

    /// The new PIN: random, checked from the desk, or asked for.
    async fn choose_pin(&mut self) -> Result<SecretString, Stop> {
        let req = self.facts.requirements.clone().ok_or_else(|| Failure::new(FailureKind::Internal, Step::SetPin, "PIN requirements were not computed"))?;
        let source = self.facts.pin_source.unwrap_or(PinSource::Random);
        match (&self.spec.pin, source) {
            (PinChoice::Chosen(p), _) => Ok(p.clone()),
            (PinChoice::KeepCurrent, _) => Ok(self.facts.current_pin.clone().unwrap_or_else(|| SecretString::new(""))),
            (PinChoice::Random, _) | (PinChoice::Policy, PinSource::Random) => {
                generate(&req).map_err(|e| Failure::new(FailureKind::Internal, Step::SetPin, e.to_string()).into())
            }
            _ => {
                let prompt = self.spec.prompt.clone().ok_or_else(|| Failure::new(FailureKind::Config, Step::SetPin, "nobody can be asked for a PIN in this mode"))?;
                let mut problem = None;
                for _ in 0..DESK_PIN_ATTEMPTS {
                    self.check_cancel(Step::SetPin)?;
                    let ask = NewPinRequest { user: self.upn(), requirements: req.clone(), previous_problem: problem.take() };
                    let Some(pin) = prompt.new_pin(&ask).await else {
                        return Err(Failure::new(FailureKind::UserInput, Step::SetPin, "no PIN was chosen at the desk").next("enroll the key again when the user is ready").into());
                    };
                    match check_user_pin(&pin, &req) {
                        Ok(()) => return Ok(pin),
                        Err(r) => problem = Some(r.to_string()),
                    }
                }
                Err(Failure::new(FailureKind::UserInput, Step::SetPin, format!("no acceptable PIN after {DESK_PIN_ATTEMPTS} attempts ({})", problem.unwrap_or_default())).into())
            }
        }
    }

    async fn set_pin(&mut self, step: Step) -> Result<(), Stop> {
        let pin = self.choose_pin().await?;
        let source = self.facts.pin_source.unwrap_or(PinSource::Random);
        let key = self.key()?;
        if self.facts.keep_pin {
            // The user's own PIN stays; nothing is written to the key.
            self.facts.pin = Some(pin);
            return self.transition(Transition::to(JobState::Prepared).with_note("kept the PIN the user gave")).await;
        }
        let recipients = self.st.setup.config.handover_recipients().map_err(|m| Failure::new(FailureKind::Config, step, m))?;
        let sealed = if recipients.is_empty() {
            None
        } else {
            Some(seal_pin(&pin, &recipients).map_err(|e| Failure::new(FailureKind::Internal, step, format!("cannot seal the PIN for the help desk: {e}")))?)
        };
        let update = JobUpdate { sealed_pin: sealed.clone(), ..Default::default() };
        let change_from = self.facts.current_pin.clone();
        let (intent, kind) = match &change_from {
            Some(_) => (Intent::ChangePin, "change_pin"),
            None => (Intent::SetPin { length: pin.expose().chars().count(), source, sealed: sealed.is_some() }, "set_pin"),
        };
        let id = self.intent(intent, update).await?;
        self.facts.sealed = sealed;
        self.out.pin_sealed = self.facts.sealed.is_some();
        let result = match &change_from {
            Some(old) => key.change_pin(old, &pin).await,
            None => key.set_pin(&pin).await,
        };
        match result {
            Ok(()) => {
                self.facts.pin = Some(pin);
                self.facts.pin_on_key = true;
                self.effect_done(kind)?;
                self.transition(Transition::to(JobState::Prepared).resolving(id, IntentOutcome::Done(None))).await
            }
            Err(e) => {
                let mut f = Failure::key(step, &e);
                if matches!(e, KeyError::PinInvalid { .. } | KeyError::PinInvalidUnknownRetries) && change_from.is_some() {
                    f = f.next("the current PIN given for the key is wrong; nothing was changed");
                }
                if let KeyError::PinPolicyViolation(_) = e {
                    f = f.next("the key refused the PIN by its own policy; set pin.length / pin.alphabet to what the key accepts");
                }
                let outcome = key_effect_outcome(&f, &e);
                self.resolve(id, outcome).await?;
                Err(f.into())
            }
        }
    }

    async fn min_pin_length(&mut self, min: u32) -> Result<(), Stop> {
        let info = self.facts.info.clone().unwrap_or_default();
        if info.option("authnrCfg") != Some(true) || info.option("setMinPINLength") != Some(true) {
            self.warn(format!("the key cannot set a minimum PIN length (no CTAP 2.1 authenticatorConfig); pin.set_min_length_on_key = {min} was skipped"));
            return Ok(());
        }
        let key = self.key()?;
        let pin = self.facts.pin.clone();
        let id = self.intent(Intent::SetMinPinLength { min, force_change: false }, JobUpdate::default()).await?;
        let settings = MinPinLength { new_min_pin_length: Some(min.min(63) as u8), rp_ids: Vec::new(), force_change_pin: false };
        match key.set_min_pin_length(pin.as_ref(), settings).await {
            Ok(()) => {
                self.effect_done("set_min_pin_length")?;
                self.resolve(id, IntentOutcome::Done(None)).await
            }
            Err(e) => {
                let f = Failure::key(Step::MinPinLength, &e);
                self.resolve(id, key_effect_outcome(&f, &e)).await?;
                if matches!(e, KeyError::Removed | KeyError::Cancelled) {
                    return Err(f.into());
                }
                self.warn(format!("could not set the key's minimum PIN length to {min}: {}", f.message));
                Ok(())
            }
        }
    }
}
