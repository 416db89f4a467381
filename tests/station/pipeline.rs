//! The pipeline end to end through the library API: a virtual key with batch
//! attestation, the in-process simulator verifying the attestation for real.
use crate::common::*;
use keystation::ceremony::RegistrationPath;
use keystation::key::virtual_key::VirtualHub;
use keystation::secret::SecretString;
use keystation::station::handover::open_sealed_pin;
use keystation::station::journal::{JobMode, Journal};
use keystation::station::pipeline::{CancelToken, EventKind, JobSpec, OutcomeClass, PinChoice, Step};
use keystation::station::state::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_provisioned_end_to_end_and_recorded() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVE2E000001");
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let handle = open_key(&hub, "virtual:0", rec.clone()).await;

    let mut out = station.provision(handle.clone(), JobSpec::new(JobMode::Enroll, ALICE), rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert_eq!(out.class(), OutcomeClass::Ok);
    let method = out.method_id.clone().expect("method id");
    assert_eq!(out.registration_path, Some(RegistrationPath::Graph));
    assert_eq!(out.key.aaguid.as_deref(), Some(VIRTUAL_AAGUID));
    assert_eq!(out.key.serial.as_deref(), Some("KSVE2E000001"));
    assert_eq!(out.display_name.as_deref(), Some("Virtual Key KSVE2E000001"));

    // The steps ran in order, each timed.
    assert_eq!(rec.steps_started(), vec![Step::Inspect, Step::SetPin, Step::Register, Step::Verify, Step::Handover]);
    for s in [Step::Inspect, Step::SetPin, Step::Register, Step::Verify, Step::Handover] {
        assert!(out.timings.iter().any(|t| t.step == s), "no timing for {s:?}");
    }

    // Entra has it, attested through the trusted CA (the simulator verified it itself).
    let methods = desk.methods(ALICE).await;
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].id, method);
    assert_eq!(methods[0].attestation_level.as_deref(), Some("attested"));
    assert_eq!(methods[0].aa_guid.as_deref(), Some(VIRTUAL_AAGUID));
    let sim = desk.sim_methods(ALICE).await;
    let via = serde_json::to_string(&sim).unwrap();
    assert!(via.contains("\"graph\"") && via.contains("packed"), "{via}");

    // The journal agrees, and nothing is left open.
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let job = j.job(out.job.unwrap()).unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.entra_method_id.as_deref(), Some(method.as_str()));
    assert_eq!(job.credential_id, out.credential_id);
    assert!(j.intents(job.id).unwrap().iter().all(|i| !i.is_open()));
    let kinds: Vec<String> = j.intents(job.id).unwrap().iter().map(|i| i.intent.kind().to_string()).collect();
    assert_eq!(kinds, ["set_pin", "make_credential", "register_credential", "show_pin"]);
    assert!(j.unfinished().unwrap().is_empty());
    // Synced commits: one per side effect (its intent) plus the job's end; the rest
    // (start, facts, results, intermediate states) ride on the next synced commit.
    let stats = station.setup().journal.lock().unwrap().commit_stats();
    assert_eq!(stats.synced, kinds.len() as u64 + 1, "{stats:?}");
    assert!(stats.commits > stats.synced, "{stats:?}");

    // The slip carries the PIN the key now has.
    let slip = out.take_slip().expect("a slip").render();
    let pin_line = slip.expose().lines().find(|l| l.trim_start().starts_with("PIN")).unwrap().to_string();
    let pin = SecretString::new(pin_line.split_whitespace().last().unwrap());
    assert_eq!(pin.expose().len(), 8);
    assert!(handle.get_info().await.unwrap().pin_is_set());
    handle.credentials_metadata(&pin).await.expect("the slip's PIN opens the key");
    assert!(out.take_slip().is_none(), "the slip is handed out once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_copy_opens_to_the_pin_on_the_slip() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let extra = format!("[handover]\nrecipients = [\"{}\"]\n[pin]\nlength = 10\nalphabet = \"alphanumeric\"\n", identity.to_public());
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVSEAL00001"));
    let station = desk.station(dir.path(), desk.config(dir.path(), &extra), &hub, |_| {}).await;
    let rec = Recorder::new();
    let handle = open_key(&hub, "virtual:0", rec.clone()).await;
    let mut out = station.provision(handle, JobSpec::new(JobMode::Enroll, BOB), rec, CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(out.pin_sealed);
    let slip = out.take_slip().unwrap().render();
    assert!(slip.expose().contains("An encrypted copy is kept for the help desk"));
    let pin_line = slip.expose().lines().find(|l| l.trim_start().starts_with("PIN")).unwrap().to_string();
    let pin = pin_line.split_whitespace().last().unwrap().to_string();
    assert_eq!(pin.len(), 10);
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    let sealed = j.job(out.job.unwrap()).unwrap().unwrap().sealed_pin.expect("sealed PIN in the journal");
    assert_eq!(open_sealed_pin(&sealed, &identity).unwrap().expose(), pin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_chosen_at_the_desk_and_a_forced_change_and_a_handover_tap() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVDESK00001"));
    let extra = "[pin]\nforce_change = true\nset_min_length_on_key = 6\n[tap]\nhandover = true\none_time = true\n";
    let station = desk.station(dir.path(), desk.config(dir.path(), extra), &hub, |_| {}).await;
    let rec = Recorder::new();
    let handle = open_key(&hub, "virtual:0", rec.clone()).await;

    // A trivial PIN is refused before the key is touched.
    let mut spec = JobSpec::new(JobMode::Kiosk, CAROL);
    spec.pin = PinChoice::Chosen(SecretString::new("123456"));
    let out = station.provision(handle.clone(), spec, rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Failed);
    assert_eq!(out.class(), OutcomeClass::Config);
    assert!(out.error.as_ref().unwrap().message.contains("too easy to guess"), "{:?}", out.error);
    assert!(!handle.get_info().await.unwrap().pin_is_set(), "the key was not touched");

    // A good one goes through; no forced change for the user's own PIN; a handover TAP.
    let mut spec = JobSpec::new(JobMode::Kiosk, CAROL);
    spec.pin = PinChoice::Chosen(SecretString::new("739164"));
    let mut out = station.provision(handle.clone(), spec, rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    let slip = out.take_slip().unwrap().render();
    assert!(slip.expose().contains("the one you chose at the desk"));
    assert!(slip.expose().contains("Temporary Access Pass"), "{}", slip.expose());
    let info = handle.get_info().await.unwrap();
    assert_eq!(info.min_pin_length, 6, "the minimum PIN length was set on the key");
    assert!(!info.force_pin_change);
    handle.credentials_metadata(&SecretString::new("739164")).await.unwrap();
    // Carol already had a key (seeded): the new one sits next to it.
    assert_eq!(desk.methods(CAROL).await.len(), 2);

    // A random PIN on a fresh key gets the forced change.
    let hub2 = VirtualHub::new();
    hub2.plug(desk.key(1, "KSVDESK00002"));
    let station2 = desk.station(tempfile::tempdir().unwrap().path(), desk.config(dir.path(), extra), &hub2, |_| {}).await;
    let h2 = open_key(&hub2, "virtual:1", rec.clone()).await;
    let mut out = station2.provision(h2.clone(), JobSpec::new(JobMode::Enroll, DAVE), rec.clone(), CancelToken::new()).await;
    assert_eq!(out.state, JobState::Done, "{out:#?}");
    assert!(h2.get_info().await.unwrap().force_pin_change, "the key asks for a new PIN on first use");
    assert!(out.take_slip().unwrap().render().expose().contains("change this PIN the first time"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_pre_check_for_the_kiosk() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let ok = station.check_user("ALICE@contoso.test", None).await.unwrap();
    assert_eq!(ok.upn.as_deref(), Some(ALICE));
    let e = station.check_user("nobody@contoso.test", None).await.unwrap_err();
    assert!(e.message.contains("nobody@contoso.test") && !e.retryable, "{e:?}");
    let e = station.check_user(OSCAR, None).await.unwrap_err();
    assert!(e.policy && e.message.contains("not in scope"), "{e:?}");
    let e = station.check_user(BREE, None).await.unwrap_err();
    assert!(e.policy && e.message.contains("excluded"), "{e:?}");
    assert!(station.check_user(DAVE, None).await.is_ok(), "nested group membership counts");
    assert!(matches!(desk.sim.requests(Some("/v1.0/users")).iter().filter(|r| r.method == "POST" && !r.path.contains("checkMemberGroups")).count(), 0), "nothing written");
    let _ = EventKind::TouchKey;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_job_is_done_when_the_key_leaves_the_desk() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVKIOSK0001");
    hub.plug(key.clone());
    let station = desk.station(dir.path(), desk.config(dir.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, "virtual:0", rec.clone()).await;
    let mut spec = JobSpec::new(JobMode::Kiosk, BOB);
    spec.finish = keystation::station::pipeline::FinishWhen::Caller;
    let mut out = station.provision(h, spec, rec, CancelToken::new()).await;
    assert_eq!(out.state, JobState::HandedOver, "{out:#?}");
    assert!(out.is_success());
    assert!(out.take_slip().is_some());
    // Nothing is finished while the key is still there.
    let waiting = station.finish_when_removed(&out, CancelToken::new());
    let unplug = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let j = Journal::open_existing(journal_path(dir.path())).unwrap();
        assert_eq!(j.job(out.job.unwrap()).unwrap().unwrap().state, JobState::HandedOver);
        key.unplug();
    };
    let (r, ()) = tokio::join!(waiting, unplug);
    r.unwrap();
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    assert_eq!(j.job(out.job.unwrap()).unwrap().unwrap().state, JobState::Done);
    let _ = EventKind::RemoveKey;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_follows_the_key_and_the_job() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    hub.plug(desk.key(0, "KSVPLAN00001"));
    let station = desk.station(dir.path(), desk.config(dir.path(), "[pin]\nforce_change = true\n"), &hub, |_| {}).await;
    let h = open_key(&hub, "virtual:0", Recorder::new()).await;
    let mut spec = JobSpec::new(JobMode::Enroll, ALICE);
    spec.pin_policy = Some(keystation::station::pipeline::PinPolicyOverride::parse("alphanumeric,length=12").unwrap());
    let plan = station.plan_for(&spec, Some(&h.info()), Some("KSVPLAN00001".into()), None);
    let text = plan.to_string();
    assert_eq!(plan.display_name.as_deref(), Some("Virtual Key KSVPLAN00001"));
    assert!(text.contains("random 12-character alphanumeric PIN"), "{text}");
    assert!(text.contains("demand a new PIN"), "{text}");
    assert!(desk.sim.requests(None).is_empty(), "a plan never calls Entra");
}
