//! `keystation bench keys`: how long key operations take through the whole client stack
//! (KeyHandle → worker thread → CTAP2 → CTAPHID → report seam) against in-process
//! virtual keys, and how the wall time grows when many keys work at once.
#![warn(missing_docs)]
use crate::cli::{CliContext, CliError, Exit};
use crate::key::KeyError;
use crate::key::ctap2::{COSE_ES256, MakeCredentialRequest, RpEntity, UserEntity};
use crate::key::virtual_key::{VirtualKey, VirtualKeyConfig};
use crate::key::worker::{HandleOptions, KeyHandle};
use crate::secret::SecretString;
use serde::Serialize;
use std::time::{Duration, Instant};

/// `bench keys` options.
#[derive(clap::Args, Debug)]
pub struct KeysBenchArgs {
    /// Repetitions of each single-key operation.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub iterations: usize,
    /// Key counts for the parallel run (each key: open, setPIN, makeCredential).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_value = "1,4,16")]
    pub parallel: Vec<usize>,
}

/// Timing of one operation over the iterations.
#[derive(Debug, Serialize)]
pub struct OperationTiming {
    /// Operation name.
    pub name: &'static str,
    /// Fastest run, milliseconds.
    pub min_ms: f64,
    /// Median run, milliseconds.
    pub median_ms: f64,
    /// Slowest run, milliseconds.
    pub max_ms: f64,
}

/// Wall time for `keys` keys working at once.
#[derive(Debug, Serialize)]
pub struct ParallelTiming {
    /// Number of keys.
    pub keys: usize,
    /// From the first open to the last makeCredential answer, milliseconds.
    pub wall_ms: f64,
}

/// The whole report (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub struct KeysBenchReport {
    /// Iterations per operation.
    pub iterations: usize,
    /// Per-operation timings on one key.
    pub operations: Vec<OperationTiming>,
    /// Parallel runs.
    pub parallel: Vec<ParallelTiming>,
    /// Build profile of this binary.
    pub profile: &'static str,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summarize(name: &'static str, mut samples: Vec<Duration>) -> OperationTiming {
    samples.sort();
    let n = samples.len();
    let median = if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2 };
    OperationTiming { name, min_ms: ms(samples[0]), median_ms: ms(median), max_ms: ms(samples[n - 1]) }
}

fn request(user: usize) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: [0x5a; 32],
        rp: RpEntity { id: "login.microsoft.com".into(), name: Some("Microsoft".into()) },
        user: UserEntity { id: format!("user-{user}").into_bytes(), name: Some(format!("user{user}@contoso.example")), display_name: Some("Bench User".into()) },
        algorithms: vec![COSE_ES256],
        exclude_list: vec![],
        resident_key: true,
        user_verification: true,
        cred_protect: Some(2),
        hmac_secret: true,
        enterprise_attestation: None,
    }
}

async fn open(key: &VirtualKey) -> Result<KeyHandle, KeyError> {
    KeyHandle::open(key.descriptor(), key.open()?, HandleOptions::default()).await
}

/// Measure everything.
pub async fn measure(iterations: usize, parallel: &[usize]) -> Result<KeysBenchReport, KeyError> {
    let iterations = iterations.max(1);
    let pin = SecretString::new("246810");
    let (mut t_open, mut t_info, mut t_set, mut t_mc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let key = VirtualKey::new(VirtualKeyConfig::default());
        let t = Instant::now();
        let handle = open(&key).await?;
        t_open.push(t.elapsed());
        let t = Instant::now();
        handle.get_info().await?;
        t_info.push(t.elapsed());
        let t = Instant::now();
        handle.set_pin(&pin).await?;
        t_set.push(t.elapsed());
        let t = Instant::now();
        handle.make_credential(request(i), Some(&pin)).await?;
        t_mc.push(t.elapsed());
    }
    let operations = vec![
        summarize("open (INIT + getInfo)", t_open),
        summarize("getInfo", t_info),
        summarize("setPIN", t_set),
        summarize("makeCredential (rk, PIN, credProtect, hmac-secret)", t_mc),
    ];

    let mut runs = Vec::new();
    for &n in parallel {
        let keys: Vec<VirtualKey> = (0..n.max(1)).map(|_| VirtualKey::new(VirtualKeyConfig::default())).collect();
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, key) in keys.iter().cloned().enumerate() {
            let pin = pin.clone();
            tasks.spawn(async move {
                let handle = open(&key).await?;
                handle.set_pin(&pin).await?;
                handle.make_credential(request(i), Some(&pin)).await.map(|_| ())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.map_err(|e| KeyError::Transport(format!("benchmark task failed: {e}")))??;
        }
        runs.push(ParallelTiming { keys: keys.len(), wall_ms: ms(t.elapsed()) });
    }
    Ok(KeysBenchReport { iterations, operations, parallel: runs, profile: if cfg!(debug_assertions) { "debug" } else { "release" } })
}

/// Run `keystation bench keys`.
pub async fn run(args: KeysBenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if args.parallel.iter().any(|n| *n == 0 || *n > 256) {
        return Err(CliError::usage("--parallel takes key counts from 1 to 256, e.g. --parallel 1,4,16"));
    }
    let report = measure(args.iterations, &args.parallel).await?;
    if ctx.json() {
        ctx.print_json(&report)?;
        return Ok(Exit::Ok);
    }
    crate::cli::progress::out_line(&format!("Virtual keys (OpenSK), {} build, {} iteration(s) per operation", report.profile, report.iterations));
    crate::cli::progress::out_line(&format!("{:<52} {:>9} {:>9} {:>9}", "operation", "min ms", "median ms", "max ms"));
    for o in &report.operations {
        crate::cli::progress::out_line(&format!("{:<52} {:>9.2} {:>9.2} {:>9.2}", o.name, o.min_ms, o.median_ms, o.max_ms));
    }
    crate::cli::progress::out_line("");
    crate::cli::progress::out_line(&format!("{:<8} {:>12} {:>14}", "keys", "wall ms", "ms per key"));
    for p in &report.parallel {
        crate::cli::progress::out_line(&format!("{:<8} {:>12.1} {:>14.1}", p.keys, p.wall_ms, p.wall_ms / p.keys as f64));
    }
    crate::cli::progress::out_line(&format!("(each key: open, setPIN, makeCredential with PIN, all keys at once)"));
    Ok(Exit::Ok)
}
