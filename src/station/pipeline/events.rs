//! Progress reports from the pipeline to whoever shows them (CLI lines, batch progress
//! bars, the kiosk screen). Events never carry a PIN, a TAP or a token.
use crate::key::worker::HandleOptions;
use crate::key::KeyDescriptor;
use crate::station::journal::JobId;
use crate::station::state::JobState;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// A step of the pipeline, for progress and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// getInfo, user look-up, policy checks, the user's methods.
    Inspect,
    /// Factory reset (needs a touch within seconds of plugging the key in).
    Reset,
    /// setPIN on a key without a PIN.
    SetPin,
    /// changePIN on a key whose current PIN the user gave.
    ChangePin,
    /// authenticatorConfig setMinPINLength.
    MinPinLength,
    /// The TAP the browser path signs in with.
    RegistrationTap,
    /// creationOptions / makeCredential / POST (or the browser ceremony).
    Register,
    /// Reading the user's methods back.
    Verify,
    /// authenticatorConfig forcePINChange.
    ForcePinChange,
    /// The TAP printed on the slip.
    HandoverTap,
    /// Preparing the handover slip.
    Handover,
    /// Resume: reconciling an interrupted job with the key and Entra.
    Reconcile,
    /// Waiting for the key to leave the desk.
    Finish,
}

impl Step {
    /// Stable name (JSON, logs, bench output).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Inspect => "inspect",
            Step::Reset => "reset",
            Step::SetPin => "set_pin",
            Step::ChangePin => "change_pin",
            Step::MinPinLength => "min_pin_length",
            Step::RegistrationTap => "registration_tap",
            Step::Register => "register",
            Step::Verify => "verify",
            Step::ForcePinChange => "force_pin_change",
            Step::HandoverTap => "handover_tap",
            Step::Handover => "handover",
            Step::Reconcile => "reconcile",
            Step::Finish => "finish",
        }
    }

    /// What the step does, for the operator ("resetting the key").
    pub fn describe(self) -> &'static str {
        match self {
            Step::Inspect => "checking the key, the user and the tenant's policy",
            Step::Reset => "resetting the key",
            Step::SetPin => "setting the PIN",
            Step::ChangePin => "changing the PIN",
            Step::MinPinLength => "setting the key's minimum PIN length",
            Step::RegistrationTap => "issuing a Temporary Access Pass for the registration",
            Step::Register => "registering the key in Entra",
            Step::Verify => "checking that Entra lists the key",
            Step::ForcePinChange => "making the key ask for a new PIN on first use",
            Step::HandoverTap => "issuing a Temporary Access Pass for the first sign-in",
            Step::Handover => "preparing the handover",
            Step::Reconcile => "reconciling an interrupted job",
            Step::Finish => "waiting for the key to be removed",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A job was recorded (`arrived`).
    JobStarted {
        /// The job it resumes, if any.
        resumes: Option<JobId>,
    },
    /// The job's state changed (committed to the journal).
    StateReached {
        /// New state.
        state: JobState,
    },
    /// A step begins (emitted before its side effect starts).
    StepStarted {
        /// Which.
        step: Step,
    },
    /// A step ended well.
    StepFinished {
        /// Which.
        step: Step,
        /// How long it took.
        #[serde(serialize_with = "millis")]
        elapsed: Duration,
    },
    /// A step failed (the job's outcome says what happens next).
    StepFailed {
        /// Which.
        step: Step,
        /// Operator message.
        message: String,
    },
    /// The key is waiting for a touch.
    TouchKey,
    /// The operator must unplug the key and plug it in again (reset window passed).
    ReplugKey {
        /// Why, in words.
        reason: String,
    },
    /// The key came back after a re-plug.
    KeyReplugged {
        /// Its new path.
        path: String,
    },
    /// The operator may remove the key now.
    RemoveKey,
    /// A progress note ("asking Graph for creation options").
    Note {
        /// The note.
        text: String,
    },
    /// Something the operator should know that does not stop the job.
    Warning {
        /// The warning.
        text: String,
    },
    /// The job ended in this state (also `handed_over` when the caller finishes it).
    JobEnded {
        /// Final state of this call.
        state: JobState,
    },
}

/// One event about one key/job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationEvent {
    /// The job, once recorded.
    pub job: Option<JobId>,
    /// The key's path, when a key is involved.
    pub key: Option<String>,
    /// The user as given or resolved (UPN).
    pub user: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Receives events. Called inline from the pipeline (and, for [`EventKind::TouchKey`],
/// from the key's worker thread): keep it quick and never block on the pipeline.
pub trait StationEvents: Send + Sync {
    /// One event.
    fn event(&self, e: &StationEvent);
}

/// Discards every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl StationEvents for NoEvents {
    fn event(&self, _e: &StationEvent) {}
}

impl<F: Fn(&StationEvent) + Send + Sync> StationEvents for F {
    fn event(&self, e: &StationEvent) {
        self(e)
    }
}

/// Key handle options whose "touch the key" prompt becomes an [`EventKind::TouchKey`]
/// event. Open keys you pass to the pipeline with these (the pipeline uses them itself
/// when it re-opens a key after a re-plug), so the operator is told when to touch.
pub fn key_handle_options(events: Arc<dyn StationEvents>, touch_timeout: Duration) -> HandleOptions {
    HandleOptions {
        touch_timeout,
        on_touch: Some(Arc::new(move |d: &KeyDescriptor| {
            events.event(&StationEvent { job: None, key: Some(d.path.clone()), user: None, kind: EventKind::TouchKey })
        })),
        ..HandleOptions::default()
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
