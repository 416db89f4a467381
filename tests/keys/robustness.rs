//! Never hang: cancel, dropped futures, unplug, hung keys, deadlines, worker lifetime.
use super::support::*;
use keystation::key::KeyError;
use keystation::key::virtual_key::Touch;
use keystation::key::worker::{HandleOptions, KeyHandle};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn no_uv(rp: &str) -> keystation::key::ctap2::MakeCredentialRequest {
    let mut r = request(rp, b"u");
    r.user_verification = false;
    r
}

#[tokio::test]
async fn cancel_during_a_touch_wait_returns_within_half_a_second() {
    let k = key_with_touch(Touch::Never);
    let (options, mut waiting) = notifying_options(Duration::from_secs(30));
    let h = open_with(&k, options).await;
    let canceller = h.canceller();
    let op = h.make_credential(no_uv("example.com"), None);
    let cancel = async move {
        waiting.recv().await;
        canceller.cancel();
        Instant::now()
    };
    let (result, cancelled_at) = tokio::join!(op, cancel);
    let took = cancelled_at.elapsed();
    assert_eq!(result.unwrap_err(), KeyError::Cancelled);
    assert!(took < Duration::from_millis(500), "cancel took {took:?}");
    // The key is not left waiting: the next operation works at once.
    k.set_touch(Touch::Instant);
    h.make_credential(no_uv("example.com"), None).await.unwrap();
}

#[tokio::test]
async fn cancel_from_the_handle_works_too_and_later_operations_are_unaffected() {
    let k = key_with_touch(Touch::Never);
    let (options, mut waiting) = notifying_options(Duration::from_secs(30));
    let h = std::sync::Arc::new(open_with(&k, options).await);
    let h2 = std::sync::Arc::clone(&h);
    let task = tokio::spawn(async move { h2.selection().await });
    waiting.recv().await;
    h.cancel();
    assert_eq!(tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap(), Err(KeyError::Cancelled));
    assert!(h.get_info().await.is_ok());
}

#[tokio::test]
async fn dropping_the_future_cancels_the_operation() {
    let k = key_with_touch(Touch::Never);
    let (options, prompts) = counting_options();
    let h = open_with(&k, options).await;
    let r = tokio::time::timeout(Duration::from_millis(500), h.make_credential(no_uv("example.com"), None)).await;
    assert!(r.is_err(), "still waiting for a touch when abandoned");
    assert_eq!(prompts.load(Ordering::SeqCst), 1);
    // Had the abandoned operation kept the key, this would wait for its 30 s deadline.
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), h.get_info()).await.expect("worker free again").unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn unplugging_mid_operation_is_removed_within_a_second() {
    let k = key_with_touch(Touch::Never);
    let (options, mut waiting) = notifying_options(Duration::from_secs(30));
    let h = open_with(&k, options).await;
    let k2 = k.clone();
    let unplug = async move {
        waiting.recv().await;
        k2.unplug();
        Instant::now()
    };
    let (result, unplugged_at) = tokio::join!(h.make_credential(no_uv("example.com"), None), unplug);
    assert_eq!(result.unwrap_err(), KeyError::Removed);
    assert!(unplugged_at.elapsed() < Duration::from_secs(1));
    // Every later call on the dead handle says so too, quickly.
    assert_eq!(tokio::time::timeout(Duration::from_secs(1), h.get_info()).await.unwrap(), Err(KeyError::Removed));
}

#[tokio::test]
async fn a_hung_key_times_out_at_the_deadline() {
    let k = key();
    let h = open_with(&k, HandleOptions { op_timeout: Duration::from_millis(700), ..Default::default() }).await;
    k.set_hung(true);
    let t = Instant::now();
    let e = h.get_info().await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(e, KeyError::Timeout(_)), "{e:?}");
    assert!(took >= Duration::from_millis(650) && took < Duration::from_secs(2), "took {took:?}");
    assert!(e.to_string().contains("did not answer"));
    // Once the key answers again, the handle recovers on a fresh channel.
    k.set_hung(false);
    h.get_info().await.unwrap();
}

#[tokio::test]
async fn opening_a_hung_key_fails_by_the_deadline() {
    let k = key();
    k.set_hung(true);
    let t = Instant::now();
    let r = KeyHandle::open(k.descriptor(), k.open().unwrap(), HandleOptions { op_timeout: Duration::from_millis(500), ..Default::default() }).await;
    assert!(matches!(r, Err(KeyError::NotFido(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn opening_an_unplugged_key_is_removed() {
    let k = key();
    let io = k.open().unwrap();
    k.unplug();
    let r = KeyHandle::open(k.descriptor(), io, HandleOptions::default()).await;
    assert_eq!(r.unwrap_err(), KeyError::Removed);
}

#[tokio::test]
async fn the_worker_thread_ends_when_the_handle_is_dropped() {
    let k = key();
    let h = open(&k).await;
    h.get_info().await.unwrap();
    let exited = h.exited();
    drop(h);
    tokio::time::timeout(Duration::from_secs(1), exited).await.expect("worker thread ended");
}

#[tokio::test]
async fn the_touch_prompt_fires_once_per_operation() {
    // Long enough that the key asks (UPNEEDED every 100 ms) even on a loaded machine.
    let k = key_with_touch(Touch::After(Duration::from_millis(600)));
    let (options, prompts) = counting_options();
    let h = open_with(&k, options).await;
    h.selection().await.unwrap();
    assert_eq!(prompts.load(Ordering::SeqCst), 1);
    h.make_credential(no_uv("example.com"), None).await.unwrap();
    assert_eq!(prompts.load(Ordering::SeqCst), 2);
    h.get_info().await.unwrap();
    assert_eq!(prompts.load(Ordering::SeqCst), 2, "no prompt without a touch request");
}
