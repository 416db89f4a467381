//! Access and ID tokens: JWTs signed with a per-simulator HMAC key (HS256).
//!
//! Clients treat them as opaque bearer tokens but may decode the payload (as `whoami`
//! does) to show tenant, caller, permissions and expiry. Only the simulator that minted a
//! token can verify it, so a token from another run is "foreign" (401).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The Graph resource, as `aud` and as scope prefix.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Graph's resource URI in every cloud (global, US Gov L4, US Gov L5, China): a client
/// configured for a national cloud asks for its Graph, and the simulator answers for all.
pub const GRAPH_RESOURCES: [&str; 4] = [
    GRAPH_RESOURCE,
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
];
/// Graph's application id (also accepted as `aud`).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Claims of a Graph access token (a subset of Entra's v1 access token claims).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub appid: String,
    pub app_displayname: String,
    /// `user` (delegated) or `app` (application).
    pub idtyp: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delegated permissions, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Application permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Directory role template ids of the signed-in user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wids: Option<Vec<String>>,
    /// Unique token id.
    pub uti: String,
    pub ver: String,
}

impl AccessClaims {
    /// Delegated permission names.
    pub fn scopes(&self) -> Vec<&str> {
        self.scp.as_deref().map(|s| s.split_whitespace().collect()).unwrap_or_default()
    }

    /// Application permission names.
    pub fn app_roles(&self) -> &[String] {
        self.roles.as_deref().unwrap_or(&[])
    }

    /// A user is signed in (delegated token).
    pub fn is_delegated(&self) -> bool {
        self.idtyp == "user"
    }
}

/// Claims of an ID token (device code with `openid`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    pub name: String,
    pub preferred_username: String,
    pub ver: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// Not signed by this simulator.
    BadSignature,
}

/// Sign `claims` as an HS256 JWT.
pub fn mint<T: Serialize>(key: &[u8], claims: &T) -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": "keystation-simulator"});
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{h}.{p}");
    let sig = hmac_sha256(key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Check the signature and decode the claims (times are the caller's business).
pub fn verify<T: DeserializeOwned>(key: &[u8], token: &str) -> Result<T, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: serde_json::Value =
        URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(JwtError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::BadSignature);
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| JwtError::BadSignature)?;
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
    serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A random opaque string (refresh tokens, codes, cookies), base64url of `n` bytes.
pub fn random_token(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key() {
        let claims = serde_json::json!({"a": 1});
        let t = mint(b"k1", &claims);
        let back: serde_json::Value = verify(b"k1", &t).unwrap();
        assert_eq!(back, claims);
        assert_eq!(verify::<serde_json::Value>(b"k2", &t).unwrap_err(), JwtError::BadSignature);
        assert_eq!(verify::<serde_json::Value>(b"k1", "abc").unwrap_err(), JwtError::Malformed);
    }
}
