//! A deliberately tiny, independent CTAPHID host for testing the virtual key at the
//! report level (it does not use keystation's own CTAPHID code on purpose).
#![allow(dead_code)]
use ciborium::Value;
use keystation::key::{IoError, Report, ReportIo};
use std::time::{Duration, Instant};

pub const CMD_PING: u8 = 0x01;
pub const CMD_INIT: u8 = 0x06;
pub const CMD_CBOR: u8 = 0x10;
pub const CMD_CANCEL: u8 = 0x11;
pub const CMD_KEEPALIVE: u8 = 0x3B;
pub const CMD_ERROR: u8 = 0x3F;

pub const CTAP_GET_INFO: u8 = 0x04;
pub const CTAP_MAKE_CREDENTIAL: u8 = 0x01;
pub const CTAP_CLIENT_PIN: u8 = 0x06;
pub const CTAP_RESET: u8 = 0x07;

pub const OK: u8 = 0x00;
pub const ERR_LIMIT_EXCEEDED: u8 = 0x15;
pub const ERR_OPERATION_DENIED: u8 = 0x27;
pub const ERR_KEEPALIVE_CANCEL: u8 = 0x2D;
pub const ERR_USER_ACTION_TIMEOUT: u8 = 0x2F;
pub const ERR_NOT_ALLOWED: u8 = 0x30;

pub const BROADCAST: [u8; 4] = [0xFF; 4];

/// One assembled CTAPHID message.
#[derive(Debug, Clone)]
pub struct Message {
    pub cmd: u8,
    pub payload: Vec<u8>,
    /// KEEPALIVE statuses seen on our channel before the message.
    pub keepalives: Vec<u8>,
}

/// Split a message into 64-byte reports.
pub fn frame(cid: [u8; 4], cmd: u8, payload: &[u8]) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut first = [0u8; 64];
    first[..4].copy_from_slice(&cid);
    first[4] = 0x80 | cmd;
    first[5] = (payload.len() >> 8) as u8;
    first[6] = payload.len() as u8;
    let n = payload.len().min(57);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    reports.push(first);
    let mut rest = &payload[n..];
    let mut seq = 0u8;
    while !rest.is_empty() {
        let mut cont = [0u8; 64];
        cont[..4].copy_from_slice(&cid);
        cont[4] = seq;
        let n = rest.len().min(59);
        cont[5..5 + n].copy_from_slice(&rest[..n]);
        reports.push(cont);
        rest = &rest[n..];
        seq += 1;
    }
    reports
}

pub fn send(io: &mut dyn ReportIo, cid: [u8; 4], cmd: u8, payload: &[u8]) -> Result<(), IoError> {
    for report in frame(cid, cmd, payload) {
        io.write_report(&report)?;
    }
    Ok(())
}

/// Read one message on `cid`, skipping other channels and collecting keepalives.
pub fn recv(io: &mut dyn ReportIo, cid: [u8; 4], timeout: Duration) -> Result<Option<Message>, IoError> {
    let deadline = Instant::now() + timeout;
    let mut keepalives = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(report) = io.read_report(left)? else { return Ok(None) };
        if report[..4] != cid || report[4] & 0x80 == 0 {
            continue;
        }
        let cmd = report[4] & 0x7F;
        if cmd == CMD_KEEPALIVE {
            keepalives.push(report[7]);
            continue;
        }
        let len = (usize::from(report[5]) << 8) | usize::from(report[6]);
        let mut payload = report[7..7 + len.min(57)].to_vec();
        let mut seq = 0u8;
        while payload.len() < len {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(cont) = io.read_report(left)? else { return Ok(None) };
            if cont[..4] != cid {
                continue;
            }
            assert_eq!(cont[4], seq, "continuation packet out of sequence");
            seq += 1;
            let n = (len - payload.len()).min(59);
            payload.extend_from_slice(&cont[5..5 + n]);
        }
        return Ok(Some(Message { cmd, payload, keepalives }));
    }
}

/// A CTAPHID channel on one open handle.
pub struct Channel {
    pub io: Box<dyn ReportIo>,
    pub cid: [u8; 4],
    /// The INIT response payload (nonce, cid, versions, capabilities).
    pub init: Vec<u8>,
}

impl Channel {
    /// Allocate a channel with CTAPHID_INIT on the broadcast channel.
    pub fn open(mut io: Box<dyn ReportIo>) -> Channel {
        let nonce: [u8; 8] = rand::random();
        send(io.as_mut(), BROADCAST, CMD_INIT, &nonce).expect("write INIT");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = recv(io.as_mut(), BROADCAST, left).expect("read INIT").expect("INIT answered within 5 s");
            if msg.cmd == CMD_INIT && msg.payload.len() >= 17 && msg.payload[..8] == nonce {
                let cid = [msg.payload[8], msg.payload[9], msg.payload[10], msg.payload[11]];
                return Channel { io, cid, init: msg.payload };
            }
        }
    }

    pub fn send(&mut self, cmd: u8, payload: &[u8]) {
        send(self.io.as_mut(), self.cid, cmd, payload).expect("write");
    }

    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        recv(self.io.as_mut(), self.cid, timeout).expect("read")
    }

    /// Send a CTAP2 command (command byte + optional CBOR parameters) and return the
    /// whole CTAPHID_CBOR answer.
    pub fn ctap(&mut self, command: u8, params: Option<&Value>, timeout: Duration) -> Message {
        let mut payload = vec![command];
        if let Some(params) = params {
            ciborium::into_writer(params, &mut payload).expect("encode CBOR");
        }
        self.send(CMD_CBOR, &payload);
        let msg = self.recv(timeout).expect("the key answered in time");
        assert_eq!(msg.cmd, CMD_CBOR, "expected a CBOR answer, got {msg:?}");
        msg
    }

    /// Status byte and decoded body of a CTAP2 command.
    pub fn ctap_ok(&mut self, command: u8, params: Option<&Value>) -> Value {
        let msg = self.ctap(command, params, Duration::from_secs(10));
        assert_eq!(msg.payload[0], OK, "CTAP status 0x{:02X}", msg.payload[0]);
        ciborium::from_reader(&msg.payload[1..]).expect("CBOR body")
    }
}

/// Look an integer key up in a CBOR map.
pub fn map_get(value: &Value, key: i64) -> Option<&Value> {
    value.as_map()?.iter().find(|(k, _)| k.as_integer().is_some_and(|i| i128::from(i) == i128::from(key))).map(|(_, v)| v)
}

/// Look a text key up in a CBOR map.
pub fn map_text(value: &Value, key: &str) -> Option<Value> {
    value.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v.clone())
}

/// A makeCredential request with canonical key order (OpenSK's CBOR reader insists on it).
pub fn make_credential_params(rp_id: &str, rk: bool) -> Value {
    let int = |i: i64| Value::Integer(i.into());
    let text = |s: &str| Value::Text(s.to_string());
    let mut params = vec![
        (int(1), Value::Bytes(vec![0x42; 32])),
        (int(2), Value::Map(vec![(text("id"), text(rp_id))])),
        (
            int(3),
            Value::Map(vec![(text("id"), Value::Bytes(rand::random::<[u8; 16]>().to_vec())), (text("name"), text("alice"))]),
        ),
        (int(4), Value::Array(vec![Value::Map(vec![(text("alg"), int(-7)), (text("type"), text("public-key"))])])),
    ];
    if rk {
        params.push((int(7), Value::Map(vec![(text("rk"), Value::Bool(true))])));
    }
    Value::Map(params)
}
