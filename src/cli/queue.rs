//! `keystation queue load|status` and `keystation batch --queue NAME`: a fleet of
//! stations sharing one queue of users in the PostgreSQL journal (docs/fleet.md), or
//! one station working a queue in its own SQLite journal. The
//! queue itself lives in `station::journal` (claims, leases, fencing) and
//! `station::batch::queue` (a station working it); this file parses and prints.
use crate::cli::batch::{check_via, key_sources, load_config, open_station, spawn_interrupt_handler, station_overrides, BatchArgs};
use crate::cli::progress::{out_text, table, BatchDisplay, OutputMode, SlipPolicy};
use crate::cli::{CliContext, CliError, Exit};
use crate::ceremony::RegistrationPath;
use crate::key::virtual_key::{AttestationCa, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use crate::station::batch::{read_batch_file, run_queue, BatchControl, BatchFileError, BatchOptions, BatchSink, KeySupply, QueueOptions};
use crate::station::config::{ConfigOverrides, StationConfig};
use crate::station::demo::{DeskOptions, KeyFactory, VirtualDesk};
use crate::station::journal::{Journal, JournalError, QueueRow, QueueStatus};
use crate::station::pin::PinSource;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `keystation queue`.
#[derive(clap::Args, Debug)]
#[command(after_help = "A queue lives in the journal: the shared one ([journal] url, docs/fleet.md), which any number of stations work with `keystation batch --queue NAME`, or this station's own SQLite file (one station).")]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: QueueCommand,
}

/// `keystation queue …`.
#[derive(clap::Subcommand, Debug)]
pub enum QueueCommand {
    /// Add the users of a CSV file to a queue (idempotent: users already in it are left as they are).
    Load(LoadArgs),
    /// Done, running, pending and parked users, per station, with rate and ETA.
    Status(StatusArgs),
}

/// `keystation queue load NAME users.csv`.
#[derive(clap::Args, Debug)]
#[command(after_help = "CSV columns as for `keystation batch`. Bad rows are reported with their line number and not loaded; exit 7 if there were any.")]
pub struct LoadArgs {
    /// Queue name (letters, digits, `-`, `_`, `.`).
    #[arg(value_name = "NAME")]
    pub queue: String,
    /// The user list (CSV).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `keystation queue status NAME`.
#[derive(clap::Args, Debug)]
#[command(after_help = "--json prints {\"queue\", \"counts\": {\"pending\", \"running\", \"done\", \"parked\"}, \"stations\": [{\"name\", \"host\", \"running\", \"done\", \"last_seen\"}], \"rate_per_min\", \"eta_s\"} (docs/fleet.md).")]
pub struct StatusArgs {
    /// Queue name.
    #[arg(value_name = "NAME")]
    pub queue: String,
    /// Print again every SECS seconds until the queue is finished (Ctrl-C stops).
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<u64>,
}

/// Run `keystation queue …`.
pub async fn run(args: QueueArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        QueueCommand::Load(a) => load(a, ctx).await,
        QueueCommand::Status(a) => status(a, ctx).await,
    }
}

fn check_name(name: &str) -> Result<(), CliError> {
    crate::station::batch::check_batch_id(name).map(|_| ()).map_err(|e| CliError::usage(format!("queue name: {e}")))
}

fn journal_error(e: JournalError) -> CliError {
    match e {
        JournalError::Config(m) => CliError::usage(m),
        other => CliError::failure(other.to_string()),
    }
}

/// The configured journal: the shared one of a fleet, or this station's own SQLite file
/// (a queue only this station works; the state directory's claim keeps it to one).
async fn open_journal(config: &StationConfig, ctx: &CliContext) -> Result<Journal, CliError> {
    let journal = config.journal.clone();
    let state_dir = ctx.state_dir.clone();
    tokio::task::spawn_blocking(move || journal.open(&state_dir)).await.map_err(|e| CliError::failure(e.to_string()))?.map_err(journal_error)
}

async fn load(args: LoadArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    check_name(&args.queue)?;
    let config = load_config(ctx, ConfigOverrides::default())?;
    let file = read_batch_file(&args.file).map_err(|e| match e {
        BatchFileError::Io { .. } => CliError::usage(format!("{e}; check the path")),
        BatchFileError::Format { .. } => CliError::usage(e.to_string()),
    })?;
    for w in &file.warnings {
        errln!("warning: {}: {w}", args.file.display());
    }
    for p in &file.problems {
        errln!("line {}: {}", p.line, p.message);
    }
    let rows: Vec<QueueRow> = file
        .rows
        .iter()
        .map(|r| QueueRow { line: r.line, upn: r.upn.clone(), display_name: r.display_name.clone(), pin_policy: (!r.pin.is_empty()).then(|| r.pin.to_text()) })
        .collect();
    let mut journal = open_journal(&config, ctx).await?;
    let queue = args.queue.clone();
    let out = tokio::task::spawn_blocking(move || journal.queue_load(&queue, &rows)).await.map_err(|e| CliError::failure(e.to_string()))?.map_err(journal_error)?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "queue": args.queue, "added": out.added, "already": out.already, "bad_rows": file.problems.iter().map(|p| serde_json::json!({"line": p.line, "message": p.message})).collect::<Vec<_>>() }))?;
    } else {
        out_text(&format!("queue {}: {} user(s) added, {} already in it, {} bad row(s)", args.queue, out.added, out.already, file.problems.len()));
    }
    Ok(if file.problems.is_empty() { Exit::Ok } else { Exit::PartialFailure })
}

fn status_text(s: &QueueStatus) -> String {
    let c = &s.counts;
    let eta = match s.eta_s {
        Some(0) => "finished".to_string(),
        Some(e) => format!("ETA {}", table_duration(e)),
        None => "ETA unknown (nothing finished in the last 5 minutes)".to_string(),
    };
    let mut out = format!(
        "queue {}: {} done, {} running, {} pending, {} parked — {:.1} users/min, {eta}\n",
        s.queue, c.done, c.running, c.pending, c.parked, s.rate_per_min
    );
    if !s.stations.is_empty() {
        let rows: Vec<Vec<String>> = s.stations.iter().map(|st| vec![st.name.clone(), st.host.clone(), st.running.to_string(), st.done.to_string(), st.state.clone(), st.last_seen.clone()]).collect();
        out.push_str(&table::render(&["STATION", "HOST", "RUNNING", "DONE", "STATE", "LAST SEEN"], &rows));
    }
    out
}

fn table_duration(s: u64) -> String {
    if s < 120 { format!("{s} s") } else if s < 7200 { format!("{} min", s / 60) } else { format!("{:.1} h", s as f64 / 3600.0) }
}

async fn status(args: StatusArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    check_name(&args.queue)?;
    let config = load_config(ctx, ConfigOverrides::default())?;
    let journal = Arc::new(std::sync::Mutex::new(open_journal(&config, ctx).await?));
    loop {
        let (j, q) = (Arc::clone(&journal), args.queue.clone());
        let s = tokio::task::spawn_blocking(move || j.lock().map_err(|_| JournalError::Poisoned)?.queue_status(&q))
            .await
            .map_err(|e| CliError::failure(e.to_string()))?
            .map_err(journal_error)?;
        if ctx.json() {
            ctx.print_json(&s)?;
        } else {
            out_text(&status_text(&s));
        }
        let Some(secs) = args.watch else { return Ok(Exit::Ok) };
        if s.counts.pending + s.counts.running == 0 {
            return Ok(Exit::Ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(Exit::Ok),
        }
    }
}

/// `keystation batch --queue NAME`: work the queue until every user is done or parked.
pub async fn run_batch(args: BatchArgs, queue: String, ctx: &CliContext) -> Result<Exit, CliError> {
    check_name(&queue)?;
    let overrides = ConfigOverrides { batch_concurrency: args.concurrency, ..station_overrides(&args.station) };
    let config = load_config(ctx, overrides)?;
    if config.pin.source == PinSource::UserAtDesk {
        return Err(CliError::usage("pin.source is user-at-desk, but a queue has nobody at the desk to choose a PIN; run the stations with --set pin.source=random"));
    }
    let lease = config.journal.lease();
    let sources = key_sources(ctx)?;
    let station = open_station(ctx, config, Some(sources.clone())).await?;
    let via = args.station.via.map(RegistrationPath::from);
    check_via(&station, via)?;

    let mode = OutputMode::detect(ctx.json());
    let display = Arc::new(BatchDisplay::new(mode, SlipPolicy::ShowAll));
    let sink: Arc<dyn BatchSink> = match sources.hub() {
        // --virtual N: a simulated operator keeps N fresh blank keys on the hub until the
        // queue is finished (the demo's hub), so a station runs unattended.
        Some(hub) => {
            let ca = AttestationCa::load_or_create(&AttestationCa::default_dir(&ctx.state_dir)).map_err(|e| CliError::failure(e.to_string()))?;
            let attestation = VirtualAttestation::Batch(Arc::new(ca));
            let next = Arc::new(AtomicUsize::new(ctx.global.virtual_keys.unwrap_or(0)));
            let factory: KeyFactory = Arc::new(move || {
                let index = next.fetch_add(1, Ordering::SeqCst);
                VirtualKey::try_new(VirtualKeyConfig { index: Some(index), attestation: attestation.clone(), ..Default::default() }).map_err(|e| e.to_string())
            });
            let desk = VirtualDesk::new(hub.clone(), display.clone(), DeskOptions { remove_after: Duration::ZERO, plug_after: Duration::ZERO, spare_keys: usize::MAX, factory: Some(factory) });
            desk.keep_plugging();
            Arc::new(desk)
        }
        None => display.clone(),
    };
    let mut options = QueueOptions::new(queue, lease);
    options.batch = BatchOptions {
        concurrency: station.config().batch.concurrency as usize,
        retries: args.retries,
        supply: KeySupply::Open,
        touch_timeout: Duration::from_secs(args.station.touch_timeout.max(1)),
        via,
        ..BatchOptions::default()
    };
    let control = BatchControl::default();
    let ctrl_c = spawn_interrupt_handler(control.clone());
    let report = run_queue(Arc::clone(&station), sources, options, sink, control).await;
    ctrl_c.abort();
    crate::cli::batch::finish(ctx, mode, &report)
}
