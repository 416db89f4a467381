//! The Graph client core: authentication, retries, request ids, error mapping, paging.
use super::error::{classify, GraphError, GraphErrorKind};
use super::operation::{describe_missing, missing_access, Operation, PlannedCall};
use super::{ApiVersion, GraphConfig};
use crate::entra::http::{new_client_request_id, read_body, HttpSender, HttpSetupError, Replay};
use crate::entra::oauth::{OAuthError, TokenClaims, TokenProvider};
use crate::secret::SecretString;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Follow at most this many `@odata.nextLink` pages (a user has few methods; a mail
/// search has few hits).
const MAX_PAGES: usize = 50;

/// A typed Microsoft Graph client. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
    api_version: ApiVersion,
}

struct Inner {
    sender: HttpSender,
    graph_host: Url,
    tokens: Arc<dyn TokenProvider>,
    last_date: std::sync::Mutex<Option<ServerDate>>,
}

/// Graph's clock as its last answer's `Date` header gave it, and ours when it arrived
/// (for a clock check: tokens, assertions and TAPs are time-bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerDate {
    /// Graph's `Date` (whole seconds).
    pub server: chrono::DateTime<chrono::Utc>,
    /// This machine's clock when the answer arrived.
    pub local: chrono::DateTime<chrono::Utc>,
}

impl ServerDate {
    /// How far this machine's clock is ahead of Graph's (negative: behind), allowing
    /// for the header's one-second resolution.
    pub fn skew(&self) -> chrono::Duration {
        let d = self.local - self.server;
        if d.num_milliseconds().abs() < 1000 { chrono::Duration::zero() } else { d }
    }
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").field("graph_host", &self.inner.graph_host.as_str()).field("api_version", &self.api_version).finish()
    }
}

/// One request as the operations describe it.
pub(crate) struct GraphRequest<'a> {
    pub op: Operation,
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub replay: Replay,
    pub user: Option<&'a str>,
    pub headers: Vec<(&'static str, &'static str)>,
}

/// A successful answer.
pub(crate) struct GraphResponse {
    pub status: u16,
    pub body: Zeroizing<Vec<u8>>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "innerError", alias = "innererror")]
    inner: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl GraphClient {
    /// A client for `config.graph_host` drawing tokens from `tokens`. Fails on an
    /// unusable Graph URL (plain http off loopback, query...) or CA bundle.
    pub fn new(config: GraphConfig, tokens: Arc<dyn TokenProvider>) -> Result<GraphClient, HttpSetupError> {
        let client = config.http.build_client()?;
        let graph_host = crate::entra::cloud::parse_service_url(config.graph_host.as_str(), "Graph").map_err(|e| HttpSetupError(e.0))?;
        Ok(GraphClient {
            inner: Arc::new(Inner { sender: HttpSender::new(client, config.retry), graph_host, tokens, last_date: std::sync::Mutex::new(None) }),
            api_version: config.api_version,
        })
    }

    /// The API version of this client's calls.
    pub fn api_version(&self) -> ApiVersion {
        self.api_version
    }

    /// The same client (shared connections and tokens) with another API version.
    pub fn with_api_version(&self, api_version: ApiVersion) -> GraphClient {
        GraphClient { inner: self.inner.clone(), api_version }
    }

    /// Graph's clock from the last answer that carried a `Date` header.
    pub fn last_server_date(&self) -> Option<ServerDate> {
        *self.inner.last_date.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Graph host.
    pub fn graph_host(&self) -> &Url {
        &self.inner.graph_host
    }

    /// The permissions of the token this client would send now (its `roles` for an app
    /// sign-in, `scp` for a delegated one), fetching a token if needed; `None` when the
    /// token is not a JWT whose claims can be read.
    pub async fn granted_permissions(&self) -> Result<Option<Vec<String>>, GraphError> {
        let token = self.inner.tokens.access_token().await.map_err(|e| self.token_error(Operation::GetUser, e, None))?;
        Ok(TokenClaims::peek(token.expose()).map(|c| c.permissions()))
    }

    /// Check, before anything is changed, that the token may make every call of a plan.
    /// `Err` is a [`GraphErrorKind::MissingPermission`] error naming every permission
    /// missing and what needs it (its hint: how to grant the first). A token whose claims
    /// cannot be read passes: Graph will answer for itself.
    pub async fn check_access(&self, calls: &[PlannedCall]) -> Result<(), GraphError> {
        let Some(granted) = self.granted_permissions().await? else { return Ok(()) };
        let missing = missing_access(calls, &granted);
        let Some(first) = missing.first() else { return Ok(()) };
        let mut e = self.error(
            first.call.operation,
            GraphErrorKind::MissingPermission,
            format!("the station's sign-in lacks the Microsoft Graph permission {}", describe_missing(&missing)),
            None,
        );
        e.api_version = first.call.api;
        e.token_permissions = Some(granted);
        Err(e)
    }

    /// `{host}/{version}/{path}`; `path` must already be encoded; `query` too.
    pub(crate) fn url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = crate::entra::cloud::join_path(&self.inner.graph_host, &format!("{}/{}", self.api_version.segment(), path));
        url.set_query(query);
        url
    }

    pub(crate) fn error(&self, op: Operation, kind: GraphErrorKind, message: impl Into<String>, user: Option<&str>) -> GraphError {
        let mut e = GraphError::local(op, kind, message);
        e.api_version = self.api_version;
        e.user = user.map(str::to_string);
        e
    }

    /// Send one logical call: token, retries, one re-authentication after a 401, error
    /// mapping. 2xx answers come back with their body.
    pub(crate) async fn send(&self, req: GraphRequest<'_>) -> Result<GraphResponse, GraphError> {
        let op = req.op;
        let mut token = self.inner.tokens.access_token().await.map_err(|e| self.token_error(op, e, req.user))?;
        let client_request_id = new_client_request_id();
        let mut reauthenticated = false;
        loop {
            let bearer = bearer_header(&token).map_err(|m| self.error(op, GraphErrorKind::TokenAcquisition, m, req.user))?;
            let exchange = self
                .inner
                .sender
                .send_as(op.log_name(), req.replay, &client_request_id, |client| {
                    let mut b = client.request(req.method.clone(), req.url.clone()).header(AUTHORIZATION, bearer.clone()).header(ACCEPT, "application/json");
                    for (name, value) in &req.headers {
                        b = b.header(*name, *value);
                    }
                    if let Some(body) = &req.body {
                        b = b.header(CONTENT_TYPE, "application/json").body(body.clone());
                    }
                    Ok(b)
                })
                .await
                .map_err(|f| {
                    let mut e = self.error(op, GraphErrorKind::Transport, format!("no answer from Graph after {} attempt(s): {}", f.attempts, f.message), req.user);
                    e.client_request_id = Some(f.client_request_id);
                    e
                })?;
            let status = exchange.response.status().as_u16();
            if let Some(server) = exchange.response.headers().get(reqwest::header::DATE).and_then(|v| v.to_str().ok()).and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok()) {
                *self.inner.last_date.lock().unwrap_or_else(|p| p.into_inner()) = Some(ServerDate { server: server.with_timezone(&chrono::Utc), local: chrono::Utc::now() });
            }
            if status == 401
                && !reauthenticated
                && let Some(fresh) = self.inner.tokens.renew().await.map_err(|e| self.token_error(op, e, req.user))?
            {
                tracing::info!(call = op.log_name(), client_request_id = %client_request_id, "Graph refused the token; retrying once with a renewed one");
                token = fresh;
                reauthenticated = true;
                continue;
            }
            let request_id = exchange.request_id.clone();
            let retry_after = exchange.retry_after;
            let body = read_body(exchange.response).await.map_err(|m| {
                let mut e = self.error(op, GraphErrorKind::Transport, m, req.user);
                e.client_request_id = Some(client_request_id.clone());
                e.request_id = request_id.clone();
                e
            })?;
            if (200..300).contains(&status) {
                return Ok(GraphResponse { status, body });
            }
            let mut e = self.error_from_response(op, status, &body, req.user, &token);
            e.request_id = e.request_id.take().or(request_id);
            e.client_request_id = Some(client_request_id);
            e.retry_after = retry_after;
            tracing::debug!(
                call = op.log_name(), status, code = e.code.as_deref().unwrap_or("-"), kind = ?e.kind,
                request_id = e.request_id.as_deref().unwrap_or("-"), client_request_id = e.client_request_id.as_deref().unwrap_or("-"),
                "Graph call failed"
            );
            return Err(e);
        }
    }

    fn error_from_response(&self, op: Operation, status: u16, body: &[u8], user: Option<&str>, token: &SecretString) -> GraphError {
        let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok().and_then(|e| e.error);
        let (code, message, inner_request_id) = match parsed {
            Some(b) => {
                let rid = b.inner.as_ref().and_then(|i| i.get("request-id")).and_then(|v| v.as_str()).map(str::to_string);
                (b.code, b.message.unwrap_or_default(), rid)
            }
            // Not a Graph error body (a proxy page?): do not quote it.
            None => (None, format!("HTTP {status} without a Graph error body"), None),
        };
        let kind = classify(op, status, code.as_deref(), &message, user);
        // Classified on the whole text, kept capped: it is shown and journaled.
        let message = crate::text::cap_to(&message, crate::text::SERVICE_TEXT_MAX_CHARS).into_owned();
        let code = code.map(|c| crate::text::cap_to(&c, 100).into_owned());
        let mut e = self.error(op, kind, message, user);
        e.status = Some(status);
        e.code = code;
        e.request_id = inner_request_id;
        if e.kind == GraphErrorKind::MissingPermission {
            e.token_permissions = TokenClaims::peek(token.expose()).map(|c| c.permissions());
        }
        e
    }

    fn token_error(&self, op: Operation, e: OAuthError, user: Option<&str>) -> GraphError {
        let mut g = self.error(op, GraphErrorKind::TokenAcquisition, format!("no access token: {e}"), user);
        if let OAuthError::Endpoint(t) = &e {
            g.status = Some(t.status);
            g.code = Some(t.error.clone());
            g.client_request_id = Some(t.client_request_id.clone());
        }
        g
    }

    /// Decode a JSON answer; decoding errors never quote the body (it may hold a pass).
    // GraphError is deliberately rich (ids, hint inputs); failures are rare, so its size
    // on the error path does not matter.
    #[allow(clippy::result_large_err)]
    pub(crate) fn decode<T: DeserializeOwned>(&self, op: Operation, body: &[u8], user: Option<&str>) -> Result<T, GraphError> {
        serde_json::from_slice(body).map_err(|e| {
            self.error(
                op,
                GraphErrorKind::UnexpectedResponse,
                format!("cannot decode Graph's answer ({:?} error at line {} column {})", e.classify(), e.line(), e.column()),
                user,
            )
        })
    }

    /// GET a JSON object.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, op: Operation, url: Url, user: Option<&str>) -> Result<T, GraphError> {
        let r = self.send(GraphRequest { op, method: Method::GET, url, body: None, replay: Replay::Idempotent, user, headers: vec![] }).await?;
        self.decode(op, &r.body, user)
    }

    /// GET a collection, following `@odata.nextLink` on the same host only (the token
    /// must never go anywhere else).
    pub(crate) async fn get_collection<T: DeserializeOwned>(
        &self,
        op: Operation,
        url: Url,
        user: Option<&str>,
        headers: Vec<(&'static str, &'static str)>,
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(self.error(op, GraphErrorKind::UnexpectedResponse, format!("more than {MAX_PAGES} pages of results"), user));
            }
            let r = self.send(GraphRequest { op, method: Method::GET, url, body: None, replay: Replay::Idempotent, user, headers: headers.clone() }).await?;
            let page: Page<T> = self.decode(op, &r.body, user)?;
            items.extend(page.value);
            if let Some(link) = page.next_link {
                let link = Url::parse(&link).map_err(|_| self.error(op, GraphErrorKind::UnexpectedResponse, "invalid @odata.nextLink", user))?;
                if link.origin() != self.inner.graph_host.origin() {
                    return Err(self.error(op, GraphErrorKind::UnexpectedResponse, format!("@odata.nextLink points to another host ({}); not following it", link.origin().ascii_serialization()), user));
                }
                next = Some(link);
            }
        }
        Ok(items)
    }

    /// POST JSON and decode the answer.
    pub(crate) async fn post_json<T: DeserializeOwned>(&self, op: Operation, url: Url, body: &serde_json::Value, replay: Replay, user: Option<&str>) -> Result<T, GraphError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.error(op, GraphErrorKind::InvalidInput, format!("cannot encode the request: {e}"), user))?;
        let r = self.send(GraphRequest { op, method: Method::POST, url, body: Some(bytes), replay, user, headers: vec![] }).await?;
        self.decode(op, &r.body, user)
    }

    /// DELETE (expects 204).
    pub(crate) async fn delete(&self, op: Operation, url: Url, user: Option<&str>) -> Result<(), GraphError> {
        let r = self.send(GraphRequest { op, method: Method::DELETE, url, body: None, replay: Replay::Idempotent, user, headers: vec![] }).await?;
        tracing::debug!(call = op.log_name(), status = r.status, "deleted");
        Ok(())
    }
}

/// `Bearer <token>`, marked sensitive so that HTTP-level debug output never shows it.
fn bearer_header(token: &SecretString) -> Result<HeaderValue, String> {
    let text = Zeroizing::new(format!("Bearer {}", token.expose()));
    let mut value = HeaderValue::from_str(&text).map_err(|_| "the access token contains characters that cannot go into an HTTP header".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_is_sensitive_and_redacted_in_debug() {
        let h = bearer_header(&SecretString::new("tok-123")).unwrap();
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("tok-123"));
        assert!(bearer_header(&SecretString::new("bad\ntoken")).is_err());
    }
}
