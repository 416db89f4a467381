//! The journal's contract, the same on SQLite and PostgreSQL: states, intents, resume
//! queries, look-ups, atomic transitions, visibility to other connections, commits per
//! key, index use, and at most one job in progress per user.
use crate::common::*;
use keystation::station::journal::*;
use keystation::station::pin::PinSource;
use keystation::station::JobState;

both!(a_job_round_trips_through_every_state, |db| {
    let mut j = db.open();
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    j.set_identity(StationIdentity { name: "desk-1".into(), host: "imaging-01".into() });
    let job = j.begin_job(&new_job("ada@contoso.example", "12345678")).unwrap();
    run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");
    let r = j.job(job).unwrap().unwrap();
    assert_eq!(r.state, JobState::Done);
    assert_eq!(r.batch, Some(BatchRef { id: "batch-7".into(), line: 12 }));
    assert_eq!(r.key.firmware.as_deref(), Some("5.4.3"));
    assert_eq!(r.entra_method_id.as_deref(), Some("method-1"));
    assert_eq!((r.station.as_deref(), r.host.as_deref()), (Some("desk-1"), Some("imaging-01")), "the station is on the job");
    assert!(r.finished_at.is_some() && r.error.is_none());
    assert_eq!(j.job_by_uid(&r.uid).unwrap().unwrap().id, job);
    let history: Vec<_> = j.transitions(job).unwrap().into_iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(history.len(), 7);
    assert_eq!(history[6], (Some(JobState::HandedOver), JobState::Done));
    let intents = j.intents(job).unwrap();
    assert_eq!(intents.len(), 5);
    assert!(intents.iter().all(|i| !i.is_open()));
    assert_eq!(intents[3].result.as_ref().unwrap()["method_id"], "method-1");
});

both!(unfinished_jobs_come_back_with_their_open_intents, |db| {
    let mut j = db.open();
    let a = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    j.transition(a, Transition::to(JobState::Inspected)).unwrap();
    let set = j.record_intent(a, &Intent::SetPin { length: 8, source: PinSource::Random, sealed: false }).unwrap();
    let b = j.begin_job(&new_job("b@contoso.example", "2")).unwrap();
    run_happy_path(&mut j, b, "Y3JlZC0y", "method-2");
    let u = j.unfinished().unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].job.id, a);
    assert_eq!(u[0].open_intents.iter().map(|i| i.id).collect::<Vec<_>>(), vec![set]);
    assert_eq!(plan_resume(&u[0]), vec![ResumeStep::Abandon(set), ResumeStep::CheckKeyPin { source: PinSource::Random }]);
});

both!(look_ups_by_user_key_credential_and_method, |db| {
    let mut j = db.open();
    let job = j.begin_job(&new_job("Ada@Contoso.example", "KS-0042")).unwrap();
    run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");
    assert_eq!(j.jobs_for_user("ada@contoso.EXAMPLE").unwrap().len(), 1, "users compare without case");
    assert_eq!(j.jobs_for_key(&KeyQuery { serial: Some("ks-0042".into()), ..Default::default() }).unwrap().len(), 1, "serials too");
    assert_eq!(j.job_by_credential_id("Y3JlZC0x").unwrap().unwrap().id, job);
    assert_eq!(j.job_by_method_id("method-1").unwrap().unwrap().id, job);
    assert!(j.knows_method("method-1").unwrap());
    assert!(!j.knows_method("method-2").unwrap());
    let f = JobFilter { user: Some("ADA@contoso.example".into()), states: vec![JobState::Done], ..Default::default() };
    assert_eq!(j.query(&f).unwrap().len(), 1);
});

both!(live_methods_are_the_ones_no_job_deleted_again, |db| {
    let mut j = db.open();
    // A job registered m-1, was resumed after its PIN was lost and deleted m-1 again
    // (`delete_method` done), then parked; a later job enrolled m-2.
    let lost = j.begin_job(&new_job("ada@contoso.example", "1")).unwrap();
    j.transition(lost, Transition::to(JobState::Inspected)).unwrap();
    j.transition(lost, Transition::to(JobState::Prepared)).unwrap();
    let reg = j.record_intent(lost, &register_intent("Y3JlZC0x")).unwrap();
    let update = JobUpdate { entra_method_id: Some("m-1".into()), ..Default::default() };
    j.transition(lost, Transition::to(JobState::Registered).resolving(reg, IntentOutcome::Done(None)).with_update(update)).unwrap();
    let del = j.record_intent(lost, &Intent::DeleteMethod { method_id: "m-1".into(), reason: "PIN lost".into() }).unwrap();
    j.resolve_intent(lost, del, &IntentOutcome::Done(None)).unwrap();
    j.park(lost, OperatorReason::PinLostBeforeHandover { method_id: None }).unwrap();
    let again = j.begin_job(&new_job("ada@contoso.example", "2")).unwrap();
    run_happy_path(&mut j, again, "Y3JlZC0y", "m-2");
    let live = j.live_methods("ADA@contoso.example").unwrap();
    assert_eq!(live.iter().map(|m| (m.method_id.as_str(), m.job, m.state)).collect::<Vec<_>>(), vec![("m-2", again, JobState::Done)]);
    // A delete that failed leaves the method where it was.
    let kept = j.begin_job(&new_job("bob@contoso.example", "3")).unwrap();
    run_happy_path(&mut j, kept, "Y3JlZC0z", "m-3");
    let other = j.begin_job(&new_job("bob@contoso.example", "4")).unwrap();
    let del = j.record_intent(other, &Intent::DeleteMethod { method_id: "m-3".into(), reason: "test".into() }).unwrap();
    j.transition(other, Transition::to(JobState::Failed).resolving(del, IntentOutcome::Abandoned("not sent".into()))).unwrap();
    assert_eq!(j.live_methods("bob@contoso.example").unwrap().iter().map(|m| m.method_id.as_str()).collect::<Vec<_>>(), vec!["m-3"]);
    assert!(j.live_methods("nobody@contoso.example").unwrap().is_empty());
});

both!(a_failed_transition_leaves_everything_as_it_was, |db| {
    let mut j = db.open();
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    j.transition(job, Transition::to(JobState::Inspected)).unwrap();
    let other = j.begin_job(&new_job("b@contoso.example", "2")).unwrap();
    let not_ours = j.record_intent(other, &Intent::ResetKey).unwrap();
    let before = j.job(job).unwrap().unwrap();
    // Resolving an intent that is not this job's open intent rolls the whole move back.
    let e = j.transition(job, Transition::to(JobState::Prepared).resolving(not_ours, IntentOutcome::Done(None)).with_note("x")).unwrap_err();
    assert!(matches!(e, JournalError::IntentNotOpen { .. }), "{e}");
    assert_eq!(j.job(job).unwrap().unwrap(), before);
    assert_eq!(j.transitions(job).unwrap().len(), 2);
    let e = j.transition(job, Transition::to(JobState::Done)).unwrap_err();
    assert!(matches!(e, JournalError::IllegalTransition { .. }), "{e}");
    assert!(matches!(j.transition(JobId(4242), Transition::to(JobState::Inspected)).unwrap_err(), JournalError::UnknownJob(_)));
    // And the journal still works.
    j.transition(job, Transition::to(JobState::Prepared)).unwrap();
});

both!(another_connection_sees_every_commit_at_once, |db| {
    let mut writer = db.open();
    let reader = db.open();
    let job = writer.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    assert_eq!(reader.job(job).unwrap().unwrap().state, JobState::Arrived, "a relaxed commit is visible at once");
    writer.transition(job, Transition::to(JobState::Inspected)).unwrap();
    assert_eq!(reader.unfinished().unwrap().len(), 1);
    writer.fail(job, JobError::new(FailureKind::Cancelled, "operator pressed Ctrl-C")).unwrap();
    assert!(reader.unfinished().unwrap().is_empty());
});

both!(only_intents_and_a_jobs_end_are_synced, |db| {
    let mut j = db.open();
    let job = j.begin_job(&new_job("a@contoso.example", "1")).unwrap();
    run_happy_path(&mut j, job, "Y3JlZC0x", "method-1");
    let stats = j.commit_stats();
    assert_eq!(stats.synced, 5 + 1, "five intents and the end: {stats:?}");
    assert_eq!(stats.commits, 14, "{stats:?}");
});

both!(every_per_key_query_uses_an_index, |db| {
    let mut j = db.open();
    for i in 0..30 {
        let job = j.begin_job(&new_job(&format!("u{i}@contoso.example"), &format!("KS{i:06}"))).unwrap();
        run_happy_path(&mut j, job, &format!("Y3JlZC{i}"), &format!("method-{i}"));
    }
    let plans = j.query_plans().unwrap();
    assert!(plans.len() >= 20, "{plans:#?}");
    for p in &plans {
        assert!(p.uses_index(), "`{}` reads a whole table:\n{}\n{}", p.name, p.plan.join("\n"), p.sql);
    }
    let key = plans.iter().find(|p| p.name.starts_with("jobs for a key")).unwrap();
    assert!(key.plan.iter().any(|l| l.contains("jobs_by_serial")), "{key:#?}");
});

both!(one_job_in_progress_per_user_is_enforced_by_the_database, |db| {
    let mut a = db.open_as("desk-a");
    let mut b = db.open_as("desk-b");
    let first = a.begin_job(&new_job("ada@contoso.example", "1")).unwrap();
    let e = b.begin_job(&new_job("ADA@contoso.example", "2")).unwrap_err();
    match &e {
        JournalError::UserBusy { upn, job, station } => {
            assert_eq!((upn.as_str(), *job, station.as_deref()), ("ADA@contoso.example", first, Some("desk-a")));
        }
        other => panic!("expected UserBusy, got {other}"),
    }
    assert!(e.to_string().contains("already has a job in progress"), "{e}");
    // A kiosk learns the user later: the same rule holds when the user is filled in.
    let mut kiosk = new_job("x@contoso.example", "3");
    kiosk.user = UserRef::default();
    let k = b.begin_job(&kiosk).unwrap();
    let e = b.update_job(k, &JobUpdate { user: UserRef { upn: Some("ada@contoso.example".into()), object_id: None }, ..Default::default() }).unwrap_err();
    assert!(matches!(e, JournalError::UserBusy { .. }), "{e}");
    // Once the first job ends, the user can start again anywhere.
    a.fail(first, JobError::new(FailureKind::Key, "the key was removed")).unwrap();
    b.begin_job(&new_job("ada@contoso.example", "2")).unwrap();
});
