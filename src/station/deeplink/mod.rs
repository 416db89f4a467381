//! Signed deeplinks: an admin panel launches the station with
//! `keystation://enroll?user=UPN&via=graph&tenant=NAME&exp=UNIX&nonce=N&sig=…`.
//!
//! Any web page can invoke a URL scheme, so a link is trusted only when it carries an
//! HMAC-SHA256 signature, made with a key the station holds (an environment variable or a
//! file, never argv), over the link's canonical form ([`canonical`]); when it has not
//! expired; and when its nonce has not been used before (the journal records each nonce,
//! `Journal::use_deeplink_nonce`). Everything else is refused with a sentence that says
//! what was wrong, before anything is touched. The parser is strict on purpose:
//! unknown or repeated parameters, control characters, oversized input, another scheme
//! or host are all refusals, not things to guess about. docs/deeplinks.md.
mod accept;
pub mod handler;

pub use accept::{accept, AcceptedLink};

use crate::secret::SecretString;
use crate::station::batch::check_upn;
use crate::text::Echo;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The URL scheme the station registers.
pub const SCHEME: &str = "keystation";
/// The longest link accepted (bytes).
pub const MAX_LINK_LEN: usize = 2048;
/// The longest a signed link may be valid for, from now.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
/// The shortest signing key accepted (bytes of key text).
pub const MIN_KEY_LEN: usize = 32;

const PARAMS: &[&str] = &["user", "via", "tenant", "exp", "nonce", "sig"];

/// The registration path a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkVia {
    /// Direct Graph registration.
    Graph,
    /// The automatic browser ceremony.
    Browser,
    /// A person signs in in the browser.
    Manual,
}

impl LinkVia {
    fn parse(s: &str) -> Option<LinkVia> {
        match s {
            "graph" => Some(LinkVia::Graph),
            "browser" => Some(LinkVia::Browser),
            "manual" => Some(LinkVia::Manual),
            _ => None,
        }
    }

    /// As written in a link.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkVia::Graph => "graph",
            LinkVia::Browser => "browser",
            LinkVia::Manual => "manual",
        }
    }
}

/// A link as parsed (not yet trusted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnrollLink {
    /// The user to enroll.
    pub user: String,
    /// The registration path, when the link names one.
    pub via: Option<LinkVia>,
    /// The configured tenant's name, when the link names one.
    pub tenant: Option<String>,
    /// Expiry, seconds since 1970 (signed links).
    pub exp: Option<i64>,
    /// One-use nonce (signed links).
    pub nonce: Option<String>,
    /// The signature, base64url (absent: an unsigned link).
    #[serde(skip)]
    pub sig: Option<String>,
}

/// Why a link was refused. Each message says what was wrong; none repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeeplinkError {
    /// The link is malformed or hostile.
    #[error("the link was refused: {0}")]
    Malformed(String),
    /// No signature, and the station does not accept unsigned links.
    #[error("the link is not signed, and this station accepts only signed links (deeplink.allow_unsigned is off)")]
    Unsigned,
    /// The signature does not match.
    #[error("the link's signature does not match: it was changed, or signed with another key")]
    BadSignature,
    /// Expired.
    #[error("the link expired {0} second(s) ago: ask the admin panel for a new one")]
    Expired(i64),
    /// Valid for longer than allowed.
    #[error("the link is valid for longer than 24 hours, which this station does not accept")]
    TooLong,
    /// The nonce was used before.
    #[error("the link was already used (nonce seen before): each link works once; ask the admin panel for a new one")]
    Replayed,
    /// The tenant is not configured here.
    #[error("the link names the tenant `{0}`, which this station is not configured for")]
    UnknownTenant(String),
    /// No signing key is configured (or it is unusable).
    #[error("{0}")]
    Key(String),
    /// The journal could not record the nonce (nothing was started).
    #[error("the journal could not record the link's nonce, so nothing was started: {0}; fix the journal (keystation doctor) and open the link again")]
    Journal(String),
}

fn bad(msg: impl Into<String>) -> DeeplinkError {
    DeeplinkError::Malformed(msg.into())
}

/// Parse a link: strict syntax, no trust decision yet ([`verify`] makes it).
pub fn parse(link: &str) -> Result<EnrollLink, DeeplinkError> {
    if link.len() > MAX_LINK_LEN {
        return Err(bad(format!("it is {} bytes long; a keystation link is at most {MAX_LINK_LEN}", link.len())));
    }
    if let Some(c) = link.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(format!("it contains the character U+{:04X}; a link has no spaces or control characters", c as u32)));
    }
    let Some((scheme, rest)) = link.split_once(':') else {
        return Err(bad("it is not a URL (no scheme)"));
    };
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(bad(format!("its scheme is `{}`; only {SCHEME}: links are opened", Echo(scheme))));
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    if rest.contains('#') {
        return Err(bad("it has a fragment (#…)"));
    }
    let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
    let target = target.strip_suffix('/').unwrap_or(target);
    if !target.eq_ignore_ascii_case("enroll") {
        return Err(bad(format!("it asks for `{}`; the only action is enroll", Echo(target))));
    }
    let mut seen: Vec<(&str, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if !PARAMS.contains(&name) {
            return Err(bad(format!("it has the unknown parameter `{}` (known: {})", Echo(name), PARAMS.join(", "))));
        }
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(bad(format!("the parameter `{name}` appears twice")));
        }
        let value = percent_decode(raw).ok_or_else(|| bad(format!("the parameter `{name}` is not valid percent-encoded UTF-8")))?;
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(bad(format!("the parameter `{name}` contains the control character U+{:04X}", c as u32)));
        }
        if value.is_empty() {
            return Err(bad(format!("the parameter `{name}` is empty")));
        }
        seen.push((name, value));
    }
    let take = |n: &str| seen.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    let user = take("user").ok_or_else(|| bad("it names no user (user=UPN)"))?;
    check_upn(&user).map_err(|e| bad(format!("user: {e}")))?;
    let via = match take("via") {
        None => None,
        Some(v) => Some(LinkVia::parse(&v).ok_or_else(|| bad(format!("via=`{}`: use graph, browser or manual", Echo(&v))))?),
    };
    let tenant = take("tenant");
    if let Some(t) = &tenant
        && (t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(bad(format!("tenant=`{}` is not a tenant name (letters, digits, - _ ., at most 64)", Echo(t))));
    }
    let exp = match take("exp") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|e| *e > 0 && v.chars().all(|c| c.is_ascii_digit())).ok_or_else(|| bad(format!("exp=`{}` is not a time in seconds since 1970", Echo(&v))))?),
    };
    let nonce = take("nonce");
    if let Some(n) = &nonce
        && !(16..=128).contains(&n.len())
    {
        return Err(bad("the nonce must be 16 to 128 characters (letters, digits, - and _)"));
    }
    if let Some(n) = &nonce
        && !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad("the nonce must be 16 to 128 characters (letters, digits, - and _)"));
    }
    let sig = take("sig");
    if let Some(s) = &sig
        && URL_SAFE_NO_PAD.decode(s).map(|b| b.len() != 32).unwrap_or(true)
    {
        return Err(bad("sig is not an HMAC-SHA256 signature (43 characters of base64url)"));
    }
    if sig.is_some() && (exp.is_none() || nonce.is_none()) {
        return Err(bad("a signed link needs exp and nonce"));
    }
    Ok(EnrollLink { user, via, tenant, exp, nonce, sig })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What is signed: `keystation:enroll?` and the link's parameters except `sig`, sorted
/// by name, each `name=value` with the value percent-encoded (RFC 3986 unreserved kept),
/// joined by `&`. The same link written with other encodings or in another order signs
/// the same.
pub fn canonical(link: &EnrollLink) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("user", link.user.clone())];
    if let Some(v) = link.via {
        pairs.push(("via", v.as_str().into()));
    }
    if let Some(t) = &link.tenant {
        pairs.push(("tenant", t.clone()));
    }
    if let Some(e) = link.exp {
        pairs.push(("exp", e.to_string()));
    }
    if let Some(n) = &link.nonce {
        pairs.push(("nonce", n.clone()));
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    format!("{SCHEME}:enroll?{}", query.join("&"))
}

/// The station's signing key (HMAC-SHA256). Read from an environment variable or a file;
/// never from the command line, never printed (Debug shows nothing).
pub struct DeeplinkKey(SecretString);

impl std::fmt::Debug for DeeplinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeeplinkKey(…)")
    }
}

impl DeeplinkKey {
    /// A key from its text (at least [`MIN_KEY_LEN`] bytes, surrounding whitespace dropped).
    pub fn new(text: &str) -> Result<DeeplinkKey, DeeplinkError> {
        let t = text.trim();
        if t.len() < MIN_KEY_LEN {
            return Err(DeeplinkError::Key(format!(
                "the deeplink key is too short ({} bytes; at least {MIN_KEY_LEN}): make one with `openssl rand -base64 32`",
                t.len()
            )));
        }
        Ok(DeeplinkKey(SecretString::new(t.to_string())))
    }

    /// The key in the environment variable `var`.
    pub fn from_env(var: &str) -> Result<DeeplinkKey, DeeplinkError> {
        let v = std::env::var(var).map_err(|_| DeeplinkError::Key(format!("the deeplink key variable {var} is not set")))?;
        DeeplinkKey::new(&v)
    }

    /// The key in `path`, which only its owner may read (mode 0600 or stricter).
    pub fn from_file(path: &std::path::Path) -> Result<DeeplinkKey, DeeplinkError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|e| DeeplinkError::Key(format!("cannot read the deeplink key file {}: {e}", path.display())))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(DeeplinkError::Key(format!(
                    "the deeplink key file {} can be read by others (mode {:o}): run chmod 600 on it",
                    path.display(),
                    meta.permissions().mode() & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| DeeplinkError::Key(format!("cannot read the deeplink key file {}: {e}", path.display())))?;
        DeeplinkKey::new(&text)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes()).expect("HMAC takes any key length")
    }

    /// The signature of `link` (base64url, no padding).
    pub fn sign(&self, link: &EnrollLink) -> String {
        let mut m = self.mac();
        m.update(canonical(link).as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    fn check(&self, link: &EnrollLink, sig: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(sig) else { return false };
        let mut m = self.mac();
        m.update(canonical(link).as_bytes());
        m.verify_slice(&raw).is_ok()
    }
}

/// A signed link for `user`, valid until `exp`, with a fresh random nonce.
pub fn make_link(key: &DeeplinkKey, user: &str, via: Option<LinkVia>, tenant: Option<&str>, exp: i64) -> Result<String, DeeplinkError> {
    use rand::RngCore;
    let mut n = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut n);
    let mut link = EnrollLink { user: user.to_string(), via, tenant: tenant.map(str::to_string), exp: Some(exp), nonce: Some(URL_SAFE_NO_PAD.encode(n)), sig: None };
    let sig = key.sign(&link);
    link.sig = Some(sig);
    let text = to_url(&link);
    // What we make, we accept (a user that is not a UPN is refused here, not at the desk).
    parse(&text)?;
    Ok(text)
}

/// The link as a URL (`keystation://enroll?…`, parameters in canonical order, `sig` last).
pub fn to_url(link: &EnrollLink) -> String {
    let c = canonical(link);
    let query = c.split_once('?').map(|(_, q)| q).unwrap_or("");
    match &link.sig {
        Some(s) => format!("{SCHEME}://enroll?{query}&sig={s}"),
        None => format!("{SCHEME}://enroll?{query}"),
    }
}

/// How a link was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// Signed with the station's key, not expired (the nonce is checked next, in the journal).
    Signed,
    /// Unsigned, accepted only because the station allows it: an operator must confirm
    /// the user and tenant on screen before anything happens.
    NeedsOperatorConfirmation,
}

/// What the station accepts.
#[derive(Debug)]
pub struct VerifyPolicy<'a> {
    /// The signing key, when configured.
    pub key: Option<&'a DeeplinkKey>,
    /// Accept unsigned links with an on-screen confirmation.
    pub allow_unsigned: bool,
    /// Tenant names this station is configured for (a link naming another is refused).
    pub tenants: &'a [String],
    /// Now, seconds since 1970.
    pub now: i64,
}

/// Decide whether to trust a parsed link (signature, expiry, lifetime, tenant). The nonce
/// is then spent in the journal (`Journal::use_deeplink_nonce`) before anything else.
pub fn verify(link: &EnrollLink, policy: &VerifyPolicy) -> Result<Trust, DeeplinkError> {
    if let Some(t) = &link.tenant
        && !policy.tenants.iter().any(|k| k.eq_ignore_ascii_case(t))
    {
        return Err(DeeplinkError::UnknownTenant(t.clone()));
    }
    let Some(sig) = &link.sig else {
        return if policy.allow_unsigned { Ok(Trust::NeedsOperatorConfirmation) } else { Err(DeeplinkError::Unsigned) };
    };
    let key = policy.key.ok_or_else(|| {
        DeeplinkError::Key("this station has no deeplink key (set deeplink.key_env or deeplink.key_file) and cannot check signed links".into())
    })?;
    if !key.check(link, sig) {
        return Err(DeeplinkError::BadSignature);
    }
    let exp = link.exp.unwrap_or(0);
    if exp < policy.now {
        return Err(DeeplinkError::Expired(policy.now - exp));
    }
    if exp - policy.now > MAX_LIFETIME_SECS {
        return Err(DeeplinkError::TooLong);
    }
    Ok(Trust::Signed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";
    const NOW: i64 = 1_800_000_000;

    fn policy<'a>(key: &'a DeeplinkKey, tenants: &'a [String]) -> VerifyPolicy<'a> {
        VerifyPolicy { key: Some(key), allow_unsigned: false, tenants, now: NOW }
    }

    #[test]
    fn a_signed_link_round_trips_and_verifies() {
        let key = DeeplinkKey::new(KEY).unwrap();
        let url = make_link(&key, "alice@contoso.com", Some(LinkVia::Graph), Some("contoso"), NOW + 600).unwrap();
        assert!(url.starts_with("keystation://enroll?exp="), "{url}");
        assert!(!url.contains(KEY));
        let link = parse(&url).unwrap();
        assert_eq!((link.user.as_str(), link.via, link.tenant.as_deref()), ("alice@contoso.com", Some(LinkVia::Graph), Some("contoso")));
        let tenants = vec!["Contoso".to_string()];
        assert_eq!(verify(&link, &policy(&key, &tenants)), Ok(Trust::Signed));
        // Another key, a changed user, an expired or too long link.
        let other = DeeplinkKey::new("another-key-another-key-another-key").unwrap();
        assert_eq!(verify(&link, &policy(&other, &tenants)), Err(DeeplinkError::BadSignature));
        let changed = parse(&url.replace("alice", "mallory")).unwrap();
        assert_eq!(verify(&changed, &policy(&key, &tenants)), Err(DeeplinkError::BadSignature));
        let late = VerifyPolicy { now: NOW + 601, ..policy(&key, &tenants) };
        assert_eq!(verify(&link, &late), Err(DeeplinkError::Expired(1)));
        let long = parse(&make_link(&key, "a@contoso.com", None, None, NOW + MAX_LIFETIME_SECS + 1).unwrap()).unwrap();
        assert_eq!(verify(&long, &policy(&key, &tenants)), Err(DeeplinkError::TooLong));
        assert_eq!(verify(&link, &policy(&key, &[])), Err(DeeplinkError::UnknownTenant("contoso".into())));
    }

    #[test]
    fn the_same_link_in_another_order_or_encoding_signs_the_same() {
        let key = DeeplinkKey::new(KEY).unwrap();
        let url = make_link(&key, "o'brien@contoso.com", None, None, NOW + 60).unwrap();
        let link = parse(&url).unwrap();
        let sig = link.sig.clone().unwrap();
        let reordered = format!("KEYSTATION:enroll/?sig={sig}&nonce={}&exp={}&user=o%27brien%40contoso.com", link.nonce.as_deref().unwrap(), link.exp.unwrap());
        assert_eq!(verify(&parse(&reordered).unwrap(), &policy(&key, &[])), Ok(Trust::Signed));
    }

    #[test]
    fn unsigned_links_need_the_setting_and_a_confirmation() {
        let key = DeeplinkKey::new(KEY).unwrap();
        let link = parse("keystation://enroll?user=bob@contoso.com&via=manual").unwrap();
        assert_eq!(verify(&link, &policy(&key, &[])), Err(DeeplinkError::Unsigned));
        let open = VerifyPolicy { allow_unsigned: true, ..policy(&key, &[]) };
        assert_eq!(verify(&link, &open), Ok(Trust::NeedsOperatorConfirmation));
    }

    #[test]
    fn hostile_links_are_refused_with_a_reason() {
        let sig = URL_SAFE_NO_PAD.encode([0u8; 32]);
        let cases = [
            ("https://enroll?user=a@contoso.com", "scheme"),
            ("keystation://delete?user=a@contoso.com", "only action"),
            ("keystation://enroll?user=a@contoso.com&admin=1", "unknown parameter"),
            ("keystation://enroll?user=a@contoso.com&user=b@contoso.com", "twice"),
            ("keystation://enroll?user=a%0a@contoso.com", "control character"),
            ("keystation://enroll?user=alice", "user:"),
            ("keystation://enroll?via=graph", "no user"),
            ("keystation://enroll?user=a@contoso.com&via=ssh", "via="),
            ("keystation://enroll?user=a@contoso.com&tenant=a/b", "tenant="),
            ("keystation://enroll?user=a@contoso.com&exp=-5", "exp="),
            ("keystation://enroll?user=a@contoso.com&nonce=short", "nonce"),
            ("keystation://enroll?user=a@contoso.com&sig=abc", "sig"),
            ("keystation://enroll?user=a@contoso.com#x", "fragment"),
            ("keystation://enroll?user=a@contoso.com&user=", "twice"),
            ("keystation://enroll?user=a%ZZ@contoso.com", "percent"),
            ("keystation://enroll?user=a@contoso.com x", "U+0020"),
        ];
        for (link, why) in cases {
            let e = parse(link).expect_err(link).to_string();
            assert!(e.contains(why), "{link}: {e}");
        }
        let e = parse(&format!("keystation://enroll?user=a@contoso.com&sig={sig}")).unwrap_err().to_string();
        assert!(e.contains("needs exp and nonce"), "{e}");
        let huge = format!("keystation://enroll?user={}@contoso.com", "a".repeat(MAX_LINK_LEN));
        assert!(parse(&huge).unwrap_err().to_string().contains("at most 2048"));
    }

    #[test]
    fn a_short_key_or_a_readable_key_file_is_refused() {
        assert!(DeeplinkKey::new("short").unwrap_err().to_string().contains("too short"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, KEY).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(DeeplinkKey::from_file(&p).unwrap_err().to_string().contains("chmod 600"));
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(DeeplinkKey::from_file(&p).is_ok());
        assert_eq!(format!("{:?}", DeeplinkKey::new(KEY).unwrap()), "DeeplinkKey(…)");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any input: a parse result or a refusal, never a panic; an accepted link has a
        /// UPN and nothing but the known parameters.
        #[test]
        fn any_text_parses_or_is_refused(s in "\\PC{0,300}") {
            if let Ok(l) = parse(&s) {
                prop_assert!(check_upn(&l.user).is_ok());
            }
        }

        /// Links built from the grammar's pieces, shuffled and partly garbled.
        #[test]
        fn link_shaped_input_never_panics(
            parts in proptest::collection::vec((prop_oneof![Just("user".to_string()), Just("via".to_string()), Just("tenant".to_string()), Just("exp".to_string()), Just("nonce".to_string()), Just("sig".to_string()), "[a-z]{1,6}"], "[ -~]{0,40}"), 0..8),
            scheme in prop_oneof![Just("keystation://enroll?".to_string()), Just("KEYSTATION:enroll/?".to_string()), Just("keystation://x?".to_string()), "[a-z]{1,8}:[a-z/]{0,8}\\?"],
        ) {
            let q: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = parse(&format!("{scheme}{}", q.join("&")));
        }

        /// Signing then parsing gives the same link back, and it verifies; any one
        /// changed parameter breaks the signature.
        #[test]
        fn signed_links_round_trip(local in "[a-z0-9._'-]{1,20}", domain in "[a-z]{1,10}\\.[a-z]{2,5}", ttl in 1i64..MAX_LIFETIME_SECS, via in 0usize..4) {
            let key = DeeplinkKey::new(KEY).unwrap();
            let user = format!("{local}@{domain}");
            prop_assume!(check_upn(&user).is_ok());
            let via = [None, Some(LinkVia::Graph), Some(LinkVia::Browser), Some(LinkVia::Manual)][via];
            let url = make_link(&key, &user, via, None, NOW + ttl).unwrap();
            let link = parse(&url).unwrap();
            prop_assert_eq!(&link.user, &user);
            prop_assert_eq!(link.via, via);
            prop_assert_eq!(verify(&link, &policy(&key, &[])), Ok(Trust::Signed));
            let mut later = link.clone();
            later.exp = Some(NOW + ttl + 1);
            prop_assert_eq!(verify(&later, &policy(&key, &[])), Err(DeeplinkError::BadSignature));
        }
    }
}
