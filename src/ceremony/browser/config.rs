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
    /// Extra Chromium switches, appended after keystation's own.
    pub extra_args: Vec<String>,
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
        let mut args = Vec::new();
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
        args.extend(self.extra_args.iter().cloned());
        args
    }
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
}
