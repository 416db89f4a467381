//! The desk's operations (method deletions, re-imaging) on both backends: the plan is
//! stored before any side effect, intents are recorded and resolved, an interrupted
//! operation comes back (on a shared journal only to its own station), and a deleted
//! method is history for the job that registered it.
use keystation::station::journal::*;

fn reimage_plan() -> NewOperation {
    NewOperation {
        kind: OperationKind::Reimage,
        tenant: Some("contoso".into()),
        user_upn: None,
        key: KeyFacts { serial: Some("KS-0042".into()), aaguid: Some("aaguid-1".into()), ..Default::default() },
        plan: OperationPlan {
            deletions: vec![PlannedDeletion {
                user_upn: Some("ada@contoso.example".into()),
                user_id: "user-1".into(),
                method_id: "method-1".into(),
                display_name: Some("YubiKey".into()),
                found_by: "journal".into(),
            }],
            reset_key: true,
            note: Some("returned key".into()),
        },
    }
}

both!(an_operation_keeps_its_plan_and_intents_and_comes_back_until_finished, |db| {
    let mut j = db.open_as("desk-1");
    let op = j.begin_operation(&reimage_plan()).unwrap();
    let delete = Intent::DeleteMethod { method_id: "method-1".into(), reason: "returned key".into() };
    let i = j.record_operation_intent(op, &delete).unwrap();
    // Interrupted here: the plan and the open intent are what a resume works from.
    let again = db.open_as("desk-1");
    let u = again.unfinished_operations().unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].plan, reimage_plan().plan);
    assert_eq!(u[0].open_intent(&delete), Some(i));
    assert!(!u[0].deleted("method-1") && !again.method_deleted("method-1").unwrap());
    if j.is_shared() {
        assert!(db.open_as("desk-2").unfinished_operations().unwrap().is_empty(), "another station's operation is its own business");
    }

    j.resolve_operation_intent(op, i, &IntentOutcome::Done(Some(serde_json::json!({"deleted": true})))).unwrap();
    assert!(j.resolve_operation_intent(op, i, &IntentOutcome::Done(None)).is_err(), "an intent is resolved once");
    let reset = j.record_operation_intent(op, &Intent::ResetKey).unwrap();
    j.resolve_operation_intent(op, reset, &IntentOutcome::Done(None)).unwrap();
    j.finish_operation(op, Ok(())).unwrap();
    assert!(j.finish_operation(op, Ok(())).is_err(), "an operation ends once");

    let r = again.operation(op).unwrap().unwrap();
    assert_eq!(r.state, OperationState::Done);
    assert!(r.deleted("method-1") && r.reset_done() && r.finished_at.is_some());
    assert_eq!(r.intents.len(), 2);
    assert_eq!(r.intents[0].result.as_ref().unwrap()["deleted"], true);
    assert!(again.unfinished_operations().unwrap().is_empty());
    assert!(again.method_deleted("method-1").unwrap() && !again.method_deleted("method-2").unwrap());
    let by_key = again.operations_for_key(&KeyQuery { serial: Some("ks-0042".into()), aaguid: Some("AAGUID-1".into()), ..Default::default() }).unwrap();
    assert_eq!(by_key.iter().map(|o| o.id).collect::<Vec<_>>(), vec![op], "serials and AAGUIDs compare without case");
    assert!(again.operations_for_key(&KeyQuery { serial: Some("KS-9".into()), ..Default::default() }).unwrap().is_empty());
});

both!(a_failed_operation_keeps_its_error, |db| {
    let mut j = db.open();
    let mut new = reimage_plan();
    new.kind = OperationKind::DeleteMethods;
    new.user_upn = Some("ada@contoso.example".into());
    let op = j.begin_operation(&new).unwrap();
    let i = j.record_operation_intent(op, &Intent::DeleteMethod { method_id: "method-1".into(), reason: "operator".into() }).unwrap();
    let e = JobError { kind: FailureKind::Entra, message: "403 from Graph".into() };
    j.resolve_operation_intent(op, i, &IntentOutcome::Failed(e.clone())).unwrap();
    j.finish_operation(op, Err(e)).unwrap();
    let r = j.operation(op).unwrap().unwrap();
    assert_eq!((r.kind, r.state), (OperationKind::DeleteMethods, OperationState::Failed));
    assert!(r.error.as_deref().unwrap().contains("403 from Graph"));
    assert_eq!(r.intents[0].resolution, Some(Resolution::Failed));
    assert!(!j.method_deleted("method-1").unwrap());
});

both!(a_deeplink_nonce_is_spent_once_even_from_two_stations, |db| {
    let mut a = db.open_as("desk-1");
    let mut b = db.open_as("desk-2");
    let exp = chrono::Utc::now() + chrono::Duration::minutes(10);
    assert!(a.use_deeplink_nonce("nonce-0123456789abcdef", exp, "ada@contoso.example", Some("contoso")).unwrap());
    assert!(!b.use_deeplink_nonce("nonce-0123456789abcdef", exp, "ada@contoso.example", Some("contoso")).unwrap(), "a replay at another station");
    assert!(!a.use_deeplink_nonce("nonce-0123456789abcdef", exp, "ada@contoso.example", None).unwrap(), "a replay at the same station");
    assert!(b.use_deeplink_nonce("nonce-fedcba9876543210", exp, "ada@contoso.example", None).unwrap(), "another nonce");
});
