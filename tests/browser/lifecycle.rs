//! Browser lifetime: cold and warm starts, private contexts, failure evidence.
use super::site::Site;
use super::soft_key::SoftKey;
use super::support::{PAGE, client, config_or_skip, outcome, serial};
use keystation::ceremony::browser::host::Start;
use keystation::ceremony::browser::{BridgeEvent, BrowserConfig, BrowserError, BrowserHost};
use std::sync::Arc;
use std::time::Instant;

#[tokio::test]
async fn cold_then_warm_enrolments_both_work() {
    let Some(config) = config_or_skip("cold_then_warm_enrolments_both_work") else { return };
    let _serial = serial().await;
    let site = Site::start().await;
    let mut host = BrowserHost::new(config);
    for round in 0..2 {
        let key = Arc::new(SoftKey::new());
        let t0 = Instant::now();
        let (mut ctx, start) = host.context(client(), key.clone()).await.unwrap();
        let ready = t0.elapsed();
        match (round, start) {
            (0, Start::Cold(launch)) => eprintln!("figure: cold start (chromedriver + Chromium + BiDi) {launch:?}; first context ready after {ready:?}"),
            (1, Start::Warm) => eprintln!("figure: warm context creation {ready:?}"),
            other => panic!("round {round}: unexpected start {other:?}"),
        }
        let t1 = Instant::now();
        ctx.navigate(&site.other_site("/start")).await.unwrap();
        let post = site.next_post(PAGE).await;
        eprintln!("figure: round {round} ceremony {:?}", t1.elapsed());
        assert_eq!(post.get("errorName"), "", "{}", post.get("errorMessage"));
        assert!(matches!(outcome(&mut ctx).await, BridgeEvent::Registered(_)));
        assert_eq!(key.requests().len(), 1);
        ctx.close().await.unwrap();
    }
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn sequential_enrolments_do_not_share_cookies() {
    let Some(config) = config_or_skip("sequential_enrolments_do_not_share_cookies") else { return };
    let _serial = serial().await;
    let site = Site::start().await;
    let mut host = BrowserHost::new(config);
    let key = Arc::new(SoftKey::new());
    let (first, _) = host.context(client(), key.clone()).await.unwrap();
    first.navigate_and_wait(&site.login_site("/cookie/set?v=user-one")).await.unwrap();
    first.navigate_and_wait(&site.login_site("/cookie/show")).await.unwrap();
    assert_eq!(first.evaluate("document.getElementById('c').textContent").await.unwrap(), "ESTSAUTH=user-one");
    first.close().await.unwrap();
    let (second, start) = host.context(client(), key.clone()).await.unwrap();
    assert_eq!(start, Start::Warm, "the browser should have been reused");
    second.navigate_and_wait(&site.login_site("/cookie/show")).await.unwrap();
    assert_eq!(second.evaluate("document.getElementById('c').textContent").await.unwrap(), "none");
    // The language is forced to English in every context.
    assert_eq!(second.evaluate("navigator.language").await.unwrap(), "en-US");
    second.close().await.unwrap();
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_chromedriver_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrowserConfig { chromedriver: dir.path().join("chromedriver"), ..BrowserConfig::default() };
    let e = keystation::ceremony::browser::Browser::launch(config).await.err().expect("launch must fail");
    assert!(matches!(e, BrowserError::Missing { what: "chromedriver", .. }), "{e}");
    assert!(e.is_missing_component());
    assert!(e.to_string().contains("apt-get install chromium chromium-driver"), "{e}");
}

/// Live (non-zombie) processes in a process group.
#[cfg(target_os = "linux")]
fn live_members(pgid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>()) else { continue };
        if after.len() > 2 && after[2] == pgid.to_string() && after[0] != "Z" {
            out.push(stat.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_browser_kills_chromium_and_removes_the_profile() {
    let Some(config) = config_or_skip("dropping_the_browser_kills_chromium_and_removes_the_profile") else { return };
    let _serial = serial().await;
    let browser = keystation::ceremony::browser::Browser::launch(config).await.unwrap();
    let ctx = browser.new_context(client(), Arc::new(SoftKey::new())).await.unwrap();
    let pgid = browser.process_group().expect("chromedriver runs");
    let workdir = browser.workdir().to_path_buf();
    assert!(live_members(pgid).len() >= 2, "chromedriver and Chromium should be running: {:?}", live_members(pgid));
    let t = Instant::now();
    drop(ctx);
    drop(browser);
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "drop blocked for {:?}", t.elapsed());
    // SIGKILL is delivered asynchronously; give the kernel a moment.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !live_members(pgid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(live_members(pgid), Vec::<String>::new());
    assert!(!workdir.exists(), "the profile directory was left behind");
}
