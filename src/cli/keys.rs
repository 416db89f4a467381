//! `keystation keys ...`: inspect and manage FIDO2 keys.
//!
//! A key is chosen with `--serial SERIAL`, `--key PATH` or `--index N` (as `keys list`
//! numbers them); with none, the only key present is used. `--virtual N` / `--virtual-state DIR` swap USB
//! keys for in-process virtual keys. PINs come from a prompt, stdin, an environment
//! variable or a file, never from argv. Logic lives in `crate::key`; this file parses,
//! chooses the key and prints.
#![warn(missing_docs)]
mod config;
mod credentials;
mod pin;
mod reset;
mod show;

use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::{KeySources, SourceOptions};
use crate::key::worker::{HandleOptions, KeyHandle};
use crate::key::{KeyDescriptor, KeyError};
use clap::{Args, Subcommand};
use std::sync::Arc;
use std::time::Duration;

/// `keystation keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The `keys` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List the FIDO2 keys plugged in (exit 0 also when there are none).
    List,
    /// Show one key's CTAP2 capabilities and state (getInfo, PIN retries).
    Info(KeyChoice),
    /// Print keys arriving and leaving until Ctrl-C (JSON lines with --json).
    Watch(show::WatchArgs),
    /// Set the first PIN of a key that has none.
    SetPin(pin::SetPinArgs),
    /// Change a key's PIN.
    ChangePin(pin::ChangePinArgs),
    /// Factory reset: erase every credential and the PIN (within 10 s of plugging in).
    Reset(reset::ResetArgs),
    /// Key settings: minimum PIN length, forced PIN change, alwaysUv, enterprise attestation.
    Config(config::ConfigArgs),
    /// List or delete the discoverable credentials (passkeys) on a key.
    Credentials(credentials::CredentialsArgs),
}

/// Which key, and how long a person gets to touch it.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyChoice {
    /// Use the key with this serial number (as `keystation keys list` shows it).
    #[arg(long, value_name = "SERIAL", conflicts_with_all = ["path", "index"])]
    pub serial: Option<String>,
    /// Use the key at this path (as `keystation keys list` shows it).
    #[arg(long = "key", value_name = "PATH", conflicts_with = "index")]
    pub path: Option<String>,
    /// Use key number N of `keystation keys list` (from 0).
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    /// Seconds to wait for a touch once the key asks for one.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub touch_timeout: u64,
}

/// Run `keystation keys ...`.
pub async fn run(args: KeysArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let sources = key_sources(ctx)?;
    match args.command {
        KeysCommand::List => show::list(&sources, ctx).await,
        KeysCommand::Info(choice) => show::info(&sources, &choice, ctx).await,
        KeysCommand::Watch(a) => show::watch(&sources, a, ctx).await,
        KeysCommand::SetPin(a) => pin::set_pin(&sources, a, ctx).await,
        KeysCommand::ChangePin(a) => pin::change_pin(&sources, a, ctx).await,
        KeysCommand::Reset(a) => reset::run(&sources, a, ctx).await,
        KeysCommand::Config(a) => config::run(&sources, a, ctx).await,
        KeysCommand::Credentials(a) => credentials::run(&sources, a, ctx).await,
    }
}

/// USB keys, or the virtual keys the global options ask for.
fn key_sources(ctx: &CliContext) -> Result<KeySources, CliError> {
    let options = SourceOptions { virtual_keys: ctx.global.virtual_keys, virtual_state: ctx.global.virtual_state.clone(), attestation_ca_dir: None };
    KeySources::from_options(&options).map_err(|e| match e {
        KeyError::Transport(text) => CliError::usage(text),
        other => other.into(),
    })
}

/// The message for "no key at all"; `keys info` and friends exit with [`Exit::NoKey`].
pub const NO_KEY_MESSAGE: &str = "no FIDO2 key was found; plug one in (on Linux without root, install the udev rule: see docs/udev.md), or use --virtual N for virtual keys";

fn listing(keys: &[KeyDescriptor]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let serial = k.serial.as_deref().map(|s| format!("--serial {s}  ")).unwrap_or_default();
            format!("\n  {serial}--index {i}  --key {}  {}", k.path, k.label())
        })
        .collect()
}

/// The key object of every `--json` output (docs/json.md): how enumeration shows the
/// key, flat, plus its AAGUID when it was read.
#[derive(serde::Serialize, Debug, Clone)]
pub struct KeyJson {
    /// Backend, path, vendor/product ids, strings, serial.
    #[serde(flatten)]
    pub descriptor: KeyDescriptor,
    /// The AAGUID (8-4-4-4-12), when getInfo was read.
    pub aaguid: Option<String>,
}

impl KeyJson {
    /// The key object of a descriptor.
    pub fn new(descriptor: &KeyDescriptor, aaguid: Option<String>) -> KeyJson {
        KeyJson { descriptor: descriptor.clone(), aaguid }
    }
}

/// "serial 1234  " for human output, or nothing when the key exposes none.
pub fn serial_text(d: &KeyDescriptor) -> String {
    d.serial.as_deref().map(|s| format!("  serial {s}  ")).unwrap_or_else(|| "  ".into())
}

/// Whether the choice names a particular key.
impl KeyChoice {
    /// `--serial`, `--key` or `--index` was given.
    pub fn names_a_key(&self) -> bool {
        self.serial.is_some() || self.path.is_some() || self.index.is_some()
    }
}

/// Pick the key the options name, or the only one present.
pub fn choose(sources: &KeySources, choice: &KeyChoice) -> Result<KeyDescriptor, CliError> {
    let keys = sources.enumerate()?;
    if keys.is_empty() {
        return Err(CliError::new(Exit::NoKey, NO_KEY_MESSAGE));
    }
    if let Some(serial) = &choice.serial {
        let wanted = serial.trim();
        return keys
            .iter()
            .find(|k| k.serial.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| CliError::new(Exit::NoKey, format!("no key with serial {wanted}; the keys present are:{}", listing(&keys))));
    }
    if let Some(path) = &choice.path {
        return keys
            .iter()
            .find(|k| &k.path == path)
            .cloned()
            .ok_or_else(|| CliError::new(Exit::NoKey, format!("no key at {path}; the keys present are:{}", listing(&keys))));
    }
    if let Some(i) = choice.index {
        return keys.get(i).cloned().ok_or_else(|| CliError::new(Exit::NoKey, format!("there is no key number {i}; the keys present are:{}", listing(&keys))));
    }
    match keys.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(CliError::usage(format!("{} keys are plugged in; choose one with --serial SERIAL, --key PATH or --index N:{}", keys.len(), listing(&keys)))),
    }
}

/// Handle options for the CLI: prompts go to stderr so that stdout stays clean for --json.
pub fn handle_options(choice: &KeyChoice) -> HandleOptions {
    HandleOptions {
        touch_timeout: Duration::from_secs(choice.touch_timeout.max(1)),
        on_touch: Some(Arc::new(|d: &KeyDescriptor| errln!("Touch the key now: {}", d.label()))),
        ..Default::default()
    }
}

/// Choose and open a key.
pub async fn open_chosen(sources: &KeySources, choice: &KeyChoice) -> Result<KeyHandle, CliError> {
    let descriptor = choose(sources, choice)?;
    let io = sources.open(&descriptor)?;
    Ok(KeyHandle::open(descriptor, io, handle_options(choice)).await?)
}

/// Whether a person can be asked on the terminal (and `--json` is not in use).
pub(crate) fn interactive(ctx: &CliContext) -> bool {
    use std::io::IsTerminal;
    !ctx.json() && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on the terminal; `default` when the answer is empty.
pub(crate) fn ask(question: &str, default: bool) -> bool {
    use std::io::{BufRead, Write};
    crate::cli::progress::err_text(&format!("{question} "));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    match line.trim().to_ascii_lowercase().as_str() {
        "" => default,
        a => a == "y" || a == "yes",
    }
}

/// Run a key operation until it ends or the operator presses Ctrl-C (which cancels it:
/// dropping the operation's future sends CTAPHID_CANCEL).
pub async fn until_ctrl_c<T>(op: impl std::future::Future<Output = Result<T, KeyError>>) -> Result<T, CliError> {
    tokio::select! {
        r = op => r.map_err(CliError::from),
        _ = tokio::signal::ctrl_c() => Err(CliError::new(Exit::Cancelled, "cancelled by the operator (Ctrl-C)")),
    }
}
