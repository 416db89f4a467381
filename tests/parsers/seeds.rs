//! The fuzz targets' seeds (`fuzz/seeds/<target>/`), replayed on stable through the same
//! entry points the targets use (`tests/shared/parser_targets.rs`), and how the device
//! seeds were recorded: real replies of the in-process virtual key (OpenSK) and Graph
//! answers of the simulator.
use super::parser_targets::{self, SCRIPTED_CID, TARGETS};
use keystation::key::ctap2::cbor::{to_canonical_vec, MapView};
use keystation::key::ctaphid::packet::{Assembler, Packet};
use keystation::key::report::{IoError, Report, ReportIo};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds")
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seeds_dir().join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("entry").path();
            (path.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&path).expect("seed"))
        })
        .collect();
    out.sort();
    out
}

/// Every target has seeds, and every seed goes through its target.
#[test]
fn every_seed_goes_through_its_target() {
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "no seeds for the fuzz target {name}");
        for (_, bytes) in seeds {
            target(&bytes);
        }
    }
}

/// The recorded replies are what a key really sends, so they must decode: this keeps
/// the seeds meaningful, and is a regression test of the decoders on real replies.
#[test]
fn recorded_key_replies_decode() {
    for (name, bytes) in seeds("get_info") {
        keystation::key::ctap2::info::decode_info(&bytes).unwrap_or_else(|e| panic!("get_info/{name}: {e}"));
    }
    for (name, bytes) in seeds("make_credential_reply") {
        keystation::key::ctap2::make_credential::decode_reply(&bytes, parser_targets::RP_ID).unwrap_or_else(|e| panic!("make_credential_reply/{name}: {e}"));
    }
    for (name, bytes) in seeds("auth_data") {
        keystation::key::ctap2::auth_data::AuthData::parse(&bytes).unwrap_or_else(|e| panic!("auth_data/{name}: {e}"));
    }
    for (name, bytes) in seeds("client_pin_reply").into_iter().filter(|(n, _)| n.starts_with("client-pin")) {
        keystation::key::ctap2::client_pin::decode_reply(&bytes).unwrap_or_else(|e| panic!("client_pin_reply/{name}: {e}"));
    }
    for (name, bytes) in seeds("graph_json") {
        keystation::entra::graph::parse_creation_options(&bytes).unwrap_or_else(|e| panic!("graph_json/{name}: {e}"));
    }
    for (name, bytes) in seeds("batch_csv") {
        let file = keystation::station::batch::parse_batch(Path::new(&name), &bytes).unwrap_or_else(|e| panic!("batch_csv/{name}: {e}"));
        assert!(!file.rows.is_empty(), "batch_csv/{name}");
    }
}

/// Every read and written report of a key, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(bool, Report)>>>);

struct Recording {
    inner: Box<dyn ReportIo>,
    log: Log,
}

impl ReportIo for Recording {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        self.log.0.lock().expect("log").push((true, *report));
        self.inner.write_report(report)
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        let r = self.inner.read_report(timeout)?;
        if let Some(report) = r {
            self.log.0.lock().expect("log").push((false, report));
        }
        Ok(r)
    }
}

/// The CTAP2 exchanges in a log: (CTAP command, the reply's reports, the reply message).
fn exchanges(log: &[(bool, Report)]) -> Vec<(u8, Vec<Report>, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut request, mut reply): (Option<Assembler>, Option<(Assembler, Vec<Report>)>) = (None, None);
    let mut command = None;
    for (written, report) in log {
        match (written, Packet::parse(report)) {
            (true, Packet::Init { cmd: 0x10, len, data, .. }) => {
                let a = Assembler::start(0x10, len, data).expect("request");
                command = a.is_complete().then(|| a.finish().first().copied()).flatten();
                request = None;
                if command.is_none() {
                    request = Some(Assembler::start(0x10, len, data).expect("request"));
                }
            }
            (true, Packet::Cont { seq, data, .. }) => {
                if let Some(a) = request.as_mut() {
                    a.push(seq, data).expect("request continues");
                    if a.is_complete() {
                        command = request.take().map(Assembler::finish).and_then(|m| m.first().copied());
                    }
                }
            }
            (false, Packet::Init { cmd: 0x10, len, data, .. }) => {
                let a = Assembler::start(0x10, len, data).expect("reply");
                if a.is_complete() {
                    out.push((command.unwrap_or(0), vec![*report], a.finish()));
                } else {
                    reply = Some((a, vec![*report]));
                }
            }
            (false, Packet::Cont { seq, data, .. }) => {
                if let Some((a, reports)) = reply.as_mut() {
                    a.push(seq, data).expect("reply continues");
                    reports.push(*report);
                    if a.is_complete() {
                        let (a, reports) = reply.take().expect("reply");
                        out.push((command.unwrap_or(0), reports, a.finish()));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = seeds_dir().join(target);
    std::fs::create_dir_all(&dir).expect("seed dir");
    std::fs::write(dir.join(name), bytes).expect("seed");
}

/// Record the device and Graph seeds again. By hand, after a change to what keys or the
/// simulator send: `cargo test --test parsers record_seeds -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes fuzz/seeds; run by hand"]
async fn record_seeds() {
    use keystation::key::ctap2::types::{MakeCredentialRequest, RpEntity, UserEntity};
    use keystation::key::virtual_key::{VirtualKey, VirtualKeyConfig};
    use keystation::key::worker::{HandleOptions, KeyHandle};
    use keystation::secret::SecretString;

    // The virtual key: INIT + getInfo (at open), clientPIN (set a PIN, then a token),
    // makeCredential (packed self attestation, with credProtect and hmac-secret),
    // credential management metadata.
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let log = Log::default();
    let io = Box::new(Recording { inner: key.open().expect("open"), log: log.clone() });
    let handle = KeyHandle::open(key.descriptor(), io, HandleOptions::default()).await.expect("handle");
    let pin = SecretString::new("271828");
    handle.set_pin(&pin).await.expect("set PIN");
    let _ = handle.pin_retries().await.expect("retries");
    let request = MakeCredentialRequest {
        client_data_hash: [0x42; 32],
        rp: RpEntity { id: parser_targets::RP_ID.into(), name: Some("Microsoft".into()) },
        user: UserEntity { id: b"user-handle-0001".to_vec(), name: Some("alice@contoso.test".into()), display_name: Some("Alice".into()) },
        algorithms: vec![-7],
        exclude_list: vec![],
        resident_key: true,
        user_verification: true,
        cred_protect: Some(2),
        hmac_secret: true,
        enterprise_attestation: None,
    };
    let made = handle.make_credential(request, Some(&pin)).await.expect("makeCredential");
    let _ = handle.credentials_metadata(&pin).await.expect("metadata");
    drop(handle);

    let log = log.0.lock().expect("log").clone();
    let mut pins = 0;
    for (command, reports, message) in exchanges(&log) {
        let (status, body) = (message[0], &message[1..]);
        assert_eq!(status, 0, "command {command:#04x} failed with {status:#04x}");
        // Raw reports for the CTAPHID target, moved onto the scripted key's channel.
        let raw: Vec<u8> = reports
            .iter()
            .flat_map(|r| {
                let mut r = *r;
                r[..4].copy_from_slice(&SCRIPTED_CID.to_be_bytes());
                r
            })
            .collect();
        match command {
            0x04 => {
                write_seed("get_info", "virtual-key.cbor", body);
                write_seed("cbor", "get-info.cbor", body);
                write_seed("ctaphid_reply", "virtual-key-get-info.reports", &raw);
            }
            0x01 => {
                write_seed("make_credential_reply", "virtual-key-packed.cbor", body);
                write_seed("cbor", "make-credential.cbor", body);
                write_seed("auth_data", "virtual-key-attested.bin", &made.auth_data);
                write_seed("ctaphid_reply", "virtual-key-make-credential.reports", &raw);
            }
            0x06 if !body.is_empty() => {
                pins += 1;
                write_seed("client_pin_reply", &format!("client-pin-{pins}.cbor"), body);
            }
            0x0A | 0x41 => write_seed("client_pin_reply", "cred-mgmt-metadata.cbor", body),
            _ => {}
        }
    }
    assert!(pins >= 2, "keyAgreement and PIN retries/token replies recorded");
    // The COSE key on its own, for the CBOR target.
    write_seed("cbor", "cose-key.cbor", &made.credential_public_key_cose);
    let m = keystation::key::ctap2::cbor::decode(&made.att_stmt_cbor).expect("attStmt");
    MapView::new(&m, "attStmt").expect("a map");
    write_seed("cbor", "att-stmt.cbor", &to_canonical_vec(&m));

    // Graph: the simulator's creationOptions answer, as Graph sends it.
    keystation::entra::tls::ensure_crypto_provider();
    let sim = keystation::entra::simulator::start(keystation::entra::simulator::SimulatorConfig::default()).await.expect("simulator");
    let authority = keystation::entra::oauth::Authority::new(reqwest::Url::parse(sim.authority_host().as_str()).expect("url"), sim.tenant_id()).expect("authority");
    let oauth = keystation::entra::oauth::OAuthClient::new(authority, keystation::entra::simulator::seed::well_known::STATION_APP_ID, &Default::default()).expect("oauth");
    let scopes = keystation::entra::oauth::Scopes::graph_default(&reqwest::Url::parse("https://graph.microsoft.com").expect("url"));
    let token = oauth
        .client_credentials(&keystation::entra::oauth::ClientCredential::Secret(SecretString::new(keystation::entra::simulator::seed::well_known::STATION_APP_SECRET)), &scopes)
        .await
        .expect("token");
    let url = sim.graph_url("v1.0").join("users/alice@contoso.test/authentication/fido2Methods/creationOptions").expect("url");
    let body = reqwest::Client::new().get(url.as_str()).bearer_auth(token.access_token.expose()).send().await.expect("creationOptions").bytes().await.expect("body");
    write_seed("graph_json", "simulator-creation-options.json", &body);
}
