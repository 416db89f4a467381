//! What the kiosk shows, as data: one [`KioskView`] per screen. The CLI renders views as
//! a full-screen terminal page, plain lines or JSON lines; tests read them to play the
//! person at the desk. Views never contain a PIN or a TAP: the handover slip goes
//! through [`KioskDisplay::slip`] only.
use crate::station::handover::HandoverSlip;
use crate::station::pipeline::Step;
use serde::Serialize;

/// One screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum KioskView {
    /// The kiosk is ready (once, at start).
    Ready {
        /// The tenant jobs go to.
        tenant: String,
        /// Whether users choose their own PIN here.
        pin_at_desk: bool,
    },
    /// A refusal or failure stays on the screen until Enter (or `seconds` pass).
    Hold {
        /// At most this long.
        seconds: u64,
    },
    /// Waiting for a user name.
    AskUser,
    /// What was typed is not a user name.
    BadUser {
        /// What was typed.
        input: String,
        /// Why it is refused.
        message: String,
    },
    /// Entra does not know the user, or the tenant's policy leaves them out (checked
    /// before asking for a key).
    UserRefused {
        /// The user as typed.
        user: String,
        /// Why.
        message: String,
        /// What to do.
        next_step: Option<String>,
    },
    /// A key was plugged in before a user name was entered.
    KeyBeforeUser {
        /// The key's path.
        key: String,
    },
    /// Waiting for the user's key.
    PlugKey {
        /// The user.
        user: String,
    },
    /// More than one key is plugged in.
    OneKeyOnly {
        /// How many are plugged in.
        count: usize,
    },
    /// No key came in time.
    NoKey {
        /// The user.
        user: String,
        /// Seconds waited.
        waited_secs: u64,
    },
    /// A step is running.
    Working {
        /// The user.
        user: String,
        /// The step.
        step: Step,
        /// What it does, in words.
        text: String,
    },
    /// The key waits for a touch.
    TouchKey {
        /// The user.
        user: String,
    },
    /// The key must be unplugged and plugged in again (reset window).
    ReplugKey {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// Asking the user to choose a PIN.
    ChoosePin {
        /// The user.
        user: String,
        /// What the PIN must be, in words.
        rules: String,
        /// Why the last one was refused (never the PIN).
        problem: Option<String>,
    },
    /// Asking for the key's current PIN.
    CurrentPin {
        /// The user.
        user: String,
        /// Why it is needed.
        reason: String,
        /// Attempts left before the key locks, when known.
        retries_left: Option<u8>,
    },
    /// The job ended.
    Result {
        /// The user.
        user: String,
        /// Whether the key is ready to use.
        ok: bool,
        /// What happened.
        message: String,
        /// What to do next (for the user, or "call IT staff").
        next_step: Option<String>,
        /// Entra method id, on success.
        method_id: Option<String>,
    },
    /// Waiting for the key to be taken out.
    RemoveKey {
        /// The user.
        user: String,
        /// Whether the key is ready to use.
        ok: bool,
    },
    /// The kiosk closes.
    Closed {
        /// People who plugged a key in (whatever the result).
        served: usize,
        /// People refused before a key (unknown user, outside the policy).
        refused: usize,
        /// Keys ready.
        done: usize,
        /// People served whose key is not ready.
        failed: usize,
    },
}

/// Where kiosk screens go.
pub trait KioskDisplay: Send + Sync {
    /// Show a screen.
    fn show(&self, view: &KioskView);
    /// Show the handover slip, once, until the key is taken out (then the next
    /// [`KioskDisplay::show`] replaces it). Rendering consumes the slip.
    fn slip(&self, user: &str, slip: HandoverSlip);
}
