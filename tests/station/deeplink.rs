//! `keystation open URL` end to end against the simulator with a virtual key: a link
//! signed here, with the key the station reads from its 0600 file, enrolls the user; the
//! same link a second time is refused (its nonce was spent); a tampered, an expired and
//! an unsigned link are refused and start nothing. The signature never appears in the
//! station's output or log.
use crate::cli::CliDesk;
use crate::common::*;
use keystation::station::deeplink::{make_link, DeeplinkKey, LinkVia};
use std::process::Output;

const LINK_KEY: &str = "deeplink-test-key-0123456789abcdef-0123456789";

fn show(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_link_enrolls_once_and_changed_or_expired_links_are_refused() {
    let keydir = tempfile::tempdir().unwrap();
    let key_file = keydir.path().join("deeplink-key");
    std::fs::write(&key_file, format!("{LINK_KEY}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let d = CliDesk::new(&format!("[deeplink]\nkey_file = {:?}\n", key_file.display().to_string())).await;
    let log = d.root.path().join("station.log");
    let log_env = [("KEYSTATION_LOG_FILE", log.to_str().unwrap())];
    let key = DeeplinkKey::new(LINK_KEY).unwrap();
    let now = chrono::Utc::now().timestamp();
    let link = make_link(&key, ALICE, Some(LinkVia::Graph), Some("default"), now + 600).unwrap();
    let sig = link.rsplit("sig=").next().unwrap().to_string();

    let out = d.run(&["--json", "open", &link, "--wait", "5", "--show-pin-in-json"], &log_env).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = crate::json_output::result(&out.stdout);
    assert_eq!(r["user"]["upn"], ALICE, "{r}");
    assert_eq!(r["registration_path"], "graph", "{r}");
    d.one_method_and_agreement(ALICE).await;
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    for text in [String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), logged] {
        assert!(!text.contains(&sig), "the signature leaked: {text}");
        assert!(!text.contains(LINK_KEY), "the key leaked");
    }

    // The same link again: the nonce was spent.
    let again = d.run(&["open", &link, "--wait", "5"], &[]).await;
    assert_eq!(again.status.code(), Some(2), "{}", show(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already used"), "{}", show(&again));

    // Tampered (another user under alice's signature), expired, unsigned: refused, and
    // bob gets nothing.
    let tampered = link.replace("alice%40", "bob%40");
    assert_ne!(tampered, link);
    let expired = make_link(&key, BOB, None, None, now - 30).unwrap();
    let other_key = make_link(&DeeplinkKey::new("some-other-key-some-other-key-0123456789").unwrap(), BOB, None, None, now + 600).unwrap();
    let cases = [
        (tampered.as_str(), "signature does not match"),
        (other_key.as_str(), "signature does not match"),
        (expired.as_str(), "expired"),
        ("keystation://enroll?user=bob%40contoso.test", "not signed"),
        ("keystation://enroll?user=bob%40contoso.test&tenant=fabrikam", "fabrikam"),
    ];
    for (url, why) in cases {
        let out = d.run(&["--json", "open", url, "--wait", "5"], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", show(&out));
        let env = crate::json_output::envelope(&out.stdout);
        let msg = env["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{url}: {msg}");
        assert!(env["error"]["next_step"].is_string(), "{env}");
    }
    assert!(d.desk.methods(BOB).await.is_empty(), "a refused link registered nothing");

    // via=manual: the browser path with the operator walking the pages. This test runs
    // keystation without a display, so it stops before the key, naming what is missing
    // (exit 11), instead of being refused as a link `open` cannot run.
    let manual = make_link(&key, BOB, Some(LinkVia::Manual), None, now + 600).unwrap();
    let out = d.run(&["--json", "open", &manual, "--wait", "5", "--show-pin-in-json"], &[]).await;
    assert_eq!(out.status.code(), Some(11), "{}", show(&out));
    let env = crate::json_output::envelope(&out.stdout);
    let msg = env["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("browser") && msg.contains("the key was not changed"), "{msg}");
    assert!(d.desk.methods(BOB).await.is_empty(), "nothing registered without a display");

    // A key file others can read is refused with the fix.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let fresh = make_link(&key, BOB, None, None, now + 600).unwrap();
    let out = d.run(&["open", &fresh, "--wait", "5"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", show(&out));
}
