//! Retry instead of park: once the key has the station's PIN, a registration that Entra
//! fails in a way another attempt can fix (a gateway timeout, an expired challenge) is
//! tried again on the same key with fresh creation options and the same PIN, and the
//! journal records every attempt. When the attempts run out, the job fails (the next
//! attempt resets the key) instead of waiting for an operator.
use crate::common::*;
use keystation::entra::simulator::{FaultConfig, FaultKind, FaultRule};
use keystation::key::virtual_key::VirtualHub;
use keystation::station::journal::{Intent, JobMode, Journal, Resolution};
use keystation::station::pipeline::{CancelToken, EventKind, JobOutcome, JobSpec, StationEvent, StationEvents};
use keystation::station::state::JobState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every POST to Alice's fido2Methods meets a gateway timeout (`times` of them): Graph
/// may have processed such a POST, so the client does not replay it.
async fn post_times_out(desk: &Desk, times: u32) {
    let alice = desk.graph().resolve_user(ALICE).await.unwrap().id;
    let rule = FaultRule { method: Some("POST".into()), times: Some(times), ..FaultRule::new(FaultKind::GatewayTimeout, &format!("/v1.0/users/{alice}/authentication/fido2Methods")) };
    desk.sim.set_faults(FaultConfig { seed: 11, rules: vec![rule] }).unwrap();
}

async fn enroll(desk: &Desk, dir: &std::path::Path, hub: &VirtualHub, key: &str, events: Arc<dyn StationEvents>) -> JobOutcome {
    let station = desk.station(dir, desk.config(dir, ""), hub, |s| s.options.retry_delay = Duration::from_millis(20)).await;
    let h = open_key(hub, key, events.clone()).await;
    station.provision(h, JobSpec::new(JobMode::Batch, ALICE), events, CancelToken::new()).await
}

fn register_attempts(dir: &std::path::Path, out: &JobOutcome) -> Vec<Option<Resolution>> {
    let j = Journal::open_existing(journal_path(dir)).unwrap();
    j.intents(out.job.unwrap()).unwrap().into_iter().filter(|i| matches!(i.intent, Intent::RegisterCredential { .. })).map(|i| i.resolution).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_timeout_after_the_pin_is_retried_on_the_same_key() {
    let desk = Desk::new().await;
    post_times_out(&desk, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVRETRY0001"));
    let rec = Recorder::new();
    let out = enroll(&desk, dir.path(), &hub, "virtual:0", rec.clone()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert_eq!(desk.methods(ALICE).await.len(), 1, "registered once");
    assert_eq!(register_attempts(dir.path(), &out), [Some(Resolution::Failed), Some(Resolution::Failed), Some(Resolution::Done)], "every attempt is in the journal");
    assert!(out.warnings.iter().any(|w| w.contains("registration attempt 1 of 3 failed")), "{:?}", out.warnings);
    // One PIN for the whole job: set once, then only used.
    assert_eq!(rec.steps_started().iter().filter(|s| **s == keystation::station::pipeline::Step::SetPin).count(), 1);
}

/// Moves the simulator's clock 10 minutes ahead once the credential is made, just before
/// the POST: the challenge of the creation options fetched for it has expired.
struct ExpireChallenge {
    rec: Arc<Recorder>,
    desk: Arc<Desk>,
    done: AtomicBool,
}

impl StationEvents for ExpireChallenge {
    fn event(&self, e: &StationEvent) {
        if matches!(&e.kind, EventKind::Note { text } if text.contains("registering the passkey with Graph")) && !self.done.swap(true, Ordering::SeqCst) {
            self.desk.sim.advance_clock(chrono::Duration::minutes(10));
        }
        self.rec.event(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_challenge_gets_fresh_creation_options() {
    let desk = Arc::new(Desk::new().await);
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVRETRY0002"));
    let rec = Recorder::new();
    let events = Arc::new(ExpireChallenge { rec: rec.clone(), desk: desk.clone(), done: AtomicBool::new(false) });
    let out = enroll(&desk, dir.path(), &hub, "virtual:0", events).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert_eq!(desk.methods(ALICE).await.len(), 1);
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let regs: Vec<_> = j.intents(out.job.unwrap()).unwrap().into_iter().filter(|i| matches!(i.intent, Intent::RegisterCredential { .. })).collect();
    assert_eq!(regs.len(), 2, "{regs:#?}");
    assert_eq!(regs[0].resolution, Some(Resolution::Failed));
    assert!(regs[0].message.as_deref().unwrap_or_default().to_lowercase().contains("challenge"), "{:?}", regs[0].message);
    assert_ne!(regs[0].intent, regs[1].intent, "the second attempt used a fresh challenge and credential");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_attempts_run_out_the_job_fails_and_the_next_attempt_finishes() {
    let desk = Desk::new().await;
    post_times_out(&desk, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVRETRY0003");
    hub.plug(key.clone());
    let out = enroll(&desk, dir.path(), &hub, "virtual:0", Recorder::new()).await;
    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    assert!(out.operator_reason.is_none(), "not parked: a retry can finish it");
    let e = out.error.as_ref().unwrap();
    assert!(e.retryable, "{e:?}");
    assert!(e.next_step.as_deref().unwrap_or_default().contains("resets it"), "{e:?}");
    assert_eq!(register_attempts(dir.path(), &out).len(), 3);
    assert!(desk.methods(ALICE).await.is_empty());

    // The batch's next attempt (here: the same key, plugged in again) resets the key and
    // enrolls it once.
    key.replug();
    let again = enroll(&desk, dir.path(), &hub, "virtual:0", Recorder::new()).await;
    assert_eq!(again.state, JobState::Done, "{again:#?}");
    assert_eq!(desk.methods(ALICE).await.len(), 1);
}
