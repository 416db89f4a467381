//! Self attestation (OpenSK default) and keystation's batch attestation PKI.
use crate::ctaphid::*;
use ciborium::Value;
use keystation::key::virtual_key::*;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use std::sync::Arc;
use x509_parser::prelude::*;

fn att_stmt(answer: &Value) -> Value {
    assert_eq!(map_get(answer, 1).and_then(Value::as_text), Some("packed"));
    map_get(answer, 3).expect("attStmt").clone()
}

fn verify_p256(public_sec1: &[u8], message: &[u8], der_signature: &[u8]) -> bool {
    let key = VerifyingKey::from_sec1_bytes(public_sec1).expect("P-256 public key");
    let sig = Signature::from_der(der_signature).expect("DER ECDSA signature");
    key.verify(message, &sig).is_ok()
}

#[test]
fn without_a_ca_the_key_self_attests() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    let stmt = att_stmt(&ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false))));
    assert_eq!(map_text(&stmt, "alg"), Some(Value::Integer((-7).into())));
    assert!(map_text(&stmt, "sig").is_some());
    assert_eq!(map_text(&stmt, "x5c"), None, "self attestation has no certificate");
}

#[test]
fn batch_attestation_chains_to_the_ca_and_names_the_aaguid() {
    let ca = Arc::new(AttestationCa::generate().unwrap());
    let key = VirtualKey::new(VirtualKeyConfig { attestation: VirtualAttestation::Batch(Arc::clone(&ca)), ..Default::default() });
    let mut ch = Channel::open(key.open().unwrap());
    let answer = ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false)));
    let auth_data = map_get(&answer, 2).unwrap().as_bytes().unwrap().clone();
    assert_eq!(&auth_data[37..53], &VIRTUAL_KEY_AAGUID, "authData carries the AAGUID");
    let stmt = att_stmt(&answer);
    let x5c = map_text(&stmt, "x5c").expect("x5c").into_array().unwrap();
    assert_eq!(x5c.len(), 1);
    let leaf_der = x5c[0].as_bytes().unwrap().clone();

    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    let (_, root) = X509Certificate::from_der(ca.certificate_der()).unwrap();
    assert_eq!(leaf.version(), X509Version::V3);
    assert_eq!(leaf.issuer(), root.subject());
    assert!(
        verify_p256(
            &root.public_key().subject_public_key.data,
            leaf.tbs_certificate.as_ref(),
            &leaf.signature_value.data
        ),
        "the attestation certificate is not signed by the CA"
    );
    let ou: Vec<_> = leaf.subject().iter_organizational_unit().map(|a| a.as_str().unwrap().to_string()).collect();
    assert_eq!(ou, vec!["Authenticator Attestation".to_string()]);
    assert_eq!(leaf.subject().iter_country().count(), 1);
    assert_eq!(leaf.subject().iter_organization().count(), 1);
    assert_eq!(leaf.subject().iter_common_name().count(), 1);
    let bc = leaf.basic_constraints().unwrap().expect("basic constraints present");
    assert!(!bc.value.ca);
    let aaguid_ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.45724.1.1.4")
        .expect("id-fido-gen-ce-aaguid extension");
    assert!(!aaguid_ext.critical);
    let mut expected = vec![0x04, 0x10];
    expected.extend_from_slice(&VIRTUAL_KEY_AAGUID);
    assert_eq!(aaguid_ext.value, expected.as_slice());

    // The attestation signature covers authData || clientDataHash with the leaf's key.
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&[0x42; 32]);
    let sig = map_text(&stmt, "sig").unwrap().into_bytes().unwrap();
    assert!(verify_p256(&leaf.public_key().subject_public_key.data, &signed, &sig));
}

#[test]
fn keys_of_one_batch_share_the_batch_certificate() {
    let ca = Arc::new(AttestationCa::generate().unwrap());
    let x5c_of = |key: &VirtualKey| {
        let mut ch = Channel::open(key.open().unwrap());
        let stmt = att_stmt(&ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false))));
        map_text(&stmt, "x5c").unwrap()
    };
    let config = || VirtualKeyConfig { attestation: VirtualAttestation::Batch(Arc::clone(&ca)), ..Default::default() };
    assert_eq!(x5c_of(&VirtualKey::new(config())), x5c_of(&VirtualKey::new(config())));
}

#[test]
fn the_ca_is_created_once_per_directory_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let first = AttestationCa::load_or_create(dir.path()).unwrap();
    let again = AttestationCa::load_or_create(dir.path()).unwrap();
    assert_eq!(first.certificate_der(), again.certificate_der());
    assert!(first.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the CA key must not be readable by others: {mode:o}");
    }
    // A certificate issued by the reloaded CA chains to the first one's certificate.
    let issued = again.batch_attestation(VIRTUAL_KEY_AAGUID).unwrap();
    let (_, leaf) = X509Certificate::from_der(issued.certificate_der()).unwrap();
    let (_, root) = X509Certificate::from_der(first.certificate_der()).unwrap();
    assert!(verify_p256(&root.public_key().subject_public_key.data, leaf.tbs_certificate.as_ref(), &leaf.signature_value.data));

    std::fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
    let err = AttestationCa::load_or_create(dir.path()).unwrap_err();
    assert!(err.to_string().contains("delete the other one"), "{err}");
}
