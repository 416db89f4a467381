//! `keystation methods list --user UPN` and `methods delete --user UPN --id ID`: a
//! user's FIDO2 security keys in Entra, and deleting one (asked for, or `--yes`; recorded
//! in the journal before the DELETE). The work is in `crate::station::manage`.
use crate::cli::batch::{load_config, open_station};
use crate::cli::keys::{ask, interactive};
use crate::cli::users::{cli_error, methods_table};
use crate::cli::{CliContext, CliError, Exit};
use crate::station::manage::users::list_methods;
use crate::station::pipeline::{CancelToken, ConnectOptions, NoEvents};
use crate::text::inert;
use clap::{Args, Subcommand};
use std::sync::Arc;

/// `keystation methods`.
#[derive(Args, Debug)]
pub struct MethodsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: MethodsCommand,
}

/// The `methods` subcommands.
#[derive(Subcommand, Debug)]
pub enum MethodsCommand {
    /// A user's FIDO2 security keys (id, name, model, AAGUID, creation date).
    List(ListArgs),
    /// Delete one of a user's FIDO2 security keys in Entra (asks first, or --yes).
    Delete(DeleteArgs),
}

/// `methods list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// The user: UPN, mail address or object id.
    #[arg(long, value_name = "UPN")]
    pub user: String,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// `methods delete`.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The user: UPN, mail address or object id.
    #[arg(long, value_name = "UPN")]
    pub user: String,
    /// The method id, as `methods list` shows it.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Tenant and connection settings (as for the station commands).
    #[command(flatten)]
    pub station: Box<crate::cli::enroll::flags::StationFlags>,
}

/// Run `keystation methods ...`.
pub async fn run(args: MethodsArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        MethodsCommand::List(a) => list(a, ctx).await,
        MethodsCommand::Delete(a) => delete(a, ctx).await,
    }
}

async fn list(args: ListArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, args.station.overrides())?;
    let (upn, methods) = list_methods(&config, &ctx.state_dir, &ConnectOptions::default(), args.user.trim()).await.map_err(|e| cli_error(&e))?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({"user": upn, "methods": methods}))?;
    } else {
        crate::cli::progress::out_text(&format!("{}: {} security key(s)\n{}", inert(&upn), methods.len(), methods_table(&methods)));
    }
    Ok(Exit::Ok)
}

async fn delete(args: DeleteArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, args.station.overrides())?;
    if !args.yes && !interactive(ctx) {
        return Err(CliError::usage("deleting a security key in Entra cannot be undone: add --yes to confirm (nobody can be asked here)"));
    }
    let _claim = ctx.claim_state_dir()?;
    let station = open_station(ctx, config, None).await?;
    let events = Arc::new(NoEvents);
    let cancel = CancelToken::new();
    // Deletions an earlier run left unfinished are finished first.
    for o in station.finish_interrupted_deletions(events.clone(), cancel.clone()).await.map_err(|e| cli_error(&e))? {
        crate::cli::progress::err_line(&format!("finished an interrupted deletion ({}, {} method(s))", o.uid, o.deletions.len()));
    }
    let found = station.find_method(args.user.trim(), &args.id).await.map_err(|e| cli_error(&e))?;
    let m = &found.method;
    let what = format!(
        "{}'s security key \"{}\" ({}, created {}, id {})",
        inert(&found.upn),
        inert(m.display_name.as_deref().unwrap_or("")),
        inert(m.model.as_deref().unwrap_or("unknown model")),
        m.created.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into()),
        inert(&m.id)
    );
    if !args.yes && !ask(&format!("Delete {what} in Entra? The user can no longer sign in with it. [y/N]"), false) {
        return Err(CliError::new(Exit::Cancelled, "nothing was deleted"));
    }
    let outcome = station.delete_methods(Some(found.upn.clone()), vec![found.deletion.clone()], Some("methods delete".into()), events, cancel).await.map_err(|e| cli_error(&e))?;
    if ctx.json() {
        ctx.print_json(&outcome)?;
    }
    if let Some(e) = &outcome.error {
        return Err(cli_error(e));
    }
    if !ctx.json() {
        let how = match outcome.deletions.first().map(|d| d.result) {
            Some("already_gone") => "was already gone",
            _ => "is deleted",
        };
        crate::cli::progress::out_line(&format!("{what} {how} (journal operation {}).", outcome.uid));
    }
    Ok(Exit::Ok)
}
