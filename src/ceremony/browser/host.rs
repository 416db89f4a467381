//! Keep one browser warm across enrolments, restart it when it is unhealthy.
use super::config::BrowserConfig;
use super::context::EnrollmentContext;
use super::error::BrowserError;
use super::gate::ContextOptions;
use super::session::Browser;
use crate::ceremony::webauthn::{CredentialMaker, WebAuthnClient};
use std::sync::Arc;
use std::time::Duration;

/// Owns at most one [`Browser`]. Each enrolment gets a fresh user context in it
/// (cookies never leak from one user to the next); the browser process itself is
/// reused, which saves its start-up on every enrolment after the first. It is
/// restarted — with a fresh profile directory — when it stops answering, and after
/// `max_contexts` enrolments to bound memory growth.
pub struct BrowserHost {
    config: BrowserConfig,
    browser: Option<Browser>,
    contexts_served: u32,
    /// Restart the browser after this many contexts.
    pub max_contexts: u32,
}

/// How a context was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The browser had to be (re)started.
    Cold(Duration),
    /// An already running browser was reused.
    Warm,
}

impl BrowserHost {
    /// No browser is started until the first context is asked for.
    pub fn new(config: BrowserConfig) -> BrowserHost {
        BrowserHost { config, browser: None, contexts_served: 0, max_contexts: 50 }
    }

    /// Start the browser now if it is not running (e.g. while the first key is being
    /// prepared).
    pub async fn warm_up(&mut self) -> Result<Start, BrowserError> {
        if let Some(b) = &self.browser
            && b.is_alive().await
            && (self.contexts_served < self.max_contexts || b.user_contexts_in_use().await != Some(0))
        {
            // Past `max_contexts` the browser is only recycled once no enrolment is
            // using it: restarting would kill the contexts of concurrent enrolments.
            return Ok(Start::Warm);
        }
        if let Some(old) = self.browser.take() {
            let _ = old.close().await;
        }
        let b = Browser::launch(self.config.clone()).await?;
        let took = b.launch_duration();
        self.browser = Some(b);
        self.contexts_served = 0;
        Ok(Start::Cold(took))
    }

    /// A fresh enrolment context, (re)starting the browser when needed.
    pub async fn context(
        &mut self,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
    ) -> Result<(EnrollmentContext, Start), BrowserError> {
        self.context_with(client, maker, ContextOptions::default()).await
    }

    /// [`BrowserHost::context`] with a journal gate and frame options for the bridge.
    pub async fn context_with(
        &mut self,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
        options: ContextOptions,
    ) -> Result<(EnrollmentContext, Start), BrowserError> {
        let start = self.warm_up().await?;
        let browser = self.browser.as_ref().ok_or_else(|| BrowserError::Gone("no browser".into()))?;
        let ctx = browser.new_context_with(client, maker, options).await?;
        self.contexts_served += 1;
        Ok((ctx, start))
    }

    /// The running browser, if any.
    pub fn browser(&self) -> Option<&Browser> {
        self.browser.as_ref()
    }

    /// Close the browser (if running).
    pub async fn shutdown(&mut self) -> Result<(), BrowserError> {
        match self.browser.take() {
            Some(b) => b.close().await,
            None => Ok(()),
        }
    }
}
