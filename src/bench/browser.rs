//! (in progress)
use crate::cli::{CliContext, CliError, Exit};

#[derive(clap::Args, Debug)]
pub struct BrowserBenchArgs {}

pub async fn run(_args: BrowserBenchArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}
