//! OAuth scopes: short Graph permission names are expanded to full resource URIs.
use reqwest::Url;

/// The OpenID Connect scopes that never get a resource prefix.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// Delegated Graph permissions the station needs, least privileged first.
pub const DELEGATED_GRAPH_PERMISSIONS: [&str; 5] = [
    "User.Read.All",
    "GroupMember.Read.All",
    "UserAuthMethod-TAP.ReadWrite.All",
    "UserAuthMethod-Passkey.ReadWrite.All",
    "Policy.Read.AuthenticationMethod",
];

/// A list of scopes as sent to the identity platform (space-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parse a space- or comma-separated list. Bare permission names (`User.Read.All`)
    /// get the Graph resource prefix (`https://graph.microsoft.com/User.Read.All`);
    /// `.default`, OIDC scopes and full URIs are kept as they are.
    pub fn parse(text: &str, graph_host: &Url) -> Scopes {
        let resource = graph_resource(graph_host);
        let mut out: Vec<String> = Vec::new();
        for item in text.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            let scope = if OIDC_SCOPES.contains(&item.to_ascii_lowercase().as_str()) {
                item.to_ascii_lowercase()
            } else if item.contains("://") || item.starts_with("api://") {
                item.to_string()
            } else {
                format!("{resource}/{}", item.trim_start_matches('/'))
            };
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Scopes(out)
    }

    /// Scopes taken as they are (already full URIs or OIDC scopes), e.g. from the cache.
    pub fn from_list(scopes: &[String]) -> Scopes {
        let mut out: Vec<String> = Vec::new();
        for s in scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        Scopes(out)
    }

    /// `{graph}/.default`: every application permission granted to the app (app-only).
    pub fn graph_default(graph_host: &Url) -> Scopes {
        Scopes(vec![format!("{}/.default", graph_resource(graph_host))])
    }

    /// What `keystation login --device-code` asks for by default: the station's
    /// least-privileged delegated Graph permissions plus a refresh token and identity.
    pub fn delegated_default(graph_host: &Url) -> Scopes {
        let resource = graph_resource(graph_host);
        let mut v: Vec<String> = DELEGATED_GRAPH_PERMISSIONS.iter().map(|p| format!("{resource}/{p}")).collect();
        v.extend(["offline_access", "openid", "profile"].map(String::from));
        Scopes(v)
    }

    /// Add `offline_access` (so that a refresh token comes back) unless present.
    pub fn with_offline_access(mut self) -> Scopes {
        if !self.0.iter().any(|s| s == "offline_access") {
            self.0.push("offline_access".into());
        }
        self
    }

    /// The scopes.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// No scopes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `scope` form parameter.
    pub fn to_param(&self) -> String {
        self.0.join(" ")
    }

    /// True when every scope is a `.default` scope (required by client credentials).
    pub fn all_default(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|s| s.ends_with("/.default"))
    }
}

/// The Graph resource URI for a Graph host URL (`https://graph.microsoft.com`).
fn graph_resource(graph_host: &Url) -> String {
    graph_host.as_str().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Url {
        Url::parse("https://graph.microsoft.com").unwrap()
    }

    #[test]
    fn bare_names_get_the_graph_prefix() {
        let s = Scopes::parse("User.Read.All, offline_access  https://graph.microsoft.com/Policy.Read.AuthenticationMethod User.Read.All", &graph());
        assert_eq!(
            s.as_slice(),
            ["https://graph.microsoft.com/User.Read.All", "offline_access", "https://graph.microsoft.com/Policy.Read.AuthenticationMethod"]
        );
        assert_eq!(Scopes::parse(".default", &graph()).to_param(), "https://graph.microsoft.com/.default");
        assert!(Scopes::parse(".default", &graph()).all_default());
        assert!(!s.all_default());
    }

    #[test]
    fn national_cloud_prefix_and_defaults() {
        let us = Url::parse("https://graph.microsoft.us/").unwrap();
        assert_eq!(Scopes::graph_default(&us).to_param(), "https://graph.microsoft.us/.default");
        let d = Scopes::delegated_default(&us);
        assert!(d.as_slice().contains(&"https://graph.microsoft.us/UserAuthMethod-TAP.ReadWrite.All".to_string()));
        assert!(d.as_slice().contains(&"offline_access".to_string()));
        let s = Scopes::parse("User.Read.All", &us).with_offline_access().with_offline_access();
        assert_eq!(s.as_slice().len(), 2);
    }
}
