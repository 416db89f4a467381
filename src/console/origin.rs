//! The console's own names: which `Host` and `Origin` values a request may carry.
//!
//! A page on another site can make a browser send requests to `127.0.0.1`; with DNS
//! rebinding it can even do so under its own host name and read the answers. Both are
//! stopped by answering only requests whose `Host` is one of the console's own names and,
//! when an `Origin` is sent (always on state-changing requests), whose origin is the
//! console's own.
use std::net::{IpAddr, SocketAddr};

/// The names and origins this console answers to.
#[derive(Debug, Clone)]
pub struct Origins {
    scheme: &'static str,
    port: u16,
    /// Host names without the port, lower case (`127.0.0.1`, `localhost`, `[::1]`, …).
    hosts: Vec<String>,
}

impl Origins {
    /// For a console bound to `addr`, over HTTPS or not, with extra host names.
    pub fn new(addr: SocketAddr, tls: bool, extra_hosts: &[String]) -> Origins {
        let mut hosts = Vec::new();
        let ip = addr.ip();
        if ip.is_loopback() || ip.is_unspecified() {
            hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        if !ip.is_unspecified() {
            hosts.push(host_of(ip));
        }
        for h in extra_hosts {
            hosts.push(h.to_ascii_lowercase());
        }
        hosts.sort();
        hosts.dedup();
        Origins { scheme: if tls { "https" } else { "http" }, port: addr.port(), hosts }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The console's address as a browser should open it (`http://127.0.0.1:8470`),
    /// preferring a configured host name for a console on a network address.
    pub fn base_url(&self, addr: SocketAddr, preferred_host: Option<&str>) -> String {
        let host = match preferred_host {
            Some(h) => h.to_string(),
            None if addr.ip().is_unspecified() => "127.0.0.1".to_string(),
            None => host_of(addr.ip()),
        };
        format!("{}://{host}:{}", self.scheme, self.port)
    }

    /// Whether a `Host` header names this console (the port must be the console's; it
    /// may be left out only when it is the scheme's default).
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = split_host_port(&host);
        let port_ok = match port {
            Some(p) => p == Some(self.port),
            None => self.port == default_port(self.scheme),
        };
        port_ok && self.hosts.iter().any(|h| *h == name)
    }

    /// Whether an `Origin` header is this console's own origin.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let Some(rest) = origin.strip_prefix(self.scheme).and_then(|r| r.strip_prefix("://")) else { return false };
        if rest.contains('/') {
            return false;
        }
        self.host_allowed(rest)
    }
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// `name[:port]` → (name, port): `None` when no port is given, `Some(None)` when the port
/// is not a number.
fn split_host_port(host: &str) -> (&str, Option<Option<u16>>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(p) => (name, Some(p.parse().ok())),
                    None if rest.is_empty() => (name, None),
                    None => (host, Some(None)),
                }
            }
            None => (host, Some(None)),
        };
    }
    match host.rsplit_once(':') {
        Some((name, p)) => (name, Some(p.parse().ok())),
        None => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loopback() -> Origins {
        Origins::new("127.0.0.1:8470".parse().unwrap(), false, &[])
    }

    #[test]
    fn loopback_names_with_the_right_port_only() {
        let o = loopback();
        for ok in ["127.0.0.1:8470", "localhost:8470", "LOCALHOST:8470", "[::1]:8470"] {
            assert!(o.host_allowed(ok), "{ok}");
        }
        for bad in ["127.0.0.1", "127.0.0.1:8471", "evil.example:8470", "127.0.0.1.evil.example:8470", "localhost:x", "", "[::1]x:8470", "127.0.0.1:8470:1"] {
            assert!(!o.host_allowed(bad), "{bad}");
        }
        assert!(o.origin_allowed("http://127.0.0.1:8470"));
        for bad in ["https://127.0.0.1:8470", "http://evil.example:8470", "null", "http://127.0.0.1:8470/x", "http://127.0.0.1"] {
            assert!(!o.origin_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn network_consoles_answer_to_their_configured_names() {
        let o = Origins::new("0.0.0.0:443".parse().unwrap(), true, &["Station7.corp.example".into()]);
        assert!(o.host_allowed("station7.corp.example"));
        assert!(o.host_allowed("station7.corp.example:443"));
        assert!(o.origin_allowed("https://station7.corp.example"));
        assert!(!o.origin_allowed("http://station7.corp.example"));
        assert!(!o.host_allowed("0.0.0.0:443"));
        let specific = Origins::new("192.0.2.7:8470".parse().unwrap(), true, &[]);
        assert!(specific.host_allowed("192.0.2.7:8470"));
        assert!(!specific.host_allowed("localhost:8470"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // Any Host header: never a panic, and only the console's own names pass.
        #[test]
        fn only_own_hosts_pass(host in "\\PC{0,40}") {
            let o = loopback();
            let allowed = o.host_allowed(&host);
            let h = host.trim().to_ascii_lowercase();
            prop_assert_eq!(allowed, ["127.0.0.1:8470", "localhost:8470", "[::1]:8470"].contains(&h.as_str()));
        }

        #[test]
        fn only_own_origins_pass(origin in "\\PC{0,48}") {
            let o = loopback();
            let h = origin.trim().to_ascii_lowercase();
            prop_assert_eq!(o.origin_allowed(&origin), ["http://127.0.0.1:8470", "http://localhost:8470", "http://[::1]:8470"].contains(&h.as_str()));
        }
    }
}
