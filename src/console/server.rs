//! Starting and stopping the console: the listener (plain HTTP on loopback, HTTPS
//! otherwise), the routes behind the guard, and the handle callers keep.
use super::activity::ActivityKind;
use super::app::App;
use super::auth::Auth;
use super::desk::screen::DeskScreen;
use super::hub::Hub;
use super::options::ConsoleOptions;
use super::origin::Origins;
use super::{assets, desk, guard, hub, journal, session};
use crate::key::sources::KeySources;
use crate::secret::SecretString;
use crate::station::batch::{BatchOptions, BatchPlan};
use crate::station::pipeline::Station;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use crate::station::pipeline::CancelToken;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The settings cannot work (the message says which and how to fix it).
    #[error("{0}")]
    Config(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

/// A running console.
pub struct ConsoleHandle {
    app: Arc<App>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ConsoleHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Start a console for `station` on `sources`.
pub async fn start(station: Arc<Station>, sources: KeySources, options: ConsoleOptions) -> Result<ConsoleHandle, ConsoleError> {
    if !options.listen.ip().is_loopback() && (options.tls.is_none() || options.secrets.password.is_none()) {
        return Err(ConsoleError::Config(format!(
            "{} is not a loopback address: a console reachable from the network needs HTTPS and an operator password (console.tls_certificate, console.tls_private_key, console.password_file)",
            options.listen
        )));
    }
    let tls = match &options.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(super::tls::server_config(files).map_err(ConsoleError::Config)?)),
        None => None,
    };
    let listener = TcpListener::bind(options.listen).await.map_err(|e| ConsoleError::Listen { addr: options.listen, message: e.to_string() })?;
    let addr = listener.local_addr().map_err(|e| ConsoleError::Listen { addr: options.listen, message: e.to_string() })?;
    let mut options = options;
    let secrets = std::mem::take(&mut options.secrets);
    let auth = Auth::new(secrets, addr.port(), tls.is_some(), options.sessions);
    let desk_screen = Arc::new(DeskScreen::new(auth.desk_exits()));
    let app = Arc::new(App {
        station,
        sources,
        origins: Origins::new(addr, tls.is_some(), &options.hostnames),
        tls: tls.is_some(),
        auth,
        desk: desk_screen,
        hub: Arc::new(Hub::new()),
        activities: Default::default(),
        options,
        stop: CancelToken::new(),
        signed_in: tokio::sync::Notify::new(),
    });
    let router = routes(Arc::clone(&app));
    let stop = app.stop.clone();
    let server = tokio::spawn(serve(listener, router, tls, stop));
    tokio::spawn(sweep_sessions(Arc::clone(&app)));
    tracing::info!(%addr, "the console listens");
    Ok(ConsoleHandle { app, addr, server })
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(session::home))
        .route("/desk", get(session::desk))
        .route("/hub", get(session::hub))
        .route("/journal", get(session::journal))
        .route("/assets/{name}", get(assets::serve))
        .route("/api/session", get(session::current).post(session::sign_in))
        .route("/api/session/logout", post(session::sign_out))
        .route("/api/desk/state", get(desk::routes::state))
        .route("/api/desk/events", get(desk::routes::events))
        .route("/api/desk/open", post(desk::routes::open))
        .route("/api/desk/close", post(desk::routes::close))
        .route("/api/desk/user", post(desk::routes::user))
        .route("/api/desk/pin", post(desk::routes::pin))
        .route("/api/desk/restart", post(desk::routes::restart))
        .route("/api/desk/slip", post(desk::routes::slip))
        .route("/api/desk/exit", post(desk::routes::exit))
        .route("/api/hub/state", get(hub::routes::state))
        .route("/api/hub/events", get(hub::routes::events))
        .route("/api/hub/batch", post(hub::routes::start))
        .route("/api/hub/stop", post(hub::routes::stop))
        .route("/api/hub/abort", post(hub::routes::abort))
        .route("/api/hub/slip/{line}", post(hub::routes::slip))
        .route("/api/journal/jobs", get(journal::routes::jobs))
        .route("/api/journal/jobs/{uid}", get(journal::routes::job))
        .route("/api/journal/jobs/{uid}/retry", post(journal::routes::retry))
        .route("/api/journal/jobs/{uid}/resolve", post(journal::routes::resolve))
        .route("/api/journal/parked", get(journal::routes::parked))
        .route("/api/journal/export", get(journal::routes::export))
        .fallback(|| async { super::reply::fail(axum::http::StatusCode::NOT_FOUND, "no such page") })
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), guard::guard))
        .with_state(app)
}

/// Remove ended sessions now and then, so that they do not pile up in memory and their
/// pages' live streams end (the pages then show why and offer to sign in again), until
/// the console stops; then every live stream ends.
async fn sweep_sessions(app: Arc<App>) {
    let every = app.auth.sweep_interval();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => { app.auth.sweep(); }
            _ = app.stop.cancelled() => break,
        }
    }
    app.auth.end_streams();
}

/// Accept connections (through TLS when configured) until `stop`.
async fn serve(listener: TcpListener, router: Router, tls: Option<tokio_rustls::TlsAcceptor>, stop: CancelToken) {
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = stop.cancelled() => break,
        };
        let svc = TowerToHyperService::new(router.clone());
        let (stop, tls) = (stop.clone(), tls.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            // A client that opens a connection and never finishes its request headers
            // does not hold it (and a task) forever.
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
            match tls {
                Some(acceptor) => {
                    // A client that never finishes its handshake must not hold a task forever.
                    let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await else { return };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    drive(conn, stop).await;
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    drive(conn, stop).await;
                }
            }
        });
    }
}

async fn drive<I, S>(conn: hyper::server::conn::http1::Connection<I, S>, stop: CancelToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

impl ConsoleHandle {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address to open (`http://127.0.0.1:8470`), with the first configured host
    /// name for a console on a network address.
    pub fn base_url(&self) -> String {
        let preferred = if self.addr.ip().is_loopback() { None } else { self.app.options.hostnames.first().map(String::as_str) };
        self.app.origins.base_url(self.addr, preferred)
    }

    /// The link that signs a browser in: the token is in the fragment, which browsers
    /// never send to a server. It is a secret: print it to the operator or open it, never
    /// log it.
    pub fn sign_in_link(&self, page: &str) -> SecretString {
        SecretString::new(format!("{}/{}#token={}", self.base_url(), page.trim_start_matches('/'), self.app.auth.launch_token().expose()))
    }

    /// Signed-in sessions kept in memory now (ended ones are removed).
    pub fn session_count(&self) -> usize {
        self.app.auth.session_count()
    }

    /// What runs now.
    pub fn activity(&self) -> ActivityKind {
        self.app.activities.kind()
    }

    /// Open the desk (as the desk page's "Open the desk" button does).
    pub fn open_desk(&self) -> Result<(), String> {
        desk::open(&self.app)
    }

    /// Start a planned batch on the hub (as an upload on the hub page does).
    pub fn start_batch(&self, plan: BatchPlan, options: BatchOptions) -> Result<(), String> {
        hub::run::start(&self.app, plan, options)
    }

    /// Wait until a browser has signed in.
    pub async fn signed_in(&self) {
        self.app.signed_in.notified().await
    }

    /// Wait until nothing runs (the desk closed, the batch ended).
    pub async fn idle(&self) {
        while self.activity() != ActivityKind::Idle {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The hub's state now (tests, the demo's summary).
    pub fn hub_state(&self) -> super::hub::model::HubModel {
        self.app.hub.snapshot()
    }

    /// Stop: cancel what runs, end live streams, close connections.
    pub async fn shutdown(self) {
        self.app.activities.cancel_all();
        self.app.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        // Let the activity tasks record how far their jobs got.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.app.activities.kind() != ActivityKind::Idle && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
