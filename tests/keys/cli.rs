//! The `keystation keys` command line, run as a separate process against virtual keys.
use std::io::Write;
use crate::json_output::{events, result};
use std::process::{Command, Output, Stdio};

fn keystation(args: &[&str], stdin: Option<&str>) -> Output {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.args(args)
        .env("KEYSTATION_STATE_DIR", state.path())
        .env_remove("KEYSTATION_VIRTUAL")
        .env_remove("KEYSTATION_VIRTUAL_STATE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("keystation runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn list_json_shows_virtual_keys() {
    let o = keystation(&["--virtual", "2", "--json", "keys", "list"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = result(&o.stdout);
    let keys = v.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["index"], 0);
    assert_eq!(keys[0]["path"], "virtual:0");
    assert_eq!(keys[1]["path"], "virtual:1");
    assert_eq!(keys[0]["backend"], "virtual");
    assert_eq!(keys[0]["aaguid"], "d5a92987-df19-484f-890d-2d49daf54f29");
    assert_eq!(keys[0]["pin_set"], false);
}

#[test]
fn info_prints_the_keys_capabilities() {
    let o = keystation(&["--virtual", "1", "keys", "info"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("virtual:0"), "{out}");
    assert!(out.contains("d5a92987-df19-484f-890d-2d49daf54f29"), "{out}");
    assert!(out.contains("FIDO_2_1"), "{out}");
    assert!(out.contains("minimum PIN length    4"), "{out}");

    let o = keystation(&["--virtual", "1", "--json", "keys", "info"], None);
    let v = result(&o.stdout);
    assert_eq!(v["info"]["aaguid"], "d5a92987-df19-484f-890d-2d49daf54f29");
    assert_eq!(v["info"]["options"]["clientPin"], false);
    assert_eq!(v["key"]["path"], "virtual:0");
}

#[test]
fn set_pin_from_stdin_persists_in_the_virtual_state() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    let o = keystation(&["--virtual", "1", "--virtual-state", dir, "keys", "set-pin", "--new-pin-stdin"], Some("246810\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("PIN set"));
    assert!(!stdout(&o).contains("246810") && !stderr(&o).contains("246810"), "the PIN is never printed");

    let o = keystation(&["--virtual", "1", "--virtual-state", dir, "--json", "keys", "info"], None);
    let v = result(&o.stdout);
    assert_eq!(v["info"]["options"]["clientPin"], true);
    assert_eq!(v["pin_retries"]["retries"], 8);

    // A wrong current PIN: key error exit code, retries in the message.
    let o = keystation(&["--virtual", "1", "--virtual-state", dir, "keys", "change-pin", "--pin-stdin", "--new-pin-stdin"], Some("000000\n135790\n"));
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("7 attempt"), "{}", stderr(&o));
    let o = keystation(&["--virtual", "1", "--virtual-state", dir, "keys", "change-pin", "--pin-stdin", "--new-pin-stdin"], Some("246810\n135790\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Credentials list with the new PIN (none yet), as JSON.
    let o = keystation(&["--virtual", "1", "--virtual-state", dir, "--json", "keys", "credentials", "list", "--pin-stdin"], Some("135790\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = result(&o.stdout);
    assert_eq!(v["existing"], 0);
    assert_eq!(v["credentials"].as_array().unwrap().len(), 0);
}

#[test]
fn a_short_pin_is_refused_with_the_minimum_in_the_message() {
    let o = keystation(&["--virtual", "1", "keys", "set-pin", "--new-pin-stdin"], Some("12\n"));
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("at least 4"), "{}", stderr(&o));
}

#[test]
fn no_key_info_exits_3_and_list_json_is_empty() {
    // --virtual 0: a machine with no key at all, whatever is plugged into this one.
    let o = keystation(&["--virtual", "0", "keys", "info"], None);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no FIDO2 key was found"), "{}", stderr(&o));
    let o = keystation(&["--virtual", "0", "--json", "keys", "list"], None);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(result(&o.stdout), serde_json::json!([]));
    let o = keystation(&["--virtual", "0", "keys", "list"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no FIDO2 key was found"));
}

#[test]
fn several_keys_need_a_choice() {
    let o = keystation(&["--virtual", "2", "keys", "info"], None);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("--index 1") && e.contains("virtual:1"), "{e}");
    let o = keystation(&["--virtual", "2", "--json", "keys", "info", "--index", "1"], None);
    assert_eq!(o.status.code(), Some(0));
    let v = result(&o.stdout);
    assert_eq!(v["key"]["path"], "virtual:1");
    let o = keystation(&["--virtual", "2", "keys", "info", "--key", "virtual:7"], None);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn reset_needs_confirmation_and_config_changes_settings() {
    let o = keystation(&["--virtual", "1", "keys", "reset"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--yes"));
    let o = keystation(&["--virtual", "1", "--json", "keys", "reset", "--yes"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("10 seconds"));
    let v = result(&o.stdout);
    assert_eq!(v["action"], "reset");

    let o = keystation(&["--virtual", "1", "--json", "keys", "config", "--min-pin-length", "6", "--toggle-always-uv"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = result(&o.stdout);
    assert_eq!(v["min_pin_length"], 6);
    assert_eq!(v["always_uv"], true);
    let o = keystation(&["--virtual", "1", "keys", "config"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn watch_prints_json_lines() {
    let o = keystation(&["--virtual", "2", "--json", "keys", "watch", "--max-events", "2"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Event lines with the key flat, as `keys list` shows it, then the envelope.
    let lines = events(&o.stdout);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["event"] == "arrived"));
    assert_eq!(lines[0]["aaguid"], "d5a92987-df19-484f-890d-2d49daf54f29");
    assert_eq!(lines[0]["path"], "virtual:0");
    assert!(lines[0]["serial"].is_string());
    assert_eq!(result(&o.stdout)["events"], 2);
}

#[test]
fn bench_keys_reports_operations_and_parallel_runs() {
    let o = keystation(&["--json", "bench", "keys", "--iterations", "2", "--parallel", "1,3"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = result(&o.stdout);
    let ops = v["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 4);
    for op in ops {
        assert!(op["min_ms"].as_f64().unwrap() > 0.0);
        assert!(op["min_ms"].as_f64() <= op["median_ms"].as_f64() && op["median_ms"].as_f64() <= op["max_ms"].as_f64());
    }
    let par = v["parallel"].as_array().unwrap();
    assert_eq!(par.iter().map(|p| p["keys"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 3]);
    let o = keystation(&["bench", "keys", "--parallel", "0"], None);
    assert_eq!(o.status.code(), Some(2));
}
