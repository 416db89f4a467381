//! A software authenticator for the bridge tests: real P-256 credentials with packed
//! self-attestation, an exclude list, and scripted behaviours (hang until cancelled,
//! unplug mid-operation). It stands in for the key layer until the virtual key can be
//! used for a scenario, and lets the tests see exactly what reached the key.
use ciborium::value::Value;
use keystation::ceremony::webauthn::{BoxFuture, CancelToken, CredentialMaker};
use keystation::key::KeyError;
use keystation::key::ctap2::types::{AuthenticatorInfo, MakeCredentialRequest, MakeCredentialResponse};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::watch;

/// What the next makeCredential does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer at once.
    Answer,
    /// Wait (as if for a touch) until cancelled.
    WaitForCancel,
    /// Wait, then report the key as removed when `unplug()` is called.
    UnplugWhenTold,
}

pub struct SoftKey {
    info: AuthenticatorInfo,
    behaviour: Mutex<Behaviour>,
    stored: Mutex<Vec<Vec<u8>>>,
    requests: Mutex<Vec<MakeCredentialRequest>>,
    responses: Mutex<Vec<MakeCredentialResponse>>,
    cancelled_at: Mutex<Option<Instant>>,
    started: watch::Sender<usize>,
    unplugged: watch::Sender<bool>,
}

pub const AAGUID: [u8; 16] = *b"keystation-soft!";

impl SoftKey {
    pub fn new() -> SoftKey {
        let info = AuthenticatorInfo {
            versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: vec!["credProtect".into(), "hmac-secret".into()],
            aaguid: AAGUID,
            options: [("rk", true), ("up", true), ("clientPin", true), ("makeCredUvNotRqd", true)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            algorithms: vec![-7],
            transports: vec!["usb".into()],
            max_credential_id_length: Some(64),
            min_pin_length: 4,
            ..Default::default()
        };
        SoftKey {
            info,
            behaviour: Mutex::new(Behaviour::Answer),
            stored: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            responses: Mutex::new(Vec::new()),
            cancelled_at: Mutex::new(None),
            started: watch::Sender::new(0),
            unplugged: watch::Sender::new(false),
        }
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    /// Pretend the key already holds this credential.
    pub fn store(&self, id: Vec<u8>) {
        self.stored.lock().unwrap().push(id);
    }

    pub fn requests(&self) -> Vec<MakeCredentialRequest> {
        self.requests.lock().unwrap().clone()
    }

    pub fn responses(&self) -> Vec<MakeCredentialResponse> {
        self.responses.lock().unwrap().clone()
    }

    pub fn cancelled_at(&self) -> Option<Instant> {
        *self.cancelled_at.lock().unwrap()
    }

    /// Resolve once `n` operations have started.
    pub async fn started(&self, n: usize) {
        let _ = self.started.subscribe().wait_for(|c| *c >= n).await;
    }

    pub fn unplug(&self) {
        self.unplugged.send_replace(true);
    }

    fn answer(&self, req: &MakeCredentialRequest) -> MakeCredentialResponse {
        let sk = SigningKey::random(&mut rand::thread_rng());
        let point = sk.verifying_key().to_encoded_point(false);
        let cred_id: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let cose = cbor(&Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(2.into())),
            (Value::Integer(3.into()), Value::Integer((-7).into())),
            (Value::Integer((-1).into()), Value::Integer(1.into())),
            (Value::Integer((-2).into()), Value::Bytes(point.x().unwrap().to_vec())),
            (Value::Integer((-3).into()), Value::Bytes(point.y().unwrap().to_vec())),
        ]));
        let mut ext = Vec::new();
        if let Some(level) = req.cred_protect {
            ext.push((Value::Text("credProtect".into()), Value::Integer(level.into())));
        }
        if req.hmac_secret {
            ext.push((Value::Text("hmac-secret".into()), Value::Bool(true)));
        }
        let ext_cbor = (!ext.is_empty()).then(|| cbor(&Value::Map(ext)));
        let flags = 0x01 | if req.user_verification { 0x04 } else { 0 } | 0x40 | if ext_cbor.is_some() { 0x80 } else { 0 };
        let mut ad = Sha256::digest(req.rp.id.as_bytes()).to_vec();
        ad.push(flags);
        ad.extend_from_slice(&0u32.to_be_bytes());
        ad.extend_from_slice(&AAGUID);
        ad.extend_from_slice(&(cred_id.len() as u16).to_be_bytes());
        ad.extend_from_slice(&cred_id);
        ad.extend_from_slice(&cose);
        if let Some(e) = &ext_cbor {
            ad.extend_from_slice(e);
        }
        let mut signed = ad.clone();
        signed.extend_from_slice(&req.client_data_hash);
        let sig: DerSignature = sk.sign(&signed);
        let att_stmt = cbor(&Value::Map(vec![
            (Value::Text("alg".into()), Value::Integer((-7).into())),
            (Value::Text("sig".into()), Value::Bytes(sig.as_bytes().to_vec())),
        ]));
        MakeCredentialResponse {
            fmt: "packed".into(),
            auth_data: ad,
            att_stmt_cbor: att_stmt,
            enterprise_attestation: None,
            credential_id: cred_id,
            aaguid: AAGUID,
            credential_public_key_cose: cose,
            extensions_cbor: ext_cbor,
            flags,
            sign_count: 0,
        }
    }
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

impl CredentialMaker for SoftKey {
    fn info(&self) -> BoxFuture<'_, Result<AuthenticatorInfo, KeyError>> {
        Box::pin(async { Ok(self.info.clone()) })
    }

    fn make_credential(&self, request: MakeCredentialRequest, cancel: CancelToken) -> BoxFuture<'_, Result<MakeCredentialResponse, KeyError>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request.clone());
            self.started.send_modify(|c| *c += 1);
            let behaviour = *self.behaviour.lock().unwrap();
            match behaviour {
                Behaviour::Answer => {}
                Behaviour::WaitForCancel => {
                    cancel.cancelled().await;
                    *self.cancelled_at.lock().unwrap() = Some(Instant::now());
                    return Err(KeyError::Cancelled);
                }
                Behaviour::UnplugWhenTold => {
                    let mut rx = self.unplugged.subscribe();
                    tokio::select! {
                        _ = rx.wait_for(|u| *u) => return Err(KeyError::Removed),
                        _ = cancel.cancelled() => return Err(KeyError::Cancelled),
                    }
                }
            }
            if request.exclude_list.iter().any(|id| self.stored.lock().unwrap().contains(id)) {
                return Err(KeyError::CredentialExcluded);
            }
            let resp = self.answer(&request);
            self.stored.lock().unwrap().push(resp.credential_id.clone());
            self.responses.lock().unwrap().push(resp.clone());
            Ok(resp)
        })
    }
}
