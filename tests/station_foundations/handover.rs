//! age handover: a sealed PIN in the journal opens with the identity and never appears
//! in clear in the database files.
use crate::common::contains_bytes;
use age::x25519::Identity;
use keystation::station::config::{ConfigLoader, ConfigOverrides};
use keystation::station::handover::{open_sealed_pin, seal_pin, HandoverSlip};
use keystation::station::journal::*;
use keystation::station::pin::{generate, PinRequirements, PinSource};
use keystation::station::JobState;

#[test]
fn sealed_pin_round_trips_through_the_journal_and_never_hits_disk_in_clear() {
    let desk = Identity::generate();
    let o = ConfigOverrides {
        handover_recipients: Some(vec![desk.to_public().to_string()]),
        set: vec!["pin.alphabet=alphanumeric".into(), "pin.length=16".into()],
        ..Default::default()
    };
    let cfg = ConfigLoader::new().overrides(o).load().unwrap().config;
    let recipients = cfg.handover_recipients().unwrap();
    let req = PinRequirements::new(&cfg.pin, 4, None).unwrap();
    let pin = generate(&req).unwrap();
    assert_eq!(pin.expose().len(), 16);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.sqlite");
    let mut j = Journal::open(&db).unwrap();
    let job = j.begin_job(&NewJob::new(JobMode::Kiosk)).unwrap();
    j.transition(job, Transition::to(JobState::Inspected)).unwrap();
    // The pipeline seals before setPIN, in the same commit as the intent.
    let sealed = seal_pin(&pin, &recipients).unwrap();
    let intent = j
        .record_intent_with(job, &Intent::SetPin { length: 16, source: PinSource::Random, sealed: true }, &JobUpdate { sealed_pin: Some(sealed), ..Default::default() })
        .unwrap();
    j.transition(job, Transition::to(JobState::Prepared).resolving(intent, IntentOutcome::Done(None))).unwrap();

    let stored = j.job(job).unwrap().unwrap().sealed_pin.expect("sealed PIN stored");
    assert_eq!(open_sealed_pin(&stored, &desk).unwrap().expose(), pin.expose());
    assert!(open_sealed_pin(&stored, &Identity::generate()).is_err());

    let wal = std::fs::read(dir.path().join("journal.sqlite-wal")).unwrap();
    assert!(contains_bytes(&wal, b"BEGIN AGE ENCRYPTED FILE"), "the sealed PIN is in the WAL");
    assert!(!contains_bytes(&wal, pin.expose().as_bytes()), "clear PIN in the WAL");
    drop(j); // the last connection checkpoints the WAL into the main file
    let main = std::fs::read(&db).unwrap();
    assert!(contains_bytes(&main, b"BEGIN AGE ENCRYPTED FILE"));
    assert!(!contains_bytes(&main, pin.expose().as_bytes()), "clear PIN in the database");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!contains_bytes(&bytes, pin.expose().as_bytes()));
    }
}

#[test]
fn slip_is_rendered_once_and_debug_output_is_redacted() {
    let pin = keystation::secret::SecretString::new("K7M4Q9TXH2");
    let slip = HandoverSlip {
        user: "ada@contoso.example".into(),
        key_model: "YubiKey 5 NFC".into(),
        key_serial: None,
        display_name: Some("YubiKey 5 NFC".into()),
        pin: Some(pin),
        force_change: false,
        tap: None,
        sealed_to: 1,
    };
    assert!(!format!("{slip:?}").contains("K7M4Q9TXH2"));
    let shown = slip.render(); // `slip` is moved: it cannot be rendered again
    assert!(shown.expose().contains("K7M4Q9TXH2"));
    assert!(shown.expose().contains("encrypted copy is kept for the help desk"));
    assert!(!shown.expose().contains("change this PIN"));
    assert!(!format!("{shown:?}").contains("K7M4Q9TXH2"));
}
