//! `keystation bench`: print speed figures. The measuring lives in `crate::bench`.
use crate::cli::{CliContext, CliError, Exit};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
}

#[derive(Subcommand, Debug)]
pub enum BenchTarget {
    /// Per-operation times against virtual keys, and 1/4/16 keys in parallel.
    Keys(crate::bench::keys::KeysBenchArgs),
    /// Per-key station time by step, and batch throughput with 1/4/16 concurrent keys.
    Station(crate::bench::station::StationBenchArgs),
    /// Seconds per enrollment through the browser path, cold and warm browser.
    Browser(crate::bench::browser::BrowserBenchArgs),
    /// How late the console's hub page shows a pipeline event (goal: 200 ms).
    Console(crate::bench::console::ConsoleBenchArgs),
    /// What one journal database serves: commit latency, claims/s and keys/min with 1/3/6 stations, per-key cost against journal size.
    Fleet(crate::bench::fleet::FleetBenchArgs),
}

pub async fn run(args: BenchArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.target {
        BenchTarget::Keys(a) => crate::bench::keys::run(a, ctx).await,
        BenchTarget::Station(a) => crate::bench::station::run(a, ctx).await,
        BenchTarget::Browser(a) => crate::bench::browser::run(a, ctx).await,
        BenchTarget::Console(a) => crate::bench::console::run(a, ctx).await,
        BenchTarget::Fleet(a) => crate::bench::fleet::run(a, ctx).await,
    }
}
