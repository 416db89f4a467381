//! authenticatorReset: the power-up window and the touch.
use super::support::*;
use keystation::key::KeyError;
use keystation::key::virtual_key::Touch;
use keystation::key::worker::HandleOptions;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn reset_inside_the_window_erases_pin_and_credentials_with_one_prompt() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    h.make_credential(request("example.com", b"u"), Some(&pin("1234"))).await.unwrap();
    drop(h);
    // A person who takes a moment: the key keeps asking (several KEEPALIVE UPNEEDED).
    k.set_touch(Touch::After(Duration::from_millis(600)));
    let (options, prompts) = counting_options();
    let h = replug(&k, options).await;
    h.reset().await.unwrap();
    assert_eq!(prompts.load(Ordering::SeqCst), 1, "touch prompt fires once per operation");
    assert!(k.counters().keepalives_sent > 1);
    let info = h.info();
    assert!(!info.pin_is_set(), "PIN gone after reset");
    assert_eq!(info.remaining_discoverable_credentials, Some(150));
    h.set_pin(&pin("5678")).await.unwrap();
}

#[tokio::test]
async fn reset_after_the_window_asks_for_a_replug_and_then_works() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    k.advance_uptime(Duration::from_secs(11));
    let e = h.reset().await.unwrap_err();
    assert_eq!(e, KeyError::ResetWindowPassed);
    let text = e.to_string();
    assert!(text.contains("10 seconds") && text.contains("plug it in again"), "{text}");
    assert!(h.get_info().await.unwrap().pin_is_set(), "nothing was erased");
    drop(h);
    let h = replug(&k, HandleOptions::default()).await;
    h.reset().await.unwrap();
    assert!(!h.info().pin_is_set());
}

#[tokio::test]
async fn reset_refused_by_the_person_is_denied() {
    let k = key_with_touch(Touch::Deny);
    let h = open(&k).await;
    assert_eq!(h.reset().await, Err(KeyError::Denied));
}
