//! `keystation jobs list`: parked and unfinished jobs with why and what to do.
use super::{advice_text, read};
use crate::cli::progress::{out_text, table};
use crate::cli::{CliContext, CliError, Exit};
use crate::station::jobs::{list, Which};

/// Arguments of `keystation jobs list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only parked jobs (waiting for a person).
    #[arg(long, conflicts_with = "unfinished")]
    pub parked: bool,
    /// Only unfinished jobs (the next run resumes them).
    #[arg(long)]
    pub unfinished: bool,
}

pub async fn run(args: ListArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let which = match (args.parked, args.unfinished) {
        (true, _) => Which::Parked,
        (_, true) => Which::Unfinished,
        _ => Which::Open,
    };
    let entries = read(ctx, move |j| Ok(list(j, which)?)).await?;
    if ctx.json() {
        ctx.print_json(&entries.iter().map(super::entry_json).collect::<Vec<_>>())?;
        return Ok(Exit::Ok);
    }
    if entries.is_empty() {
        out_text("No job needs an operator and none is unfinished.\n");
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.job.id.0.to_string(),
                table::clip(&crate::text::inert(e.job.user.upn.as_deref().unwrap_or("-")), 36),
                format!("{:?}", e.standing).to_lowercase(),
                e.job.state.to_string(),
                e.why.clone(),
                e.since.format("%Y-%m-%d %H:%M UTC").to_string(),
            ]
        })
        .collect();
    let mut text = table::render(&["JOB", "USER", "STANDING", "STATE", "WHY", "SINCE"], &rows);
    text.push('\n');
    for e in &entries {
        text.push_str(&format!("Job {} ({}):\n", e.job.id.0, crate::text::inert(e.job.user.upn.as_deref().unwrap_or("-"))));
        text.push_str(&advice_text(e));
    }
    out_text(&text);
    Ok(Exit::Ok)
}
