//! `keystation report` through the binary: formats, filters, output file, errors.
use crate::common::{keystation, stderr, stdout};
use age::x25519::Identity;
use chrono::{DateTime, TimeZone, Utc};
use keystation::secret::SecretString;
use keystation::station::handover::{open_sealed_pin, seal_pin, SealedPin};
use keystation::station::journal::*;
use keystation::station::report::{COLUMNS, SEALED_PIN_COLUMN};
use keystation::station::JobState;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const PIN: &str = "Q7K2M9XH4T";

struct Fixture {
    home: tempfile::TempDir,
    state: PathBuf,
    desk: Identity,
    // Kept open while the binary runs: the report is a second process reading
    // committed rows from the WAL.
    _journal: Journal,
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn fixture() -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("st");
    let mut j = Journal::open(state.join("journal.sqlite")).unwrap();
    let now = Arc::new(Mutex::new(at(1, 9)));
    let clock = Arc::clone(&now);
    j.set_clock(move || *clock.lock().unwrap());
    let set = |d| *now.lock().unwrap() = d;
    let desk = Identity::generate();
    let job = |upn: &str, serial: &str| NewJob {
        mode: JobMode::Batch,
        tenant: Some("default".into()),
        batch: Some(BatchRef { id: "march".into(), line: 2 }),
        user: UserRef { upn: Some(upn.into()), object_id: None },
        key: KeyFacts { serial: Some(serial.into()), model: Some("YubiKey 5 Series with NFC".into()), ..Default::default() },
        resumes: None,
    };

    set(at(1, 9));
    let a = j.begin_job(&job("ada@contoso.example", "1001")).unwrap();
    for s in [JobState::Inspected, JobState::Prepared, JobState::Registered, JobState::Verified] {
        j.transition(a, Transition::to(s)).unwrap();
    }
    let sealed = seal_pin(&SecretString::new(PIN), &[desk.to_public()]).unwrap();
    let upd = JobUpdate { sealed_pin: Some(sealed), entra_method_id: Some("m-ada".into()), display_name: Some("YubiKey 5 NFC 1001".into()), ..Default::default() };
    j.transition(a, Transition::to(JobState::HandedOver).with_update(upd)).unwrap();
    j.finish(a).unwrap();

    set(at(5, 10));
    let b = j.begin_job(&job("bob@contoso.example", "1002")).unwrap();
    j.transition(b, Transition::to(JobState::Inspected)).unwrap();
    j.transition(b, Transition::to(JobState::Prepared)).unwrap();
    j.transition(
        b,
        Transition::to(JobState::NeedsOperator)
            .with_error(JobError::new(FailureKind::Entra, "Graph refused the registration (400)"))
            .with_reason(OperatorReason::PinSetRegistrationFailed),
    )
    .unwrap();

    set(at(10, 23));
    let c = j.begin_job(&job("Ada@Contoso.example", "1003")).unwrap();
    j.fail(c, JobError::new(FailureKind::Key, "the key was removed during reset")).unwrap();

    set(at(12, 8));
    let d = j.begin_job(&job("carol@contoso.example", "1004")).unwrap();
    j.transition(d, Transition::to(JobState::Inspected)).unwrap();

    Fixture { home, state, desk, _journal: j }
}

fn run(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["--state-dir", f.state.to_str().unwrap()];
    all.extend_from_slice(args);
    keystation(&all, f.home.path(), env)
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    (header, r.records().map(|r| r.unwrap()).collect())
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[test]
fn csv_by_default_with_stable_columns_and_the_sealed_pin_last() {
    let f = fixture();
    let out = run(&f, &["report"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(PIN), "clear PIN in the report");
    let (header, rows) = csv_rows(&text);
    let mut want: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    want.push(SEALED_PIN_COLUMN.into());
    assert_eq!(header, want);
    assert_eq!(rows.len(), 4);
    let states: Vec<_> = rows.iter().map(|r| r.get(col(&header, "state")).unwrap().to_string()).collect();
    assert_eq!(states, ["done", "needs_operator", "failed", "inspected"]);
    // The armored block begins with `-`: in CSV it carries the spreadsheet rule's `'`.
    let sealed = rows[0].get(col(&header, SEALED_PIN_COLUMN)).unwrap().strip_prefix('\'').expect("neutralised cell");
    let opened = open_sealed_pin(&SealedPin::from_armored(sealed).unwrap(), &f.desk).unwrap();
    assert_eq!(opened.expose(), PIN);
    assert_eq!(rows[1].get(col(&header, SEALED_PIN_COLUMN)), Some(""));
    assert_eq!(rows[0].get(col(&header, "batch_id")), Some("march"));
    assert_eq!(rows[0].get(col(&header, "created_at")), Some("2026-03-01T09:00:00Z"));
}

#[test]
fn filters_by_state_dates_and_user() {
    let f = fixture();
    let users = |args: &[&str]| -> Vec<String> {
        let out = run(&f, args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let (header, rows) = csv_rows(&stdout(&out));
        rows.iter().map(|r| r.get(col(&header, "user_upn")).unwrap().to_string()).collect()
    };
    assert_eq!(users(&["report", "--state", "needs-operator"]), ["bob@contoso.example"]);
    assert_eq!(users(&["report", "--state", "failed,done"]), ["ada@contoso.example", "Ada@Contoso.example"]);
    assert_eq!(users(&["report", "--state", "unfinished"]), ["carol@contoso.example"]);
    assert_eq!(users(&["report", "--since", "2026-03-05", "--until", "2026-03-10"]), ["bob@contoso.example", "Ada@Contoso.example"]);
    assert_eq!(users(&["report", "--since", "2026-03-10T23:30:00Z"]), ["carol@contoso.example"]);
    assert_eq!(users(&["report", "--user", "ADA@contoso.example"]), ["ada@contoso.example", "Ada@Contoso.example"]);
    assert_eq!(users(&["report", "--user", "ada@contoso.example", "--state", "done"]), ["ada@contoso.example"]);
    assert!(users(&["report", "--batch", "april"]).is_empty());

    let out = run(&f, &["report", "--state", "needs-operator"], &[]);
    let (header, rows) = csv_rows(&stdout(&out));
    assert_eq!(rows[0].get(col(&header, "operator_reason")), Some("pin_set_registration_failed"));
    assert!(rows[0].get(col(&header, "operator_message")).unwrap().contains("reset the key"));
    assert_eq!(rows[0].get(col(&header, "error_kind")), Some("entra"));
}

#[test]
fn json_format_and_pin_column_only_where_present() {
    let f = fixture();
    for args in [&["--json", "report"][..], &["report", "--format", "json"][..]] {
        let out = run(&f, args, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        // --json: the rows are the envelope's result; --format json: the bare array (a file format).
        let v: serde_json::Value = if args[0] == "--json" { crate::json_output::result(&out.stdout) } else { serde_json::from_str(&stdout(&out)).unwrap() };
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows[0]["sealed_pin"].as_str().unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(rows[1].get("sealed_pin").is_none());
        assert_eq!(rows[1]["state"], "needs_operator");
        assert_eq!(rows[0]["entra_method_id"], "m-ada");
        for c in COLUMNS {
            assert!(rows[0].get(*c).is_some(), "JSON row lacks {c}");
        }
    }
    let out = run(&f, &["--json", "report", "--format", "csv"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pins_can_be_left_out_by_flag_or_configuration() {
    let f = fixture();
    let out = run(&f, &["report", "--no-pins"], &[]);
    let (header, _) = csv_rows(&stdout(&out));
    assert!(!header.iter().any(|h| h == SEALED_PIN_COLUMN));
    let out = run(&f, &["report"], &[("KEYSTATION_HANDOVER_IN_REPORT", "false")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (header, _) = csv_rows(&stdout(&out));
    assert_eq!(header.len(), COLUMNS.len());
    assert!(!stdout(&out).contains("BEGIN AGE"));
}

#[test]
fn output_file_is_private_and_replaced_atomically() {
    let f = fixture();
    let file = f.home.path().join("out/report.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "old contents").unwrap();
    let out = run(&f, &["report", "--output", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("wrote 4 row(s)"));
    let (_, rows) = csv_rows(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(rows.len(), 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind: {leftovers:?}");

    let jfile = f.home.path().join("out/report.json");
    let out = run(&f, &["--json", "report", "-o", jfile.to_str().unwrap()], &[]);
    let v = crate::json_output::result(&out.stdout);
    assert_eq!(v["rows"], 4);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&jfile).unwrap()).unwrap().as_array().unwrap().len(), 4);
}

#[test]
fn errors_are_actionable_with_usage_exit_code() {
    let f = fixture();
    let out = run(&f, &["report", "--since", "yesterday"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since: `yesterday` is not a date: use YYYY-MM-DD"), "{}", stderr(&out));
    let out = run(&f, &["report", "--state", "lost"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown job state `lost`"), "{}", stderr(&out));
    let out = run(&f, &["report", "--since", "2026-03-10", "--until", "2026-03-01"], &[]);
    assert_eq!(out.status.code(), Some(2));

    let empty = tempfile::tempdir().unwrap();
    let out = keystation(&["--state-dir", empty.path().join("nothing").to_str().unwrap(), "report"], f.home.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("there is no journal at"), "{}", stderr(&out));
    assert!(!empty.path().join("nothing").exists(), "report must not create a journal");

    let out = run(&f, &["report"], &[("KEYSTATION_JOURNAL_PATH", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`journal.path` is empty"), "{}", stderr(&out));
}

#[test]
fn the_configuration_file_chooses_the_journal() {
    let f = fixture();
    let elsewhere = f.home.path().join("elsewhere.sqlite");
    let cfg = f.home.path().join("station.toml");
    std::fs::write(&cfg, format!("[journal]\npath = {:?}\n", elsewhere.to_str().unwrap())).unwrap();
    let out = run(&f, &["--config", cfg.to_str().unwrap(), "report"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("there is no journal at {}", elsewhere.display())), "{}", stderr(&out));
    // The same file found at the default location (XDG_CONFIG_HOME/keystation/keystation.toml).
    let default_dir = f.home.path().join("config/keystation");
    std::fs::create_dir_all(&default_dir).unwrap();
    std::fs::copy(&cfg, default_dir.join("keystation.toml")).unwrap();
    let out = run(&f, &["report"], &[]);
    assert!(stderr(&out).contains(&format!("there is no journal at {}", elsewhere.display())), "{}", stderr(&out));
    // An environment override beats the file.
    let out = run(&f, &["report"], &[("KEYSTATION_JOURNAL_PATH", "journal.sqlite")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&f, &["report"], &[("KEYSTATION_CONFIG", Path::new("/nonexistent/k.toml").to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read the configuration file /nonexistent/k.toml"), "{}", stderr(&out));
}
