//! `keys reset`: explain the 10-second window, wait for the touch, and when the window
//! has passed, wait for a re-plug and reset at once.
use super::{ask, choose, handle_options, interactive, until_ctrl_c, KeyChoice, KeyJson};
use crate::cli::{CliContext, CliError, Exit};
use crate::key::KeyError;
use crate::key::sources::KeySources;
use crate::key::worker::{KeyHandle, reset_after_replug};
use clap::Args;
use std::time::Duration;

/// `keys reset` options.
#[derive(Args, Debug)]
pub struct ResetArgs {
    #[command(flatten)]
    pub key: KeyChoice,
    /// Do not ask for confirmation (the reset erases every credential and the PIN).
    #[arg(long)]
    pub yes: bool,
    /// If the key was plugged in too long ago, wait for it to be re-plugged and reset
    /// it then (instead of asking).
    #[arg(long)]
    pub wait_replug: bool,
    /// Seconds to wait for the re-plug.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub replug_timeout: u64,
}

pub async fn run(sources: &KeySources, args: ResetArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let descriptor = choose(sources, &args.key)?;
    if !args.yes {
        if !interactive(ctx) {
            return Err(CliError::usage("a reset erases every passkey and the PIN on the key; add --yes to confirm"));
        }
        if !ask(&format!("Erase every passkey and the PIN on {}? [y/N]", descriptor.label()), false) {
            return Err(CliError::new(Exit::Cancelled, "nothing was changed"));
        }
    }
    errln!("A key accepts a factory reset only within 10 seconds of being plugged in. Touch the key when it blinks.");
    let io = sources.open(&descriptor)?;
    let handle = KeyHandle::open(descriptor.clone(), io, handle_options(&args.key)).await?;
    let outcome = tokio::select! {
        r = handle.reset() => r,
        _ = tokio::signal::ctrl_c() => return Err(CliError::new(Exit::Cancelled, "cancelled by the operator (Ctrl-C); nothing was erased")),
    };
    let replugged = match outcome {
        Ok(()) => false,
        Err(KeyError::ResetWindowPassed) => {
            drop(handle);
            let wait = args.wait_replug || (interactive(ctx) && ask("The key was plugged in more than 10 seconds ago. Wait for you to unplug it and plug it in again? [Y/n]", true));
            if !wait {
                return Err(CliError::new(
                    Exit::KeyError,
                    "the key was plugged in more than 10 seconds ago, so it refuses a reset; run `keystation keys reset --wait-replug`, then unplug the key and plug it in again when asked",
                ));
            }
            let timeout = Duration::from_secs(args.replug_timeout.max(1));
            // Asked only once the watcher has looked, so a quick pull cannot be missed.
            let prompt = || errln!("Unplug the key and plug it in again (waiting up to {} s); then touch it when it blinks.", timeout.as_secs());
            until_ctrl_c(reset_after_replug(sources, &descriptor, handle_options(&args.key), timeout, prompt)).await?;
            true
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "key": KeyJson::new(&descriptor, None), "action": "reset", "replugged": replugged }))?;
    } else {
        outln!("Key reset: {} (no PIN, no passkeys)", descriptor.label());
    }
    Ok(Exit::Ok)
}
