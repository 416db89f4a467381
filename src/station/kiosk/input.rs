//! Where the kiosk reads what people type: user names (typed, or "typed" by a barcode
//! scanner, which is a keyboard that sends the badge's UPN and Enter) and PINs.
//!
//! [`LineInput`] reads both from one line stream (a pipe, a scripted test, a scanner
//! without a terminal); the CLI adds a terminal variant whose PIN prompts do not echo.
use crate::ceremony::webauthn::BoxFuture;
use crate::secret::SecretString;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, Lines};

/// The kiosk's keyboard.
pub trait KioskInput: Send {
    /// The next line without its line ending; `None` at end of input. Cancel-safe: a
    /// line is never lost when the future is dropped before it completes.
    fn next_line(&mut self) -> BoxFuture<'_, Option<String>>;
    /// A secret (PIN), never echoed; `None` at end of input.
    fn secret<'a>(&'a mut self, prompt: &'a str) -> BoxFuture<'a, Option<SecretString>>;
    /// A person at a keyboard (a terminal) rather than a script: the end of input
    /// (Ctrl-D) does not close the desk, and a refusal waits for Enter.
    fn interactive(&self) -> bool {
        false
    }
}

/// Lines from any async reader; secrets are lines too (nothing echoes a pipe).
pub struct LineInput<R> {
    lines: Lines<R>,
}

impl<R: AsyncBufRead + Unpin + Send> LineInput<R> {
    /// Read from `reader`.
    pub fn new(reader: R) -> LineInput<R> {
        LineInput { lines: reader.lines() }
    }
}

impl<R: AsyncBufRead + Unpin + Send> KioskInput for LineInput<R> {
    fn next_line(&mut self) -> BoxFuture<'_, Option<String>> {
        // `Lines::next_line` is cancel-safe.
        Box::pin(async move { self.lines.next_line().await.ok().flatten().map(|l| l.trim_end_matches('\r').to_string()) })
    }

    fn secret<'a>(&'a mut self, _prompt: &'a str) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            let line = self.lines.next_line().await.ok().flatten()?;
            let line = zeroize::Zeroizing::new(line);
            Some(SecretString::new(line.trim_end_matches('\r')))
        })
    }
}
