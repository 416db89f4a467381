//! The journal: round trips, resume queries, operator list, look-ups, crash safety.
use crate::journal_jobs::*;
use keystation::station::journal::*;
use keystation::station::JobState;
use keystation::station::pin::PinSource;
use serde_json::json;

fn open(dir: &tempfile::TempDir) -> Journal {
    Journal::open(dir.path().join("state/journal.sqlite")).unwrap()
}

#[test]
fn a_job_round_trips_through_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    let job = j.begin_job(&new_job("ada@contoso.example", "12345678")).unwrap();
    run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");

    let r = j.job(job).unwrap().unwrap();
    assert_eq!(r.state, JobState::Done);
    assert_eq!(r.mode, JobMode::Batch);
    assert_eq!(r.batch, Some(BatchRef { id: "batch-7".into(), line: 12 }));
    assert_eq!(r.user.upn.as_deref(), Some("ada@contoso.example"));
    assert_eq!(r.user.object_id.as_deref(), Some("00000000-0000-0000-0000-00000000a11c"));
    assert_eq!(r.key.path.as_deref(), Some("/dev/hidraw3"), "facts given at begin survive updates");
    assert_eq!(r.key.firmware.as_deref(), Some("5.4.3"));
    assert_eq!(r.entra_method_id.as_deref(), Some("method-1"));
    assert_eq!(r.credential_id.as_deref(), Some("Y3JlZC0x"));
    assert!(r.finished_at.is_some() && r.error.is_none());
    assert_eq!(j.job_by_uid(&r.uid).unwrap().unwrap().id, job);

    let history: Vec<_> = j.transitions(job).unwrap().into_iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(history.len(), 7);
    assert_eq!(history[0], (None, JobState::Arrived));
    assert_eq!(history[6], (Some(JobState::HandedOver), JobState::Done));
    let intents = j.intents(job).unwrap();
    assert_eq!(intents.iter().map(|i| i.intent.kind()).collect::<Vec<_>>(), ["reset_key", "set_pin", "make_credential", "register_credential", "show_pin"]);
    assert!(intents.iter().all(|i| i.resolution == Some(Resolution::Done)));
    assert_eq!(intents[3].result, Some(json!({ "method_id": "method-1" })));
    assert_eq!(intents[3].intent, register_intent("Y3JlZC0x"));
}

#[test]
fn unfinished_jobs_come_back_with_their_open_intents() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let done = j.begin_job(&new_job("done@contoso.example", "1")).unwrap();
    run_happy_path(&mut j, done, "ZG9uZQ", "method-done");

    // Crashed while POSTing fido2Methods: prepared, register intent open.
    let crashed = j.begin_job(&new_job("bob@contoso.example", "2")).unwrap();
    j.transition(crashed, Transition::to(JobState::Inspected)).unwrap();
    let set = j.record_intent(crashed, &Intent::SetPin { length: 8, source: PinSource::Random, sealed: false }).unwrap();
    j.transition(crashed, Transition::to(JobState::Prepared).resolving(set, IntentOutcome::Done(None))).unwrap();
    let reg = j.record_intent(crashed, &register_intent("Ym9i")).unwrap();

    // Crashed before anything happened.
    let early = j.begin_job(&new_job("carol@contoso.example", "3")).unwrap();

    let parked = j.begin_job(&new_job("dan@contoso.example", "4")).unwrap();
    j.park(parked, OperatorReason::KeyHasUnknownPin).unwrap();
    drop(j);

    let mut j = open(&dir); // the station restarts
    let unfinished = j.unfinished().unwrap();
    assert_eq!(unfinished.iter().map(|u| u.job.id).collect::<Vec<_>>(), vec![crashed, early]);
    let u = &unfinished[0];
    assert_eq!(u.job.state, JobState::Prepared);
    assert_eq!(u.open_intents.len(), 1);
    assert_eq!(u.open_intents[0].id, reg);
    assert_eq!(u.open_intents[0].intent, register_intent("Ym9i"));
    assert_eq!(u.intents.len(), 2);
    assert!(unfinished[1].open_intents.is_empty() && unfinished[1].job.state == JobState::Arrived);

    // Resume per docs/journal.md: no orphan found in Graph, PIN lost → abandon the
    // intent, close the old job, park it for a reset.
    j.transition(
        crashed,
        Transition::to(JobState::NeedsOperator)
            .resolving(reg, IntentOutcome::Abandoned("no matching method in Graph after the crash".into()))
            .with_reason(OperatorReason::PinLostBeforeHandover { method_id: None }),
    )
    .unwrap();
    // Nothing happened yet to the early job: close it and start over, linked.
    j.fail(early, JobError::new(FailureKind::Interrupted, "station restarted before any side effect; retried as a new job")).unwrap();
    let retry = j.begin_job(&NewJob { resumes: Some(early), ..new_job("carol@contoso.example", "3") }).unwrap();
    assert_eq!(j.job(retry).unwrap().unwrap().resumes, Some(early));
    assert_eq!(j.unfinished().unwrap().iter().map(|u| u.job.id).collect::<Vec<_>>(), vec![retry]);
    assert_eq!(j.intents(crashed).unwrap()[1].resolution, Some(Resolution::Abandoned));
}

#[test]
fn needs_operator_lists_reasons_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let a = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    j.transition(a, Transition::to(JobState::Inspected)).unwrap();
    j.transition(a, Transition::to(JobState::Prepared)).unwrap();
    j.transition(
        a,
        Transition::to(JobState::NeedsOperator)
            .with_error(JobError::new(FailureKind::Entra, "Graph said 400 badRequest (request-id 1234)"))
            .with_reason(OperatorReason::PinSetRegistrationFailed),
    )
    .unwrap();
    let b = j.begin_job(&new_job("b@contoso.example", "2")).unwrap();
    j.park(b, OperatorReason::UnknownMethodOnUser { method_id: "m-77".into(), display_name: Some("Old key".into()) }).unwrap();
    let c = j.begin_job(&new_job("c@contoso.example", "3")).unwrap();
    j.park(c, OperatorReason::PinLostBeforeHandover { method_id: Some("m-88".into()) }).unwrap();

    let list = j.needs_operator().unwrap();
    assert_eq!(list.iter().map(|e| e.job.id).collect::<Vec<_>>(), vec![a, b, c]);
    assert_eq!(list[0].reason, OperatorReason::PinSetRegistrationFailed);
    assert!(list[0].reason.message().contains("key got a PIN but registration failed"));
    assert_eq!(list[0].job.error.as_ref().map(|e| e.kind), Some(FailureKind::Entra));
    assert!(list[1].reason.message().contains("does not know about (method m-77, \"Old key\")"));
    assert!(list[2].reason.message().contains("PIN was lost in a crash before handover: delete Entra method m-88"));
    // An operator resolves one.
    j.finish(b).unwrap();
    assert_eq!(j.needs_operator().unwrap().len(), 2);
}

#[test]
fn look_ups_by_user_key_credential_and_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let first = j.begin_job(&new_job("Ada@Contoso.example", "KEY-1")).unwrap();
    run_happy_path(&mut j, first, "Y3JlZC1h", "method-a");
    let second = j.begin_job(&new_job("ada@contoso.example", "KEY-2")).unwrap();
    let other = j.begin_job(&new_job("eve@contoso.example", "KEY-1")).unwrap();

    let ada: Vec<_> = j.jobs_for_user("ADA@contoso.EXAMPLE").unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ada, vec![first, second]);
    let key1: Vec<_> = j.jobs_for_key(&KeyQuery { serial: Some("key-1".into()), ..Default::default() }).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(key1, vec![first, other]);
    assert!(j.jobs_for_key(&KeyQuery::default()).unwrap().is_empty());
    assert_eq!(j.job_by_credential_id("Y3JlZC1h").unwrap().map(|r| r.id), Some(first));
    assert_eq!(j.job_by_method_id("method-a").unwrap().map(|r| r.id), Some(first));
    assert!(j.knows_method("method-a").unwrap());
    assert!(!j.knows_method("method-zzz").unwrap());
    let done = j.query(&JobFilter { states: vec![JobState::Done], ..Default::default() }).unwrap();
    assert_eq!(done.len(), 1);
}

#[test]
fn the_state_machine_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    let e = j.transition(job, Transition::to(JobState::Registered)).unwrap_err();
    assert!(matches!(e, JournalError::IllegalTransition { from: JobState::Arrived, to: JobState::Registered, .. }), "{e}");
    assert!(matches!(j.transition(job, Transition::to(JobState::NeedsOperator)).unwrap_err(), JournalError::MissingReason(_)));
    assert!(matches!(j.transition(JobId(999), Transition::to(JobState::Inspected)).unwrap_err(), JournalError::UnknownJob(_)));
    j.fail(job, JobError::new(FailureKind::Key, "the key was removed")).unwrap();
    assert!(matches!(j.finish(job).unwrap_err(), JournalError::IllegalTransition { from: JobState::Failed, .. }));
}

#[test]
fn a_failed_transition_leaves_the_previous_state_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let a = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    let b = j.begin_job(&new_job("b@contoso.example", "2")).unwrap();
    j.transition(a, Transition::to(JobState::Inspected)).unwrap();
    j.transition(a, Transition::to(JobState::Prepared)).unwrap();
    let b_intent = j.record_intent(b, &Intent::ResetKey).unwrap();
    let before = j.job(a).unwrap().unwrap();
    // The job row and the history are written before the intent is resolved; resolving
    // another job's intent fails, and all of it must roll back.
    let t = Transition::to(JobState::Registered)
        .resolving(b_intent, IntentOutcome::Done(None))
        .with_update(JobUpdate { entra_method_id: Some("m-1".into()), ..Default::default() });
    let e = j.transition(a, t).unwrap_err();
    assert!(matches!(e, JournalError::IntentNotOpen { .. }), "{e}");
    assert_eq!(j.job(a).unwrap().unwrap(), before);
    assert_eq!(j.transitions(a).unwrap().len(), 3);
    assert!(j.intents(b).unwrap()[0].is_open());
    assert!(!j.knows_method("m-1").unwrap());

    // One method belongs to one job: a second claim is refused and changes nothing.
    let c = j.begin_job(&new_job("c@contoso.example", "3")).unwrap();
    run_happy_path(&mut j, c, "Yw", "m-shared");
    let d_before = j.job(b).unwrap().unwrap();
    let e = j.update_job(b, &JobUpdate { entra_method_id: Some("m-shared".into()), ..Default::default() }).unwrap_err();
    assert!(matches!(e, JournalError::Sqlite(_)), "{e}");
    assert_eq!(j.job(b).unwrap().unwrap(), d_before);
}

#[test]
fn an_uncommitted_write_from_a_dying_connection_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    j.transition(job, Transition::to(JobState::Inspected)).unwrap();
    {
        let raw = rusqlite::Connection::open(j.path()).unwrap();
        raw.execute_batch("BEGIN IMMEDIATE; UPDATE jobs SET state = 'done'; INSERT INTO transitions (job_id, from_state, to_state, at) VALUES (1, 'inspected', 'done', 'x');").unwrap();
        assert_eq!(j.job(job).unwrap().unwrap().state, JobState::Inspected, "readers never see uncommitted rows");
        // Dropped without COMMIT: what a killed process leaves behind.
    }
    let reopened = Journal::open(j.path()).unwrap();
    assert_eq!(reopened.job(job).unwrap().unwrap().state, JobState::Inspected);
    assert_eq!(reopened.transitions(job).unwrap().len(), 2);
    // And the journal is writable again.
    j.transition(job, Transition::to(JobState::Prepared)).unwrap();
}

#[test]
fn a_second_connection_sees_commits_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open(&dir);
    let reader = Journal::open_existing(writer.path()).unwrap();
    assert!(reader.unfinished().unwrap().is_empty());
    let job = writer.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    writer.transition(job, Transition::to(JobState::Inspected)).unwrap();
    let seen = reader.unfinished().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].job.state, JobState::Inspected);
    writer.fail(job, JobError::new(FailureKind::Cancelled, "operator pressed Ctrl-C")).unwrap();
    assert!(reader.unfinished().unwrap().is_empty());
    assert_eq!(reader.job(job).unwrap().unwrap().error.unwrap().message, "operator pressed Ctrl-C");
}

#[test]
fn wal_full_sync_and_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    assert_eq!(j.journal_mode().unwrap(), "wal");
    assert_eq!(j.synchronous().unwrap(), 2, "synchronous=FULL");
    j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(j.path()), 0o600);
        assert_eq!(mode(&dir.path().join("state/journal.sqlite-wal")), 0o600);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
    }
    let missing = Journal::open_existing(dir.path().join("other.sqlite")).unwrap_err();
    assert!(missing.to_string().contains("there is no journal at"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_journal_serves_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedJournal::new(open(&dir));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            let job = s.run(move |j| j.begin_job(&new_job(&format!("u{i}@contoso.example"), &i.to_string()))).await?;
            s.run(move |j| j.transition(job, Transition::to(JobState::Inspected))).await?;
            Ok::<_, JournalError>(job)
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let n = shared.run(|j| Ok(j.unfinished()?.len())).await.unwrap();
    assert_eq!(n, 8);
}

#[test]
fn resume_reconciles_a_registration_that_reached_entra() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let job = j.begin_job(&NewJob { mode: JobMode::Kiosk, ..new_job("ada@contoso.example", "77") }).unwrap();
    j.transition(job, Transition::to(JobState::Inspected)).unwrap();
    let set = j.record_intent(job, &Intent::SetPin { length: 8, source: PinSource::UserAtDesk, sealed: false }).unwrap();
    j.transition(job, Transition::to(JobState::Prepared).resolving(set, IntentOutcome::Done(None))).unwrap();
    let reg = j
        .record_intent_with(job, &register_intent("Y3JlZA"), &JobUpdate { credential_id: Some("Y3JlZA".into()), display_name: Some("YubiKey 5 NFC 12345678".into()), ..Default::default() })
        .unwrap();
    drop(j); // crash during the POST

    let mut j = open(&dir);
    let u = j.unfinished().unwrap().remove(0);
    let steps = plan_resume(&u);
    assert_eq!(steps, vec![ResumeStep::ReconcileRegistration(reg), ResumeStep::CheckKeyPin { source: PinSource::UserAtDesk }]);

    // Graph's list for the user: an old key, and the registration that did land.
    let recorded = u.open_intents[0].recorded_at;
    let methods = vec![
        MethodSummary { id: "m-old".into(), display_name: Some("Old key".into()), aaguid: Some("ee882879-721c-4913-9775-3dfcce97072a".into()), created: Some(recorded - chrono::Duration::days(90)) },
        MethodSummary {
            id: "m-landed".into(),
            display_name: Some("YubiKey 5 NFC 12345678".into()),
            aaguid: Some("2fc0579f-8113-47ea-b116-bb5a8db9202a".into()),
            created: Some(recorded + chrono::Duration::seconds(2)),
        },
    ];
    let r = reconcile_registration(&u.open_intents[0], &methods, |id| j.knows_method(id).unwrap()).unwrap();
    let OrphanMatch::One(found) = r.orphan else { panic!("{r:?}") };
    assert!(r.unknown.is_empty());
    // The user typed their PIN again: adopt instead of registering a second time.
    j.transition(
        job,
        Transition::to(JobState::Registered)
            .resolving(reg, IntentOutcome::Done(Some(json!({ "method_id": found.id, "adopted": true }))))
            .with_update(JobUpdate { entra_method_id: Some(found.id.clone()), ..Default::default() }),
    )
    .unwrap();
    assert!(j.knows_method("m-landed").unwrap());
    // Reconciling again finds nothing new: the journal now owns that method.
    let again = reconcile_registration(&j.intents(job).unwrap()[1], &methods, |id| j.knows_method(id).unwrap()).unwrap();
    assert_eq!(again.orphan, OrphanMatch::None);
    assert!(j.unfinished().unwrap()[0].open_intents.is_empty());
}

#[test]
fn handover_interrupted_reason_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    let reason = OperatorReason::HandoverInterrupted { method_id: "m-9".into(), sealed: true };
    j.park(job, reason.clone()).unwrap();
    let e = &j.needs_operator().unwrap()[0];
    assert_eq!(e.reason, reason);
    assert!(e.reason.message().contains("open the sealed PIN from the report with `age -d`"));
}

/// Several connections (processes, in real life) write at once. Each write transaction
/// reads first (the job's state) and then writes: with SQLite's default deferred
/// transactions under WAL, a connection whose read snapshot went stale meanwhile fails
/// at once with "database is locked" instead of waiting for the busy timeout. Write
/// transactions begin IMMEDIATE, so every writer queues and none fails.
#[test]
fn concurrent_writers_on_separate_connections_never_see_database_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = open(&dir).path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut j = Journal::open(&path).map_err(|e| e.to_string())?;
                for i in 0..60 {
                    let job = j.begin_job(&new_job(&format!("u{t}-{i}@contoso.example"), &format!("{t}{i}"))).map_err(|e| e.to_string())?;
                    j.transition(job, Transition::to(JobState::Inspected)).map_err(|e| e.to_string())?;
                    let pin = j.record_intent(job, &Intent::SetPin { length: 8, source: PinSource::Random, sealed: false }).map_err(|e| e.to_string())?;
                    j.transition(job, Transition::to(JobState::Prepared).resolving(pin, IntentOutcome::Done(None))).map_err(|e| e.to_string())?;
                    j.fail(job, JobError::new(FailureKind::Cancelled, "test")).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    let errors: Vec<String> = threads.into_iter().filter_map(|t| t.join().unwrap().err()).collect();
    assert!(errors.is_empty(), "writers failed: {errors:?}");
    let j = Journal::open_existing(&path).unwrap();
    assert_eq!(j.query(&JobFilter::default()).unwrap().len(), 240);
}

#[test]
fn every_per_key_query_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    for i in 0..50 {
        let job = j.begin_job(&new_job(&format!("u{i}@contoso.example"), &format!("KS{i:06}"))).unwrap();
        run_happy_path(&mut j, job, &format!("Y3JlZC{i}"), &format!("method-{i}"));
    }
    let plans = j.query_plans().unwrap();
    assert!(plans.len() >= 12, "{plans:#?}");
    for p in &plans {
        assert!(p.uses_index(), "`{}` scans a table: {:?}\n{}", p.name, p.plan, p.sql);
    }
    let key = plans.iter().find(|p| p.name.starts_with("jobs for a key")).unwrap();
    assert!(key.plan.iter().any(|l| l.contains("jobs_by_serial")), "{key:#?}");
    let user = plans.iter().find(|p| p.name == "jobs for a user").unwrap();
    assert!(user.plan.iter().any(|l| l.contains("jobs_by_user")), "{user:#?}");
}

#[test]
fn a_version_1_journal_gets_the_case_insensitive_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let mut j = open(&dir);
        let job = j.begin_job(&new_job("Ada@Contoso.example", "ks-00042")).unwrap();
        run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");
        j.path().to_path_buf()
    };
    // Put the file back to version 1 as an older keystation left it.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP INDEX jobs_by_user; DROP INDEX jobs_by_serial;
         CREATE INDEX jobs_by_user ON jobs(user_upn COLLATE NOCASE); CREATE INDEX jobs_by_serial ON jobs(key_serial);
         DROP INDEX jobs_one_active_per_user; DROP INDEX jobs_by_queue_item; DROP TABLE queue_items; DROP TABLE stations;
         DROP TABLE operation_intents; DROP TABLE operations; DROP TABLE deeplink_nonces;
         ALTER TABLE jobs DROP COLUMN station; ALTER TABLE jobs DROP COLUMN host; ALTER TABLE jobs DROP COLUMN fence; ALTER TABLE jobs DROP COLUMN queue_item;
         DELETE FROM schema_version WHERE version > 1;",
    )
    .unwrap();
    drop(raw);
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(j.query_plans().unwrap().iter().all(|p| p.uses_index()));
    let by_key = j.jobs_for_key(&KeyQuery { serial: Some("KS-00042".into()), ..Default::default() }).unwrap();
    assert_eq!(by_key.len(), 1, "serials compare without case");
    assert_eq!(j.jobs_for_user("ada@contoso.EXAMPLE").unwrap().len(), 1);
}

#[test]
fn only_intents_and_the_end_of_a_job_are_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(&dir);
    let reader = Journal::open_existing(j.path()).unwrap();
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    // A relaxed commit is visible to other connections at once.
    assert_eq!(reader.job(job).unwrap().unwrap().state, JobState::Arrived);
    run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");
    let intents = j.intents(job).unwrap().len() as u64;
    let stats = j.commit_stats();
    assert_eq!(intents, 5);
    assert_eq!(stats.synced, intents + 1, "one sync per intent and one for the end: {stats:?}");
    assert_eq!(stats.commits, 14, "{stats:?}");
    assert_eq!(reader.job(job).unwrap().unwrap().state, JobState::Done);
    // A failure is an end too.
    let other = j.begin_job(&new_job("b@contoso.example", "2")).unwrap();
    j.fail(other, JobError::new(FailureKind::Key, "the key was removed")).unwrap();
    assert_eq!(j.commit_stats().synced, stats.synced + 1);
    // A resting state that must survive a power cut can ask for a sync.
    let third = j.begin_job(&new_job("c@contoso.example", "3")).unwrap();
    let before = j.commit_stats().synced;
    j.transition(third, Transition::to(JobState::Inspected).durable()).unwrap();
    assert_eq!(j.commit_stats().synced, before + 1);
}
