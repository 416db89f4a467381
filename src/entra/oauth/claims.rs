//! Reading the claims of a JWT *without verifying it*, for display only (`whoami`, cache
//! keys, permission hints). An access token is opaque to a client in principle: nothing
//! here is used to make a security decision, and non-JWT tokens simply yield `None`.
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The claims of an Entra access or ID token that are worth showing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TokenClaims {
    /// Audience (a string or a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Object id of the user or service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// User principal name (v1 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Sign-in name (v2 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Legacy sign-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Display name of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client id (v1 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// Client id (v2 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Display name of the client app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    /// Delegated permissions, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Application permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Directory role template ids of the signed-in user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wids: Vec<String>,
    /// `app` for app-only tokens, `user` for delegated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

impl TokenClaims {
    /// Decode the payload of a compact JWT; `None` when the token is not a JWT.
    pub fn peek(token: &str) -> Option<TokenClaims> {
        let mut parts = token.split('.');
        let (_header, payload) = (parts.next()?, parts.next()?);
        parts.next()?; // a JWS has three parts; anything shorter is not a JWT
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Delegated permissions as a list.
    pub fn scopes(&self) -> Vec<String> {
        self.scp.as_deref().unwrap_or("").split_whitespace().map(str::to_string).collect()
    }

    /// The signed-in user's name, if this is a user token.
    pub fn account(&self) -> Option<&str> {
        self.preferred_username.as_deref().or(self.upn.as_deref()).or(self.unique_name.as_deref())
    }

    /// True for app-only tokens (client credentials).
    pub fn is_app_only(&self) -> bool {
        match self.idtyp.as_deref() {
            Some(t) => t.eq_ignore_ascii_case("app"),
            None => self.scp.is_none() && self.account().is_none(),
        }
    }

    /// The client (application) id.
    pub fn client_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.appid.as_deref())
    }

    /// Expiry as a timestamp.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.exp.and_then(|s| Utc.timestamp_opt(s, 0).single())
    }

    /// Every permission the token carries (`scp` and `roles`).
    pub fn permissions(&self) -> Vec<String> {
        let mut p = self.scopes();
        p.extend(self.roles.iter().cloned());
        p
    }
}

/// The name of a built-in directory role from its template id (the `wids` claim), for
/// the roles that matter to the station.
pub fn directory_role_name(template_id: &str) -> Option<&'static str> {
    const ROLES: [(&str, &str); 8] = [
        ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
        ("7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"),
        ("c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"),
        ("0526716b-113d-4c15-b2c8-68e3c22b9f80", "Authentication Policy Administrator"),
        ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
        ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
        ("729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"),
        ("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"),
    ];
    ROLES.iter().find(|(id, _)| id.eq_ignore_ascii_case(template_id.trim())).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        let e = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.{}", e(br#"{"alg":"RS256","typ":"JWT"}"#), e(payload.to_string().as_bytes()), e(b"sig"))
    }

    #[test]
    fn delegated_token_claims() {
        let t = jwt(serde_json::json!({"tid":"t1","upn":"admin@contoso.com","scp":"User.Read.All UserAuthMethod-TAP.ReadWrite.All","exp":2000000000,"appid":"c1"}));
        let c = TokenClaims::peek(&t).unwrap();
        assert_eq!(c.account(), Some("admin@contoso.com"));
        assert_eq!(c.scopes(), vec!["User.Read.All", "UserAuthMethod-TAP.ReadWrite.All"]);
        assert!(!c.is_app_only());
        assert_eq!(c.client_id(), Some("c1"));
        assert_eq!(c.expires_at().unwrap().timestamp(), 2000000000);
    }

    #[test]
    fn app_only_token_claims() {
        let t = jwt(serde_json::json!({"tid":"t1","roles":["User.Read.All"],"idtyp":"app","azp":"c2"}));
        let c = TokenClaims::peek(&t).unwrap();
        assert!(c.is_app_only());
        assert_eq!(c.permissions(), vec!["User.Read.All"]);
        let t = jwt(serde_json::json!({"roles":["X"]}));
        assert!(TokenClaims::peek(&t).unwrap().is_app_only());
    }

    #[test]
    fn known_role_templates_have_names() {
        assert_eq!(directory_role_name("C4E39BD9-1100-46d3-8c65-fb160da0071f"), Some("Authentication Administrator"));
        assert_eq!(directory_role_name("00000000-0000-0000-0000-000000000000"), None);
    }

    #[test]
    fn opaque_tokens_are_not_claims() {
        for t in ["opaque-token", "a.b", "a.%%%.c", "", "x.eyJ.y"] {
            assert_eq!(TokenClaims::peek(t), None, "{t}");
        }
    }
}
