//! Token responses of the identity platform.
use super::claims::TokenClaims;
use super::OAuthError;
use crate::secret::SecretString;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// What a successful token request returns. Secrets are [`SecretString`]s.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The bearer token for Graph.
    pub access_token: SecretString,
    /// Present for delegated sign-ins that asked for `offline_access`.
    pub refresh_token: Option<SecretString>,
    /// Present when `openid` was asked for.
    pub id_token: Option<SecretString>,
    /// Normally `Bearer`.
    pub token_type: String,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// The scopes granted (from the response's `scope`).
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// True when the access token expires within `margin` from now (or already has).
    pub fn expires_within(&self, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
        self.expires_at - margin <= Utc::now()
    }

    /// The access token's claims, if it is a JWT (unverified, for display).
    pub fn claims(&self) -> Option<TokenClaims> {
        TokenClaims::peek(self.access_token.expose())
    }

    /// The ID token's claims, if one came back (unverified, for display).
    pub fn id_claims(&self) -> Option<TokenClaims> {
        self.id_token.as_ref().and_then(|t| TokenClaims::peek(t.expose()))
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    token_type: Option<String>,
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// Parse a 200 answer of the token endpoint.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<TokenSet, OAuthError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|e| OAuthError::Protocol(format!("token response is not JSON ({e})")))?;
    let access_token = wire
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::Protocol("token response has no access_token".into()))?;
    // Some services send expires_in as a string; a missing one means "assume an hour".
    let expires_in = match wire.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(3600);
    Ok(TokenSet {
        access_token: SecretString::new(access_token),
        refresh_token: wire.refresh_token.filter(|t| !t.is_empty()).map(SecretString::new),
        id_token: wire.id_token.filter(|t| !t.is_empty()).map(SecretString::new),
        token_type: wire.token_type.unwrap_or_else(|| "Bearer".into()),
        expires_at: Utc::now() + chrono::Duration::seconds(expires_in.min(i64::MAX as u64 / 2) as i64),
        scopes: wire.scope.unwrap_or_default().split_whitespace().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_strings_and_never_shows_secrets() {
        let t = parse_token_response(br#"{"token_type":"Bearer","access_token":"AT-SECRET","refresh_token":"RT-SECRET","expires_in":"120","scope":"a b"}"#).unwrap();
        assert_eq!(t.scopes, vec!["a", "b"]);
        assert!(t.expires_within(Duration::from_secs(121)));
        assert!(!t.expires_within(Duration::from_secs(60)));
        let shown = format!("{t:?}");
        assert!(!shown.contains("AT-SECRET") && !shown.contains("RT-SECRET"), "{shown}");
        let t = parse_token_response(br#"{"access_token":"x","expires_in":3599}"#).unwrap();
        assert!(t.refresh_token.is_none());
        assert_eq!(t.token_type, "Bearer");
    }

    #[test]
    fn rejects_bodies_without_a_token() {
        assert!(parse_token_response(b"{}").is_err());
        assert!(parse_token_response(b"<html>").is_err());
        assert!(parse_token_response(br#"{"access_token":""}"#).is_err());
    }
}
