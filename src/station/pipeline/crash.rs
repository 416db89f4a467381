//! The crash-test hook (a test facility; see `docs/pipeline.md`).
//!
//! `KEYSTATION_TEST_CRASH_AFTER=<point>` makes the process call `std::process::abort()`
//! at a named point of the pipeline, so that tests can kill a real `keystation` process
//! at every state deterministically and check what a re-run does. Points:
//!
//! * `intent:<kind>` (or just `<kind>`): right after the intent of that kind (e.g.
//!   `set_pin`, `register_credential`, `show_pin`) is committed, **before** its side
//!   effect starts;
//! * `effect:<kind>`: right after the side effect succeeded, **before** its result is
//!   committed (the case a power cut makes interesting: the key or Entra changed, the
//!   journal does not know);
//! * `state:<state>` (or just `<state>`): right after the transition into that state
//!   is committed.
//!
//! The environment hook exists only in builds with debug assertions (`cargo test`,
//! `cargo run`, `cargo build`) or with the `crash-hook` cargo feature, which is off by
//! default: a release build (`cargo build --release`, the Debian package) has no code
//! that aborts, and ignores the variable with a warning.
//!
//! In-process tests use [`super::StationOptions::crash_point`] instead: at the point the
//! pipeline stops dead, writes nothing more to the journal and returns an outcome
//! with kind `interrupted`, which is what a killed process leaves behind.
use crate::station::state::JobState;
use std::str::FromStr;

/// The environment variable of the abort hook.
pub const CRASH_ENV: &str = "KEYSTATION_TEST_CRASH_AFTER";

/// Whether this build has the environment hook (see the module docs).
pub const ENV_HOOK_BUILT: bool = cfg!(any(debug_assertions, feature = "crash-hook"));

/// Intent kinds the hook accepts (the journal's `intents.kind` names).
pub const INTENT_KINDS: &[&str] = &[
    "reset_key",
    "set_pin",
    "change_pin",
    "set_min_pin_length",
    "force_pin_change",
    "issue_tap",
    "make_credential",
    "register_credential",
    "delete_method",
    "delete_tap",
    "show_pin",
];

/// A point of the pipeline where a test crash can happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashPoint {
    /// After the intent of this kind is committed, before the side effect.
    Intent(String),
    /// After the side effect, before its result is committed.
    Effect(String),
    /// After the transition into this state is committed.
    State(JobState),
}

impl FromStr for CrashPoint {
    type Err = String;
    fn from_str(s: &str) -> Result<CrashPoint, String> {
        let s = s.trim().to_ascii_lowercase();
        let kind = |k: &str| -> Result<String, String> {
            if INTENT_KINDS.contains(&k) {
                Ok(k.to_string())
            } else {
                Err(format!("`{k}` is not an intent kind; use one of: {}", INTENT_KINDS.join(", ")))
            }
        };
        match s.split_once(':') {
            Some(("intent", k)) => Ok(CrashPoint::Intent(kind(k)?)),
            Some(("effect", k)) => Ok(CrashPoint::Effect(kind(k)?)),
            Some(("state", st)) => st.parse().map(CrashPoint::State),
            Some((other, _)) => Err(format!("crash point prefix `{other}` is unknown; use intent:, effect: or state:")),
            None if INTENT_KINDS.contains(&s.as_str()) => Ok(CrashPoint::Intent(s)),
            None => s.parse().map(CrashPoint::State).map_err(|_| format!("`{s}` is neither an intent kind nor a job state")),
        }
    }
}

/// What the pipeline does when it reaches a crash point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CrashAction {
    /// `std::process::abort()` (the environment hook; not in release builds).
    #[cfg(any(debug_assertions, feature = "crash-hook"))]
    Abort,
    /// Stop dead without further journal writes (in-process tests).
    Halt,
}

/// The armed crash point, if any: the environment variable wins over the option.
#[derive(Debug, Clone, Default)]
pub(crate) struct CrashHook {
    armed: Option<(CrashPoint, CrashAction)>,
}

impl CrashHook {
    /// From the environment (abort) or the station option (halt). A malformed variable
    /// is reported once and ignored: the hook must never change production behaviour.
    pub fn new(option: Option<CrashPoint>) -> CrashHook {
        #[cfg(any(debug_assertions, feature = "crash-hook"))]
        if let Ok(text) = std::env::var(CRASH_ENV) {
            match text.parse::<CrashPoint>() {
                Ok(p) => return CrashHook { armed: Some((p, CrashAction::Abort)) },
                Err(e) => tracing::warn!("{CRASH_ENV} ignored: {e}"),
            }
        }
        #[cfg(not(any(debug_assertions, feature = "crash-hook")))]
        if std::env::var_os(CRASH_ENV).is_some() {
            tracing::warn!("{CRASH_ENV} ignored: the crash hook is a test facility and not part of this build");
        }
        CrashHook { armed: option.map(|p| (p, CrashAction::Halt)) }
    }

    /// Whether `point` is armed; aborts the process when the environment asked for it.
    /// Returns `true` when the pipeline must halt.
    pub fn reached(&self, point: &CrashPoint) -> bool {
        match &self.armed {
            Some((p, action)) if p == point => match action {
                #[cfg(any(debug_assertions, feature = "crash-hook"))]
                CrashAction::Abort => {
                    eprintln!("{CRASH_ENV}: aborting at {point:?} (test facility)");
                    std::process::abort()
                }
                CrashAction::Halt => true,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!("set_pin".parse::<CrashPoint>(), Ok(CrashPoint::Intent("set_pin".into())));
        assert_eq!("effect:register_credential".parse::<CrashPoint>(), Ok(CrashPoint::Effect("register_credential".into())));
        assert_eq!("state:handed-over".parse::<CrashPoint>(), Ok(CrashPoint::State(JobState::HandedOver)));
        assert_eq!("prepared".parse::<CrashPoint>(), Ok(CrashPoint::State(JobState::Prepared)));
        assert!("intent:nap".parse::<CrashPoint>().is_err());
        assert!("later:x".parse::<CrashPoint>().is_err());
    }
}
