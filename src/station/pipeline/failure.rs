//! How a step stops a job: [`Stop`] (fail, park, or the test halt) and [`Failure`]
//! (kind, operator message, next step). The orchestrator turns them into the job's
//! final state following the rule "`failed` before the key has the station's PIN,
//! `needs_operator` after".
use super::events::Step;
use super::outcome::OutcomeError;
use crate::ceremony::CeremonyError;
use crate::entra::graph::{GraphError, GraphErrorKind};
use crate::key::KeyError;
use crate::station::journal::{FailureKind, JournalError, OperatorReason};

/// Why a step failed, for the operator: the same record the job's outcome carries, so a
/// step's failure becomes the outcome's error without translation.
pub(crate) type Failure = OutcomeError;

impl OutcomeError {
    pub(crate) fn new(kind: FailureKind, step: Step, message: impl Into<String>) -> Failure {
        Failure { kind, message: message.into(), detail: None, next_step: None, step: Some(step), policy: kind == FailureKind::Policy, missing_component: false, retryable: false, station_wide: false }
    }

    pub(crate) fn next(mut self, next: impl Into<String>) -> Failure {
        self.next_step = Some(next.into());
        self
    }

    pub(crate) fn policy(step: Step, message: impl Into<String>, next: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Policy, step, message).next(next)
    }

    pub(crate) fn key(step: Step, e: &KeyError) -> Failure {
        let kind = if *e == KeyError::Cancelled { FailureKind::Cancelled } else { FailureKind::Key };
        let mut f = Failure::new(kind, step, e.to_string());
        // Worth another attempt (another key, or the same key re-plugged): the person or
        // the USB connection failed, not the key model.
        f.retryable = matches!(
            e,
            KeyError::Removed | KeyError::Timeout(_) | KeyError::UserActionTimeout | KeyError::Denied | KeyError::Busy | KeyError::ResetWindowPassed | KeyError::ReplugTimeout(_) | KeyError::Transport(_) | KeyError::PinAuthInvalid
        );
        f
    }

    pub(crate) fn graph(step: Step, e: &GraphError) -> Failure {
        let text = e.to_string();
        let (raw, hint) = match text.split_once("\nhint: ") {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (text, None),
        };
        // Refusals people meet at a desk (unknown user, policy, tenant settings): their
        // hint reads "what is wrong: what to do", so those words are the message and the
        // raw answer (HTTP status, Graph's code and message, request ids) is the detail
        // for the log and the journal. Other errors keep the service's text: they are
        // for IT staff, who need the code.
        let plain = matches!(
            e.kind,
            GraphErrorKind::UserNotFound
                | GraphErrorKind::UserOutsidePolicy
                | GraphErrorKind::TapOneTimeOnly
                | GraphErrorKind::SelfServiceSetupOff
                | GraphErrorKind::Fido2MethodDisabled
                | GraphErrorKind::AttestationRefused
                | GraphErrorKind::KeyRestricted
                | GraphErrorKind::ChallengeRejected
        );
        let (message, hint, detail) = match hint.as_deref().filter(|_| plain).and_then(|h| h.split_once(": ")) {
            Some((what, todo)) if !what.is_empty() => (what.to_string(), Some(todo.to_string()), Some(raw)),
            _ => (raw, hint, None),
        };
        let kind = if e.is_policy_refusal() {
            FailureKind::Policy
        } else if matches!(e.kind, GraphErrorKind::UserNotFound | GraphErrorKind::AmbiguousUser { .. }) {
            FailureKind::UserInput
        } else {
            FailureKind::Entra
        };
        let mut f = Failure::new(kind, step, message);
        f.next_step = hint;
        f.detail = detail;
        // A refused or expired challenge is fixed by fresh creation options.
        f.retryable = e.is_transient() || e.kind == GraphErrorKind::ChallengeRejected;
        // The station's own sign-in or permissions: every other user would fail the same way.
        f.station_wide = matches!(e.kind, GraphErrorKind::TokenAcquisition | GraphErrorKind::MissingPermission | GraphErrorKind::Unauthenticated);
        f
    }

    /// An internal failure (a bug) outside any step.
    pub(crate) fn internal(message: impl Into<String>) -> Failure {
        Failure { kind: FailureKind::Internal, message: message.into(), detail: None, next_step: None, step: None, policy: false, missing_component: false, retryable: false, station_wide: false }
    }

    pub(crate) fn journal(e: &JournalError) -> Failure {
        Failure { kind: FailureKind::Internal, message: e.to_string(), detail: None, next_step: None, step: None, policy: false, missing_component: false, retryable: false, station_wide: false }
    }

    pub(crate) fn cancelled(step: Step) -> Failure {
        Failure::new(FailureKind::Cancelled, step, "cancelled by the operator")
    }

    pub(crate) fn ceremony(step: Step, e: &CeremonyError) -> Failure {
        match e {
            CeremonyError::Key(k) => Failure::key(step, k),
            CeremonyError::Graph(g) => Failure::graph(step, g),
            CeremonyError::Browser { message, missing_component } => {
                let mut f = Failure::new(FailureKind::Entra, step, format!("browser: {message}"));
                f.missing_component = *missing_component;
                if *missing_component {
                    f.next_step = Some("install Chromium and chromedriver (Debian: apt-get install chromium chromium-driver), or register through Graph with --via graph".into());
                }
                f
            }
            CeremonyError::Page { code, message } => {
                let policy = matches!(code.as_str(), "KeyNotAllowed" | "MethodNotAllowed" | "MfaRequired" | "KeyLimitReached");
                let mut f = Failure::new(if policy { FailureKind::Policy } else { FailureKind::Entra }, step, format!("{message} ({code})"));
                f.policy = policy;
                f
            }
            CeremonyError::Policy(m) => Failure::new(FailureKind::Policy, step, m.clone()),
            CeremonyError::NotConfirmed(_) => Failure::new(FailureKind::Entra, step, e.to_string()).next("check the user's Security info for the key"),
            CeremonyError::Journal(m) => Failure::new(FailureKind::Internal, step, format!("the journal could not record the next step: {m}")),
            CeremonyError::Cancelled => Failure::cancelled(step),
            CeremonyError::Other(m) => Failure::new(FailureKind::Internal, step, m.clone()),
        }
    }

    /// Message plus next step, as stored in the journal's `error_message`.
    pub(crate) fn journal_text(&self) -> String {
        match &self.next_step {
            Some(n) => format!("{} — {n}", self.for_staff()),
            None => self.for_staff(),
        }
    }
}

/// How a step ended a job early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Something went wrong; the orchestrator fails or parks the job.
    Fail(Failure),
    /// A human must look at it, for this reason.
    Park(OperatorReason, Option<Failure>),
    /// The test crash point was reached: stop dead, write nothing more.
    Halt,
    /// Resume cannot go on now (no key, Entra unreachable): leave the job as it is, so
    /// that the next resume tries again.
    Leave(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Fail(f)
    }
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Stop {
        match &e {
            // Another station holds this user now, or the shared journal cannot be
            // reached: nothing more may be written (or done) for this job here. It stays
            // as it is; its new holder, or this station once the database is back,
            // continues it from its intents.
            JournalError::Fenced(_) | JournalError::LeaseLost(_) | JournalError::Unreachable { .. } => {
                let mut f = Failure::journal(&e);
                f.kind = FailureKind::Interrupted;
                f.next_step = Some(match e {
                    JournalError::Unreachable { .. } => "nothing was done without its record; the job continues once the journal database is reachable again".into(),
                    _ => "take the key out and set it aside: it may need a reset before it is used again".into(),
                });
                Stop::Leave(f)
            }
            JournalError::UserBusy { .. } => {
                let mut f = Failure::journal(&e);
                f.kind = FailureKind::UserInput;
                f.next_step = Some("nothing was changed; this user is being enrolled elsewhere: wait for that job, or close it (keystation jobs)".into());
                Stop::Fail(f)
            }
            _ => Stop::Fail(Failure::journal(&e)),
        }
    }
}
