//! Where the browser lives and how it is started.
use std::path::PathBuf;
use std::time::Duration;

/// Browser settings. Defaults fit Debian's `chromium` and `chromium-driver` packages.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// The Chromium executable (Debian: `/usr/bin/chromium`, a wrapper script that
    /// `exec`s `/usr/lib/chromium/chromium`).
    pub chromium: PathBuf,
    /// The chromedriver executable (Debian: `/usr/bin/chromedriver`).
    pub chromedriver: PathBuf,
    /// Run without a window (new headless mode). A visible browser needs a display.
    pub headless: bool,
    /// Window size in CSS pixels (screenshots use it).
    pub window_size: (u32, u32),
    /// Directory for chromedriver's log; `None` keeps it in the browser's temp dir
    /// (removed on close).
    pub log_dir: Option<PathBuf>,
    /// Extra Chromium switches, appended after keystation's own (checked with
    /// [`check_extra_arg`]).
    pub extra_args: Vec<String>,
    /// Lab: these host names resolve to these addresses (`--host-resolver-rules`), e.g.
    /// Microsoft's host names to a local simulator.
    pub host_map: Vec<HostMapping>,
    /// Lab: certificates whose SubjectPublicKeyInfo has one of these SHA-256 hashes
    /// (base64) are accepted although no trusted CA issued them
    /// (`--ignore-certificate-errors-spki-list`). Every other certificate is verified as
    /// usual: TLS verification is never switched off.
    pub trust_spki: Vec<String>,
    /// How long chromedriver and the browser session may take to come up.
    pub startup_timeout: Duration,
    /// Per-command deadline for WebDriver and BiDi commands.
    pub command_timeout: Duration,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            chromium: PathBuf::from("/usr/bin/chromium"),
            chromedriver: PathBuf::from("/usr/bin/chromedriver"),
            headless: true,
            window_size: (1280, 900),
            log_dir: None,
            extra_args: Vec::new(),
            host_map: Vec::new(),
            trust_spki: Vec::new(),
            startup_timeout: Duration::from_secs(60),
            command_timeout: Duration::from_secs(60),
        }
    }
}

impl BrowserConfig {
    /// Defaults, with `KEYSTATION_CHROMIUM` / `KEYSTATION_CHROMEDRIVER` overriding the
    /// paths and `KEYSTATION_BROWSER_VISIBLE=1` turning headless off.
    pub fn from_env() -> BrowserConfig {
        let mut c = BrowserConfig::default();
        if let Some(p) = std::env::var_os("KEYSTATION_CHROMIUM") {
            c.chromium = p.into();
        }
        if let Some(p) = std::env::var_os("KEYSTATION_CHROMEDRIVER") {
            c.chromedriver = p.into();
        }
        if std::env::var("KEYSTATION_BROWSER_VISIBLE").is_ok_and(|v| v == "1") {
            c.headless = false;
        }
        c
    }

    /// The Chromium command-line switches keystation uses (browser.md §5).
    pub fn chromium_args(&self, user_data_dir: &std::path::Path) -> Vec<String> {
        self.chromium_args_with(user_data_dir, None)
    }

    /// [`BrowserConfig::chromium_args`] with a `--user-agent`.
    pub fn chromium_args_with(&self, user_data_dir: &std::path::Path, user_agent: Option<&str>) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ua) = user_agent {
            args.push(format!("--user-agent={ua}"));
        }
        if self.headless {
            // New headless mode (the default meaning of --headless since Chromium 132).
            args.push("--headless".to_string());
        }
        // Chromium refuses to start as root with its sandbox on. Only then is the
        // sandbox switched off; a station should run keystation as an ordinary user so
        // that Chromium keeps its sandbox (and has no access to the key's hidraw node).
        if is_root() {
            args.push("--no-sandbox".to_string());
        }
        args.extend(
            [
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--password-store=basic",
                "--use-mock-keychain",
                "--lang=en-US",
            ]
            .map(String::from),
        );
        args.push(format!("--window-size={},{}", self.window_size.0, self.window_size.1));
        args.push(format!("--user-data-dir={}", user_data_dir.display()));
        if !self.host_map.is_empty() {
            let rules: Vec<String> = self.host_map.iter().map(|m| format!("MAP {} {}", m.host, m.to)).collect();
            args.push(format!("--host-resolver-rules={}", rules.join(",")));
        }
        if !self.trust_spki.is_empty() {
            args.push(format!("--ignore-certificate-errors-spki-list={}", self.trust_spki.join(",")));
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// The user agent a stock Chrome of the installed Chromium's version sends on this
/// platform (Chrome's reduced user agent: the major version, the minor ones zero), from
/// `<chromium> --version`; cached per binary. `None` when the version cannot be read.
pub async fn stock_user_agent_for(chromium: &std::path::Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(chromium) {
        return v.clone();
    }
    let run = tokio::process::Command::new(chromium).arg("--version").stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null()).output();
    let major = match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(out)) if out.status.success() => chromium_major_version(&String::from_utf8_lossy(&out.stdout)),
        _ => None,
    };
    let ua = major.map(|m| stock_user_agent_of(m));
    seen.lock().unwrap_or_else(|e| e.into_inner()).insert(chromium.to_path_buf(), ua.clone());
    ua
}

/// The major version in `chromium --version` output ("Chromium 156.0.8078.129 built on ...").
fn chromium_major_version(out: &str) -> Option<u32> {
    out.split_whitespace().find_map(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))).then(|| parts[0].parse().ok()).flatten()
    })
}

fn stock_user_agent_of(major: u32) -> String {
    let platform = if cfg!(target_os = "windows") {
        "Windows NT 10.0; Win64; x64"
    } else if cfg!(target_os = "macos") {
        "Macintosh; Intel Mac OS X 10_15_7"
    } else {
        "X11; Linux x86_64"
    };
    format!("Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36")
}

/// One lab host mapping: `host` (an exact host name) is reached at `to` (`ip:port` or
/// `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMapping {
    /// The host name the pages use (`login.microsoftonline.com`).
    pub host: String,
    /// Where it really is (`127.0.0.1:8443`).
    pub to: String,
}

impl HostMapping {
    /// Check a mapping: exact host names only (no patterns), a target with a port.
    pub fn parse(host: &str, to: &str) -> Result<HostMapping, String> {
        let host = host.trim().to_ascii_lowercase();
        let ok_name = |s: &str| !s.is_empty() && s.len() <= 253 && s.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok_name(&host) {
            return Err(format!("{host:?} is not a host name (exact names only, like login.microsoftonline.com; no patterns)"));
        }
        let to = to.trim();
        let (target, port) = to.rsplit_once(':').ok_or_else(|| format!("{to:?} needs a port (for example 127.0.0.1:8443)"))?;
        let target = target.trim_start_matches('[').trim_end_matches(']');
        if port.parse::<u16>().map_or(true, |p| p == 0) || !(target.parse::<std::net::IpAddr>().is_ok() || ok_name(target)) {
            return Err(format!("{to:?} is not an address with a port (for example 127.0.0.1:8443)"));
        }
        Ok(HostMapping { host, to: to.to_string() })
    }
}

/// Check a `trust_spki` entry: base64 of a 32-byte SHA-256.
pub fn check_spki_pin(pin: &str) -> Result<(), String> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(pin.trim()) {
        Ok(b) if b.len() == 32 => Ok(()),
        _ => Err(format!("{pin:?} is not a base64 SHA-256 of a SubjectPublicKeyInfo (44 characters ending in '='; `keystation simulator --microsoft-hosts` prints it)")),
    }
}

/// Switches an operator may not pass in `extra_args`: those that switch TLS verification
/// off (keystation never does), and those keystation sets itself (use the dedicated
/// settings).
const REFUSED_SWITCHES: [(&str, &str); 9] = [
    ("--ignore-certificate-errors", "it switches TLS verification off; use `trust_spki` for a lab's own key"),
    ("--ignore-certificate-errors-spki-list", "use `trust_spki`"),
    ("--allow-insecure-localhost", "it switches TLS verification off for localhost"),
    ("--ignore-ssl-errors", "it switches TLS verification off"),
    ("--host-resolver-rules", "use `host_map`"),
    ("--user-data-dir", "keystation gives every browser a fresh private profile"),
    ("--user-agent", "keystation sets the stock user agent of the running Chromium"),
    ("--remote-debugging-port", "chromedriver controls the browser"),
    ("--headless", "use `headless`"),
];

/// Check one `extra_args` entry.
pub fn check_extra_arg(arg: &str) -> Result<(), String> {
    let a = arg.trim();
    if !a.starts_with("--") {
        return Err(format!("{arg:?} is not a Chromium switch (switches start with --)"));
    }
    let name = a.split('=').next().unwrap_or(a).to_ascii_lowercase();
    if let Some((_, why)) = REFUSED_SWITCHES.iter().find(|(s, _)| *s == name) {
        return Err(format!("{name} is not allowed in extra_args: {why}"));
    }
    Ok(())
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_force_english_and_a_private_profile() {
        let c = BrowserConfig::default();
        let args = c.chromium_args(std::path::Path::new("/tmp/profile-x"));
        assert!(args.contains(&"--lang=en-US".to_string()));
        assert!(args.contains(&"--headless".to_string()));
        assert!(args.contains(&"--user-data-dir=/tmp/profile-x".to_string()));
        assert_eq!(args.contains(&"--no-sandbox".to_string()), is_root());
        let visible = BrowserConfig { headless: false, ..BrowserConfig::default() };
        assert!(!visible.chromium_args(std::path::Path::new("/p")).contains(&"--headless".to_string()));
    }

    #[test]
    fn the_stock_user_agent_comes_from_the_installed_version() {
        assert_eq!(chromium_major_version("Chromium 156.0.8078.129 built on Debian GNU/Linux 12 (bookworm)\n"), Some(156));
        assert_eq!(chromium_major_version("Google Chrome 140.0.7339.80 \n"), Some(140));
        assert_eq!(chromium_major_version("nonsense"), None);
        let ua = stock_user_agent_of(156);
        assert!(ua.contains(" Chrome/156.0.0.0 ") && !ua.contains("Headless"), "{ua}");
        let c = BrowserConfig::default();
        assert_eq!(c.chromium_args_with(std::path::Path::new("/p"), Some(&ua))[0], format!("--user-agent={ua}"));
    }

    #[test]
    fn a_lab_maps_exact_host_names_and_trusts_one_key() {
        let pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let c = BrowserConfig {
            host_map: vec![HostMapping::parse("Login.MicrosoftOnline.com", "127.0.0.1:8443").unwrap(), HostMapping::parse("login.microsoft.com", "127.0.0.1:8443").unwrap()],
            trust_spki: vec![pin.into()],
            extra_args: vec!["--disable-features=Foo".into()],
            ..BrowserConfig::default()
        };
        let args = c.chromium_args(std::path::Path::new("/p"));
        assert!(args.contains(&"--host-resolver-rules=MAP login.microsoftonline.com 127.0.0.1:8443,MAP login.microsoft.com 127.0.0.1:8443".to_string()), "{args:?}");
        assert!(args.contains(&format!("--ignore-certificate-errors-spki-list={pin}")));
        assert_eq!(args.last().unwrap(), "--disable-features=Foo");
        assert!(!args.iter().any(|a| a == "--ignore-certificate-errors"));
        assert!(check_spki_pin(pin).is_ok());
        assert!(check_spki_pin("abc").is_err());
        assert!(HostMapping::parse("*.microsoft.com", "127.0.0.1:1").unwrap_err().contains("no patterns"));
        assert!(HostMapping::parse("login.microsoft.com", "127.0.0.1").unwrap_err().contains("port"));
        assert!(HostMapping::parse("login.microsoft.com", "[::1]:8443").is_ok());
        assert!(check_extra_arg("--ignore-certificate-errors").unwrap_err().contains("TLS verification off"));
        assert!(check_extra_arg("--Ignore-Certificate-Errors=1").is_err());
        assert!(check_extra_arg("--host-resolver-rules=MAP * 1.2.3.4").unwrap_err().contains("host_map"));
        assert!(check_extra_arg("--proxy-server=http://proxy:3128").is_ok());
        assert!(check_extra_arg("disable-gpu").is_err());
    }
}
