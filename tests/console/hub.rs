//! The hub page in Chromium during a 16-key batch started from an uploaded user list:
//! bad rows are listed with their line, tiles show "touch now" while keys wait for a
//! finger and all reach "done"; the page measures how late each update reaches the
//! screen.
use super::support::{artifacts, log_lines_with, pin_on_slip, Shared, World};
use keystation::key::virtual_key::Touch;
use std::time::Duration;

pub async fn sixteen_keys(shared: Shared) {
    let world = World::new(16, &[], |_, _| {}).await;
    let users = world.fresh_users();
    assert_eq!(users.len(), 16);
    let mut csv = String::from("upn,display_name\n");
    for u in &users {
        csv.push_str(&format!("{u},\n"));
    }
    csv.push_str("not-a-user,\n");
    let file = world.dir.path().join("new-starters.csv");
    std::fs::write(&file, &csv).unwrap();

    let page = shared.page();
    // Without the link: the sign-in page (401), which asks for the link or the password.
    page.goto(&format!("{}/hub", world.base())).await;
    page.wait_js("return !document.getElementById('login-help').classList.contains('hidden')", "the sign-in page").await;
    page.screenshot("login").await;
    page.sign_in(&world, "hub").await;
    page.wait_js("return document.getElementById('concurrency').options.length > 0", "the hub page").await;
    page.driver.find(thirtyfour::By::Id("csv")).await.unwrap().send_keys(file.display().to_string()).await.expect("choose the file");
    page.js("document.getElementById('concurrency').value = '16'").await;
    // Every value the ETA shows while the batch runs, as the page draws it.
    page.js("window.ksEtas = []; const e = document.getElementById('f-eta'); new MutationObserver(() => window.ksEtas.push(e.textContent)).observe(e, { childList: true, characterData: true, subtree: true })").await;
    page.click("start-batch").await;
    let started = page.wait_js("const p = document.querySelector('#upload-result .ok'); return p && p.textContent", "the batch to start").await;
    assert!(started.as_str().unwrap().contains("16 user(s)"), "{started}");
    let bad = page.text("bad-rows").await;
    assert!(bad.contains("line 18") && bad.contains("not-a-user"), "the bad row with its line: {bad}");

    // Sixteen blank keys on the hub; people touch them after 0.4 to 2.5 s.
    for i in 0..16u64 {
        world.plug(Touch::After(Duration::from_millis(400 + i * 140)));
    }
    page.wait_js("return document.querySelectorAll('.tile[data-phase=\"touch\"]').length > 0", "a tile that says touch now").await;
    let touch_text = page.js("return document.querySelector('.tile[data-phase=\"touch\"]').textContent").await;
    assert!(touch_text.as_str().unwrap().contains("Touch the key now"), "{touch_text}");
    page.screenshot("hub-touch-now").await;
    page.wait_js("return document.getElementById('f-done').textContent === '16'", "16 keys done").await;
    page.wait_js("return document.querySelectorAll('.tile[data-phase=\"done\"]').length === 16", "16 tiles done").await;
    page.wait_js("return !document.getElementById('ending').classList.contains('hidden')", "the end of the run").await;
    assert_eq!(page.text("f-failed").await, "0");
    assert_eq!(page.text("f-left").await, "0");
    let rate: f64 = page.text("f-rate").await.parse().expect("a rate in keys/min");
    assert!(rate > 0.0, "keys/min: {rate}");
    let etas = page.js("return window.ksEtas").await;
    assert!(etas.as_array().unwrap().iter().any(|v| v.as_str().is_some_and(|t| t.ends_with(" s"))), "an ETA while the batch ran: {etas}");
    page.screenshot("hub-done").await;

    // A done tile offers its user's PIN slip, once; closing it leaves the PIN nowhere.
    let user = page.js("const t = document.querySelector('.tile[data-phase=\"done\"]'); t.querySelector('.slip-button').click(); return t.querySelector('.user').textContent").await;
    let slip = page.wait_js("const s = document.getElementById('slip-text'); return !s.classList.contains('hidden') && s.textContent", "the slip").await;
    let slip = slip.as_str().unwrap().to_string();
    assert!(slip.contains(user.as_str().unwrap()), "{slip}");
    let pin = pin_on_slip(&slip).expect("a PIN on the slip");
    page.click("slip-close").await;
    page.wait_js("return document.getElementById('slip-text').classList.contains('hidden')", "the slip closed").await;
    assert!(!page.js("return document.documentElement.outerHTML").await.as_str().unwrap().contains(&pin), "the PIN is gone from the page");
    assert!(!page.script_storage().await.contains(&pin));
    assert!(log_lines_with(&shared.logs, &pin).is_empty(), "the PIN is in the log: {:?}", log_lines_with(&shared.logs, &pin));
    assert_eq!(page.js("return document.querySelectorAll('.slip-button').length").await, 15, "one slip fewer to hand over");

    // How late updates reached the screen (server event → drawn), in this page.
    let lat: Vec<f64> = page.js("return window.ksLatency").await.as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
    assert!(lat.len() >= 16 * 4, "few updates measured: {}", lat.len());
    let mut sorted = lat.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    let (p50, p95, max) = (pct(0.5), pct(0.95), sorted[sorted.len() - 1]);
    let line = format!("hub updates: {} measured, event → screen p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms", lat.len());
    println!("{line}");
    std::fs::create_dir_all(artifacts()).unwrap();
    std::fs::write(artifacts().join("hub-latency.txt"), format!("{line}\n")).unwrap();
    // The goal is 200 ms (`keystation bench console` measures it); a loaded CI machine
    // gets five times that.
    assert!(p95 < 1000.0, "{line}");

    let jobs = world.station.setup().journal.run(|j| j.query(&Default::default())).await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.state == keystation::station::state::JobState::Done).count(), 16);
    world.stop().await;
}
