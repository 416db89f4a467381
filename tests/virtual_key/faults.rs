//! Unplug, hung key, read deadlines.
use crate::ctaphid::*;
use keystation::key::virtual_key::*;
use keystation::key::IoError;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn unplug_fails_every_handle_within_100ms_even_a_blocked_read() {
    let hub = VirtualHub::new();
    let key = VirtualKey::new(VirtualKeyConfig::default());
    hub.plug(key.clone());
    let mut blocked = key.open().unwrap();
    let mut idle = key.open().unwrap();

    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        ready_tx.send(()).unwrap();
        let result = blocked.read_report(Duration::from_secs(5));
        (result, Instant::now())
    });
    ready_rx.recv().unwrap();
    // Let the read get well into its 5 s timeout before pulling the key.
    std::thread::sleep(Duration::from_millis(150));
    let unplugged = Instant::now();
    key.unplug();
    let (result, returned) = reader.join().unwrap();

    assert_eq!(result, Err(IoError::Removed));
    let took = returned.saturating_duration_since(unplugged);
    assert!(took < Duration::from_millis(100), "a blocked read saw the unplug after {took:?}");
    assert_eq!(idle.read_report(Duration::from_secs(1)), Err(IoError::Removed));
    assert_eq!(idle.write_report(&[0; 64]), Err(IoError::Removed));
    assert!(matches!(key.open(), Err(IoError::Removed)));
    assert!(hub.enumerate().is_empty(), "an unplugged key is not enumerated");
    assert!(!key.is_plugged());
}

#[test]
fn hung_key_accepts_writes_and_never_answers() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    key.set_hung(true);
    let mut io = key.open().unwrap();
    send(io.as_mut(), BROADCAST, CMD_INIT, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let started = Instant::now();
    assert_eq!(io.read_report(Duration::from_millis(300)), Ok(None));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "returned early: {took:?}");
    assert!(took < Duration::from_millis(1300), "returned late: {took:?}");
    assert_eq!(key.counters().swallowed_while_hung, 1);

    key.set_hung(false);
    let ch = Channel::open(key.open().unwrap());
    assert_ne!(ch.cid, BROADCAST, "the key answers again once it is no longer hung");
}

#[test]
fn reads_honour_their_timeout() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut io = key.open().unwrap();
    let started = Instant::now();
    assert_eq!(io.read_report(Duration::ZERO), Ok(None));
    assert!(started.elapsed() < Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(io.read_report(Duration::from_millis(150)), Ok(None));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_millis(1150), "{took:?}");
}

#[test]
fn dropping_the_last_key_object_removes_its_handles() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut io = key.open().unwrap();
    drop(key);
    assert_eq!(io.read_report(Duration::from_secs(1)), Err(IoError::Removed));
}
