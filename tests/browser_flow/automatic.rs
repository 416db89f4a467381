//! The automatic mode against the simulator: success end to end, and what the
//! pipeline's journal sees.
use super::support::{Recorder, env, test_key};
use keystation::ceremony::RegistrationPath;
use keystation::key::virtual_key::{Touch, VIRTUAL_KEY_AAGUID};

#[tokio::test]
async fn registers_a_key_end_to_end_and_graph_shows_it() {
    let Some(env) = env("registers_a_key_end_to_end_and_graph_shows_it").await else { return };
    let key = test_key(Touch::Instant).await;
    let before = env.methods("alice@contoso.test").await.len();
    let request = env.request("alice@contoso.test", "Alice YubiKey 1234", true).await;
    let observer = Recorder::default();
    let reg = env.register(&key, &request, &observer).await.expect("registered");
    assert_eq!(reg.path, RegistrationPath::Browser);
    assert_eq!(reg.display_name, "Alice YubiKey 1234");
    assert_eq!(reg.aaguid, VIRTUAL_KEY_AAGUID);
    // Graph shows it with the right name; the simulator verified the attestation and
    // records that it came through the pages.
    let methods = env.methods("alice@contoso.test").await;
    assert_eq!(methods.len(), before + 1);
    let m = methods.iter().find(|m| m.id == reg.method_id).expect("the method is in Graph");
    assert_eq!(m.display_name.as_deref(), Some("Alice YubiKey 1234"));
    assert_eq!(m.aa_guid.as_deref(), Some("d5a92987-df19-484f-890d-2d49daf54f29"));
    let sim = env.sim_fido2("alice@contoso.test").await;
    let stored = sim.as_array().or_else(|| sim["value"].as_array()).expect("sim methods").iter().find(|x| x["id"] == reg.method_id.as_str()).cloned().expect("in the simulator");
    assert_eq!(stored["registeredVia"], "browser", "{stored}");
    // The journal hooks ran in order, once each, before the key and before the page.
    let ev: Vec<String> = observer.events().into_iter().filter(|e| !e.starts_with("progress")).collect();
    assert_eq!(ev, vec!["before_make_credential", "before_submit"]);
    let pending = observer.pending.lock().unwrap()[0].clone();
    assert_eq!(pending.credential_id, reg.credential_id);
    assert_eq!(pending.aaguid, VIRTUAL_KEY_AAGUID);
    assert_eq!(pending.display_name, "Alice YubiKey 1234");
    // Nothing is written to the evidence directory when the registration works.
    assert!(!super::support::evidence_dir(&request).exists());
    // Progress notes never carry the TAP or the PIN.
    let tap = request.tap.as_ref().unwrap().expose().to_string();
    assert!(observer.events().iter().all(|e| !e.contains(&tap) && !e.contains(super::support::PIN)));
    env.close().await;
}
