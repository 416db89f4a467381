//! `keystation bench console`: how late the hub page shows a pipeline event. A batch of
//! N keys runs on the in-process simulator with virtual keys while the hub page is open
//! in headless Chromium; the page records, for every live update, the time from the
//! server receiving the event to the frame that showed it painted (`window.ksLatency`).
//! The goal is 200 ms.
#![warn(missing_docs)]
use crate::ceremony::browser::{binaries_present, Browser, BrowserConfig};
use crate::cli::{CliContext, CliError, Exit};
use crate::console::ConsoleOptions;
use crate::key::sources::KeySources;
use crate::key::virtual_key::{Touch, VirtualHub};
use crate::station::batch::{parse_batch, plan_batch, BatchOptions};
use crate::station::demo::{SimulatedTenant, SimulatedTenantOptions, BUILTIN_PILOT_USERS};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The goal for an event to reach the screen.
pub const GOAL_MS: f64 = 200.0;

/// `bench console` options.
#[derive(clap::Args, Debug)]
pub struct ConsoleBenchArgs {
    /// Keys on the hub at once (1–32), one user each.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub keys: usize,
    /// Milliseconds before a key is touched (people are not instant).
    #[arg(long, value_name = "MS", default_value_t = 600)]
    pub touch_ms: u64,
    /// Show the browser window (needs a display).
    #[arg(long)]
    pub visible: bool,
}

/// The figures (`--json` prints them as they are).
#[derive(Debug, Serialize)]
pub struct ConsoleBenchReport {
    /// Keys at once.
    pub keys: usize,
    /// Live updates measured.
    pub updates: usize,
    /// Median event → screen, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Share of updates within the goal.
    pub within_goal: f64,
    /// Wall time of the batch, seconds.
    pub batch_seconds: f64,
    /// Build profile of this binary.
    pub profile: &'static str,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let v = sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    (v * 10.0).round() / 10.0
}

/// Run the batch with the hub open and measure.
pub async fn measure(args: &ConsoleBenchArgs) -> Result<ConsoleBenchReport, CliError> {
    if !(1..=32).contains(&args.keys) {
        return Err(CliError::usage(format!("--keys {} is out of range: use 1 to 32", args.keys)));
    }
    let mut browser_config = BrowserConfig::from_env();
    browser_config.headless = !args.visible;
    if !binaries_present(&browser_config) {
        return Err(CliError::new(Exit::Environment, "bench console needs Chromium and chromedriver: apt-get install chromium chromium-driver, or set KEYSTATION_CHROMIUM / KEYSTATION_CHROMEDRIVER"));
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| CliError::failure(format!("{what}: {e}"));
    let tenant = SimulatedTenant::start(SimulatedTenantOptions { users: BUILTIN_PILOT_USERS.len() + args.keys, ..Default::default() })
        .await
        .map_err(|e| fail("cannot start the Entra simulator", &e))?;
    let dir = tempfile::tempdir().map_err(|e| fail("temporary directory", &e))?;
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let station = tenant.open_station(dir.path(), &Default::default(), Some(sources.clone()), |_| {}).await.map_err(|e| fail("cannot open the station", &e))?;
    let console = crate::console::start(Arc::clone(&station), sources, ConsoleOptions::loopback(dir.path())).await.map_err(|e| fail("cannot start the console", &e))?;
    let browser = Browser::launch(browser_config).await.map_err(|e| fail("cannot start Chromium", &e))?;
    let result = async {
        let driver = browser.webdriver().ok_or_else(|| CliError::failure("no WebDriver session"))?;
        driver.goto(console.sign_in_link("hub").expose()).await.map_err(|e| fail("open the hub", &e))?;
        wait(driver, "return location.hash === '' && typeof KS !== 'undefined' && KS.csrf !== null && document.getElementById('tiles') !== null").await?;
        // Wait until the live stream is connected (its snapshot drew the figures).
        wait(driver, "return document.getElementById('f-batch').textContent.length > 0").await?;
        let users = &tenant.users()[BUILTIN_PILOT_USERS.len()..];
        let csv: String = std::iter::once("upn".to_string()).chain(users.iter().cloned()).collect::<Vec<_>>().join("\n");
        let file = parse_batch(&dir.path().join("bench.csv"), csv.as_bytes()).map_err(|e| fail("user list", &e))?;
        let plan = plan_batch(&station, file, "bench-console".into()).await.map_err(|e| fail("plan", &e))?;
        let options = BatchOptions { concurrency: args.keys, ..BatchOptions::default() };
        console.start_batch(plan, options).map_err(CliError::failure)?;
        let started = Instant::now();
        for _ in 0..args.keys {
            let key = tenant.blank_key(Touch::After(Duration::from_millis(args.touch_ms))).map_err(CliError::failure)?;
            hub.plug(key);
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        while console.hub_state().ending.is_none() {
            if Instant::now() > deadline {
                return Err(CliError::failure("the batch did not end within 5 minutes"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let batch_seconds = started.elapsed().as_secs_f64();
        // The last updates reach the page a frame or two later.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let v = driver.execute("return window.ksLatency", Vec::<serde_json::Value>::new()).await.map_err(|e| fail("read the page's figures", &e))?;
        let mut lat: Vec<f64> = v.json().as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
        if lat.is_empty() {
            return Err(CliError::failure("the hub page measured no live update"));
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        Ok(ConsoleBenchReport {
            keys: args.keys,
            updates: lat.len(),
            p50_ms: pct(&lat, 0.5),
            p95_ms: pct(&lat, 0.95),
            p99_ms: pct(&lat, 0.99),
            max_ms: pct(&lat, 1.0),
            within_goal: (lat.iter().filter(|x| **x <= GOAL_MS).count() as f64 / lat.len() as f64 * 1000.0).round() / 1000.0,
            batch_seconds: (batch_seconds * 100.0).round() / 100.0,
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        })
    }
    .await;
    let _ = browser.close().await;
    console.shutdown().await;
    result
}

async fn wait(driver: &thirtyfour::WebDriver, script: &str) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = driver.execute(script, Vec::<serde_json::Value>::new()).await
            && r.json().as_bool() == Some(true)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::failure("the hub page did not load within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `keystation bench console`.
pub async fn run(args: ConsoleBenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let r = measure(&args).await?;
    if ctx.json() {
        ctx.print_json(&r)?;
        return Ok(Exit::Ok);
    }
    let out = crate::cli::output::out_line;
    out(&format!("Hub page: pipeline event → on screen ({} keys at once, {} live updates, headless Chromium, {} build)", r.keys, r.updates, r.profile));
    out(&format!("P50 ms  P95 ms  P99 ms  MAX ms  WITHIN {GOAL_MS:.0} ms"));
    out(&format!("{:<7} {:<7} {:<7} {:<7} {:.1} %", r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms, r.within_goal * 100.0));
    out(&format!("The batch took {:.2} s.", r.batch_seconds));
    Ok(Exit::Ok)
}
