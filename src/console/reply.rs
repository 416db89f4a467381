//! Small helpers for answers: JSON results, JSON errors the page shows as they are
//! (`{"error": "…"}`), pages and redirects.
use super::params::BadInput;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `{"error": message}` with `status`.
pub fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// A request the console cannot use: 400 with its message.
pub fn bad(e: BadInput) -> Response {
    fail(StatusCode::BAD_REQUEST, e.0)
}

/// Something that cannot be done now (the desk is busy, a batch runs): 409.
pub fn conflict(message: impl Into<String>) -> Response {
    fail(StatusCode::CONFLICT, message)
}

/// A value as JSON, 200.
pub fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// JSON text already made, 200.
pub fn json_text(text: String) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], text).into_response()
}

/// An HTML page with `status`.
pub fn page(status: StatusCode, html: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html).into_response()
}

/// 303 to `path` on this console.
pub fn redirect(path: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static(path))]).into_response()
}

/// Read a request body of at most `limit` bytes.
pub async fn body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|_| fail(StatusCode::PAYLOAD_TOO_LARGE, format!("the request is too large: at most {limit} bytes")))
}

/// Read a small form body (at most [`MAX_FORM_BYTES`](super::params::body::MAX_FORM_BYTES))
/// and parse it with `parse`; a bad one is answered with 400 and the parser's message.
pub async fn form<T>(body: axum::body::Body, parse: fn(&[u8]) -> Result<T, BadInput>) -> Result<T, Response> {
    let bytes = self::body(body, super::params::body::MAX_FORM_BYTES).await?;
    parse(&bytes).map_err(bad)
}
