//! What the console's scenarios share: the one browser, the captured log, a world (the
//! simulated tenant, a state directory, a hub of virtual keys, a station and a console
//! on it) and a page driver with patient waits and screenshots.
#![allow(dead_code)]
use crate::browser_gate::config_or_skip;
use crate::logcapture;
use keystation::ceremony::browser::Browser;
use keystation::console::{ConsoleHandle, ConsoleOptions};
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::{Touch, VirtualHub, VirtualKey};
use keystation::secret::SecretString;
use keystation::station::config::ConfigOverrides;
use keystation::station::demo::{SimulatedTenant, SimulatedTenantOptions, BUILTIN_PILOT_USERS};
use keystation::station::pipeline::Station;
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

/// A scenario: an async function given what is shared.
pub type Scenario = fn(Shared) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Generous bound for anything a loaded CI machine does in a page (≥ 5× the usual).
pub const WAIT: Duration = Duration::from_secs(60);

/// Shared by every scenario of the run.
#[derive(Clone)]
pub struct Shared {
    /// The one browser (absent when skipped).
    pub browser: Option<Arc<Browser>>,
    /// Everything logged by this process (the console runs in it).
    pub logs: logcapture::Buffer,
}

impl Shared {
    /// Start the log capture and, when wanted and present, the browser.
    pub async fn start(want_browser: bool) -> Shared {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let logs = logcapture::install();
        let browser = match want_browser.then(|| config_or_skip("the console's browser scenarios")).flatten() {
            Some(mut config) => {
                config.window_size = (1280, 900);
                let started = Instant::now();
                let b = Browser::launch(config).await.expect("Chromium starts");
                println!("browser started in {:.1} s", started.elapsed().as_secs_f64());
                Some(Arc::new(b))
            }
            None => None,
        };
        Shared { browser, logs }
    }

    /// Close the browser.
    pub async fn close(self) {
        if let Some(b) = self.browser.and_then(|b| Arc::try_unwrap(b).ok()) {
            let _ = b.close().await;
        }
    }

    /// A page driver on the shared browser.
    pub fn page(&self) -> Page {
        let b = self.browser.clone().expect("a browser scenario without a browser");
        Page { driver: b.webdriver().expect("classic WebDriver session").clone(), browser: b }
    }
}

/// A simulated tenant, a hub, a station and a console on them.
pub struct World {
    pub tenant: SimulatedTenant,
    pub dir: tempfile::TempDir,
    pub hub: VirtualHub,
    pub station: Arc<Station>,
    pub console: ConsoleHandle,
}

impl World {
    /// `extra` generated users besides the built-in pilot users; `set` configuration
    /// pairs (`pin.length=12`); `adjust` changes the console's options.
    pub async fn new(extra: usize, set: &[&str], adjust: impl FnOnce(&mut ConsoleOptions, &Path)) -> World {
        let options = SimulatedTenantOptions { users: BUILTIN_PILOT_USERS.len() + extra, ..Default::default() };
        let tenant = SimulatedTenant::start(options).await.expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let hub = VirtualHub::new();
        let sources = KeySources::virtual_hub(hub.clone());
        let overrides = ConfigOverrides { set: set.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        let station = tenant.open_station(dir.path(), &overrides, Some(sources.clone()), |_| {}).await.expect("station opens");
        let mut console_options = ConsoleOptions::loopback(dir.path());
        console_options.kiosk.poll_interval = Duration::from_millis(50);
        adjust(&mut console_options, dir.path());
        let console = keystation::console::start(Arc::clone(&station), sources, console_options).await.expect("console starts");
        World { tenant, dir, hub, station, console }
    }

    /// The generated users (no key yet).
    pub fn fresh_users(&self) -> Vec<String> {
        self.tenant.users()[BUILTIN_PILOT_USERS.len()..].to_vec()
    }

    /// A blank key touched as `touch`, plugged into the hub; its path.
    pub fn plug(&self, touch: Touch) -> String {
        let key: VirtualKey = self.tenant.blank_key(touch).expect("virtual key");
        let path = key.path().to_string();
        self.hub.plug(key);
        path
    }

    /// The sign-in link for `page` (a secret: the launch token).
    pub fn link(&self, page: &str) -> SecretString {
        self.console.sign_in_link(page)
    }

    /// The console's address.
    pub fn base(&self) -> String {
        self.console.base_url()
    }

    pub async fn stop(self) {
        self.console.shutdown().await;
    }
}

/// Write `secret` to a private file in `dir` (for the console's `*_file` settings).
pub fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let p = dir.join(name);
    keystation::station::report::write_private_file(&p, secret.as_bytes()).expect("secret file");
    p
}

/// The browser, driven like a person would (through the classic WebDriver session).
#[derive(Clone)]
pub struct Page {
    pub driver: WebDriver,
    pub browser: Arc<Browser>,
}

impl Page {
    pub async fn goto(&self, url: &str) {
        self.driver.goto(url).await.expect("navigate");
    }

    /// Open `page` through the sign-in link and wait until the page has its session.
    pub async fn sign_in(&self, world: &World, page: &str) {
        self.goto(world.link(page).expose()).await;
        let path = format!("/{}", page.trim_start_matches('/'));
        self.wait_js(&format!("return location.pathname === '{path}' && location.hash === '' && typeof KS !== 'undefined' && KS.csrf !== null"), "signed in").await;
    }

    /// Run JavaScript in the page and return its value.
    pub async fn js(&self, script: &str) -> Value {
        self.driver.execute(script, Vec::<Value>::new()).await.expect("script runs").json().clone()
    }

    /// Wait until `script` returns something truthy.
    pub async fn wait_js(&self, script: &str, what: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = self.driver.execute(script, Vec::<Value>::new()).await {
                let v = r.json().clone();
                let truthy = match &v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                };
                if truthy {
                    return v;
                }
            }
            if Instant::now() > deadline {
                let screen = self.js("return document.body ? document.body.innerText.slice(0, 2000) : ''").await;
                panic!("timed out waiting for {what}; the page shows: {screen}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The desk's current screen (`data-screen` of the stage).
    pub async fn desk_screen(&self) -> String {
        self.js("return document.getElementById('stage').dataset.screen").await.as_str().unwrap_or("").to_string()
    }

    /// Wait for the desk to show `screen`.
    pub async fn wait_screen(&self, screen: &str) {
        self.wait_js(&format!("return document.getElementById('stage').dataset.screen === '{screen}'"), &format!("the desk screen `{screen}`")).await;
    }

    pub async fn text(&self, id: &str) -> String {
        self.driver.find(By::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}")).text().await.expect("text")
    }

    pub async fn type_into(&self, id: &str, text: &str) {
        let e = self.driver.find(By::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, id: &str) {
        self.driver.find(By::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}")).click().await.unwrap_or_else(|e| panic!("click #{id}: {e}"));
    }

    /// Save a screenshot of the whole page as `target/console-artifacts/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = artifacts();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        // BiDi can capture the whole document (the classic command only the viewport);
        // the classic window handle is the BiDi context id.
        let context = self.driver.window().await.expect("window").to_string();
        let full = self.browser.bidi().send("browsingContext.captureScreenshot", serde_json::json!({ "context": context, "origin": "document" })).await;
        let png = match full.ok().and_then(|r| r["data"].as_str().map(str::to_string)) {
            Some(data) => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).expect("base64 screenshot"),
            None => self.driver.screenshot_as_png().await.expect("screenshot"),
        };
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Everything this page's origin keeps in browser storage that scripts can see
    /// (local and session storage, cookies visible to scripts, Cache Storage names,
    /// IndexedDB databases), as text.
    pub async fn script_storage(&self) -> String {
        let v = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 (async () => {
                   const out = [];
                   for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) out.push(s.key(i) + '=' + s.getItem(s.key(i)));
                   out.push('cookie:' + document.cookie);
                   if (window.caches) out.push('caches:' + (await caches.keys()).join(','));
                   if (window.indexedDB && indexedDB.databases) out.push('idb:' + JSON.stringify(await indexedDB.databases()));
                   return out.join('\\n');
                 })().then(done, (e) => done('error: ' + e));",
                Vec::<Value>::new(),
            )
            .await
            .expect("storage script");
        v.json().as_str().unwrap_or("").to_string()
    }

    /// Files of the browser's profile (its disk cache, storage, history…) that contain
    /// `needle`.
    pub fn profile_files_containing(&self, needle: &str) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        let mut stack = vec![self.browser.workdir().to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() => {
                        if let Ok(bytes) = std::fs::read(&p)
                            && contains(&bytes, needle.as_bytes())
                        {
                            hits.push(p);
                        }
                    }
                    _ => {}
                }
            }
        }
        hits
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The server's log lines that contain `secret` (masked, for an assertion message). The
/// console runs in this process, so every line logged here at trace level is the
/// server's log, except the test's own WebDriver client (thirtyfour), which logs what
/// the test reads from the page.
pub fn log_lines_with(logs: &crate::logcapture::Buffer, secret: &str) -> Vec<String> {
    logs.text().lines().filter(|l| !l.contains(" thirtyfour::") && l.contains(secret)).map(|l| l.replace(secret, "<SECRET>").chars().take(300).collect()).take(5).collect()
}

/// Where screenshots go.
pub fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-artifacts")
}

/// The PIN on a rendered slip (`  PIN            12345678`).
pub fn pin_on_slip(slip: &str) -> Option<String> {
    slip.lines().find_map(|l| l.trim_start().strip_prefix("PIN").map(|rest| rest.trim().to_string())).filter(|p| !p.is_empty() && !p.contains(' '))
}

/// A plain HTTP client for the security scenarios: no cookie store, no redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Sign in over HTTP with the launch token: (cookie header, CSRF token).
pub async fn sign_in_http(world: &World) -> (String, String) {
    let link = world.link("");
    let token = link.expose().rsplit_once("#token=").expect("token in link").1.to_string();
    let r = http()
        .post(format!("{}/api/session", world.base()))
        .header("Origin", world.base())
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200, "sign in with the launch token");
    let cookie = r.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().split(';').next().unwrap().to_string();
    let body: Value = r.json().await.expect("json");
    (cookie, body["csrf"].as_str().expect("csrf").to_string())
}
