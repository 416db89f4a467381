//! PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7), platform side.
//!
//! Both protocols agree a secret with the key over ECDH P-256 (the key's
//! `keyAgreement` COSE key and a fresh platform key pair per operation), then:
//!
//! | | protocol 1 | protocol 2 |
//! |---|---|---|
//! | shared secret | SHA-256(Z) | HKDF-SHA-256(Z, "CTAP2 HMAC key") ‖ HKDF-SHA-256(Z, "CTAP2 AES key") |
//! | encrypt | AES-256-CBC, IV = 0 | AES-256-CBC, random IV prepended |
//! | authenticate | HMAC-SHA-256, first 16 bytes | HMAC-SHA-256, all 32 bytes |
//!
//! Secrets live in [`Zeroizing`] buffers and never reach `Debug` output.
#![warn(missing_docs)]
use crate::key::KeyError;
use crate::key::ctap2::cbor::{MapView, as_i64, bytes, int};
use crate::secret::SecretString;
use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use ciborium::Value;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The two PIN/UV auth protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PinUvAuthProtocol {
    /// Protocol 1 (CTAP 2.0): truncated HMAC, zero IV.
    One = 1,
    /// Protocol 2 (CTAP 2.1): HKDF-separated keys, random IV, full HMAC.
    Two = 2,
}

impl PinUvAuthProtocol {
    /// The number CTAP uses on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Pick a protocol from getInfo's `pinUvAuthProtocols`: protocol 2 when the key has
    /// it, else 1. `forced` restricts the choice to one protocol (tests, quirky keys).
    /// A key that lists nothing is a CTAP 2.0 key, which always speaks protocol 1.
    pub fn choose(advertised: &[u8], forced: Option<PinUvAuthProtocol>) -> Result<PinUvAuthProtocol, KeyError> {
        let has = |p: PinUvAuthProtocol| advertised.contains(&p.number()) || (advertised.is_empty() && p == PinUvAuthProtocol::One);
        match forced {
            Some(p) if has(p) => Ok(p),
            Some(p) => Err(KeyError::Unsupported(format!("PIN/UV auth protocol {} (the key offers {advertised:?})", p.number()))),
            None if has(PinUvAuthProtocol::Two) => Ok(PinUvAuthProtocol::Two),
            None if has(PinUvAuthProtocol::One) => Ok(PinUvAuthProtocol::One),
            None => Err(KeyError::Unsupported(format!("any PIN/UV auth protocol keystation knows (the key offers {advertised:?})"))),
        }
    }
}

/// The secret agreed with the key for one operation.
pub struct SharedSecret {
    protocol: PinUvAuthProtocol,
    /// Protocol 1: 32 bytes. Protocol 2: HMAC key (32) ‖ AES key (32).
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedSecret({:?}, [redacted])", self.protocol)
    }
}

/// The platform half of a key agreement: what to send (`platform_key`, a COSE_Key) and
/// what to keep (`shared`).
#[derive(Debug)]
pub struct KeyAgreement {
    /// The platform's ephemeral public key as a COSE_Key map (clientPIN field 0x03).
    pub platform_key: Value,
    /// The agreed secret.
    pub shared: SharedSecret,
}

/// Agree a secret with the key, given the key's `keyAgreement` COSE_Key.
pub fn encapsulate(protocol: PinUvAuthProtocol, peer_cose_key: &Value) -> Result<KeyAgreement, KeyError> {
    let platform_secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    encapsulate_with(protocol, peer_cose_key, &platform_secret)
}

fn encapsulate_with(protocol: PinUvAuthProtocol, peer_cose_key: &Value, platform_secret: &p256::SecretKey) -> Result<KeyAgreement, KeyError> {
    let peer = parse_cose_p256(peer_cose_key)?;
    let z = p256::ecdh::diffie_hellman(platform_secret.to_nonzero_scalar(), peer.as_affine());
    let shared = SharedSecret::derive(protocol, z.raw_secret_bytes().as_slice());
    let point = platform_secret.public_key().to_encoded_point(false);
    let (x, y) = match (point.x(), point.y()) {
        (Some(x), Some(y)) => (x.to_vec(), y.to_vec()),
        // An uncompressed encoding of a valid public key always has both coordinates.
        _ => return Err(KeyError::Protocol("cannot encode the platform key".into())),
    };
    let platform_key = Value::Map(vec![
        (int(1), int(2)),    // kty: EC2
        (int(3), int(-25)),  // alg: ECDH-ES+HKDF-256 (the value CTAP fixes for both protocols)
        (int(-1), int(1)),   // crv: P-256
        (int(-2), bytes(&x)),
        (int(-3), bytes(&y)),
    ]);
    Ok(KeyAgreement { platform_key, shared })
}

/// Read a P-256 public key from a COSE_Key map, checking that it lies on the curve.
fn parse_cose_p256(cose: &Value) -> Result<p256::PublicKey, KeyError> {
    let m = MapView::new(cose, "keyAgreement")?;
    let kty = m.get(1).and_then(as_i64);
    let crv = m.get(-1).and_then(as_i64);
    if kty != Some(2) || crv != Some(1) {
        return Err(KeyError::Protocol(format!("keyAgreement is not an EC2 P-256 key (kty {kty:?}, crv {crv:?})")));
    }
    let coord = |k: i64| -> Result<&[u8], KeyError> {
        match m.get(k).and_then(|v| v.as_bytes()) {
            Some(b) if b.len() == 32 => Ok(b.as_slice()),
            _ => Err(KeyError::Protocol("keyAgreement coordinates are not 32-byte strings".into())),
        }
    };
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(coord(-2)?);
    sec1.extend_from_slice(coord(-3)?);
    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| KeyError::Protocol("keyAgreement is not a point on P-256".into()))
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hkdf32(z: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA-256's 8160-byte output limit.
    hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z).expand(info, &mut out).expect("32 bytes is a valid HKDF length");
    out
}

impl SharedSecret {
    fn derive(protocol: PinUvAuthProtocol, z: &[u8]) -> SharedSecret {
        let secret = match protocol {
            PinUvAuthProtocol::One => Zeroizing::new(Sha256::digest(z).to_vec()),
            PinUvAuthProtocol::Two => {
                let mut s = Zeroizing::new(Vec::with_capacity(64));
                s.extend_from_slice(&Zeroizing::new(hkdf32(z, b"CTAP2 HMAC key"))[..]);
                s.extend_from_slice(&Zeroizing::new(hkdf32(z, b"CTAP2 AES key"))[..]);
                s
            }
        };
        SharedSecret { protocol, secret }
    }

    /// The protocol this secret belongs to.
    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    fn hmac_key(&self) -> &[u8] {
        &self.secret[..32]
    }

    fn aes_key(&self) -> &[u8] {
        match self.protocol {
            PinUvAuthProtocol::One => &self.secret[..32],
            PinUvAuthProtocol::Two => &self.secret[32..64],
        }
    }

    /// Encrypt a whole number of 16-byte blocks.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut iv = [0u8; 16];
        if self.protocol == PinUvAuthProtocol::Two {
            getrandom::getrandom(&mut iv).map_err(|e| KeyError::Transport(format!("no randomness for the PIN protocol: {e}")))?;
        }
        self.encrypt_with_iv(plaintext, iv)
    }

    fn encrypt_with_iv(&self, plaintext: &[u8], iv: [u8; 16]) -> Result<Vec<u8>, KeyError> {
        if !plaintext.len().is_multiple_of(16) {
            return Err(KeyError::Protocol("PIN protocol plaintext is not a whole number of AES blocks".into()));
        }
        let enc = cbc::Encryptor::<Aes256>::new_from_slices(self.aes_key(), &iv).map_err(|_| KeyError::Protocol("bad AES key length".into()))?;
        let ct = enc.encrypt_padded_vec_mut::<NoPadding>(plaintext);
        Ok(match self.protocol {
            PinUvAuthProtocol::One => ct,
            PinUvAuthProtocol::Two => [iv.as_slice(), &ct].concat(),
        })
    }

    /// Decrypt what the key encrypted (e.g. a PIN token).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let (iv, ct): ([u8; 16], &[u8]) = match self.protocol {
            PinUvAuthProtocol::One => ([0u8; 16], ciphertext),
            PinUvAuthProtocol::Two if ciphertext.len() >= 16 => {
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&ciphertext[..16]);
                (iv, &ciphertext[16..])
            }
            PinUvAuthProtocol::Two => return Err(KeyError::Protocol("encrypted value shorter than its IV".into())),
        };
        if ct.is_empty() || !ct.len().is_multiple_of(16) {
            return Err(KeyError::Protocol("encrypted value is not a whole number of AES blocks".into()));
        }
        let dec = cbc::Decryptor::<Aes256>::new_from_slices(self.aes_key(), &iv).map_err(|_| KeyError::Protocol("bad AES key length".into()))?;
        dec.decrypt_padded_vec_mut::<NoPadding>(ct)
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Protocol("cannot decrypt the key's reply".into()))
    }

    /// pinUvAuthParam over `message` with the shared secret (setPIN, changePIN).
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, self.hmac_key(), message)
    }
}

fn authenticate(protocol: PinUvAuthProtocol, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mac = hmac_sha256(key, &[message]);
    match protocol {
        PinUvAuthProtocol::One => mac[..16].to_vec(),
        PinUvAuthProtocol::Two => mac.to_vec(),
    }
}

/// A decrypted pinUvAuthToken, good for computing pinUvAuthParam on later commands.
pub struct PinToken {
    protocol: PinUvAuthProtocol,
    token: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinToken({:?}, [redacted])", self.protocol)
    }
}

impl PinToken {
    /// Decrypt the `pinUvAuthToken` field of a token reply.
    pub fn decrypt(shared: &SharedSecret, encrypted: &[u8]) -> Result<PinToken, KeyError> {
        let token = shared.decrypt(encrypted)?;
        let ok = match shared.protocol {
            PinUvAuthProtocol::One => token.len() == 16 || token.len() == 32,
            PinUvAuthProtocol::Two => token.len() == 32,
        };
        if !ok {
            return Err(KeyError::Protocol(format!("PIN token of unexpected length {}", token.len())));
        }
        Ok(PinToken { protocol: shared.protocol, token })
    }

    /// The protocol the token was obtained with.
    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    /// pinUvAuthParam over `message`.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.token, message)
    }
}

/// Longest PIN CTAP2 allows, in UTF-8 bytes (the padded block keeps a terminating zero).
pub const MAX_PIN_BYTES: usize = 63;

/// Check a new PIN against the key's minimum (Unicode code points) and CTAP2's maximum
/// (63 UTF-8 bytes) before anything is sent.
pub fn check_new_pin(pin: &SecretString, min_pin_length: u8) -> Result<(), KeyError> {
    if pin.expose().chars().count() < usize::from(min_pin_length.max(4)) {
        return Err(KeyError::PinTooShort { min_length: min_pin_length.max(4) });
    }
    if pin.len() > MAX_PIN_BYTES {
        return Err(KeyError::PinTooLong);
    }
    if pin.expose().contains('\0') {
        return Err(KeyError::PinPolicyViolation("a PIN cannot contain a NUL character".into()));
    }
    Ok(())
}

/// The PIN zero-padded to 64 bytes (newPinEnc plaintext).
pub fn padded_pin(pin: &SecretString) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if pin.len() > MAX_PIN_BYTES {
        return Err(KeyError::PinTooLong);
    }
    let mut padded = Zeroizing::new(vec![0u8; 64]);
    padded[..pin.len()].copy_from_slice(pin.expose().as_bytes());
    Ok(padded)
}

/// LEFT(SHA-256(PIN), 16): the pinHashEnc plaintext.
pub fn pin_hash16(pin: &SecretString) -> Zeroizing<Vec<u8>> {
    let digest = Zeroizing::new(Sha256::digest(pin.expose().as_bytes()));
    Zeroizing::new(digest[..16].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors computed independently with Python's `cryptography` package
    // (see docs/ctap-client.md, "PIN protocol test vectors"): fixed platform and
    // authenticator private keys, PIN "1234".
    const PLATFORM_D: &str = "c9806898a0334916c860748880a541f093b579a9b1f32934d86c363c39800357";
    const KEY_X: &str = "2681a2c2d963f67dd84b03be30f743d7b38c647a32648e02cb4871c43ac48769";
    const KEY_Y: &str = "9669e2937fa632ba4f4a9e17ddea1241b60ad181fd2a1cb5eb3e60bb47b59c36";
    const P1_SHARED: &str = "f95ded85f0015e7cff1fe500bf1f1464bede17295f16f95d726ecdef7910e127";
    const P2_SHARED: &str = "70bb400acfb06187866eafe2e06dd88001b6bc66c8763dbdf0c4d509a4ee9958f03e670c153f95ac68fec33b1d94e176a7f808d347ee0a25697019415a301d59";
    const P1_NEW_PIN_ENC: &str = "401053cf089843db0381ae482130526f8811c02ebd13012d6123ce0d2b647f5dad8be9eef7dd1ec2271b8cb9dfc4dbc54710de55164ab4be56e8153177c7b2cb";
    const P1_AUTH: &str = "79ea517870bafe0c104daae2361392bc";
    const P2_IV: &str = "000102030405060708090a0b0c0d0e0f";
    const P2_NEW_PIN_ENC: &str = "000102030405060708090a0b0c0d0e0f51604d616c565b82bf5bafd0450cb35ee6e8b271b86c66070cfe5532f3027455a2a9541e2b543eb37839bb521cd4c17197360ad9c84e1ec8b3db60aa1d9aefa7";
    const P2_AUTH: &str = "1fb82533efef8bd6a3b33d635cd3a2aab83ad170ef7100d1265b913afcbb0c04";
    const P1_PIN_HASH_ENC: &str = "a02780f5a31241e34afe96b67f116f8c";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn key_cose() -> Value {
        Value::Map(vec![(int(1), int(2)), (int(3), int(-25)), (int(-1), int(1)), (int(-2), bytes(&h(KEY_X))), (int(-3), bytes(&h(KEY_Y)))])
    }

    fn agree(p: PinUvAuthProtocol) -> KeyAgreement {
        let d = p256::SecretKey::from_slice(&h(PLATFORM_D)).unwrap();
        encapsulate_with(p, &key_cose(), &d).unwrap()
    }

    #[test]
    fn protocol_one_matches_known_answers() {
        let ka = agree(PinUvAuthProtocol::One);
        assert_eq!(hex::encode(&ka.shared.secret[..]), P1_SHARED);
        let pin = SecretString::new("1234");
        let enc = ka.shared.encrypt(&padded_pin(&pin).unwrap()).unwrap();
        assert_eq!(hex::encode(&enc), P1_NEW_PIN_ENC);
        assert_eq!(hex::encode(ka.shared.authenticate(&enc)), P1_AUTH);
        assert_eq!(hex::encode(ka.shared.encrypt(&pin_hash16(&pin)).unwrap()), P1_PIN_HASH_ENC);
    }

    #[test]
    fn protocol_two_matches_known_answers() {
        let ka = agree(PinUvAuthProtocol::Two);
        assert_eq!(hex::encode(&ka.shared.secret[..]), P2_SHARED);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&h(P2_IV));
        let enc = ka.shared.encrypt_with_iv(&padded_pin(&SecretString::new("1234")).unwrap(), iv).unwrap();
        assert_eq!(hex::encode(&enc), P2_NEW_PIN_ENC);
        assert_eq!(hex::encode(ka.shared.authenticate(&enc)), P2_AUTH);
    }

    #[test]
    fn platform_key_is_a_cose_p256_key() {
        let ka = agree(PinUvAuthProtocol::Two);
        let parsed = parse_cose_p256(&ka.platform_key).unwrap();
        let d = p256::SecretKey::from_slice(&h(PLATFORM_D)).unwrap();
        assert_eq!(parsed, d.public_key());
    }

    #[test]
    fn encryption_round_trips_and_protocol_two_uses_fresh_ivs() {
        for p in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
            let ka = agree(p);
            let token = [7u8; 32];
            let a = ka.shared.encrypt(&token).unwrap();
            let b = ka.shared.encrypt(&token).unwrap();
            assert_eq!(p == PinUvAuthProtocol::Two, a != b);
            assert_eq!(a.len(), if p == PinUvAuthProtocol::Two { 48 } else { 32 });
            let t = PinToken::decrypt(&ka.shared, &a).unwrap();
            assert_eq!(&t.token[..], &token);
            assert_eq!(t.authenticate(b"x").len(), if p == PinUvAuthProtocol::Two { 32 } else { 16 });
        }
    }

    #[test]
    fn invalid_peer_keys_are_refused() {
        let mut bad = key_cose();
        if let Value::Map(m) = &mut bad {
            m[3].1 = bytes(&[1u8; 32]);
        }
        assert!(matches!(encapsulate(PinUvAuthProtocol::Two, &bad), Err(KeyError::Protocol(_))));
        assert!(encapsulate(PinUvAuthProtocol::Two, &int(3)).is_err());
    }

    #[test]
    fn protocol_choice_prefers_two_and_honours_forcing() {
        use PinUvAuthProtocol::*;
        assert_eq!(PinUvAuthProtocol::choose(&[1, 2], None).unwrap(), Two);
        assert_eq!(PinUvAuthProtocol::choose(&[2, 1], Some(One)).unwrap(), One);
        assert_eq!(PinUvAuthProtocol::choose(&[], None).unwrap(), One);
        assert!(matches!(PinUvAuthProtocol::choose(&[2], Some(One)), Err(KeyError::Unsupported(_))));
    }

    #[test]
    fn new_pin_checks_count_code_points_and_bytes() {
        assert_eq!(check_new_pin(&SecretString::new("123"), 4), Err(KeyError::PinTooShort { min_length: 4 }));
        assert_eq!(check_new_pin(&SecretString::new("12345"), 6), Err(KeyError::PinTooShort { min_length: 6 }));
        // Four code points, eight bytes: long enough.
        assert_eq!(check_new_pin(&SecretString::new("ééüü"), 4), Ok(()));
        assert_eq!(check_new_pin(&SecretString::new("a".repeat(63)), 4), Ok(()));
        assert_eq!(check_new_pin(&SecretString::new("a".repeat(64)), 4), Err(KeyError::PinTooLong));
        // 32 two-byte characters = 64 bytes.
        assert_eq!(check_new_pin(&SecretString::new("é".repeat(32)), 4), Err(KeyError::PinTooLong));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let ka = agree(PinUvAuthProtocol::One);
        let text = format!("{:?}", ka.shared);
        assert!(!text.contains(&P1_SHARED[..8]));
    }
}
