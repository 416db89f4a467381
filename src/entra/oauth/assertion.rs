//! Signed client assertions (RFC 7523 JWTs) for certificate credentials.
//!
//! Current Microsoft guidance: `PS256` with an `x5t#S256` header (SHA-256 thumbprint);
//! the older form, `RS256` with `x5t` (SHA-1 thumbprint), is still available as an
//! option. Claims: `aud` = the token endpoint, `iss` = `sub` = client id, a fresh GUID
//! `jti`, and `nbf`/`iat`/`exp` spanning at most 10 minutes.
use super::certificate::ClientCertificate;
use super::OAuthError;
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use sha2::Sha256;
use std::time::Duration;

/// Longest assertion lifetime Entra accepts.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// The JWS algorithm of a client assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and an `x5t#S256` header (the default).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and an `x5t` (SHA-1) header.
    Rs256,
}

impl AssertionAlgorithm {
    /// `PS256` or `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            AssertionAlgorithm::Ps256 => "PS256",
            AssertionAlgorithm::Rs256 => "RS256",
        }
    }

    /// Parse `ps256`/`rs256` (any case).
    pub fn parse(text: &str) -> Option<AssertionAlgorithm> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PS256" => Some(AssertionAlgorithm::Ps256),
            "RS256" => Some(AssertionAlgorithm::Rs256),
            _ => None,
        }
    }
}

/// Build and sign a client assertion for `client_id`, audience `audience` (the token
/// endpoint URL), valid from now for `lifetime` (capped at 10 minutes).
pub fn build_client_assertion(
    certificate: &ClientCertificate,
    algorithm: AssertionAlgorithm,
    client_id: &str,
    audience: &str,
    lifetime: Duration,
) -> Result<SecretString, OAuthError> {
    let now = chrono::Utc::now().timestamp();
    let lifetime = lifetime.min(MAX_ASSERTION_LIFETIME).as_secs().max(60) as i64;
    let header = match algorithm {
        AssertionAlgorithm::Ps256 => serde_json::json!({
            "alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(certificate.sha256_thumbprint()),
        }),
        AssertionAlgorithm::Rs256 => serde_json::json!({
            "alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(certificate.sha1_thumbprint()),
        }),
    };
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + lifetime,
    });
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = certificate.key().clone();
    let signature = match algorithm {
        AssertionAlgorithm::Ps256 => rsa::pss::SigningKey::<Sha256>::new(key)
            .try_sign_with_rng(&mut rand::thread_rng(), signing_input.as_bytes())
            .map(|s| s.to_vec()),
        AssertionAlgorithm::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(key).try_sign(signing_input.as_bytes()).map(|s| s.to_vec()),
    }
    .map_err(|e| OAuthError::Credential(format!("cannot sign the client assertion: {e}")))?;
    Ok(SecretString::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::oauth::certificate::test_support::test_cert;
    use rsa::signature::Verifier;

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let p: Vec<&str> = jwt.split('.').collect();
        assert_eq!(p.len(), 3);
        let j = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
        (j(p[0]), j(p[1]), URL_SAFE_NO_PAD.decode(p[2]).unwrap(), format!("{}.{}", p[0], p[1]))
    }

    #[test]
    fn ps256_assertion_has_the_required_header_claims_and_a_valid_signature() {
        let (cert, key) = test_cert();
        let c = ClientCertificate::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let aud = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let jwt = build_client_assertion(&c, AssertionAlgorithm::Ps256, "client-1", aud, Duration::from_secs(3600)).unwrap();
        let (h, claims, sig, input) = parts(jwt.expose());
        assert_eq!(h["alg"], "PS256");
        assert_eq!(h["x5t#S256"], URL_SAFE_NO_PAD.encode(c.sha256_thumbprint()));
        assert!(h.get("x5t").is_none());
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        let (nbf, iat, exp) = (claims["nbf"].as_i64().unwrap(), claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert_eq!(nbf, iat);
        assert!(exp - iat <= 600 && exp > iat, "lifetime capped at 10 minutes");
        let public = rsa::RsaPublicKey::from(c.key());
        let vk = rsa::pss::VerifyingKey::<Sha256>::new(public);
        vk.verify(input.as_bytes(), &rsa::pss::Signature::try_from(sig.as_slice()).unwrap()).unwrap();
        // Two assertions never share a jti.
        let again = build_client_assertion(&c, AssertionAlgorithm::Ps256, "client-1", aud, Duration::from_secs(60)).unwrap();
        assert_ne!(parts(again.expose()).1["jti"], claims["jti"]);
    }

    #[test]
    fn rs256_assertion_uses_x5t_and_pkcs1_signature() {
        let (cert, key) = test_cert();
        let c = ClientCertificate::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let jwt = build_client_assertion(&c, AssertionAlgorithm::Rs256, "c", "aud", Duration::from_secs(300)).unwrap();
        let (h, claims, sig, input) = parts(jwt.expose());
        assert_eq!(h["alg"], "RS256");
        assert_eq!(h["x5t"], URL_SAFE_NO_PAD.encode(c.sha1_thumbprint()));
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
        let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(rsa::RsaPublicKey::from(c.key()));
        vk.verify(input.as_bytes(), &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap()).unwrap();
        assert_eq!(AssertionAlgorithm::parse("rs256"), Some(AssertionAlgorithm::Rs256));
        assert_eq!(AssertionAlgorithm::parse("es256"), None);
    }
}
