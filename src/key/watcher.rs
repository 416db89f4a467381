//! Arrived/left events for FIDO keys, across the HID and virtual backends.
//!
//! The watcher polls [`KeySources::enumerate`] every ≤ 250 ms on its own thread rather
//! than listening to a udev monitor: keystation builds without libudev (hidapi's
//! pure-Rust sysfs enumeration), polling works the same on Linux, Windows and macOS, and
//! it covers virtual keys, which no OS monitor knows about. The cost is at most one poll
//! interval of latency and one sysfs/HID enumeration per interval.
//!
//! Identity: a key is its descriptor (path, vendor/product id, product strings, serial
//! when present) plus, when the caller supplies a probe, the AAGUID from getInfo. The
//! probe runs once per arrival, on the watcher thread, before `Arrived` is sent (so it
//! never competes with the caller's own use of the key); it must have its own deadline.
//! A key replugged between two polls is still reported as left and arrived: each plug-in
//! has its own [`KeyDescriptor::plug`] (the kernel's HID device number on Linux, the plug
//! generation of a virtual key), even when the path is reused.
//!
//! [`KeyWatcher::ready`] says when the first look is done: every key present then has
//! been reported as `Arrived` before it returns, so a caller can decide from that snapshot
//! and only then ask a person to do something (re-plug a key) — nothing that happens after
//! the snapshot can be missed.
use crate::key::descriptor::KeyDescriptor;
use crate::key::error::KeyError;
use crate::key::sources::KeySources;
use serde::Serialize;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

/// Reads a key's AAGUID (CTAP2 getInfo), supplied by the CTAP client; `None` when the
/// key does not answer or is not FIDO2.
pub type AaguidProbe = Arc<dyn Fn(&KeyDescriptor) -> Option<[u8; 16]> + Send + Sync>;

/// The slowest poll the watcher accepts.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Who a key is, as far as the watcher can tell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KeyIdentity {
    /// How enumeration shows the key.
    pub descriptor: KeyDescriptor,
    /// From getInfo through the probe, when there is one and the key answered.
    #[serde(serialize_with = "serialize_aaguid")]
    pub aaguid: Option<[u8; 16]>,
}

impl KeyIdentity {
    /// The AAGUID in the usual 8-4-4-4-12 form.
    pub fn aaguid_string(&self) -> Option<String> {
        self.aaguid.map(|a| uuid::Uuid::from_bytes(a).to_string())
    }
}

fn serialize_aaguid<S: serde::Serializer>(aaguid: &Option<[u8; 16]>, s: S) -> Result<S::Ok, S::Error> {
    match aaguid {
        Some(a) => s.serialize_some(&uuid::Uuid::from_bytes(*a).to_string()),
        None => s.serialize_none(),
    }
}

/// A change in the set of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", content = "key", rename_all = "lowercase")]
pub enum KeyEvent {
    /// A key was plugged in (or was present when the watcher started).
    Arrived(KeyIdentity),
    /// A key went away.
    Left(KeyIdentity),
}

impl KeyEvent {
    /// The key the event is about.
    pub fn identity(&self) -> &KeyIdentity {
        match self {
            KeyEvent::Arrived(k) | KeyEvent::Left(k) => k,
        }
    }
}

/// How to watch.
#[derive(Clone)]
pub struct WatchOptions {
    /// Time between polls (clamped to 10 ms … [`MAX_POLL_INTERVAL`]; default 200 ms).
    pub interval: Duration,
    /// Optional AAGUID probe (see the module docs).
    pub probe: Option<AaguidProbe>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { interval: Duration::from_millis(200), probe: None }
    }
}

impl std::fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions").field("interval", &self.interval).field("probe", &self.probe.is_some()).finish()
    }
}

/// A stop flag the polling thread can sleep on.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleep for `d` unless stopped meanwhile; true when stopped.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self.wake.wait_timeout_while(guard, d, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

/// Emits [`KeyEvent`]s until stopped or dropped. Usable from tokio: `recv().await`, or
/// `poll_recv` to adapt it into a `Stream`.
pub struct KeyWatcher {
    events: UnboundedReceiver<KeyEvent>,
    /// The first enumeration, once it has been reported (`None` once taken).
    ready: Option<oneshot::Receiver<Vec<KeyIdentity>>>,
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KeyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatcher").field("running", &self.thread.is_some()).finish()
    }
}

impl KeyWatcher {
    /// Start polling `sources`. Keys present now are reported as `Arrived` first.
    pub fn start(sources: KeySources, options: WatchOptions) -> Result<KeyWatcher, KeyError> {
        let (tx, events) = unbounded_channel();
        let (ready_tx, ready) = oneshot::channel();
        let stop = Arc::new(StopSignal::default());
        let interval = options.interval.clamp(Duration::from_millis(10), MAX_POLL_INTERVAL);
        let poller = Poller { sources, probe: options.probe, interval, tx, ready: Some(ready_tx), stop: Arc::clone(&stop) };
        let thread = std::thread::Builder::new()
            .name("key-watcher".into())
            .spawn(move || poller.run())
            .map_err(|e| KeyError::Transport(format!("cannot start the key watcher thread: {e}")))?;
        Ok(KeyWatcher { events, ready: Some(ready), stop, thread: Some(thread) })
    }

    /// Wait until the watcher has taken its first look at the keys, and return what it
    /// saw. Their `Arrived` events are already queued, first and in this order (a caller
    /// that decides from the snapshot skips exactly that many events); any later change
    /// comes after them. `None` when the watcher stopped first, or on a second call.
    pub async fn ready(&mut self) -> Option<Vec<KeyIdentity>> {
        let rx = self.ready.take()?;
        rx.await.ok()
    }

    /// The next event; `None` once the watcher has stopped.
    pub async fn recv(&mut self) -> Option<KeyEvent> {
        self.events.recv().await
    }

    /// Poll for the next event (for `Stream` adapters).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<KeyEvent>> {
        self.events.poll_recv(cx)
    }

    /// An event if one is waiting.
    pub fn try_recv(&mut self) -> Option<KeyEvent> {
        self.events.try_recv().ok()
    }

    /// Stop polling and wait for the thread to end (at most one probe's duration).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KeyWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Poller {
    sources: KeySources,
    probe: Option<AaguidProbe>,
    interval: Duration,
    tx: UnboundedSender<KeyEvent>,
    ready: Option<oneshot::Sender<Vec<KeyIdentity>>>,
    stop: Arc<StopSignal>,
}

impl Poller {
    fn run(mut self) {
        // Descriptor (one plug-in) → identity, in arrival order.
        let mut present: Vec<(KeyDescriptor, KeyIdentity)> = Vec::new();
        let mut failing = false;
        loop {
            match self.sources.enumerate() {
                Ok(now) => {
                    if failing {
                        tracing::info!("key enumeration works again");
                        failing = false;
                    }
                    if !self.apply(&mut present, now) {
                        return;
                    }
                    // The first snapshot is out (its `Arrived` events are queued).
                    if let Some(ready) = self.ready.take() {
                        let _ = ready.send(present.iter().map(|(_, identity)| identity.clone()).collect());
                    }
                }
                Err(e) => {
                    // Keep the last known set: a transient enumeration failure must not
                    // look like every key leaving.
                    if !failing {
                        tracing::warn!(error = %e, "cannot enumerate keys; retrying");
                        failing = true;
                    }
                }
            }
            if self.stop.sleep(self.interval) || self.tx.is_closed() {
                return;
            }
        }
    }

    /// Emit the difference between `present` and `now`; false when nobody listens.
    fn apply(&self, present: &mut Vec<(KeyDescriptor, KeyIdentity)>, now: Vec<KeyDescriptor>) -> bool {
        let mut i = 0;
        while i < present.len() {
            if now.contains(&present[i].0) {
                i += 1;
            } else {
                let (_, identity) = present.remove(i);
                if self.tx.send(KeyEvent::Left(identity)).is_err() {
                    return false;
                }
            }
        }
        for key in now {
            if present.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if self.stop.is_stopped() {
                return false;
            }
            let aaguid = self.probe.as_ref().and_then(|probe| probe(&key));
            let identity = KeyIdentity { descriptor: key.clone(), aaguid };
            present.push((key, identity.clone()));
            if self.tx.send(KeyEvent::Arrived(identity)).is_err() {
                return false;
            }
        }
        true
    }
}
