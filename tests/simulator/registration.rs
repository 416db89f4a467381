//! Graph: POST fido2Methods verifies attestations for real — valid packed/none accepted,
//! every documented failure refused with its own reason.
use super::attest::*;
use super::fido2::creation_options;
use super::support::*;
use keystation::entra::simulator::SimulatorHandle;
use serde_json::{json, Value};

fn methods(sim: &SimulatorHandle, user: &str) -> String {
    v1(sim, &format!("/users/{user}/authentication/fido2Methods"))
}

async fn post(sim: &SimulatorHandle, t: &str, user: &str, body: &Value) -> reqwest::Response {
    http().post(methods(sim, user)).bearer_auth(t).json(body).send().await.unwrap()
}

/// A fresh registration bound to a fresh challenge for `user`.
async fn fresh(sim: &SimulatorHandle, t: &str, user: &str) -> Registration {
    let o = creation_options(sim, t, user).await;
    Registration::graph(o["publicKey"]["challenge"].as_str().unwrap())
}

/// POST and expect 400 with this inner reason.
async fn refused(sim: &SimulatorHandle, t: &str, user: &str, body: &Value, reason: &str) -> Value {
    let b = graph_error(post(sim, t, user, body).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), reason, "{b}");
    b
}

#[tokio::test]
async fn packed_self_attestation_registers_and_is_then_excluded() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let reg = fresh(&sim, &t, "alice@contoso.test").await;
    let r = post(&sim, &t, "alice@contoso.test", &reg.graph_body("Alice's key")).await;
    assert_eq!(r.status(), 201);
    let m = json_of(r).await;
    assert_eq!(m["displayName"], "Alice's key");
    assert_eq!(m["aaGuid"], keystation::entra::simulator::seed::KEYSTATION_VIRTUAL_KEY_AAGUID);
    assert_eq!(m["model"], "keystation virtual key");
    assert_eq!(m["attestationLevel"], "notAttested");
    assert_eq!(m["attestationCertificates"], json!([]));
    assert_eq!(m["passkeyType"], "deviceBound");
    assert!(m["createdDateTime"].is_string());
    assert!(m.get("publicKeyCredential").is_none());

    // Visible in the list and excluded next time.
    let list = json_of(get(&methods(&sim, "alice@contoso.test"), &t).await).await;
    assert_eq!(list["value"][0]["id"], m["id"]);
    http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"exclude_credentials_encoding": "base64_url"})).send().await.unwrap();
    let o = creation_options(&sim, &t, "alice@contoso.test").await;
    assert_eq!(o["publicKey"]["excludeCredentials"][0]["id"], b64u(&reg.credential_id));

    // The challenge is spent.
    refused(&sim, &t, "alice@contoso.test", &reg.graph_body("again"), "challengeUsed").await;
    // The same credential with a new challenge is a duplicate.
    let mut dup = fresh(&sim, &t, "alice@contoso.test").await;
    dup.credential_id = reg.credential_id.clone();
    refused(&sim, &t, "alice@contoso.test", &dup.graph_body("dup"), "credentialAlreadyRegistered").await;
}

#[tokio::test]
async fn none_attestation_registers() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let mut reg = fresh(&sim, &t, "bob@contoso.test").await;
    reg.statement = Statement::None;
    reg.aaguid = aaguid_bytes(AAGUID_YUBIKEY_5_NFC);
    let r = post(&sim, &t, "bob@contoso.test", &reg.graph_body("Bob")).await;
    assert_eq!(r.status(), 201);
    let m = json_of(r).await;
    assert_eq!(m["model"], "YubiKey 5 Series with NFC");
    assert_eq!(m["attestationLevel"], "notAttested");
}

#[tokio::test]
async fn certified_packed_attestation_is_attested_only_with_a_trusted_root() {
    let ca = TestCa::new("keystation test attestation root");
    let sim = sim().await;
    let t = station_token(&sim).await;

    // Untrusted chain, attestation not enforced: accepted, notAttested.
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    let (leaf, key) = ca.leaf(&reg.aaguid, "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![leaf.clone()], leaf_key: key.clone() };
    let m = json_of(post(&sim, &t, "carol@contoso.test", &reg.graph_body("untrusted")).await).await;
    assert_eq!(m["attestationLevel"], "notAttested", "{m}");
    assert_eq!(m["attestationCertificates"].as_array().unwrap().len(), 1);

    // Enforced: untrusted chains, self and none are refused.
    http().patch(url(&sim, "/_sim/policies/fido2")).json(&json!({"isAttestationEnforced": true})).send().await.unwrap();
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    reg.statement = Statement::X5c { chain: vec![leaf.clone()], leaf_key: key.clone() };
    let b = refused(&sim, &t, "carol@contoso.test", &reg.graph_body("x"), "attestationNotTrusted").await;
    assert!(b["error"]["message"].as_str().unwrap().contains("not trusted"), "{b}");
    let reg = fresh(&sim, &t, "carol@contoso.test").await;
    refused(&sim, &t, "carol@contoso.test", &reg.graph_body("x"), "attestationNotTrusted").await;
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    reg.statement = Statement::None;
    refused(&sim, &t, "carol@contoso.test", &reg.graph_body("x"), "attestationNotTrusted").await;

    // Trust the root: attested, and the leaf's thumbprint is reported.
    let r = http().post(url(&sim, "/_sim/trusted-roots")).json(&json!({"pem": ca.root_pem})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    reg.statement = Statement::X5c { chain: vec![leaf.clone()], leaf_key: key.clone() };
    let r = post(&sim, &t, "carol@contoso.test", &reg.graph_body("trusted")).await;
    assert_eq!(r.status(), 201);
    let m = json_of(r).await;
    assert_eq!(m["attestationLevel"], "attested");
    let sha1 = hex::encode(<sha1::Sha1 as sha2::Digest>::digest(&leaf));
    assert_eq!(m["attestationCertificates"], json!([sha1]));

    // A chain that also carries the root works too.
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    reg.statement = Statement::X5c { chain: vec![leaf.clone(), ca.root_der.clone()], leaf_key: key.clone() };
    assert_eq!(post(&sim, &t, "carol@contoso.test", &reg.graph_body("with root")).await.status(), 201);

    // A leaf from another CA stays untrusted.
    let other = TestCa::new("some other root");
    let mut reg = fresh(&sim, &t, "carol@contoso.test").await;
    let (leaf2, key2) = other.leaf(&reg.aaguid, "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![leaf2], leaf_key: key2 };
    refused(&sim, &t, "carol@contoso.test", &reg.graph_body("x"), "attestationNotTrusted").await;
}

#[tokio::test]
async fn trusted_roots_can_come_from_the_config() {
    let ca = TestCa::new("config root");
    let pem = ca.root_pem.clone();
    let sim = sim_with(|c| c.extra_trusted_roots.push(pem)).await;
    let t = station_token(&sim).await;
    let mut reg = fresh(&sim, &t, "alice@contoso.test").await;
    let (leaf, key) = ca.leaf(&reg.aaguid, "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![leaf], leaf_key: key };
    assert_eq!(json_of(post(&sim, &t, "alice@contoso.test", &reg.graph_body("k")).await).await["attestationLevel"], "attested");
}

#[tokio::test]
async fn body_shape_failures() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "alice@contoso.test";
    let reg = fresh(&sim, &t, u).await;
    let good = reg.graph_body("ok");

    refused(&sim, &t, u, &json!(good.to_string()), "missingEntity").await;
    refused(&sim, &t, u, &json!({"displayName": "x"}), "missingEntity").await;
    let r = http().post(methods(&sim, u)).bearer_auth(&t).header("content-type", "application/json").body("{oops").send().await.unwrap();
    assert_eq!(inner_code(&graph_error(r, 400, "badRequest").await), "invalidJson");

    for (path, member) in [("", "type"), ("publicKeyCredential", "rawId"), ("publicKeyCredential", "authenticatorAttachment"), ("response", "transports")] {
        let mut b = good.clone();
        let target = match path {
            "" => &mut b,
            "publicKeyCredential" => &mut b["publicKeyCredential"],
            _ => &mut b["publicKeyCredential"]["response"],
        };
        target[member] = json!("x");
        let e = refused(&sim, &t, u, &b, "unknownProperty").await;
        assert!(e["error"]["message"].as_str().unwrap().contains(member));
    }
    // OData annotations are fine anywhere.
    let mut annotated = good.clone();
    annotated["@odata.type"] = json!("#microsoft.graph.fido2AuthenticationMethod");
    annotated["publicKeyCredential"]["@odata.type"] = json!("#microsoft.graph.webauthnPublicKeyCredential");

    let mut long = good.clone();
    long["displayName"] = json!("x".repeat(31));
    refused(&sim, &t, u, &long, "displayNameTooLong").await;

    let mut padded = good.clone();
    let cdj = padded["publicKeyCredential"]["response"]["clientDataJSON"].as_str().unwrap().to_string();
    let pad = (4 - cdj.len() % 4) % 4;
    if pad > 0 {
        padded["publicKeyCredential"]["response"]["clientDataJSON"] = json!(format!("{cdj}{}", "=".repeat(pad)));
        refused(&sim, &t, u, &padded, "invalidBase64Url").await;
    }
    let mut std_b64 = good.clone();
    std_b64["publicKeyCredential"]["id"] = json!("+/+/");
    refused(&sim, &t, u, &std_b64, "invalidBase64Url").await;

    // Nothing above consumed the challenge: the annotated original still registers.
    assert_eq!(post(&sim, &t, u, &annotated).await.status(), 201);

    // Switches: unknown members tolerated, padding tolerated.
    http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"reject_unknown_members": false, "accept_padded_base64url": true})).send().await.unwrap();
    let reg = fresh(&sim, &t, u).await;
    let mut b = reg.graph_body("lenient");
    b["publicKeyCredential"]["rawId"] = b["publicKeyCredential"]["id"].clone();
    b["publicKeyCredential"]["type"] = json!("public-key");
    let cdj = b["publicKeyCredential"]["response"]["clientDataJSON"].as_str().unwrap().to_string();
    let pad = (4 - cdj.len() % 4) % 4;
    b["publicKeyCredential"]["response"]["clientDataJSON"] = json!(format!("{cdj}{}", "=".repeat(pad)));
    assert_eq!(post(&sim, &t, u, &b).await.status(), 201);
}

#[tokio::test]
async fn client_data_failures() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "bob@contoso.test";

    let reg = fresh(&sim, &t, u).await;
    let mut b = reg.graph_body("x");
    b["publicKeyCredential"]["response"]["clientDataJSON"] = json!(b64u(b"not json"));
    refused(&sim, &t, u, &b, "clientDataInvalid").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.client_type = "webauthn.get".into();
    refused(&sim, &t, u, &reg.graph_body("x"), "clientDataTypeInvalid").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.challenge = b"never issued".to_vec();
    refused(&sim, &t, u, &reg.graph_body("x"), "challengeUnknown").await;

    let other = creation_options(&sim, &t, "alice@contoso.test").await;
    let reg = Registration::graph(other["publicKey"]["challenge"].as_str().unwrap());
    refused(&sim, &t, u, &reg.graph_body("x"), "challengeWrongUser").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.origin = "https://login.microsoftonline.com".into();
    refused(&sim, &t, u, &reg.graph_body("x"), "originInvalid").await;
    http()
        .patch(url(&sim, "/_sim/behaviour"))
        .json(&json!({"accepted_origins": ["https://login.microsoft.com", "https://login.microsoftonline.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(post(&sim, &t, u, &reg.graph_body("other origin")).await.status(), 201);

    let mut reg = fresh(&sim, &t, u).await;
    reg.cross_origin = true;
    refused(&sim, &t, u, &reg.graph_body("x"), "crossOriginNotAllowed").await;

    let reg = fresh(&sim, &t, u).await;
    sim.advance_clock(chrono::Duration::minutes(6));
    let t2 = station_token(&sim).await;
    refused(&sim, &t2, u, &reg.graph_body("x"), "challengeExpired").await;
}

#[tokio::test]
async fn authenticator_data_and_signature_failures() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "carol@contoso.test";

    let reg = fresh(&sim, &t, u).await;
    let mut b = reg.graph_body("x");
    b["publicKeyCredential"]["response"]["attestationObject"] = json!(b64u(b"\xff\x00garbage"));
    refused(&sim, &t, u, &b, "attestationObjectInvalid").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.fmt = Some("fido-u2f".into());
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationFormatUnsupported").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.rp_id = "login.microsoftonline.com".into();
    refused(&sim, &t, u, &reg.graph_body("x"), "rpIdHashMismatch").await;

    for (flags, reason) in [(0x44u8, "userPresenceMissing"), (0x41, "userVerificationMissing"), (0x05, "attestedCredentialDataMissing")] {
        let mut reg = fresh(&sim, &t, u).await;
        reg.flags = flags;
        if flags & 0x40 == 0 {
            reg.statement = Statement::None;
        }
        refused(&sim, &t, u, &reg.graph_body("x"), reason).await;
    }

    let mut reg = fresh(&sim, &t, u).await;
    reg.claimed_id = Some(vec![1, 2, 3, 4]);
    refused(&sim, &t, u, &reg.graph_body("x"), "credentialIdMismatch").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.cose_alg = -8;
    refused(&sim, &t, u, &reg.graph_body("x"), "algorithmUnsupported").await;

    let mut reg = fresh(&sim, &t, u).await;
    reg.corrupt_signature = true;
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationSignatureInvalid").await;

    let ca = TestCa::new("root");
    let mut reg = fresh(&sim, &t, u).await;
    let (leaf, key) = ca.leaf(&reg.aaguid, "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![leaf.clone()], leaf_key: key.clone() };
    reg.corrupt_signature = true;
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationSignatureInvalid").await;

    // Signed by the leaf but the x5c names a different certificate.
    let mut reg = fresh(&sim, &t, u).await;
    let (other_leaf, _) = ca.leaf(&reg.aaguid, "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![other_leaf], leaf_key: key.clone() };
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationSignatureInvalid").await;

    let mut reg = fresh(&sim, &t, u).await;
    let (bad_ou, k) = ca.leaf(&reg.aaguid, "Marketing", true);
    reg.statement = Statement::X5c { chain: vec![bad_ou], leaf_key: k };
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationCertificateInvalid").await;

    let mut reg = fresh(&sim, &t, u).await;
    let (wrong_aaguid, k) = ca.leaf(&[7u8; 16], "Authenticator Attestation", true);
    reg.statement = Statement::X5c { chain: vec![wrong_aaguid], leaf_key: k };
    refused(&sim, &t, u, &reg.graph_body("x"), "attestationCertificateInvalid").await;

    // Extensions after the key parse fine.
    let mut reg = fresh(&sim, &t, u).await;
    reg.extensions = Some(ciborium::Value::Map(vec![
        (ciborium::Value::Text("credProtect".into()), ciborium::Value::Integer(1.into())),
        (ciborium::Value::Text("hmac-secret".into()), ciborium::Value::Bool(true)),
    ]));
    assert_eq!(post(&sim, &t, u, &reg.graph_body("with extensions")).await.status(), 201);
}

#[tokio::test]
async fn key_restrictions_and_targeting() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "alice@contoso.test";
    let virt = keystation::entra::simulator::seed::KEYSTATION_VIRTUAL_KEY_AAGUID;
    http()
        .patch(url(&sim, "/_sim/policies/fido2"))
        .json(&json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [virt.to_uppercase()]}}))
        .send()
        .await
        .unwrap();
    let reg = fresh(&sim, &t, u).await;
    refused(&sim, &t, u, &reg.graph_body("x"), "aaguidBlocked").await;
    http()
        .patch(url(&sim, "/_sim/policies/fido2"))
        .json(&json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": [AAGUID_YUBIKEY_5_NFC]}}))
        .send()
        .await
        .unwrap();
    let reg = fresh(&sim, &t, u).await;
    refused(&sim, &t, u, &reg.graph_body("x"), "aaguidBlocked").await;
    let mut reg = fresh(&sim, &t, u).await;
    reg.aaguid = aaguid_bytes(AAGUID_YUBIKEY_5_NFC);
    assert_eq!(post(&sim, &t, u, &reg.graph_body("allowed")).await.status(), 201);

    // POST refuses users outside the policy, like creationOptions.
    let o = creation_options(&sim, &t, u).await;
    let reg = Registration::graph(o["publicKey"]["challenge"].as_str().unwrap());
    let b = graph_error(post(&sim, &t, "oscar.outside@contoso.test", &reg.graph_body("x")).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "userNotTargeted");
}

#[tokio::test]
async fn passkey_profiles_need_one_profile_to_accept_the_key() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "alice@contoso.test";
    let profile = "11111111-2222-4333-8444-555555555555";
    let r = http()
        .patch(url(&sim, "/_sim/policies/fido2"))
        .json(&json!({"passkeyProfiles": [{
            "id": profile, "name": "Yubico only", "passkeyTypes": "deviceBound",
            "attestationEnforcement": "disabled",
            "keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": [AAGUID_YUBIKEY_5_NFC]}
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let reg = fresh(&sim, &t, u).await;
    refused(&sim, &t, u, &reg.graph_body("x"), "passkeyProfileMismatch").await;
    let mut reg = fresh(&sim, &t, u).await;
    reg.aaguid = aaguid_bytes(AAGUID_YUBIKEY_5_NFC);
    assert_eq!(post(&sim, &t, u, &reg.graph_body("yubikey")).await.status(), 201);
    // A synced passkey (backup eligible) does not fit a deviceBound-only profile.
    let mut reg = fresh(&sim, &t, u).await;
    reg.aaguid = aaguid_bytes(AAGUID_YUBIKEY_5_NFC);
    reg.flags |= 0x08;
    refused(&sim, &t, u, &reg.graph_body("x"), "passkeyProfileMismatch").await;
}

#[tokio::test]
async fn delegated_admin_can_provision() {
    let sim = sim().await;
    let anna = admin_token(&sim, "anna.authadmin@contoso.test").await;
    let reg = fresh(&sim, &anna, "bob@contoso.test").await;
    assert_eq!(post(&sim, &anna, "bob@contoso.test", &reg.graph_body("by Anna")).await.status(), 201);
}
