//! Shared setup: skip when the browser is absent (unless CI demands it), one browser
//! test at a time, a browser + site + software key per test.
use super::site::Site;
use super::soft_key::SoftKey;
use keystation::ceremony::browser::{Browser, BridgeEvent, EnrollmentContext};
pub use crate::browser_gate::{config_or_skip, serial};
use keystation::ceremony::webauthn::{CredentialMaker, RpIdPolicy, WebAuthnClient};
use std::sync::Arc;
use tokio::sync::MutexGuard;
use std::time::Duration;

/// Generous bound for anything involving page loads on a loaded machine.
pub const PAGE: Duration = Duration::from_secs(60);

/// keystation's client as the tests configure it: the test site's rp.id and Entra's.
pub fn client() -> WebAuthnClient {
    WebAuthnClient::new(RpIdPolicy::new(["localhost", "login.microsoft.com"]))
}

pub struct Fixture {
    pub browser: Browser,
    pub site: Site,
    pub key: Arc<SoftKey>,
    pub ctx: EnrollmentContext,
    _serial: MutexGuard<'static, ()>,
}

pub async fn fixture(test: &str) -> Option<Fixture> {
    let key = Arc::new(SoftKey::new());
    let (browser, site, ctx, serial) = setup(test, key.clone()).await?;
    Some(Fixture { browser, site, key, ctx, _serial: serial })
}

/// Browser, site and one enrolment context answered by `maker`.
pub async fn setup(
    test: &str,
    maker: Arc<dyn CredentialMaker>,
) -> Option<(Browser, Site, EnrollmentContext, MutexGuard<'static, ()>)> {
    let config = config_or_skip(test)?;
    let serial = serial().await;
    let browser = Browser::launch(config).await.expect("browser launch");
    let site = Site::start().await;
    let ctx = browser.new_context(client(), maker).await.expect("context");
    Some((browser, site, ctx, serial))
}

impl Fixture {
    pub async fn close(self) {
        self.ctx.close().await.expect("close context");
        self.browser.close().await.expect("close browser");
    }
}

/// Wait for the first bridge event that is not `CreateStarted`.
pub async fn outcome(ctx: &mut EnrollmentContext) -> BridgeEvent {
    loop {
        match ctx.next_event(PAGE).await.expect("no bridge event in time") {
            BridgeEvent::CreateStarted { .. } => continue,
            other => return other,
        }
    }
}
