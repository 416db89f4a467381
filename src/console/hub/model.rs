//! The hub as the page draws it: one tile per key slot and the batch's figures, kept
//! up to date from the batch's events ([`BatchEvent`]).
//!
//! A **slot** is a place on the screen for one key: a key that is plugged in takes the
//! first free slot and keeps it until it is taken out (a re-plug during a reset keeps
//! the slot), so a tile stays where the operator last saw that key. A tile shows the
//! key, its user, the running step, "touch now" while the key waits for a finger, and
//! the result with what to do (take it out; put it with the failed keys).
use crate::console::live::now_ms;
use crate::station::batch::{BatchEvent, BatchNotice, BatchReport, RowStatus};
use crate::station::pipeline::{EventKind, StationEvent};
use crate::station::state::JobState;
use serde::Serialize;

/// What a slot is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No key.
    Empty,
    /// A key waits for a user (or a free slot).
    Waiting,
    /// A job runs.
    Working,
    /// The key waits for a touch.
    Touch,
    /// The key must be unplugged and plugged in again.
    Replug,
    /// The key is ready; take it out.
    Done,
    /// The job failed (or needs an operator); take the key out and set it aside.
    Failed,
    /// The key will not be used (already enrolled, cannot be opened).
    Refused,
}

/// One slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tile {
    /// 1-based slot number.
    pub slot: usize,
    /// What it is doing.
    pub phase: Phase,
    /// The key's path.
    pub key: Option<String>,
    /// The key's serial.
    pub serial: Option<String>,
    /// The user of the job on it.
    pub user: Option<String>,
    /// The user's CSV line.
    pub line: Option<u64>,
    /// Attempt number for the user.
    pub attempt: Option<u32>,
    /// The step running, in words.
    pub step: Option<String>,
    /// What happened or what to do (result, refusal, wait reason).
    pub message: Option<String>,
    /// The job's final state.
    pub state: Option<JobState>,
    /// The user goes back to the queue for another key.
    pub will_retry: bool,
    /// The last user this slot served (shown faintly on an empty slot).
    pub previous: Option<String>,
    /// When the phase began (ms since the epoch).
    pub since: f64,
}

impl Tile {
    fn empty(slot: usize) -> Tile {
        Tile {
            slot,
            phase: Phase::Empty,
            key: None,
            serial: None,
            user: None,
            line: None,
            attempt: None,
            step: None,
            message: None,
            state: None,
            will_retry: false,
            previous: None,
            since: now_ms(),
        }
    }
}

/// The batch's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Good rows in the file.
    pub users: usize,
    /// Rows to provision in this run.
    pub to_do: usize,
    /// Done in an earlier run.
    pub already_done: usize,
    /// Bad rows.
    pub bad_rows: usize,
    /// Keys at once.
    pub concurrency: usize,
    /// Done in this run.
    pub done: usize,
    /// Failed for good in this run.
    pub failed: usize,
    /// Parked for an operator.
    pub needs_operator: usize,
    /// Jobs running now.
    pub running: usize,
    /// Keys finished per minute so far (done and failed).
    pub per_minute: Option<f64>,
    /// Seconds until every user is tried, at that rate.
    pub eta_secs: Option<u64>,
}

/// A line in the hub's log (what the operator must act on or should know).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// When.
    pub at: f64,
    /// What.
    pub text: String,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ending {
    /// `all_done`, `partial`, `needs_operator`, `cancelled`.
    pub end: crate::station::batch::BatchEnd,
    /// Rows that are not done, with why.
    pub problems: Vec<(u64, Option<String>, RowStatus, Option<String>)>,
    /// Wall time, ms.
    pub millis: u64,
}

/// The whole hub.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HubModel {
    /// The batch id, once a batch started.
    pub batch_id: Option<String>,
    /// Its file.
    pub file: Option<String>,
    /// A batch is running.
    pub running: bool,
    /// Slots, in order.
    pub tiles: Vec<Tile>,
    /// Figures.
    pub figures: Figures,
    /// Recent notices, newest last (at most [`NOTICES`]).
    pub notices: Vec<Notice>,
    /// How the last run ended.
    pub ending: Option<Ending>,
    /// When the first job started (ms since the epoch).
    pub started_at: Option<f64>,
    /// Handover slips waiting to be opened (never their text).
    pub slips: Vec<SlipRef>,
}

/// A handover slip waiting to be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlipRef {
    /// The user's CSV line.
    pub line: u64,
    /// The user.
    pub user: String,
}

/// Notices kept.
pub const NOTICES: usize = 50;

impl HubModel {
    /// A new run begins: tiles of keys still plugged in stay, results are cleared.
    pub fn reset_for_run(&mut self) {
        let tiles = std::mem::take(&mut self.tiles);
        *self = HubModel::default();
        self.running = true;
        self.tiles = tiles
            .into_iter()
            .map(|t| if t.key.is_some() { Tile { phase: Phase::Waiting, slot: t.slot, key: t.key, serial: t.serial, ..Tile::empty(t.slot) } } else { Tile::empty(t.slot) })
            .collect();
    }

    fn slot_of(&self, key: &str) -> Option<usize> {
        self.tiles.iter().position(|t| t.key.as_deref() == Some(key))
    }

    fn take_slot(&mut self, key: &str) -> usize {
        if let Some(i) = self.slot_of(key) {
            return i;
        }
        let i = match self.tiles.iter().position(|t| t.key.is_none()) {
            Some(i) => i,
            None => {
                self.tiles.push(Tile::empty(self.tiles.len() + 1));
                self.tiles.len() - 1
            }
        };
        let t = &mut self.tiles[i];
        let previous = t.user.clone().or_else(|| t.previous.clone());
        *t = Tile { key: Some(key.to_string()), phase: Phase::Waiting, previous, ..Tile::empty(t.slot) };
        i
    }

    fn notice(&mut self, text: String) {
        self.notices.push(Notice { at: now_ms(), text });
        if self.notices.len() > NOTICES {
            self.notices.remove(0);
        }
    }

    /// Apply one event; returns the slots (indexes) that changed.
    pub fn apply(&mut self, event: &BatchEvent) -> Vec<usize> {
        let changed = match event {
            BatchEvent::Batch(n) => self.notice_event(n),
            BatchEvent::Job(e) => self.job_event(e),
        };
        self.refresh_figures();
        changed
    }

    fn set(&mut self, i: usize, phase: Phase) {
        let t = &mut self.tiles[i];
        if t.phase != phase {
            t.phase = phase;
            t.since = now_ms();
        }
    }

    fn notice_event(&mut self, n: &BatchNotice) -> Vec<usize> {
        match n {
            BatchNotice::BatchStarted { batch_id, file, users, to_do, already_done, bad_rows, concurrency, .. } => {
                self.batch_id = Some(batch_id.clone());
                self.file = Some(file.clone());
                self.running = true;
                self.figures = Figures { users: *users, to_do: *to_do, already_done: *already_done, bad_rows: *bad_rows, concurrency: *concurrency, ..Figures::default() };
                Vec::new()
            }
            BatchNotice::RowRejected { line, message, .. } => {
                self.notice(format!("line {line}: {message}"));
                Vec::new()
            }
            BatchNotice::RowSkipped { .. } => Vec::new(),
            BatchNotice::KeyArrived { key, serial } => {
                let i = self.take_slot(key);
                self.tiles[i].serial = serial.clone();
                vec![i]
            }
            BatchNotice::KeyWaiting { key, reason } => {
                let i = self.take_slot(key);
                self.tiles[i].message = Some(reason.clone());
                vec![i]
            }
            BatchNotice::KeyRefused { key, reason } => {
                let i = self.take_slot(key);
                self.set(i, Phase::Refused);
                self.tiles[i].message = Some(reason.clone());
                self.notice(format!("slot {}: {reason}", i + 1));
                vec![i]
            }
            BatchNotice::KeyRemoved { key } => match self.slot_of(key) {
                Some(i) => {
                    let t = &mut self.tiles[i];
                    let previous = t.user.clone().or_else(|| t.previous.clone());
                    *t = Tile { previous, ..Tile::empty(t.slot) };
                    vec![i]
                }
                None => Vec::new(),
            },
            BatchNotice::UserAssigned { key, line, upn, attempt, .. } => {
                let i = self.take_slot(key);
                if self.started_at.is_none() {
                    self.started_at = Some(now_ms());
                }
                let t = &mut self.tiles[i];
                t.user = Some(upn.clone());
                t.line = Some(*line);
                t.attempt = Some(*attempt);
                t.message = None;
                t.state = None;
                t.step = None;
                t.will_retry = false;
                self.set(i, Phase::Working);
                vec![i]
            }
            BatchNotice::UserFinished { key, state, message, will_retry, .. } => {
                let i = self.take_slot(key);
                let ok = matches!(state, JobState::Done | JobState::HandedOver) && message.is_none();
                let t = &mut self.tiles[i];
                t.state = Some(*state);
                t.message = message.clone();
                t.will_retry = *will_retry;
                t.step = None;
                if ok {
                    self.figures.done += 1;
                } else if *state == JobState::NeedsOperator {
                    self.figures.needs_operator += 1;
                } else if !will_retry {
                    self.figures.failed += 1;
                }
                self.set(i, if ok { Phase::Done } else { Phase::Failed });
                vec![i]
            }
            BatchNotice::TakeKeyOut { key, ok, .. } => {
                let i = self.take_slot(key);
                let t = &mut self.tiles[i];
                if t.message.is_none() || *ok {
                    t.message = Some(if *ok { "Ready: take the key out".into() } else { "Take the key out and set it aside".into() });
                }
                vec![i]
            }
            BatchNotice::OutOfKeys { pending } => {
                self.notice(format!("no unused key is left; {pending} user(s) not started"));
                Vec::new()
            }
            BatchNotice::Stopping { pending, reason } => {
                self.notice(format!("stopping ({reason}); {pending} user(s) not started"));
                Vec::new()
            }
            BatchNotice::Queue { queue, message, .. } => {
                self.notice(format!("queue {queue}: {message}"));
                Vec::new()
            }
            BatchNotice::BatchFinished { report } => {
                self.finish(report);
                (0..self.tiles.len()).collect()
            }
        }
    }

    fn job_event(&mut self, e: &StationEvent) -> Vec<usize> {
        let Some(key) = e.key.as_deref() else { return Vec::new() };
        let Some(i) = self.slot_of(key) else { return Vec::new() };
        match &e.kind {
            EventKind::StepStarted { step } => {
                self.tiles[i].step = Some(step.describe().to_string());
                self.set(i, Phase::Working);
            }
            EventKind::StepFinished { .. } => {
                if !matches!(self.tiles[i].phase, Phase::Touch | Phase::Replug) {
                    return Vec::new();
                }
                self.set(i, Phase::Working);
            }
            EventKind::KeyReplugged { path } => {
                self.tiles[i].key = Some(path.clone());
                self.set(i, Phase::Working);
            }
            EventKind::TouchKey => self.set(i, Phase::Touch),
            EventKind::ReplugKey { reason } => {
                self.tiles[i].message = Some(reason.clone());
                self.set(i, Phase::Replug);
            }
            EventKind::StepFailed { message, .. } => self.tiles[i].message = Some(message.clone()),
            EventKind::Warning { text } => {
                let text = format!("slot {}: {text}", i + 1);
                self.notice(text);
            }
            _ => return Vec::new(),
        }
        vec![i]
    }

    fn finish(&mut self, report: &BatchReport) {
        self.running = false;
        for t in &mut self.tiles {
            if matches!(t.phase, Phase::Working | Phase::Touch | Phase::Replug) {
                t.phase = Phase::Failed;
                t.message.get_or_insert_with(|| "stopped".into());
            }
        }
        let problems = report
            .rows
            .iter()
            .filter(|r| !matches!(r.status, RowStatus::Done | RowStatus::AlreadyDone))
            .map(|r| (r.line, r.upn.clone(), r.status, r.reason.clone()))
            .collect();
        self.ending = Some(Ending { end: report.end, problems, millis: report.millis });
    }

    fn refresh_figures(&mut self) {
        let running = self.tiles.iter().filter(|t| matches!(t.phase, Phase::Working | Phase::Touch | Phase::Replug)).count();
        let f = &mut self.figures;
        f.running = running;
        let finished = f.done + f.failed + f.needs_operator;
        if let Some(start) = self.started_at {
            let minutes = (now_ms() - start) / 60_000.0;
            if finished > 0 && minutes > 0.0 {
                let rate = finished as f64 / minutes;
                f.per_minute = Some((rate * 10.0).round() / 10.0);
                let left = f.to_do.saturating_sub(finished);
                f.eta_secs = self.running.then(|| (left as f64 / rate * 60.0).round() as u64);
            }
        }
        if !self.running {
            f.eta_secs = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::batch::BatchEnd;
    use crate::station::pipeline::Step;

    fn n(x: BatchNotice) -> BatchEvent {
        BatchEvent::Batch(x)
    }
    fn job(key: &str, kind: EventKind) -> BatchEvent {
        BatchEvent::Job(StationEvent { job: None, key: Some(key.into()), user: Some("a@b.c".into()), kind })
    }

    #[test]
    fn a_key_walks_through_its_slot() {
        let mut h = HubModel::default();
        h.apply(&n(BatchNotice::BatchStarted { batch_id: "b".into(), file: "f".into(), users: 2, to_do: 2, already_done: 0, resuming: 0, bad_rows: 0, concurrency: 2 }));
        assert_eq!(h.apply(&n(BatchNotice::KeyArrived { key: "virtual:1".into(), serial: Some("S1".into()) })), vec![0]);
        assert_eq!(h.apply(&n(BatchNotice::KeyArrived { key: "virtual:2".into(), serial: None })), vec![1]);
        h.apply(&n(BatchNotice::UserAssigned { key: "virtual:2".into(), line: 3, upn: "bob@b.c".into(), attempt: 1, resumes: None }));
        h.apply(&job("virtual:2", EventKind::StepStarted { step: Step::Register }));
        assert_eq!(h.tiles[1].phase, Phase::Working);
        h.apply(&job("virtual:2", EventKind::TouchKey));
        assert_eq!(h.tiles[1].phase, Phase::Touch);
        assert_eq!(h.figures.running, 1);
        h.apply(&job("virtual:2", EventKind::StepFinished { step: Step::Register, elapsed: std::time::Duration::from_millis(5) }));
        assert_eq!(h.tiles[1].phase, Phase::Working);
        h.apply(&n(BatchNotice::UserFinished {
            key: "virtual:2".into(),
            line: 3,
            upn: "bob@b.c".into(),
            attempt: 1,
            state: JobState::Done,
            class: crate::station::pipeline::OutcomeClass::Ok,
            method_id: None,
            model: None,
            message: None,
            will_retry: false,
            millis: 10,
        }));
        h.apply(&n(BatchNotice::TakeKeyOut { key: "virtual:2".into(), upn: "bob@b.c".into(), ok: true }));
        assert_eq!((h.tiles[1].phase, h.figures.done), (Phase::Done, 1));
        assert!(h.figures.per_minute.is_some());
        h.apply(&n(BatchNotice::KeyRemoved { key: "virtual:2".into() }));
        assert_eq!(h.tiles[1].phase, Phase::Empty);
        assert_eq!(h.tiles[1].previous.as_deref(), Some("bob@b.c"));
        // The next key takes the first free slot.
        assert_eq!(h.apply(&n(BatchNotice::KeyArrived { key: "virtual:3".into(), serial: None })), vec![1]);
        h.apply(&n(BatchNotice::BatchFinished { report: BatchReport::new("b".into(), "f".into(), vec![], false, 5) }));
        assert!(!h.running);
        assert_eq!(h.ending.as_ref().unwrap().end, BatchEnd::AllDone);
    }

    #[test]
    fn a_failure_worth_retrying_is_not_counted_as_failed() {
        let mut h = HubModel::default();
        h.apply(&n(BatchNotice::UserAssigned { key: "k".into(), line: 2, upn: "a@b.c".into(), attempt: 1, resumes: None }));
        h.apply(&n(BatchNotice::UserFinished {
            key: "k".into(),
            line: 2,
            upn: "a@b.c".into(),
            attempt: 1,
            state: JobState::Failed,
            class: crate::station::pipeline::OutcomeClass::Key,
            method_id: None,
            model: None,
            message: Some("the key was removed".into()),
            will_retry: true,
            millis: 10,
        }));
        assert_eq!((h.tiles[0].phase, h.figures.failed), (Phase::Failed, 0));
        assert!(h.tiles[0].will_retry);
    }
}
