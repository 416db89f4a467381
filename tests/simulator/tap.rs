//! Graph: Temporary Access Pass rules.
use super::support::*;
use keystation::entra::simulator::SimulatorHandle;
use serde_json::{json, Value};

fn taps(sim: &SimulatorHandle, user: &str) -> String {
    v1(sim, &format!("/users/{user}/authentication/temporaryAccessPassMethods"))
}

async fn create(sim: &SimulatorHandle, t: &str, user: &str, body: Value) -> reqwest::Response {
    http().post(taps(sim, user)).bearer_auth(t).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn create_returns_the_pass_once_and_replaces_the_old_one() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let r = create(&sim, &t, "alice@contoso.test", json!({"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod"})).await;
    assert_eq!(r.status(), 201);
    let first = json_of(r).await;
    let pass = first["temporaryAccessPass"].as_str().unwrap();
    assert_eq!(pass.len(), 8, "policy defaultLength");
    assert_eq!(first["lifetimeInMinutes"], 60, "policy default lifetime");
    assert_eq!(first["isUsableOnce"], false, "policy isUsableOnce when absent");
    assert_eq!(first["isUsable"], true);
    assert_eq!(first["methodUsabilityReason"], "EnabledByPolicy");
    assert!(first["@odata.context"].as_str().unwrap().contains("temporaryAccessPassMethods/$entity"));
    let id = first["id"].as_str().unwrap();

    let got = json_of(get(&format!("{}/{id}", taps(&sim, "alice@contoso.test")), &t).await).await;
    assert_eq!(got["temporaryAccessPass"], Value::Null, "the pass is only in the create response");
    assert_eq!(got["id"], id);

    let second = json_of(create(&sim, &t, "alice@contoso.test", json!({"lifetimeInMinutes": 120, "isUsableOnce": true})).await).await;
    assert_ne!(second["id"], first["id"]);
    let list = json_of(get(&taps(&sim, "alice@contoso.test"), &t).await).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "one pass per user: {list}");
    assert_eq!(list["value"][0]["id"], second["id"]);
    assert_eq!(list["value"][0]["temporaryAccessPass"], Value::Null);
    graph_error(get(&format!("{}/{id}", taps(&sim, "alice@contoso.test")), &t).await, 404, "itemNotFound").await;

    let sid = second["id"].as_str().unwrap();
    let r = http().delete(format!("{}/{sid}", taps(&sim, "alice@contoso.test"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(json_of(get(&taps(&sim, "alice@contoso.test"), &t).await).await["value"], json!([]));
    let r = http().delete(format!("{}/{sid}", taps(&sim, "alice@contoso.test"))).bearer_auth(&t).send().await.unwrap();
    graph_error(r, 404, "itemNotFound").await;
}

#[tokio::test]
async fn lifetime_bounds_and_one_time_rules() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    for bad in [59, 481, 10, 43200] {
        let b = graph_error(create(&sim, &t, "bob@contoso.test", json!({"lifetimeInMinutes": bad})).await, 400, "badRequest").await;
        assert_eq!(b["error"]["message"], "Invalid LifetimeInMinutes specified. The valid range between 60 and 480.");
    }
    assert_eq!(create(&sim, &t, "bob@contoso.test", json!({"lifetimeInMinutes": 480})).await.status(), 201);

    // Policy forcing one-time passes.
    let r = http()
        .patch(url(&sim, "/_sim/policies/temporaryAccessPass"))
        .json(&json!({"isUsableOnce": true, "minimumLifetimeInMinutes": 10, "defaultLifetimeInMinutes": 15, "defaultLength": 12}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let b = graph_error(create(&sim, &t, "bob@contoso.test", json!({"isUsableOnce": false})).await, 400, "badRequest").await;
    assert_eq!(inner_code(&b), "multiUseNotAllowed");
    let v = json_of(create(&sim, &t, "bob@contoso.test", json!({})).await).await;
    assert_eq!(v["isUsableOnce"], true);
    assert_eq!(v["lifetimeInMinutes"], 15);
    assert_eq!(v["temporaryAccessPass"].as_str().unwrap().len(), 12);
    assert_eq!(create(&sim, &t, "bob@contoso.test", json!({"lifetimeInMinutes": 10})).await.status(), 201);
}

#[tokio::test]
async fn policy_scope_and_guests_are_refused() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    for user in ["oscar.outside@contoso.test", "bree.breakglass@contoso.test"] {
        let b = graph_error(create(&sim, &t, user, json!({})).await, 400, "badRequest").await;
        assert_eq!(
            b["error"]["message"],
            "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].",
            "{user}"
        );
    }
    let b = graph_error(create(&sim, &t, "gina_fabrikam.test%23EXT%23@contoso.test", json!({})).await, 400, "badRequest").await;
    assert_eq!(b["error"]["message"], "Temporary Access Pass cannot be added to an external guest user.");
    graph_error(create(&sim, &t, "nobody@contoso.test", json!({})).await, 404, "Request_ResourceNotFound").await;
    // Nested group membership puts Dave in scope.
    assert_eq!(create(&sim, &t, "dave@contoso.test", json!({})).await.status(), 201);
    // Policy disabled: nobody.
    http().patch(url(&sim, "/_sim/policies/temporaryAccessPass")).json(&json!({"state": "disabled"})).send().await.unwrap();
    graph_error(create(&sim, &t, "alice@contoso.test", json!({})).await, 400, "badRequest").await;
    // Bad bodies.
    let r = http().post(taps(&sim, "alice@contoso.test")).bearer_auth(&t).body("{not json").header("content-type", "application/json").send().await.unwrap();
    graph_error(r, 400, "BadRequest").await;
}

#[tokio::test]
async fn usability_is_computed_from_time_and_use() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let start = (chrono::Utc::now() + chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let v = json_of(create(&sim, &t, "carol@contoso.test", json!({"startDateTime": start})).await).await;
    assert_eq!(v["isUsable"], false);
    assert_eq!(v["methodUsabilityReason"], "NotYetValid");
    graph_error(create(&sim, &t, "carol@contoso.test", json!({"startDateTime": "tomorrow"})).await, 400, "badRequest").await;

    let v = json_of(create(&sim, &t, "carol@contoso.test", json!({"lifetimeInMinutes": 60})).await).await;
    assert_eq!(v["methodUsabilityReason"], "EnabledByPolicy");
    sim.advance_clock(chrono::Duration::minutes(61));
    let t2 = station_token(&sim).await;
    let list = json_of(get(&taps(&sim, "carol@contoso.test"), &t2).await).await;
    assert_eq!(list["value"][0]["methodUsabilityReason"], "Expired");
    assert_eq!(list["value"][0]["isUsable"], false);

    // Policy scope removed after issuing: DisabledByPolicy.
    let v = json_of(create(&sim, &t2, "bob@contoso.test", json!({})).await).await;
    assert_eq!(v["isUsable"], true);
    http().patch(url(&sim, "/_sim/policies/temporaryAccessPass")).json(&json!({"state": "disabled"})).send().await.unwrap();
    let list = json_of(get(&taps(&sim, "bob@contoso.test"), &t2).await).await;
    assert_eq!(list["value"][0]["methodUsabilityReason"], "DisabledByPolicy");
}
