//! Attestation certificate checks: the packed leaf's requirements and the path from the
//! `x5c` chain to one of the tenant's trusted roots.
use super::keys;
use chrono::{DateTime, Utc};
use x509_parser::certificate::X509Certificate;

/// Parse one DER certificate.
pub fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    Ok(cert)
}

/// WebAuthn §8.2.1 requirements on a packed attestation certificate that the simulator
/// enforces: X.509 v3, subject OU "Authenticator Attestation", not a CA, and the AAGUID
/// extension (if present) equal to authData's AAGUID and not critical.
pub fn check_packed_leaf(cert: &X509Certificate<'_>, aaguid: &[u8; 16]) -> Result<(), String> {
    if cert.version().0 != 2 {
        return Err("the attestation certificate must be X.509 version 3".into());
    }
    let ou_ok = cert
        .subject()
        .iter_organizational_unit()
        .any(|ou| ou.as_str().map(|s| s == "Authenticator Attestation").unwrap_or(false));
    if !ou_ok {
        return Err("the attestation certificate's subject OU must be \"Authenticator Attestation\"".into());
    }
    if cert.is_ca() {
        return Err("the attestation certificate must not be a CA (basicConstraints CA=false)".into());
    }
    if let Some(ext) = cert.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.45724.1.1.4") {
        if ext.critical {
            return Err("the AAGUID extension (1.3.6.1.4.1.45724.1.1.4) must not be critical".into());
        }
        let mut expected = vec![0x04, 0x10];
        expected.extend_from_slice(aaguid);
        if ext.value != expected.as_slice() {
            return Err("the AAGUID in the attestation certificate differs from the AAGUID in authenticator data".into());
        }
    }
    Ok(())
}

fn valid_at(cert: &X509Certificate<'_>, now: DateTime<Utc>) -> bool {
    let v = cert.validity();
    let t = now.timestamp();
    v.not_before.timestamp() <= t && t <= v.not_after.timestamp()
}

fn signed_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err("issuer name does not match".into());
    }
    if !issuer.is_ca() {
        return Err(format!("'{}' is not a CA certificate", issuer.subject()));
    }
    let key = keys::from_certificate(issuer)?;
    let ok = key.verify_x509(&child.signature_algorithm.algorithm.to_id_string(), child.tbs_certificate.as_ref(), &child.signature_value.data)?;
    if ok { Ok(()) } else { Err(format!("the signature of '{}' does not verify with '{}'", child.subject(), issuer.subject())) }
}

/// Whether `x5c` (leaf first) chains to one of `roots` (DER). `Err` explains why not.
pub fn verify_to_roots(x5c: &[Vec<u8>], roots: &[Vec<u8>], now: DateTime<Utc>) -> Result<(), String> {
    if roots.is_empty() {
        return Err("the tenant has no trusted attestation roots".into());
    }
    let certs = x5c.iter().map(|d| parse(d)).collect::<Result<Vec<_>, _>>()?;
    for c in &certs {
        if !valid_at(c, now) {
            return Err(format!("certificate '{}' is outside its validity period", c.subject()));
        }
    }
    for pair in certs.windows(2) {
        signed_by(&pair[0], &pair[1])?;
    }
    let last_der = x5c.last().ok_or("empty x5c")?;
    if roots.iter().any(|r| r == last_der) {
        return Ok(());
    }
    let last = certs.last().ok_or("empty x5c")?;
    let mut why = "no trusted root issued the last certificate of the chain".to_string();
    for r in roots {
        let Ok(root) = parse(r) else { continue };
        if root.subject().as_raw() != last.issuer().as_raw() {
            continue;
        }
        if !valid_at(&root, now) {
            why = format!("trusted root '{}' is outside its validity period", root.subject());
            continue;
        }
        match signed_by(last, &root) {
            Ok(()) => return Ok(()),
            Err(e) => why = e,
        }
    }
    Err(why)
}
