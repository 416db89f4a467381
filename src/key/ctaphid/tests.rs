//! CTAPHID framing and transaction rules against a scripted fake device.
use super::*;
use crate::key::{IoError, REPORT_LEN, Report};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What the fake does with each report the host writes.
type Responder = Box<dyn FnMut(&Report, &mut Script) + Send>;

/// Replies waiting to be read, each with the time it becomes readable.
#[derive(Default)]
struct Script {
    queue: VecDeque<(Instant, Result<Report, IoError>)>,
}

impl Script {
    fn after(&mut self, delay: Duration, r: Report) {
        self.queue.push_back((Instant::now() + delay, Ok(r)));
    }
    fn now(&mut self, r: Report) {
        self.after(Duration::ZERO, r);
    }
    fn removed_after(&mut self, delay: Duration) {
        self.queue.push_back((Instant::now() + delay, Err(IoError::Removed)));
    }
}

struct Fake {
    written: Arc<Mutex<Vec<Report>>>,
    script: Script,
    respond: Responder,
}

impl ReportIo for Fake {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        self.written.lock().unwrap().push(*report);
        (self.respond)(report, &mut self.script);
        Ok(())
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        let limit = Instant::now() + timeout;
        match self.script.queue.front() {
            Some((at, _)) if *at <= limit => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                self.script.queue.pop_front().map(|(_, r)| r).transpose()
            }
            _ => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

const CID: u32 = 0x1122_3344;

fn report(cid: u32, cmd: u8, data: &[u8]) -> Report {
    packet::fragment(cid, cmd, data).unwrap()[0]
}

/// INIT answer for `req` (the host's INIT packet) on `cid` with `caps`.
fn init_reply(req: &Report, cid: u32, caps: u8) -> Report {
    let mut d = req[7..15].to_vec();
    d.extend_from_slice(&cid.to_be_bytes());
    d.extend_from_slice(&[2, 1, 2, 3, caps]);
    report(BROADCAST_CID, cmd::INIT, &d)
}

fn is_init(r: &Report) -> bool {
    r[..4] == BROADCAST_CID.to_be_bytes() && r[4] == 0x80 | cmd::INIT
}

/// A fake that answers INIT properly and passes every other packet to `rest`.
fn fake(mut rest: impl FnMut(&Report, &mut Script) + Send + 'static) -> (Box<dyn ReportIo>, Arc<Mutex<Vec<Report>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let f = Fake {
        written: written.clone(),
        script: Script::default(),
        respond: Box::new(move |r, s| {
            if is_init(r) {
                s.now(init_reply(r, CID, capability::CBOR | capability::WINK));
            } else {
                rest(r, s)
            }
        }),
    };
    (Box::new(f), written)
}

fn op(timeout_ms: u64) -> Op<'static> {
    Op::new(Duration::from_millis(timeout_ms), Duration::from_millis(timeout_ms), CancelToken::new(), None)
}

#[test]
fn init_ignores_foreign_answers_and_takes_the_right_channel() {
    let written = Arc::new(Mutex::new(Vec::new()));
    let f = Fake {
        written: written.clone(),
        script: Script::default(),
        respond: Box::new(|r, s| {
            if is_init(r) {
                let mut wrong_nonce = *r;
                wrong_nonce[7] ^= 0xff;
                s.now(init_reply(&wrong_nonce, 0x5555_5555, capability::CBOR));
                s.now(report(0x0101_0101, cmd::INIT, &[0; 17]));
                s.now(init_reply(r, CID, capability::CBOR));
            }
        }),
    };
    let hid = CtapHid::open(Box::new(f), &op(1000)).unwrap();
    assert_eq!(hid.init_info().cid, CID);
    assert_eq!(hid.init_info().device_version, (1, 2, 3));
}

#[test]
fn u2f_only_devices_are_not_fido2_keys() {
    let f = Fake {
        written: Default::default(),
        script: Script::default(),
        respond: Box::new(|r, s| {
            if is_init(r) {
                s.now(init_reply(r, CID, capability::WINK));
            }
        }),
    };
    assert!(matches!(CtapHid::open(Box::new(f), &op(1000)), Err(KeyError::NotFido(_))));
}

#[test]
fn silent_devices_are_not_fido2_keys_and_fail_by_the_deadline() {
    let f = Fake { written: Default::default(), script: Script::default(), respond: Box::new(|_, _| {}) };
    let t = Instant::now();
    assert!(matches!(CtapHid::open(Box::new(f), &op(300)), Err(KeyError::NotFido(_))));
    assert!(t.elapsed() < Duration::from_millis(800));
}

#[test]
fn long_messages_are_fragmented_and_reassembled_ignoring_other_channels() {
    // Echo the request back, interleaving another channel's traffic.
    let mut got: Option<Assembler> = None;
    let (io, written) = fake(move |r, s| match Packet::parse(r) {
        Packet::Init { cmd, len, data, .. } => {
            got = Some(Assembler::start(cmd, len, data).unwrap());
            if got.as_ref().unwrap().is_complete() {
                let msg = got.take().unwrap().finish();
                for p in packet::fragment(CID, cmd::PING, &msg).unwrap() {
                    s.now(report(0x7777_7777, cmd::PING, &[9; 10]));
                    s.now(p);
                }
            }
        }
        Packet::Cont { seq, data, .. } => {
            let a = got.as_mut().unwrap();
            a.push(seq, data).unwrap();
            if a.is_complete() {
                let msg = got.take().unwrap().finish();
                for p in packet::fragment(CID, cmd::PING, &msg).unwrap() {
                    s.now(report(0x7777_7777, cmd::PING, &[9; 10]));
                    s.now(p);
                }
            }
        }
    });
    let o = op(2000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(hid.ping(&payload, &o).unwrap(), payload);
    // 1 INIT + 1 init packet + ceil((1000-57)/59) = 16 continuation packets
    assert_eq!(written.lock().unwrap().len(), 1 + 1 + 16);
}

#[test]
fn sequence_gaps_are_protocol_errors() {
    let (io, _) = fake(|_, s| {
        let parts = packet::fragment(CID, cmd::CBOR, &[0u8; 200]).unwrap();
        s.now(parts[0]);
        s.now(parts[2]);
    });
    let o = op(1000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert!(matches!(hid.cbor(0x04, &[], &o), Err(KeyError::Protocol(_))));
}

#[test]
fn keepalive_upneeded_prompts_once() {
    let (io, _) = fake(|_, s| {
        s.now(report(CID, cmd::KEEPALIVE, &[KEEPALIVE_PROCESSING]));
        for i in 1..5 {
            s.after(Duration::from_millis(10 * i), report(CID, cmd::KEEPALIVE, &[KEEPALIVE_UPNEEDED]));
        }
        s.after(Duration::from_millis(60), report(CID, cmd::CBOR, &[0x00]));
    });
    let count = Cell::new(0);
    let cb = || count.set(count.get() + 1);
    let o = Op::new(Duration::from_secs(2), Duration::from_secs(2), CancelToken::new(), Some(&cb));
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert_eq!(hid.cbor(0x07, &[], &o).unwrap(), vec![0x00]);
    assert_eq!(count.get(), 1);
}

/// A key that sends UPNEEDED every 50 ms forever and answers CANCEL with KEEPALIVE_CANCEL.
fn waiting_for_touch() -> (Box<dyn ReportIo>, Arc<Mutex<Vec<Report>>>) {
    fake(|r, s| {
        if r[4] == 0x80 | cmd::CANCEL {
            s.queue.clear();
            s.now(report(CID, cmd::CBOR, &[0x2d]));
        } else {
            for i in 0..200 {
                s.after(Duration::from_millis(50 * i), report(CID, cmd::KEEPALIVE, &[KEEPALIVE_UPNEEDED]));
            }
        }
    })
}

fn sent_cancel(written: &Arc<Mutex<Vec<Report>>>) -> bool {
    written.lock().unwrap().iter().any(|r| r[..4] == CID.to_be_bytes() && r[4] == 0x80 | cmd::CANCEL)
}

#[test]
fn cancel_sends_ctaphid_cancel_and_returns_quickly() {
    let (io, written) = waiting_for_touch();
    let token = CancelToken::new();
    let o = Op::new(Duration::from_secs(5), Duration::from_secs(30), token.clone(), None);
    let mut hid = CtapHid::open(io, &o).unwrap();
    let t2 = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        t2.cancel();
        Instant::now()
    });
    let r = hid.cbor(0x07, &[], &o);
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(r, Err(KeyError::Cancelled));
    assert!(cancelled_at.elapsed() < Duration::from_millis(500));
    assert!(sent_cancel(&written));
}

#[test]
fn a_passed_touch_deadline_cancels_and_reports_user_action_timeout() {
    let (io, written) = waiting_for_touch();
    let o = Op::new(Duration::from_millis(100), Duration::from_millis(300), CancelToken::new(), None);
    let mut hid = CtapHid::open(io, &o).unwrap();
    let t = Instant::now();
    assert_eq!(hid.cbor(0x07, &[], &o), Err(KeyError::UserActionTimeout));
    assert!(t.elapsed() >= Duration::from_millis(250) && t.elapsed() < Duration::from_millis(1000));
    assert!(sent_cancel(&written));
}

#[test]
fn a_silent_key_times_out_and_the_next_transaction_gets_a_new_channel() {
    let calls = Arc::new(Mutex::new(0));
    let c2 = calls.clone();
    let (io, written) = fake(move |r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            let mut n = c2.lock().unwrap();
            *n += 1;
            if *n > 1 {
                s.now(report(CID, cmd::CBOR, &[0x00, 0xa0]));
            }
        }
    });
    let o = op(300);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert!(matches!(hid.cbor(0x04, &[], &o), Err(KeyError::Timeout(_))));
    let o2 = op(1000);
    assert_eq!(hid.cbor(0x04, &[], &o2).unwrap(), vec![0x00, 0xa0]);
    let inits = written.lock().unwrap().iter().filter(|r| is_init(r)).count();
    assert_eq!(inits, 2);
}

#[test]
fn busy_channels_are_retried() {
    let mut n = 0;
    let (io, written) = fake(move |r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            n += 1;
            if n < 3 {
                s.now(report(CID, cmd::ERROR, &[0x06]));
            } else {
                s.now(report(CID, cmd::CBOR, &[0x00]));
            }
        }
    });
    let o = op(2000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert_eq!(hid.cbor(0x04, &[], &o).unwrap(), vec![0x00]);
    assert_eq!(written.lock().unwrap().iter().filter(|r| r[4] == 0x80 | cmd::CBOR).count(), 3);
}

#[test]
fn busy_forever_ends_at_the_deadline() {
    let (io, _) = fake(|r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            s.now(report(CID, cmd::ERROR, &[0x06]));
        }
    });
    let o = op(400);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert!(matches!(hid.cbor(0x04, &[], &o), Err(KeyError::Timeout(_))));
}

#[test]
fn error_packets_are_typed() {
    let (io, _) = fake(|r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            s.now(report(CID, cmd::ERROR, &[0x0b]));
        }
    });
    let o = op(1000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert_eq!(hid.cbor(0x04, &[], &o), Err(KeyError::Ctap { code: 0x0b, name: "INVALID_CHANNEL" }));
}

#[test]
fn a_message_the_key_did_not_receive_whole_is_sent_again_a_few_times() {
    let mut n = 0;
    let (io, written) = fake(move |r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            n += 1;
            s.now(if n < 3 { report(CID, cmd::ERROR, &[0x05]) } else { report(CID, cmd::CBOR, &[0x00]) });
        }
    });
    let o = op(1000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert_eq!(hid.cbor(0x04, &[], &o).unwrap(), vec![0x00]);
    assert_eq!(written.lock().unwrap().iter().filter(|r| r[4] == 0x80 | cmd::CBOR).count(), 3);

    let (io, _) = fake(|r, s| {
        if r[4] == 0x80 | cmd::CBOR {
            s.now(report(CID, cmd::ERROR, &[0x04]));
        }
    });
    let mut hid = CtapHid::open(io, &o).unwrap();
    assert_eq!(hid.cbor(0x04, &[], &o), Err(KeyError::Ctap { code: 0x04, name: "INVALID_SEQ" }));
}

#[test]
fn removal_is_reported_at_once() {
    let (io, _) = fake(|_, s| {
        s.now(report(CID, cmd::KEEPALIVE, &[KEEPALIVE_UPNEEDED]));
        s.removed_after(Duration::from_millis(100));
    });
    let o = op(5000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    let t = Instant::now();
    assert_eq!(hid.cbor(0x07, &[], &o), Err(KeyError::Removed));
    assert!(t.elapsed() < Duration::from_millis(600));
}

#[test]
fn requests_above_max_msg_size_are_refused_before_sending() {
    let (io, written) = fake(|_, _| {});
    let o = op(1000);
    let mut hid = CtapHid::open(io, &o).unwrap();
    hid.set_max_msg_size(200);
    let before = written.lock().unwrap().len();
    assert_eq!(hid.cbor(0x01, &[0u8; 200], &o), Err(KeyError::Ctap { code: 0x39, name: "REQUEST_TOO_LARGE" }));
    assert_eq!(written.lock().unwrap().len(), before);
    assert_eq!(REPORT_LEN, 64);
}

#[test]
fn init_is_retried_while_the_key_is_busy_with_another_channel() {
    let mut n = 0;
    let f = Fake {
        written: Default::default(),
        script: Script::default(),
        respond: Box::new(move |r, s| {
            if is_init(r) {
                n += 1;
                if n < 3 {
                    s.now(report(BROADCAST_CID, cmd::ERROR, &[0x06]));
                } else {
                    s.now(init_reply(r, CID, capability::CBOR));
                }
            }
        }),
    };
    let hid = CtapHid::open(Box::new(f), &op(2000)).unwrap();
    assert_eq!(hid.init_info().cid, CID);
}
