//! `keystation batch --queue NAME`: a station working a shared queue of users. Each key
//! that arrives gets the next user claimed from the journal under a lease; the lease is
//! renewed while the job runs; a user whose station died is taken over and continued
//! from the journal's intents (the pipeline's resume rules, which check the user's
//! methods in Entra before registering again).
//!
//! ```text
//!  KeyTracker ─arrived─▶ loop ──claim (FOR UPDATE SKIP LOCKED)──▶ journal
//!                         │  └─spawn─▶ Station::provision / resume (claim on the JobSpec)
//!                         ├─ every lease/3: renew the leases held; a lost one cancels its job
//!                         └─ journal unreachable: claim nothing, back off, say so; jobs
//!                            on keys wait for their records (no side effect without one)
//! ```
//!
//! It ends when every user of the queue is done or parked (`ClaimResult::Finished`)
//! and its own jobs are over, or when the operator stops it.
use super::events::{BatchEvent, BatchNotice};
use super::report::{BatchReport, RowResult, RowStatus};
use super::runner::{contained, deliver_slip, open_key, outcome_message, retryable, row_result, station_wide, BatchControl, BatchOptions, BatchSink, JobEvents};
use super::tracker::KeyTracker;
use crate::key::sources::KeySources;
use crate::key::watcher::{KeyEvent, KeyIdentity};
use crate::station::journal::{BatchRef, Claim, ClaimResult, FailureKind, ItemEnd, JournalError, OperatorReason};
use crate::station::pipeline::{CancelToken, JobOutcome, JobSpec, PinChoice, PinPolicyOverride, Station};
use crate::station::state::JobState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How a station works a queue.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The queue's name.
    pub queue: String,
    /// Concurrency, retries, touch timeout, registration path, mode, hub polling.
    pub batch: BatchOptions,
    /// Lease on a claimed user (`journal.lease_s`).
    pub lease: Duration,
    /// How often a station with nothing claimable asks again.
    pub wait_poll: Duration,
    /// Longest pause between reconnection attempts when the journal is unreachable.
    pub max_backoff: Duration,
}

impl QueueOptions {
    /// Options for `queue` with the given lease.
    pub fn new(queue: impl Into<String>, lease: Duration) -> QueueOptions {
        QueueOptions { queue: queue.into(), batch: BatchOptions::default(), lease, wait_poll: Duration::from_millis(250), max_backoff: Duration::from_secs(10) }
    }
}

struct Active {
    claim: Claim,
    cancel: CancelToken,
}

/// Ask for a user's key once per state: the screen says what changed, not every poll.
struct Say {
    sink: Arc<dyn BatchSink>,
    queue: String,
    last: Option<String>,
}

impl Say {
    fn state(&mut self, state: &str, message: String) {
        if self.last.as_deref() == Some(state) && state != "lease_lost" {
            return;
        }
        self.last = Some(state.to_string());
        self.sink.event(&BatchEvent::Batch(BatchNotice::Queue { queue: self.queue.clone(), state: state.into(), message }));
    }
}

/// Work `options.queue` with the keys of `sources` until the queue is finished (every
/// user done or parked) or the operator stops. Never fails: what went wrong is in the
/// report and the events.
pub async fn run_queue(station: Arc<Station>, sources: KeySources, options: QueueOptions, sink: Arc<dyn BatchSink>, control: BatchControl) -> BatchReport {
    let started = Instant::now();
    let concurrency = options.batch.concurrency.max(1);
    let queue = options.queue.clone();
    let batch_id = format!("queue:{queue}");
    let journal = station.setup().journal.clone();
    let notice = |n: BatchNotice| sink.event(&BatchEvent::Batch(n));
    let mut say = Say { sink: Arc::clone(&sink), queue: queue.clone(), last: None };
    let mut results: HashMap<u64, RowResult> = HashMap::new();

    let status = {
        let q = queue.clone();
        journal.run(move |j| j.queue_status(&q)).await
    };
    let (users, to_do) = match &status {
        Ok(s) => ((s.counts.pending + s.counts.running + s.counts.done + s.counts.parked) as usize, (s.counts.pending + s.counts.running) as usize),
        Err(_) => (0, 0),
    };
    notice(BatchNotice::BatchStarted {
        batch_id: batch_id.clone(),
        file: format!("queue {queue}"),
        users,
        to_do,
        already_done: status.as_ref().map(|s| s.counts.done as usize).unwrap_or(0),
        resuming: 0,
        bad_rows: 0,
        concurrency,
    });
    if users == 0 && status.is_ok() {
        say.state("finished", format!("the queue {queue} is empty: load users with `keystation queue load {queue} users.csv`"));
        return finish(&batch_id, &queue, results, &control, started, &sink);
    }

    let tracker = match KeyTracker::start(sources.clone(), options.batch.poll_interval) {
        Ok(t) => t,
        Err(e) => {
            say.state("finished", format!("no key could be watched: {e}"));
            return finish(&batch_id, &queue, results, &control, started, &sink);
        }
    };
    let (initial, mut key_events) = tracker.subscribe_with_present();
    let mut pending_events: VecDeque<KeyEvent> = initial.into_iter().map(KeyEvent::Arrived).collect();
    let mut idle: VecDeque<KeyIdentity> = VecDeque::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut active: HashMap<String, Active> = HashMap::new();
    // Claims whose lease was lost while their job ran: the new holder decides for them.
    let mut lost_claims: HashSet<(i64, i64)> = HashSet::new();
    let mut tasks: JoinSet<(String, Claim, JobOutcome)> = JoinSet::new();
    // What a task works on, by task id: a task that panics returns nothing, and its key
    // slot, claim and row must still be settled.
    let mut in_flight: HashMap<tokio::task::Id, (String, Claim, Arc<JobEvents>)> = HashMap::new();
    let mut stopping = false;
    let mut finished = false;
    // Claims are asked for again at this moment (after "wait" or "unreachable").
    let mut next_claim = Instant::now();
    let mut backoff = Duration::from_millis(500);
    let mut offline = false;
    let mut keeper = tokio::time::interval((options.lease / 3).max(Duration::from_millis(100)));
    keeper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let _ = heartbeat(&journal, &queue, "claiming", None).await;

    loop {
        // 1. Keys that came and went.
        while let Ok(e) = key_events.try_recv() {
            pending_events.push_back(e);
        }
        while let Some(event) = pending_events.pop_front() {
            match event {
                KeyEvent::Arrived(k) => {
                    let path = k.descriptor.path.clone();
                    if active.contains_key(&path) || used.contains(&path) {
                        continue;
                    }
                    notice(BatchNotice::KeyArrived { key: path, serial: k.descriptor.serial.clone() });
                    idle.push_back(k);
                }
                KeyEvent::Left(k) => {
                    let path = k.descriptor.path;
                    used.remove(&path);
                    idle.retain(|i| i.descriptor.path != path);
                    notice(BatchNotice::KeyRemoved { key: path });
                }
            }
        }

        // 2. Claim a user for each idle key.
        while !stopping && !finished && active.len() < concurrency && !idle.is_empty() && Instant::now() >= next_claim {
            let q = queue.clone();
            let lease = options.lease;
            match journal.run(move |j| j.claim(&q, lease)).await {
                Err(e) => {
                    let unreachable = matches!(e, JournalError::Unreachable { .. });
                    offline = true;
                    next_claim = Instant::now() + backoff;
                    say.state(
                        "offline",
                        format!(
                            "{} — claiming no new user; {} job(s) on keys wait for their records; retrying in {:.0?}",
                            if unreachable { e.to_string() } else { format!("the journal refused a claim: {e}") },
                            active.len(),
                            backoff
                        ),
                    );
                    backoff = (backoff * 2).min(options.max_backoff);
                    break;
                }
                Ok(ClaimResult::Finished) => {
                    finished = true;
                    break;
                }
                Ok(ClaimResult::Wait { running }) => {
                    next_claim = Instant::now() + options.wait_poll;
                    say.state("waiting", format!("nothing to claim now; {running} user(s) running at stations whose leases are open — waiting"));
                    break;
                }
                Ok(ClaimResult::Claimed(claim)) => {
                    if offline {
                        offline = false;
                        backoff = Duration::from_millis(500);
                        say.state("online", "the journal database is reachable again; claiming users".into());
                        let _ = heartbeat(&journal, &queue, "claiming", None).await;
                    }
                    let claim = *claim;
                    let key = idle.pop_front().expect("an idle key");
                    if let Some(from) = &claim.taken_from {
                        say.state("lease_lost", format!("{} is taken over from station {from} (its lease expired); continuing from the journal", claim.upn));
                    } else {
                        say.state("claiming", "claiming users as keys arrive".into());
                    }
                    start(&station, &sources, &sink, &options, &batch_id, claim, key, &mut active, &mut tasks, &mut in_flight, &control, &mut used, &mut results).await;
                }
            }
        }

        // 3. Done?
        if tasks.is_empty() && (finished || stopping) {
            break;
        }

        // 4. Wait for something to happen.
        let retry_in = next_claim.saturating_duration_since(Instant::now()).max(Duration::from_millis(20));
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (path, claim, mut outcome, panicked) = match done {
                    Ok((id, (path, claim, outcome))) => {
                        in_flight.remove(&id);
                        (path, claim, outcome, false)
                    }
                    Err(e) => {
                        let Some((path, claim, events)) = in_flight.remove(&e.id()) else { continue };
                        let panicked = e.is_panic();
                        let outcome = contained(&station, &claim.upn, claim.line, &events, e, options.batch.mode).await;
                        (path, claim, outcome, panicked)
                    }
                };
                active.remove(&path);
                let lost = lost_claims.remove(&(claim.item, claim.token));
                let panicked = panicked && !lost && outcome.state.is_in_progress() && !control.abort.is_cancelled();
                if panicked && claim.attempts > options.batch.retries {
                    park_after_panics(&journal, &claim, &mut outcome).await;
                }
                conclude(&journal, &sink, &options, &control, &mut say, path, claim, lost, panicked, &mut outcome, &mut results, &mut used).await;
                if !stopping && let Some(why) = station_wide(&outcome) {
                    stopping = true;
                    notice(BatchNotice::Stopping { pending: 0, reason: format!("{why}; this would fail for every user: fix it and start the station again") });
                }
            }
            Some(event) = key_events.recv() => pending_events.push_back(event),
            _ = keeper.tick() => {
                let held: Vec<(i64, i64)> = active.values().map(|a| (a.claim.item, a.claim.token)).collect();
                let lease = options.lease;
                match journal.run(move |j| j.renew(&held, lease)).await {
                    Ok(lost) => {
                        for a in active.values().filter(|a| lost.contains(&(a.claim.item, a.claim.token))) {
                            lost_claims.insert((a.claim.item, a.claim.token));
                            a.cancel.cancel();
                            say.state("lease_lost", format!("{}: the lease was lost (another station took the user over); this key's job stops", a.claim.upn));
                        }
                        let _ = heartbeat(&journal, &queue, if finished { "finishing" } else if offline { "offline" } else { "claiming" }, None).await;
                    }
                    Err(e) => {
                        offline = true;
                        say.state("offline", format!("{e} — claiming no new user; {} job(s) on keys wait for their records; reconnecting", active.len()));
                    }
                }
            }
            _ = tokio::time::sleep(retry_in), if !idle.is_empty() && !finished && !stopping => {}
            _ = control.stop.cancelled(), if !stopping => {
                stopping = true;
                notice(BatchNotice::Stopping { pending: 0, reason: "the operator asked to stop".into() });
            }
        }
    }
    let _ = heartbeat(&journal, &queue, if stopping { "stopped" } else { "finished" }, None).await;
    if finished {
        say.state("finished", format!("every user of {queue} is done or parked"));
    }
    drop(tracker);
    finish(&batch_id, &queue, results, &control, started, &sink)
}

async fn heartbeat(journal: &crate::station::journal::SharedJournal, queue: &str, state: &str, message: Option<String>) -> Result<(), JournalError> {
    let (q, s) = (queue.to_string(), state.to_string());
    journal.run(move |j| j.station_seen(&q, &s, message.as_deref())).await
}

#[allow(clippy::too_many_arguments)]
async fn start(
    station: &Arc<Station>,
    sources: &KeySources,
    sink: &Arc<dyn BatchSink>,
    options: &QueueOptions,
    batch_id: &str,
    claim: Claim,
    key: KeyIdentity,
    active: &mut HashMap<String, Active>,
    tasks: &mut JoinSet<(String, Claim, JobOutcome)>,
    in_flight: &mut HashMap<tokio::task::Id, (String, Claim, Arc<JobEvents>)>,
    control: &BatchControl,
    used: &mut HashSet<String>,
    results: &mut HashMap<u64, RowResult>,
) {
    let path = key.descriptor.path.clone();
    let events = Arc::new(JobEvents::new(sink, &path, &claim.upn, None));
    let notice = |n: BatchNotice| sink.event(&BatchEvent::Batch(n));
    let mut spec = JobSpec::new(options.batch.mode, claim.upn.clone());
    spec.display_name = claim.display_name.clone();
    spec.pin = PinChoice::Random;
    spec.pin_policy = claim.pin_policy.as_deref().and_then(|p| PinPolicyOverride::parse(p).ok()).filter(|p| !p.is_empty());
    spec.via = options.batch.via;
    spec.batch = Some(BatchRef { id: batch_id.to_string(), line: claim.line });
    spec.claim = Some(claim.clone());

    // A takeover: the earlier station's job continues from its intents.
    let resume = match claim.job {
        Some(job) => match station.resume_item_for(job).await {
            Ok(item) => item,
            Err(e) => {
                notice(BatchNotice::KeyWaiting { key: path.clone(), reason: format!("cannot read {}'s earlier job: {e}", claim.upn) });
                None
            }
        },
        None => None,
    };
    if claim.job.is_some() && resume.is_none() {
        // The earlier job is over (its station died before giving the user back): the
        // user's state follows from it, without a key.
        let job = claim.job.expect("checked");
        let record = station.setup().journal.run(move |j| j.job(job)).await.ok().flatten();
        let reason = record.as_ref().and_then(|r| r.operator_reason.clone());
        let end = match record.as_ref().map(|r| r.state) {
            Some(JobState::Done) => Some(ItemEnd::Done),
            // Parked for its key alone (e.g. closed by a takeover with another key whose
            // retry job never started): the user has nothing registered, this key
            // enrolls them.
            Some(JobState::NeedsOperator) if reason.as_ref().is_some_and(|r| r.concerns_only_the_key()) => None,
            Some(JobState::NeedsOperator) => Some(ItemEnd::Parked(reason.as_ref().map(|r| r.message()).unwrap_or_default())),
            _ => None,
        };
        if end.is_none() && reason.is_some() {
            spec.resumes = Some(job);
        }
        if let Some(end) = end {
            let c = claim.clone();
            let _ = station.setup().journal.run(move |j| j.finish_item(&c, &end)).await;
            let mut r = RowResult::new(claim.line, Some(claim.upn.clone()), if matches!(record.map(|r| r.state), Some(JobState::Done)) { RowStatus::AlreadyDone } else { RowStatus::NeedsOperator });
            r.reason = Some("finished by another station before it stopped".into());
            results.insert(claim.line, r);
            return;
        }
    }

    let handle = match open_key(sources, &key, events.clone(), options.batch.touch_timeout).await {
        Ok(h) => h,
        Err(message) => {
            notice(BatchNotice::KeyRefused { key: path.clone(), reason: format!("cannot use this key: {message}; take it out and try another") });
            used.insert(path);
            let c = claim.clone();
            let _ = station.setup().journal.run(move |j| j.finish_item(&c, &ItemEnd::Retry("the key could not be opened".into()))).await;
            return;
        }
    };
    notice(BatchNotice::UserAssigned { key: path.clone(), line: claim.line, upn: claim.upn.clone(), attempt: claim.attempts, resumes: claim.job.map(|j| j.0) });
    // Its own token: a lost lease stops this job only; the operator's abort stops all.
    let cancel = CancelToken::new();
    active.insert(path.clone(), Active { claim: claim.clone(), cancel: cancel.clone() });
    let station = Arc::clone(station);
    let abort = control.abort.clone();
    let remembered = (path.clone(), claim.clone(), events.clone());
    let task = tasks.spawn(async move {
        let forward = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                abort.cancelled().await;
                cancel.cancel();
            })
        };
        let outcome = match resume {
            Some(mut item) => {
                item.retry.display_name = spec.display_name.clone();
                item.retry.pin = spec.pin.clone();
                item.retry.pin_policy = spec.pin_policy.clone();
                item.retry.via = spec.via;
                item.retry.batch = spec.batch.clone();
                item.retry.claim = spec.claim.clone();
                station.resume(item, Some(handle), events, cancel).await
            }
            None => station.provision(handle, spec, events, cancel).await,
        };
        forward.abort();
        (path, claim, outcome)
    });
    in_flight.insert(task.id(), remembered);
}

/// A job that panicked on its last allowed claim (`1 + retries`, the bound retryable
/// failures have) is parked for a person, so the queue drains: left in progress it
/// would be resumed — and panic — each time its claim came back, forever. The reason
/// carries the (capped, inert) panic message and what to do. Left as it is when the
/// journal refuses (lease lost, unreachable): the queue gives the user out again.
async fn park_after_panics(journal: &crate::station::journal::SharedJournal, claim: &Claim, outcome: &mut JobOutcome) {
    let Some(job) = outcome.job else { return };
    let what = outcome.error.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| "keystation hit an internal error (a bug) while working on this user".into());
    let reason = OperatorReason::Other {
        message: format!(
            "{what} — on each of {} attempts, so the user is parked instead of being given out again. See `keystation jobs show {id}` (what the job did, which key); report the panic message to keystation's maintainers; after upgrading keystation, `keystation jobs retry {id}` puts the user back in the queue",
            claim.attempts,
            id = job.0
        ),
    };
    let r = reason.clone();
    match journal.run(move |j| j.park(job, r)).await {
        Ok(()) => {
            outcome.state = JobState::NeedsOperator;
            outcome.operator_message = Some(reason.message());
            outcome.operator_reason = Some(reason);
        }
        Err(e) => tracing::error!("job {job} panicked on its last attempt but could not be parked: {e}; the queue gives the user out again"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn conclude(
    journal: &crate::station::journal::SharedJournal,
    sink: &Arc<dyn BatchSink>,
    options: &QueueOptions,
    control: &BatchControl,
    say: &mut Say,
    path: String,
    claim: Claim,
    lost: bool,
    panicked: bool,
    outcome: &mut JobOutcome,
    results: &mut HashMap<u64, RowResult>,
    used: &mut HashSet<String>,
) {
    let notice = |n: BatchNotice| sink.event(&BatchEvent::Batch(n));
    let key_now = outcome.key.path.clone().unwrap_or_else(|| path.clone());
    deliver_slip(sink, outcome, claim.line, &claim.upn, &key_now);
    // A job left in progress (lease lost, journal unreachable, its end not recorded) or
    // stopped because its lease was lost stays as it is: the user comes back through the
    // queue when the lease ends, here or at another station, and is continued from the
    // job's intents.
    let interrupted = lost || outcome.state.is_in_progress() || outcome.error.as_ref().is_some_and(|e| e.kind == FailureKind::Interrupted);
    let end = if outcome.is_success() && !lost {
        Some(ItemEnd::Done)
    } else if panicked && outcome.state.is_in_progress() {
        // Contained panic below the bound: the user goes back now (the job is resumed
        // from its intents by the next claim, as after a crash), not when the lease ends.
        Some(ItemEnd::Retry(outcome_message(outcome).unwrap_or_else(|| "internal error".into())))
    } else if interrupted {
        None
    } else if outcome.state == JobState::NeedsOperator && outcome.operator_reason.as_ref().is_some_and(|r| r.concerns_only_the_key()) && !control.abort.is_cancelled() {
        // This key's PIN is lost (the key is set aside for a reset), but the user has
        // nothing registered: the next key enrolls them. Not counted against the
        // retries: the next attempt is with another key, which cannot end this way.
        Some(ItemEnd::Retry(format!(
            "{}; the user is given out again for another key",
            outcome_message(outcome).unwrap_or_else(|| "this key must be reset".into())
        )))
    } else if outcome.state == JobState::NeedsOperator {
        Some(ItemEnd::Parked(outcome_message(outcome).unwrap_or_else(|| "needs an operator".into())))
    } else if retryable(outcome, control) && (claim.attempts as u64) <= options.batch.retries as u64 {
        Some(ItemEnd::Retry(outcome_message(outcome).unwrap_or_else(|| "failed; retried".into())))
    } else {
        Some(ItemEnd::Parked(outcome_message(outcome).unwrap_or_else(|| "failed".into())))
    };
    let will_retry = matches!(end, Some(ItemEnd::Retry(_)));
    notice(BatchNotice::UserFinished {
        key: key_now.clone(),
        line: claim.line,
        upn: claim.upn.clone(),
        attempt: claim.attempts,
        state: outcome.state,
        class: outcome.class(),
        method_id: outcome.method_id.clone(),
        model: outcome.key.model.clone(),
        message: outcome_message(outcome),
        will_retry,
        millis: outcome.total_millis,
    });
    let mut result = row_result(&claim.upn, claim.line, outcome, Some(&key_now), claim.attempts);
    match end {
        Some(end) => {
            let c = claim.clone();
            match journal.run(move |j| j.finish_item(&c, &end)).await {
                Ok(()) => {}
                Err(JournalError::LeaseLost(_)) => say.state("lease_lost", format!("{}: the lease was lost before the result was given back; the new holder decides", claim.upn)),
                Err(e) => say.state("offline", format!("{e}; {} stays claimed until its lease ends, then the queue gives it out again", claim.upn)),
            }
        }
        None => {
            if let Some(e) = &outcome.error {
                say.state("lease_lost", format!("{}: {}", claim.upn, e.message));
            }
            result.reason = Some(format!("{}; the queue gives this user out again when the lease ends", outcome_message(outcome).unwrap_or_else(|| "interrupted".into())));
        }
    }
    results.insert(claim.line, result);
    used.insert(key_now.clone());
    notice(BatchNotice::TakeKeyOut { key: key_now, upn: claim.upn.clone(), ok: outcome.is_success() });
}

fn finish(batch_id: &str, queue: &str, results: HashMap<u64, RowResult>, control: &BatchControl, started: Instant, sink: &Arc<dyn BatchSink>) -> BatchReport {
    let cancelled = control.stop.is_cancelled() || control.abort.is_cancelled();
    let report = BatchReport::new(batch_id.to_string(), format!("queue {queue}"), results.into_values().collect(), cancelled, started.elapsed().as_millis() as u64);
    sink.event(&BatchEvent::Batch(BatchNotice::BatchFinished { report: report.clone() }));
    report
}
