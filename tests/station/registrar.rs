//! The registrar seam as the browser path will use it: a stand-in browser registrar
//! (it checks what the pipeline hands over and registers through Graph underneath)
//! gets the registration TAP; an answer lost after the submit is reconciled with Entra
//! and adopted instead of being made twice.
use crate::common::*;
use keystation::ceremony::graph_direct::GraphRegistrar;
use keystation::ceremony::webauthn::{BoxFuture, CancelToken};
use keystation::ceremony::{CeremonyError, Registered, Registrar, RegistrationObserver, RegistrationPath, RegistrationRequest};
use keystation::key::virtual_key::VirtualHub;
use keystation::key::worker::KeyHandle;
use keystation::station::journal::{JobMode, Journal};
use keystation::station::pipeline::{JobSpec, OutcomeClass};
use keystation::station::state::JobState;
use std::sync::{Arc, Mutex};

/// Plays the browser path: needs a TAP, registers through Graph, and optionally loses
/// the answer after Entra stored the key (a browser that crashed on the last page).
struct StandInBrowser {
    inner: GraphRegistrar,
    lose_answer: bool,
    saw_tap: Mutex<bool>,
    missing: bool,
}

impl Registrar for StandInBrowser {
    fn path(&self) -> RegistrationPath {
        RegistrationPath::Browser
    }

    fn register<'a>(&'a self, key: &'a Arc<KeyHandle>, request: &'a RegistrationRequest, observer: &'a dyn RegistrationObserver, cancel: CancelToken) -> BoxFuture<'a, Result<Registered, CeremonyError>> {
        Box::pin(async move {
            if self.missing {
                return Err(CeremonyError::Browser { message: "chromedriver not found".into(), missing_component: true });
            }
            *self.saw_tap.lock().unwrap() = request.tap.as_ref().is_some_and(|t| t.len() >= 8);
            assert!(request.evidence_dir.is_some(), "an evidence directory per job");
            let r = self.inner.register(key, request, observer, cancel).await?;
            if self.lose_answer {
                return Err(CeremonyError::Browser { message: "the browser went away on the last page".into(), missing_component: false });
            }
            Ok(Registered { path: RegistrationPath::Browser, ..r })
        })
    }
}

async fn run_browser_checked(lose_answer: bool, missing: bool, check: Option<keystation::station::setup::AvailabilityCheck>) -> (keystation::station::pipeline::JobOutcome, Desk, tempfile::TempDir, Arc<StandInBrowser>) {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVBROWSE001"));
    let browser = Arc::new(StandInBrowser { inner: GraphRegistrar::new(desk.graph(), None), lose_answer, saw_tap: Mutex::new(false), missing });
    let b = browser.clone();
    let config = desk.config(dir.path(), "");
    let mut config = config;
    config.tenant.as_mut().unwrap().registration = keystation::station::config::RegistrationPath::Browser;
    let station = desk
        .station(dir.path(), config, &hub, move |s| match check {
            Some(c) => s.registrars.insert_with_check(b, c),
            None => s.registrars.insert(b),
        })
        .await;
    let rec = Recorder::new();
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let out = station.provision(h, JobSpec::new(JobMode::Enroll, ALICE), rec, CancelToken::new()).await;
    (out, desk, dir, browser)
}

async fn run_browser(lose_answer: bool, missing: bool) -> (keystation::station::pipeline::JobOutcome, Desk, tempfile::TempDir, Arc<StandInBrowser>) {
    run_browser_checked(lose_answer, missing, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_path_gets_a_registration_tap_first() {
    let (out, desk, dir, browser) = run_browser(false, false).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert_eq!(out.registration_path, Some(RegistrationPath::Browser));
    assert!(*browser.saw_tap.lock().unwrap(), "the registrar received the TAP");
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let kinds: Vec<String> = j.intents(out.job.unwrap()).unwrap().iter().map(|i| i.intent.kind().to_string()).collect();
    assert_eq!(kinds, ["set_pin", "issue_tap", "make_credential", "register_credential", "show_pin"]);
    let tap = j.intents(out.job.unwrap()).unwrap().into_iter().find(|i| i.intent.kind() == "issue_tap").unwrap();
    assert!(tap.result.unwrap()["tap_id"].is_string(), "the TAP's id, never the pass");
    assert_eq!(desk.methods(ALICE).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_the_submit_is_reconciled_and_adopted() {
    let (out, desk, dir, _b) = run_browser(true, false).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(out.warnings.iter().any(|w| w.contains("adopted")), "{:?}", out.warnings);
    let methods = desk.methods(ALICE).await;
    assert_eq!(methods.len(), 1, "registered once");
    assert_eq!(out.method_id.as_deref(), Some(methods[0].id.as_str()));
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let reg = j.intents(out.job.unwrap()).unwrap().into_iter().find(|i| i.intent.kind() == "register_credential").unwrap();
    assert_eq!(reg.result.unwrap()["adopted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_browser_parks_the_job_and_says_so() {
    let (out, desk, _dir, _b) = run_browser(false, true).await;
    // The PIN was already set: parked so that the key is reset before reuse; the error
    // names the missing component.
    assert_eq!(out.state, JobState::NeedsOperator, "{out:#?}");
    assert_eq!(out.class(), OutcomeClass::NeedsOperator);
    let e = out.error.as_ref().unwrap();
    assert!(e.missing_component && e.next_step.as_ref().unwrap().contains("chromium"), "{e:?}");
    assert!(desk.methods(ALICE).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_availability_check_stops_before_the_key_is_touched() {
    let check: keystation::station::setup::AvailabilityCheck = Arc::new(|| Some("chromedriver was not found on PATH".to_string()));
    let (out, desk, _dir, browser) = run_browser_checked(false, false, Some(check)).await;
    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    assert_eq!(out.class(), OutcomeClass::Environment);
    assert!(out.error.as_ref().unwrap().message.contains("chromedriver was not found"));
    assert!(!*browser.saw_tap.lock().unwrap());
    assert!(desk.graph().list_taps(ALICE).await.unwrap().is_empty(), "no TAP was issued");
}
