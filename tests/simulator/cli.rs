//! `keystation simulator` run as a real process.
use super::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The simulator keeps nothing in a state directory (`--state-dir` is refused), so the
/// directory only isolates the process's environment.
fn keystation(state: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keystation"));
    c.env("KEYSTATION_STATE_DIR", state).env_remove("KEYSTATION_CONFIG");
    c
}

/// Start `keystation simulator --json ...` and read its `simulator_started` event line.
async fn spawn(state: &std::path::Path, args: &[&str]) -> (Child, Value) {
    let mut child = keystation(state)
        .args(["simulator", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keystation runs");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("first line is the JSON summary: {line:?}"));
    crate::json_output::check_event(&info);
    assert_eq!(info["event"], "simulator_started", "{info}");
    (child, info)
}

/// Ctrl-C the simulator and wait (generously) for a clean exit.
fn interrupt(mut child: Child) -> std::process::ExitStatus {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the simulator did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn runs_serves_injects_faults_and_stops_on_ctrl_c() {
    let state = tempfile::tempdir().unwrap();
    let creds = tempfile::tempdir().unwrap();
    let (child, info) = spawn(
        state.path(),
        &["--fault", "throttle@graph,times=1,retry_after=1", "--fault-seed", "3", "--write-credentials", creds.path().to_str().unwrap()],
    )
    .await;
    let base = info["authority"].as_str().unwrap().to_string();
    assert_eq!(info["tenantId"], TENANT);
    assert!(info["securityInfo"].as_str().unwrap().ends_with("/security-info"));
    assert!(info["signIn"].as_str().unwrap().starts_with("http://localhost:"));
    assert!(info["users"].as_array().unwrap().iter().any(|u| u["userPrincipalName"] == "alice@contoso.test"));
    assert!(info["apps"].as_array().unwrap().iter().any(|a| a["clientId"] == OPERATOR_APP && a["kind"] == "public"));

    let r = http()
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", SECRET_APP), ("client_secret", SECRET), ("scope", GRAPH_DEFAULT)])
        .send()
        .await
        .unwrap();
    let t = json_of(r).await["access_token"].as_str().unwrap().to_string();
    let u = format!("{base}/v1.0/users/alice@contoso.test");
    assert_eq!(get(&u, &t).await.status(), 429, "--fault applies");
    assert_eq!(get(&u, &t).await.status(), 200);

    // The generated certificate credentials were written, the key private to its owner.
    let files = info["credentialFiles"].as_array().unwrap();
    assert_eq!(files[0]["clientId"], CERT_APP);
    let key = std::path::PathBuf::from(files[0]["privateKey"].as_str().unwrap());
    assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let status = interrupt(child);
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn tenant_file_and_trusted_roots_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = keystation(dir.path()).args(["simulator", "--print-default-tenant"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[tenant]") && text.contains("contoso.test"));
    let custom = text.replace("display_name = \"Contoso (keystation simulator)\"", "display_name = \"Fabrikam test\"")
        + "\n[behaviour]\nshow_kmsi = false\n";
    let tenant = dir.path().join("tenant.toml");
    std::fs::write(&tenant, custom).unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, super::attest::TestCa::new("cli root").root_pem).unwrap();
    let (child, info) = spawn(dir.path(), &["--tenant", tenant.to_str().unwrap(), "--trust-attestation-root", root.to_str().unwrap(), "--auto-approve"]).await;
    assert_eq!(info["tenantName"], "Fabrikam test");
    // --auto-approve: the first poll succeeds.
    let base = info["authority"].as_str().unwrap();
    let dc = json_of(
        http().post(format!("{base}/{TENANT}/oauth2/v2.0/devicecode")).form(&[("client_id", OPERATOR_APP), ("scope", GRAPH_DEFAULT)]).send().await.unwrap(),
    )
    .await;
    let r = http()
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", OPERATOR_APP), ("device_code", dc["device_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(interrupt(child).success());
}

#[test]
fn bad_options_are_usage_errors_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = keystation(dir.path()).args(["simulator", "--fault", "explode@graph"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("throttle") && err.contains("drop"), "{err}");

    let missing = dir.path().join("nope.toml");
    let out = keystation(dir.path()).args(["simulator", "--tenant", missing.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[tenant]\nid = \"not-a-guid\"\ndomain = \"x.test\"\n").unwrap();
    let out = keystation(dir.path()).args(["simulator", "--tenant", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant.id"), "{}", String::from_utf8_lossy(&out.stderr));
}
