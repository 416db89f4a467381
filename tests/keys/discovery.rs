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
    let (asked_tx, asked) = tokio::sync::oneshot::channel();
    let flow = reset_after_replug(&sources, &d, options, Duration::from_secs(10), move || {
        let _ = asked_tx.send(());
    });
    let operator = async {
        asked.await.expect("the operator is asked to re-plug");
        tokio::time::sleep(Duration::from_millis(300)).await;
        k.replug();
    };
    let (result, ()) = tokio::join!(flow, operator);
    let back = result.unwrap();
    assert_eq!((back.path.as_str(), back.serial.as_ref()), (d.path.as_str(), d.serial.as_ref()), "the same key");
    assert_ne!(back.plug, d.plug, "a new plug-in of it");
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
    let e = wait_for_replug(&sources, &d, Duration::from_millis(500), || {}).await.unwrap_err();
    assert_eq!(e, KeyError::ReplugTimeout(Duration::from_millis(500)));
}

/// When the operator pulls the key and plugs it back, relative to the re-plug prompt.
#[derive(Debug, Clone, Copy)]
enum Pull {
    /// Pulled and back before the wait even starts (nothing to ask).
    BackBeforeTheWait,
    /// Pulled before the wait starts, back this long after the prompt.
    BeforeTheWait { back_after_prompt_ms: u64 },
    /// Pulled while the prompt is being shown (inside the prompt callback).
    DuringThePrompt { gap_ms: u64 },
    /// Pulled this long after the prompt, back `gap_ms` later (0: within one poll).
    AfterThePrompt { after_ms: u64, gap_ms: u64 },
}

/// One leave-and-return at `pull`; the wait must find the key back, whatever the moment.
async fn replug_at(pull: Pull) {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let k = key();
    let old = hub.plug(k.clone());
    let path = old.path.clone();
    match pull {
        Pull::BackBeforeTheWait => k.replug(),
        Pull::BeforeTheWait { .. } => {
            hub.unplug(&path);
        }
        _ => {}
    }
    let (asked_tx, asked) = tokio::sync::oneshot::channel::<std::time::Instant>();
    let prompts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counted, in_prompt) = (prompts.clone(), (hub.clone(), path.clone()));
    let prompt = move || {
        counted.fetch_add(1, Ordering::SeqCst);
        if let Pull::DuringThePrompt { .. } = pull {
            in_prompt.0.unplug(&in_prompt.1);
        }
        let _ = asked_tx.send(std::time::Instant::now());
    };
    let operator = {
        let k = k.clone();
        let hub = hub.clone();
        async move {
            let Ok(at) = asked.await else { return };
            let sleep_until = |ms: u64| tokio::time::sleep_until(tokio::time::Instant::from_std(at + Duration::from_millis(ms)));
            match pull {
                Pull::BackBeforeTheWait => {}
                Pull::BeforeTheWait { back_after_prompt_ms } => {
                    sleep_until(back_after_prompt_ms).await;
                    k.replug();
                }
                Pull::DuringThePrompt { gap_ms } => {
                    sleep_until(gap_ms).await;
                    k.replug();
                }
                Pull::AfterThePrompt { after_ms, gap_ms } => {
                    sleep_until(after_ms).await;
                    hub.unplug(k.path());
                    if gap_ms > 0 {
                        sleep_until(after_ms + gap_ms).await;
                    }
                    k.replug();
                }
            }
        }
    };
    let wait = wait_for_replug(&sources, &old, Duration::from_secs(10), prompt);
    let (result, ()) = tokio::join!(wait, operator);
    let back = result.unwrap_or_else(|e| panic!("{pull:?}: {e}"));
    assert_eq!(back.path, path, "{pull:?}");
    assert_ne!(back.plug, old.plug, "{pull:?}: a new plug-in, not the key as it was");
    let expected_prompts = if matches!(pull, Pull::BackBeforeTheWait) { 0 } else { 1 };
    assert_eq!(prompts.load(Ordering::SeqCst), expected_prompts, "{pull:?}");
}

/// A leave-and-return at every moment around the prompt: before the wait, during the
/// prompt, and at offsets after it on both sides of the watcher's 100 ms poll, with the key
/// back at once (between two polls), soon, or much later. (A pull after the prompt but
/// before the watcher's first look was the failure measured through a real hidraw.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replug_is_seen_whenever_it_happens_around_the_prompt() {
    let mut pulls = vec![Pull::BackBeforeTheWait, Pull::BeforeTheWait { back_after_prompt_ms: 0 }, Pull::BeforeTheWait { back_after_prompt_ms: 150 }];
    for gap_ms in [0, 30, 400] {
        pulls.push(Pull::DuringThePrompt { gap_ms });
        for after_ms in [0, 5, 50, 99, 101, 150, 250] {
            pulls.push(Pull::AfterThePrompt { after_ms, gap_ms });
        }
    }
    // A few at a time: each one is a key, a watcher thread and timers.
    for chunk in pulls.chunks(6) {
        futures_util::future::join_all(chunk.iter().map(|p| replug_at(*p))).await;
    }
}
