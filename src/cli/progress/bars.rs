//! The terminal view of a batch: one bar for the whole batch, one line per key on the
//! hub (its user and current step), and the notable events printed above them.
use super::describe::{describe, Detail};
use crate::station::batch::{BatchEvent, BatchNotice};
use crate::station::pipeline::EventKind;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Progress bars on standard error.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    keys: Mutex<HashMap<String, ProgressBar>>,
    counts: Mutex<(u64, u64, u64)>,
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Bars {
    /// Bars drawn on the terminal (standard error).
    pub fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        // Bars are only drawn on a terminal; NO_COLOR still means no colour there.
        let template = if crate::cli::output::colour_forbidden() { "{prefix} [{bar:30}] {pos}/{len} {msg}" } else { "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}" };
        overall.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        overall.set_prefix("batch");
        overall.enable_steady_tick(Duration::from_millis(200));
        Bars { multi, overall, keys: Mutex::new(HashMap::new()), counts: Mutex::new((0, 0, 0)) }
    }

    /// Run `f` with the bars hidden (to print a handover slip).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    fn key_bar(&self, key: &str) -> ProgressBar {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.entry(key.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("  {spinner} {prefix:14} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
                bar.set_prefix(crate::text::inert(key).into_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    /// A key's line: one line of text, whatever a Graph message or a note contains.
    fn show(&self, key: &str, message: impl AsRef<str>) {
        self.key_bar(key).set_message(crate::text::inert(message.as_ref()).into_owned());
    }

    fn drop_key_bar(&self, key: &str) {
        if let Some(bar) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn update_overall(&self) {
        let (done, failed, parked) = *self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.keys.lock().map(|k| k.len()).unwrap_or(0);
        self.overall.set_message(format!("{done} done, {failed} failed, {parked} need an operator, {running} key(s) on the hub"));
    }

    /// Show one event.
    pub fn event(&self, event: &BatchEvent) {
        if let Some(line) = describe(event, Detail::Notable) {
            // Key and step lines are on the bars already.
            let chatty = matches!(event, BatchEvent::Batch(BatchNotice::KeyArrived { .. } | BatchNotice::UserAssigned { .. } | BatchNotice::KeyRemoved { .. }));
            if !chatty {
                let _ = self.multi.println(crate::text::inert_lines(&line));
            }
        }
        match event {
            BatchEvent::Batch(n) => match n {
                BatchNotice::BatchStarted { to_do, .. } => {
                    self.overall.set_length(*to_do as u64);
                    self.update_overall();
                }
                BatchNotice::KeyArrived { key, .. } => self.show(key, "plugged in"),
                BatchNotice::KeyWaiting { key, reason } => self.show(key, format!("waiting: {reason}")),
                BatchNotice::KeyRefused { key, reason } => self.show(key, format!("not used: {reason}")),
                BatchNotice::UserAssigned { key, upn, .. } => self.show(key, format!("{upn}: starting")),
                BatchNotice::UserFinished { key, upn, state, will_retry, .. } => {
                    let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                    match state {
                        crate::station::JobState::Done | crate::station::JobState::HandedOver => {
                            c.0 += 1;
                            self.overall.inc(1);
                        }
                        crate::station::JobState::NeedsOperator => {
                            c.2 += 1;
                            self.overall.inc(1);
                        }
                        _ if !will_retry => {
                            c.1 += 1;
                            self.overall.inc(1);
                        }
                        _ => {}
                    }
                    drop(c);
                    self.show(key, format!("{upn}: {} — remove the key", state.as_str().replace('_', " ")));
                }
                BatchNotice::KeyRemoved { key } => self.drop_key_bar(key),
                BatchNotice::BatchFinished { .. } => {
                    for (_, bar) in self.keys.lock().unwrap_or_else(|p| p.into_inner()).drain() {
                        bar.finish_and_clear();
                    }
                    // Stop where it is: the bar counts finished users only, so users never
                    // started (out of keys, stopped) leave it short of the total, as the
                    // summary says (`finish` would jump to the total).
                    self.overall.abandon();
                }
                _ => {}
            },
            BatchEvent::Job(e) => {
                let Some(key) = &e.key else { return };
                let user = e.user.as_deref().unwrap_or("");
                match &e.kind {
                    EventKind::StepStarted { step } => self.show(key, format!("{user}: {}", step.describe())),
                    EventKind::TouchKey => self.show(key, format!("{user}: TOUCH THE KEY")),
                    EventKind::Note { text } => self.show(key, format!("{user}: {text}")),
                    EventKind::ReplugKey { .. } => self.show(key, format!("{user}: RE-PLUG THE KEY")),
                    _ => {}
                }
            }
        }
        self.update_overall();
    }
}
