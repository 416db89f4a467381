//! CTAPHID packet layout (CTAP 2.1 §11.2.4): splitting a message into an initialisation
//! packet and continuation packets, and putting replies back together.
//!
//! ```text
//! init:         CID(4) CMD|0x80(1) BCNTH(1) BCNTL(1) DATA(57)
//! continuation: CID(4) SEQ(1, 0..=0x7f)             DATA(59)
//! ```
use crate::key::{KeyError, REPORT_LEN, Report};

/// Payload bytes in an initialisation packet.
pub const INIT_DATA: usize = REPORT_LEN - 7;
/// Payload bytes in a continuation packet.
pub const CONT_DATA: usize = REPORT_LEN - 5;
/// The largest message CTAPHID can carry: one init and 128 continuation packets.
pub const MAX_MESSAGE: usize = INIT_DATA + 128 * CONT_DATA;

/// One received report, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// First packet of a message: command (without the 0x80 bit) and total length.
    #[allow(missing_docs)] // channel, command, total message length, payload bytes
    Init { cid: u32, cmd: u8, len: usize, data: &'a [u8] },
    /// A following packet with its sequence number.
    #[allow(missing_docs)] // channel, sequence number, payload bytes
    Cont { cid: u32, seq: u8, data: &'a [u8] },
}

impl<'a> Packet<'a> {
    /// Classify a report by the high bit of byte 4.
    pub fn parse(report: &'a Report) -> Packet<'a> {
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & 0x80 != 0 {
            let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
            Packet::Init { cid, cmd: report[4] & 0x7f, len, data: &report[7..] }
        } else {
            Packet::Cont { cid, seq: report[4], data: &report[5..] }
        }
    }

    /// The channel the packet belongs to.
    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }
}

/// Split `payload` into reports for channel `cid`; unused bytes are zero.
pub fn fragment(cid: u32, cmd: u8, payload: &[u8]) -> Result<Vec<Report>, KeyError> {
    if payload.len() > MAX_MESSAGE {
        return Err(KeyError::Ctap { code: 0x39, name: "REQUEST_TOO_LARGE" });
    }
    let mut reports = Vec::with_capacity(1 + payload.len().saturating_sub(INIT_DATA).div_ceil(CONT_DATA));
    let mut first = [0u8; REPORT_LEN];
    first[..4].copy_from_slice(&cid.to_be_bytes());
    first[4] = cmd | 0x80;
    // MAX_MESSAGE < 65536, so the length fits the two-byte field.
    first[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    let n = payload.len().min(INIT_DATA);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    reports.push(first);
    for (seq, chunk) in payload[n..].chunks(CONT_DATA).enumerate() {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = seq as u8; // at most 128 chunks: seq <= 0x7f
        r[5..5 + chunk.len()].copy_from_slice(chunk);
        reports.push(r);
    }
    Ok(reports)
}

/// Collects one reply message on one channel.
#[derive(Debug)]
pub struct Assembler {
    cmd: u8,
    len: usize,
    data: Vec<u8>,
    next_seq: u8,
}

impl Assembler {
    /// Start from an initialisation packet.
    pub fn start(cmd: u8, len: usize, data: &[u8]) -> Result<Assembler, KeyError> {
        if len > MAX_MESSAGE {
            return Err(KeyError::Protocol(format!("reply claims {len} bytes, more than CTAPHID can carry")));
        }
        let mut a = Assembler { cmd, len, data: Vec::with_capacity(len), next_seq: 0 };
        a.take(data);
        Ok(a)
    }

    fn take(&mut self, data: &[u8]) {
        let n = (self.len - self.data.len()).min(data.len());
        self.data.extend_from_slice(&data[..n]);
    }

    /// Add a continuation packet; a sequence gap is an error (a report was lost).
    pub fn push(&mut self, seq: u8, data: &[u8]) -> Result<(), KeyError> {
        if seq != self.next_seq {
            return Err(KeyError::Protocol(format!("CTAPHID sequence gap: expected packet {} but got {seq}", self.next_seq)));
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        self.take(data);
        Ok(())
    }

    /// True once every announced byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.data.len() == self.len
    }

    /// The command the reply was sent under.
    pub fn cmd(&self) -> u8 {
        self.cmd
    }

    /// The reassembled message.
    pub fn finish(self) -> Vec<u8> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(reports: &[Report]) -> Vec<u8> {
        let mut a = None;
        for r in reports {
            match Packet::parse(r) {
                Packet::Init { cmd, len, data, .. } => a = Some(Assembler::start(cmd, len, data).unwrap()),
                Packet::Cont { seq, data, .. } => a.as_mut().unwrap().push(seq, data).unwrap(),
            }
        }
        let a = a.unwrap();
        assert!(a.is_complete());
        a.finish()
    }

    #[test]
    fn short_messages_fit_one_packet() {
        let r = fragment(0x0102_0304, 0x10, &[0x04]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(&r[0][..8], &[1, 2, 3, 4, 0x90, 0, 1, 0x04]);
        assert!(r[0][8..].iter().all(|b| *b == 0));
    }

    #[test]
    fn boundaries_split_exactly() {
        for (len, packets) in [(0, 1), (57, 1), (58, 2), (57 + 59, 2), (57 + 59 + 1, 3), (MAX_MESSAGE, 129)] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let r = fragment(7, 0x10, &payload).unwrap();
            assert_eq!(r.len(), packets, "len {len}");
            assert_eq!(reassemble(&r), payload);
            for (i, rep) in r.iter().enumerate().skip(1) {
                assert_eq!(rep[4] as usize, i - 1);
                assert_eq!(&rep[..4], &7u32.to_be_bytes());
            }
        }
        assert!(fragment(7, 0x10, &vec![0; MAX_MESSAGE + 1]).is_err());
    }

    #[test]
    fn sequence_gaps_are_errors() {
        let payload = vec![1u8; 200];
        let r = fragment(7, 0x10, &payload).unwrap();
        let Packet::Init { cmd, len, data, .. } = Packet::parse(&r[0]) else { panic!() };
        let mut a = Assembler::start(cmd, len, data).unwrap();
        let Packet::Cont { data, .. } = Packet::parse(&r[2]) else { panic!() };
        assert!(matches!(a.push(1, data), Err(KeyError::Protocol(_))));
    }
}
