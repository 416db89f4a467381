//! Station checks: the state directory, the clock, device access (udev rule, hidraw),
//! the browser path's Chromium and chromedriver, a display for the manual browser mode.
//! Nothing is changed (a writability probe is a temporary file, removed at once).
use super::{Area, Check, DoctorInput, Trouble};
use crate::ceremony::browser::BrowserRegistrarConfig;
use crate::ceremony::RegistrationPath;
use crate::entra::graph::ServerDate;
use std::path::{Path, PathBuf};
use std::time::Duration;

const S: Area = Area::Station;

/// Clock skew that gets a warning (tokens, TAPs and challenges are minute-bound).
pub const SKEW_WARN: Duration = Duration::from_secs(60);
/// Clock skew that fails: Entra refuses client assertions outside ±5 minutes.
pub const SKEW_FAIL: Duration = Duration::from_secs(300);

/// Where udev looks for rules, most specific first.
const RULE_DIRS: &[&str] = &["/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d"];

/// Run the station checks. `server_date` is Graph's clock from the tenant checks.
pub async fn check(input: &DoctorInput, server_date: Option<ServerDate>, out: &mut Vec<Check>) {
    out.push(state_dir(&input.state_dir));
    out.push(clock(server_date));
    out.push(device_access(input));
    let path = input.via.or_else(|| input.config.tenant().map(|t| t.registration)).unwrap_or_default();
    let b = &input.config.browser;
    let browser = BrowserRegistrarConfig::from_station(b.headless, b.chromium.clone(), b.chromedriver.clone(), b.fallback_to_manual);
    out.push(browser_check(path, &browser).await);
    out.push(display(path, b.headless, b.fallback_to_manual, |k| std::env::var_os(k).filter(|v| !v.is_empty()).is_some()));
}

/// The state directory exists (or can be made) and is writable; private on Unix.
pub fn state_dir(dir: &Path) -> Check {
    const ID: &str = "station.state_dir";
    const TITLE: &str = "state directory writable";
    let fix = format!("make {} writable by this user (or pass --state-dir DIR / set KEYSTATION_STATE_DIR)", dir.display());
    if dir.exists() {
        if !dir.is_dir() {
            return Check::fail(S, ID, TITLE, format!("{} is not a directory", dir.display()), fix, Trouble::Environment);
        }
        if let Err(e) = tempfile::Builder::new().prefix(".keystation-doctor-").tempfile_in(dir) {
            return Check::fail(S, ID, TITLE, format!("cannot write in {}: {e}", dir.display()), fix, Trouble::Environment);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(dir)
                && meta.permissions().mode() & 0o077 != 0
            {
                return Check::warn(
                    S,
                    ID,
                    TITLE,
                    format!("{} is writable, but other users can read it (mode {:o}); it holds the journal and the token cache", dir.display(), meta.permissions().mode() & 0o777),
                    format!("chmod 700 {}", dir.display()),
                );
            }
        }
        return Check::pass(S, ID, TITLE, format!("{} is writable and private", dir.display()));
    }
    // Not there yet: the nearest existing parent must let us create it.
    let mut parent: Option<PathBuf> = dir.parent().map(Path::to_path_buf);
    while let Some(p) = &parent {
        if p.exists() {
            break;
        }
        parent = p.parent().map(Path::to_path_buf);
    }
    match parent {
        Some(p) if tempfile::Builder::new().prefix(".keystation-doctor-").tempfile_in(&p).is_ok() => {
            Check::pass(S, ID, TITLE, format!("{} does not exist yet; it will be created (mode 700) in {}", dir.display(), p.display()))
        }
        Some(p) => Check::fail(S, ID, TITLE, format!("{} does not exist and {} is not writable", dir.display(), p.display()), fix, Trouble::Environment),
        None => Check::fail(S, ID, TITLE, format!("{} cannot be created", dir.display()), fix, Trouble::Environment),
    }
}

/// This machine's clock against Graph's `Date`.
pub fn clock(server: Option<ServerDate>) -> Check {
    const ID: &str = "station.clock";
    const TITLE: &str = "clock agrees with Graph";
    let Some(d) = server else {
        return Check::warn(S, ID, TITLE, "not compared: no answer from Graph carried a Date header", "fix the tenant checks above and run doctor again");
    };
    let skew = d.skew();
    let secs = skew.num_seconds();
    let words = match secs {
        0 => "in step with Graph (within a second)".to_string(),
        s if s > 0 => format!("{s} s ahead of Graph"),
        s => format!("{} s behind Graph", -s),
    };
    let abs = secs.unsigned_abs();
    let fix = "synchronise the clock (e.g. timedatectl set-ntp true, or check the NTP server)";
    if abs >= SKEW_FAIL.as_secs() {
        Check::fail(S, ID, TITLE, format!("this machine's clock is {words}: sign-in assertions, TAPs and registration challenges are refused or expire early"), fix, Trouble::Environment)
    } else if abs >= SKEW_WARN.as_secs() {
        Check::warn(S, ID, TITLE, format!("this machine's clock is {words}"), fix)
    } else {
        Check::pass(S, ID, TITLE, format!("this machine's clock is {words}"))
    }
}

/// The udev rule, and whether this user can open the FIDO hidraw nodes present.
fn device_access(input: &DoctorInput) -> Check {
    const ID: &str = "station.devices";
    const TITLE: &str = "FIDO device access";
    let Some(sources) = &input.sources else {
        return Check::pass(S, ID, TITLE, "not checked (no key sources)");
    };
    if sources.hub().is_some() {
        return Check::pass(S, ID, TITLE, "virtual keys (--virtual): no device access needed");
    }
    if !cfg!(target_os = "linux") {
        return Check::pass(S, ID, TITLE, "not Linux: no udev rule needed");
    }
    let rule = installed_rule(RULE_DIRS.iter().map(PathBuf::from));
    let keys = match sources.enumerate() {
        Ok(k) => k,
        Err(e) => return Check::fail(S, ID, TITLE, format!("cannot list FIDO devices: {e}"), "see docs/udev.md", Trouble::Environment),
    };
    let rule_words = match &rule {
        Some(p) => format!("udev rule {}", p.display()),
        None => "no keystation udev rule".to_string(),
    };
    let root = is_root();
    let mut refused = Vec::new();
    for k in &keys {
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(&k.path)
            && e.kind() == std::io::ErrorKind::PermissionDenied
        {
            refused.push(k.path.clone());
        }
    }
    let install = "install udev/70-keystation.rules into /etc/udev/rules.d, add this user to the keystation group (or log in at the seat), then unplug and replug the keys (docs/udev.md)";
    if !refused.is_empty() {
        return Check::fail(S, ID, TITLE, format!("{rule_words}; this user cannot open {}", refused.join(", ")), install, Trouble::Environment);
    }
    match (keys.len(), &rule) {
        (0, Some(_)) => Check::pass(S, ID, TITLE, format!("{rule_words} installed; no key plugged in to try it with")),
        (0, None) if root => Check::pass(S, ID, TITLE, "running as root: no udev rule needed"),
        (0, None) => Check::warn(S, ID, TITLE, "no keystation udev rule and no key plugged in: a key may not be usable without root", install),
        (n, _) => Check::pass(S, ID, TITLE, format!("{rule_words}; this user can open the {n} FIDO device(s) plugged in")),
    }
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The first `*keystation*.rules` file in `dirs`.
pub fn installed_rule(dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("keystation") && n.ends_with(".rules")))
            .collect();
        found.sort();
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    None
}

/// The version a `--version` output names (`Chromium 120.0.6099.224 built on …`).
pub fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit() && c != '.'))
        .find(|w| w.split('.').count() >= 2 && w.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
        .map(str::to_string)
}

async fn version_of(program: &Path) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--version").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.output())
        .await
        .map_err(|_| format!("{} --version did not answer within 15 s", program.display()))?
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| format!("{} --version printed no version", program.display()))
}

fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

/// Chromium and chromedriver present and of the same major version (browser path only).
async fn browser_check(path: RegistrationPath, b: &BrowserRegistrarConfig) -> Check {
    const ID: &str = "station.browser";
    const TITLE: &str = "Chromium and chromedriver";
    if path != RegistrationPath::Browser {
        return Check::pass(S, ID, TITLE, "not needed: keys are registered through Graph (registration = \"graph\")");
    }
    let c = &b.automatic;
    let install = "apt-get install chromium chromium-driver (the same Debian release gives matching versions), or set browser.chromium / browser.chromedriver";
    for (what, p) in [("Chromium", &c.chromium), ("chromedriver", &c.chromedriver)] {
        if crate::ceremony::browser::chromedriver::require_executable(if what == "Chromium" { "chromium" } else { "chromedriver" }, p).is_err() {
            return Check::fail(S, ID, TITLE, format!("{what} is not at {}", p.display()), install, Trouble::Environment);
        }
    }
    let (chromium, driver) = tokio::join!(version_of(&c.chromium), version_of(&c.chromedriver));
    match (chromium, driver) {
        (Ok(a), Ok(d)) if major(&a) == major(&d) => Check::pass(S, ID, TITLE, format!("Chromium {a} and chromedriver {d}")),
        (Ok(a), Ok(d)) => Check::fail(S, ID, TITLE, format!("Chromium {a} and chromedriver {d} differ: chromedriver only drives its own major version"), install, Trouble::Environment),
        (Err(e), _) | (_, Err(e)) => Check::fail(S, ID, TITLE, e, install, Trouble::Environment),
    }
}

/// A display for the visible (manual) browser: needed on the browser path when the
/// automatic browser is visible or may hand over to the manual one.
pub fn display(path: RegistrationPath, headless: bool, fallback_to_manual: bool, env_set: impl Fn(&str) -> bool) -> Check {
    const ID: &str = "station.display";
    const TITLE: &str = "display for the manual browser";
    if path != RegistrationPath::Browser {
        return Check::pass(S, ID, TITLE, "not needed: no browser window on the Graph path");
    }
    if headless && !fallback_to_manual {
        return Check::pass(S, ID, TITLE, "not needed: the browser runs headless and never hands over (browser.fallback_to_manual = false)");
    }
    let found: Vec<&str> = ["DISPLAY", "WAYLAND_DISPLAY"].into_iter().filter(|k| env_set(k)).collect();
    if !found.is_empty() {
        return Check::pass(S, ID, TITLE, format!("{} is set", found.join(" and ")));
    }
    let why = if headless { "when the automatic browser loses its way it hands over to a visible one (browser.fallback_to_manual)" } else { "the browser runs visible (browser.headless = false)" };
    Check::warn(S, ID, TITLE, format!("neither DISPLAY nor WAYLAND_DISPLAY is set, but {why}"), "run the station in a graphical session, or set browser.fallback_to_manual = false to fail instead of handing over")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::doctor::Status;

    #[test]
    fn versions_are_read_from_both_programs_outputs() {
        assert_eq!(parse_version("Chromium 156.0.8078.129 built on Debian GNU/Linux 12 (bookworm)").as_deref(), Some("156.0.8078.129"));
        assert_eq!(parse_version("ChromeDriver 156.0.8078.129 (1a2e4e6fe6-refs/branch-heads/8078@{#2497})").as_deref(), Some("156.0.8078.129"));
        assert_eq!(parse_version("no digits here"), None);
        assert_eq!(major("120.0.1"), "120");
    }

    #[test]
    fn clock_skew_thresholds() {
        let now = chrono::Utc::now();
        let at = |secs: i64| Some(ServerDate { server: now - chrono::Duration::seconds(secs), local: now });
        assert_eq!(clock(at(0)).status, Status::Pass);
        assert_eq!(clock(at(90)).status, Status::Warn);
        let f = clock(at(-400));
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("400 s behind"), "{}", f.detail);
        assert_eq!(clock(None).status, Status::Warn);
    }

    #[test]
    fn display_only_matters_for_a_visible_browser() {
        assert_eq!(display(RegistrationPath::Graph, true, true, |_| false).status, Status::Pass);
        assert_eq!(display(RegistrationPath::Browser, true, false, |_| false).status, Status::Pass);
        assert_eq!(display(RegistrationPath::Browser, true, true, |_| false).status, Status::Warn);
        assert_eq!(display(RegistrationPath::Browser, false, false, |k| k == "WAYLAND_DISPLAY").status, Status::Pass);
    }

    #[test]
    fn state_dir_and_rules() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(state_dir(&d.path().join("new/state")).status, Status::Pass);
        let file = d.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(state_dir(&file).status, Status::Fail);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let s = d.path().join("s");
            std::fs::create_dir(&s).unwrap();
            std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(state_dir(&s).status, Status::Warn);
            std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert_eq!(state_dir(&s).status, Status::Pass);
        }
        assert_eq!(installed_rule([d.path().to_path_buf()]), None);
        std::fs::write(d.path().join("70-keystation.rules"), b"").unwrap();
        assert_eq!(installed_rule([d.path().join("missing"), d.path().to_path_buf()]), Some(d.path().join("70-keystation.rules")));
    }
}
