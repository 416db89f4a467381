//! Browser pages (in progress).
use super::sim::Sim;
use axum::Router;
use std::sync::Arc;

/// The My Sign-ins app id the Security-info pages sign in with.
pub const MYSIGNINS_CLIENT_ID: &str = "19db86c3-b2b9-44cc-b339-36da233a3be2";

/// Page routes.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
}

/// The sign-in page URL (authorize request of the Security-info app).
pub fn signin_url(sim: &Sim, tenant: &str) -> String {
    let redirect = sim.urls.main_url("/auth/callback");
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", MYSIGNINS_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid profile")
        .finish();
    sim.urls.login_url(&format!("/{tenant}/oauth2/v2.0/authorize?{q}"))
}
