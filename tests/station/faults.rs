//! Things going wrong mid-job: Graph throttling and outages (retried), the key pulled
//! out at each step (typed failure or parked, then a re-plug completes), the operator
//! cancelling.
use crate::common::*;
use keystation::entra::simulator::{FaultConfig, FaultKind, FaultRule};
use keystation::key::virtual_key::{Touch, VirtualHub};
use keystation::station::journal::{FailureKind, JobMode, Journal, OperatorReason};
use keystation::station::pipeline::{CancelToken, JobSpec, OutcomeClass, Step};
use keystation::station::state::JobState;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_outages_during_an_enrollment_are_retried() {
    let desk = Desk::new().await;
    let rule = |kind, target: &str, method: Option<&str>, times| FaultRule { method: method.map(str::to_string), times: Some(times), retry_after_secs: Some(1), ..FaultRule::new(kind, target) };
    desk.sim
        .set_faults(FaultConfig {
            seed: 7,
            rules: vec![
                // The user look-up, the creation options and the POST each meet a fault.
                rule(FaultKind::Throttle, "/v1.0/users", Some("GET"), 2),
                rule(FaultKind::Unavailable, "/v1.0/users", Some("POST"), 1),
                FaultRule { times: Some(1), ..FaultRule::new(FaultKind::GatewayTimeout, "/v1.0/policies") },
            ],
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVFAULT0001"));
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let out = station.provision(h, JobSpec::new(JobMode::Batch, ALICE), rec, CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    let faulted: Vec<_> = desk.sim.requests(None).into_iter().filter(|r| r.fault.is_some()).map(|r| (r.method, r.status)).collect();
    assert!(faulted.contains(&("GET".to_string(), Some(429))), "{faulted:?}");
    assert!(faulted.contains(&("POST".to_string(), Some(503))), "{faulted:?}");
    assert!(faulted.contains(&("GET".to_string(), Some(504))), "{faulted:?}");
    assert_eq!(desk.methods(ALICE).await.len(), 1, "registered once despite the retried POST");
}

/// Unplug the key when `step` starts; what the job ends as; then re-plug and enroll.
async fn unplug_at(step: Step, extra: &str, expect: JobState, expect_reason: Option<OperatorReason>) {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVUNPLUG001");
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), extra), &hub, |_| {}).await;
    let rec = Recorder::new();
    {
        let key = key.clone();
        rec.when(step, move || key.unplug());
    }
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let started = Instant::now();
    let out = station.provision(h, JobSpec::new(JobMode::Enroll, ALICE), rec.clone(), CancelToken::new()).await;
    assert!(started.elapsed() < Duration::from_secs(15), "an unplugged key is noticed quickly");
    assert!(rec.steps_started().contains(&step), "{step:?} never started: {:?}", rec.steps_started());
    assert_eq!(out.state, expect, "unplug at {step:?}: {out:#?}");
    assert_eq!(out.operator_reason, expect_reason, "unplug at {step:?}");
    if expect == JobState::Failed {
        let e = out.error.as_ref().unwrap();
        assert_eq!(e.kind, FailureKind::Key, "{e:?}");
        assert!(e.message.contains("removed"), "{e:?}");
        assert!(e.retryable);
        assert_eq!(out.class(), OutcomeClass::Key);
    }

    if expect == JobState::NeedsOperator {
        assert!(desk.methods(ALICE).await.is_empty());
        return;
    }

    // Re-plug (a fresh power-up) and enroll again: the user ends with exactly one key.
    key.replug();
    let rec2 = Recorder::new();
    let h = open_key(&hub, "virtual:0", rec2.clone()).await;
    let out2 = station.provision(h, JobSpec::new(JobMode::Enroll, ALICE), rec2, CancelToken::new()).await;
    let methods = desk.methods(ALICE).await;
    if expect == JobState::Done {
        // The first job finished (the key was not needed any more): the second one is
        // refused because this key is already registered to Alice.
        assert_eq!(out2.state, JobState::Failed, "{out2:#?}");
        assert!(out2.error.as_ref().unwrap().message.contains("already registered"));
    } else {
        assert_eq!(out2.state, JobState::Done, "after a re-plug: {out2:#?}");
    }
    assert_eq!(methods.len(), 1, "unplug at {step:?}: {methods:#?}");
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    assert!(j.unfinished().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_while_inspecting() {
    unplug_at(Step::Inspect, "", JobState::Failed, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_while_resetting() {
    unplug_at(Step::Reset, "[reset]\npolicy = \"always\"\n", JobState::Failed, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_while_setting_the_pin() {
    unplug_at(Step::SetPin, "", JobState::Failed, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_while_registering() {
    // The key keeps the PIN this job set; the next attempt resets it (reset.policy
    // if-pin-set), so nothing needs an operator.
    unplug_at(Step::Register, "", JobState::Failed, None).await;
    // Without resets, a key with a PIN nobody was given needs a person.
    unplug_at(Step::Register, "[reset]\npolicy = \"never\"\n", JobState::NeedsOperator, Some(OperatorReason::PinSetRegistrationFailed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_while_verifying_or_handing_over() {
    // Nothing after registration needs the key, except the forced PIN change, which
    // degrades to a warning: the PIN is handed over either way.
    unplug_at(Step::Verify, "", JobState::Done, None).await;
    unplug_at(Step::ForcePinChange, "[pin]\nforce_change = true\n", JobState::Done, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_waiting_for_a_touch_is_quick_and_recorded() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVCANCEL001");
    key.set_touch(Touch::Never);
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let job = {
        let station = &station;
        let rec = rec.clone();
        let cancel = cancel.clone();
        async move { station.provision(h, JobSpec::new(JobMode::Enroll, ALICE), rec, cancel).await }
    };
    let trigger = async {
        // Wait until the key asks for the touch of makeCredential, then cancel.
        while !rec.kinds().iter().any(|e| matches!(e, keystation::station::pipeline::EventKind::TouchKey)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at = Instant::now();
        cancel.cancel();
        at
    };
    let (out, at) = tokio::join!(job, trigger);
    assert!(at.elapsed() < Duration::from_secs(2), "cancel took {:?}", at.elapsed());
    assert_eq!(out.class(), OutcomeClass::Cancelled, "{out:#?}");
    // The key already had the station's PIN: the job is left as a crash leaves it (not
    // parked), with why it stopped, and the next run resumes it.
    assert_eq!(out.state, JobState::Prepared, "{out:#?}");
    assert_eq!(out.operator_reason, None);
    assert!(desk.methods(ALICE).await.is_empty());
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let rec = j.job(out.job.unwrap()).unwrap().unwrap();
    assert_eq!(rec.state, JobState::Prepared);
    assert_eq!(rec.error.unwrap().kind, FailureKind::Cancelled);

    // The next run: the key is plugged in again and the job resumes by itself.
    key.set_touch(Touch::Instant);
    key.replug();
    let items = station.pending_resumes().await.unwrap();
    assert_eq!(items.len(), 1, "{items:#?}");
    let h = open_key(&hub, "virtual:0", Recorder::new()).await;
    let again = station.resume(items.into_iter().next().unwrap(), Some(h), Recorder::new(), CancelToken::new()).await;
    assert_eq!(again.state, JobState::Done, "{again:#?}");
    assert_eq!(desk.methods(ALICE).await.len(), 1);
    assert!(j.unfinished().unwrap().is_empty());
    assert!(j.needs_operator().unwrap().is_empty(), "nothing was parked");
}
