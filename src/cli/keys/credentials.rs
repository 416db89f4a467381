//! `keys credentials list|delete`. Credential ids are base64url (no padding) in every
//! output, as WebAuthn, Graph and `keystation report` write them; `delete` takes an id
//! or a unique prefix of one, or picks passkeys by relying party and user, and asks
//! before it deletes (or takes `--yes`).
use super::{ask, interactive, open_chosen, until_ctrl_c, KeyChoice, KeyJson};
use crate::cli::secret_input::PinSource;
use crate::cli::{CliContext, CliError, Exit};
use crate::key::ctap2::{credential_id_text, StoredCredential};
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
    /// Delete passkeys: by credential id (or a unique prefix of it), relying party or user.
    #[command(after_help = "The criteria combine: --rp login.microsoft.com --user alice@contoso.com deletes Alice's Entra passkey.\n\
More than one match is refused unless --all-matching is given (exit 2). Without --yes the deletion is confirmed on the terminal\n\
(declining is exit 10); without a terminal --yes is required.")]
    Delete(DeleteArgs),
}

/// `keys credentials delete` options.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub key: KeyChoice,
    #[command(flatten)]
    pub pin: PinSource,
    /// Credential id as `list` shows it (base64url), or a unique prefix of it.
    #[arg(long, value_name = "ID", required_unless_present_any = ["rp", "user"])]
    pub id: Option<String>,
    /// Only passkeys of this relying party, e.g. login.microsoft.com.
    #[arg(long, value_name = "RP_ID")]
    pub rp: Option<String>,
    /// Only passkeys of this user (account name or display name, case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Delete every passkey that matches, not just one.
    #[arg(long)]
    pub all_matching: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// One passkey in `--json` output.
#[derive(serde::Serialize)]
struct CredentialJson<'a> {
    credential_id: String,
    rp_id: Option<&'a str>,
    user_name: Option<&'a str>,
    user_display_name: Option<&'a str>,
    user_id: String,
    cred_protect: Option<u8>,
}

impl<'a> CredentialJson<'a> {
    fn of(c: &'a StoredCredential) -> Self {
        CredentialJson {
            credential_id: credential_id_text(&c.credential_id),
            rp_id: c.rp_id.as_deref(),
            user_name: c.user.name.as_deref(),
            user_display_name: c.user.display_name.as_deref(),
            user_id: credential_id_text(&c.user.id),
            cred_protect: c.cred_protect,
        }
    }
}

fn describe(c: &StoredCredential) -> String {
    let user = c.user.name.as_deref().or(c.user.display_name.as_deref()).unwrap_or("(no name)");
    format!("{}  {user}  id {}", c.rp_id.as_deref().unwrap_or("(rp id hidden)"), credential_id_text(&c.credential_id))
}

pub async fn run(sources: &KeySources, args: CredentialsArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        CredentialsCommand::List { key, pin } => {
            let handle = open_chosen(sources, &key).await?;
            let pin = pin.read("PIN")?;
            let metadata = until_ctrl_c(handle.credentials_metadata(&pin)).await?;
            let credentials = until_ctrl_c(handle.list_credentials(&pin)).await?;
            if ctx.json() {
                let list: Vec<CredentialJson<'_>> = credentials.iter().map(CredentialJson::of).collect();
                let key = KeyJson::new(handle.descriptor(), Some(handle.info().aaguid_string()));
                ctx.print_json(&serde_json::json!({ "key": key, "existing": metadata.existing, "remaining": metadata.remaining, "credentials": list }))?;
            } else {
                outln!("{} passkey(s) on {}, room for {} more", metadata.existing, handle.descriptor().label(), metadata.remaining);
                for c in &credentials {
                    let protect = c.cred_protect.map(|p| format!("  credProtect {p}")).unwrap_or_default();
                    outln!("  {}{protect}", describe(c));
                }
            }
            Ok(Exit::Ok)
        }
        CredentialsCommand::Delete(args) => delete(sources, args, ctx).await,
    }
}

/// Which stored credentials the criteria pick.
fn matching<'a>(all: &'a [StoredCredential], args: &DeleteArgs) -> Vec<&'a StoredCredential> {
    let id = args.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let by_rest = |c: &&StoredCredential| {
        args.rp.as_deref().is_none_or(|rp| c.rp_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(rp.trim())))
            && args.user.as_deref().is_none_or(|u| {
                let u = u.trim();
                c.user.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(u)) || c.user.display_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(u))
            })
    };
    let candidates: Vec<&StoredCredential> = all.iter().filter(by_rest).collect();
    match id {
        None => candidates,
        Some(id) => {
            // An exact id wins over ids it is a prefix of.
            let exact: Vec<_> = candidates.iter().copied().filter(|c| credential_id_text(&c.credential_id) == id).collect();
            if !exact.is_empty() {
                return exact;
            }
            candidates.into_iter().filter(|c| credential_id_text(&c.credential_id).starts_with(id)).collect()
        }
    }
}

async fn delete(sources: &KeySources, args: DeleteArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if !args.yes && !interactive(ctx) {
        return Err(CliError::usage("deleting a passkey cannot be undone and there is no terminal to confirm it on; add --yes"));
    }
    let handle = open_chosen(sources, &args.key).await?;
    let pin = args.pin.read("PIN")?;
    let stored = until_ctrl_c(handle.list_credentials(&pin)).await?;
    let chosen = matching(&stored, &args);
    let listing = |cs: &[&StoredCredential]| cs.iter().map(|c| format!("\n  {}", describe(c))).collect::<String>();
    if chosen.is_empty() {
        let what = [args.id.as_ref().map(|i| format!("id {i}")), args.rp.as_ref().map(|r| format!("relying party {r}")), args.user.as_ref().map(|u| format!("user {u}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        let all: Vec<&StoredCredential> = stored.iter().collect();
        let present = if all.is_empty() { " (the key holds no passkeys)".to_string() } else { format!("; the key holds:{}", listing(&all)) };
        return Err(CliError::usage(format!("no passkey on {} matches {what}{present}", handle.descriptor().label())));
    }
    if chosen.len() > 1 && !args.all_matching {
        return Err(CliError::usage(format!("{} passkeys match:{}", chosen.len(), listing(&chosen)))
            .with_next_step("give a longer --id prefix, add --rp/--user, or --all-matching to delete them all"));
    }
    if !args.yes {
        let question = format!("Delete {} passkey(s) from {}?{}\n[y/N]", chosen.len(), handle.descriptor().label(), listing(&chosen));
        if !ask(&question, false) {
            return Err(CliError::new(Exit::Cancelled, "nothing was deleted"));
        }
    }
    for c in &chosen {
        until_ctrl_c(handle.delete_credential(&pin, &c.credential_id)).await?;
    }
    if ctx.json() {
        let deleted: Vec<CredentialJson<'_>> = chosen.iter().map(|c| CredentialJson::of(c)).collect();
        let key = KeyJson::new(handle.descriptor(), Some(handle.info().aaguid_string()));
        ctx.print_json(&serde_json::json!({ "key": key, "action": "deleted", "credentials": deleted }))?;
    } else {
        for c in &chosen {
            outln!("Deleted passkey {} from {}", describe(c), handle.descriptor().label());
        }
    }
    Ok(Exit::Ok)
}
