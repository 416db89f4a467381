//! The watcher with the client's AAGUID probe, and re-plug-then-reset.
use super::support::*;
use keystation::key::KeyError;
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::{VIRTUAL_KEY_AAGUID, VirtualHub};
use keystation::key::watcher::{KeyEvent, KeyWatcher, WatchOptions};
use keystation::key::worker::{HandleOptions, KeyHandle, aaguid_probe, reset_after_replug, wait_for_replug};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn next(w: &mut KeyWatcher) -> KeyEvent {
    tokio::time::timeout(Duration::from_secs(2), w.recv()).await.expect("an event").expect("watcher running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_reports_arrivals_with_the_aaguid_and_departures() {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let mut w = KeyWatcher::start(sources.clone(), WatchOptions { probe: Some(aaguid_probe(sources.clone())), ..Default::default() }).unwrap();
    let k = key();
    let d = hub.plug(k.clone());
    match next(&mut w).await {
        KeyEvent::Arrived(id) => {
            assert_eq!(id.descriptor, d);
            assert_eq!(id.aaguid, Some(VIRTUAL_KEY_AAGUID));
        }
        other => panic!("{other:?}"),
    }
    hub.unplug(k.path());
    assert!(matches!(next(&mut w).await, KeyEvent::Left(id) if id.descriptor == d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_refused_for_the_window_succeeds_after_a_replug() {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let k = key();
    let d = hub.plug(k.clone());
    let h = KeyHandle::open(d.clone(), sources.open(&d).unwrap(), HandleOptions::default()).await.unwrap();
    h.set_pin(&pin("1234")).await.unwrap();
    k.advance_uptime(Duration::from_secs(12));
    assert_eq!(h.reset().await, Err(KeyError::ResetWindowPassed));
    drop(h);

    let (options, prompts) = counting_options();
    let flow = reset_after_replug(&sources, &d, options, Duration::from_secs(10));
    let operator = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        k.replug();
    };
    let (result, ()) = tokio::join!(flow, operator);
    assert_eq!(result.unwrap(), d);
    // Instant touch: the key may answer without asking, so at most one prompt.
    assert!(prompts.load(Ordering::SeqCst) <= 1);
    let h = KeyHandle::open(d.clone(), sources.open(&d).unwrap(), HandleOptions::default()).await.unwrap();
    assert!(!h.info().pin_is_set(), "the key was reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_replug_that_never_happens_times_out() {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let d = hub.plug(key());
    let e = wait_for_replug(&sources, &d, Duration::from_millis(500)).await.unwrap_err();
    assert_eq!(e, KeyError::ReplugTimeout(Duration::from_millis(500)));
}
