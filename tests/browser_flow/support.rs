//! Shared setup: skip rule, one browser test at a time, a simulator, a Graph client, a
//! prepared virtual key, a recording observer and a registrar configured for tests.
use keystation::ceremony::browser::config::HostMapping;
use keystation::ceremony::browser::{
    BrowserConfig, BrowserMode, BrowserRegistrar, BrowserRegistrarConfig, BrowserTarget, ManualOutcome, ManualPrompt, OperatorPrompt,
};
use keystation::ceremony::webauthn::{BoxFuture, CancelToken};
use keystation::ceremony::{CeremonyError, PendingRegistration, Registered, Registrar, RegistrationObserver, RegistrationRequest};
use keystation::entra::graph::{Fido2Method, GraphClient, GraphConfig};
use keystation::entra::http::RetryPolicy;
use keystation::entra::oauth::{Authority, ClientCredential, ClientCredentialsProvider, OAuthClient, OAuthOptions, Scopes};
use keystation::entra::simulator::{SimulatorConfig, SimulatorHandle, start};
use keystation::key::virtual_key::{Touch, VirtualKey, VirtualKeyConfig};
use keystation::key::worker::{HandleOptions, KeyHandle};
use keystation::secret::SecretString;
use reqwest::Url;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{MutexGuard, watch};
pub use crate::browser_gate::{config_or_skip, serial};

/// Confidential app of the built-in tenant with broad application permissions.
pub const SECRET_APP: &str = keystation::entra::simulator::seed::well_known::STATION_APP_ID;
const SECRET: &str = keystation::entra::simulator::seed::well_known::STATION_APP_SECRET;
/// The PIN the "station" set on the virtual key.
pub const PIN: &str = "482915";

/// Everything a test needs.
pub struct Env {
    pub sim: SimulatorHandle,
    pub graph: GraphClient,
    pub registrar: Arc<BrowserRegistrar>,
    pub prompt: Arc<TestPrompt>,
    pub evidence: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

/// Test settings for the registrar: both browsers headless (no display on CI),
/// short waits.
pub fn registrar_config(browser: &BrowserConfig) -> BrowserRegistrarConfig {
    BrowserRegistrarConfig {
        automatic: browser.clone(),
        manual: BrowserConfig { headless: true, ..browser.clone() },
        mode: BrowserMode::Automatic,
        fallback_to_manual: false,
        confirm_timeout: Duration::from_secs(20),
        manual_timeout: Duration::from_secs(90),
        poll_interval: Duration::from_millis(300),
        screenshots: true,
        budget: Default::default(),
    }
}

/// A simulator (built-in tenant), a Graph client and a registrar; `tweak` adjusts the
/// registrar's settings and target.
pub async fn env_with(test: &str, tweak: impl FnOnce(&mut BrowserRegistrarConfig, &mut BrowserTarget)) -> Option<Env> {
    start_env(test, false, tweak).await
}

/// The production setup: the simulator serves its pages over HTTPS as
/// `login.microsoftonline.com`, `mysignins.microsoft.com` and `login.microsoft.com`;
/// both browsers map those names to it and trust only its key; the target is
/// `BrowserTarget::microsoft` — the built-in `microsoft` flow, unchanged, with rp.id
/// `login.microsoft.com`. Graph goes to the simulator as usual.
pub async fn production_env(test: &str, tweak: impl FnOnce(&mut BrowserRegistrarConfig, &mut BrowserTarget)) -> Option<Env> {
    start_env(test, true, tweak).await
}

async fn start_env(test: &str, microsoft_hosts: bool, tweak: impl FnOnce(&mut BrowserRegistrarConfig, &mut BrowserTarget)) -> Option<Env> {
    let browser = config_or_skip(test)?;
    let serial = serial().await;
    let mut sc = SimulatorConfig::default();
    sc.behaviour.device_code_interval_secs = 0;
    sc.microsoft_hosts = microsoft_hosts;
    let sim = start(sc).await.expect("simulator starts");
    let graph = graph_app(&sim);
    let mut config = registrar_config(&browser);
    let mut target = if microsoft_hosts {
        let (hosts, spki) = sim.microsoft_hosts().expect("served under Microsoft's host names");
        for b in [&mut config.automatic, &mut config.manual] {
            b.host_map = hosts.iter().map(|(h, addr)| HostMapping::parse(h, &addr.to_string()).unwrap()).collect();
            b.trust_spki = vec![spki.clone()];
        }
        BrowserTarget::microsoft(sim.tenant_id())
    } else {
        BrowserTarget::for_graph_host(&url(&sim.graph_base()), sim.tenant_id()).await.expect("simulator target")
    };
    tweak(&mut config, &mut target);
    let prompt = Arc::new(TestPrompt::default());
    let registrar = Arc::new(BrowserRegistrar::new(config, target, graph.clone(), prompt.clone()));
    Some(Env { sim, graph, registrar, prompt, evidence: tempfile::tempdir().unwrap(), _serial: serial })
}

pub async fn env(test: &str) -> Option<Env> {
    env_with(test, |_, _| {}).await
}

pub fn url(u: &Url) -> Url {
    Url::parse(u.as_str()).expect("simulator URL")
}

fn graph_app(sim: &SimulatorHandle) -> GraphClient {
    let retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(30),
        connection_base_delay: Duration::from_millis(50),
        jitter: true,
    };
    let authority = Authority::new(url(&sim.authority_host()), sim.tenant_id()).unwrap();
    let oauth = OAuthClient::new(authority, SECRET_APP, &OAuthOptions { retry: retry.clone(), ..OAuthOptions::default() }).unwrap();
    let scopes = Scopes::graph_default(&Url::parse("https://graph.microsoft.com").unwrap());
    let provider = ClientCredentialsProvider::new(oauth, ClientCredential::Secret(SecretString::new(SECRET)), scopes);
    GraphClient::new(GraphConfig { retry, ..GraphConfig::new(url(&sim.graph_base())) }, Arc::new(provider)).unwrap()
}

impl Env {
    /// A registration request for `upn` with a fresh TAP from the simulator.
    pub async fn request(&self, upn: &str, display_name: &str, one_time: bool) -> RegistrationRequest {
        let tap = self.sim.issue_tap(upn, 60, one_time).expect("TAP");
        self.request_with_tap(upn, display_name, tap).await
    }

    pub async fn request_with_tap(&self, upn: &str, display_name: &str, tap: SecretString) -> RegistrationRequest {
        let user = self.graph.get_user(upn).await.expect("user");
        RegistrationRequest {
            user_id: user.id,
            upn: upn.to_string(),
            display_name: display_name.to_string(),
            pin: SecretString::new(PIN),
            tap: Some(tap),
            evidence_dir: Some(self.evidence.path().join(upn.split('@').next().unwrap())),
        }
    }

    pub async fn methods(&self, upn: &str) -> Vec<Fido2Method> {
        self.graph.list_fido2_methods(upn).await.expect("list methods")
    }

    pub async fn register(&self, key: &TestKey, request: &RegistrationRequest, observer: &Recorder) -> Result<Registered, CeremonyError> {
        self.registrar.register(&key.handle, request, observer, CancelToken::new()).await
    }

    /// PATCH /_sim/users/{upn}.
    pub async fn patch_user(&self, upn: &str, body: serde_json::Value) {
        keystation::entra::tls::ensure_crypto_provider();
        let u = url(&self.sim.control_url()).join(&format!("users/{upn}")).unwrap();
        let r = reqwest::Client::new().patch(u).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "PATCH user: {}", r.status());
    }

    /// PATCH /_sim/policies/{which}.
    pub async fn patch_policy(&self, which: &str, body: serde_json::Value) {
        keystation::entra::tls::ensure_crypto_provider();
        let u = url(&self.sim.control_url()).join(&format!("policies/{which}")).unwrap();
        let r = reqwest::Client::new().patch(u).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "PATCH policy: {}", r.status());
    }

    /// The simulator's own view of a user's keys (registeredVia etc.).
    pub async fn sim_fido2(&self, upn: &str) -> serde_json::Value {
        keystation::entra::tls::ensure_crypto_provider();
        let u = url(&self.sim.control_url()).join(&format!("users/{upn}/fido2")).unwrap();
        reqwest::Client::new().get(u).send().await.unwrap().json().await.unwrap()
    }

    pub async fn close(self) {
        self.registrar.shutdown().await;
    }

    /// Files written to a request's evidence directory.
    pub fn evidence_files(request: &RegistrationRequest) -> Vec<String> {
        let dir = request.evidence_dir.as_ref().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// An OpenSK virtual key with the station's PIN set, and a counter of touch requests.
pub struct TestKey {
    pub key: VirtualKey,
    pub handle: Arc<KeyHandle>,
    pub touch_asked: watch::Receiver<u32>,
}

pub async fn test_key(touch: Touch) -> TestKey {
    let key = VirtualKey::new(VirtualKeyConfig { touch, ..Default::default() });
    let (tx, rx) = watch::channel(0u32);
    let options = HandleOptions {
        on_touch: Some(Arc::new(move |_| {
            tx.send_modify(|n| *n += 1);
        })),
        ..Default::default()
    };
    let handle = KeyHandle::open(key.descriptor(), key.open().unwrap(), options).await.unwrap();
    handle.set_pin(&SecretString::new(PIN)).await.unwrap();
    TestKey { key, handle: Arc::new(handle), touch_asked: rx }
}

/// Records what the registrar tells the pipeline; can refuse a journal step.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
    pub pending: Mutex<Vec<PendingRegistration>>,
    pub refuse_make: bool,
    pub refuse_submit: bool,
}

impl Recorder {
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl RegistrationObserver for Recorder {
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>> {
        self.events.lock().unwrap().push("before_make_credential".into());
        let refuse = self.refuse_make;
        Box::pin(async move { if refuse { Err("disk full".into()) } else { Ok(()) } })
    }
    fn before_submit(&self, pending: &PendingRegistration) -> BoxFuture<'_, Result<(), String>> {
        self.events.lock().unwrap().push("before_submit".into());
        self.pending.lock().unwrap().push(pending.clone());
        let refuse = self.refuse_submit;
        Box::pin(async move { if refuse { Err("disk full".into()) } else { Ok(()) } })
    }
    fn progress(&self, step: &str) {
        // KEYSTATION_TEST_TRACE=1 prints the progress notes with timestamps (debugging).
        if std::env::var_os("KEYSTATION_TEST_TRACE").is_some() {
            eprintln!("{:?} progress: {step}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap());
        }
        self.events.lock().unwrap().push(format!("progress: {step}"));
    }
}

/// The operator's screen in tests: keeps the prompts, and lets a test register an
/// "operator" that acts on the manual window.
#[derive(Default)]
pub struct TestPrompt {
    pub shown: Mutex<Vec<ManualPrompt>>,
    /// When each prompt was shown.
    pub shown_at: Mutex<Vec<std::time::SystemTime>>,
    pub finished: Mutex<Vec<ManualOutcome>>,
    pub operator: Mutex<Option<Operator>>,
}

/// What the test's operator does when the manual window opens.
pub type Operator = Box<dyn Fn(ManualPrompt) + Send + Sync>;

impl TestPrompt {
    /// Play the operator: `f` runs (in its own task) when the manual window opens.
    pub fn on_manual<F, Fut>(&self, f: F)
    where
        F: Fn(ManualPrompt) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        *self.operator.lock().unwrap() = Some(Box::new(move |p| {
            tokio::spawn(f(p));
        }));
    }
}

impl OperatorPrompt for TestPrompt {
    fn show_manual(&self, prompt: ManualPrompt) {
        self.shown_at.lock().unwrap().push(std::time::SystemTime::now());
        self.shown.lock().unwrap().push(prompt.clone());
        if let Some(op) = self.operator.lock().unwrap().as_ref() {
            op(prompt);
        }
    }
    fn manual_finished(&self, outcome: &ManualOutcome) {
        self.finished.lock().unwrap().push(outcome.clone());
    }
}

/// A directory in the test's evidence root.
pub fn evidence_dir(request: &RegistrationRequest) -> PathBuf {
    request.evidence_dir.clone().unwrap()
}
