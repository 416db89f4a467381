//! The chromedriver child process: started on a free loopback port, its output kept
//! in a log file, killed when dropped.
use super::config::BrowserConfig;
use super::error::BrowserError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A running chromedriver.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl ChromeDriver {
    /// Start chromedriver and wait until it answers `/status`.
    pub async fn start(config: &BrowserConfig, log_dir: &Path) -> Result<ChromeDriver, BrowserError> {
        ensure_crypto_provider();
        require_executable("chromedriver", &config.chromedriver)?;
        require_executable("chromium", &config.chromium)?;
        let log_path = log_dir.join("chromedriver.log");
        // A port picked by the OS can in theory be taken again before chromedriver binds
        // it; a second attempt with a fresh port covers that race.
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port().map_err(|e| BrowserError::Io(format!("no free loopback port: {e}")))?;
            match Self::spawn(config, port, &log_path).await {
                Ok(d) => return Ok(d),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| BrowserError::DriverStart { reason: "no attempt made".into(), log_tail: String::new() }))
    }

    async fn spawn(config: &BrowserConfig, port: u16, log_path: &Path) -> Result<ChromeDriver, BrowserError> {
        let log = std::fs::File::create(log_path).map_err(|e| BrowserError::Io(format!("{}: {e}", log_path.display())))?;
        let log_err = log.try_clone().map_err(|e| BrowserError::Io(e.to_string()))?;
        let mut cmd = Command::new(&config.chromedriver);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg("--allowed-origins=*")
            // Chromium inherits this environment: force English everywhere the browser
            // might look for a locale.
            .env("LANG", "en_US.UTF-8")
            .env("LANGUAGE", "en_US:en")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        // chromedriver starts Chromium with a debugging *port*, so Chromium outlives a
        // killed chromedriver. Both therefore run in a process group of their own that
        // keystation kills as a whole; and chromedriver dies with keystation.
        #[cfg(unix)]
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| BrowserError::DriverStart { reason: format!("{}: {e}", config.chromedriver.display()), log_tail: String::new() })?;
        let mut driver = ChromeDriver { child, port, log_path: log_path.to_path_buf() };
        driver.wait_ready(config.startup_timeout).await?;
        Ok(driver)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), BrowserError> {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| BrowserError::Io(e.to_string()))?;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BrowserError::DriverStart { reason: format!("it exited with {status}"), log_tail: self.log_tail() });
            }
            let ready = client
                .get(format!("{}/status", self.url()))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(r) = ready {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["value"]["ready"] == serde_json::Value::Bool(true) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::DriverStart {
                    reason: format!("no answer on port {} within {timeout:?}", self.port),
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// chromedriver's process id, which is also the id of the process group it and
    /// Chromium run in (`None` once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Where chromedriver's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last 20 lines of chromedriver's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stop chromedriver and every process it started (Chromium and its helpers).
    pub async fn stop(mut self) {
        self.kill_group();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    fn kill_group(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            // SAFETY: plain syscall; the group id is chromedriver's own pid (set above).
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// reqwest (used by keystation here and by thirtyfour for WebDriver) is built without
/// a default rustls crypto provider; install ring's, as the rest of keystation does.
/// Idempotent: an already installed provider is kept.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Fail early, with the package names, when a binary is missing or not executable.
pub fn require_executable(what: &'static str, path: &Path) -> Result<(), BrowserError> {
    let missing = || BrowserError::Missing { what, path: path.to_path_buf() };
    let meta = std::fs::metadata(path).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(missing());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(missing());
        }
    }
    Ok(())
}

/// True when both binaries are where `config` says.
pub fn binaries_present(config: &BrowserConfig) -> bool {
    require_executable("chromium", &config.chromium).is_ok() && require_executable("chromedriver", &config.chromedriver).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_binaries_are_reported_before_spawning() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrowserConfig { chromedriver: dir.path().join("nope"), ..BrowserConfig::default() };
        let e = ChromeDriver::start(&config, dir.path()).await.unwrap_err();
        assert!(matches!(e, BrowserError::Missing { what: "chromedriver", .. }), "{e}");
        assert!(!binaries_present(&config));
    }
}
