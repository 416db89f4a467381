//! `keystation completions SHELL` and `keystation man`: shell completions (clap_complete)
//! and man pages (clap_mangen), generated from the same command definition the parser
//! uses, at run time — the Debian package's build script calls these, so a normal
//! `cargo build` does not pay for them.
use crate::cli::{CliContext, CliError, Exit};
use clap::Args;
use std::path::PathBuf;

/// Shells completions are made for.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash (bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// `keystation completions`.
#[derive(Args, Debug)]
#[command(after_help = "bash: keystation completions bash > /usr/share/bash-completion/completions/keystation\n\
zsh:  keystation completions zsh > \"${fpath[1]}/_keystation\"\n\
fish: keystation completions fish > ~/.config/fish/completions/keystation.fish\n\
The Debian package installs all three.")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `keystation man`.
#[derive(Args, Debug)]
#[command(after_help = "Without --dir, prints the page of the command named (keystation man keys list) on standard output.\n\
With --dir, writes keystation.1 and one page per subcommand (keystation-keys-list.1, …) into DIR.")]
pub struct ManArgs {
    /// Write every page into this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The (sub)command whose page to print, e.g. `enroll` or `keys list`.
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
}

pub async fn completions(args: CompletionsArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let mut cmd = crate::cli::command();
    let mut buf = Vec::new();
    match args.shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "keystation", &mut buf),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "keystation", &mut buf),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "keystation", &mut buf),
    }
    let script = String::from_utf8(buf).map_err(|e| CliError::failure(format!("completion script is not UTF-8: {e}")))?;
    if ctx.json() {
        let shell = format!("{:?}", args.shell).to_ascii_lowercase();
        ctx.print_json(&serde_json::json!({ "shell": shell, "script": script }))?;
    } else {
        crate::cli::output::out_text(&script);
    }
    Ok(Exit::Ok)
}

/// Every (sub)command with its page name: `keystation`, `keystation-keys`, `keystation-keys-list`, …
fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    let named = cmd.clone().name(name.to_string()).bin_name(name.replace('-', " "));
    out.push((name.to_string(), named));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

fn render(cmd: clap::Command) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf).map_err(|e| CliError::failure(format!("cannot render the man page: {e}")))?;
    Ok(buf)
}

pub async fn man(args: ManArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut all = Vec::new();
    pages(&cmd, "keystation", &mut all);
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
            let mut files = Vec::new();
            for (name, c) in all {
                let path = dir.join(format!("{name}.1"));
                std::fs::write(&path, render(c)?).map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
                files.push(path);
            }
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "dir": dir, "pages": files }))?;
            } else {
                errln!("wrote {} man pages to {}", files.len(), dir.display());
            }
        }
        None => {
            let wanted = std::iter::once("keystation".to_string()).chain(args.command.iter().cloned()).collect::<Vec<_>>().join("-");
            let (_, c) = all.into_iter().find(|(n, _)| *n == wanted).ok_or_else(|| CliError::usage(format!("no command `{}`; see `keystation --help`", args.command.join(" "))))?;
            let page = String::from_utf8_lossy(&render(c)?).into_owned();
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "page": wanted, "roff": page }))?;
            } else {
                crate::cli::output::out_text(&page);
            }
        }
    }
    Ok(Exit::Ok)
}
