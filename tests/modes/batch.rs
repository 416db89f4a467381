//! Batch imaging through the library: the scheduler on a hub of virtual keys that the
//! test plugs and unplugs, against the in-process simulator.
use super::common::{csv, faults, spawn_operator, Recorder, World};
use keystation::station::batch::{plan_batch, read_batch_file, run_batch, BatchControl, BatchEnd, BatchNotice, BatchOptions, KeySupply, RowStatus};
use keystation::station::config::ConfigOverrides;
use keystation::station::pipeline::CrashPoint;
use keystation::station::state::JobState;
use std::collections::HashMap;
use std::time::Duration;

fn options(concurrency: usize) -> BatchOptions {
    BatchOptions { concurrency, supply: KeySupply::Open, poll_interval: Duration::from_millis(20), ..BatchOptions::default() }
}

/// Every user has exactly one FIDO2 method in the simulator, and the journal holds
/// exactly one `done` job for them whose method id is that method.
async fn assert_one_method_each(world: &World, users: &[String], batch_id: &str) {
    let jobs = world.jobs();
    for u in users {
        let methods = world.sim_methods(u).await;
        assert_eq!(methods.len(), 1, "{u} has {} methods: {methods:?}", methods.len());
        let done: Vec<_> = jobs
            .iter()
            .filter(|j| j.user.upn.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)) && j.state == JobState::Done)
            .collect();
        assert_eq!(done.len(), 1, "{u}: {} done jobs in the journal", done.len());
        let job = done[0];
        assert_eq!(job.batch.as_ref().map(|b| b.id.as_str()), Some(batch_id), "{u}");
        assert_eq!(job.entra_method_id.as_deref(), methods[0]["id"].as_str(), "{u}: the journal's method id is the simulator's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_users_over_four_concurrent_keys() {
    let world = World::new(20, Default::default()).await;
    let users = world.fresh_users();
    assert_eq!(users.len(), 20);
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let file = world.batch_file("users.csv", &csv(&users));
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "wave-1".into()).await.unwrap();
    assert_eq!(plan.to_do(), 20);

    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 4, 20);
    let report = run_batch(station, world.sources(), plan, options(4), recorder.clone(), BatchControl::default()).await;
    let plugged = operator.await.unwrap();

    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    assert_eq!(report.counts.done, 20);
    assert_eq!(plugged, 20, "one blank key per user");
    assert_eq!(recorder.max_concurrent(), 4, "four keys were provisioned at the same time");
    assert_eq!(recorder.slips.lock().unwrap().len(), 20, "one handover slip per user");
    // Each key served exactly one user.
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for n in recorder.notices() {
        if let BatchNotice::UserAssigned { key, .. } = n {
            *per_key.entry(key).or_default() += 1;
        }
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    assert_one_method_each(&world, &users, "wave-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_and_outages_mid_batch_lose_no_user() {
    let rules = serde_json::json!([
        {"kind": "throttle", "target": "graph", "rate": 0.25, "retry_after_secs": 1},
        {"kind": "unavailable", "target": "graph", "rate": 0.15, "retry_after_secs": 1},
    ]);
    let world = World::new(8, faults(7, rules)).await;
    let users = world.fresh_users();
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let file = world.batch_file("users.csv", &csv(&users));
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "faulty".into()).await.unwrap();
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 4, 8 * 3);
    let report = run_batch(station, world.sources(), plan, options(4), recorder.clone(), BatchControl::default()).await;
    operator.await.unwrap();

    assert!(world.injected_faults().await >= 5, "the simulator really throttled and failed requests");
    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    assert_one_method_each(&world, &users, "faulty").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rerun_after_an_interruption_resumes_without_registering_anyone_twice() {
    let world = World::new(6, Default::default()).await;
    let users = world.fresh_users();
    let file = world.batch_file("users.csv", &csv(&users));

    // First run: every job stops dead right after Entra accepted its registration and
    // before the journal learnt it, as if the station lost power there.
    {
        let station = world
            .station(&ConfigOverrides::default(), |s| s.options.crash_point = Some(CrashPoint::Effect("register_credential".into())))
            .await;
        let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "interrupted".into()).await.unwrap();
        let (recorder, notices) = Recorder::new();
        let operator = spawn_operator(&world, notices, 3, 6);
        let report = run_batch(station, world.sources(), plan, options(3), recorder, BatchControl::default()).await;
        operator.await.unwrap();
        assert_eq!(report.counts.done, 0, "{report:#?}");
        assert!(report.rows.iter().all(|r| r.status == RowStatus::Interrupted && r.reason.as_deref().unwrap_or("").contains("re-run")), "{report:#?}");
        for u in &users {
            assert_eq!(world.sim_methods(u).await.len(), 1, "{u}: the POST landed in the first run");
        }
    }

    // Second run, same file, same batch: every row is resumed, none registered twice.
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "interrupted".into()).await.unwrap();
    assert_eq!(plan.resuming(), 6, "every interrupted job is resumed");
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 3, 12);
    let report = run_batch(station, world.sources(), plan, options(3), recorder.clone(), BatchControl::default()).await;
    operator.await.unwrap();
    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    assert!(recorder.notices().iter().any(|n| matches!(n, BatchNotice::UserAssigned { resumes: Some(_), .. })), "jobs were resumed, not started afresh");
    assert_one_method_each(&world, &users, "interrupted").await;

    // Third run: nothing left to do, nobody touched.
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "interrupted".into()).await.unwrap();
    assert_eq!((plan.to_do(), plan.already_done()), (0, 6));
    let (recorder, _notices) = Recorder::new();
    let report = run_batch(station, world.sources(), plan, options(3), recorder, BatchControl::default()).await;
    assert_eq!((report.end, report.counts.already_done), (BatchEnd::AllDone, 6));
    assert_one_method_each(&world, &users, "interrupted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_pulled_out_mid_job_sends_the_user_to_the_next_key() {
    let world = World::new(3, Default::default()).await;
    let users = world.fresh_users();
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let file = world.batch_file("users.csv", &csv(&users));
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "pulled".into()).await.unwrap();
    let (recorder, mut notices) = Recorder::new();
    // The operator pulls the first key out as soon as its job starts, then behaves.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let hub = world.hub.clone();
    let forward = tokio::spawn(async move {
        let mut pulled = None;
        while let Some(n) = notices.recv().await {
            if let (None, BatchNotice::UserAssigned { key, upn, .. }) = (&pulled, &n) {
                hub.unplug(key);
                pulled = Some(upn.clone());
            }
            let end = matches!(n, BatchNotice::BatchFinished { .. });
            let _ = tx.send(n);
            if end {
                break;
            }
        }
        pulled
    });
    let operator = spawn_operator(&world, rx, 1, 6);
    let report = run_batch(station, world.sources(), plan, options(1), recorder.clone(), BatchControl::default()).await;
    let pulled = forward.await.unwrap().expect("a key was pulled");
    operator.await.unwrap();
    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    let row = report.rows.iter().find(|r| r.upn.as_deref() == Some(pulled.as_str())).unwrap();
    assert_eq!(row.attempts, 2, "the user whose key was pulled got a second key");
    assert!(recorder.notices().iter().any(|n| matches!(n, BatchNotice::UserFinished { will_retry: true, upn, .. } if *upn == pulled)));
    assert_one_method_each(&world, &users, "pulled").await;
}

/// Registers through Graph like the station's own registrar, except for one user, for
/// whom it panics (a bug) after the key got its PIN.
struct PanicsFor {
    user: String,
    real: std::sync::Arc<dyn keystation::ceremony::Registrar>,
}

impl keystation::ceremony::Registrar for PanicsFor {
    fn path(&self) -> keystation::ceremony::RegistrationPath {
        self.real.path()
    }
    fn register<'a>(
        &'a self,
        key: &'a std::sync::Arc<keystation::key::worker::KeyHandle>,
        request: &'a keystation::ceremony::RegistrationRequest,
        observer: &'a dyn keystation::ceremony::RegistrationObserver,
        cancel: keystation::station::pipeline::CancelToken,
    ) -> keystation::ceremony::webauthn::BoxFuture<'a, Result<keystation::ceremony::Registered, keystation::ceremony::CeremonyError>> {
        if request.upn.eq_ignore_ascii_case(&self.user) {
            panic!("boom in the registrar for {}", self.user);
        }
        self.real.register(key, request, observer, cancel)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_job_is_contained_its_key_freed_and_its_row_reported() {
    let world = World::new(3, Default::default()).await;
    let users = world.fresh_users();
    let victim = users[1].clone();
    let file = world.batch_file("users.csv", &csv(&users));
    let station = world
        .station(&ConfigOverrides::default(), |s| {
            let real = s.registrars.get(keystation::ceremony::RegistrationPath::Graph).unwrap();
            s.registrars.insert(std::sync::Arc::new(PanicsFor { user: victim.clone(), real }));
        })
        .await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "panics".into()).await.unwrap();
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 1, 6);
    // One slot: if the panicking job kept its slot, the batch would never end.
    let report = tokio::time::timeout(Duration::from_secs(120), run_batch(station, world.sources(), plan, options(1), recorder.clone(), BatchControl::default()))
        .await
        .expect("the batch ends despite the panic");
    operator.await.unwrap();

    assert_eq!(report.rows.len(), 3, "every user has a row: {report:#?}");
    let row = report.rows.iter().find(|r| r.upn.as_deref() == Some(victim.as_str())).unwrap();
    assert_eq!(row.status, RowStatus::Interrupted, "{row:#?}");
    let reason = row.reason.clone().unwrap_or_default();
    assert!(reason.contains("internal error") && reason.contains("boom in the registrar"), "{reason}");
    assert_eq!(report.counts.done, 2, "{report:#?}");
    assert_eq!(report.end, BatchEnd::Partial);
    assert!(recorder.notices().iter().any(|n| matches!(n, BatchNotice::TakeKeyOut { upn, ok: false, .. } if *upn == victim)), "the key is freed and the operator told to take it out");
    let job = world.jobs().into_iter().find(|j| j.user.upn.as_deref() == Some(victim.as_str())).unwrap();
    assert!(job.state.is_in_progress(), "left for the next run, as after a crash: {:?}", job.state);
    let e = job.error.unwrap();
    assert_eq!(e.kind, keystation::station::journal::FailureKind::Internal);
    assert!(e.message.contains("boom in the registrar"), "{}", e.message);

    // The next run (the bug fixed) resumes the job; everyone ends with one method.
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "panics".into()).await.unwrap();
    assert_eq!(plan.resuming(), 1);
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 1, 3);
    let report = run_batch(station, world.sources(), plan, options(1), recorder, BatchControl::default()).await;
    operator.await.unwrap();
    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    assert_one_method_each(&world, &users, "panics").await;
}

/// A blank virtual key at `virtual:<index>` (paths sort by index: the tracker sees the
/// lower one first).
fn key_at(world: &World, index: usize) -> keystation::key::virtual_key::VirtualKey {
    keystation::key::virtual_key::VirtualKey::try_new(keystation::key::virtual_key::VirtualKeyConfig {
        index: Some(index),
        attestation: keystation::key::virtual_key::VirtualAttestation::Batch(world.tenant.ca.clone()),
        ..Default::default()
    })
    .expect("virtual key")
}

/// Run 1 of the two tests below: one user's job on `own` stops dead at `point`.
async fn interrupted_on(world: &World, own: &keystation::key::virtual_key::VirtualKey, point: CrashPoint, batch: &str) -> std::path::PathBuf {
    let users = world.fresh_users();
    let file = world.batch_file("one.csv", &csv(&users[..1]));
    world.hub.plug(own.clone());
    let station = world.station(&ConfigOverrides::default(), |s| s.options.crash_point = Some(point)).await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), batch.into()).await.unwrap();
    let (recorder, _notices) = Recorder::new();
    let report = tokio::time::timeout(Duration::from_secs(120), run_batch(station, world.sources(), plan, options(1), recorder, BatchControl::default()))
        .await
        .expect("the first run ends");
    assert_eq!(report.rows[0].status, RowStatus::Interrupted, "{report:#?}");
    world.hub.remove(own.path());
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_job_gets_its_own_key_back_when_it_is_plugged_in() {
    // The PIN is set and the station dies (a PIN nobody knows), or the key is registered
    // and verified and the station dies before the slip (the PIN is lost, the method is
    // deleted): either way the job's own key must be reset and enrolled again.
    for (n, point) in [CrashPoint::State(JobState::Prepared), CrashPoint::State(JobState::Verified)].into_iter().enumerate() {
        let world = World::new(1, Default::default()).await;
        let user = world.fresh_users()[0].clone();
        let (other, own) = (key_at(&world, 9101 + 10 * n), key_at(&world, 9102 + 10 * n));
        let file = interrupted_on(&world, &own, point.clone(), "own-key").await;
        let interrupted = world.jobs().into_iter().next().expect("the job");

        // Another key is there first; the job's own key comes half a second later.
        world.hub.plug(other.clone());
        let station = world.station(&ConfigOverrides::default(), |_| {}).await;
        let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "own-key".into()).await.unwrap();
        assert_eq!(plan.resuming(), 1);
        let (recorder, _notices) = Recorder::new();
        let run = tokio::spawn(run_batch(station, world.sources(), plan, options(2), recorder.clone(), BatchControl::default()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        world.hub.plug(own.clone());
        let report = tokio::time::timeout(Duration::from_secs(120), run).await.expect("the re-run ends").unwrap();
        assert_eq!(report.end, BatchEnd::AllDone, "{point:?}: {report:#?}");
        let assigned: Vec<_> = recorder.notices().into_iter().filter_map(|n| if let BatchNotice::UserAssigned { key, .. } = n { Some(key) } else { None }).collect();
        assert_eq!(assigned, vec![own.path().to_string()], "{point:?}: the resume waits for its own key, not the first one plugged in");
        assert_eq!(other.counters().touch_requests, 0, "{point:?}: the other key is left blank");
        // Its own key was reset and enrolled: nothing parked, one method.
        let jobs = world.jobs();
        assert!(jobs.iter().all(|j| j.state != JobState::NeedsOperator), "{point:?}: nothing parked: {jobs:#?}");
        assert_eq!(jobs.iter().find(|j| j.id == interrupted.id).unwrap().state, JobState::Failed, "{point:?}: the interrupted job is closed, its retry resumes it");
        assert_one_method_each(&world, &[user], "own-key").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_resumed_without_its_key_deletes_its_method_and_the_journal_says_so() {
    let world = World::new(1, Default::default()).await;
    let user = world.fresh_users()[0].clone();
    let (own, other) = (key_at(&world, 9201), key_at(&world, 9202));
    // Registered and verified, then the station dies before the slip: the PIN is lost.
    let file = interrupted_on(&world, &own, CrashPoint::State(JobState::Verified), "lost-key").await;
    let interrupted = world.jobs().into_iter().next().expect("the job");
    let lost = interrupted.entra_method_id.clone().expect("registered before the crash");
    assert_eq!(world.sim_methods(&user).await.len(), 1);

    // Only another key comes: the user is enrolled with it; the old key must be reset by
    // hand, and its method (PIN lost) is deleted.
    world.hub.plug(other.clone());
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let plan = plan_batch(&station, read_batch_file(&file).unwrap(), "lost-key".into()).await.unwrap();
    let (recorder, _notices) = Recorder::new();
    let report = tokio::time::timeout(Duration::from_secs(120), run_batch(station, world.sources(), plan, options(1), recorder, BatchControl::default()))
        .await
        .expect("the re-run ends");
    assert_eq!(report.counts.done, 1, "{report:#?}");
    let methods = world.sim_methods(&user).await;
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_ne!(methods[0]["id"].as_str(), Some(lost.as_str()), "the method whose PIN was lost is gone");
    let old = world.jobs().into_iter().find(|j| j.id == interrupted.id).unwrap();
    assert_eq!(old.state, JobState::NeedsOperator, "the old key needs a reset by hand");
    assert_eq!(old.entra_method_id, None, "a parked job must not name the method it deleted");
    // The journal's live methods are the tenant's.
    let live: Vec<String> = world.jobs().into_iter().filter(|j| !j.state.is_in_progress() && j.state != JobState::Failed).filter_map(|j| j.entra_method_id).collect();
    assert_eq!(live, vec![methods[0]["id"].as_str().unwrap().to_string()]);
}

/// Under `batch --queue`, a job that panics every time is a failed attempt like any
/// other: after `1 + retries` claims the user is parked for a person with the panic
/// message and what to do, the queue item is settled and the queue drains (without
/// this, the in-progress job came back each time its lease ended, forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_panicking_on_every_claim_of_a_queue_is_parked_and_the_queue_drains() {
    use keystation::station::batch::{run_queue, QueueOptions};
    use keystation::station::journal::QueueRow;
    let world = World::new(3, Default::default()).await;
    let users = world.fresh_users();
    let victim = users[1].clone();
    let station = world
        .station(&ConfigOverrides::default(), |s| {
            let real = s.registrars.get(keystation::ceremony::RegistrationPath::Graph).unwrap();
            s.registrars.insert(std::sync::Arc::new(PanicsFor { user: victim.clone(), real }));
        })
        .await;
    let rows: Vec<QueueRow> = users.iter().enumerate().map(|(i, u)| QueueRow { line: i as u64 + 2, upn: u.clone(), display_name: None, pin_policy: None }).collect();
    station.setup().journal.run(move |j| j.queue_load("q", &rows)).await.unwrap();
    let retries = 1;
    // The configured lease (the pipeline keeps a third of it before each side effect).
    let mut opts = QueueOptions::new("q", station.setup().config.journal.lease());
    opts.batch = BatchOptions { retries, ..options(1) };
    opts.wait_poll = Duration::from_millis(50);
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 1, 12);
    // Expected ≈ 5 s; with the bug each panic waited for the 30 s lease to end, forever.
    let Ok(report) = tokio::time::timeout(Duration::from_secs(90), run_queue(station.clone(), world.sources(), opts, recorder.clone(), BatchControl::default())).await else {
        panic!("the queue does not drain although only one job panics (every time): {:#?}", recorder.notices());
    };
    operator.abort();

    let row = report.rows.iter().find(|r| r.upn.as_deref() == Some(victim.as_str())).expect("the victim has a row");
    assert_eq!(row.status, RowStatus::NeedsOperator, "{row:#?}");
    assert_eq!(report.end, BatchEnd::NeedsOperator, "exit code 8: {report:#?}");
    let claims = recorder.notices().iter().filter(|n| matches!(n, BatchNotice::UserAssigned { upn, .. } if *upn == victim)).count();
    assert_eq!(claims, 1 + retries as usize, "claimed 1 + retries times, then parked");

    let items = station.setup().journal.run(|j| j.queue_items("q")).await.unwrap();
    assert!(items.iter().all(|i| i.state == "done" || i.upn == victim), "{items:#?}");
    let item = items.iter().find(|i| i.upn == victim).unwrap();
    assert_eq!(item.state, "parked", "{item:#?}");
    let note = item.note.clone().unwrap_or_default();
    let job = world.jobs().into_iter().filter(|j| j.user.upn.as_deref() == Some(victim.as_str())).max_by_key(|j| j.id.0).unwrap();
    assert_eq!(item.job, Some(job.id), "{item:#?}");
    assert_eq!(job.state, JobState::NeedsOperator, "{job:#?}");
    let reason = job.operator_reason.clone().expect("a reason").message();
    for text in [&note, &reason] {
        assert!(text.contains("boom in the registrar"), "the panic message: {text}");
        assert!(text.contains(&format!("keystation jobs show {}", job.id.0)) && text.contains(&format!("keystation jobs retry {}", job.id.0)), "what to do: {text}");
    }
    // Every other user exactly once; the victim has nothing registered.
    for u in users.iter().filter(|u| **u != victim) {
        assert_eq!(world.sim_methods(u).await.len(), 1, "{u}");
    }
    assert!(world.sim_methods(&victim).await.is_empty());

    // Upgraded (no more panic): `jobs retry N` puts the user back in the queue, and the
    // next queue run enrolls them — once.
    drop(station);
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let id = job.id.0.to_string();
    let released = station.setup().journal.run(move |j| Ok(keystation::station::jobs::retry(j, &id, Some("upgraded")))).await.unwrap().unwrap();
    assert!(released.what_to_do.contains("pending again in queue q"), "{}", released.what_to_do);
    let items = station.setup().journal.run(|j| j.queue_items("q")).await.unwrap();
    let item = items.iter().find(|i| i.upn == victim).unwrap();
    assert_eq!((item.state.as_str(), item.attempts), ("pending", 0), "{item:#?}");
    let mut opts = QueueOptions::new("q", station.setup().config.journal.lease());
    opts.batch = options(1);
    let (recorder, notices) = Recorder::new();
    let operator = spawn_operator(&world, notices, 1, 3);
    let report = tokio::time::timeout(Duration::from_secs(90), run_queue(station.clone(), world.sources(), opts, recorder, BatchControl::default())).await.expect("the queue drains");
    operator.abort();
    assert_eq!(report.end, BatchEnd::AllDone, "{report:#?}");
    for u in &users {
        assert_eq!(world.sim_methods(u).await.len(), 1, "{u}");
    }
}
