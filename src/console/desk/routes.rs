//! The desk's endpoints. Names and PINs go to the kiosk loop only when it asks for them;
//! the exit sequence is recognised before a name goes anywhere, and is never echoed.
use super::input::InboxError;
use crate::console::app::App;
use crate::console::auth::{Role, SessionInfo};
use crate::console::params::body;
use crate::console::reply::{self, conflict, fail, json};
use crate::station::batch::check_upn;
use crate::station::kiosk::{KioskView, QUIT_WORDS};
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `GET /api/desk/state`.
pub async fn state(State(app): State<Arc<App>>) -> Response {
    reply::json_text(app.desk.snapshot_json())
}

/// `GET /api/desk/events`: the desk's state, live.
///
/// The stream ends with the session (or the console): the page then learns why.
pub async fn events(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>) -> Response {
    let desk = Arc::clone(&app.desk);
    app.desk.live().stream(move || desk.snapshot_json(), session.ended).into_response()
}

/// `POST /api/desk/open`: open the desk and lock this browser to it.
pub async fn open(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>) -> Response {
    if app.activities.kind() != crate::console::activity::ActivityKind::Desk
        && let Err(message) = super::open(&app)
    {
        return conflict(message);
    }
    app.auth.set_role(&session.id, Role::Desk);
    json(&json!({ "ok": true }))
}

/// `POST /api/desk/close`: close the desk after the person at it.
pub async fn close(State(app): State<Arc<App>>) -> Response {
    app.activities.close_desk(false);
    json(&json!({ "ok": true }))
}

/// `POST /api/desk/user` `{"user": "…"}`: the name typed or scanned.
pub async fn user(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>, body: Body) -> Response {
    let text = match reply::form(body, body::user).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if app.auth.is_exit_sequence(text.expose()) {
        return unlock(&app, &session);
    }
    if !app.desk.accepts_user() {
        return conflict("The desk is not ready for a name yet: finish the step on screen (or tap Start over).");
    }
    let name = text.expose().to_string();
    // `quit` closes the terminal kiosk; at a walk-up screen only the operator may close.
    if QUIT_WORDS.iter().any(|q| name.eq_ignore_ascii_case(q)) {
        let message = check_upn(&name).err().unwrap_or_else(|| "that is not a user name".into());
        app.desk.refuse(KioskView::BadUser { input: name, message });
        return json(&json!({ "ok": false }));
    }
    let Some(inbox) = app.activities.desk_inbox() else { return conflict("The desk is closed.") };
    match inbox.name(name) {
        Ok(()) => json(&json!({ "ok": true })),
        Err(InboxError::Busy) => conflict("One moment: the desk is still reading the last name."),
        Err(InboxError::Closed) => conflict("The desk is closed."),
    }
}

/// `POST /api/desk/pin` `{"pin": "…"}`: a PIN the desk asked for.
pub async fn pin(State(app): State<Arc<App>>, body: Body) -> Response {
    let pin = match reply::form(body, body::pin).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !app.desk.accepts_pin() {
        return conflict("The desk is not asking for a PIN now.");
    }
    let Some(inbox) = app.activities.desk_inbox() else { return conflict("The desk is closed.") };
    match inbox.pin(pin) {
        Ok(()) => json(&json!({ "ok": true })),
        Err(InboxError::Busy) => conflict("One moment: the desk is still reading the last PIN."),
        Err(InboxError::Closed) => conflict("The desk is closed."),
    }
}

/// `POST /api/desk/restart`: "Start over" (the refusal on screen goes away).
pub async fn restart(State(app): State<Arc<App>>) -> Response {
    app.desk.start_over();
    json(&json!({ "ok": true }))
}

/// `POST /api/desk/slip`: the handover slip, once. The answer is never cached (the
/// console sends `Cache-Control: no-store` on everything) and never logged.
pub async fn slip(State(app): State<Arc<App>>) -> Response {
    match app.desk.take_slip() {
        Some((user, text)) => json(&json!({ "user": user, "text": text.expose() })),
        None => fail(StatusCode::NOT_FOUND, "There is no slip to show (it is shown only once)."),
    }
}

/// `POST /api/desk/exit` `{"pin": "…"}`: the operator's PIN unlocks the screen and
/// closes the desk after the person at it.
pub async fn exit(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>, body: Body) -> Response {
    let pin = match reply::form(body, body::pin).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match app.auth.check_operator_pin(pin.expose()) {
        Ok(()) => unlock(&app, &session),
        Err(r) => fail(StatusCode::FORBIDDEN, r.message("operator PIN")),
    }
}

fn unlock(app: &App, session: &SessionInfo) -> Response {
    app.auth.set_role(&session.id, Role::Operator);
    app.activities.close_desk(false);
    tracing::info!("the operator unlocked the desk screen; the desk closes after the person at it");
    json(&json!({ "ok": true, "go": "/" }))
}
