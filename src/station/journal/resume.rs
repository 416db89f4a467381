//! The resume rules of `docs/journal.md` as code: what to do with each job that was in
//! progress when the station stopped, and how to recognise a registration that reached
//! Entra although its result was never recorded.
//!
//! Everything here is pure: the pipeline feeds in the journal's view
//! ([`UnfinishedJob`]) and Graph's method list ([`MethodSummary`]) and carries out the
//! steps, recording each side effect as an intent like any other.
use super::types::{Intent, IntentId, IntentRecord, OperatorReason, UnfinishedJob};
use crate::station::pin::PinSource;
use crate::station::state::JobState;
use chrono::{DateTime, Duration, Utc};

/// Allowance for clock differences between the station and Entra.
pub const CLOCK_SKEW_MINUTES: i64 = 5;

/// A FIDO2 method as Graph lists it, reduced to what reconciliation needs. The pipeline
/// maps the entra layer's type onto this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSummary {
    /// Method id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// AAGUID.
    pub aaguid: Option<String>,
    /// `createdDateTime`.
    pub created: Option<DateTime<Utc>>,
}

/// Which method, if any, is the registration an open `register_credential` intent made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrphanMatch {
    /// The POST did not land.
    None,
    /// This method is the job's registration.
    One(MethodSummary),
    /// More than one method fits; a human decides.
    Ambiguous(Vec<String>),
}

/// Result of comparing an open registration intent with the user's methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// The job's own registration.
    pub orphan: OrphanMatch,
    /// Other methods with the same AAGUID created after the intent that no job knows:
    /// each one parks the job with [`OperatorReason::UnknownMethodOnUser`].
    pub unknown: Vec<MethodSummary>,
}

fn same_aaguid(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.trim().eq_ignore_ascii_case(b.trim()))
}

/// Match an open `register_credential` intent against the user's FIDO2 methods.
/// `known(id)` tells whether a job already owns a method (`Journal::knows_method`).
/// Fails when the intent is not a registration.
pub fn reconcile_registration(intent: &IntentRecord, methods: &[MethodSummary], known: impl Fn(&str) -> bool) -> Result<Reconciliation, String> {
    let Intent::RegisterCredential { display_name, aaguid, challenge_expires_at, .. } = &intent.intent else {
        return Err(format!("intent {} is `{}`, not a registration", intent.id.0, intent.intent.kind()));
    };
    let skew = Duration::minutes(CLOCK_SKEW_MINUTES);
    let earliest = intent.recorded_at - skew;
    let latest = challenge_expires_at.map(|t| t + skew);
    let after_intent = |m: &MethodSummary| m.created.is_none_or(|c| c >= earliest);
    let mut candidates = Vec::new();
    let mut unknown = Vec::new();
    for m in methods.iter().filter(|m| !known(&m.id) && same_aaguid(m.aaguid.as_deref(), aaguid) && after_intent(m)) {
        let in_window = match (m.created, latest) {
            (Some(c), Some(l)) => c <= l,
            _ => true,
        };
        if in_window && m.display_name.as_deref() == Some(display_name.as_str()) {
            candidates.push(m.clone());
        } else {
            unknown.push(m.clone());
        }
    }
    let orphan = match candidates.len() {
        0 => OrphanMatch::None,
        1 => OrphanMatch::One(candidates.remove(0)),
        _ => OrphanMatch::Ambiguous(candidates.into_iter().map(|m| m.id).collect()),
    };
    Ok(Reconciliation { orphan, unknown })
}

/// One step of resuming an interrupted job, in the order the pipeline performs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeStep {
    /// Delete the user's TAPs created after this time (a leftover nobody knows).
    DeleteTapsCreatedAfter(DateTime<Utc>),
    /// Resolve this intent `abandoned`: it is idempotent or superseded.
    Abandon(IntentId),
    /// List the user's methods and run [`reconcile_registration`] for this intent; the
    /// outcome decides between adopting, deleting or parking (docs/journal.md).
    ReconcileRegistration(IntentId),
    /// When the key is presented again, read getInfo: no PIN → retry; a PIN → for
    /// `user-at-desk`, ask the user for it; for `random`, the key must be reset (retry if
    /// the reset policy resets keys with a PIN, else park `pin_lost_before_handover`).
    CheckKeyPin {
        /// Where the PIN came from.
        source: PinSource,
    },
    /// Close the job `failed` (interrupted) and begin a new one that resumes it.
    CloseAndRetry,
    /// Continue this job from its current state (the PIN is known again: user-at-desk).
    ContinueFrom(JobState),
    /// Delete this Entra method (the PIN that goes with it is lost), then park.
    DeleteMethod(String),
    /// The key is registered and the PIN's sealed copy is in the journal: that copy is
    /// the handover (the help desk opens it). Verify if still `registered`, then finish.
    FinishWithSealedCopy,
    /// Park the job with this reason.
    Park(OperatorReason),
    /// Mark the job done.
    Finish,
}

/// The resume steps for one unfinished job (docs/journal.md, "Resume rules"). The PIN
/// source is read from the job's `set_pin` intent; a sealed PIN from the job row.
pub fn plan_resume(u: &UnfinishedJob) -> Vec<ResumeStep> {
    let mut steps = Vec::new();
    let source = u.intents.iter().find_map(|i| match i.intent {
        Intent::SetPin { source, .. } => Some(source),
        _ => None,
    });
    let sealed = u.job.sealed_pin.is_some();
    let mut register = None;
    for i in &u.open_intents {
        match &i.intent {
            Intent::IssueTap { .. } => {
                steps.push(ResumeStep::DeleteTapsCreatedAfter(i.recorded_at - Duration::minutes(CLOCK_SKEW_MINUTES)));
                steps.push(ResumeStep::Abandon(i.id));
            }
            Intent::RegisterCredential { .. } => register = Some(i.id),
            Intent::ShowPin => {}
            _ => steps.push(ResumeStep::Abandon(i.id)),
        }
    }
    let show_pin_open = u.open_intents.iter().any(|i| matches!(i.intent, Intent::ShowPin));
    let pin_touched = source.is_some();
    match u.job.state {
        JobState::Arrived | JobState::Inspected | JobState::Prepared => {
            if let Some(id) = register {
                steps.push(ResumeStep::ReconcileRegistration(id));
            }
            if pin_touched {
                steps.push(ResumeStep::CheckKeyPin { source: source.unwrap_or(PinSource::Random) });
            } else {
                steps.push(ResumeStep::CloseAndRetry);
            }
        }
        JobState::Registered | JobState::Verified => {
            let method = u.job.entra_method_id.clone().unwrap_or_default();
            match source {
                // The user knows their PIN: nothing was lost.
                Some(PinSource::UserAtDesk) => steps.push(ResumeStep::ContinueFrom(u.job.state)),
                _ if sealed => steps.push(ResumeStep::FinishWithSealedCopy),
                _ if show_pin_open => steps.push(ResumeStep::Park(OperatorReason::HandoverInterrupted { method_id: method, sealed: false })),
                _ => {
                    steps.push(ResumeStep::DeleteMethod(method));
                    steps.push(ResumeStep::Park(OperatorReason::PinLostBeforeHandover { method_id: None }));
                }
            }
        }
        JobState::HandedOver => steps.push(ResumeStep::Finish),
        JobState::Done | JobState::Failed | JobState::NeedsOperator => {}
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::journal::types::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap()
    }

    fn register_intent(at: DateTime<Utc>) -> IntentRecord {
        IntentRecord {
            id: IntentId(7),
            job: JobId(1),
            intent: Intent::RegisterCredential {
                credential_id: "Y3JlZA".into(),
                display_name: "YubiKey 5 NFC 1234".into(),
                aaguid: "2fc0579f-8113-47ea-b116-bb5a8db9202a".into(),
                challenge_sha256: "00".repeat(32),
                challenge_expires_at: Some(at + Duration::minutes(5)),
            },
            recorded_at: at,
            resolution: None,
            resolved_at: None,
            result: None,
            message: None,
        }
    }

    fn method(id: &str, name: &str, aaguid: &str, created: DateTime<Utc>) -> MethodSummary {
        MethodSummary { id: id.into(), display_name: Some(name.into()), aaguid: Some(aaguid.into()), created: Some(created) }
    }

    const AAGUID: &str = "2FC0579F-8113-47EA-B116-BB5A8DB9202A";

    #[test]
    fn finds_the_one_registration_made_after_the_intent() {
        let i = register_intent(t(0));
        let methods = vec![
            method("old", "YubiKey 5 NFC 1234", AAGUID, t(-60 * 24)), // same name, long before: not ours
            method("ours", "YubiKey 5 NFC 1234", AAGUID, t(1)),
            method("other-model", "YubiKey 5 NFC 1234", "ee882879-721c-4913-9775-3dfcce97072a", t(1)),
            method("known", "YubiKey 5 NFC 1234", AAGUID, t(2)),
        ];
        let r = reconcile_registration(&i, &methods, |id| id == "known").unwrap();
        assert_eq!(r.orphan, OrphanMatch::One(methods[1].clone()));
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn none_ambiguous_and_unknown_methods() {
        let i = register_intent(t(0));
        let r = reconcile_registration(&i, &[], |_| false).unwrap();
        assert_eq!(r.orphan, OrphanMatch::None);
        let two = vec![method("a", "YubiKey 5 NFC 1234", AAGUID, t(1)), method("b", "YubiKey 5 NFC 1234", AAGUID, t(2))];
        assert_eq!(reconcile_registration(&i, &two, |_| false).unwrap().orphan, OrphanMatch::Ambiguous(vec!["a".into(), "b".into()]));
        let stray = vec![method("s", "Someone else's name", AAGUID, t(1)), method("late", "YubiKey 5 NFC 1234", AAGUID, t(30))];
        let r = reconcile_registration(&i, &stray, |_| false).unwrap();
        assert_eq!(r.orphan, OrphanMatch::None, "created after the challenge expired: cannot be ours");
        assert_eq!(r.unknown.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["s", "late"]);
        let mut not_register = i.clone();
        not_register.intent = Intent::ShowPin;
        assert!(reconcile_registration(&not_register, &[], |_| false).is_err());
    }

    fn unfinished(state: JobState, intents: Vec<(Intent, bool)>, sealed: bool) -> UnfinishedJob {
        let records: Vec<IntentRecord> = intents
            .into_iter()
            .enumerate()
            .map(|(n, (intent, open))| IntentRecord {
                id: IntentId(n as i64 + 1),
                job: JobId(1),
                intent,
                recorded_at: t(n as i64),
                resolution: if open { None } else { Some(Resolution::Done) },
                resolved_at: None,
                result: None,
                message: None,
            })
            .collect();
        let job = JobRecord {
            id: JobId(1),
            uid: "u".into(),
            mode: JobMode::Kiosk,
            state,
            tenant: None,
            batch: None,
            resumes: None,
            user: UserRef::default(),
            key: KeyFacts::default(),
            display_name: None,
            entra_method_id: Some("m-1".into()),
            credential_id: None,
            sealed_pin: sealed.then(|| crate::station::handover::SealedPin::from_armored("-----BEGIN AGE ENCRYPTED FILE-----\n").unwrap()),
            error: None,
            operator_reason: None,
            created_at: t(0),
            updated_at: t(0),
            finished_at: None,
            station: None,
            host: None,
        };
        UnfinishedJob { state_since: t(0), open_intents: records.iter().filter(|i| i.is_open()).cloned().collect(), intents: records, job }
    }

    fn set_pin(source: PinSource) -> Intent {
        Intent::SetPin { length: 8, source, sealed: false }
    }

    #[test]
    fn plans_follow_the_documented_table() {
        assert_eq!(plan_resume(&unfinished(JobState::Inspected, vec![], false)), vec![ResumeStep::CloseAndRetry]);
        assert_eq!(
            plan_resume(&unfinished(JobState::Inspected, vec![(Intent::ResetKey, true)], false)),
            vec![ResumeStep::Abandon(IntentId(1)), ResumeStep::CloseAndRetry]
        );
        assert_eq!(
            plan_resume(&unfinished(JobState::Inspected, vec![(set_pin(PinSource::Random), true)], false)),
            vec![ResumeStep::Abandon(IntentId(1)), ResumeStep::CheckKeyPin { source: PinSource::Random }]
        );
        let reg = register_intent(t(2)).intent;
        assert_eq!(
            plan_resume(&unfinished(JobState::Prepared, vec![(set_pin(PinSource::UserAtDesk), false), (reg, true)], false)),
            vec![ResumeStep::ReconcileRegistration(IntentId(2)), ResumeStep::CheckKeyPin { source: PinSource::UserAtDesk }]
        );
        let tap = Intent::IssueTap { purpose: TapPurpose::Registration, lifetime_minutes: 60, one_time: true };
        let steps = plan_resume(&unfinished(JobState::Prepared, vec![(set_pin(PinSource::Random), false), (tap, true)], false));
        assert_eq!(steps[0], ResumeStep::DeleteTapsCreatedAfter(t(1) - Duration::minutes(CLOCK_SKEW_MINUTES)));
        assert_eq!(
            plan_resume(&unfinished(JobState::Verified, vec![(set_pin(PinSource::Random), false)], true)),
            vec![ResumeStep::FinishWithSealedCopy]
        );
        assert_eq!(
            plan_resume(&unfinished(JobState::Registered, vec![(set_pin(PinSource::Random), false)], false)),
            vec![ResumeStep::DeleteMethod("m-1".into()), ResumeStep::Park(OperatorReason::PinLostBeforeHandover { method_id: None })]
        );
        assert_eq!(
            plan_resume(&unfinished(JobState::Verified, vec![(set_pin(PinSource::UserAtDesk), false)], false)),
            vec![ResumeStep::ContinueFrom(JobState::Verified)]
        );
        assert_eq!(
            plan_resume(&unfinished(JobState::Verified, vec![(set_pin(PinSource::Random), false), (Intent::ShowPin, true)], false)),
            vec![ResumeStep::Park(OperatorReason::HandoverInterrupted { method_id: "m-1".into(), sealed: false })]
        );
        assert_eq!(plan_resume(&unfinished(JobState::HandedOver, vec![(set_pin(PinSource::Random), false)], false)), vec![ResumeStep::Finish]);
        assert_eq!(
            plan_resume(&unfinished(JobState::Registered, vec![(set_pin(PinSource::Random), false), (Intent::ShowPin, true)], true)),
            vec![ResumeStep::FinishWithSealedCopy],
            "a sealed copy is the handover, seen slip or not"
        );
    }
}
