//! CTAPHID: splitting and reassembling messages, and a whole exchange with a key that
//! answers anything.
use super::parser_targets::{AfterScript, ScriptedKey, SCRIPTED_CID};
use super::support::{cases, check_error_text, KEY_ERROR_MAX_CHARS};
use keystation::key::ctap2::info::decode_info;
use keystation::key::ctaphid::packet::{fragment, Assembler, Packet, MAX_MESSAGE};
use keystation::key::ctaphid::{cmd, CancelToken, CtapHid, Op};
use keystation::key::report::{Report, REPORT_LEN};
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// The client's deadlines in these cases: short, so that a silent key costs little.
const OP_TIMEOUT: Duration = Duration::from_millis(20);
const TOUCH_TIMEOUT: Duration = Duration::from_millis(60);
/// "No hang": far above what the deadlines allow (CANCEL drain included), far below a hang.
const NO_HANG: Duration = Duration::from_secs(5);
/// Where an answer is expected (the channel opening, a reply that is all there): generous,
/// so that a loaded machine does not fail the case.
const ANSWER_EXPECTED: Duration = Duration::from_secs(5);

fn reassemble(reports: &[Report]) -> Result<Option<(u8, Vec<u8>)>, keystation::key::KeyError> {
    let mut a: Option<Assembler> = None;
    for r in reports {
        match Packet::parse(r) {
            Packet::Init { cmd, len, data, .. } => a = Some(Assembler::start(cmd, len, data)?),
            Packet::Cont { seq, data, .. } => match a.as_mut() {
                Some(a) => a.push(seq, data)?,
                None => continue,
            },
        }
        if a.as_ref().is_some_and(Assembler::is_complete) {
            let a = a.take().expect("checked");
            return Ok(Some((a.cmd(), a.finish())));
        }
    }
    Ok(None)
}

/// One report of a hostile reply: noise, noise on our channel, KEEPALIVEs, errors.
fn hostile_report() -> impl Strategy<Value = Report> {
    let raw = proptest::collection::vec(any::<u8>(), REPORT_LEN).prop_map(|v| <Report>::try_from(v.as_slice()).expect("64 bytes"));
    prop_oneof![
        2 => raw.clone(),
        4 => raw.clone().prop_map(|mut r| {
            r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
            r
        }),
        2 => (1u8..=2).prop_map(|status| {
            let mut r = [0u8; REPORT_LEN];
            r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
            r[4] = 0x80 | cmd::KEEPALIVE;
            r[6] = 1;
            r[7] = status;
            r
        }),
        1 => any::<u8>().prop_map(|code| {
            let mut r = [0u8; REPORT_LEN];
            r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
            r[4] = 0x80 | cmd::ERROR;
            r[6] = 1;
            r[7] = code;
            r
        }),
    ]
}

fn open(script: Vec<Report>, after: AfterScript) -> Result<CtapHid, keystation::key::KeyError> {
    let op = Op::new(ANSWER_EXPECTED, ANSWER_EXPECTED, CancelToken::new(), None);
    CtapHid::open(Box::new(ScriptedKey::new(script, after)), &op)
}

proptest! {
    #![proptest_config(cases(256))]

    /// Any message CTAPHID can carry comes back whole, whatever its channel and command.
    #[test]
    fn fragments_reassemble_to_the_message(cid in any::<u32>(), command in 0u8..0x80, payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let reports = fragment(cid, command, &payload).unwrap();
        prop_assert!(reports.iter().all(|r| Packet::parse(r).cid() == cid));
        prop_assert_eq!(reassemble(&reports).unwrap(), Some((command, payload)));
    }

    /// Any sequence of reports: an answer or an error, never a panic, and never more
    /// bytes than the init packet announced.
    #[test]
    fn arbitrary_reports_never_break_reassembly(reports in proptest::collection::vec(proptest::collection::vec(any::<u8>(), REPORT_LEN), 0..20)) {
        let reports: Vec<Report> = reports.iter().map(|r| <Report>::try_from(r.as_slice()).expect("64 bytes")).collect();
        if let Ok(Some((_, message))) = reassemble(&reports) {
            let announced = reports.iter().find_map(|r| match Packet::parse(r) { Packet::Init { len, .. } => Some(len), _ => None });
            prop_assert!(announced.is_some_and(|len| message.len() <= len && len <= MAX_MESSAGE));
        }
    }
}

proptest! {
    // Each case opens a channel and may wait out a short deadline: fewer cases.
    #![proptest_config(cases(48))]

    /// A reply split into reports, with other applications' traffic and KEEPALIVEs in
    /// between, is received whole.
    #[test]
    fn a_reply_among_noise_is_received(payload in proptest::collection::vec(any::<u8>(), 1..600), noise in proptest::collection::vec(any::<u8>(), 0..4), keepalives in 0usize..3) {
        let mut script = Vec::new();
        for n in &noise {
            let mut r = [*n; REPORT_LEN];
            r[..4].copy_from_slice(&(SCRIPTED_CID ^ 0xff).to_be_bytes());
            script.push(r);
        }
        for _ in 0..keepalives {
            let mut r = [0u8; REPORT_LEN];
            r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
            r[4] = 0x80 | cmd::KEEPALIVE;
            r[6] = 1;
            r[7] = 1;
            script.push(r);
        }
        script.extend(fragment(SCRIPTED_CID, cmd::CBOR, &payload).unwrap());
        let mut hid = open(script, AfterScript::Silent).expect("channel opens");
        let op = Op::new(ANSWER_EXPECTED, ANSWER_EXPECTED, CancelToken::new(), None);
        prop_assert_eq!(hid.transact(cmd::CBOR, &[0x04], &op).unwrap(), payload);
    }

    /// A key that answers anything: the exchange ends (a reply or a short error) within
    /// its deadline, and a reply is handed to the getInfo decoder without a panic either.
    #[test]
    fn a_hostile_key_never_hangs_or_panics_the_client(script in proptest::collection::vec(hostile_report(), 0..12), silent in proptest::bool::weighted(0.2)) {
        let started = Instant::now();
        let after = if silent { AfterScript::Silent } else { AfterScript::Unplugged };
        let mut hid = open(script, after).expect("channel opens");
        let op = Op::new(OP_TIMEOUT, TOUCH_TIMEOUT, CancelToken::new(), None);
        match hid.cbor(0x04, &[], &op) {
            Ok(reply) => {
                if let Err(e) = decode_info(&reply[1..]) {
                    check_error_text(&e, KEY_ERROR_MAX_CHARS)?;
                }
            }
            Err(e) => check_error_text(&e, KEY_ERROR_MAX_CHARS)?,
        }
        prop_assert!(started.elapsed() < NO_HANG, "took {:?}", started.elapsed());
    }
}
