//! `keystation doctor`: check the tenant, the users and this station before imaging.
//! The checks live in `crate::station::doctor`; this file parses, prints and maps the
//! first failure to an exit code (docs/exit-codes.md).
use crate::cli::batch::{key_sources, load_config};
use crate::cli::batch::ViaArg;
use crate::text::inert;
use crate::cli::{CliContext, CliError, Exit};
use crate::ceremony::RegistrationPath;
use crate::station::batch::{read_batch_file, BatchFileError};
use crate::station::doctor::{self, Area, DoctorInput, DoctorReport, Status, Trouble, UserReport};
use crate::station::pipeline::ConnectOptions;
use clap::Args;
use std::path::PathBuf;

/// `keystation doctor`.
#[derive(Args, Debug)]
#[command(after_help = "Every check prints PASS, WARN or FAIL, and the fix for the others. Nothing is changed.\n\
The exit code is 0 with no failure (warnings allowed), otherwise the first failure's: 5 sign-in, permissions or Graph, \
6 a tenant policy refuses, 2 a user that does not exist or bad configuration, 11 this machine lacks something.\n\
Guide: docs/tenant-setup.md (what each tenant check wants).")]
pub struct DoctorArgs {
    /// Also check this user (UPN, mail or object id; repeatable).
    #[arg(long = "user", value_name = "UPN")]
    pub users: Vec<String>,
    /// Also check every user of this file (the batch CSV: a `upn` column, or one UPN per line).
    #[arg(long = "users", value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Virtual keys instead of USB keys (their model is checked like a plugged key's).
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
    /// Registration path to check for (default: the tenant's `registration`).
    #[arg(long, value_enum, value_name = "PATH")]
    pub via: Option<ViaArg>,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// Exit code for a failed check's kind of trouble.
pub fn exit_for(t: Option<Trouble>) -> Exit {
    match t {
        None => Exit::Ok,
        Some(Trouble::Entra) => Exit::EntraError,
        Some(Trouble::Policy) => Exit::PolicyRefused,
        Some(Trouble::UserInput | Trouble::Config) => Exit::Usage,
        Some(Trouble::Environment) => Exit::Environment,
    }
}

/// Run `keystation doctor`.
pub async fn run(args: DoctorArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, args.station.overrides())?;
    let mut users = args.users.clone();
    if let Some(path) = &args.users_file {
        let file = read_batch_file(path).map_err(|e| match e {
            BatchFileError::Io { .. } => CliError::usage(format!("{e}; check the path")),
            BatchFileError::Format { .. } => CliError::usage(e.to_string()),
        })?;
        for p in &file.problems {
            errln!("warning: {}: line {}: {} (not checked)", path.display(), p.line, inert(&p.message));
        }
        users.extend(file.rows.into_iter().map(|r| r.upn));
    }
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| !u.trim().is_empty() && seen.insert(u.trim().to_lowercase()));
    let input = DoctorInput {
        config,
        state_dir: ctx.state_dir.clone(),
        connect: ConnectOptions::default(),
        sources: Some(key_sources(ctx)?),
        users,
        via: args.via.map(RegistrationPath::from),
    };
    let report = doctor::run(&input).await;
    let exit = exit_for(report.first_failure().and_then(|c| c.trouble));
    if ctx.json() {
        ctx.print_json(&report)?;
    } else {
        crate::cli::progress::out_text(&render(&report, exit));
    }
    match report.first_failure() {
        None => Ok(exit),
        // The first failure is the command's error (the JSON envelope's `error`).
        Some(c) => {
            let e = CliError::new(exit, format!("{} ({}): {}", c.title, c.id, c.detail));
            Err(match &c.fix {
                Some(fix) => e.with_next_step(fix.clone()),
                None => e,
            })
        }
    }
}

/// The report as text: one line per check, the fix under warnings and failures, each
/// user's keys and passes under their line.
pub fn render(report: &DoctorReport, exit: Exit) -> String {
    let mut out = format!("keystation doctor: tenant `{}`\n", inert(&report.tenant));
    let width = report.checks.iter().map(|c| c.title.chars().count()).max().unwrap_or(10).min(36);
    for area in [Area::Tenant, Area::Users, Area::Station] {
        let checks: Vec<_> = report.checks.iter().filter(|c| c.area == area).collect();
        if checks.is_empty() {
            continue;
        }
        out.push_str(match area {
            Area::Tenant => "\nTenant\n",
            Area::Users => "\nUsers\n",
            Area::Station => "\nStation\n",
        });
        for c in checks {
            let title = crate::cli::progress::table::clip(&inert(&c.title), width);
            out.push_str(&format!("  {}  {title:<width$}  {}\n", c.status.label(), inert(&c.detail)));
            if c.status != Status::Pass
                && let Some(fix) = &c.fix
            {
                out.push_str(&format!("        fix: {}\n", inert(fix)));
            }
            if area == Area::Users
                && let Some(u) = report.users.iter().find(|u| format!("user.{}", u.requested.to_lowercase()) == c.id)
            {
                out.push_str(&user_lines(u));
            }
        }
    }
    let n = &report.counts;
    out.push_str(&format!("\n{} passed, {} warning(s), {} failed.", n.pass, n.warn, n.fail));
    if exit != Exit::Ok {
        out.push_str(&format!(" Exit code {} (the first failure).", exit as u8));
    }
    out.push('\n');
    out
}

/// A user's keys and passes, indented under their check.
pub fn user_lines(u: &UserReport) -> String {
    let mut s = String::new();
    for m in &u.fido2_methods {
        s.push_str(&format!(
            "        key  \"{}\"  {}  AAGUID {}  created {}  id {}\n",
            inert(m.display_name.as_deref().unwrap_or("")),
            inert(m.model.as_deref().unwrap_or("unknown model")),
            inert(m.aaguid.as_deref().unwrap_or("-")),
            m.created.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into()),
            inert(&m.id)
        ));
    }
    for t in &u.taps {
        s.push_str(&format!("        TAP  {}\n", crate::cli::users::tap_text(t)));
    }
    for x in &u.unreadable {
        s.push_str(&format!("        could not read {}\n", inert(x)));
    }
    s
}
