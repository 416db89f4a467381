//! Helpers shared by the simulator tests: start a simulator, plain reqwest clients, tokens,
//! the default tenant's well-known ids.
#![allow(dead_code)]
use keystation::entra::simulator::{start, SimulatorConfig, SimulatorHandle};
use serde_json::{json, Value};

pub const OPERATOR_APP: &str = keystation::entra::simulator::seed::well_known::OPERATOR_APP_ID;
pub const SECRET_APP: &str = keystation::entra::simulator::seed::well_known::STATION_APP_ID;
pub const SECRET: &str = keystation::entra::simulator::seed::well_known::STATION_APP_SECRET;
pub const CERT_APP: &str = keystation::entra::simulator::seed::well_known::CERTIFICATE_APP_ID;
pub const READER_APP: &str = keystation::entra::simulator::seed::well_known::READER_APP_ID;
pub const READER_SECRET: &str = keystation::entra::simulator::seed::well_known::READER_APP_SECRET;
pub const TENANT: &str = keystation::entra::simulator::seed::well_known::TENANT_ID;
pub const DOMAIN: &str = keystation::entra::simulator::seed::well_known::DOMAIN;
pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A simulator with the built-in tenant and fast device-code polling.
pub async fn sim() -> SimulatorHandle {
    sim_with(|_| {}).await
}

/// A simulator with the built-in tenant, changed by `f`.
pub async fn sim_with(f: impl FnOnce(&mut SimulatorConfig)) -> SimulatorHandle {
    init_tls();
    let mut cfg = SimulatorConfig::default();
    cfg.behaviour.device_code_interval_secs = 0;
    f(&mut cfg);
    start(cfg).await.expect("simulator starts")
}

/// A client that follows no redirects (pages are walked step by step).
pub fn http() -> reqwest::Client {
    init_tls();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A client that never reuses connections (so a dropped connection is not retried silently).
pub fn http_fresh() -> reqwest::Client {
    init_tls();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build().expect("client")
}

/// `{main}{path}`.
pub fn url(sim: &SimulatorHandle, path: &str) -> String {
    format!("{}{}", sim.authority_host().as_str().trim_end_matches('/'), path)
}

/// `{main}/v1.0{path}`.
pub fn v1(sim: &SimulatorHandle, path: &str) -> String {
    url(sim, &format!("/v1.0{path}"))
}

/// `{main}/beta{path}`.
pub fn beta(sim: &SimulatorHandle, path: &str) -> String {
    url(sim, &format!("/beta{path}"))
}

pub fn token_url(sim: &SimulatorHandle) -> String {
    url(sim, &format!("/{TENANT}/oauth2/v2.0/token"))
}

pub async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, body is not JSON: {text}"))
}

/// Client-credentials token for an app with a secret.
pub async fn app_token(sim: &SimulatorHandle, client_id: &str, secret: &str) -> String {
    let r = http()
        .post(token_url(sim))
        .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("scope", GRAPH_DEFAULT)])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    json_of(r).await["access_token"].as_str().expect("access_token").to_string()
}

/// The station app's token (UserAuthenticationMethod.ReadWrite.All etc.).
pub async fn station_token(sim: &SimulatorHandle) -> String {
    app_token(sim, SECRET_APP, SECRET).await
}

/// Delegated token for `account` through the device-code flow (approved over /_sim).
pub async fn delegated_token(sim: &SimulatorHandle, account: &str, scope: &str) -> Value {
    let c = http();
    let dc = json_of(
        c.post(url(sim, &format!("/{TENANT}/oauth2/v2.0/devicecode")))
            .form(&[("client_id", OPERATOR_APP), ("scope", scope)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r = c
        .post(url(sim, "/_sim/device-codes/approve"))
        .json(&json!({"user_code": dc["user_code"], "account": account}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "approve: {}", r.text().await.unwrap_or_default());
    let r = c
        .post(token_url(sim))
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", OPERATOR_APP), ("device_code", dc["device_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    json_of(r).await
}

/// Delegated access token for `account` with the operator app's permissions.
pub async fn admin_token(sim: &SimulatorHandle, account: &str) -> String {
    delegated_token(sim, account, &format!("{GRAPH_DEFAULT} offline_access")).await["access_token"].as_str().unwrap().to_string()
}

/// Decode a JWT payload (no verification).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

/// GET with a bearer token.
pub async fn get(sim_url: &str, token: &str) -> reqwest::Response {
    http().get(sim_url).bearer_auth(token).send().await.expect("request")
}

/// Assert a Graph error's status and code; return the body.
pub async fn graph_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let rid = r.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string).expect("request-id header");
    assert!(r.headers().get("client-request-id").is_some(), "client-request-id header");
    let body = json_of(r).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["innerError"]["request-id"], rid.as_str(), "{body}");
    assert!(body["error"]["innerError"]["date"].is_string(), "{body}");
    assert!(body["error"]["innerError"]["client-request-id"].is_string(), "{body}");
    body
}

/// The innerError.code of a Graph error body.
pub fn inner_code(body: &Value) -> &str {
    body["error"]["innerError"]["code"].as_str().unwrap_or("")
}
