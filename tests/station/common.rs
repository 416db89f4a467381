//! Shared set-up for the station tests: the in-process simulator with the virtual keys'
//! attestation CA trusted, virtual keys with batch attestation, a station built from a
//! real configuration file, and an event recorder.
#![allow(dead_code)]
use keystation::entra::graph::{Fido2Method, GraphClient, GraphConfig};
use keystation::entra::http::RetryPolicy;
use keystation::entra::oauth::{Authority, ClientCredential, ClientCredentialsProvider, OAuthClient, OAuthOptions, Scopes};
use keystation::entra::simulator::{start, SimulatorConfig, SimulatorHandle};
use keystation::key::virtual_key::{AttestationCa, VirtualAttestation, VirtualHub, VirtualKey, VirtualKeyConfig};
use keystation::key::worker::KeyHandle;
use keystation::secret::SecretString;
use keystation::station::config::{ConfigLoader, StationConfig};
use keystation::station::journal::{JobRecord, Journal, SharedJournal};
use keystation::station::pipeline::{key_handle_options, EventKind, Station, StationEvent, StationEvents, StationOptions, StationSetup, Step};
use reqwest::Url;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator's confidential app with a secret and broad application permissions.
pub const SECRET_APP: &str = keystation::entra::simulator::seed::well_known::STATION_APP_ID;
/// Its secret (a test value of the simulator's built-in tenant).
pub const SECRET: &str = keystation::entra::simulator::seed::well_known::STATION_APP_SECRET;
/// The environment variable the test configuration names for the secret.
pub const SECRET_ENV: &str = "KEYSTATION_TEST_SIM_SECRET";

pub const ALICE: &str = "alice@contoso.test";
pub const BOB: &str = "bob@contoso.test";
pub const CAROL: &str = "carol@contoso.test";
pub const DAVE: &str = "dave@contoso.test";
pub const OSCAR: &str = "oscar.outside@contoso.test";
pub const BREE: &str = "bree.breakglass@contoso.test";

/// The virtual key's AAGUID.
pub const VIRTUAL_AAGUID: &str = "d5a92987-df19-484f-890d-2d49daf54f29";

/// Retries with short computed waits (Retry-After is still honoured exactly).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(30),
        connection_base_delay: Duration::from_millis(50),
        jitter: true,
    }
}

/// A simulator and the attestation CA its virtual keys use.
pub struct Desk {
    pub sim: SimulatorHandle,
    pub ca: Arc<AttestationCa>,
    pub ca_dir: tempfile::TempDir,
}

impl Desk {
    pub async fn new() -> Desk {
        Desk::with(|_| {}).await
    }

    /// A desk whose simulator configuration `adjust` changes first (apps, behaviour…).
    pub async fn with(adjust: impl FnOnce(&mut SimulatorConfig)) -> Desk {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(AttestationCa::load_or_create(ca_dir.path()).unwrap());
        let mut config = SimulatorConfig::default();
        config.behaviour.device_code_interval_secs = 0;
        config.extra_trusted_roots.push(ca.certificate_pem().to_string());
        adjust(&mut config);
        let sim = start(config).await.expect("simulator starts");
        Desk { sim, ca, ca_dir }
    }

    /// The authority/Graph host as the configuration wants it.
    pub fn host(&self) -> String {
        self.sim.graph_base().as_str().trim_end_matches('/').to_string()
    }

    /// A configuration file's text for this simulator; `extra` is appended (TOML).
    pub fn config_toml(&self, extra: &str) -> String {
        format!(
            r#"[tenant]
id = "{tenant}"
client_id = "{SECRET_APP}"
authority_host = "{host}"
graph_host = "{host}"
[tenant.sign_in]
method = "client-secret"
secret_env = "{SECRET_ENV}"

{extra}
"#,
            tenant = self.sim.tenant_id(),
            host = self.host(),
        )
    }

    /// Load a configuration through the real loader.
    pub fn config(&self, dir: &Path, extra: &str) -> StationConfig {
        let path = dir.join("keystation.toml");
        std::fs::write(&path, self.config_toml(extra)).unwrap();
        ConfigLoader::new().file(&path).load().unwrap_or_else(|e| panic!("test configuration: {e}")).config
    }

    /// A Graph client for the secret app (token from the simulator).
    pub fn graph(&self) -> GraphClient {
        self.graph_as(SECRET_APP, SECRET)
    }

    /// A Graph client signed in as another confidential app of the simulator.
    pub fn graph_as(&self, app: &str, secret: &str) -> GraphClient {
        let url = |u: &Url| Url::parse(u.as_str()).unwrap();
        let authority = Authority::new(url(&self.sim.authority_host()), self.sim.tenant_id()).unwrap();
        let oauth = OAuthClient::new(authority, app, &OAuthOptions { retry: fast_retry(), ..OAuthOptions::default() }).unwrap();
        let scopes = Scopes::graph_default(&Url::parse("https://graph.microsoft.com").unwrap());
        let provider = ClientCredentialsProvider::new(oauth, ClientCredential::Secret(SecretString::new(secret)), scopes);
        GraphClient::new(GraphConfig { retry: fast_retry(), ..GraphConfig::new(url(&self.sim.graph_base())) }, Arc::new(provider)).unwrap()
    }

    /// A virtual key with batch attestation from the trusted CA.
    pub fn key(&self, index: usize, serial: &str) -> VirtualKey {
        VirtualKey::try_new(VirtualKeyConfig {
            index: Some(index),
            serial: Some(serial.to_string()),
            attestation: VirtualAttestation::Batch(self.ca.clone()),
            ..VirtualKeyConfig::default()
        })
        .unwrap()
    }

    /// A station on `dir` (journal inside) with `config`, keys from `hub`.
    pub async fn station(&self, dir: &Path, config: StationConfig, hub: &VirtualHub, tweak: impl FnOnce(&mut StationSetup)) -> Station {
        let journal = SharedJournal::new(Journal::open(dir.join("journal.sqlite")).unwrap());
        let mut setup = StationSetup::new(config, dir, journal, self.graph()).unwrap();
        setup.sources = Some(keystation::key::sources::KeySources::virtual_hub(hub.clone()));
        setup.options = StationOptions { replug_timeout: Duration::from_secs(20), verify_timeout: Duration::from_secs(10), ..StationOptions::default() };
        tweak(&mut setup);
        Station::open(setup).await.unwrap()
    }

    /// The user's FIDO2 methods, through Graph.
    pub async fn methods(&self, upn: &str) -> Vec<Fido2Method> {
        self.graph().list_fido2_methods(upn).await.unwrap()
    }

    /// The simulator-only view of the user's methods (registeredVia, attestationFormat…).
    pub async fn sim_methods(&self, upn: &str) -> serde_json::Value {
        self.control(reqwest::Method::GET, &format!("/_sim/users/{upn}/fido2"), None).await
    }

    /// Call the simulator's test-control surface.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let rel = path.trim_start_matches('/').trim_start_matches("_sim/");
        let u = Url::parse(self.sim.control_url().as_str()).unwrap().join(rel).unwrap();
        let mut r = reqwest::Client::new().request(method, u);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("control call");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "control call {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// PATCH the FIDO2 (or TAP) policy.
    pub async fn patch_policy(&self, which: &str, body: serde_json::Value) {
        self.control(reqwest::Method::PATCH, &format!("/_sim/policies/{which}"), Some(body)).await;
    }
}

/// Open a key of `hub` the way the modes do (touch prompts become events).
pub async fn open_key(hub: &VirtualHub, path: &str, events: Arc<dyn StationEvents>) -> Arc<KeyHandle> {
    let sources = keystation::key::sources::KeySources::virtual_hub(hub.clone());
    let d = sources.enumerate().unwrap().into_iter().find(|d| d.path == path).expect("key present");
    let io = sources.open(&d).unwrap();
    Arc::new(KeyHandle::open(d, io, key_handle_options(events, Duration::from_secs(30))).await.unwrap())
}

/// An action run when a step starts.
type StepAction = (Step, Box<dyn Fn() + Send + Sync>);

/// Records every event; optionally runs an action when a step starts.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<StationEvent>>,
    pub on_step: Mutex<Option<StepAction>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// Run `action` (once) when `step` starts.
    pub fn when(&self, step: Step, action: impl Fn() + Send + Sync + 'static) {
        *self.on_step.lock().unwrap() = Some((step, Box::new(action)));
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events.lock().unwrap().iter().map(|e| e.kind.clone()).collect()
    }

    pub fn steps_started(&self) -> Vec<Step> {
        self.kinds().into_iter().filter_map(|k| if let EventKind::StepStarted { step } = k { Some(step) } else { None }).collect()
    }
}

impl StationEvents for Recorder {
    fn event(&self, e: &StationEvent) {
        self.events.lock().unwrap().push(e.clone());
        if let EventKind::StepStarted { step } = &e.kind {
            let mut slot = self.on_step.lock().unwrap();
            if slot.as_ref().is_some_and(|(s, _)| s == step)
                && let Some((_, action)) = slot.take()
            {
                action();
            }
        }
    }
}

/// Every job in a journal file.
pub fn jobs(path: &Path) -> Vec<JobRecord> {
    let j = Journal::open_existing(path).unwrap();
    j.query(&Default::default()).unwrap()
}

/// The journal file of a state directory.
pub fn journal_path(dir: &Path) -> PathBuf {
    dir.join("journal.sqlite")
}
