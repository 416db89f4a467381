//! One vocabulary: the simulator's printed login line works, `login` and the commands
//! after it share one tenant (configured, or the signed-in one), old spellings work with
//! a deprecation warning, `usgov` and `us-gov` are the same cloud everywhere.
use super::support::*;
use std::process::Stdio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_login_line_works_and_enroll_uses_that_tenant() {
    let w = World::new().await;
    // `keystation simulator` prints one login line per app; run the operator app's as printed.
    let mut sim = w.command(None, None, &["simulator", "--port", "0", "--auto-approve", "--trust-attestation-root"], &[]);
    let ca = keystation::key::virtual_key::AttestationCa::default_dir(&w.state()).join(keystation::key::virtual_key::CA_CERT_FILE);
    assert!(ca.exists(), "the virtual keys' CA is at {}", ca.display());
    sim.arg(&ca).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = sim.spawn().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = loop {
        let l = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().expect("a login line");
        if l.trim_start().starts_with("keystation login") && l.contains("--device-code") {
            break l.trim().to_string();
        }
    };
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    // No configuration file at all: the README flow.
    let nothing = [("KEYSTATION_CONFIG", "")];
    let mut login = w.command(None, None, &args, &nothing);
    login.env_remove("KEYSTATION_CONFIG").stdin(Stdio::null());
    let out = login.output().await.unwrap();
    assert!(out.status.success(), "the printed line `{line}` failed: {}", show(&out));
    assert!(text(&out.stdout).contains("Signed in as"), "{}", show(&out));
    let mut enroll = w.command(Some(1), None, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json"], &[]);
    enroll.env_remove("KEYSTATION_CONFIG").stdin(Stdio::null());
    let out = enroll.output().await.unwrap();
    assert!(out.status.success(), "enroll after login, no configuration: {}", show(&out));
    let _ = child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_uses_the_configured_tenant_and_old_spellings_still_work() {
    let w = World::new().await;
    // The configured tenant (client secret from the environment), no tenant options.
    let out = w.run(None, None, &["--json", "login"], &[], "").await;
    let v = crate::json_output::result(&out.stdout);
    assert_eq!(v["client_id"], STATION_APP, "{v}");
    assert_eq!(v["app_only"], true, "{v}");

    // Old spellings: a deprecation warning, and the same sign-in.
    let host = w.host();
    let old = ["--json", "login", "--tenant", TENANT_ID, "--client-id", OPERATOR_APP, "--authority", &host, "--graph", &host, "--device-code"];
    let out = w.command(None, None, &old, &[]).env_remove("KEYSTATION_CONFIG").stdin(Stdio::null()).output().await.unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let err = text(&out.stderr);
    for (old, new) in [("--tenant", "--tenant-id"), ("--authority", "--authority-host"), ("--graph", "--graph-host")] {
        assert!(err.contains(&format!("{old} is deprecated")) && err.contains(new), "{old} → {new}: {err}");
    }
    let out = w
        .command(None, None, &["--json", "whoami"], &[("KEYSTATION_CLIENT_ID", OPERATOR_APP), ("KEYSTATION_TENANT", TENANT_ID)])
        .env_remove("KEYSTATION_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(text(&out.stderr).contains("KEYSTATION_CLIENT_ID is deprecated") && text(&out.stderr).contains("KEYSTATION_TENANT_CLIENT_ID"), "{}", show(&out));

    // `usgov` and `us-gov` are one cloud, in every layer.
    for (how, env, args) in [
        ("--cloud", vec![], vec!["config", "show", "--cloud", "usgov"]),
        ("--set", vec![], vec!["config", "show", "--set", "tenant.cloud=usgov"]),
        ("environment", vec![("KEYSTATION_TENANT_CLOUD", "usgov")], vec!["config", "show"]),
    ] {
        let mut all = vec!["--json"];
        all.extend(args);
        let out = w.run(None, None, &all, &env, "").await;
        let v = crate::json_output::result(&out.stdout);
        let cloud = v["settings"].as_array().unwrap().iter().find(|s| s["key"] == "tenant.cloud").cloned().unwrap();
        assert_eq!(cloud["value"], "us-gov", "{how}: {cloud}");
    }
    std::fs::write(w.config(), format!("{}\n", w.config_toml().replace("[tenant.sign_in]", "cloud = \"usgov\"\n[tenant.sign_in]"))).unwrap();
    let out = w.run(None, None, &["--json", "config", "show"], &[], "").await;
    let v = crate::json_output::result(&out.stdout);
    assert!(v["settings"].as_array().unwrap().iter().any(|s| s["key"] == "tenant.cloud" && s["value"] == "us-gov"), "{v}");
}
