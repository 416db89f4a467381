//! The station's configuration: a TOML file, `KEYSTATION_*` environment variables and
//! command-line overrides, layered in that order (later wins). Every key is documented
//! in `docs/configuration.md`; [`EMBEDDED_DEFAULT`] is the commented default file.
//!
//! ```text
//! let loaded = ConfigLoader::new()
//!     .file_if_exists(default_config_path())      // or .file(path) / .embedded_default()
//!     .process_env()
//!     .overrides(overrides)                        // from the command line
//!     .load()?;                                    // validated StationConfig
//! ```
mod console;
mod deeplink;
mod keys;
mod legacy;
mod load;
pub mod signed_in;
mod plan;
mod template;
mod tenant;
mod validate;

pub use console::{parse_listen, ConsoleConfig, DEFAULT_LISTEN, DEFAULT_SESSION_IDLE_SECONDS, DEFAULT_SESSION_LIFETIME_SECONDS};
pub use deeplink::DeeplinkConfig;
pub use keys::{env_var_for, SettableKey, SETTABLE_KEYS};
pub use load::{config_file_in_use, config_search_path, default_config_path, ConfigError, ConfigLoader, ConfigOverrides, LoadedConfig, Origin, Provenance, SYSTEM_CONFIG_PATH};
pub use plan::{Plan, PlanInput, PlanKey, PlanStep, PlanTenant, Touches};
pub use template::{width as display_width, DisplayNameInput, DisplayNameTemplate, Field, DISPLAY_NAME_MAX};
pub use tenant::{ApiVersion, Cloud, RegistrationPath, SecretSource, SignIn, SignInConfig, SignInMethod, TenantConfig};

use crate::station::models::ModelEntry;
use crate::station::pin::{PinAlphabet, PinSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The commented default configuration, used for a fresh install and for the demo
/// (which supplies its simulated tenant through [`ConfigOverrides`]).
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// Name of the tenant written as `[tenant]`.
pub const DEFAULT_TENANT: &str = "default";

/// The whole configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StationConfig {
    /// Which tenant jobs go to: `default` (the `[tenant]` table) or a `[tenants.NAME]`.
    pub use_tenant: String,
    /// The default tenant.
    pub tenant: Option<TenantConfig>,
    /// Further named tenants.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// PIN policy.
    pub pin: PinPolicy,
    /// Display name of registered keys.
    pub display_name: DisplayNameConfig,
    /// Temporary Access Passes.
    pub tap: TapConfig,
    /// Whether and when keys are reset.
    pub reset: ResetConfig,
    /// How the PIN reaches the user.
    pub handover: HandoverConfig,
    /// The journal database.
    pub journal: JournalConfig,
    /// The browser registration path.
    pub browser: BrowserConfig,
    /// Batch mode.
    pub batch: BatchConfig,
    /// Checks made before a key is touched.
    pub preflight: PreflightConfig,
    /// The enrollment desk (`keystation kiosk`).
    pub kiosk: KioskConfig,
    /// How keystation reaches Entra and Graph (CA bundle, proxy, timeouts).
    pub network: NetworkConfig,
    /// The web console (`keystation console`).
    pub console: ConsoleConfig,
    /// Signed `keystation://` links (`keystation open`).
    pub deeplink: DeeplinkConfig,
    /// Lab settings (test machinery allowed on purpose; file only).
    pub lab: LabConfig,
    /// Extra AAGUID → model names.
    pub models: Vec<ModelEntry>,
}

impl Default for StationConfig {
    fn default() -> Self {
        StationConfig {
            use_tenant: DEFAULT_TENANT.to_string(),
            tenant: None,
            tenants: BTreeMap::new(),
            pin: PinPolicy::default(),
            display_name: DisplayNameConfig::default(),
            tap: TapConfig::default(),
            reset: ResetConfig::default(),
            handover: HandoverConfig::default(),
            journal: JournalConfig::default(),
            browser: BrowserConfig::default(),
            batch: BatchConfig::default(),
            preflight: PreflightConfig::default(),
            kiosk: KioskConfig::default(),
            network: NetworkConfig::default(),
            console: ConsoleConfig::default(),
            deeplink: DeeplinkConfig::default(),
            lab: LabConfig::default(),
            models: Vec::new(),
        }
    }
}

impl StationConfig {
    /// The tenant selected by `use_tenant`, if it is configured.
    pub fn tenant(&self) -> Option<&TenantConfig> {
        if self.use_tenant == DEFAULT_TENANT {
            self.tenant.as_ref()
        } else {
            self.tenants.get(&self.use_tenant)
        }
    }

    /// The selected tenant, or an error telling the operator what to configure. Commands
    /// that talk to Entra call this; `report` and key commands do not need a tenant.
    pub fn require_tenant(&self) -> Result<&TenantConfig, String> {
        let t = self.tenant().ok_or_else(|| {
            format!(
                "no tenant `{}` is configured: add a [tenant] table with `id` and `client_id` to the configuration file, or set KEYSTATION_TENANT_ID and KEYSTATION_TENANT_CLIENT_ID",
                self.use_tenant
            )
        })?;
        if t.id.is_none() || t.client_id.is_none() {
            return Err(format!(
                "tenant `{}` needs both `id` (tenant id or domain) and `client_id` (the station app's id)",
                self.use_tenant
            ));
        }
        Ok(t)
    }

    /// Every configured tenant name.
    pub fn tenant_names(&self) -> Vec<String> {
        self.tenant.iter().map(|_| DEFAULT_TENANT.to_string()).chain(self.tenants.keys().cloned()).collect()
    }

    /// The embedded default configuration, parsed.
    pub fn embedded_default() -> Result<StationConfig, ConfigError> {
        ConfigLoader::new().embedded_default().load().map(|l| l.config)
    }

    /// The AAGUID table: built in, plus `[[models]]`.
    pub fn model_table(&self) -> Result<crate::station::models::ModelTable, String> {
        crate::station::models::ModelTable::with_entries(&self.models)
    }

    /// The age recipients PINs are sealed to (validated at load).
    pub fn handover_recipients(&self) -> Result<Vec<age::x25519::Recipient>, String> {
        crate::station::handover::parse_recipients(&self.handover.recipients)
    }
}

/// `[pin]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PinPolicy {
    /// `random` (generated, handed over once) or `user-at-desk`.
    pub source: PinSource,
    /// Length of random PINs (4–63); raised to the key's or tenant's minimum.
    pub length: u32,
    /// Shortest PIN a user may choose at the desk (4–63).
    pub min_length: u32,
    /// `digits` or `alphanumeric`.
    pub alphabet: PinAlphabet,
    /// Minimum PIN length to configure on the key (CTAP 2.1 setMinPINLength), 4–63.
    pub set_min_length_on_key: Option<u32>,
    /// Make the key demand a new PIN the first time it is used (CTAP 2.1 forcePINChange).
    pub force_change: bool,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy { source: PinSource::Random, length: 8, min_length: 6, alphabet: PinAlphabet::Digits, set_min_length_on_key: None, force_change: false }
    }
}

/// `[display_name]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayNameConfig {
    /// Template; placeholders `{model}`, `{vendor}`, `{serial}`, `{aaguid8}`, `{upn}`,
    /// `{user}`, `{date}`. Always renders within 30 characters.
    pub template: DisplayNameTemplate,
}

/// `[tap]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TapConfig {
    /// Lifetime of the TAP the browser path signs in with (10–43200 minutes, and within
    /// the tenant's TAP policy).
    pub registration_lifetime_minutes: u32,
    /// Issue one-time passes (registration must then finish within 10 minutes of sign-in).
    pub one_time: bool,
    /// Issue a TAP for the user's first sign-in and print it on the handover slip.
    pub handover: bool,
    /// Lifetime of that handover TAP (10–43200 minutes).
    pub lifetime_minutes: u32,
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig { registration_lifetime_minutes: 60, one_time: true, handover: false, lifetime_minutes: 60 }
    }
}

/// `reset.policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetPolicy {
    /// Never reset; a key that already has a PIN follows `reset.if_pin_unknown`.
    Never,
    /// Reset keys that already have a PIN (blank keys go straight to PIN setting).
    #[default]
    IfPinSet,
    /// Reset every key (needs a touch within seconds of plugging it in).
    Always,
}

/// `reset.if_pin_unknown`: a key already has a PIN, the policy is `never`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownPinAction {
    /// Stop the job and list it as needing an operator.
    #[default]
    Refuse,
    /// Ask for the current PIN at the desk (interactive modes only; unattended modes refuse).
    Ask,
}

/// `[reset]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResetConfig {
    /// `never`, `if-pin-set` or `always`.
    pub policy: ResetPolicy,
    /// `refuse` or `ask`.
    pub if_pin_unknown: UnknownPinAction,
}

/// `[handover]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoverConfig {
    /// Show the PIN on screen once, on a handover slip.
    pub show_once: bool,
    /// age X25519 recipients (`age1…`) the PIN is sealed to in the journal.
    pub recipients: Vec<String>,
    /// Include the sealed PIN in `keystation report`.
    pub in_report: bool,
}

impl Default for HandoverConfig {
    fn default() -> Self {
        HandoverConfig { show_once: true, recipients: Vec::new(), in_report: true }
    }
}

/// `[journal]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// SQLite file; relative paths are inside the state directory.
    pub path: PathBuf,
    /// A shared journal on PostgreSQL (`postgres://user@host:5432/db`), for a fleet of
    /// stations; unset: the SQLite file at `path`. Never with a password in it.
    pub url: Option<String>,
    /// Environment variable holding the database password.
    pub password_env: Option<String>,
    /// File holding the database password (relative to the configuration file).
    pub password_file: Option<PathBuf>,
    /// PEM bundle to trust for the database's TLS certificate instead of the system
    /// roots (relative to the configuration file).
    pub ca_file: Option<PathBuf>,
    /// Lease on a queued user, seconds: a station that stops renewing it for this long
    /// loses the user to another station.
    pub lease_s: u32,
    /// This station's name on every job and in `queue status` (default: the host name).
    pub station: Option<String>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { path: PathBuf::from("journal.sqlite"), url: None, password_env: None, password_file: None, ca_file: None, lease_s: 30, station: None }
    }
}

impl JournalConfig {
    /// The journal file for a given state directory.
    pub fn resolve(&self, state_dir: &Path) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            state_dir.join(&self.path)
        }
    }

    /// Relative `password_file` and `ca_file` are next to the configuration file.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.password_file, &mut self.ca_file].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Whether the journal is shared (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.url.is_some()
    }

    /// Who writes: `station` (or the host name) on this host.
    pub fn identity(&self) -> crate::station::journal::StationIdentity {
        let mut id = crate::station::journal::StationIdentity::this_host();
        if let Some(name) = self.station.as_ref().filter(|n| !n.trim().is_empty()) {
            id.name = name.trim().to_string();
        }
        id
    }

    /// Open the journal for a command that writes (a shared one is migrated if needed).
    pub fn open(&self, state_dir: &Path) -> Result<crate::station::journal::Journal, crate::station::journal::JournalError> {
        let location = self.location(state_dir).map_err(crate::station::journal::JournalError::Config)?;
        let mut j = crate::station::journal::Journal::open_location(&location)?;
        j.set_identity(self.identity());
        Ok(j)
    }

    /// The lease on a queued user.
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_s as u64)
    }

    /// Where the journal is: the SQLite file in `state_dir`, or the shared database
    /// (reading its password from `password_env` / `password_file` now).
    pub fn location(&self, state_dir: &Path) -> Result<crate::station::journal::JournalLocation, String> {
        use crate::station::journal::{JournalLocation, PgSettings};
        let Some(url) = &self.url else {
            return Ok(JournalLocation::File(self.resolve(state_dir)));
        };
        let mut settings = PgSettings::new(url.clone());
        let source = match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => return Err("journal: give either password_env or password_file, not both".into()),
            (Some(v), None) => Some(SecretSource::Env(v.clone())),
            (None, Some(p)) => Some(SecretSource::File(p.clone())),
            (None, None) => None,
        };
        settings.password = source.map(|s| s.read_as("journal database password")).transpose()?;
        settings.ca_file = self.ca_file.clone();
        settings.bound_waits_by(self.lease());
        Ok(JournalLocation::Postgres(settings))
    }
}

/// `[browser]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// Run Chromium without a window.
    pub headless: bool,
    /// Chromium binary; default: looked up on PATH.
    pub chromium: Option<PathBuf>,
    /// chromedriver binary; default: looked up on PATH.
    pub chromedriver: Option<PathBuf>,
    /// When automation of the Security-info pages fails, show the window and let the
    /// operator finish by hand instead of failing the job.
    pub fallback_to_manual: bool,
    /// `automatic` (keystation walks the pages) or `manual` (a visible window from the
    /// start: the operator walks them, keystation answers the key's part).
    pub mode: crate::ceremony::browser::BrowserMode,
    /// `microsoft`, `simulator` or the path of a flow file; default: from the tenant's
    /// Graph host (a keystation simulator's own pages, else Microsoft's).
    pub flow: Option<String>,
    /// Extra Chromium switches (none that switch TLS verification off).
    pub extra_args: Vec<String>,
    /// Lab: host names served from another address (`"login.microsoftonline.com" =
    /// "127.0.0.1:8443"`).
    pub host_map: std::collections::BTreeMap<String, String>,
    /// Lab: base64 SHA-256 hashes of the certificate keys to accept for the mapped hosts.
    pub trust_spki: Vec<String>,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            headless: true,
            chromium: None,
            chromedriver: None,
            fallback_to_manual: true,
            mode: Default::default(),
            flow: None,
            extra_args: Vec::new(),
            host_map: Default::default(),
            trust_spki: Vec::new(),
        }
    }
}

impl BrowserConfig {
    /// The checked settings for the browser registrar.
    pub fn station_browser(&self) -> Result<crate::ceremony::browser::StationBrowser, (String, String)> {
        use crate::ceremony::browser::config::{check_extra_arg, check_spki_pin, HostMapping};
        let flow = crate::ceremony::browser::FlowChoice::parse(self.flow.as_deref().unwrap_or_default()).map_err(|e| ("browser.flow".to_string(), format!("cannot be used: {e}")))?;
        for a in &self.extra_args {
            check_extra_arg(a).map_err(|e| ("browser.extra_args".to_string(), format!("is refused: {e}")))?;
        }
        let mut host_map = Vec::new();
        for (host, to) in &self.host_map {
            host_map.push(HostMapping::parse(host, to).map_err(|e| (format!("browser.host_map.{host}"), format!("is refused: {e}")))?);
        }
        for pin in &self.trust_spki {
            check_spki_pin(pin).map_err(|e| ("browser.trust_spki".to_string(), format!("is refused: {e}")))?;
        }
        if !self.trust_spki.is_empty() && self.host_map.is_empty() {
            return Err((
                "browser.trust_spki".into(),
                "is set without browser.host_map: an extra trusted key is only for a lab that serves mapped host names (docs/configuration.md)".into(),
            ));
        }
        Ok(crate::ceremony::browser::StationBrowser {
            headless: self.headless,
            chromium: self.chromium.clone(),
            chromedriver: self.chromedriver.clone(),
            fallback_to_manual: self.fallback_to_manual,
            mode: self.mode,
            flow,
            extra_args: self.extra_args.clone(),
            host_map,
            trust_spki: self.trust_spki.clone(),
        })
    }
}

/// `[batch]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Keys provisioned at the same time (1–32).
    pub concurrency: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { concurrency: 4 }
    }
}

/// `preflight.attestation`: what to do when the tenant enforces attestation and the
/// station cannot tell before touching the key whether the key will satisfy it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttestationPreflight {
    /// Go on and let Entra decide (a refusal then parks the job: the key has a PIN).
    #[default]
    Warn,
    /// Stop before the key is touched.
    Refuse,
}

/// `[lab]`: test machinery a lab allows on purpose. Only the configuration file sets it
/// (no `KEYSTATION_*` variable, no `--set`), so a stray environment variable cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabConfig {
    /// Virtual (software) keys may register passkeys in this tenant (its `id`, exactly
    /// as configured), although its hosts are not this machine's. Unset: virtual keys
    /// only against a loopback tenant (the simulator).
    pub virtual_keys_tenant: Option<String>,
}

/// `[preflight]`: checks made before anything is written to a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreflightConfig {
    /// With attestation enforced: a key model missing from the AAGUID table (so probably
    /// not in the FIDO metadata service), or a key reporting no AAGUID, is `warn`ed
    /// about or `refuse`d.
    pub attestation: AttestationPreflight,
}

/// `[network]`: how every command reaches the sign-in service and Graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Extra trusted CA certificates (PEM bundle), e.g. a TLS-inspecting proxy's.
    /// Certificate checks can never be switched off.
    pub ca_bundle: Option<PathBuf>,
    /// Trust only `ca_bundle`, not the system's roots.
    pub ca_bundle_only: bool,
    /// `none`, or a proxy URL (`http://proxy.example:3128`); absent: the environment's
    /// `HTTPS_PROXY` / `NO_PROXY`.
    pub proxy: Option<String>,
    /// Deadline of one HTTP exchange, in seconds.
    pub timeout_seconds: u32,
    /// Deadline for opening a connection, in seconds.
    pub connect_timeout_seconds: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig { ca_bundle: None, ca_bundle_only: false, proxy: None, timeout_seconds: 60, connect_timeout_seconds: 15 }
    }
}

impl NetworkConfig {
    /// The HTTP client settings every connection to Entra is built with.
    pub fn http_options(&self) -> crate::entra::http::HttpOptions {
        use crate::entra::http::{HttpOptions, ProxyChoice};
        let proxy = match self.proxy.as_deref().map(str::trim) {
            None | Some("") => ProxyChoice::Environment,
            Some(p) if p.eq_ignore_ascii_case("none") => ProxyChoice::None,
            Some(p) => ProxyChoice::Url(p.to_string()),
        };
        HttpOptions {
            ca_bundle: self.ca_bundle.clone(),
            ca_bundle_only: self.ca_bundle_only,
            request_timeout: std::time::Duration::from_secs(u64::from(self.timeout_seconds.max(1))),
            connect_timeout: std::time::Duration::from_secs(u64::from(self.connect_timeout_seconds.max(1))),
            proxy,
        }
    }
}

/// `[kiosk]`: the enrollment desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KioskConfig {
    /// What the operator types as the user name to close the desk (e.g. a code only IT
    /// knows). Unset: only a signal closes it (SIGTERM from `systemctl stop`, Ctrl-C).
    pub quit_sequence: Option<String>,
    /// How long a refusal stays on the screen when nobody presses Enter, in seconds.
    pub hold_seconds: u32,
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig { quit_sequence: None, hold_seconds: 30 }
    }
}
