//! A local simulator of the Entra ID pieces keystation talks to: the authority (device
//! code, client credentials with secret or certificate, refresh), a Microsoft Graph subset
//! (users, Temporary Access Pass, FIDO2 provisioning with real attestation checks,
//! authentication-method policies), the browser sign-in and Security-info pages, fault
//! injection and a test-control surface under `/_sim/`.
//!
//! Start it in-process with [`start`] (tests, demo) or as `keystation simulator`.
//! Everything it serves is documented in `docs/simulator.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keystation::entra::simulator::SimulatorError> {
//! use keystation::entra::simulator::{start, SimulatorConfig};
//! let sim = start(SimulatorConfig::default()).await?;
//! println!("authority {} graph {} tenant {}", sim.authority_host(), sim.graph_base(), sim.tenant_id());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
pub mod certs;
pub mod clock;
pub mod config;
pub mod control;
pub mod faults;
pub mod graph;
pub mod handle;
pub mod oauth;
pub mod pages;
pub mod permissions;
pub mod registration;
pub mod roles;
pub mod seed;
pub mod server;
pub mod sim;
pub mod state;
pub mod tls;
pub mod tokens;
pub mod webauthn;

pub use certs::GeneratedCertificate;
pub use config::{Behaviour, ExcludeCredentialEncoding, PageLocale, ProofUpDrift, SecurityInfoUi, SimulatorConfig, TapUsableOnceDefault, V1ChallengeTimeout};
pub use faults::{FaultConfig, FaultKind, FaultRule};
pub use handle::SimulatorHandle;
pub use seed::{CeremonyVariant, TenantSeed};

use sim::{Sim, SimUrls};
use state::TenantState;
use std::sync::{Arc, Mutex, RwLock};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The tenant file, seed or options are not valid.
    #[error("simulator configuration: {0}")]
    Config(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source} (pick another port with --port, or 0 for any free port)")]
    Bind {
        /// Address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something unexpected (key generation, runtime).
    #[error("simulator failed to start: {0}")]
    Internal(String),
}

/// Start a simulator; it serves until [`SimulatorHandle::shutdown`] (or the handle is dropped).
pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, SimulatorError> {
    config.tenant.validate().map_err(SimulatorError::Config)?;
    config.faults.validate().map_err(SimulatorError::Config)?;
    for (i, pem) in config.extra_trusted_roots.iter().enumerate() {
        certs::parse_pem_certificates(pem).map_err(|e| SimulatorError::Config(format!("extra trusted root {i}: {e}")))?;
    }
    if config.login_host.is_empty() || config.login_host.contains(['/', ':']) {
        return Err(SimulatorError::Config(format!("login host {:?} must be a bare host name such as localhost", config.login_host)));
    }
    let wanted: Vec<(String, String)> = config
        .tenant
        .apps
        .iter()
        .filter(|a| a.generate_test_certificate)
        .map(|a| (a.client_id.clone(), a.name.clone()))
        .collect();
    let generated = tokio::task::spawn_blocking(move || {
        wanted.iter().map(|(id, name)| certs::generate_app_certificate(id, name)).collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|e| SimulatorError::Internal(e.to_string()))?
    .map_err(SimulatorError::Internal)?;

    let listener = tokio::net::TcpListener::bind(config.bind).await.map_err(|source| SimulatorError::Bind { addr: config.bind, source })?;
    let addr = listener.local_addr().map_err(|e| SimulatorError::Internal(e.to_string()))?;
    let port = addr.port();
    let main = url::Url::parse(&format!("http://{}:{port}/", url_host(&addr.ip()))).map_err(|e| SimulatorError::Internal(e.to_string()))?;
    let login = url::Url::parse(&format!("http://{}:{port}/", config.login_host)).map_err(|e| SimulatorError::Config(format!("login host: {e}")))?;
    let (urls, pages_tls) = if config.microsoft_hosts {
        let tls_listener = tokio::net::TcpListener::bind(std::net::SocketAddr::new(addr.ip(), 0))
            .await
            .map_err(|source| SimulatorError::Bind { addr: std::net::SocketAddr::new(addr.ip(), 0), source })?;
        let tls_addr = tls_listener.local_addr().map_err(|e| SimulatorError::Internal(e.to_string()))?;
        let tls = tls::generate(&tls::MICROSOFT_HOSTS, tls_addr).map_err(SimulatorError::Internal)?;
        let https = |h: &str| url::Url::parse(&format!("https://{h}/")).map_err(|e| SimulatorError::Internal(e.to_string()));
        let [signin, portal, ceremony] = tls::MICROSOFT_HOSTS;
        (SimUrls { main: main.clone(), portal: https(portal)?, signin: https(signin)?, login: https(ceremony)? }, Some((tls, tls_listener)))
    } else {
        (SimUrls { main: main.clone(), portal: main.clone(), signin: login.clone(), login }, None)
    };
    let clock = clock::SimClock::default();
    let state = TenantState::from_seed(&config.tenant, &config.extra_trusted_roots, &generated, clock.now()).map_err(SimulatorError::Config)?;
    let mut token_key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut token_key);
    let sim = Arc::new(Sim {
        urls,
        pages_tls: pages_tls.as_ref().map(|(t, _)| t.clone()),
        clock,
        token_key,
        behaviour: RwLock::new(config.behaviour.clone()),
        faults: Mutex::new(faults::FaultEngine::new(config.faults.clone())),
        log: Mutex::new(Vec::new()),
        state: Mutex::new(state),
        auto_approve: Mutex::new(None),
        generated,
        started: std::time::Instant::now(),
        seq: std::sync::atomic::AtomicU64::new(0),
    });
    if config.auto_approve_device_codes {
        control::set_auto_approve(&sim, true, config.auto_approve_account.as_deref()).map_err(SimulatorError::Config)?;
    }
    let router = server::router(sim.clone());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = vec![tokio::spawn(server::serve(listener, router.clone(), rx.clone(), None))];
    if let Some((tls, tls_listener)) = pages_tls {
        tasks.push(tokio::spawn(server::serve(tls_listener, router.clone(), rx.clone(), Some(tls.acceptor))));
    }
    // "localhost" may resolve to ::1 first; serve the same port there too when possible.
    if addr.ip().is_loopback()
        && addr.is_ipv4()
        && let Ok(v6) = tokio::net::TcpListener::bind(std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))).await
    {
        tasks.push(tokio::spawn(server::serve(v6, router, rx, None)));
    }
    Ok(SimulatorHandle::new(sim, tx, tasks, addr))
}

fn url_host(ip: &std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}
