//! (in progress)
use crate::cli::{CliContext, CliError, Exit};

#[derive(clap::Args, Debug)]
pub struct KeysBenchArgs {}

pub async fn run(_args: KeysBenchArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}
