//! The kiosk loop driven by a script: through the library (each line the kiosk reads is
//! the next script line; the test plays the people at the desk: plugs a key when asked,
//! pulls one out half-way) and as a `keystation --virtual N kiosk` process reading its
//! script from standard input.
use super::cli::{json_envelope, json_lines, stdout, CliWorld};
use super::common::World;
use keystation::key::virtual_key::{Touch, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use keystation::station::config::ConfigOverrides;
use keystation::station::handover::HandoverSlip;
use keystation::ceremony::webauthn::BoxFuture;
use keystation::secret::SecretString;
use keystation::station::kiosk::{Kiosk, KioskDisplay, KioskEnd, KioskInput, KioskOptions, KioskSummary, KioskView};
use keystation::station::pipeline::{CancelToken, CrashPoint, Step};
use keystation::station::state::JobState;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The script as the kiosk's keyboard: every line the kiosk reads (user names and
/// PINs) is the next line of the script; the end of the script is the end of input. The
/// first line waits until `gate` opens (to plug a key in before any name is typed).
struct Script {
    lines: VecDeque<String>,
    gate: Option<Arc<tokio::sync::Notify>>,
    /// A person at a keyboard: the end of the script is Ctrl-D (ignored), and a
    /// refusal waits for the next line (Enter).
    interactive: bool,
}

/// What the operator types to close the desk in these tests (`kiosk.quit_sequence`).
const QUIT: &str = "IT-close-7731";
/// A script line that is no line: nobody types anything for 3 s.
const PAUSE: &str = "<pause>";

impl Script {
    fn pop(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            if let Some(gate) = self.gate.take() {
                gate.notified().await;
            }
            if self.lines.front().is_some_and(|l| l == PAUSE) {
                tokio::time::sleep(Duration::from_secs(3)).await;
                self.lines.pop_front();
            }
            self.lines.pop_front()
        })
    }
}

impl KioskInput for Script {
    fn interactive(&self) -> bool {
        self.interactive
    }
    fn next_line(&mut self) -> BoxFuture<'_, Option<String>> {
        self.pop()
    }
    fn secret<'a>(&'a mut self, _prompt: &'a str) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move { self.pop().await.map(SecretString::new) })
    }
}

/// The people at the desk: they plug a key in when asked (or before anyone typed a
/// name), pull one out half-way (when registration starts) for one user, and take
/// finished keys away.
struct People {
    hub: keystation::key::virtual_key::VirtualHub,
    ca: Arc<keystation::key::virtual_key::AttestationCa>,
    pull_for: Mutex<Option<String>>,
    key_first: Mutex<Option<Arc<tokio::sync::Notify>>>,
    current: Mutex<Option<String>>,
    views: Mutex<Vec<KioskView>>,
    slips: Mutex<Vec<(String, bool)>>,
}

impl People {
    fn plug(&self) {
        let key = VirtualKey::try_new(VirtualKeyConfig { touch: Touch::Instant, attestation: VirtualAttestation::Batch(self.ca.clone()), ..Default::default() }).unwrap();
        *self.current.lock().unwrap() = Some(key.path().to_string());
        self.hub.plug(key);
    }

    fn take_out(&self) {
        if let Some(path) = self.current.lock().unwrap().take() {
            self.hub.remove(&path);
        }
    }
}

impl KioskDisplay for People {
    fn show(&self, view: &KioskView) {
        self.views.lock().unwrap().push(view.clone());
        match view {
            KioskView::AskUser if self.key_first.lock().unwrap().is_some() => self.plug(),
            KioskView::KeyBeforeUser { .. } => {
                if let Some(gate) = self.key_first.lock().unwrap().take() {
                    gate.notify_one();
                }
            }
            KioskView::PlugKey { .. } if self.current.lock().unwrap().is_none() => self.plug(),
            // Half-way: the key has its PIN and is about to make the credential.
            KioskView::Working { user, step: Step::Register, .. } => {
                let mut pull = self.pull_for.lock().unwrap();
                if pull.as_deref() == Some(user.as_str()) {
                    *pull = None;
                    self.take_out();
                }
            }
            KioskView::RemoveKey { .. } => self.take_out(),
            _ => {}
        }
    }

    fn slip(&self, user: &str, slip: HandoverSlip) {
        let has_pin = slip.pin.is_some();
        let text = slip.render();
        assert!(text.expose().contains(user));
        self.slips.lock().unwrap().push((user.to_string(), has_pin));
    }
}

async fn run_kiosk(world: &World, extra: &ConfigOverrides, script: &[&str], pull_for: Option<&str>, key_first: bool) -> (KioskSummary, Arc<People>) {
    run_kiosk_with(world, extra, script, pull_for, key_first, None, false).await
}

async fn run_kiosk_with(
    world: &World,
    extra: &ConfigOverrides,
    script: &[&str],
    pull_for: Option<&str>,
    key_first: bool,
    crash: Option<CrashPoint>,
    interactive: bool,
) -> (KioskSummary, Arc<People>) {
    let station = world.station(extra, |s| s.options.crash_point = crash).await;
    let gate = key_first.then(|| Arc::new(tokio::sync::Notify::new()));
    let people = Arc::new(People {
        hub: world.hub.clone(),
        ca: world.tenant.ca.clone(),
        pull_for: Mutex::new(pull_for.map(str::to_string)),
        key_first: Mutex::new(gate.clone()),
        current: Mutex::new(None),
        views: Mutex::new(Vec::new()),
        slips: Mutex::new(Vec::new()),
    });
    let input = Script { lines: script.iter().map(|s| s.to_string()).collect(), gate, interactive };
    let options = KioskOptions {
        key_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        quit_sequence: Some(QUIT.into()),
        hold: Duration::from_secs(1),
        ..KioskOptions::default()
    };
    let kiosk = Kiosk::new(station, world.sources(), Box::new(input), people.clone(), options);
    let summary = tokio::time::timeout(Duration::from_secs(120), kiosk.run(CancelToken::new())).await.expect("the kiosk ends").expect("kiosk runs");
    (summary, people)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_desk_survives_a_bad_name_an_unknown_user_and_a_key_pulled_out() {
    let world = World::new(3, Default::default()).await;
    let users = world.fresh_users();
    let (a, b, c) = (users[0].as_str(), users[1].as_str(), users[2].as_str());
    // `quit` is a name like any other: only the operator's sequence closes the desk.
    let script = [a, "not a user name", "nobody@contoso.test", b, b, "quit", c, QUIT];
    let (summary, people) = run_kiosk(&world, &ConfigOverrides::default(), &script, Some(b), true).await;

    assert_eq!(summary.end, KioskEnd::Quit);
    let got: Vec<(String, bool)> = summary.results.iter().map(|r| (r.user.clone(), r.ok)).collect();
    let want: Vec<(String, bool)> =
        vec![(a.into(), true), ("nobody@contoso.test".into(), false), (b.into(), false), (b.into(), true), (c.into(), true)];
    assert_eq!(got, want, "{:#?}", summary.results);
    // The key had its PIN when it was pulled: not parked, the next attempt resets it
    // (reset.policy if-pin-set), as the user's second try shows.
    assert_eq!(summary.results[2].state, Some(keystation::station::JobState::Failed), "{:#?}", summary.results[2]);
    let views = people.views.lock().unwrap().clone();
    assert!(views.iter().any(|v| matches!(v, KioskView::KeyBeforeUser { .. })), "the early key was explained");
    assert!(views.iter().any(|v| matches!(v, KioskView::BadUser { input, .. } if input == "not a user name")));
    assert!(views.iter().any(|v| matches!(v, KioskView::UserRefused { user, .. } if user == "nobody@contoso.test")));
    // The unknown user was refused before any key was asked for.
    assert!(!views.iter().any(|v| matches!(v, KioskView::PlugKey { user } if user == "nobody@contoso.test")));
    // After every person the kiosk came back to the first screen.
    let asks = views.iter().filter(|v| matches!(v, KioskView::AskUser)).count();
    assert_eq!(asks, script.len(), "the first screen came back for every line typed");
    // The refused name is not counted as served.
    assert!(matches!(views.last(), Some(KioskView::Closed { served: 4, refused: 1, done: 3, failed: 1 })), "{:?}", views.last());
    assert!(summary.results[1].refused && !summary.results[2].refused, "{:#?}", summary.results);
    // A script is nobody at a screen: nothing waits for Enter.
    assert!(!views.iter().any(|v| matches!(v, KioskView::Hold { .. })), "{views:?}");
    assert_eq!(people.slips.lock().unwrap().len(), 3, "one slip per ready key");
    for u in [a, b, c] {
        assert_eq!(world.sim_methods(u).await.len(), 1, "{u}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_choose_their_own_pin_typed_twice_and_checked() {
    let world = World::new(1, Default::default()).await;
    let user = world.fresh_users()[0].clone();
    let extra = ConfigOverrides { set: vec!["pin.source=user-at-desk".into(), "pin.min_length=6".into()], ..Default::default() };
    // A trivial PIN, then two that differ, then a good one typed twice.
    let script = [user.as_str(), "123456", "837261", "837262", "837261", "837261", QUIT];
    let (summary, people) = run_kiosk(&world, &extra, &script, None, false).await;
    assert_eq!(summary.end, KioskEnd::Quit);
    assert!(summary.results.len() == 1 && summary.results[0].ok, "{:#?}", summary.results);
    let problems: Vec<String> = people
        .views
        .lock()
        .unwrap()
        .iter()
        .filter_map(|v| if let KioskView::ChoosePin { problem: Some(p), .. } = v { Some(p.clone()) } else { None })
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("too easy to guess"), "{problems:?}");
    assert!(problems[1].contains("not the same"), "{problems:?}");
    assert!(problems.iter().all(|p| !p.contains("837261") && !p.contains("123456")), "no PIN on screen");
    assert_eq!(people.slips.lock().unwrap().clone(), vec![(user.clone(), false)], "the slip does not repeat a PIN the user chose");
    assert_eq!(world.sim_methods(&user).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystation_kiosk_reads_its_script_from_standard_input() {
    let cw = CliWorld::new(2, &format!("[kiosk]\nquit_sequence = \"{QUIT}\"\n")).await;
    let users = cw.world.fresh_users();
    let script = format!("{}\nnot-a-user\nnobody@contoso.test\n\n{}\n{QUIT}\nnever-read@contoso.test\n", users[0], users[1]);
    let out = cw.run(3, &["kiosk"], &script).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("no `@`"), "bad user name explained\n{text}");
    assert!(text.contains("nobody@contoso.test:"), "unknown user explained\n{text}");
    assert!(text.contains("closed: 2 served (2 key(s) ready, 0 not ready), 1 refused before a key"), "{text}");
    assert!(!text.contains("never-read"), "nothing is read after the quit sequence\n{text}");
    for u in &users {
        assert_eq!(cw.world.sim_methods(u).await.len(), 1, "{u}\n{text}");
    }

    // The same desk with --json and an input that just ends (no quit).
    let out = cw.run(1, &["--json", "kiosk"], "nobody@contoso.test\n").await;
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert!(lines.iter().any(|v| v["screen"] == "user_refused"), "{lines:?}");
    let summary = json_envelope(&out)["result"].clone();
    assert_eq!(summary["end"], "end_of_input", "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_whose_job_was_interrupted_is_resumed_when_they_come_back() {
    let world = World::new(1, Default::default()).await;
    let user = world.fresh_users()[0].clone();
    // The station stops dead just before the credential is made, as if the power failed.
    let (first, _) = run_kiosk_with(&world, &ConfigOverrides::default(), &[user.as_str()], None, false, Some(CrashPoint::Intent("make_credential".into())), false).await;
    assert_eq!(first.end, KioskEnd::EndOfInput);
    assert!(!first.results[0].ok, "{:#?}", first.results);
    assert!(world.sim_methods(&user).await.is_empty());
    let interrupted = world.jobs();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].state, JobState::Prepared, "the job is left half-way in the journal");

    // The next day the kiosk starts again and the user comes back (with another blank key).
    let (second, _) = run_kiosk(&world, &ConfigOverrides::default(), &[user.as_str(), QUIT], None, false).await;
    assert!(second.results.len() == 1 && second.results[0].ok, "{:#?}", second.results);
    assert_eq!(world.sim_methods(&user).await.len(), 1, "registered once");
    let jobs = world.jobs();
    let done: Vec<_> = jobs.iter().filter(|j| j.state == JobState::Done).collect();
    assert_eq!(done.len(), 1, "{jobs:#?}");
    assert_eq!(done[0].resumes, Some(interrupted[0].id), "the new job resumes the interrupted one");
    assert!(jobs.iter().all(|j| !j.state.is_in_progress()), "nothing left unfinished: {jobs:#?}");
    // The first key may still hold the lost PIN: the old job asks an operator to reset it.
    let old = jobs.iter().find(|j| j.id == interrupted[0].id).unwrap();
    assert!(matches!(old.state, JobState::NeedsOperator | JobState::Failed), "{old:#?}");
}

/// At a screen (an interactive keyboard), a refusal stays until the next person presses
/// Enter, or goes by itself after `kiosk.hold_seconds`; its words are plain (no HTTP
/// status, no Graph error code); Ctrl-D does not close the desk, the operator's sequence does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_a_screen_a_refusal_stays_until_enter_and_only_the_operator_closes_the_desk() {
    let world = World::new(1, Default::default()).await;
    let user = world.fresh_users()[0].clone();
    // Refused, Enter; refused again and nobody types for 3 s (the 1 s hold ends by
    // itself); then a user is served and the operator's sequence closes the desk.
    let script = ["nobody@contoso.test", "", "oscar.outside@contoso.test", PAUSE, user.as_str(), QUIT];
    let (summary, people) = run_kiosk_with(&world, &ConfigOverrides::default(), &script, None, false, None, true).await;
    assert_eq!(summary.end, KioskEnd::Quit);
    let views = people.views.lock().unwrap().clone();
    let refusals: Vec<(String, Option<String>)> =
        views.iter().filter_map(|v| if let KioskView::UserRefused { message, next_step, .. } = v { Some((message.clone(), next_step.clone())) } else { None }).collect();
    assert_eq!(refusals.len(), 2, "{views:#?}");
    assert!(refusals[0].0.contains("no user 'nobody@contoso.test' in this tenant"), "{refusals:?}");
    assert!(refusals[0].1.as_deref().is_some_and(|n| n.contains("check the spelling")), "{refusals:?}");
    assert!(refusals[1].0.contains("not in scope of the Passkey (FIDO2) policy"), "{refusals:?}");
    for (m, n) in &refusals {
        let all = format!("{m} {}", n.as_deref().unwrap_or(""));
        assert!(!all.contains("HTTP") && !all.contains("Request_ResourceNotFound") && !all.contains("request-id"), "raw Graph text at the desk: {all}");
    }
    // Each refusal is followed by the hold, then (Enter or time) the first screen.
    for (i, v) in views.iter().enumerate() {
        if matches!(v, KioskView::UserRefused { .. }) {
            assert!(matches!(views.get(i + 1), Some(KioskView::Hold { seconds: 1 })), "{:?}", &views[i..]);
            assert!(matches!(views.get(i + 2), Some(KioskView::AskUser)), "{:?}", &views[i..]);
        }
    }
    // The empty line was Enter (taken by the hold), not a name; the user after the pause was served.
    assert!(!views.iter().any(|v| matches!(v, KioskView::BadUser { .. })), "{views:#?}");
    let got: Vec<(bool, bool)> = summary.results.iter().map(|r| (r.ok, r.refused)).collect();
    assert_eq!(got, vec![(false, true), (false, true), (true, false)], "{:#?}", summary.results);
    assert!(matches!(views.last(), Some(KioskView::Closed { served: 1, refused: 2, done: 1, failed: 0 })), "{:?}", views.last());
    assert_eq!(world.sim_methods(&user).await.len(), 1);

    // Ctrl-D at a screen (the end of input) does not close the desk: it is still open
    // after 2 s and closes only on cancel (a signal).
    let station = world.station(&ConfigOverrides::default(), |_| {}).await;
    let people2 = Arc::new(People {
        hub: world.hub.clone(),
        ca: world.tenant.ca.clone(),
        pull_for: Mutex::new(None),
        key_first: Mutex::new(None),
        current: Mutex::new(None),
        views: Mutex::new(Vec::new()),
        slips: Mutex::new(Vec::new()),
    });
    let input = Script { lines: VecDeque::new(), gate: None, interactive: true };
    let options = KioskOptions { quit_sequence: Some(QUIT.into()), ..KioskOptions::default() };
    let kiosk = Kiosk::new(station, world.sources(), Box::new(input), people2.clone(), options);
    let cancel = CancelToken::new();
    let run = tokio::spawn(kiosk.run(cancel.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!run.is_finished(), "Ctrl-D closed the desk");
    cancel.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(30), run).await.expect("closes on the signal").unwrap().unwrap();
    assert_eq!(summary.end, KioskEnd::Cancelled);
}
