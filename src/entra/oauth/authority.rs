//! An authority: identity-platform host plus tenant, and the endpoints derived from it.
use super::OAuthError;
use crate::entra::cloud::join_path;
use reqwest::Url;

/// `{host}/{tenant}`: where tokens for one tenant come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    host: Url,
    tenant: String,
}

impl Authority {
    /// Combine an authority host (see [`crate::entra::cloud`]) with a tenant: a tenant
    /// GUID, a verified domain, `organizations` or `common`.
    pub fn new(host: Url, tenant: &str) -> Result<Authority, OAuthError> {
        let tenant = tenant.trim();
        let valid = !tenant.is_empty()
            && tenant.len() <= 256
            && tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid {
            return Err(OAuthError::Config(format!(
                "'{tenant}' is not a tenant: give the tenant ID (a GUID) or a verified domain such as contoso.onmicrosoft.com"
            )));
        }
        Ok(Authority { host, tenant: tenant.to_string() })
    }

    /// The identity-platform host.
    pub fn host(&self) -> &Url {
        &self.host
    }

    /// The tenant as given.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `{host}/{tenant}/oauth2/v2.0/token`, also the `aud` of client assertions.
    pub fn token_endpoint(&self) -> Url {
        join_path(&self.host, &format!("{}/oauth2/v2.0/token", self.tenant))
    }

    /// `{host}/{tenant}/oauth2/v2.0/devicecode`.
    pub fn device_code_endpoint(&self) -> Url {
        join_path(&self.host, &format!("{}/oauth2/v2.0/devicecode", self.tenant))
    }

    /// The host as a normalised string (no trailing slash), as used in cache keys.
    pub fn host_key(&self) -> String {
        self.host.as_str().trim_end_matches('/').to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::cloud::parse_service_url;

    #[test]
    fn endpoints_are_built_under_the_tenant() {
        let host = parse_service_url("https://login.microsoftonline.com/", "a").unwrap();
        let a = Authority::new(host, "contoso.onmicrosoft.com").unwrap();
        assert_eq!(a.token_endpoint().as_str(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        assert_eq!(a.device_code_endpoint().as_str(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode");
        assert_eq!(a.host_key(), "https://login.microsoftonline.com");
    }

    #[test]
    fn odd_tenants_are_refused() {
        let host = parse_service_url("https://login.microsoftonline.com", "a").unwrap();
        for bad in ["", "a/b", "x y", "../t", "t?x"] {
            assert!(Authority::new(host.clone(), bad).is_err(), "{bad}");
        }
        assert!(Authority::new(host, "72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
    }
}
