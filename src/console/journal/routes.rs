//! The journal's endpoints (reading only; every call goes through the station's shared
//! journal on the blocking pool).
use super::search::{self, JobSummary};
use super::timeline;
use crate::console::app::App;
use crate::console::params::query;
use crate::console::reply::{bad, fail, json};
use crate::station::report::{self, ReportFormat, ReportRow};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

fn journal_error(e: impl std::fmt::Display) -> Response {
    fail(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the journal: {e}"))
}

/// `GET /api/journal/jobs?user=&key=&state=&since=&until=&batch=&mode=&limit=`.
pub async fn jobs(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Response {
    let q = match query::search(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad(e),
    };
    let limit = q.limit;
    match app.station.setup().journal.run(move |j| search::newest(j, &q)).await {
        Ok((jobs, total)) => json(&json!({ "jobs": jobs, "total": total, "limit": limit })),
        Err(e) => journal_error(e),
    }
}

/// `GET /api/journal/jobs/{uid}`: one attempt with its timeline.
pub async fn job(State(app): State<Arc<App>>, Path(uid): Path<String>) -> Response {
    if uid.len() > 64 || !uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return fail(StatusCode::BAD_REQUEST, "that is not a job id");
    }
    let found = app
        .station
        .setup()
        .journal
        .run(move |j| {
            let Some(job) = j.job_by_uid(&uid)? else { return Ok(None) };
            let transitions = j.transitions(job.id)?;
            let intents = j.intents(job.id)?;
            Ok(Some((job, transitions, intents)))
        })
        .await;
    match found {
        Ok(Some((job, transitions, intents))) => json(&json!({
            "job": JobSummary::from_job(&job),
            "display_name": job.display_name,
            "key_aaguid": job.key.aaguid,
            "key_firmware": job.key.firmware,
            "error_kind": job.error.as_ref().map(|e| e.kind.as_str()),
            "operator_reason": job.operator_reason.as_ref().map(|r| r.code()),
            "sealed_pin": job.sealed_pin.is_some(),
            "resumes_job": job.resumes.map(|r| r.0),
            "timeline": timeline::build(&transitions, &intents),
        })),
        Ok(None) => fail(StatusCode::NOT_FOUND, "no such job in the journal"),
        Err(e) => journal_error(e),
    }
}

/// `GET /api/journal/parked`: jobs waiting for an operator, with what to do.
pub async fn parked(State(app): State<Arc<App>>) -> Response {
    match app.station.setup().journal.run(|j| j.needs_operator()).await {
        Ok(entries) => {
            let list: Vec<_> = entries
                .iter()
                .map(|e| {
                    json!({
                        "job": JobSummary::from_job(&e.job),
                        "reason": e.reason.code(),
                        "message": e.reason.message(),
                        "since": e.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    })
                })
                .collect();
            json(&json!({ "parked": list }))
        }
        Err(e) => journal_error(e),
    }
}

/// `GET /api/journal/export?format=csv|json&…search…`: the matching jobs as a file,
/// written by `keystation report`'s writer (sealed PINs as `handover.in_report` says).
pub async fn export(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Response {
    let q = match query::export(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad(e),
    };
    let include_pins = app.station.config().handover.in_report;
    let format = q.format;
    let rows = app.station.setup().journal.run(move |j| Ok(search::all(j, &q.search)?.iter().map(|job| ReportRow::from_job(job, include_pins)).collect::<Vec<_>>())).await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return journal_error(e),
    };
    let mut out = Vec::new();
    if let Err(e) = report::write_rows(&rows, format, &mut out) {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let (kind, ext) = match format {
        ReportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ReportFormat::Json => ("application/json", "json"),
    };
    let name = format!("attachment; filename=\"keystation-journal-{}.{ext}\"", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let disposition = HeaderValue::from_str(&name).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    ([(header::CONTENT_TYPE, HeaderValue::from_static(kind)), (header::CONTENT_DISPOSITION, disposition)], out).into_response()
}
