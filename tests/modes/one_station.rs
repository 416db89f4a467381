//! One station per state directory: two `keystation batch` processes started at once on
//! one state directory. Exactly one runs; the other is refused at once with exit 9,
//! naming the process that holds the directory; every user ends with exactly one method
//! and nothing is left unfinished in the journal.
use super::cli::{stderr, stdout, CliWorld};
use keystation::station::state::JobState;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_batches_started_at_once_on_one_state_directory() {
    let cw = CliWorld::new(6, "").await;
    // Graph answers slowly, so that the first run is still busy when the second starts
    // whatever the machine's load.
    cw.world
        .tenant
        .sim
        .set_faults(super::common::faults(3, serde_json::json!([{ "kind": "latency", "target": "graph", "millis": 150 }])))
        .unwrap();
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("users.csv", &super::common::csv(&users));
    let spawn = || {
        let mut cmd = crate::keystation_cli::keystation(&cw.config, cw.world.state_dir(), 6, None);
        cmd.args(["--json", "batch", file.to_str().unwrap()]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("keystation starts")
    };
    let (a, b) = (spawn(), spawn());
    let pids = [a.id().unwrap(), b.id().unwrap()];
    // A reader works alongside the running station.
    let owner = cw.world.state_dir().join(keystation::station::state_dir::OWNER_FILE);
    let t0 = std::time::Instant::now();
    let journal = cw.world.state_dir().join("journal.sqlite");
    while !(owner.exists() && journal.exists()) && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reader = cw.run(0, &["report", "--json"], "").await;
    assert_eq!(reader.status.code(), Some(0), "report while a batch runs: {}{}", stdout(&reader), stderr(&reader));
    let wait = |c: tokio::process::Child| async move { tokio::time::timeout(Duration::from_secs(240), c.wait_with_output()).await.expect("finishes").expect("output") };
    let (a, b) = tokio::join!(wait(a), wait(b));
    let codes = [a.status.code(), b.status.code()];
    let (ran, refused, holder) = match codes {
        [Some(0), Some(9)] => (&a, &b, pids[0]),
        [Some(9), Some(0)] => (&b, &a, pids[1]),
        _ => panic!("expected one run and one refusal, got {codes:?}\n--- a\n{}{}\n--- b\n{}{}", stdout(&a), stderr(&a), stdout(&b), stderr(&b)),
    };
    let message = stdout(refused);
    assert!(message.contains("another keystation is using the state directory"), "{message}");
    assert!(message.contains(&format!("process {holder} ")) && message.contains("batch"), "the holder is named: {message}");
    assert!(!stdout(ran).contains("database is locked") && !stderr(ran).contains("database is locked"));
    for u in &users {
        assert_eq!(cw.world.sim_methods(u).await.len(), 1, "{u}");
    }
    let jobs = cw.world.jobs();
    assert_eq!(jobs.len(), users.len(), "one job per user, none from the refused run");
    assert!(jobs.iter().all(|j| j.state == JobState::Done), "{:?}", jobs.iter().map(|j| j.state).collect::<Vec<_>>());
}
