//! The per-user CLI's answers to the pipeline's desk questions: a new PIN chosen by the
//! user, the key's current PIN. From `--new-pin-*` / `--pin-*` sources (read once) or
//! the terminal (no echo). Never from argv.
use crate::cli::secret_input::read_secret;
use crate::secret::SecretString;
use crate::station::pipeline::{CurrentPinRequest, DeskPrompt, NewPinRequest};
use crate::ceremony::webauthn::BoxFuture;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Reads PINs for the pipeline.
pub struct CliDesk {
    /// The key's current PIN from `--pin-env/--pin-file/--pin-stdin`, handed out once;
    /// without one the terminal is asked.
    given_current: Mutex<Option<Option<SecretString>>>,
}

impl CliDesk {
    /// A desk with the current PIN read from the command line's source (if any).
    pub fn new(given_current: Option<SecretString>) -> CliDesk {
        let given = given_current.map(Some);
        CliDesk { given_current: Mutex::new(given) }
    }
}

impl DeskPrompt for CliDesk {
    fn new_pin<'a>(&'a self, request: &'a NewPinRequest) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            let req = &request.requirements;
            if let Some(problem) = &request.previous_problem {
                errln!("  That PIN cannot be used: {problem}");
            }
            {
                if !std::io::stdin().is_terminal() {
                    errln!("  The PIN is to be chosen at the desk, but there is no terminal: pass --new-pin-env, --new-pin-file or --new-pin-stdin.");
                    return None;
                }
                let alphabet = match req.alphabet {
                    crate::station::pin::PinAlphabet::Digits => "digits only",
                    crate::station::pin::PinAlphabet::Alphanumeric => "letters, digits and punctuation",
                };
                errln!(
                    "  {}: choose a PIN for your key, at least {} characters ({}), {alphabet}; no repeats, sequences or dates.",
                    request.user,
                    req.min_length,
                    req.min_length_source.explain()
                );
            }
            tokio::task::spawn_blocking(move || read_secret(None, None, false, "New PIN", true, "--new-pin"))
                .await
                .ok()?
                .map_err(|e| errln!("  {e}"))
                .ok()
        })
    }

    fn current_pin<'a>(&'a self, request: &'a CurrentPinRequest) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            let given = self.given_current.lock().unwrap_or_else(|p| p.into_inner()).as_mut().map(Option::take);
            // Read from the command line's source: once; a wrong one is not retried.
            if let Some(pin) = given {
                return pin;
            }
            {
                if !std::io::stdin().is_terminal() {
                    errln!("  {} — no terminal to ask on: pass --pin-env, --pin-file or --pin-stdin.", request.reason);
                    return None;
                }
                errln!("  {}", request.reason);
                if let Some(n) = request.retries_left {
                    errln!("  ({n} attempt(s) left before the key locks; press Enter on an empty line if you do not know it.)");
                }
            }
            let pin = tokio::task::spawn_blocking(move || read_secret(None, None, false, "Current PIN of the key", false, "--pin"))
                .await
                .ok()?
                .map_err(|e| errln!("  {e}"))
                .ok()?;
            (!pin.is_empty()).then_some(pin)
        })
    }
}
