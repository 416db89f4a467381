//! The same tests on both backends: `both!(name, |db| { … })` makes `name::sqlite` and
//! `name::postgres`; `db.open()` gives a fresh journal, `db.open_again()` a second
//! connection to the same one (another process, another station).
use crate::postgres;
use keystation::secret::SecretString;
use keystation::station::journal::*;
use keystation::station::pin::PinSource;
use keystation::station::JobState;
use serde_json::json;

pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    pub fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// `None` when PostgreSQL is not installed (and not required).
    pub fn postgres() -> Option<Db> {
        let cluster = postgres::shared()?;
        Some(Db::Postgres(cluster.create_database("journal")))
    }

    pub fn settings(url: &str) -> PgSettings {
        let mut s = PgSettings::new(format!("{url}?sslmode=disable"));
        s.password = Some(SecretString::new(postgres::shared().unwrap().password()));
        s
    }

    pub fn location(&self) -> JournalLocation {
        match self {
            Db::Sqlite(dir) => JournalLocation::File(dir.path().join("state/journal.sqlite")),
            Db::Postgres(url) => JournalLocation::Postgres(Db::settings(url)),
        }
    }

    pub fn open(&self) -> Journal {
        Journal::open_location(&self.location()).unwrap()
    }

    /// Another handle on the same journal, as another station.
    pub fn open_as(&self, station: &str) -> Journal {
        let mut j = self.open();
        j.set_identity(StationIdentity { name: station.into(), host: format!("{station}.example") });
        j
    }

}

/// One test body, run on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let f: fn(crate::common::Db) = $body;
                f(crate::common::Db::sqlite());
            }
            #[test]
            fn postgres() {
                let f: fn(crate::common::Db) = $body;
                if let Some(db) = crate::common::Db::postgres() {
                    f(db);
                }
            }
        }
    };
}

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
