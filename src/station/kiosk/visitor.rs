//! Simulated people at a kiosk with virtual keys (`keystation --virtual N kiosk`): when
//! the kiosk asks for a key, the next unused virtual key is plugged in; when it asks for
//! the key back, the key is pulled out. Each of the N keys is used once. The user names
//! (and PINs) still come from the kiosk's input, so a script drives the whole desk.
use super::view::{KioskDisplay, KioskView};
use crate::key::virtual_key::{VirtualHub, VirtualKey};
use crate::station::handover::HandoverSlip;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Wraps the real display; plugs and pulls virtual keys as the screens ask.
pub struct VirtualVisitors {
    inner: Arc<dyn KioskDisplay>,
    hub: VirtualHub,
    unused: Mutex<VecDeque<VirtualKey>>,
    current: Mutex<Option<String>>,
}

impl VirtualVisitors {
    /// Take every key of `hub` out now; they are plugged in one at a time, on request.
    pub fn new(hub: VirtualHub, inner: Arc<dyn KioskDisplay>) -> VirtualVisitors {
        let keys: VecDeque<VirtualKey> = hub.keys().into();
        for k in &keys {
            k.unplug();
        }
        VirtualVisitors { inner, hub, unused: Mutex::new(keys), current: Mutex::new(None) }
    }

    /// Virtual keys not used yet.
    pub fn keys_left(&self) -> usize {
        lock(&self.unused).len()
    }
}

impl KioskDisplay for VirtualVisitors {
    fn show(&self, view: &KioskView) {
        self.inner.show(view);
        match view {
            KioskView::PlugKey { .. } => {
                if let Some(key) = lock(&self.unused).pop_front() {
                    *lock(&self.current) = Some(key.path().to_string());
                    self.hub.plug(key);
                }
            }
            KioskView::RemoveKey { .. } => {
                if let Some(path) = lock(&self.current).take() {
                    self.hub.remove(&path);
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
