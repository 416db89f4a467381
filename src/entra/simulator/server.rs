//! The HTTP server: routes, the fault/logging layer, and an accept loop that can drop a
//! connection without answering (which `axum::serve` cannot).
use super::faults::{FaultAction, RequestClass};
use super::graph::reply::{GraphError, RequestIds};
use super::oauth::error::StsError;
use super::sim::{LoggedRequest, Sim};
use super::{control, graph, oauth, pages};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The request log keeps at most this many entries (the oldest tenth goes first).
const LOG_CAP: usize = 50_000;

/// Marker extension: close the connection instead of sending this response.
#[derive(Clone, Copy, Debug)]
struct DropConnection;

/// The error our connection service returns to make hyper abort the connection.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// All routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(oauth::devicecode))
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oauth::openid_configuration))
        .route("/v1.0", any(graph::dispatch))
        .route("/v1.0/{*rest}", any(graph::dispatch))
        .route("/beta", any(graph::dispatch))
        .route("/beta/{*rest}", any(graph::dispatch))
        .merge(pages::routes())
        .nest("/_sim", control::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), observe))
        .with_state(sim)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    (StatusCode::NOT_FOUND, format!("The keystation simulator has nothing at {}. See docs/simulator.md for its endpoints.\n", uri.path())).into_response()
}

/// Faults, latency and the request log, around every non-control request.
async fn observe(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let class = RequestClass::of(&path);
    if class == RequestClass::Control {
        return next.run(req).await;
    }
    let seq = sim.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let at_ms = sim.started.elapsed().as_millis() as u64;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).map(str::to_string);
    let client_request_id = req.headers().get("client-request-id").and_then(|h| h.to_str().ok()).map(str::to_string);
    let user_agent = req.headers().get("user-agent").and_then(|h| h.to_str().ok()).map(str::to_string);
    let headers = req.headers().clone();
    let decision = sim.faults().decide(class, &method, &path);
    if decision.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.delay_ms)).await;
    }
    let (resp, fault) = match decision.action {
        Some(FaultAction::Drop) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            (r, Some("drop".to_string()))
        }
        Some(FaultAction::Respond { status, retry_after, code }) => {
            let kind = match status {
                429 => "throttle",
                503 => "unavailable",
                _ => "gateway_timeout",
            };
            (fault_response(&sim, class, &headers, status, retry_after, &code), Some(kind.to_string()))
        }
        None => (next.run(req).await, (decision.delay_ms > 0).then(|| "latency".to_string())),
    };
    let dropped = resp.extensions().get::<DropConnection>().is_some();
    let mut log = sim.log();
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 10);
    }
    log.push(LoggedRequest {
        seq,
        at_ms,
        at,
        method,
        path,
        query,
        host,
        class,
        status: (!dropped).then(|| resp.status().as_u16()),
        fault,
        client_request_id,
        user_agent,
    });
    resp
}

/// The replacement response of a 429/503/504 fault, shaped like the real endpoint's errors.
fn fault_response(sim: &Sim, class: RequestClass, headers: &axum::http::HeaderMap, status: u16, retry_after: Option<u64>, code: &str) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let now = sim.clock.now();
    let mut resp = match class {
        RequestClass::Graph => {
            let message = match status {
                429 => "Too many requests are being made; the request was throttled. Retry after the time in the Retry-After header.",
                503 => "The service is temporarily unavailable. Please try again later.",
                _ => "The gateway timed out waiting for the service.",
            };
            let code = match status {
                503 => "serviceNotAvailable",
                504 => "gatewayTimeout",
                _ => code,
            };
            GraphError::new(status_code, code, message).into_response(&RequestIds::new(headers, now))
        }
        RequestClass::Token | RequestClass::DeviceCode => StsError {
            status: status_code,
            error: "temporarily_unavailable",
            code: 90033,
            description: "A transient error has occurred. Please try again.".into(),
            suberror: None,
            retry_after: None,
        }
        .into_response(headers, now),
        _ => (status_code, "The keystation simulator injected this fault.\n").into_response(),
    };
    if let Some(s) = retry_after {
        resp.headers_mut().insert("retry-after", HeaderValue::from(s));
    }
    resp
}

/// hyper service around the router that turns the drop marker into a connection abort.
#[derive(Clone)]
struct ConnService {
    router: Router,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = DroppedByFault;
    type Future = Pin<Box<dyn Future<Output = Result<Response, DroppedByFault>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let router = self.router.clone();
        Box::pin(async move {
            let resp = match router.oneshot(req.map(axum::body::Body::new)).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(DroppedByFault);
            }
            Ok(resp)
        })
    }
}

/// Accept connections until `shutdown` fires (or its sender is dropped); with `tls`,
/// each connection is a TLS one first.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let svc = ConnService { router: router.clone() };
        let conn_shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, svc, conn_shutdown).await,
                Some(acceptor) => {
                    // A client that never finishes its handshake is dropped.
                    if let Ok(Ok(stream)) = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                        serve_connection(stream, svc, conn_shutdown).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, svc: ConnService, mut shutdown: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn).await;
        }
    }
}
