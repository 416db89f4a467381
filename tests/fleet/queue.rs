//! 3 stations × 4 keys over one queue of 60 users, and the failures.
use crate::common::*;
use crate::postgres;
use std::time::Duration;

const RUN: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stations_share_a_queue_of_sixty_users() {
    let Some(cluster) = postgres::shared() else { return };
    let fleet = Fleet::new(cluster, 60).await;
    let mut stations: Vec<_> = ["s1", "s2", "s3"].iter().map(|n| (n.to_string(), fleet.station(n))).collect();
    for (name, child) in &mut stations {
        let code = fleet.wait(name, child, RUN).await;
        assert_eq!(code, Some(0), "station {name}:\n{}", tail(&fleet.log(name)));
    }
    fleet.assert_exactly_once().await;
    let status = tokio::task::block_in_place(|| fleet.status());
    assert_eq!(status.stations.len(), 3, "{status:?}");
    assert!(status.stations.iter().all(|s| s.done > 0), "every station took users: {status:?}");

    // `jobs` reads the shared journal: station s1 finds a job station s2 did, and lists
    // the fleet's jobs (none left for a person here).
    let journal = tokio::task::block_in_place(|| fleet.journal());
    let theirs = fleet
        .users
        .iter()
        .flat_map(|u| journal.jobs_for_user(u).unwrap())
        .find(|j| j.station.as_deref() == Some("s2"))
        .expect("a job done by s2");
    let out = fleet.command("s1", 0).args(["--json", "jobs", "show", &theirs.uid]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "jobs show from s1: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default()).expect("JSON envelope");
    assert_eq!(v["result"]["job_uid"], theirs.uid.as_str(), "{v}");
    assert_eq!(v["result"]["station"], "s2", "{v}");
    let out = fleet.command("s3", 0).args(["--json", "jobs", "list"]).output().await.unwrap();
    assert!(out.status.success(), "jobs list from s3: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_killed_mid_run_loses_and_doubles_nobody() {
    let Some(cluster) = postgres::shared() else { return };
    let fleet = Fleet::new(cluster, 60).await;
    let mut s1 = fleet.station("s1");
    let mut s2 = fleet.station("s2");
    let mut s3 = fleet.station("s3");
    fleet.wait_done(12, RUN).await;
    signal(&s2, libc::SIGKILL);
    let _ = s2.wait().await;
    for (name, child) in [("s1", &mut s1), ("s3", &mut s3)] {
        // 8: a user taken over while the dead station showed its slip waits for a person.
        let code = fleet.wait(name, child, RUN).await;
        assert!(matches!(code, Some(0 | 8)), "station {name} exited {code:?}:\n{}", tail(&fleet.log(name)));
    }
    fleet.assert_exactly_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_paused_past_its_lease_is_fenced_off() {
    let Some(cluster) = postgres::shared() else { return };
    let fleet = Fleet::new(cluster, 60).await;
    let mut s1 = fleet.station("s1");
    let mut s2 = fleet.station("s2");
    let mut s3 = fleet.station("s3");
    fleet.wait_done(10, RUN).await;
    signal(&s2, libc::SIGSTOP);
    tokio::time::sleep(Duration::from_secs(LEASE_S * 2 + 1)).await;
    signal(&s2, libc::SIGCONT);
    for (name, child) in [("s1", &mut s1), ("s2", &mut s2), ("s3", &mut s3)] {
        let code = fleet.wait(name, child, RUN).await;
        assert!(matches!(code, Some(0 | 7 | 8)), "station {name} exited {code:?}:\n{}", tail(&fleet.log(name)));
    }
    fleet.assert_exactly_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_and_restarted_mid_run() {
    // Its own cluster: stopping the shared one would break the other tests.
    let Some(mut cluster) = postgres::start() else { return };
    let fleet = Fleet::new(&cluster, 60).await;
    let mut s1 = fleet.station("s1");
    let mut s2 = fleet.station("s2");
    let mut s3 = fleet.station("s3");
    fleet.wait_done(10, RUN).await;
    tokio::task::block_in_place(|| cluster.stop_server());
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| cluster.start_server());
    for (name, child) in [("s1", &mut s1), ("s2", &mut s2), ("s3", &mut s3)] {
        let code = fleet.wait(name, child, RUN).await;
        assert!(matches!(code, Some(0 | 7 | 8)), "station {name} exited {code:?}:\n{}", tail(&fleet.log(name)));
    }
    for name in ["s1", "s2", "s3"] {
        let log = fleet.log(name);
        if log.contains("\"state\":\"offline\"") {
            assert!(log.contains("cannot be reached"), "the station says why it is offline:\n{}", tail(&log));
        }
    }
    assert!(["s1", "s2", "s3"].iter().any(|n| fleet.log(n).contains("\"state\":\"offline\"")), "no station noticed the database going away");
    fleet.assert_exactly_once().await;
}
