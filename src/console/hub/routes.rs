//! The hub's endpoints: its state (and live stream), starting a batch from an uploaded
//! user list, stopping it, and opening a handover slip once.
use crate::console::app::App;
use crate::console::auth::SessionInfo;
use crate::console::params::upload;
use crate::console::reply::{self, bad, conflict, fail, json};
use crate::station::batch::{batch_id_for_path, plan_batch, BatchOptions};
use crate::station::journal::JobMode;
use crate::station::pin::PinSource;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `GET /api/hub/state`.
pub async fn state(State(app): State<Arc<App>>) -> Response {
    reply::json_text(app.hub.snapshot_json())
}

/// `GET /api/hub/events`: the hub, live.
///
/// The stream ends with the session (or the console): the page then learns why.
pub async fn events(State(app): State<Arc<App>>, Extension(session): Extension<SessionInfo>) -> Response {
    let hub = Arc::clone(&app.hub);
    app.hub.live().stream(move || hub.snapshot_json(), session.ended).into_response()
}

/// `POST /api/hub/batch?name=users.csv[&concurrency=N][&batch_id=ID]` with the file as
/// the body: check the rows like `keystation batch`, keep the file, start the batch.
pub async fn start(State(app): State<Arc<App>>, RawQuery(query): RawQuery, body: Body) -> Response {
    let opts = match upload::options(query.as_deref().unwrap_or("")) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    let bytes = match reply::body(body, upload::MAX_UPLOAD_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut file = match upload::rows(&opts.name, &bytes) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    if app.station.config().pin.source == PinSource::UserAtDesk {
        return conflict("pin.source is user-at-desk, but a batch has nobody at the desk to choose a PIN: use the desk, or set pin.source = \"random\"");
    }
    if app.activities.kind() != crate::console::activity::ActivityKind::Idle {
        return conflict(match app.activities.kind() {
            crate::console::activity::ActivityKind::Desk => "the desk is open: close the desk first (both would take the same keys)",
            _ => "a batch is already running: wait for it to end, or stop it",
        });
    }
    // Kept in the state directory: the batch id comes from its path, so uploading the
    // same file again continues the batch (users done are skipped).
    let path = app.options.uploads_dir.join(&opts.name);
    if let Err(e) = save(&path, &bytes) {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot keep the uploaded file: {e}"));
    }
    file.path = path.clone();
    let batch_id = opts.batch_id.clone().unwrap_or_else(|| batch_id_for_path(&path));
    let problems = file.problems.clone();
    let warnings = file.warnings.clone();
    let plan = match plan_batch(&app.station, file, batch_id.clone()).await {
        Ok(p) => p,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the journal: {e}")),
    };
    let to_do = plan.to_do();
    let defaults = &app.options.batch;
    let options = BatchOptions {
        concurrency: opts.concurrency.map(|n| n as usize).unwrap_or(defaults.concurrency),
        retries: defaults.retries,
        touch_timeout: defaults.touch_timeout,
        via: defaults.via,
        mode: JobMode::Batch,
        ..BatchOptions::default()
    };
    match super::run::start(&app, plan, options) {
        Ok(()) => json(&json!({ "ok": true, "batch_id": batch_id, "to_do": to_do, "problems": problems, "warnings": warnings })),
        Err(m) => conflict(m),
    }
}

fn save(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    crate::station::report::write_private_file(path, bytes).map_err(|e| e.to_string())
}

/// `POST /api/hub/stop`: take no new key; running keys finish.
pub async fn stop(State(app): State<Arc<App>>) -> Response {
    match app.activities.batch_control() {
        Some(c) => {
            c.stop.cancel();
            json(&json!({ "ok": true }))
        }
        None => conflict("no batch is running"),
    }
}

/// `POST /api/hub/abort`: cancel the running keys too (a re-run resumes them).
pub async fn abort(State(app): State<Arc<App>>) -> Response {
    match app.activities.batch_control() {
        Some(c) => {
            c.stop.cancel();
            c.abort.cancel();
            json(&json!({ "ok": true }))
        }
        None => conflict("no batch is running"),
    }
}

/// `POST /api/hub/slip/{line}`: a user's handover slip, once.
pub async fn slip(State(app): State<Arc<App>>, Path(line): Path<u64>) -> Response {
    match app.hub.take_slip(line) {
        Some((user, key, text)) => json(&json!({ "user": user, "key": key, "text": text.expose() })),
        None => fail(StatusCode::NOT_FOUND, "There is no slip for that line (each is shown only once)."),
    }
}
