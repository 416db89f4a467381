//! Command-line options that override the station configuration (docs/configuration.md,
//! "Command-line overrides"), in the one vocabulary every command shares: a flag has
//! the name of the configuration key it sets (`tenant.cloud` ↔ `--cloud` ↔
//! `KEYSTATION_TENANT_CLOUD`).
//!
//! * [`TenantFlags`]: which tenant and how to reach it (`--use-tenant`, `--tenant-id`,
//!   `--client-id`, `--cloud`, `--authority-host`, `--graph-host`, `--sign-in`,
//!   `--ca-bundle` = `network.ca_bundle`). Every command that talks to Entra flattens it (`login`, `whoami`,
//!   `logout` flatten only this).
//! * [`StationFlags`]: [`TenantFlags`] plus the station's own settings (PIN, reset,
//!   TAP, handover, journal, `--set`). The station commands — and new commands that
//!   load the station configuration — flatten it and pass [`StationFlags::overrides`]
//!   to `CliContext::load_config`.
use crate::station::config::{ConfigOverrides, ResetPolicy};
use crate::station::pin::PinSource as PinOrigin;
use clap::Args;
use std::path::PathBuf;

/// The tenant and the connection to it.
#[derive(Args, Debug, Clone, Default)]
pub struct TenantFlags {
    /// Use this configured tenant (`[tenants.NAME]`; `default` is `[tenant]`). Key `use_tenant`.
    #[arg(long, value_name = "NAME")]
    pub use_tenant: Option<String>,
    /// The tenant's id (GUID) or verified domain, e.g. contoso.onmicrosoft.com. Key `tenant.id`.
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
    /// The station app's Application (client) id. Key `tenant.client_id`.
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// National cloud: global, us-gov, us-gov-dod or china. Key `tenant.cloud`.
    #[arg(long, value_name = "NAME")]
    pub cloud: Option<String>,
    /// Sign-in host, e.g. https://login.microsoftonline.us (http only for 127.0.0.1 and
    /// localhost, e.g. the simulator). Key `tenant.authority_host`.
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,
    /// Graph host, e.g. https://graph.microsoft.us. Key `tenant.graph_host`.
    #[arg(long, value_name = "URL")]
    pub graph_host: Option<String>,
    /// Sign-in method: device-code, client-secret or certificate. Key `tenant.sign_in.method`.
    #[arg(long, value_name = "METHOD")]
    pub sign_in: Option<String>,
    /// Extra trusted CA certificates (PEM) for Entra and Graph, e.g. a TLS-inspecting
    /// proxy. Key `network.ca_bundle`.
    #[arg(long, env = "KEYSTATION_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Deprecated: --use-tenant NAME or --tenant-id ID.
    #[arg(long = "tenant", value_name = "NAME|ID", hide = true)]
    pub legacy_tenant: Option<String>,
    /// Deprecated: --cloud NAME or --authority-host URL.
    #[arg(long = "authority", value_name = "CLOUD|URL", hide = true)]
    pub legacy_authority: Option<String>,
    /// Deprecated: --graph-host URL.
    #[arg(long = "graph", value_name = "URL", hide = true)]
    pub legacy_graph: Option<String>,
}

impl TenantFlags {
    /// The tenant flags as configuration overrides.
    pub fn overrides(&self) -> ConfigOverrides {
        let mut set = Vec::new();
        if let Some(m) = &self.sign_in {
            set.push(format!("tenant.sign_in.method={m}"));
        }
        if let Some(p) = &self.ca_bundle {
            set.push(format!("network.ca_bundle={}", p.display()));
        }
        ConfigOverrides {
            tenant: self.use_tenant.clone(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            cloud: self.cloud.clone(),
            authority_host: self.authority_host.clone(),
            graph_host: self.graph_host.clone(),
            legacy_tenant: self.legacy_tenant.clone(),
            legacy_authority: self.legacy_authority.clone(),
            legacy_graph: self.legacy_graph.clone(),
            set,
            ..ConfigOverrides::default()
        }
    }

}

/// Overrides of the station configuration.
#[derive(Args, Debug, Clone, Default)]
pub struct StationFlags {
    /// Tenant and connection.
    #[command(flatten)]
    pub tenant: TenantFlags,
    /// random or user-at-desk.
    #[arg(long, value_name = "SOURCE", value_parser = parse_pin_source)]
    pub pin_source: Option<PinOrigin>,
    /// Length of random PINs.
    #[arg(long, value_name = "N")]
    pub pin_length: Option<u32>,
    /// Display-name template, e.g. "{model} {serial}".
    #[arg(long, value_name = "TEMPLATE")]
    pub display_name: Option<String>,
    /// never, if-pin-set or always.
    #[arg(long, value_name = "POLICY", value_parser = parse_reset)]
    pub reset: Option<ResetPolicy>,
    /// Lifetime of the handover / registration TAPs in minutes.
    #[arg(long, value_name = "MINUTES")]
    pub tap_lifetime: Option<u32>,
    /// Issue one-time TAPs (true/false).
    #[arg(long, value_name = "BOOL")]
    pub tap_one_time: Option<bool>,
    /// Also issue a TAP for the user's first sign-in and print it on the slip.
    #[arg(long)]
    pub tap_handover: bool,
    /// age recipient to seal the PIN to (repeatable; replaces the configured list).
    #[arg(long = "recipient", value_name = "AGE1…")]
    pub recipients: Vec<String>,
    /// Journal file (relative to the state directory).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Any configuration key, e.g. --set pin.force_change=true (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

fn parse_pin_source(t: &str) -> Result<PinOrigin, String> {
    match t.trim().to_ascii_lowercase().as_str() {
        "random" => Ok(PinOrigin::Random),
        "user-at-desk" => Ok(PinOrigin::UserAtDesk),
        other => Err(format!("`{other}` is not random or user-at-desk")),
    }
}

fn parse_reset(t: &str) -> Result<ResetPolicy, String> {
    match t.trim().to_ascii_lowercase().as_str() {
        "never" => Ok(ResetPolicy::Never),
        "if-pin-set" => Ok(ResetPolicy::IfPinSet),
        "always" => Ok(ResetPolicy::Always),
        other => Err(format!("`{other}` is not never, if-pin-set or always")),
    }
}

impl StationFlags {
    /// The flags as configuration overrides (applied after the file and the environment).
    pub fn overrides(&self) -> ConfigOverrides {
        let tenant = self.tenant.overrides();
        let mut set = tenant.set.clone();
        set.extend(self.set.iter().cloned());
        if let Some(m) = self.tap_lifetime {
            set.push(format!("tap.lifetime_minutes={m}"));
            set.push(format!("tap.registration_lifetime_minutes={m}"));
        }
        if let Some(b) = self.tap_one_time {
            set.push(format!("tap.one_time={b}"));
        }
        if self.tap_handover {
            set.push("tap.handover=true".into());
        }
        ConfigOverrides {
            pin_source: self.pin_source,
            pin_length: self.pin_length,
            reset_policy: self.reset,
            display_name_template: self.display_name.clone(),
            handover_recipients: (!self.recipients.is_empty()).then(|| self.recipients.clone()),
            journal_path: self.journal.clone(),
            set,
            ..tenant
        }
    }
}

/// The registration path on the command line (`--via`), for every command that has one.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViaArg {
    /// Graph's FIDO2 provisioning API (fido2Methods).
    Graph,
    /// Microsoft's sign-in and Security-info pages in Chromium, with a TAP.
    Browser,
}

impl From<ViaArg> for crate::ceremony::RegistrationPath {
    fn from(v: ViaArg) -> Self {
        match v {
            ViaArg::Graph => crate::ceremony::RegistrationPath::Graph,
            ViaArg::Browser => crate::ceremony::RegistrationPath::Browser,
        }
    }
}
