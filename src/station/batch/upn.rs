//! Is this text a user principal name (or a mail address used as one)?
//!
//! Batch rows and kiosk input are checked before anything goes to Graph, so an operator
//! learns about a typo on the line it is on instead of from a 404 after a key was
//! prepared. The rules are deliberately those every UPN satisfies, not Entra's full
//! grammar: Entra itself answers "not found" for the rest.
//!
//! Accepted: `alice@contoso.com`, `conor.o'brien@contoso.com`, `$kiosk@contoso.com`,
//! guest UPNs such as `gina_fabrikam.com#EXT#@contoso.com`.

use crate::text::Echo;

/// Entra's longest userPrincipalName (64 characters before the `@`, and 113 in total).
pub const UPN_MAX_LEN: usize = 113;

/// Check `text` (already trimmed) and return it unchanged, or a sentence saying what is
/// wrong with it. The message repeats the text as [`Echo`]: capped, control characters
/// shown as escapes, so a hostile cell can neither flood nor drive the terminal.
pub fn check_upn(text: &str) -> Result<&str, String> {
    if text.is_empty() {
        return Err("the user is empty; give a user principal name such as alice@contoso.com".into());
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        let what = if c == ' ' { "a space".to_string() } else { format!("the invisible character U+{:04X}", c as u32) };
        return Err(format!("`{}` contains {what}; a user principal name has none", Echo(text)));
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(format!("`{}` is not a user principal name: it has no `@` (expected name@domain, e.g. alice@contoso.com)", Echo(text)));
    };
    if local.is_empty() {
        return Err(format!("`{}` has nothing before the `@`", Echo(text)));
    }
    if local.contains('@') && !local.contains("#EXT#") {
        return Err(format!("`{}` has more than one `@`", Echo(text)));
    }
    if domain.is_empty() || !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(format!("`{}` does not end in a domain such as contoso.com", Echo(text)));
    }
    if let Some(c) = domain.chars().find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '.')) {
        return Err(format!("`{}`: the domain contains `{}`, which no domain name has", Echo(text), Echo(c.encode_utf8(&mut [0; 4]))));
    }
    if local.chars().count() > 64 || text.chars().count() > UPN_MAX_LEN {
        return Err(format!("`{}` is longer than a user principal name can be (64 characters before the `@`, {UPN_MAX_LEN} in all)", Echo(text)));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::check_upn;

    #[test]
    fn accepts_the_shapes_entra_uses() {
        for ok in ["alice@contoso.test", "conor.o'brien@contoso.test", "$kiosk@contoso.test", "gina_fabrikam.test#EXT#@contoso.test", "a.b-c+d@sub.example.co.uk"] {
            assert_eq!(check_upn(ok), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_a_upn_and_says_why() {
        let cases = [
            ("", "empty"),
            ("alice", "no `@`"),
            ("@contoso.test", "nothing before"),
            ("alice@", "domain"),
            ("alice@contoso", "domain"),
            ("alice@contoso..test", "domain"),
            ("alice smith@contoso.test", "a space"),
            ("alice@con/toso.test", "`/`"),
            ("a@b@contoso.test", "more than one"),
        ];
        for (text, needle) in cases {
            let err = check_upn(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
        let long = format!("{}@contoso.test", "a".repeat(65));
        assert!(check_upn(&long).unwrap_err().contains("longer"));
    }
}
