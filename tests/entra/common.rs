//! Shared set-up: a simulator with test-friendly behaviour, the seeded apps and users,
//! and clients configured with short retry waits.
use keystation::entra::graph::{ApiVersion, GraphClient, GraphConfig};
use keystation::entra::http::RetryPolicy;
use keystation::entra::oauth::{Authority, ClientCredential, ClientCredentialsProvider, OAuthClient, OAuthOptions, Scopes, StaticToken, TokenProvider, TokenSet};
use keystation::entra::simulator::{start, SimulatorConfig, SimulatorHandle};
use keystation::secret::SecretString;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;

/// Public client for device code (seeded).
pub const OPERATOR_APP: &str = keystation::entra::simulator::seed::well_known::OPERATOR_APP_ID;
/// Confidential client with a secret and broad application permissions (seeded).
pub const SECRET_APP: &str = keystation::entra::simulator::seed::well_known::STATION_APP_ID;
/// Its secret.
pub const SECRET: &str = keystation::entra::simulator::seed::well_known::STATION_APP_SECRET;
/// Confidential client with a generated certificate and granular permissions (seeded).
pub const CERT_APP: &str = keystation::entra::simulator::seed::well_known::CERTIFICATE_APP_ID;
/// Confidential client with only User.Read.All (seeded).
pub const READER_APP: &str = keystation::entra::simulator::seed::well_known::READER_APP_ID;
/// Its secret.
pub const READER_SECRET: &str = keystation::entra::simulator::seed::well_known::READER_APP_SECRET;
/// An admin allowed to manage any user's methods.
pub const ADMIN: &str = "paul.privauth@contoso.test";

/// A simulator with the built-in tenant and a 1 s device-code interval.
pub async fn sim() -> SimulatorHandle {
    sim_with(|_| {}).await
}

/// A simulator with a tweaked configuration.
pub async fn sim_with(tweak: impl FnOnce(&mut SimulatorConfig)) -> SimulatorHandle {
    let mut config = SimulatorConfig::default();
    config.behaviour.device_code_interval_secs = 1;
    tweak(&mut config);
    start(config).await.expect("simulator starts")
}

/// Retries with short computed waits (Retry-After is still honoured exactly).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(30),
        connection_base_delay: Duration::from_millis(50),
        jitter: true,
    }
}

pub fn oauth_options() -> OAuthOptions {
    OAuthOptions { retry: fast_retry(), ..OAuthOptions::default() }
}

pub fn url(u: &Url) -> Url {
    Url::parse(u.as_str()).expect("simulator URL")
}

pub fn authority(sim: &SimulatorHandle) -> Authority {
    Authority::new(url(&sim.authority_host()), sim.tenant_id()).expect("authority")
}

pub fn oauth(sim: &SimulatorHandle, client_id: &str) -> OAuthClient {
    OAuthClient::new(authority(sim), client_id, &oauth_options()).expect("oauth client")
}

pub fn graph_default_scope(sim: &SimulatorHandle) -> Scopes {
    let _ = sim;
    Scopes::graph_default(&Url::parse("https://graph.microsoft.com").expect("static"))
}

/// An app-only token for `client_id` with `secret`.
pub async fn app_token(sim: &SimulatorHandle, client_id: &str, secret: &str) -> TokenSet {
    oauth(sim, client_id)
        .client_credentials(&ClientCredential::Secret(SecretString::new(secret)), &graph_default_scope(sim))
        .await
        .expect("client credentials")
}

pub fn graph_config(sim: &SimulatorHandle) -> GraphConfig {
    GraphConfig { retry: fast_retry(), ..GraphConfig::new(url(&sim.graph_base())) }
}

/// A Graph client drawing tokens from `tokens`.
pub fn graph_with(sim: &SimulatorHandle, tokens: Arc<dyn TokenProvider>) -> GraphClient {
    GraphClient::new(graph_config(sim), tokens).expect("graph client")
}

/// A Graph client for the broad secret app (renews its token on 401).
pub fn graph_app(sim: &SimulatorHandle) -> GraphClient {
    let provider = ClientCredentialsProvider::new(oauth(sim, SECRET_APP), ClientCredential::Secret(SecretString::new(SECRET)), graph_default_scope(sim));
    graph_with(sim, Arc::new(provider))
}

/// The same on the beta API.
pub fn graph_app_beta(sim: &SimulatorHandle) -> GraphClient {
    graph_app(sim).with_api_version(ApiVersion::Beta)
}

/// A Graph client with a fixed token.
pub fn graph_static(sim: &SimulatorHandle, token: &str) -> GraphClient {
    graph_with(sim, Arc::new(StaticToken::new(SecretString::new(token))))
}

/// POST a JSON body to the simulator's test-control surface.
pub async fn control(sim: &SimulatorHandle, method: reqwest::Method, path: &str, body: serde_json::Value) -> reqwest::StatusCode {
    keystation::entra::tls::ensure_crypto_provider();
    let u = url(&sim.control_url()).join(path.trim_start_matches('/')).expect("control path");
    let r = reqwest::Client::new().request(method, u).json(&body).send().await.expect("control call");
    r.status()
}
