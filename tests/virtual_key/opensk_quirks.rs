//! OpenSK behaviour that differs from CTAP 2.1 or from common keys, pinned down so that
//! docs/virtual-key.md stays true (see its "Differences" table).
use crate::ctaphid::*;
use ciborium::Value;
use keystation::key::virtual_key::*;
use std::sync::Arc;
use std::time::Duration;

const CMD_MSG: u8 = 0x03;

#[test]
fn reset_must_come_before_any_other_state_touching_command() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    ch.ctap_ok(CTAP_GET_INFO, None);
    let get_retries = Value::Map(vec![(Value::Integer(1.into()), Value::Integer(2.into())), (Value::Integer(2.into()), Value::Integer(1.into()))]);
    ch.ctap_ok(CTAP_CLIENT_PIN, Some(&get_retries));
    assert!(key.uptime() < Duration::from_secs(10), "still inside the 10 s window");
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![ERR_NOT_ALLOWED]);

    // getInfo and makeCredential (CTAP 2.0's "selection") keep the window open.
    key.replug();
    let mut ch = Channel::open(key.open().unwrap());
    ch.ctap_ok(CTAP_GET_INFO, None);
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false)));
    assert_eq!(ch.ctap(CTAP_RESET, None, Duration::from_secs(5)).payload, vec![OK]);
}

fn u2f_register(ch: &mut Channel) -> [u8; 2] {
    let mut apdu = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
    apdu.extend_from_slice(&[0x11; 64]);
    apdu.extend_from_slice(&[0x00, 0x00]);
    ch.send(CMD_MSG, &apdu);
    let answer = ch.recv(Duration::from_secs(5)).unwrap();
    assert_eq!(answer.cmd, CMD_MSG);
    let n = answer.payload.len();
    [answer.payload[n - 2], answer.payload[n - 1]]
}

#[test]
fn u2f_register_needs_touch_then_works_only_with_batch_attestation() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(u2f_register(&mut ch), [0x69, 0x85], "first: conditions not satisfied (touch needed)");
    assert_eq!(u2f_register(&mut ch), [0x6F, 0x00], "touched, but no attestation certificate to sign with");

    let ca = Arc::new(AttestationCa::generate().unwrap());
    let key = VirtualKey::new(VirtualKeyConfig { attestation: VirtualAttestation::Batch(ca), ..Default::default() });
    let mut ch = Channel::open(key.open().unwrap());
    assert_eq!(u2f_register(&mut ch), [0x69, 0x85]);
    assert_eq!(u2f_register(&mut ch), [0x90, 0x00]);
}

#[test]
fn continuation_packets_more_than_100ms_apart_time_out() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    let reports = frame(ch.cid, CMD_PING, &[7; 100]);
    ch.io.write_report(&reports[0]).unwrap();
    // A deliberate gap (this is what is under test, not a wait for an event).
    std::thread::sleep(Duration::from_millis(200));
    ch.io.write_report(&reports[1]).unwrap();
    let answer = ch.recv(Duration::from_secs(2)).unwrap();
    assert_eq!((answer.cmd, answer.payload), (CMD_ERROR, vec![0x05]), "CTAPHID_ERR_MSG_TIMEOUT");
}

#[test]
fn a_second_client_gets_channel_busy_while_the_key_waits_for_a_touch() {
    let key = VirtualKey::new(VirtualKeyConfig { touch: Touch::Never, ..Default::default() });
    let mut ch = Channel::open(key.open().unwrap());
    ch.send(CMD_CBOR, &[CTAP_RESET]);
    // Wait until the key is in its touch loop (first KEEPALIVE).
    loop {
        let report = ch.io.read_report(Duration::from_secs(2)).unwrap().expect("KEEPALIVE");
        if report[..4] == ch.cid && report[4] == 0x80 | CMD_KEEPALIVE {
            break;
        }
    }
    let mut other = key.open().unwrap();
    send(other.as_mut(), BROADCAST, CMD_INIT, &[9; 8]).unwrap();
    let answer = recv(other.as_mut(), BROADCAST, Duration::from_secs(2)).unwrap().expect("an answer");
    assert_eq!((answer.cmd, answer.payload), (CMD_ERROR, vec![0x06]), "CTAPHID_ERR_CHANNEL_BUSY");
    ch.send(CMD_CANCEL, &[]);
    assert_eq!(ch.recv(Duration::from_secs(2)).unwrap().payload, vec![ERR_KEEPALIVE_CANCEL]);
}

#[test]
fn credential_management_preview_command_is_accepted() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    let metadata = Value::Map(vec![(Value::Integer(1.into()), Value::Integer(1.into()))]);
    // Without a token both answer PUAT_REQUIRED (0x36), i.e. both are understood.
    assert_eq!(ch.ctap(0x41, Some(&metadata), Duration::from_secs(2)).payload, vec![0x36]);
    assert_eq!(ch.ctap(0x0A, Some(&metadata), Duration::from_secs(2)).payload, vec![0x36]);
    assert_eq!(ch.ctap(0x40, None, Duration::from_secs(2)).payload, vec![0x01], "other vendor commands are unknown");
}

#[test]
fn channels_are_numbered_from_one_per_power_up() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    assert_eq!(Channel::open(key.open().unwrap()).cid, [0, 0, 0, 1]);
    assert_eq!(Channel::open(key.open().unwrap()).cid, [0, 0, 0, 2]);
    key.replug();
    assert_eq!(Channel::open(key.open().unwrap()).cid, [0, 0, 0, 1]);
}
