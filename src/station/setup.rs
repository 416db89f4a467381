//! Building a station from its configuration: the token provider for the configured
//! sign-in method, the Graph client, the journal, the registrars per path, the model
//! table. The result, [`StationSetup`], is what [`crate::station::pipeline::Station::open`]
//! takes; every field is public so tests and the demo can assemble one by hand.
#![warn(missing_docs)]
use crate::ceremony::graph_direct::GraphRegistrar;
use crate::ceremony::{Registrar, RegistrationPath};
use crate::entra::cloud::parse_service_url;
use crate::entra::graph::{GraphClient, GraphConfig};
use crate::entra::http::{HttpOptions, RetryPolicy};
use crate::entra::oauth::{
    Authority, CacheFilter, CachedSignIn, ClientCertificate, ClientCredential, ClientCredentialsProvider, OAuthClient, OAuthError, OAuthOptions,
    Scopes, TokenCache, TokenProvider,
};
use crate::key::sources::KeySources;
use crate::key::virtual_key::VIRTUAL_KEY_AAGUID;
use crate::station::config::{SignIn, StationConfig, TenantConfig};
use crate::station::journal::SharedJournal;
use crate::station::models::ModelTable;
use crate::station::pipeline::{CrashPoint, StationError};
use crate::station::state_dir::StationLock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Says, before a key is touched, whether a registrar can work on this machine: `None`
/// when it can, else what is missing (e.g. "chromedriver not found on PATH").
pub type AvailabilityCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The registration paths a station can use, by path. The Graph registrar is installed
/// by [`StationSetup::new`]; the browser registrar is added by whoever builds one
/// (`setup.registrars.insert(Arc::new(browser_registrar))`, or
/// [`Registrars::insert_with_check`] so that a missing browser is reported before the
/// key gets its PIN).
#[derive(Clone, Default)]
pub struct Registrars(HashMap<RegistrationPath, (Arc<dyn Registrar>, Option<AvailabilityCheck>)>);

impl Registrars {
    /// No registrar.
    pub fn new() -> Registrars {
        Registrars::default()
    }

    /// Add (or replace) the registrar for its [`Registrar::path`].
    pub fn insert(&mut self, registrar: Arc<dyn Registrar>) {
        self.0.insert(registrar.path(), (registrar, None));
    }

    /// Add (or replace) a registrar with a check the pipeline runs at inspection, before
    /// anything is written to the key; a `Some(missing)` answer fails the job there with
    /// exit code 11 (missing component).
    pub fn insert_with_check(&mut self, registrar: Arc<dyn Registrar>, check: AvailabilityCheck) {
        self.0.insert(registrar.path(), (registrar, Some(check)));
    }

    /// The registrar for `path`.
    pub fn get(&self, path: RegistrationPath) -> Option<Arc<dyn Registrar>> {
        self.0.get(&path).map(|(r, _)| r.clone())
    }

    /// What is missing for `path` on this machine, if anything (no registrar at all, or
    /// its availability check says so).
    pub fn missing(&self, path: RegistrationPath) -> Option<String> {
        match self.0.get(&path) {
            None => Some(format!("the {path} registration path is not available in this station")),
            Some((_, Some(check))) => check(),
            Some((_, None)) => None,
        }
    }

    /// Installed paths.
    pub fn paths(&self) -> Vec<RegistrationPath> {
        let mut v: Vec<_> = self.0.keys().copied().collect();
        v.sort_by_key(|p| p.to_string());
        v
    }
}

impl std::fmt::Debug for Registrars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.paths()).finish()
    }
}

/// Tunables of the pipeline that are not configuration keys.
#[derive(Debug, Clone)]
pub struct StationOptions {
    /// How long the operator gets to re-plug a key whose reset window has passed.
    pub replug_timeout: Duration,
    /// Time a person gets once a key asks for a touch (keys the pipeline opens itself).
    pub touch_timeout: Duration,
    /// How long verification waits for Entra to list a new method (replication).
    pub verify_timeout: Duration,
    /// How long the policies read from Graph are reused (0: read them for every job).
    pub policy_cache: Duration,
    /// Wait before the first extra registration attempt after the PIN is set (doubled
    /// for each further attempt, at most 8 times this).
    pub retry_delay: Duration,
    /// Test facility: halt the pipeline at this point, as if the process died (see
    /// [`crate::station::pipeline::crash`]). `KEYSTATION_TEST_CRASH_AFTER` wins.
    pub crash_point: Option<CrashPoint>,
}

impl Default for StationOptions {
    fn default() -> Self {
        StationOptions {
            replug_timeout: Duration::from_secs(60),
            touch_timeout: Duration::from_secs(30),
            verify_timeout: Duration::from_secs(20),
            policy_cache: Duration::from_secs(30),
            retry_delay: Duration::from_secs(1),
            crash_point: None,
        }
    }
}

/// Everything a [`crate::station::pipeline::Station`] is made of.
#[derive(Debug, Clone)]
pub struct StationSetup {
    /// The validated configuration.
    pub config: StationConfig,
    /// Where the journal (by default), evidence and token cache live.
    pub state_dir: PathBuf,
    /// The journal, shared with whoever else writes to it in this process.
    pub journal: SharedJournal,
    /// Microsoft Graph, signed in as the configured app or operator.
    pub graph: GraphClient,
    /// Registrars by path.
    pub registrars: Registrars,
    /// AAGUID → model names (built in, `[[models]]`, keystation's virtual key).
    pub models: ModelTable,
    /// Where keys come from; needed to wait for a re-plug (reset window) or a removal.
    pub sources: Option<KeySources>,
    /// Pipeline tunables.
    pub options: StationOptions,
    /// The claim on `state_dir` ([`StationLock`]): taken by [`StationSetup::from_config`],
    /// held for as long as the station lives.
    pub lock: Option<Arc<StationLock>>,
}

/// Tunables of the connection that are not configuration keys (tests shorten retries).
/// Everything an operator sets (CA bundle, proxy, timeouts, cloud, hosts) comes from
/// the configuration, so that every command connects the same way.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Graph retries (default: 5 attempts, Retry-After honoured).
    pub graph_retry: Option<RetryPolicy>,
    /// Token-endpoint retries.
    pub token_retry: Option<RetryPolicy>,
}

/// The one way every command reaches Entra: the selected tenant (cloud, authority and
/// Graph hosts, API version, sign-in method) and the configuration's `[network]` table
/// (CA bundle, proxy, timeouts). Station commands get it through
/// [`StationSetup::from_config`]; commands that only talk to Graph (no journal, no
/// lock) call [`Connection::graph`].
#[derive(Debug, Clone)]
pub struct Connection {
    tenant: TenantConfig,
    http: HttpOptions,
    connect: ConnectOptions,
}

impl Connection {
    /// The connection for `config`'s selected tenant.
    pub fn new(config: &StationConfig, connect: &ConnectOptions) -> Result<Connection, StationError> {
        let tenant = config.require_tenant().map_err(StationError::Config)?.clone();
        Ok(Connection { tenant, http: config.network.http_options(), connect: connect.clone() })
    }

    /// The tenant it connects to.
    pub fn tenant(&self) -> &TenantConfig {
        &self.tenant
    }

    /// The HTTP client settings (CA bundle, proxy, timeouts) of every request.
    pub fn http(&self) -> &HttpOptions {
        &self.http
    }

    /// Options of the OAuth client (token endpoint, device code).
    pub fn oauth_options(&self) -> OAuthOptions {
        let mut o = OAuthOptions { http: self.http.clone(), ..OAuthOptions::default() };
        if let Some(r) = &self.connect.token_retry {
            o.retry = r.clone();
        }
        o
    }

    /// The token provider for the tenant's `sign_in` method, with its cache in `state_dir`:
    /// * `client-secret`: client credentials with the secret from `secret_env`/`secret_file`;
    /// * `certificate`: client credentials with a signed assertion (PS256);
    /// * `device-code`: the cached sign-in from `keystation login` for this authority,
    ///   tenant and client ("run keystation login first" when there is none).
    pub fn token_provider(&self, state_dir: &Path) -> Result<Arc<dyn TokenProvider>, StationError> {
        let tenant = &self.tenant;
        let tenant_id = tenant.id.clone().ok_or_else(|| StationError::Config("the tenant has no `id`".into()))?;
        let client_id = tenant.client_id.clone().ok_or_else(|| StationError::Config("the tenant has no `client_id`".into()))?;
        let authority_host = parse_service_url(&tenant.authority_host(), "authority").map_err(|e| StationError::Config(format!("tenant `authority_host`: {e}")))?;
        // Tokens are for the cloud's Graph resource, even when `graph_host` points the calls
        // elsewhere (a proxy, the simulator): the resource id is what the token names.
        let graph_resource = parse_service_url(tenant.cloud.graph_host(), "Graph").map_err(|e| StationError::Config(format!("tenant `cloud`: {e}")))?;
        let options = self.oauth_options();
        let authority = Authority::new(authority_host, &tenant_id).map_err(|e| StationError::Config(e.to_string()))?;
        let cache = TokenCache::in_state_dir(state_dir);
        let scopes = Scopes::graph_default(&graph_resource);
        let sign_in = tenant.sign_in().map_err(|e| StationError::Config(format!("tenant `sign_in`: {e}")))?;
        let app_only = |credential: ClientCredential| -> Result<Arc<dyn TokenProvider>, StationError> {
            let oauth = OAuthClient::new(authority.clone(), &client_id, &options).map_err(|e| StationError::Config(e.to_string()))?;
            Ok(Arc::new(ClientCredentialsProvider::new(oauth, credential, scopes.clone()).with_cache(cache.clone())))
        };
        match sign_in {
            SignIn::ClientSecret { secret } => app_only(ClientCredential::Secret(secret.read().map_err(StationError::SignIn)?)),
            SignIn::Certificate { certificate, private_key } => {
                let cert = ClientCertificate::from_files(&certificate, &private_key).map_err(sign_in_error)?;
                app_only(ClientCredential::certificate(cert))
            }
            SignIn::DeviceCode => {
                let filter = CacheFilter { authority: Some(authority.host_key()), tenant: Some(tenant_id.clone()), client_id: Some(client_id.clone()), account: None };
                let cached = CachedSignIn::open(cache, &filter, &options).map_err(|e| match e {
                    OAuthError::NotSignedIn(m) => StationError::SignIn(format!(
                        "{m} (the tenant's sign_in.method is device-code: run `keystation login --device-code --tenant {tenant_id} --client-id {client_id}` with the same --state-dir first)"
                    )),
                    other => sign_in_error(other),
                })?;
                Ok(Arc::new(cached))
            }
        }
    }

    /// The Graph client for the tenant (host, API version, retries, `[network]`) drawing
    /// tokens from `tokens`.
    pub fn graph_client(&self, tokens: Arc<dyn TokenProvider>) -> Result<GraphClient, StationError> {
        let tenant = &self.tenant;
        let graph_host = parse_service_url(&tenant.graph_host(), "Graph").map_err(|e| StationError::Config(format!("tenant `graph_host`: {e}")))?;
        let mut gc = GraphConfig::new(graph_host);
        gc.http = self.http.clone();
        if let Some(r) = &self.connect.graph_retry {
            gc.retry = r.clone();
        }
        gc.api_version = tenant.api_version;
        GraphClient::new(gc, tokens).map_err(|e| StationError::Config(network_error(e.to_string())))
    }

    /// Signed in and ready: the token provider (cache in `state_dir`) and the Graph
    /// client. Nothing is sent to Entra yet.
    pub fn graph(&self, state_dir: &Path) -> Result<GraphClient, StationError> {
        self.graph_client(self.token_provider(state_dir)?)
    }
}

/// A client that cannot be built is almost always the CA bundle or the proxy: say which
/// setting to look at.
fn network_error(message: String) -> String {
    if message.contains("CA bundle") {
        format!("{message} (network.ca_bundle / --ca-bundle)")
    } else if message.contains("proxy") {
        format!("{message} (network.proxy)")
    } else {
        message
    }
}

impl StationSetup {
    /// A setup from parts, with the Graph registrar installed and the model table built
    /// from the configuration. Fails on an unusable `[[models]]` entry.
    pub fn new(config: StationConfig, state_dir: impl Into<PathBuf>, journal: SharedJournal, graph: GraphClient) -> Result<StationSetup, StationError> {
        let models = model_table(&config)?;
        let mut registrars = Registrars::new();
        registrars.insert(Arc::new(GraphRegistrar::new(graph.clone(), config.tenant().map(|t| t.challenge_timeout_minutes).unwrap_or(None))));
        let settings = config.browser.station_browser().map_err(|(key, message)| StationError::Config(format!("`{key}` {message}")))?;
        if let Some(r) = config.tenant().and_then(|t| crate::ceremony::browser::BrowserRegistrar::for_station(settings, graph.clone(), &t.graph_host(), t.id.as_deref().unwrap_or_default())) {
            let r = Arc::new(r);
            let check = Arc::clone(&r);
            registrars.insert_with_check(r, Arc::new(move || check.missing_component()));
        }
        Ok(StationSetup { config, state_dir: state_dir.into(), journal, graph, registrars, models, sources: None, options: StationOptions::default(), lock: None })
    }

    /// Build everything from the configuration: open the journal (`journal.path` in
    /// `state_dir`, or the shared `journal.url`), sign in with the tenant's `sign_in` method, make the Graph client.
    /// Nothing is sent to Entra yet (the first token is fetched by the first call).
    ///
    /// Takes the state directory's [`StationLock`] first: a second station on the same
    /// directory is refused ([`StationError::StateDir`]) before the journal is opened.
    pub fn from_config(config: StationConfig, state_dir: &Path, connect: &ConnectOptions) -> Result<StationSetup, StationError> {
        let connection = Connection::new(&config, connect)?;
        let lock = StationLock::acquire(state_dir)?;
        let journal = SharedJournal::new(config.journal.open(state_dir)?);
        let graph = connection.graph(state_dir)?;
        let mut setup = StationSetup::new(config, state_dir, journal, graph)?;
        setup.lock = Some(lock);
        Ok(setup)
    }
}

/// The model table for a configuration: built in, keystation's virtual key, `[[models]]`.
pub fn model_table(config: &StationConfig) -> Result<ModelTable, StationError> {
    let table = config.model_table().map_err(|e| StationError::Config(format!("configuration `models`: {e}")))?;
    debug_assert!(table.lookup_bytes(&VIRTUAL_KEY_AAGUID).is_some(), "the virtual key is in the built-in table");
    Ok(table)
}

fn sign_in_error(e: OAuthError) -> StationError {
    match e {
        OAuthError::NotSignedIn(m) => StationError::SignIn(m),
        other => StationError::SignIn(other.to_string()),
    }
}
