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

/// Whether `present`, already there when the wait starts while `old` is not, is `old`
/// back again: the same model on the same path (a new plug-in of a reused node) or with
/// the same serial. Another key of the same model elsewhere on the hub is not.
fn already_back(old: &KeyDescriptor, present: &KeyDescriptor) -> bool {
    same_model(old, present) && (present.path == old.path || (old.serial.is_some() && present.serial == old.serial))
}

/// Wait until `old` (one plug-in of a key, [`KeyDescriptor::plug`]) has been unplugged
/// and the key plugged in again, and return the newcomer's descriptor. Fails with
/// [`KeyError::ReplugTimeout`] after `timeout`; drop the future to give up earlier.
///
/// Everything is decided from the watcher's own first snapshot, with no separate
/// enumeration before it: if `old` is in it, the wait is for it to leave and a key of
/// the same model to arrive; if not, it has left already, and it may even be back (a new
/// plug-in on its path or with its serial), which ends the wait at once. `prompt` (ask
/// the person to re-plug) is called only once that snapshot is taken and the key is not
/// back yet, so no pull after the prompt can happen before the watcher looks.
pub async fn wait_for_replug(sources: &KeySources, old: &KeyDescriptor, timeout: Duration, prompt: impl FnOnce()) -> Result<KeyDescriptor, KeyError> {
    let wait = async {
        let mut watcher = KeyWatcher::start(sources.clone(), WatchOptions { interval: Duration::from_millis(100), probe: None })?;
        let stopped = || KeyError::Transport("the key watcher stopped".into());
        let snapshot: Vec<KeyDescriptor> = watcher.ready().await.ok_or_else(stopped)?.into_iter().map(|k| k.descriptor).collect();
        // The snapshot's own `Arrived` events come first: they are not news.
        for _ in 0..snapshot.len() {
            watcher.recv().await.ok_or_else(stopped)?;
        }
        let mut left = !snapshot.contains(old);
        if left && let Some(back) = snapshot.iter().find(|k| already_back(old, k)) {
            return Ok(back.clone());
        }
        prompt();
        while let Some(event) = watcher.recv().await {
            match event {
                KeyEvent::Left(k) if k.descriptor == *old => left = true,
                KeyEvent::Arrived(k) if left && same_model(old, &k.descriptor) => return Ok(k.descriptor),
                _ => {}
            }
        }
        Err(stopped())
    };
    tokio::time::timeout(timeout, wait).await.unwrap_or(Err(KeyError::ReplugTimeout(timeout)))
}

/// After [`KeyError::ResetWindowPassed`]: wait for the operator to re-plug the key (asking
/// with `prompt`, see [`wait_for_replug`]), then open it and reset it at once (the only
/// command before reset is getInfo). The touch prompt in `options` fires when the key
/// asks for the touch. Returns the key as it came back.
pub async fn reset_after_replug(
    sources: &KeySources,
    old: &KeyDescriptor,
    options: HandleOptions,
    replug_timeout: Duration,
    prompt: impl FnOnce(),
) -> Result<KeyDescriptor, KeyError> {
    let descriptor = wait_for_replug(sources, old, replug_timeout, prompt).await?;
    let io = sources.open(&descriptor)?;
    let handle = KeyHandle::open(descriptor.clone(), io, options).await?;
    handle.reset().await?;
    Ok(descriptor)
}
