//! KeySources: HID enumeration, `--virtual N`, `--virtual-state DIR`.
use crate::ctaphid::*;
use keystation::key::sources::{KeySources, SourceOptions};
use keystation::key::virtual_key::*;
use keystation::key::{Backend, KeyError};

fn hidraw_nodes_present() -> bool {
    std::fs::read_dir("/sys/class/hidraw").map(|mut d| d.next().is_some()).unwrap_or(false)
}

#[test]
fn hid_enumeration_without_keys_is_an_empty_list_not_an_error() {
    let keys = KeySources::hid().enumerate().expect("enumeration works without any key");
    assert!(keys.iter().all(|k| k.backend == Backend::Hid));
    if cfg!(target_os = "linux") && !hidraw_nodes_present() {
        assert!(keys.is_empty(), "{keys:?}");
    }
}

#[test]
fn virtual_n_gives_n_numbered_keys_that_open() {
    let sources = KeySources::from_options(&SourceOptions { virtual_keys: Some(2), ..Default::default() }).unwrap();
    let keys = sources.enumerate().unwrap();
    let paths: Vec<_> = keys.iter().map(|k| k.path.as_str()).collect();
    assert_eq!(paths, vec!["virtual:0", "virtual:1"]);
    assert!(keys.iter().all(|k| k.backend == Backend::Virtual));
    for key in &keys {
        let ch = Channel::open(sources.open(key).unwrap());
        assert_ne!(ch.cid, BROADCAST);
    }

    let hub = sources.hub().unwrap();
    hub.unplug("virtual:1");
    assert_eq!(sources.enumerate().unwrap().len(), 1);
    assert_eq!(sources.open(&keys[1]).err(), Some(KeyError::Removed));
    hub.plug(hub.get("virtual:1").unwrap());
    assert_eq!(sources.enumerate().unwrap().len(), 2);
}

#[test]
fn virtual_state_without_virtual_is_refused_clearly() {
    let err = KeySources::from_options(&SourceOptions { virtual_state: Some("/tmp/x".into()), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("--virtual N"), "{err}");
}

#[test]
fn virtual_state_dir_keeps_keys_between_runs_and_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let options = SourceOptions { virtual_keys: Some(1), virtual_state: Some(dir.path().to_path_buf()), ..Default::default() };
    let first = KeySources::from_options(&options).unwrap();
    let key = first.enumerate().unwrap().remove(0);
    let mut ch = Channel::open(first.open(&key).unwrap());
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", true)));
    let remaining = |ch: &mut Channel| map_get(&ch.ctap_ok(CTAP_GET_INFO, None), 0x14).cloned();
    let after = remaining(&mut ch);
    assert!(dir.path().join("key-0.store").exists());

    let busy = KeySources::from_options(&options).unwrap_err();
    assert!(busy.to_string().contains("in use by another keystation process"), "{busy}");

    drop(ch);
    drop(first);
    let second = KeySources::from_options(&options).unwrap();
    let key2 = second.enumerate().unwrap().remove(0);
    assert_eq!(key2.serial, key.serial);
    let mut ch = Channel::open(second.open(&key2).unwrap());
    assert_eq!(remaining(&mut ch), after);
}

#[test]
fn ca_dir_option_gives_batch_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let options = SourceOptions { virtual_keys: Some(1), attestation_ca_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let sources = KeySources::from_options(&options).unwrap();
    let key = sources.enumerate().unwrap().remove(0);
    let mut ch = Channel::open(sources.open(&key).unwrap());
    let answer = ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false)));
    let stmt = map_get(&answer, 3).unwrap();
    assert!(map_text(stmt, "x5c").is_some());
    assert!(dir.path().join(CA_CERT_FILE).exists());
}

#[test]
fn opening_the_wrong_backend_explains_itself() {
    let sources = KeySources::virtual_hub(VirtualHub::new());
    let mut usb = VirtualKey::new(VirtualKeyConfig::default()).descriptor();
    usb.backend = Backend::Hid;
    usb.path = "/dev/hidraw0".into();
    let err = sources.open(&usb).err().unwrap();
    assert!(err.to_string().contains("drop --virtual"), "{err}");

    let virtual_desc = VirtualKey::new(VirtualKeyConfig::default()).descriptor();
    let err = KeySources::hid().open(&virtual_desc).err().unwrap();
    assert!(err.to_string().contains("--virtual N"), "{err}");
}
