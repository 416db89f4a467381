//! The enrollment desk: a hands-free loop, one person at a time.
//!
//! ```text
//!  ┌─▶ "scan your badge or type your user name"  (a key plugged in now is explained, then used)
//!  │     the operator's quit sequence / a signal / end of a script ──▶ closed
//!  │   the user is looked up in Entra and checked against the policy (before any key)
//!  │   "plug in your security key"              (waits key_timeout; one key at a time)
//!  │   steps… "touch the key" … (the user's own PIN, typed twice, when pin.source = user-at-desk)
//!  │   result; the handover slip, once
//!  └── "remove the key"  ──▶ the job is finished when the key has left the desk
//! ```
//!
//! At start, kiosk jobs a crash left unfinished are settled when they need no key, and
//! otherwise resumed (by the pipeline's resume rules) when their user comes back.
//!
//! Nothing a single person does ends the loop: a bad user name, a user Entra does not
//! know, a key error, a Graph error or a key pulled out half-way all show a result and
//! come back to the first screen; a refusal or failure stays on the screen, in plain
//! words (the pipeline's `OutcomeError`; the service's own text goes to the log), until
//! the next person presses Enter or `kiosk.hold_seconds` pass. Only the operator ends
//! it: the configured `kiosk.quit_sequence`, a signal (cancel), or the end of a
//! script's input — on a terminal Ctrl-D does nothing.
#![warn(missing_docs)]
pub mod input;
pub mod prompt;
pub mod view;
pub mod visitor;

pub use input::{KioskInput, LineInput};
pub use prompt::{describe_rules, KioskPrompt};
pub use view::{KioskDisplay, KioskView};

use crate::ceremony::RegistrationPath;
use crate::key::sources::KeySources;
use crate::key::watcher::{KeyEvent, KeyIdentity};
use crate::key::worker::KeyHandle;
use crate::key::KeyError;
use crate::station::batch::{check_upn, KeyTracker};
use crate::station::journal::JobMode;
use crate::station::pin::PinSource;
use crate::station::pipeline::{key_handle_options, CancelToken, EventKind, FinishWhen, JobOutcome, JobSpec, PinChoice, ResumeItem, Station, StationEvent, StationEvents};
use crate::station::state::JobState;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Mutex;

/// Words the web console's desk treats as "back to the console" (its own screen; the
/// terminal desk closes only on the configured `kiosk.quit_sequence`).
pub const QUIT_WORDS: &[&str] = &["quit", "exit"];

/// How the kiosk behaves.
#[derive(Debug, Clone)]
pub struct KioskOptions {
    /// How long to wait for a key after the user name (then back to the first screen).
    pub key_timeout: Duration,
    /// Time a person gets to touch the key.
    pub touch_timeout: Duration,
    /// Registration path (default: the tenant's).
    pub via: Option<RegistrationPath>,
    /// How often keys are polled.
    pub poll_interval: Duration,
    /// What the operator types as the user name to close the desk (`kiosk.quit_sequence`).
    pub quit_sequence: Option<String>,
    /// How long a refusal stays on an interactive screen without Enter (`kiosk.hold_seconds`).
    pub hold: Duration,
}

impl Default for KioskOptions {
    fn default() -> Self {
        KioskOptions { key_timeout: Duration::from_secs(120), touch_timeout: Duration::from_secs(30), via: None, poll_interval: Duration::from_millis(100), quit_sequence: None, hold: Duration::from_secs(30) }
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KioskEnd {
    /// The operator typed the quit sequence.
    Quit,
    /// The input ended (a script, a closed terminal).
    EndOfInput,
    /// Cancelled (Ctrl-C).
    Cancelled,
}

/// One person served.
#[derive(Debug, Clone, Serialize)]
pub struct KioskResult {
    /// The user as typed.
    pub user: String,
    /// Whether the key is ready.
    pub ok: bool,
    /// Final state of the job (`none` when no job started, e.g. no key came).
    pub state: Option<JobState>,
    /// Entra method id.
    pub method_id: Option<String>,
    /// What went wrong.
    pub message: Option<String>,
    /// Refused before a key (unknown user, outside the policy): not counted as served.
    #[serde(default)]
    pub refused: bool,
}

/// What the kiosk did.
#[derive(Debug, Clone, Serialize)]
pub struct KioskSummary {
    /// Every person who got as far as a key (or was refused), in order.
    pub results: Vec<KioskResult>,
    /// Why it closed.
    pub end: KioskEnd,
}

impl KioskSummary {
    /// People whose key is ready.
    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| r.ok).count()
    }
}

/// The kiosk, ready to run.
pub struct Kiosk {
    station: Arc<Station>,
    /// Interrupted kiosk jobs that need their user's key, by UPN (lower case).
    pending: std::sync::Mutex<std::collections::HashMap<String, ResumeItem>>,
    sources: KeySources,
    input: Arc<Mutex<Box<dyn KioskInput>>>,
    display: Arc<dyn KioskDisplay>,
    options: KioskOptions,
}

enum Ask {
    User(String),
    Quit,
    EndOfInput,
    Cancelled,
}

impl Kiosk {
    /// A kiosk on `station`, watching `sources`, reading `input`, showing on `display`.
    pub fn new(station: Arc<Station>, sources: KeySources, input: Box<dyn KioskInput>, display: Arc<dyn KioskDisplay>, options: KioskOptions) -> Kiosk {
        Kiosk { station, pending: Default::default(), sources, input: Arc::new(Mutex::new(input)), display, options }
    }

    /// Serve people until `quit`, the end of input or `cancel`.
    pub async fn run(self, cancel: CancelToken) -> Result<KioskSummary, KeyError> {
        self.resume_interrupted(&cancel).await;
        let tracker = KeyTracker::start(self.sources.clone(), self.options.poll_interval)?;
        let mut keys = tracker.subscribe();
        let tenant = self.station.config().tenant().and_then(|t| t.id.clone()).unwrap_or_else(|| self.station.config().use_tenant.clone());
        let pin_at_desk = self.station.config().pin.source == PinSource::UserAtDesk;
        self.display.show(&KioskView::Ready { tenant, pin_at_desk });
        let mut results = Vec::new();
        let end = loop {
            let user = match self.ask_user(&tracker, &mut keys, &cancel).await {
                Ask::User(u) => u,
                Ask::Quit => break KioskEnd::Quit,
                Ask::EndOfInput => break KioskEnd::EndOfInput,
                Ask::Cancelled => break KioskEnd::Cancelled,
            };
            // Who the user is, before they plug a key in: "not found" or "not allowed"
            // is said now, and the key stays blank.
            let checked = tokio::select! {
                c = self.station.check_user(&user, self.options.via) => Some(c),
                _ = cancel.cancelled() => None,
            };
            match checked {
                None => break KioskEnd::Cancelled,
                Some(Err(e)) => {
                    if let Some(d) = &e.detail {
                        tracing::info!(user = %user, detail = %d, "user refused at the desk");
                    }
                    self.display.show(&KioskView::UserRefused { user: user.clone(), message: e.message.clone(), next_step: e.next_step.clone() });
                    results.push(KioskResult { user, ok: false, state: None, method_id: None, message: Some(e.message), refused: true });
                    if self.hold(&cancel).await {
                        break KioskEnd::Cancelled;
                    }
                    continue;
                }
                Some(Ok(_)) => {}
            }
            if let Some(result) = self.serve(&user, &tracker, &mut keys, &cancel).await {
                let failed = !result.ok;
                results.push(result);
                if failed && self.hold(&cancel).await {
                    break KioskEnd::Cancelled;
                }
            }
            if cancel.is_cancelled() {
                break KioskEnd::Cancelled;
            }
        };
        let done = results.iter().filter(|r| r.ok).count();
        let refused = results.iter().filter(|r| r.refused).count();
        let served = results.len() - refused;
        self.display.show(&KioskView::Closed { served, refused, done, failed: served - done });
        Ok(KioskSummary { results, end })
    }

    /// Kiosk jobs a crash left unfinished: those that need no key are settled now (e.g. a
    /// key handed over but not yet taken out is finished); the others wait for their
    /// user to come back with the key.
    async fn resume_interrupted(&self, cancel: &CancelToken) {
        let items = match self.station.pending_resumes().await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read unfinished jobs from the journal");
                return;
            }
        };
        for item in items.into_iter().filter(|i| i.job.mode == JobMode::Kiosk) {
            let user = item.job.user.upn.clone().unwrap_or_else(|| item.retry.user.clone());
            if item.needs_key {
                self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_lowercase(), item);
            } else {
                let events = Arc::new(KioskEvents { display: Arc::clone(&self.display), user: user.clone() });
                let outcome = self.station.resume(item, None, events, cancel.clone()).await;
                tracing::info!(user = %user, state = %outcome.state, "settled an interrupted kiosk job");
            }
        }
    }

    /// The first screen: read a user name, explaining keys plugged in meanwhile.
    async fn ask_user(&self, tracker: &KeyTracker, keys: &mut UnboundedReceiver<KeyEvent>, cancel: &CancelToken) -> Ask {
        loop {
            while keys.try_recv().is_ok() {}
            self.display.show(&KioskView::AskUser);
            for k in tracker.present() {
                self.display.show(&KioskView::KeyBeforeUser { key: k.descriptor.path });
            }
            let line = {
                let mut input = self.input.lock().await;
                let read = input.next_line();
                tokio::pin!(read);
                loop {
                    tokio::select! {
                        line = &mut read => break line,
                        Some(event) = keys.recv() => {
                            if let KeyEvent::Arrived(k) = event {
                                self.display.show(&KioskView::KeyBeforeUser { key: k.descriptor.path });
                            }
                        }
                        _ = cancel.cancelled() => return Ask::Cancelled,
                    }
                }
            };
            let Some(line) = line else {
                // A person's Ctrl-D does not close the desk; a script's end does.
                if self.input.lock().await.interactive() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                return Ask::EndOfInput;
            };
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            if self.options.quit_sequence.as_deref().is_some_and(|q| text == q.trim()) {
                return Ask::Quit;
            }
            match check_upn(text) {
                Ok(upn) => return Ask::User(upn.to_string()),
                Err(message) => self.display.show(&KioskView::BadUser { input: crate::text::cap(text).into_owned(), message }),
            }
        }
    }

    /// Keep a refusal on an interactive screen until the next person presses Enter, or
    /// `hold` passes. True when cancelled meanwhile.
    async fn hold(&self, cancel: &CancelToken) -> bool {
        let mut input = self.input.lock().await;
        if !input.interactive() || self.options.hold.is_zero() {
            return cancel.is_cancelled();
        }
        self.display.show(&KioskView::Hold { seconds: self.options.hold.as_secs() });
        tokio::select! {
            _ = input.next_line() => false,
            _ = tokio::time::sleep(self.options.hold) => false,
            _ = cancel.cancelled() => true,
        }
    }

    /// Wait for exactly one key; `None` when none came in time (or cancel).
    async fn wait_for_key(&self, user: &str, tracker: &KeyTracker, keys: &mut UnboundedReceiver<KeyEvent>, cancel: &CancelToken) -> Option<KeyIdentity> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.options.key_timeout;
        self.display.show(&KioskView::PlugKey { user: user.to_string() });
        loop {
            while keys.try_recv().is_ok() {}
            let present = tracker.present();
            match present.len() {
                1 => return present.into_iter().next(),
                0 => {}
                n => self.display.show(&KioskView::OneKeyOnly { count: n }),
            }
            tokio::select! {
                _ = keys.recv() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    self.display.show(&KioskView::NoKey { user: user.to_string(), waited_secs: started.elapsed().as_secs() });
                    return None;
                }
                _ = cancel.cancelled() => return None,
            }
        }
    }

    /// One person, from the key to "remove the key". `None` when no job started.
    async fn serve(&self, user: &str, tracker: &KeyTracker, keys: &mut UnboundedReceiver<KeyEvent>, cancel: &CancelToken) -> Option<KioskResult> {
        let key = self.wait_for_key(user, tracker, keys, cancel).await?;
        let path = key.descriptor.path.clone();
        let events = Arc::new(KioskEvents { display: Arc::clone(&self.display), user: user.to_string() });
        let outcome = match self.open(&key, events.clone()).await {
            Ok(handle) => {
                let interrupted = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&user.to_lowercase());
                match interrupted {
                    // The user's earlier job stopped half-way: the pipeline's resume rules
                    // decide (continue, or reconcile and start over) with this key.
                    Some(mut item) => {
                        let spec = self.job_spec(user);
                        item.retry.pin = spec.pin;
                        item.retry.prompt = spec.prompt;
                        item.retry.finish = spec.finish;
                        item.retry.via = spec.via;
                        self.station.resume(item, Some(handle), events, cancel.clone()).await
                    }
                    None => {
                        let spec = self.job_spec(user);
                        self.station.provision(handle, spec, events, cancel.clone()).await
                    }
                }
            }
            Err(e) => {
                let message = format!("This key could not be used: {e}");
                self.display.show(&KioskView::Result { user: user.to_string(), ok: false, message: message.clone(), next_step: Some("Take it out and try another key.".into()), method_id: None });
                self.display.show(&KioskView::RemoveKey { user: user.to_string(), ok: false });
                self.wait_removed(tracker, &path, cancel).await;
                return Some(KioskResult { user: user.to_string(), ok: false, state: None, method_id: None, message: Some(message), refused: false });
            }
        };
        Some(self.finish(user, outcome, tracker, &path, cancel).await)
    }

    async fn open(&self, key: &KeyIdentity, events: Arc<KioskEvents>) -> Result<Arc<KeyHandle>, KeyError> {
        let io = self.sources.open(&key.descriptor)?;
        let options = key_handle_options(events, self.options.touch_timeout);
        Ok(Arc::new(KeyHandle::open(key.descriptor.clone(), io, options).await?))
    }

    fn job_spec(&self, user: &str) -> JobSpec {
        let mut spec = JobSpec::new(JobMode::Kiosk, user);
        spec.pin = if self.station.config().pin.source == PinSource::UserAtDesk { PinChoice::AskAtDesk } else { PinChoice::Policy };
        spec.prompt = Some(Arc::new(KioskPrompt::new(Arc::clone(&self.input), Arc::clone(&self.display))));
        spec.via = self.options.via;
        spec.finish = FinishWhen::Caller;
        spec
    }

    /// Result, slip, "remove the key", then close the job once the key is gone.
    async fn finish(&self, user: &str, mut outcome: JobOutcome, tracker: &KeyTracker, path: &str, cancel: &CancelToken) -> KioskResult {
        let ok = outcome.is_success();
        let current_path = outcome.key.path.clone().unwrap_or_else(|| path.to_string());
        let (message, next_step) = result_text(&outcome);
        if let Some(d) = outcome.error.as_ref().and_then(|e| e.detail.as_ref()) {
            tracing::info!(user = %user, detail = %d, "the key was not set up at the desk");
        }
        self.display.show(&KioskView::Result { user: user.to_string(), ok, message: message.clone(), next_step, method_id: outcome.method_id.clone() });
        if let Some(slip) = outcome.take_slip() {
            self.display.slip(user, slip);
        }
        if tracker.is_present(&current_path) {
            self.display.show(&KioskView::RemoveKey { user: user.to_string(), ok });
            self.wait_removed(tracker, &current_path, cancel).await;
        }
        if outcome.state == JobState::HandedOver
            && let Some(job) = outcome.job
            && let Err(e) = self.station.finish(job).await
        {
            tracing::warn!(error = %e, "the kiosk could not close a finished job; the next start finishes it");
        }
        KioskResult { user: user.to_string(), ok, state: Some(if ok { JobState::Done } else { outcome.state }), method_id: outcome.method_id.clone(), message: (!ok).then_some(message), refused: false }
    }

    async fn wait_removed(&self, tracker: &KeyTracker, path: &str, cancel: &CancelToken) {
        tokio::select! {
            _ = tracker.wait_removed(path) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

/// The result screen's text: what happened, and what to do next.
fn result_text(outcome: &JobOutcome) -> (String, Option<String>) {
    if outcome.is_success() {
        let name = outcome.display_name.as_deref().map(|n| format!(" It is listed as \"{n}\" in your security info.")).unwrap_or_default();
        return (format!("Your security key is ready.{name}"), Some("Take the key out. Sign in with it and your PIN.".into()));
    }
    if outcome.state == JobState::NeedsOperator {
        let message = outcome.operator_message.clone().unwrap_or_else(|| "This key needs IT staff to finish.".into());
        return (message, Some("Please leave the key with IT staff at the desk.".into()));
    }
    match &outcome.error {
        Some(e) => (e.message.clone(), Some(e.next_step.clone().unwrap_or_else(|| "Take the key out and try again, or ask IT staff.".into()))),
        None => ("The key could not be set up.".into(), Some("Take the key out and ask IT staff.".into())),
    }
}

/// The pipeline's events as kiosk screens.
struct KioskEvents {
    display: Arc<dyn KioskDisplay>,
    user: String,
}

impl StationEvents for KioskEvents {
    fn event(&self, e: &StationEvent) {
        let user = self.user.clone();
        match &e.kind {
            EventKind::StepStarted { step } => self.display.show(&KioskView::Working { user, step: *step, text: step.describe().to_string() }),
            EventKind::TouchKey => self.display.show(&KioskView::TouchKey { user }),
            EventKind::ReplugKey { reason } => self.display.show(&KioskView::ReplugKey { user, reason: reason.clone() }),
            _ => {}
        }
    }
}
