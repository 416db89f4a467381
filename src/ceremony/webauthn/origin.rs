//! Web origins as the browser reports them (`scheme://host[:port]`, or `null` for an
//! opaque origin), and the checks Chromium applies before any WebAuthn request.
use super::error::WebAuthnError;
use std::fmt;

/// A tuple origin (scheme, host, port) or an opaque origin.
///
/// Parsed from the serialisation the browser itself reports for a realm; it is never
/// taken from anything the page says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `scheme://host[:port]`.
    Tuple {
        /// Lower-case scheme, e.g. `https`.
        scheme: String,
        /// Lower-case host (IPv6 in brackets).
        host: String,
        /// `None` when it is the scheme's default port.
        port: Option<u16>,
    },
    /// `null`: sandboxed frames, `data:` documents and the like.
    Opaque,
}

impl Origin {
    /// Parse an origin serialisation such as `https://login.microsoft.com` or
    /// `http://localhost:8080`. The input must already be canonical (lower-case scheme
    /// and host, no path, no default port), as browsers serialise it; anything else is
    /// refused so that a comparison with an rp.id can never be fooled by a second
    /// spelling of the same host.
    pub fn parse(text: &str) -> Result<Origin, String> {
        if text == "null" {
            return Ok(Origin::Opaque);
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| format!("{text:?} is not an origin"))?;
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b)) {
            return Err(format!("{text:?} has an invalid scheme"));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!("{text:?} is a URL, not an origin"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| format!("{text:?} has an invalid host or port"))?;
        if host.is_empty() || host.bytes().any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace()) {
            return Err(format!("{text:?} has an invalid host"));
        }
        if port.is_some() && port == default_port(scheme) {
            return Err(format!("{text:?} spells out its default port"));
        }
        Ok(Origin::Tuple { scheme: scheme.to_string(), host: host.to_string(), port })
    }

    /// The host, or `None` for an opaque origin.
    pub fn host(&self) -> Option<&str> {
        match self {
            Origin::Tuple { host, .. } => Some(host),
            Origin::Opaque => None,
        }
    }

    /// True when the host is an IPv4 or IPv6 literal.
    pub fn host_is_ip(&self) -> bool {
        match self.host() {
            Some(h) => h.starts_with('[') || h.parse::<std::net::Ipv4Addr>().is_ok(),
            None => false,
        }
    }

    /// Chromium's `OriginAllowedToMakeWebAuthnRequests`: opaque origins, schemes other
    /// than http(s), IP-address hosts and non-trustworthy (plain http, non-localhost)
    /// origins may not use WebAuthn at all.
    pub fn check_may_use_webauthn(&self) -> Result<(), WebAuthnError> {
        let (scheme, host) = match self {
            Origin::Opaque => return Err(WebAuthnError::OpaqueOrigin),
            Origin::Tuple { scheme, host, .. } => (scheme.as_str(), host.as_str()),
        };
        if scheme != "http" && scheme != "https" {
            return Err(WebAuthnError::InvalidProtocol { origin: self.to_string() });
        }
        if self.host_is_ip() || (scheme == "http" && !is_localhost(host)) {
            return Err(WebAuthnError::InvalidDomain { origin: self.to_string() });
        }
        Ok(())
    }
}

impl fmt::Display for Origin {
    /// The origin's serialisation, exactly as it goes into clientDataJSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Opaque => f.write_str("null"),
            Origin::Tuple { scheme, host, port: None } => write!(f, "{scheme}://{host}"),
            Origin::Tuple { scheme, host, port: Some(p) } => write!(f, "{scheme}://{host}:{p}"),
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn split_host_port(rest: &str) -> Option<(&str, Option<u16>)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = &rest[..close + 2];
        return match &v6[close + 1..] {
            "" => Some((host, None)),
            p => Some((host, Some(parse_port(p.strip_prefix(':')?)?))),
        };
    }
    match rest.rsplit_once(':') {
        Some((host, p)) => Some((host, Some(parse_port(p)?))),
        None => Some((rest, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
        return None;
    }
    p.parse().ok()
}

/// `localhost`, `*.localhost` (with or without the trailing dot): the only plain-http
/// hosts Chromium treats as potentially trustworthy besides loopback IPs, which
/// WebAuthn refuses anyway.
fn is_localhost(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    h == "localhost" || h.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_serialises_canonical_origins() {
        for s in ["https://login.microsoft.com", "http://localhost:8080", "http://[::1]:3000", "https://a.b.c:444"] {
            assert_eq!(Origin::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Origin::parse("null").unwrap(), Origin::Opaque);
    }

    #[test]
    fn refuses_non_canonical_spellings() {
        for s in [
            "https://Login.microsoft.com",
            "HTTPS://login.microsoft.com",
            "https://login.microsoft.com:443",
            "http://localhost:80",
            "https://login.microsoft.com/",
            "https://user@host",
            "https://host:08",
            "https://host:",
            "login.microsoft.com",
            "https://",
        ] {
            assert!(Origin::parse(s).is_err(), "{s} was accepted");
        }
    }

    #[test]
    fn webauthn_is_limited_to_https_and_localhost() {
        let ok = ["https://login.microsoft.com", "http://localhost:1234", "http://sim.localhost:9", "https://127.0.0.2.example"];
        for s in ok {
            assert!(Origin::parse(s).unwrap().check_may_use_webauthn().is_ok(), "{s}");
        }
        let err = |s: &str| Origin::parse(s).unwrap().check_may_use_webauthn().unwrap_err().dom_exception().name;
        assert_eq!(err("null"), "NotAllowedError");
        assert_eq!(err("http://example.com"), "SecurityError");
        assert_eq!(err("http://127.0.0.1:8080"), "SecurityError");
        assert_eq!(err("https://127.0.0.1"), "SecurityError");
        assert_eq!(err("https://[::1]"), "SecurityError");
        assert_eq!(err("ftp://localhost"), "SecurityError");
    }
}
