//! A small test-only authenticator: builds clientDataJSON and attestation objects with
//! p256 + ciborium + rcgen, independent of keystation's ceremony code and of the
//! simulator's verifier. Every field can be bent to produce one specific failure.
#![allow(dead_code)]
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::Value;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rand::RngCore;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

/// keystation's virtual-key AAGUID (d5a92987-df19-484f-890d-2d49daf54f29), which the
/// default tenant's model table names "keystation virtual key".
pub const AAGUID_VIRTUAL: [u8; 16] = [0xd5, 0xa9, 0x29, 0x87, 0xdf, 0x19, 0x48, 0x4f, 0x89, 0x0d, 0x2d, 0x49, 0xda, 0xf5, 0x4f, 0x29];
pub const AAGUID_YUBIKEY_5_NFC: &str = "2fc0579f-8113-47ea-b116-bb5a8db9202a";

pub fn b64u(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn aaguid_bytes(s: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(s).unwrap().as_bytes()
}

/// A test attestation CA (root) with an attestation leaf issued under it.
pub struct TestCa {
    pub root_pem: String,
    pub root_der: Vec<u8>,
    root_params: rcgen::CertificateParams,
    root_key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.distinguished_name.push(rcgen::DnType::OrganizationName, "keystation tests");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&root_key).unwrap();
        TestCa { root_pem: cert.pem(), root_der: cert.der().to_vec(), root_params: p, root_key }
    }

    /// An attestation leaf (OU "Authenticator Attestation", CA=false, AAGUID extension).
    pub fn leaf(&self, aaguid: &[u8; 16], ou: &str, with_aaguid_ext: bool) -> (Vec<u8>, SigningKey) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CountryName, "SE");
        p.distinguished_name.push(rcgen::DnType::OrganizationName, "keystation tests");
        p.distinguished_name.push(rcgen::DnType::OrganizationalUnitName, ou);
        p.distinguished_name.push(rcgen::DnType::CommonName, "test attestation");
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        if with_aaguid_ext {
            let mut content = vec![0x04, 0x10];
            content.extend_from_slice(aaguid);
            p.custom_extensions.push(rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], content));
        }
        let issuer = rcgen::Issuer::from_params(&self.root_params, &self.root_key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        let sk = SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        (cert.der().to_vec(), sk)
    }
}

/// What the attestation statement contains.
pub enum Statement {
    /// `fmt: none`, empty attStmt.
    None,
    /// packed, signed with the credential key.
    SelfAttested,
    /// packed with x5c = `chain` (leaf first), signed with `leaf_key`.
    X5c { chain: Vec<Vec<u8>>, leaf_key: SigningKey },
}

/// One registration to build; defaults are a valid packed-self registration for Graph.
pub struct Registration {
    pub rp_id: String,
    pub origin: String,
    pub challenge: Vec<u8>,
    pub client_type: String,
    pub cross_origin: bool,
    pub flags: u8,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub claimed_id: Option<Vec<u8>>,
    pub cred_key: SigningKey,
    pub cose_alg: i64,
    pub fmt: Option<String>,
    pub statement: Statement,
    pub corrupt_signature: bool,
    pub extensions: Option<Value>,
}

impl Registration {
    /// For the Graph API: rp login.microsoft.com, origin https://login.microsoft.com.
    pub fn graph(challenge_b64u: &str) -> Registration {
        let mut id = vec![0u8; 48];
        rand::thread_rng().fill_bytes(&mut id);
        Registration {
            rp_id: "login.microsoft.com".into(),
            origin: "https://login.microsoft.com".into(),
            challenge: URL_SAFE_NO_PAD.decode(challenge_b64u).expect("challenge is base64url"),
            client_type: "webauthn.create".into(),
            cross_origin: false,
            flags: 0x45,
            aaguid: AAGUID_VIRTUAL,
            credential_id: id,
            claimed_id: None,
            cred_key: SigningKey::random(&mut rand::rngs::OsRng),
            cose_alg: -7,
            fmt: None,
            statement: Statement::SelfAttested,
            corrupt_signature: false,
            extensions: None,
        }
    }

    pub fn client_data_json(&self) -> Vec<u8> {
        format!(
            r#"{{"type":"{}","challenge":"{}","origin":"{}","crossOrigin":{}}}"#,
            self.client_type,
            b64u(&self.challenge),
            self.origin,
            self.cross_origin
        )
        .into_bytes()
    }

    fn cose_key(&self) -> Value {
        let point = self.cred_key.verifying_key().to_encoded_point(false);
        Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(2.into())),
            (Value::Integer(3.into()), Value::Integer(self.cose_alg.into())),
            (Value::Integer((-1).into()), Value::Integer(1.into())),
            (Value::Integer((-2).into()), Value::Bytes(point.x().unwrap().to_vec())),
            (Value::Integer((-3).into()), Value::Bytes(point.y().unwrap().to_vec())),
        ])
    }

    pub fn auth_data(&self) -> Vec<u8> {
        let mut ad = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let mut flags = self.flags;
        if self.extensions.is_some() {
            flags |= 0x80;
        }
        ad.push(flags);
        ad.extend(1u32.to_be_bytes());
        if self.flags & 0x40 != 0 {
            ad.extend(self.aaguid);
            ad.extend((self.credential_id.len() as u16).to_be_bytes());
            ad.extend(&self.credential_id);
            ciborium::ser::into_writer(&self.cose_key(), &mut ad).unwrap();
        }
        if let Some(e) = &self.extensions {
            ciborium::ser::into_writer(e, &mut ad).unwrap();
        }
        ad
    }

    pub fn attestation_object(&self) -> Vec<u8> {
        let auth_data = self.auth_data();
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(self.client_data_json()));
        let sign = |k: &SigningKey| {
            let s: Signature = k.sign(&signed);
            let mut der = s.to_der().as_bytes().to_vec();
            if self.corrupt_signature {
                let n = der.len();
                der[n - 1] ^= 0x01;
            }
            der
        };
        let (fmt, stmt) = match &self.statement {
            Statement::None => ("none", Value::Map(vec![])),
            Statement::SelfAttested => (
                "packed",
                Value::Map(vec![
                    (Value::Text("alg".into()), Value::Integer((-7).into())),
                    (Value::Text("sig".into()), Value::Bytes(sign(&self.cred_key))),
                ]),
            ),
            Statement::X5c { chain, leaf_key } => (
                "packed",
                Value::Map(vec![
                    (Value::Text("alg".into()), Value::Integer((-7).into())),
                    (Value::Text("sig".into()), Value::Bytes(sign(leaf_key))),
                    (Value::Text("x5c".into()), Value::Array(chain.iter().map(|c| Value::Bytes(c.clone())).collect())),
                ]),
            ),
        };
        let obj = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text(self.fmt.clone().unwrap_or_else(|| fmt.to_string()))),
            (Value::Text("attStmt".into()), stmt),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&obj, &mut out).unwrap();
        out
    }

    /// The Graph POST fido2Methods body.
    pub fn graph_body(&self, display_name: &str) -> Json {
        json!({
            "displayName": display_name,
            "publicKeyCredential": {
                "id": b64u(self.claimed_id.as_ref().unwrap_or(&self.credential_id)),
                "response": {
                    "clientDataJSON": b64u(&self.client_data_json()),
                    "attestationObject": b64u(&self.attestation_object()),
                },
                "clientExtensionResults": {},
            }
        })
    }
}
