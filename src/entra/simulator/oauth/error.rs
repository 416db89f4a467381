//! Identity-platform error bodies:
//! `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`.
use crate::entra::simulator::clock::sts_time;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

/// An OAuth error as the token/devicecode endpoints return it.
#[derive(Debug, Clone)]
pub struct StsError {
    pub status: StatusCode,
    /// OAuth `error` (e.g. `invalid_grant`).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    pub description: String,
    pub suberror: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl StsError {
    /// A 400 error.
    pub fn bad(error: &'static str, code: u32, description: impl Into<String>) -> StsError {
        StsError { status: StatusCode::BAD_REQUEST, error, code, description: description.into(), suberror: None, retry_after: None }
    }

    /// A 401 `invalid_client` error.
    pub fn invalid_client(code: u32, description: impl Into<String>) -> StsError {
        StsError { status: StatusCode::UNAUTHORIZED, ..StsError::bad("invalid_client", code, description) }
    }

    /// Add a suberror (e.g. `consent_required`).
    pub fn suberror(mut self, s: &'static str) -> StsError {
        self.suberror = Some(s);
        self
    }

    /// Render; the correlation id echoes `client-request-id` when the caller sent one.
    pub fn into_response(self, headers: &HeaderMap, now: DateTime<Utc>) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let ts = sts_time(now);
        let mut body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {ts}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let (Some(s), Some(o)) = (self.suberror, body.as_object_mut()) {
            o.insert("suberror".into(), json!(s));
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert("cache-control", HeaderValue::from_static("no-store, no-cache"));
        if let Ok(v) = HeaderValue::from_str(&correlation_id) {
            h.insert("client-request-id", v);
        }
        if let Some(s) = self.retry_after {
            h.insert("retry-after", HeaderValue::from(s));
        }
        resp
    }
}
