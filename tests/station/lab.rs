//! Test machinery out of production: virtual keys (`--virtual`, `KEYSTATION_VIRTUAL`)
//! register only against a loopback tenant (the simulator) or a lab tenant the
//! configuration file names; a stray variable against a real tenant is refused before
//! the key or the tenant is touched.
use crate::cli::CliDesk;
use crate::common::*;
use keystation::key::virtual_key::VirtualHub;
use keystation::station::journal::{FailureKind, JobMode};
use keystation::station::pipeline::{CancelToken, JobSpec, Station};
use keystation::station::state::JobState;
use std::time::{Duration, Instant};

/// A tenant whose hosts are not this machine's (`.invalid` never resolves: without the
/// refusal, the run would go to the network and fail there, differently).
const REMOTE: &str = "https://login.lab.invalid";

fn remote_config(d: &CliDesk, extra: &str) {
    let text = d.desk.config_toml(extra).replace(&d.desk.host(), REMOTE);
    std::fs::write(d.root.path().join("keystation.toml"), text).unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_keys_against_a_non_loopback_tenant_are_refused_unless_the_file_names_a_lab_tenant() {
    let d = CliDesk::new("").await;
    remote_config(&d, "");
    // The test helper passes the keys as KEYSTATION_VIRTUAL=1: the stray variable.
    for args in [&["enroll", "--user", ALICE, "--wait", "5"][..], &["batch", "users.csv"][..]] {
        std::fs::write(d.root.path().join("users.csv"), format!("upn\n{ALICE}\n")).unwrap();
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(60), async {
            let mut cmd = crate::keystation_cli::keystation(&d.root.path().join("keystation.toml"), &d.state(), 1, Some(&d.keys()));
            cmd.env(SECRET_ENV, SECRET).current_dir(d.root.path()).args(args).stdin(std::process::Stdio::null());
            cmd.output().await.unwrap()
        })
        .await
        .expect("refused at once");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}{}", text(&out.stdout));
        assert!(err.contains("virtual keys") && err.contains("register only in the keystation simulator") && err.contains(REMOTE), "{err}");
        assert!(err.contains("[lab] virtual_keys_tenant"), "the lab way is named: {err}");
        assert!(started.elapsed() < Duration::from_secs(30), "refused before any network: {:?}", started.elapsed());
    }
    // Nothing was written: no job, and the key has no PIN.
    let report = d.run(&["report", "--json"], &[]).await;
    assert_eq!(crate::json_output::result(&report.stdout), serde_json::json!([]), "{}", text(&report.stderr));
    let info = d.run(&["keys", "info", "--json"], &[]).await;
    let info = crate::json_output::result(&info.stdout);
    assert_eq!(info.pointer("/info/options/clientPin").and_then(|v| v.as_bool()), Some(false), "{info}");

    // An environment variable cannot allow it (only the file can) …
    let out = d.enroll(ALICE, &[], &[("KEYSTATION_LAB_VIRTUAL_KEYS_TENANT", d.desk.sim.tenant_id())]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // … nor a file naming another tenant.
    remote_config(&d, "[lab]\nvirtual_keys_tenant = \"another-tenant\"\n");
    let out = d.enroll(ALICE, &[], &[]).await;
    assert!(out.status.code() == Some(2) && text(&out.stderr).contains("names another-tenant instead"), "{}", text(&out.stderr));
    // The file naming this tenant lets the run through (it then fails at the network:
    // this lab tenant does not exist).
    remote_config(&d, &format!("[lab]\nvirtual_keys_tenant = \"{}\"\n", d.desk.sim.tenant_id()));
    let out = d.enroll(ALICE, &[], &[]).await;
    let all = text(&out.stderr) + text(&out.stdout).as_str();
    assert!(!all.contains("register only in the keystation simulator"), "{all}");
    assert!(all.contains("login.lab.invalid") && out.status.code() == Some(5), "{:?}: {all}", out.status.code());
}

/// The library refuses too, however the key reached the pipeline (no key sources on the
/// station, a virtual key handle given directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_refuses_a_virtual_key_for_a_non_loopback_tenant() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVLAB000001");
    hub.plug(key.clone());
    let mut config = desk.config(dir.path(), "");
    config.tenant.as_mut().unwrap().authority_host = Some(REMOTE.into());
    config.tenant.as_mut().unwrap().graph_host = Some(REMOTE.into());

    // With virtual key sources, the station does not even open.
    let journal = keystation::station::journal::SharedJournal::new(keystation::station::journal::Journal::open(dir.path().join("journal.sqlite")).unwrap());
    let mut setup = keystation::station::pipeline::StationSetup::new(config.clone(), dir.path(), journal.clone(), desk.graph()).unwrap();
    setup.sources = Some(keystation::key::sources::KeySources::virtual_hub(hub.clone()));
    let refused = Station::open(setup).await.err().expect("refused").to_string();
    assert!(refused.contains("register only in the keystation simulator"), "{refused}");

    // Without sources, a virtual key handle is refused at inspection, before any write.
    let setup = keystation::station::pipeline::StationSetup::new(config, dir.path(), journal, desk.graph()).unwrap();
    let station = Station::open(setup).await.unwrap();
    let rec = Recorder::new();
    let handle = open_key(&hub, key.path(), rec.clone()).await;
    let reports = key.counters().reports_in;
    let out = station.provision(handle, JobSpec::new(JobMode::Enroll, ALICE), rec, CancelToken::new()).await;
    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    let e = out.error.unwrap();
    assert_eq!(e.kind, FailureKind::Config);
    assert!(e.message.contains("register only in the keystation simulator") && e.message.contains("the key was not changed"), "{}", e.message);
    assert_eq!(key.counters().reports_in, reports, "not one report reached the key");
    assert!(desk.methods(ALICE).await.is_empty());
}
