//! [`KeyTracker`]: which keys are plugged in now, and arrived/left events for every
//! part of a mode that cares (the batch scheduler, the kiosk loop, the demo's simulated
//! operator), from one [`KeyWatcher`].
//!
//! A mode needs both a *stream* (to react to arrivals) and a *snapshot* (is the key I
//! just provisioned still there?). The tracker keeps the snapshot current from the
//! watcher's events and forwards each event to every subscriber; a subscriber that
//! checks [`KeyTracker::present`] right after subscribing misses nothing.
use crate::key::sources::KeySources;
use crate::key::watcher::{KeyEvent, KeyIdentity, KeyWatcher, WatchOptions};
use crate::key::KeyError;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[derive(Default)]
struct Shared {
    present: Vec<KeyIdentity>,
    subscribers: Vec<UnboundedSender<KeyEvent>>,
}

/// Watches a set of key sources for the lifetime of a mode. Dropping it stops the watcher.
pub struct KeyTracker {
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for KeyTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTracker").field("present", &self.present().len()).finish()
    }
}

impl KeyTracker {
    /// Start watching `sources` (polled every `interval`, at most 250 ms). Keys present
    /// now are reported as arrivals to subscribers that exist before the first poll ends.
    pub fn start(sources: KeySources, interval: Duration) -> Result<KeyTracker, KeyError> {
        let mut watcher = KeyWatcher::start(sources, WatchOptions { interval, probe: None })?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let inner = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Some(event) = watcher.recv().await {
                let mut s = lock(&inner);
                match &event {
                    KeyEvent::Arrived(k) => s.present.push(k.clone()),
                    KeyEvent::Left(k) => s.present.retain(|p| p.descriptor.path != k.descriptor.path),
                }
                s.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
            }
        });
        Ok(KeyTracker { shared, task })
    }

    /// Events from now on. Call [`KeyTracker::present`] afterwards for the keys already
    /// plugged in.
    pub fn subscribe(&self) -> UnboundedReceiver<KeyEvent> {
        let (tx, rx) = unbounded_channel();
        lock(&self.shared).subscribers.push(tx);
        rx
    }

    /// Subscribe and get the keys present at that moment, atomically.
    pub fn subscribe_with_present(&self) -> (Vec<KeyIdentity>, UnboundedReceiver<KeyEvent>) {
        let (tx, rx) = unbounded_channel();
        let mut s = lock(&self.shared);
        s.subscribers.push(tx);
        (s.present.clone(), rx)
    }

    /// Keys plugged in now, in arrival order.
    pub fn present(&self) -> Vec<KeyIdentity> {
        lock(&self.shared).present.clone()
    }

    /// Whether a key with this path is plugged in now.
    pub fn is_present(&self, path: &str) -> bool {
        lock(&self.shared).present.iter().any(|k| k.descriptor.path == path)
    }

    /// Wait until the key at `path` is gone (returns at once if it is not plugged in).
    pub async fn wait_removed(&self, path: &str) {
        let mut rx = self.subscribe();
        if !self.is_present(path) {
            return;
        }
        while let Some(event) = rx.recv().await {
            if matches!(&event, KeyEvent::Left(k) if k.descriptor.path == path) {
                return;
            }
        }
    }
}

impl Drop for KeyTracker {
    fn drop(&mut self) {
        // Dropping the task drops the watcher, which stops its thread.
        self.task.abort();
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
