//! `keys set-pin`, `keys change-pin`.
use super::{open_chosen, until_ctrl_c, KeyChoice, KeyJson};
use crate::cli::secret_input::{NewPinSource, PinSource};
use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::KeySources;
use clap::Args;

/// `keys set-pin` options.
#[derive(Args, Debug)]
pub struct SetPinArgs {
    #[command(flatten)]
    pub key: KeyChoice,
    #[command(flatten)]
    pub new_pin: NewPinSource,
}

/// `keys change-pin` options.
#[derive(Args, Debug)]
pub struct ChangePinArgs {
    #[command(flatten)]
    pub key: KeyChoice,
    #[command(flatten)]
    pub pin: PinSource,
    #[command(flatten)]
    pub new_pin: NewPinSource,
}

fn done(ctx: &CliContext, key: &crate::key::KeyDescriptor, action: &str, what: &str) -> Result<Exit, CliError> {
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "key": KeyJson::new(key, None), "action": action }))?;
    } else {
        outln!("{what}: {}", key.label());
    }
    Ok(Exit::Ok)
}

pub async fn set_pin(sources: &KeySources, args: SetPinArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let handle = open_chosen(sources, &args.key).await?;
    let info = handle.info();
    if info.pin_is_set() {
        return Err(CliError::new(Exit::KeyError, "this key already has a PIN; use `keystation keys change-pin` (or reset the key)"));
    }
    let new_pin = args.new_pin.read(&format!("New PIN (at least {} characters)", info.min_pin_length))?;
    until_ctrl_c(handle.set_pin(&new_pin)).await?;
    done(ctx, handle.descriptor(), "pin_set", "PIN set")
}

pub async fn change_pin(sources: &KeySources, args: ChangePinArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let handle = open_chosen(sources, &args.key).await?;
    let current = args.pin.read("Current PIN")?;
    let new_pin = args.new_pin.read(&format!("New PIN (at least {} characters)", handle.info().min_pin_length))?;
    until_ctrl_c(handle.change_pin(&current, &new_pin)).await?;
    done(ctx, handle.descriptor(), "pin_changed", "PIN changed")
}
