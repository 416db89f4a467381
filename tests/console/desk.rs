//! The desk page in Chromium: a good user (random PIN on the slip; a PIN chosen on the
//! page), an unknown user and a user outside the policy (the refusal stays until "Start
//! over"), a key pulled out half-way, and the operator's exit.
use super::support::{log_lines_with, pin_on_slip, secret_file, Page, Shared, World};
use keystation::key::virtual_key::Touch;
use std::time::Duration;

/// A world with an open desk and a page signed in and locked to it; with an operator
/// PIN and an exit sequence when given.
async fn open_desk(shared: &Shared, set: &[&str], operator_pin: Option<&str>) -> (World, Page) {
    open_desk_with(shared, set, operator_pin, None).await
}

async fn open_desk_with(shared: &Shared, set: &[&str], operator_pin: Option<&str>, exit_sequence: Option<&str>) -> (World, Page) {
    let (pin, sequence) = (operator_pin.map(str::to_string), exit_sequence.map(str::to_string));
    let world = World::new(0, set, move |o, dir| {
        let read = |key: &str, name: &str, value: &str| keystation::console::options::read_secret(key, &secret_file(dir, name, value)).expect("secret file");
        o.secrets.operator_pin = pin.map(|p| read("console.operator_pin_file", "operator-pin", &p));
        o.secrets.exit_sequence = sequence.map(|s| read("console.exit_sequence_file", "exit-sequence", &s));
    })
    .await;
    let page = shared.page();
    page.sign_in(&world, "desk").await;
    page.wait_screen("closed").await;
    page.click("open-desk").await;
    page.wait_screen("ask_user").await;
    (world, page)
}

async fn enter_user(page: &Page, user: &str) {
    page.type_into("user-input", user).await;
    page.click("user-go").await;
}

/// Random PIN: the slip shows it once, in the page only; when the key is taken out it is
/// gone from the page, and it is in no browser storage, no profile file and no log line.
pub async fn good_user_random_pin(shared: Shared) {
    // Twelve alphanumeric characters: a PIN that cannot turn up in a file by chance.
    let (world, page) = open_desk(&shared, &["pin.length=12", "pin.alphabet=alphanumeric"], None).await;
    page.screenshot("desk-ask-user").await;
    enter_user(&page, "alice@contoso.test").await;
    page.wait_screen("plug_key").await;
    let key = world.plug(Touch::After(Duration::from_millis(1500)));
    page.wait_screen("touch_key").await;
    page.screenshot("desk-touch").await;
    page.wait_screen("done").await;
    let slip = page.wait_js("const s = document.getElementById('slip'); return !s.classList.contains('hidden') && s.textContent", "the slip").await;
    let slip = slip.as_str().unwrap().to_string();
    let pin = pin_on_slip(&slip).unwrap_or_else(|| panic!("no PIN on the slip: {slip}"));
    assert_eq!(pin.len(), 12, "{slip}");
    assert!(page.text("done-message").await.contains("ready"), "the result says the key is ready");
    assert!(page.wait_js("return !document.getElementById('take-key-out').classList.contains('hidden')", "take the key out").await.as_bool().unwrap());
    page.screenshot("desk-done-slip").await;
    // A second look at the slip (a reload, another tab) gets nothing: it is shown once.
    let again = page.js("return fetch('/api/desk/slip', {method: 'POST', headers: {'X-CSRF-Token': KS.csrf}}).then(r => r.status)").await;
    assert_eq!(again, 404, "the slip is handed out once");

    // The person takes the key out: the next step clears the slip from the page.
    world.hub.remove(&key);
    page.wait_screen("ask_user").await;
    let html = page.js("return document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap().contains(&pin), "the PIN is gone from the page");
    let storage = page.script_storage().await;
    assert!(!storage.contains(&pin), "the PIN is in browser storage: {storage}");
    let cookies = page.driver.get_all_cookies().await.expect("cookies");
    assert!(cookies.iter().all(|c| !c.value.contains(&pin)), "the PIN is in a cookie");
    assert!(cookies.iter().all(|c| c.expiry.is_none()), "the session cookie lives as long as the browser only");
    // Chromium writes its disk cache and storage lazily: give it time to do so.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let files = page.profile_files_containing(&pin);
    assert!(files.is_empty(), "the PIN is in browser profile files: {files:?}");
    assert!(log_lines_with(&shared.logs, &pin).is_empty(), "the PIN is in the log: {:?}", log_lines_with(&shared.logs, &pin));
    let token = world.link("").expose().rsplit_once("#token=").unwrap().1.to_string();
    assert!(log_lines_with(&shared.logs, &token).is_empty(), "the launch token is in the server log: {:?}", log_lines_with(&shared.logs, &token));
    let jobs = world.station.setup().journal.run(|j| j.jobs_for_user("alice@contoso.test")).await.unwrap();
    assert_eq!(jobs.last().map(|j| j.state), Some(keystation::station::state::JobState::Done));
    world.stop().await;
}

/// `pin.source = user-at-desk`: the PIN is chosen on the page (a guessable one is
/// refused with the reason), typed twice, and never shown or stored.
pub async fn good_user_chooses_pin(shared: Shared) {
    let (world, page) = open_desk(&shared, &["pin.source=user-at-desk", "pin.min_length=6", "pin.alphabet=alphanumeric"], None).await;
    enter_user(&page, "bob@contoso.test").await;
    page.wait_screen("plug_key").await;
    let key = world.plug(Touch::Instant);
    page.wait_screen("pin").await;
    page.screenshot("desk-choose-pin").await;
    page.type_into("pin-input", "123456").await;
    page.click("pin-go").await;
    page.wait_js("return document.getElementById('pin-problem').textContent.includes('too easy')", "the refusal of a guessable PIN").await;
    // Letters and digits: a string no log line or profile file holds by chance.
    let chosen = "Qz7K-w4Rt";
    page.wait_screen("pin").await;
    page.type_into("pin-input", chosen).await;
    page.click("pin-go").await;
    page.wait_screen("pin_again").await;
    page.type_into("pin-input", chosen).await;
    page.click("pin-go").await;
    page.wait_screen("done").await;
    let slip = page.wait_js("const s = document.getElementById('slip'); return !s.classList.contains('hidden') && s.textContent", "the slip").await;
    assert!(slip.as_str().unwrap().contains("the one you chose at the desk"), "{slip}");
    assert!(!page.js("return document.documentElement.outerHTML").await.as_str().unwrap().contains(chosen));
    world.hub.remove(&key);
    page.wait_screen("ask_user").await;
    assert!(!page.script_storage().await.contains(chosen));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(page.profile_files_containing(chosen).is_empty(), "the chosen PIN is in the browser profile");
    assert!(log_lines_with(&shared.logs, chosen).is_empty(), "the chosen PIN is in the log: {:?}", log_lines_with(&shared.logs, chosen));
    world.stop().await;
}

/// The refusal is on screen, and still there a while later (the loop is already
/// waiting for the next name), until "Start over".
async fn refusal_stays(page: &Page, shot: &str) -> (String, String) {
    page.wait_screen("refusal").await;
    let message = page.text("refusal-message").await;
    let next = page.text("refusal-next").await;
    page.screenshot(shot).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(page.desk_screen().await, "refusal", "the refusal stays");
    assert_eq!(page.text("refusal-message").await, message);
    // Typing a name meanwhile is refused by the server, not silently taken.
    let status = page.js("return fetch('/api/desk/user', {method: 'POST', headers: {'X-CSRF-Token': KS.csrf, 'Content-Type': 'application/json'}, body: JSON.stringify({user: 'carol@contoso.test'})}).then(r => r.status)").await;
    assert_eq!(status, 409);
    page.click("start-over").await;
    page.wait_screen("ask_user").await;
    (message, next)
}

pub async fn unknown_user_refusal_stays(shared: Shared) {
    let (world, page) = open_desk(&shared, &[], None).await;
    enter_user(&page, "nobody.here@contoso.test").await;
    let (message, next) = refusal_stays(&page, "desk-refusal-unknown-user").await;
    // The pipeline's words (OutcomeError): what happened and what to do next.
    assert!(message.contains("no user 'nobody.here@contoso.test' in this tenant"), "{message}");
    assert!(next.contains("check the spelling"), "the next step: {next}");
    assert!(!message.contains("HTTP") && !message.contains("Request_ResourceNotFound"), "plain words, the raw answer goes to the log: {message}");
    assert!(world.hub.keys().is_empty(), "no key was asked for");
    world.stop().await;
}

pub async fn user_outside_policy_refusal_stays(shared: Shared) {
    let (world, page) = open_desk(&shared, &[], None).await;
    enter_user(&page, "oscar.outside@contoso.test").await;
    let (message, next) = refusal_stays(&page, "desk-refusal-policy").await;
    assert!(message.contains("policy") || message.contains("scope"), "{message}");
    assert!(!next.is_empty(), "{message} / {next}");
    world.stop().await;
}

/// The key leaves while it waits for a touch: the job fails (recorded), the desk says
/// what happened and what to do, and the refusal stays. The key already had its PIN (the
/// touch is for the passkey, after the PIN): with resets allowed, the next attempt
/// resets it, so nothing waits for IT staff; with `reset.policy = never` it does.
pub async fn key_pulled_mid_job(shared: Shared) {
    let (world, page) = open_desk(&shared, &[], None).await;
    enter_user(&page, "carol@contoso.test").await;
    page.wait_screen("plug_key").await;
    let key = world.plug(Touch::Never);
    page.wait_screen("touch_key").await;
    world.hub.remove(&key);
    let (message, next) = refusal_stays(&page, "desk-key-pulled").await;
    let jobs = world.station.setup().journal.run(|j| j.jobs_for_user("carol@contoso.test")).await.unwrap();
    let last = jobs.last().expect("the attempt is in the journal");
    assert_eq!(last.state, keystation::station::state::JobState::Failed, "{:?}", last.error);
    assert!(message.contains("removed"), "{message}");
    assert!(next.contains("next attempt resets it"), "{next}");
    world.stop().await;
}

/// A screen locked to the desk reaches nothing else; the operator's PIN (not a wrong
/// one, not `quit`) unlocks it and the desk closes.
pub async fn operator_exit(shared: Shared) {
    let (world, page) = open_desk(&shared, &[], Some("7Q2X9KPM")).await;
    enter_user(&page, "quit").await;
    page.wait_screen("refusal").await;
    page.click("start-over").await;
    page.wait_screen("ask_user").await;
    page.goto(&format!("{}/journal", world.base())).await;
    page.wait_js("return location.pathname === '/desk' && document.getElementById('stage').dataset.screen === 'ask_user'", "the journal sends a desk screen back to the desk").await;
    page.click("operator").await;
    page.type_into("exit-pin", "1111").await;
    page.click("exit-go").await;
    page.wait_js("return document.getElementById('exit-error').textContent.includes('not right')", "a wrong PIN is refused").await;
    page.screenshot("desk-operator-exit").await;
    page.type_into("exit-pin", "7Q2X9KPM").await;
    page.click("exit-go").await;
    page.wait_js("return location.pathname === '/' && !!document.getElementById('activity')", "the console's start page").await;
    world.console.idle().await;
    page.goto(&format!("{}/", world.base())).await;
    page.wait_js("return document.getElementById('activity').textContent === 'nothing running'", "the start page, desk closed").await;
    page.screenshot("home").await;
    page.goto(&format!("{}/journal", world.base())).await;
    page.wait_js("return location.pathname === '/journal'", "the journal, now unlocked").await;
    assert!(log_lines_with(&shared.logs, "7Q2X9KPM").is_empty(), "the operator PIN is in the log: {:?}", log_lines_with(&shared.logs, "7Q2X9KPM"));
    world.stop().await;
}

/// The exit sequence (an operator badge) scanned into the name field unlocks the screen
/// like the operator's PIN, and is never shown or logged.
pub async fn exit_sequence_unlocks(shared: Shared) {
    let (world, page) = open_desk_with(&shared, &[], None, Some("OPS-BADGE-73Q1")).await;
    page.click("operator").await;
    assert!(page.text("exit-how").await.contains("exit sequence"), "the dialog says how to unlock");
    page.click("exit-cancel").await;
    enter_user(&page, "OPS-BADGE-73Q1").await;
    page.wait_js("return location.pathname === '/' && !!document.getElementById('activity')", "the console's start page").await;
    world.console.idle().await;
    assert!(log_lines_with(&shared.logs, "OPS-BADGE-73Q1").is_empty(), "the exit sequence is in the log");
    world.stop().await;
}
