//! The journal page in Chromium: search by user, key, state and date, an attempt's
//! timeline with its timings and operator message, the export, which is `keystation
//! report`'s output for the same jobs, and the parked jobs' actions (resolve with a
//! note, release for another attempt), which are `keystation jobs`' library.
use super::support::{Shared, World};
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::Touch;
use keystation::key::worker::KeyHandle;
use keystation::station::jobs::{self, Which};
use keystation::station::journal::{JobFilter, JobMode};
use keystation::station::pipeline::{key_handle_options, CancelToken, EventKind, JobSpec, NoEvents, StationEvent, StationEvents};
use keystation::station::report::{self, ReportFormat, ReportRow};
use keystation::station::state::JobState;
use std::sync::Arc;
use std::time::Duration;

/// Provision `user` on a fresh key through the library (as `keystation enroll` does);
/// with `pull`, the key is pulled out when it asks for the touch.
async fn enroll(world: &World, user: &str, pull: bool) -> JobState {
    let path = world.plug(if pull { Touch::Never } else { Touch::Instant });
    let sources = KeySources::virtual_hub(world.hub.clone());
    let d = sources.enumerate().unwrap().into_iter().find(|d| d.path == path).expect("key present");
    let events: Arc<dyn StationEvents> = if pull {
        let (hub, path) = (world.hub.clone(), path.clone());
        Arc::new(move |e: &StationEvent| {
            if e.kind == EventKind::TouchKey {
                hub.remove(&path);
            }
        })
    } else {
        Arc::new(NoEvents)
    };
    let key = Arc::new(KeyHandle::open(d.clone(), sources.open(&d).unwrap(), key_handle_options(events.clone(), Duration::from_secs(30))).await.unwrap());
    let outcome = world.station.provision(key, JobSpec::new(JobMode::Enroll, user), events, CancelToken::new()).await;
    world.hub.remove(&path);
    outcome.state
}

pub async fn search_timeline_export(shared: Shared) {
    // reset.policy never: a key pulled after it got its PIN cannot be reset by the next
    // attempt, so it waits for IT staff (the parked jobs this page shows).
    let world = World::new(1, &["reset.policy=never"], |_, _| {}).await;
    let carol = world.fresh_users().pop().unwrap();
    assert_eq!(enroll(&world, "alice@contoso.test", false).await, JobState::Done);
    assert_eq!(enroll(&world, "dave@contoso.test", false).await, JobState::Done);
    assert_eq!(enroll(&world, "oscar.outside@contoso.test", false).await, JobState::Failed);
    assert_eq!(enroll(&world, "bob@contoso.test", true).await, JobState::NeedsOperator);
    assert_eq!(enroll(&world, &carol, true).await, JobState::NeedsOperator);

    let page = shared.page();
    page.sign_in(&world, "journal").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 5", "all five jobs").await;

    // The keys that need IT staff, with what to do (`keystation jobs`' words), and a timeline.
    page.wait_js("return !document.getElementById('parked-section').classList.contains('hidden') && document.querySelectorAll('#parked tr').length === 2", "the parked jobs").await;
    let parked = page.text("parked").await;
    let entries = world.station.setup().journal.run(|j| jobs::list(j, Which::Parked)).await.unwrap();
    let bob = entries.iter().find(|e| e.job.user.upn.as_deref() == Some("bob@contoso.test")).expect("bob is parked").clone();
    let what = bob.what_to_do.clone();
    assert!(parked.contains("bob@contoso.test") && parked.contains(&what) && parked.contains(&carol), "{parked}");
    page.js("[...document.querySelectorAll('#parked tr')].find(tr => tr.textContent.includes('bob@contoso.test')).click()").await;
    page.wait_js("return !document.getElementById('detail-operator').classList.contains('hidden')", "the operator message").await;
    assert_eq!(page.text("detail-operator").await, format!("What to do: {what}"));
    assert!(page.text("timeline").await.contains("needs operator"), "the timeline ends parked");

    // By key: alice's key serial.
    let alice = world.station.setup().journal.run(|j| j.jobs_for_user("alice@contoso.test")).await.unwrap().pop().unwrap();
    page.type_into("q-key", alice.key.serial.as_deref().unwrap()).await;
    page.click("search").await;
    page.wait_js("const r = document.querySelectorAll('#results tr'); return r.length === 1 && r[0].textContent.includes('alice@contoso.test')", "the job of alice's key").await;
    page.type_into("q-key", "").await;

    // By user.
    page.type_into("q-user", "ALICE@contoso.test").await;
    page.click("search").await;
    page.wait_js("const r = document.querySelectorAll('#results tr'); return r.length === 1 && r[0].textContent.includes('alice@contoso.test')", "alice's job").await;
    page.js("document.querySelector('#results tr').click()").await;
    page.wait_js("return !document.getElementById('detail').classList.contains('hidden') && document.querySelectorAll('#timeline tr').length > 3", "alice's timeline").await;
    let timeline = page.text("timeline").await;
    for s in ["arrived", "inspected", "prepared", "registered", "verified", "done", "register the key in Entra", "set the PIN (8 characters)"] {
        assert!(timeline.contains(s), "`{s}` missing from the timeline:\n{timeline}");
    }
    assert!(page.js("return [...document.querySelectorAll('#timeline tr td:nth-child(3)')].some(td => /\\d+ ms|\\d+(\\.\\d)? s/.test(td.textContent))").await.as_bool().unwrap(), "steps show how long they took");
    page.screenshot("journal-timeline").await;

    // By state: the refused user, with the reason in words.
    page.type_into("q-user", "").await;
    page.js("document.getElementById('q-state').value = 'failed'").await;
    page.click("search").await;
    page.wait_js("const r = document.querySelectorAll('#results tr'); return r.length === 1 && r[0].textContent.includes('oscar.outside')", "the failed job").await;
    let row = page.js("return document.querySelector('#results tr').textContent").await;
    assert!(row.as_str().unwrap().contains("failed"), "{row}");
    page.screenshot("journal-search").await;

    // A bad date is refused with the reason.
    page.js("document.getElementById('q-since').value = '2026-02-01'; document.getElementById('q-until').value = '2026-01-01'").await;
    page.click("search").await;
    page.wait_js("return document.getElementById('search-error').textContent.includes('not before')", "the refusal of an empty date range").await;
    // By date (UTC days, both ends included): the days the jobs were made find all four,
    // the days before find none.
    let all = world.station.setup().journal.run(|j| j.query(&JobFilter::default())).await.unwrap();
    let first = all.iter().map(|j| j.created_at.date_naive()).min().unwrap();
    let last = all.iter().map(|j| j.created_at.date_naive()).max().unwrap();
    page.js(&format!("document.getElementById('q-state').value = ''; document.getElementById('q-since').value = '{first}'; document.getElementById('q-until').value = '{last}'")).await;
    page.click("search").await;
    page.wait_js("return document.getElementById('search-error').textContent === '' && document.querySelectorAll('#results tr').length === 5", "the jobs of those days").await;
    let before = first - chrono::Days::new(1);
    page.js(&format!("document.getElementById('q-since').value = '{}'; document.getElementById('q-until').value = '{before}'", before - chrono::Days::new(30))).await;
    page.click("search").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 0 && document.getElementById('result-count').textContent === '0 job(s)'", "no job in the days before").await;
    let href = page.js("return document.getElementById('export-json').getAttribute('href')").await;
    assert!(href.as_str().unwrap().contains(&format!("until={before}")), "the export carries the dates: {href}");
    page.js("document.getElementById('q-since').value = ''; document.getElementById('q-until').value = ''").await;
    page.click("search").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 5", "all jobs again").await;

    // The export links carry exactly the search; what they return is report's output.
    let href = page.js("return document.getElementById('export-csv').getAttribute('href')").await;
    assert_eq!(href.as_str().unwrap(), "/api/journal/export?format=csv");
    let csv = page.js("return fetch(document.getElementById('export-csv').href).then(r => r.text())").await;
    let include = world.station.config().handover.in_report;
    let expected = world
        .station
        .setup()
        .journal
        .run(move |j| Ok(j.query(&JobFilter::default())?.iter().map(|r| ReportRow::from_job(r, include)).collect::<Vec<_>>()))
        .await
        .unwrap();
    let mut want = Vec::new();
    report::write_rows(&expected, ReportFormat::Csv, &mut want).unwrap();
    assert_eq!(csv.as_str().unwrap(), String::from_utf8(want).unwrap(), "the console's CSV is report's CSV");
    page.type_into("q-user", "dave@contoso.test").await;
    page.click("search").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 1", "dave's job").await;
    let json = page.js("return fetch(document.getElementById('export-json').href).then(r => r.json())").await;
    let rows = json.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user_upn"], "dave@contoso.test");
    let disposition = page.js("return fetch(document.getElementById('export-csv').href).then(r => r.headers.get('content-disposition'))").await;
    assert!(disposition.as_str().unwrap().starts_with("attachment; filename=\"keystation-journal-"), "{disposition}");
    parked_actions(&world, &page, &bob.job.uid, &carol).await;
    world.stop().await;
}

/// The state of `user`'s newest job.
async fn state_of(world: &World, user: &str) -> JobState {
    let user = user.to_string();
    world.station.setup().journal.run(move |j| j.jobs_for_user(&user)).await.unwrap().into_iter().max_by_key(|j| j.id).unwrap().state
}

/// Resolve bob's parked job with a note, release carol's for another attempt (then she
/// is enrolled again); a resolve without a note, or without the CSRF token, changes nothing.
async fn parked_actions(world: &World, page: &super::support::Page, bob_uid: &str, carol: &str) {
    page.js("[...document.querySelectorAll('#parked tr')].find(tr => tr.textContent.includes('bob@contoso.test')).click()").await;
    page.wait_js("return !document.getElementById('actions').classList.contains('hidden')", "the parked job's actions").await;
    page.screenshot("journal-parked-actions").await;
    page.click("action-resolve").await;
    page.wait_js("return document.getElementById('action-error').textContent.includes('write a note')", "a resolve without a note refused").await;
    // The page's own origin and cookie, but no CSRF token: refused.
    let status = page.js(&format!("return fetch('/api/journal/jobs/{bob_uid}/resolve', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ note: 'forged' }}) }}).then(r => r.status)")).await;
    assert_eq!(status, 403, "a resolve without the CSRF token");
    assert_eq!(state_of(world, "bob@contoso.test").await, JobState::NeedsOperator, "nothing changed");

    page.type_into("action-note", "PIN handed over in person").await;
    page.click("action-resolve").await;
    let done = page.wait_js("const d = document.getElementById('action-done'); return !d.classList.contains('hidden') && d.textContent", "the job resolved").await;
    assert!(done.as_str().unwrap().contains("Resolved bob@contoso.test"), "{done}");
    assert_eq!(state_of(world, "bob@contoso.test").await, JobState::Done);
    page.wait_js("return document.querySelectorAll('#parked tr').length === 1 && document.getElementById('actions').classList.contains('hidden')", "one parked job left, bob's closed").await;
    assert!(page.text("timeline").await.contains("resolved by the operator: PIN handed over in person"), "the note is in bob's history");

    page.js("document.querySelector('#parked tr').click()").await;
    page.wait_js("return !document.getElementById('actions').classList.contains('hidden')", "carol's actions").await;
    page.click("action-retry").await;
    page.wait_js("return document.getElementById('parked-section').classList.contains('hidden')", "no parked job left").await;
    assert!(page.text("action-done").await.contains(&format!("Released {carol}")));
    assert_eq!(state_of(world, carol).await, JobState::Failed, "released: closed failed");
    // Released means her next enrollment sets a key up.
    assert_eq!(enroll(world, carol, false).await, JobState::Done);
    // Nothing is parked any more: acting again on a closed job is refused with the reason.
    let again = page.js(&format!("return KS.post('/api/journal/jobs/{bob_uid}/retry', {{}}).then(() => 'taken', e => e.message)")).await;
    assert!(again.as_str().unwrap().contains("already over"), "{again}");
}
