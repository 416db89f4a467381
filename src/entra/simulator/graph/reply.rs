//! Graph responses: the JSON error body with `innerError`, and the headers every Graph
//! response carries (`request-id`, `client-request-id`, `x-ms-ags-diagnostic`).
use crate::entra::simulator::clock::graph_time;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Per-request identifiers.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
    pub date: DateTime<Utc>,
}

impl RequestIds {
    /// New request id; echo the caller's `client-request-id` or reuse the request id.
    pub fn new(headers: &HeaderMap, now: DateTime<Utc>) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestIds { request_id, client_request_id, date: now }
    }
}

/// A Graph error before it becomes a response.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Nested `innerError.code`: the simulator's precise reason for 400s whose public code
    /// is just `badRequest` (e.g. `challengeExpired`).
    pub inner_code: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

impl GraphError {
    /// An error with `status`, `code`, `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GraphError {
        GraphError { status, code: code.into(), message: message.into(), inner_code: None, headers: vec![] }
    }

    /// 400 `badRequest` with a precise inner code.
    pub fn bad_request(inner: &str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "badRequest", message).inner(inner)
    }

    /// 404 `Request_ResourceNotFound` for a directory object.
    pub fn user_not_found(key: &str) -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    /// 404 for an authentication method id.
    pub fn method_not_found(id: &str) -> GraphError {
        GraphError::new(StatusCode::NOT_FOUND, "itemNotFound", format!("The authentication method '{id}' was not found for this user."))
    }

    /// Set the inner code.
    pub fn inner(mut self, code: &str) -> GraphError {
        self.inner_code = Some(code.into());
        self
    }

    /// Add a response header.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> GraphError {
        self.headers.push((name, value.into()));
        self
    }

    /// Render with the request's ids.
    pub fn into_response(self, ids: &RequestIds) -> Response {
        let mut inner = json!({
            "date": graph_time(ids.date),
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        });
        if let (Some(code), Some(o)) = (&self.inner_code, inner.as_object_mut()) {
            o.insert("code".into(), json!(code));
        }
        let body = json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut resp = with_graph_headers((self.status, axum::Json(body)).into_response(), ids);
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// A successful Graph reply.
#[derive(Debug)]
pub enum GraphReply {
    /// JSON body with a status (200, 201).
    Json(StatusCode, Value),
    /// 204 No Content.
    NoContent,
}

impl GraphReply {
    /// 200 with a body.
    pub fn ok(v: Value) -> GraphReply {
        GraphReply::Json(StatusCode::OK, v)
    }

    /// Render with the request's ids.
    pub fn into_response(self, ids: &RequestIds) -> Response {
        let resp = match self {
            GraphReply::Json(status, v) => (status, axum::Json(v)).into_response(),
            GraphReply::NoContent => StatusCode::NO_CONTENT.into_response(),
        };
        with_graph_headers(resp, ids)
    }
}

/// Add the headers every Graph response carries.
pub fn with_graph_headers(mut resp: Response, ids: &RequestIds) -> Response {
    let h = resp.headers_mut();
    let has_body = h.contains_key("content-type");
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set("request-id", &ids.request_id);
    set("client-request-id", &ids.client_request_id);
    set(
        "x-ms-ags-diagnostic",
        r#"{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"keystation-simulator"}}"#,
    );
    set("odata-version", "4.0");
    // Graph's own clock, as every HTTP answer carries it (RFC 7231 IMF-fixdate); it
    // follows the simulator's clock, so an advanced clock looks like a skewed station.
    set("date", &ids.date.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    if has_body {
        set("content-type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8");
    }
    resp
}

/// Result of a Graph route handler.
pub type GraphResult = Result<GraphReply, GraphError>;
