//! `keystation reimage`: a returned key is made ready for its next owner — the previous
//! owners' Entra registrations found on it (journal by serial; the key's own credentials
//! with `--pin-*`) are deleted, then the key is reset; all recorded in the journal, and an
//! interrupted re-image is finished by running the command again with the key. The work
//! is in `crate::station::manage::reimage`.
use crate::cli::batch::{load_config, open_station};
use crate::cli::enroll::print::StepPrinter;
use crate::cli::keys::{ask, choose, interactive, KeyChoice};
use crate::cli::secret_input::PinSource;
use crate::cli::users::cli_error;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::worker::KeyHandle;
use crate::station::manage::reimage::ReimagePlan;
use crate::station::pipeline::{key_handle_options, CancelToken, StationEvents};
use crate::text::inert;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

/// `keystation reimage`.
#[derive(Args, Debug)]
#[command(after_help = "Deletes the previous owners' matching security keys in Entra, then factory-resets the key (touch it when it blinks).\n\
Enroll the next owner afterwards: keystation enroll --user NEW.\n\
Guide: docs/operator-guide-reimage.md")]
pub struct ReimageArgs {
    /// Which key, and how long a person gets to touch it.
    #[command(flatten)]
    pub key: KeyChoice,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
    /// The key's current PIN, when known: its credentials are read and matched to Entra
    /// methods (a key enrolled elsewhere, or without a serial number).
    #[command(flatten)]
    pub pin: PinSource,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Reset even when the key's registrations cannot be found (it has a PIN, the journal
    /// knows no enrollment of it and no PIN was given): Entra methods may be left behind.
    #[arg(long)]
    pub force: bool,
    /// Show what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// Run `keystation reimage`.
pub async fn run(args: ReimageArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, args.station.overrides())?;
    if !args.dry_run && !args.yes && !interactive(ctx) {
        return Err(CliError::usage("re-imaging deletes security keys in Entra and erases the key: add --yes to confirm (nobody can be asked here)"));
    }
    let pin = if args.pin.is_given() { Some(args.pin.read("Current PIN of the key")?) } else { None };
    let _claim = if args.dry_run { None } else { Some(ctx.claim_state_dir()?) };
    let sources = crate::cli::batch::key_sources(ctx)?;
    // A dry run reads the journal (or a throwaway one) without the state directory's lock.
    let scratch = tempfile::tempdir().map_err(|e| CliError::failure(format!("cannot make a temporary directory: {e}")))?;
    let station = if args.dry_run {
        crate::cli::batch::open_station_read_only(ctx, config, scratch.path()).await?
    } else {
        open_station(ctx, config, Some(sources.clone())).await?
    };
    let descriptor = choose(&sources, &args.key)?;
    let events: Arc<dyn StationEvents> = Arc::new(StepPrinter::new(ctx.json()));
    let touch = Duration::from_secs(args.key.touch_timeout.max(1));
    let io = sources.open(&descriptor)?;
    let key = Arc::new(KeyHandle::open(descriptor.clone(), io, key_handle_options(events.clone(), touch)).await?);

    let plan = station.plan_reimage(&key, pin.as_ref()).await.map_err(|e| cli_error(&e))?;
    if !ctx.json() {
        crate::cli::progress::out_text(&render_plan(&plan, &descriptor.label()));
    }
    if plan.may_leave_registrations() && !args.force {
        if ctx.json() {
            ctx.print_json(&serde_json::json!({"plan": plan}))?;
        }
        return Err(CliError::usage("this key has a PIN, the journal knows no enrollment of it, and its credentials were not read: its owner's Entra registration cannot be found")
            .with_next_step("give the key's PIN (--pin-env VAR, --pin-file FILE or --pin-stdin) so its credentials are matched to Entra methods, or add --force to reset it anyway (delete the owner's method by hand: keystation methods delete)"));
    }
    if args.dry_run {
        if ctx.json() {
            ctx.print_json(&serde_json::json!({"plan": plan, "dry_run": true}))?;
        }
        return Ok(Exit::Ok);
    }
    if !args.yes && !ask("Delete these registrations in Entra and erase the key? [y/N]", false) {
        return Err(CliError::new(Exit::Cancelled, "nothing was changed"));
    }

    let cancel = CancelToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let outcome = station.reimage(key, plan.clone(), events, cancel).await;
    watcher.abort();
    let outcome = outcome.map_err(|e| cli_error(&e))?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({"plan": plan, "outcome": outcome}))?;
    }
    if let Some(e) = &outcome.error {
        return Err(cli_error(e));
    }
    if !ctx.json() {
        let deleted = outcome.deletions.iter().filter(|d| matches!(d.result, "deleted" | "already_gone" | "done_before")).count();
        crate::cli::progress::out_line(&format!(
            "Re-imaged {}: {deleted} registration(s) removed from Entra, the key is reset (journal operation {}). Enroll its next owner with: keystation enroll --user UPN",
            inert(outcome.key_path.as_deref().unwrap_or(&descriptor.path)),
            outcome.uid
        ));
    }
    Ok(Exit::Ok)
}

/// What the re-image will do.
pub fn render_plan(plan: &ReimagePlan, label: &str) -> String {
    let k = &plan.key;
    let mut s = format!(
        "Key {}: {} (AAGUID {}, serial {}), {}\n",
        inert(label),
        inert(k.model.as_deref().unwrap_or("unknown model")),
        inert(k.aaguid.as_deref().unwrap_or("-")),
        inert(k.serial.as_deref().unwrap_or("none")),
        if plan.key_has_pin { "has a PIN" } else { "has no PIN" }
    );
    if let Some(uid) = &plan.resumes {
        s.push_str(&format!("An earlier re-image of this key was interrupted ({}); it is finished now.\n", inert(uid)));
    }
    if plan.deletions.is_empty() {
        s.push_str("No Entra registration of this key was found.\n");
    } else {
        s.push_str("Entra registrations to delete:\n");
        for d in &plan.deletions {
            s.push_str(&format!(
                "  {}  \"{}\"  method {}  (found in the {})\n",
                inert(d.user_upn.as_deref().unwrap_or(&d.user_id)),
                inert(d.display_name.as_deref().unwrap_or("")),
                inert(&d.method_id),
                match d.found_by.as_str() {
                    "key" => "key's credentials",
                    _ => "journal",
                }
            ));
        }
    }
    for n in &plan.notes {
        s.push_str(&format!("  note: {}\n", inert(n)));
    }
    s.push_str("Then the key is reset: every credential and the PIN are erased.\n");
    s
}
