//! The handle of a running simulator: its URLs, and in-process shortcuts to the
//! test-control operations (the same ones `/_sim/` offers over HTTP).
use super::certs::GeneratedCertificate;
use super::config::Behaviour;
use super::control::{self, IssueTap};
use super::faults::{FaultConfig, FaultEngine};
use super::seed::CeremonyVariant;
use super::sim::{LoggedRequest, Sim};
use crate::secret::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

/// A running simulator. Dropping it stops the server too; [`Self::shutdown`] waits for it.
pub struct SimulatorHandle {
    sim: Arc<Sim>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    addr: SocketAddr,
    tenant_id: String,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle").field("addr", &self.addr).field("tenant_id", &self.tenant_id).finish()
    }
}

impl SimulatorHandle {
    pub(super) fn new(sim: Arc<Sim>, shutdown: watch::Sender<bool>, tasks: Vec<JoinHandle<()>>, addr: SocketAddr) -> Self {
        let tenant_id = sim.state().tenant_id.clone();
        SimulatorHandle { sim, shutdown, tasks, addr, tenant_id }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authority host, `http://127.0.0.1:P/` (use as keystation's authority URL).
    pub fn authority_host(&self) -> Url {
        self.sim.urls.main.clone()
    }

    /// The Graph host, `http://127.0.0.1:P/` (append `v1.0/` or `beta/`).
    pub fn graph_base(&self) -> Url {
        self.sim.urls.main.clone()
    }

    /// `http://127.0.0.1:P/{version}/` for `v1.0` or `beta`.
    pub fn graph_url(&self, version: &str) -> Url {
        self.url(&format!("/{version}/"))
    }

    /// The tenant id (GUID).
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The tenant's verified domain.
    pub fn tenant_domain(&self) -> String {
        self.sim.state().domain.clone()
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> Url {
        self.url(&format!("/{}/oauth2/v2.0/token", self.tenant_id))
    }

    /// `{authority}/{tenant}/oauth2/v2.0/devicecode`.
    pub fn device_code_endpoint(&self) -> Url {
        self.url(&format!("/{}/oauth2/v2.0/devicecode", self.tenant_id))
    }

    /// The "mysignins" origin: `http://127.0.0.1:P/` (Security info, newfido), or
    /// `https://mysignins.microsoft.com/` with `microsoft_hosts`.
    pub fn pages_base(&self) -> Url {
        self.sim.urls.portal.clone()
    }

    /// The "login.microsoft.com" stand-in (`/fido/create`, the rp.id): `http://localhost:P/`,
    /// or `https://login.microsoft.com/` with `microsoft_hosts`.
    pub fn login_base(&self) -> Url {
        self.sim.urls.login.clone()
    }

    /// The sign-in pages: the same as [`Self::login_base`], or
    /// `https://login.microsoftonline.com/` with `microsoft_hosts`.
    pub fn signin_base(&self) -> Url {
        self.sim.urls.signin.clone()
    }

    /// With `microsoft_hosts`: where each Microsoft host name is served (one loopback
    /// address for all three) and the base64 SHA-256 of the one certificate key a
    /// browser must trust for them.
    pub fn microsoft_hosts(&self) -> Option<(Vec<(String, std::net::SocketAddr)>, String)> {
        let t = self.sim.pages_tls.as_ref()?;
        Some((super::tls::MICROSOFT_HOSTS.iter().map(|h| (h.to_string(), t.addr)).collect(), t.spki_sha256.clone()))
    }

    /// The sign-in page (authorize request of the Security-info app; ends on Security info).
    pub fn signin_url(&self) -> Url {
        Url::parse(&super::pages::signin_url(&self.sim, &self.tenant_id)).unwrap_or_else(|_| self.sim.urls.login.clone())
    }

    /// Security info (`aka.ms/mysecurityinfo`); redirects to sign-in when not signed in.
    pub fn security_info_url(&self) -> Url {
        Url::parse(&self.sim.urls.portal_url("/security-info")).unwrap_or_else(|_| self.sim.urls.portal.clone())
    }

    /// The device-code verification page.
    pub fn device_login_url(&self) -> Url {
        self.url("/devicelogin")
    }

    /// The test-control base, `http://127.0.0.1:P/_sim/`.
    pub fn control_url(&self) -> Url {
        self.url("/_sim/")
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&self.sim.urls.main_url(path)).unwrap_or_else(|_| self.sim.urls.main.clone())
    }

    /// The same summary `GET /_sim/info` returns (URLs, users, apps).
    pub fn info(&self) -> serde_json::Value {
        control::info_json(&self.sim)
    }

    /// Certificates (with private keys) generated at start-up for `generate_test_certificate` apps.
    pub fn generated_certificates(&self) -> &[GeneratedCertificate] {
        &self.sim.generated
    }

    /// Write every generated certificate and private key to `dir` as
    /// `{client_id}.crt.pem` and `{client_id}.key.pem` (key files mode 0600).
    /// Returns (client id, certificate path, key path) per app.
    pub fn write_generated_credentials(&self, dir: &std::path::Path) -> Result<Vec<(String, std::path::PathBuf, std::path::PathBuf)>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut out = Vec::new();
        for g in &self.sim.generated {
            let crt = dir.join(format!("{}.crt.pem", g.client_id));
            let key = dir.join(format!("{}.key.pem", g.client_id));
            std::fs::write(&crt, &g.certificate_pem).map_err(|e| format!("cannot write {}: {e}", crt.display()))?;
            write_private(&key, g.private_key_pem.expose().as_bytes()).map_err(|e| format!("cannot write {}: {e}", key.display()))?;
            out.push((g.client_id.clone(), crt, key));
        }
        Ok(out)
    }

    /// Push the simulator clock forward.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.sim.clock.advance(by);
    }

    /// Replace the fault configuration (counters restart).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), String> {
        faults.validate()?;
        *self.sim.faults() = FaultEngine::new(faults);
        Ok(())
    }

    /// Approve a pending device code as `account` (UPN or id).
    pub fn approve_device_code(&self, user_code: &str, account: &str) -> Result<(), String> {
        super::oauth::device_code::decide(&self.sim, user_code, Some(account)).map_err(|e| e.to_string())
    }

    /// Turn device-code auto-approval on (as `account`, default first admin) or off.
    pub fn set_auto_approve(&self, on: bool, account: Option<&str>) -> Result<(), String> {
        control::set_auto_approve(&self.sim, on, account).map(|_| ())
    }

    /// Issue (replace) a TAP for a user without going through Graph or its policy checks.
    pub fn issue_tap(&self, user: &str, lifetime_minutes: u32, usable_once: bool) -> Result<SecretString, String> {
        control::issue_tap(&self.sim, user, &IssueTap { lifetime_minutes: Some(lifetime_minutes), usable_once, start_in_minutes: 0 }).map(|(_, p)| p)
    }

    /// The current behaviour switches.
    pub fn behaviour(&self) -> Behaviour {
        self.sim.behaviour()
    }

    /// Change behaviour switches in place.
    pub fn update_behaviour(&self, f: impl FnOnce(&mut Behaviour)) {
        let mut b = self.sim.behaviour();
        f(&mut b);
        self.sim.set_behaviour(b);
    }

    /// Add a trusted attestation root (PEM).
    pub fn add_trusted_root(&self, pem: &str) -> Result<(), String> {
        let ders = super::certs::parse_pem_certificates(pem)?;
        self.sim.state().trusted_roots.extend(ders);
        Ok(())
    }

    /// Change the permissions granted to an app (admin consent given or revoked); tokens
    /// issued from now on carry them.
    pub fn set_app_permissions(&self, client_id: &str, application_roles: Option<Vec<String>>, delegated_scopes: Option<Vec<String>>) -> Result<(), String> {
        control::patch_app_consent(&self.sim, client_id, &control::AppPatch { application_roles, delegated_scopes })
    }

    /// Force a `/fido/create` variant for every user (None: per-user/tenant default).
    pub fn set_ceremony_variant(&self, variant: Option<CeremonyVariant>) {
        self.sim.state().pages.ceremony_override = variant;
    }

    /// Requests seen so far (arrival order), optionally only those under `path_prefix`.
    pub fn requests(&self, path_prefix: Option<&str>) -> Vec<LoggedRequest> {
        control::requests(&self.sim, path_prefix, None)
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        self.sim.log().clear();
    }

    /// Stop serving and wait for the accept loops to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Create (or truncate) a file readable by its owner only, then write `data`.
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(data)
}
