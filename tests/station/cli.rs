//! `keystation enroll` as a separate process against the in-process simulator, with
//! `--virtual 1 --virtual-state DIR` keys: a per-user run, JSON, dry run, exit codes,
//! Ctrl-C, secrets at rest, and a crash (abort) at every pipeline point followed by a
//! re-run.
use crate::common::*;
use keystation::entra::simulator::{FaultConfig, FaultKind, FaultRule};
use keystation::key::virtual_key::AttestationCa;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A desk whose state directory holds the virtual keys' CA, trusted by the simulator.
pub struct CliDesk {
    pub desk: Desk,
    pub root: tempfile::TempDir,
}

impl CliDesk {
    pub async fn new(extra: &str) -> CliDesk {
        let desk = Desk::new().await;
        let root = tempfile::tempdir().unwrap();
        let ca = AttestationCa::load_or_create(&AttestationCa::default_dir(&root.path().join("state"))).unwrap();
        desk.sim.add_trusted_root(ca.certificate_pem()).unwrap();
        std::fs::write(root.path().join("keystation.toml"), desk.config_toml(extra)).unwrap();
        CliDesk { desk, root }
    }

    pub fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    pub fn keys(&self) -> PathBuf {
        self.root.path().join("keys")
    }

    /// Run `keystation` with the desk's configuration, state and one persistent virtual key.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_with_keys(1, args, env).await
    }

    /// The same with `keys` virtual keys.
    pub async fn run_with_keys(&self, keys: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = crate::keystation_cli::keystation(&self.root.path().join("keystation.toml"), &self.state(), keys, Some(&self.keys()));
        cmd.env(SECRET_ENV, SECRET).args(args).stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("keystation finished").expect("keystation ran")
    }

    pub async fn enroll(&self, user: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec!["enroll", "--user", user, "--wait", "5"];
        args.extend_from_slice(extra);
        self.run(&args, env).await
    }

    /// `keystation report --json`.
    pub async fn report(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["report", "--json"], &[]).await;
        assert!(out.status.success(), "report: {}", String::from_utf8_lossy(&out.stderr));
        crate::json_output::result(&out.stdout).as_array().unwrap().clone()
    }

    /// Exactly one method for `upn`, and the report's live jobs claim exactly it.
    pub async fn one_method_and_agreement(&self, upn: &str) {
        let graph: Vec<String> = self.desk.methods(upn).await.into_iter().map(|m| m.id).collect();
        assert_eq!(graph.len(), 1, "{upn} has {graph:?}");
        let claimed: Vec<String> = self
            .report()
            .await
            .into_iter()
            .filter(|r| r["user_upn"].as_str().is_some_and(|u| u.eq_ignore_ascii_case(upn)))
            .filter(|r| matches!(r["state"].as_str(), Some("done" | "needs_operator" | "handed_over")))
            .filter_map(|r| r["entra_method_id"].as_str().map(str::to_string))
            .collect();
        assert_eq!(claimed, graph, "the report and Entra disagree");
        let unfinished = self.run(&["report", "--json", "--state", "unfinished"], &[]).await;
        assert_eq!(crate::json_output::result(&unfinished.stdout), serde_json::json!([]), "nothing left unfinished");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn pin_from_slip(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.trim_start().starts_with("PIN ")).unwrap_or_else(|| panic!("no PIN line in:\n{stdout}"));
    line.split_whitespace().last().unwrap().to_string()
}

/// Every file under `dir`, read as bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_a_user_from_the_command_line() {
    let d = CliDesk::new("").await;
    let log = d.root.path().join("station.log");
    let out = d.enroll(ALICE, &["-vvv", "--log-file", log.to_str().unwrap()], &[]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("Enrolled alice@contoso.test"), "{stdout}");
    assert!(stdout.contains("keystation: security key handover"), "{stdout}");
    assert!(stderr.contains("✓ register"), "{stderr}");
    let pin = pin_from_slip(&stdout);
    assert_eq!(pin.len(), 8);

    // Entra has it, attested (the simulator checked the chain to the state dir's CA).
    let methods = d.desk.methods(ALICE).await;
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].attestation_level.as_deref(), Some("attested"));
    d.one_method_and_agreement(ALICE).await;
    let report = d.report().await;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0]["state"], "done");
    assert_eq!(report[0]["mode"], "enroll");
    assert_eq!(report[0]["key_aaguid"], VIRTUAL_AAGUID);

    // No PIN in clear at rest or in the logs: journal (+ WAL), token cache, log file.
    assert!(std::fs::metadata(&log).unwrap().len() > 0, "the log file was written");
    let mut scanned = files(&d.state());
    scanned.push((log.clone(), std::fs::read(&log).unwrap()));
    for (path, bytes) in &scanned {
        assert!(!bytes.windows(pin.len()).any(|w| w == pin.as_bytes()), "the PIN is in {}", path.display());
    }
    assert!(!stderr.contains(&pin), "the PIN is on standard error");

    // The key is registered now: enrolling it again for Alice is refused, untouched.
    let again = d.enroll(ALICE, &[], &[]).await;
    assert_eq!(again.status.code(), Some(4), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already registered"), "{}", text(&again.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_and_the_pin_in_it_only_when_asked() {
    let d = CliDesk::new("").await;
    // No terminal, no sealed copy, no --show-pin-in-json: refused before anything happens.
    let out = d.enroll(BOB, &[], &[]).await;
    let _ = out;
    let out = d.run(&["--json", "enroll", "--user", BOB, "--wait", "5"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(crate::json_output::error(&out.stdout)["message"].as_str().unwrap().contains("--show-pin-in-json"));
    assert!(d.desk.methods(BOB).await.len() <= 1);

    let d = CliDesk::new("").await;
    let out = d.run(&["--json", "enroll", "--user", BOB, "--wait", "5", "--show-pin-in-json"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = crate::json_output::result(&out.stdout);
    assert_eq!(v["state"], "done");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["slip_shown"], true);
    assert_eq!(v["handover"]["pin"].as_str().unwrap().len(), 8);
    assert!(v["method_id"].is_string());
    assert!(v["timings"].as_array().unwrap().iter().any(|t| t["step"] == "register"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_touches_nothing() {
    let d = CliDesk::new("").await;
    let out = d.enroll(ALICE, &["--dry-run"], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("Dry run: nothing is written"), "{stdout}");
    assert!(stdout.contains("Key name: Virtual Key"), "{stdout}");
    assert!(stdout.contains("register the credential for alice@contoso.test"), "{stdout}");
    assert!(!d.state().join("journal.sqlite").exists(), "no journal was created");
    assert!(stdout.contains("User check: alice@contoso.test can be enrolled"), "{stdout}");
    // The user was checked with reads only: nothing was written to the tenant.
    let writes: Vec<_> = d.desk.sim.requests(None).into_iter().filter(|q| q.method != "GET" && !q.path.ends_with("/checkMemberGroups") && !q.path.ends_with("/token")).collect();
    assert!(writes.is_empty(), "the tenant was only read: {writes:?}");
    let info = d.run(&["--json", "keys", "info"], &[]).await;
    let info = crate::json_output::result(&info.stdout);
    assert_eq!(info["info"]["options"]["clientPin"], false, "{info}");
    let json = d.run(&["--json", "enroll", "--user", ALICE, "--dry-run"], &[]).await;
    let plan = crate::json_output::result(&json.stdout);
    assert_eq!(plan["steps"][0]["state"], "arrived");
    assert_eq!(plan["user_check"]["allowed"], true);

    // A user the tenant would refuse: the dry run says so and exits as the enrollment would.
    let outside = d.enroll(OSCAR, &["--dry-run"], &[]).await;
    assert_eq!(outside.status.code(), Some(6), "{}", text(&outside.stdout));
    assert!(text(&outside.stdout).contains("User check: REFUSED") && text(&outside.stdout).contains("not in scope"), "{}", text(&outside.stdout));
    let nobody = d.run(&["--json", "enroll", "--user", "nobody@contoso.test", "--dry-run"], &[]).await;
    assert_eq!(nobody.status.code(), Some(2), "{}", text(&nobody.stdout));
    let env = crate::json_output::envelope(&nobody.stdout);
    assert_eq!(env["result"]["user_check"]["checked"], false);
    assert_eq!(env["exit_code"], 2);
    assert!(env["error"]["message"].as_str().unwrap().contains("nobody@contoso.test"), "{env}");
    let guest = d.enroll("gina_fabrikam.test#EXT#@contoso.test", &["--dry-run"], &[]).await;
    assert_eq!(guest.status.code(), Some(6), "{}", text(&guest.stdout));
    assert!(d.desk.methods(OSCAR).await.is_empty());
    assert!(!d.state().join("journal.sqlite").exists(), "still no journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_what_went_wrong() {
    let d = CliDesk::new("").await;
    let nobody = d.enroll("nobody@contoso.test", &[], &[]).await;
    assert_eq!(nobody.status.code(), Some(2), "{}", text(&nobody.stderr));
    assert!(text(&nobody.stderr).contains("What to do"), "{}", text(&nobody.stderr));
    let outside = d.enroll(OSCAR, &[], &[]).await;
    assert_eq!(outside.status.code(), Some(6), "{}", text(&outside.stderr));
    let no_key = d.run_with_keys(0, &["enroll", "--user", ALICE, "--wait", "1"], &[]).await;
    assert_eq!(no_key.status.code(), Some(3), "{}", text(&no_key.stderr));
    let two = d.run_with_keys(2, &["enroll", "--user", ALICE], &[]).await;
    assert_eq!(two.status.code(), Some(2), "{}", text(&two.stderr));
    assert!(text(&two.stderr).contains("--index 1"), "{}", text(&two.stderr));
    // A device-code tenant without `keystation login` first.
    let no_login = CliDesk::new("").await;
    let toml = no_login.desk.config_toml("").replace(&format!("method = \"client-secret\"\nsecret_env = \"{SECRET_ENV}\""), "method = \"device-code\"");
    std::fs::write(no_login.root.path().join("keystation.toml"), toml).unwrap();
    let out = no_login.run(&["enroll", "--user", ALICE], &[]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("keystation login"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_and_is_recorded() {
    let d = CliDesk::new("").await;
    // Graph answers slowly, so the job is mid-inspection when the operator presses Ctrl-C.
    d.desk.sim.set_faults(FaultConfig { seed: 1, rules: vec![FaultRule { millis: 20_000, ..FaultRule::new(FaultKind::Latency, "/v1.0/policies") }] }).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(SECRET_ENV, SECRET)
        .args(["--config", d.root.path().join("keystation.toml").to_str().unwrap(), "--state-dir", d.state().to_str().unwrap(), "--virtual", "1"])
        .args(["enroll", "--user", ALICE])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap() as i32;
    // Wait until the job is inspecting (its policy request is held 20 s by the
    // simulator), then interrupt.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("progress on stderr").unwrap().expect("the job reached inspection");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("checking the key, the user") {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = std::time::Instant::now();
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(sent.elapsed() < Duration::from_secs(10), "cancel took {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(10), "{seen}");
    assert!(seen.contains("cancelled by the operator"), "{seen}");
    let report = d.report().await;
    assert_eq!(report[0]["state"], "failed");
    assert_eq!(report[0]["error_kind"], "cancelled");
}

/// Abort at `point`, then run again without the hook.
async fn crash_then_rerun(point: &str, extra_config: &str, expect: i32) -> CliDesk {
    let d = CliDesk::new(extra_config).await;
    let crashed = d.enroll(ALICE, &[], &[(keystation::station::pipeline::CRASH_ENV, point)]).await;
    assert_eq!(crashed.status.code(), None, "{point}: the process should have aborted: {}", text(&crashed.stderr));
    assert!(text(&crashed.stderr).contains("aborting at"), "{point}: {}", text(&crashed.stderr));
    let rerun = d.enroll(ALICE, &[], &[]).await;
    assert_eq!(rerun.status.code(), Some(expect), "{point}: re-run\nstdout:\n{}\nstderr:\n{}", text(&rerun.stdout), text(&rerun.stderr));
    assert!(text(&rerun.stderr).contains("Resuming: job"), "{point}: {}", text(&rerun.stderr));
    d.one_method_and_agreement(ALICE).await;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_each_state_before_registration_then_rerun() {
    for p in ["state:arrived", "state:inspected", "intent:set_pin", "effect:set_pin", "state:prepared", "intent:make_credential", "effect:make_credential"] {
        crash_then_rerun(p, "", 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_each_state_around_registration_then_rerun() {
    for p in ["intent:register_credential", "effect:register_credential", "state:registered", "state:verified", "state:handed_over"] {
        crash_then_rerun(p, "", 0).await;
    }
    // The slip may or may not have been seen: an operator asks the user. Running the
    // enrollment once more does not register the key a second time meanwhile.
    let d = crash_then_rerun("intent:show_pin", "", 8).await;
    let third = d.enroll(ALICE, &[], &[]).await;
    assert_eq!(third.status.code(), Some(4), "{}", text(&third.stderr));
    assert!(text(&third.stderr).contains("needs an operator first"), "{}", text(&third.stderr));
    d.one_method_and_agreement(ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_a_reset_then_rerun() {
    for p in ["intent:reset_key", "effect:reset_key"] {
        crash_then_rerun(p, "[reset]\npolicy = \"always\"\n", 0).await;
    }
}

/// Rewrite the desk's configuration with another `[tenant.sign_in]` and client id.
fn with_sign_in(d: &CliDesk, client_id: &str, sign_in: &str) {
    let toml = d.desk.config_toml("").replace(SECRET_APP, client_id).replace(&format!("method = \"client-secret\"\nsecret_env = \"{SECRET_ENV}\""), sign_in);
    std::fs::write(d.root.path().join("keystation.toml"), toml).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sign_in_method_reaches_graph() {
    // A client secret in a file next to the configuration.
    let d = CliDesk::new("").await;
    std::fs::write(d.root.path().join("client-secret"), format!("{SECRET}\n")).unwrap();
    with_sign_in(&d, SECRET_APP, "method = \"client-secret\"\nsecret_file = \"client-secret\"");
    let out = d.enroll(ALICE, &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "secret file: {}", text(&out.stderr));

    // A certificate registered on the simulator's certificate app (granular permissions).
    let d = CliDesk::new("").await;
    let creds = d.desk.sim.write_generated_credentials(d.root.path()).unwrap();
    let (client, cert, key) = creds.into_iter().next().expect("a certificate app");
    with_sign_in(&d, &client, &format!("method = \"certificate\"\ncertificate = \"{}\"\nprivate_key = \"{}\"", cert.display(), key.display()));
    let out = d.enroll(BOB, &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "certificate: {}", text(&out.stderr));

    // An administrator's device-code sign-in cached by `keystation login` (delegated).
    let d = CliDesk::new("").await;
    const OPERATOR_APP: &str = "0c1e5f3a-6d2b-4a7e-8f19-3b5c7d9e1a20";
    d.desk.sim.set_auto_approve(true, Some("paul.privauth@contoso.test")).unwrap();
    let authority = d.desk.host();
    let login = d.run(&["login", "--device-code", "--tenant", d.desk.sim.tenant_id(), "--client-id", OPERATOR_APP, "--authority", &authority], &[]).await;
    assert_eq!(login.status.code(), Some(0), "login: {}", text(&login.stderr));
    with_sign_in(&d, OPERATOR_APP, "method = \"device-code\"");
    let out = d.enroll(CAROL, &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "device code: {}", text(&out.stderr));
    assert_eq!(d.desk.methods(CAROL).await.len(), 2, "Carol's seeded key and the new one");
}
