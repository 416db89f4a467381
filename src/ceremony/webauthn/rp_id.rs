//! May this origin claim this rp.id? Chromium's rule plus keystation's allow-list.
//!
//! Chromium accepts an rp.id that equals the caller's host, or that is a suffix of the
//! host at a label boundary *and* is a registrable domain according to the Public
//! Suffix List (so `example.co.uk` may be claimed from `login.example.co.uk`, but
//! `co.uk` may not). keystation has no copy of the PSL. It does not need one, because it
//! refuses every rp.id the operator did not put on the allow-list: an rp.id can only be
//! a public suffix if the operator configured it as one. On top of that, a suffix match
//! needs an rp.id with at least two labels, so a bare TLD (`com`) or `localhost` can
//! only ever match exactly.
use super::error::WebAuthnError;
use super::origin::Origin;

/// The relying parties keystation will create credentials for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpIdPolicy {
    allowed: Vec<String>,
}

/// The rp.id Microsoft Entra ID uses for security-key registration.
pub const ENTRA_RP_ID: &str = "login.microsoft.com";

impl RpIdPolicy {
    /// An allow-list of exact rp.id values (lower-case DNS names).
    pub fn new<I, S>(allowed: I) -> RpIdPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RpIdPolicy { allowed: allowed.into_iter().map(Into::into).collect() }
    }

    /// Entra only (`login.microsoft.com`).
    pub fn entra() -> RpIdPolicy {
        RpIdPolicy::new([ENTRA_RP_ID])
    }

    /// The allowed rp.ids.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Check the caller's origin (Chromium's origin rules) and the claimed rp.id (the
    /// allow-list, then Chromium's equal-or-registrable-suffix rule). `rp_id` is the
    /// page's rp.id, or the origin's host when the page gave none.
    pub fn check(&self, origin: &Origin, rp_id: &str) -> Result<(), WebAuthnError> {
        origin.check_may_use_webauthn()?;
        if !self.allowed.iter().any(|a| a == rp_id) {
            return Err(WebAuthnError::RpIdNotAllowed { rp_id: rp_id.to_string(), allowed: self.allowed.join(", ") });
        }
        let host = origin.host().unwrap_or_default();
        if origin_may_claim(host, rp_id) {
            Ok(())
        } else {
            Err(WebAuthnError::RpIdMismatch { rp_id: rp_id.to_string(), origin: origin.to_string() })
        }
    }
}

/// Equal, or a label-boundary suffix with at least two labels (see the module docs for
/// why the allow-list stands in for the Public Suffix List).
fn origin_may_claim(host: &str, rp_id: &str) -> bool {
    if rp_id.is_empty() {
        return false;
    }
    if host == rp_id {
        return true;
    }
    let labels_ok = rp_id.split('.').count() >= 2 && rp_id.split('.').all(|l| !l.is_empty());
    labels_ok && host.len() > rp_id.len() && host.ends_with(rp_id) && host.as_bytes()[host.len() - rp_id.len() - 1] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(allowed: &[&str], origin: &str, rp_id: &str) -> Result<(), &'static str> {
        RpIdPolicy::new(allowed.iter().copied())
            .check(&Origin::parse(origin).unwrap(), rp_id)
            .map_err(|e| e.dom_exception().name)
    }

    #[test]
    fn entra_from_its_own_origin() {
        assert_eq!(check(&[ENTRA_RP_ID], "https://login.microsoft.com", ENTRA_RP_ID), Ok(()));
    }

    #[test]
    fn registrable_suffix_from_a_subdomain() {
        assert_eq!(check(&["microsoft.com"], "https://login.microsoft.com", "microsoft.com"), Ok(()));
        assert_eq!(check(&["sim.localhost"], "http://a.sim.localhost:8080", "sim.localhost"), Ok(()));
    }

    #[test]
    fn localhost_only_matches_exactly() {
        assert_eq!(check(&["localhost"], "http://localhost:1234", "localhost"), Ok(()));
        assert_eq!(check(&["localhost"], "http://sim.localhost:1234", "localhost"), Err("SecurityError"));
    }

    #[test]
    fn foreign_or_partial_label_rp_ids_are_security_errors() {
        let allowed = [ENTRA_RP_ID, "microsoft.com", "osoft.com", "com"];
        assert_eq!(check(&allowed, "https://login.microsoftonline.com", ENTRA_RP_ID), Err("SecurityError"));
        assert_eq!(check(&allowed, "https://login.microsoft.com", "osoft.com"), Err("SecurityError"));
        assert_eq!(check(&allowed, "https://login.microsoft.com", "com"), Err("SecurityError"));
        assert_eq!(check(&allowed, "https://evil.example", ENTRA_RP_ID), Err("SecurityError"));
        // Case differences are mismatches, as in Chromium (origins are lower case).
        assert_eq!(check(&["Login.Microsoft.com"], "https://login.microsoft.com", "Login.Microsoft.com"), Err("SecurityError"));
    }

    #[test]
    fn rp_ids_off_the_allow_list_are_refused_even_when_they_match() {
        let e = RpIdPolicy::entra().check(&Origin::parse("https://example.com").unwrap(), "example.com").unwrap_err();
        assert!(matches!(e, WebAuthnError::RpIdNotAllowed { .. }));
        assert_eq!(e.dom_exception().name, "SecurityError");
    }

    #[test]
    fn origin_rules_come_first() {
        assert_eq!(check(&["localhost"], "null", "localhost"), Err("NotAllowedError"));
        assert_eq!(check(&["127.0.0.1"], "http://127.0.0.1:8080", "127.0.0.1"), Err("SecurityError"));
        assert_eq!(check(&["example.com"], "http://example.com", "example.com"), Err("SecurityError"));
    }
}
