//! The shared queue on both backends: idempotent loading, claims that never hand one
//! user to two stations, leases that expire and are taken over, and fencing — the
//! station that lost a lease can write nothing more for that user.
use crate::common::*;
use keystation::station::journal::*;
use keystation::station::JobState;
use std::time::Duration;

fn rows(n: usize) -> Vec<QueueRow> {
    (0..n).map(|i| QueueRow { line: i as u64 + 2, upn: format!("user{i:03}@contoso.example"), display_name: None, pin_policy: None }).collect()
}

fn claimed(r: ClaimResult) -> Claim {
    match r {
        ClaimResult::Claimed(c) => *c,
        other => panic!("expected a claim, got {other:?}"),
    }
}

both!(loading_is_idempotent_and_case_blind, |db| {
    let mut j = db.open();
    assert_eq!(j.queue_load("wave1", &rows(5)).unwrap(), LoadOutcome { added: 5, already: 0 });
    let mut again = rows(6);
    again[0].upn = again[0].upn.to_uppercase();
    assert_eq!(j.queue_load("wave1", &again).unwrap(), LoadOutcome { added: 1, already: 5 });
    assert_eq!(j.queue_load("wave2", &rows(2)).unwrap().added, 2, "queues are separate");
    assert_eq!(j.queue_status("wave1").unwrap().counts, QueueCounts { pending: 6, ..Default::default() });
    assert_eq!(j.queues().unwrap(), vec![("wave1".to_string(), 6), ("wave2".to_string(), 2)]);
});

both!(stations_claiming_at_once_never_share_a_user, |db| {
    db.open().queue_load("q", &rows(40)).unwrap();
    let lease = Duration::from_secs(30);
    let handles: Vec<_> = (0..4)
        .map(|s| {
            let mut j = db.open_as(&format!("s{s}"));
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    match j.claim("q", lease).unwrap() {
                        ClaimResult::Claimed(c) => {
                            j.finish_item(&c, &ItemEnd::Done).unwrap();
                            mine.push(c.upn);
                        }
                        ClaimResult::Wait { .. } => std::thread::sleep(Duration::from_millis(5)),
                        ClaimResult::Finished => return mine,
                    }
                }
            })
        })
        .collect();
    let mut all: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(all.len(), 40);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "a user was claimed twice");
    let status = db.open().queue_status("q").unwrap();
    assert_eq!(status.counts, QueueCounts { done: 40, ..Default::default() });
});

both!(an_expired_lease_is_taken_over_and_the_old_holder_is_fenced, |db| {
    let mut a = db.open_as("desk-a");
    let mut b = db.open_as("desk-b");
    a.queue_load("q", &rows(1)).unwrap();
    let short = Duration::from_millis(300);
    let ca = claimed(a.claim("q", short).unwrap());
    assert_eq!((ca.attempts, ca.job, ca.taken_from.as_deref()), (1, None, None));
    let mut job = new_job(&ca.upn, "1");
    job.batch = Some(BatchRef { id: "queue:q".into(), line: ca.line });
    let ja = a.begin_claimed_job(&job, &ca).unwrap();
    a.transition(ja, Transition::to(JobState::Inspected)).unwrap();
    let reg = a.record_intent(ja, &register_intent("Y3JlZC0x")).unwrap();
    assert!(a.lease_left(&ca).unwrap().is_some());

    // While A's lease runs, B finds nothing to do but wait.
    assert_eq!(b.claim("q", short).unwrap(), ClaimResult::Wait { running: 1 });
    std::thread::sleep(Duration::from_millis(600));
    let cb = claimed(b.claim("q", Duration::from_secs(30)).unwrap());
    assert_eq!((cb.job, cb.taken_from.as_deref(), cb.attempts), (Some(ja), Some("desk-a"), 2));
    assert!(cb.token > ca.token);
    assert_eq!(a.lease_left(&ca).unwrap(), None, "A's lease is gone");

    // A wakes up: every write for that user is refused.
    let e = a.transition(ja, Transition::to(JobState::Registered).resolving(reg, IntentOutcome::Done(None))).unwrap_err();
    assert!(matches!(e, JournalError::Fenced(j) if j == ja), "{e}");
    assert!(matches!(a.record_intent(ja, &Intent::ShowPin).unwrap_err(), JournalError::Fenced(_)));
    assert!(matches!(a.resolve_intent(ja, reg, &IntentOutcome::Abandoned("x".into())).unwrap_err(), JournalError::Fenced(_)));
    assert!(matches!(a.finish_item(&ca, &ItemEnd::Done).unwrap_err(), JournalError::LeaseLost(_)));
    assert_eq!(a.renew(&[(ca.item, ca.token)], short).unwrap(), vec![(ca.item, ca.token)]);
    // B continues from the intent records: the open registration is still there.
    let u = b.job(ja).unwrap().unwrap();
    assert_eq!(u.state, JobState::Inspected);
    assert!(b.intents(ja).unwrap().iter().any(|i| i.id == reg && i.is_open()));
    b.resolve_intent(ja, reg, &IntentOutcome::Abandoned("the POST did not land".into())).unwrap();
    b.fail(ja, JobError::new(FailureKind::Interrupted, "taken over")).unwrap();
    let mut retry = new_job(&cb.upn, "2");
    retry.resumes = Some(ja);
    let jb = b.begin_claimed_job(&retry, &cb).unwrap();
    run_happy_path(&mut b, jb, "Y3JlZC0y", "method-2");
    b.finish_item(&cb, &ItemEnd::Done).unwrap();
    let items = b.queue_items("q").unwrap();
    assert_eq!((items[0].state.as_str(), items[0].job, items[0].station.as_deref()), ("done", Some(jb), Some("desk-b")));
    assert_eq!(b.claim("q", short).unwrap(), ClaimResult::Finished);
});

both!(a_renewed_lease_is_not_taken_over, |db| {
    let mut a = db.open_as("desk-a");
    let mut b = db.open_as("desk-b");
    a.queue_load("q", &rows(1)).unwrap();
    let lease = Duration::from_millis(400);
    let c = claimed(a.claim("q", lease).unwrap());
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        assert!(a.renew(&[(c.item, c.token)], lease).unwrap().is_empty());
        assert!(matches!(b.claim("q", lease).unwrap(), ClaimResult::Wait { .. }));
    }
    a.finish_item(&c, &ItemEnd::Retry("the key was pulled out".into())).unwrap();
    let again = claimed(b.claim("q", lease).unwrap());
    assert_eq!((again.upn, again.attempts, again.taken_from), (c.upn, 2, None));
});

both!(status_counts_per_station_with_rate_and_eta, |db| {
    let mut a = db.open_as("desk-a");
    let mut b = db.open_as("desk-b");
    a.queue_load("q", &rows(4)).unwrap();
    a.station_seen("q", "claiming", None).unwrap();
    b.station_seen("q", "claiming", None).unwrap();
    let lease = Duration::from_secs(30);
    let c1 = claimed(a.claim("q", lease).unwrap());
    a.finish_item(&c1, &ItemEnd::Done).unwrap();
    let c2 = claimed(b.claim("q", lease).unwrap());
    b.finish_item(&c2, &ItemEnd::Parked("user not found".into())).unwrap();
    let _c3 = claimed(b.claim("q", lease).unwrap());
    let s = a.queue_status("q").unwrap();
    assert_eq!(s.counts, QueueCounts { pending: 1, running: 1, done: 1, parked: 1 });
    let names: Vec<(&str, u64, u64)> = s.stations.iter().map(|x| (x.name.as_str(), x.running, x.done)).collect();
    assert_eq!(names, vec![("desk-a", 0, 1), ("desk-b", 1, 0)]);
    assert!(s.rate_per_min > 0.0);
    assert!(s.eta_s.is_some_and(|e| e > 0));
    let json = serde_json::to_value(&s).unwrap();
    for k in ["queue", "counts", "stations", "rate_per_min", "eta_s"] {
        assert!(json.get(k).is_some(), "{k} missing in {json}");
    }
    for k in ["name", "host", "running", "done", "last_seen"] {
        assert!(json["stations"][0].get(k).is_some(), "{k} missing in {json}");
    }
});

both!(finishing_one_user_leaves_the_other_claims_of_a_station_intact, |db| {
    let mut a = db.open_as("desk-a");
    a.queue_load("q", &rows(2)).unwrap();
    let lease = Duration::from_secs(30);
    let c1 = claimed(a.claim("q", lease).unwrap());
    let c2 = claimed(a.claim("q", lease).unwrap());
    assert_eq!(c1.token, c2.token, "tokens count per user, so two claims can carry the same number");
    let j1 = a.begin_claimed_job(&new_job(&c1.upn, "1"), &c1).unwrap();
    let j2 = a.begin_claimed_job(&new_job(&c2.upn, "2"), &c2).unwrap();
    run_happy_path(&mut a, j1, "Y3JlZC0x", "method-1");
    a.finish_item(&c1, &ItemEnd::Done).unwrap();
    // The other job still writes under its own claim.
    run_happy_path(&mut a, j2, "Y3JlZC0y", "method-2");
    a.finish_item(&c2, &ItemEnd::Done).unwrap();
    assert_eq!(a.queue_status("q").unwrap().counts.done, 2);
});

fn database(db: &Db) -> String {
    let Db::Postgres(url) = db else { unreachable!() };
    url.rsplit('/').next().unwrap().to_string()
}

/// Station `a` claims the queue's one user under a lease that lapses at once and begins
/// its job; then a write of its for that job is under way and frozen for `frozen_s`
/// seconds, holding the job's row (psql, in a session named `frozen-station`).
fn a_frozen_write_on_a_lapsed_claim(db: &Db, a: &mut Journal, frozen_s: f64) -> (Claim, JobId, std::thread::JoinHandle<String>) {
    a.queue_load("q", &rows(1)).unwrap();
    let ca = claimed(a.claim("q", Duration::from_millis(200)).unwrap());
    let mut job = new_job(&ca.upn, "1");
    job.batch = Some(BatchRef { id: "queue:q".into(), line: ca.line });
    let ja = a.begin_claimed_job(&job, &ca).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let database = database(db);
    let holder = std::thread::spawn(move || {
        let sql = format!("SET application_name = 'frozen-station'; BEGIN; UPDATE jobs SET fence = fence WHERE id = {}; SELECT pg_sleep({frozen_s}); COMMIT;", ja.0);
        crate::postgres::shared().unwrap().psql(&database, &sql)
    });
    std::thread::sleep(Duration::from_millis(800));
    (ca, ja, holder)
}

/// A station paused in the middle of a write for its job holds that job's row; the
/// station taking the user over waits for it while fencing the job. Its lease counts
/// from when the claim is settled: counted from before the wait, it could be over at
/// once, and the next claim would take the user over again from the new holder.
#[test]
fn a_takeover_that_waits_for_the_old_holders_write_still_gets_its_whole_lease() {
    let Some(db) = Db::postgres() else { return };
    let mut a = db.open_as("desk-a");
    let mut b = db.open_as("desk-b");
    let mut c = db.open_as("desk-c");
    // A's write under way, frozen (SIGSTOP) for 3.5 s with the job's row locked.
    let (_, ja, holder) = a_frozen_write_on_a_lapsed_claim(&db, &mut a, 3.5);
    let lease = Duration::from_secs(2);
    let cb = claimed(b.claim("q", lease).unwrap());
    holder.join().unwrap();
    assert_eq!((cb.job, cb.taken_from.as_deref()), (Some(ja), Some("desk-a")));
    assert!(b.lease_left(&cb).unwrap().is_some_and(|left| left > Duration::ZERO), "B's lease was over before its claim was even committed");
    assert_eq!(c.claim("q", lease).unwrap(), ClaimResult::Wait { running: 1 }, "the user is B's, not taken over again");
    b.finish_item(&cb, &ItemEnd::Done).unwrap();
}

/// A station frozen in the middle of a write holds its job's row. Another station's
/// write for that job gives up after the session's `lock_timeout` (a quarter of the
/// lease), not the 15 s statement deadline, as a retryable error (nothing written), and
/// goes through when retried once the frozen transaction is gone.
#[test]
fn a_write_blocked_by_a_frozen_station_gives_up_within_a_quarter_of_the_lease() {
    let Some(db) = Db::postgres() else { return };
    let Db::Postgres(url) = &db else { unreachable!() };
    let lease = Duration::from_secs(2);
    let open = |name: &str| {
        let mut s = Db::settings(url);
        s.bound_waits_by(lease);
        let mut j = Journal::connect_postgres(s).unwrap();
        j.set_identity(StationIdentity { name: name.into(), host: format!("{name}.example") });
        j
    };
    // Per session, whatever the server's defaults: a quarter of the lease.
    assert_eq!(db.open().database_setting("lock_timeout").unwrap().as_deref(), Some("7500ms"), "default lease 30 s");
    let mut a = open("desk-a");
    let mut b = open("desk-b");
    for name in ["lock_timeout", "idle_in_transaction_session_timeout"] {
        assert_eq!(b.database_setting(name).unwrap().as_deref(), Some("500ms"), "{name}");
    }

    // A's write under way, frozen with the job's row locked (in a statement, not idle:
    // the server's idle timeout would end a real frozen station's transaction).
    let (ca, ja, holder) = a_frozen_write_on_a_lapsed_claim(&db, &mut a, 40.0);
    let started = std::time::Instant::now();
    let e = b.claim("q", lease).expect_err("the takeover cannot fence the job while its row is locked");
    let waited = started.elapsed();
    assert!(matches!(e, JournalError::Unreachable { .. }) && e.to_string().contains("55P03"), "a retryable error: {e}");
    // lock_timeout 0.5 s; without it the claim waits for the 15 s statement deadline.
    assert!(waited < Duration::from_secs(5), "the takeover waited {waited:?} for the frozen station");
    assert_eq!(b.queue_items("q").unwrap()[0].token, ca.token, "nothing of the refused claim was written");

    crate::postgres::shared().unwrap().psql(&database(&db), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'frozen-station' AND datname = current_database()");
    let _ = holder.join(); // psql reports its session's end: expected
    let cb = claimed(b.claim("q", lease).unwrap());
    assert_eq!((cb.job, cb.taken_from.as_deref()), (Some(ja), Some("desk-a")), "the retried claim takes the user over");
    b.finish_item(&cb, &ItemEnd::Done).unwrap();
}
