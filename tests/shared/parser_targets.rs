//! The parsers of untrusted input, one entry point each, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the stable replay of their seeds
//! (`tests/parsers/seeds.rs`): each takes raw bytes and must neither panic nor hang.
//!
//! Also here: [`ScriptedKey`], a hostile CTAPHID device that answers CTAPHID_INIT
//! properly, so that a channel opens, then plays back whatever reports it was given once a
//! request arrives, then is either silent (the client's deadline must end the wait) or
//! unplugged. The property tests of `tests/parsers/ctaphid.rs` use it too.
#![allow(dead_code)]
use keystation::key::ctap2::auth_data::AuthData;
use keystation::key::ctap2::cbor::{decode, int_map_value_spans, item_end};
use keystation::key::ctap2::info::decode_info;
use keystation::key::ctap2::{client_pin, cred_mgmt, make_credential};
use keystation::key::ctaphid::{CancelToken, CtapHid, Op};
use keystation::key::report::{IoError, Report, ReportIo, REPORT_LEN};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

/// Every target, by the name of its fuzz target and seed directory.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("ctaphid_reply", ctaphid_reply),
    ("cbor", cbor),
    ("auth_data", auth_data),
    ("get_info", get_info),
    ("make_credential_reply", make_credential_reply),
    ("client_pin_reply", client_pin_reply),
    ("graph_json", graph_json),
    ("batch_csv", batch_csv),
    ("config_toml", config_toml),
];

/// The relying party of makeCredential replies (Graph's provisioning RP).
pub const RP_ID: &str = "login.microsoft.com";

/// A CTAPHID exchange (channel, a getInfo request) with a key that answers `data`, cut
/// into reports ([`ScriptedKey::reports_from_bytes`]); a reply goes to the getInfo decoder.
pub fn ctaphid_reply(data: &[u8]) {
    let generous = Op::new(Duration::from_secs(5), Duration::from_secs(5), CancelToken::new(), None);
    let Ok(mut hid) = CtapHid::open(Box::new(ScriptedKey::new(ScriptedKey::reports_from_bytes(data), AfterScript::Unplugged)), &generous) else {
        return;
    };
    let op = Op::new(Duration::from_millis(20), Duration::from_millis(60), CancelToken::new(), None);
    if let Ok(reply) = hid.cbor(0x04, &[], &op) {
        let _ = decode_info(&reply[1..]);
    }
}

/// The CBOR decoder and the byte-span scanner.
pub fn cbor(data: &[u8]) {
    let _ = item_end(data, 0);
    let _ = int_map_value_spans(data);
    let _ = decode(data);
}

/// authenticatorData.
pub fn auth_data(data: &[u8]) {
    let _ = AuthData::parse(data);
}

/// A getInfo reply body (after the status byte).
pub fn get_info(data: &[u8]) {
    let _ = decode_info(data);
}

/// A makeCredential reply body, then what the ceremony does with it: check it, build the
/// attestationObject, read the COSE key and the extension outputs.
pub fn make_credential_reply(data: &[u8]) {
    use keystation::ceremony::webauthn::attestation::{apply_conveyance, attestation_object, check_response};
    use keystation::ceremony::webauthn::options::{Attestation, ExtensionInputs};
    let Ok(r) = make_credential::decode_reply(data, RP_ID) else { return };
    if check_response(RP_ID, &r).is_ok() {
        for pref in [Attestation::None, Attestation::Direct] {
            let _ = attestation_object(&apply_conveyance(pref, &r));
        }
    }
    if let Ok(key) = keystation::ceremony::webauthn::cose::CoseKey::parse(&r.credential_public_key_cose) {
        let _ = key.spki_der();
    }
    let inputs = ExtensionInputs { cred_props: true, hmac_create_secret: true, prf: true, ..Default::default() };
    let _ = keystation::ceremony::webauthn::extensions::client_extension_results(&inputs, true, r.extensions_cbor.as_deref());
}

/// clientPIN and credential-management reply bodies, and a keyAgreement from them.
pub fn client_pin_reply(data: &[u8]) {
    if let Ok(reply) = client_pin::decode_reply(data)
        && let Some(key) = &reply.key_agreement
    {
        let _ = keystation::key::pin_protocol::encapsulate(keystation::key::pin_protocol::PinUvAuthProtocol::Two, key);
    }
    let _ = cred_mgmt::decode_metadata(data);
    let _ = cred_mgmt::decode_rp(data);
    let _ = cred_mgmt::decode_credential(data);
}

/// Graph's creation options (as Graph sends them, and as the browser path's JSON), and
/// the text parsers of Entra's strings.
pub fn graph_json(data: &[u8]) {
    if let Ok(options) = keystation::entra::graph::parse_creation_options(data) {
        let pk = &options.public_key;
        let _ = (pk.challenge_bytes(), pk.user_handle(), pk.exclude_credential_ids());
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = keystation::ceremony::webauthn::options::CreationOptions::from_json(&value);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keystation::entra::graph::decode_credential_id(text);
        let _ = keystation::entra::oauth::TokenClaims::peek(text);
        let _ = keystation::entra::http::parse_retry_after(text);
    }
}

/// A batch file.
pub fn batch_csv(data: &[u8]) {
    let _ = keystation::station::batch::parse_batch(Path::new("users.csv"), data);
}

/// A configuration file (written to a temporary file: the loader reads files).
pub fn config_toml(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let file = dir.path().join("keystation.toml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    if let Ok(loaded) = keystation::station::config::ConfigLoader::new().file(&file).load() {
        let _ = loaded.config.require_tenant();
        let _ = loaded.config.model_table();
        let _ = loaded.config.handover_recipients();
    }
}

/// The channel the scripted key allocates.
pub const SCRIPTED_CID: u32 = 0x0102_0304;

/// What the key does once its script is played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterScript {
    /// Nothing more is ever read.
    Silent,
    /// Reads fail with `Removed`.
    Unplugged,
}

/// See the module docs.
pub struct ScriptedKey {
    pending: VecDeque<Report>,
    script: Option<Vec<Report>>,
    after: AfterScript,
}

impl ScriptedKey {
    /// A key that plays `script` after the first request.
    pub fn new(script: Vec<Report>, after: AfterScript) -> ScriptedKey {
        ScriptedKey { pending: VecDeque::new(), script: Some(script), after }
    }

    /// Reports from raw bytes (a fuzzer's input): 64 bytes each, the last one zero-padded.
    /// A report whose first byte is even is put on the scripted key's channel, so that
    /// most of them reach the client's parser instead of being skipped as another
    /// application's traffic.
    pub fn reports_from_bytes(data: &[u8]) -> Vec<Report> {
        data.chunks(REPORT_LEN)
            .map(|chunk| {
                let mut r = [0u8; REPORT_LEN];
                r[..chunk.len()].copy_from_slice(chunk);
                if r[0] % 2 == 0 {
                    r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
                }
                r
            })
            .collect()
    }
}

impl ReportIo for ScriptedKey {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        let broadcast = report[..4] == [0xff; 4];
        if broadcast && report[4] == 0x86 {
            // CTAPHID_INIT: echo the nonce, allocate the channel, announce CBOR + wink.
            let mut answer = [0u8; REPORT_LEN];
            answer[..4].copy_from_slice(&[0xff; 4]);
            answer[4] = 0x86;
            answer[6] = 17;
            answer[7..15].copy_from_slice(&report[7..15]);
            answer[15..19].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
            answer[19] = 2;
            answer[20..23].copy_from_slice(&[1, 0, 0]);
            answer[23] = 0x04 | 0x01;
            self.pending.push_back(answer);
        } else if report[4] & 0x80 != 0
            && let Some(script) = self.script.take()
        {
            self.pending.extend(script);
        }
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        if let Some(r) = self.pending.pop_front() {
            return Ok(Some(r));
        }
        if self.script.is_none() && self.after == AfterScript::Unplugged {
            return Err(IoError::Removed);
        }
        // Honour the timeout without making every property case slow.
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
        Ok(None)
    }
}
