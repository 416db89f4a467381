//! `keys credentials list|delete`.
use super::{KeyChoice, open_chosen, until_ctrl_c};
use crate::cli::secret_input::PinSource;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::sources::KeySources;
use clap::{Args, Subcommand};

/// `keys credentials` options.
#[derive(Args, Debug)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    pub command: CredentialsCommand,
}

/// `keys credentials` subcommands.
#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// List the passkeys (discoverable credentials) on the key.
    List {
        #[command(flatten)]
        key: KeyChoice,
        #[command(flatten)]
        pin: PinSource,
    },
    /// Delete one passkey by its credential id (hex, as `list` shows it).
    Delete {
        #[command(flatten)]
        key: KeyChoice,
        #[command(flatten)]
        pin: PinSource,
        /// Credential id in hex.
        #[arg(long, value_name = "HEX")]
        id: String,
    },
}

pub async fn run(sources: &KeySources, args: CredentialsArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        CredentialsCommand::List { key, pin } => {
            let handle = open_chosen(sources, &key).await?;
            let pin = pin.read("PIN")?;
            let metadata = until_ctrl_c(handle.credentials_metadata(&pin)).await?;
            let credentials = until_ctrl_c(handle.list_credentials(&pin)).await?;
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "key": handle.descriptor().path, "metadata": metadata, "credentials": credentials }))?;
            } else {
                outln!("{} passkey(s) on {}, room for {} more", metadata.existing, handle.descriptor().label(), metadata.remaining);
                for c in &credentials {
                    let user = c.user.name.as_deref().or(c.user.display_name.as_deref()).unwrap_or("(no name)");
                    let protect = c.cred_protect.map(|p| format!("  credProtect {p}")).unwrap_or_default();
                    outln!("  {}  {user}  id {}{protect}", c.rp_id.as_deref().unwrap_or("(rp id hidden)"), hex::encode(&c.credential_id));
                }
            }
            Ok(Exit::Ok)
        }
        CredentialsCommand::Delete { key, pin, id } => {
            let id = hex::decode(id.trim()).map_err(|_| CliError::usage("--id must be the credential id in hex, as `keystation keys credentials list` shows it"))?;
            let handle = open_chosen(sources, &key).await?;
            let pin = pin.read("PIN")?;
            until_ctrl_c(handle.delete_credential(&pin, &id)).await?;
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "key": handle.descriptor().path, "result": "deleted", "id": hex::encode(&id) }))?;
            } else {
                outln!("Deleted passkey {} from {}", hex::encode(&id), handle.descriptor().label());
            }
            Ok(Exit::Ok)
        }
    }
}
