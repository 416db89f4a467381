//! What a provisioning (or resume) call ends with: [`JobOutcome`].
use super::events::Step;
use crate::ceremony::RegistrationPath;
use crate::station::handover::HandoverSlip;
use crate::station::journal::{FailureKind, JobId, JobMode, OperatorReason};
use crate::station::pin::PinSource;
use crate::station::state::JobState;
use serde::Serialize;

/// How a caller should classify an outcome (the CLI maps it to an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// `done`, or `handed_over` waiting for the caller to finish it.
    Ok,
    /// No key, or the key went away before anything was recorded.
    NoKey,
    /// The key refused or failed.
    Key,
    /// Entra / Graph / sign-in failed.
    Entra,
    /// The tenant's policy forbids it.
    Policy,
    /// Bad configuration or input.
    Config,
    /// Parked for an operator (`needs_operator`).
    NeedsOperator,
    /// Cancelled by the operator.
    Cancelled,
    /// A system component is missing (browser, chromedriver).
    Environment,
    /// A bug or an unexpected local failure (journal, I/O).
    Internal,
}

/// Why a job did not finish well, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeError {
    /// Category (stored in the journal as `error_kind`).
    pub kind: FailureKind,
    /// What happened, in plain words for the person at the desk (never a secret, never
    /// a raw service answer: those are in `detail`).
    pub message: String,
    /// The service's own words (HTTP status, error code, request ids) for the log, the
    /// journal and support; not shown at the desk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What to do next.
    pub next_step: Option<String>,
    /// The step that failed, when one did.
    pub step: Option<Step>,
    /// The tenant's policy said no (exit code 6 rather than 5).
    pub policy: bool,
    /// A system component (browser, chromedriver) is missing.
    pub missing_component: bool,
    /// Worth another attempt as it is (another key, a re-plug, Graph later): the key was
    /// pulled or not touched, Graph was throttled or down. `false` for bad input,
    /// policy, configuration and key models that cannot work.
    pub retryable: bool,
    /// Every other user would fail the same way: the station's own sign-in or its app's
    /// permissions are wrong. Batch and kiosk stop taking keys instead of burning through
    /// the list; the exit code stays that of the failure (an Entra error is still 5).
    pub station_wide: bool,
}

impl OutcomeError {
    /// The message with the service's own words after it, for IT staff (doctor, the
    /// journal, logs): `message [detail]`.
    pub fn for_staff(&self) -> String {
        match &self.detail {
            Some(d) => format!("{} [{d}]", self.message),
            None => self.message.clone(),
        }
    }

    /// How to classify this error (exit codes); what [`JobOutcome::class`] says for a
    /// job that ended with it, and what a dry run's refusal exits with.
    pub fn class(&self) -> OutcomeClass {
        if self.missing_component {
            return OutcomeClass::Environment;
        }
        if self.policy {
            return OutcomeClass::Policy;
        }
        match self.kind {
            FailureKind::Key => OutcomeClass::Key,
            FailureKind::Entra => OutcomeClass::Entra,
            FailureKind::Policy => OutcomeClass::Policy,
            FailureKind::Config | FailureKind::UserInput => OutcomeClass::Config,
            FailureKind::Cancelled => OutcomeClass::Cancelled,
            FailureKind::Interrupted | FailureKind::Internal => OutcomeClass::Internal,
        }
    }
}

/// The user as resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    /// As the operator typed it.
    pub requested: String,
    /// UPN, once resolved.
    pub upn: Option<String>,
    /// Entra object id, once resolved.
    pub object_id: Option<String>,
    /// Display name, once resolved.
    pub display_name: Option<String>,
}

/// The key as identified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    /// Device path (changes after a re-plug).
    pub path: Option<String>,
    /// AAGUID, canonical form.
    pub aaguid: Option<String>,
    /// Vendor from the AAGUID table.
    pub vendor: Option<String>,
    /// Model name (AAGUID table, else the device's product name).
    pub model: Option<String>,
    /// Serial number when the key exposes one.
    pub serial: Option<String>,
    /// Firmware version as reported by getInfo.
    pub firmware: Option<String>,
}

/// Time spent in one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepTiming {
    /// The step.
    pub step: Step,
    /// Milliseconds.
    pub millis: u64,
}

/// The result of [`super::Station::provision`] or [`super::Station::resume`].
///
/// The handover slip (PIN, TAP) is in [`JobOutcome::slip`], outside serialisation: take
/// it with [`JobOutcome::take_slip`], render it once (`HandoverSlip::render` consumes it)
/// and show it; never log it.
#[derive(Debug, Serialize)]
pub struct JobOutcome {
    /// Journal row id (none when the job could not even be recorded).
    pub job: Option<JobId>,
    /// Journal UUID.
    pub job_uid: Option<String>,
    /// The interrupted job this one continued or retried.
    pub resumes_job: Option<JobId>,
    /// Mode.
    pub mode: JobMode,
    /// State when the call returned.
    pub state: JobState,
    /// User.
    pub user: UserSummary,
    /// Key.
    pub key: KeySummary,
    /// The fido2Method id in Entra.
    pub method_id: Option<String>,
    /// The credential id on the key (base64url).
    pub credential_id: Option<String>,
    /// The key's name in Entra.
    pub display_name: Option<String>,
    /// How the key was registered.
    pub registration_path: Option<RegistrationPath>,
    /// Where the PIN came from.
    pub pin_source: Option<PinSource>,
    /// A sealed (age) copy of the PIN is in the journal.
    pub pin_sealed: bool,
    /// Why it failed, when it did.
    pub error: Option<OutcomeError>,
    /// Why it needs an operator, when parked.
    pub operator_reason: Option<OperatorReason>,
    /// The operator reason's message.
    pub operator_message: Option<String>,
    /// Things the operator should know.
    pub warnings: Vec<String>,
    /// Time per step, in order.
    pub timings: Vec<StepTiming>,
    /// Wall time of the whole call, in milliseconds.
    pub total_millis: u64,
    /// The handover slip, to be shown once (not serialised).
    #[serde(skip)]
    pub slip: Option<HandoverSlip>,
}

impl JobOutcome {
    /// An empty outcome in `state` (the pipeline fills it in as it learns).
    pub fn new(mode: JobMode, requested_user: &str, state: JobState) -> JobOutcome {
        JobOutcome {
            job: None,
            job_uid: None,
            resumes_job: None,
            mode,
            state,
            user: UserSummary { requested: requested_user.to_string(), ..Default::default() },
            key: KeySummary::default(),
            method_id: None,
            credential_id: None,
            display_name: None,
            registration_path: None,
            pin_source: None,
            pin_sealed: false,
            error: None,
            operator_reason: None,
            operator_message: None,
            warnings: Vec::new(),
            timings: Vec::new(),
            total_millis: 0,
            slip: None,
        }
    }

    /// Take the handover slip (once).
    pub fn take_slip(&mut self) -> Option<HandoverSlip> {
        self.slip.take()
    }

    /// `done`, or `handed_over` waiting for [`super::Station::finish`].
    pub fn is_success(&self) -> bool {
        matches!(self.state, JobState::Done | JobState::HandedOver) && self.error.is_none()
    }

    /// How to classify the outcome (exit codes).
    pub fn class(&self) -> OutcomeClass {
        if self.error.as_ref().is_some_and(|e| e.kind == FailureKind::Cancelled) {
            return OutcomeClass::Cancelled;
        }
        if self.state == JobState::NeedsOperator {
            return OutcomeClass::NeedsOperator;
        }
        match &self.error {
            Some(e) => e.class(),
            None if self.is_success() => OutcomeClass::Ok,
            None => OutcomeClass::Internal,
        }
    }

    /// Milliseconds spent in `step` (summed when it ran more than once).
    pub fn millis_in(&self, step: Step) -> u64 {
        self.timings.iter().filter(|t| t.step == step).map(|t| t.millis).sum()
    }
}
