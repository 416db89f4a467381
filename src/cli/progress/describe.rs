//! One line of operator text per event (plain-line output, and the log lines printed
//! above the progress bars). `None` for events too small to be worth a line.
use crate::station::batch::{BatchEvent, BatchNotice, RowStatus};
use crate::station::pipeline::{EventKind, StationEvent};

/// Which events a line is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every step (plain output).
    Steps,
    /// Only what the operator must act on or should know (above progress bars, where the
    /// per-key bars show the steps).
    Notable,
}

/// The line for `event`, or `None`.
pub fn describe(event: &BatchEvent, detail: Detail) -> Option<String> {
    match event {
        BatchEvent::Batch(n) => describe_notice(n),
        BatchEvent::Job(e) => describe_job(e, detail),
    }
}

fn who(e: &StationEvent) -> String {
    match (&e.key, &e.user) {
        (Some(k), Some(u)) => format!("[{k}] {u}:"),
        (Some(k), None) => format!("[{k}]"),
        (None, Some(u)) => format!("{u}:"),
        (None, None) => String::new(),
    }
}

fn describe_job(e: &StationEvent, detail: Detail) -> Option<String> {
    let w = who(e);
    match &e.kind {
        EventKind::StepStarted { step } if detail == Detail::Steps => Some(format!("{w} {}", step.describe())),
        EventKind::Note { text } if detail == Detail::Steps => Some(format!("{w}   {text}")),
        EventKind::StepFailed { step, message } => Some(format!("{w} {} failed: {message}", step.describe())),
        EventKind::TouchKey => Some(format!("{w} touch the key now")),
        EventKind::ReplugKey { reason } => Some(format!("{w} unplug the key and plug it in again: {reason}")),
        EventKind::KeyReplugged { path } => Some(format!("{w} the key is back (now {path})")),
        EventKind::Warning { text } => Some(format!("{w} warning: {text}")),
        _ => None,
    }
}

fn describe_notice(n: &BatchNotice) -> Option<String> {
    Some(match n {
        BatchNotice::BatchStarted { batch_id, file, users, to_do, already_done, resuming, bad_rows, concurrency } => {
            let mut s = format!("batch {batch_id} ({file}): {users} user(s), {to_do} to provision");
            if *already_done > 0 {
                s.push_str(&format!(", {already_done} already done"));
            }
            if *resuming > 0 {
                s.push_str(&format!(", {resuming} to resume"));
            }
            if *bad_rows > 0 {
                s.push_str(&format!(", {bad_rows} bad row(s)"));
            }
            s.push_str(&format!("; up to {concurrency} key(s) at once"));
            if *to_do > 0 {
                s.push_str(" — plug blank keys into the hub");
            }
            s
        }
        BatchNotice::RowRejected { line, message, .. } => format!("line {line}: {message}"),
        BatchNotice::RowSkipped { line, upn, status, reason } => match status {
            RowStatus::NeedsOperator => format!("line {line}: {upn} still needs an operator: {reason}"),
            _ => format!("line {line}: {upn} skipped: {reason}"),
        },
        BatchNotice::KeyArrived { key, serial } => match serial {
            Some(s) => format!("[{key}] key plugged in (serial {s})"),
            None => format!("[{key}] key plugged in"),
        },
        BatchNotice::KeyWaiting { key, reason } => format!("[{key}] waiting: {reason}"),
        BatchNotice::KeyRefused { key, reason } => format!("[{key}] not used: {reason}"),
        BatchNotice::KeyRemoved { key } => format!("[{key}] key taken out"),
        BatchNotice::UserAssigned { key, line, upn, attempt, resumes } => {
            let mut s = format!("[{key}] {upn} (line {line})");
            if *attempt > 1 {
                s.push_str(&format!(", attempt {attempt}"));
            }
            if let Some(j) = resumes {
                s.push_str(&format!(", resuming job #{j}"));
            }
            s
        }
        BatchNotice::UserFinished { key, upn, state, method_id, message, will_retry, millis, .. } => {
            match (state, message) {
                (crate::station::JobState::Done | crate::station::JobState::HandedOver, None) => {
                    format!("[{key}] {upn}: done in {} (method {})", duration(*millis), method_id.as_deref().unwrap_or("?"))
                }
                (_, m) => {
                    let m = m.as_deref().unwrap_or("failed");
                    if *will_retry {
                        format!("[{key}] {upn}: {m} — the user goes back to the queue for another key")
                    } else {
                        format!("[{key}] {upn}: {} — {m}", state.as_str().replace('_', " "))
                    }
                }
            }
        }
        BatchNotice::TakeKeyOut { key, upn, ok } => {
            if *ok {
                format!("[{key}] remove the key ({upn} is done) and plug in the next blank one")
            } else {
                format!("[{key}] remove the key ({upn} did not finish) and set it aside")
            }
        }
        BatchNotice::OutOfKeys { pending } => format!("no unused key is left; {pending} user(s) not started (re-run the batch with more keys)"),
        BatchNotice::Stopping { pending, reason } => {
            format!("stopping ({reason}): running keys finish, {pending} user(s) will not be started (Ctrl-C cancels the running keys)")
        }
        BatchNotice::Queue { queue, message, .. } => format!("queue {queue}: {message}"),
        BatchNotice::BatchFinished { .. } => return None,
    })
}

/// "850 ms", "2.4 s".
pub fn duration(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis} ms")
    } else {
        format!("{:.1} s", millis as f64 / 1000.0)
    }
}
