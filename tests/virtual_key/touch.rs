//! Scripted touch, KEEPALIVE, CANCEL and the reset window.
use crate::ctaphid::*;
use keystation::key::virtual_key::*;
use keystation::key::IoError;
use std::time::{Duration, Instant};

fn key_with(touch: Touch) -> VirtualKey {
    VirtualKey::new(VirtualKeyConfig { touch, ..Default::default() })
}

/// Read reports until the first KEEPALIVE on our channel; returns its status byte.
fn first_keepalive(ch: &mut Channel, within: Duration) -> u8 {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let report = ch.io.read_report(left).unwrap().expect("a KEEPALIVE while the key waits for a touch");
        if report[..4] == ch.cid && report[4] == 0x80 | CMD_KEEPALIVE {
            return report[7];
        }
    }
}

#[test]
fn reset_after_a_300ms_touch_completes_with_upneeded_keepalives() {
    let key = key_with(Touch::After(Duration::from_millis(300)));
    let mut ch = Channel::open(key.open().unwrap());
    let started = Instant::now();
    let answer = ch.ctap(CTAP_RESET, None, Duration::from_secs(5));
    assert_eq!(answer.payload, vec![OK]);
    assert!(started.elapsed() >= Duration::from_millis(300), "answered before the touch");
    assert!(!answer.keepalives.is_empty(), "no KEEPALIVE while waiting for the touch");
    assert!(answer.keepalives.iter().all(|&s| s == 0x02), "KEEPALIVE status must be UPNEEDED: {:?}", answer.keepalives);
    let counters = key.counters();
    assert_eq!(counters.touch_requests, 1);
    assert!(counters.keepalives_sent >= answer.keepalives.len() as u64);
}

#[test]
fn cancel_during_the_touch_wait_ends_the_reset_with_keepalive_cancel() {
    let key = key_with(Touch::Never);
    let mut ch = Channel::open(key.open().unwrap());
    ch.send(CMD_CBOR, &[CTAP_RESET]);
    assert_eq!(first_keepalive(&mut ch, Duration::from_secs(2)), 0x02);
    let cancelled = Instant::now();
    ch.send(CMD_CANCEL, &[]);
    let answer = ch.recv(Duration::from_secs(2)).expect("an answer after CANCEL");
    assert_eq!(answer.cmd, CMD_CBOR);
    assert_eq!(answer.payload, vec![ERR_KEEPALIVE_CANCEL]);
    assert!(cancelled.elapsed() < Duration::from_millis(500), "CANCEL took {:?}", cancelled.elapsed());
}

#[test]
fn denied_touch_is_operation_denied() {
    let key = key_with(Touch::Deny);
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![ERR_OPERATION_DENIED]);
}

#[test]
fn touch_script_can_change_while_the_key_waits() {
    let key = key_with(Touch::Never);
    let mut ch = Channel::open(key.open().unwrap());
    ch.send(CMD_CBOR, &[CTAP_RESET]);
    first_keepalive(&mut ch, Duration::from_secs(2));
    key.set_touch(Touch::Instant);
    assert_eq!(ch.recv(Duration::from_secs(2)).unwrap().payload, vec![OK]);
}

#[test]
fn never_touching_times_out_on_the_keys_own_clock() {
    let key = key_with(Touch::Never);
    let mut ch = Channel::open(key.open().unwrap());
    ch.send(CMD_CBOR, &[CTAP_RESET]);
    first_keepalive(&mut ch, Duration::from_secs(2));
    key.advance_uptime(Duration::from_secs(31));
    assert_eq!(ch.recv(Duration::from_secs(2)).unwrap().payload, vec![ERR_USER_ACTION_TIMEOUT]);
}

#[test]
fn reset_is_refused_eleven_seconds_after_power_up() {
    let key = key_with(Touch::Instant);
    key.advance_uptime(Duration::from_secs(11));
    assert!(key.uptime() >= Duration::from_secs(11));
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![ERR_NOT_ALLOWED]);
    assert_eq!(key.counters().touch_requests, 0, "no touch is asked for a refused reset");
}

#[test]
fn replug_opens_the_reset_window_again() {
    let key = key_with(Touch::Instant);
    key.advance_uptime(Duration::from_secs(11));
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![ERR_NOT_ALLOWED]);

    key.replug();
    assert!(key.uptime() < Duration::from_secs(10), "the power-up clock restarted");
    assert_eq!(ch.io.read_report(Duration::ZERO), Err(IoError::Removed), "handles from before the replug are dead");
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![OK]);
    assert_eq!(key.counters().power_ups, 2);
}
