//! Journal jobs for the tiers that test the journal directly: a batch job and the whole
//! happy path as the pipeline writes it.
#![allow(dead_code)]
use keystation::station::journal::*;
use keystation::station::pin::PinSource;
use keystation::station::JobState;
use serde_json::json;

pub fn new_job(upn: &str, serial: &str) -> NewJob {
    NewJob {
        mode: JobMode::Batch,
        tenant: Some("default".into()),
        batch: Some(BatchRef { id: "batch-7".into(), line: 12 }),
        user: UserRef { upn: Some(upn.into()), object_id: None },
        key: KeyFacts { path: Some("/dev/hidraw3".into()), serial: Some(serial.into()), ..Default::default() },
        resumes: None,
    }
}

pub fn register_intent(cred: &str) -> Intent {
    Intent::RegisterCredential {
        credential_id: cred.into(),
        display_name: "YubiKey 5 NFC 12345678".into(),
        aaguid: "2fc0579f-8113-47ea-b116-bb5a8db9202a".into(),
        challenge_sha256: "ab".repeat(32),
        challenge_expires_at: None,
    }
}

/// Drive a job through the whole happy path, as the pipeline does.
pub fn run_happy_path(j: &mut Journal, job: JobId, cred: &str, method: &str) {
    let facts = JobUpdate {
        user: UserRef { upn: None, object_id: Some("00000000-0000-0000-0000-00000000a11c".into()) },
        key: KeyFacts { aaguid: Some("2fc0579f-8113-47ea-b116-bb5a8db9202a".into()), model: Some("YubiKey 5 Series with NFC".into()), firmware: Some("5.4.3".into()), ..Default::default() },
        ..Default::default()
    };
    j.transition(job, Transition::to(JobState::Inspected).with_update(facts)).unwrap();
    let reset = j.record_intent(job, &Intent::ResetKey).unwrap();
    j.resolve_intent(job, reset, &IntentOutcome::Done(None)).unwrap();
    let set = j.record_intent(job, &Intent::SetPin { length: 8, source: PinSource::Random, sealed: false }).unwrap();
    j.transition(job, Transition::to(JobState::Prepared).resolving(set, IntentOutcome::Done(None))).unwrap();
    let mk = j.record_intent(job, &Intent::MakeCredential { rp_id: "login.microsoft.com".into(), user_handle_sha256: "cd".repeat(32), exclude_count: 0 }).unwrap();
    j.resolve_intent(job, mk, &IntentOutcome::Done(Some(json!({ "credential_id": cred })))).unwrap();
    let reg = j.record_intent(job, &register_intent(cred)).unwrap();
    let update = JobUpdate { entra_method_id: Some(method.into()), credential_id: Some(cred.into()), display_name: Some("YubiKey 5 NFC 12345678".into()), ..Default::default() };
    j.transition(job, Transition::to(JobState::Registered).resolving(reg, IntentOutcome::Done(Some(json!({ "method_id": method })))).with_update(update)).unwrap();
    j.transition(job, Transition::to(JobState::Verified)).unwrap();
    let show = j.record_intent(job, &Intent::ShowPin).unwrap();
    j.transition(job, Transition::to(JobState::HandedOver).resolving(show, IntentOutcome::Done(None))).unwrap();
    j.finish(job).unwrap();
}
