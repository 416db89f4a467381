//! Graph: FIDO2 creationOptions (shape, timeouts, encodings, refusals), list/get/delete.
use super::support::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keystation::entra::simulator::SimulatorHandle;
use serde_json::{json, Value};

pub fn options_url(sim: &SimulatorHandle, version: &str, user: &str, suffix: &str) -> String {
    url(sim, &format!("/{version}/users/{user}/authentication/fido2Methods/creationOptions{suffix}"))
}

pub async fn creation_options(sim: &SimulatorHandle, t: &str, user: &str) -> Value {
    let r = get(&options_url(sim, "v1.0", user, ""), t).await;
    assert_eq!(r.status(), 200);
    json_of(r).await
}

#[tokio::test]
async fn v1_creation_options_have_entras_shape() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let before = chrono::Utc::now();
    let v = creation_options(&sim, &t, "alice@contoso.test").await;
    assert!(v["@odata.context"].as_str().unwrap().ends_with("$metadata#microsoft.graph.webauthnCredentialCreationOptions"));
    assert!(v.get("value").is_none(), "top-level, not wrapped");
    let expires = chrono::DateTime::parse_from_rfc3339(v["challengeTimeoutDateTime"].as_str().unwrap()).unwrap();
    let minutes = (expires.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!((280..=305).contains(&minutes), "fixed 5 minutes, got {minutes}s");
    let pk = &v["publicKey"];
    assert_eq!(pk["rp"], json!({"id": "login.microsoft.com", "name": "Microsoft"}));
    assert_eq!(pk["timeout"], 60000);
    assert_eq!(pk["attestation"], "direct");
    assert_eq!(pk["pubKeyCredParams"], json!([{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}]));
    assert_eq!(pk["authenticatorSelection"], json!({"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"}));
    assert_eq!(
        pk["extensions"],
        json!({"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"})
    );
    let challenge = URL_SAFE_NO_PAD.decode(pk["challenge"].as_str().unwrap()).expect("base64url without padding");
    assert!(challenge.len() >= 1024, "opaque kB-sized challenge, got {}", challenge.len());
    let handle = URL_SAFE_NO_PAD.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
    assert!((32..=64).contains(&handle.len()));
    assert!(uuid::Uuid::from_slice(&handle).is_err() && !String::from_utf8_lossy(&handle).contains("alice"), "opaque handle");
    assert_eq!(pk["user"]["name"], "alice@contoso.test");
    assert_eq!(pk["user"]["displayName"], "Alice Anders");
    assert_eq!(pk["excludeCredentials"], json!([]));
    // The handle is stable per user, the challenge is fresh each time.
    let again = creation_options(&sim, &t, "alice@contoso.test").await;
    assert_eq!(again["publicKey"]["user"]["id"], pk["user"]["id"]);
    assert_ne!(again["publicKey"]["challenge"], pk["challenge"]);
}

#[tokio::test]
async fn challenge_timeout_rules_per_version() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let u = "bob@contoso.test";
    for suffix in ["(challengeTimeoutInMinutes=60)", "?challengeTimeoutInMinutes=60"] {
        let r = get(&options_url(&sim, "beta", u, suffix), &t).await;
        assert_eq!(r.status(), 200, "{suffix}");
        let v = json_of(r).await;
        let exp = chrono::DateTime::parse_from_rfc3339(v["challengeTimeoutDateTime"].as_str().unwrap()).unwrap();
        let mins = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
        assert!((58..=60).contains(&mins), "{suffix}: {mins}");
    }
    for bad in ["(challengeTimeoutInMinutes=4)", "?challengeTimeoutInMinutes=43201", "(challengeTimeoutInMinutes=abc)"] {
        let b = graph_error(get(&options_url(&sim, "beta", u, bad), &t).await, 400, "badRequest").await;
        assert_eq!(inner_code(&b), "challengeTimeoutOutOfRange", "{bad}");
    }
    assert_eq!(get(&options_url(&sim, "beta", u, "(challengeTimeoutInMinutes=43200)"), &t).await.status(), 200);
    // v1.0: rejected by default, ignored when switched.
    let b = graph_error(get(&options_url(&sim, "v1.0", u, "(challengeTimeoutInMinutes=10)"), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "challengeTimeoutNotSupported");
    let r = http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"v1_challenge_timeout": "ignore"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = json_of(get(&options_url(&sim, "v1.0", u, "?challengeTimeoutInMinutes=60"), &t).await).await;
    let exp = chrono::DateTime::parse_from_rfc3339(v["challengeTimeoutDateTime"].as_str().unwrap()).unwrap();
    assert!((exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() <= 5);
}

#[tokio::test]
async fn exclude_credentials_in_each_encoding() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let carol_cred = URL_SAFE_NO_PAD.decode("zRh6eeqe16VPVj2Sl_ovO28Jg_7yi5AZJMqnr_LR8huRrqbuUw0Xrz7NtH7MY-aw").unwrap();
    let v = creation_options(&sim, &t, "carol@contoso.test").await;
    let id = v["publicKey"]["excludeCredentials"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(v["publicKey"]["excludeCredentials"][0]["type"], "public-key");
    assert_eq!(STANDARD.decode(&id).unwrap(), carol_cred, "default: standard base64 with padding");
    assert!(id.contains('+') || id.contains('/'), "this id has characters that differ between alphabets: {id}");

    for (enc, check) in [
        ("base64_url", Box::new(|s: &str| URL_SAFE_NO_PAD.decode(s).ok()) as Box<dyn Fn(&str) -> Option<Vec<u8>>>),
        ("base64_url_padding_digit", Box::new(|s: &str| {
            let (body, digit) = s.split_at(s.len() - 1);
            assert_eq!(digit, "0", "48 bytes need no padding");
            URL_SAFE_NO_PAD.decode(body).ok()
        })),
    ] {
        http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"exclude_credentials_encoding": enc})).send().await.unwrap();
        let v = creation_options(&sim, &t, "carol@contoso.test").await;
        let id = v["publicKey"]["excludeCredentials"][0]["id"].as_str().unwrap();
        assert_eq!(check(id).unwrap(), carol_cred, "{enc}: {id}");
    }
}

#[tokio::test]
async fn creation_options_refused_when_policy_says_no() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let b = graph_error(get(&options_url(&sim, "v1.0", "oscar.outside@contoso.test", ""), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "userNotTargeted");
    let b = graph_error(get(&options_url(&sim, "v1.0", "bree.breakglass@contoso.test", ""), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "userNotTargeted", "exclusion wins");
    let b = graph_error(get(&options_url(&sim, "v1.0", "gina_fabrikam.test%23EXT%23@contoso.test", ""), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "guestUser");
    graph_error(get(&options_url(&sim, "v1.0", "nobody@contoso.test", ""), &t).await, 404, "Request_ResourceNotFound").await;

    http().patch(url(&sim, "/_sim/policies/fido2")).json(&json!({"isSelfServiceRegistrationAllowed": false})).send().await.unwrap();
    let b = graph_error(get(&options_url(&sim, "v1.0", "alice@contoso.test", ""), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "selfServiceRegistrationDisabled");
    http().patch(url(&sim, "/_sim/policies/fido2")).json(&json!({"state": "disabled", "isSelfServiceRegistrationAllowed": true})).send().await.unwrap();
    let b = graph_error(get(&options_url(&sim, "v1.0", "alice@contoso.test", ""), &t).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "fido2Disabled");
}

#[tokio::test]
async fn list_get_delete_methods() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let base = v1(&sim, "/users/kim@contoso.test/authentication/fido2Methods");
    let list = json_of(get(&base, &t).await).await;
    let items = list["value"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let m = &items[0];
    assert_eq!(m["displayName"], "Kim's first key");
    assert_eq!(m["aaGuid"], "ee882879-721c-4913-9775-3dfcce97072a");
    assert_eq!(m["model"], "YubiKey 5 Series");
    assert!(m.get("publicKeyCredential").is_none());
    let id = m["id"].as_str().unwrap();
    assert_eq!(json_of(get(&format!("{base}/{id}"), &t).await).await["id"], id);
    assert_eq!(http().delete(format!("{base}/{id}")).bearer_auth(&t).send().await.unwrap().status(), 204);
    graph_error(http().delete(format!("{base}/{id}")).bearer_auth(&t).send().await.unwrap(), 404, "itemNotFound").await;
    graph_error(get(&format!("{base}/{id}"), &t).await, 404, "itemNotFound").await;
    assert_eq!(json_of(get(&base, &t).await).await["value"], json!([]));

    // authentication/methods lists everything.
    let all = json_of(get(&v1(&sim, "/users/carol@contoso.test/authentication/methods"), &t).await).await;
    let types: Vec<&str> = all["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert!(types.contains(&"#microsoft.graph.passwordAuthenticationMethod"));
    assert!(types.contains(&"#microsoft.graph.fido2AuthenticationMethod"));
}
