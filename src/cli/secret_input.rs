//! Reading secrets (PINs) without ever taking them from argv.
//!
//! Sources, in the order an operator would expect: an environment variable named by a
//! flag, a file, standard input (one line), or an interactive prompt on the terminal.
use crate::cli::CliError;
use crate::secret::SecretString;
use clap::Args;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

/// Where to read one secret from. Embed with `#[command(flatten)]` and a prefix in help.
#[derive(Args, Debug, Clone, Default)]
pub struct PinSource {
    /// Read the PIN from this environment variable (its name, not its value).
    #[arg(long, value_name = "VAR")]
    pub pin_env: Option<String>,
    /// Read the PIN from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN from the first line of standard input.
    #[arg(long)]
    pub pin_stdin: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct NewPinSource {
    /// Read the new PIN from this environment variable (its name, not its value).
    #[arg(long, value_name = "VAR")]
    pub new_pin_env: Option<String>,
    /// Read the new PIN from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub new_pin_file: Option<PathBuf>,
    /// Read the new PIN from standard input (after the current PIN, if that is read from stdin too).
    #[arg(long)]
    pub new_pin_stdin: bool,
}

impl PinSource {
    pub fn is_given(&self) -> bool {
        self.pin_env.is_some() || self.pin_file.is_some() || self.pin_stdin
    }
    /// Read the PIN, prompting on the terminal with `prompt` when no source is given.
    pub fn read(&self, prompt: &str) -> Result<SecretString, CliError> {
        read_secret(self.pin_env.as_deref(), self.pin_file.as_ref(), self.pin_stdin, prompt, false, "--pin")
    }
}

impl NewPinSource {
    pub fn is_given(&self) -> bool {
        self.new_pin_env.is_some() || self.new_pin_file.is_some() || self.new_pin_stdin
    }
    /// Read the new PIN; an interactive prompt asks twice.
    pub fn read(&self, prompt: &str) -> Result<SecretString, CliError> {
        read_secret(self.new_pin_env.as_deref(), self.new_pin_file.as_ref(), self.new_pin_stdin, prompt, true, "--new-pin")
    }
}

/// Read one secret from its source. `flag` is the option family that names the sources
/// (`--pin` or `--new-pin`), so that "no terminal" names the options this command takes.
pub fn read_secret(env: Option<&str>, file: Option<&PathBuf>, stdin: bool, prompt: &str, confirm: bool, flag: &str) -> Result<SecretString, CliError> {
    if let Some(var) = env {
        return std::env::var(var)
            .map(|v| SecretString::new(v.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|_| CliError::usage(format!("environment variable {var} is not set (it should hold the PIN)")));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read PIN file {}: {e}", path.display())))?;
        let text = zeroize::Zeroizing::new(text);
        let line = text.lines().next().unwrap_or("");
        return Ok(SecretString::new(line.to_string()));
    }
    if stdin {
        return read_stdin_line();
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!("{prompt}: no terminal to prompt on; use {flag}-stdin, {flag}-file FILE or {flag}-env VAR")));
    }
    let first = rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| CliError::failure(format!("cannot read PIN: {e}")))?;
    let first = SecretString::new(first);
    if confirm {
        let again = rpassword::prompt_password("Repeat it: ").map_err(|e| CliError::failure(format!("cannot read PIN: {e}")))?;
        if again != first.expose() {
            return Err(CliError::usage("the two PINs differ; nothing was changed"));
        }
    }
    Ok(first)
}

/// One line from standard input, without the line ending.
pub fn read_stdin_line() -> Result<SecretString, CliError> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::failure(format!("cannot read standard input: {e}")))?;
    Ok(SecretString::new(line.trim_end_matches(['\r', '\n']).to_string()))
}
