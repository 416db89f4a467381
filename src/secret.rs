//! Secrets (PINs, TAPs, tokens, client secrets) in one wrapper type.
//!
//! `SecretString` has no `Display`, a redacted `Debug`, no `Serialize`, and wipes its
//! memory on drop, so a secret cannot end up in a log line, an error message or a
//! panic by accident. Code that really needs the value calls [`SecretString::expose`].
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(value.into()))
    }
    /// The secret value. Keep the borrow short and never format it into logs or errors.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_never_shows_the_value() {
        let s = SecretString::new("123456");
        assert!(!format!("{s:?}").contains("123456"));
        assert_eq!(s.expose(), "123456");
    }
}
