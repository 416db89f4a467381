//! CTAPHID (CTAP 2.1 §11.2): channels, message framing, KEEPALIVE, CANCEL and errors over
//! the 64-byte report seam.
//!
//! Every read is at most [`op::POLL_SLICE`] long; between reads the [`Op`] is checked, so
//! a cancel or a passed deadline sends CTAPHID_CANCEL and returns within ~100 ms, and an
//! unplugged key ([`crate::key::IoError::Removed`]) is reported at once.
#![warn(missing_docs)]
pub mod op;
pub mod packet;

pub use op::{CancelToken, Op};

use crate::key::{KeyError, ReportIo};
use packet::{Assembler, Packet};
use std::time::{Duration, Instant};

/// The broadcast channel, used only for CTAPHID_INIT.
pub const BROADCAST_CID: u32 = 0xffff_ffff;

/// CTAPHID command bytes (without the 0x80 init-packet bit).
pub mod cmd {
    #![allow(missing_docs)] // the spec names say it all
    pub const PING: u8 = 0x01;
    pub const MSG: u8 = 0x03;
    pub const LOCK: u8 = 0x04;
    pub const INIT: u8 = 0x06;
    pub const WINK: u8 = 0x08;
    pub const CBOR: u8 = 0x10;
    pub const CANCEL: u8 = 0x11;
    pub const KEEPALIVE: u8 = 0x3b;
    pub const ERROR: u8 = 0x3f;
}

/// CTAPHID_INIT capability flags.
pub mod capability {
    #![allow(missing_docs)] // the spec names say it all
    pub const WINK: u8 = 0x01;
    pub const CBOR: u8 = 0x04;
    pub const NMSG: u8 = 0x08;
}

/// KEEPALIVE status: still working.
pub const KEEPALIVE_PROCESSING: u8 = 1;
/// KEEPALIVE status: waiting for the person to touch the key.
pub const KEEPALIVE_UPNEEDED: u8 = 2;

/// CTAPHID error code for "channel busy" (another channel has a transaction open).
const ERR_CHANNEL_BUSY: u8 = 0x06;
/// CTAPHID error: a continuation packet arrived out of sequence.
const ERR_INVALID_SEQ: u8 = 0x04;
/// CTAPHID error: the rest of a message did not arrive in time.
const ERR_MSG_TIMEOUT: u8 = 0x05;
/// How often a message the key did not receive whole is sent again.
const MAX_RESENDS: u32 = 3;

/// How long to wait for the key's answer to a CANCEL before giving up on it.
const CANCEL_DRAIN: Duration = Duration::from_millis(150);

/// The message size CTAP assumes when getInfo does not state one.
pub const DEFAULT_MAX_MSG_SIZE: usize = 1024;

/// What CTAPHID_INIT told us about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct InitInfo {
    /// The channel the key allocated for us.
    pub cid: u32,
    /// CTAPHID protocol version (2).
    pub protocol_version: u8,
    /// Device version major.minor.build.
    pub device_version: (u8, u8, u8),
    /// Capability flags ([`capability`]).
    pub capabilities: u8,
}

/// One key's CTAPHID endpoint: owns the report I/O and a channel.
pub struct CtapHid {
    io: Box<dyn ReportIo>,
    info: InitInfo,
    max_msg_size: usize,
    /// Set after a transaction ended without its reply (cancel, deadline, protocol
    /// error): a late reply could be mistaken for the next one, so the next
    /// transaction first allocates a fresh channel.
    stale: bool,
}

impl std::fmt::Debug for CtapHid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtapHid").field("info", &self.info).field("max_msg_size", &self.max_msg_size).finish()
    }
}

impl CtapHid {
    /// Allocate a channel with CTAPHID_INIT. A device that does not answer INIT, or
    /// answers without the CBOR capability, is not a FIDO2 key.
    pub fn open(io: Box<dyn ReportIo>, op: &Op<'_>) -> Result<CtapHid, KeyError> {
        let mut hid = CtapHid {
            io,
            info: InitInfo { cid: BROADCAST_CID, protocol_version: 0, device_version: (0, 0, 0), capabilities: 0 },
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            stale: false,
        };
        hid.info = hid.init(op)?.ok_or_else(|| KeyError::NotFido(format!("no answer to CTAPHID_INIT within {:?}", op.elapsed())))?;
        if hid.info.capabilities & capability::CBOR == 0 {
            return Err(KeyError::NotFido("it answers CTAPHID but only speaks U2F (no CBOR capability); keystation needs a FIDO2 key".into()));
        }
        Ok(hid)
    }

    /// The INIT answer (channel, versions, capabilities).
    pub fn init_info(&self) -> InitInfo {
        self.info
    }

    /// Use the key's `maxMsgSize` from getInfo for CBOR requests.
    pub fn set_max_msg_size(&mut self, size: usize) {
        self.max_msg_size = size.clamp(64, packet::MAX_MESSAGE);
    }

    /// The largest CBOR request (command byte included) the key accepts.
    pub fn max_msg_size(&self) -> usize {
        self.max_msg_size
    }

    /// CTAPHID_INIT on the broadcast channel; `None` when the deadline passed unanswered.
    fn init(&mut self, op: &Op<'_>) -> Result<Option<InitInfo>, KeyError> {
        let mut nonce = [0u8; 8];
        getrandom::getrandom(&mut nonce).map_err(|e| KeyError::Transport(format!("no randomness for CTAPHID_INIT: {e}")))?;
        let request = packet::fragment(BROADCAST_CID, cmd::INIT, &nonce)?;
        self.io.write_report(&request[0])?;
        loop {
            if op.is_cancelled() {
                return Err(KeyError::Cancelled);
            }
            if op.is_expired() {
                return Ok(None);
            }
            let Some(report) = self.io.read_report(op.slice())? else { continue };
            // Other programs may be allocating channels at the same time: only an INIT
            // answer on the broadcast channel carrying our nonce is ours.
            match Packet::parse(&report) {
                Packet::Init { cid: BROADCAST_CID, cmd: cmd::INIT, len, data } if len >= 17 && data[..8] == nonce => {
                    let cid = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
                    if cid == BROADCAST_CID || cid == 0 {
                        return Err(KeyError::NotFido(format!("CTAPHID_INIT allocated the invalid channel {cid:#010x}")));
                    }
                    return Ok(Some(InitInfo { cid, protocol_version: data[12], device_version: (data[13], data[14], data[15]), capabilities: data[16] }));
                }
                // A key busy with another channel (e.g. waiting for a touch there)
                // refuses even INIT; ask again until the deadline.
                Packet::Init { cid: BROADCAST_CID, cmd: cmd::ERROR, data, .. } if data[0] == ERR_CHANNEL_BUSY => {
                    if op.sleep(Duration::from_millis(50)).is_err() {
                        continue; // the loop head reports cancel or the deadline
                    }
                    self.io.write_report(&request[0])?;
                }
                Packet::Init { cid: BROADCAST_CID, cmd: cmd::ERROR, data, .. } => {
                    return Err(KeyError::NotFido(format!("CTAPHID_INIT failed with error 0x{:02x}", data[0])));
                }
                _ => continue,
            }
        }
    }

    /// Send a CTAP2 CBOR request (`command` byte followed by `cbor`) and return the reply
    /// (status byte followed by CBOR).
    pub fn cbor(&mut self, command: u8, cbor: &[u8], op: &Op<'_>) -> Result<Vec<u8>, KeyError> {
        let mut msg = Vec::with_capacity(1 + cbor.len());
        msg.push(command);
        msg.extend_from_slice(cbor);
        if msg.len() > self.max_msg_size {
            return Err(KeyError::Ctap { code: 0x39, name: "REQUEST_TOO_LARGE" });
        }
        let reply = self.transact(cmd::CBOR, &msg, op)?;
        if reply.is_empty() {
            return Err(KeyError::Protocol("empty CTAP2 reply (no status byte)".into()));
        }
        Ok(reply)
    }

    /// CTAPHID_PING: echo `data`.
    pub fn ping(&mut self, data: &[u8], op: &Op<'_>) -> Result<Vec<u8>, KeyError> {
        self.transact(cmd::PING, data, op)
    }

    /// CTAPHID_WINK: ask the key to blink, if it can.
    pub fn wink(&mut self, op: &Op<'_>) -> Result<(), KeyError> {
        if self.info.capabilities & capability::WINK == 0 {
            return Err(KeyError::Unsupported("wink (blinking on request)".into()));
        }
        self.transact(cmd::WINK, &[], op).map(|_| ())
    }

    /// One request/reply exchange, retrying while the key says its channel is busy.
    pub fn transact(&mut self, command: u8, payload: &[u8], op: &Op<'_>) -> Result<Vec<u8>, KeyError> {
        let mut backoff = Duration::from_millis(20);
        let mut resends = 0;
        loop {
            op.check()?;
            if self.stale {
                match self.init(op)? {
                    Some(info) => self.info.cid = info.cid,
                    None => return Err(op.expired_error()),
                }
                self.stale = false;
            }
            for r in packet::fragment(self.info.cid, command, payload)? {
                self.io.write_report(&r)?;
            }
            match self.receive(command, op) {
                Err(Busy) => {
                    // Another application holds the key; wait a little and try again until
                    // our deadline.
                    op.sleep(backoff)?;
                    backoff = (backoff * 2).min(Duration::from_millis(400));
                }
                Err(Garbled(code)) if resends < MAX_RESENDS => {
                    // The key dropped our message unexecuted (a packet came too late or
                    // was lost): sending it again is safe.
                    resends += 1;
                    tracing::debug!(code, resends, "key did not receive the whole message; sending it again");
                }
                Err(Garbled(code)) => {
                    self.stale = true;
                    return Err(hid_error(code));
                }
                Err(Failed(e)) => {
                    if !matches!(e, KeyError::Removed) {
                        self.stale = true;
                    }
                    return Err(e);
                }
                Ok(reply) => return Ok(reply),
            }
        }
    }

    fn receive(&mut self, command: u8, op: &Op<'_>) -> Result<Vec<u8>, ReceiveError> {
        let mut assembler: Option<Assembler> = None;
        loop {
            if op.is_cancelled() {
                self.cancel_pending(op);
                return Err(Failed(KeyError::Cancelled));
            }
            if op.is_expired() {
                let e = op.expired_error();
                self.cancel_pending(op);
                return Err(Failed(e));
            }
            let Some(report) = self.io.read_report(op.slice()).map_err(|e| Failed(e.into()))? else { continue };
            let pkt = Packet::parse(&report);
            if pkt.cid() != self.info.cid {
                // Another application's channel (or the broadcast INIT of someone else).
                continue;
            }
            match pkt {
                Packet::Init { cmd: cmd::KEEPALIVE, data, .. } => {
                    if data[0] == KEEPALIVE_UPNEEDED {
                        op.user_presence_needed();
                    }
                }
                Packet::Init { cmd: cmd::ERROR, data, .. } => {
                    if data[0] == ERR_CHANNEL_BUSY {
                        return Err(Busy);
                    }
                    if data[0] == ERR_INVALID_SEQ || data[0] == ERR_MSG_TIMEOUT {
                        return Err(Garbled(data[0]));
                    }
                    return Err(Failed(hid_error(data[0])));
                }
                Packet::Init { cmd, len, data, .. } => {
                    if cmd != command {
                        return Err(Failed(KeyError::Protocol(format!("the key answered command 0x{command:02x} with 0x{cmd:02x}"))));
                    }
                    if assembler.is_some() {
                        return Err(Failed(KeyError::Protocol("a new reply started before the previous one ended".into())));
                    }
                    let a = Assembler::start(cmd, len, data).map_err(Failed)?;
                    op.key_answered();
                    if a.is_complete() {
                        return Ok(a.finish());
                    }
                    assembler = Some(a);
                }
                Packet::Cont { seq, data, .. } => {
                    // A continuation without its start belongs to a reply we gave up on.
                    let Some(a) = assembler.as_mut() else { continue };
                    a.push(seq, data).map_err(Failed)?;
                    if a.is_complete() {
                        return Ok(assembler.take().map(Assembler::finish).unwrap_or_default());
                    }
                }
            }
        }
    }

    /// Send CTAPHID_CANCEL and give the key a moment to answer the pending request (with
    /// KEEPALIVE_CANCEL). Failures are ignored: the caller already has its error.
    fn cancel_pending(&mut self, _op: &Op<'_>) {
        let Ok(reports) = packet::fragment(self.info.cid, cmd::CANCEL, &[]) else { return };
        if self.io.write_report(&reports[0]).is_err() {
            return;
        }
        let until = Instant::now() + CANCEL_DRAIN;
        while let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            match self.io.read_report(left.min(op::POLL_SLICE)) {
                Ok(Some(r)) => {
                    if let Packet::Init { cid, cmd, .. } = Packet::parse(&r)
                        && cid == self.info.cid
                        && cmd != cmd::KEEPALIVE
                    {
                        // The pending request is finished; the channel is clean again.
                        return;
                    }
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    }
}

enum ReceiveError {
    /// CTAPHID ERR_CHANNEL_BUSY: retry later.
    Busy,
    /// ERR_INVALID_SEQ / ERR_MSG_TIMEOUT: the key discarded an incomplete request.
    Garbled(u8),
    Failed(KeyError),
}
use ReceiveError::{Busy, Failed, Garbled};

/// Map a CTAPHID_ERROR code to an error.
fn hid_error(code: u8) -> KeyError {
    match code {
        0x01 => KeyError::Unsupported("this CTAPHID command".into()),
        0x06 | 0x0A => KeyError::Busy,
        _ => KeyError::from_status(code, crate::key::error::StatusContext::Generic),
    }
}

#[cfg(test)]
mod tests;
