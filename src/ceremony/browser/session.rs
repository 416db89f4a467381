//! One Chromium (with its chromedriver and WebDriver BiDi connection) that serves many
//! enrolments, each in its own user context.
use super::bidi::Bidi;
use super::bridge::{BRIDGE_JS, Bridge, RouterEvent};
use super::chromedriver::ChromeDriver;
use super::config::BrowserConfig;
use super::context::EnrollmentContext;
use super::error::BrowserError;
use super::gate::ContextOptions;
use crate::ceremony::webauthn::{CredentialMaker, WebAuthnClient};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thirtyfour::{Capabilities, WebDriver};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Per-channel routes from the single BiDi event stream to each enrolment's bridge.
pub(crate) type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<RouterEvent>>>>;

/// A running Chromium driven over WebDriver BiDi.
pub struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Option<ChromeDriver>,
    bidi: Bidi,
    routes: Routes,
    router: JoinHandle<()>,
    /// Profile directory and chromedriver log; deleted when the browser is dropped.
    workdir: tempfile::TempDir,
    config: BrowserConfig,
    launched_in: Duration,
    /// A user agent set on every enrolment context over BiDi — only when the launch
    /// switch could not be used (`None` normally).
    user_agent: Option<String>,
}

impl Browser {
    /// Start chromedriver and Chromium with a fresh profile and connect BiDi.
    pub async fn launch(config: BrowserConfig) -> Result<Browser, BrowserError> {
        let started = Instant::now();
        let workdir = tempfile::Builder::new()
            .prefix("keystation-browser-")
            .tempdir()
            .map_err(|e| BrowserError::Io(format!("cannot create a browser profile directory: {e}")))?;
        let profile = workdir.path().join("profile");
        std::fs::create_dir(&profile).map_err(|e| BrowserError::Io(e.to_string()))?;
        let log_dir = config.log_dir.clone().unwrap_or_else(|| workdir.path().to_path_buf());
        let chromedriver = ChromeDriver::start(&config, &log_dir).await?;

        // Headless Chromium says "HeadlessChrome/<version>" in its user agent, which sites
        // treat as a bot signal (public automation of Microsoft's pages replaces it).
        // keystation presents the stock Chrome user agent of the *running* version, set
        // with --user-agent so that the client hints (navigator.userAgentData, Sec-CH-UA)
        // stay as the browser reports them. It hides nothing else: navigator.webdriver
        // stays true. (docs/browser-ceremony.md §2)
        let user_agent = if config.headless { super::config::stock_user_agent_for(&config.chromium).await } else { None };
        let caps = capabilities(&config, &profile, user_agent.as_deref())?;
        let session = WebDriver::builder(chromedriver.url(), caps).request_timeout(config.startup_timeout);
        let driver = match tokio::time::timeout(config.startup_timeout, session).await {
            Err(_) => {
                return Err(BrowserError::SessionStart { reason: "timed out".into(), log_tail: chromedriver.log_tail() });
            }
            Ok(Err(e)) => return Err(BrowserError::SessionStart { reason: e.to_string(), log_tail: chromedriver.log_tail() }),
            Ok(Ok(d)) => d,
        };
        let raw = match driver.bidi().await {
            Ok(b) => b,
            Err(e) => {
                let _ = driver.quit().await;
                return Err(BrowserError::SessionStart { reason: format!("BiDi: {e}"), log_tail: chromedriver.log_tail() });
            }
        };
        let bidi = Bidi::new(raw, config.command_timeout);
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        // Take the event stream before subscribing so that no event is missed.
        let stream = bidi.raw().subscribe_raw();
        let router = tokio::spawn(route_events(stream, Arc::clone(&routes)));
        let mut browser = Browser {
            driver: Some(driver),
            chromedriver: Some(chromedriver),
            bidi,
            routes,
            router,
            workdir,
            config,
            launched_in: Duration::ZERO,
            user_agent: None,
        };
        browser.bidi.subscribe(&["script.message", "script.realmDestroyed"]).await?;
        browser.user_agent = browser.headless_user_agent_left().await;
        browser.launched_in = started.elapsed();
        Ok(browser)
    }

    /// Whether pages still see `HeadlessChrome` (the version probe before the launch
    /// failed): then the stock user agent is set per enrolment context over BiDi
    /// instead (which also empties `navigator.userAgentData.brands`, the lesser evil).
    async fn headless_user_agent_left(&self) -> Option<String> {
        let first = self.bidi.tree().await.ok()?.into_iter().next()?;
        let ua = super::bidi::remote_to_json(&self.bidi.evaluate(&first.context, "navigator.userAgent").await.ok()?);
        let ua = ua.as_str()?;
        ua.contains("HeadlessChrome/").then(|| stock_user_agent(ua))
    }

    /// The user agent set per enrolment context when the launch switch could not be used.
    pub fn user_agent_override(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// How long [`Browser::launch`] took (cold start).
    pub fn launch_duration(&self) -> Duration {
        self.launched_in
    }

    /// A fresh, private enrolment context: a new BiDi user context (own cookies and
    /// storage), the bridge preloaded into every document of it, and one tab.
    /// `maker` answers this enrolment's `create()` calls.
    pub async fn new_context(
        &self,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
    ) -> Result<EnrollmentContext, BrowserError> {
        self.new_context_with(client, maker, ContextOptions::default()).await
    }

    /// [`Browser::new_context`] with a journal gate and frame options for the bridge.
    pub async fn new_context_with(
        &self,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
        options: ContextOptions,
    ) -> Result<EnrollmentContext, BrowserError> {
        let user_context = self.bidi.create_user_context().await?;
        match self.setup_context(&user_context, client, maker, options).await {
            Ok(ctx) => Ok(ctx),
            Err(e) => {
                let _ = self.bidi.remove_user_context(&user_context).await;
                Err(e)
            }
        }
    }

    async fn setup_context(
        &self,
        user_context: &str,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
        options: ContextOptions,
    ) -> Result<EnrollmentContext, BrowserError> {
        let channel = format!("ks-{}", hex::encode(rand::random::<[u8; 16]>()));
        let (route_tx, route_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).insert(channel.clone(), route_tx);
        let bridge = Bridge::new(self.bidi.clone(), channel.clone(), user_context.to_string(), client, maker, options, event_tx);
        let bridge_task = tokio::spawn(bridge.run(route_rx));
        let ctx_parts = async {
            self.bidi.add_preload_script(BRIDGE_JS, &channel, user_context).await?;
            // Chromium defaults for the locale come from --lang and the prefs; this
            // also pins JavaScript's Intl locale where the driver supports it.
            let _ = self.bidi.send("emulation.setLocaleOverride", json!({ "locale": "en-US", "userContexts": [user_context] })).await;
            if let Some(ua) = &self.user_agent
                && let Err(e) = self.bidi.send("emulation.setUserAgentOverride", json!({ "userAgent": ua, "userContexts": [user_context] })).await
            {
                tracing::warn!("cannot set the stock user agent (pages will see HeadlessChrome): {e}");
            }
            self.bidi.create_tab(user_context).await
        };
        let tab = match ctx_parts.await {
            Ok(tab) => tab,
            Err(e) => {
                self.routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&channel);
                bridge_task.abort();
                return Err(e);
            }
        };
        Ok(EnrollmentContext::new(self.bidi.clone(), Arc::clone(&self.routes), user_context.to_string(), tab, channel, event_rx, bridge_task))
    }

    /// True when the browser still answers BiDi commands.
    pub async fn is_alive(&self) -> bool {
        !self.router.is_finished() && self.bidi.send("browser.getUserContexts", json!({})).await.is_ok()
    }

    /// How many enrolment (non-default) user contexts are open, or `None` when the
    /// browser does not answer.
    pub async fn user_contexts_in_use(&self) -> Option<usize> {
        let r = self.bidi.send("browser.getUserContexts", json!({})).await.ok()?;
        let all = r["userContexts"].as_array()?;
        Some(all.iter().filter(|u| u["userContext"].as_str() != Some("default")).count())
    }

    /// The BiDi connection (for flows that need commands keystation does not wrap).
    pub fn bidi(&self) -> &Bidi {
        &self.bidi
    }

    /// The classic WebDriver session (element search, typing, clicking). Switch it to
    /// an enrolment's tab with `switch_to().window(WindowHandle::from(ctx.tab()))`
    /// before use; classic commands act on the session's current window.
    pub fn webdriver(&self) -> Option<&WebDriver> {
        self.driver.as_ref()
    }

    /// The browser's private working directory (profile, default log location).
    pub fn workdir(&self) -> &std::path::Path {
        self.workdir.path()
    }

    /// chromedriver's log file (it is removed with the browser unless `log_dir` is set).
    pub fn chromedriver_log(&self) -> Option<PathBuf> {
        self.chromedriver.as_ref().map(|d| d.log_path().to_path_buf())
    }

    /// The process group chromedriver and Chromium run in (chromedriver's pid).
    pub fn process_group(&self) -> Option<u32> {
        self.chromedriver.as_ref().and_then(ChromeDriver::pid)
    }

    /// The configuration the browser was started with.
    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    /// End the session (Chromium exits), stop chromedriver, remove the profile.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        self.shutdown().await
    }

    async fn shutdown(&mut self) -> Result<(), BrowserError> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let quit = match self.driver.take() {
            Some(d) => tokio::time::timeout(Duration::from_secs(10), d.quit()).await,
            None => Ok(Ok(())),
        };
        self.router.abort();
        if let Some(cd) = self.chromedriver.take() {
            cd.stop().await;
        }
        match quit {
            Err(_) => Err(BrowserError::CommandTimeout("quit".into())),
            Ok(Err(e)) => Err(BrowserError::Gone(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Without an explicit close: kill chromedriver's process group (Chromium with
        // it) and forget the WebDriver session. thirtyfour would otherwise delete the
        // session synchronously, blocking this thread for up to its request timeout.
        // The profile directory goes with `workdir`.
        self.router.abort();
        drop(self.chromedriver.take());
        if let Some(d) = self.driver.take() {
            let _ = d.leak();
        }
    }
}

/// Headless Chromium's user agent with the `HeadlessChrome` product token replaced by
/// `Chrome` — what a stock Chrome of the same version on the same platform sends.
pub fn stock_user_agent(headless: &str) -> String {
    headless.replace("HeadlessChrome/", "Chrome/")
}

/// W3C capabilities for Chromium with BiDi.
fn capabilities(config: &BrowserConfig, profile: &std::path::Path, user_agent: Option<&str>) -> Result<Capabilities, BrowserError> {
    let mut caps = Capabilities::new();
    let set = |caps: &mut Capabilities, k: &str, v: Value| caps.set(k, v).map_err(|e| BrowserError::Protocol(e.to_string()));
    set(&mut caps, "browserName", json!("chrome"))?;
    set(&mut caps, "webSocketUrl", json!(true))?;
    // TLS verification stays on: certificate errors are never accepted.
    set(&mut caps, "acceptInsecureCerts", json!(false))?;
    set(&mut caps, "unhandledPromptBehavior", json!("ignore"))?;
    set(
        &mut caps,
        "goog:chromeOptions",
        json!({
            "binary": config.chromium,
            "args": config.chromium_args_with(profile, user_agent),
            "prefs": {
                "intl.accept_languages": "en-US,en",
                "credentials_enable_service": false,
                "profile.password_manager_enabled": false,
            },
        }),
    )?;
    Ok(caps)
}

async fn route_events(mut stream: thirtyfour::bidi::RawEventStream, routes: Routes) {
    while let Some(ev) = stream.next().await {
        let targets: Vec<(mpsc::UnboundedSender<RouterEvent>, RouterEvent)> = {
            let routes = routes.lock().unwrap_or_else(|e| e.into_inner());
            match ev.method.as_str() {
                "script.message" => ev.params["channel"]
                    .as_str()
                    .and_then(|c| routes.get(c))
                    .map(|tx| vec![(tx.clone(), RouterEvent::Message(ev.params.clone()))])
                    .unwrap_or_default(),
                "script.realmDestroyed" => match ev.params["realm"].as_str() {
                    Some(realm) => routes.values().map(|tx| (tx.clone(), RouterEvent::RealmDestroyed(realm.to_string()))).collect(),
                    None => Vec::new(),
                },
                _ => Vec::new(),
            }
        };
        for (tx, ev) in targets {
            let _ = tx.send(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stock_user_agent_keeps_the_version_and_platform() {
        let h = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(super::stock_user_agent(h), "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36");
    }
}
