//! The manual mode: a (visible) private window for the operator, who signs in with the
//! TAP and walks Security info by hand; keystation watches the user's fido2Methods
//! through Graph to know when the key is registered.
//!
//! The WebAuthn bridge stays on in this window. The page's `navigator.credentials.create`
//! is still answered by keystation with the station's PIN, so no browser PIN dialog
//! appears, Chromium never opens the key itself (it is held by keystation), and the
//! journal hooks run exactly as in the automatic mode. It also tells keystation which
//! AAGUID the new method must have.
use crate::text::Inert;
use super::page::Page;
use crate::secret::SecretString;
use std::io::Write;
use std::time::Duration;

/// The operator's screen. The TAP and the PIN are secrets: an implementation shows them
/// only on the operator's display (never in a log, a journal or a report) and takes them
/// off the screen when [`OperatorPrompt::manual_finished`] is called.
pub trait OperatorPrompt: Send + Sync {
    /// The manual window is open at the sign-in page.
    fn show_manual(&self, prompt: ManualPrompt);
    /// The manual registration ended (registered, failed, timed out or cancelled).
    fn manual_finished(&self, outcome: &ManualOutcome);
}

/// What the operator needs to finish a registration by hand.
#[derive(Debug, Clone)]
pub struct ManualPrompt {
    /// Sign in as this user.
    pub upn: String,
    /// Name the key like this in Security info.
    pub display_name: String,
    /// The Temporary Access Pass to sign in with.
    pub tap: SecretString,
    /// The key's PIN. keystation enters it itself (the bridge stays on); it is shown
    /// in case the operator has to answer a PIN prompt anyway.
    pub pin: SecretString,
    /// Why the manual mode runs: `None` when it was chosen, the automatic mode's failure
    /// when it took over.
    pub reason: Option<String>,
    /// True when the window was opened already signed in (cookies carried over from
    /// the automatic attempt).
    pub signed_in: bool,
    /// How long keystation waits for the key to show up in Graph.
    pub timeout: Duration,
    /// The window, for operator tooling and for tests that play the operator.
    pub window: ManualWindow,
}

/// How a manual registration ended, for the operator's screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualOutcome {
    /// Graph shows the key.
    Registered,
    /// It did not happen (the message says why).
    Failed(String),
}

/// The manual window's tab.
#[derive(Debug, Clone)]
pub struct ManualWindow {
    page: Page,
}

impl ManualWindow {
    pub(crate) fn new(page: Page) -> ManualWindow {
        ManualWindow { page }
    }

    /// Read and act on the tab (what an operator's clicks and typing do).
    pub fn page(&self) -> &Page {
        &self.page
    }
}

/// Shows the manual step on the operator's terminal: the controlling terminal
/// (`/dev/tty`) or stderr when that is a terminal — written directly, never through the
/// logger. When neither is a terminal (stderr redirected to a file, a service without a
/// console), the secrets are not written at all and the operator is told so: a log file
/// must never receive a TAP or a PIN.
#[derive(Debug, Default)]
pub struct TerminalPrompt;

impl TerminalPrompt {
    fn screen() -> Option<Box<dyn std::io::Write>> {
        #[cfg(unix)]
        if let Ok(tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            return Some(Box::new(tty));
        }
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            return Some(Box::new(std::io::stderr()));
        }
        None
    }
}

impl OperatorPrompt for TerminalPrompt {
    fn show_manual(&self, p: ManualPrompt) {
        // The user, the name and a page's reason are untrusted: one inert line each.
        let why = p.reason.as_deref().map(|r| format!("Automatic registration stopped: {}\n", Inert(r))).unwrap_or_default();
        let Some(mut out) = TerminalPrompt::screen() else {
            eprintln!(
                "{why}keystation needs the operator to finish registering a key for {} in the browser window, but has no terminal to show the Temporary Access Pass on (stderr is not a terminal); the pass is not written to logs",
                Inert(&p.upn)
            );
            return;
        };
        let sign_in = if p.signed_in {
            "The window is already signed in as the user.".to_string()
        } else {
            format!("Sign in as {} with the Temporary Access Pass  {}", Inert(&p.upn), Inert(p.tap.expose()))
        };
        let _ = writeln!(
            out,
            "\n===== finish the registration by hand =====\n{why}{sign_in}\n\
             Security info → Add sign-in method → Security key → USB device → Next.\n\
             keystation answers the key's PIN and the WebAuthn request itself (key PIN, if a browser ever asks: {}).\n\
             Name the key: {}\nWaiting up to {} minutes for the key to appear in the user's methods.\n",
            p.pin.expose(),
            Inert(&p.display_name),
            p.timeout.as_secs().div_ceil(60)
        );
    }

    fn manual_finished(&self, outcome: &ManualOutcome) {
        let text = match outcome {
            ManualOutcome::Registered => "registered".to_string(),
            ManualOutcome::Failed(m) => format!("not registered: {}", Inert(m)),
        };
        match TerminalPrompt::screen() {
            // Clear the screen: the pass and the PIN leave the operator's display.
            Some(mut out) => {
                let _ = writeln!(out, "\x1b[2J\x1b[H===== manual registration {text} =====\n");
            }
            None => eprintln!("manual registration {text}"),
        }
    }
}

/// For unattended stations: no one to show anything to. The manual mode then waits for
/// the key to appear (for example when an operator watches the window remotely) but
/// shows nothing; registrars normally disable the fallback instead.
#[derive(Debug, Default)]
pub struct NoOperator;

impl OperatorPrompt for NoOperator {
    fn show_manual(&self, _prompt: ManualPrompt) {}
    fn manual_finished(&self, _outcome: &ManualOutcome) {}
}

/// Lets [`OperatorPrompt`] implementations be written as closures in tests and tools.
pub struct PromptFn<S, F> {
    show: S,
    finished: F,
}

impl<S, F> PromptFn<S, F>
where
    S: Fn(ManualPrompt) + Send + Sync,
    F: Fn(&ManualOutcome) + Send + Sync,
{
    /// `show` gets the prompt, `finished` the outcome.
    pub fn new(show: S, finished: F) -> PromptFn<S, F> {
        PromptFn { show, finished }
    }
}

impl<S, F> OperatorPrompt for PromptFn<S, F>
where
    S: Fn(ManualPrompt) + Send + Sync,
    F: Fn(&ManualOutcome) + Send + Sync,
{
    fn show_manual(&self, prompt: ManualPrompt) {
        (self.show)(prompt)
    }
    fn manual_finished(&self, outcome: &ManualOutcome) {
        (self.finished)(outcome)
    }
}
