//! (in progress)
use crate::cli::{CliContext, CliError, Exit};

#[derive(clap::Args, Debug)]
pub struct LoginArgs {}

pub async fn run_login(_args: LoginArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {}

pub async fn run_logout(_args: LogoutArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}

#[derive(clap::Args, Debug)]
pub struct WhoamiArgs {}

pub async fn run_whoami(_args: WhoamiArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
    Err(CliError::failure("not implemented yet"))
}
