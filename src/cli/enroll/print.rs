//! What `keystation enroll` shows: one line per step on standard error while the job
//! runs, then the result (and the handover slip, once) on standard output, or the
//! outcome as JSON.
use crate::cli::{CliContext, CliError, Exit};
use crate::station::pipeline::{EventKind, JobOutcome, StationEvent, StationEvents};
use crate::station::state::JobState;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Prints pipeline events for an operator (standard error).
pub struct StepPrinter {
    quiet_notes: bool,
    last_touch: Mutex<Option<std::time::Instant>>,
}

impl StepPrinter {
    /// `quiet_notes`: leave out progress notes (with `--json`).
    pub fn new(quiet_notes: bool) -> StepPrinter {
        StepPrinter { quiet_notes, last_touch: Mutex::new(None) }
    }
}

impl StationEvents for StepPrinter {
    fn event(&self, e: &StationEvent) {
        match &e.kind {
            EventKind::JobStarted { resumes: Some(old) } => errln!("Job {} started (it resumes job {old}).", e.job.map(|j| j.to_string()).unwrap_or_default()),
            EventKind::JobStarted { resumes: None } => errln!("Job {} started.", e.job.map(|j| j.to_string()).unwrap_or_default()),
            EventKind::StepStarted { step } => errln!("  … {}", step.describe()),
            EventKind::StepFinished { step, elapsed } => errln!("  ✓ {} ({} ms)", step.as_str(), elapsed.as_millis()),
            EventKind::StepFailed { step, message } => errln!("  ✗ {}: {message}", step.as_str()),
            EventKind::TouchKey => {
                // One prompt per operation is enough, even if several calls ask.
                let mut last = self.last_touch.lock().unwrap_or_else(|p| p.into_inner());
                if last.is_none_or(|t| t.elapsed().as_secs() >= 2) {
                    errln!("  >>> Touch the key now ({}). <<<", e.key.as_deref().unwrap_or("the key"));
                }
                *last = Some(std::time::Instant::now());
            }
            EventKind::ReplugKey { reason } => errln!("  >>> {reason} <<<"),
            EventKind::KeyReplugged { path } => errln!("  The key is back ({path})."),
            EventKind::RemoveKey => errln!("  You may remove the key now."),
            EventKind::Warning { text } => errln!("  warning: {text}"),
            EventKind::Note { text } if !self.quiet_notes => errln!("    {text}"),
            EventKind::Note { .. } | EventKind::StateReached { .. } | EventKind::JobEnded { .. } => {}
        }
    }
}

/// The human summary of an outcome (standard output for success, standard error else),
/// then the slip, once. Returns the exit code.
pub fn print_human(outcome: &mut JobOutcome) -> Exit {
    let exit: Exit = outcome.class().into();
    let job = outcome.job.map(|j| format!("job {j}")).unwrap_or_else(|| "no job recorded".into());
    let user = outcome.user.upn.clone().unwrap_or_else(|| outcome.user.requested.clone());
    match outcome.state {
        JobState::Done | JobState::HandedOver if outcome.error.is_none() => {
            outln!(
                "Enrolled {user}: \"{}\" is registered in Entra (method {}, {job}).",
                outcome.display_name.as_deref().unwrap_or("security key"),
                outcome.method_id.as_deref().unwrap_or("-")
            );
        }
        JobState::NeedsOperator => {
            errln!("Needs an operator ({job}): {}", outcome.operator_message.as_deref().unwrap_or("see the report"));
            if let Some(e) = &outcome.error {
                errln!("  Cause: {}", e.message);
            }
            if let Some(j) = outcome.job {
                errln!("  What to do, with the commands: keystation jobs show {}", j.0);
            }
        }
        _ => {
            if let Some(e) = &outcome.error {
                errln!("Not enrolled ({job}, state {}): {}", outcome.state, e.message);
                if let Some(n) = &e.next_step {
                    errln!("  What to do: {n}");
                }
            }
        }
    }
    for w in &outcome.warnings {
        errln!("  warning: {w}");
    }
    if let Some(slip) = outcome.take_slip() {
        let text = slip.render();
        crate::cli::progress::out_line(text.expose());
    }
    exit
}

/// The outcome as the `--json` result (docs/json.md); a failed job is the error
/// envelope, with the outcome as its `result`. The slip is for people: it goes to the
/// terminal (standard error) when there is one, and into the JSON only with
/// `--show-pin-in-json`.
pub fn print_json(ctx: &CliContext, outcome: &mut JobOutcome, show_pin: bool) -> Result<Exit, CliError> {
    let exit: Exit = outcome.class().into();
    let mut v = serde_json::to_value(&*outcome).map_err(|e| CliError::failure(format!("cannot encode the outcome: {e}")))?;
    v["exit_code"] = serde_json::json!(exit as u8);
    let mut shown = false;
    if let Some(slip) = outcome.take_slip() {
        if show_pin {
            v["handover"] = serde_json::json!({
                "pin": slip.pin.as_ref().map(|p| p.expose().to_string()),
                "tap": slip.tap.as_ref().map(|t| t.pass.expose().to_string()),
                "tap_valid_until": slip.tap.as_ref().map(|t| t.valid_until),
                "force_change": slip.force_change,
            });
            shown = true;
        } else if std::io::stderr().is_terminal() {
            crate::cli::progress::err_line(slip.render().expose());
            shown = true;
        } else {
            errln!("warning: the handover slip was not shown: standard error is not a terminal and --show-pin-in-json was not given");
        }
    }
    v["slip_shown"] = serde_json::json!(shown);
    ctx.print_json(&v)?;
    if exit == Exit::Ok {
        return Ok(exit);
    }
    let (message, next_step) = match (&outcome.error, &outcome.operator_message) {
        (_, Some(m)) if outcome.state == JobState::NeedsOperator => (m.clone(), Some("keystation report --state needs-operator lists the job".to_string())),
        (Some(e), _) => (e.message.clone(), e.next_step.clone()),
        (None, _) => (format!("the job ended in state {}", outcome.state), None),
    };
    Err(CliError { code: exit, message, next_step })
}
