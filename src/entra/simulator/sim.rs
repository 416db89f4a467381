//! The shared core every handler sees: URLs, clock, token key, behaviour, faults, the
//! request log and the tenant state.
use super::clock::SimClock;
use super::config::Behaviour;
use super::faults::{FaultEngine, RequestClass};
use super::state::TenantState;
use super::certs::GeneratedCertificate;
use serde::Serialize;
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Instant;
use url::Url;

/// The simulator's base URLs.
#[derive(Debug, Clone)]
pub struct SimUrls {
    /// `http://127.0.0.1:P/`: authority, Graph, test control — always plain HTTP.
    pub main: Url,
    /// Security info ("mysignins"): `main`, or `https://mysignins.microsoft.com/` when the
    /// pages are served under Microsoft's host names.
    pub portal: Url,
    /// The sign-in pages ("login.microsoftonline.com"): `login`, or
    /// `https://login.microsoftonline.com/`.
    pub signin: Url,
    /// The ceremony host ("login.microsoft.com", the rp.id): `http://localhost:P/`, or
    /// `https://login.microsoft.com/`.
    pub login: Url,
}

impl SimUrls {
    /// `main` joined with a path (no leading slash needed).
    pub fn main_url(&self, path: &str) -> String {
        join(&self.main, path)
    }

    /// `portal` joined with a path.
    pub fn portal_url(&self, path: &str) -> String {
        join(&self.portal, path)
    }

    /// `signin` joined with a path.
    pub fn signin_url(&self, path: &str) -> String {
        join(&self.signin, path)
    }

    /// `login` (the ceremony host) joined with a path.
    pub fn login_url(&self, path: &str) -> String {
        join(&self.login, path)
    }

    /// The ceremony host's origin (`http://localhost:P`), which the browser puts in
    /// clientDataJSON.
    pub fn login_origin(&self) -> String {
        self.login.as_str().trim_end_matches('/').to_string()
    }

    /// The ceremony host name (the rp.id of the browser ceremony).
    pub fn login_host(&self) -> String {
        self.login.host_str().unwrap_or("localhost").to_string()
    }

    /// The sign-in host name.
    pub fn signin_host(&self) -> String {
        self.signin.host_str().unwrap_or("localhost").to_string()
    }
}

fn join(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), ensure_slash(path))
}

fn ensure_slash(p: &str) -> String {
    if p.starts_with('/') { p.to_string() } else { format!("/{p}") }
}

/// One request as the test-control log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// 1, 2, 3, ... in arrival order.
    pub seq: u64,
    /// Milliseconds since the simulator started (real time, for checking retry waits).
    pub at_ms: u64,
    /// Wall-clock arrival time (RFC 3339, milliseconds).
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub host: Option<String>,
    pub class: RequestClass,
    /// Response status; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The injected fault, if any (`throttle`, `unavailable`, `gateway_timeout`, `drop`, `latency`).
    pub fault: Option<String>,
    pub client_request_id: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// Shared simulator core.
pub struct Sim {
    pub urls: SimUrls,
    /// The HTTPS side under Microsoft's host names, when configured.
    pub pages_tls: Option<super::tls::PagesTls>,
    pub clock: SimClock,
    pub token_key: [u8; 32],
    pub behaviour: RwLock<Behaviour>,
    pub faults: Mutex<FaultEngine>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub state: Mutex<TenantState>,
    /// Auto-approve device codes as this user id (None = off).
    pub auto_approve: Mutex<Option<String>>,
    pub generated: Vec<GeneratedCertificate>,
    pub started: Instant,
    /// Arrival counter of logged requests.
    pub seq: std::sync::atomic::AtomicU64,
}

impl Sim {
    /// Lock the tenant state (a panicked handler does not poison the simulator).
    pub fn state(&self) -> MutexGuard<'_, TenantState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot of the behaviour switches.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replace the behaviour switches.
    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.write().unwrap_or_else(|p| p.into_inner()) = b;
    }

    /// Lock the fault engine.
    pub fn faults(&self) -> MutexGuard<'_, FaultEngine> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lock the request log.
    pub fn log(&self) -> MutexGuard<'_, Vec<LoggedRequest>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Graph base for `@odata.context` (`http://127.0.0.1:P/v1.0`).
    pub fn graph_version_base(&self, version: &str) -> String {
        self.urls.main_url(version)
    }
}
