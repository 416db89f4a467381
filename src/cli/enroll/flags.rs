//! Command-line options that override the station configuration (docs/configuration.md,
//! "Command-line overrides"). Shared shape for the station commands: flatten
//! [`StationFlags`] and pass [`StationFlags::overrides`] to the configuration loader.
use crate::station::config::{ConfigOverrides, ResetPolicy};
use crate::station::pin::PinSource as PinOrigin;
use clap::Args;
use std::path::PathBuf;

/// Overrides of the station configuration.
#[derive(Args, Debug, Clone, Default)]
pub struct StationFlags {
    /// Configured tenant to use (`[tenants.NAME]`).
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// The tenant's id or domain.
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
    /// The station app's client id.
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// Sign-in host, e.g. https://login.microsoftonline.us (http only for loopback).
    #[arg(long, value_name = "URL")]
    pub authority_host: Option<String>,
    /// Graph host.
    #[arg(long, value_name = "URL")]
    pub graph_host: Option<String>,
    /// Sign-in method: device-code, client-secret or certificate.
    #[arg(long, value_name = "METHOD")]
    pub sign_in: Option<String>,
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
    /// Extra trusted CA certificates (PEM) for Entra/Graph, e.g. a TLS-inspecting proxy
    /// (the `network.ca_bundle` setting).
    #[arg(long, env = "KEYSTATION_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
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
        let mut set = self.set.clone();
        if let Some(m) = &self.sign_in {
            set.push(format!("tenant.sign_in.method={m}"));
        }
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
        if let Some(p) = &self.ca_bundle {
            set.push(format!("network.ca_bundle={}", p.display()));
        }
        ConfigOverrides {
            tenant: self.tenant.clone(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            authority_host: self.authority_host.clone(),
            graph_host: self.graph_host.clone(),
            pin_source: self.pin_source,
            pin_length: self.pin_length,
            reset_policy: self.reset,
            display_name_template: self.display_name.clone(),
            handover_recipients: (!self.recipients.is_empty()).then(|| self.recipients.clone()),
            journal_path: self.journal.clone(),
            set,
            ..ConfigOverrides::default()
        }
    }
}

