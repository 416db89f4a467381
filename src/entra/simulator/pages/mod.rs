//! Browser pages that mirror Microsoft's click path (structural selectors as in
//! browser.md §4): sign-in (`#i0116`, `#idSIButton9`) → Temporary Access Pass
//! (`input[name=accesspass]`) → "Stay signed in?" → Security info on the "mysignins" origin
//! (`http://127.0.0.1:P`) → cross-site form POST to `/fido/create` on the
//! "login.microsoft.com" stand-in (`http://localhost:P`) → `navigator.credentials.create` →
//! form POST to `/api/post/newfido` → naming → Done. Also the device-code `/devicelogin` page.
//!
//! Every page carries an inline `$Config = {pgid, iErrorCode, strServiceExceptionMessage, ...}`.
pub mod devicelogin;
pub mod fido_create;
pub mod html;
pub mod i18n;
pub mod security_info;
pub mod security_info_2023;
pub mod security_info_2026;
pub mod signin_views;
pub mod signin;

use super::sim::Sim;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// The My Sign-ins app id the Security-info pages sign in with.
pub const MYSIGNINS_CLIENT_ID: &str = "19db86c3-b2b9-44cc-b339-36da233a3be2";
/// Login-host session cookie (like ESTSAUTH).
pub const LOGIN_COOKIE: &str = "ESTSAUTH";
/// Security-info session cookie.
pub const PORTAL_COOKIE: &str = "msi_session";

/// Page routes.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(signin::authorize))
        .route("/{tenant}/login", post(signin::username))
        .route("/{tenant}/login/accesspass", post(signin::access_pass))
        .route("/{tenant}/login/options", post(signin::options))
        .route("/{tenant}/login/password", post(signin::password))
        .route("/{tenant}/proofup", post(signin::proof_up))
        .route("/{tenant}/kmsi", post(signin::kmsi))
        .route("/{tenant}/pickaccount", post(signin::pick_account))
        .route("/{tenant}/interstitial", post(signin::interstitial))
        .route("/{tenant}/fido/create", post(fido_create::create_page))
        .route("/auth/callback", get(signin::callback))
        .route("/", get(security_info::root))
        .route("/security-info", get(security_info::page))
        .route("/security-info/name", post(security_info::name))
        .route("/api/authenticationmethods/new", post(security_info::new_method))
        .route("/api/post/newfido", post(fido_create::new_fido))
        .route("/devicelogin", get(devicelogin::page).post(devicelogin::submit))
}

/// The sign-in page URL (authorize request of the Security-info app).
pub fn signin_url(sim: &Sim, tenant: &str) -> String {
    let redirect = sim.urls.portal_url("/auth/callback");
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", MYSIGNINS_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid profile")
        .finish();
    sim.urls.signin_url(&format!("/{tenant}/oauth2/v2.0/authorize?{q}"))
}

/// The host name the request was sent to (without port).
pub fn request_host(headers: &HeaderMap) -> String {
    let h = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_ascii_lowercase();
    }
    h.rsplit_once(':').map(|(host, _)| host).unwrap_or(h).to_ascii_lowercase()
}

/// Whether the request came to the ceremony ("login.microsoft.com") host.
pub fn on_login_host(sim: &Sim, headers: &HeaderMap) -> bool {
    request_host(headers) == sim.urls.login_host().to_ascii_lowercase()
}

/// Whether the request came to the sign-in ("login.microsoftonline.com") host.
pub fn on_signin_host(sim: &Sim, headers: &HeaderMap) -> bool {
    request_host(headers) == sim.urls.signin_host().to_ascii_lowercase()
}

/// Whether the request came to the sign-in or the ceremony host (not Security info's).
pub fn on_login_side(sim: &Sim, headers: &HeaderMap) -> bool {
    on_login_host(sim, headers) || on_signin_host(sim, headers)
}

/// The value of a request cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Add a `Set-Cookie` (HttpOnly, SameSite=Lax, Path=/; `max_age` None = session cookie).
pub fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={}", s.max(0)));
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append("set-cookie", v);
    }
}

/// Parse a form body.
pub fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    super::oauth::parse_form(body)
}
