//! The journal page in Chromium: search by user and by state, an attempt's timeline with
//! its timings and operator message, and the export, which is `keystation report`'s
//! output for the same jobs.
use super::support::{Shared, World};
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::Touch;
use keystation::key::worker::KeyHandle;
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
    // attempt, so it waits for IT staff (the parked job this page shows).
    let world = World::new(0, &["reset.policy=never"], |_, _| {}).await;
    assert_eq!(enroll(&world, "alice@contoso.test", false).await, JobState::Done);
    assert_eq!(enroll(&world, "dave@contoso.test", false).await, JobState::Done);
    assert_eq!(enroll(&world, "oscar.outside@contoso.test", false).await, JobState::Failed);
    assert_eq!(enroll(&world, "bob@contoso.test", true).await, JobState::NeedsOperator);

    let page = shared.page();
    page.sign_in(&world, "journal").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 4", "all four jobs").await;

    // The key that needs IT staff, with what to do, and its timeline.
    page.wait_js("return !document.getElementById('parked-section').classList.contains('hidden') && document.querySelectorAll('#parked tr').length === 1", "the parked job").await;
    let parked = page.text("parked").await;
    let bob = world.station.setup().journal.run(|j| j.jobs_for_user("bob@contoso.test")).await.unwrap().pop().unwrap();
    let what = bob.operator_reason.as_ref().unwrap().message();
    assert!(parked.contains("bob@contoso.test") && parked.contains(&what), "{parked}");
    page.js("document.querySelector('#parked tr').click()").await;
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
    page.wait_js("return document.getElementById('search-error').textContent === '' && document.querySelectorAll('#results tr').length === 4", "the jobs of those days").await;
    let before = first - chrono::Days::new(1);
    page.js(&format!("document.getElementById('q-since').value = '{}'; document.getElementById('q-until').value = '{before}'", before - chrono::Days::new(30))).await;
    page.click("search").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 0 && document.getElementById('result-count').textContent === '0 job(s)'", "no job in the days before").await;
    let href = page.js("return document.getElementById('export-json').getAttribute('href')").await;
    assert!(href.as_str().unwrap().contains(&format!("until={before}")), "the export carries the dates: {href}");
    page.js("document.getElementById('q-since').value = ''; document.getElementById('q-until').value = ''").await;
    page.click("search").await;
    page.wait_js("return document.querySelectorAll('#results tr').length === 4", "all jobs again").await;

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
    world.stop().await;
}
