//! How batch-like runs (batch, demo, bench) show progress on the terminal:
//!
//! * **bars** (a terminal on standard error): one bar for the batch, one line per key on
//!   the hub with its user and step, notable events printed above (indicatif);
//! * **lines** (no terminal): one timestamped line per step and notice on standard output;
//! * **json** (`--json`): one JSON object per line on standard output, the pipeline's
//!   and the batch's events as they happen (`{"event": "...", "at": "...", ...}`), ending
//!   with `batch_finished` and the full report.
//!
//! Handover slips (they hold PINs) are written once, to the controlling terminal when
//! there is one, else to standard output (standard error with `--json`), never into
//! the JSON stream or a log.
#![warn(missing_docs)]
pub mod bars;
pub mod describe;
pub mod table;

use crate::station::batch::{BatchEvent, BatchObserver, BatchSink, Handover};
use describe::{describe, Detail};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

// Output helpers live in `cli::output` (inert text, closed pipes, colour); re-exported
// for the modes that print through this module.
pub use crate::cli::output::{err_line, err_text, out_control, out_line, out_text, tty_line};

/// Which view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Progress bars (terminal).
    Bars,
    /// Plain lines.
    Lines,
    /// JSON lines.
    Json,
}

impl OutputMode {
    /// `--json` wins; otherwise bars on a terminal, lines elsewhere.
    pub fn detect(json: bool) -> OutputMode {
        if json {
            OutputMode::Json
        } else if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
            OutputMode::Bars
        } else {
            OutputMode::Lines
        }
    }
}

/// What happens to handover slips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlipPolicy {
    /// Show every slip once (batch).
    ShowAll,
    /// Show the first in full, then only say that one was handed over (the demo: its
    /// PINs belong to simulated users).
    ShowFirst,
}

/// A [`BatchSink`] that renders events in one of the [`OutputMode`]s.
pub struct BatchDisplay {
    mode: OutputMode,
    bars: Option<bars::Bars>,
    started: Instant,
    slips: SlipPolicy,
    slips_shown: AtomicUsize,
    warned_no_terminal: AtomicBool,
    out: Mutex<()>,
}

impl BatchDisplay {
    /// A display in `mode`.
    pub fn new(mode: OutputMode, slips: SlipPolicy) -> BatchDisplay {
        let bars = (mode == OutputMode::Bars).then(bars::Bars::new);
        BatchDisplay { mode, bars, started: Instant::now(), slips, slips_shown: AtomicUsize::new(0), warned_no_terminal: AtomicBool::new(false), out: Mutex::new(()) }
    }

    /// The mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Print a line of text where this mode prints text (above the bars, or on stdout).
    pub fn say(&self, text: &str) {
        match &self.bars {
            Some(b) => b.suspend(|| err_line(text)),
            None if self.mode == OutputMode::Json => err_line(text),
            None => {
                let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
                out_line(text);
            }
        }
    }

    fn stamp(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!("{:>7.2}s", secs)
    }

    fn write_slip(&self, text: &str) {
        // The controlling terminal keeps the PIN off redirected output when there is one.
        if tty_line(text).is_ok() {
            return;
        }
        if self.slips == SlipPolicy::ShowAll && !self.warned_no_terminal.swap(true, Ordering::SeqCst) {
            err_line(&format!(
                "note: no terminal, so handover slips (with PINs) go to standard {}; do not redirect it to a file — for unattended runs seal PINs instead (handover.recipients, show_once = false)",
                if self.mode == OutputMode::Json { "error" } else { "output" }
            ));
        }
        if self.mode == OutputMode::Json {
            err_line(text);
        } else {
            out_line(text);
        }
    }
}

impl BatchObserver for BatchDisplay {
    fn event(&self, e: &BatchEvent) {
        match self.mode {
            OutputMode::Bars => {
                if let Some(b) = &self.bars {
                    b.event(e);
                }
            }
            OutputMode::Lines => {
                if let Some(line) = describe(e, Detail::Steps) {
                    let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
                    out_line(&format!("{} {line}", self.stamp()));
                }
            }
            OutputMode::Json => {
                let v = serde_json::to_value(e).unwrap_or_else(|err| serde_json::json!({"event": "encoding_error", "message": err.to_string()}));
                let name = v.get("event").and_then(|n| n.as_str()).unwrap_or("batch").to_string();
                let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
                out_line(&crate::cli::json::event_line(&name, &v));
            }
        }
    }
}

impl BatchSink for BatchDisplay {
    fn handover(&self, handover: Handover) {
        let n = self.slips_shown.fetch_add(1, Ordering::SeqCst);
        let show = match self.slips {
            SlipPolicy::ShowAll => true,
            SlipPolicy::ShowFirst => n == 0,
        };
        if self.mode == OutputMode::Json {
            let v = serde_json::json!({"line": handover.line, "user": handover.upn, "key": handover.key, "slip_shown": show});
            let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
            out_line(&crate::cli::json::event_line("handover", &v));
        }
        if !show {
            if self.mode != OutputMode::Json {
                self.say(&format!("[{}] {}: handover slip handed to the user (not shown in the demo)", handover.key, handover.upn));
            }
            return;
        }
        let intro = match self.slips {
            SlipPolicy::ShowFirst => format!("The handover slip for {} (what a user gets; shown once, never stored in clear):", handover.upn),
            SlipPolicy::ShowAll => format!("Handover slip for {} (line {}, key {}): give it to the user; it is shown only this once.", handover.upn, handover.line, handover.key),
        };
        let rendered = handover.slip.render();
        let text = format!("{intro}\n{}", rendered.expose());
        match &self.bars {
            Some(b) => b.suspend(|| self.write_slip(&text)),
            None => self.write_slip(&text),
        }
        drop(zeroize::Zeroizing::new(text));
    }
}
