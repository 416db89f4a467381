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
    /// Stopped in a state that needs an operator (see `keystation report --state needs-operator`).
    NeedsOperator = 8,
    /// Cancelled by the operator (Ctrl-C) or timed out waiting for a key.
    Cancelled = 10,
    /// A required system component is missing (browser, chromedriver, /dev/uhid).
    Environment = 11,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error on its way to the operator: exit code plus an actionable message.
#[derive(Debug)]
pub struct CliError {
    pub code: Exit,
    pub message: String,
}

impl CliError {
    pub fn new(code: Exit, message: impl Into<String>) -> Self {
        CliError { code, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }
    pub fn failure(message: impl Into<String>) -> Self {
        CliError::new(Exit::Failure, message)
    }
    /// Print to stderr (or as JSON on stdout with `--json`) and return the exit code.
    pub fn report(self, json: bool) -> ExitCode {
        if json {
            let v = serde_json::json!({"error": {"code": self.code as u8, "kind": format!("{:?}", self.code), "message": self.message}});
            println!("{v}");
        } else {
            eprintln!("error: {}", self.message);
        }
        self.code.into()
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
