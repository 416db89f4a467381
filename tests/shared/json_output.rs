//! Reading `keystation --json` output the way docs/json.md defines it: event lines, then
//! one envelope as the last line. Every accessor checks the common shape, so a test that
//! reads a command's JSON also checks that the command keeps the contract.
#![allow(dead_code)]
use serde_json::Value;

/// Every non-empty line of standard output, each parsed as one JSON object.
pub fn lines(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("a --json output line is not one JSON object ({e}): {l}\nwhole output:\n{text}")))
        .collect()
}

/// The envelope (the last line), checked: `ok`, `command`, `exit_code`, `result`, and
/// `error` exactly when not ok.
pub fn envelope(stdout: &[u8]) -> Value {
    let all = lines(stdout);
    let env = all.last().cloned().unwrap_or_else(|| panic!("--json printed nothing (the envelope is missing)"));
    check_envelope(&env);
    for e in &all[..all.len() - 1] {
        check_event(e);
    }
    env
}

/// Panic unless `v` is a well-formed envelope.
pub fn check_envelope(v: &Value) {
    let o = v.as_object().unwrap_or_else(|| panic!("the envelope is not an object: {v}"));
    let ok = o.get("ok").and_then(Value::as_bool).unwrap_or_else(|| panic!("envelope without a boolean `ok`: {v}"));
    assert!(o.get("command").is_some_and(|c| c.is_string() || c.is_null()), "envelope without `command`: {v}");
    let code = o.get("exit_code").and_then(Value::as_u64).unwrap_or_else(|| panic!("envelope without `exit_code`: {v}"));
    assert!(o.contains_key("result"), "envelope without `result`: {v}");
    assert_eq!(ok, code == 0, "`ok` and `exit_code` disagree: {v}");
    match o.get("error") {
        None => assert!(ok, "a failed envelope has no `error`: {v}"),
        Some(e) => {
            assert!(!ok, "a successful envelope has an `error`: {v}");
            assert_eq!(e["code"].as_u64(), Some(code), "error.code differs from exit_code: {v}");
            assert!(e["kind"].is_string() && e["message"].is_string(), "error without kind/message: {v}");
            assert!(e.get("next_step").is_some(), "error without next_step (null when there is none): {v}");
        }
    }
    let allowed = ["ok", "command", "exit_code", "error", "result"];
    for k in o.keys() {
        assert!(allowed.contains(&k.as_str()), "unexpected envelope field `{k}`: {v}");
    }
}

/// Panic unless `v` is a well-formed event line.
pub fn check_event(v: &Value) {
    assert!(v["event"].is_string(), "an event line without `event` (or an envelope before the last line): {v}");
    let at = v["at"].as_str().unwrap_or_else(|| panic!("an event line without `at`: {v}"));
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'), "`at` is not an RFC 3339 UTC time: {v}");
}

/// The event lines (everything before the envelope), checked.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    let all = lines(stdout);
    let _ = envelope(stdout);
    all[..all.len() - 1].to_vec()
}

/// The result of a successful command (panics, with the output, if it failed).
pub fn result(stdout: &[u8]) -> Value {
    let env = envelope(stdout);
    assert_eq!(env["ok"], true, "the command failed: {env}");
    env["result"].clone()
}

/// The error object of a failed command.
pub fn error(stdout: &[u8]) -> Value {
    let env = envelope(stdout);
    assert_eq!(env["ok"], false, "the command succeeded: {env}");
    env["error"].clone()
}
