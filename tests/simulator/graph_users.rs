//! Graph: bearer checks, permission checks, error shape and headers, users, $filter,
//! checkMemberGroups.
use super::support::*;
use serde_json::json;

#[tokio::test]
async fn missing_foreign_and_expired_tokens_get_401_with_www_authenticate() {
    let sim = sim().await;
    let r = http().get(v1(&sim, "/users/alice@contoso.test")).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer "));
    let b = graph_error(r, 401, "InvalidAuthenticationToken").await;
    assert_eq!(b["error"]["message"], "Access token is empty.");

    let other = super::support::sim().await;
    let foreign = station_token(&other).await;
    graph_error(get(&v1(&sim, "/users/alice@contoso.test"), &foreign).await, 401, "InvalidAuthenticationToken").await;
    graph_error(get(&v1(&sim, "/users/alice@contoso.test"), "garbage").await, 401, "InvalidAuthenticationToken").await;

    let t = station_token(&sim).await;
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test"), &t).await.status(), 200);
    sim.advance_clock(chrono::Duration::seconds(3600));
    let b = graph_error(get(&v1(&sim, "/users/alice@contoso.test"), &t).await, 401, "InvalidAuthenticationToken").await;
    assert_eq!(b["error"]["message"], "Access token has expired or is not yet valid.");
}

#[tokio::test]
async fn request_ids_are_sent_and_client_request_id_echoed() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let r = http().get(v1(&sim, "/users/alice@contoso.test")).bearer_auth(&t).header("client-request-id", "6f0e5b2a-1111-4222-8333-944455556666").send().await.unwrap();
    assert_eq!(r.headers()["client-request-id"], "6f0e5b2a-1111-4222-8333-944455556666");
    assert!(r.headers().get("request-id").is_some());
    let r = get(&v1(&sim, "/users/alice@contoso.test"), &t).await;
    assert_eq!(r.headers()["client-request-id"], r.headers()["request-id"], "without a client id the request id is reused");
    let r = http().get(v1(&sim, "/users/nobody@contoso.test")).bearer_auth(&t).header("client-request-id", "abc").send().await.unwrap();
    let b = graph_error(r, 404, "Request_ResourceNotFound").await;
    assert_eq!(b["error"]["innerError"]["client-request-id"], "abc");
    assert_eq!(b["error"]["message"], "Resource 'nobody@contoso.test' does not exist or one of its queried reference-property objects are not present.");
}

#[tokio::test]
async fn users_resolve_by_id_and_upn_in_every_documented_form() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let r = get(&v1(&sim, "/users/ALICE@Contoso.TEST"), &t).await;
    assert_eq!(r.status(), 200);
    let alice = json_of(r).await;
    assert_eq!(alice["userPrincipalName"], "alice@contoso.test");
    assert!(alice["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#users/$entity"));
    for k in ["businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"] {
        assert!(alice.get(k).is_some(), "default property {k}");
    }
    assert!(alice.get("userType").is_none(), "not in the default set");
    let id = alice["id"].as_str().unwrap();
    assert_eq!(json_of(get(&v1(&sim, &format!("/users/{id}")), &t).await).await["userPrincipalName"], "alice@contoso.test");

    // $select adds non-default properties.
    let v = json_of(get(&v1(&sim, "/users/alice@contoso.test?$select=id,userType,accountEnabled"), &t).await).await;
    assert_eq!(v["userType"], "Member");
    assert!(v.get("displayName").is_none());
    graph_error(get(&v1(&sim, "/users/alice@contoso.test?$select=shoeSize"), &t).await, 400, "Request_BadRequest").await;

    // UPN starting with '$': only through users('...').
    graph_error(get(&v1(&sim, "/users/$kiosk@contoso.test"), &t).await, 400, "BadRequest").await;
    let r = get(&v1(&sim, "/users('$kiosk@contoso.test')"), &t).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["displayName"], "Kiosk service account");
    let r = get(&v1(&sim, "/users('%24kiosk%40contoso.test')"), &t).await;
    assert_eq!(r.status(), 200);

    // Guest UPNs carry '#', which must travel as %23.
    let r = get(&v1(&sim, "/users/gina_fabrikam.test%23EXT%23@contoso.test?$select=userType"), &t).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["userType"], "Guest");

    graph_error(get(&v1(&sim, "/users/alice@contoso.test/nonsense"), &t).await, 400, "BadRequest").await;
    graph_error(get(&v1(&sim, "/groups"), &t).await, 400, "BadRequest").await;
    let r = http().delete(v1(&sim, "/users/alice@contoso.test")).bearer_auth(&t).send().await.unwrap();
    graph_error(r, 405, "BadRequest").await;
}

#[tokio::test]
async fn filter_by_upn_and_mail_with_quote_escaping() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let c = http();
    let q = |f: &str| c.get(v1(&sim, "/users")).query(&[("$filter", f)]).bearer_auth(&t).send();
    let v = json_of(q("userPrincipalName eq 'conor.o''brien@contoso.test'").await.unwrap()).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["value"][0]["displayName"], "Conor O'Brien");
    let v = json_of(q("mail eq 'GINA@fabrikam.test'").await.unwrap()).await;
    assert_eq!(v["value"][0]["displayName"], "Gina Guest (Fabrikam)");
    let v = json_of(q("mail eq 'nobody@contoso.test'").await.unwrap()).await;
    assert_eq!(v["value"], json!([]));
    graph_error(q("userPrincipalName eq 'unterminated").await.unwrap(), 400, "BadRequest").await;
    graph_error(q("shoeSize eq '42'").await.unwrap(), 400, "Request_BadRequest").await;

    // endswith is an advanced query.
    graph_error(q("endswith(mail,'@fabrikam.test')").await.unwrap(), 400, "Request_UnsupportedQuery").await;
    let r = c
        .get(v1(&sim, "/users"))
        .query(&[("$filter", "endswith(mail,'@fabrikam.test')"), ("$count", "true")])
        .header("ConsistencyLevel", "eventual")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let v = json_of(r).await;
    assert_eq!(v["@odata.count"], 1);

    let r = c.get(v1(&sim, "/users")).query(&[("$search", "\"displayName:Anders\"")]).bearer_auth(&t).send().await.unwrap();
    graph_error(r, 400, "Request_UnsupportedQuery").await;
    let r = c
        .get(v1(&sim, "/users"))
        .query(&[("$search", "\"displayName:anders\"")])
        .header("ConsistencyLevel", "eventual")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["value"][0]["userPrincipalName"], "alice@contoso.test");

    // Paging.
    let v = json_of(c.get(v1(&sim, "/users")).query(&[("$top", "3")]).bearer_auth(&t).send().await.unwrap()).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 3);
    let next = v["@odata.nextLink"].as_str().unwrap().to_string();
    let v2 = json_of(get(&next, &t).await).await;
    assert_ne!(v2["value"][0]["id"], v["value"][0]["id"]);
}

#[tokio::test]
async fn check_member_groups_is_transitive_and_limited_to_twenty() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let seed = keystation::entra::simulator::TenantSeed::builtin();
    let gid = |name: &str| seed.group_id(seed.groups.iter().find(|g| g.name == name).unwrap());
    let (pilot, helpdesk, glass) = (gid("FIDO2 Pilot"), gid("Helpdesk"), gid("Break Glass"));
    let r = http()
        .post(v1(&sim, "/users/dave@contoso.test/checkMemberGroups"))
        .bearer_auth(&t)
        .json(&json!({"groupIds": [pilot, helpdesk, glass]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    let got: Vec<&str> = v["value"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert!(got.contains(&pilot.as_str()), "nested Helpdesk ⊂ Pilot makes Dave a Pilot member: {v}");
    assert!(got.contains(&helpdesk.as_str()));
    assert!(!got.contains(&glass.as_str()));

    let many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let r = http().post(v1(&sim, "/users/dave@contoso.test/checkMemberGroups")).bearer_auth(&t).json(&json!({"groupIds": many})).send().await.unwrap();
    graph_error(r, 400, "Request_BadRequest").await;
}

#[tokio::test]
async fn permissions_and_directory_roles_are_enforced() {
    let sim = sim().await;
    // An app with only User.Read.All reads users but not authentication methods.
    let reader = app_token(&sim, READER_APP, READER_SECRET).await;
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test"), &reader).await.status(), 200);
    let b = graph_error(get(&v1(&sim, "/users/alice@contoso.test/authentication/fido2Methods"), &reader).await, 403, "accessDenied").await;
    assert_eq!(inner_code(&b), "missingPermission");
    graph_error(get(&v1(&sim, "/users/alice@contoso.test/authentication/temporaryAccessPassMethods"), &reader).await, 403, "accessDenied").await;
    let r = http().post(v1(&sim, "/users/alice@contoso.test/checkMemberGroups")).bearer_auth(&reader).json(&json!({"groupIds": []})).send().await.unwrap();
    graph_error(r, 403, "Authorization_RequestDenied").await;

    // The granular permissions of the certificate app are enough (table accepts both kinds).
    // Delegated: the role decides what the signed-in admin may do.
    let anna = admin_token(&sim, "anna.authadmin@contoso.test").await;
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test/authentication/fido2Methods"), &anna).await.status(), 200);
    let b = graph_error(get(&v1(&sim, "/users/gladys.admin@contoso.test/authentication/fido2Methods"), &anna).await, 403, "accessDenied").await;
    assert_eq!(inner_code(&b), "missingDirectoryRole", "an Authentication Administrator cannot manage administrators");
    let paul = admin_token(&sim, "paul.privauth@contoso.test").await;
    assert_eq!(get(&v1(&sim, "/users/gladys.admin@contoso.test/authentication/fido2Methods"), &paul).await.status(), 200);
    // Nobody issues a TAP for themselves.
    let r = http().post(v1(&sim, "/users/paul.privauth@contoso.test/authentication/temporaryAccessPassMethods")).bearer_auth(&paul).json(&json!({})).send().await.unwrap();
    graph_error(r, 403, "accessDenied").await;
    // A Global Reader reads but does not write.
    let rita = admin_token(&sim, "rita.reader@contoso.test").await;
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test/authentication/temporaryAccessPassMethods"), &rita).await.status(), 200);
    let r = http().post(v1(&sim, "/users/alice@contoso.test/authentication/temporaryAccessPassMethods")).bearer_auth(&rita).json(&json!({})).send().await.unwrap();
    graph_error(r, 403, "accessDenied").await;
    // A plain user has no role at all.
    let alice = admin_token(&sim, "alice@contoso.test").await;
    graph_error(get(&v1(&sim, "/users/bob@contoso.test/authentication/fido2Methods"), &alice).await, 403, "accessDenied").await;
    // /me needs a delegated token.
    let app = station_token(&sim).await;
    graph_error(get(&v1(&sim, "/me"), &app).await, 400, "BadRequest").await;
    assert_eq!(json_of(get(&v1(&sim, "/me"), &alice).await).await["userPrincipalName"], "alice@contoso.test");
}

#[tokio::test]
async fn the_permission_table_is_data() {
    // Tighten TAP writes to the granular permission only: the secret app (broad permission) is refused.
    let sim = sim_with(|c| c.behaviour.permissions.tap_write.application = vec!["UserAuthMethod-TAP.ReadWrite.All".into()]).await;
    let broad = station_token(&sim).await;
    let r = http().post(v1(&sim, "/users/alice@contoso.test/authentication/temporaryAccessPassMethods")).bearer_auth(&broad).json(&json!({})).send().await.unwrap();
    graph_error(r, 403, "accessDenied").await;
}
