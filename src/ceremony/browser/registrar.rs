//! [`BrowserRegistrar`]: the browser registration path behind the pipeline's
//! [`Registrar`] seam.
//!
//! ```text
//! register(key, request, observer, cancel)
//!   Graph: the user's fido2Methods now (to recognise the new one later)
//!   automatic (headless host, fresh user context)
//!     flow steps … expect_create … naming … done      bridge → gate → observer
//!     Graph: wait for the new method (AAGUID + display name)
//!   on a failure that finishing by hand can fix, with fallback_to_manual:
//!     evidence written, cookies carried over, automatic context closed
//!   manual (visible host, fresh user context, bridge still on)
//!     operator prompt with TAP and PIN; Graph: wait for the new method
//! ```
use super::automatic::{BudgetOverrides, Failure, FlowInputs, Runner};
use super::config::BrowserConfig;
use super::confirm::{self, Before, Found, Wanted};
use super::context::EnrollmentContext;
use super::error::BrowserError;
use super::evidence::Evidence;
use super::flow::{BuiltinFlow, Flow, FlowVars, origin_of};
use super::gate::{CeremonyGate, ContextOptions};
use super::host::{BrowserHost, Start};
use super::manual::{ManualOutcome, ManualPrompt, ManualWindow, OperatorPrompt};
use crate::ceremony::registrar::{
    CeremonyError, PendingRegistration, Registered, Registrar, RegistrationObserver, RegistrationPath, RegistrationRequest,
};
use crate::ceremony::webauthn::{BoxFuture, CancelToken, CreatedCredential, ENTRA_RP_ID, KeyCredentialMaker, RpIdPolicy, WebAuthnClient, b64};
use crate::entra::graph::{Fido2Method, GraphClient};
use crate::key::worker::KeyHandle;
use crate::secret::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Which mode a registration starts in (`[browser] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrowserMode {
    /// keystation walks the pages; the manual mode may take over on failure.
    #[default]
    Automatic,
    /// The operator walks the pages from the start.
    Manual,
}

/// Settings of the browser path.
#[derive(Debug, Clone)]
pub struct BrowserRegistrarConfig {
    /// The browser of the automatic mode (headless by default).
    pub automatic: BrowserConfig,
    /// The browser of the manual mode (visible by default; it needs a display).
    pub manual: BrowserConfig,
    /// Where a registration starts.
    pub mode: BrowserMode,
    /// Let the manual mode finish when the automatic mode loses its way (never for
    /// refusals: TAP rejected, key limit, policy, key errors, journal).
    pub fallback_to_manual: bool,
    /// How long the automatic mode waits for Graph to show the new method.
    pub confirm_timeout: Duration,
    /// How long the manual mode waits for the operator.
    pub manual_timeout: Duration,
    /// Time between two Graph reads while waiting.
    pub poll_interval: Duration,
    /// A screenshot of every recognised page (kept only when the registration fails).
    pub screenshots: bool,
    /// Changes to the flow's time budget (tests shorten the waits).
    pub budget: BudgetOverrides,
}

impl Default for BrowserRegistrarConfig {
    fn default() -> Self {
        let automatic = BrowserConfig::from_env();
        let manual = BrowserConfig { headless: false, ..automatic.clone() };
        BrowserRegistrarConfig {
            automatic,
            manual,
            mode: BrowserMode::Automatic,
            fallback_to_manual: true,
            confirm_timeout: Duration::from_secs(60),
            manual_timeout: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(2),
            screenshots: true,
            budget: BudgetOverrides::default(),
        }
    }
}

impl BrowserRegistrarConfig {
    /// The station's `[browser]` settings: `headless` for the automatic browser (the
    /// manual one is always visible), binary paths (else the environment's or Debian's
    /// defaults) and the fallback switch.
    pub fn from_station(headless: bool, chromium: Option<std::path::PathBuf>, chromedriver: Option<std::path::PathBuf>, fallback_to_manual: bool) -> Self {
        let mut c = BrowserRegistrarConfig::default();
        for b in [&mut c.automatic, &mut c.manual] {
            if let Some(p) = &chromium {
                b.chromium = p.clone();
            }
            if let Some(p) = &chromedriver {
                b.chromedriver = p.clone();
            }
        }
        c.automatic.headless = headless;
        c.fallback_to_manual = fallback_to_manual;
        c
    }
}

impl BrowserRegistrarConfig {
    /// The station's `[browser]` table, lab settings included.
    pub fn from_station_settings(s: &StationBrowser) -> Self {
        let mut c = BrowserRegistrarConfig::from_station(s.headless, s.chromium.clone(), s.chromedriver.clone(), s.fallback_to_manual);
        c.mode = s.mode;
        for b in [&mut c.automatic, &mut c.manual] {
            b.extra_args = s.extra_args.clone();
            b.host_map = s.host_map.clone();
            b.trust_spki = s.trust_spki.clone();
        }
        c
    }
}

/// Which flow a station walks (`[browser] flow`).
#[derive(Debug, Clone, Default)]
pub enum FlowChoice {
    /// From the tenant's Graph host: a keystation simulator's pages at its own URLs, else
    /// Microsoft's.
    #[default]
    Auto,
    /// The built-in `microsoft` flow with Microsoft's URLs (also in a lab that serves
    /// them from a simulator: `host_map`, `trust_spki`).
    Microsoft,
    /// The built-in `simulator` flow; the Graph host must be a keystation simulator.
    Simulator,
    /// A flow file (checked when the configuration is loaded), with the URLs of the Graph
    /// host's kind.
    File(Box<Flow>),
}

impl FlowChoice {
    /// `microsoft`, `simulator` or the path of a flow file (loaded and checked now).
    pub fn parse(value: &str) -> Result<FlowChoice, String> {
        match value.trim() {
            "" | "auto" => Ok(FlowChoice::Auto),
            "microsoft" => Ok(FlowChoice::Microsoft),
            "simulator" => Ok(FlowChoice::Simulator),
            path => Flow::load(std::path::Path::new(path)).map(|f| FlowChoice::File(Box::new(f))).map_err(|e| e.to_string()),
        }
    }
}

/// The station's `[browser]` settings, checked.
#[derive(Debug, Clone)]
pub struct StationBrowser {
    /// The automatic browser runs headless.
    pub headless: bool,
    /// Chromium binary.
    pub chromium: Option<std::path::PathBuf>,
    /// chromedriver binary.
    pub chromedriver: Option<std::path::PathBuf>,
    /// Let the manual mode finish what the automatic mode cannot.
    pub fallback_to_manual: bool,
    /// The mode registrations start in.
    pub mode: BrowserMode,
    /// The flow.
    pub flow: FlowChoice,
    /// Extra Chromium switches (checked with `config::check_extra_arg`).
    pub extra_args: Vec<String>,
    /// Lab: host names served elsewhere.
    pub host_map: Vec<super::config::HostMapping>,
    /// Lab: the one extra certificate key to trust.
    pub trust_spki: Vec<String>,
}

/// Which pages the browser path walks and which relying parties it may serve.
#[derive(Debug, Clone)]
pub struct BrowserTarget {
    /// The click path.
    pub flow: Flow,
    /// Values of the flow's URL variables.
    pub vars: FlowVars,
    /// rp.ids keystation will make credentials for.
    pub rp_ids: Vec<String>,
}

impl BrowserTarget {
    /// Microsoft Entra ID: mysignins.microsoft.com, rp.id `login.microsoft.com` only.
    pub fn microsoft(tenant: &str) -> BrowserTarget {
        BrowserTarget {
            flow: Flow::builtin(BuiltinFlow::Microsoft),
            vars: FlowVars {
                portal: "https://mysignins.microsoft.com".into(),
                login: "https://login.microsoftonline.com".into(),
                tenant: tenant.into(),
            },
            rp_ids: vec![ENTRA_RP_ID.into()],
        }
    }

    /// keystation's Entra simulator with Security info at `portal` and sign-in at
    /// `login` (`SimulatorHandle::pages_base` / `login_base`). The allow-list is
    /// `login.microsoft.com` plus the simulator's login host.
    pub fn simulator(portal: &str, login: &str, tenant: &str) -> BrowserTarget {
        let login = login.trim_end_matches('/').to_string();
        let login_host = url::Url::parse(&login).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let mut rp_ids = vec![ENTRA_RP_ID.to_string()];
        if !login_host.is_empty() && login_host != ENTRA_RP_ID {
            rp_ids.push(login_host);
        }
        BrowserTarget {
            flow: Flow::builtin(BuiltinFlow::Simulator),
            vars: FlowVars { portal: portal.trim_end_matches('/').into(), login, tenant: tenant.into() },
            rp_ids,
        }
    }

    /// The target for a tenant whose Graph lives at `graph_host`: a loopback host is a
    /// keystation simulator (asked for its page URLs at `/_sim/info`), anything else
    /// is Microsoft.
    pub async fn for_graph_host(graph_host: &url::Url, tenant: &str) -> Result<BrowserTarget, String> {
        let host = graph_host.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Ok(BrowserTarget::microsoft(tenant));
        }
        let info_url = crate::entra::cloud::join_path(graph_host, "_sim/info");
        let client = crate::entra::http::HttpOptions { request_timeout: Duration::from_secs(10), ..Default::default() }
            .build_client()
            .map_err(|e| e.to_string())?;
        let not_sim = |why: String| {
            format!("the tenant's Graph host {graph_host} is a local address but not a keystation simulator ({why}); the browser path needs the simulator's pages or Microsoft's")
        };
        let info: Value = client
            .get(info_url)
            .send()
            .await
            .map_err(|e| not_sim(e.to_string()))?
            .json()
            .await
            .map_err(|e| not_sim(e.to_string()))?;
        let portal = info["securityInfo"].as_str().map(origin_of).ok_or_else(|| not_sim("no securityInfo in /_sim/info".into()))?;
        let login = info["loginOrigin"].as_str().ok_or_else(|| not_sim("no loginOrigin in /_sim/info".into()))?.to_string();
        let signin = info["signInOrigin"].as_str().unwrap_or(&login).to_string();
        let tenant = info["tenantId"].as_str().unwrap_or(tenant).to_string();
        let mut target = BrowserTarget::simulator(&portal, &signin, &tenant);
        // The ceremony may run on another host than sign-in (a simulator serving
        // Microsoft's host names): that host is the rp.id.
        let ceremony = url::Url::parse(&login).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        if !ceremony.is_empty() && !target.rp_ids.contains(&ceremony) {
            target.rp_ids.push(ceremony);
        }
        Ok(target)
    }

    /// The target a station's settings ask for (see [`FlowChoice`]).
    pub async fn for_station(graph_host: &url::Url, tenant: &str, flow: &FlowChoice) -> Result<BrowserTarget, String> {
        match flow {
            FlowChoice::Auto => BrowserTarget::for_graph_host(graph_host, tenant).await,
            FlowChoice::Microsoft => Ok(BrowserTarget::microsoft(tenant)),
            FlowChoice::Simulator => {
                let t = BrowserTarget::for_graph_host(graph_host, tenant).await?;
                if t.flow.name != "simulator" {
                    return Err(format!(
                        "[browser] flow = \"simulator\" needs the tenant's graph_host to be a keystation simulator, but {graph_host} is not a local address; use flow = \"microsoft\""
                    ));
                }
                Ok(t)
            }
            FlowChoice::File(f) => Ok(BrowserTarget::for_graph_host(graph_host, tenant).await?.with_flow((**f).clone())),
        }
    }

    /// Use another flow (e.g. a station's own file for changed Microsoft pages).
    pub fn with_flow(mut self, flow: Flow) -> BrowserTarget {
        self.flow = flow;
        self
    }

    /// Where the manual window opens.
    pub fn start_url(&self) -> String {
        self.vars.expand(&self.flow.start_url)
    }

    fn client(&self) -> WebAuthnClient {
        WebAuthnClient::new(RpIdPolicy::new(self.rp_ids.iter().cloned()))
    }

    fn context_options(&self, gate: Arc<dyn CeremonyGate>) -> ContextOptions {
        ContextOptions {
            gate: Some(gate),
            cross_origin_frames_under: self.flow.cross_origin_frames_under.iter().map(|o| self.vars.expand(o)).collect(),
        }
    }
}

/// Counters for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrarStats {
    /// Contexts that needed a browser start.
    pub cold: u32,
    /// Contexts in an already running browser.
    pub warm: u32,
    /// Registrations the manual mode finished after the automatic one failed.
    pub fallbacks: u32,
}

/// The browser registration path.
pub struct BrowserRegistrar {
    config: BrowserRegistrarConfig,
    target: tokio::sync::OnceCell<BrowserTarget>,
    /// Graph host and tenant to find the target from at the first registration.
    discover: Option<(url::Url, String, FlowChoice)>,
    graph: GraphClient,
    prompt: Arc<dyn OperatorPrompt>,
    automatic: tokio::sync::Mutex<BrowserHost>,
    manual: tokio::sync::Mutex<BrowserHost>,
    stats: Mutex<RegistrarStats>,
}

impl BrowserRegistrar {
    /// A registrar for `target`, confirming through `graph` (the station's Graph client
    /// for the tenant), showing manual steps on `prompt`. No browser starts until the
    /// first registration (or [`BrowserRegistrar::warm_up`]).
    pub fn new(config: BrowserRegistrarConfig, target: BrowserTarget, graph: GraphClient, prompt: Arc<dyn OperatorPrompt>) -> BrowserRegistrar {
        BrowserRegistrar::build(config, tokio::sync::OnceCell::new_with(Some(target)), None, graph, prompt)
    }

    /// A registrar for a configured tenant: the target (Microsoft, or the keystation
    /// simulator when `graph_host` is a loopback address) is found at the first
    /// registration ([`BrowserTarget::for_graph_host`]), so building one is cheap and
    /// needs no network. This is what the station's setup installs.
    pub fn for_tenant(config: BrowserRegistrarConfig, graph: GraphClient, graph_host: url::Url, tenant: &str, prompt: Arc<dyn OperatorPrompt>) -> BrowserRegistrar {
        BrowserRegistrar::build(config, tokio::sync::OnceCell::new(), Some((graph_host, tenant.to_string(), FlowChoice::Auto)), graph, prompt)
    }

    /// The registrar a station installs for its configured tenant: its `[browser]`
    /// settings (flow, lab host map and key), the tenant's Graph host (a loopback host
    /// means keystation's simulator, whose pages and login host it then uses unless the
    /// settings choose a flow), operator prompts on the terminal. `None` when
    /// `graph_host` is not a URL (the configuration check reports that elsewhere).
    pub fn for_station(settings: StationBrowser, graph: GraphClient, graph_host: &str, tenant: &str) -> Option<BrowserRegistrar> {
        let host = url::Url::parse(graph_host).ok()?;
        let config = BrowserRegistrarConfig::from_station_settings(&settings);
        Some(BrowserRegistrar::build(config, tokio::sync::OnceCell::new(), Some((host, tenant.to_string(), settings.flow)), graph, Arc::new(super::manual::TerminalPrompt)))
    }

    fn build(
        config: BrowserRegistrarConfig,
        target: tokio::sync::OnceCell<BrowserTarget>,
        discover: Option<(url::Url, String, FlowChoice)>,
        graph: GraphClient,
        prompt: Arc<dyn OperatorPrompt>,
    ) -> BrowserRegistrar {
        let automatic = tokio::sync::Mutex::new(BrowserHost::new(config.automatic.clone()));
        let manual = tokio::sync::Mutex::new(BrowserHost::new(config.manual.clone()));
        BrowserRegistrar { config, target, discover, graph, prompt, automatic, manual, stats: Mutex::new(RegistrarStats::default()) }
    }

    /// The target, found on first use for [`BrowserRegistrar::for_tenant`].
    pub async fn resolve_target(&self) -> Result<&BrowserTarget, CeremonyError> {
        self.target
            .get_or_try_init(|| async {
                match &self.discover {
                    Some((host, tenant, flow)) => BrowserTarget::for_station(host, tenant, flow).await.map_err(CeremonyError::Other),
                    None => Err(CeremonyError::Other("the browser registrar has no target".into())),
                }
            })
            .await
    }

    /// Start the browser of the first mode now (e.g. while the first key is prepared).
    pub async fn warm_up(&self) -> Result<Start, BrowserError> {
        match self.config.mode {
            BrowserMode::Automatic => self.automatic.lock().await.warm_up().await,
            BrowserMode::Manual => self.manual.lock().await.warm_up().await,
        }
    }

    /// Close the browsers.
    pub async fn shutdown(&self) {
        let _ = self.automatic.lock().await.shutdown().await;
        let _ = self.manual.lock().await.shutdown().await;
    }

    /// What this machine lacks for the browser path (Chromium or chromedriver of the
    /// browser the registration starts in; a display for the manual mode), or `None`. Cheap (file checks only): the
    /// station runs it before a key is touched, so a missing browser fails a job before
    /// the key gets its PIN.
    pub fn missing_component(&self) -> Option<String> {
        let b = match self.config.mode {
            BrowserMode::Automatic => &self.config.automatic,
            BrowserMode::Manual => &self.config.manual,
        };
        if super::chromedriver::binaries_present(b) {
            // The manual mode also needs a screen for its window.
            return match self.config.mode {
                BrowserMode::Manual => self.manual_window_possible().err(),
                BrowserMode::Automatic => None,
            };
        }
        Some(format!(
            "the browser path needs Chromium and chromedriver ({} / {}): apt-get install chromium chromium-driver, or set browser.chromium / browser.chromedriver",
            b.chromium.display(),
            b.chromedriver.display()
        ))
    }

    /// Cold/warm starts and fallbacks so far.
    pub fn stats(&self) -> RegistrarStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The target this registrar walks, once known.
    pub fn target(&self) -> Option<&BrowserTarget> {
        self.target.get()
    }

    fn count(&self, f: impl FnOnce(&mut RegistrarStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    async fn open(
        &self,
        target: &BrowserTarget,
        manual: bool,
        key: &Arc<KeyHandle>,
        pin: &SecretString,
        gate: Arc<dyn CeremonyGate>,
    ) -> Result<EnrollmentContext, CeremonyError> {
        let maker = Arc::new(KeyCredentialMaker::new(Arc::clone(key), Some(pin.clone())));
        let options = target.context_options(gate);
        let host = if manual { &self.manual } else { &self.automatic };
        let (ctx, start) = host.lock().await.context_with(target.client(), maker, options).await.map_err(browser_error)?;
        self.count(|s| match start {
            Start::Cold(_) => s.cold += 1,
            Start::Warm => s.warm += 1,
        });
        Ok(ctx)
    }

    async fn run(
        &self,
        key: &Arc<KeyHandle>,
        request: &RegistrationRequest,
        observer: &dyn RegistrationObserver,
        cancel: CancelToken,
    ) -> Result<Registered, CeremonyError> {
        let tap = request.tap.as_ref().ok_or_else(|| {
            CeremonyError::Other("the browser path signs in with a Temporary Access Pass, but the request carries none".into())
        })?;
        if cancel.is_cancelled() {
            return Err(CeremonyError::Cancelled);
        }
        let target = self.resolve_target().await?;
        let before = confirm::snapshot(&self.graph, &request.user_id).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let gate: Arc<dyn CeremonyGate> = Arc::new(ChannelGate { tx, display_name: request.display_name.clone() });
        let mut journal = GateService { rx, observer, handed_over: false, allow_another: false };
        let job = Job { target, key, request, tap, observer, before: &before, gate };
        if self.config.mode == BrowserMode::Manual {
            self.manual_window_possible().map_err(|message| CeremonyError::Browser { message, missing_component: true })?;
            return self.manual(&job, &mut journal, &cancel, None, Vec::new()).await;
        }
        match self.automatic(&job, &mut journal, &cancel).await {
            Ok(r) => Ok(r),
            Err(Auto { failure, cookies }) if failure.fallback && self.config.fallback_to_manual && !cancel.is_cancelled() => {
                if let Err(why) = self.manual_window_possible() {
                    tracing::warn!("no fallback to the manual mode: {why}");
                    return Err(*failure.error);
                }
                let reason = failure.error.to_string();
                tracing::warn!(code = %failure.code, "automatic browser registration failed; the manual mode takes over: {reason}");
                observer.progress(&format!("automatic registration failed ({reason}); finish it by hand in the browser window"));
                // The operator may retry a ceremony the page could not save.
                journal.allow_another = true;
                let r = self.manual(&job, &mut journal, &cancel, Some(reason), cookies).await;
                if r.is_ok() {
                    self.count(|s| s.fallbacks += 1);
                }
                r
            }
            Err(Auto { failure, .. }) => Err(*failure.error),
        }
    }

    /// The manual mode needs a window someone can see.
    fn manual_window_possible(&self) -> Result<(), String> {
        let no_display = cfg!(all(unix, not(target_os = "macos")))
            && std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty())
            && std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty());
        if !self.config.manual.headless && no_display {
            return Err("the manual mode opens a browser window for the operator, but this session has no display (DISPLAY and WAYLAND_DISPLAY are unset); run keystation in the desktop session, or use the automatic mode".into());
        }
        Ok(())
    }

    async fn automatic(&self, job: &Job<'_>, journal: &mut GateService<'_>, cancel: &CancelToken) -> Result<Registered, Auto> {
        let fail = |error: CeremonyError| Auto { failure: Failure::new("Setup", error, false), cookies: Vec::new() };
        let mut ctx = tokio::select! {
            r = self.open(job.target, false, job.key, &job.request.pin, Arc::clone(&job.gate)) => r.map_err(|e| {
                let fallback = matches!(&e, CeremonyError::Browser { missing_component: false, .. });
                Auto { failure: Failure::new("BrowserFailed", e, fallback), cookies: Vec::new() }
            })?,
            _ = cancel.cancelled() => return Err(fail(CeremonyError::Cancelled)),
        };
        let flow = &job.target.flow;
        let mut evidence = Evidence::new(self.config.screenshots, "automatic", &flow.name, &flow.version);
        let inputs = FlowInputs { upn: &job.request.upn, tap: job.tap, display_name: &job.request.display_name };
        let walked = {
            let mut runner = Runner::new(&mut ctx, flow, &job.target.vars, inputs, job.observer, &mut evidence, &self.config.budget);
            tokio::select! {
                r = runner.run() => Some(r),
                _ = journal.serve() => None,
                _ = cancel.cancelled() => None,
            }
        };
        let outcome = match walked {
            None => Err(Failure::new("Cancelled", CeremonyError::Cancelled, false)),
            Some(Err(f)) => Err(f),
            Some(Ok(credential)) => {
                job.observer.progress("checking in Microsoft Graph that the key is registered");
                let wanted = Wanted { aaguid: Some(credential.key_response.aaguid), display_name: job.request.display_name.clone() };
                tokio::select! {
                    r = self.confirm(&job.request.user_id, job.before, &wanted, self.config.confirm_timeout) => match r {
                        Ok(m) => Ok(registered(m, &credential, job.request)),
                        Err(e) => Err(Failure::new("NotConfirmed", e, false)),
                    },
                    _ = journal.serve() => Err(Failure::new("Cancelled", CeremonyError::Cancelled, false)),
                    _ = cancel.cancelled() => Err(Failure::new("Cancelled", CeremonyError::Cancelled, false)),
                }
            }
        };
        match outcome {
            Ok(r) => {
                let _ = ctx.close().await;
                Ok(r)
            }
            Err(failure) => {
                let cookies = if failure.fallback && self.config.fallback_to_manual && !cancel.is_cancelled() {
                    ctx.export_cookies().await.unwrap_or_default()
                } else {
                    Vec::new()
                };
                // Closing cancels a running key operation and waits until it ended.
                let _ = ctx.close().await;
                write_evidence(job.request, &evidence, &failure.code, &failure.error);
                Err(Auto { failure, cookies })
            }
        }
    }

    async fn manual(
        &self,
        job: &Job<'_>,
        journal: &mut GateService<'_>,
        cancel: &CancelToken,
        reason: Option<String>,
        cookies: Vec<Value>,
    ) -> Result<Registered, CeremonyError> {
        let mut ctx = tokio::select! {
            r = self.open(job.target, true, job.key, &job.request.pin, Arc::clone(&job.gate)) => r?,
            _ = cancel.cancelled() => return Err(CeremonyError::Cancelled),
        };
        let signed_in = !cookies.is_empty() && ctx.import_cookies(&cookies).await.is_ok();
        drop(cookies);
        let url = job.target.start_url();
        if let Err(e) = ctx.navigate(&url).await {
            let _ = ctx.close().await;
            return Err(browser_error(e));
        }
        let timeout = self.config.manual_timeout;
        self.prompt.show_manual(ManualPrompt {
            upn: job.request.upn.clone(),
            display_name: job.request.display_name.clone(),
            tap: job.tap.clone(),
            pin: job.request.pin.clone(),
            reason,
            signed_in,
            timeout,
            window: ManualWindow::new(ctx.page()),
        });
        job.observer.progress(&format!("waiting up to {} s for the operator to register the key in the browser window", timeout.as_secs()));
        let result = tokio::select! {
            r = self.watch_manual(&mut ctx, job, timeout) => r,
            _ = journal.serve() => Err(CeremonyError::Cancelled),
            _ = cancel.cancelled() => Err(CeremonyError::Cancelled),
        };
        let outcome = match &result {
            Ok(_) => ManualOutcome::Registered,
            Err(e) => ManualOutcome::Failed(e.to_string()),
        };
        self.prompt.manual_finished(&outcome);
        if let Err(e) = &result
            && !matches!(e, CeremonyError::Cancelled)
        {
            let mut evidence = Evidence::new(self.config.screenshots, "manual", &job.target.flow.name, &job.target.flow.version);
            evidence.capture(&ctx, "manual-final").await;
            write_evidence(job.request, &evidence, "ManualFailed", e);
        }
        let _ = ctx.close().await;
        result
    }

    /// The manual mode's wait: bridge events (which AAGUID the key made; key and journal
    /// failures) and Graph, until the method shows up or the time is up.
    async fn watch_manual(&self, ctx: &mut EnrollmentContext, job: &Job<'_>, timeout: Duration) -> Result<Registered, CeremonyError> {
        use super::bridge::BridgeEvent;
        let deadline = Instant::now() + timeout;
        let mut credential: Option<Box<CreatedCredential>> = None;
        let mut other_name: Option<(Fido2Method, Instant)> = None;
        let mut next_look = Instant::now();
        loop {
            let wait = next_look.saturating_duration_since(Instant::now()).min(deadline.saturating_duration_since(Instant::now()));
            match ctx.next_event(wait).await {
                Some(BridgeEvent::Registered(c)) => {
                    job.observer.progress("the key made the credential; waiting for Security info to save it");
                    credential = Some(c);
                }
                Some(BridgeEvent::Failed { error, .. }) => {
                    // The operator may try again, except when the key itself is gone.
                    if let crate::ceremony::webauthn::WebAuthnError::Key(k @ crate::key::KeyError::Removed) = error {
                        return Err(CeremonyError::Key(k));
                    }
                    job.observer.progress(&format!("the WebAuthn ceremony failed ({error}); the operator may try again"));
                }
                Some(BridgeEvent::GateRefused { reason, .. }) => return Err(CeremonyError::Journal(reason)),
                Some(_) => {}
                None => {}
            }
            if Instant::now() >= next_look {
                next_look = Instant::now() + self.config.poll_interval;
                if let Some(c) = &credential {
                    let wanted = Wanted { aaguid: Some(c.key_response.aaguid), display_name: job.request.display_name.clone() };
                    match confirm::look(&self.graph, &job.request.user_id, job.before, &wanted).await {
                        Ok(Found::Exact(m)) => return Ok(registered(m, c, job.request)),
                        Ok(Found::OtherName(m)) => {
                            // Not named yet, or named differently by hand: give the
                            // operator a minute to finish naming, then take it as it is.
                            let since = other_name.as_ref().map(|(_, t)| *t).unwrap_or_else(Instant::now);
                            if since.elapsed() >= Duration::from_secs(60) {
                                return Ok(registered(m, c, job.request));
                            }
                            other_name = Some((m, since));
                        }
                        Ok(Found::Nothing) => {}
                        Err(e) if e.is_transient() => {}
                        Err(e) => return Err(CeremonyError::Graph(e)),
                    }
                }
            }
            if Instant::now() >= deadline {
                if let (Some((m, _)), Some(c)) = (other_name, &credential) {
                    return Ok(registered(m, c, job.request));
                }
                return Err(CeremonyError::NotConfirmed(timeout));
            }
        }
    }

    /// Poll Graph until the new method shows up with the wanted name (or, at the
    /// deadline, with another name).
    async fn confirm(&self, user: &str, before: &Before, wanted: &Wanted, timeout: Duration) -> Result<Fido2Method, CeremonyError> {
        let deadline = Instant::now() + timeout;
        let mut other = None;
        loop {
            match confirm::look(&self.graph, user, before, wanted).await {
                Ok(Found::Exact(m)) => return Ok(m),
                Ok(Found::OtherName(m)) => other = Some(m),
                Ok(Found::Nothing) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(CeremonyError::Graph(e)),
            }
            if Instant::now() >= deadline {
                return other.ok_or(CeremonyError::NotConfirmed(timeout));
            }
            tokio::time::sleep(self.config.poll_interval.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }
}

impl Registrar for BrowserRegistrar {
    fn path(&self) -> RegistrationPath {
        RegistrationPath::Browser
    }

    fn register<'a>(
        &'a self,
        key: &'a Arc<KeyHandle>,
        request: &'a RegistrationRequest,
        observer: &'a dyn RegistrationObserver,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<Registered, CeremonyError>> {
        Box::pin(self.run(key, request, observer, cancel))
    }
}

/// One registration's fixed inputs.
struct Job<'a> {
    target: &'a BrowserTarget,
    key: &'a Arc<KeyHandle>,
    request: &'a RegistrationRequest,
    tap: &'a SecretString,
    observer: &'a dyn RegistrationObserver,
    before: &'a Before,
    gate: Arc<dyn CeremonyGate>,
}

/// The automatic mode's failure, with the session cookies the manual mode may reuse.
struct Auto {
    failure: Failure,
    cookies: Vec<Value>,
}

fn browser_error(e: BrowserError) -> CeremonyError {
    CeremonyError::Browser { missing_component: e.is_missing_component(), message: e.to_string() }
}

fn registered(m: Fido2Method, credential: &CreatedCredential, request: &RegistrationRequest) -> Registered {
    Registered {
        credential_id: credential.raw_id.clone(),
        aaguid: match confirm::parse_aaguid(m.aa_guid.as_deref()) {
            a if a == [0; 16] => credential.key_response.aaguid,
            a => a,
        },
        display_name: m.display_name.clone().unwrap_or_else(|| request.display_name.clone()),
        created: m.created_date_time,
        method_id: m.id,
        path: RegistrationPath::Browser,
    }
}

fn write_evidence(request: &RegistrationRequest, evidence: &Evidence, code: &str, error: &CeremonyError) {
    let Some(dir) = &request.evidence_dir else { return };
    match evidence.write(dir, "failed", Some(code), Some(&error.to_string())) {
        Ok(files) => tracing::info!(dir = %dir.display(), files = files.len(), "browser evidence written"),
        Err(e) => tracing::warn!(dir = %dir.display(), "could not write the browser evidence: {e}"),
    }
}

/// What the bridge asks of the running registration.
enum GateRequest {
    MakeCredential(oneshot::Sender<Result<(), String>>),
    Submit(PendingRegistration, oneshot::Sender<Result<(), String>>),
}

/// The bridge's gate: forwards to the registration task, which owns the observer.
struct ChannelGate {
    tx: mpsc::UnboundedSender<GateRequest>,
    display_name: String,
}

const NOT_RUNNING: &str = "the registration is no longer running";

impl CeremonyGate for ChannelGate {
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.tx.send(GateRequest::MakeCredential(tx)).map_err(|_| NOT_RUNNING.to_string())?;
            rx.await.map_err(|_| NOT_RUNNING.to_string())?
        })
    }

    fn before_submit<'a>(&'a self, credential: &'a CreatedCredential) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let pending = PendingRegistration {
                credential_id: credential.raw_id.clone(),
                aaguid: credential.key_response.aaguid,
                display_name: self.display_name.clone(),
                challenge_sha256: challenge_sha256(&credential.client_data_json),
                challenge_expires_at: None,
            };
            let (tx, rx) = oneshot::channel();
            self.tx.send(GateRequest::Submit(pending, tx)).map_err(|_| NOT_RUNNING.to_string())?;
            rx.await.map_err(|_| NOT_RUNNING.to_string())?
        })
    }
}

/// SHA-256 of the challenge bytes a clientDataJSON carries.
fn challenge_sha256(client_data_json: &str) -> [u8; 32] {
    let challenge = serde_json::from_str::<Value>(client_data_json)
        .ok()
        .and_then(|v| v["challenge"].as_str().and_then(|c| b64::decode(c).ok()))
        .unwrap_or_default();
    Sha256::digest(&challenge).into()
}

/// Answers the gate's requests with the observer, inside the registration's task.
struct GateService<'a> {
    rx: mpsc::UnboundedReceiver<GateRequest>,
    observer: &'a dyn RegistrationObserver,
    /// A credential went to the page in this registration.
    handed_over: bool,
    /// The manual mode may make another (the operator retries after a failed save).
    allow_another: bool,
}

/// Why the automatic mode never makes a second credential in one registration.
const ONE_CREDENTIAL: &str = "the page already received a credential in this registration; keystation makes at most one per registration so that a key is never registered twice";

impl GateService<'_> {
    /// Serve until every gate is gone (never, while a context is open).
    async fn serve(&mut self) {
        while let Some(req) = self.rx.recv().await {
            match req {
                GateRequest::MakeCredential(reply) => {
                    // A page that asks again after it got its credential (a reloaded or
                    // repeated ceremony page) is refused before the key is touched.
                    if self.handed_over && !self.allow_another {
                        let _ = reply.send(Err(ONE_CREDENTIAL.to_string()));
                        continue;
                    }
                    let r = self.observer.before_make_credential().await;
                    let _ = reply.send(r);
                }
                GateRequest::Submit(pending, reply) => {
                    let r = self.observer.before_submit(&pending).await;
                    if r.is_ok() {
                        self.handed_over = true;
                    }
                    let _ = reply.send(r);
                }
            }
        }
        // Keep the select! arms that race this one in charge.
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_target_allows_its_login_host_and_entra() {
        let t = BrowserTarget::simulator("http://127.0.0.1:4000/", "http://localhost:4000/", "tid");
        assert_eq!(t.rp_ids, vec!["login.microsoft.com".to_string(), "localhost".to_string()]);
        assert_eq!(t.start_url(), "http://127.0.0.1:4000/security-info");
        let m = BrowserTarget::microsoft("contoso.onmicrosoft.com");
        assert_eq!(m.rp_ids, vec!["login.microsoft.com".to_string()]);
        assert_eq!(m.start_url(), "https://mysignins.microsoft.com/security-info");
    }

    #[test]
    fn challenge_hash_is_of_the_decoded_bytes() {
        let cdj = format!(r#"{{"type":"webauthn.create","challenge":"{}","origin":"x"}}"#, b64::encode(b"abc"));
        assert_eq!(challenge_sha256(&cdj), <[u8; 32]>::from(Sha256::digest(b"abc")));
    }
}
