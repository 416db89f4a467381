//! `[console]`: where `keystation console` listens and the operator's secrets it checks.
//!
//! The console is an admin UI on a shared machine, so the defaults are the safe ones: it
//! listens on loopback only. Listening on a network address needs TLS *and* an operator
//! password; the check is made here, when the configuration loads, so a console never
//! starts half-protected. Secrets (the password, the desk's operator PIN, the exit
//! sequence) are never written into the configuration: each is a path to a file that
//! only the station's account can read.
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default listening address: loopback, a fixed port so a kiosk browser can be
/// pointed at it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
/// A signed-in browser that sends nothing for this long is signed out (15 minutes).
pub const DEFAULT_SESSION_IDLE_SECONDS: u32 = 15 * 60;
/// No session lasts longer than this, busy or not (12 hours: a shift).
pub const DEFAULT_SESSION_LIFETIME_SECONDS: u32 = 12 * 60 * 60;
/// The range both session limits may take: a minute to a week.
pub const SESSION_SECONDS_RANGE: std::ops::RangeInclusive<u32> = 60..=7 * 24 * 60 * 60;

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// `address:port` to listen on (`127.0.0.1:8470`; port 0 picks a free one).
    pub listen: String,
    /// Further host names the console answers to (e.g. the station's DNS name when it
    /// listens on a network address). Requests naming any other host are refused.
    pub hostnames: Vec<String>,
    /// PEM certificate chain for HTTPS.
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_private_key: Option<PathBuf>,
    /// File holding the operator password (sign-in without the printed link).
    pub password_file: Option<PathBuf>,
    /// File holding the operator's PIN, which unlocks the desk screen.
    pub operator_pin_file: Option<PathBuf>,
    /// File holding the exit sequence: typed or scanned (an operator badge) into the
    /// desk's name field, it unlocks the desk screen.
    pub exit_sequence_file: Option<PathBuf>,
    /// Seconds without a request after which a session ends (a screen locked to the desk
    /// is exempt: it waits for people by design).
    pub session_idle_timeout_seconds: u32,
    /// Seconds after signing in after which a session ends, however busy.
    pub session_lifetime_seconds: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: DEFAULT_LISTEN.to_string(),
            hostnames: Vec::new(),
            tls_certificate: None,
            tls_private_key: None,
            password_file: None,
            operator_pin_file: None,
            exit_sequence_file: None,
            session_idle_timeout_seconds: DEFAULT_SESSION_IDLE_SECONDS,
            session_lifetime_seconds: DEFAULT_SESSION_LIFETIME_SECONDS,
        }
    }
}

impl ConsoleConfig {
    /// The listening address, or what is wrong with it.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        parse_listen(&self.listen)
    }

    /// Whether HTTPS is configured (both files given).
    pub fn tls(&self) -> bool {
        self.tls_certificate.is_some() && self.tls_private_key.is_some()
    }

    /// Check the rules that keep the console safe; the error is `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let addr = self.listen_addr().map_err(|m| ("console.listen", m))?;
        if self.tls_certificate.is_some() != self.tls_private_key.is_some() {
            let missing = if self.tls_certificate.is_none() { "console.tls_certificate" } else { "console.tls_private_key" };
            return Err((missing, "is missing: HTTPS needs both tls_certificate and tls_private_key".into()));
        }
        let protected = self.tls() && self.password_file.is_some();
        if !addr.ip().is_loopback() && !protected {
            return Err((
                "console.listen",
                format!(
                    "= {:?} is not a loopback address: a console reachable from the network needs HTTPS and an operator password; set console.tls_certificate, console.tls_private_key and console.password_file, or listen on 127.0.0.1",
                    self.listen
                ),
            ));
        }
        for (key, value) in [("console.session_idle_timeout_seconds", self.session_idle_timeout_seconds), ("console.session_lifetime_seconds", self.session_lifetime_seconds)] {
            if !SESSION_SECONDS_RANGE.contains(&value) {
                return Err((key, format!("= {value} is out of range: give {} to {} seconds", SESSION_SECONDS_RANGE.start(), SESSION_SECONDS_RANGE.end())));
            }
        }
        if self.session_idle_timeout_seconds > self.session_lifetime_seconds {
            return Err((
                "console.session_idle_timeout_seconds",
                format!("= {} is longer than console.session_lifetime_seconds = {}: the idle timeout must fit in the lifetime", self.session_idle_timeout_seconds, self.session_lifetime_seconds),
            ));
        }
        for name in &self.hostnames {
            if !is_host_name(name) {
                return Err(("console.hostnames", format!("{name:?} is not a host name (letters, digits, '-' and '.', no port)")));
            }
        }
        Ok(())
    }

    /// A relative path named in the file is relative to the file's directory (one given
    /// on the command line or in the environment, to the working directory);
    /// `from_file(key)` says where a key's value came from.
    pub(crate) fn resolve_paths(&mut self, base: &Path, from_file: impl Fn(&str) -> bool) {
        let paths = [
            ("console.tls_certificate", &mut self.tls_certificate),
            ("console.tls_private_key", &mut self.tls_private_key),
            ("console.password_file", &mut self.password_file),
            ("console.operator_pin_file", &mut self.operator_pin_file),
            ("console.exit_sequence_file", &mut self.exit_sequence_file),
        ];
        for (key, path) in paths {
            if let Some(p) = path
                && p.is_relative()
                && from_file(key)
            {
                *p = base.join(&*p);
            }
        }
    }
}

/// `address:port`, with `localhost` accepted for the loopback address.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let t = t.strip_prefix("localhost:").map(|port| format!("127.0.0.1:{port}")).unwrap_or_else(|| t.to_string());
    t.parse::<SocketAddr>().map_err(|_| format!("= {text:?} is not an address and port such as 127.0.0.1:8470"))
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with(['.', '-'])
        && !s.ends_with(['.', '-'])
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_the_default_and_a_network_address_needs_tls_and_a_password() {
        let c = ConsoleConfig::default();
        assert!(c.check().is_ok());
        assert!(c.listen_addr().unwrap().ip().is_loopback());
        let open = ConsoleConfig { listen: "0.0.0.0:8470".into(), ..ConsoleConfig::default() };
        let (key, msg) = open.check().unwrap_err();
        assert_eq!(key, "console.listen");
        assert!(msg.contains("tls_certificate") && msg.contains("password_file"), "{msg}");
        let tls_only = ConsoleConfig { tls_certificate: Some("c.pem".into()), tls_private_key: Some("k.pem".into()), ..open.clone() };
        assert!(tls_only.check().is_err());
        let full = ConsoleConfig { password_file: Some("pw".into()), ..tls_only };
        assert!(full.check().is_ok());
        let half = ConsoleConfig { tls_certificate: Some("c.pem".into()), ..ConsoleConfig::default() };
        assert_eq!(half.check().unwrap_err().0, "console.tls_private_key");
    }

    #[test]
    fn listen_and_host_names_are_checked() {
        assert_eq!(parse_listen("localhost:0").unwrap().to_string(), "127.0.0.1:0");
        assert_eq!(parse_listen("[::1]:8470").unwrap().to_string(), "[::1]:8470");
        assert!(parse_listen("127.0.0.1").unwrap_err().contains("address and port"));
        let bad = ConsoleConfig { hostnames: vec!["evil.example:80".into()], ..ConsoleConfig::default() };
        assert_eq!(bad.check().unwrap_err().0, "console.hostnames");
    }

    #[test]
    fn session_limits_have_safe_defaults_and_a_range() {
        let c = ConsoleConfig::default();
        assert_eq!((c.session_idle_timeout_seconds, c.session_lifetime_seconds), (900, 43_200));
        let never = ConsoleConfig { session_idle_timeout_seconds: 0, ..ConsoleConfig::default() };
        let (key, msg) = never.check().unwrap_err();
        assert_eq!(key, "console.session_idle_timeout_seconds");
        assert!(msg.contains("60 to 604800"), "{msg}");
        let long = ConsoleConfig { session_lifetime_seconds: 8 * 24 * 3600, ..ConsoleConfig::default() };
        assert_eq!(long.check().unwrap_err().0, "console.session_lifetime_seconds");
        let upside_down = ConsoleConfig { session_idle_timeout_seconds: 7200, session_lifetime_seconds: 3600, ..ConsoleConfig::default() };
        assert!(upside_down.check().unwrap_err().1.contains("must fit in the lifetime"));
    }
}
