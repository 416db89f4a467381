//! The journal's endpoints: search, one job, the parked jobs and export (reading), and
//! the two actions on a parked job, retry and resolve, which are `station::jobs`' (the
//! same library as `keystation jobs`). Every call goes through the station's shared
//! journal on the blocking pool.
use super::search::{self, JobSummary};
use super::timeline;
use crate::console::app::App;
use crate::console::params::{self, query, BadInput};
use crate::console::reply::{bad, conflict, fail, form, json};
use crate::station::jobs::{self, JobEntry, JobsError, Standing, Which};
use crate::station::journal::Journal;
use crate::station::report::{self, ReportFormat, ReportRow};
use axum::body::Body;
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

fn job_uid(uid: &str) -> Result<(), Response> {
    if uid.is_empty() || uid.len() > 64 || !uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(fail(StatusCode::BAD_REQUEST, "that is not a job id"));
    }
    Ok(())
}

fn jobs_error(e: JobsError) -> Response {
    match e {
        JobsError::NotFound(_) => fail(StatusCode::NOT_FOUND, "no such job in the journal"),
        JobsError::NotApplicable(m) => conflict(m),
        JobsError::Journal(e) => journal_error(e),
    }
}

/// A parked job's entry: what to do, from `station::jobs` (the words `keystation jobs`
/// prints), and the actions the page offers.
fn parked_entry(e: &JobEntry) -> serde_json::Value {
    json!({
        "job": JobSummary::from_job(&e.job),
        "reason": e.why,
        "what_to_do": e.what_to_do,
        "since": e.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "actions": if e.standing == Standing::Parked { vec!["retry", "resolve"] } else { Vec::new() },
    })
}

/// `GET /api/journal/jobs/{uid}`: one attempt with its timeline (and, when it is
/// parked, what to do and its actions).
pub async fn job(State(app): State<Arc<App>>, Path(uid): Path<String>) -> Response {
    if let Err(r) = job_uid(&uid) {
        return r;
    }
    match app.station.setup().journal.run(move |j| Ok(jobs::detail(j, &uid))).await {
        Ok(Ok(d)) => {
            let job = &d.entry.job;
            json(&json!({
                "job": JobSummary::from_job(job),
                "display_name": job.display_name,
                "key_aaguid": job.key.aaguid,
                "key_firmware": job.key.firmware,
                "error_kind": job.error.as_ref().map(|e| e.kind.as_str()),
                "operator_reason": job.operator_reason.as_ref().map(|r| r.code()),
                "sealed_pin": job.sealed_pin.is_some(),
                "resumes_job": job.resumes.map(|r| r.0),
                "parked": (d.entry.standing == Standing::Parked).then(|| parked_entry(&d.entry)),
                "timeline": timeline::build(&d.history, &d.intents),
            }))
        }
        Ok(Err(e)) => jobs_error(e),
        Err(e) => journal_error(e),
    }
}

/// `GET /api/journal/parked`: jobs waiting for an operator, with what to do.
pub async fn parked(State(app): State<Arc<App>>) -> Response {
    match app.station.setup().journal.run(|j| jobs::list(j, Which::Parked)).await {
        Ok(entries) => json(&json!({ "parked": entries.iter().map(parked_entry).collect::<Vec<_>>() })),
        Err(e) => journal_error(e),
    }
}

/// Run one of `station::jobs`' operator actions (the library `keystation jobs` uses) on
/// the station's journal; the answer is the job as it is now.
async fn act(app: &App, uid: String, action: &'static str, f: impl FnOnce(&mut Journal, &str) -> Result<JobEntry, JobsError> + Send + 'static) -> Response {
    if let Err(r) = job_uid(&uid) {
        return r;
    }
    match app.station.setup().journal.run(move |j| Ok(f(j, &uid))).await {
        Ok(Ok(e)) => {
            tracing::info!(job = e.job.id.0, action, "console: parked job closed by the operator");
            json(&json!({ "job": JobSummary::from_job(&e.job), "what_to_do": e.what_to_do }))
        }
        Ok(Err(e)) => jobs_error(e),
        Err(e) => journal_error(e),
    }
}

/// `POST /api/journal/jobs/{uid}/retry` `{"note": "…"}` (the note may be left out):
/// release a parked job for another attempt (`keystation jobs retry`).
pub async fn retry(State(app): State<Arc<App>>, Path(uid): Path<String>, body: Body) -> Response {
    let note = match form(body, params::body::note).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    act(&app, uid, "retry", move |j, uid| jobs::retry(j, uid, note.as_deref())).await
}

/// `POST /api/journal/jobs/{uid}/resolve` `{"note": "…"}`: close a parked job as done,
/// saying what was done (`keystation jobs resolve`).
pub async fn resolve(State(app): State<Arc<App>>, Path(uid): Path<String>, body: Body) -> Response {
    let note = match form(body, params::body::note).await {
        Ok(Some(n)) => n,
        Ok(None) => return bad(BadInput("write a note: what was done with the key (it is kept in the job's history)".into())),
        Err(r) => return r,
    };
    act(&app, uid, "resolve", move |j, uid| jobs::resolve(j, uid, &note)).await
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
