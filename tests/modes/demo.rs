//! `keystation demo` as a process: it runs to the end with no configuration, hardware or
//! tenant, and prints a result row per user (plain and `--json`).
use std::process::{Output, Stdio};

async fn demo(args: &[&str], state: Option<&std::path::Path>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
    // A clean environment: no configuration file, no KEYSTATION_* settings.
    let home = tempfile::tempdir().unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("RUST_BACKTRACE", "0")
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = state {
        cmd.arg("--state-dir").arg(dir);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(240), cmd.output()).await.expect("the demo finishes").expect("runs");
    // Without --state-dir nothing may be left in the operator's real state directory.
    assert!(!home.path().join("state").join("keystation").join("journal.sqlite").exists(), "the demo's journal went to a temporary directory");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_to_the_end_and_prints_a_row_per_user() {
    let out = demo(&[], None).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Result: 5 of 5 user(s) done"), "{text}");
    let table: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("USER")).take_while(|l| !l.trim().is_empty()).collect();
    assert_eq!(table.len(), 1 + 5, "header + 5 rows:\n{text}");
    for user in ["alice@contoso.test", "bob@contoso.test", "carol@contoso.test", "dave@contoso.test", "conor.o'brien@contoso.test"] {
        let row = table.iter().find(|l| l.starts_with(user)).unwrap_or_else(|| panic!("no row for {user}:\n{text}"));
        assert!(row.contains("done") && row.contains("virtual:"), "{row}");
    }
    assert!(text.contains("What you just saw"), "{text}");
    assert!(text.contains("Try it for real"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_json_keeps_its_journal_when_asked() {
    let state = tempfile::tempdir().unwrap();
    let out = demo(&["--json", "--users", "3", "--keys", "3", "--fast"], Some(state.path())).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = crate::json_output::events(&out.stdout);
    let last = crate::json_output::result(&out.stdout);
    let rows = last["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert_eq!(r["state"], "done", "{r}");
        assert!(r["method_id"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        assert!(r["model"].as_str().is_some(), "{r}");
    }
    assert_eq!(last["state_dir_kept"], true);
    // Steps of every job are in the stream.
    let registers = lines.iter().filter(|v| v["event"] == "step_started" && v["step"] == "register").count();
    assert_eq!(registers, 3);
    // The journal it kept is readable by `keystation report`.
    let report = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"))
        .args(["--state-dir", state.path().to_str().unwrap(), "report", "--format", "json"])
        .env_remove("KEYSTATION_CONFIG")
        .output()
        .await
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{}", String::from_utf8_lossy(&report.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(jobs.as_array().map(|a| a.iter().filter(|j| j["state"] == "done" && j["mode"] == "demo").count()), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_options_are_checked() {
    let out = demo(&["--users", "0"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--users 0 is out of range"));
}
