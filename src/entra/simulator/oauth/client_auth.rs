//! Client authentication at the token endpoint: public clients (no credential), client
//! secrets (form or HTTP Basic) and client assertions (JWT signed with a registered
//! certificate, PS256 or RS256, located by `x5t#S256` or `x5t`).
use super::error::StsError;
use crate::entra::simulator::seed::AppKind;
use crate::entra::simulator::state::directory::App;
use crate::entra::simulator::state::TenantState;
use crate::secret::SecretString;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The assertion type the identity platform accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on assertion `exp`/`nbf`.
const SKEW_SECS: i64 = 300;

/// The credential a token request presented.
#[derive(Debug)]
pub enum ClientCredential {
    None,
    Secret(SecretString),
    Assertion(String),
}

/// The client id and credential of a request (form fields or HTTP Basic).
pub fn extract(form: &HashMap<String, String>, headers: &HeaderMap) -> Result<(Option<String>, ClientCredential), StsError> {
    let mut client_id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some(basic) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")) {
        let decoded = STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| StsError::bad("invalid_request", 900023, "The Authorization header is not valid HTTP Basic credentials."))?;
        let (id, sec) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
        client_id = client_id.or(Some(dec(id)));
        secret = secret.or(Some(dec(sec)));
    }
    let assertion = form.get("client_assertion").cloned();
    if assertion.is_some() || form.contains_key("client_assertion_type") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(StsError::bad("invalid_request", 50027, format!("client_assertion_type must be '{JWT_BEARER}'.")));
        }
        if secret.is_some() {
            return Err(StsError::bad("invalid_request", 90015, "Send either client_secret or client_assertion, not both."));
        }
        let a = assertion.ok_or_else(|| StsError::bad("invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion'."))?;
        return Ok((client_id, ClientCredential::Assertion(a)));
    }
    Ok((client_id, secret.map(|s| ClientCredential::Secret(SecretString::new(s))).unwrap_or(ClientCredential::None)))
}

/// What the assertion check needs to know about the request.
pub struct AssertionContext<'a> {
    /// `http://127.0.0.1:P` (no trailing slash).
    pub authority: &'a str,
    /// The tenant segment of the request path.
    pub path_tenant: &'a str,
    pub now: DateTime<Utc>,
}

/// Authenticate `app` with `cred`; returns the client id the assertion named when the form
/// had none.
pub fn authenticate(st: &mut TenantState, app: &App, cred: &ClientCredential, ctx: &AssertionContext) -> Result<(), StsError> {
    match (app.kind, cred) {
        (AppKind::Public, ClientCredential::None) => Ok(()),
        (AppKind::Public, _) => Err(StsError::invalid_client(
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (AppKind::Confidential, ClientCredential::None) => Err(StsError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (AppKind::Confidential, ClientCredential::Secret(s)) => {
            if app.secrets.iter().any(|known| constant_time_eq(known.expose().as_bytes(), s.expose().as_bytes())) {
                Ok(())
            } else {
                Err(StsError::invalid_client(
                    7000215,
                    format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
                ))
            }
        }
        (AppKind::Confidential, ClientCredential::Assertion(jwt)) => check_assertion(st, app, jwt, ctx),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client id an assertion claims (`iss`), for requests without `client_id`.
pub fn assertion_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let v: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

fn malformed(why: &str) -> StsError {
    StsError::invalid_client(50027, format!("JWT token is invalid or malformed: {why}."))
}

fn check_assertion(st: &mut TenantState, app: &App, jwt: &str, ctx: &AssertionContext) -> Result<(), StsError> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed("it does not have three dot-separated parts"));
    }
    let json = |s: &str| -> Option<serde_json::Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok() };
    let header = json(parts[0]).ok_or_else(|| malformed("the header is not base64url JSON"))?;
    let claims = json(parts[1]).ok_or_else(|| malformed("the payload is not base64url JSON"))?;
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| malformed("the signature is not base64url"))?;
    let alg = header.get("alg").and_then(|v| v.as_str()).unwrap_or_default();
    if alg != "PS256" && alg != "RS256" {
        return Err(StsError::invalid_client(700027, format!("Client assertion uses algorithm '{alg}'; use PS256 (or RS256).")));
    }
    let x5t_s256 = header.get("x5t#S256").and_then(|v| v.as_str());
    let x5t = header.get("x5t").and_then(|v| v.as_str());
    if x5t_s256.is_none() && x5t.is_none() {
        return Err(StsError::invalid_client(700027, "Client assertion failed signature validation: the header has neither 'x5t#S256' nor 'x5t'."));
    }
    let thumb = |s: Option<&str>| s.and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok());
    let (s256, s1) = (thumb(x5t_s256), thumb(x5t));
    let cert = app
        .certificates
        .iter()
        .find(|c| s256.as_deref() == Some(c.sha256.as_slice()) || s1.as_deref() == Some(c.sha1.as_slice()))
        .ok_or_else(|| {
            StsError::invalid_client(
                700027,
                format!("The certificate with identifier used to sign the client assertion is not registered on application '{}'.", app.client_id),
            )
        })?;
    let key = rsa_key_of(&cert.der).map_err(|e| StsError::invalid_client(700027, format!("The registered certificate has no usable RSA key: {e}.")))?;
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let digest = Sha256::digest(signing_input.as_bytes());
    let verified = match alg {
        "PS256" => key.verify(rsa::Pss::new::<Sha256>(), &digest, &signature).is_ok(),
        _ => key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature).is_ok(),
    };
    if !verified {
        return Err(StsError::invalid_client(700027, "Client assertion failed signature validation."));
    }
    let claim = |k: &str| claims.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    if !claim("iss").eq_ignore_ascii_case(&app.client_id) || !claim("sub").eq_ignore_ascii_case(&app.client_id) {
        return Err(StsError::invalid_client(
            700021,
            format!("Client assertion application identifier doesn't match 'client_id' parameter: iss and sub must both be '{}'.", app.client_id),
        ));
    }
    let aud = claim("aud");
    let expected: Vec<String> = [ctx.path_tenant, st.tenant_id.as_str(), st.domain.as_str()]
        .iter()
        .map(|t| format!("{}/{t}/oauth2/v2.0/token", ctx.authority))
        .collect();
    if !expected.iter().any(|e| e.eq_ignore_ascii_case(&aud)) {
        return Err(StsError::invalid_client(
            50013,
            format!("Assertion audience claim '{aud}' does not match the required value; expected {}.", expected[1]),
        ));
    }
    let time = |k: &str| claims.get(k).and_then(|v| v.as_i64());
    let exp = time("exp").ok_or_else(|| malformed("the 'exp' claim is missing"))?;
    let nbf = time("nbf").unwrap_or(i64::MIN);
    let now = ctx.now.timestamp();
    if now > exp + SKEW_SECS || now + SKEW_SECS < nbf {
        let fmt = |t: i64| Utc.timestamp_opt(t, 0).single().map(|d| d.to_rfc3339()).unwrap_or_else(|| t.to_string());
        return Err(StsError::invalid_client(
            700024,
            format!("Client assertion is not within its valid time range. Current time: {}, assertion valid from {} until {}.", ctx.now.to_rfc3339(), fmt(nbf.max(0)), fmt(exp)),
        ));
    }
    let jti = claim("jti");
    if jti.is_empty() {
        return Err(malformed("the 'jti' claim is missing"));
    }
    st.used_jtis.retain(|_, until| *until > ctx.now - Duration::seconds(SKEW_SECS));
    let key = format!("{}:{jti}", app.client_id);
    if st.used_jtis.contains_key(&key) {
        return Err(StsError::invalid_client(50013, format!("The assertion's jti '{jti}' was already used; every client assertion needs a unique jti.")));
    }
    let until = Utc.timestamp_opt(exp, 0).single().unwrap_or(ctx.now);
    st.used_jtis.insert(key, until);
    Ok(())
}

/// The RSA public key of a certificate.
fn rsa_key_of(der: &[u8]) -> Result<rsa::RsaPublicKey, String> {
    use x509_parser::public_key::PublicKey;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    match cert.public_key().parsed().map_err(|e| e.to_string())? {
        PublicKey::RSA(k) => rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(k.modulus), rsa::BigUint::from_bytes_be(k.exponent))
            .map_err(|e| e.to_string()),
        _ => Err("client assertions need an RSA certificate".into()),
    }
}
