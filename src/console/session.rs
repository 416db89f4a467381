//! Signing in and out, the session's own details, and the pages.
use super::app::App;
use super::assets;
use super::auth::{Refusal, Role, SessionInfo};
use super::params::body::{self, SignIn};
use super::reply::{self, fail, json, page};
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `POST /api/session` `{"token": "…"}` or `{"password": "…"}`: a new operator session
/// in an `HttpOnly` cookie; the answer carries its CSRF token.
pub async fn sign_in(State(app): State<Arc<App>>, body: Body) -> Response {
    let form = match reply::form(body, body::sign_in).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = match &form {
        SignIn::Token(t) => app.auth.sign_in(Some(t.expose()), None),
        SignIn::Password(p) => app.auth.sign_in(None, Some(p.expose())),
    };
    match result {
        Ok((id, session)) => {
            tracing::info!("a browser signed in to the console");
            app.signed_in.notify_one();
            let cookie = HeaderValue::from_str(&app.auth.cookie_for(&id)).unwrap_or_else(|_| HeaderValue::from_static(""));
            ([(header::SET_COOKIE, cookie)], json(&json!({ "ok": true, "csrf": session.csrf, "role": session.role }))).into_response()
        }
        Err(r) => {
            let what = if matches!(form, SignIn::Token(_)) { "link" } else { "password" };
            let message = match r {
                Refusal::Wrong if what == "link" => "That link is not (or no longer) valid: use the link this console printed when it started.".to_string(),
                other => other.message(what),
            };
            fail(StatusCode::UNAUTHORIZED, message)
        }
    }
}

/// `POST /api/session/logout`.
pub async fn sign_out(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>) -> Response {
    app.auth.close_session(&session.id);
    let cookie = HeaderValue::from_str(&app.auth.clearing_cookie()).unwrap_or_else(|_| HeaderValue::from_static(""));
    ([(header::SET_COOKIE, cookie)], json(&json!({ "ok": true }))).into_response()
}

/// `GET /api/session`: this session's CSRF token and role, and what the console does.
pub async fn current(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>) -> Response {
    let config = app.station.config();
    let tenant = config.tenant().and_then(|t| t.id.clone()).unwrap_or_else(|| config.use_tenant.clone());
    json(&json!({
        "csrf": session.csrf,
        "role": session.role,
        "activity": app.activities.kind(),
        "tenant": tenant,
        "pin_at_desk": config.pin.source == crate::station::pin::PinSource::UserAtDesk,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /`: the operator's start page (a desk screen goes back to the desk).
pub async fn home(Extension(session): Extension<SessionInfo>) -> Response {
    if session.role == Role::Desk {
        return reply::redirect("/desk");
    }
    page(StatusCode::OK, assets::HOME_PAGE)
}

/// `GET /desk`.
pub async fn desk() -> Response {
    page(StatusCode::OK, assets::DESK_PAGE)
}

/// `GET /hub`.
pub async fn hub() -> Response {
    page(StatusCode::OK, assets::HUB_PAGE)
}

/// `GET /journal`.
pub async fn journal() -> Response {
    page(StatusCode::OK, assets::JOURNAL_PAGE)
}
