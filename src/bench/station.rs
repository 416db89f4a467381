//! `keystation bench station`: how long the station takes per key, step by step, and how
//! many keys a minute a hub gets through with 1, 4 and 16 keys at once, on the in-process
//! Entra simulator with virtual keys (`station::demo::SimulatedTenant`).
//!
//! The per-key breakdown comes from a batch run with one key at a time: each job's step
//! events (`StepFinished` carries the step's own time), and the Graph registrar's notes
//! split registration into creation options, makeCredential and the POST. Throughput
//! runs are real batches on a hub whose simulated operator swaps keys instantly, so the
//! figures are the station's own limit, not an operator's hands.
#![warn(missing_docs)]
use crate::cli::progress::table;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::KeySources;
use crate::key::virtual_key::{Touch, VirtualAttestation, VirtualHub, VirtualKey, VirtualKeyConfig};
use crate::station::batch::{
    parse_batch, plan_batch, run_batch, BatchControl, BatchEvent, BatchNotice, BatchObserver, BatchOptions, BatchSink, Handover, KeySupply,
};
use crate::station::config::ConfigOverrides;
use crate::station::demo::{DeskOptions, KeyFactory, SimulatedTenant, SimulatedTenantOptions, VirtualDesk};
use crate::station::journal::JobMode;
use crate::station::pipeline::{EventKind, Station, Step};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `bench station` options.
#[derive(clap::Args, Debug)]
pub struct StationBenchArgs {
    /// Keys timed one at a time for the per-step breakdown.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub jobs: usize,
    /// Concurrent keys for the throughput runs.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_value = "1,4,16")]
    pub concurrency: Vec<usize>,
    /// Keys per throughput run (default: 4 × the concurrency, at least 16).
    #[arg(long, value_name = "N")]
    pub keys_per_run: Option<usize>,
    /// Milliseconds a simulated person takes to touch a key (0: at once).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub touch_ms: u64,
}

/// One row of the per-step breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct StepFigure {
    /// What the row measures.
    pub step: &'static str,
    /// Median over the keys, ms.
    pub median_ms: f64,
    /// 95th percentile (nearest rank), ms.
    pub p95_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

/// One throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputFigure {
    /// Keys at once.
    pub concurrency: usize,
    /// Keys provisioned.
    pub keys: usize,
    /// Keys that ended `done`.
    pub done: usize,
    /// From the batch start to its last key, seconds.
    pub wall_s: f64,
    /// Keys per minute.
    pub keys_per_minute: f64,
    /// Median station time per key in this run, ms.
    pub median_key_ms: f64,
}

/// The whole report (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct StationBenchReport {
    /// Keys in the breakdown.
    pub jobs: usize,
    /// Per-step figures, pipeline order, then the whole key.
    pub steps: Vec<StepFigure>,
    /// Throughput runs.
    pub throughput: Vec<ThroughputFigure>,
    /// Simulated touch delay, ms.
    pub touch_ms: u64,
    /// Build profile of this binary.
    pub profile: &'static str,
}

/// The rows of the breakdown, in order.
const ROWS: &[&str] = &["inspect", "prepare + PIN", "creation options", "makeCredential", "POST fido2Methods", "verify", "handover", "other", "whole key"];

/// Collects per-user step times from the event stream.
#[derive(Default)]
struct Timings {
    per_user: Mutex<HashMap<String, UserTimes>>,
    finished: Mutex<Vec<u64>>,
}

#[derive(Default, Clone)]
struct UserTimes {
    steps: HashMap<&'static str, f64>,
    marks: Vec<(&'static str, Instant)>,
    total_ms: Option<f64>,
}

fn bucket(step: Step) -> &'static str {
    match step {
        Step::Inspect => "inspect",
        Step::Reset | Step::SetPin | Step::ChangePin | Step::MinPinLength => "prepare + PIN",
        Step::Register | Step::RegistrationTap => "register",
        Step::Verify => "verify",
        Step::ForcePinChange | Step::HandoverTap | Step::Handover => "handover",
        Step::Reconcile | Step::Finish => "other",
    }
}

impl BatchObserver for Timings {
    fn event(&self, e: &BatchEvent) {
        let now = Instant::now();
        match e {
            BatchEvent::Job(ev) => {
                let Some(user) = ev.user.clone() else { return };
                let mut all = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
                let t = all.entry(user).or_default();
                match &ev.kind {
                    EventKind::StepFinished { step, elapsed } => {
                        *t.steps.entry(bucket(*step)).or_default() += elapsed.as_secs_f64() * 1000.0;
                    }
                    EventKind::Note { text } => {
                        let mark = if text.contains("creation options") {
                            Some("creation options")
                        } else if text.contains("touch the key") {
                            Some("makeCredential")
                        } else if text.contains("registering the passkey") {
                            Some("POST fido2Methods")
                        } else {
                            None
                        };
                        if let Some(m) = mark {
                            t.marks.push((m, now));
                        }
                    }
                    _ => {}
                }
                if let EventKind::StepFinished { step: Step::Register, .. } = &ev.kind {
                    // Split registration at the registrar's notes; what comes before the
                    // first note (the journal's intent) stays in "other".
                    let mut bounds = t.marks.clone();
                    bounds.push(("end", now));
                    for w in bounds.windows(2) {
                        *t.steps.entry(w[0].0).or_default() += w[1].1.duration_since(w[0].1).as_secs_f64() * 1000.0;
                    }
                    if t.marks.is_empty() {
                        // A registrar without notes: report registration as one step.
                        let whole = t.steps.remove("register").unwrap_or(0.0);
                        *t.steps.entry("POST fido2Methods").or_default() += whole;
                    }
                    t.steps.remove("register");
                }
            }
            BatchEvent::Batch(BatchNotice::UserFinished { upn, millis, .. }) => {
                let mut all = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
                let t = all.entry(upn.clone()).or_default();
                t.total_ms = Some(*millis as f64);
                self.finished.lock().unwrap_or_else(|p| p.into_inner()).push(*millis);
            }
            _ => {}
        }
    }
}

impl BatchSink for Timings {
    fn handover(&self, handover: Handover) {
        // Rendering is part of the handover cost; the text is dropped (simulated users).
        drop(handover.slip.render());
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn figure(step: &'static str, mut samples: Vec<f64>) -> StepFigure {
    samples.sort_by(|a, b| a.total_cmp(b));
    let mean = if samples.is_empty() { 0.0 } else { samples.iter().sum::<f64>() / samples.len() as f64 };
    let r = |x: f64| (x * 100.0).round() / 100.0;
    StepFigure { step, median_ms: r(percentile(&samples, 0.5)), p95_ms: r(percentile(&samples, 0.95)), mean_ms: r(mean) }
}

fn breakdown(t: &Timings) -> Vec<StepFigure> {
    let all = t.per_user.lock().unwrap_or_else(|p| p.into_inner());
    ROWS.iter()
        .map(|row| {
            let samples: Vec<f64> = all
                .values()
                .filter(|u| u.total_ms.is_some())
                .map(|u| match *row {
                    "whole key" => u.total_ms.unwrap_or(0.0),
                    // Everything between the named steps: opening the key, journal commits.
                    "other" => {
                        let named: f64 = ROWS[..7].iter().filter_map(|n| u.steps.get(n)).sum();
                        (u.total_ms.unwrap_or(0.0) - named).max(0.0)
                    }
                    name => u.steps.get(name).copied().unwrap_or(0.0),
                })
                .collect();
            figure(row, samples)
        })
        .collect()
}

/// Run one batch of `users` on a fresh hub with `concurrency` keys at once.
async fn batch_run(tenant: &SimulatedTenant, station: &Arc<Station>, users: &[String], concurrency: usize, touch: Touch, sink: Arc<Timings>) -> Result<(usize, f64), String> {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let mut csv = String::from("upn\n");
    for u in users {
        csv.push_str(u);
        csv.push('\n');
    }
    let file = parse_batch(Path::new("bench.csv"), csv.as_bytes()).map_err(|e| e.to_string())?;
    let batch_id = format!("bench-{}-{}", concurrency, uuid::Uuid::new_v4().simple());
    let plan = plan_batch(station, file, batch_id).await.map_err(|e| e.to_string())?;
    let ca = Arc::clone(&tenant.ca);
    let factory: KeyFactory = Arc::new(move || {
        VirtualKey::try_new(VirtualKeyConfig { touch, attestation: VirtualAttestation::Batch(Arc::clone(&ca)), ..Default::default() }).map_err(|e| e.to_string())
    });
    let desk = Arc::new(VirtualDesk::new(hub, sink, DeskOptions { remove_after: Duration::ZERO, plug_after: Duration::ZERO, spare_keys: users.len() * 2, factory: Some(factory) }));
    desk.plug_initial(concurrency.min(users.len()))?;
    let options = BatchOptions {
        concurrency,
        retries: 2,
        supply: KeySupply::Open,
        touch_timeout: Duration::from_secs(30),
        via: None,
        mode: JobMode::Batch,
        poll_interval: Duration::from_millis(10),
        replace_existing: false,
    };
    let started = Instant::now();
    let report = run_batch(Arc::clone(station), sources, plan, options, desk, BatchControl::default()).await;
    Ok((report.counts.done, started.elapsed().as_secs_f64()))
}

/// Measure. Needs no configuration, tenant or hardware.
pub async fn measure(args: &StationBenchArgs) -> Result<StationBenchReport, String> {
    if args.jobs == 0 || args.concurrency.iter().any(|c| !(1..=32).contains(c)) {
        return Err("--jobs must be at least 1 and every --concurrency from 1 to 32".into());
    }
    let per_run = |c: usize| args.keys_per_run.unwrap_or((4 * c).max(16));
    let total: usize = 1 + args.jobs + args.concurrency.iter().map(|c| per_run(*c)).sum::<usize>();
    let tenant = SimulatedTenant::start(SimulatedTenantOptions { users: crate::station::demo::BUILTIN_PILOT_USERS.len() + total, ..Default::default() }).await?;
    let state = tempfile::Builder::new().prefix("keystation-bench-").tempdir().map_err(|e| e.to_string())?;
    let station = tenant.open_station(state.path(), &ConfigOverrides::default(), None, |_| {}).await.map_err(|e| e.to_string())?;
    let touch = if args.touch_ms == 0 { Touch::Instant } else { Touch::After(Duration::from_millis(args.touch_ms)) };
    // Generated users only: none has a method yet.
    let mut users = tenant.users()[crate::station::demo::BUILTIN_PILOT_USERS.len()..].iter().cloned();

    // Warm-up: the first token and policy reads are the station's, not a key's cost.
    let warm: Vec<String> = users.by_ref().take(1).collect();
    batch_run(&tenant, &station, &warm, 1, touch, Arc::new(Timings::default())).await?;

    let timings = Arc::new(Timings::default());
    let sample: Vec<String> = users.by_ref().take(args.jobs).collect();
    batch_run(&tenant, &station, &sample, 1, touch, Arc::clone(&timings)).await?;
    let steps = breakdown(&timings);

    let mut throughput = Vec::new();
    for &c in &args.concurrency {
        let run_users: Vec<String> = users.by_ref().take(per_run(c)).collect();
        let t = Arc::new(Timings::default());
        let (done, wall) = batch_run(&tenant, &station, &run_users, c, touch, Arc::clone(&t)).await?;
        let mut per_key: Vec<f64> = t.finished.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|m| *m as f64).collect();
        per_key.sort_by(|a, b| a.total_cmp(b));
        throughput.push(ThroughputFigure {
            concurrency: c,
            keys: run_users.len(),
            done,
            wall_s: (wall * 1000.0).round() / 1000.0,
            keys_per_minute: if wall > 0.0 { (done as f64 / wall * 60.0).round() } else { 0.0 },
            median_key_ms: percentile(&per_key, 0.5),
        });
    }
    Ok(StationBenchReport { jobs: args.jobs, steps, throughput, touch_ms: args.touch_ms, profile: if cfg!(debug_assertions) { "debug" } else { "release" } })
}

/// Run `keystation bench station`.
pub async fn run(args: StationBenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let report = measure(&args).await.map_err(|e| if e.starts_with("--") { CliError::usage(e) } else { CliError::failure(format!("bench station: {e}")) })?;
    if ctx.json() {
        ctx.print_json(&report)?;
        return Ok(Exit::Ok);
    }
    let mut out = format!(
        "Station time per key on the simulator with virtual keys ({} keys one at a time, touch {} ms, {} build)\n\n",
        report.jobs, report.touch_ms, report.profile
    );
    let rows: Vec<Vec<String>> = report.steps.iter().map(|s| vec![s.step.to_string(), format!("{:.1}", s.median_ms), format!("{:.1}", s.p95_ms), format!("{:.1}", s.mean_ms)]).collect();
    out.push_str(&table::render(&["STEP", "MEDIAN ms", "P95 ms", "MEAN ms"], &rows));
    out.push_str("\nBatch throughput (the simulated operator swaps keys instantly)\n\n");
    let rows: Vec<Vec<String>> = report
        .throughput
        .iter()
        .map(|t| vec![t.concurrency.to_string(), format!("{}/{}", t.done, t.keys), format!("{:.2}", t.wall_s), format!("{:.0}", t.keys_per_minute), format!("{:.0}", t.median_key_ms)])
        .collect();
    out.push_str(&table::render(&["KEYS AT ONCE", "DONE", "WALL s", "KEYS/MIN", "MEDIAN KEY ms"], &rows));
    crate::cli::progress::out_text(&out);
    Ok(Exit::Ok)
}
