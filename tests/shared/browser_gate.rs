//! Shared by the two browser test binaries (`tests/browser.rs`, `tests/browser_flow.rs`):
//! whether a test may run (Chromium and chromedriver present, or required by CI) and the
//! lock that runs browser tests one at a time.
use keystation::ceremony::browser::{BrowserConfig, binaries_present};
use std::io::Write;
use tokio::sync::{Mutex, MutexGuard};

/// Browser tests start Chromium; on a 2-core machine they run one at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// The browser configuration, or `None` (with a loud message) when the binaries are
/// missing and `KEYSTATION_REQUIRE_BROWSER` is not set; with it set, a missing browser
/// fails the test.
pub fn config_or_skip(test: &str) -> Option<BrowserConfig> {
    let config = BrowserConfig::from_env();
    if binaries_present(&config) {
        return Some(config);
    }
    if std::env::var_os("KEYSTATION_REQUIRE_BROWSER").is_some() {
        panic!(
            "KEYSTATION_REQUIRE_BROWSER is set but {} / {} are missing: apt-get install chromium chromium-driver",
            config.chromium.display(),
            config.chromedriver.display()
        );
    }
    // Written to the real stderr, not through eprintln!, so that the test harness's
    // output capture cannot hide it.
    let _ = writeln!(
        std::io::stderr(),
        "\n***** SKIPPED {test}: Chromium or chromedriver not found ({} / {}); install the Debian packages `chromium` and `chromium-driver`, or set KEYSTATION_REQUIRE_BROWSER=1 to turn this skip into a failure *****\n",
        config.chromium.display(),
        config.chromedriver.display()
    );
    None
}

/// One browser test at a time.
pub async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}
