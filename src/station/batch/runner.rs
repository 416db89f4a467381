//! The batch scheduler: keys arrive on a hub, each new key gets the next pending user,
//! up to `concurrency` keys are provisioned at once, finished keys wait to be taken out.
//!
//! ```text
//!  KeyTracker ──arrived/left──▶ scheduler loop ──spawn──▶ Station::provision / resume (one task per key)
//!                                 ▲  queue: resumes first, then rows in file order, retries at the front
//!                                 └──────────── outcome ◀──────────────┘
//! ```
//!
//! Rules the operator can rely on:
//! * a key is used for one user per plug-in: once its job ends it is never given another
//!   user until it has been taken out and plugged in again;
//! * a key that this batch already enrolled (same serial) is refused if plugged in again,
//!   so a finished key put back on the hub by mistake is not reset and re-used;
//! * a failure worth another try (key pulled out, touch timeout, Graph still failing
//!   after the client's own retries) puts the user back at the front of the queue, up to
//!   `retries` more times; the next key gets them;
//! * stopping ([`BatchControl::stop`]) takes no new key and lets running jobs finish;
//!   aborting ([`BatchControl::abort`]) also cancels them (the pipeline records how far
//!   each got, so a re-run resumes them).
use super::events::{BatchEvent, BatchNotice, BatchObserver};
use super::plan::{BatchPlan, Disposition, PlannedRow};
use super::precheck::precheck_batch;
use super::report::{BatchReport, RowResult, RowStatus};
use super::tracker::KeyTracker;
use crate::ceremony::RegistrationPath;
use crate::key::sources::KeySources;
use crate::key::watcher::{KeyEvent, KeyIdentity};
use crate::key::worker::KeyHandle;
use crate::station::handover::HandoverSlip;
use crate::station::journal::{BatchRef, FailureKind, JobError, JobId, JobMode, KeyQuery};
use crate::station::manage::operation::OperationOutcome;
use crate::station::pipeline::{
    key_handle_options, CancelToken, EventKind, JobOutcome, JobSpec, OutcomeClass, OutcomeError, PinChoice, Station, StationEvent, StationEvents,
};
use crate::station::state::JobState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinSet;

/// Whether more keys can arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySupply {
    /// A person plugs keys in for as long as users are pending (real hubs; tests that
    /// plug keys themselves).
    Open,
    /// The keys present are all there will be (`--virtual N`): once each was used, the
    /// users left are reported as not started.
    Finite,
}

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Keys provisioned at the same time (≥ 1).
    pub concurrency: usize,
    /// Extra attempts per user in this run after a failure worth retrying.
    pub retries: u32,
    /// Whether more keys can arrive.
    pub supply: KeySupply,
    /// Time a person gets to touch a key.
    pub touch_timeout: Duration,
    /// Registration path for every job (default: the tenant's).
    pub via: Option<RegistrationPath>,
    /// Recorded mode (`batch`, or `demo`).
    pub mode: JobMode,
    /// How often the hub is polled for keys.
    pub poll_interval: Duration,
    /// Replace every user's existing keys (as the `replace` column does per row).
    pub replace_existing: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: 4,
            retries: 2,
            supply: KeySupply::Open,
            touch_timeout: Duration::from_secs(30),
            via: None,
            mode: JobMode::Batch,
            poll_interval: Duration::from_millis(100),
            replace_existing: false,
        }
    }
}

/// Stop or abort a running batch from another task (Ctrl-C handler, tests).
#[derive(Debug, Clone, Default)]
pub struct BatchControl {
    /// Take no new key; running jobs finish.
    pub stop: CancelToken,
    /// Cancel running jobs too.
    pub abort: CancelToken,
}

/// A handover slip for the operator to show (or print) once.
#[derive(Debug)]
pub struct Handover {
    /// CSV line.
    pub line: u64,
    /// The user.
    pub upn: String,
    /// Device path of the key.
    pub key: String,
    /// The slip; `render()` consumes it.
    pub slip: HandoverSlip,
}

/// Where a batch's events and handover slips go.
pub trait BatchSink: BatchObserver {
    /// A slip to show once. Dropping it loses the PIN (unless it was sealed), so a sink
    /// must show or deliver it.
    fn handover(&self, handover: Handover);
}

/// A user waiting for a key.
#[derive(Debug, Clone)]
struct Work {
    planned: PlannedRow,
    attempt: u32,
}

struct Running {
    replug_pending: bool,
    /// The key's serial, when it reports one (a resumed job waits for its own key).
    serial: Option<String>,
}

/// The key a resumed job wants back: its own (by serial), when its resume rules need the
/// key (to read its PIN state or reset it).
fn own_key_serial(w: &Work) -> Option<&str> {
    match &w.planned.disposition {
        Disposition::Resume(item) if item.needs_key => item.job.key.serial.as_deref().filter(|s| !s.trim().is_empty()),
        _ => None,
    }
}

/// How long a resumed job waits for its own key to show up after the run starts watching
/// keys: keys plugged in together are seen one by one over a moment, and a real hub
/// brings its keys up over a second or two.
const OWN_KEY_GRACE: Duration = Duration::from_secs(3);

/// Which queued work a key with `serial` takes (its index), if any. A resumed job gets
/// its own key: that key goes to it first. Another key goes to it only when no other
/// user is waiting, its own key is not plugged in (`present`: the serials of the keys
/// that can still be used), and the run has watched keys for [`OWN_KEY_GRACE`]
/// (`grace_over`). On another key the resume enrolls the user anew and leaves the old
/// key, with a PIN nobody knows, to be reset by hand; its own key it resets and reuses.
fn pick_work(queue: &VecDeque<Work>, serial: Option<&str>, present: &HashSet<String>, grace_over: bool) -> Option<usize> {
    if let Some(s) = serial
        && let Some(i) = queue.iter().position(|w| own_key_serial(w) == Some(s))
    {
        return Some(i);
    }
    if let Some(i) = queue.iter().position(|w| own_key_serial(w).is_none()) {
        return Some(i);
    }
    if !grace_over {
        return None;
    }
    queue.iter().position(|w| own_key_serial(w).is_some_and(|own| !present.contains(own)))
}

/// What replacing a user's older keys did (`None`: not asked for, or nothing enrolled).
type Replaced = Option<Result<Option<OperationOutcome>, crate::station::pipeline::OutcomeError>>;

pub(super) enum Signal {
    ReplugRequested { key: String },
    Replugged { key: String, path: String },
}

/// Run a planned batch on the keys of `sources` until every row is finished (or the
/// supply of keys ends, or the operator stops it). Never fails: everything that goes
/// wrong is in the report.
pub async fn run_batch(station: Arc<Station>, sources: KeySources, plan: BatchPlan, options: BatchOptions, sink: Arc<dyn BatchSink>, control: BatchControl) -> BatchReport {
    let started = Instant::now();
    let concurrency = options.concurrency.max(1);
    let mut results: HashMap<u64, RowResult> = HashMap::new();
    let notice = |n: BatchNotice| sink.event(&BatchEvent::Batch(n));

    for p in &plan.file.problems {
        let mut r = RowResult::new(p.line, p.upn.clone(), RowStatus::Rejected);
        r.reason = Some(p.message.clone());
        results.insert(p.line, r);
    }
    // Key replacements an earlier run left unfinished are finished first (journal plan).
    if let Ok(done) = station.finish_interrupted_deletions(Arc::new(crate::station::pipeline::NoEvents), control.abort.clone()).await {
        for o in done.iter().filter(|o| o.error.is_some()) {
            tracing::warn!(operation = %o.uid, "an interrupted deletion could not be finished yet");
        }
    }
    // Every user to provision is checked against the tenant before the first key, so a
    // user the tenant refuses never gets one.
    let check = precheck_batch(&station, &plan, options.via).await;
    let mut refused = Vec::new();
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut resume_first = Vec::new();
    for planned in &plan.rows {
        match &planned.disposition {
            Disposition::Skip(r) => {
                results.insert(planned.row.line, r.clone());
            }
            Disposition::Resume(_) => resume_first.push(Work { planned: planned.clone(), attempt: 1 }),
            Disposition::Provision => match check.refused.get(&planned.row.line) {
                Some(e) => {
                    let mut r = RowResult::new(planned.row.line, Some(planned.row.upn.clone()), RowStatus::Failed);
                    r.reason = Some(format!("refused before any key was used: {}", e.journal_text()));
                    refused.push((planned.row.upn.clone(), r.clone()));
                    results.insert(planned.row.line, r);
                }
                None => queue.push_back(Work { planned: planned.clone(), attempt: 1 }),
            },
        }
    }
    for w in resume_first.into_iter().rev() {
        queue.push_front(w);
    }

    notice(BatchNotice::BatchStarted {
        batch_id: plan.batch_id.clone(),
        file: plan.file.path.display().to_string(),
        users: plan.file.rows.len(),
        to_do: queue.len(),
        already_done: plan.already_done(),
        resuming: plan.resuming(),
        bad_rows: plan.file.problems.len(),
        concurrency,
    });
    for p in &plan.file.problems {
        notice(BatchNotice::RowRejected { line: p.line, upn: p.upn.clone(), message: p.message.clone() });
    }
    for planned in &plan.rows {
        if let Disposition::Skip(r) = &planned.disposition {
            notice(BatchNotice::RowSkipped { line: r.line, upn: planned.row.upn.clone(), status: r.status, reason: r.reason.clone().unwrap_or_default() });
        }
    }
    for (upn, r) in &refused {
        notice(BatchNotice::RowSkipped { line: r.line, upn: upn.clone(), status: r.status, reason: r.reason.clone().unwrap_or_default() });
    }
    if let Some(e) = &check.station_wide {
        // Sign-in or permissions: every user would fail the same way; no key is touched.
        notice(BatchNotice::Stopping { pending: queue.len(), reason: format!("{}; this would fail for every user: fix it and re-run the batch", e.journal_text()) });
        for w in queue.drain(..) {
            let mut r = RowResult::new(w.planned.row.line, Some(w.planned.row.upn.clone()), RowStatus::NotStarted);
            r.reason = Some("not started: the station could not check users with the tenant; fix the sign-in or permissions and re-run the batch".into());
            results.insert(r.line, r);
        }
        return finish(&plan, results, &control, started, &sink);
    }

    // Resume items that need no key (e.g. finish a handed-over job) run right away.
    let mut keyless = Vec::new();
    queue.retain(|w| match &w.planned.disposition {
        Disposition::Resume(item) if !item.needs_key => {
            keyless.push(w.planned.clone());
            false
        }
        _ => true,
    });
    for planned in keyless {
        let Disposition::Resume(item) = planned.disposition.clone() else { continue };
        let events = Arc::new(JobEvents::new(&sink, "", &planned.row.upn, None));
        let work = Work { planned: planned.clone(), attempt: 1 };
        let task = {
            let (station, events, cancel) = (Arc::clone(&station), Arc::clone(&events), control.abort.clone());
            tokio::spawn(async move { station.resume(*item, None, events, cancel).await })
        };
        let mut outcome = match task.await {
            Ok(o) => o,
            Err(e) => contained(&station, &work.planned.row.upn, work.planned.row.line, &events, e, options.mode).await,
        };
        deliver_slip(&sink, &mut outcome, planned.row.line, &planned.row.upn, "");
        if outcome.state == JobState::Failed && retryable(&outcome, &control) {
            queue.push_front(Work { planned: PlannedRow { disposition: Disposition::Provision, ..planned }, attempt: 1 });
        } else {
            results.insert(planned.row.line, row_result(&planned.row.upn, planned.row.line, &outcome, None, 1));
        }
    }

    let tracker = match KeyTracker::start(sources.clone(), options.poll_interval) {
        Ok(t) => t,
        Err(e) => {
            // Without a watcher no key can be used: every pending row is "not started".
            for w in queue.drain(..) {
                let mut r = RowResult::new(w.planned.row.line, Some(w.planned.row.upn.clone()), RowStatus::NotStarted);
                r.reason = Some(format!("no key could be watched: {e}"));
                results.insert(r.line, r);
            }
            return finish(&plan, results, &control, started, &sink);
        }
    };
    let (initial, mut key_events) = tracker.subscribe_with_present();
    let watching = Instant::now();
    let (signal_tx, mut signals) = unbounded_channel::<Signal>();

    // The interrupted jobs this run resumes (their keys are wanted back, not refused).
    let resuming: HashSet<JobId> = queue
        .iter()
        .filter_map(|w| match &w.planned.disposition {
            Disposition::Resume(item) => Some(item.job.id),
            _ => None,
        })
        .collect();
    let mut idle: VecDeque<KeyIdentity> = VecDeque::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut claimed: HashSet<String> = HashSet::new();
    let mut held: Vec<KeyIdentity> = Vec::new();
    let mut tasks: JoinSet<(String, Work, JobOutcome, Replaced)> = JoinSet::new();
    // What each task works on, so that a task that panics still frees its key and gets
    // its row (a panic loses the task's own return value).
    let mut in_flight: HashMap<tokio::task::Id, (String, Work, Arc<JobEvents>)> = HashMap::new();
    let mut stopping = false;
    let mut pending_events: VecDeque<KeyEvent> = initial.into_iter().map(KeyEvent::Arrived).collect();

    loop {
        // 1. Key events (the initial ones first, then all that are queued, so keys
        //    plugged in together start together).
        while let Ok(event) = key_events.try_recv() {
            pending_events.push_back(event);
        }
        while let Some(event) = pending_events.pop_front() {
            match event {
                KeyEvent::Arrived(k) => {
                    let path = k.descriptor.path.clone();
                    if running.contains_key(&path) || claimed.contains(&path) {
                        continue; // a running job's key coming back from a re-plug
                    }
                    notice(BatchNotice::KeyArrived { key: path.clone(), serial: k.descriptor.serial.clone() });
                    if let Some(reason) = already_enrolled(&station, &plan.batch_id, &k, &resuming).await {
                        notice(BatchNotice::KeyRefused { key: path.clone(), reason });
                        used.insert(path);
                    } else if running.values().any(|r| r.replug_pending) {
                        notice(BatchNotice::KeyWaiting { key: path, reason: "a key is being re-plugged; waiting to tell which key this is".into() });
                        held.push(k);
                    } else {
                        if queue.is_empty() {
                            notice(BatchNotice::KeyWaiting { key: path, reason: "no user is waiting for a key; it is kept in case one needs a retry (or take it out)".into() });
                        } else if running.len() >= concurrency {
                            notice(BatchNotice::KeyWaiting { key: path, reason: format!("all {concurrency} slots are busy; it starts when a key finishes") });
                        }
                        idle.push_back(k);
                    }
                }
                KeyEvent::Left(k) => {
                    let path = k.descriptor.path;
                    let was_known = used.remove(&path) | claimed.remove(&path);
                    let before = idle.len() + held.len();
                    idle.retain(|i| i.descriptor.path != path);
                    held.retain(|i| i.descriptor.path != path);
                    // A running key that leaves fails its job (the pipeline says how far
                    // it got); the operator sees it go either way.
                    if was_known || running.contains_key(&path) || before != idle.len() + held.len() {
                        notice(BatchNotice::KeyRemoved { key: path });
                    }
                }
            }
        }

        // 2. Start jobs on idle keys.
        let present: HashSet<String> = idle
            .iter()
            .chain(held.iter())
            .filter_map(|k| k.descriptor.serial.clone())
            .chain(running.values().filter_map(|r| r.serial.clone()))
            .collect();
        let mut not_now = Vec::new();
        while !stopping && running.len() < concurrency && !queue.is_empty() {
            let Some(key) = idle.pop_front() else { break };
            let Some(index) = pick_work(&queue, key.descriptor.serial.as_deref(), &present, watching.elapsed() >= OWN_KEY_GRACE) else {
                // Only resumed jobs whose own keys are plugged in are waiting.
                not_now.push(key);
                continue;
            };
            let Some(work) = queue.remove(index) else { break };
            let path = key.descriptor.path.clone();
            let upn = work.planned.row.upn.clone();
            let line = work.planned.row.line;
            let events = Arc::new(JobEvents::new(&sink, &path, &upn, Some(signal_tx.clone())));
            let handle = match open_key(&sources, &key, events.clone(), options.touch_timeout).await {
                Ok(h) => h,
                Err(message) => {
                    notice(BatchNotice::KeyRefused { key: path.clone(), reason: format!("cannot use this key: {message}; take it out and try another") });
                    used.insert(path);
                    queue.insert(index, work);
                    continue;
                }
            };
            let resumes = match &work.planned.disposition {
                Disposition::Resume(item) => Some(item.job.id.0),
                _ => None,
            };
            notice(BatchNotice::UserAssigned { key: path.clone(), line, upn, attempt: work.attempt, resumes });
            running.insert(path.clone(), Running { replug_pending: false, serial: key.descriptor.serial.clone() });
            let spec = job_spec(&plan, &work.planned, &options);
            let plan_id = plan.batch_id.clone();
            let station = Arc::clone(&station);
            let cancel = control.abort.clone();
            let replace = work.planned.row.replace || options.replace_existing;
            let remembered = (path.clone(), work.clone(), Arc::clone(&events));
            let task = tasks.spawn(async move {
                let replace_events = events.clone();
                let outcome = match &work.planned.disposition {
                    Disposition::Resume(item) => {
                        // If the rules start the user over, the retry keeps the row's settings.
                        let mut item = (**item).clone();
                        item.retry.display_name = spec.display_name.clone();
                        item.retry.pin = spec.pin.clone();
                        item.retry.pin_policy = spec.pin_policy.clone();
                        item.retry.via = spec.via;
                        item.retry.retries = spec.retries;
                        station.resume(item, Some(handle), events, cancel.clone()).await
                    }
                    _ => station.provision(handle, spec, events, cancel.clone()).await,
                };
                // Replacing the user's keys: only once the new one is registered, so a
                // failed enrollment never leaves the user without a key.
                let replaced = match (&outcome.method_id, &outcome.user.object_id) {
                    (Some(keep), Some(user_id)) if replace && outcome.is_success() => {
                        let upn = outcome.user.upn.clone().unwrap_or_else(|| work.planned.row.upn.clone());
                        let note = format!("batch {} line {}: replace {upn}'s keys", plan_id, work.planned.row.line);
                        Some(station.replace_user_keys(user_id, &upn, keep, note, replace_events, cancel).await)
                    }
                    _ => None,
                };
                (path, work, outcome, replaced)
            });
            in_flight.insert(task.id(), remembered);
        }
        for key in not_now.into_iter().rev() {
            idle.push_front(key);
        }

        // 3. Are we done?
        if running.is_empty() {
            if queue.is_empty() {
                break;
            }
            if stopping {
                break;
            }
            if options.supply == KeySupply::Finite && idle.is_empty() && held.is_empty() && no_fresh_key(&sources, &used) {
                notice(BatchNotice::OutOfKeys { pending: queue.len() });
                break;
            }
        }

        // 4. Wait for something to happen.
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (path, work, mut outcome, replaced) = match done {
                    Ok((id, finished)) => {
                        in_flight.remove(&id);
                        finished
                    }
                    Err(e) => {
                        let Some((path, work, events)) = in_flight.remove(&e.id()) else { continue };
                        let outcome = contained(&station, &work.planned.row.upn, work.planned.row.line, &events, e, options.mode).await;
                        (path, work, outcome, None)
                    }
                };
                let upn = work.planned.row.upn.clone();
                let line = work.planned.row.line;
                running.remove(&path);
                let key_now = outcome.key.path.clone().unwrap_or_else(|| path.clone());
                deliver_slip(&sink, &mut outcome, line, &upn, &key_now);
                let will_retry = outcome.state == JobState::Failed && retryable(&outcome, &control) && work.attempt <= options.retries;
                let message = outcome_message(&outcome);
                notice(BatchNotice::UserFinished {
                    key: key_now.clone(),
                    line,
                    upn: upn.clone(),
                    attempt: work.attempt,
                    state: outcome.state,
                    class: outcome.class(),
                    method_id: outcome.method_id.clone(),
                    model: outcome.key.model.clone(),
                    message: message.clone(),
                    will_retry,
                    millis: outcome.total_millis,
                });
                let mut result = row_result(&upn, line, &outcome, Some(&key_now), work.attempt);
                match replaced {
                    Some(Ok(Some(op))) => {
                        result.replaced_keys = op.deletions.iter().filter(|d| d.result != "failed").count();
                        if let Some(e) = &op.error {
                            result.reason = Some(format!("enrolled, but replacing the older keys stopped: {} (re-run the batch or `keystation methods delete`)", e.journal_text()));
                        }
                    }
                    Some(Ok(None)) | None => {}
                    Some(Err(e)) => result.reason = Some(format!("enrolled, but the older keys were not replaced: {}", e.journal_text())),
                }
                if outcome.state.is_in_progress() {
                    result.reason = Some(format!("{}; re-run the batch to resume it", message.unwrap_or_else(|| "interrupted".into())));
                }
                if tracker.is_present(&key_now) {
                    used.insert(key_now.clone());
                    notice(BatchNotice::TakeKeyOut { key: key_now, upn: upn.clone(), ok: outcome.is_success() });
                }
                if will_retry {
                    // The row is "failed" until a later attempt succeeds.
                    results.insert(line, result);
                    queue.push_front(Work { planned: PlannedRow { disposition: Disposition::Provision, ..work.planned }, attempt: work.attempt + 1 });
                } else {
                    results.insert(line, result);
                }
                if !running.values().any(|r| r.replug_pending) {
                    idle.extend(held.drain(..));
                }
                if !stopping && let Some(why) = station_wide(&outcome) {
                    stopping = true;
                    notice(BatchNotice::Stopping { pending: queue.len(), reason: format!("{why}; this would fail for every user: fix it and re-run the batch") });
                }
            }
            Some(event) = key_events.recv() => pending_events.push_back(event),
            Some(signal) = signals.recv() => match signal {
                Signal::ReplugRequested { key } => {
                    if let Some(r) = running.get_mut(&key) {
                        r.replug_pending = true;
                    }
                }
                Signal::Replugged { key, path } => {
                    if let Some(r) = running.get_mut(&key) {
                        r.replug_pending = false;
                    }
                    if path != key {
                        claimed.insert(path.clone());
                    }
                    held.retain(|k| k.descriptor.path != path);
                    idle.retain(|k| k.descriptor.path != path);
                    if !running.values().any(|r| r.replug_pending) {
                        idle.extend(held.drain(..));
                    }
                }
            },
            // Keys kept for resumed jobs whose own keys may still show up: look again
            // when the grace ends.
            _ = tokio::time::sleep_until((watching + OWN_KEY_GRACE).into()), if !idle.is_empty() && !queue.is_empty() && watching.elapsed() < OWN_KEY_GRACE => {}
            _ = control.stop.cancelled(), if !stopping => {
                stopping = true;
                notice(BatchNotice::Stopping { pending: queue.len(), reason: "the operator asked to stop".into() });
            }
        }
    }

    for w in queue.drain(..) {
        let line = w.planned.row.line;
        // A row that failed and was queued for a retry keeps its failure.
        if results.get(&line).is_some_and(|r| r.status != RowStatus::NotStarted) {
            continue;
        }
        let mut r = RowResult::new(line, Some(w.planned.row.upn.clone()), RowStatus::NotStarted);
        r.reason = Some(if stopping {
            "not started: the run stopped before this user; re-run the batch to continue".into()
        } else {
            "not started: no key was left for this user; re-run the batch with more keys".into()
        });
        results.insert(line, r);
    }
    drop(tracker);
    finish(&plan, results, &control, started, &sink)
}

fn finish(plan: &BatchPlan, results: HashMap<u64, RowResult>, control: &BatchControl, started: Instant, sink: &Arc<dyn BatchSink>) -> BatchReport {
    let cancelled = control.stop.is_cancelled() || control.abort.is_cancelled();
    let report = BatchReport::new(plan.batch_id.clone(), plan.file.path.display().to_string(), results.into_values().collect(), cancelled, started.elapsed().as_millis() as u64);
    sink.event(&BatchEvent::Batch(BatchNotice::BatchFinished { report: report.clone() }));
    report
}

/// The job for a row: random PIN (nobody is at the desk), the row's name and PIN policy.
pub(super) fn job_spec(plan: &BatchPlan, planned: &PlannedRow, options: &BatchOptions) -> JobSpec {
    let row = &planned.row;
    let mut spec = JobSpec::new(options.mode, row.upn.clone());
    spec.display_name = row.display_name.clone();
    spec.pin = PinChoice::Random;
    spec.pin_policy = (!row.pin.is_empty()).then(|| row.pin.clone());
    spec.via = options.via;
    spec.batch = Some(BatchRef { id: plan.batch_id.clone(), line: row.line });
    // The same budget for registration attempts on this key once it has its PIN.
    spec.retries = options.retries;
    spec
}

/// A job task that panicked (a bug): its job is left as a crash leaves it (the next run
/// resumes it) with the panic recorded as an internal failure, and the row gets an
/// outcome like any other. The panic message is capped and made inert; panics never
/// carry secrets (secrets have no `Display`, and their `Debug` is redacted).
pub(super) async fn contained(station: &Station, upn: &str, line: u64, events: &JobEvents, e: tokio::task::JoinError, mode: JobMode) -> JobOutcome {
    let what = if e.is_panic() {
        let payload = e.into_panic();
        let text = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "no message".into());
        format!("keystation hit an internal error (a bug) while working on this user: it panicked: {}", crate::text::inert(&crate::text::cap_to(&text, 300)))
    } else {
        "the job's task was stopped before it ended".to_string()
    };
    tracing::error!(line, "{what}");
    let mut outcome = JobOutcome::new(mode, upn, JobState::Failed);
    let mut error = OutcomeError::internal(what.clone());
    if let Some(job) = events.job() {
        outcome.job = Some(job);
        let record = station.setup().journal.run(move |j| j.job(job)).await.ok().flatten();
        if let Some(r) = &record {
            outcome.state = r.state;
            outcome.job_uid = Some(r.uid.clone());
            outcome.method_id = r.entra_method_id.clone();
            outcome.key.serial = r.key.serial.clone();
            outcome.key.model = r.key.model.clone();
            outcome.key.path = r.key.path.clone();
        }
        if record.as_ref().is_some_and(|r| r.state.is_in_progress()) {
            error = error.next("re-run the batch (with a queue: the next claim) and the job is resumed where it stopped — a user whose job panics on every attempt (1 + --retries) is parked; report the panic message to keystation's maintainers");
            let journal_error = JobError::new(FailureKind::Internal, error.journal_text());
            if let Err(e) = station.setup().journal.run(move |j| j.record_interruption(job, &journal_error)).await {
                tracing::error!("the journal could not record the internal failure of job {job}: {e}");
            }
        }
    }
    outcome.error = Some(error);
    outcome
}

/// Worth another key in this run? The pipeline knows (key pulled out, no touch, Graph
/// throttled or down); nothing is retried once the operator stopped the run.
pub(super) fn retryable(outcome: &JobOutcome, control: &BatchControl) -> bool {
    if control.abort.is_cancelled() || control.stop.is_cancelled() {
        return false;
    }
    outcome.error.as_ref().is_some_and(|e| e.retryable)
}

/// A failure every other user would hit too (configuration, sign-in, a missing
/// component): the batch stops taking keys instead of failing the whole list.
pub(super) fn station_wide(outcome: &JobOutcome) -> Option<String> {
    let e = outcome.error.as_ref()?;
    (e.kind == FailureKind::Config || e.station_wide || e.missing_component || matches!(outcome.class(), OutcomeClass::Environment)).then(|| e.message.clone())
}

pub(super) fn outcome_message(outcome: &JobOutcome) -> Option<String> {
    if let Some(m) = &outcome.operator_message {
        return Some(m.clone());
    }
    outcome.error.as_ref().map(|e| match &e.next_step {
        Some(next) => format!("{} — {next}", e.message),
        None => e.message.clone(),
    })
}

pub(super) fn row_result(upn: &str, line: u64, outcome: &JobOutcome, key: Option<&str>, attempt: u32) -> RowResult {
    let status = if outcome.is_success() {
        RowStatus::Done
    } else if outcome.state == JobState::NeedsOperator {
        RowStatus::NeedsOperator
    } else if outcome.state.is_in_progress() {
        RowStatus::Interrupted
    } else {
        RowStatus::Failed
    };
    let mut r = RowResult::new(line, Some(upn.to_string()), status);
    r.reason = if status == RowStatus::Done { None } else { outcome_message(outcome) };
    r.job_uid = outcome.job_uid.clone();
    r.method_id = outcome.method_id.clone();
    r.key = key.map(str::to_string).or_else(|| outcome.key.path.clone());
    r.serial = outcome.key.serial.clone();
    r.model = outcome.key.model.clone();
    r.attempts = attempt;
    r.millis = Some(outcome.total_millis);
    r
}

pub(super) fn deliver_slip(sink: &Arc<dyn BatchSink>, outcome: &mut JobOutcome, line: u64, upn: &str, key: &str) {
    if let Some(slip) = outcome.take_slip() {
        sink.handover(Handover { line, upn: upn.to_string(), key: key.to_string(), slip });
    }
}

pub(super) async fn open_key(sources: &KeySources, key: &KeyIdentity, events: Arc<JobEvents>, touch_timeout: Duration) -> Result<Arc<KeyHandle>, String> {
    let io = sources.open(&key.descriptor).map_err(|e| e.to_string())?;
    let options = key_handle_options(events, touch_timeout);
    KeyHandle::open(key.descriptor.clone(), io, options).await.map(Arc::new).map_err(|e| e.to_string())
}

/// A key this batch already enrolled (by serial) must not be reset and given to someone
/// else because it was plugged in again.
/// A key this batch has enrolled someone with, or one whose registered job stopped
/// half-way at another run still going on. A key whose interrupted job this run resumes
/// (`resuming`) is not refused: the resume needs it back (to reset it and start over).
async fn already_enrolled(station: &Station, batch_id: &str, key: &KeyIdentity, resuming: &HashSet<JobId>) -> Option<String> {
    let serial = key.descriptor.serial.clone().filter(|s| !s.is_empty())?;
    let query = KeyQuery { serial: Some(serial.clone()), ..Default::default() };
    let jobs = station.setup().journal.run(move |j| j.jobs_for_key(&query)).await.ok()?;
    let job = jobs.iter().rev().find(|j| {
        j.batch.as_ref().is_some_and(|b| b.id == batch_id)
            && match j.state {
                JobState::Done | JobState::HandedOver | JobState::NeedsOperator => true,
                JobState::Verified | JobState::Registered => !resuming.contains(&j.id),
                _ => false,
            }
    })?;
    Some(format!(
        "this key (serial {serial}) was already enrolled for {} in this batch (job {}); take it out and put it with the finished keys",
        job.user.upn.as_deref().unwrap_or("another user"),
        job.uid
    ))
}

/// With a finite supply: is there no plugged key that was not used yet?
fn no_fresh_key(sources: &KeySources, used: &HashSet<String>) -> bool {
    match sources.enumerate() {
        Ok(keys) => keys.iter().all(|k| used.contains(&k.path)),
        Err(_) => true,
    }
}

/// The pipeline's events for one job: tagged with the key and user, forwarded to the
/// sink, and re-plug requests passed to the scheduler.
pub(super) struct JobEvents {
    sink: Arc<dyn BatchSink>,
    key: String,
    upn: String,
    signals: Option<UnboundedSender<Signal>>,
    /// The last job these events were about (a panicking task's job).
    job: std::sync::Mutex<Option<JobId>>,
}

impl JobEvents {
    pub(super) fn new(sink: &Arc<dyn BatchSink>, key: &str, upn: &str, signals: Option<UnboundedSender<Signal>>) -> JobEvents {
        JobEvents { sink: Arc::clone(sink), key: key.to_string(), upn: upn.to_string(), signals, job: std::sync::Mutex::new(None) }
    }

    pub(super) fn job(&self) -> Option<JobId> {
        *self.job.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StationEvents for JobEvents {
    fn event(&self, e: &StationEvent) {
        if let Some(job) = e.job {
            *self.job.lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
        }
        let mut e = e.clone();
        if e.user.is_none() {
            e.user = Some(self.upn.clone());
        }
        if e.key.is_none() && !self.key.is_empty() {
            e.key = Some(self.key.clone());
        }
        if let Some(tx) = &self.signals {
            match &e.kind {
                EventKind::ReplugKey { .. } => {
                    let _ = tx.send(Signal::ReplugRequested { key: self.key.clone() });
                }
                EventKind::KeyReplugged { path } => {
                    let _ = tx.send(Signal::Replugged { key: self.key.clone(), path: path.clone() });
                }
                _ => {}
            }
        }
        self.sink.event(&BatchEvent::Job(e));
    }
}
