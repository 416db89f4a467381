//! Crashes at every pipeline point (in process: the pipeline halts as a killed process
//! would) followed by a resume from the journal: every user ends with exactly one
//! registered method and the journal agrees with Entra.
use crate::common::*;
use keystation::key::virtual_key::{VirtualHub, VirtualKey};
use keystation::secret::SecretString;
use keystation::station::journal::{FailureKind, JobMode, Journal, OperatorReason};
use keystation::station::pipeline::{CancelToken, CrashPoint, CurrentPinRequest, DeskPrompt, JobSpec, NewPinRequest, PinChoice, Station};
use keystation::station::state::JobState;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

async fn station(desk: &Desk, dir: &Path, extra: &str, hub: &VirtualHub, crash: Option<CrashPoint>) -> Station {
    desk.station(dir, desk.config(dir, extra), hub, |s| s.options.crash_point = crash).await
}

/// Entra's methods for `upn` and the ones the journal says are in use agree, and there is one.
pub async fn one_method_and_agreement(desk: &Desk, journal: &Path, upn: &str) -> String {
    let graph: BTreeSet<String> = desk.methods(upn).await.into_iter().map(|m| m.id).collect();
    let j = Journal::open_existing(journal).unwrap();
    let claimed: BTreeSet<String> = j
        .jobs_for_user(upn)
        .unwrap()
        .into_iter()
        .filter(|r| matches!(r.state, JobState::Done | JobState::NeedsOperator | JobState::HandedOver))
        .filter_map(|r| r.entra_method_id)
        .collect();
    assert_eq!(graph.len(), 1, "{upn} has {graph:?}");
    assert_eq!(graph, claimed, "journal and Entra disagree");
    assert!(j.unfinished().unwrap().is_empty(), "nothing left unfinished");
    graph.into_iter().next().unwrap()
}

/// A desk user who types the same PIN again.
struct Returning(&'static str);

impl DeskPrompt for Returning {
    fn new_pin<'a>(&'a self, _r: &'a NewPinRequest) -> keystation::ceremony::webauthn::BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move { Some(SecretString::new(self.0)) })
    }
    fn current_pin<'a>(&'a self, _r: &'a CurrentPinRequest) -> keystation::ceremony::webauthn::BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move { Some(SecretString::new(self.0)) })
    }
}

/// Crash at `point`, power-cycle the key, resume with a new station on the same journal.
async fn crash_and_resume(point: &str, extra: &str, desk_pin: Option<&'static str>) -> (keystation::station::pipeline::JobOutcome, Desk, tempfile::TempDir, VirtualKey) {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVCRASH0001");
    hub.plug(key.clone());
    let spec = || {
        let mut s = JobSpec::new(JobMode::Enroll, ALICE);
        if let Some(p) = desk_pin {
            s.pin = PinChoice::Chosen(SecretString::new(p));
        }
        s
    };
    let rec = Recorder::new();
    {
        let crashing = station(&desk, dir.path(), extra, &hub, Some(point.parse().unwrap())).await;
        let h = open_key(&hub, "virtual:0", rec.clone()).await;
        let out = crashing.provision(h, spec(), rec.clone(), CancelToken::new()).await;
        assert_eq!(out.error.as_ref().map(|e| e.kind), Some(FailureKind::Interrupted), "{point}: {out:#?}");
    }
    // The station process is gone; the key is plugged in again at the next run.
    key.replug();
    let resumed = station(&desk, dir.path(), extra, &hub, None).await;
    let items = resumed.pending_resumes().await.unwrap();
    assert_eq!(items.len(), 1, "{point}: one unfinished job");
    let mut item = items.into_iter().next().unwrap();
    assert_eq!(item.job.user.upn.as_deref(), Some(ALICE));
    assert!(item.summary.contains(ALICE), "{}", item.summary);
    if let Some(p) = desk_pin {
        item.retry.prompt = Some(Arc::new(Returning(p)));
    }
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let out = resumed.resume(item, Some(h), rec, CancelToken::new()).await;
    (out, desk, dir, key)
}

async fn crash_case(point: &str, expect: JobState) {
    let (out, desk, dir, _key) = crash_and_resume(point, "", None).await;
    assert_eq!(out.state, expect, "{point}: {out:#?}");
    one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_anything_touched_the_key() {
    for p in ["state:arrived", "state:inspected", "intent:set_pin"] {
        crash_case(p, JobState::Done).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_pin_was_set_resets_and_starts_over() {
    for p in ["effect:set_pin", "state:prepared", "intent:make_credential", "effect:make_credential"] {
        crash_case(p, JobState::Done).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_around_the_post_never_leaves_two_methods() {
    // Before the POST: nothing in Entra. After it: the orphan is found and deleted (its
    // random PIN died with the station), then the key is reset and enrolled again.
    for p in ["intent:register_credential", "effect:register_credential"] {
        crash_case(p, JobState::Done).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_registration_deletes_the_method_and_starts_over() {
    for p in ["state:registered", "state:verified"] {
        let (out, desk, dir, _k) = crash_and_resume(p, "", None).await;
        assert_eq!(out.state, JobState::Done, "{p}: {out:#?}");
        assert!(out.resumes_job.is_some(), "a retry job");
        let id = one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
        let j = Journal::open_existing(journal_path(dir.path())).unwrap();
        let old = j.job(out.resumes_job.unwrap()).unwrap().unwrap();
        assert_eq!(old.state, JobState::Failed);
        assert_ne!(old.entra_method_id.as_deref(), Some(id.as_str()), "the old method was replaced");
        assert!(j.intents(old.id).unwrap().iter().any(|i| i.intent.kind() == "delete_method"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_showing_the_slip_parks_for_an_operator() {
    let (out, desk, dir, _k) = crash_and_resume("intent:show_pin", "", None).await;
    assert_eq!(out.state, JobState::NeedsOperator, "{out:#?}");
    assert!(matches!(out.operator_reason, Some(OperatorReason::HandoverInterrupted { sealed: false, .. })), "{:?}", out.operator_reason);
    one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;

}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_sealed_copy_an_interrupted_handover_finishes_by_itself() {
    // The sealed copy is the handover (the help desk opens it): nothing for an operator
    // to close, whether the slip was to be shown or not, registered or verified.
    let id = age::x25519::Identity::generate();
    for (point, show_once) in [("state:verified", true), ("intent:show_pin", true), ("state:registered", false), ("intent:show_pin", false)] {
        let extra = format!("[handover]\nrecipients = [\"{}\"]\nshow_once = {show_once}\n", id.to_public());
        let (out, desk, dir, _k) = crash_and_resume(point, &extra, None).await;
        assert_eq!(out.state, JobState::Done, "{point} show_once={show_once}: {out:#?}");
        assert!(out.operator_reason.is_none(), "{point}: {:?}", out.operator_reason);
        assert!(out.resumes_job.is_none(), "{point}: the interrupted job itself was finished");
        let method = one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
        let j = Journal::open_existing(journal_path(dir.path())).unwrap();
        let job = j.job(out.job.unwrap()).unwrap().unwrap();
        assert_eq!(job.entra_method_id.as_deref(), Some(method.as_str()));
        let sealed = job.sealed_pin.expect("the sealed copy stays in the journal");
        assert!(keystation::station::handover::open_sealed_pin(&sealed, &id).is_ok(), "the help desk can open it");
        let notes: Vec<String> = j.transitions(job.id).unwrap().into_iter().filter_map(|t| t.note).collect();
        assert!(notes.iter().any(|n| n.contains("sealed copy is the handover")), "{point}: {notes:?}");
        assert!(j.intents(job.id).unwrap().iter().all(|i| !i.is_open()), "{point}: no intent left open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_handover_just_finishes() {
    let (out, desk, dir, _k) = crash_and_resume("state:handed_over", "[tap]\nhandover = true\n", None).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(out.resumes_job.is_none(), "the same job, finished");
    one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_issuing_the_handover_tap_cleans_the_pass_up() {
    let (out, desk, dir, _k) = crash_and_resume("effect:issue_tap", "[tap]\nhandover = true\n", None).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let old = j.job(out.resumes_job.unwrap()).unwrap().unwrap();
    assert!(j.intents(old.id).unwrap().iter().any(|i| i.intent.kind() == "delete_tap"), "the lost pass was deleted");
    assert_eq!(desk.graph().list_taps(ALICE).await.unwrap().len(), 1, "only the new pass is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_user_types_their_pin_again_and_the_orphan_is_adopted() {
    let (out, desk, dir, key) = crash_and_resume("effect:register_credential", "", Some("739164")).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(out.resumes_job.is_none(), "the interrupted job itself was finished");
    let id = one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
    assert_eq!(out.method_id.as_deref(), Some(id.as_str()));
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let reg = j.intents(out.job.unwrap()).unwrap().into_iter().find(|i| i.intent.kind() == "register_credential").unwrap();
    assert_eq!(reg.result.as_ref().and_then(|r| r.get("adopted")), Some(&serde_json::json!(true)));
    // The key kept the user's PIN (no reset).
    let hub = VirtualHub::new();
    hub.plug(key.clone());
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    h.credentials_metadata(&SecretString::new("739164")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_user_types_their_pin_again_after_a_crash_behind_set_pin() {
    let (out, desk, dir, _key) = crash_and_resume("effect:set_pin", "", Some("739164")).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(out.resumes_job.is_some());
    one_method_and_agreement(&desk, &journal_path(dir.path()), ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reset_policy_a_lost_pin_parks_the_job() {
    let (out, desk, dir, _key) = crash_and_resume("effect:set_pin", "[reset]\npolicy = \"never\"\n", None).await;
    assert_eq!(out.state, JobState::NeedsOperator, "{out:#?}");
    assert_eq!(out.operator_reason, Some(OperatorReason::PinLostBeforeHandover { method_id: None }));
    assert!(desk.methods(ALICE).await.is_empty());
    let _ = dir;
}
