//! The simulator's own WebAuthn registration verifier.
//!
//! Deliberately independent of keystation's ceremony code (its own CBOR handling through
//! `ciborium::Value`, its own authenticator-data parser, signature checks with `p256`/`rsa`,
//! certificates with `x509-parser`), so that a bug in the station's encoder shows up as a
//! refused registration instead of hiding behind shared code.
//!
//! The checks run in the order Entra's provisioning POST is documented to need them
//! (entra-graph.md §8 item 15); each failure has a stable code (the simulator puts it in
//! Graph's `innerError.code`).
pub mod authdata;
pub mod b64;
pub mod chain;
pub mod keys;

use authdata::{AuthData, FLAG_AT, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV};
use chrono::{DateTime, Utc};
use ciborium::Value;
use sha2::{Digest, Sha256};

/// A refused registration: a stable code and an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub code: &'static str,
    pub message: String,
}

impl VerifyError {
    /// A new error.
    pub fn new(code: &'static str, message: impl Into<String>) -> VerifyError {
        VerifyError { code, message: message.into() }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The decoded inputs of a registration.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationInput<'a> {
    /// The credential id the client claims (`publicKeyCredential.id`, decoded).
    pub credential_id: &'a [u8],
    pub client_data_json: &'a [u8],
    pub attestation_object: &'a [u8],
}

/// What the relying party expects.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub rp_id: &'a str,
    pub origins: &'a [String],
    pub allow_cross_origin: bool,
    /// Trusted attestation roots (DER).
    pub trusted_roots: &'a [Vec<u8>],
    pub now: DateTime<Utc>,
}

/// How the attestation vouched for the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Attestation {
    /// `fmt: none`.
    None,
    /// Packed self attestation (signed with the credential key).
    SelfAttested,
    /// Packed with a certificate chain; `trusted` when it reaches a trusted root.
    Certified { chain: Vec<Vec<u8>>, trusted: Result<(), String> },
}

/// A registration that passed every structural and cryptographic check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub fmt: String,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key_alg: i64,
    pub public_key_cose: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub extensions: Option<Value>,
    pub attestation: Attestation,
    pub client_data: ClientData,
}

impl Verified {
    /// The AAGUID as 8-4-4-4-12 hex.
    pub fn aaguid_string(&self) -> String {
        authdata::format_aaguid(&self.aaguid)
    }

    /// A packed chain reached a trusted root.
    pub fn is_attested(&self) -> bool {
        matches!(&self.attestation, Attestation::Certified { trusted: Ok(()), .. })
    }
}

/// The members of clientDataJSON the checks use.
#[derive(Debug, Clone)]
pub struct ClientData {
    pub challenge: Vec<u8>,
    pub origin: String,
    pub cross_origin: bool,
}

/// Verify a registration. `check_challenge` is called with the decoded challenge after the
/// clientDataJSON type check and before the origin check (the documented order); it
/// returns the challenge's own error (unknown, expired, used, other user).
pub fn verify_registration(
    input: RegistrationInput<'_>,
    expect: &Expectations<'_>,
    check_challenge: impl FnOnce(&[u8]) -> Result<(), VerifyError>,
) -> Result<Verified, VerifyError> {
    let client_data = parse_client_data(input.client_data_json)?;
    check_challenge(&client_data.challenge)?;
    if !expect.origins.iter().any(|o| o == &client_data.origin) {
        return Err(VerifyError::new(
            "originInvalid",
            format!("clientDataJSON origin '{}' is not accepted; expected {}", client_data.origin, expect.origins.join(" or ")),
        ));
    }
    if client_data.cross_origin && !expect.allow_cross_origin {
        return Err(VerifyError::new("crossOriginNotAllowed", "clientDataJSON says crossOrigin: true, which this relying party does not accept"));
    }
    let (fmt, att_stmt, auth_data_bytes) = parse_attestation_object(input.attestation_object)?;
    if fmt != "packed" && fmt != "none" {
        return Err(VerifyError::new(
            "attestationFormatUnsupported",
            format!("attestation format '{fmt}' is not supported; only 'packed' and 'none' are"),
        ));
    }
    let auth = authdata::parse(&auth_data_bytes)?;
    let expected_hash = Sha256::digest(expect.rp_id.as_bytes());
    if auth.rp_id_hash[..] != expected_hash[..] {
        return Err(VerifyError::new("rpIdHashMismatch", format!("authenticator data rpIdHash is not SHA-256(\"{}\")", expect.rp_id)));
    }
    check_flags(&auth)?;
    let cred = auth.attested.as_ref().ok_or_else(|| VerifyError::new("attestedCredentialDataMissing", "no attested credential data"))?;
    if cred.credential_id != input.credential_id {
        return Err(VerifyError::new("credentialIdMismatch", "the credential id in authenticator data differs from publicKeyCredential.id"));
    }
    let alg = keys::cose_alg(&cred.public_key)?;
    if alg != keys::ALG_ES256 && alg != keys::ALG_RS256 {
        return Err(VerifyError::new("algorithmUnsupported", format!("credential public key algorithm {alg} is not supported; use ES256 (-7) or RS256 (-257)")));
    }
    let cred_key = keys::from_cose(&cred.public_key)?;
    let client_data_hash = Sha256::digest(input.client_data_json);
    let mut signed = auth_data_bytes.clone();
    signed.extend_from_slice(&client_data_hash);
    let attestation = match fmt.as_str() {
        "none" => {
            if !matches!(&att_stmt, Value::Map(m) if m.is_empty()) {
                return Err(VerifyError::new("attestationStatementInvalid", "a 'none' attestation must have an empty attStmt"));
            }
            Attestation::None
        }
        _ => verify_packed(&att_stmt, &signed, &cred_key, &cred.aaguid, expect)?,
    };
    Ok(Verified {
        fmt,
        aaguid: cred.aaguid,
        credential_id: cred.credential_id.clone(),
        public_key_alg: alg,
        public_key_cose: cred.public_key_bytes.clone(),
        sign_count: auth.sign_count,
        backup_eligible: auth.flags & FLAG_BE != 0,
        backed_up: auth.flags & FLAG_BS != 0,
        extensions: auth.extensions.clone(),
        attestation,
        client_data,
    })
}

fn check_flags(auth: &AuthData) -> Result<(), VerifyError> {
    if auth.flags & FLAG_UP == 0 {
        return Err(VerifyError::new("userPresenceMissing", "authenticator data lacks the user-present (UP) flag"));
    }
    if auth.flags & FLAG_UV == 0 {
        return Err(VerifyError::new("userVerificationMissing", "authenticator data lacks the user-verified (UV) flag; user verification is required"));
    }
    if auth.flags & FLAG_AT == 0 {
        return Err(VerifyError::new("attestedCredentialDataMissing", "authenticator data lacks the attested-credential-data (AT) flag"));
    }
    Ok(())
}

/// Parse clientDataJSON: JSON object, `type == "webauthn.create"`, base64url challenge.
pub fn parse_client_data(bytes: &[u8]) -> Result<ClientData, VerifyError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| VerifyError::new("clientDataInvalid", "clientDataJSON is not valid JSON"))?;
    let obj = v.as_object().ok_or_else(|| VerifyError::new("clientDataInvalid", "clientDataJSON is not a JSON object"))?;
    let ty = obj.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    if ty != "webauthn.create" {
        return Err(VerifyError::new("clientDataTypeInvalid", format!("clientDataJSON type is '{ty}'; expected 'webauthn.create'")));
    }
    let challenge = obj
        .get("challenge")
        .and_then(|c| c.as_str())
        .and_then(b64::decode_b64url_strict)
        .ok_or_else(|| VerifyError::new("challengeInvalid", "clientDataJSON challenge is missing or not base64url without padding"))?;
    let origin = obj.get("origin").and_then(|o| o.as_str()).unwrap_or_default().to_string();
    let cross_origin = obj.get("crossOrigin").and_then(|c| c.as_bool()).unwrap_or(false);
    Ok(ClientData { challenge, origin, cross_origin })
}

/// Split an attestationObject into (fmt, attStmt, authData bytes).
fn parse_attestation_object(bytes: &[u8]) -> Result<(String, Value, Vec<u8>), VerifyError> {
    let bad = |m: &str| VerifyError::new("attestationObjectInvalid", m);
    let mut cur = std::io::Cursor::new(bytes);
    let v: Value = ciborium::de::from_reader(&mut cur).map_err(|_| bad("attestationObject is not valid CBOR"))?;
    if cur.position() as usize != bytes.len() {
        return Err(bad("unexpected bytes after the attestationObject"));
    }
    let Value::Map(m) = v else { return Err(bad("attestationObject is not a CBOR map")) };
    let get = |k: &str| m.iter().find(|(key, _)| matches!(key, Value::Text(t) if t == k)).map(|(_, v)| v.clone());
    let fmt = match get("fmt") {
        Some(Value::Text(t)) => t,
        _ => return Err(bad("attestationObject has no text 'fmt'")),
    };
    let auth = match get("authData") {
        Some(Value::Bytes(b)) => b,
        _ => return Err(bad("attestationObject has no byte-string 'authData'")),
    };
    let stmt = match get("attStmt") {
        Some(s @ Value::Map(_)) => s,
        _ => return Err(bad("attestationObject has no map 'attStmt'")),
    };
    Ok((fmt, stmt, auth))
}

fn verify_packed(
    stmt: &Value,
    signed: &[u8],
    cred_key: &keys::PublicKey,
    aaguid: &[u8; 16],
    expect: &Expectations<'_>,
) -> Result<Attestation, VerifyError> {
    let bad = |m: String| VerifyError::new("attestationStatementInvalid", m);
    let Value::Map(m) = stmt else { return Err(bad("attStmt is not a map".into())) };
    let get = |k: &str| m.iter().find(|(key, _)| matches!(key, Value::Text(t) if t == k)).map(|(_, v)| v);
    let alg = match get("alg") {
        Some(Value::Integer(i)) => i64::try_from(i128::from(*i)).map_err(|_| bad("alg out of range".into()))?,
        _ => return Err(bad("packed attStmt has no integer 'alg'".into())),
    };
    let sig = match get("sig") {
        Some(Value::Bytes(b)) => b.clone(),
        _ => return Err(bad("packed attStmt has no byte-string 'sig'".into())),
    };
    if get("ecdaaKeyId").is_some() {
        return Err(VerifyError::new("attestationFormatUnsupported", "ECDAA packed attestation is not supported"));
    }
    match get("x5c") {
        None => {
            if alg != cred_key.alg() {
                return Err(bad(format!("self attestation alg {alg} differs from the credential key's alg {}", cred_key.alg())));
            }
            if !cred_key.verify(alg, signed, &sig) {
                return Err(VerifyError::new("attestationSignatureInvalid", "the packed self-attestation signature does not verify with the credential key"));
            }
            Ok(Attestation::SelfAttested)
        }
        Some(Value::Array(items)) => {
            let chain: Vec<Vec<u8>> = items
                .iter()
                .map(|c| match c {
                    Value::Bytes(b) => Ok(b.clone()),
                    _ => Err(bad("x5c entries must be byte strings".into())),
                })
                .collect::<Result<_, _>>()?;
            let leaf_der = chain.first().ok_or_else(|| bad("x5c is empty".into()))?;
            let leaf = chain::parse(leaf_der).map_err(|e| VerifyError::new("attestationCertificateInvalid", format!("x5c[0]: {e}")))?;
            let leaf_key = keys::from_certificate(&leaf).map_err(|e| VerifyError::new("attestationCertificateInvalid", format!("x5c[0]: {e}")))?;
            if !cred_key_alg_ok(alg) || leaf_key.alg() != alg {
                return Err(bad(format!("attStmt alg {alg} does not match the attestation certificate's key")));
            }
            if !leaf_key.verify(alg, signed, &sig) {
                return Err(VerifyError::new("attestationSignatureInvalid", "the packed attestation signature does not verify with the x5c[0] certificate"));
            }
            chain::check_packed_leaf(&leaf, aaguid).map_err(|e| VerifyError::new("attestationCertificateInvalid", e))?;
            let trusted = chain::verify_to_roots(&chain, expect.trusted_roots, expect.now);
            Ok(Attestation::Certified { chain, trusted })
        }
        Some(_) => Err(bad("x5c must be an array".into())),
    }
}

fn cred_key_alg_ok(alg: i64) -> bool {
    alg == keys::ALG_ES256 || alg == keys::ALG_RS256
}
