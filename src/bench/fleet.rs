//! `keystation bench fleet`: what one journal database serves (docs/fleet.md, sizing).
//!
//! Three measurements, each on the station's SQLite journal (a file in a temporary
//! directory) and, with `--postgres`, on the configured shared journal (`[journal] url`,
//! a scratch database: the bench leaves its queues and jobs there, under names starting
//! with `bench-`):
//! * **commit latency**: a synced commit (an intent, a job's start or end) and a relaxed
//!   one (a step in between), timed one by one through the journal API;
//! * **claims per second**: 1, 3 and 6 stations, each with its own connection, claiming
//!   and finishing the users of one queue as fast as the database lets them — the queue's
//!   own ceiling, with no key or Entra in the way;
//! * **keys per minute** end to end: 1, 3 and 6 stations in this process, each with its
//!   own journal connection and a hub of virtual keys (instant touch), working one queue
//!   on the in-process Entra simulator.
//!
//! And **per-key cost against journal size**: a station on SQLite provisions a batch of
//! keys with its journal already holding 0, 10,000 and 100,000 finished jobs (goal: flat,
//! within 10 %). The old jobs are written straight into the file in one transaction
//! (jobs, their transitions and intents, shaped like real ones), because writing them
//! through the API would take an fsync each.
#![warn(missing_docs)]
use crate::bench::station::percentile;
use crate::cli::progress::table;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::KeySources;
use crate::key::virtual_key::{Touch, VirtualAttestation, VirtualHub, VirtualKey, VirtualKeyConfig};
use crate::station::batch::{run_queue, BatchControl, BatchEvent, BatchObserver, BatchOptions, BatchSink, Handover, KeySupply, QueueOptions};
use crate::station::config::ConfigOverrides;
use crate::station::demo::{DeskOptions, KeyFactory, SimulatedTenant, SimulatedTenantOptions, VirtualDesk};
use crate::station::journal::{ClaimResult, ItemEnd, JobMode, Journal, JournalLocation, NewJob, QueueRow, SharedJournal, StationIdentity, Transition, UserRef};
use crate::station::state::JobState;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `bench fleet` options.
#[derive(clap::Args, Debug)]
pub struct FleetBenchArgs {
    /// Also measure the configured shared journal (`[journal] url`): use a scratch
    /// database, the bench leaves its queues and jobs there.
    #[arg(long)]
    pub postgres: bool,
    /// Jobs timed for the commit latency (each: one synced start, one relaxed step, one synced end).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub commits: usize,
    /// Station counts for the claim and end-to-end runs.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_value = "1,3,6")]
    pub stations: Vec<usize>,
    /// Users per claim run.
    #[arg(long, value_name = "N", default_value_t = 600)]
    pub claim_users: usize,
    /// Users per end-to-end run (each station has 4 keys at once).
    #[arg(long, value_name = "N", default_value_t = 48)]
    pub users: usize,
    /// Finished jobs already in the journal for the per-key cost runs.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_value = "0,10000,100000")]
    pub prefill: Vec<usize>,
    /// Keys per per-key cost run (4 at once).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub keys_per_run: usize,
}

/// Commit latency on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct CommitFigure {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Synced commits timed.
    pub synced: usize,
    /// Median synced commit, ms.
    pub synced_median_ms: f64,
    /// 95th percentile, ms.
    pub synced_p95_ms: f64,
    /// Median relaxed commit, ms.
    pub relaxed_median_ms: f64,
    /// 95th percentile, ms.
    pub relaxed_p95_ms: f64,
}

/// One claim run.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimFigure {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Stations claiming at once (one connection each).
    pub stations: usize,
    /// Users claimed and finished.
    pub users: usize,
    /// Wall time, s.
    pub wall_s: f64,
    /// Claims (each with its finish) per second.
    pub claims_per_s: f64,
}

/// One end-to-end run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRunFigure {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Stations working the queue.
    pub stations: usize,
    /// Users in the queue.
    pub users: usize,
    /// Users done.
    pub done: usize,
    /// Wall time, s.
    pub wall_s: f64,
    /// Keys per minute, all stations together.
    pub keys_per_minute: f64,
}

/// Per-key cost with a journal of a given size.
#[derive(Debug, Clone, Serialize)]
pub struct SizeFigure {
    /// Finished jobs in the journal before the run.
    pub prefilled_jobs: usize,
    /// Keys provisioned.
    pub keys: usize,
    /// Keys done.
    pub done: usize,
    /// Wall time, s.
    pub wall_s: f64,
    /// Keys per minute.
    pub keys_per_minute: f64,
    /// Process CPU time per key, ms (station and simulator together).
    pub cpu_ms_per_key: f64,
    /// Journal commits per key, and those synced.
    pub commits_per_key: f64,
    /// Synced commits per key.
    pub synced_per_key: f64,
    /// CPU per key against the first run's, in % (the goal: within 10).
    pub cpu_vs_first_pct: f64,
}

/// The whole report (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct FleetBenchReport {
    /// Commit latency per backend.
    pub commits: Vec<CommitFigure>,
    /// Claim runs.
    pub claims: Vec<ClaimFigure>,
    /// End-to-end runs.
    pub fleet: Vec<FleetRunFigure>,
    /// Per-key cost against journal size (SQLite).
    pub journal_size: Vec<SizeFigure>,
    /// Build profile of this binary.
    pub profile: &'static str,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn bench_id() -> String {
    format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn open(location: &JournalLocation, name: &str) -> Result<Journal, String> {
    let mut j = Journal::open_location(location).map_err(|e| e.to_string())?;
    j.set_identity(StationIdentity { name: name.to_string(), host: StationIdentity::this_host().host });
    Ok(j)
}

/// Time `n` jobs' commits: start (synced), one step (relaxed), end (synced).
fn commit_latency(backend: &'static str, location: &JournalLocation, n: usize) -> Result<CommitFigure, String> {
    let id = bench_id();
    let mut j = open(location, &id)?;
    let (mut synced, mut relaxed) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    let e = |e: crate::station::journal::JournalError| e.to_string();
    for i in 0..n {
        let mut job = NewJob::new(JobMode::Batch);
        job.tenant = Some("bench".into());
        job.user = UserRef { upn: Some(format!("{id}-{i}@bench.invalid")), ..UserRef::default() };
        let t = Instant::now();
        let job = j.begin_job(&job).map_err(e)?;
        synced.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        j.transition(job, Transition::to(JobState::Inspected)).map_err(e)?;
        relaxed.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        j.transition(job, Transition::to(JobState::Failed)).map_err(e)?;
        synced.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    synced.sort_by(f64::total_cmp);
    relaxed.sort_by(f64::total_cmp);
    Ok(CommitFigure {
        backend,
        synced: synced.len(),
        synced_median_ms: round(percentile(&synced, 0.5), 3),
        synced_p95_ms: round(percentile(&synced, 0.95), 3),
        relaxed_median_ms: round(percentile(&relaxed, 0.5), 3),
        relaxed_p95_ms: round(percentile(&relaxed, 0.95), 3),
    })
}

/// `stations` threads, one connection each, claim and finish every user of a fresh queue.
fn claims(backend: &'static str, location: &JournalLocation, stations: usize, users: usize) -> Result<ClaimFigure, String> {
    let queue = bench_id();
    let rows: Vec<QueueRow> = (0..users).map(|i| QueueRow { line: i as u64 + 2, upn: format!("{queue}-{i}@bench.invalid"), display_name: None, pin_policy: None }).collect();
    open(location, &queue)?.queue_load(&queue, &rows).map_err(|e| e.to_string())?;
    let mut journals = Vec::new();
    for s in 0..stations {
        journals.push(open(location, &format!("{queue}-s{s}"))?);
    }
    let started = Instant::now();
    let workers: Vec<_> = journals
        .into_iter()
        .map(|mut j| {
            let queue = queue.clone();
            std::thread::spawn(move || -> Result<usize, String> {
                let mut n = 0;
                loop {
                    match j.claim(&queue, Duration::from_secs(60)).map_err(|e| e.to_string())? {
                        ClaimResult::Claimed(c) => {
                            j.finish_item(&c, &ItemEnd::Done).map_err(|e| e.to_string())?;
                            n += 1;
                        }
                        ClaimResult::Wait { .. } => std::thread::sleep(Duration::from_millis(1)),
                        ClaimResult::Finished => return Ok(n),
                    }
                }
            })
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.join().map_err(|_| "a claiming thread panicked".to_string())??;
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(ClaimFigure { backend, stations, users: done, wall_s: round(wall, 3), claims_per_s: round(done as f64 / wall, 0) })
}

/// Drops handover slips (simulated users) and events.
struct Quiet;
impl BatchObserver for Quiet {
    fn event(&self, _: &BatchEvent) {}
}
impl BatchSink for Quiet {
    fn handover(&self, handover: Handover) {
        drop(handover.slip.render());
    }
}

fn key_factory(tenant: &SimulatedTenant) -> KeyFactory {
    let ca = Arc::clone(&tenant.ca);
    Arc::new(move || VirtualKey::try_new(VirtualKeyConfig { touch: Touch::Instant, attestation: VirtualAttestation::Batch(Arc::clone(&ca)), ..Default::default() }).map_err(|e| e.to_string()))
}

/// `stations` stations in this process (own journal connection, own hub of 4 keys kept
/// full) work one queue of `users` fresh users.
async fn fleet_run(backend: &'static str, location: &JournalLocation, tenant: &SimulatedTenant, users: Vec<String>, stations: usize) -> Result<FleetRunFigure, String> {
    let queue = bench_id();
    let rows: Vec<QueueRow> = users.iter().enumerate().map(|(i, u)| QueueRow { line: i as u64 + 2, upn: u.clone(), display_name: None, pin_policy: None }).collect();
    open(location, &queue)?.queue_load(&queue, &rows).map_err(|e| e.to_string())?;
    let dirs = tempfile::Builder::new().prefix("keystation-bench-fleet-").tempdir().map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for s in 0..stations {
        let name = format!("{queue}-s{s}");
        let journal = open(location, &name)?;
        let state = dirs.path().join(&name);
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        let hub = VirtualHub::new();
        let sources = KeySources::virtual_hub(hub.clone());
        let station = tenant
            .open_station(&state, &ConfigOverrides::default(), Some(sources.clone()), move |setup| setup.journal = SharedJournal::new(journal))
            .await
            .map_err(|e| e.to_string())?;
        let desk = VirtualDesk::new(hub, Arc::new(Quiet), DeskOptions { remove_after: Duration::ZERO, plug_after: Duration::ZERO, spare_keys: usize::MAX, factory: Some(key_factory(tenant)) });
        desk.plug_initial(4)?;
        desk.keep_plugging();
        let mut options = QueueOptions::new(queue.clone(), Duration::from_secs(30));
        options.batch = BatchOptions { concurrency: 4, retries: 2, supply: KeySupply::Open, touch_timeout: Duration::from_secs(30), ..BatchOptions::default() };
        runs.push((station, sources, options, Arc::new(desk)));
    }
    let started = Instant::now();
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(station, sources, options, desk)| tokio::spawn(async move { run_queue(station, sources, options, desk, BatchControl::default()).await }))
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.map_err(|e| e.to_string())?.counts.done;
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(FleetRunFigure { backend, stations, users: users.len(), done, wall_s: round(wall, 2), keys_per_minute: round(done as f64 / wall * 60.0, 0) })
}

/// Add finished jobs (each with 8 transitions and 4 resolved intents, like a real key's)
/// to the SQLite journal at `path` until it holds `target` of them.
fn prefill(path: &Path, from: usize, target: usize) -> Result<(), String> {
    if target <= from {
        return Ok(());
    }
    let e = |e: rusqlite::Error| format!("pre-filling the journal: {e}");
    let mut conn = rusqlite::Connection::open(path).map_err(e)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(e)?;
    let tx = conn.transaction().map_err(e)?;
    let at = "2026-01-05T09:00:00Z";
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO jobs (uid, mode, state, tenant, batch_id, batch_line, user_upn, user_object_id, key_path, key_aaguid, key_model, key_serial,
                           key_firmware, display_name, entra_method_id, credential_id, station, host, created_at, updated_at, finished_at)
         SELECT 'prefill-' || i, 'batch', 'done', 'bench', 'prefill', i, 'prefill-' || i || '@bench.invalid', 'oid-' || i, 'virtual:' || i,
                'd5a92987-df19-484f-890d-2d49daf54f29', 'bench key', printf('PF%09d', i), '1.0.0', 'bench', 'pf-method-' || i, 'pf-cred-' || i,
                'bench', 'bench', ?3, ?3, ?3 FROM n",
        rusqlite::params![from as i64, target as i64 - 1, at],
    )
    .map_err(e)?;
    tx.execute(
        "INSERT INTO intents (job_id, kind, detail, recorded_at, resolution, resolved_at)
         SELECT j.id, k.kind, '{}', ?1, 'done', ?1 FROM jobs j
         CROSS JOIN (SELECT 'set_pin' AS kind UNION ALL SELECT 'register' UNION ALL SELECT 'verify' UNION ALL SELECT 'handover') k
         WHERE j.uid LIKE 'prefill-%' AND j.id > (SELECT COALESCE(MAX(job_id), 0) FROM intents)",
        rusqlite::params![at],
    )
    .map_err(e)?;
    tx.execute(
        "INSERT INTO transitions (job_id, from_state, to_state, at)
         SELECT j.id, s.f, s.t, ?1 FROM jobs j
         CROSS JOIN (SELECT NULL AS f, 'arrived' AS t UNION ALL SELECT 'arrived', 'inspected' UNION ALL SELECT 'inspected', 'prepared'
                     UNION ALL SELECT 'prepared', 'registered' UNION ALL SELECT 'registered', 'verified' UNION ALL SELECT 'verified', 'handed_over'
                     UNION ALL SELECT 'handed_over', 'done' UNION ALL SELECT 'done', 'done') s
         WHERE j.uid LIKE 'prefill-%' AND j.id > (SELECT COALESCE(MAX(job_id), 0) FROM transitions)",
        rusqlite::params![at],
    )
    .map_err(e)?;
    tx.commit().map_err(e)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// One SQLite station; before each run its journal is filled up to the next size.
async fn journal_size(tenant: &SimulatedTenant, users: &mut impl Iterator<Item = String>, sizes: &[usize], keys: usize) -> Result<Vec<SizeFigure>, String> {
    let state = tempfile::Builder::new().prefix("keystation-bench-size-").tempdir().map_err(|e| e.to_string())?;
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let mut shared = None;
    let station = tenant
        .open_station(state.path(), &ConfigOverrides::default(), Some(sources.clone()), |s| shared = Some(s.journal.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let journal = shared.ok_or("the station has no journal")?;
    let path = station.config().journal.resolve(state.path());
    let mut filled = 0;
    let mut out: Vec<SizeFigure> = Vec::new();
    for (run, &size) in sizes.iter().enumerate() {
        prefill(&path, filled, size)?;
        filled = filled.max(size);
        let queue = format!("size-{run}");
        let rows: Vec<QueueRow> = users.by_ref().take(keys).enumerate().map(|(i, u)| QueueRow { line: i as u64 + 2, upn: u, display_name: None, pin_policy: None }).collect();
        journal.lock().map_err(|e| e.to_string())?.queue_load(&queue, &rows).map_err(|e| e.to_string())?;
        let desk = VirtualDesk::new(hub.clone(), Arc::new(Quiet), DeskOptions { remove_after: Duration::ZERO, plug_after: Duration::ZERO, spare_keys: usize::MAX, factory: Some(key_factory(tenant)) });
        desk.plug_initial(4)?;
        desk.keep_plugging();
        let mut options = QueueOptions::new(queue, Duration::from_secs(30));
        options.batch = BatchOptions { concurrency: 4, retries: 2, supply: KeySupply::Open, touch_timeout: Duration::from_secs(30), ..BatchOptions::default() };
        let before = journal.lock().map_err(|e| e.to_string())?.commit_stats();
        let (cpu, started) = (cpu_seconds(), Instant::now());
        let report = run_queue(Arc::clone(&station), sources.clone(), options, Arc::new(desk), BatchControl::default()).await;
        let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let after = journal.lock().map_err(|e| e.to_string())?.commit_stats();
        let done = report.counts.done.max(1);
        let cpu_ms = cpu * 1000.0 / done as f64;
        let first = out.first().map(|f| f.cpu_ms_per_key).unwrap_or(cpu_ms);
        out.push(SizeFigure {
            prefilled_jobs: size,
            keys: rows.len(),
            done: report.counts.done,
            wall_s: round(wall, 2),
            keys_per_minute: round(report.counts.done as f64 / wall * 60.0, 0),
            cpu_ms_per_key: round(cpu_ms, 2),
            commits_per_key: round((after.commits - before.commits) as f64 / done as f64, 2),
            synced_per_key: round((after.synced - before.synced) as f64 / done as f64, 2),
            cpu_vs_first_pct: round((cpu_ms / first - 1.0) * 100.0, 1),
        });
    }
    Ok(out)
}

/// Measure. `shared`: the configured PostgreSQL journal, when asked for.
pub async fn measure(args: &FleetBenchArgs, shared: Option<JournalLocation>) -> Result<FleetBenchReport, String> {
    if args.stations.iter().any(|s| !(1..=32).contains(s)) || args.commits == 0 || args.claim_users == 0 || args.users == 0 || args.keys_per_run == 0 {
        return Err("--stations must be 1 to 32 each, and --commits, --claim-users, --users, --keys-per-run at least 1".into());
    }
    let dir = tempfile::Builder::new().prefix("keystation-bench-fleet-").tempdir().map_err(|e| e.to_string())?;
    let mut backends = vec![("sqlite", JournalLocation::File(dir.path().join("journal.sqlite")))];
    if let Some(pg) = shared {
        backends.push(("postgres", pg));
    }
    let mut commits = Vec::new();
    let mut claim_runs = Vec::new();
    for (name, location) in &backends {
        let (name, n) = (*name, args.commits);
        let at = location.clone();
        commits.push(tokio::task::spawn_blocking(move || commit_latency(name, &at, n)).await.map_err(|e| e.to_string())??);
        for &s in &args.stations {
            let (location, users) = (location.clone(), args.claim_users);
            claim_runs.push(tokio::task::spawn_blocking(move || claims(name, &location, s, users)).await.map_err(|e| e.to_string())??);
        }
    }
    let needed = backends.len() * args.stations.len() * args.users + args.prefill.len() * args.keys_per_run;
    let tenant = SimulatedTenant::start(SimulatedTenantOptions { users: crate::station::demo::BUILTIN_PILOT_USERS.len() + needed, ..Default::default() }).await?;
    let mut users = tenant.users()[crate::station::demo::BUILTIN_PILOT_USERS.len()..].to_vec().into_iter();
    let mut fleet = Vec::new();
    for (name, location) in &backends {
        for &s in &args.stations {
            let run_users: Vec<String> = users.by_ref().take(args.users).collect();
            fleet.push(fleet_run(name, location, &tenant, run_users, s).await?);
        }
    }
    let journal_size = journal_size(&tenant, &mut users, &args.prefill, args.keys_per_run).await?;
    Ok(FleetBenchReport { commits, claims: claim_runs, fleet, journal_size, profile: if cfg!(debug_assertions) { "debug" } else { "release" } })
}

/// Run `keystation bench fleet`.
pub async fn run(args: FleetBenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let shared = if args.postgres {
        let loaded = ctx.load_config(Default::default())?;
        if !loaded.config.journal.is_shared() {
            return Err(CliError::usage("--postgres measures the configured shared journal, but [journal] url is not set").with_next_step("set [journal] url (and password_env or password_file) to a scratch PostgreSQL database, see docs/fleet.md"));
        }
        Some(loaded.config.journal.location(&ctx.state_dir).map_err(CliError::usage)?)
    } else {
        None
    };
    let report = measure(&args, shared).await.map_err(|e| if e.starts_with("--") { CliError::usage(e) } else { CliError::failure(format!("bench fleet: {e}")) })?;
    if ctx.json() {
        ctx.print_json(&report)?;
        return Ok(Exit::Ok);
    }
    let mut out = format!("Journal commit latency ({} build)\n\n", report.profile);
    let rows: Vec<Vec<String>> = report
        .commits
        .iter()
        .map(|c| vec![c.backend.to_string(), format!("{:.3}", c.synced_median_ms), format!("{:.3}", c.synced_p95_ms), format!("{:.3}", c.relaxed_median_ms), format!("{:.3}", c.relaxed_p95_ms)])
        .collect();
    out.push_str(&table::render(&["BACKEND", "SYNCED MEDIAN ms", "SYNCED P95 ms", "RELAXED MEDIAN ms", "RELAXED P95 ms"], &rows));
    out.push_str("\nClaims (claim + finish, no key, one connection per station)\n\n");
    let rows: Vec<Vec<String>> = report.claims.iter().map(|c| vec![c.backend.to_string(), c.stations.to_string(), c.users.to_string(), format!("{:.2}", c.wall_s), format!("{:.0}", c.claims_per_s)]).collect();
    out.push_str(&table::render(&["BACKEND", "STATIONS", "USERS", "WALL s", "CLAIMS/s"], &rows));
    out.push_str("\nEnd to end (simulator, virtual keys with instant touch, 4 keys per station)\n\n");
    let rows: Vec<Vec<String>> =
        report.fleet.iter().map(|f| vec![f.backend.to_string(), f.stations.to_string(), format!("{}/{}", f.done, f.users), format!("{:.2}", f.wall_s), format!("{:.0}", f.keys_per_minute)]).collect();
    out.push_str(&table::render(&["BACKEND", "STATIONS", "DONE", "WALL s", "KEYS/MIN"], &rows));
    out.push_str("\nPer-key cost against journal size (SQLite, 4 keys at once)\n\n");
    let rows: Vec<Vec<String>> = report
        .journal_size
        .iter()
        .map(|s| {
            vec![
                s.prefilled_jobs.to_string(),
                format!("{}/{}", s.done, s.keys),
                format!("{:.0}", s.keys_per_minute),
                format!("{:.2}", s.cpu_ms_per_key),
                format!("{:+.1}", s.cpu_vs_first_pct),
                format!("{:.2}", s.commits_per_key),
                format!("{:.2}", s.synced_per_key),
            ]
        })
        .collect();
    out.push_str(&table::render(&["JOBS BEFORE", "DONE", "KEYS/MIN", "CPU ms/KEY", "CPU vs FIRST %", "COMMITS/KEY", "SYNCED/KEY"], &rows));
    crate::cli::progress::out_text(&out);
    Ok(Exit::Ok)
}
