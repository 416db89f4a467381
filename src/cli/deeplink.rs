//! `keystation deeplink sign | register | unregister | status`: make a signed link (for
//! admins and tests; the key from `[deeplink] key_env`/`key_file`, never argv) and
//! manage the operating system's handler for `keystation://` links. The work is in
//! `crate::station::deeplink`.
use crate::cli::{CliContext, CliError, Exit};
use crate::station::deeplink::{handler, make_link, LinkVia, MAX_LIFETIME_SECS};
use clap::{Args, Subcommand, ValueEnum};

/// `keystation deeplink`.
#[derive(Args, Debug)]
pub struct DeeplinkArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DeeplinkCommand,
}

/// The `deeplink` subcommands.
#[derive(Subcommand, Debug)]
pub enum DeeplinkCommand {
    /// Print a signed keystation:// link (key from [deeplink] key_env or key_file).
    Sign(SignArgs),
    /// Make `keystation open` this user's handler for keystation:// links.
    Register,
    /// Remove the handler registered by `deeplink register`.
    Unregister,
    /// Show whether a handler is registered and what it runs.
    Status,
}

/// Registration path named in a link.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum LinkViaArg {
    /// Graph's FIDO2 provisioning API.
    Graph,
    /// The browser ceremony.
    Browser,
    /// A person signs in in the browser.
    Manual,
}

/// `keystation deeplink sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The user the link enrolls (UPN).
    #[arg(long, value_name = "UPN")]
    pub user: String,
    /// Registration path the link asks for.
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<LinkViaArg>,
    /// Configured tenant name the link names.
    #[arg(long = "link-tenant", value_name = "NAME")]
    pub tenant: Option<String>,
    /// Seconds the link stays valid (at most 86400).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub ttl: i64,
}

#[derive(serde::Serialize)]
struct Signed {
    link: String,
    user: String,
    expires: i64,
}

/// Run `keystation deeplink ...`.
pub async fn run(args: DeeplinkArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        DeeplinkCommand::Sign(a) => sign(a, ctx),
        DeeplinkCommand::Register => {
            let exe = std::env::current_exe().map_err(|e| CliError::new(Exit::Environment, format!("cannot tell where this program is: {e}")))?;
            let s = handler::register(&data_home()?, &exe).map_err(|e| CliError::new(Exit::Environment, e))?;
            show(ctx, &s)
        }
        DeeplinkCommand::Unregister => {
            let s = handler::unregister(&data_home()?).map_err(|e| CliError::new(Exit::Environment, e))?;
            show(ctx, &s)
        }
        DeeplinkCommand::Status => show(ctx, &handler::status(&data_home()?)),
    }
}

fn data_home() -> Result<std::path::PathBuf, CliError> {
    handler::data_home().map_err(|e| CliError::new(Exit::Environment, e))
}

fn show(ctx: &CliContext, s: &handler::HandlerStatus) -> Result<Exit, CliError> {
    if ctx.json() {
        ctx.print_json(s)?;
    } else {
        let state = if s.registered { "registered" } else { "not registered" };
        crate::cli::progress::out_text(&format!(
            "keystation:// handler: {state} ({})\n  runs: {}\n  xdg-mime: {}\n",
            s.desktop_file.display(),
            s.exec.as_deref().unwrap_or("-"),
            s.xdg_mime
        ));
    }
    Ok(Exit::Ok)
}

fn sign(args: SignArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if !(1..=MAX_LIFETIME_SECS).contains(&args.ttl) {
        return Err(CliError::usage(format!("--ttl {}: a link is valid for 1 to {MAX_LIFETIME_SECS} seconds", args.ttl)));
    }
    let config = ctx.load_config(Default::default())?.config;
    let key = config
        .deeplink
        .key()
        .map_err(|e| CliError::usage(e.to_string()))?
        .ok_or_else(|| CliError::usage("no deeplink key is configured").with_next_step("set [deeplink] key_file (a 0600 file) or key_env (docs/configuration.md)"))?;
    let via = args.via.map(|v| match v {
        LinkViaArg::Graph => LinkVia::Graph,
        LinkViaArg::Browser => LinkVia::Browser,
        LinkViaArg::Manual => LinkVia::Manual,
    });
    let expires = chrono::Utc::now().timestamp() + args.ttl;
    let link = make_link(&key, args.user.trim(), via, args.tenant.as_deref(), expires).map_err(|e| CliError::usage(e.to_string()))?;
    if ctx.json() {
        ctx.print_json(&Signed { link, user: args.user.trim().to_string(), expires })?;
    } else {
        crate::cli::progress::out_text(&format!("{link}\n"));
    }
    Ok(Exit::Ok)
}
