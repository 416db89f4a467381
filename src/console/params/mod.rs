//! Parsing what the browser sends. Every request is untrusted input: sizes are capped,
//! unknown fields are refused by name, and every error says what was wrong in words the
//! page can show. Each kind of input has its own file and its own property tests.
//!
//! * [`body`]: the small JSON forms (sign-in, the name and PIN typed at the desk, the
//!   operator's exit, a note);
//! * [`query`]: the journal's search and export parameters;
//! * [`upload`]: a user list uploaded to start a batch.
pub mod body;
pub mod query;
pub mod upload;

/// A request the console cannot use; the message is for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text has no control characters (tabs, newlines, escapes) and at most `max`
/// characters; `what` names the field in the error.
pub(crate) fn plain_text(what: &str, text: &str, max: usize) -> Result<(), BadInput> {
    if text.chars().count() > max {
        return Err(BadInput(format!("{what} is too long: at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(BadInput(format!("{what} contains a tab, a line break or another invisible character")));
    }
    Ok(())
}
