//! Exit codes that mean something. Keep in sync with docs/exit-codes.md.
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// Unexpected failure (bug, I/O, runtime).
    Failure = 1,
    /// Bad command line or configuration (clap also uses 2).
    Usage = 2,
    /// No FIDO2 key found / the chosen key does not exist.
    NoKey = 3,
    /// The key refused or failed (wrong PIN, blocked, touch timeout, removed...).
    KeyError = 4,
    /// Entra ID / Microsoft Graph / sign-in failure.
    EntraError = 5,
    /// The tenant's policy forbids it (key model blocked, user out of scope, method off).
    PolicyRefused = 6,
    /// A batch finished but some rows or users failed (see the report).
    PartialFailure = 7,
    /// Stopped in a state that needs an operator (see `keystation jobs list`).
    NeedsOperator = 8,
    /// Another keystation process is using the state directory (one station per state directory).
    Busy = 9,
    /// Cancelled by the operator (Ctrl-C) or timed out waiting for a key.
    Cancelled = 10,
    /// A required system component is missing (browser, chromedriver, /dev/uhid).
    Environment = 11,
}

impl Exit {
    /// Every code, in order.
    pub const ALL: [Exit; 12] = [
        Exit::Ok,
        Exit::Failure,
        Exit::Usage,
        Exit::NoKey,
        Exit::KeyError,
        Exit::EntraError,
        Exit::PolicyRefused,
        Exit::PartialFailure,
        Exit::NeedsOperator,
        Exit::Busy,
        Exit::Cancelled,
        Exit::Environment,
    ];

    /// A few words for help pages.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "done",
            Exit::Failure => "unexpected failure",
            Exit::Usage => "bad command line, input or configuration",
            Exit::NoKey => "no key / the chosen key is not there",
            Exit::KeyError => "the key refused or failed",
            Exit::EntraError => "Entra ID / Graph / sign-in failed",
            Exit::PolicyRefused => "the tenant's policy refused",
            Exit::PartialFailure => "some users or rows failed",
            Exit::NeedsOperator => "needs an operator",
            Exit::Busy => "the state directory is in use by another keystation",
            Exit::Cancelled => "cancelled (Ctrl-C, declined, timed out)",
            Exit::Environment => "a system component is missing",
        }
    }
}

/// The exit codes a command can end with, by subcommand path (`keys credentials
/// delete`), for its help page (`cli::command` appends them) and docs/exit-codes.md.
/// 0 and 1 are always possible and not listed here. A new command adds its line; the
/// CLI tests fail for a command without one.
pub fn codes_of(path: &str) -> Option<&'static [u8]> {
    Some(match path {
        "" => &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "keys" | "keys credentials" => &[2, 3, 4, 10],
        "keys list" | "keys watch" => &[2],
        "keys info" | "keys set-pin" | "keys change-pin" | "keys config" | "keys credentials list" => &[2, 3, 4, 10],
        "keys reset" | "keys credentials delete" => &[2, 3, 4, 10],
        "login" => &[2, 5, 10],
        "logout" => &[2],
        "whoami" => &[2, 5],
        "simulator" => &[2],
        "virtual-key" => &[2, 11],
        "enroll" | "open" => &[2, 3, 4, 5, 6, 8, 9, 10, 11],
        "deeplink" | "deeplink sign" => &[2],
        "deeplink register" | "deeplink unregister" | "deeplink status" => &[2, 11],
        "batch" => &[2, 5, 7, 8, 9, 10, 11],
        "kiosk" => &[2, 5, 9, 10, 11],
        "report" => &[2],
        "jobs" | "jobs retry" | "jobs resolve" => &[2, 9],
        "jobs list" | "jobs show" => &[2],
        "demo" => &[2, 7, 8, 10, 11],
        "bench" | "bench keys" | "bench station" => &[2],
        "bench browser" => &[2, 11],
        "config" | "config init" | "config show" | "config path" => &[2],
        "completions" | "man" => &[2],
        "doctor" => &[2, 5, 6, 11],
        "users" | "users show" | "methods list" => &[2, 5, 6],
        "methods" | "methods delete" => &[2, 5, 6, 9, 10],
        "reimage" => &[2, 3, 4, 5, 6, 9, 10, 11],
        "console" => &[2, 5, 9, 11],
        "bench console" => &[2, 11],
        "bench fleet" => &[2],
        "queue" | "queue load" => &[2, 7],
        "queue status" => &[2],
        _ => return None,
    })
}

/// The help text line for `path`'s exit codes, e.g. "Exit codes: 0 done, 1 …".
pub fn codes_help(path: &str) -> Option<String> {
    let codes = codes_of(path)?;
    let list: Vec<String> = Exit::ALL
        .iter()
        .filter(|e| matches!(**e, Exit::Ok | Exit::Failure) || codes.contains(&(**e as u8)))
        .map(|e| format!("{} {}", *e as u8, e.meaning()))
        .collect();
    Some(format!("Exit codes: {} (docs/exit-codes.md).", list.join(", ")))
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error on its way to the operator: exit code, an actionable message and, when
/// there is one, the next step (printed as "what to do: …", and `error.next_step` in
/// the `--json` envelope).
#[derive(Debug)]
pub struct CliError {
    pub code: Exit,
    pub message: String,
    pub next_step: Option<String>,
}

impl CliError {
    pub fn new(code: Exit, message: impl Into<String>) -> Self {
        CliError { code, message: message.into(), next_step: None }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }
    pub fn failure(message: impl Into<String>) -> Self {
        CliError::new(Exit::Failure, message)
    }
    /// Add what the operator should do next.
    pub fn with_next_step(mut self, next: impl Into<String>) -> Self {
        self.next_step = Some(next.into());
        self
    }
    /// Print to standard error for a person (with `--json`, `cli::main` puts it in the
    /// envelope instead).
    pub fn print_human(&self) {
        crate::cli::output::err_line(&format!("error: {}", self.message));
        if let Some(n) = &self.next_step {
            crate::cli::output::err_line(&format!("  what to do: {n}"));
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::key::KeyError> for CliError {
    fn from(e: crate::key::KeyError) -> Self {
        use crate::key::KeyError as K;
        let code = match e {
            K::NoKey => Exit::NoKey,
            K::Cancelled => Exit::Cancelled,
            _ => Exit::KeyError,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<crate::station::pipeline::OutcomeClass> for Exit {
    fn from(c: crate::station::pipeline::OutcomeClass) -> Self {
        use crate::station::pipeline::OutcomeClass as C;
        match c {
            C::Ok => Exit::Ok,
            C::NoKey => Exit::NoKey,
            C::Key => Exit::KeyError,
            C::Entra => Exit::EntraError,
            C::Policy => Exit::PolicyRefused,
            // Bad input (a user that does not exist, a PIN the rules refuse) and bad
            // configuration both mean: change what you asked for.
            C::Config => Exit::Usage,
            C::NeedsOperator => Exit::NeedsOperator,
            C::Cancelled => Exit::Cancelled,
            C::Environment => Exit::Environment,
            C::Internal => Exit::Failure,
        }
    }
}

impl From<crate::entra::graph::GraphError> for CliError {
    /// Policy refusals (`is_policy_refusal`) are 6, everything else from Graph 5; the
    /// message carries Graph's ids and the hint.
    fn from(e: crate::entra::graph::GraphError) -> Self {
        let code = if e.is_policy_refusal() { Exit::PolicyRefused } else { Exit::EntraError };
        CliError::new(code, e.to_string())
    }
}

impl From<crate::ceremony::CeremonyError> for CliError {
    fn from(e: crate::ceremony::CeremonyError) -> Self {
        use crate::ceremony::CeremonyError as C;
        match e {
            C::Key(k) => k.into(),
            C::Graph(g) => g.into(),
            C::Browser { message, missing_component: true } => CliError::new(Exit::Environment, format!("browser: {message}")),
            C::Browser { message, .. } => CliError::new(Exit::EntraError, format!("browser: {message}")),
            C::Page { code, message } if matches!(code.as_str(), "KeyNotAllowed" | "MethodNotAllowed" | "MfaRequired" | "KeyLimitReached") => {
                CliError::new(Exit::PolicyRefused, format!("{message} ({code})"))
            }
            C::Page { code, message } => CliError::new(Exit::EntraError, format!("{message} ({code})")),
            C::Policy(m) => CliError::new(Exit::PolicyRefused, m),
            e @ C::NotConfirmed(_) => CliError::new(Exit::EntraError, e.to_string()),
            C::Journal(m) => CliError::failure(format!("the journal could not record the next step: {m}")),
            C::Cancelled => CliError::new(Exit::Cancelled, "cancelled by the operator"),
            C::Other(m) => CliError::failure(m),
        }
    }
}

impl From<crate::station::pipeline::StationError> for CliError {
    fn from(e: crate::station::pipeline::StationError) -> Self {
        use crate::station::pipeline::StationError as S;
        match e {
            S::Config(m) => CliError::usage(m),
            S::SignIn(m) => CliError::new(Exit::EntraError, m),
            S::Journal(j) => CliError::failure(j.to_string()),
            S::StateDir(d) => d.into(),
            S::Graph(g) => (*g).into(),
            S::Key(k) => k.into(),
            S::Cancelled => CliError::new(Exit::Cancelled, "cancelled by the operator (Ctrl-C)"),
            S::Other(m) => CliError::failure(m),
        }
    }
}

impl From<crate::station::state_dir::StateDirError> for CliError {
    /// Busy is 9; a state path that is a file or cannot be written is 2 (pass another
    /// --state-dir or fix its permissions).
    fn from(e: crate::station::state_dir::StateDirError) -> Self {
        use crate::station::state_dir::StateDirError as D;
        let code = match &e {
            D::Busy { .. } => Exit::Busy,
            D::NotADirectory(_) | D::NotWritable { .. } => Exit::Usage,
        };
        CliError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::pipeline::OutcomeClass;

    #[test]
    fn outcome_classes_map_to_the_documented_codes() {
        assert_eq!(Exit::from(OutcomeClass::Ok) as u8, 0);
        assert_eq!(Exit::from(OutcomeClass::NoKey) as u8, 3);
        assert_eq!(Exit::from(OutcomeClass::Key) as u8, 4);
        assert_eq!(Exit::from(OutcomeClass::Entra) as u8, 5);
        assert_eq!(Exit::from(OutcomeClass::Policy) as u8, 6);
        assert_eq!(Exit::from(OutcomeClass::NeedsOperator) as u8, 8);
        assert_eq!(Exit::from(OutcomeClass::Cancelled) as u8, 10);
        assert_eq!(Exit::from(OutcomeClass::Environment) as u8, 11);
        let e: CliError = crate::ceremony::CeremonyError::Key(crate::key::KeyError::UserActionTimeout).into();
        assert_eq!(e.code, Exit::KeyError, "a touch timeout is a key error");
        let e: CliError = crate::ceremony::CeremonyError::Policy("blocked".into()).into();
        assert_eq!(e.code, Exit::PolicyRefused);
    }
}
