//! `keystation enroll --user UPN`: provision one key for one user at a desk.
//!
//! Waits for a key (or uses the one plugged in; `--key`/`--index` choose among several),
//! continues the user's unfinished job from an earlier run if there is one (resume
//! rules, `docs/journal.md`), otherwise provisions the key, printing each step, the
//! result and the handover slip once. `--dry-run` prints the plan and touches nothing.
//! Exit codes: `docs/exit-codes.md`. Logic lives in `crate::station::pipeline`.
#![warn(missing_docs)]
mod desk;
pub mod flags;
pub(crate) mod print;

use crate::ceremony::RegistrationPath;
use crate::cli::keys::{KeyChoice, NO_KEY_MESSAGE};
use crate::cli::secret_input::{read_secret, NewPinSource, PinSource};
use crate::text::inert;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::manage::users::check_user_for_config;
use crate::key::sources::{KeySources, SourceOptions};
use crate::key::virtual_key::AttestationCa;
use crate::key::worker::KeyHandle;
use crate::key::{KeyDescriptor, KeyError};
use crate::station::config::StationConfig;
use crate::station::journal::JobMode;
use crate::station::pin::PinSource as PinOrigin;
use crate::station::pipeline::{self, key_handle_options, CancelToken, ConnectOptions, JobOutcome, JobSpec, PinChoice, Station, StationEvents, StationSetup};
use clap::Args;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use flags::ViaArg;

/// `keystation enroll`.
#[derive(Args, Debug)]
#[command(after_help = "Configuration: --config FILE, KEYSTATION_* variables, then these options (docs/configuration.md).\n\
PINs are never taken from the command line: use --new-pin-env/--new-pin-file/--new-pin-stdin (a PIN the user chose) \
and --pin-env/--pin-file/--pin-stdin (the key's current PIN), or answer the prompts.")]
pub struct EnrollArgs {
    /// The user: UPN, mail address or object id.
    #[arg(long, value_name = "UPN")]
    pub user: String,
    /// Which key, and how long a person gets to touch it.
    #[command(flatten)]
    pub key: KeyChoice,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
    /// Seconds to wait for a key to be plugged in.
    #[arg(long = "wait", value_name = "SECS", default_value_t = 300)]
    pub wait_secs: u64,
    /// Registration path for this job (default: the tenant's `registration`).
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<ViaArg>,
    /// Show what would be done without touching the key or the tenant.
    #[arg(long)]
    pub dry_run: bool,
    /// Put the PIN and TAP in the --json output (for a script that hands them on).
    #[arg(long)]
    pub show_pin_in_json: bool,
    /// A fixed name for the key in Entra (≤ 30 characters) instead of the template.
    #[arg(long, value_name = "NAME")]
    pub key_name: Option<String>,
    /// Per-job PIN policy, e.g. "alphanumeric,length=10" (see docs/pipeline.md).
    #[arg(long, value_name = "POLICY")]
    pub pin_policy: Option<String>,
    /// The PIN the user chose (read from a variable, file or stdin; never argv).
    #[command(flatten)]
    pub new_pin: NewPinSource,
    /// The key's current PIN, when the user knows it (the PIN is then changed, not reset).
    #[command(flatten)]
    pub current_pin: PinSource,

    /// Configuration overrides (tenant, sign-in, PIN policy, reset, TAP, handover, journal, CA bundle).
    #[command(flatten)]
    pub station: Box<flags::StationFlags>,
}

/// Keys: USB, or `--virtual N` keys with batch attestation from the CA kept in the
/// state directory (the one `keystation simulator` can be told to trust).
fn key_sources(ctx: &CliContext) -> Result<KeySources, CliError> {
    let attestation_ca_dir = ctx.global.virtual_keys.map(|_| AttestationCa::default_dir(&ctx.state_dir));
    let options = SourceOptions { virtual_keys: ctx.global.virtual_keys, virtual_state: ctx.global.virtual_state.clone(), attestation_ca_dir };
    KeySources::from_options(&options).map_err(|e| match e {
        KeyError::Transport(text) => CliError::usage(text),
        other => other.into(),
    })
}

/// The key the options name, the only one present, or (none present) the first to be
/// plugged in within `--wait`.
async fn wait_for_key(sources: &KeySources, args: &EnrollArgs, cancel: &CancelToken) -> Result<KeyDescriptor, CliError> {
    let deadline = Instant::now() + Duration::from_secs(args.wait_secs);
    let mut told = false;
    loop {
        let present = sources.enumerate()?;
        let wanted = args.key.names_a_key();
        if !present.is_empty() && (!wanted || crate::cli::keys::choose(sources, &args.key).is_ok()) {
            return crate::cli::keys::choose(sources, &args.key);
        }
        if Instant::now() >= deadline {
            return match crate::cli::keys::choose(sources, &args.key) {
                Ok(d) => Ok(d),
                Err(_) if present.is_empty() => Err(CliError::new(Exit::NoKey, format!("{NO_KEY_MESSAGE} (waited {} s)", args.wait_secs))),
                Err(e) => Err(e),
            };
        }
        if !told {
            errln!("Plug in the key for {} (waiting up to {} s; Ctrl-C to stop)…", args.user, args.wait_secs);
            told = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = cancel.cancelled() => return Err(CliError::new(Exit::Cancelled, "cancelled by the operator (Ctrl-C) while waiting for a key")),
        }
    }
}

fn job_spec(args: &EnrollArgs, config: &StationConfig) -> Result<JobSpec, CliError> {
    let mut spec = JobSpec::new(JobMode::Enroll, args.user.trim());
    if spec.user.is_empty() {
        return Err(CliError::usage("--user is empty: give the user's UPN, mail address or object id"));
    }
    spec.display_name = args.key_name.clone();
    spec.via = args.via.map(RegistrationPath::from);
    if let Some(p) = &args.pin_policy {
        spec.pin_policy = Some(pipeline::PinPolicyOverride::parse(p).map_err(|e| CliError::usage(format!("--pin-policy: {e}")))?);
    }
    // Secrets from their sources, current PIN first (as `keys change-pin` reads them).
    let current = if args.current_pin.is_given() { Some(args.current_pin.read("Current PIN of the key")?) } else { None };
    if args.new_pin.is_given() {
        let p = &args.new_pin;
        spec.pin = PinChoice::Chosen(read_secret(p.new_pin_env.as_deref(), p.new_pin_file.as_ref(), p.new_pin_stdin, "New PIN", false, "--new-pin")?);
    } else if spec.pin_policy.as_ref().and_then(|o| o.source).unwrap_or(config.pin.source) == PinOrigin::UserAtDesk {
        spec.pin = PinChoice::AskAtDesk;
    }
    spec.current_pin = current.clone();
    spec.prompt = Some(Arc::new(desk::CliDesk::new(current)));
    Ok(spec)
}

/// Run `keystation enroll`.
pub async fn run(args: EnrollArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = ctx.load_config(args.station.overrides())?.config;
    // Before the keys: their virtual state (--virtual) lives in the state directory too.
    let _claim = if args.dry_run { None } else { Some(ctx.claim_state_dir()?) };
    let sources = key_sources(ctx)?;
    let mut spec = job_spec(&args, &config)?;

    if args.dry_run {
        return dry_run(&args, ctx, &config, &sources, &spec).await;
    }
    let random_pin_lost = config.pin.source == PinOrigin::Random && !args.new_pin.is_given() && config.handover.recipients.is_empty();
    if ctx.json() && !args.show_pin_in_json && random_pin_lost && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return Err(CliError::usage(
            "with --json and no terminal the handover slip (the PIN) could not be shown to anyone: add --show-pin-in-json, or configure handover.recipients to keep a sealed copy",
        ));
    }

    // Ctrl-C cancels whatever runs; the pipeline records it.
    let cancel = CancelToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                errln!("Cancelling…");
                cancel.cancel();
            }
        })
    };
    let result = enroll(&args, ctx, config, sources, &mut spec, cancel).await;
    watcher.abort();
    let mut outcome = result?;
    if ctx.json() {
        print::print_json(ctx, &mut outcome, args.show_pin_in_json)
    } else {
        Ok(print::print_human(&mut outcome))
    }
}

async fn enroll(args: &EnrollArgs, ctx: &CliContext, config: StationConfig, sources: KeySources, spec: &mut JobSpec, cancel: CancelToken) -> Result<JobOutcome, CliError> {
    let mut setup = StationSetup::from_config(config, &ctx.state_dir, &ConnectOptions::default())?;
    setup.sources = Some(sources.clone());
    setup.options.touch_timeout = Duration::from_secs(args.key.touch_timeout.max(1));
    let station = Station::open(setup).await?;
    let events: Arc<dyn StationEvents> = Arc::new(print::StepPrinter::new(ctx.json()));

    // This user's unfinished jobs from an earlier run come first.
    let pending = station.pending_resumes().await?;
    let wanted = spec.user.to_ascii_lowercase();
    let (mine, others): (Vec<_>, Vec<_>) = pending.into_iter().partition(|i| {
        [i.job.user.upn.as_deref(), i.job.user.object_id.as_deref()].into_iter().flatten().any(|u| u.to_ascii_lowercase() == wanted)
    });
    if !others.is_empty() {
        errln!("note: {} unfinished job(s) of other users are waiting (keystation report --state unfinished); they are resumed when those users are enrolled.", others.len());
    }

    let descriptor = wait_for_key(&sources, args, &cancel).await?;
    let io = sources.open(&descriptor)?;
    let key = Arc::new(KeyHandle::open(descriptor.clone(), io, key_handle_options(events.clone(), Duration::from_secs(args.key.touch_timeout.max(1)))).await?);
    errln!("Enrolling {} with {}.", spec.user, descriptor.label());

    // Older interrupted jobs are settled without the key; the newest one gets it (and
    // becomes this run's enrollment if it has to start over).
    let mut mine = mine;
    let newest = mine.pop();
    for mut item in mine {
        item.retry.prompt = spec.prompt.clone();
        errln!("Resuming: {}", item.summary);
        let o = station.resume(item, None, events.clone(), cancel.clone()).await;
        if let Some(e) = &o.error {
            errln!("  {}", e.message);
        }
    }
    if let Some(mut item) = newest {
        errln!("Resuming: {}", item.summary);
        item.retry.prompt = spec.prompt.clone();
        if matches!(spec.pin, PinChoice::Chosen(_) | PinChoice::AskAtDesk) {
            item.retry.pin = spec.pin.clone();
        }
        item.retry.current_pin = spec.current_pin.clone();
        item.retry.via = spec.via;
        item.retry.display_name = spec.display_name.clone();
        item.retry.pin_policy = spec.pin_policy.clone();
        let outcome = station.resume(item, Some(key), events, cancel).await;
        return Ok(outcome);
    }
    Ok(station.provision(key, spec.clone(), events, cancel).await)
}

async fn dry_run(args: &EnrollArgs, ctx: &CliContext, config: &StationConfig, sources: &KeySources, spec: &JobSpec) -> Result<Exit, CliError> {
    let models = crate::station::setup::model_table(config)?;
    // A key already plugged in is read (getInfo only) to make the plan exact; nothing
    // is waited for and nothing is written.
    let chosen = match sources.enumerate()?.len() {
        0 => None,
        _ => crate::cli::keys::choose(sources, &args.key).ok(),
    };
    let mut info = None;
    let (mut serial, mut product) = (None, None);
    if let Some(d) = chosen {
        let io = sources.open(&d)?;
        let handle = KeyHandle::open(d.clone(), io, Default::default()).await?;
        info = Some(handle.info());
        serial = d.serial.clone();
        product = d.product.clone();
    }
    let plan = pipeline::plan(config, &models, &ctx.state_dir, spec, info.as_ref(), serial, product);
    // The user, checked with the tenant (reads only) when one is configured: a user the
    // tenant would refuse makes the dry run fail with the code the enrollment would.
    let check = match config.require_tenant() {
        Ok(_) => {
            Some(check_user_for_config(config, &ctx.state_dir, &ConnectOptions::default(), &spec.user, spec.via).await)
        }
        Err(_) => None,
    };
    let exit: Exit = match &check {
        Some(Ok(c)) => c.refusal.as_ref().map(|r| r.class().into()).unwrap_or(Exit::Ok),
        Some(Err(e)) => e.class().into(),
        None => Exit::Ok,
    };
    if ctx.json() {
        let mut v = serde_json::to_value(&plan).map_err(|e| CliError::failure(format!("cannot encode the plan: {e}")))?;
        v["user_check"] = match &check {
            None => serde_json::json!({"checked": false, "why": "no tenant is configured"}),
            Some(Ok(c)) => serde_json::json!({
                "checked": true, "upn": c.upn, "object_id": c.user.id, "allowed": c.refusal.is_none(), "refusal": c.refusal,
                "fido2_scope": c.fido2, "tap_scope": c.tap, "warnings": c.warnings,
            }),
            Some(Err(e)) => serde_json::json!({"checked": false, "error": e}),
        };
        ctx.print_json(&v)?;
    } else {
        crate::cli::progress::out_text(&plan.to_string());
        match &check {
            None => outln!("\nUser check: not made (no tenant is configured)."),
            Some(Ok(c)) => match &c.refusal {
                None => outln!("\nUser check: {} can be enrolled (member, in scope of the Passkey (FIDO2) policy{}).", inert(&c.upn), if c.tap_needed { " and the TAP policy" } else { "" }),
                Some(r) => {
                    outln!("\nUser check: REFUSED: {}", inert(&r.message));
                    if let Some(n) = &r.next_step {
                        outln!("  What to do: {}", inert(n));
                    }
                }
            },
            Some(Err(e)) => {
                outln!("\nUser check: could not be made: {}", inert(&e.message));
                if let Some(n) = &e.next_step {
                    outln!("  What to do: {}", inert(n));
                }
            }
        }
        if let Some(Ok(c)) = &check {
            for w in &c.warnings {
                outln!("  warning: {}", inert(w));
            }
        }
    }
    // A refusal is the command's error (the JSON envelope's `error`).
    let refusal = match &check {
        Some(Ok(c)) => c.refusal.as_ref(),
        Some(Err(e)) => Some(e),
        None => None,
    };
    match refusal {
        None => Ok(exit),
        Some(r) => {
            let e = CliError::new(exit, format!("the dry run's user check: {}", r.message));
            Err(match &r.next_step {
                Some(n) => e.with_next_step(n.clone()),
                None => e,
            })
        }
    }
}
