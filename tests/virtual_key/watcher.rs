//! The key watcher over a virtual hub.
use crate::ctaphid::*;
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::*;
use keystation::key::watcher::{AaguidProbe, KeyEvent, KeyWatcher, WatchOptions};
use std::sync::Arc;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(1);

/// A probe made of the test's own tiny CTAP host: getInfo → AAGUID.
fn probe(sources: KeySources) -> AaguidProbe {
    Arc::new(move |descriptor| {
        let io = sources.open(descriptor).ok()?;
        let mut ch = Channel::open(io);
        let info = ch.ctap_ok(CTAP_GET_INFO, None);
        map_get(&info, 3)?.as_bytes()?.as_slice().try_into().ok()
    })
}

async fn next(watcher: &mut KeyWatcher) -> KeyEvent {
    tokio::time::timeout(WITHIN, watcher.recv()).await.expect("an event within a second").expect("watcher running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_virtual_keys_arrive_and_leave_within_a_second() {
    let hub = VirtualHub::new();
    let sources = KeySources::virtual_hub(hub.clone());
    let options = WatchOptions { probe: Some(probe(sources.clone())), ..Default::default() };
    let mut watcher = KeyWatcher::start(sources, options).unwrap();

    let key = VirtualKey::new(VirtualKeyConfig::default());
    let descriptor = hub.plug(key.clone());
    match next(&mut watcher).await {
        KeyEvent::Arrived(identity) => {
            assert_eq!(identity.descriptor, descriptor);
            assert_eq!(identity.aaguid, Some(VIRTUAL_KEY_AAGUID), "the probe read the AAGUID");
            assert_eq!(identity.aaguid_string().as_deref(), Some("d5a92987-df19-484f-890d-2d49daf54f29"));
        }
        other => panic!("expected Arrived, got {other:?}"),
    }

    hub.unplug(key.path());
    assert!(matches!(next(&mut watcher).await, KeyEvent::Left(ref k) if k.descriptor == descriptor));

    // Back on the same path, as a new plug-in of the key.
    let again = hub.plug(key.clone());
    assert!(matches!(next(&mut watcher).await, KeyEvent::Arrived(ref k) if k.descriptor == again));
    assert_eq!(again.path, descriptor.path);
    assert_ne!(again.plug, descriptor.plug);
    watcher.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_present_at_start_arrive_and_an_instant_replug_is_not_missed() {
    let hub = VirtualHub::new();
    let key = VirtualKey::new(VirtualKeyConfig::default());
    hub.plug(key.clone());
    let mut watcher = KeyWatcher::start(KeySources::virtual_hub(hub.clone()), WatchOptions::default()).unwrap();
    match next(&mut watcher).await {
        KeyEvent::Arrived(identity) => assert_eq!(identity.aaguid, None, "no probe, no AAGUID"),
        other => panic!("expected Arrived, got {other:?}"),
    }

    key.replug(); // far quicker than one poll interval
    assert!(matches!(next(&mut watcher).await, KeyEvent::Left(_)));
    assert!(matches!(next(&mut watcher).await, KeyEvent::Arrived(_)));
    assert!(watcher.try_recv().is_none());
    drop(watcher); // stops and joins without hanging
}
