//! `keys config`: minimum PIN length, forced PIN change, alwaysUv, enterprise attestation.
use super::{open_chosen, until_ctrl_c, KeyChoice, KeyJson};
use crate::cli::secret_input::PinSource;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::ctap2::MinPinLength;
use crate::key::sources::KeySources;
use clap::Args;

/// `keys config` options (at least one setting).
#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub key: KeyChoice,
    #[command(flatten)]
    pub pin: PinSource,
    /// Raise the minimum PIN length to N characters (it can only grow until a reset).
    #[arg(long, value_name = "N")]
    pub min_pin_length: Option<u8>,
    /// A relying party allowed to read the minimum PIN length (repeatable).
    #[arg(long = "min-pin-length-rp-id", value_name = "RP_ID")]
    pub min_pin_length_rp_ids: Vec<String>,
    /// Require a PIN change before the PIN can be used again.
    #[arg(long)]
    pub force_pin_change: bool,
    /// Switch alwaysUv (PIN for every use) on or off.
    #[arg(long)]
    pub toggle_always_uv: bool,
    /// Enable enterprise attestation (keys that support it).
    #[arg(long)]
    pub enable_enterprise_attestation: bool,
}

pub async fn run(sources: &KeySources, args: ConfigArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let sets_min = args.min_pin_length.is_some() || !args.min_pin_length_rp_ids.is_empty() || args.force_pin_change;
    if !sets_min && !args.toggle_always_uv && !args.enable_enterprise_attestation {
        return Err(CliError::usage(
            "nothing to change; give --min-pin-length N, --force-pin-change, --toggle-always-uv or --enable-enterprise-attestation",
        ));
    }
    let handle = open_chosen(sources, &args.key).await?;
    let info = handle.info();
    let needs_pin = info.pin_is_set() || info.option("alwaysUv") == Some(true);
    let pin = if needs_pin { Some(args.pin.read("PIN")?) } else { None };
    if args.enable_enterprise_attestation {
        until_ctrl_c(handle.enable_enterprise_attestation(pin.as_ref())).await?;
    }
    if sets_min {
        let settings = MinPinLength { new_min_pin_length: args.min_pin_length, rp_ids: args.min_pin_length_rp_ids.clone(), force_change_pin: args.force_pin_change };
        until_ctrl_c(handle.set_min_pin_length(pin.as_ref(), settings)).await?;
    }
    if args.toggle_always_uv {
        until_ctrl_c(handle.toggle_always_uv(pin.as_ref())).await?;
    }
    let info = handle.info();
    let summary = serde_json::json!({
        "key": KeyJson::new(handle.descriptor(), Some(info.aaguid_string())),
        "min_pin_length": info.min_pin_length,
        "force_pin_change": info.force_pin_change,
        "always_uv": info.option("alwaysUv"),
        "enterprise_attestation": info.option("ep"),
    });
    if ctx.json() {
        ctx.print_json(&summary)?;
    } else {
        let on_off = |b: Option<bool>| match b {
            Some(true) => "on",
            Some(false) => "off",
            None => "not supported",
        };
        outln!("Settings of {}:", handle.descriptor().label());
        outln!("  minimum PIN length       {}", info.min_pin_length);
        outln!("  PIN change required      {}", if info.force_pin_change { "yes" } else { "no" });
        outln!("  alwaysUv                 {}", on_off(info.option("alwaysUv")));
        outln!("  enterprise attestation   {}", on_off(info.option("ep")));
    }
    Ok(Exit::Ok)
}
