//! `keystation console`: the web console (`crate::console`) for the desk, the hub and the
//! journal. This file parses the options, starts it, tells the operator where it is and
//! waits for Ctrl-C (or SIGTERM).
use crate::cli::batch::{check_via, key_sources, load_config, open_station, station_overrides, StationOpts};
use crate::cli::{CliContext, CliError, Exit};
use crate::ceremony::RegistrationPath;
use crate::console::launch::LinkFiles;
use crate::console::{ConsoleHandle, ConsoleOptions, VirtualPeople};
use crate::station::config::{parse_listen, ConfigOverrides};
use std::io::IsTerminal;
use std::time::Duration;

/// Arguments of `keystation console`.
#[derive(clap::Args, Debug)]
#[command(after_help = "The console listens on 127.0.0.1 unless [console] configures HTTPS and an operator password.\n\
It prints a sign-in link on the terminal (and keeps it in <state dir>/console.url, readable by you only);\n\
the link's token never appears in a log or on a command line.\n\
Guide: docs/console.md")]
pub struct ConsoleArgs {
    /// Address and port to listen on (default: console.listen, 127.0.0.1:8470; port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Open the desk at once (a kiosk screen): the link leads straight to it.
    #[arg(long)]
    pub desk: bool,
    /// Open the console in this desktop's browser.
    #[arg(long)]
    pub open: bool,
    /// Seconds the desk waits for a key after a name.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub key_timeout: u64,
    /// Extra attempts per user in a batch when a key is pulled out or Entra keeps failing.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    #[command(flatten)]
    pub station: StationOpts,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
}

/// Run `keystation console`.
pub async fn run(args: ConsoleArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    // The console writes the journal: one station per state directory.
    let _claim = ctx.claim_state_dir()?;
    let mut overrides: ConfigOverrides = station_overrides(&args.station);
    if let Some(listen) = &args.listen {
        parse_listen(listen).map_err(|m| CliError::usage(format!("--listen {m}")))?;
        overrides.set.push(format!("console.listen={listen}"));
    }
    let config = load_config(ctx, overrides)?;
    let mut options = ConsoleOptions::from_config(&config.console, &ctx.state_dir).map_err(CliError::usage)?;
    let sources = key_sources(ctx)?;
    let station = open_station(ctx, config, Some(sources.clone())).await?;
    let via = args.station.via.map(RegistrationPath::from);
    check_via(&station, via)?;

    options.kiosk.key_timeout = Duration::from_secs(args.key_timeout.max(1));
    options.kiosk.touch_timeout = Duration::from_secs(args.station.touch_timeout.max(1));
    options.kiosk.via = via;
    options.batch.concurrency = station.config().batch.concurrency as usize;
    options.batch.retries = args.retries;
    options.batch.touch_timeout = options.kiosk.touch_timeout;
    options.batch.via = via;
    // --virtual N: simulated people plug the N keys in when asked (each once).
    options.people = sources.hub().map(|hub| VirtualPeople { hub: hub.clone(), factory: None, spare_keys: 0, pace: Duration::ZERO, linger: Duration::ZERO });

    let console = crate::console::start(station, sources, options).await.map_err(|e| match e {
        crate::console::ConsoleError::Config(m) => CliError::usage(m),
        other => CliError::failure(other.to_string()),
    })?;
    if args.desk {
        console.open_desk().map_err(CliError::failure)?;
    }
    // Listening for Ctrl-C/SIGTERM before the "started" line: a stop right after it is clean.
    let stop = crate::cli::stop::StopSignals::new();
    let _files = announce(ctx, &ctx.state_dir, &console, if args.desk { "desk" } else { "" }, args.open)?;
    stop.wait().await;
    errln!("stopping the console (jobs in progress are recorded; a restart resumes them)");
    console.shutdown().await;
    Ok(Exit::Ok)
}

/// Tell the operator where the console is: the sign-in link on the terminal (never in a
/// pipe or a log: there, only the path of the private file in `dir` that holds it), and
/// open a browser when asked. The returned files are removed when dropped.
pub(crate) fn announce(ctx: &CliContext, dir: &std::path::Path, console: &ConsoleHandle, page: &str, open: bool) -> Result<LinkFiles, CliError> {
    let link = console.sign_in_link(page);
    let files = LinkFiles::write(dir, &link).map_err(CliError::failure)?;
    if ctx.json() {
        ctx.emit_event("console_started", &serde_json::json!({"address": console.base_url(), "link_file": files.link_file, "open_file": files.open_file}));
    } else {
        outln!("keystation console at {}", console.base_url());
        if std::io::stdout().is_terminal() {
            outln!("Sign in with this link (it is a key to the console; do not share it):\n  {}", link.expose());
        } else {
            outln!("The sign-in link is in {} (readable by you only).", files.link_file.display());
        }
        outln!("Ctrl-C stops the console.");
    }
    if open && let Err(e) = files.open_in_browser() {
        errln!("warning: {e}");
    }
    Ok(files)
}
