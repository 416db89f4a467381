//! `keystation batch users.csv`: provision a key for every user in a CSV file, several
//! keys at once on a hub. The scheduling lives in `station::batch`; this file parses,
//! opens the station, shows progress and maps the result to an exit code.
use crate::ceremony::RegistrationPath;
use crate::cli::progress::{out_text, table, BatchDisplay, OutputMode, SlipPolicy};
use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::{KeySources, SourceOptions};
use crate::key::virtual_key::AttestationCa;
use crate::station::batch::{
    batch_id_for_path, check_batch_id, plan_batch, precheck_batch, read_batch_file, run_batch, BatchControl, BatchEnd, BatchFileError, BatchOptions, BatchPlan, BatchReport, BatchSink,
    Disposition, KeySupply,
};
use crate::station::config::{ConfigOverrides, StationConfig};
use crate::station::demo::{DeskOptions, VirtualDesk};
use crate::station::journal::{JobMode, Journal, SharedJournal};
use crate::station::pin::PinSource;
use crate::station::pipeline::{ConnectOptions, JobSpec, Station, StationError, StationSetup};
use crate::station::setup::Connection;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use super::enroll::flags::ViaArg;

/// Options shared by the station modes (batch, kiosk): the configuration overrides
/// every station command takes (`--tenant`, `--pin-length`, `--recipient`, `--set`, …),
/// the registration path and the touch time.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StationOpts {
    #[command(flatten)]
    pub flags: crate::cli::enroll::flags::StationFlags,
    /// Registration path for every job (default: the tenant's `registration`).
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<ViaArg>,
    /// Seconds a person gets to touch a key once it asks.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub touch_timeout: u64,
}

/// Arguments of `keystation batch`.
#[derive(clap::Args, Debug)]
#[command(after_help = "CSV columns: upn (or userPrincipalName, user; required), display_name, pin_length, pin_alphabet, pin_policy, replace (yes: delete the user's older keys once the new one is registered).\n\
A file without a header is one UPN per line. Bad rows are reported with their line number and skipped.\n\
Re-running the same file skips users already done and resumes interrupted ones.\n\
With --virtual N, N virtual keys are on the hub at the start and each is used once.\n\
Guide: docs/operator-guide-batch.md")]
pub struct BatchArgs {
    /// The user list (CSV).
    #[arg(value_name = "FILE", required_unless_present = "queue")]
    pub file: Option<PathBuf>,
    /// Work the shared queue NAME instead of a file: claim users as keys arrive, with
    /// the other stations of the fleet (docs/fleet.md).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["file", "batch_id", "dry_run", "skip_existing", "replace_existing"])]
    pub queue: Option<String>,
    /// Keys provisioned at the same time (1–32; default from `batch.concurrency`).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<u32>,
    /// Extra attempts per user in this run when a key is pulled out or Entra keeps failing.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// Name the batch (default: derived from the file's path, so re-runs continue it).
    #[arg(long, value_name = "ID")]
    pub batch_id: Option<String>,
    /// Show what would be done for each row; touch no key and no tenant.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace every user's existing security keys: once the new key is registered, the
    /// user's other FIDO2 methods are deleted in Entra (recorded in the journal). The
    /// `replace` column does this per row.
    #[arg(long, conflicts_with = "skip_existing")]
    pub replace_existing: bool,
    /// Skip users who already have a passkey (FIDO2 method) in Entra (one Graph read per
    /// user); a row whose `replace` column is yes is still enrolled (and replaced).
    #[arg(long)]
    pub skip_existing: bool,
    #[command(flatten)]
    pub station: StationOpts,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
}

/// Run `keystation batch`.
pub async fn run(args: BatchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if let Some(n) = args.concurrency
        && !(1..=32).contains(&n)
    {
        return Err(CliError::usage(format!("--concurrency {n} is out of range: use 1 to 32 keys at once")));
    }
    if let Some(queue) = args.queue.clone() {
        return crate::cli::queue::run_batch(args, queue, ctx).await;
    }
    let Some(file_path) = args.file.clone() else {
        return Err(CliError::usage("give the user list (a CSV file), or --queue NAME"));
    };
    let overrides = ConfigOverrides { batch_concurrency: args.concurrency, ..station_overrides(&args.station) };
    let config = load_config(ctx, overrides)?;
    // One station per state directory; a dry run only reads and runs alongside.
    let _claim = if args.dry_run { None } else { Some(ctx.claim_state_dir()?) };
    if config.pin.source == PinSource::UserAtDesk {
        return Err(CliError::usage(
            "pin.source is user-at-desk, but a batch has nobody at the desk to choose a PIN; use `keystation kiosk`, or run the batch with --set pin.source=random",
        ));
    }
    let file = read_batch_file(&file_path).map_err(|e| match e {
        BatchFileError::Io { .. } => CliError::usage(format!("{e}; check the path")),
        BatchFileError::Format { .. } => CliError::usage(e.to_string()),
    })?;
    let batch_id = match &args.batch_id {
        Some(id) => check_batch_id(id).map_err(|e| CliError::usage(format!("--batch-id: {e}")))?.to_string(),
        None => batch_id_for_path(&file_path),
    };
    for w in &file.warnings {
        errln!("warning: {}: {w}", file_path.display());
    }

    let sources = key_sources(ctx)?;
    let scratch = tempfile::tempdir().map_err(|e| CliError::failure(format!("cannot make a temporary directory: {e}")))?;
    let station = if args.dry_run { open_station_read_only(ctx, config, scratch.path()).await? } else { open_station(ctx, config, Some(sources.clone())).await? };
    let via = args.station.via.map(RegistrationPath::from);
    check_via(&station, via)?;
    let mut plan = plan_batch(&station, file, batch_id).await.map_err(station_error)?;
    if args.skip_existing {
        crate::station::batch::skip_existing(&station, &mut plan).await;
    }

    if args.dry_run {
        return dry_run(ctx, &station, &plan, via, args.replace_existing).await;
    }

    let mode = OutputMode::detect(ctx.json());
    let display = Arc::new(BatchDisplay::new(mode, SlipPolicy::ShowAll));
    let (sink, supply): (Arc<dyn BatchSink>, KeySupply) = match sources.hub() {
        // Virtual keys: nobody is at the hub, so finished keys are taken out at once
        // and no new key comes: the N keys of --virtual N are all there is.
        Some(hub) => {
            let desk = VirtualDesk::new(hub.clone(), display.clone(), DeskOptions { remove_after: Duration::ZERO, plug_after: Duration::ZERO, spare_keys: 0, factory: None });
            (Arc::new(desk), KeySupply::Finite)
        }
        None => (display.clone(), KeySupply::Open),
    };
    let options = BatchOptions {
        concurrency: station.config().batch.concurrency as usize,
        retries: args.retries,
        supply,
        touch_timeout: Duration::from_secs(args.station.touch_timeout.max(1)),
        via,
        mode: JobMode::Batch,
        replace_existing: args.replace_existing,
        ..BatchOptions::default()
    };
    let control = BatchControl::default();
    let ctrl_c = spawn_interrupt_handler(control.clone());
    let report = run_batch(Arc::clone(&station), sources, plan, options, sink, control).await;
    ctrl_c.abort();
    finish(ctx, mode, &report)
}

/// Print a batch's summary (or its JSON result) and map how it ended to the exit code;
/// the same for a CSV batch and a queue.
pub(crate) fn finish(ctx: &CliContext, mode: OutputMode, report: &BatchReport) -> Result<Exit, CliError> {
    if mode != OutputMode::Json {
        out_text(&format!("\n{}", table::batch_summary(report)));
    } else {
        ctx.print_json(report)?;
    }
    Ok(match report.end {
        BatchEnd::AllDone => Exit::Ok,
        BatchEnd::Partial => Exit::PartialFailure,
        BatchEnd::NeedsOperator => Exit::NeedsOperator,
        BatchEnd::Cancelled => Exit::Cancelled,
    })
}

/// First Ctrl-C: take no new key, let running keys finish. Second: cancel them too.
pub(crate) fn spawn_interrupt_handler(control: BatchControl) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            control.stop.cancel();
            errln!("\nstopping after the keys in progress (Ctrl-C again cancels them)");
            if tokio::signal::ctrl_c().await.is_ok() {
                control.abort.cancel();
            }
        }
    })
}

/// The configuration overrides every station mode takes.
pub(crate) fn station_overrides(opts: &StationOpts) -> ConfigOverrides {
    opts.flags.overrides()
}

/// File (`--config` or the default location) → environment → overrides.
pub(crate) fn load_config(ctx: &CliContext, overrides: ConfigOverrides) -> Result<StationConfig, CliError> {
    Ok(ctx.load_config(overrides)?.config)
}

/// USB keys, or `--virtual N` keys whose attestation CA is the one in the state dir
/// (`keystation simulator` trusts it from there).
pub(crate) fn key_sources(ctx: &CliContext) -> Result<KeySources, CliError> {
    let options = SourceOptions {
        virtual_keys: ctx.global.virtual_keys,
        virtual_state: ctx.global.virtual_state.clone(),
        attestation_ca_dir: ctx.global.virtual_keys.map(|_| AttestationCa::default_dir(&ctx.state_dir)),
    };
    KeySources::from_options(&options).map_err(|e| CliError::usage(e.to_string()))
}

/// Open the station (journal, sign-in settings, Graph client); nothing is sent to Entra.
pub(crate) async fn open_station(ctx: &CliContext, config: StationConfig, sources: Option<KeySources>) -> Result<Arc<Station>, CliError> {
    let mut setup = StationSetup::from_config(config, &ctx.state_dir, &ConnectOptions::default()).map_err(station_error)?;
    setup.sources = sources;
    Ok(Arc::new(Station::open(setup).await.map_err(station_error)?))
}

/// A station that only reads (dry runs): the journal opened read-only, or a throwaway
/// one in `scratch` when there is none yet; no lock, nothing written, nothing sent.
pub(crate) async fn open_station_read_only(ctx: &CliContext, config: StationConfig, scratch: &std::path::Path) -> Result<Arc<Station>, CliError> {
    let path = config.journal.resolve(&ctx.state_dir);
    let journal = if path.exists() { Journal::open_read_only(&path) } else { Journal::open(scratch.join("dry-run.sqlite")) }.map_err(|e| CliError::failure(e.to_string()))?;
    let graph = Connection::new(&config, &ConnectOptions::default())?.graph(&ctx.state_dir)?;
    let setup = StationSetup::new(config, &ctx.state_dir, SharedJournal::new(journal), graph)?;
    Ok(Arc::new(Station::open(setup).await?))
}

/// `--via PATH` needs a registrar for that path.
pub(crate) fn check_via(station: &Station, via: Option<RegistrationPath>) -> Result<(), CliError> {
    if let Some(path) = via
        && station.setup().registrars.get(path).is_none()
    {
        return Err(CliError::new(
            Exit::Environment,
            format!("--via {path}: this keystation has no {path} registration path wired into the station; use --via graph (or leave --via out)"),
        ));
    }
    Ok(())
}

/// A station-level failure as an exit code and message.
pub(crate) fn station_error(e: StationError) -> CliError {
    CliError::from(e)
}

#[derive(Serialize)]
struct DryRunRow {
    line: u64,
    user: Option<String>,
    action: &'static str,
    detail: String,
    display_name: Option<String>,
    pin_policy: Option<String>,
}

async fn dry_run(ctx: &CliContext, station: &Station, plan: &BatchPlan, via: Option<RegistrationPath>, replace_all: bool) -> Result<Exit, CliError> {
    // The users are checked with the tenant (reads only), as a real run does first.
    let check = precheck_batch(station, plan, via).await;
    if let Some(e) = &check.station_wide {
        let code: Exit = e.class().into();
        return Err(CliError::new(code, format!("the users could not be checked: {}", e.journal_text())));
    }
    let mut rows = Vec::new();
    for p in &plan.file.problems {
        rows.push(DryRunRow { line: p.line, user: p.upn.clone(), action: "skip (bad row)", detail: p.message.clone(), display_name: None, pin_policy: None });
    }
    for r in &plan.rows {
        let pin = &r.row.pin;
        let pin_policy = (!pin.is_empty()).then(|| {
            let mut parts = Vec::new();
            if let Some(l) = pin.length {
                parts.push(format!("length {l}"));
            }
            if let Some(a) = pin.alphabet {
                parts.push(format!("{a:?}").to_lowercase());
            }
            parts.join(", ")
        });
        let (action, detail) = match &r.disposition {
            Disposition::Provision if check.refused.contains_key(&r.row.line) => {
                let e = &check.refused[&r.row.line];
                ("refuse", format!("the tenant would refuse this user, no key is used: {}", e.journal_text()))
            }
            Disposition::Provision if check.unchecked.contains_key(&r.row.line) => {
                ("provision", format!("could not be checked now ({}); checked again when its key arrives", check.unchecked[&r.row.line].message))
            }
            Disposition::Provision if r.earlier_attempts > 0 => ("provision", format!("retry after {} failed attempt(s)", r.earlier_attempts)),
            Disposition::Provision => ("provision", "next key on the hub".to_string()),
            Disposition::Resume(item) => ("resume", item.summary.clone()),
            Disposition::Skip(res) => ("skip", res.reason.clone().unwrap_or_default()),
        };
        let mut detail = detail;
        if action == "provision" && (r.row.replace || replace_all) {
            detail.push_str("; then the user's older security keys are deleted in Entra (replace)");
        }
        rows.push(DryRunRow { line: r.row.line, user: Some(r.row.upn.clone()), action, detail, display_name: r.row.display_name.clone(), pin_policy });
    }
    rows.sort_by_key(|r| r.line);
    let mut spec = JobSpec::new(JobMode::Batch, plan.rows.first().map(|r| r.row.upn.clone()).unwrap_or_default());
    spec.via = via;
    let steps = station.plan(&spec, None).await;
    // A user the tenant would refuse makes the dry run fail like the run would (7).
    let exit = if check.refused.is_empty() { Exit::Ok } else { Exit::PartialFailure };
    if ctx.json() {
        ctx.print_json(&serde_json::json!({"batch_id": plan.batch_id, "file": plan.file.path, "rows": rows, "plan": steps, "warnings": plan.file.warnings, "refused": check.refused.len()}))?;
    } else {
        let mut text = format!("Batch {} ({}): dry run, nothing is written to keys, Entra or the journal.\n\n", plan.batch_id, plan.file.path.display());
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut detail = r.detail.clone();
                if let Some(n) = &r.display_name {
                    detail.push_str(&format!("; key name \"{n}\""));
                }
                if let Some(p) = &r.pin_policy {
                    detail.push_str(&format!("; PIN {p}"));
                }
                vec![r.line.to_string(), table::clip(r.user.as_deref().unwrap_or("-"), 36), r.action.to_string(), detail]
            })
            .collect();
        text.push_str(&table::render(&["LINE", "USER", "ACTION", "DETAIL"], &table_rows));
        text.push_str(&format!("\nFor every key (shown for the first user):\n{steps}\n"));
        if !check.refused.is_empty() {
            text.push_str(&format!("\n{} user(s) would be refused by the tenant (action \"refuse\"): fix them (keystation doctor --users FILE) or take them out of the file.\n", check.refused.len()));
        }
        out_text(&text);
    }
    Ok(exit)
}
