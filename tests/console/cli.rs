//! `keystation console` and `keystation demo --console` as processes, the way an
//! operator starts them: the sign-in link reaches the operator (a private file when
//! standard output is not a terminal) and never a log; Ctrl-C stops the console cleanly.
use super::support::{http, Shared};
use crate::keystation_cli::keystation;
use keystation::station::demo::{SimulatedTenant, SimulatedTenantOptions};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Read lines from `lines` until one matches; the line.
async fn line_with(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, needle: &str, seen: &mut String) -> String {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push_str(&l);
            seen.push('\n');
            if l.contains(needle) {
                return Some(l);
            }
        }
        None
    })
    .await;
    found.ok().flatten().unwrap_or_else(|| panic!("no line with `{needle}` in:\n{seen}"))
}

fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: kill only sends a signal to our own child process.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
}

async fn sign_in(base: &str, token: &str) -> String {
    let r = http().post(format!("{base}/api/session")).header("Origin", base).json(&serde_json::json!({ "token": token })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string()
}

pub async fn console_command(_: Shared) {
    let tenant = SimulatedTenant::start(SimulatedTenantOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let secret = tenant.write_secret(&state).unwrap();
    let config = dir.path().join("keystation.toml");
    std::fs::write(&config, tenant.config_toml(&secret, "")).unwrap();
    let log = dir.path().join("console.log");
    let mut child = keystation(&config, &state, 2, None)
        .args(["-vv", "--log-file"])
        .arg(&log)
        .args(["console", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keystation console starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let address = line_with(&mut lines, "keystation console at ", &mut seen).await;
    let base = address.rsplit(' ').next().unwrap().to_string();
    let where_line = line_with(&mut lines, "The sign-in link is in ", &mut seen).await;
    assert!(!seen.contains("#token="), "the link is printed only on a terminal:\n{seen}");
    let link_file = state.join(keystation::console::launch::LINK_FILE);
    assert!(where_line.contains(&link_file.display().to_string()), "{where_line}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&link_file).unwrap().permissions().mode() & 0o777, 0o600);
    let link = std::fs::read_to_string(&link_file).unwrap().trim().to_string();
    assert!(link.starts_with(&format!("{base}/#token=")), "{link}");
    let token = link.rsplit_once("#token=").unwrap().1.to_string();

    let cookie = sign_in(&base, &token).await;
    let s: Value = http().get(format!("{base}/api/session")).header("Cookie", &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!((s["role"].as_str(), s["activity"].as_str()), (Some("operator"), Some("idle")));
    let page = http().get(format!("{base}/journal")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);

    interrupt(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("the console stops on Ctrl-C").unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut err).await.unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("console request"), "the log has the requests:\n{logged}");
    for (what, text) in [("log file", &logged), ("stderr", &err), ("stdout", &seen)] {
        assert!(!text.contains(&token), "the token is in the {what}");
    }
    assert!(!link_file.exists(), "the link file is removed when the console stops");
}

pub async fn demo_console(_: Shared) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--json", "--state-dir"])
        .arg(dir.path())
        .args(["demo", "--console", "--no-open", "--fast", "--users", "3", "--keys", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("keystation demo --console starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let started: Value = serde_json::from_str(&line_with(&mut lines, "console_started", &mut seen).await).unwrap();
    let base = started["address"].as_str().unwrap().to_string();
    let link = std::fs::read_to_string(started["link_file"].as_str().unwrap()).unwrap();
    assert!(link.trim().starts_with(&format!("{base}/hub#token=")), "the demo's link opens the hub: {link}");
    let token = link.trim().rsplit_once("#token=").unwrap().1.to_string();
    let cookie = sign_in(&base, &token).await;
    // The batch starts once a browser signed in, and runs on the hub.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let hub = loop {
        let h: Value = http().get(format!("{base}/api/hub/state")).header("Cookie", &cookie).send().await.unwrap().json().await.unwrap();
        if !h["ending"].is_null() {
            break h;
        }
        assert!(tokio::time::Instant::now() < deadline, "the demo's batch did not end: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(hub["figures"]["done"], 3, "{hub}");
    assert_eq!(hub["ending"]["end"], "all_done");
    let jobs: Value = http().get(format!("{base}/api/journal/jobs")).header("Cookie", &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(jobs["total"], 3);
    interrupt(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("the demo stops on Ctrl-C").unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A network address without HTTPS and an operator password: refused before anything
/// starts (exit 2), saying what to configure.
pub async fn console_refuses_a_network_address(_: Shared) {
    let tenant = SimulatedTenant::start(SimulatedTenantOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let secret = tenant.write_secret(&state).unwrap();
    let config = dir.path().join("keystation.toml");
    std::fs::write(&config, tenant.config_toml(&secret, "")).unwrap();
    let out = keystation(&config, &state, 1, None).args(["--json", "console", "--listen", "0.0.0.0:0"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let envelope: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let message = envelope["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("console.listen") && message.contains("tls_certificate") && message.contains("password_file"), "{message}");
    assert!(!state.join(keystation::console::launch::LINK_FILE).exists(), "no link was made");
}
