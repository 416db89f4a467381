//! Layering: configuration file → `KEYSTATION_*` environment → command-line overrides.
//!
//! The file is parsed alone first, so that its errors carry its name, line and column.
//! Environment and command-line values are type-checked one by one as they are applied
//! (their errors name the variable or the option), then the merged result is validated
//! as a whole; those errors name the key and where its value came from.
use super::keys::{self, ValueKind, CLI_ENV_VARS};
use super::{legacy, signed_in};
use super::{validate, RegistrationPath, ResetPolicy, StationConfig, DEFAULT_TENANT, EMBEDDED_DEFAULT};
use crate::station::pin::PinSource;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Origin {
    /// Not set anywhere: the built-in default.
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// The embedded default configuration.
    Embedded,
    /// This environment variable.
    Env(String),
    /// This command-line option.
    Flag(String),
    /// The tenant of the last `keystation login` (this file in the state directory),
    /// used because no tenant is configured.
    SignedIn(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File(p) => write!(f, "configuration file {}", p.display()),
            Origin::Embedded => f.write_str("embedded default configuration"),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(o) => write!(f, "command-line option {o}"),
            Origin::SignedIn(p) => write!(f, "the last `keystation login` ({})", p.display()),
        }
    }
}

/// A configuration problem, with where it came from and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {}: {source}; check the path given with --config or KEYSTATION_CONFIG", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrongly typed / unknown key.
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: Origin,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{origin}: `{key}` {message}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// Dotted key, e.g. `pin.length` or `tenants.fabrikam.client_id`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    /// The dotted key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Command-line overrides, applied last. The CLI fills the typed fields from its own
/// options and passes `--set key=value` pairs in `set`; each carries its option name
/// into error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOverrides {
    /// `--use-tenant NAME`: which configured tenant to use.
    pub tenant: Option<String>,
    /// `--cloud NAME`.
    pub cloud: Option<String>,
    /// Deprecated `--tenant X` (a configured tenant's name in the station commands, a
    /// tenant id in `login`): a configured name selects that tenant, anything else is the
    /// tenant id. Warned about.
    pub legacy_tenant: Option<String>,
    /// Deprecated `--authority CLOUD|URL`: `--cloud` or `--authority-host`. Warned about.
    pub legacy_authority: Option<String>,
    /// Deprecated `--graph URL`: `--graph-host`. Warned about.
    pub legacy_graph: Option<String>,
    /// `--tenant-id`: the selected tenant's id or domain.
    pub tenant_id: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--authority-host` (the demo points it at the simulator).
    pub authority_host: Option<String>,
    /// `--graph-host`.
    pub graph_host: Option<String>,
    /// `--registration graph|browser`.
    pub registration: Option<RegistrationPath>,
    /// `--pin-source random|user-at-desk`.
    pub pin_source: Option<PinSource>,
    /// `--pin-length N`.
    pub pin_length: Option<u32>,
    /// `--reset never|if-pin-set|always`.
    pub reset_policy: Option<ResetPolicy>,
    /// `--display-name TEMPLATE`.
    pub display_name_template: Option<String>,
    /// `--recipient age1…` (repeatable; replaces the configured list).
    pub handover_recipients: Option<Vec<String>>,
    /// `--headless` / `--no-headless`.
    pub headless: Option<bool>,
    /// `--concurrency N`.
    pub batch_concurrency: Option<u32>,
    /// `--journal FILE`.
    pub journal_path: Option<PathBuf>,
    /// `--set key=value`, any key of [`keys::SETTABLE_KEYS`].
    pub set: Vec<String>,
}

impl ConfigOverrides {
    fn typed(&self) -> Vec<(&'static str, &'static str, String)> {
        fn kebab<T: serde::Serialize>(v: &T) -> String {
            serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        }
        let mut out = Vec::new();
        let mut push = |path, flag, v: Option<String>| {
            if let Some(v) = v {
                out.push((path, flag, v));
            }
        };
        push("tenant.cloud", "--cloud", self.cloud.clone());
        push("tenant.id", "--tenant-id", self.tenant_id.clone());
        push("tenant.client_id", "--client-id", self.client_id.clone());
        push("tenant.authority_host", "--authority-host", self.authority_host.clone());
        push("tenant.graph_host", "--graph-host", self.graph_host.clone());
        push("tenant.registration", "--registration", self.registration.as_ref().map(kebab));
        push("pin.source", "--pin-source", self.pin_source.as_ref().map(kebab));
        push("pin.length", "--pin-length", self.pin_length.map(|n| n.to_string()));
        push("reset.policy", "--reset", self.reset_policy.as_ref().map(kebab));
        push("display_name.template", "--display-name", self.display_name_template.clone());
        push("handover.recipients", "--recipient", self.handover_recipients.as_ref().map(|r| r.join(",")));
        push("browser.headless", "--headless", self.headless.map(|b| b.to_string()));
        push("batch.concurrency", "--concurrency", self.batch_concurrency.map(|n| n.to_string()));
        push("journal.path", "--journal", self.journal_path.as_ref().map(|p| p.display().to_string()));
        out
    }
}

/// Which keys were set by whom.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    file_table: Option<Table>,
    file_origin: Option<Origin>,
    overridden: BTreeMap<String, Origin>,
}

impl Provenance {
    /// Where the value of `path` (a real dotted path, e.g. `tenants.lab.client_id`) came from.
    pub fn origin_of(&self, path: &str) -> Origin {
        if let Some(o) = self.overridden.get(path) {
            return o.clone();
        }
        if let (Some(t), Some(o)) = (&self.file_table, &self.file_origin) {
            let mut cur: Option<&Value> = None;
            let mut table = t;
            let segments: Vec<&str> = path.split('.').collect();
            for (i, seg) in segments.iter().enumerate() {
                cur = table.get(*seg);
                match cur {
                    Some(Value::Table(next)) if i + 1 < segments.len() => table = next,
                    Some(_) if i + 1 == segments.len() => {}
                    _ => {
                        cur = None;
                        break;
                    }
                }
            }
            if cur.is_some() {
                return o.clone();
            }
        }
        Origin::Default
    }

    /// Every key set by the environment or the command line, with its origin.
    pub fn overridden(&self) -> &BTreeMap<String, Origin> {
        &self.overridden
    }

    /// Record that `path` was set by `origin` (a layer below the file's, e.g. the
    /// signed-in tenant).
    pub(super) fn note(&mut self, path: &str, origin: Origin) {
        self.overridden.insert(path.to_string(), origin);
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: StationConfig,
    /// Where each overridden value came from.
    pub provenance: Provenance,
    /// Non-fatal notes for the operator (e.g. an unknown `KEYSTATION_*` variable).
    pub warnings: Vec<String>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum FileSource {
    None,
    Path(PathBuf),
    Embedded,
}

/// Builds a [`LoadedConfig`] from a file, an environment and overrides.
#[derive(Debug, Clone)]
pub struct ConfigLoader {
    file: FileSource,
    env: Vec<(String, String)>,
    overrides: ConfigOverrides,
    signed_in: Option<PathBuf>,
}

impl Default for ConfigLoader {
    fn default() -> Self {
        ConfigLoader::new()
    }
}

/// `<config dir>/keystation/keystation.toml` (e.g. `~/.config/keystation/keystation.toml`):
/// the user's own configuration.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("keystation").join("keystation.toml"))
}

/// The system-wide configuration the Debian package installs (a conffile).
pub const SYSTEM_CONFIG_PATH: &str = "/etc/keystation/keystation.toml";

/// Where a configuration file is looked for when none is named, in order: the user's
/// ([`default_config_path`]), then the system's ([`SYSTEM_CONFIG_PATH`]). The first
/// that exists is read; none is an error.
pub fn config_search_path() -> Vec<PathBuf> {
    default_config_path().into_iter().chain(std::iter::once(PathBuf::from(SYSTEM_CONFIG_PATH))).collect()
}

/// The file [`ConfigLoader::for_cli`] reads: the explicit one, else the first of
/// [`config_search_path`] that exists.
pub fn config_file_in_use(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => config_search_path().into_iter().find(|p| p.exists()),
    }
}

impl ConfigLoader {
    /// No file, no environment, no overrides: built-in defaults.
    pub fn new() -> ConfigLoader {
        ConfigLoader { file: FileSource::None, env: Vec::new(), overrides: ConfigOverrides::default(), signed_in: None }
    }

    /// What every command uses: the file given with `--config` / `KEYSTATION_CONFIG`
    /// (must exist), else the user's file, else `/etc/keystation/keystation.toml`, if
    /// there is one ([`config_file_in_use`]); then the process environment.
    pub fn for_cli(explicit: Option<PathBuf>) -> ConfigLoader {
        let loader = match explicit {
            Some(p) => ConfigLoader::new().file(p),
            None => ConfigLoader::new().file_if_exists(config_file_in_use(None)),
        };
        loader.process_env()
    }

    /// When no tenant is configured (the `[tenant]` table has neither `id` nor
    /// `client_id` after every layer), take it from the record the last `keystation
    /// login` wrote ([`signed_in::record_path`]), so that `login` and the commands after
    /// it share one tenant without a configuration file.
    pub fn signed_in_tenant(mut self, record: impl Into<PathBuf>) -> Self {
        self.signed_in = Some(record.into());
        self
    }

    /// Read this file; a missing file is an error.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = FileSource::Path(path.into());
        self
    }

    /// Read this file if it exists (the default location), else use built-in defaults.
    pub fn file_if_exists(mut self, path: Option<PathBuf>) -> Self {
        self.file = match path {
            Some(p) if p.exists() => FileSource::Path(p),
            _ => FileSource::None,
        };
        self
    }

    /// Start from [`EMBEDDED_DEFAULT`].
    pub fn embedded_default(mut self) -> Self {
        self.file = FileSource::Embedded;
        self
    }

    /// Use these environment variables (tests pass their own).
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self
    }

    /// Use the process environment (variables that are not UTF-8 are skipped).
    pub fn process_env(self) -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("KEYSTATION_"))
            .collect();
        self.env(vars)
    }

    /// Apply these command-line overrides last.
    pub fn overrides(mut self, overrides: ConfigOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Layer, type-check and validate.
    pub fn load(self) -> Result<LoadedConfig, ConfigError> {
        let (text, origin, file_path) = match &self.file {
            FileSource::None => (String::new(), Origin::Default, None),
            FileSource::Embedded => (EMBEDDED_DEFAULT.to_string(), Origin::Embedded, None),
            FileSource::Path(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
                (text, Origin::File(p.clone()), Some(p.clone()))
            }
        };
        let mut table: Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse { origin: origin.clone(), message: e.to_string() })?;
        refuse_inline_secrets(&table, "", &origin)?;
        // Parse the file alone so that type errors point at its lines.
        toml::from_str::<StationConfig>(&text).map_err(|e| ConfigError::Parse { origin: origin.clone(), message: e.to_string() })?;

        let mut prov = Provenance { file_table: Some(table.clone()), file_origin: Some(origin.clone()), overridden: BTreeMap::new() };
        let mut warnings = Vec::new();

        // Old spellings of this release's names: mapped onto the new ones, with a warning.
        let configured: Vec<String> = std::iter::once(DEFAULT_TENANT.to_string())
            .chain(table.get("tenants").and_then(Value::as_table).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default())
            .collect();
        let mut overrides = self.overrides.clone();
        legacy::map_flags(&mut overrides, &configured, &mut warnings);
        let mut env: Vec<(String, String)> = legacy::map_env(self.env.clone(), &mut warnings);

        // The tenant selection decides where `tenant.*` keys go, so it is settled first.
        env.sort();
        let env_tenant = env.iter().find(|(k, _)| k == "KEYSTATION_USE_TENANT").map(|(_, v)| v.trim().to_string());
        let set_tenant = overrides.set.iter().rev().find_map(|item| {
            let (k, v) = item.split_once('=')?;
            (k.trim() == "use_tenant").then(|| v.trim().to_string())
        });
        let selected = match (&overrides.tenant, set_tenant, env_tenant) {
            (Some(t), _, _) => Some((t.trim().to_string(), Origin::Flag("--tenant".into()))),
            (None, Some(t), _) => Some((t, Origin::Flag("--set use_tenant".into()))),
            (None, None, Some(t)) => Some((t, Origin::Env("KEYSTATION_USE_TENANT".into()))),
            (None, None, None) => None,
        };
        if let Some((name, o)) = selected {
            table.insert("use_tenant".into(), Value::String(name));
            prov.overridden.insert("use_tenant".into(), o);
        }
        let tenant_name = table.get("use_tenant").and_then(Value::as_str).unwrap_or(DEFAULT_TENANT).to_string();
        let route = |path: &str| -> String {
            match path.strip_prefix("tenant.") {
                Some(rest) if tenant_name != DEFAULT_TENANT => format!("tenants.{tenant_name}.{rest}"),
                _ => path.to_string(),
            }
        };

        let secret_vars = secret_env_names(&table);
        for (var, raw) in &env {
            if var == "KEYSTATION_USE_TENANT" || CLI_ENV_VARS.contains(&var.as_str()) {
                continue;
            }
            match keys::find_env(var) {
                Some(k) => {
                    let value = k.kind.parse(raw).map_err(|m| ConfigError::Invalid { origin: Origin::Env(var.clone()), key: k.path.to_string(), message: m })?;
                    let real = route(k.path);
                    insert(&mut table, &real, value).map_err(|m| ConfigError::Invalid { origin: Origin::Env(var.clone()), key: real.clone(), message: m })?;
                    prov.overridden.insert(real, Origin::Env(var.clone()));
                }
                None if var.starts_with("KEYSTATION_") => {
                    let sensitive = ["SECRET", "TOKEN", "PASSWORD"].iter().any(|w| var.contains(w));
                    if !secret_vars.contains(var) && !sensitive {
                        warnings.push(format!("{var} is not a configuration setting and was ignored (docs/configuration.md lists them)"));
                    }
                }
                None => {}
            }
        }

        let mut flagged: Vec<(String, String, ValueKind, String)> = Vec::new();
        for (path, flag, value) in overrides.typed() {
            let kind = keys::find(path).map(|k| k.kind).unwrap_or(ValueKind::Text);
            flagged.push((path.to_string(), flag.to_string(), kind, value));
        }
        for item in &overrides.set {
            let (k, v) = item.split_once('=').ok_or_else(|| ConfigError::Invalid {
                origin: Origin::Flag("--set".into()),
                key: item.clone(),
                message: "must be written key=value, e.g. --set pin.length=8".into(),
            })?;
            let key = keys::find(k).ok_or_else(|| ConfigError::Invalid {
                origin: Origin::Flag("--set".into()),
                key: k.trim().to_string(),
                message: unknown_key_hint(k.trim()),
            })?;
            if key.path == "use_tenant" {
                continue; // settled above, before routing `tenant.*` keys
            }
            flagged.push((key.path.to_string(), format!("--set {}", key.path), key.kind, v.to_string()));
        }
        for (path, flag, kind, raw) in flagged {
            let origin = Origin::Flag(flag);
            let value = kind.parse(&raw).map_err(|m| ConfigError::Invalid { origin: origin.clone(), key: path.clone(), message: m })?;
            let real = route(&path);
            insert(&mut table, &real, value).map_err(|m| ConfigError::Invalid { origin: origin.clone(), key: real.clone(), message: m })?;
            prov.overridden.insert(real, origin);
        }

        if tenant_name == DEFAULT_TENANT
            && let Some(path) = &self.signed_in
        {
            signed_in::fill_unconfigured_tenant(&mut table, path, &mut prov, &mut warnings);
        }

        let mut config: StationConfig = Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            origin: Origin::Default,
            message: format!("the merged configuration is not valid: {e}"),
        })?;
        if let Some(base) = file_path.as_deref().and_then(Path::parent) {
            for t in config.tenant.iter_mut().chain(config.tenants.values_mut()) {
                t.resolve_paths(base);
            }
            config.journal.resolve_paths(base);
            // A CA bundle named in the file is relative to the file; one given on the
            // command line or in the environment, to the working directory.
            if let Some(p) = config.network.ca_bundle.as_mut()
                && p.is_relative()
                && matches!(prov.origin_of("network.ca_bundle"), Origin::File(_))
            {
                *p = base.join(&*p);
            }
            config.console.resolve_paths(base, |key| matches!(prov.origin_of(key), Origin::File(_)));
            config.deeplink.resolve_paths(base, |key| matches!(prov.origin_of(key), Origin::File(_)));
            // So is a flow file (not the built-in names).
            if let Some(f) = config.browser.flow.as_mut()
                && !matches!(f.as_str(), "microsoft" | "simulator" | "auto" | "")
                && Path::new(f.as_str()).is_relative()
                && matches!(prov.origin_of("browser.flow"), Origin::File(_))
            {
                *f = base.join(&*f).display().to_string();
            }
        }
        fit_entra_calls_in_the_lease(&mut config, &prov);
        validate::validate(&config, &prov)?;
        Ok(LoadedConfig { config, provenance: prov, warnings, file: file_path })
    }
}

/// On a shared journal an Entra call must end while a third of the lease is left
/// (docs/fleet.md, failure model): a `network.timeout_seconds` nobody chose (the
/// built-in or embedded default) becomes the largest that fits; one set on purpose is
/// checked by `validate` and refused with the values that would fit.
fn fit_entra_calls_in_the_lease(config: &mut StationConfig, prov: &Provenance) {
    if config.journal.is_shared() && matches!(prov.origin_of("network.timeout_seconds"), Origin::Default | Origin::Embedded) {
        let fits = (config.journal.lease_s.saturating_sub(1) / 3).max(1);
        config.network.timeout_seconds = config.network.timeout_seconds.min(fits);
    }
}

/// Put `value` at a dotted path, creating tables on the way.
fn insert(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut cur = table;
    for seg in &segments[..segments.len() - 1] {
        let entry = cur.entry(seg.to_string()).or_insert_with(|| Value::Table(Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| format!("cannot be set because `{seg}` in the file is not a table"))?;
    }
    cur.insert(segments[segments.len() - 1].to_string(), value);
    Ok(())
}

/// Names of the variables the file says hold client secrets (never warned about).
fn secret_env_names(table: &Table) -> Vec<String> {
    let mut names = Vec::new();
    let mut tenants: Vec<&Table> = table.get("tenant").and_then(Value::as_table).into_iter().collect();
    if let Some(ts) = table.get("tenants").and_then(Value::as_table) {
        tenants.extend(ts.values().filter_map(Value::as_table));
    }
    for t in tenants {
        if let Some(v) = t.get("sign_in").and_then(Value::as_table).and_then(|s| s.get("secret_env")).and_then(Value::as_str) {
            names.push(v.to_string());
        }
    }
    if let Some(v) = table.get("journal").and_then(Value::as_table).and_then(|j| j.get("password_env")).and_then(Value::as_str) {
        names.push(v.to_string());
    }
    if let Some(v) = table.get("deeplink").and_then(Value::as_table).and_then(|d| d.get("key_env")).and_then(Value::as_str) {
        names.push(v.to_string());
    }
    names
}

/// A secret written into the file is refused with a pointer to the right way.
fn refuse_inline_secrets(table: &Table, prefix: &str, origin: &Origin) -> Result<(), ConfigError> {
    const FORBIDDEN: &[&str] = &["secret", "client_secret", "clientsecret", "password", "pin_value", "refresh_token", "access_token"];
    for (k, v) in table {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if FORBIDDEN.contains(&k.to_ascii_lowercase().as_str()) {
            return Err(ConfigError::Invalid {
                origin: origin.clone(),
                key: path,
                message: "looks like a secret written into the configuration file; secrets never go there: set `sign_in.method = \"client-secret\"` with `sign_in.secret_env` (the name of an environment variable) or `sign_in.secret_file` (a path to a 0600 file)".into(),
            });
        }
        if let Value::Table(t) = v {
            refuse_inline_secrets(t, &path, origin)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::pin::PinAlphabet;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("station.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn later_layers_win_and_provenance_says_who() {
        let (_d, p) = file("[pin]\nlength = 10\nalphabet = \"alphanumeric\"\n");
        let only_file = ConfigLoader::new().file(&p).load().unwrap();
        assert_eq!(only_file.config.pin.length, 10);
        assert_eq!(only_file.provenance.origin_of("pin.length"), Origin::File(p.clone()));
        assert_eq!(only_file.provenance.origin_of("pin.min_length"), Origin::Default);

        let env = [("KEYSTATION_PIN_LENGTH", "12")];
        let with_env = ConfigLoader::new().file(&p).env(env).load().unwrap();
        assert_eq!(with_env.config.pin.length, 12);
        assert_eq!(with_env.config.pin.alphabet, PinAlphabet::Alphanumeric);
        assert_eq!(with_env.provenance.origin_of("pin.length"), Origin::Env("KEYSTATION_PIN_LENGTH".into()));

        let o = ConfigOverrides { pin_length: Some(14), ..Default::default() };
        let all = ConfigLoader::new().file(&p).env(env).overrides(o).load().unwrap();
        assert_eq!(all.config.pin.length, 14);
        assert_eq!(all.provenance.origin_of("pin.length"), Origin::Flag("--pin-length".into()));
    }

    #[test]
    fn tenant_keys_follow_the_selected_tenant() {
        let (_d, p) = file(
            "use_tenant = \"lab\"\n[tenant]\nid = \"contoso.example\"\n[tenants.lab]\nid = \"lab.example\"\n[tenants.lab.sign_in]\nmethod = \"client-secret\"\nsecret_file = \"lab-secret\"\n",
        );
        let env = [("KEYSTATION_TENANT_CLIENT_ID", "11111111-2222-3333-4444-555555555555")];
        let l = ConfigLoader::new().file(&p).env(env).load().unwrap();
        let lab = l.config.tenant().unwrap();
        assert_eq!(lab.id.as_deref(), Some("lab.example"));
        assert_eq!(lab.client_id.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
        assert!(l.config.tenant.as_ref().unwrap().client_id.is_none(), "the default tenant is untouched");
        // A relative secret file is next to the configuration file.
        assert_eq!(lab.sign_in.secret_file.as_deref(), Some(p.parent().unwrap().join("lab-secret").as_path()));

        let o = ConfigOverrides { set: vec!["tenant.api_version=beta".into(), "use_tenant=default".into()], ..Default::default() };
        let l = ConfigLoader::new().file(&p).overrides(o).load().unwrap();
        assert_eq!(l.config.use_tenant, "default");
        assert_eq!(l.config.tenant().unwrap().api_version, crate::station::config::ApiVersion::Beta, "--set use_tenant applies before tenant.* keys");
        assert_eq!(l.config.tenants["lab"].api_version, crate::station::config::ApiVersion::V1);

        let o = ConfigOverrides { tenant: Some("default".into()), ..Default::default() };
        let l = ConfigLoader::new().file(&p).env(env).overrides(o).load().unwrap();
        assert_eq!(l.config.tenant().unwrap().client_id.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
        assert_eq!(l.config.tenant().unwrap().id.as_deref(), Some("contoso.example"));
    }

    #[test]
    fn errors_name_the_source_the_key_and_what_is_allowed() {
        let e = ConfigLoader::new().env([("KEYSTATION_PIN_LENGTH", "eight")]).load().unwrap_err();
        assert_eq!(e.to_string(), "environment variable KEYSTATION_PIN_LENGTH: `pin.length` `eight` is not a whole number");
        let e = ConfigLoader::new().env([("KEYSTATION_PIN_LENGTH", "70")]).load().unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable KEYSTATION_PIN_LENGTH: `pin.length` = 70 is out of range: allowed 4 to 63 (FIDO2 PINs are 4 to 63 characters)"
        );
        let o = ConfigOverrides { set: vec!["reset.policy=sometimes".into()], ..Default::default() };
        let e = ConfigLoader::new().overrides(o).load().unwrap_err();
        assert_eq!(e.to_string(), "command-line option --set reset.policy: `reset.policy` `sometimes` is not allowed; use one of: never, if-pin-set, always");
        let o = ConfigOverrides { set: vec!["pin.colour=blue".into()], ..Default::default() };
        let e = ConfigLoader::new().overrides(o).load().unwrap_err();
        assert!(e.to_string().contains("`pin.colour` cannot be set") && e.to_string().contains("pin.length"), "{e}");
        let o = ConfigOverrides { display_name_template: Some("{date} {date} {date}".into()), ..Default::default() };
        let e = ConfigLoader::new().overrides(o).load().unwrap_err();
        assert!(e.to_string().starts_with("command-line option --display-name: `display_name.template`") && e.to_string().contains("cannot fit"), "{e}");
    }

    #[test]
    fn browser_lab_settings_are_checked() {
        let spki = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let (_d, p) = file(&format!(
            "[browser]\nflow = \"microsoft\"\nextra_args = [\"--proxy-server=http://proxy:3128\"]\ntrust_spki = [\"{spki}\"]\nhost_map = {{ \"login.microsoftonline.com\" = \"127.0.0.1:8443\" }}\n"
        ));
        let l = ConfigLoader::new().file(&p).load().unwrap();
        let b = l.config.browser.station_browser().unwrap();
        assert!(matches!(b.flow, crate::ceremony::browser::FlowChoice::Microsoft));
        assert_eq!(b.host_map[0].to, "127.0.0.1:8443");
        let err = |text: &str| ConfigLoader::new().file(&file(text).1).load().unwrap_err().to_string();
        let e = err("[browser]\nextra_args = [\"--ignore-certificate-errors\"]\n");
        assert!(e.contains("`browser.extra_args`") && e.contains("TLS verification off"), "{e}");
        let e = err(&format!("[browser]\ntrust_spki = [\"{spki}\"]\n"));
        assert!(e.contains("`browser.trust_spki`") && e.contains("without browser.host_map"), "{e}");
        let e = err("[browser]\nhost_map = { \"*.microsoft.com\" = \"127.0.0.1:8443\" }\n");
        assert!(e.contains("browser.host_map") && e.contains("no patterns"), "{e}");
        let e = err("[browser]\nflow = \"flows/mine.toml\"\n");
        assert!(e.contains("`browser.flow`") && e.contains("flows/mine.toml") && e.contains("cannot read"), "{e}");
        // A flow file next to the configuration file, checked at load.
        let (d, p) = file("[browser]\nflow = \"mine.toml\"\n");
        std::fs::write(d.path().join("mine.toml"), crate::ceremony::browser::flow::MICROSOFT_FLOW.replace("version = \"2.0.0\"", "version = \"2.0.1\"")).unwrap();
        let b = ConfigLoader::new().file(&p).load().unwrap().config.browser.station_browser().unwrap();
        assert!(matches!(&b.flow, crate::ceremony::browser::FlowChoice::File(f) if f.version == "2.0.1"));
        std::fs::write(d.path().join("mine.toml"), "format = 1\n").unwrap();
        let e = ConfigLoader::new().file(&p).load().unwrap_err().to_string();
        assert!(e.contains("format 1 is not supported"), "{e}");
        let o = ConfigOverrides { set: vec!["browser.flow=simulator".into()], ..Default::default() };
        assert_eq!(ConfigLoader::new().overrides(o).load().unwrap().config.browser.flow.as_deref(), Some("simulator"));
    }

    #[test]
    fn unknown_variables_warn_but_secret_holders_do_not() {
        let (_d, p) = file("[tenant]\n[tenant.sign_in]\nmethod = \"client-secret\"\nsecret_env = \"KEYSTATION_APP_KEY\"\n");
        let env = [
            ("KEYSTATION_PIN_LENGHT", "9"),
            ("KEYSTATION_APP_KEY", "value-that-must-not-appear"),
            ("KEYSTATION_CLIENT_SECRET", "also-secret"),
            ("KEYSTATION_STATE_DIR", "/tmp/x"),
        ];
        let l = ConfigLoader::new().file(&p).env(env).load().unwrap();
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(l.warnings[0].starts_with("KEYSTATION_PIN_LENGHT is not a configuration setting"));
        assert!(!l.warnings.iter().any(|w| w.contains("value-that-must-not-appear")));
    }

    #[test]
    fn embedded_default_is_the_built_in_default() {
        let embedded = StationConfig::embedded_default().unwrap();
        assert_eq!(embedded, StationConfig::default());
        assert!(embedded.require_tenant().unwrap_err().contains("KEYSTATION_TENANT_ID"));
        // The demo supplies its tenant through overrides.
        let o = ConfigOverrides {
            tenant_id: Some("demo.keystation.test".into()),
            client_id: Some("00000000-0000-0000-0000-0000000000de".into()),
            authority_host: Some("http://127.0.0.1:40001".into()),
            graph_host: Some("http://127.0.0.1:40001".into()),
            ..Default::default()
        };
        let demo = ConfigLoader::new().embedded_default().overrides(o).load().unwrap().config;
        let t = demo.require_tenant().unwrap();
        assert_eq!(t.graph_base_url(), "http://127.0.0.1:40001/v1.0");
    }
}

/// What to say of a `--set` key that is not settable: the settable keys of its section
/// when it names one, else the sections (the whole list is too long for a message;
/// docs/configuration.md has it).
fn unknown_key_hint(key: &str) -> String {
    let section = key.split('.').next().unwrap_or_default();
    let same: Vec<&str> = keys::SETTABLE_KEYS.iter().map(|k| k.path).filter(|p| p.split_once('.').is_some_and(|(s, _)| s == section)).collect();
    if same.is_empty() {
        let mut sections: Vec<String> = Vec::new();
        for k in keys::SETTABLE_KEYS {
            let s = match k.path.split_once('.') {
                Some((section, _)) => format!("{section}.*"),
                None => k.path.to_string(),
            };
            if !sections.contains(&s) {
                sections.push(s);
            }
        }
        format!("cannot be set from the command line; settable: {} (docs/configuration.md lists every key)", sections.join(", "))
    } else {
        format!("cannot be set from the command line; settable keys of [{section}]: {} (docs/configuration.md lists every key)", same.join(", "))
    }
}
