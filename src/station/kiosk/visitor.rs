//! Simulated people at a kiosk with virtual keys (`keystation --virtual N kiosk`): when
//! the kiosk asks for a key, the next unused virtual key is plugged in; when it asks for
//! the key back, the key is pulled out. Each of the N keys is used once (with a key
//! factory, as in the demo, new blank keys keep coming). The user names (and PINs) still
//! come from the kiosk's input, so a script drives the whole desk.
use super::view::{KioskDisplay, KioskView};
use crate::key::virtual_key::{VirtualHub, VirtualKey};
use crate::station::demo::KeyFactory;
use crate::station::handover::HandoverSlip;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wraps the real display; plugs and pulls virtual keys as the screens ask.
pub struct VirtualVisitors {
    inner: Arc<dyn KioskDisplay>,
    hub: VirtualHub,
    unused: Mutex<VecDeque<VirtualKey>>,
    current: Mutex<Option<String>>,
    factory: Option<KeyFactory>,
    linger: Duration,
}

impl VirtualVisitors {
    /// Take every key of `hub` out now; they are plugged in one at a time, on request.
    pub fn new(hub: VirtualHub, inner: Arc<dyn KioskDisplay>) -> VirtualVisitors {
        let keys: VecDeque<VirtualKey> = hub.keys().into();
        for k in &keys {
            k.unplug();
        }
        VirtualVisitors { inner, hub, unused: Mutex::new(keys), current: Mutex::new(None), factory: None, linger: Duration::ZERO }
    }

    /// When the hub's keys are used up, make new blank keys with `factory`; a finished
    /// key stays in for `linger` (a person reading the slip) before it is pulled out.
    pub fn with_factory(mut self, factory: KeyFactory, linger: Duration) -> VirtualVisitors {
        self.factory = Some(factory);
        self.linger = linger;
        self
    }

    /// Virtual keys not used yet.
    pub fn keys_left(&self) -> usize {
        lock(&self.unused).len()
    }

    fn next_key(&self) -> Option<VirtualKey> {
        if let Some(key) = lock(&self.unused).pop_front() {
            return Some(key);
        }
        match self.factory.as_ref().map(|f| f()) {
            Some(Ok(key)) => Some(key),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the simulated visitor could not make a new key");
                None
            }
            None => None,
        }
    }
}

impl KioskDisplay for VirtualVisitors {
    fn show(&self, view: &KioskView) {
        self.inner.show(view);
        match view {
            KioskView::PlugKey { .. } => {
                if let Some(key) = self.next_key() {
                    *lock(&self.current) = Some(key.path().to_string());
                    self.hub.plug(key);
                }
            }
            KioskView::RemoveKey { .. } => {
                if let Some(path) = lock(&self.current).take() {
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) if !self.linger.is_zero() => {
                            let (hub, linger) = (self.hub.clone(), self.linger);
                            rt.spawn(async move {
                                tokio::time::sleep(linger).await;
                                hub.remove(&path);
                            });
                        }
                        _ => {
                            self.hub.remove(&path);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn slip(&self, user: &str, slip: HandoverSlip) {
        self.inner.slip(user, slip);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
