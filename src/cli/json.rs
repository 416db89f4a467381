//! The one `--json` contract of every command (docs/json.md).
//!
//! With `--json`, standard output carries JSON only, one object per line:
//!
//! * zero or more **event** lines (commands that run for a while: `keys watch`, `batch`,
//!   `kiosk`, `demo`, `simulator`…), each `{"event": NAME, "at": TIMESTAMP, …}`;
//! * then exactly one **envelope**, always the last line:
//!   `{"ok": true, "command": "keys list", "exit_code": 0, "result": …}` or
//!   `{"ok": false, "command": "enroll", "exit_code": 5, "error": {"code": 5, "kind":
//!   "entra_error", "message": …, "next_step": …}, "result": …}`.
//!
//! Commands never print the envelope themselves: they hand their result to
//! [`crate::cli::CliContext::print_json`] and return an exit code or a [`CliError`];
//! `cli::main` writes the envelope, for usage errors from the parser too. A command
//! added to [`crate::cli::Command`] gets the contract without doing anything else.
use crate::cli::output::out_line;
use crate::cli::{CliError, Exit};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// A timestamp as every JSON field writes it: RFC 3339, UTC, milliseconds, `Z`
/// (`2026-11-23T09:15:02.123Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// [`timestamp`] of now.
pub fn now() -> String {
    timestamp(Utc::now())
}

/// The result a command hands over, kept until the envelope is written.
#[derive(Debug, Clone, Default)]
pub struct ResultSlot(Arc<Mutex<Option<Value>>>);

impl ResultSlot {
    /// Keep `value` as the command's result (a later call replaces it).
    pub fn set<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let v = serde_json::to_value(value).map_err(|e| CliError::failure(format!("cannot encode JSON output: {e}")))?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        Ok(())
    }

    fn take(&self) -> Option<Value> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// One event line: `{"event": name, "at": now, …fields}`. `fields` must serialize to an
/// object (its own `event`/`at`, if any, are replaced).
pub fn event_line<T: Serialize + ?Sized>(name: &str, fields: &T) -> String {
    let mut map = match serde_json::to_value(fields) {
        Ok(Value::Object(m)) => m,
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
        Err(e) => {
            let mut m = Map::new();
            m.insert("encoding_error".into(), Value::String(e.to_string()));
            m
        }
    };
    let mut out = Map::new();
    out.insert("event".into(), Value::String(name.to_string()));
    out.insert("at".into(), Value::String(now()));
    map.remove("event");
    map.remove("at");
    out.extend(map);
    Value::Object(out).to_string()
}

/// Print one event line on standard output.
pub fn emit_event<T: Serialize + ?Sized>(name: &str, fields: &T) {
    out_line(&event_line(name, fields));
}

/// The stable name of an exit code in `error.kind`.
pub fn kind(code: Exit) -> &'static str {
    match code {
        Exit::Ok => "ok",
        Exit::Failure => "failure",
        Exit::Usage => "usage",
        Exit::NoKey => "no_key",
        Exit::KeyError => "key_error",
        Exit::EntraError => "entra_error",
        Exit::PolicyRefused => "policy_refused",
        Exit::PartialFailure => "partial_failure",
        Exit::NeedsOperator => "needs_operator",
        Exit::Busy => "busy",
        Exit::Cancelled => "cancelled",
        Exit::Environment => "environment",
    }
}

/// What a non-zero exit means when the command gave no message of its own.
fn default_message(code: Exit) -> &'static str {
    match code {
        Exit::Ok => "",
        Exit::Failure => "unexpected failure",
        Exit::Usage => "bad command line or configuration",
        Exit::NoKey => "no FIDO2 key was found",
        Exit::KeyError => "the key refused or failed",
        Exit::EntraError => "Entra ID / Microsoft Graph failed",
        Exit::PolicyRefused => "the tenant's policy refused",
        Exit::PartialFailure => "some rows or users failed; see the result",
        Exit::NeedsOperator => "stopped in a state that needs an operator; see `keystation report --state needs-operator`",
        Exit::Busy => "another keystation process is using the state directory",
        Exit::Cancelled => "cancelled",
        Exit::Environment => "a required system component is missing",
    }
}

/// The envelope for a finished command.
pub fn envelope(command: &str, code: Exit, error: Option<&CliError>, result: Option<Value>) -> Value {
    let mut v = Map::new();
    v.insert("ok".into(), Value::Bool(code == Exit::Ok));
    v.insert("command".into(), if command.is_empty() { Value::Null } else { Value::String(command.to_string()) });
    v.insert("exit_code".into(), Value::from(code as u8));
    if code != Exit::Ok {
        let (message, next_step) = match error {
            Some(e) => (e.message.clone(), e.next_step.clone()),
            None => (default_message(code).to_string(), None),
        };
        v.insert(
            "error".into(),
            serde_json::json!({ "code": code as u8, "kind": kind(code), "message": message, "next_step": next_step }),
        );
    }
    v.insert("result".into(), result.unwrap_or(Value::Null));
    Value::Object(v)
}

/// Write the envelope as the last line of standard output.
pub fn print_envelope(command: &str, code: Exit, error: Option<&CliError>, slot: &ResultSlot) {
    out_line(&envelope(command, code, error, slot.take()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_one_shape() {
        let ok = envelope("keys list", Exit::Ok, None, Some(serde_json::json!([])));
        assert_eq!(ok, serde_json::json!({"ok": true, "command": "keys list", "exit_code": 0, "result": []}));
        let e = CliError::new(Exit::NoKey, "no key").with_next_step("plug one in");
        let err = envelope("keys info", Exit::NoKey, Some(&e), None);
        assert_eq!(
            err,
            serde_json::json!({"ok": false, "command": "keys info", "exit_code": 3,
                "error": {"code": 3, "kind": "no_key", "message": "no key", "next_step": "plug one in"}, "result": null})
        );
        let partial = envelope("batch", Exit::PartialFailure, None, None);
        assert_eq!(partial["error"]["kind"], "partial_failure");
        assert!(partial["error"]["message"].as_str().unwrap().contains("failed"));
    }

    #[test]
    fn events_carry_name_and_time() {
        let line = event_line("arrived", &serde_json::json!({"path": "virtual:0", "event": "x"}));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "arrived");
        assert_eq!(v["path"], "virtual:0");
        assert!(DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).is_ok());
    }
}
