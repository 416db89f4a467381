//! Options shared by every subcommand, and the process-wide setup they imply
//! (logging, state directory, TLS crypto provider, the `--json` result).
use crate::cli::json::ResultSlot;
use crate::cli::{CliError, Exit};
use clap::Args;
use std::path::PathBuf;

/// Options before (or, for the global ones, anywhere after) the subcommand.
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Machine-readable JSON on stdout instead of human text (docs/json.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// Station configuration file (TOML). Default: <config dir>/keystation/keystation.toml,
    /// else /etc/keystation/keystation.toml, when it exists.
    #[arg(long, global = true, env = "KEYSTATION_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the journal, token cache and screenshots live. Default: $XDG_STATE_HOME/keystation.
    #[arg(long, global = true, env = "KEYSTATION_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Virtual keys for the key commands (`keys`, `enroll`, `batch`, `kiosk`); also
    /// accepted after the subcommand. Hidden here: it does not apply to every command.
    #[arg(long = "virtual", value_name = "N", hide = true)]
    pub virtual_keys: Option<usize>,
    /// Keep virtual keys' storage in DIR (see `--virtual`).
    #[arg(long, value_name = "DIR", hide = true)]
    pub virtual_state: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also append logs to this file.
    #[arg(long, global = true, env = "KEYSTATION_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Virtual keys instead of USB keys, for the commands that use keys. Flatten it into
/// such a command's arguments (and return it from `Command::key_flags`).
#[derive(Args, Debug, Clone, Default)]
pub struct VirtualKeyFlags {
    /// Use N in-process virtual keys instead of USB keys (no hardware needed).
    #[arg(long = "virtual", global = true, env = "KEYSTATION_VIRTUAL", value_name = "N")]
    pub virtual_keys: Option<usize>,
    /// Keep virtual keys' storage in DIR so that PINs and credentials survive between runs.
    #[arg(long, global = true, env = "KEYSTATION_VIRTUAL_STATE", value_name = "DIR")]
    pub virtual_state: Option<PathBuf>,
}

/// What every subcommand gets: the global options (with `virtual_keys`/`virtual_state`
/// resolved from wherever they were given), resolved paths, and where its `--json`
/// result goes.
#[derive(Debug, Clone)]
pub struct CliContext {
    pub global: GlobalOpts,
    pub state_dir: PathBuf,
    /// The subcommand path, e.g. `keys list` (the envelope's `command`).
    pub command: String,
    result: ResultSlot,
}

impl CliContext {
    pub fn init(global: &GlobalOpts, command: &str) -> Result<CliContext, CliError> {
        // reqwest is built with `rustls-no-provider`: pick ring once, process-wide.
        let _ = rustls::crypto::ring::default_provider().install_default();
        init_logging(global)?;
        let state_dir = match &global.state_dir {
            Some(d) => d.clone(),
            None => default_state_dir()?,
        };
        Ok(CliContext { global: global.clone(), state_dir, command: command.to_string(), result: ResultSlot::default() })
    }

    /// A context for library callers and tests that run a command function directly.
    pub fn for_command(global: GlobalOpts, state_dir: PathBuf, command: &str) -> CliContext {
        CliContext { global, state_dir, command: command.to_string(), result: ResultSlot::default() }
    }

    pub fn json(&self) -> bool {
        self.global.json
    }

    /// Claim the state directory for a command that writes to it: one station per state
    /// directory (exit 9 names the process that has it), and a state path that is a
    /// file or read-only is reported as such before anything else is tried.
    pub fn claim_state_dir(&self) -> Result<std::sync::Arc<crate::station::state_dir::StationLock>, CliError> {
        crate::station::state_dir::StationLock::acquire(&self.state_dir).map_err(CliError::from)
    }

    /// Hand over the command's result for `--json` (docs/json.md): it becomes the
    /// envelope's `result`, written by `cli::main` when the command ends. Calling it
    /// again replaces the result.
    pub fn print_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        self.result.set(value)
    }

    /// One event line now (commands that run for a while): `{"event", "at", …fields}`.
    pub fn emit_event<T: serde::Serialize + ?Sized>(&self, name: &str, fields: &T) {
        crate::cli::json::emit_event(name, fields);
    }

    /// The station configuration as every command loads it: the file (`--config`, the
    /// user's, or /etc/keystation/keystation.toml), `KEYSTATION_*`, then `overrides`;
    /// with no tenant configured, the tenant of the last `keystation login` in the state
    /// directory. Warnings (deprecated spellings, unknown variables) go to standard
    /// error; a bad value is a usage error (exit 2).
    pub fn load_config(&self, overrides: crate::station::config::ConfigOverrides) -> Result<crate::station::config::LoadedConfig, CliError> {
        use crate::station::config::{signed_in, ConfigLoader};
        let loaded = ConfigLoader::for_cli(self.global.config.clone())
            .signed_in_tenant(signed_in::record_path(&self.state_dir))
            .overrides(overrides)
            .load()
            .map_err(|e| CliError::usage(e.to_string()))?;
        for w in &loaded.warnings {
            crate::cli::output::err_line(&format!("warning: {w}"));
        }
        Ok(loaded)
    }

    /// Write the envelope (with `--json`) or the error (without), and give the exit code.
    pub fn finish(&self, outcome: Result<Exit, CliError>) -> std::process::ExitCode {
        let (code, error) = match outcome {
            Ok(code) => (code, None),
            Err(e) => (e.code, Some(e)),
        };
        if self.json() {
            crate::cli::json::print_envelope(&self.command, code, error.as_ref(), &self.result);
        } else if let Some(e) = &error {
            e.print_human();
        }
        code.into()
    }
}

/// `$XDG_STATE_HOME/keystation` (Linux), the local app-data dir elsewhere.
pub fn default_state_dir() -> Result<PathBuf, CliError> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("keystation"))
        .ok_or_else(|| CliError::new(Exit::Usage, "cannot find a state directory; pass --state-dir DIR or set KEYSTATION_STATE_DIR"))
}

fn init_logging(global: &GlobalOpts) -> Result<(), CliError> {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    let default = match global.verbose {
        0 => "warn",
        1 => "info,keystation=info",
        2 => "info,keystation=debug",
        _ => "debug,keystation=trace",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal, and never with NO_COLOR: WARN lines in a redirected
    // standard error are plain text.
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(crate::cli::output::colour_on_stderr())
        .with_filter(filter());
    let file_layer = match &global.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| CliError::usage(format!("cannot open log file {}: {e}", path.display())))?;
            Some(fmt::layer().with_writer(std::sync::Mutex::new(file)).with_ansi(false).with_filter(filter()))
        }
        None => None,
    };
    let _ = tracing_subscriber::registry().with(stderr_layer).with(file_layer).try_init();
    Ok(())
}
