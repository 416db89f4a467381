//! One enrolment's private browsing context.
use super::bidi::{Bidi, ContextInfo, remote_to_json};
use super::bridge::BridgeEvent;
use super::error::BrowserError;
use super::session::Routes;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A BiDi user context (own cookies, storage, cache) with the WebAuthn bridge
/// preloaded and one tab. Dropping it without [`EnrollmentContext::close`] still
/// removes the user context in the background.
pub struct EnrollmentContext {
    bidi: Bidi,
    routes: Routes,
    user_context: String,
    tab: String,
    channel: String,
    events: mpsc::UnboundedReceiver<BridgeEvent>,
    bridge_task: Option<JoinHandle<()>>,
    closed: bool,
}

impl EnrollmentContext {
    pub(crate) fn new(
        bidi: Bidi,
        routes: Routes,
        user_context: String,
        tab: String,
        channel: String,
        events: mpsc::UnboundedReceiver<BridgeEvent>,
        bridge_task: JoinHandle<()>,
    ) -> EnrollmentContext {
        EnrollmentContext { bidi, routes, user_context, tab, channel, events, bridge_task: Some(bridge_task), closed: false }
    }

    /// The tab's browsing context id (also its classic WebDriver window handle).
    pub fn tab(&self) -> &str {
        &self.tab
    }

    /// The BiDi user context id.
    pub fn user_context(&self) -> &str {
        &self.user_context
    }

    /// The BiDi connection.
    pub fn bidi(&self) -> &Bidi {
        &self.bidi
    }

    /// Start navigating the tab; returns once the navigation has begun (see
    /// [`Bidi::navigate`]).
    pub async fn navigate(&self, url: &str) -> Result<(), BrowserError> {
        self.bidi.navigate(&self.tab, url).await
    }

    /// Navigate the tab and wait until the document has loaded (see
    /// [`Bidi::navigate_and_wait`]).
    pub async fn navigate_and_wait(&self, url: &str) -> Result<(), BrowserError> {
        self.bidi.navigate_and_wait(&self.tab, url).await
    }

    /// Evaluate an expression in the tab (promises are awaited) and return it as JSON
    /// (primitives, arrays and plain objects; other values become `null`).
    pub async fn evaluate(&self, expression: &str) -> Result<Value, BrowserError> {
        self.evaluate_in(&self.tab, expression).await
    }

    /// [`EnrollmentContext::evaluate`] in another browsing context of this enrolment
    /// (a popup or a frame).
    pub async fn evaluate_in(&self, context: &str, expression: &str) -> Result<Value, BrowserError> {
        Ok(remote_to_json(&self.bidi.evaluate(context, expression).await?))
    }

    /// The enrolment's top-level browsing contexts: its tab and any popups, with their
    /// frames.
    pub async fn top_level_contexts(&self) -> Result<Vec<ContextInfo>, BrowserError> {
        let tree = self.bidi.tree().await?;
        Ok(tree.into_iter().filter(|c| c.user_context.as_deref() == Some(self.user_context.as_str())).collect())
    }

    /// A PNG screenshot of the tab's viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, BrowserError> {
        self.bidi.screenshot_png(&self.tab).await
    }

    /// PNG screenshots of every top-level context (tab and popups), for failure records.
    pub async fn screenshots(&self) -> Result<Vec<(String, Vec<u8>)>, BrowserError> {
        let mut out = Vec::new();
        for c in self.top_level_contexts().await? {
            if let Ok(png) = self.bidi.screenshot_png(&c.context).await {
                out.push((c.url, png));
            }
        }
        Ok(out)
    }

    /// PNG screenshots of the tab first, then of every other top-level context of the
    /// enrolment (popups), for the evidence of a failed registration.
    pub async fn screenshots_ordered(&self) -> Result<Vec<Vec<u8>>, BrowserError> {
        let mut out = vec![self.bidi.screenshot_png(&self.tab).await?];
        for c in self.top_level_contexts().await? {
            if c.context != self.tab
                && let Ok(png) = self.bidi.screenshot_png(&c.context).await
            {
                out.push(png);
            }
        }
        Ok(out)
    }

    /// The tab, for reading and acting on its page.
    pub fn page(&self) -> super::page::Page {
        super::page::Page::new(self.bidi.clone(), self.tab.clone())
    }

    /// Every cookie of this enrolment (session secrets: keep in memory only).
    pub async fn export_cookies(&self) -> Result<Vec<Value>, BrowserError> {
        self.bidi.cookies(&self.user_context).await
    }

    /// Put cookies exported from another enrolment context into this one.
    pub async fn import_cookies(&self, cookies: &[Value]) -> Result<(), BrowserError> {
        for c in cookies {
            self.bidi.set_cookie(&self.user_context, c).await?;
        }
        Ok(())
    }

    /// The next bridge event, waiting at most `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<BridgeEvent> {
        tokio::time::timeout(timeout, self.events.recv()).await.ok().flatten()
    }

    /// A bridge event if one is queued.
    pub fn try_next_event(&mut self) -> Option<BridgeEvent> {
        self.events.try_recv().ok()
    }

    /// Close the tab and any popups, discard cookies and storage, stop the bridge. A
    /// running key operation is cancelled and has ended when this returns.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        self.closed = true;
        self.unroute();
        let r = self.bidi.remove_user_context(&self.user_context).await;
        if let Some(t) = self.bridge_task.take() {
            // The bridge ends once its route is gone, after cancelling the key.
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        r
    }

    fn unroute(&self) {
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.channel);
    }
}

impl Drop for EnrollmentContext {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        self.unroute();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let bidi = self.bidi.clone();
            let uc = self.user_context.clone();
            rt.spawn(async move {
                let _ = bidi.remove_user_context(&uc).await;
            });
        }
    }
}
