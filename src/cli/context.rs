//! Options shared by every subcommand, and the process-wide setup they imply
//! (logging, state directory, TLS crypto provider).
use crate::cli::{CliError, Exit};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Machine-readable JSON on stdout instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Station configuration file (TOML). Default: <config dir>/keystation/keystation.toml when it exists.
    #[arg(long, global = true, env = "KEYSTATION_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the journal, token cache and screenshots live. Default: $XDG_STATE_HOME/keystation.
    #[arg(long, global = true, env = "KEYSTATION_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Use N in-process virtual keys instead of USB keys (no hardware needed).
    #[arg(long = "virtual", global = true, env = "KEYSTATION_VIRTUAL", value_name = "N")]
    pub virtual_keys: Option<usize>,
    /// Keep virtual keys' storage in DIR so that PINs and credentials survive between runs.
    #[arg(long, global = true, env = "KEYSTATION_VIRTUAL_STATE", value_name = "DIR")]
    pub virtual_state: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also append logs to this file.
    #[arg(long, global = true, env = "KEYSTATION_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// What every subcommand gets: the parsed global options and resolved paths.
#[derive(Debug, Clone)]
pub struct CliContext {
    pub global: GlobalOpts,
    pub state_dir: PathBuf,
}

impl CliContext {
    pub fn init(global: &GlobalOpts) -> Result<CliContext, CliError> {
        // reqwest is built with `rustls-no-provider`: pick ring once, process-wide.
        let _ = rustls::crypto::ring::default_provider().install_default();
        init_logging(global)?;
        let state_dir = match &global.state_dir {
            Some(d) => d.clone(),
            None => default_state_dir()?,
        };
        Ok(CliContext { global: global.clone(), state_dir })
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

    /// Print a value as JSON (for `--json`).
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> Result<(), CliError> {
        let s = serde_json::to_string_pretty(value).map_err(|e| CliError::failure(format!("cannot encode JSON output: {e}")))?;
        outln!("{s}");
        Ok(())
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
    let stderr_layer = fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter());
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
