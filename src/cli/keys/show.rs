//! `keys list`, `keys info`, `keys watch`.
use super::{KeyChoice, KeyJson, NO_KEY_MESSAGE, open_chosen, serial_text};
use crate::cli::output::stdout_closed;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::ctap2::{AuthenticatorInfo, PinRetries};
use crate::key::ctaphid::InitInfo;
use crate::key::sources::KeySources;
use crate::key::watcher::{KeyEvent, KeyWatcher, WatchOptions};
use crate::key::worker::{HandleOptions, KeyHandle, aaguid_probe};
use clap::Args;
use serde::Serialize;
use std::time::Duration;

/// One row of `keys list --json`: the key object (docs/json.md) and its state.
#[derive(Serialize)]
struct ListedKey {
    index: usize,
    #[serde(flatten)]
    key: KeyJson,
    versions: Option<Vec<String>>,
    pin_set: Option<bool>,
    /// Why getInfo failed, when it did.
    error: Option<String>,
}

pub async fn list(sources: &KeySources, ctx: &CliContext) -> Result<Exit, CliError> {
    let keys = sources.enumerate()?;
    let mut rows = Vec::new();
    for (index, descriptor) in keys.into_iter().enumerate() {
        // A short look at each key; a key that does not answer is still listed.
        let options = HandleOptions { op_timeout: Duration::from_secs(2), ..Default::default() };
        let info = match sources.open(&descriptor) {
            Ok(io) => KeyHandle::open(descriptor.clone(), io, options).await.map(|h| h.info()),
            Err(e) => Err(e),
        };
        let (aaguid, versions, pin_set, error) = match info {
            Ok(i) => (Some(i.aaguid_string()), Some(i.versions.clone()), i.option("clientPin"), None),
            Err(e) => (None, None, None, Some(e.to_string())),
        };
        rows.push(ListedKey { index, key: KeyJson::new(&descriptor, aaguid), versions, pin_set, error });
    }
    if ctx.json() {
        ctx.print_json(&rows)?;
    } else if rows.is_empty() {
        errln!("{NO_KEY_MESSAGE}");
    } else {
        for r in &rows {
            let state = match (&r.error, r.pin_set) {
                (Some(e), _) => format!("not answering: {e}"),
                (None, Some(true)) => "PIN set".into(),
                (None, Some(false)) => "no PIN".into(),
                (None, None) => "no PIN support".into(),
            };
            outln!("{:>2}  {}{}{}", r.index, r.key.descriptor.label(), serial_text(&r.key.descriptor), state);
            if let Some(a) = &r.key.aaguid {
                outln!("    AAGUID {a}  {}", r.versions.as_deref().unwrap_or_default().join(" "));
            }
        }
    }
    Ok(Exit::Ok)
}

#[derive(Serialize)]
struct InfoOutput {
    key: KeyJson,
    hid: Option<InitInfo>,
    info: AuthenticatorInfo,
    pin_retries: Option<PinRetries>,
}

pub async fn info(sources: &KeySources, choice: &KeyChoice, ctx: &CliContext) -> Result<Exit, CliError> {
    let handle = open_chosen(sources, choice).await?;
    let info = handle.info();
    let pin_retries = if info.pin_is_set() { handle.pin_retries().await.ok() } else { None };
    let out = InfoOutput { key: KeyJson::new(handle.descriptor(), Some(info.aaguid_string())), hid: handle.hid_info(), info, pin_retries };
    if ctx.json() {
        ctx.print_json(&out)?;
        return Ok(Exit::Ok);
    }
    let i = &out.info;
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not supported",
    };
    outln!("{}", out.key.descriptor.label());
    outln!("  serial                {}", out.key.descriptor.serial.as_deref().unwrap_or("(not exposed by the key)"));
    outln!("  AAGUID                {}", i.aaguid_string());
    outln!("  versions              {}", i.versions.join(", "));
    outln!("  extensions            {}", i.extensions.join(", "));
    outln!("  PIN set               {}", yes_no(i.option("clientPin")));
    if let Some(r) = &out.pin_retries {
        let power = if r.power_cycle_required == Some(true) { " (re-plug the key before the next attempt)" } else { "" };
        outln!("  PIN retries left      {}{power}", r.retries);
    }
    outln!("  minimum PIN length    {}", i.min_pin_length);
    outln!("  PIN change required   {}", if i.force_pin_change { "yes" } else { "no" });
    outln!("  alwaysUv              {}", yes_no(i.option("alwaysUv")));
    outln!("  enterprise attest.    {}", yes_no(i.option("ep")));
    outln!("  PIN/UV protocols      {:?}", i.pin_uv_auth_protocols);
    outln!("  algorithms            {:?}", i.algorithms);
    if let Some(n) = i.remaining_discoverable_credentials {
        outln!("  free passkey slots    {n}");
    }
    if let Some(v) = i.firmware_version_text() {
        outln!("  firmware              {v}");
    }
    if let Some(h) = &out.hid {
        outln!("  device version        {}.{}.{}", h.device_version.0, h.device_version.1, h.device_version.2);
    }
    let options: Vec<String> = i.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!("  options               {}", options.join(" "));
    Ok(Exit::Ok)
}

/// `keys watch` options.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Stop after this many events (default: run until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub max_events: Option<usize>,
}

pub async fn watch(sources: &KeySources, args: WatchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let options = WatchOptions { probe: Some(aaguid_probe(sources.clone())), ..Default::default() };
    let mut watcher = KeyWatcher::start(sources.clone(), options)?;
    if !ctx.json() {
        errln!("Watching for FIDO2 keys; press Ctrl-C to stop.");
    }
    let mut seen = 0;
    while args.max_events.is_none_or(|max| seen < max) && !stdout_closed() {
        let event = tokio::select! {
            e = watcher.recv() => e,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(event) = event else { break };
        seen += 1;
        if ctx.json() {
            // One event line per change, the key flat as `keys list` shows it.
            let (name, id) = match &event {
                KeyEvent::Arrived(id) => ("arrived", id),
                KeyEvent::Left(id) => ("left", id),
            };
            ctx.emit_event(name, &KeyJson::new(&id.descriptor, id.aaguid_string()));
        } else {
            let (what, id) = match &event {
                KeyEvent::Arrived(id) => ("arrived", id),
                KeyEvent::Left(id) => ("left   ", id),
            };
            let aaguid = id.aaguid_string().map(|a| format!("  AAGUID {a}")).unwrap_or_default();
            outln!("{what}  {}{}{aaguid}", id.descriptor.label(), serial_text(&id.descriptor).trim_end());
        }
    }
    ctx.print_json(&serde_json::json!({ "events": seen }))?;
    Ok(Exit::Ok)
}
