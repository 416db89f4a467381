//! Shared helpers: virtual keys, handles, requests, a report tap, touch counters.
#![allow(dead_code)]
use keystation::key::ctap2::{COSE_ES256, MakeCredentialRequest, RpEntity, UserEntity};
use keystation::key::virtual_key::{Touch, VirtualKey, VirtualKeyConfig};
use keystation::key::worker::{HandleOptions, KeyHandle};
use keystation::key::{IoError, KeyDescriptor, Report, ReportIo};
use keystation::secret::SecretString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A blank virtual key with default settings (touches at once).
pub fn key() -> VirtualKey {
    VirtualKey::new(VirtualKeyConfig::default())
}

/// A blank virtual key whose scripted user behaves as `touch`.
pub fn key_with_touch(touch: Touch) -> VirtualKey {
    VirtualKey::new(VirtualKeyConfig { touch, ..Default::default() })
}

/// Open a handle with default options.
pub async fn open(key: &VirtualKey) -> KeyHandle {
    open_with(key, HandleOptions::default()).await
}

/// Open a handle with `options`.
pub async fn open_with(key: &VirtualKey, options: HandleOptions) -> KeyHandle {
    let io = key.open().expect("virtual key opens");
    KeyHandle::open(key.descriptor(), io, options).await.expect("handle opens")
}

/// Power-cycle the key and open a fresh handle (what an operator's re-plug does).
pub async fn replug(key: &VirtualKey, options: HandleOptions) -> KeyHandle {
    key.replug();
    open_with(key, options).await
}

/// A PIN.
pub fn pin(s: &str) -> SecretString {
    SecretString::new(s)
}

/// A makeCredential request for `rp` and user `user` (ES256, rk, uv).
pub fn request(rp: &str, user: &[u8]) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: [0x42; 32],
        rp: RpEntity { id: rp.into(), name: Some("Example".into()) },
        user: UserEntity { id: user.to_vec(), name: Some("user@example.com".into()), display_name: Some("User".into()) },
        algorithms: vec![COSE_ES256],
        exclude_list: vec![],
        resident_key: true,
        user_verification: true,
        cred_protect: None,
        hmac_secret: false,
        enterprise_attestation: None,
    }
}

/// Handle options whose touch prompt counts how often it fired.
pub fn counting_options() -> (HandleOptions, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let options = HandleOptions { on_touch: Some(Arc::new(move |_: &KeyDescriptor| { c.fetch_add(1, Ordering::SeqCst); })), ..Default::default() };
    (options, count)
}

/// Handle options whose touch prompt sends on a channel (to act "while the key waits").
pub fn notifying_options(touch_timeout: Duration) -> (HandleOptions, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let options = HandleOptions {
        touch_timeout,
        on_touch: Some(Arc::new(move |_: &KeyDescriptor| {
            let _ = tx.send(());
        })),
        ..Default::default()
    };
    (options, rx)
}

/// Wraps a key's report I/O and records every report read from the key, so a test can
/// see the raw bytes the client received.
pub struct Tap {
    inner: Box<dyn ReportIo>,
    pub log: Arc<Mutex<Vec<Report>>>,
}

impl Tap {
    pub fn new(inner: Box<dyn ReportIo>) -> (Tap, Arc<Mutex<Vec<Report>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (Tap { inner, log: Arc::clone(&log) }, log)
    }
}

impl ReportIo for Tap {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        self.inner.write_report(report)
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        let r = self.inner.read_report(timeout)?;
        if let Some(r) = &r {
            self.log.lock().unwrap().push(*r);
        }
        Ok(r)
    }
}

/// The last complete CTAPHID_CBOR reply in a tap log, reassembled independently of the
/// client (init packet 0x90 + continuation packets on the same channel).
pub fn last_cbor_reply(log: &[Report]) -> Vec<u8> {
    let mut last = None;
    let mut current: Option<(u32, usize, Vec<u8>)> = None;
    for r in log {
        let cid = u32::from_be_bytes([r[0], r[1], r[2], r[3]]);
        if r[4] == 0x90 {
            let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
            let mut data = r[7..].to_vec();
            data.truncate(len);
            current = Some((cid, len, data));
        } else if r[4] & 0x80 == 0
            && let Some((c, len, data)) = current.as_mut()
            && *c == cid
        {
            let need = *len - data.len();
            data.extend_from_slice(&r[5..5 + need.min(59)]);
        }
        if let Some((_, len, data)) = &current
            && data.len() == *len
        {
            last = Some(data.clone());
            current = None;
        }
    }
    last.expect("a complete CBOR reply in the log")
}

/// Where `needle` occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
