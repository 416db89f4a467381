//! A bus of virtual keys that tests and the demo plug and unplug at run time.
use super::VirtualKey;
use crate::key::descriptor::KeyDescriptor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The virtual keys of one process (or one test). Clones share the same hub. Keys stay
/// alive as long as the hub holds them, plugged or not.
#[derive(Clone, Default)]
pub struct VirtualHub {
    keys: Arc<Mutex<BTreeMap<String, VirtualKey>>>,
}

impl std::fmt::Debug for VirtualHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(super::shared::lock(&self.keys).values()).finish()
    }
}

impl VirtualHub {
    /// An empty hub.
    pub fn new() -> VirtualHub {
        VirtualHub::default()
    }

    /// Attach a key and make sure it is plugged in (an unplugged key is power-cycled in).
    /// A key already attached at the same path is unplugged and replaced.
    pub fn plug(&self, key: VirtualKey) -> KeyDescriptor {
        if !key.is_plugged() {
            key.replug();
        }
        let descriptor = key.descriptor();
        let previous = super::shared::lock(&self.keys).insert(descriptor.path.clone(), key.clone());
        if let Some(previous) = previous
            && !Arc::ptr_eq(&previous.inner, &key.inner)
        {
            previous.unplug();
        }
        descriptor
    }

    /// Pull the key at `path` out (it stays in the hub, unplugged, so it can be plugged
    /// in again). Returns it, or `None` for an unknown path.
    pub fn unplug(&self, path: &str) -> Option<VirtualKey> {
        let key = self.get(path)?;
        key.unplug();
        Some(key)
    }

    /// Detach the key at `path` entirely (unplugging it).
    pub fn remove(&self, path: &str) -> Option<VirtualKey> {
        let key = super::shared::lock(&self.keys).remove(path)?;
        key.unplug();
        Some(key)
    }

    /// The key at `path` (`virtual:<n>`), plugged or not.
    pub fn get(&self, path: &str) -> Option<VirtualKey> {
        super::shared::lock(&self.keys).get(path).cloned()
    }

    /// Every attached key, in path order.
    pub fn keys(&self) -> Vec<VirtualKey> {
        super::shared::lock(&self.keys).values().cloned().collect()
    }

    /// The keys that are plugged in now, as enumeration shows them (each with its plug
    /// generation, so a re-plugged key is a new descriptor).
    pub fn enumerate(&self) -> Vec<KeyDescriptor> {
        self.keys().iter().filter_map(VirtualKey::plugged_descriptor).collect()
    }
}
