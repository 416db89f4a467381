//! `--via browser` through the command line: `keystation enroll` and `keystation batch`
//! as separate processes against the in-process simulator, with virtual keys; the
//! station's setup installs the browser registrar, the pipeline issues the TAP.
use super::support::config_or_skip;
use keystation::entra::simulator::{SimulatorConfig, SimulatorHandle, start};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const SECRET_APP: &str = keystation::entra::simulator::seed::well_known::STATION_APP_ID;
const SECRET_ENV: &str = "KS_TEST_SECRET";
const SECRET: &str = keystation::entra::simulator::seed::well_known::STATION_APP_SECRET;

struct Cli {
    sim: SimulatorHandle,
    root: tempfile::TempDir,
}

impl Cli {
    async fn new(registration: &str) -> Cli {
        Cli::with_browser(registration, "").await
    }

    async fn with_browser(registration: &str, browser_extra: &str) -> Cli {
        Cli::build(registration, false, |_| browser_extra.to_string()).await
    }

    /// A lab: the simulator serves Microsoft's host names over HTTPS and the station's
    /// `[browser]` table maps them to it, trusts its key and walks the `microsoft` flow.
    async fn lab(registration: &str) -> Cli {
        Cli::build(registration, true, |sim| {
            let (hosts, spki) = sim.microsoft_hosts().expect("Microsoft host names");
            let map: Vec<String> = hosts.iter().map(|(h, a)| format!("\"{h}\" = \"{a}\"")).collect();
            format!("flow = \"microsoft\"\ntrust_spki = [\"{spki}\"]\nhost_map = {{ {} }}\n", map.join(", "))
        })
        .await
    }

    async fn build(registration: &str, microsoft_hosts: bool, browser_extra: impl FnOnce(&SimulatorHandle) -> String) -> Cli {
        let mut sc = SimulatorConfig::default();
        sc.behaviour.device_code_interval_secs = 0;
        sc.microsoft_hosts = microsoft_hosts;
        let sim = start(sc).await.expect("simulator");
        let browser_extra = browser_extra(&sim);
        let root = tempfile::tempdir().unwrap();
        let host = sim.graph_base().as_str().trim_end_matches('/').to_string();
        let toml = format!(
            "[tenant]\nid = \"{tenant}\"\nclient_id = \"{SECRET_APP}\"\nauthority_host = \"{host}\"\ngraph_host = \"{host}\"\nregistration = \"{registration}\"\n\
[tenant.sign_in]\nmethod = \"client-secret\"\nsecret_env = \"{SECRET_ENV}\"\n[browser]\nfallback_to_manual = false\n{browser_extra}",
            tenant = sim.tenant_id()
        );
        std::fs::write(root.path().join("keystation.toml"), toml).unwrap();
        Cli { sim, root }
    }

    fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    async fn run(&self, keys: usize, args: &[&str]) -> Output {
        let mut cmd = crate::keystation_cli::keystation(&self.root.path().join("keystation.toml"), &self.state(), keys, Some(&self.root.path().join("keys")));
        cmd.env(SECRET_ENV, SECRET).args(args).stdin(std::process::Stdio::null());
        tokio::time::timeout(Duration::from_secs(180), cmd.output()).await.expect("keystation finished").expect("keystation ran")
    }

    /// The simulator's own record of a user's keys.
    async fn via(&self, upn: &str) -> Vec<String> {
        keystation::entra::tls::ensure_crypto_provider();
        let u = reqwest::Url::parse(self.sim.control_url().as_str()).unwrap().join(&format!("users/{upn}/fido2")).unwrap();
        let v: serde_json::Value = reqwest::Client::new().get(u).send().await.unwrap().json().await.unwrap();
        let list = v.as_array().cloned().or_else(|| v["value"].as_array().cloned()).unwrap_or_default();
        list.iter().filter_map(|m| m["registeredVia"].as_str().map(str::to_string)).collect()
    }
}

fn show(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    super::support::serial().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_via_browser_on_the_command_line() {
    if config_or_skip("enroll_via_browser_on_the_command_line").is_none() {
        return;
    }
    let _serial = serial().await;
    // The lab configuration: the production flow under Microsoft's host names.
    let cli = Cli::lab("graph").await;
    let out = cli.run(1, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json", "--via", "browser"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(cli.via("alice@contoso.test").await, vec!["browser".to_string()], "{}", show(&out));
    let pages = cli.sim.requests(None).into_iter().filter(|r| r.path.ends_with("/fido/create")).collect::<Vec<_>>();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].host.as_deref(), Some("login.microsoft.com"));
    // The tenant's default (graph) applies without --via.
    let out = cli.run(1, &["--json", "enroll", "--user", "bob@contoso.test", "--wait", "10", "--show-pin-in-json"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(cli.via("bob@contoso.test").await, vec!["graph".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_mode_is_chosen_in_the_configuration_and_needs_a_display_before_the_key() {
    if config_or_skip("the_manual_mode_is_chosen_in_the_configuration_and_needs_a_display_before_the_key").is_none() {
        return;
    }
    let _serial = serial().await;
    // `browser.mode = "manual"`: a visible window from the start. The test process runs
    // keystation without DISPLAY / WAYLAND_DISPLAY, so the station must refuse before
    // the key gets a PIN, name what is missing, and exit 11 (a missing component).
    let cli = Cli::with_browser("graph", "mode = \"manual\"\n").await;
    let out = cli.run(1, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json", "--via", "browser"]).await;
    assert_eq!(out.status.code(), Some(11), "{}", show(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("no display") && text.contains("manual mode"), "{}", show(&out));
    assert!(cli.via("alice@contoso.test").await.is_empty(), "nothing registered");
    // The key was not touched: it still has no PIN.
    let listed = cli.run(1, &["--json", "keys", "list"]).await;
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
    assert_eq!(v["result"][0]["pin_set"].as_bool(), Some(false), "{}", show(&listed));
    // The automatic mode (the default) on the same station works.
    let out = cli.run(1, &["--json", "enroll", "--set", "browser.mode=automatic", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json", "--via", "browser"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(cli.via("alice@contoso.test").await, vec!["browser".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_default_browser_for_a_batch() {
    if config_or_skip("tenant_default_browser_for_a_batch").is_none() {
        return;
    }
    let _serial = serial().await;
    let cli = Cli::new("browser").await;
    let csv = cli.root.path().join("users.csv");
    std::fs::write(&csv, "upn\nalice@contoso.test\nbob@contoso.test\n").unwrap();
    let out = cli.run(2, &["--json", "batch", path(&csv), "--concurrency", "2"]).await;
    assert!(out.status.success(), "{}", show(&out));
    for u in ["alice@contoso.test", "bob@contoso.test"] {
        assert_eq!(cli.via(u).await, vec!["browser".to_string()], "{u}: {}", show(&out));
    }
    // --via graph overrides the tenant's default.
    std::fs::write(&csv, "upn\ndave@contoso.test\n").unwrap();
    let out = cli.run(1, &["--json", "batch", path(&csv), "--via", "graph", "--batch-id", "second"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(cli.via("dave@contoso.test").await, vec!["graph".to_string()]);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_browser_fails_before_the_key_is_touched() {
    // Needs no browser: the station's availability check finds none.
    let cli = Cli::with_browser("browser", "chromedriver = \"/nonexistent/chromedriver\"\n").await;
    let out = cli.run(1, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json"]).await;
    assert_eq!(out.status.code(), Some(11), "{}", show(&out));
    assert!(show(&out).contains("chromium-driver"), "{}", show(&out));
    assert!(cli.via("alice@contoso.test").await.is_empty());
    // The same station and key still enrol through Graph.
    let out = cli.run(1, &["--json", "enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json", "--via", "graph"]).await;
    assert!(out.status.success(), "{}", show(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_via_browser_walks_the_2026_pages() {
    if config_or_skip("demo_via_browser_walks_the_2026_pages").is_none() {
        return;
    }
    let _serial = serial().await;
    // The newcomer's command, in a clean environment: no configuration, no tenant.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("RUST_BACKTRACE", "0");
    for var in ["KEYSTATION_CHROMIUM", "KEYSTATION_CHROMEDRIVER"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.args(["demo", "--via", "browser", "--fast", "--users", "2", "--keys", "2"]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output()).await.expect("the demo finishes").expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Result: 2 of 2 user(s) done"), "{}", show(&out));
    // Each user walked the 2026 Security-info UI: the "Add sign-in method" list (not
    // the 2023 combobox), the ceremony, the naming dialog and "Passkey created".
    for user in ["alice@contoso.test", "bob@contoso.test"] {
        let pages: Vec<&str> = text.lines().filter(|l| l.contains(user)).filter_map(|l| l.split("browser: page ").nth(1)).map(str::trim).collect();
        for page in ["access-pass", "method-picker", "ceremony", "name", "created"] {
            assert!(pages.contains(&page), "{user} did not pass {page}: {pages:?}\n{}", show(&out));
        }
        assert!(!pages.contains(&"method-combobox"), "{user} saw the 2023 UI: {pages:?}");
    }
}
