//! `keystation users show UPN`: who the user is, whether the tenant's policies let the
//! station enroll them, their FIDO2 security keys and Temporary Access Passes (never the
//! pass). Reads only. The work is in `crate::station::manage::users`.
use crate::cli::batch::load_config;
use crate::cli::batch::ViaArg;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::manage::users::{show_user, MethodRow, UserReport};
use crate::station::pipeline::{ConnectOptions, OutcomeError};
use crate::text::inert;
use clap::{Args, Subcommand};

/// `keystation users`.
#[derive(Args, Debug)]
pub struct UsersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// The `users` subcommands.
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// A user's keys, passes and policy scope.
    Show(ShowArgs),
}

/// `keystation users show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The user: UPN, mail address or object id.
    #[arg(value_name = "UPN")]
    pub user: String,
    /// Registration path whose policy rules apply (default: the tenant's).
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<ViaArg>,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// An outcome error as the CLI's error (message + next step, exit code by class).
pub fn cli_error(e: &OutcomeError) -> CliError {
    let exit: Exit = e.class().into();
    let err = CliError::new(exit, e.message.clone());
    match &e.next_step {
        Some(n) => err.with_next_step(n.clone()),
        None => err,
    }
}

/// Run `keystation users ...`.
pub async fn run(args: UsersArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        UsersCommand::Show(a) => show(a, ctx).await,
    }
}

async fn show(args: ShowArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, args.station.overrides())?;
    let via = args.via.map(Into::into);
    let report = show_user(&config, &ctx.state_dir, &ConnectOptions::default(), args.user.trim(), via).await.map_err(|e| cli_error(&e))?;
    if ctx.json() {
        ctx.print_json(&report)?;
    } else {
        crate::cli::progress::out_text(&render(&report));
    }
    Ok(Exit::Ok)
}

fn scope_line(name: &str, scope: &Option<crate::station::pipeline::PolicyScope>, matters: bool) -> String {
    let tail = if matters { "" } else { " (not used by this configuration)" };
    match scope {
        None => format!("  {name}: not checked (the policy could not be read)\n"),
        Some(s) if s.in_scope => format!("  {name}: in scope{tail}\n"),
        Some(s) => format!("  {name}: NOT in scope{tail}: {}\n", inert(s.reason.as_deref().unwrap_or(""))),
    }
}

/// The user report as text.
pub fn render(r: &UserReport) -> String {
    let upn = r.upn.clone().unwrap_or_else(|| r.requested.clone());
    let kind = if r.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("guest")) { "guest" } else { "member" };
    let enabled = match r.account_enabled {
        Some(false) => "account disabled",
        _ => "account enabled",
    };
    let mut s = format!("{} — {} ({kind}, {enabled})\n", inert(&upn), inert(r.display_name.as_deref().unwrap_or("no display name")));
    s.push_str(&format!("  object id: {}\n", inert(r.object_id.as_deref().unwrap_or("-"))));
    s.push_str(&scope_line("Passkey (FIDO2) policy", &r.fido2_scope, true));
    s.push_str(&scope_line("Temporary Access Pass policy", &r.tap_scope, r.tap_needed));
    match &r.refusal {
        None if r.fido2_scope.is_some() => s.push_str("  Enrollment: the tenant lets the station enroll this user\n"),
        None => {}
        Some(e) => {
            s.push_str(&format!("  Enrollment: REFUSED: {}\n", inert(&e.message)));
            if let Some(n) = &e.next_step {
                s.push_str(&format!("    what to do: {}\n", inert(n)));
            }
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("  warning: {}\n", inert(w)));
    }
    s.push_str(&format!("\nSecurity keys ({}):\n", r.fido2_methods.len()));
    s.push_str(&methods_table(&r.fido2_methods));
    match r.taps.first() {
        None => s.push_str("\nTemporary Access Pass: none\n"),
        Some(t) => s.push_str(&format!("\nTemporary Access Pass: {}\n", tap_text(t))),
    }
    for x in &r.unreadable {
        s.push_str(&format!("could not read {}\n", inert(x)));
    }
    s
}

/// A TAP in words (never the pass): "one-time, EnabledByPolicy, valid until …, id …".
pub fn tap_text(t: &crate::station::manage::users::TapRow) -> String {
    format!(
        "{}, {}, valid until {}, id {}",
        if t.usable_once == Some(true) { "one-time" } else { "reusable" },
        inert(t.usability_reason.as_deref().unwrap_or("state unknown")),
        t.expires.map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "-".into()),
        inert(&t.id)
    )
}

/// Methods as a table (or "  none").
pub fn methods_table(methods: &[MethodRow]) -> String {
    if methods.is_empty() {
        return "  none\n".into();
    }
    let rows: Vec<Vec<String>> = methods
        .iter()
        .map(|m| {
            vec![
                format!("  {}", crate::cli::progress::table::clip(m.display_name.as_deref().unwrap_or(""), 30)),
                crate::cli::progress::table::clip(m.model.as_deref().unwrap_or("unknown model"), 40),
                inert(m.aaguid.as_deref().unwrap_or("-")).into_owned(),
                m.created.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into()),
                inert(&m.id).into_owned(),
            ]
        })
        .collect();
    crate::cli::progress::table::render(&["  NAME", "MODEL", "AAGUID", "CREATED", "ID"], &rows)
}
