//! `keystation demo`: the simulated tenant, a hub of virtual keys and a real batch, end
//! to end, with no hardware, tenant or configuration. The work is `station::demo`.
use crate::cli::batch::{spawn_interrupt_handler, ViaArg};
use crate::cli::progress::{out_text, table, BatchDisplay, OutputMode, SlipPolicy};
use crate::cli::{CliContext, CliError, Exit};
use crate::station::batch::{BatchControl, BatchEnd, RowStatus};
use crate::station::demo::{run_demo, DemoError, DemoOptions, DemoRun};
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `keystation demo`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Everything runs in this process: the Entra simulator, the station and virtual keys.\n\
The journal lives in a temporary directory unless --state-dir is given.\n\
Guide: docs/demo.md")]
pub struct DemoArgs {
    /// Users to provision (1–200): Contoso's pilot users first, then made-up new starters.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub users: usize,
    /// Keys on the hub at once, provisioned concurrently (1–32).
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub keys: usize,
    /// Registration path: graph (default) or browser (needs Chromium and chromedriver).
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<ViaArg>,
    /// Keys are touched at once instead of after a human-like delay.
    #[arg(long)]
    pub fast: bool,
    /// Show the demo in the web console (hub, desk, journal) instead of on this terminal.
    #[arg(long)]
    pub console: bool,
    /// With --console: address and port to listen on (loopback; port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0", requires = "console")]
    pub listen: String,
    /// With --console: do not open a browser, only print the link.
    #[arg(long, requires = "console")]
    pub no_open: bool,
}

/// Run `keystation demo`.
pub async fn run(args: DemoArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    // The demo tells what happens step by step: plain lines even on a terminal.
    let mode = if ctx.json() { OutputMode::Json } else { OutputMode::Lines };
    let display = Arc::new(BatchDisplay::new(mode, SlipPolicy::ShowFirst));
    let via = args.via.map(Into::into).unwrap_or(crate::ceremony::RegistrationPath::Graph);
    let options = DemoOptions {
        users: args.users,
        keys: args.keys,
        via: Some(via),
        // Only an explicit --state-dir keeps the journal; the default one is the operator's real station.
        state_dir: ctx.global.state_dir.clone(),
        touch: args.fast.then_some(crate::key::virtual_key::Touch::Instant),
        ..DemoOptions::default()
    };
    crate::station::demo::check_options(&options).map_err(|e| CliError::usage(e.to_string()))?;
    if args.console {
        return in_console(options, &args, ctx).await;
    }
    if mode != OutputMode::Json {
        display.say(&format!(
            "keystation demo: a simulated Entra tenant (Contoso), {} user(s), {} virtual key(s) at a time. Nothing here touches real keys or a real tenant.\n",
            options.users, options.keys
        ));
    }
    let control = BatchControl::default();
    let ctrl_c = spawn_interrupt_handler(control.clone());
    let result = run_demo(options, display.clone(), control).await;
    ctrl_c.abort();
    let run = result.map_err(demo_error)?;
    if mode == OutputMode::Json {
        ctx.print_json(&serde_json::json!({"rows": run.rows, "counts": run.report.counts, "state_dir": run.state_dir, "state_dir_kept": run.state_dir_kept}))?;
    } else {
        out_text(&format!("\n{}{}", result_table(&run), pointers(&run, via, ctx.global.state_dir.as_ref())));
    }
    Ok(match run.report.end {
        BatchEnd::AllDone => Exit::Ok,
        BatchEnd::Partial => Exit::PartialFailure,
        BatchEnd::NeedsOperator => Exit::NeedsOperator,
        BatchEnd::Cancelled => Exit::Cancelled,
    })
}

/// `demo --console`: the same simulated world, shown in the web console.
async fn in_console(options: DemoOptions, args: &DemoArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let listen = crate::station::config::parse_listen(&args.listen).map_err(|m| CliError::usage(format!("--listen {m}")))?;
    if !listen.ip().is_loopback() {
        return Err(CliError::usage("--listen: the demo console listens on a loopback address only (127.0.0.1)"));
    }
    let demo = crate::console::demo::DemoConsole::start(options, listen).await.map_err(demo_error)?;
    // The link files go where the demo's journal is (a temporary directory unless --state-dir).
    let dir = demo.state_dir().0.to_path_buf();
    let stop = crate::cli::stop::StopSignals::new();
    let _files = crate::cli::console::announce(ctx, &dir, &demo.console, "hub", !args.no_open)?;
    if !ctx.json() {
        outln!("The demo's batch starts on the hub as soon as a browser has signed in; then try the desk and the journal.");
    }
    let stopped = stop.wait();
    tokio::pin!(stopped);
    tokio::select! {
        r = demo.run_batch_when_signed_in() => {
            r.map_err(demo_error)?;
            if !ctx.json() {
                outln!("The demo's batch has ended. The console stays up for the desk and the journal; Ctrl-C stops it.");
            }
            stopped.await;
        }
        _ = &mut stopped => {}
    }
    demo.shutdown().await;
    Ok(Exit::Ok)
}

fn demo_error(e: DemoError) -> CliError {
    match e {
        DemoError::Usage(m) => CliError::usage(m),
        DemoError::Environment(m) => CliError::new(Exit::Environment, m),
        DemoError::Setup(m) => CliError::failure(m),
        DemoError::StateDir(e) => e.into(),
    }
}

fn result_table(run: &DemoRun) -> String {
    let c = &run.report.counts;
    let mut out = format!(
        "Result: {} of {} user(s) done in {} with {} key(s) at a time\n\n",
        c.done,
        run.rows.len(),
        crate::cli::progress::describe::duration(run.report.millis),
        run.keys
    );
    let rows: Vec<Vec<String>> = run
        .rows
        .iter()
        .map(|r| {
            vec![
                table::clip(&r.user, 30),
                match (&r.key, &r.serial) {
                    (Some(k), Some(s)) => format!("{k} ({s})"),
                    (Some(k), None) => k.clone(),
                    _ => "-".into(),
                },
                r.model.clone().unwrap_or_else(|| "-".into()),
                r.method_id.clone().map(|m| table::clip(&m, 24)).unwrap_or_else(|| "-".into()),
                if r.state == RowStatus::Done { "done".into() } else { format!("{}: {}", r.state.as_str(), r.reason.clone().unwrap_or_default()) },
                r.millis.map(crate::cli::progress::describe::duration).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table::render(&["USER", "KEY", "MODEL", "METHOD ID", "STATE", "TIME"], &rows));
    out
}

fn pointers(run: &DemoRun, via: crate::ceremony::RegistrationPath, explicit_state_dir: Option<&PathBuf>) -> String {
    let registration = match via {
        crate::ceremony::RegistrationPath::Graph => {
            "Graph's creation options,\n\
             \x20   makeCredential on the key (touched), the passkey registered with POST fido2Methods, read back, handed over;\n"
        }
        crate::ceremony::RegistrationPath::Browser => {
            "a Temporary Access Pass,\n\
             \x20   a private Chromium signed in as the user and walked Security info, keystation answered the page's\n\
             \x20   navigator.credentials.create with makeCredential on the key (touched), the method read back from Graph, handed over;\n"
        }
    };
    let mut s = String::from(
        "\nWhat you just saw:\n\
         \x20 * a batch imaging run: each blank key that arrived on the hub got the next user from a CSV list;\n\
         \x20 * per key: getInfo and the tenant's policy checked, a random PIN set, ",
    );
    s.push_str(registration);
    s.push_str("  * every step recorded in a crash-safe journal before it happened (a re-run resumes, never registers twice).\n");
    match (run.state_dir_kept, explicit_state_dir) {
        (true, Some(dir)) => s.push_str(&format!("\nThe journal is kept: keystation --state-dir {} report\n", dir.display())),
        _ => s.push_str("\nThe journal was in a temporary directory; add --state-dir DIR to keep it and run `keystation --state-dir DIR report`.\n"),
    }
    s.push_str(
        "\nTry it for real:\n\
         \x20 1. register an app in your tenant and fill in [tenant] (docs/tenant-setup.md, docs/configuration.md);\n\
         \x20 2. plug a key in and run `keystation enroll --dry-run --user you@yourtenant.com` to see what would happen;\n\
         \x20 3. image keys from a list: `keystation batch users.csv` (docs/operator-guide-batch.md),\n\
         \x20    or run an enrollment desk: `keystation kiosk` (docs/operator-guide-kiosk.md).\n\
         More about this demo: docs/demo.md\n",
    );
    s
}
