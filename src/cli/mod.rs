//! Command line: parse, dispatch, print. No business logic lives here.
//!
//! Each subcommand has its own file with its clap `Args` struct and a `run` function.
//! Exit codes are documented in `docs/exit-codes.md` and defined in [`exit`].
use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod exit;
pub mod context;
pub mod secret_input;
pub mod keys;
pub mod auth;
pub mod simulator;
pub mod virtual_key;
pub mod enroll;
pub mod batch;
pub mod kiosk;
pub mod report;
pub mod queue;
pub mod demo;
pub mod bench;
pub mod progress;

pub use context::{CliContext, GlobalOpts};
pub use exit::{CliError, Exit};

#[derive(Parser, Debug)]
#[command(name = "keystation", version, about = "Turn blank FIDO2 security keys into Entra ID passkeys", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Inspect and manage FIDO2 keys (list, info, watch, PIN, reset, config, credentials).
    Keys(keys::KeysArgs),
    /// Sign in to Entra ID (device code or client credentials) and cache the token.
    Login(auth::LoginArgs),
    /// Forget cached tokens.
    Logout(auth::LogoutArgs),
    /// Show who is signed in, to which tenant, with which permissions, until when.
    Whoami(auth::WhoamiArgs),
    /// Run the local Entra simulator (OAuth, Graph subset, sign-in and Security-info pages).
    Simulator(simulator::SimulatorArgs),
    /// Expose a virtual FIDO2 key to the operating system (Linux /dev/uhid).
    VirtualKey(virtual_key::VirtualKeyArgs),
    /// Provision one key for one user.
    Enroll(enroll::EnrollArgs),
    /// Provision keys for every user in a CSV file, several keys at once.
    Batch(batch::BatchArgs),
    /// Hands-free enrollment desk loop.
    Kiosk(kiosk::KioskArgs),
    /// Export the station journal as CSV or JSON.
    Report(report::ReportArgs),
    /// A fleet's shared queue of users: load a CSV into it, watch its progress.
    Queue(queue::QueueArgs),
    /// Run the whole job on a simulated tenant with virtual keys (no hardware, no tenant).
    Demo(demo::DemoArgs),
    /// Print speed figures (keys, station, browser).
    Bench(bench::BenchArgs),
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match CliContext::init(&cli.global) {
        Ok(ctx) => ctx,
        Err(e) => return e.report(cli.global.json),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return CliError::new(Exit::Failure, format!("cannot start the async runtime: {e}")).report(cli.global.json),
    };
    let json = cli.global.json;
    let result = runtime.block_on(dispatch(cli.command, &ctx));
    // Key workers are plain threads; do not let a stuck one keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code.into(),
        Err(e) => e.report(json),
    }
}

async fn dispatch(command: Command, ctx: &CliContext) -> Result<Exit, CliError> {
    match command {
        Command::Keys(a) => keys::run(a, ctx).await,
        Command::Login(a) => auth::run_login(a, ctx).await,
        Command::Logout(a) => auth::run_logout(a, ctx).await,
        Command::Whoami(a) => auth::run_whoami(a, ctx).await,
        Command::Simulator(a) => simulator::run(a, ctx).await,
        Command::VirtualKey(a) => virtual_key::run(a, ctx).await,
        Command::Enroll(a) => enroll::run(a, ctx).await,
        Command::Batch(a) => batch::run(a, ctx).await,
        Command::Kiosk(a) => kiosk::run(a, ctx).await,
        Command::Report(a) => report::run(a, ctx).await,
        Command::Queue(a) => queue::run(a, ctx).await,
        Command::Demo(a) => demo::run(a, ctx).await,
        Command::Bench(a) => bench::run(a, ctx).await,
    }
}
