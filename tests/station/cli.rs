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

/// Run `keystation enroll --user ALICE` with the desk's persistent virtual key, press
/// Ctrl-C (SIGINT) once a line containing `marker` is on standard error, and return the
/// exit code, everything it printed, and how long it took to stop.
async fn interrupt_enroll_at(d: &CliDesk, marker: &str) -> (Option<i32>, String, Duration) {
    let mut cmd = crate::keystation_cli::keystation(&d.root.path().join("keystation.toml"), &d.state(), 1, Some(&d.keys()));
    cmd.env(SECRET_ENV, SECRET)
        .args(["enroll", "--user", ALICE, "--wait", "5"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap() as i32;
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("progress on stderr").unwrap();
        let Some(line) = line else { panic!("enroll ended before `{marker}`:\n{seen}") };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = std::time::Instant::now();
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    let took = sent.elapsed();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
        seen.push_str(&line);
        seen.push('\n');
    }
    (status.code(), seen, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_and_is_recorded() {
    let d = CliDesk::new("").await;
    // Graph answers slowly, so the job is mid-inspection when the operator presses Ctrl-C.
    d.desk.sim.set_faults(FaultConfig { seed: 1, rules: vec![FaultRule { millis: 20_000, ..FaultRule::new(FaultKind::Latency, "/v1.0/policies") }] }).unwrap();
    let (code, seen, took) = interrupt_enroll_at(&d, "checking the key, the user").await;
    assert!(took < Duration::from_secs(10), "cancel took {took:?}");
    assert_eq!(code, Some(10), "{seen}");
    assert!(seen.contains("cancelled by the operator"), "{seen}");
    let report = d.report().await;
    assert_eq!(report[0]["state"], "failed");
    assert_eq!(report[0]["error_kind"], "cancelled");
}

/// Ctrl-C at each step (held there by a slow Graph answer), then the same command again:
/// the interrupted run exits 10 (or 0 when the key was already registered: from then on
/// the PIN is handed over whatever the operator presses), nothing is parked, and the
/// re-run leaves Alice with exactly one method that the journal agrees with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_each_step_then_a_rerun() {
    let alice_id = {
        let d = Desk::new().await;
        d.graph().resolve_user(ALICE).await.unwrap().id
    };
    // Steps that honour Ctrl-C return at once; after registration the step goes on, so
    // its hold is short.
    let slow = |target: String, method: &str, skip: u32, millis: u64| FaultRule { millis, method: Some(method.into()), skip, ..FaultRule::new(FaultKind::Latency, &target) };
    let fido2 = format!("/v1.0/users/{alice_id}/authentication/fido2Methods");
    let cases: Vec<(&str, FaultRule, &str, &[i32])> = vec![
        ("inspect", slow("/v1.0/policies".into(), "GET", 0, 15_000), "checking the key, the user", &[10]),
        ("register (creation options, after the PIN)", slow(format!("{fido2}/creationOptions"), "GET", 0, 15_000), "asking Graph for creation options", &[10]),
        ("verify", slow(fido2.clone(), "GET", 1, 1_500), "checking that Entra lists the key", &[0]),
        ("handover TAP", slow(format!("/v1.0/users/{alice_id}/authentication/temporaryAccessPassMethods"), "POST", 0, 1_500), "issuing a Temporary Access Pass for the first sign-in", &[0]),
    ];
    for (step, rule, marker, codes) in cases {
        let d = CliDesk::new("[tap]\nhandover = true\n").await;
        d.desk.sim.set_faults(FaultConfig { seed: 2, rules: vec![rule] }).unwrap();
        let (code, seen, _) = interrupt_enroll_at(&d, marker).await;
        assert!(code.is_some_and(|c| codes.contains(&c)), "{step}: exit {code:?}\n{seen}");
        assert!(!seen.contains("Needs an operator"), "{step}: nothing is parked\n{seen}");
        d.desk.sim.set_faults(FaultConfig::default()).unwrap();
        let rerun = d.enroll(ALICE, &[], &[]).await;
        let expect = if codes.contains(&0) { 4 } else { 0 }; // done already: the key is refused as registered
        assert_eq!(rerun.status.code(), Some(expect), "{step}: re-run\n{}\n{}", text(&rerun.stdout), text(&rerun.stderr));
        d.one_method_and_agreement(ALICE).await;
        let parked = d.run(&["--json", "jobs", "list", "--parked"], &[]).await;
        assert_eq!(crate::json_output::result(&parked.stdout), serde_json::json!([]), "{step}: nothing parked");
    }
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

/// `keystation jobs …` as a process, JSON.
async fn jobs(d: &CliDesk, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec!["--json", "jobs"];
    all.extend_from_slice(args);
    let out = d.run(&all, &[]).await;
    let v = crate::json_output::envelope(&out.stdout)["result"].clone();
    (out.status.code(), v, format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_show_resolve_and_retry_close_parked_jobs() {
    // The slip may or may not have been seen: parked for an operator (no sealed copy).
    let d = crash_then_rerun("intent:show_pin", "", 8).await;
    let (code, list, all) = jobs(&d, &["list"]).await;
    assert_eq!(code, Some(0), "{all}");
    let parked = list.as_array().unwrap();
    assert_eq!(parked.len(), 1, "{list}");
    assert_eq!(parked[0]["standing"], "parked");
    assert_eq!(parked[0]["why"], "handover_interrupted");
    let id = parked[0]["job"].as_i64().unwrap().to_string();
    let commands: Vec<&str> = parked[0]["commands"].as_array().unwrap().iter().filter_map(|c| c.as_str()).collect();
    assert!(commands.iter().any(|c| c.starts_with(&format!("keystation jobs resolve {id} --note"))), "{commands:?}");
    assert!(commands.contains(&format!("keystation jobs retry {id}").as_str()), "{commands:?}");

    // `show` in words, while nothing else runs; the operator asks the user, who has the PIN.
    let shown = d.run(&["jobs", "show", &id], &[]).await;
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    assert!(text(&shown.stdout).contains("What to do: The key is registered"), "{}", text(&shown.stdout));
    let (code, _, all) = jobs(&d, &["resolve", &id, "--note", ""]).await;
    assert_eq!(code, Some(2), "an empty note is refused: {all}");
    let (code, resolved, all) = jobs(&d, &["resolve", &id, "--note", "Alice read the PIN off the slip"]).await;
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(resolved["state"], "done");
    let (_, list, _) = jobs(&d, &["list"]).await;
    assert_eq!(list, serde_json::json!([]), "nothing left to do");
    let (_, detail, _) = jobs(&d, &["show", &id]).await;
    assert!(detail["history"].as_array().unwrap().iter().any(|h| h["note"].as_str().is_some_and(|n| n.contains("Alice read the PIN"))), "{detail}");
    let (code, _, all) = jobs(&d, &["retry", &id]).await;
    assert_eq!(code, Some(2), "a closed job cannot be retried: {all}");
    d.one_method_and_agreement(ALICE).await;

    // The other way out: the user never saw the PIN. Delete the method, release the job,
    // enroll again: the key is reset and registered once more.
    let d = crash_then_rerun("intent:show_pin", "", 8).await;
    let (_, list, _) = jobs(&d, &["list", "--parked"]).await;
    let id = list[0]["job"].as_i64().unwrap().to_string();
    let method = list[0]["entra_method_id"].as_str().unwrap().to_string();
    d.desk.graph().delete_fido2_method(ALICE, &method).await.unwrap();
    let (code, released, all) = jobs(&d, &["retry", &id, "--note", "method deleted, user never saw the PIN"]).await;
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(released["state"], "failed");
    let again = d.enroll(ALICE, &[], &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    d.one_method_and_agreement(ALICE).await;
    let (_, list, _) = jobs(&d, &["list"]).await;
    assert_eq!(list, serde_json::json!([]));
}
