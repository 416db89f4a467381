//! Every request passes here first, in this order:
//!
//! 1. `Host` must be one of the console's own names (DNS rebinding: a page on another
//!    site, resolved to 127.0.0.1, still names its own host);
//! 2. an `Origin`, when sent, must be the console's own; a state-changing request
//!    (anything but GET/HEAD) must send one; requests to the API from another site
//!    (`Sec-Fetch-Site: cross-site`) are refused;
//! 3. a session is needed for everything but the static assets and signing in:
//!    without one, **401** (pages answer with the sign-in page, which reads the launch
//!    link's token; the API with `{"error"}`, plus `session_ended` when the session
//!    ended — idle, lifetime, signed out — so the page can say so in plain words);
//! 4. a state-changing request must carry the session's CSRF token (`X-CSRF-Token`);
//! 5. a session locked to the desk reaches the desk only (**403** elsewhere).
//!
//! Every answer, refusals included, gets the security headers ([`super::headers`]).
//! Logging names the method, the path (never the query string or a body) and the status.
use super::app::App;
use super::assets;
use super::auth::{NoSession, Role, SessionInfo};
use super::headers;
use super::reply::{fail, page};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// The CSRF header name.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The middleware.
pub async fn guard(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = match refusal(&app, &mut req) {
        None => next.run(req).await,
        Some(refusal) => refusal,
    };
    headers::secure(&mut resp, app.tls);
    tracing::debug!(%method, path = %path, status = resp.status().as_u16(), millis = started.elapsed().as_millis() as u64, "console request");
    resp
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/desk" | "/hub" | "/journal")
}

/// Why this request is refused (the answer to send), or `None` to let it through
/// (with its [`SessionInfo`] added).
fn refusal(app: &App, req: &mut Request) -> Option<Response> {
    let path = req.uri().path();
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD);

    // 1. Host.
    let host_ok = header_str(req, header::HOST).is_some_and(|h| app.origins.host_allowed(h));
    if !host_ok {
        return Some(fail(StatusCode::MISDIRECTED_REQUEST, "refused: this console answers only to its own address; open the link keystation printed"));
    }
    // 2. Origin.
    match header_str(req, header::ORIGIN) {
        Some(o) if !app.origins.origin_allowed(o) => return Some(fail(StatusCode::FORBIDDEN, "refused: the request came from another site")),
        None if changes_state => return Some(fail(StatusCode::FORBIDDEN, "refused: a change without an Origin header (use the console's pages)")),
        _ => {}
    }
    if path.starts_with("/api/") && req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|s| s == "cross-site") {
        return Some(fail(StatusCode::FORBIDDEN, "refused: the request came from another site"));
    }
    // 3. Session.
    if path.starts_with(assets::PREFIX) || (path == "/api/session" && *req.method() == Method::POST) {
        return None;
    }
    let session = match app.auth.session_from_cookies(header_str(req, header::COOKIE)) {
        Ok(s) => s,
        Err(_) if is_page(path) && !changes_state => return Some(page(StatusCode::UNAUTHORIZED, assets::LOGIN_PAGE)),
        Err(NoSession::Missing) => return Some(fail(StatusCode::UNAUTHORIZED, "not signed in: open the link keystation printed (or sign in with the operator password)")),
        // The page shows this as it is, keeps what was typed, and offers to sign in again.
        Err(NoSession::Ended(why)) => return Some((StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": why.message(), "session_ended": why.kind() }))).into_response()),
    };
    // 4. CSRF.
    if changes_state {
        let sent = header_str(req, header::HeaderName::from_static(CSRF_HEADER)).unwrap_or("");
        if !super::auth::same_secret(sent, &session.csrf) {
            return Some(fail(StatusCode::FORBIDDEN, "refused: the request has no valid CSRF token; reload the page"));
        }
    }
    // 5. The desk lock.
    if session.role == Role::Desk && !desk_may(req.method(), path) {
        return Some(if is_page(path) && !changes_state {
            super::reply::redirect("/desk")
        } else {
            fail(StatusCode::FORBIDDEN, "this screen is locked to the enrollment desk; the operator unlocks it")
        });
    }
    req.extensions_mut().insert::<SessionInfo>(session);
    None
}

/// What a session locked to the desk may reach.
fn desk_may(method: &Method, path: &str) -> bool {
    match path {
        "/desk" | "/api/session" | "/api/desk/state" | "/api/desk/events" => true,
        "/api/desk/user" | "/api/desk/pin" | "/api/desk/restart" | "/api/desk/slip" | "/api/desk/exit" | "/api/session/logout" => *method == Method::POST,
        _ => false,
    }
}
