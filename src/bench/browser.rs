//! `keystation bench browser`: seconds per enrolment through the browser path — TAP
//! sign-in, Security info, the WebAuthn ceremony answered by keystation on an OpenSK
//! virtual key, naming, Graph confirmation — against the in-process Entra simulator.
//! The first enrolment starts the browser (cold); the following ones reuse it with a
//! fresh private context each (warm).
#![warn(missing_docs)]
use crate::ceremony::browser::{BrowserConfig, BrowserMode, BrowserRegistrar, BrowserRegistrarConfig, BrowserTarget, NoOperator, binaries_present};
use crate::ceremony::webauthn::{BoxFuture, CancelToken};
use crate::ceremony::{PendingRegistration, Registrar, RegistrationObserver, RegistrationRequest};
use crate::cli::{CliContext, CliError, Exit};
use crate::entra::graph::{GraphClient, GraphConfig};
use crate::entra::oauth::{Authority, ClientCredential, ClientCredentialsProvider, OAuthClient, OAuthOptions, Scopes};
use crate::entra::simulator::{SimulatorConfig, SimulatorHandle, start};
use crate::key::virtual_key::{VirtualKey, VirtualKeyConfig};
use crate::key::worker::{HandleOptions, KeyHandle};
use crate::secret::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `bench browser` options.
#[derive(clap::Args, Debug)]
pub struct BrowserBenchArgs {
    /// Warm enrolments after the first (cold) one (0–25).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub warm: usize,
    /// Show the browser window (needs a display).
    #[arg(long)]
    pub visible: bool,
    /// Skip the per-step screenshots the registrar keeps for failure records.
    #[arg(long)]
    pub no_screenshots: bool,
    /// Walk the production `microsoft` flow: the simulator serves its pages over HTTPS as
    /// Microsoft's host names and the browser maps them to it (as CI does).
    #[arg(long)]
    pub microsoft_hosts: bool,
    /// Each new Temporary Access Pass reaches sign-in only after SECS seconds (Microsoft:
    /// "can take a while"); shows what the flow's restart backoff costs.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub tap_delay: u64,
}

/// One enrolment.
#[derive(Debug, Serialize)]
pub struct EnrolmentTiming {
    /// 1-based.
    pub run: usize,
    /// `cold` (browser started for it) or `warm`.
    pub browser: &'static str,
    /// The user enrolled.
    pub user: String,
    /// From `register()` to the confirmed method, seconds.
    pub seconds: f64,
}

/// The whole report (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub struct BrowserBenchReport {
    /// Every enrolment in order.
    pub runs: Vec<EnrolmentTiming>,
    /// The cold enrolment, seconds.
    pub cold_seconds: f64,
    /// Median of the warm enrolments, seconds (`null` without warm runs).
    pub warm_median_seconds: Option<f64>,
    /// Fastest warm enrolment.
    pub warm_min_seconds: Option<f64>,
    /// Slowest warm enrolment.
    pub warm_max_seconds: Option<f64>,
    /// Per-step screenshots were taken (as in production).
    pub screenshots: bool,
    /// Headless browser.
    pub headless: bool,
    /// Build profile of this binary.
    pub profile: &'static str,
    /// The flow walked: `microsoft` (under Microsoft's host names) or `simulator`.
    pub flow: &'static str,
    /// Seconds each new pass took to reach sign-in (`--tap-delay`).
    pub tap_delay_seconds: u64,
}

/// Users of the built-in tenant whose ceremony runs in the same tab, each with room
/// for ten keys.
const USERS: [&str; 3] = ["alice@contoso.test", "bob@contoso.test", "dave@contoso.test"];
const SECRET_APP: &str = crate::entra::simulator::seed::well_known::STATION_APP_ID;
const SECRET: &str = crate::entra::simulator::seed::well_known::STATION_APP_SECRET;
const PIN: &str = "135790";

struct Quiet;

impl RegistrationObserver for Quiet {
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn before_submit(&self, _pending: &PendingRegistration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn progress(&self, _step: &str) {}
}

fn graph_client(sim: &SimulatorHandle) -> Result<GraphClient, String> {
    let authority = Authority::new(sim.authority_host(), sim.tenant_id()).map_err(|e| e.to_string())?;
    let oauth = OAuthClient::new(authority, SECRET_APP, &OAuthOptions::default()).map_err(|e| e.to_string())?;
    let scopes = Scopes::graph_default(&url::Url::parse("https://graph.microsoft.com").map_err(|e| e.to_string())?);
    let provider = ClientCredentialsProvider::new(oauth, ClientCredential::Secret(SecretString::new(SECRET)), scopes);
    GraphClient::new(GraphConfig::new(sim.graph_base()), Arc::new(provider)).map_err(|e| e.to_string())
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Run the enrolments and measure them.
pub async fn measure(args: &BrowserBenchArgs) -> Result<BrowserBenchReport, CliError> {
    if args.tap_delay > 120 {
        return Err(CliError::usage(format!("--tap-delay {} is longer than the flow's restart budget (120 s); use 0–120", args.tap_delay)));
    }
    if args.warm > 25 {
        return Err(CliError::usage(format!("--warm {} is too many: the simulator's users have room for 26 keys in all; use 0–25", args.warm)));
    }
    let mut browser = BrowserConfig::from_env();
    if args.visible {
        browser.headless = false;
    }
    if !binaries_present(&browser) {
        return Err(CliError::new(
            Exit::Environment,
            format!(
                "bench browser needs Chromium and chromedriver ({} / {}): apt-get install chromium chromium-driver, or set KEYSTATION_CHROMIUM / KEYSTATION_CHROMEDRIVER",
                browser.chromium.display(),
                browser.chromedriver.display()
            ),
        ));
    }
    let mut sc = SimulatorConfig::default();
    sc.behaviour.device_code_interval_secs = 0;
    sc.behaviour.tap_sign_in_delay_secs = args.tap_delay;
    sc.microsoft_hosts = args.microsoft_hosts;
    let sim = start(sc).await.map_err(|e| CliError::failure(format!("cannot start the Entra simulator: {e}")))?;
    let graph = graph_client(&sim).map_err(CliError::failure)?;
    let target = match sim.microsoft_hosts() {
        Some((hosts, spki)) => {
            browser.host_map = hosts
                .iter()
                .map(|(h, addr)| crate::ceremony::browser::config::HostMapping::parse(h, &addr.to_string()))
                .collect::<Result<_, _>>()
                .map_err(CliError::failure)?;
            browser.trust_spki = vec![spki];
            BrowserTarget::microsoft(sim.tenant_id())
        }
        None => BrowserTarget::simulator(sim.pages_base().as_str(), sim.login_base().as_str(), sim.tenant_id()),
    };
    let config = BrowserRegistrarConfig {
        automatic: browser.clone(),
        manual: browser.clone(),
        mode: BrowserMode::Automatic,
        fallback_to_manual: false,
        confirm_timeout: Duration::from_secs(30),
        manual_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(250),
        screenshots: !args.no_screenshots,
        budget: Default::default(),
    };
    let registrar = BrowserRegistrar::new(config, target, graph.clone(), Arc::new(NoOperator));
    let mut runs = Vec::new();
    let result = async {
        for i in 0..=args.warm {
            let upn = USERS[i % USERS.len()];
            let key = VirtualKey::new(VirtualKeyConfig::default());
            let io = key.open().map_err(|e| CliError::failure(format!("virtual key: {e}")))?;
            let handle = KeyHandle::open(key.descriptor(), io, HandleOptions::default()).await?;
            let pin = SecretString::new(PIN);
            handle.set_pin(&pin).await?;
            let handle = Arc::new(handle);
            let user = graph.get_user(upn).await.map_err(|e| CliError::new(Exit::EntraError, e.to_string()))?;
            let tap = sim.issue_tap(upn, 60, true).map_err(CliError::failure)?;
            let request = RegistrationRequest {
                user_id: user.id,
                upn: upn.to_string(),
                display_name: format!("Bench key {}", i + 1),
                pin,
                tap: Some(tap),
                evidence_dir: None,
            };
            let cold_before = registrar.stats().cold;
            let t = Instant::now();
            registrar
                .register(&handle, &request, &Quiet, CancelToken::new())
                .await
                .map_err(|e| CliError::failure(format!("enrolment {} ({upn}) failed: {e}", i + 1)))?;
            let took = t.elapsed();
            let cold = registrar.stats().cold > cold_before;
            runs.push(EnrolmentTiming { run: i + 1, browser: if cold { "cold" } else { "warm" }, user: upn.to_string(), seconds: seconds(took) });
        }
        Ok::<(), CliError>(())
    }
    .await;
    registrar.shutdown().await;
    sim.shutdown().await;
    result?;
    let cold_seconds = runs.iter().find(|r| r.browser == "cold").map(|r| r.seconds).unwrap_or_default();
    let mut warm: Vec<f64> = runs.iter().filter(|r| r.browser == "warm").map(|r| r.seconds).collect();
    warm.sort_by(|a, b| a.total_cmp(b));
    let median = (!warm.is_empty()).then(|| {
        let n = warm.len();
        if n % 2 == 1 { warm[n / 2] } else { (warm[n / 2 - 1] + warm[n / 2]) / 2.0 }
    });
    Ok(BrowserBenchReport {
        cold_seconds,
        warm_median_seconds: median,
        warm_min_seconds: warm.first().copied(),
        warm_max_seconds: warm.last().copied(),
        runs,
        screenshots: !args.no_screenshots,
        headless: browser.headless,
        profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        flow: if args.microsoft_hosts { "microsoft" } else { "simulator" },
        tap_delay_seconds: args.tap_delay,
    })
}

/// `keystation bench browser`.
pub async fn run(args: BrowserBenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let report = measure(&args).await?;
    if ctx.json() {
        ctx.print_json(&report)?;
        return Ok(Exit::Ok);
    }
    crate::cli::progress::out_line(&format!(
        "Browser path: seconds per enrolment (in-process simulator, {} flow, OpenSK virtual key, {} Chromium, {} build, screenshots {}{})",
        report.flow,
        if report.headless { "headless" } else { "visible" },
        report.profile,
        if report.screenshots { "on" } else { "off" },
        if report.tap_delay_seconds > 0 { format!(", each pass reaches sign-in after {} s", report.tap_delay_seconds) } else { String::new() }
    ));
    crate::cli::progress::out_line(&format!("{:>4}  {:<8} {:<22} {:>8}", "run", "browser", "user", "seconds"));
    for r in &report.runs {
        crate::cli::progress::out_line(&format!("{:>4}  {:<8} {:<22} {:>8.2}", r.run, r.browser, r.user, r.seconds));
    }
    match (report.warm_median_seconds, report.warm_min_seconds, report.warm_max_seconds) {
        (Some(m), Some(lo), Some(hi)) => crate::cli::progress::out_line(&format!(
            "cold: {:.2} s   warm: median {m:.2} s (min {lo:.2}, max {hi:.2}) over {} enrolments",
            report.cold_seconds,
            report.runs.len() - 1
        )),
        _ => crate::cli::progress::out_line(&format!("cold: {:.2} s", report.cold_seconds)),
    }
    Ok(Exit::Ok)
}
