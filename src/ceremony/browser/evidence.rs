//! Evidence of a browser registration: a screenshot of every page the automatic mode
//! recognised, kept in memory, and a log of every recognised page and every handler
//! action that ran; both are written to the request's evidence directory only when the
//! registration fails.
//!
//! Layout (`docs/browser-ceremony.md` §11):
//!
//! ```text
//! <evidence_dir>/
//!   browser-steps.json           start time, flow name/version, mode, outcome, error, one entry per
//!                                recognised page and per handler action
//!   NN-<page-id>.png             the tab when page NN was recognised (NN = log entry, from 01)
//!   NN-<page-id>-window-K.png    other top-level windows (the ceremony popup) then
//!   NN-unrecognised-<name>.png   the page no rule recognised, named by its heading/title
//!   failure.png (+ -window-K)    every window when the failure was detected
//! ```
//!
//! Nothing secret goes in: the log names variables (`$tap`), never their values, and
//! URLs lose their query strings (authorization codes, flow tokens). Screenshots show
//! the TAP field masked, as a password field.
use super::context::EnrollmentContext;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Longest wait for the screenshots of one step.
const SHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Keep at most this many screenshots per registration (memory bound for batch runs).
const MAX_SHOTS: usize = 80;

/// One entry of the log: a page recognised, or an action of its handler.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// 1-based position in the log.
    pub index: usize,
    /// The page (its id in the flow); `None` before the first page or for a page no rule
    /// recognised.
    pub page: Option<String>,
    /// `recognised`, `unrecognised`, `navigate`, `fill`, `click`, `choose`, `restart`, ...
    pub action: String,
    /// The locator that matched, the URL (without query) or the variable name: what the
    /// action acted on.
    pub target: String,
    /// `ok`, `skipped`, `interrupted` or `failed`.
    pub status: String,
    /// Milliseconds since the registration started.
    pub started_ms: u64,
    /// How long the step took.
    pub took_ms: u64,
    /// The tab's URL afterwards, without query.
    pub url: Option<String>,
    /// `$Config.pgid` afterwards.
    pub pgid: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

struct Shot {
    name: String,
    png: Vec<u8>,
}

/// Screenshots and step log of one registration attempt.
pub struct Evidence {
    enabled: bool,
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    steps: Vec<StepRecord>,
    shots: Vec<Shot>,
    mode: &'static str,
    flow: (String, String),
}

#[derive(Serialize)]
struct Log<'a> {
    /// Wall-clock start (RFC 3339): `started_ms` of the entries counts from here.
    started_at: String,
    flow: &'a str,
    flow_version: &'a str,
    mode: &'a str,
    outcome: &'a str,
    error_code: Option<&'a str>,
    error: Option<&'a str>,
    steps: &'a [StepRecord],
    screenshots: Vec<&'a str>,
}

impl Evidence {
    /// `enabled: false` records the step log but takes no screenshots.
    pub fn new(enabled: bool, mode: &'static str, flow_name: &str, flow_version: &str) -> Evidence {
        Evidence { enabled, started: Instant::now(), started_at: chrono::Utc::now(), steps: Vec::new(), shots: Vec::new(), mode, flow: (flow_name.into(), flow_version.into()) }
    }

    /// Milliseconds since the start.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Record a finished step.
    pub fn record(&mut self, step: StepRecord) {
        self.steps.push(step);
    }

    /// The steps so far.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// Screenshot every window of the enrolment under `name` (best effort: a window
    /// that is navigating may not answer).
    pub async fn capture(&mut self, ctx: &EnrollmentContext, name: &str) {
        if !self.enabled {
            return;
        }
        // A screenshot requested while the tab commits a navigation can stall the
        // browser's command queue (observed with Chromium 156), so callers capture only
        // settled pages, and a stall costs at most this long.
        let shots = match tokio::time::timeout(SHOT_TIMEOUT, ctx.screenshots_ordered()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!("screenshot {name} failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!("screenshot {name} timed out");
                return;
            }
        };
        for (k, png) in shots.into_iter().enumerate() {
            let file = if k == 0 { format!("{name}.png") } else { format!("{name}-window-{k}.png") };
            self.shots.push(Shot { name: file, png });
        }
        if self.shots.len() > MAX_SHOTS {
            let drop = self.shots.len() - MAX_SHOTS;
            self.shots.drain(..drop);
        }
    }

    /// The file name for log entry `index` (`07-username`).
    pub fn step_name(index: usize, id: &str) -> String {
        format!("{index:02}-{id}")
    }

    /// The next log entry's index.
    pub fn next_index(&self) -> usize {
        self.steps.len() + 1
    }

    /// Write the log and every screenshot to `dir` (created with mode 0700). Returns the
    /// files written.
    pub fn write(&self, dir: &Path, outcome: &str, error_code: Option<&str>, error: Option<&str>) -> std::io::Result<Vec<PathBuf>> {
        create_private_dir(dir)?;
        let mut written = Vec::new();
        for s in &self.shots {
            let p = dir.join(&s.name);
            std::fs::write(&p, &s.png)?;
            written.push(p);
        }
        let log = Log {
            started_at: self.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            flow: &self.flow.0,
            flow_version: &self.flow.1,
            mode: self.mode,
            outcome,
            error_code,
            error,
            steps: &self.steps,
            screenshots: self.shots.iter().map(|s| s.name.as_str()).collect(),
        };
        let p = dir.join(format!("browser-{}.json", if self.mode == "manual" { "manual" } else { "steps" }));
        let json = serde_json::to_vec_pretty(&log).map_err(std::io::Error::other)?;
        std::fs::write(&p, json)?;
        written.push(p);
        Ok(written)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_only_where_asked_and_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let mut ev = Evidence::new(true, "automatic", "simulator", "1.0.0");
        ev.shots.push(Shot { name: "01-open.png".into(), png: vec![0x89, b'P', b'N', b'G'] });
        ev.record(StepRecord {
            index: 1,
            page: Some("access-pass".into()),
            action: "fill".into(),
            target: "input[name=accesspass] ← $tap".into(),
            status: "ok".into(),
            started_ms: 0,
            took_ms: 5,
            url: Some("http://localhost:1/t/login".into()),
            pgid: Some("ConvergedTFA".into()),
            error: None,
        });
        let files = ev.write(&dir.path().join("job"), "failed", Some("TapExpired"), Some("expired")).unwrap();
        assert_eq!(files.len(), 2);
        let log: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("job/browser-steps.json")).unwrap()).unwrap();
        assert_eq!(log["error_code"], "TapExpired");
        assert_eq!(log["steps"][0]["target"], "input[name=accesspass] ← $tap");
        assert_eq!(log["screenshots"][0], "01-open.png");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(dir.path().join("job")).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }
}
