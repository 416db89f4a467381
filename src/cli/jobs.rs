//! `keystation jobs list | show | retry | resolve`: the operator's tool for jobs that did
//! not end well. Each subcommand is its own file; the logic is `station::jobs`.
mod list;
mod resolve;
mod retry;
mod show;

use crate::cli::{CliContext, CliError, Exit};
use crate::station::jobs::{JobEntry, JobsError};
use crate::station::journal::{Journal, JournalError};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Arguments of `keystation jobs`.
#[derive(Args, Debug)]
#[command(after_help = "JOB is the job's number (as printed by enroll, batch and `jobs list`) or its uid.\n\
list and show only read the journal (they work while a station runs); retry and resolve change it.\n\
Guide: docs/operator-guide-batch.md, section 5")]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: JobsCommand,
}

/// The `jobs` subcommands.
#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs that need a person (parked) or that the next run resumes (unfinished), with what to do.
    List(list::ListArgs),
    /// One job in full: why it stopped, what to do, its intents and history.
    Show(show::ShowArgs),
    /// Release a parked job for another attempt (after fixing its cause).
    Retry(retry::RetryArgs),
    /// Close a parked job as done, saying what was done.
    Resolve(resolve::ResolveArgs),
}

/// Run `keystation jobs …`.
pub async fn run(args: JobsArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        JobsCommand::List(a) => list::run(a, ctx).await,
        JobsCommand::Show(a) => show::run(a, ctx).await,
        JobsCommand::Retry(a) => retry::run(a, ctx).await,
        JobsCommand::Resolve(a) => resolve::run(a, ctx).await,
    }
}

fn journal_error(e: JournalError) -> CliError {
    match e {
        JournalError::Missing { .. } => CliError::usage(e.to_string()),
        other => CliError::failure(other.to_string()),
    }
}

fn jobs_error(e: JobsError) -> CliError {
    match e {
        JobsError::NotFound(_) | JobsError::NotApplicable(_) => CliError::usage(e.to_string()),
        JobsError::Journal(j) => journal_error(j),
    }
}

/// Read the journal on the blocking pool (reads never take the station's lock).
async fn read<T: Send + 'static>(ctx: &CliContext, f: impl FnOnce(&Journal) -> Result<T, JobsError> + Send + 'static) -> Result<T, CliError> {
    let journal = JournalToOpen::of(ctx)?;
    tokio::task::spawn_blocking(move || -> Result<T, CliError> {
        let j = journal.open(false).map_err(journal_error)?;
        f(&j).map_err(jobs_error)
    })
    .await
    .map_err(|e| CliError::failure(format!("journal task failed: {e}")))?
}

/// Change the journal: one station per state directory, so the state directory is
/// claimed first (a running batch or kiosk makes this wait for it: exit 9).
async fn write<T: Send + 'static>(ctx: &CliContext, f: impl FnOnce(&mut Journal) -> Result<T, JobsError> + Send + 'static) -> Result<T, CliError> {
    let _claim = ctx.claim_state_dir()?;
    let journal = JournalToOpen::of(ctx)?;
    tokio::task::spawn_blocking(move || -> Result<T, CliError> {
        let mut j = journal.open(true).map_err(journal_error)?;
        f(&mut j).map_err(jobs_error)
    })
    .await
    .map_err(|e| CliError::failure(format!("journal task failed: {e}")))?
}

/// The configured journal: this station's SQLite file, or the fleet's shared database,
/// where `jobs` sees every station's jobs (like `report`).
struct JournalToOpen {
    config: crate::station::config::JournalConfig,
    state_dir: PathBuf,
}

impl JournalToOpen {
    fn of(ctx: &CliContext) -> Result<JournalToOpen, CliError> {
        let loaded = ctx.load_config(Default::default())?;
        Ok(JournalToOpen { config: loaded.config.journal.clone(), state_dir: ctx.state_dir.clone() })
    }

    fn open(&self, write: bool) -> Result<Journal, JournalError> {
        if self.config.is_shared() {
            return self.config.open(&self.state_dir);
        }
        let path = self.config.resolve(&self.state_dir);
        // A SQLite journal is never created or migrated by `jobs`: a station makes it.
        if write { Journal::open_existing(&path) } else { Journal::open_read_only(&path) }
    }
}

/// A job for `--json`: the report's row (one shape for a job in every command) plus where
/// it stands, why, what to do and the commands.
fn entry_json(e: &JobEntry) -> serde_json::Value {
    let mut v = serde_json::to_value(crate::station::report::ReportRow::from_job(&e.job, false)).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("standing".into(), serde_json::to_value(e.standing).unwrap_or_default());
        m.insert("since".into(), e.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into());
        m.insert("why".into(), e.why.clone().into());
        m.insert("what_to_do".into(), e.what_to_do.clone().into());
        m.insert("commands".into(), e.commands.clone().into());
    }
    v
}

/// "What to do" and the commands, indented under a job.
fn advice_text(e: &JobEntry) -> String {
    let mut s = format!("  What to do: {}\n", crate::text::inert(&e.what_to_do));
    for c in &e.commands {
        s.push_str(&format!("    {}\n", crate::text::inert(c)));
    }
    s
}
