//! `keystation demo`: the whole product on one machine, with nothing to set up.
//!
//! The Entra simulator starts in-process (the built-in Contoso tenant; the virtual
//! keys' attestation CA trusted), a station is configured against it from the embedded
//! defaults, a user list is written to the state directory, and a real batch runs on a
//! hub of virtual keys: a simulated operator ([`desk::VirtualDesk`]) plugs `keys` blank
//! keys in, each is touched after a short human-like delay, finished keys are taken out
//! and fresh ones plugged in until every user has a key. The result is the batch report
//! plus a table row per user.
//!
//! * [`tenant`]: the simulated world (also used by `keystation bench station` and the
//!   modes' tests);
//! * [`desk`]: the simulated operator at the hub.
#![warn(missing_docs)]
pub mod desk;
pub mod tenant;

pub use desk::{human_touch, DeskOptions, KeyFactory, VirtualDesk};
pub use tenant::{generated_user, SimulatedTenant, SimulatedTenantOptions, BUILTIN_PILOT_USERS, DEMO_CLIENT_ID};

use crate::ceremony::RegistrationPath;
use crate::entra::simulator::FaultConfig;
use crate::key::sources::KeySources;
use crate::key::virtual_key::{Touch, VirtualHub};
use crate::station::batch::{plan_batch, read_batch_file, run_batch, BatchControl, BatchOptions, BatchPlan, BatchReport, BatchSink, KeySupply, RowStatus};
use crate::station::pipeline::Station;
use crate::station::config::ConfigOverrides;
use crate::station::journal::JobMode;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The most users a demo makes up (the built-in pilot users plus generated ones).
pub const DEMO_MAX_USERS: usize = 200;
/// The most keys on the demo's hub at once.
pub const DEMO_MAX_KEYS: usize = 32;

/// What to show.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Users to provision (1–200; default 5).
    pub users: usize,
    /// Keys on the hub at once, i.e. provisioned concurrently (1–32; default 2).
    pub keys: usize,
    /// Registration path (default: Graph).
    pub via: Option<RegistrationPath>,
    /// Keep the journal here instead of a temporary directory.
    pub state_dir: Option<PathBuf>,
    /// How the simulated users touch keys (default: after 300–900 ms).
    pub touch: Option<Touch>,
    /// Faults the simulator injects (e.g. to show retries).
    pub faults: FaultConfig,
    /// The simulated operator's pace.
    pub remove_after: Duration,
    /// Time from taking a key out to plugging the next one in.
    pub plug_after: Duration,
    /// Give up (and report) after this long.
    pub deadline: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            users: 5,
            keys: 2,
            via: None,
            state_dir: None,
            touch: None,
            faults: FaultConfig::default(),
            remove_after: Duration::from_millis(250),
            plug_after: Duration::from_millis(250),
            deadline: Duration::from_secs(300),
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// A component the chosen path needs is missing (browser).
    #[error("{0}")]
    Environment(String),
    /// Starting the simulator, the station or the keys failed.
    #[error("{0}")]
    Setup(String),
    /// The state directory is another station's, a file, or read-only.
    #[error(transparent)]
    StateDir(#[from] crate::station::state_dir::StateDirError),
}

/// One line of the result table.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRow {
    /// The user.
    pub user: String,
    /// The key's path on the hub.
    pub key: Option<String>,
    /// Its serial.
    pub serial: Option<String>,
    /// Its model.
    pub model: Option<String>,
    /// The Entra method id.
    pub method_id: Option<String>,
    /// What became of the user.
    pub state: RowStatus,
    /// Station time, ms.
    pub millis: Option<u64>,
    /// Why it is not done.
    pub reason: Option<String>,
}

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRun {
    /// The batch report (every user, counts, how it ended).
    pub report: BatchReport,
    /// The result table.
    pub rows: Vec<DemoRow>,
    /// The state directory (journal) and whether it is kept after the demo.
    pub state_dir: PathBuf,
    /// `false`: a temporary directory, deleted when the demo ends.
    pub state_dir_kept: bool,
    /// Where the simulator listened (gone after the demo).
    pub simulator: String,
    /// Concurrent keys.
    pub keys: usize,
}

/// Check the options (ranges) before anything starts.
pub fn check_options(options: &DemoOptions) -> Result<(), DemoError> {
    if !(1..=DEMO_MAX_USERS).contains(&options.users) {
        return Err(DemoError::Usage(format!("--users {} is out of range: the demo provisions 1 to {DEMO_MAX_USERS} users", options.users)));
    }
    if !(1..=DEMO_MAX_KEYS).contains(&options.keys) {
        return Err(DemoError::Usage(format!("--keys {} is out of range: the demo's hub takes 1 to {DEMO_MAX_KEYS} keys at once", options.keys)));
    }
    Ok(())
}

/// Everything a demo runs on: the simulated tenant, a station against it, an empty hub
/// of virtual keys, the user list planned as a batch, and a factory for blank keys.
/// `keystation demo` runs the batch on the terminal; `keystation demo --console` hands
/// the same world to the web console.
pub struct DemoWorld {
    /// The simulator (dropping it stops the simulator).
    pub tenant: SimulatedTenant,
    /// The station.
    pub station: Arc<Station>,
    /// The virtual keys' hub (empty at first).
    pub hub: VirtualHub,
    /// The hub as the station's key sources.
    pub sources: KeySources,
    /// The demo's users, planned as a batch.
    pub plan: BatchPlan,
    /// Makes the next blank key (batch attestation, a human-like touch).
    pub factory: KeyFactory,
    /// Where the journal is.
    pub state_dir: PathBuf,
    /// Whether the state directory is kept (an explicit one) or temporary.
    pub state_dir_kept: bool,
    _claim: Arc<crate::station::state_dir::StationLock>,
    _temp: Option<tempfile::TempDir>,
}

impl DemoWorld {
    /// Start the simulator and the station, write and plan the user list.
    pub async fn prepare(options: &DemoOptions) -> Result<DemoWorld, DemoError> {
        check_options(options)?;
        let (state_dir, kept, temp) = match &options.state_dir {
            Some(d) => (d.clone(), true, None),
            None => {
                let temp = tempfile::Builder::new().prefix("keystation-demo-").tempdir().map_err(|e| DemoError::Setup(format!("cannot make a temporary state directory: {e}")))?;
                (temp.path().to_path_buf(), false, Some(temp))
            }
        };
        // The demo writes a journal like any station: one station per state directory.
        let _claim = crate::station::state_dir::StationLock::acquire(&state_dir)?;

        let tenant = SimulatedTenant::start(SimulatedTenantOptions { users: options.users, faults: options.faults.clone(), attestation_enforced: false })
            .await
            .map_err(|e| DemoError::Setup(format!("cannot start the Entra simulator: {e}")))?;
        let hub = VirtualHub::new();
        let sources = KeySources::virtual_hub(hub.clone());
        let mut extra = ConfigOverrides::default();
        if let Some(RegistrationPath::Browser) = options.via {
            extra.set.push("tenant.registration=browser".into());
        }
        let station = tenant
            .open_station(&state_dir, &extra, Some(sources.clone()), |_| {})
            .await
            .map_err(|e| DemoError::Setup(format!("cannot open the station: {e}")))?;
        if let Some(path) = options.via {
            if station.setup().registrars.get(path).is_none() {
                return Err(DemoError::Environment(format!(
                    "--via {path}: this build of keystation has no {path} registration path wired into the station yet; run `keystation demo` without --via (it registers through Graph)"
                )));
            }
            if path == RegistrationPath::Browser && !crate::ceremony::browser::chromedriver::binaries_present(&crate::ceremony::browser::BrowserConfig::default()) {
                return Err(DemoError::Environment(
                    "--via browser needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)".into(),
                ));
            }
        }

        let file = state_dir.join("demo-users.csv");
        let mut csv = String::from("upn\n");
        for u in tenant.users() {
            csv.push_str(u);
            csv.push('\n');
        }
        std::fs::write(&file, csv).map_err(|e| DemoError::Setup(format!("cannot write {}: {e}", file.display())))?;
        let batch = read_batch_file(&file).map_err(|e| DemoError::Setup(e.to_string()))?;
        let batch_id = format!("demo-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        let plan = plan_batch(&station, batch, batch_id).await.map_err(|e| DemoError::Setup(format!("cannot read the journal: {e}")))?;

        let touch = options.touch;
        let factory_tenant_ca = Arc::clone(&tenant.ca);
        let factory: KeyFactory = Arc::new(move || {
            let config = crate::key::virtual_key::VirtualKeyConfig {
                touch: touch.unwrap_or_else(human_touch),
                attestation: crate::key::virtual_key::VirtualAttestation::Batch(Arc::clone(&factory_tenant_ca)),
                ..Default::default()
            };
            crate::key::virtual_key::VirtualKey::try_new(config).map_err(|e| e.to_string())
        });
        Ok(DemoWorld { tenant, station, hub, sources, plan, factory, state_dir, state_dir_kept: kept, _claim, _temp: temp })
    }

    /// The batch options the demo runs with.
    pub fn batch_options(options: &DemoOptions) -> BatchOptions {
        BatchOptions {
            concurrency: options.keys,
            retries: 2,
            supply: KeySupply::Open,
            touch_timeout: Duration::from_secs(30),
            via: options.via,
            mode: JobMode::Demo,
            poll_interval: Duration::from_millis(50),
            replace_existing: false,
        }
    }
}

/// Run the demo; progress goes to `sink` (wrapped by the simulated operator).
pub async fn run_demo(options: DemoOptions, sink: Arc<dyn BatchSink>, control: BatchControl) -> Result<DemoRun, DemoError> {
    let world = DemoWorld::prepare(&options).await?;
    let DemoWorld { tenant, station, hub, sources, plan, factory, state_dir, state_dir_kept: kept, _claim, _temp } = world;
    let desk = Arc::new(VirtualDesk::new(
        hub.clone(),
        sink,
        DeskOptions { remove_after: options.remove_after, plug_after: options.plug_after, spare_keys: options.users * 2, factory: Some(factory) },
    ));
    desk.plug_initial(options.keys.min(options.users)).map_err(DemoError::Setup)?;

    let batch_options = DemoWorld::batch_options(&options);
    let watchdog = {
        let control = control.clone();
        let deadline = options.deadline;
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            control.stop.cancel();
            control.abort.cancel();
        })
    };
    let report = run_batch(Arc::clone(&station), sources, plan, batch_options, desk, control).await;
    watchdog.abort();
    let rows = report
        .rows
        .iter()
        .map(|r| DemoRow {
            user: r.upn.clone().unwrap_or_default(),
            key: r.key.clone(),
            serial: r.serial.clone(),
            model: r.model.clone(),
            method_id: r.method_id.clone(),
            state: r.status,
            millis: r.millis,
            reason: r.reason.clone(),
        })
        .collect();
    Ok(DemoRun { report, rows, state_dir, state_dir_kept: kept, simulator: tenant.sim.authority_host().to_string(), keys: options.keys })
}
