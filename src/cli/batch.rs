//! (in progress)
use crate::cli::{CliContext, CliError, Exit};

#[derive(clap::Args, Debug)]
pub struct BatchArgs {}

pub async fn run(_args: BatchArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}
