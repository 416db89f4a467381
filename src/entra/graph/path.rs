//! Building Graph URLs: user references, OData string literals and query strings.
//!
//! Users are addressed by id or UPN: `/users/{id|upn}`, except UPNs that begin with `$`,
//! which need the key form `/users('$x@y')`; `#` (guest UPNs) must travel as `%23`.

/// Percent-encode everything except RFC 3986 unreserved characters and `keep`.
pub(crate) fn encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An OData string literal: quoted, with `'` doubled.
pub fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The path segment(s) addressing one user: `users/{x}` or `users('{x}')`.
pub(crate) fn user_path(user: &str) -> String {
    let user = user.trim();
    if user.starts_with('$') {
        format!("users({})", encode(&odata_string(user), b"'$@"))
    } else {
        format!("users/{}", encode(user, b"@'"))
    }
}

/// One encoded path segment for an id we did not make (method ids may hold `/`, `+`, `=`).
pub(crate) fn segment(id: &str) -> String {
    encode(id, b"")
}

/// A query string from `(name, value)` pairs, values percent-encoded (spaces as `%20`).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k, b"$"), encode(v, b"'@$(),:"))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_paths() {
        assert_eq!(user_path("5c1b2e1a-0000-4000-8000-000000000001"), "users/5c1b2e1a-0000-4000-8000-000000000001");
        assert_eq!(user_path("adele@contoso.com"), "users/adele@contoso.com");
        assert_eq!(user_path("$adele@contoso.com"), "users('$adele@contoso.com')");
        assert_eq!(user_path("$o'neil@contoso.com"), "users('$o''neil@contoso.com')");
        assert_eq!(user_path("guest_fabrikam.com#EXT#@contoso.com"), "users/guest_fabrikam.com%23EXT%23@contoso.com");
        assert_eq!(user_path("a+b c@x"), "users/a%2Bb%20c@x");
        assert_eq!(user_path("evil/../x"), "users/evil%2F..%2Fx");
    }

    #[test]
    fn odata_literals_and_queries() {
        assert_eq!(odata_string("o'neil@x"), "'o''neil@x'");
        let q = query(&[("$filter", &format!("mail eq {}", odata_string("o'neil+1@x"))), ("$select", "id,mail")]);
        assert_eq!(q, "$filter=mail%20eq%20'o''neil%2B1@x'&$select=id,mail");
        assert_eq!(segment("ab+/=_-"), "ab%2B%2F%3D_-");
    }
}
