//! Graph: authentication-methods policy GET and PATCH.
use super::support::*;
use serde_json::json;

fn config_url(sim: &keystation::entra::simulator::SimulatorHandle, which: &str) -> String {
    v1(sim, &format!("/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{which}"))
}

#[tokio::test]
async fn policies_read_with_their_fields() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let f = json_of(get(&config_url(&sim, "fido2"), &t).await).await;
    assert_eq!(f["@odata.type"], "#microsoft.graph.fido2AuthenticationMethodConfiguration");
    assert_eq!(f["id"], "Fido2");
    assert_eq!(f["state"], "enabled");
    assert_eq!(f["isSelfServiceRegistrationAllowed"], true);
    assert_eq!(f["isAttestationEnforced"], false);
    assert_eq!(f["keyRestrictions"], json!({"isEnforced": false, "enforcementType": "block", "aaGuids": []}));
    assert_eq!(f["includeTargets"][0]["targetType"], "group");
    assert!(uuid::Uuid::parse_str(f["includeTargets"][0]["id"].as_str().unwrap()).is_ok(), "group names resolve to ids");
    assert_eq!(f["includeTargets"][0]["isRegistrationRequired"], false);
    assert_eq!(f["excludeTargets"].as_array().unwrap().len(), 1);

    let tap = json_of(get(&config_url(&sim, "TemporaryAccessPass"), &t).await).await;
    assert_eq!(tap["id"], "TemporaryAccessPass");
    for (k, v) in [("defaultLifetimeInMinutes", 60), ("minimumLifetimeInMinutes", 60), ("maximumLifetimeInMinutes", 480), ("defaultLength", 8)] {
        assert_eq!(tap[k], v, "{k}");
    }
    assert_eq!(tap["isUsableOnce"], false);

    let root = json_of(get(&v1(&sim, "/policies/authenticationMethodsPolicy"), &t).await).await;
    assert_eq!(root["authenticationMethodConfigurations"].as_array().unwrap().len(), 2);
    graph_error(get(&config_url(&sim, "sms"), &t).await, 400, "BadRequest").await;
}

#[tokio::test]
async fn policy_patch_needs_write_permission_and_validates() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    // The station app reads policy but may not change it.
    let r = http().patch(config_url(&sim, "fido2")).bearer_auth(&t).json(&json!({"isAttestationEnforced": true})).send().await.unwrap();
    graph_error(r, 403, "accessDenied").await;
    // Delegated: Paul (Authentication Policy Administrator) with a write-capable token.
    let sim2 = sim_with(|c| {
        let op = c.tenant.apps.iter_mut().find(|a| a.client_id == OPERATOR_APP).unwrap();
        op.delegated_scopes.push("Policy.ReadWrite.AuthenticationMethod".into());
    })
    .await;
    let paul = admin_token(&sim2, "paul.privauth@contoso.test").await;
    let r = http().patch(config_url(&sim2, "fido2")).bearer_auth(&paul).json(&json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "isAttestationEnforced": true})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(json_of(get(&config_url(&sim2, "fido2"), &paul).await).await["isAttestationEnforced"], true);
    let r = http().patch(config_url(&sim2, "temporaryAccessPass")).bearer_auth(&paul).json(&json!({"minimumLifetimeInMinutes": 5})).send().await.unwrap();
    graph_error(r, 400, "badRequest").await;
    let r = http().patch(config_url(&sim2, "fido2")).bearer_auth(&paul).json(&json!({"noSuchProperty": 1})).send().await.unwrap();
    graph_error(r, 400, "badRequest").await;
    // Anna (Authentication Administrator) lacks a policy role.
    let anna = admin_token(&sim2, "anna.authadmin@contoso.test").await;
    let b = graph_error(get(&config_url(&sim2, "fido2"), &anna).await, 403, "accessDenied").await;
    assert_eq!(inner_code(&b), "missingDirectoryRole");
}

/// What doctor relies on: Graph answers carry the simulator clock as `Date`, and the
/// permissions granted to an app (consent) can be changed, affecting new tokens only.
#[tokio::test]
async fn graph_dates_follow_the_simulator_clock_and_consent_can_change() {
    let sim = sim().await;
    let token = app_token(&sim, SECRET_APP, SECRET).await;
    let date = |r: &reqwest::Response| chrono::DateTime::parse_from_rfc2822(r.headers()["date"].to_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
    let policy = v1(&sim, "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2");
    let r = http().get(&policy).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!((date(&r) - chrono::Utc::now()).num_seconds().abs() <= 2, "{:?}", r.headers()["date"]);
    sim.advance_clock(chrono::Duration::minutes(10));
    let r = http().get(&policy).bearer_auth(&token).send().await.unwrap();
    let ahead = (date(&r) - chrono::Utc::now()).num_seconds();
    assert!((598..=602).contains(&ahead), "Date is the simulator's clock: {ahead} s ahead");

    // Consent for the policy permission withdrawn: the old token keeps it, new ones do not.
    let r = http()
        .patch(url(&sim, &format!("/_sim/apps/{SECRET_APP}")))
        .json(&json!({"application_roles": ["User.Read.All"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(http().get(&policy).bearer_auth(&token).send().await.unwrap().status(), 200);
    let fresh = app_token(&sim, SECRET_APP, SECRET).await;
    let r = http().get(&policy).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let bad = http().patch(url(&sim, "/_sim/apps/not-an-app")).json(&json!({"application_roles": []})).send().await.unwrap();
    assert_eq!(bad.status(), 404);
    let unknown = http().patch(url(&sim, &format!("/_sim/apps/{SECRET_APP}"))).json(&json!({"secrets": []})).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
}
