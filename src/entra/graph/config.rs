//! Settings of the Graph client.
use crate::entra::cloud::{Cloud, CloudEndpoints};
use crate::entra::http::{HttpOptions, RetryPolicy};
use reqwest::Url;

/// Which Graph API version paths start with. Written `v1.0` or `beta` in config files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ApiVersion {
    /// `/v1.0`: the stable API (fixed 5-minute FIDO2 challenge).
    #[default]
    #[serde(rename = "v1.0", alias = "v1")]
    V1,
    /// `/beta`: adds `challengeTimeoutInMinutes` to FIDO2 creation options.
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    /// The path segment: `v1.0` or `beta`.
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// Parse `v1.0` (also `v1`, `1.0`) or `beta`.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v1.0" | "v1" | "1.0" => Some(ApiVersion::V1),
            "beta" => Some(ApiVersion::Beta),
            _ => None,
        }
    }
}

/// Everything a [`super::GraphClient`] needs besides tokens.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Graph base URL without version (e.g. `https://graph.microsoft.com`).
    pub graph_host: Url,
    /// API version of ordinary calls.
    pub api_version: ApiVersion,
    /// TLS roots and timeouts.
    pub http: HttpOptions,
    /// Retries on 429/503/504 and connection errors.
    pub retry: RetryPolicy,
}

impl GraphConfig {
    /// Defaults for a Graph host: v1.0, default HTTP options and retry policy.
    pub fn new(graph_host: Url) -> GraphConfig {
        GraphConfig { graph_host, api_version: ApiVersion::V1, http: HttpOptions::default(), retry: RetryPolicy::default() }
    }

    /// Defaults for a national cloud.
    pub fn for_cloud(cloud: Cloud) -> GraphConfig {
        GraphConfig::new(CloudEndpoints::for_cloud(cloud).graph_host)
    }
}
