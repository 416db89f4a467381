//! Scope strings: OIDC scopes, `offline_access`, Graph permissions (with or without the
//! resource prefix) and the `/.default` rule.
use super::error::StsError;
use crate::entra::simulator::tokens::{GRAPH_APP_ID, GRAPH_RESOURCE, GRAPH_RESOURCES};

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scopes {
    /// Graph permission names without prefix (`.default` stays `.default`).
    pub graph: Vec<String>,
    /// `openid`, `profile`, `email`.
    pub oidc: Vec<String>,
    /// `offline_access` was asked for.
    pub offline_access: bool,
    /// The raw list, as given.
    pub raw: Vec<String>,
    /// The Graph resource URI the scopes named (global Graph when none did).
    pub resource: Option<String>,
}

impl Scopes {
    /// The resource the token is for (its `aud` and scope prefix).
    pub fn resource(&self) -> &str {
        self.resource.as_deref().unwrap_or(GRAPH_RESOURCE)
    }
}

impl Scopes {
    /// `.default` was asked for.
    pub fn wants_default(&self) -> bool {
        self.graph.iter().any(|s| s == ".default")
    }
}

/// Parse a space-separated scope list.
pub fn parse(scope: &str, tenant_domain: &str) -> Result<Scopes, StsError> {
    let mut out = Scopes::default();
    for s in scope.split_whitespace() {
        out.raw.push(s.to_string());
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "openid" | "profile" | "email" => out.oidc.push(lower),
            "offline_access" => out.offline_access = true,
            _ => {
                let id_prefix = format!("{GRAPH_APP_ID}/");
                let cloud = GRAPH_RESOURCES.iter().find(|r| lower.starts_with(&format!("{r}/")));
                let name = if let Some(r) = cloud {
                    if out.resource.as_deref().is_some_and(|known| known != *r) {
                        return Err(invalid_scope(scope, "all permissions must be for the same resource"));
                    }
                    out.resource = Some(r.to_string());
                    &s[r.len() + 1..]
                } else if lower.starts_with(&id_prefix) {
                    &s[id_prefix.len()..]
                } else if s.contains('/') {
                    let resource = s.rsplit_once('/').map(|(r, _)| r).unwrap_or(s);
                    return Err(StsError::bad(
                        "invalid_resource",
                        500011,
                        format!("The resource principal named {resource} was not found in the tenant named {tenant_domain}. The simulator only knows Microsoft Graph ({GRAPH_RESOURCE})."),
                    ));
                } else {
                    s
                };
                if name.is_empty() {
                    return Err(invalid_scope(scope, "an empty permission name"));
                }
                out.graph.push(name.to_string());
            }
        }
    }
    if out.raw.is_empty() {
        return Err(StsError::bad("invalid_request", 900144, "The request body must contain the following parameter: 'scope'."));
    }
    if out.wants_default() && out.graph.len() > 1 {
        return Err(invalid_scope(scope, "'.default' cannot be combined with other permissions of the same resource"));
    }
    Ok(out)
}

/// `invalid_scope` (AADSTS70011).
pub fn invalid_scope(scope: &str, why: &str) -> StsError {
    StsError::bad(
        "invalid_scope",
        70011,
        format!("The provided value for the input parameter 'scope' is not valid. The scope '{scope}' is not valid: {why}."),
    )
}

/// The client-credentials rule: exactly one `{resource}/.default`.
pub fn check_client_credentials(scope: &str, tenant_domain: &str) -> Result<(), StsError> {
    let parsed = parse(scope, tenant_domain)?;
    let ok = parsed.raw.len() == 1 && parsed.wants_default() && parsed.raw[0].contains('/');
    if !ok {
        return Err(invalid_scope(
            scope,
            "client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI), e.g. https://graph.microsoft.com/.default",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_prefixes_and_oidc_are_split() {
        let s = parse("https://graph.microsoft.com/User.Read.All UserAuthenticationMethod.ReadWrite.All openid offline_access", "c.test").unwrap();
        assert_eq!(s.graph, vec!["User.Read.All", "UserAuthenticationMethod.ReadWrite.All"]);
        assert_eq!(s.oidc, vec!["openid"]);
        assert!(s.offline_access);
        assert_eq!(parse("https://other.example/x", "c.test").unwrap_err().code, 500011);
        assert_eq!(parse("https://graph.microsoft.us/.default", "c.test").unwrap().resource(), "https://graph.microsoft.us");
        assert_eq!(parse("User.Read", "c.test").unwrap().resource(), "https://graph.microsoft.com");
    }

    #[test]
    fn client_credentials_need_dot_default() {
        assert!(check_client_credentials("https://graph.microsoft.com/.default", "c").is_ok());
        assert_eq!(check_client_credentials("https://graph.microsoft.com/User.Read.All", "c").unwrap_err().code, 70011);
        assert_eq!(check_client_credentials(".default", "c").unwrap_err().code, 70011);
        assert_eq!(check_client_credentials("https://graph.microsoft.com/.default openid", "c").unwrap_err().code, 70011);
    }
}
