//! (in progress)
use crate::cli::{CliContext, CliError, Exit};

#[derive(clap::Args, Debug)]
pub struct KeysArgs {}

pub async fn run(_args: KeysArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}
