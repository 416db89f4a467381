//! `keystation report`: export the journal as CSV (default) or JSON.
use crate::cli::{CliContext, CliError, Exit};
use crate::station::journal::{JobFilter, Journal, JournalError};
use crate::station::report::{self, ReportFormat};
use std::path::PathBuf;

/// Output format choices.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Arguments of `keystation report`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Columns are listed in docs/journal.md. Dates are UTC days (YYYY-MM-DD) or RFC 3339 times.\n\
Report files are written with mode 0600: they contain UPNs, serials and possibly sealed PINs.")]
pub struct ReportArgs {
    /// Output format (default csv; --json implies json).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Jobs started on or after this day/time.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Jobs started on or before this day (or before this time).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only jobs in these states (comma-separated), e.g. needs-operator, failed, done, unfinished.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only jobs for this user (UPN, case-insensitive).
    #[arg(long, value_name = "UPN")]
    pub user: Option<String>,
    /// Only jobs of this batch run.
    #[arg(long, value_name = "ID")]
    pub batch: Option<String>,
    /// Write to FILE (mode 0600, replaced atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Leave the sealed PIN column out even when the configuration includes it.
    #[arg(long)]
    pub no_pins: bool,
}

/// Run `keystation report`.
pub async fn run(args: ReportArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let format = match (args.format, ctx.json()) {
        (Some(FormatArg::Csv), true) => return Err(CliError::usage("--json and --format csv contradict each other; pick one")),
        (Some(FormatArg::Json), _) | (None, true) => ReportFormat::Json,
        (Some(FormatArg::Csv), false) | (None, false) => ReportFormat::Csv,
    };
    let mut filter = JobFilter { user: args.user.clone(), batch_id: args.batch.clone(), ..JobFilter::default() };
    if let Some(s) = &args.since {
        filter.since = Some(report::parse_since(s).map_err(|e| CliError::usage(format!("--since: {e}")))?);
    }
    if let Some(u) = &args.until {
        filter.until = Some(report::parse_until(u).map_err(|e| CliError::usage(format!("--until: {e}")))?);
    }
    if let (Some(s), Some(u)) = (filter.since, filter.until)
        && s >= u
    {
        return Err(CliError::usage("--since is not before --until: the report would be empty"));
    }
    if let Some(s) = &args.state {
        filter.states = report::parse_states(s).map_err(|e| CliError::usage(format!("--state: {e}")))?;
    }

    let loaded = ctx.load_config(Default::default())?;
    let include_pins = loaded.config.handover.in_report && !args.no_pins;
    let path = loaded.config.journal.resolve(&ctx.state_dir);
    // A shared journal (a fleet) reports every station's jobs.
    let shared = loaded.config.journal.is_shared().then(|| loaded.config.journal.clone());
    let state_dir = ctx.state_dir.clone();

    let rows = tokio::task::spawn_blocking(move || -> Result<_, report::ReportError> {
        let journal = match shared {
            Some(j) => j.open(&state_dir)?,
            None => Journal::open_read_only(&path)?,
        };
        report::rows(&journal, &filter, include_pins)
    })
    .await
    .map_err(|e| CliError::failure(format!("report task failed: {e}")))?
    .map_err(|e| match e {
        report::ReportError::Journal(j @ JournalError::Missing { .. }) => CliError::usage(j.to_string()),
        other => CliError::failure(other.to_string()),
    })?;

    match &args.output {
        // --json: the rows are the envelope's result (docs/json.md).
        None if ctx.json() => ctx.print_json(&rows)?,
        // A closed pipe (`report | head`) drops the rest quietly (cli::output).
        None => report::write_rows(&rows, format, crate::cli::output::Stdout).map_err(|e| CliError::failure(e.to_string()))?,
        Some(file) => {
            let mut buf = Vec::new();
            report::write_rows(&rows, format, &mut buf).map_err(|e| CliError::failure(e.to_string()))?;
            report::write_private_file(file, &buf).map_err(|e| CliError::failure(e.to_string()))?;
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "output": file, "rows": rows.len() }))?;
            } else {
                errln!("wrote {} row(s) to {}", rows.len(), file.display());
            }
        }
    }
    Ok(Exit::Ok)
}
