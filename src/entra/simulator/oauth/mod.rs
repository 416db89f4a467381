//! The authority: `/{tenant}/oauth2/v2.0/devicecode` and `/{tenant}/oauth2/v2.0/token`.
pub mod client_auth;
pub mod device_code;
pub mod error;
pub mod issue;
pub mod scopes;

use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::oauth::RefreshStatus;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use client_auth::{AssertionContext, ClientCredential};
use error::StsError;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Parse an `application/x-www-form-urlencoded` body (first value of each name wins).
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn unknown_tenant(tenant: &str) -> StsError {
    StsError::bad(
        "invalid_request",
        90002,
        format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    )
}

fn missing(param: &str) -> StsError {
    StsError::bad("invalid_request", 900144, format!("The request body must contain the following parameter: '{param}'."))
}

fn unknown_app(client_id: &str, domain: &str) -> StsError {
    StsError::bad(
        "unauthorized_client",
        700016,
        format!("Application with identifier '{client_id}' was not found in the directory '{domain}'. This can happen if the application has not been installed by the administrator of the tenant."),
    )
}

fn ok_json(v: serde_json::Value) -> Response {
    let mut r = (StatusCode::OK, axum::Json(v)).into_response();
    r.headers_mut().insert("cache-control", axum::http::HeaderValue::from_static("no-store, no-cache"));
    r
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let now = sim.clock.now();
    match device_code::start(&sim, &tenant, &parse_form(&body)) {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(&headers, now),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let now = sim.clock.now();
    match token_inner(&sim, &tenant, &headers, &parse_form(&body)) {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(&headers, now),
    }
}

fn token_inner(sim: &Sim, tenant: &str, headers: &HeaderMap, form: &HashMap<String, String>) -> Result<serde_json::Value, StsError> {
    let grant = form.get("grant_type").ok_or_else(|| missing("grant_type"))?.clone();
    let (client_id, cred) = client_auth::extract(form, headers)?;
    let client_id = match (&client_id, &cred) {
        (Some(c), _) => c.clone(),
        (None, ClientCredential::Assertion(a)) => client_auth::assertion_issuer(a).ok_or_else(|| missing("client_id"))?,
        (None, _) => return Err(missing("client_id")),
    };
    let mut guard = sim.state();
    let st = &mut *guard;
    if !st.matches_tenant(tenant) {
        return Err(unknown_tenant(tenant));
    }
    let app = st.dir.app(&client_id).cloned().ok_or_else(|| unknown_app(&client_id, &st.domain))?;
    let authority = sim.urls.main.as_str().trim_end_matches('/').to_string();
    let ctx = AssertionContext { authority: &authority, path_tenant: tenant, now: sim.clock.now() };
    match grant.as_str() {
        "client_credentials" => {
            if tenant.eq_ignore_ascii_case("organizations") || tenant.eq_ignore_ascii_case("common") {
                return Err(StsError::bad(
                    "invalid_request",
                    50194,
                    format!("Application '{}' is not configured as a multi-tenant application; use a tenant-specific endpoint (/{{tenant id}}/oauth2/v2.0/token) for client credentials.", app.client_id),
                ));
            }
            client_auth::authenticate(st, &app, &cred, &ctx)?;
            let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
            scopes::check_client_credentials(scope, &st.domain)?;
            let resource = scopes::parse(scope, &st.domain)?.resource().to_string();
            Ok(issue::application_response(sim, st, &app, &resource))
        }
        device_code::GRANT_TYPE => {
            client_auth::authenticate(st, &app, &cred, &ctx)?;
            let code = form.get("device_code").or_else(|| form.get("code")).ok_or_else(|| missing("device_code"))?;
            device_code::redeem(sim, st, &app, code)
        }
        "refresh_token" => {
            client_auth::authenticate(st, &app, &cred, &ctx)?;
            let rt = form.get("refresh_token").ok_or_else(|| missing("refresh_token"))?;
            refresh(sim, st, &app, rt, form.get("scope").map(String::as_str))
        }
        other => Err(StsError::bad(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'. The simulator supports client_credentials, refresh_token and {}.", device_code::GRANT_TYPE),
        )),
    }
}

fn refresh(sim: &Sim, st: &mut crate::entra::simulator::state::TenantState, app: &crate::entra::simulator::state::directory::App, rt: &str, scope: Option<&str>) -> Result<serde_json::Value, StsError> {
    let grant = st
        .refresh_tokens
        .get(rt)
        .cloned()
        .ok_or_else(|| StsError::bad("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is not known."))?;
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(StsError::bad("invalid_grant", 70000, "The provided refresh token was issued to a different client."));
    }
    match grant.status {
        RefreshStatus::Active => {}
        RefreshStatus::Rotated | RefreshStatus::Revoked => {
            return Err(StsError::bad(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
            )
            .suberror("bad_token"))
        }
    }
    let user = st.dir.user(&grant.user_id).cloned().ok_or_else(|| StsError::bad("invalid_grant", 50034, "The user account does not exist in the directory."))?;
    let requested = match scope {
        Some(s) => scopes::parse(s, &st.domain)?,
        None => scopes::parse(&grant.scopes.join(" "), &st.domain)?,
    };
    let mut requested = requested;
    // The refresh token keeps its offline_access; a refresh always returns a new one.
    requested.offline_access = true;
    if !requested.raw.iter().any(|s| s == "offline_access") {
        requested.raw.push("offline_access".into());
    }
    let body = issue::delegated_response(sim, st, app, &user, &requested, None)?;
    if sim.behaviour().invalidate_rotated_refresh_tokens
        && let Some(g) = st.refresh_tokens.get_mut(rt)
    {
        g.status = RefreshStatus::Rotated;
    }
    Ok(body)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (enough for discovery-minded clients).
pub async fn openid_configuration(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let st = sim.state();
    if !st.matches_tenant(&tenant) {
        return unknown_tenant(&tenant).into_response(&headers, sim.clock.now());
    }
    let base = sim.urls.main.as_str().trim_end_matches('/');
    let login = sim.urls.signin.as_str().trim_end_matches('/');
    ok_json(json!({
        "issuer": format!("{base}/{}/v2.0", st.tenant_id),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "authorization_endpoint": format!("{login}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "SIM",
        "msgraph_host": base,
    }))
}
