//! `keystation jobs resolve JOB --note TEXT`: close a parked job as done.
use super::write;
use crate::cli::progress::out_text;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::jobs::resolve;

/// Arguments of `keystation jobs resolve`.
#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    /// The parked job: its number or uid.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// What was done (required; kept in the job's history).
    #[arg(long, value_name = "TEXT")]
    pub note: String,
}

pub async fn run(args: ResolveArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let e = write(ctx, move |j| resolve(j, &args.job, &args.note)).await?;
    if ctx.json() {
        ctx.print_json(&super::entry_json(&e))?;
    } else {
        out_text(&format!("Job {} is resolved (done).\n", e.job.id.0));
    }
    Ok(Exit::Ok)
}
