//! `keystation open URL`: the handler for `keystation://enroll?…` links (docs/deeplinks.md).
//!
//! The link is checked and its nonce spent by `crate::station::deeplink::accept` before
//! anything else; then the enrollment it describes runs exactly as `keystation enroll`
//! runs it. The link is never printed whole: its signature would let anyone who reads a
//! log or a screen replay it before the nonce is spent.
use crate::cli::enroll::{self, EnrollArgs, ViaArg};
use crate::cli::keys::{ask, interactive, KeyChoice};
use crate::cli::secret_input::{NewPinSource, PinSource};
use crate::cli::{CliContext, CliError, Exit};
use crate::station::deeplink::{accept, DeeplinkError, LinkVia, Trust};
use crate::text::inert;
use clap::Args;

/// `keystation open`.
#[derive(Args, Debug)]
#[command(after_help = "The link is checked first (signature with the key of [deeplink] key_env/key_file, expiry, tenant, \
the nonce spent once in the journal); a refused link starts nothing. docs/deeplinks.md.")]
pub struct OpenArgs {
    /// The link, e.g. keystation://enroll?user=…&exp=…&nonce=…&sig=…
    #[arg(value_name = "URL")]
    pub url: String,
    /// Which key, and how long a person gets to touch it.
    #[command(flatten)]
    pub key: KeyChoice,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
    /// Seconds to wait for a key to be plugged in.
    #[arg(long = "wait", value_name = "SECS", default_value_t = 300)]
    pub wait_secs: u64,
    /// Put the PIN and TAP in the --json output (for a script that hands them on).
    #[arg(long)]
    pub show_pin_in_json: bool,
    /// The PIN the user chose (read from a variable, file or stdin; never argv).
    #[command(flatten)]
    pub new_pin: NewPinSource,
    /// The key's current PIN, when the user knows it.
    #[command(flatten)]
    pub current_pin: PinSource,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// A refusal as the CLI's error: the link's problem is the operator's to fix (exit 2),
/// a journal that cannot record the nonce is a failure (exit 1).
fn refused(e: DeeplinkError) -> CliError {
    match e {
        DeeplinkError::Journal(_) => CliError::new(Exit::Failure, e.to_string()),
        DeeplinkError::Key(_) => CliError::usage(e.to_string()).with_next_step("set [deeplink] key_file (a 0600 file) or key_env in the station's configuration (docs/configuration.md)"),
        _ => CliError::usage(e.to_string()).with_next_step("nothing was started; ask the admin panel for a new link"),
    }
}

/// Run `keystation open`.
pub async fn run(args: OpenArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = ctx.load_config(args.station.overrides())?.config;
    let now = chrono::Utc::now().timestamp();
    let accepted = accept(args.url.trim(), &config, &ctx.state_dir, now).map_err(refused)?;
    let link = accepted.link;
    let via = match link.via {
        None => None,
        Some(LinkVia::Graph) => Some(ViaArg::Graph),
        Some(LinkVia::Browser) => Some(ViaArg::Browser),
        // The browser path with the operator walking the pages (`browser.mode = manual`).
        Some(LinkVia::Manual) => Some(ViaArg::Browser),
    };
    let tenant = link.tenant.clone().unwrap_or_else(|| config.use_tenant.clone());
    let what = format!("{} (tenant {}{})", inert(&link.user), inert(&tenant), link.via.map(|v| format!(", via {}", v.as_str())).unwrap_or_default());
    match accepted.trust {
        Trust::Signed => errln!("Signed link accepted: enrolling {what}."),
        Trust::NeedsOperatorConfirmation => {
            if !interactive(ctx) {
                return Err(CliError::usage(format!("the link for {what} is not signed: an operator must confirm it at a terminal, and there is none here"))
                    .with_next_step("open the link at the station's terminal, or ask the admin panel for a signed link"));
            }
            if !ask(&format!("An UNSIGNED link asks to enroll {what}. Is that right? [y/N]"), false) {
                return Err(CliError::new(Exit::Cancelled, "the operator did not confirm the unsigned link; nothing was started"));
            }
        }
    }
    let mut station = args.station;
    if link.via == Some(LinkVia::Manual) {
        station.set.push("browser.mode=manual".into());
    }
    if let Some(t) = link.tenant {
        station.tenant.use_tenant = Some(t);
    }
    let enroll_args = EnrollArgs {
        user: link.user,
        key: args.key,
        source: args.source,
        wait_secs: args.wait_secs,
        via,
        dry_run: false,
        show_pin_in_json: args.show_pin_in_json,
        key_name: None,
        pin_policy: None,
        new_pin: args.new_pin,
        current_pin: args.current_pin,
        station,
    };
    enroll::run(enroll_args, ctx).await
}
