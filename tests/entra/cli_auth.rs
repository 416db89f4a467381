//! `keystation login`, `whoami` and `logout` as a user runs them: the built binary
//! against the simulator started in this test process.
use super::common::*;
use keystation::entra::simulator::SimulatorHandle;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn keystation(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keystation"));
    c.arg("--state-dir").arg(state);
    c.env("XDG_CONFIG_HOME", state.join("xdg"));
    for var in ["KEYSTATION_TENANT", "KEYSTATION_CLIENT_ID", "KEYSTATION_AUTHORITY", "KEYSTATION_CA_BUNDLE", "KEYSTATION_GRAPH", "KEYSTATION_TENANT_ID", "KEYSTATION_TENANT_CLIENT_ID", "KEYSTATION_CONFIG", "RUST_LOG"] {
        c.env_remove(var);
    }
    c.kill_on_drop(true);
    c
}

async fn run(mut c: Command) -> Out {
    let out = c.output().await.expect("keystation runs");
    Out { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() }
}

fn login_args(sim: &SimulatorHandle, c: &mut Command, client_id: &str) {
    c.args(["login", "--authority-host", sim.authority_host().as_str(), "--tenant-id", sim.tenant_id(), "--client-id", client_id]);
}

async fn whoami_json(state: &Path) -> (i32, serde_json::Value) {
    let mut c = keystation(state);
    c.args(["--json", "whoami"]);
    let out = run(c).await;
    // Signed in or not, `result` says what was found (signed out is the error envelope).
    (out.code, crate::json_output::envelope(out.stdout.as_bytes())["result"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_login_with_auto_approval_then_whoami() {
    let sim = sim().await;
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut c = keystation(state.path());
    c.arg("--json");
    login_args(&sim, &mut c, OPERATOR_APP);
    c.arg("--device-code");
    let out = run(c).await;
    assert_eq!(out.code, 0, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("enter the code"), "the prompt goes to stderr: {}", out.stderr);
    let login = crate::json_output::result(out.stdout.as_bytes());
    assert_eq!(login["account"], ADMIN);
    assert_eq!(login["grant"], "device_code");

    let (code, who) = whoami_json(state.path()).await;
    assert_eq!(code, 0);
    assert_eq!(who["signed_in"], true);
    let s = &who["sign_ins"][0];
    assert_eq!(s["status"], "valid");
    assert_eq!(s["account"], ADMIN);
    assert_eq!(s["tenant_id"], sim.tenant_id());
    assert_eq!(s["client_id"], OPERATOR_APP);
    assert_eq!(s["app_only"], false);
    assert_eq!(s["refreshable"], true);
    assert!(s["scopes"].as_array().unwrap().iter().any(|p| p == "UserAuthenticationMethod.ReadWrite.All"), "{s}");
    assert!(s["expires_in_seconds"].as_i64().unwrap() > 3000, "{s}");
    assert!(s["directory_roles"].as_array().unwrap().iter().any(|r| r == "Privileged Authentication Administrator"), "{s}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = state.path().join("tokens").join("token-cache.json");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_login_approved_through_the_approval_endpoint() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    let mut c = keystation(state.path());
    login_args(&sim, &mut c, OPERATOR_APP);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let user_code = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await.expect("prompt in time").unwrap().expect("stderr open");
        if let Some(rest) = line.split("enter the code ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    sim.approve_device_code(&user_code, "anna.authadmin@contoso.test").unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.expect("login finishes").unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).await.unwrap();
    assert!(stdout.contains("Signed in as anna.authadmin@contoso.test"), "{stdout}");

    let mut c = keystation(state.path());
    c.arg("whoami");
    let out = run(c).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("anna.authadmin@contoso.test") && out.stdout.contains("delegated scopes") && out.stdout.contains("Expires:"), "{}", out.stdout);
    assert!(out.stdout.contains("Admin roles: Authentication Administrator"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_and_certificate_logins_then_logout() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    // Secret from an environment variable (the flag names the variable, not the value).
    let mut c = keystation(state.path());
    login_args(&sim, &mut c, SECRET_APP);
    c.args(["--client-secret-env", "STATION_SECRET"]).env("STATION_SECRET", SECRET);
    let out = run(c).await;
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("app-only"), "{}", out.stdout);
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));

    // Certificate (RS256 for variety; PS256 is the default) from files.
    let generated = sim.generated_certificates().iter().find(|g| g.client_id == CERT_APP).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("station.crt"), dir.path().join("station.key"));
    std::fs::write(&cert, &generated.certificate_pem).unwrap();
    std::fs::write(&key, generated.private_key_pem.expose()).unwrap();
    for alg in ["rs256", "ps256"] {
        let mut c = keystation(state.path());
        c.arg("--json");
        login_args(&sim, &mut c, CERT_APP);
        c.args(["--certificate"]).arg(&cert).arg("--private-key").arg(&key).args(["--assertion-alg", alg]);
        let out = run(c).await;
        assert_eq!(out.code, 0, "{alg}: {} {}", out.stdout, out.stderr);
        let v = crate::json_output::result(out.stdout.as_bytes());
        assert_eq!(v["grant"], "client_certificate");
    }

    let (code, who) = whoami_json(state.path()).await;
    assert_eq!(code, 0);
    let sign_ins = who["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 2, "one entry per client: {who}");
    let cert_entry = sign_ins.iter().find(|s| s["client_id"] == CERT_APP).unwrap();
    assert_eq!(cert_entry["app_only"], true);
    assert!(cert_entry["roles"].as_array().unwrap().iter().any(|r| r == "UserAuthMethod-TAP.ReadWrite.All"), "{cert_entry}");

    // Logout of one client, then of everything.
    let mut c = keystation(state.path());
    c.args(["--json", "logout"]);
    let out = run(c).await;
    assert_eq!(out.code, 2, "two sign-ins and no --all: refused ({})", out.stdout);
    let mut c = keystation(state.path());
    c.args(["--json", "logout", "--client-id", SECRET_APP]);
    let out = run(c).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(crate::json_output::result(out.stdout.as_bytes())["removed"].as_array().unwrap().len(), 1);
    let mut c = keystation(state.path());
    c.args(["logout", "--all"]);
    assert_eq!(run(c).await.code, 0);
    let (code, who) = whoami_json(state.path()).await;
    assert_eq!(code, 5);
    assert_eq!(who["signed_in"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_have_exit_codes_and_hints() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    let secret_file = state.path().join("secret.txt");
    std::fs::write(&secret_file, "wrong-secret\n").unwrap();
    let mut c = keystation(state.path());
    login_args(&sim, &mut c, SECRET_APP);
    c.arg("--client-secret-file").arg(&secret_file);
    let out = run(c).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("hint:") && out.stderr.contains("secret"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-secret"));

    let mut c = keystation(state.path());
    c.args(["login", "--tenant-id", "contoso.example", "--client-id", OPERATOR_APP, "--authority-host", "http://login.example.com"]);
    let out = run(c).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("https"), "{}", out.stderr);

    let mut c = keystation(state.path());
    c.args(["login", "--client-id", OPERATOR_APP]);
    let out = run(c).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--tenant"), "{}", out.stderr);
}
