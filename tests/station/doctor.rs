//! `keystation doctor` against the simulator: a healthy tenant passes; every policy
//! misconfiguration the simulator can express (through its control surface, as an
//! administrator would make it in the portal) gives the right FAIL (or WARN) with its
//! fix; users are checked for existence, guest status and scope; the clock against
//! Graph's `Date`; and the CLI's JSON, text and exit codes.
use crate::common::*;
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::VirtualHub;
use keystation::station::config::ConfigLoader;
use keystation::station::doctor::{self, DoctorInput, DoctorReport, Status, Trouble};
use keystation::station::pipeline::ConnectOptions;
use serde_json::json;

struct Doc {
    desk: Desk,
    dir: tempfile::TempDir,
    hub: VirtualHub,
}

impl Doc {
    async fn new() -> Doc {
        let desk = Desk::new().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), SECRET).unwrap();
        let hub = VirtualHub::new();
        hub.plug(desk.key(0, "DOC-0001"));
        Doc { desk, dir, hub }
    }

    fn config_text(&self, extra: &str) -> String {
        format!(
            "[tenant]\nid = \"{}\"\nclient_id = \"{SECRET_APP}\"\nauthority_host = \"{h}\"\ngraph_host = \"{h}\"\n[tenant.sign_in]\nmethod = \"client-secret\"\nsecret_file = \"{}\"\n\n{extra}\n",
            self.desk.sim.tenant_id(),
            self.dir.path().join("secret").display(),
            h = self.desk.host()
        )
    }

    async fn run(&self, extra: &str, users: &[&str]) -> DoctorReport {
        let path = self.dir.path().join("keystation.toml");
        std::fs::write(&path, self.config_text(extra)).unwrap();
        let config = ConfigLoader::new().file(&path).load().unwrap_or_else(|e| panic!("{e}")).config;
        let input = DoctorInput {
            config,
            state_dir: self.dir.path().join("state"),
            connect: ConnectOptions { graph_retry: Some(fast_retry()), token_retry: Some(fast_retry()), ..ConnectOptions::default() },
            sources: Some(KeySources::virtual_hub(self.hub.clone())),
            users: users.iter().map(|u| u.to_string()).collect(),
            via: None,
        };
        doctor::run(&input).await
    }
}

fn status(r: &DoctorReport, id: &str) -> Status {
    r.check(id).unwrap_or_else(|| panic!("no check {id} in {:#?}", r.checks)).status
}

/// The check `id` failed with `trouble`, its detail says `detail` and its fix says `fix`.
fn failed(r: &DoctorReport, id: &str, trouble: Trouble, detail: &str, fix: &str) {
    let c = r.check(id).unwrap_or_else(|| panic!("no check {id} in {:#?}", r.checks));
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert_eq!(c.trouble, Some(trouble), "{c:#?}");
    assert!(c.detail.contains(detail), "detail of {id}: {}", c.detail);
    assert!(c.fix.as_deref().unwrap_or("").contains(fix), "fix of {id}: {:?}", c.fix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_tenant_passes_every_check() {
    let d = Doc::new().await;
    let r = d.run("", &[ALICE, DAVE]).await;
    let not_passed: Vec<_> = r.checks.iter().filter(|c| c.status != Status::Pass).collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    for id in ["tenant.sign_in", "tenant.permissions", "fido2.enabled", "fido2.self_service", "fido2.targets", "fido2.attestation", "fido2.key_restrictions", "tap.enabled", "tap.one_time", "tap.lifetime", "station.state_dir", "station.clock", "station.devices", "station.browser", "station.display"] {
        assert_eq!(status(&r, id), Status::Pass, "{id}");
    }
    assert!(r.check("fido2.key_restrictions").unwrap().detail.contains("virtual:0"), "the plugged key's model was checked");
    assert!(r.check("user.dave@contoso.test").unwrap().detail.contains("in scope"), "nested group membership counts");
    assert!(r.first_failure().is_none());
    // Doctor only reads: no write call reached the tenant.
    let writes: Vec<_> = d.desk.sim.requests(None).into_iter().filter(|q| q.method != "GET" && !q.path.ends_with("/checkMemberGroups") && !q.path.ends_with("/token")).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fido2_policy_misconfiguration_fails_with_its_fix() {
    let d = Doc::new().await;
    let cases: Vec<(serde_json::Value, &str, &str, &str)> = vec![
        (json!({"state": "disabled"}), "fido2.enabled", "disabled", "enable it"),
        (json!({"isSelfServiceRegistrationAllowed": false}), "fido2.self_service", "self-service", "turn it on"),
        (json!({"includeTargets": []}), "fido2.targets", "nobody", "add the rollout group"),
        (
            json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [VIRTUAL_AAGUID.to_uppercase()]}}),
            "fido2.key_restrictions",
            "block list",
            "Key restrictions",
        ),
        (
            json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": ["2fc0579f-8113-47ea-b116-bb5a8db9202a"]}}),
            "fido2.key_restrictions",
            "not on the allow list",
            "AAGUIDs",
        ),
    ];
    for (patch, id, detail, fix) in cases {
        d.desk.patch_policy("fido2", patch.clone()).await;
        let r = d.run("", &[]).await;
        failed(&r, id, Trouble::Policy, detail, fix);
        // Undo: the next case starts from the healthy tenant.
        d.desk
            .patch_policy("fido2", json!({"state": "enabled", "isSelfServiceRegistrationAllowed": true, "keyRestrictions": {"isEnforced": false, "enforcementType": "block", "aaGuids": []}}))
            .await;
        if id == "fido2.targets" {
            let groups = d.desk.graph().fido2_policy().await.unwrap();
            assert!(groups.include_targets.is_empty());
            let pilot = keystation::entra::simulator::seed::TenantSeed::builtin();
            let g = pilot.groups.iter().find(|g| g.name == "FIDO2 Pilot").unwrap();
            d.desk.patch_policy("fido2", json!({"includeTargets": [{"targetType": "group", "id": pilot.group_id(g), "isRegistrationRequired": false}]})).await;
        }
        assert!(d.run("", &[]).await.first_failure().is_none(), "restored after {id}");
    }

    // Passkey profiles: none of them takes the plugged model.
    d.desk
        .patch_policy(
            "fido2",
            json!({"passkeyProfiles": [{"id": "11111111-2222-4333-8444-555555555555", "name": "Yubico only", "passkeyTypes": "deviceBound", "attestationEnforcement": "disabled",
                   "keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": ["2fc0579f-8113-47ea-b116-bb5a8db9202a"]}}]}),
        )
        .await;
    failed(&d.run("", &[]).await, "fido2.key_restrictions", Trouble::Policy, "no passkey profile", "Key restrictions");
    d.desk.patch_policy("fido2", json!({"passkeyProfiles": []})).await;

    // Attestation enforced: a configured model outside keystation's certified table is a warning.
    d.desk.patch_policy("fido2", json!({"isAttestationEnforced": true})).await;
    let models = "[[models]]\naaguid = \"00112233-4455-6677-8899-aabbccddeeff\"\nvendor = \"ACME\"\nname = \"ACME Desk Key\"\n";
    let r = d.run(models, &[]).await;
    assert!(r.check("fido2.attestation").unwrap().detail.contains("enforces attestation"));
    let w = r.check("fido2.attestation_models").unwrap();
    assert_eq!(w.status, Status::Warn, "{w:#?}");
    assert!(w.detail.contains("ACME Desk Key") && !w.detail.contains("virtual:0"), "{}", w.detail);
    assert!(w.fix.as_deref().unwrap().contains("preflight.attestation"));
    assert!(r.first_failure().is_none(), "a warning is not a failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tap_policy_misconfiguration_fails_against_the_configuration() {
    let d = Doc::new().await;
    let handover = "[tap]\nhandover = true\nlifetime_minutes = 60\n";
    // Fine as configured.
    assert!(d.run(handover, &[]).await.first_failure().is_none());

    d.desk.patch_policy("temporaryAccessPass", json!({"state": "disabled"})).await;
    failed(&d.run(handover, &[]).await, "tap.enabled", Trouble::Policy, "disabled", "enable it");
    // Without a TAP in the configuration, a disabled TAP method is fine.
    assert_eq!(status(&d.run("", &[]).await, "tap.enabled"), Status::Pass);
    d.desk.patch_policy("temporaryAccessPass", json!({"state": "enabled"})).await;

    d.desk.patch_policy("temporaryAccessPass", json!({"minimumLifetimeInMinutes": 120, "defaultLifetimeInMinutes": 120})).await;
    failed(&d.run(handover, &[]).await, "tap.lifetime", Trouble::Policy, "120 to 480", "between 120 and 480");
    d.desk.patch_policy("temporaryAccessPass", json!({"minimumLifetimeInMinutes": 60, "defaultLifetimeInMinutes": 60})).await;

    d.desk.patch_policy("temporaryAccessPass", json!({"isUsableOnce": true})).await;
    failed(&d.run("[tap]\nhandover = true\none_time = false\n", &[]).await, "tap.one_time", Trouble::Policy, "one-time", "tap.one_time = true");
    assert_eq!(status(&d.run(handover, &[]).await, "tap.one_time"), Status::Pass);
    d.desk.patch_policy("temporaryAccessPass", json!({"isUsableOnce": false})).await;
    assert_eq!(status(&d.run("[tap]\nhandover = true\none_time = false\n", &[]).await, "tap.one_time"), Status::Warn, "reusable passes are worth a look");

    d.desk.patch_policy("temporaryAccessPass", json!({"includeTargets": []})).await;
    failed(&d.run(handover, &[]).await, "tap.targets", Trouble::Policy, "nobody", "add the rollout group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_permissions_and_clock() {
    let d = Doc::new().await;
    // Consent withdrawn for the policy permission: the FIDO2 policy cannot be read.
    d.desk
        .sim
        .set_app_permissions(SECRET_APP, Some(vec!["User.Read.All".into(), "GroupMember.Read.All".into(), "UserAuthenticationMethod.ReadWrite.All".into()]), None)
        .unwrap();
    let r = d.run("", &[]).await;
    failed(&r, "fido2.read", Trouble::Entra, "403", "Policy.Read.AuthenticationMethod");
    failed(&r, "tenant.permissions", Trouble::Entra, "Policy.Read.AuthenticationMethod", "Grant admin consent");
    assert_eq!(r.first_failure().unwrap().id, "tenant.permissions", "the permission check names it before Graph refuses");
    d.desk
        .sim
        .set_app_permissions(SECRET_APP, Some(vec!["User.Read.All".into(), "GroupMember.Read.All".into(), "UserAuthenticationMethod.ReadWrite.All".into(), "Policy.Read.AuthenticationMethod".into()]), None)
        .unwrap();

    // Read-only consent: the token cannot register keys; the first failure says which
    // permission to grant. The desk's commands need more than enrolling does.
    d.desk
        .sim
        .set_app_permissions(SECRET_APP, Some(vec!["User.Read.All".into(), "GroupMember.Read.All".into(), "UserAuthenticationMethod.Read.All".into(), "Policy.Read.AuthenticationMethod".into()]), None)
        .unwrap();
    let r = d.run("", &[]).await;
    failed(&r, "tenant.permissions", Trouble::Entra, "UserAuthMethod-Passkey.ReadWrite.All", "Grant admin consent");
    assert_eq!(r.first_failure().unwrap().id, "tenant.permissions");
    assert_eq!(status(&r, "tenant.permissions_desk"), Status::Warn);
    // Least privilege for the Graph path without TAPs: enrolling is covered, the desk's TAP listing is not.
    d.desk
        .sim
        .set_app_permissions(SECRET_APP, Some(vec!["User.Read.All".into(), "GroupMember.Read.All".into(), "UserAuthMethod-Passkey.ReadWrite.All".into(), "Policy.Read.AuthenticationMethod".into()]), None)
        .unwrap();
    let r = d.run("", &[]).await;
    assert_eq!(status(&r, "tenant.permissions"), Status::Pass);
    let w = r.check("tenant.permissions_desk").unwrap();
    assert!(w.status == Status::Warn && w.detail.contains("UserAuthMethod-TAP.Read.All"), "{w:#?}");
    // The same roles with a handover TAP: enrolling itself needs the TAP permission now.
    failed(&d.run("[tap]\nhandover = true\n", &[]).await, "tenant.permissions", Trouble::Entra, "UserAuthMethod-TAP.ReadWrite.All", "API permissions");
    d.desk
        .sim
        .set_app_permissions(SECRET_APP, Some(vec!["User.Read.All".into(), "GroupMember.Read.All".into(), "UserAuthenticationMethod.ReadWrite.All".into(), "Policy.Read.AuthenticationMethod".into()]), None)
        .unwrap();
    let r = d.run("", &[]).await;
    assert!(r.check("tenant.permissions_desk").is_none() && status(&r, "tenant.permissions") == Status::Pass);

    // A wrong secret: sign-in fails, and nothing else of the tenant is claimed.
    std::fs::write(d.dir.path().join("secret"), "not-the-secret").unwrap();
    let r = d.run("", &[ALICE]).await;
    failed(&r, "tenant.sign_in", Trouble::Entra, "7000215", "client secret");
    assert!(r.check("fido2.enabled").is_none());
    assert_eq!(status(&r, "users"), Status::Fail);
    std::fs::write(d.dir.path().join("secret"), SECRET).unwrap();

    // Graph's clock 10 minutes ahead of ours.
    d.desk.sim.advance_clock(chrono::Duration::minutes(10));
    let r = d.run("", &[]).await;
    failed(&r, "station.clock", Trouble::Environment, "behind Graph", "synchronise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_checked_for_existence_membership_and_scope() {
    let d = Doc::new().await;
    d.desk.sim.issue_tap(BOB, 60, true).unwrap();
    let guest = "gina_fabrikam.test#EXT#@contoso.test";
    let r = d.run("", &[ALICE, BOB, CAROL, "nobody@contoso.test", OSCAR, BREE, guest]).await;
    assert_eq!(status(&r, "user.alice@contoso.test"), Status::Pass);
    failed(&r, "user.nobody@contoso.test", Trouble::UserInput, "does not exist", "");
    failed(&r, &format!("user.{OSCAR}"), Trouble::Policy, "not in scope of the Passkey (FIDO2) policy", "add a group");
    failed(&r, &format!("user.{BREE}"), Trouble::Policy, "excluded", "remove");
    failed(&r, &format!("user.{}", guest.to_lowercase()), Trouble::Policy, "guest", "home tenant");
    // Carol's key and Bob's pass are shown, never the pass itself.
    let carol = r.users.iter().find(|u| u.requested == CAROL).unwrap();
    assert_eq!(carol.fido2_methods.len(), 1);
    assert_eq!(carol.fido2_methods[0].model.as_deref(), Some("YubiKey 5 Series with NFC"));
    assert!(carol.fido2_methods[0].created.is_some());
    let bob = r.users.iter().find(|u| u.requested == BOB).unwrap();
    assert_eq!(bob.taps.len(), 1);
    assert_eq!(bob.taps[0].usable_once, Some(true));
    assert!(r.check("user.bob@contoso.test").unwrap().detail.contains("a TAP"));
    // The first failure decides: users come after the tenant, "not found" is listed before the others.
    assert_eq!(r.first_failure().unwrap().trouble, Some(Trouble::UserInput));

    // A disabled account is worth a warning, not a refusal.
    d.desk.control(reqwest::Method::PATCH, &format!("/_sim/users/{ALICE}"), Some(json!({"account_enabled": false}))).await;
    assert_eq!(status(&d.run("", &[ALICE]).await, "user.alice@contoso.test"), Status::Warn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_every_check_and_exits_with_the_first_failures_code() {
    use crate::cli::CliDesk;
    let d = CliDesk::new("").await;
    let ok = d.run(&["doctor", "--user", ALICE], &[]).await;
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert_eq!(ok.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&ok.stderr));
    for needle in ["Tenant", "PASS  sign-in", "Users", "alice@contoso.test", "Station", "failed."] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }

    d.desk.patch_policy("fido2", json!({"isSelfServiceRegistrationAllowed": false})).await;
    let out = d.run(&["--json", "doctor", "--user", OSCAR], &[]).await;
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let env = crate::json_output::envelope(&out.stdout);
    assert_eq!(env["exit_code"], 6);
    assert!(env["error"]["next_step"].as_str().unwrap().contains("turn it on"), "the first failure is the error: {env}");
    let v = &env["result"];
    let check = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "fido2.self_service").unwrap().clone();
    assert_eq!(check["status"], "fail");
    assert!(check["fix"].as_str().unwrap().contains("turn it on"));
    assert!(v["counts"]["fail"].as_u64().unwrap() >= 1);

    let text_out = d.run(&["doctor"], &[]).await;
    let text = String::from_utf8_lossy(&text_out.stdout).to_string();
    assert!(text.contains("FAIL  self-service setup allowed") && text.contains("fix: turn it on"), "{text}");
    assert!(text.contains("Exit code 6"), "{text}");

    // A users file, as batch takes it.
    d.desk.patch_policy("fido2", json!({"isSelfServiceRegistrationAllowed": true})).await;
    let file = d.root.path().join("users.csv");
    std::fs::write(&file, format!("upn\n{ALICE}\nnobody@contoso.test\n")).unwrap();
    let out = d.run(&["doctor", "--users", file.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "a user that does not exist: {}", String::from_utf8_lossy(&out.stdout));
}
