//! Errors of the OAuth side: what the token endpoint said (with its AADSTS codes turned
//! into operator hints), plus local problems (certificate, cache, cancellation).
use std::fmt;
use std::time::Duration;

/// Something went wrong while getting or keeping a token.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Bad settings (tenant, client id, authority, scopes...).
    #[error("{0}")]
    Config(String),
    /// The client secret, certificate or private key cannot be used.
    #[error("{0}")]
    Credential(String),
    /// The token or device-code endpoint answered with an error.
    #[error("{0}")]
    Endpoint(Box<TokenEndpointError>),
    /// No HTTP response at all (DNS, TLS, refused, timed out...).
    #[error("cannot reach the sign-in service at {endpoint}: {message} (client-request-id {client_request_id}, {attempts} attempt(s)); check the network, proxy and --authority")]
    Transport {
        /// The URL that was called.
        endpoint: String,
        /// What went wrong, with its causes.
        message: String,
        /// Our `client-request-id` of the call.
        client_request_id: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The service answered something that is not a valid OAuth response.
    #[error("the sign-in service sent an unexpected response: {0}")]
    Protocol(String),
    /// The operator cancelled the sign-in.
    #[error("sign-in cancelled")]
    Cancelled,
    /// The device code expired before the sign-in was approved.
    #[error("the device code expired before the sign-in was completed; run the login again and finish it within the time shown")]
    DeviceCodeExpired,
    /// The token cache could not be read or written.
    #[error("token cache: {0}")]
    Cache(String),
    /// Nothing usable in the cache.
    #[error("{0}")]
    NotSignedIn(String),
}

impl OAuthError {
    /// The endpoint error, if this is one.
    pub fn endpoint(&self) -> Option<&TokenEndpointError> {
        match self {
            OAuthError::Endpoint(e) => Some(e),
            _ => None,
        }
    }

    /// The classification of an endpoint error (`None` for local errors).
    pub fn kind(&self) -> Option<OAuthErrorKind> {
        self.endpoint().map(|e| e.kind())
    }
}

/// The error classes of RFC 6749 / RFC 8628 that the identity platform returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorKind {
    /// Device code not approved yet: keep polling.
    AuthorizationPending,
    /// Polling too fast: add 5 s to the interval.
    SlowDown,
    /// The user declined the device-code sign-in.
    AuthorizationDeclined,
    /// The device code expired.
    ExpiredToken,
    /// The device code is unknown.
    BadVerificationCode,
    /// Client authentication failed (wrong secret, certificate, public/confidential mix-up).
    InvalidClient,
    /// The grant (refresh token, device code) is invalid, expired or revoked.
    InvalidGrant,
    /// The scopes are not valid for this flow.
    InvalidScope,
    /// The app may not use this grant type.
    UnauthorizedClient,
    /// Consent is missing.
    ConsentRequired,
    /// The user must sign in interactively again (MFA, conditional access).
    InteractionRequired,
    /// Throttled (HTTP 429) after all retries.
    Throttled,
    /// The service is temporarily unavailable (5xx) after all retries.
    TemporarilyUnavailable,
    /// Anything else (`invalid_request`, `unsupported_grant_type`...).
    Other,
}

/// An error answer of the token or device-code endpoint.
#[derive(Clone)]
pub struct TokenEndpointError {
    /// HTTP status.
    pub status: u16,
    /// OAuth `error` code (e.g. `invalid_client`), or a synthetic one for non-OAuth bodies.
    pub error: String,
    /// First line of `error_description` (the AADSTS text).
    pub description: String,
    /// `error_codes` (AADSTS numbers).
    pub error_codes: Vec<u32>,
    /// `trace_id` for Microsoft support.
    pub trace_id: Option<String>,
    /// `correlation_id` for Microsoft support.
    pub correlation_id: Option<String>,
    /// Our `client-request-id` of the call.
    pub client_request_id: String,
    /// A server-advertised wait that was too long to sit through.
    pub retry_after: Option<Duration>,
}

impl TokenEndpointError {
    /// Classify by the OAuth `error` code, falling back on the HTTP status.
    pub fn kind(&self) -> OAuthErrorKind {
        use OAuthErrorKind as K;
        match self.error.as_str() {
            "authorization_pending" => K::AuthorizationPending,
            "slow_down" => K::SlowDown,
            "authorization_declined" | "access_denied" => K::AuthorizationDeclined,
            "expired_token" => K::ExpiredToken,
            "bad_verification_code" => K::BadVerificationCode,
            "invalid_client" => K::InvalidClient,
            "invalid_grant" => K::InvalidGrant,
            "invalid_scope" => K::InvalidScope,
            "unauthorized_client" => K::UnauthorizedClient,
            "consent_required" => K::ConsentRequired,
            "interaction_required" => K::InteractionRequired,
            "temporarily_unavailable" => K::TemporarilyUnavailable,
            _ if self.status == 429 => K::Throttled,
            _ if self.status >= 500 => K::TemporarilyUnavailable,
            _ => K::Other,
        }
    }

    /// What the operator should do, from the AADSTS code or the error class.
    pub fn hint(&self) -> Option<String> {
        for code in &self.error_codes {
            let hint = match code {
                7000218 => "this app registration is a confidential client: for --device-code turn on \"Allow public client flows\" (app registration > Authentication), or sign in with --client-secret-env/--client-secret-file/--certificate",
                700025 => "this app registration is a public client, so it must not be given a client secret or certificate: use --device-code, or use a confidential app registration for app-only sign-in",
                7000215 => "the client secret is wrong: use the secret's Value (not its Secret ID) from Certificates & secrets",
                7000222 => "the client secret has expired: create a new one under Certificates & secrets",
                700027 | 700024 => "the certificate assertion was refused: upload this certificate (.cer/.pem, public part only) under Certificates & secrets, check that it has not expired and that the machine clock is right",
                700016 => "no application with this client id in this tenant: check --client-id and --tenant, and that the app is registered (or consented) in that tenant",
                90002 | 900023 => "the tenant is unknown: check --tenant (tenant GUID or verified domain) and --authority (national cloud)",
                70011 => "invalid scope: app-only sign-in needs the resource's .default scope (e.g. https://graph.microsoft.com/.default); delegated scopes need the Graph prefix",
                65001 => "consent is missing: an administrator must grant admin consent for the app's permissions (app registration > API permissions > Grant admin consent)",
                50076 | 50079 | 50158 => "the tenant requires MFA or another interactive step: complete it in the browser during --device-code sign-in",
                700082 | 70008 | 50173 => "the refresh token expired or was revoked: run keystation login again",
                50196 => "too many sign-in requests in a row: wait a minute before trying again",
                _ => continue,
            };
            return Some(hint.to_string());
        }
        let hint = match self.kind() {
            OAuthErrorKind::AuthorizationDeclined => "the sign-in was declined in the browser; run keystation login again and approve it",
            OAuthErrorKind::ExpiredToken => "the device code expired; run keystation login again and finish within the time shown",
            OAuthErrorKind::BadVerificationCode => "the service does not know this device code; start the sign-in again",
            OAuthErrorKind::InvalidClient => "client authentication failed: check --client-id, the secret or certificate, and whether the app is a public or confidential client",
            OAuthErrorKind::InvalidGrant => "the sign-in grant is no longer valid (expired, revoked or for another client); run keystation login again",
            OAuthErrorKind::InvalidScope => "invalid scope: app-only sign-in needs https://graph.microsoft.com/.default (or the national cloud's Graph host)",
            OAuthErrorKind::UnauthorizedClient => "the app registration may not use this grant type: check the platform settings of the app registration",
            OAuthErrorKind::ConsentRequired => "an administrator must grant admin consent for the requested permissions",
            OAuthErrorKind::InteractionRequired => "an interactive sign-in is needed: run keystation login --device-code",
            OAuthErrorKind::Throttled => "the sign-in service is throttling this client; wait a few minutes and try again",
            OAuthErrorKind::TemporarilyUnavailable => "the sign-in service is temporarily unavailable; try again later",
            _ => return None,
        };
        Some(hint.to_string())
    }
}

impl fmt::Debug for TokenEndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointError")
            .field("status", &self.status)
            .field("error", &self.error)
            .field("description", &self.description)
            .field("error_codes", &self.error_codes)
            .field("trace_id", &self.trace_id)
            .field("correlation_id", &self.correlation_id)
            .field("client_request_id", &self.client_request_id)
            .finish()
    }
}

impl fmt::Display for TokenEndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sign-in failed: HTTP {} {}", self.status, self.error)?;
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        write!(f, " (client-request-id {}", self.client_request_id)?;
        if let Some(t) = &self.trace_id {
            write!(f, ", trace-id {t}")?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, ", correlation-id {c}")?;
        }
        f.write_str(")")?;
        if let Some(d) = self.retry_after {
            write!(f, "; the service asked to wait {} s", d.as_secs())?;
        }
        if let Some(h) = self.hint() {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl From<TokenEndpointError> for OAuthError {
    fn from(e: TokenEndpointError) -> Self {
        OAuthError::Endpoint(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, error: &str, codes: &[u32]) -> TokenEndpointError {
        TokenEndpointError {
            status,
            error: error.into(),
            description: "AADSTS0: x".into(),
            error_codes: codes.to_vec(),
            trace_id: Some("t".into()),
            correlation_id: None,
            client_request_id: "c".into(),
            retry_after: None,
        }
    }

    #[test]
    fn kinds_follow_the_error_code_then_the_status() {
        assert_eq!(err(400, "authorization_pending", &[70016]).kind(), OAuthErrorKind::AuthorizationPending);
        assert_eq!(err(400, "access_denied", &[]).kind(), OAuthErrorKind::AuthorizationDeclined);
        assert_eq!(err(400, "authorization_declined", &[]).kind(), OAuthErrorKind::AuthorizationDeclined);
        assert_eq!(err(429, "http_429", &[]).kind(), OAuthErrorKind::Throttled);
        assert_eq!(err(503, "http_503", &[]).kind(), OAuthErrorKind::TemporarilyUnavailable);
        assert_eq!(err(400, "invalid_request", &[]).kind(), OAuthErrorKind::Other);
    }

    #[test]
    fn aadsts_codes_give_specific_hints() {
        let e = err(401, "invalid_client", &[7000218]);
        assert!(e.hint().unwrap().contains("Allow public client flows"));
        let e = err(400, "invalid_client", &[700025]);
        assert!(e.hint().unwrap().contains("public client"));
        let e = err(400, "invalid_scope", &[70011]);
        assert!(e.hint().unwrap().contains(".default"));
        let e = err(400, "invalid_client", &[]);
        assert!(e.hint().unwrap().contains("client authentication failed"));
        let shown = OAuthError::from(err(400, "invalid_scope", &[70011])).to_string();
        assert!(shown.contains("HTTP 400 invalid_scope") && shown.contains("hint:") && shown.contains("client-request-id c"), "{shown}");
    }
}
