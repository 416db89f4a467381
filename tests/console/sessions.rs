//! Sessions end: after the idle timeout (no request), after the lifetime (however busy),
//! and at sign-out — on the server, at once, and out of memory. What the browser then
//! gets is the sign-in page or a notice in plain words, never a 500 or a raw error; what
//! was typed stays on the page and the page says it was not sent. Jobs do not belong to
//! sessions: a batch or a desk job whose operator's session ends goes on and is recorded.
//!
//! The limits are the console's options in seconds here (15 min / 12 h by default), so the
//! scenarios take seconds; every wait is bounded by `WAIT` (≥ 5× what it should take).
use super::support::{http, log_lines_with, sign_in_http, Shared, World, WAIT};
use keystation::console::auth::SessionLimits;
use keystation::console::hub::model::Phase;
use keystation::console::ActivityKind;
use keystation::key::virtual_key::Touch;
use keystation::station::state::JobState;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

fn limits(idle: u64, lifetime: u64) -> SessionLimits {
    SessionLimits { idle: Duration::from_secs(idle), lifetime: Duration::from_secs(lifetime) }
}

/// Wait until `done()` holds (bounded by `WAIT`).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ended(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{}", r.url());
    let body: Value = r.json().await.expect("a JSON answer, not a raw error");
    (body["session_ended"].as_str().unwrap_or("").to_string(), body["error"].as_str().unwrap_or("").to_string())
}

async fn job_state(world: &World, user: &str) -> Option<JobState> {
    let user = user.to_string();
    world.station.setup().journal.run(move |j| j.jobs_for_user(&user)).await.unwrap().into_iter().max_by_key(|j| j.id).map(|j| j.state)
}

pub async fn idle_and_lifetime_over_http(_: Shared) {
    let idle = Duration::from_secs(2);
    let w = World::new(0, &[], |o, _| o.sessions = limits(2, 3600)).await;
    let c = http();
    let base = w.base();
    let get = |cookie: &str| c.get(format!("{base}/api/hub/state")).header("Cookie", cookie).send();
    let (cookie, csrf) = sign_in_http(&w).await;
    // A request every 0.2 s keeps a session for twice its idle timeout (and more).
    let busy_until = Instant::now() + idle * 2;
    while Instant::now() < busy_until {
        assert_eq!(get(&cookie).await.unwrap().status(), StatusCode::OK, "a session in use");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing for longer than the idle timeout: it has ended, and the answer says why.
    tokio::time::sleep(idle + Duration::from_millis(500)).await;
    let (kind, message) = ended(get(&cookie).await.unwrap()).await;
    assert_eq!((kind.as_str(), message.as_str()), ("idle", "Your session ended after 2 seconds without activity; sign in again."));
    // Asked again, the same plain answer; a page gets the sign-in page.
    assert_eq!(ended(get(&cookie).await.unwrap()).await.0, "idle");
    let r = c.get(format!("{base}/journal")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("/assets/login.js"), "the sign-in page");
    // A change sent with it: refused with the reason (not 403 or 500), nothing done.
    let r = c.post(format!("{base}/api/desk/open")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(ended(r).await.0, "idle");
    assert_eq!(w.console.activity(), ActivityKind::Idle, "the desk was not opened");

    // Ended sessions leave memory even when their browsers never come back.
    for _ in 0..20 {
        sign_in_http(&w).await;
    }
    assert!(w.console.session_count() >= 20, "{}", w.console.session_count());
    until("the idle sessions to be removed", || w.console.session_count() == 0).await;

    // Sign-out ends the session on the server, at once.
    let (cookie, csrf) = sign_in_http(&w).await;
    assert_eq!(w.console.session_count(), 1);
    let r = c.post(format!("{base}/api/session/logout")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(w.console.session_count(), 0, "gone from memory at sign-out");
    let (kind, message) = ended(get(&cookie).await.unwrap()).await;
    assert_eq!((kind.as_str(), message.as_str()), ("signed_out", "You signed out; sign in again."));
    w.stop().await;

    // However busy, a session ends at its lifetime.
    let lifetime = Duration::from_secs(3);
    let w = World::new(0, &[], |o, _| o.sessions = limits(2, 3)).await;
    let base = w.base();
    let get = |cookie: &str| c.get(format!("{base}/api/hub/state")).header("Cookie", cookie).send();
    let (cookie, _) = sign_in_http(&w).await;
    let signed_in = Instant::now();
    let answer = loop {
        let r = get(&cookie).await.unwrap();
        if r.status() != StatusCode::OK {
            break r;
        }
        assert!(signed_in.elapsed() < lifetime + WAIT, "the session outlived its lifetime");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(signed_in.elapsed() >= lifetime, "ended early: {:?}", signed_in.elapsed());
    let (kind, message) = ended(answer).await;
    assert_eq!((kind.as_str(), message.as_str()), ("lifetime", "Your session ended: a session lasts at most 3 seconds; sign in again."));
    w.stop().await;
}

pub async fn jobs_outlive_their_session(_: Shared) {
    let w = World::new(2, &[], |o, _| o.sessions = limits(1, 4)).await;
    let users = w.fresh_users();
    let c = http();
    let base = w.base();

    // The hub: an operator starts a batch and walks away; the key waits for its touch
    // while the operator's session ends.
    let (cookie, csrf) = sign_in_http(&w).await;
    let r = c
        .post(format!("{base}/api/hub/batch?name=one.csv"))
        .header("Origin", &base)
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .body(format!("upn\n{}\n", users[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let key = w.tenant.blank_key(Touch::Never).unwrap();
    w.hub.plug(key.clone());
    until("the hub's key waiting for its touch", || w.console.hub_state().tiles.iter().any(|t| t.phase == Phase::Touch)).await;
    until("the operator's session to end", || w.console.session_count() == 0).await;
    assert_eq!(ended(c.get(format!("{base}/api/hub/state")).header("Cookie", &cookie).send().await.unwrap()).await.0, "idle");
    assert!(w.console.hub_state().tiles.iter().any(|t| t.phase == Phase::Touch), "the job still waits for the touch");
    assert_eq!(w.console.activity(), ActivityKind::Batch);
    key.set_touch(Touch::Instant);
    until("the batch to finish", || {
        let h = w.console.hub_state();
        h.figures.done == 1 && !h.running
    })
    .await;
    assert_eq!(job_state(&w, &users[0]).await, Some(JobState::Done), "recorded as done");
    // Signing in again shows it.
    let (cookie, csrf) = sign_in_http(&w).await;
    let hub: Value = c.get(format!("{base}/api/hub/state")).header("Cookie", &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(hub["figures"]["done"], 1, "{hub}");

    key.unplug();

    // The desk: a screen locked to the desk is not idled out, but its lifetime ends it
    // while a person's key waits for the touch; the person's job goes on.
    let post = |path: &str| c.post(format!("{base}{path}")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf);
    assert_eq!(post("/api/desk/open").send().await.unwrap().status(), StatusCode::OK);
    let deadline = Instant::now() + WAIT;
    loop {
        let r: Value = post("/api/desk/user").json(&serde_json::json!({ "user": users[1] })).send().await.unwrap().json().await.unwrap();
        if r["ok"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the desk never took the name: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key = w.tenant.blank_key(Touch::Never).unwrap();
    w.hub.plug(key.clone());
    until("the desk's session to end", || w.console.session_count() == 0).await;
    // Not idled out (no request for longer than the idle timeout): its lifetime ended it.
    assert_eq!(ended(c.get(format!("{base}/api/desk/state")).header("Cookie", &cookie).send().await.unwrap()).await.0, "lifetime");
    let deadline = Instant::now() + WAIT;
    let mut operator = sign_in_http(&w).await.0;
    loop {
        let r = c.get(format!("{base}/api/desk/state")).header("Cookie", &operator).send().await.unwrap();
        if r.status() == StatusCode::UNAUTHORIZED {
            operator = sign_in_http(&w).await.0; // this short lifetime ended it too
            continue;
        }
        let s: Value = r.json().await.unwrap();
        if s["view"]["screen"] == "touch_key" {
            break;
        }
        assert!(Instant::now() < deadline, "the desk's job is not waiting for the touch: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.console.activity(), ActivityKind::Desk, "the desk is still open");
    key.set_touch(Touch::Instant);
    let deadline = Instant::now() + WAIT;
    while job_state(&w, &users[1]).await != Some(JobState::Done) {
        if job_state(&w, &users[1]).await == Some(JobState::HandedOver) && key.is_plugged() {
            key.unplug(); // the person reads the slip and takes the key
        }
        assert!(Instant::now() < deadline, "the desk's job did not finish: {:?}", job_state(&w, &users[1]).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.stop().await;
}

pub async fn ended_session_in_the_browser(shared: Shared) {
    let w = World::new(0, &[], |o, _| o.sessions = limits(2, 3600)).await;
    let page = shared.page();
    let idle_message = "Your session ended after 2 seconds without activity; sign in again.";

    // The journal: a search typed, then the operator walks away.
    page.sign_in(&w, "journal").await;
    page.type_into("q-user", "alice@contoso.test").await;
    until("the session to end", || w.console.session_count() == 0).await;
    page.click("search").await;
    page.wait_js("return document.body.dataset.session === 'ended'", "the notice that the session ended").await;
    assert_eq!(page.text("ks-ended-message").await, idle_message);
    assert!(page.text("ks-ended-unsent").await.contains("was not done"), "it says the search was not sent");
    assert!(page.text("search-error").await.starts_with("Not sent: "), "{}", page.text("search-error").await);
    assert_eq!(page.js("return document.getElementById('q-user').value").await, "alice@contoso.test", "what was typed is still there");
    assert!(!page.js("return document.body.innerText").await.as_str().unwrap().contains("{\""), "no raw answer on the page");
    page.screenshot("session-ended").await;

    // Signing in again in place (the console's link pasted): the page goes on.
    let link = w.link("journal");
    let token = link.expose().rsplit_once("#token=").unwrap().1.to_string();
    page.type_into("ks-ended-secret", link.expose()).await;
    page.click("ks-ended-go").await;
    page.wait_js("return document.body.dataset.session === 'open' && KS.csrf !== null", "signed in again").await;
    assert_eq!(page.js("return document.getElementById('q-user').value").await, "alice@contoso.test");
    page.js("document.getElementById('result-count').textContent = ''").await;
    page.click("search").await;
    page.wait_js("return document.getElementById('result-count').textContent === '0 job(s)' && document.getElementById('search-error').textContent === ''", "the search").await;
    assert!(!page.js("return document.documentElement.outerHTML + location.href").await.as_str().unwrap().contains(&token), "the token left the page");
    assert!(!page.script_storage().await.contains(&token), "the token is in no browser storage");
    assert!(log_lines_with(&shared.logs, &token).is_empty(), "the token is in the log: {:?}", log_lines_with(&shared.logs, &token));

    // A live page (the hub) finds out by itself and says so.
    page.goto(&format!("{}/hub", w.base())).await;
    page.wait_js("return typeof KS !== 'undefined' && KS.csrf !== null", "the hub").await;
    page.wait_js("return document.body.dataset.session === 'ended'", "the hub's notice that the session ended").await;
    assert_eq!(page.text("ks-ended-message").await, idle_message);
    // Opened again: the sign-in page, with the reason.
    page.goto(&format!("{}/hub", w.base())).await;
    page.wait_js(&format!("return document.getElementById('login-status').textContent === '{idle_message}'"), "the sign-in page with the reason").await;
    page.screenshot("login-session-ended").await;

    // Signing out: the session ends on the server; the sign-in page says so.
    page.sign_in(&w, "").await;
    assert_eq!(w.console.session_count(), 1);
    page.click("sign-out").await;
    page.wait_js("return document.getElementById('login-status').textContent === 'You signed out; sign in again.'", "the sign-in page after signing out").await;
    assert_eq!(w.console.session_count(), 0);
    w.stop().await;
}
