//! Command line: parse, dispatch, print. No business logic lives here.
//!
//! Each subcommand has its own file with its clap `Args` struct and a `run` function.
//! Exit codes are documented in `docs/exit-codes.md` and defined in [`exit`].
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` for the CLI: formats, makes the text inert ([`crate::text::inert_lines`]) and
/// writes it to standard output, ignoring a closed pipe. Every CLI print goes through it
/// (or [`errln!`], [`progress::out_text`], [`progress::err_text`]).
macro_rules! outln {
    () => { $crate::cli::progress::out_line("") };
    ($($arg:tt)*) => { $crate::cli::progress::out_line(&format!($($arg)*)) };
}

/// `eprintln!` for the CLI: like [`outln!`], on standard error.
macro_rules! errln {
    () => { $crate::cli::progress::err_line("") };
    ($($arg:tt)*) => { $crate::cli::progress::err_line(&format!($($arg)*)) };
}

pub mod exit;
pub mod context;
pub mod secret_input;
pub mod keys;
pub mod auth;
pub mod simulator;
pub mod stop;
pub mod virtual_key;
pub mod enroll;
pub mod batch;
pub mod kiosk;
pub mod console;
pub mod report;
pub mod jobs;
pub mod queue;
pub mod demo;
pub mod bench;
pub mod progress;
pub mod config_cmd;
pub mod completions;
pub mod output;
pub mod json;
pub mod doctor;
pub mod users;
pub mod methods;
pub mod reimage;
pub mod open;
pub mod deeplink;

pub use context::{CliContext, GlobalOpts, VirtualKeyFlags};
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
    /// Open a signed keystation:// link: check it, then enroll the user it names.
    Open(open::OpenArgs),
    /// Sign keystation:// links; register this program as their handler.
    Deeplink(deeplink::DeeplinkArgs),
    /// Provision keys for every user in a CSV file, several keys at once.
    Batch(batch::BatchArgs),
    /// Hands-free enrollment desk loop.
    Kiosk(kiosk::KioskArgs),
    /// The web console: the desk, the hub and the journal in a browser.
    Console(console::ConsoleArgs),
    /// Export the station journal as CSV or JSON.
    Report(report::ReportArgs),
    /// Jobs that need an operator or were interrupted: list, show, retry, resolve.
    Jobs(jobs::JobsArgs),
    /// A fleet's shared queue of users: load a CSV into it, watch its progress.
    Queue(queue::QueueArgs),
    /// Check the tenant, users and this station before imaging (PASS/WARN/FAIL with the fix).
    Doctor(doctor::DoctorArgs),
    /// Show a user's security keys, passes and policy scope.
    Users(users::UsersArgs),
    /// List or delete a user's FIDO2 security keys in Entra.
    Methods(methods::MethodsArgs),
    /// Make a returned key ready for its next owner: delete its registrations in Entra, reset it.
    Reimage(reimage::ReimageArgs),
    /// Run the whole job on a simulated tenant with virtual keys (no hardware, no tenant).
    Demo(demo::DemoArgs),
    /// Print speed figures (keys, station, browser).
    Bench(bench::BenchArgs),
    /// Write the configuration template, show the resolved configuration, say which file is read.
    Config(config_cmd::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print or write the man pages.
    Man(completions::ManArgs),
}

/// The command line as clap sees it, with every help page ending in the command's exit
/// codes ([`exit::codes_help`]). The parser, the completions and the man pages use it.
pub fn command() -> clap::Command {
    fn add_codes(cmd: clap::Command, path: &str) -> clap::Command {
        let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        let mut cmd = cmd;
        for name in names {
            let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
            cmd = cmd.mut_subcommand(&name, |s| add_codes(s, &sub_path));
        }
        match exit::codes_help(path) {
            Some(line) => {
                let text = match cmd.get_after_help() {
                    Some(existing) => format!("{existing}\n{line}"),
                    None => line,
                };
                cmd.after_help(text)
            }
            None => cmd,
        }
    }
    add_codes(<Cli as clap::CommandFactory>::command(), "")
}

/// Which global options a command uses; one it does not use is refused when given on
/// the command line (an environment variable is not an error: it may be set for other
/// commands).
#[derive(Debug, Clone, Copy)]
pub struct Uses {
    /// `--config`.
    pub config: bool,
    /// `--state-dir`.
    pub state_dir: bool,
}

impl Command {
    /// The global options this command reads. New commands that load the station
    /// configuration and use the state directory need no entry here.
    pub fn uses(&self) -> Uses {
        match self {
            // `bench fleet --postgres` measures the configured shared journal.
            Command::Bench(b) if matches!(b.target, bench::BenchTarget::Fleet(_)) => Uses { config: true, state_dir: false },
            Command::Keys(_) | Command::Simulator(_) | Command::VirtualKey(_) | Command::Bench(_) | Command::Completions(_) | Command::Man(_) => {
                Uses { config: false, state_dir: false }
            }
            Command::Demo(_) => Uses { config: false, state_dir: true },
            _ => Uses { config: true, state_dir: true },
        }
    }

    /// The virtual-key options of a command that uses keys (`None`: `--virtual` does not
    /// apply to it and is refused).
    pub fn key_flags(&self) -> Option<VirtualKeyFlags> {
        match self {
            Command::Keys(a) => Some(a.source.clone()),
            Command::Enroll(a) => Some(a.source.clone()),
            Command::Open(a) => Some(a.source.clone()),
            Command::Batch(a) => Some(a.source.clone()),
            Command::Kiosk(a) => Some(a.source.clone()),
            Command::Console(a) => Some(a.source.clone()),
            Command::Doctor(a) => Some(a.source.clone()),
            Command::Reimage(a) => Some(a.source.clone()),
            Command::VirtualKey(a) => Some(VirtualKeyFlags { virtual_keys: None, virtual_state: a.virtual_state.clone() }),
            _ => None,
        }
    }
}

/// The subcommand path of parsed arguments, e.g. `keys credentials list`.
fn command_path(matches: &clap::ArgMatches) -> (String, &clap::ArgMatches) {
    let mut names = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name.to_string());
        m = sub;
    }
    (names.join(" "), m)
}

/// The subcommand path named in raw arguments (for errors before parsing succeeded).
fn command_path_of_args(args: &[std::ffi::OsString]) -> String {
    let mut cmd = command();
    let mut names = Vec::new();
    for a in args.iter().skip(1) {
        let Some(a) = a.to_str() else { continue };
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(a).cloned() {
            Some(sub) => {
                names.push(sub.get_name().to_string());
                cmd = sub;
            }
            None => continue,
        }
    }
    names.join(" ")
}

/// Refuse global options the command does not use (given on the command line).
fn check_applicable(cli: &mut Cli, leaf: &clap::ArgMatches) -> Result<(), CliError> {
    use clap::parser::ValueSource;
    let uses = cli.command.uses();
    let explicit = |id: &str| leaf.try_get_raw(id).ok().flatten().is_some() && leaf.value_source(id) == Some(ValueSource::CommandLine);
    let cmd = command_name(&cli.command);
    if !uses.config && explicit("config") {
        return Err(CliError::usage(format!("--config does not apply to `keystation {cmd}`: it reads no station configuration")));
    }
    if !uses.state_dir && explicit("state_dir") {
        return Err(CliError::usage(format!("--state-dir does not apply to `keystation {cmd}`: it keeps nothing in the state directory")));
    }
    match cli.command.key_flags() {
        Some(flags) => {
            // After the subcommand wins over the old place before it.
            cli.global.virtual_keys = flags.virtual_keys.or(cli.global.virtual_keys);
            cli.global.virtual_state = flags.virtual_state.or(cli.global.virtual_state.take());
        }
        None if cli.global.virtual_keys.is_some() || cli.global.virtual_state.is_some() => {
            let hint = match &cli.command {
                Command::Demo(_) => "; the demo always uses virtual keys: --keys K sets how many are on the hub at once",
                _ => "",
            };
            return Err(CliError::usage(format!("--virtual does not apply to `keystation {cmd}`: only keys, enroll, open, batch, kiosk, console, doctor and reimage use keys{hint}")));
        }
        None => {}
    }
    Ok(())
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Keys(_) => "keys",
        Command::Login(_) => "login",
        Command::Logout(_) => "logout",
        Command::Whoami(_) => "whoami",
        Command::Simulator(_) => "simulator",
        Command::VirtualKey(_) => "virtual-key",
        Command::Enroll(_) => "enroll",
        Command::Open(_) => "open",
        Command::Deeplink(_) => "deeplink",
        Command::Batch(_) => "batch",
        Command::Kiosk(_) => "kiosk",
        Command::Console(_) => "console",
        Command::Report(_) => "report",
        Command::Jobs(_) => "jobs",
        Command::Queue(_) => "queue",
        Command::Doctor(_) => "doctor",
        Command::Users(_) => "users",
        Command::Methods(_) => "methods",
        Command::Reimage(_) => "reimage",
        Command::Demo(_) => "demo",
        Command::Bench(_) => "bench",
        Command::Config(_) => "config",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `--json` anywhere before `--` asks for the envelope, also for usage errors.
    let json = args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(e, json, &command_path_of_args(&args)),
    };
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e, json, &command_path_of_args(&args)),
    };
    let (path, leaf) = command_path(&matches);
    if let Err(e) = check_applicable(&mut cli, leaf) {
        return CliContext::for_command(cli.global.clone(), PathBuf::new(), &path).finish(Err(e));
    }
    let ctx = match CliContext::init(&cli.global, &path) {
        Ok(ctx) => ctx,
        Err(e) => return CliContext::for_command(cli.global.clone(), PathBuf::new(), &path).finish(Err(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return ctx.finish(Err(CliError::new(Exit::Failure, format!("cannot start the async runtime: {e}")))),
    };
    let result = runtime.block_on(dispatch(cli.command, &ctx));
    // Key workers are plain threads; do not let a stuck one keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ctx.finish(result)
}

/// A parser error: help and version as clap prints them; a usage error as the envelope
/// with `--json`, else clap's own message (exit 2 either way).
fn usage_error(e: clap::Error, json: bool, command: &str) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
    if !json || informational {
        let _ = e.print();
        return ExitCode::from(e.exit_code() as u8);
    }
    let text = e.render().to_string();
    // clap's first line is "error: …"; the rest is usage and a pointer to --help.
    let message = text.lines().next().unwrap_or("").trim_start_matches("error: ").trim().to_string();
    let next = format!("see `keystation {}{}--help`", command, if command.is_empty() { "" } else { " " });
    let err = CliError::usage(message).with_next_step(next);
    crate::cli::json::print_envelope(command, Exit::Usage, Some(&err), &json::ResultSlot::default());
    ExitCode::from(Exit::Usage as u8)
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
        Command::Open(a) => open::run(a, ctx).await,
        Command::Deeplink(a) => deeplink::run(a, ctx).await,
        Command::Batch(a) => batch::run(a, ctx).await,
        Command::Kiosk(a) => kiosk::run(a, ctx).await,
        Command::Console(a) => console::run(a, ctx).await,
        Command::Report(a) => report::run(a, ctx).await,
        Command::Jobs(a) => jobs::run(a, ctx).await,
        Command::Queue(a) => queue::run(a, ctx).await,
        Command::Doctor(a) => doctor::run(a, ctx).await,
        Command::Users(a) => users::run(a, ctx).await,
        Command::Methods(a) => methods::run(a, ctx).await,
        Command::Reimage(a) => reimage::run(a, ctx).await,
        Command::Demo(a) => demo::run(a, ctx).await,
        Command::Bench(a) => bench::run(a, ctx).await,
        Command::Config(a) => config_cmd::run(a, ctx).await,
        Command::Completions(a) => completions::completions(a, ctx).await,
        Command::Man(a) => completions::man(a, ctx).await,
    }
}
