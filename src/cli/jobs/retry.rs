//! `keystation jobs retry JOB`: release a parked job for another attempt.
use super::{advice_text, write};
use crate::cli::progress::out_text;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::jobs::retry;

/// Arguments of `keystation jobs retry`.
#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    /// The parked job: its number or uid.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// What was fixed (kept in the job's history).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

pub async fn run(args: RetryArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let e = write(ctx, move |j| retry(j, &args.job, args.note.as_deref())).await?;
    if ctx.json() {
        ctx.print_json(&super::entry_json(&e))?;
    } else {
        out_text(&format!("Job {} is released for another attempt.\n{}", e.job.id.0, advice_text(&e)));
    }
    Ok(Exit::Ok)
}
