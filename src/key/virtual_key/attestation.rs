//! keystation's own test attestation PKI for virtual keys (never a vendor's key).
//!
//! A root CA (P-256, self-signed) issues the batch attestation certificate that OpenSK
//! puts into `x5c` of a `packed` attestation. The leaf follows the FIDO packed
//! attestation certificate requirements (WebAuthn §8.2.1): X.509 v3; subject C, O,
//! OU = "Authenticator Attestation", CN; basic constraints CA = false; the
//! id-fido-gen-ce-aaguid extension (1.3.6.1.4.1.45724.1.1.4, not critical) holding the
//! AAGUID as an OCTET STRING. A relying party (the Entra simulator) trusts the CA
//! certificate from [`AttestationCa::certificate_pem`].
//!
//! [`AttestationCa::load_or_create`] keeps the CA in a directory so that separate
//! processes (`keystation simulator` and a station run with `--virtual`) share it.
use super::error::VirtualKeyError;
use crate::lockfile::{FileLock, LockError};
use p256::ecdsa::SigningKey;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// id-fido-gen-ce-aaguid.
pub const AAGUID_EXTENSION_OID: [u64; 10] = [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

/// File names inside an attestation CA directory.
pub const CA_CERT_FILE: &str = "virtual-key-attestation-ca.pem";
/// The CA's private key (PKCS#8 PEM, mode 0600 on Unix).
pub const CA_KEY_FILE: &str = "virtual-key-attestation-ca.key";
const CA_LOCK_FILE: &str = "virtual-key-attestation-ca.lock";

/// OpenSK keeps the certificate in one store entry, whose values are at most 1023 bytes.
const MAX_CERT_LEN: usize = 1023;

const CA_COMMON_NAME: &str = "keystation Virtual Key Attestation Root CA (testing only)";
const ORGANIZATION: &str = "keystation";
/// ISO 3166 "ZZ" is a user-assigned code: keystation is not an incorporated vendor.
const COUNTRY: &str = "ZZ";

/// A certificate plus the raw P-256 private scalar OpenSK signs with.
pub struct IssuedAttestation {
    pub(crate) private_scalar: Zeroizing<Vec<u8>>,
    certificate_der: Vec<u8>,
}

impl IssuedAttestation {
    /// The attestation certificate (DER), as it appears in `x5c[0]`.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
}

impl std::fmt::Debug for IssuedAttestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedAttestation").field("certificate_len", &self.certificate_der.len()).finish_non_exhaustive()
    }
}

/// The test root CA that signs virtual keys' attestation certificates.
pub struct AttestationCa {
    key: KeyPair,
    certificate_der: Vec<u8>,
    certificate_pem: String,
    /// One batch certificate per AAGUID for the CA's lifetime: a batch is many keys.
    batches: Mutex<HashMap<[u8; 16], Arc<IssuedAttestation>>>,
}

impl std::fmt::Debug for AttestationCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationCa").field("certificate_len", &self.certificate_der.len()).finish_non_exhaustive()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> VirtualKeyError {
    VirtualKeyError::Attestation(format!("{what}: {e}"))
}

fn ca_distinguished_name() -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, COUNTRY);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn
}

/// The parameters the CA certificate is made from; also what the issuer side of every
/// leaf is built from, so issuer and subject names match byte for byte.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_distinguished_name();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes[0] &= 0x7F; // positive INTEGER
    bytes[0] |= 0x01; // and no leading zero byte to strip
    SerialNumber::from_slice(&bytes)
}

/// A P-256 public key in the shape rcgen signs certificates for.
struct P256Public(Vec<u8>);

impl PublicKeyData for P256Public {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl AttestationCa {
    /// A fresh CA that lives only in memory.
    pub fn generate() -> Result<AttestationCa, VirtualKeyError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| err("cannot generate the CA key", e))?;
        let mut params = ca_params();
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(|e| err("cannot sign the CA certificate", e))?;
        Ok(AttestationCa {
            key,
            certificate_der: cert.der().to_vec(),
            certificate_pem: cert.pem(),
            batches: Mutex::new(HashMap::new()),
        })
    }

    /// Where keystation keeps the CA by default: `<state dir>/virtual-key-ca`. The
    /// simulator and a station with `--virtual` both use this unless told otherwise, so
    /// the simulator trusts the virtual keys' attestation out of the box.
    pub fn default_dir(state_dir: &Path) -> PathBuf {
        state_dir.join("virtual-key-ca")
    }

    /// Load the CA kept in `dir`, creating it (and `dir`) the first time. Safe to call
    /// from several processes at once: creation happens under a lock file.
    pub fn load_or_create(dir: &Path) -> Result<AttestationCa, VirtualKeyError> {
        std::fs::create_dir_all(dir).map_err(|e| VirtualKeyError::io(dir, &e))?;
        let lock_path = dir.join(CA_LOCK_FILE);
        let _lock = match FileLock::acquire(&lock_path, Duration::from_secs(10)) {
            Ok(lock) => lock,
            Err(LockError::Busy) => {
                return Err(VirtualKeyError::Attestation(format!(
                    "another process keeps {} locked; retry when it has finished",
                    lock_path.display()
                )));
            }
            Err(LockError::Io(e)) => return Err(VirtualKeyError::io(&lock_path, &e)),
        };
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => {
                let ca = Self::generate()?;
                write_atomically(&key_path, ca.key.serialize_pem().as_bytes(), true)?;
                write_atomically(&cert_path, ca.certificate_pem.as_bytes(), false)?;
                tracing::info!(dir = %dir.display(), "created the virtual-key attestation CA");
                Ok(ca)
            }
            _ => Err(VirtualKeyError::Attestation(format!(
                "{} holds only one of {CA_CERT_FILE} and {CA_KEY_FILE}; delete the other one too so that a new CA is made",
                dir.display()
            ))),
        }
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<AttestationCa, VirtualKeyError> {
        let key_pem = Zeroizing::new(std::fs::read_to_string(key_path).map_err(|e| VirtualKeyError::io(key_path, &e))?);
        let key = KeyPair::from_pem(&key_pem).map_err(|e| err(&format!("{} is not a PKCS#8 PEM key", key_path.display()), e))?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(VirtualKeyError::Attestation(format!("{} is not a P-256 key", key_path.display())));
        }
        let pem_bytes = std::fs::read(cert_path).map_err(|e| VirtualKeyError::io(cert_path, &e))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem_bytes)
            .map_err(|e| err(&format!("{} is not a PEM certificate", cert_path.display()), e))?;
        let cert = pem.parse_x509().map_err(|e| err(&format!("{} is not an X.509 certificate", cert_path.display()), e))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(VirtualKeyError::Attestation(format!(
                "{} and {} do not belong together; delete both so that a new CA is made",
                cert_path.display(),
                key_path.display()
            )));
        }
        let expected_subject = format!("C={COUNTRY}, O={ORGANIZATION}, CN={CA_COMMON_NAME}");
        if cert.subject().to_string() != expected_subject {
            return Err(VirtualKeyError::Attestation(format!(
                "{} was not made by this keystation version (subject {}); delete it and {} so that a new CA is made",
                cert_path.display(),
                cert.subject(),
                key_path.display()
            )));
        }
        let certificate_pem = String::from_utf8_lossy(&pem_bytes).into_owned();
        Ok(AttestationCa { key, certificate_der: pem.contents.clone(), certificate_pem, batches: Mutex::new(HashMap::new()) })
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The CA certificate, PEM (what a relying party adds to its trust store).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The batch attestation for keys with this AAGUID (made once per CA object).
    pub fn batch_attestation(&self, aaguid: [u8; 16]) -> Result<Arc<IssuedAttestation>, VirtualKeyError> {
        let mut batches = super::shared::lock(&self.batches);
        if let Some(issued) = batches.get(&aaguid) {
            return Ok(Arc::clone(issued));
        }
        let issued = Arc::new(self.issue(aaguid, "keystation Virtual FIDO2 Key Batch Attestation")?);
        batches.insert(aaguid, Arc::clone(&issued));
        Ok(issued)
    }

    /// An individual (enterprise) attestation for one key, naming its serial number.
    pub fn individual_attestation(&self, aaguid: [u8; 16], serial: &str) -> Result<IssuedAttestation, VirtualKeyError> {
        self.issue(aaguid, &format!("keystation Virtual FIDO2 Key {serial}"))
    }

    fn issue(&self, aaguid: [u8; 16], common_name: &str) -> Result<IssuedAttestation, VirtualKeyError> {
        let signing_key = SigningKey::random(&mut rand::rngs::OsRng);
        let public = P256Public(signing_key.verifying_key().to_encoded_point(false).as_bytes().to_vec());

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, COUNTRY);
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::OrganizationalUnitName, "Authenticator Attestation");
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        // extnValue wraps the DER of an OCTET STRING that holds the 16 AAGUID bytes.
        let mut aaguid_der = vec![0x04, 0x10];
        aaguid_der.extend_from_slice(&aaguid);
        params.custom_extensions.push(CustomExtension::from_oid_content(&AAGUID_EXTENSION_OID, aaguid_der));

        let issuer = Issuer::new(ca_params(), &self.key);
        let cert = params.signed_by(&public, &issuer).map_err(|e| err("cannot sign the attestation certificate", e))?;
        let certificate_der = cert.der().to_vec();
        if certificate_der.len() > MAX_CERT_LEN {
            return Err(VirtualKeyError::Attestation(format!(
                "the attestation certificate is {} bytes; OpenSK stores at most {MAX_CERT_LEN}",
                certificate_der.len()
            )));
        }
        Ok(IssuedAttestation { private_scalar: Zeroizing::new(signing_key.to_bytes().to_vec()), certificate_der })
    }
}

/// Write a file so that readers see the old or the new content, never a mix.
fn write_atomically(path: &Path, content: &[u8], private: bool) -> Result<(), VirtualKeyError> {
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options.open(&tmp)?;
        std::io::Write::write_all(&mut f, content)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        VirtualKeyError::io(path, &e)
    })
}
