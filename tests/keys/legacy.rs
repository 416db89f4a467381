//! Keys older than CTAP 2.1: a proxy between the client and an OpenSK virtual key
//! rewrites getInfo to look like a FIDO_2_1_PRE key, and maps the preview credential
//! management command 0x41 onto OpenSK's 0x0A. The client must then use the legacy
//! paths (getPinToken 0x05, credentialManagement 0x41) and the key must accept them.
use super::support::*;
use ciborium::Value;
use keystation::key::worker::{HandleOptions, KeyHandle};
use keystation::key::{IoError, Report, ReportIo};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (CTAP command, clientPIN sub-command when the command is 0x06) as the client sent them.
type Sent = Arc<Mutex<Vec<(u8, Option<u8>)>>>;

struct LegacyProxy {
    inner: Box<dyn ReportIo>,
    /// Keep the pinUvAuthToken option (so the client may ask for permissions).
    keep_permissions: bool,
    sent: Sent,
    info_pending: HashSet<u32>,
    assembling: Option<(u32, usize, Vec<u8>)>,
    inbound: VecDeque<Report>,
}

fn cid(r: &Report) -> u32 {
    u32::from_be_bytes([r[0], r[1], r[2], r[3]])
}

fn fragment(cid: u32, msg: &[u8]) -> Vec<Report> {
    let mut out = Vec::new();
    let mut first = [0u8; 64];
    first[..4].copy_from_slice(&cid.to_be_bytes());
    first[4] = 0x90;
    first[5..7].copy_from_slice(&(msg.len() as u16).to_be_bytes());
    let n = msg.len().min(57);
    first[7..7 + n].copy_from_slice(&msg[..n]);
    out.push(first);
    for (seq, chunk) in msg[n..].chunks(59).enumerate() {
        let mut r = [0u8; 64];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = seq as u8;
        r[5..5 + chunk.len()].copy_from_slice(chunk);
        out.push(r);
    }
    out
}

impl LegacyProxy {
    fn rewrite_info(&self, reply: &[u8]) -> Vec<u8> {
        let mut info: Value = ciborium::de::from_reader(&reply[1..]).unwrap();
        for (k, v) in info.as_map_mut().unwrap().iter_mut() {
            match k.as_integer().map(i128::from) {
                Some(1) => *v = Value::Array(vec![Value::Text("FIDO_2_0".into()), Value::Text("FIDO_2_1_PRE".into())]),
                Some(4) => {
                    let opts = v.as_map_mut().unwrap();
                    opts.retain(|(k, _)| {
                        let name = k.as_text().unwrap();
                        name != "credMgmt" && (self.keep_permissions || name != "pinUvAuthToken")
                    });
                    opts.push((Value::Text("credentialMgmtPreview".into()), Value::Bool(true)));
                }
                _ => {}
            }
        }
        let mut out = vec![0x00];
        ciborium::ser::into_writer(&info, &mut out).unwrap();
        out
    }
}

impl ReportIo for LegacyProxy {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        let mut r = *report;
        if r[4] == 0x90 {
            let command = r[7];
            let sub = (command == 0x06).then_some(r[12]);
            self.sent.lock().unwrap().push((command, sub));
            if command == 0x04 {
                self.info_pending.insert(cid(&r));
            }
            if command == 0x41 {
                r[7] = 0x0A; // OpenSK only knows the final command number
            }
        }
        self.inner.write_report(&r)
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        if let Some(r) = self.inbound.pop_front() {
            return Ok(Some(r));
        }
        loop {
            let Some(r) = self.inner.read_report(timeout)? else { return Ok(None) };
            let c = cid(&r);
            if !self.info_pending.contains(&c) || r[4] == 0xBB {
                return Ok(Some(r));
            }
            if r[4] == 0x90 {
                let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
                self.assembling = Some((c, len, r[7..7 + len.min(57)].to_vec()));
            } else if let Some((ac, len, data)) = self.assembling.as_mut()
                && *ac == c
            {
                let need = (*len - data.len()).min(59);
                data.extend_from_slice(&r[5..5 + need]);
            }
            if let Some((ac, len, data)) = &self.assembling
                && data.len() == *len
            {
                let rewritten = self.rewrite_info(data);
                let ac = *ac;
                self.inbound.extend(fragment(ac, &rewritten));
                self.info_pending.remove(&ac);
                self.assembling = None;
                return Ok(self.inbound.pop_front());
            }
        }
    }
}

async fn open_legacy(keep_permissions: bool) -> (KeyHandle, Sent, keystation::key::virtual_key::VirtualKey) {
    let k = key();
    let sent: Sent = Arc::default();
    let proxy = LegacyProxy {
        inner: k.open().unwrap(),
        keep_permissions,
        sent: Arc::clone(&sent),
        info_pending: HashSet::new(),
        assembling: None,
        inbound: VecDeque::new(),
    };
    let h = KeyHandle::open(k.descriptor(), Box::new(proxy), HandleOptions::default()).await.unwrap();
    (h, sent, k)
}

#[tokio::test]
async fn a_key_without_pin_uv_auth_token_gets_get_pin_token() {
    let (h, sent, _k) = open_legacy(false).await;
    let info = h.info();
    assert!(info.supports_version("FIDO_2_1_PRE") && !info.supports_version("FIDO_2_1"));
    assert_eq!(info.option("pinUvAuthToken"), None);
    h.set_pin(&pin("1234")).await.unwrap();
    let r = h.make_credential(request("example.com", b"u"), Some(&pin("1234"))).await.unwrap();
    assert_eq!(r.flags & 0x04, 0x04, "user verified with the legacy token");
    let subs: Vec<u8> = sent.lock().unwrap().iter().filter(|(c, _)| *c == 0x06).filter_map(|(_, s)| *s).collect();
    assert!(subs.contains(&0x05), "getPinToken used: {subs:?}");
    assert!(!subs.contains(&0x09), "no permissions token requested: {subs:?}");
}

#[tokio::test]
async fn a_preview_key_gets_credential_management_0x41() {
    let (h, sent, _k) = open_legacy(true).await;
    h.set_pin(&pin("1234")).await.unwrap();
    let made = h.make_credential(request("example.com", b"u"), Some(&pin("1234"))).await.unwrap();
    let creds = h.list_credentials(&pin("1234")).await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].credential_id, made.credential_id);
    assert_eq!(h.credentials_metadata(&pin("1234")).await.unwrap().existing, 1);
    h.delete_credential(&pin("1234"), &made.credential_id).await.unwrap();
    let commands: Vec<u8> = sent.lock().unwrap().iter().map(|(c, _)| *c).collect();
    assert!(commands.contains(&0x41), "{commands:?}");
    assert!(!commands.contains(&0x0A), "{commands:?}");
}
