//! Browser-side failures with operator-facing messages.
use std::path::PathBuf;

/// Why the browser could not be started or driven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    /// A required executable is missing.
    #[error("{what} was not found at {path}; install the Debian packages `chromium` and `chromium-driver` (apt-get install chromium chromium-driver), or point keystation at another binary with KEYSTATION_{env}", path = .path.display(), env = .what.to_uppercase())]
    Missing {
        /// `chromium` or `chromedriver`.
        what: &'static str,
        /// Where keystation looked.
        path: PathBuf,
    },
    /// chromedriver did not start or did not become ready.
    #[error("chromedriver did not start: {reason}{log}", log = log_tail_suffix(.log_tail))]
    DriverStart {
        /// What went wrong.
        reason: String,
        /// The last lines of chromedriver's log.
        log_tail: String,
    },
    /// The WebDriver session (and so Chromium) could not be created.
    #[error("Chromium did not start through chromedriver: {reason}{hint}{log}", hint = session_hint(.reason), log = log_tail_suffix(.log_tail))]
    SessionStart {
        /// chromedriver's answer.
        reason: String,
        /// The last lines of chromedriver's log.
        log_tail: String,
    },
    /// A WebDriver BiDi command failed.
    #[error("browser command {command} failed: {message}")]
    Command {
        /// The BiDi method.
        command: String,
        /// The browser's error message.
        message: String,
    },
    /// A command did not answer in time.
    #[error("browser command {0} did not answer in time; the browser may be hung (keystation will restart it)")]
    CommandTimeout(String),
    /// The browser or its BiDi connection went away.
    #[error("the browser closed unexpectedly ({0}); it will be restarted for the next enrolment")]
    Gone(String),
    /// Something in the browser answered with an unexpected shape.
    #[error("unexpected answer from the browser: {0}")]
    Protocol(String),
    /// Local I/O (temp dirs, log files).
    #[error("browser setup failed: {0}")]
    Io(String),
}

impl BrowserError {
    /// True when a system component is missing: the CLI reports these with
    /// `Exit::Environment` (11) rather than as a failure.
    pub fn is_missing_component(&self) -> bool {
        matches!(self, BrowserError::Missing { .. })
    }
}

fn log_tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("\n--- chromedriver log (last lines) ---\n{tail}") }
}

fn session_hint(reason: &str) -> &'static str {
    if reason.contains("only supports Chrome version") || reason.contains("This version of ChromeDriver") {
        "; chromedriver and Chromium must have the same major version (install both from the same Debian release)"
    } else if reason.contains("DevToolsActivePort") || reason.contains("crashed") {
        "; Chromium exited at start: check that it runs at all (`chromium --headless --dump-dom about:blank`) and, when running as root, that --no-sandbox is set"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_debian_packages_and_exit_11() {
        let e = BrowserError::Missing { what: "chromedriver", path: "/usr/bin/chromedriver".into() };
        let m = e.to_string();
        assert!(m.contains("chromium-driver") && m.contains("KEYSTATION_CHROMEDRIVER"), "{m}");
        assert!(e.is_missing_component());
    }

    #[test]
    fn version_mismatch_gets_a_hint() {
        let e = BrowserError::SessionStart { reason: "This version of ChromeDriver only supports Chrome version 150".into(), log_tail: String::new() };
        assert!(e.to_string().contains("same major version"));
    }
}
