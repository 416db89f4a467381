//! Output to pipes and files: a closed pipe ends quietly (no panic, no "Broken pipe",
//! the usual exit code); colour only on a terminal, never with NO_COLOR.
use super::support::*;
use std::process::Stdio;

/// Run with standard output a pipe whose reader has gone before the command writes.
async fn closed_stdout(w: &World, keys: Option<usize>, args: &[&str]) -> std::process::Output {
    let mut cmd = w.command(keys, None, args, &[]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -0`
    tokio::time::timeout(std::time::Duration::from_secs(120), child.wait_with_output()).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_every_command_quietly() {
    let w = World::new().await;
    // A journal for `report` to print.
    let out = w.run(Some(1), None, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json"], &[], "").await;
    assert!(out.status.success(), "{}", show(&out));
    let cases: &[(Option<usize>, &[&str], i32)] = &[
        (Some(1), &["--json", "keys", "info"], 0),
        (Some(2), &["keys", "list"], 0),
        (Some(1), &["keys", "info"], 0),
        (Some(1), &["--json", "keys", "watch", "--max-events", "3"], 0),
        (None, &["report"], 0),
        (None, &["--json", "report"], 0),
        (None, &["report", "--format", "json"], 0),
        (None, &["config", "show"], 0),
        (None, &["completions", "zsh"], 0),
        (None, &["man", "enroll"], 0),
        (None, &["--help"], 0),
        (Some(1), &["keys", "info", "--key", "virtual:9"], 3),
    ];
    for (keys, args, code) in cases {
        let out = closed_stdout(&w, *keys, args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", show(&out));
        assert!(!err.contains("panicked") && !err.to_lowercase().contains("broken pipe"), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_in_a_redirected_stderr_have_no_colour() {
    let w = World::new().await;
    // A deprecated spelling makes a warning line; a log line (tracing WARN) comes from an
    // unknown KEYSTATION_ variable at -v.
    for env in [&[("KEYSTATION_PIN_LENGHT", "9")][..], &[("KEYSTATION_PIN_LENGHT", "9"), ("NO_COLOR", "1")][..]] {
        let out = w.command(None, None, &["-vv", "--json", "whoami", "--tenant", "nosuch.example"], env).stdin(Stdio::null()).output().await.unwrap();
        let err = text(&out.stderr);
        assert!(err.contains("--tenant is deprecated"), "{err}");
        assert!(err.contains("KEYSTATION_PIN_LENGHT"), "{err}");
        assert!(!err.contains('\u{1b}'), "ANSI escapes in a redirected standard error: {err:?}");
        crate::json_output::envelope(&out.stdout);
    }
}
