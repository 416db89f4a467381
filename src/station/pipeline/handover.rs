//! registered → verified → handed_over → done: read the registration back from Entra,
//! make the key ask for a new PIN on first use (only now: before registration the key
//! would refuse makeCredential), issue the handover TAP, prepare the slip.
//!
//! Once the key is registered, the PIN lives only in this process (plus the sealed
//! copy): these steps therefore degrade instead of failing. A forced PIN change or a
//! handover TAP that cannot be made becomes a warning, and the operator's cancel is not
//! honoured until the slip is ready (a few seconds, no touch needed), so that the PIN
//! is never thrown away after Entra accepted the key.
use super::events::{EventKind, Step};
use super::failure::{Failure, Stop};
use super::run::Run;
use super::spec::FinishWhen;
use crate::entra::graph::TapRequest;
use crate::station::handover::{HandoverSlip, HandoverTap};
use crate::station::journal::{FailureKind, Intent, IntentOutcome, JobError, JobUpdate, OperatorReason, TapPurpose, Transition};
use crate::station::pin::PinSource;
use crate::station::state::JobState;
use std::time::{Duration, Instant};

impl Run<'_> {
    pub(crate) async fn verify(&mut self) -> Result<(), Stop> {
        let t = self.step_started(Step::Verify);
        let r = self.verify_inner().await;
        match &r {
            Ok(()) => self.step_finished(Step::Verify, t),
            Err(s) => self.step_failed(Step::Verify, t, s),
        }
        r
    }

    async fn verify_inner(&mut self) -> Result<(), Stop> {
        let st = self.st;
        let method = self.out.method_id.clone().ok_or_else(|| Failure::new(FailureKind::Internal, Step::Verify, "no method id to verify"))?;
        let deadline = Instant::now() + st.setup.options.verify_timeout;
        let mut wait = Duration::from_millis(500);
        loop {
            let last_error = match st.setup.graph.list_fido2_methods(&self.user_ref()).await {
                Ok(methods) => match methods.iter().find(|m| m.id == method) {
                    Some(m) => {
                        if let (Some(want), Some(got)) = (&self.out.key.aaguid, &m.aa_guid)
                            && !want.eq_ignore_ascii_case(got)
                        {
                            self.warn(format!("Entra lists method {method} with AAGUID {got}, but the key reports {want}"));
                        }
                        if let (Some(want), Some(got)) = (&self.out.display_name, &m.display_name)
                            && want != got
                        {
                            self.warn(format!("Entra named the key {got:?} instead of {want:?}"));
                            self.out.display_name = Some(got.clone());
                        }
                        return self.transition(Transition::to(JobState::Verified)).await;
                    }
                    None => format!("Entra does not list method {method} yet"),
                },
                Err(e) => Failure::graph(Step::Verify, &e).message,
            };
            if Instant::now() + wait > deadline {
                let message = format!(
                    "The key was registered (Entra method {method}) but could not be confirmed within {} s ({last_error}): check the user's security keys; if the method is missing, reset the key and enroll it again.",
                    st.setup.options.verify_timeout.as_secs()
                );
                return Err(Stop::Park(OperatorReason::Other { message: message.clone() }, Some(Failure::new(FailureKind::Entra, Step::Verify, message))));
            }
            self.note(format!("{last_error}; checking again in {} ms", wait.as_millis()));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(4));
        }
    }

    pub(crate) async fn hand_over(&mut self) -> Result<(), Stop> {
        let t = self.step_started(Step::Handover);
        let r = self.hand_over_inner().await;
        match &r {
            Ok(()) => self.step_finished(Step::Handover, t),
            Err(s) => self.step_failed(Step::Handover, t, s),
        }
        r
    }

    async fn hand_over_inner(&mut self) -> Result<(), Stop> {
        let st = self.st;
        let cfg = &st.setup.config;
        let random = self.facts.pin_source == Some(PinSource::Random) && !self.facts.keep_pin;

        // Forced PIN change: for PINs the user did not choose.
        if self.facts.pin_policy.force_change && random {
            let t = self.step_started(Step::ForcePinChange);
            self.force_pin_change().await?;
            self.step_finished(Step::ForcePinChange, t);
        }

        // Handover TAP.
        if cfg.tap.handover {
            let t = self.step_started(Step::HandoverTap);
            self.handover_tap().await?;
            self.step_finished(Step::HandoverTap, t);
        }

        // The slip.
        let show_pin = random && cfg.handover.show_once;
        if random && !cfg.handover.show_once {
            self.warn("handover.show_once is off: the PIN is not shown; the help desk opens the sealed copy (age -d) and gives it to the user");
        }
        let id = self.intent(Intent::ShowPin, JobUpdate::default()).await?;
        let slip = HandoverSlip {
            user: self.upn(),
            key_model: self.facts.model.as_ref().map(|m| m.name.clone()).or_else(|| self.out.key.model.clone()).unwrap_or_else(|| "Security key".into()),
            key_serial: self.out.key.serial.clone(),
            display_name: self.out.display_name.clone(),
            pin: if show_pin { self.facts.pin.clone() } else { None },
            force_change: self.facts.force_change_set,
            tap: self.facts.handover_tap.take(),
            sealed_to: if self.facts.sealed.is_some() { cfg.handover.recipients.len() } else { 0 },
        };
        let has_something = slip.pin.is_some() || slip.tap.is_some() || !random;
        let mut handed_over = Transition::to(JobState::HandedOver).resolving(id, IntentOutcome::Done(None));
        if self.spec.finish == FinishWhen::Caller {
            // The job rests in `handed_over` until the key leaves the desk: the slip was
            // shown, so that must survive a power cut (else the resume rules would park it).
            handed_over = handed_over.durable();
        }
        self.transition(handed_over).await?;
        if has_something {
            self.out.slip = Some(slip);
        }
        // The PIN now belongs to the user (and the slip): forget it here.
        self.facts.pin = None;
        if self.spec.finish == FinishWhen::Immediately {
            self.emit(EventKind::RemoveKey);
            self.transition(Transition::to(JobState::Done)).await?;
        }
        Ok(())
    }

    async fn force_pin_change(&mut self) -> Result<(), Stop> {
        let info = self.facts.info.clone().unwrap_or_default();
        if info.option("authnrCfg") != Some(true) || info.option("setMinPINLength") != Some(true) {
            self.warn("the key cannot be told to ask for a new PIN on first use (no CTAP 2.1 authenticatorConfig); the user keeps the PIN on the slip");
            return Ok(());
        }
        let (Ok(key), Some(pin)) = (self.key(), self.facts.pin.clone()) else {
            self.warn("the forced PIN change was skipped: the key or its PIN is not at hand");
            return Ok(());
        };
        let id = self.intent(Intent::ForcePinChange, JobUpdate::default()).await?;
        match key.force_pin_change(&pin).await {
            Ok(()) => {
                self.effect_done("force_pin_change")?;
                self.resolve(id, IntentOutcome::Done(None)).await?;
                self.facts.force_change_set = true;
            }
            Err(e) => {
                let f = Failure::key(Step::ForcePinChange, &e);
                self.resolve(id, super::prepare::key_effect_outcome(&f, &e)).await?;
                self.warn(format!("the key could not be told to ask for a new PIN on first use ({}); the user keeps the PIN on the slip", f.message));
            }
        }
        Ok(())
    }

    async fn handover_tap(&mut self) -> Result<(), Stop> {
        let cfg = &self.st.setup.config.tap;
        let (lifetime, once) = (cfg.lifetime_minutes, cfg.one_time);
        let id = self.intent(Intent::IssueTap { purpose: TapPurpose::Handover, lifetime_minutes: lifetime, one_time: once }, JobUpdate::default()).await?;
        let request = TapRequest { start: None, lifetime_minutes: Some(lifetime), usable_once: Some(once) };
        match self.st.setup.graph.create_tap(&self.user_ref(), &request).await {
            Ok(tap) => {
                self.effect_done("issue_tap")?;
                self.resolve(id, IntentOutcome::Done(Some(serde_json::json!({ "tap_id": tap.id })))).await?;
                let valid_until = tap.expires_at().unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::minutes(lifetime as i64));
                if let Some(pass) = tap.pass {
                    self.facts.handover_tap = Some(HandoverTap { pass, valid_until, one_time: tap.usable_once.unwrap_or(once) });
                }
            }
            Err(e) => {
                let f = Failure::graph(Step::HandoverTap, &e);
                self.resolve(id, IntentOutcome::Failed(JobError::new(f.kind, f.message.clone()))).await?;
                self.warn(format!("no handover TAP: {}", f.message));
            }
        }
        Ok(())
    }
}
