//! Microsoft identity platform and Graph hosts per national cloud, and validation of
//! free-form service URLs (such as the simulator's `http://127.0.0.1:PORT`).
//!
//! Tokens are not interchangeable between clouds, so the authority and Graph host always
//! travel together: pick a [`Cloud`] by name, or give an authority URL and (optionally) a
//! Graph URL.
use reqwest::Url;

/// A national cloud deployment of Entra ID and Microsoft Graph.
///
/// In configuration files a cloud is written by name (`global`, `us-gov`, `us-gov-dod`,
/// `china`; the aliases of [`Cloud::from_name`] are accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// The global service (also used by GCC moderate).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

/// Read by name, with every alias of [`Cloud::from_name`] (the same words as the
/// environment and the command line accept).
impl<'de> serde::Deserialize<'de> for Cloud {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        Cloud::from_name(&s).ok_or_else(|| {
            let names: Vec<&str> = Cloud::ALL.iter().map(|c| c.name()).collect();
            serde::de::Error::custom(format!("unknown cloud `{s}`: use one of {}", names.join(", ")))
        })
    }
}

impl Cloud {
    /// Every cloud, in the order they are listed in help texts.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    /// The name written in configuration files, `--cloud` and `KEYSTATION_TENANT_CLOUD`
    /// (one spelling everywhere; [`Cloud::from_name`] also takes the old `usgov` forms).
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "us-gov",
            Cloud::UsGovDod => "us-gov-dod",
            Cloud::China => "china",
        }
    }

    /// Base URL of the cloud's Microsoft identity platform (the "authority host").
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// Base URL of the cloud's Microsoft Graph endpoint (without API version).
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Look a cloud up by name; accepts a few common aliases, case-insensitively.
    pub fn from_name(name: &str) -> Option<Cloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "global" | "public" | "azure" | "azurecloud" | "commercial" | "gcc" => Some(Cloud::Global),
            "usgov" | "us-gov" | "usgovernment" | "gcch" | "gcc-high" | "l4" => Some(Cloud::UsGov),
            "us-gov-dod" | "usgov-dod" | "dod" | "l5" => Some(Cloud::UsGovDod),
            "china" | "21vianet" | "azurechina" | "cn" => Some(Cloud::China),
            _ => None,
        }
    }

    /// The cloud whose authority host this URL points at, if any.
    fn from_authority_url(url: &Url) -> Option<Cloud> {
        let host = url.host_str()?.to_ascii_lowercase();
        match host.as_str() {
            "login.microsoftonline.com" | "login.microsoft.com" | "login.windows.net" | "sts.windows.net" => Some(Cloud::Global),
            // L4 and L5 share the authority; L4's Graph host is the safer default.
            "login.microsoftonline.us" | "login.usgovcloudapi.net" => Some(Cloud::UsGov),
            "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => Some(Cloud::China),
            _ => None,
        }
    }
}

/// Authority and Graph base URLs that belong together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// The known cloud, or `None` for a custom (e.g. simulator) authority.
    pub cloud: Option<Cloud>,
    /// Base URL of the identity platform, without a trailing slash in its path.
    pub authority_host: Url,
    /// Base URL of Microsoft Graph, without API version.
    pub graph_host: Url,
}

/// A service URL or cloud name that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(pub String);

impl CloudEndpoints {
    /// The endpoints of a known cloud.
    pub fn for_cloud(cloud: Cloud) -> CloudEndpoints {
        CloudEndpoints {
            cloud: Some(cloud),
            // The table above holds valid https URLs; parsing them cannot fail.
            authority_host: parse_service_url(cloud.authority_host(), "authority").unwrap_or_else(|_| unreachable_url()),
            graph_host: parse_service_url(cloud.graph_host(), "Graph").unwrap_or_else(|_| unreachable_url()),
        }
    }

    /// Resolve `--authority` (a cloud name or a URL) and an optional `--graph` URL.
    ///
    /// A URL of a known cloud's authority picks that cloud's Graph host; any other URL
    /// (the simulator, a proxy) defaults to the global Graph host unless `graph` is given.
    pub fn resolve(authority: Option<&str>, graph: Option<&str>) -> Result<CloudEndpoints, EndpointError> {
        let mut endpoints = match authority.map(str::trim).filter(|s| !s.is_empty()) {
            None => CloudEndpoints::for_cloud(Cloud::Global),
            Some(spec) => match Cloud::from_name(spec) {
                Some(cloud) => CloudEndpoints::for_cloud(cloud),
                None if spec.contains("://") => {
                    let url = parse_service_url(spec, "authority")?;
                    let cloud = Cloud::from_authority_url(&url);
                    let graph_host = CloudEndpoints::for_cloud(cloud.unwrap_or(Cloud::Global)).graph_host;
                    CloudEndpoints { cloud, authority_host: url, graph_host }
                }
                None => {
                    let names: Vec<&str> = Cloud::ALL.iter().map(|c| c.name()).collect();
                    return Err(EndpointError(format!(
                        "unknown authority '{spec}': give a cloud name ({}) or a URL such as https://login.microsoftonline.com",
                        names.join(", ")
                    )));
                }
            },
        };
        if let Some(g) = graph.map(str::trim).filter(|s| !s.is_empty()) {
            endpoints.graph_host = parse_service_url(g, "Graph")?;
        }
        Ok(endpoints)
    }
}

fn unreachable_url() -> Url {
    // Only reachable if the constant table above were edited into an invalid URL.
    Url::parse("https://invalid.invalid").expect("static URL")
}

/// Parse a base URL for an identity or Graph service.
///
/// https is required, except for loopback hosts (the local simulator), so that tokens
/// and secrets never cross a network in clear text. Query, fragment and credentials in
/// the URL are refused; a trailing slash is removed.
pub fn parse_service_url(text: &str, what: &str) -> Result<Url, EndpointError> {
    let url = Url::parse(text.trim()).map_err(|e| EndpointError(format!("the {what} URL '{text}' is not a valid URL ({e})")))?;
    let host = url.host_str().ok_or_else(|| EndpointError(format!("the {what} URL '{text}' has no host")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(EndpointError(format!(
                "the {what} URL '{text}' uses plain http; only https is allowed (http only for 127.0.0.1/localhost, e.g. the simulator)"
            )))
        }
        other => return Err(EndpointError(format!("the {what} URL '{text}' has scheme '{other}'; use https"))),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EndpointError(format!("the {what} URL '{text}' must not contain a query or fragment")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError(format!("the {what} URL must not contain credentials")));
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

/// Whether a service URL points at this machine (127.0.0.0/8, ::1 or `localhost`): the
/// local simulator, never a real tenant.
pub fn is_loopback_url(text: &str) -> bool {
    Url::parse(text.trim()).ok().and_then(|u| u.host_str().map(is_loopback)).unwrap_or(false)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// `base` + `/` + `path` where `base` may carry a path prefix (no trailing slash).
pub(crate) fn join_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_names_and_aliases_resolve() {
        for cloud in Cloud::ALL {
            assert_eq!(Cloud::from_name(cloud.name()), Some(cloud));
        }
        assert_eq!(Cloud::from_name("GCC-High"), Some(Cloud::UsGov));
        assert_eq!(Cloud::from_name("21Vianet"), Some(Cloud::China));
        assert_eq!(Cloud::from_name("mars"), None);
    }

    #[test]
    fn default_is_global() {
        let e = CloudEndpoints::resolve(None, None).unwrap();
        assert_eq!(e.cloud, Some(Cloud::Global));
        assert_eq!(e.authority_host.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(e.graph_host.as_str(), "https://graph.microsoft.com/");
    }

    #[test]
    fn known_authority_url_picks_its_graph_host() {
        let e = CloudEndpoints::resolve(Some("https://login.chinacloudapi.cn/"), None).unwrap();
        assert_eq!(e.cloud, Some(Cloud::China));
        assert_eq!(e.graph_host.host_str(), Some("microsoftgraph.chinacloudapi.cn"));
        let e = CloudEndpoints::resolve(Some("usgov-dod"), None).unwrap();
        assert_eq!(e.graph_host.host_str(), Some("dod-graph.microsoft.us"));
        assert_eq!(e.authority_host.host_str(), Some("login.microsoftonline.us"));
    }

    #[test]
    fn loopback_http_is_allowed_other_http_is_not() {
        let e = CloudEndpoints::resolve(Some("http://127.0.0.1:8123/"), Some("http://127.0.0.1:8123")).unwrap();
        assert_eq!(e.cloud, None);
        assert_eq!(e.authority_host.as_str(), "http://127.0.0.1:8123/");
        assert!(CloudEndpoints::resolve(Some("http://localhost:1"), None).is_ok());
        assert!(CloudEndpoints::resolve(Some("http://[::1]:1"), None).is_ok());
        let err = CloudEndpoints::resolve(Some("http://login.example.com"), None).unwrap_err();
        assert!(err.0.contains("https"), "{err}");
        assert!(CloudEndpoints::resolve(Some("ftp://x"), None).is_err());
        assert!(CloudEndpoints::resolve(Some("https://x/?a=b"), None).is_err());
        assert!(CloudEndpoints::resolve(Some("https://u:p@x/"), None).is_err());
        let err = CloudEndpoints::resolve(Some("moon"), None).unwrap_err();
        assert!(err.0.contains("global"), "{err}");
    }

    #[test]
    fn join_path_keeps_a_prefix() {
        let base = parse_service_url("http://127.0.0.1:9/prefix/", "x").unwrap();
        assert_eq!(join_path(&base, "/t/oauth2/v2.0/token").as_str(), "http://127.0.0.1:9/prefix/t/oauth2/v2.0/token");
        let base = parse_service_url("https://login.microsoftonline.com", "x").unwrap();
        assert_eq!(join_path(&base, "t/x").as_str(), "https://login.microsoftonline.com/t/x");
    }
}
