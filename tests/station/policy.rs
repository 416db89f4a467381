//! Refusals before anything is written to the key: AAGUID blocked, user not found,
//! user outside the policy, self-service setup off, TAP policy off; keys with a PIN
//! nobody knows; keys already registered to the user.
use crate::common::*;
use keystation::key::virtual_key::{VirtualHub, VirtualKey};
use keystation::secret::SecretString;
use keystation::station::journal::{FailureKind, JobMode, Journal, OperatorReason};
use keystation::station::pipeline::{CancelToken, CurrentPinRequest, DeskPrompt, JobOutcome, JobSpec, NewPinRequest, OutcomeClass, PinChoice, Station};
use keystation::station::state::JobState;
use serde_json::json;
use std::sync::Arc;

async fn run(desk: &Desk, extra: &str, user: &str, key: &VirtualKey) -> (JobOutcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), extra), &hub, |_| {}).await;
    let rec = Recorder::new();
    let handle = open_key(&hub, key.path(), rec.clone()).await;
    (station.provision(handle, JobSpec::new(JobMode::Enroll, user), rec, CancelToken::new()).await, dir)
}

/// The key is as it came: no PIN, no credential.
async fn untouched(key: &VirtualKey) {
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    let info = h.get_info().await.unwrap();
    assert!(!info.pin_is_set(), "the key got a PIN");
    assert_eq!(key.counters().touch_requests, 0, "the key was asked for a touch");
}

fn failed_before_the_key(out: &JobOutcome, class: OutcomeClass, words: &str) {
    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    assert_eq!(out.class(), class, "{out:#?}");
    let e = out.error.as_ref().unwrap();
    assert!(e.message.contains(words), "{}", e.message);
    assert!(e.next_step.is_some(), "a refusal says what to do next: {e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_aaguid_is_refused_and_the_key_left_untouched() {
    let desk = Desk::new().await;
    desk.patch_policy("fido2", json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [VIRTUAL_AAGUID.to_uppercase()]}})).await;
    let key = desk.key(0, "KSVBLOCK0001");
    let (out, dir) = run(&desk, "", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "block list");
    assert!(out.error.as_ref().unwrap().message.contains("the key was not changed"));
    untouched(&key).await;
    assert!(desk.methods(ALICE).await.is_empty());
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let job = j.job(out.job.unwrap()).unwrap().unwrap();
    assert_eq!(job.error.as_ref().unwrap().kind, FailureKind::Policy);
    assert!(j.intents(job.id).unwrap().is_empty(), "no side effect was even intended");

    // An allow list without it: the same.
    desk.patch_policy("fido2", json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": ["2fc0579f-8113-47ea-b116-bb5a8db9202a"]}})).await;
    let key = desk.key(1, "KSVBLOCK0002");
    let (out, _d) = run(&desk, "", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "allow list");
    untouched(&key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_not_found_or_out_of_scope_are_refused_before_the_key() {
    let desk = Desk::new().await;
    let key = desk.key(0, "KSVSCOPE0001");
    let (out, _d) = run(&desk, "", "nobody@contoso.test", &key).await;
    failed_before_the_key(&out, OutcomeClass::Config, "nobody@contoso.test");
    assert_eq!(out.error.as_ref().unwrap().kind, FailureKind::UserInput);
    assert!(!out.error.as_ref().unwrap().retryable);
    let (out, _d) = run(&desk, "", OSCAR, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "not in scope");
    let (out, _d) = run(&desk, "", BREE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "exclusion wins");
    let (out, _d) = run(&desk, "", "gina_fabrikam.test#EXT#@contoso.test", &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "guest");
    untouched(&key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_service_off_and_method_off_are_refused_before_the_key() {
    let desk = Desk::new().await;
    desk.patch_policy("fido2", json!({"isSelfServiceRegistrationAllowed": false})).await;
    let key = desk.key(0, "KSVSELF00001");
    let (out, _d) = run(&desk, "", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "self-service");
    desk.patch_policy("fido2", json!({"isSelfServiceRegistrationAllowed": true, "state": "disabled"})).await;
    let (out, _d) = run(&desk, "", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "disabled");
    untouched(&key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tap_policy_disabled_refuses_a_job_that_needs_a_handover_tap() {
    let desk = Desk::new().await;
    desk.patch_policy("temporaryAccessPass", json!({"state": "disabled"})).await;
    let key = desk.key(0, "KSVTAP000001");
    let (out, _d) = run(&desk, "[tap]\nhandover = true\n", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "Temporary Access Pass method is disabled");
    untouched(&key).await;
    // Without a handover TAP the TAP policy does not matter.
    let (out, _d) = run(&desk, "", ALICE, &key).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    // A lifetime outside the policy's bounds is refused the same way.
    desk.patch_policy("temporaryAccessPass", json!({"state": "enabled"})).await;
    let key = desk.key(1, "KSVTAP000002");
    let (out, _d) = run(&desk, "[tap]\nhandover = true\nlifetime_minutes = 20\n", BOB, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "60 to 480 minutes");
    untouched(&key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_enforced_with_an_unknown_model_is_refused_when_configured() {
    let desk = Desk::new().await;
    desk.patch_policy("fido2", json!({"isAttestationEnforced": true})).await;
    let key = VirtualKey::try_new(keystation::key::virtual_key::VirtualKeyConfig {
        index: Some(0),
        aaguid: [0x11; 16],
        attestation: keystation::key::virtual_key::VirtualAttestation::Batch(desk.ca.clone()),
        ..Default::default()
    })
    .unwrap();
    let (out, _d) = run(&desk, "[preflight]\nattestation = \"refuse\"\n", ALICE, &key).await;
    failed_before_the_key(&out, OutcomeClass::Policy, "enforces attestation");
    untouched(&key).await;
    // The virtual key's own model is known, and its chain is trusted: it goes through.
    let key = desk.key(1, "KSVATTEST001");
    let (out, _d) = run(&desk, "[preflight]\nattestation = \"refuse\"\n", ALICE, &key).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
}

/// A desk that answers with fixed PINs.
struct FixedDesk {
    current: Option<&'static str>,
}

impl DeskPrompt for FixedDesk {
    fn new_pin<'a>(&'a self, _r: &'a NewPinRequest) -> keystation::ceremony::webauthn::BoxFuture<'a, Option<SecretString>> {
        Box::pin(async { Some(SecretString::new("582914")) })
    }
    fn current_pin<'a>(&'a self, _r: &'a CurrentPinRequest) -> keystation::ceremony::webauthn::BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move { self.current.map(SecretString::new) })
    }
}

async fn key_with_pin(desk: &Desk, index: usize, serial: &str, pin: &str) -> VirtualKey {
    let key = desk.key(index, serial);
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    h.set_pin(&SecretString::new(pin)).await.unwrap();
    drop(h);
    // It arrives at the desk later: a fresh power-up.
    key.replug();
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_an_unknown_pin_gets_guidance_or_a_reset_per_policy() {
    let desk = Desk::new().await;
    // reset.policy = never, if_pin_unknown = refuse: parked, the key keeps its PIN.
    let key = key_with_pin(&desk, 0, "KSVPIN000001", "24681357").await;
    let (out, _d) = run(&desk, "[reset]\npolicy = \"never\"\n", ALICE, &key).await;
    assert_eq!(out.state, JobState::NeedsOperator, "{out:#?}");
    assert_eq!(out.operator_reason, Some(OperatorReason::KeyHasUnknownPin));
    assert!(out.error.as_ref().unwrap().next_step.as_ref().unwrap().contains("keys reset"));
    assert!(out.operator_message.as_ref().unwrap().contains("enter its PIN, or reset it"));
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    h.credentials_metadata(&SecretString::new("24681357")).await.expect("the old PIN still works");
    drop(h);

    // if_pin_unknown = ask, at a desk: the user types the PIN, the station changes it.
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), "[reset]\npolicy = \"never\"\nif_pin_unknown = \"ask\"\n"), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, key.path(), rec.clone()).await;
    let mut spec = JobSpec::new(JobMode::Enroll, ALICE);
    spec.prompt = Some(Arc::new(FixedDesk { current: Some("24681357") }));
    let mut out = station.provision(h.clone(), spec, rec, CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    let slip = out.take_slip().unwrap().render();
    let pin_line = slip.expose().lines().find(|l| l.trim_start().starts_with("PIN")).unwrap().to_string();
    let pin = pin_line.split_whitespace().last().unwrap().to_string();
    h.credentials_metadata(&SecretString::new(&pin)).await.expect("the PIN was changed to the slip's");
    assert_eq!(desk.methods(ALICE).await.len(), 1);

    // The default policy resets a key with a PIN (the touch comes inside the window).
    let key = key_with_pin(&desk, 1, "KSVPIN000002", "97531864").await;
    let rec = Recorder::new();
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let h = open_key(&hub, key.path(), rec.clone()).await;
    let out = station.provision(h, JobSpec::new(JobMode::Enroll, BOB), rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(rec.steps_started().contains(&keystation::station::pipeline::Step::Reset));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_window_passed_asks_for_a_replug_and_resets_on_arrival() {
    let desk = Desk::new().await;
    let key = key_with_pin(&desk, 0, "KSVREPLUG001", "24681357").await;
    key.advance_uptime(std::time::Duration::from_secs(11));
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, key.path(), rec.clone()).await;
    // The operator re-plugs when asked.
    let k = key.clone();
    let operator = {
        let rec = rec.clone();
        tokio::spawn(async move {
            loop {
                if rec.kinds().iter().any(|e| matches!(e, keystation::station::pipeline::EventKind::ReplugKey { .. })) {
                    k.replug();
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let out = station.provision(h, JobSpec::new(JobMode::Enroll, ALICE), rec.clone(), CancelToken::new()).await;
    operator.await.unwrap();
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(rec.kinds().iter().any(|e| matches!(e, keystation::station::pipeline::EventKind::KeyReplugged { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_already_registered_to_the_user_is_never_registered_twice() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let key = desk.key(0, "KSVTWICE0001");
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let config = desk.config(dir.path(), "[reset]\npolicy = \"never\"\n");
    let station = desk.station(dir.path(), config.clone(), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, key.path(), rec.clone()).await;
    let mut spec = JobSpec::new(JobMode::Enroll, ALICE);
    spec.pin = PinChoice::Chosen(SecretString::new("739164"));
    let out = station.provision(h.clone(), spec, rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    let first = desk.methods(ALICE).await;
    assert_eq!(first.len(), 1);

    // Same station: the journal knows the key is registered; nothing is touched.
    let touches = key.counters().touch_requests;
    let mut again = JobSpec::new(JobMode::Enroll, ALICE);
    again.current_pin = Some(SecretString::new("739164"));
    again.pin = PinChoice::Chosen(SecretString::new("582914"));
    let out = station.provision(h.clone(), again.clone(), rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    assert!(out.error.as_ref().unwrap().message.contains("already registered"));
    assert_eq!(key.counters().touch_requests, touches);
    h.credentials_metadata(&SecretString::new("739164")).await.expect("PIN unchanged");

    // Another station (its own journal): the key itself refuses (excludeCredentials),
    // and the job stops for an operator instead of registering twice.
    let dir2 = tempfile::tempdir().unwrap();
    let station2: Station = desk.station(dir2.path(), config, &hub, |_| {}).await;
    let out = station2.provision(h.clone(), again, rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::NeedsOperator, "{out:#?}");
    assert!(matches!(out.operator_reason, Some(OperatorReason::UnknownMethodOnUser { ref method_id, .. }) if *method_id == first[0].id), "{:?}", out.operator_reason);
    let after = desk.methods(ALICE).await;
    assert_eq!(after.len(), 1, "registered exactly once");
    assert_eq!(after[0].id, first[0].id);
}
