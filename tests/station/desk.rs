//! The operator's desk as processes against the simulator: `users show`, `methods list`,
//! `methods delete` (confirmation, journal), and `reimage` of a returned key — the previous
//! owner's method is gone, the key is reset and registered to its next owner exactly once,
//! an interrupted re-image is finished by running it again, and a key enrolled elsewhere is
//! matched to Entra through its own credentials when its PIN is given.
use crate::cli::CliDesk;
use crate::common::*;
use keystation::station::journal::{Intent, Journal, OperationId, OperationKind, OperationState, Resolution};
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

/// The key's PIN state (`keys info`).
async fn key_has_pin(d: &CliDesk) -> bool {
    let info = d.run(&["--json", "keys", "info"], &[]).await;
    crate::json_output::result(&info.stdout)["info"]["options"]["clientPin"] == true
}

/// Enroll `user` on the desk's persistent virtual key; returns the PIN from the JSON.
async fn enroll(d: &CliDesk, user: &str) -> String {
    let out = d.run(&["--json", "enroll", "--user", user, "--wait", "5", "--show-pin-in-json"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    crate::json_output::result(&out.stdout)["handover"]["pin"].as_str().unwrap().to_string()
}

fn journal(d: &CliDesk) -> Journal {
    Journal::open_existing(d.state().join("journal.sqlite")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_show_and_methods_list_and_delete() {
    let d = CliDesk::new("").await;
    enroll(&d, ALICE).await;
    let pass = d.desk.sim.issue_tap(ALICE, 60, true).unwrap();

    let out = d.run(&["--json", "users", "show", ALICE], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!text(&out.stdout).contains(pass.expose()), "the pass never appears");
    let r = crate::json_output::result(&out.stdout);
    assert_eq!(r["upn"], ALICE);
    assert_eq!(r["fido2_scope"]["in_scope"], true);
    let m = &r["fido2_methods"][0];
    assert_eq!(m["aaguid"], VIRTUAL_AAGUID);
    assert!(m["created"].is_string() && m["model"].is_string(), "{m}");
    assert_eq!(r["taps"][0]["usable_once"], true);
    let human = d.run(&["users", "show", OSCAR], &[]).await;
    assert_eq!(human.status.code(), Some(0), "{}", show(&human));
    assert!(text(&human.stdout).contains("NOT in scope") && text(&human.stdout).contains("REFUSED"), "{}", show(&human));
    assert_eq!(d.run(&["users", "show", "nobody@contoso.test"], &[]).await.status.code(), Some(2));

    // Carol's seeded key, listed and deleted.
    let list = d.run(&["--json", "methods", "list", "--user", CAROL], &[]).await;
    let methods = crate::json_output::result(&list.stdout)["methods"].as_array().unwrap().clone();
    assert_eq!(methods.len(), 1);
    let id = methods[0]["id"].as_str().unwrap().to_string();
    let no_confirm = d.run(&["methods", "delete", "--user", CAROL, "--id", &id], &[]).await;
    assert_eq!(no_confirm.status.code(), Some(2), "no terminal, no --yes: {}", show(&no_confirm));
    assert!(text(&no_confirm.stderr).contains("--yes"));
    let wrong = d.run(&["methods", "delete", "--user", CAROL, "--id", "not-an-id", "--yes"], &[]).await;
    assert_eq!(wrong.status.code(), Some(2), "{}", show(&wrong));
    assert!(text(&wrong.stderr).contains(&id), "the error lists her keys: {}", show(&wrong));
    assert_eq!(d.desk.methods(CAROL).await.len(), 1, "nothing deleted yet");

    let out = d.run(&["--json", "methods", "delete", "--user", CAROL, "--id", &id, "--yes"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(d.desk.methods(CAROL).await.is_empty());
    let op = crate::json_output::result(&out.stdout)["operation"].as_i64().unwrap();
    let rec = journal(&d).operation(OperationId(op)).unwrap().unwrap();
    assert_eq!((rec.kind, rec.state), (OperationKind::DeleteMethods, OperationState::Done));
    assert!(matches!(&rec.intents[0].intent, Intent::DeleteMethod { method_id, .. } if *method_id == id));
    assert_eq!(rec.intents[0].resolution, Some(Resolution::Done));
    assert!(rec.intents[0].recorded_at <= rec.finished_at.unwrap());
    // Alice's key is untouched.
    assert_eq!(d.desk.methods(ALICE).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimage_moves_a_returned_key_to_its_next_owner_exactly_once() {
    let d = CliDesk::new("").await;
    // Carol already has a YubiKey; the station gives her the virtual key too.
    enroll(&d, CAROL).await;
    let before = d.desk.methods(CAROL).await;
    assert_eq!(before.len(), 2);

    let dry = d.run(&["reimage", "--dry-run"], &[]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", show(&dry));
    assert!(text(&dry.stdout).contains(CAROL) && text(&dry.stdout).contains("found in the journal"), "{}", show(&dry));
    assert_eq!(d.desk.methods(CAROL).await.len(), 2, "a dry run deletes nothing");
    assert!(key_has_pin(&d).await, "nor resets the key");

    let out = d.run(&["reimage", "--yes"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let after = d.desk.methods(CAROL).await;
    assert_eq!(after.len(), 1, "only the key's own registration is gone");
    assert_eq!(after[0].display_name.as_deref(), Some("Carol's YubiKey"));
    assert!(!key_has_pin(&d).await, "the key is reset");

    // The next owner: registered exactly once.
    enroll(&d, BOB).await;
    assert_eq!(d.desk.methods(BOB).await.len(), 1);
    assert_eq!(d.desk.methods(CAROL).await.len(), 1);
    let ops = journal(&d).operations_for_key(&Default::default()).unwrap();
    assert!(ops.is_empty(), "an empty key query matches nothing");
    let j = journal(&d);
    let jobs = j.query(&Default::default()).unwrap();
    let serial = jobs[0].key.serial.clone().unwrap();
    let ops = j.operations_for_key(&keystation::station::journal::KeyQuery { serial: Some(serial), ..Default::default() }).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].state, OperationState::Done);
    assert_eq!(ops[0].plan.deletions.len(), 1);
    assert_eq!(ops[0].plan.deletions[0].found_by, "journal");
    assert!(ops[0].reset_done());
    // Re-imaging Bob's key now finds Bob (not Carol again).
    let dry = d.run(&["reimage", "--dry-run"], &[]).await;
    assert!(text(&dry.stdout).contains(BOB) && !text(&dry.stdout).contains(CAROL), "{}", show(&dry));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_reimage_is_finished_by_running_it_again() {
    let crash = keystation::station::pipeline::CRASH_ENV;
    for point in ["effect:delete_method", "intent:delete_method", "intent:reset_key", "effect:reset_key"] {
        let d = CliDesk::new("").await;
        enroll(&d, ALICE).await;
        let crashed = d.run(&["reimage", "--yes"], &[(crash, point)]).await;
        assert_eq!(crashed.status.code(), None, "{point}: the process was killed: {}", show(&crashed));
        let open = journal(&d).unfinished_operations().unwrap();
        assert_eq!(open.len(), 1, "{point}: the operation is on record");
        let again = d.run(&["reimage", "--yes"], &[]).await;
        assert_eq!(again.status.code(), Some(0), "{point}: {}", show(&again));
        assert!(text(&again.stdout).contains("interrupted"), "{point}: {}", show(&again));
        assert!(d.desk.methods(ALICE).await.is_empty(), "{point}: Alice's method is gone");
        assert!(!key_has_pin(&d).await, "{point}: the key is reset");
        let j = journal(&d);
        assert!(j.unfinished_operations().unwrap().is_empty(), "{point}");
        let op = j.operation(open[0].id).unwrap().unwrap();
        assert_eq!(op.state, OperationState::Done, "{point}");
        assert!(op.intents.iter().all(|i| i.resolution.is_some()), "{point}: every intent resolved: {:?}", op.intents);
        // The same key goes to Bob, once.
        enroll(&d, BOB).await;
        assert_eq!(d.desk.methods(BOB).await.len(), 1, "{point}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_enrolled_elsewhere_is_matched_through_its_credentials_when_the_pin_is_given() {
    let d = CliDesk::new("").await;
    let pin = enroll(&d, ALICE).await;
    // Another station (its own state directory, no journal of this key) gets the key back.
    let other = d.root.path().join("other-station");
    let run = |args: Vec<&str>, env: Vec<(&str, String)>| {
        let mut cmd = crate::keystation_cli::keystation(&d.root.path().join("keystation.toml"), &other, 1, Some(&d.keys()));
        cmd.env(SECRET_ENV, SECRET).args(args).stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        async move { tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output()).await.unwrap().unwrap() }
    };
    let blind = run(vec!["reimage", "--yes"], vec![]).await;
    assert_eq!(blind.status.code(), Some(2), "{}", show(&blind));
    assert!(text(&blind.stderr).contains("--pin-env"), "{}", show(&blind));
    assert_eq!(d.desk.methods(ALICE).await.len(), 1, "nothing was deleted");
    assert!(key_has_pin(&d).await, "nor reset");

    let wrong = run(vec!["reimage", "--yes", "--pin-env", "OLD_PIN"], vec![("OLD_PIN", "99999999".into())]).await;
    assert_eq!(wrong.status.code(), Some(4), "a wrong PIN is a key error: {}", show(&wrong));

    // With the right PIN the plan finds Alice's registration on the key itself (the reset
    // then needs a re-plug, which only an operator can do: see the library test below).
    let out = run(vec!["--json", "reimage", "--dry-run", "--pin-env", "OLD_PIN"], vec![("OLD_PIN", pin.clone())]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = crate::json_output::result(&out.stdout);
    assert_eq!(r["plan"]["deletions"][0]["found_by"], "key");
    assert_eq!(r["plan"]["deletions"][0]["user_upn"], ALICE);
    assert!(!text(&out.stdout).contains(&pin) && !text(&out.stderr).contains(&pin), "the PIN is never printed");
    assert_eq!(d.desk.methods(ALICE).await.len(), 1, "a dry run deletes nothing");
}

/// The same through the library, with an operator who re-plugs the key when asked
/// (reading a key's credentials uses up its reset window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimage_with_the_pin_deletes_the_matching_method_and_resets_after_a_replug() {
    use keystation::key::virtual_key::VirtualHub;
    use keystation::secret::SecretString;
    use keystation::station::journal::JobMode;
    use keystation::station::pipeline::{CancelToken, EventKind, JobSpec, PinChoice};
    let desk = Desk::new().await;
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVRETURN001");
    hub.plug(key.clone());
    // Enrolled at another station (its own journal).
    let elsewhere = tempfile::tempdir().unwrap();
    let a = desk.station(elsewhere.path(), desk.config(elsewhere.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let mut spec = JobSpec::new(JobMode::Enroll, ALICE);
    spec.pin = PinChoice::Chosen(SecretString::new("739164"));
    let out = a.provision(open_key(&hub, key.path(), rec.clone()).await, spec, rec, CancelToken::new()).await;
    assert!(out.is_success(), "{out:#?}");
    drop(a);
    assert_eq!(desk.methods(ALICE).await.len(), 1);

    let here = tempfile::tempdir().unwrap();
    let b = desk.station(here.path(), desk.config(here.path(), ""), &hub, |_| {}).await;
    let rec = Recorder::new();
    let h = open_key(&hub, key.path(), rec.clone()).await;
    let blind = b.plan_reimage(&h, None).await.unwrap();
    assert!(blind.deletions.is_empty() && blind.may_leave_registrations(), "{blind:#?}");
    let plan = b.plan_reimage(&h, Some(&SecretString::new("739164"))).await.unwrap();
    assert_eq!(plan.deletions.len(), 1, "{plan:#?}");
    assert_eq!(plan.deletions[0].found_by, "key");
    let k = key.clone();
    let operator = {
        let rec = rec.clone();
        tokio::spawn(async move {
            loop {
                if rec.kinds().iter().any(|e| matches!(e, EventKind::ReplugKey { .. })) {
                    k.replug();
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let outcome = b.reimage(h, plan, rec.clone(), CancelToken::new()).await.unwrap();
    operator.await.unwrap();
    assert_eq!(outcome.state, OperationState::Done, "{outcome:#?}");
    assert_eq!(outcome.deletions[0].result, "deleted");
    assert!(outcome.reset);
    assert!(desk.methods(ALICE).await.is_empty());
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    assert!(!h.info().pin_is_set(), "the key is blank");
}
