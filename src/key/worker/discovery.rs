//! Finding keys with the CTAP client: the watcher's AAGUID probe, and waiting for an
//! operator to re-plug a key (the way back into the 10-second reset window).
use super::{HandleOptions, KeyHandle};
use crate::key::ctaphid::{CancelToken, Op};
use crate::key::device::Device;
use crate::key::sources::KeySources;
use crate::key::watcher::{AaguidProbe, KeyEvent, KeyWatcher, WatchOptions};
use crate::key::{KeyDescriptor, KeyError};
use std::sync::Arc;
use std::time::Duration;

/// How long the probe gives a key to answer INIT + getInfo.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`crate::key::watcher`] probe: INIT + getInfo on a key, its AAGUID. Only getInfo is
/// sent, so a probed key can still be reset right after.
pub fn aaguid_probe(sources: KeySources) -> AaguidProbe {
    Arc::new(move |descriptor: &KeyDescriptor| {
        let io = sources.open(descriptor).ok()?;
        let op = Op::new(PROBE_TIMEOUT, PROBE_TIMEOUT, CancelToken::new(), None);
        Device::open(io, None, &op).ok().map(|d| d.info().aaguid)
    })
}

/// Whether `arrived` is plausibly `old` plugged in again: same backend and USB ids, same
/// serial when both have one. (A HID key usually comes back under a new hidraw path.)
fn same_model(old: &KeyDescriptor, arrived: &KeyDescriptor) -> bool {
    old.backend == arrived.backend
        && old.vendor_id == arrived.vendor_id
        && old.product_id == arrived.product_id
        && match (&old.serial, &arrived.serial) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Wait until `old` has been unplugged and a key of the same model plugged in, and
/// return the newcomer's descriptor. Fails with [`KeyError::ReplugTimeout`] after
/// `timeout`; drop the future to give up earlier.
pub async fn wait_for_replug(sources: &KeySources, old: &KeyDescriptor, timeout: Duration) -> Result<KeyDescriptor, KeyError> {
    let mut watcher = KeyWatcher::start(sources.clone(), WatchOptions { interval: Duration::from_millis(100), probe: None })?;
    // Keys present at start arrive first; until `old` leaves, arrivals do not count.
    let mut left = !sources.enumerate()?.contains(old);
    let wait = async {
        while let Some(event) = watcher.recv().await {
            match event {
                KeyEvent::Left(k) if k.descriptor == *old => left = true,
                KeyEvent::Arrived(k) if left && same_model(old, &k.descriptor) => return Ok(k.descriptor),
                _ => {}
            }
        }
        Err(KeyError::Transport("the key watcher stopped".into()))
    };
    tokio::time::timeout(timeout, wait).await.unwrap_or(Err(KeyError::ReplugTimeout(timeout)))
}

/// After [`KeyError::ResetWindowPassed`]: wait for the operator to re-plug the key, then
/// open it and reset it at once (the only command before reset is getInfo). The touch
/// prompt in `options` fires when the key asks for the touch. Returns the key as it came
/// back.
pub async fn reset_after_replug(sources: &KeySources, old: &KeyDescriptor, options: HandleOptions, replug_timeout: Duration) -> Result<KeyDescriptor, KeyError> {
    let descriptor = wait_for_replug(sources, old, replug_timeout).await?;
    let io = sources.open(&descriptor)?;
    let handle = KeyHandle::open(descriptor.clone(), io, options).await?;
    handle.reset().await?;
    Ok(descriptor)
}
