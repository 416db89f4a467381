//! User look-up by id, UPN (including `$`, `#` and `'`), mail and `$filter`, and
//! checkMemberGroups with chunking.
use super::common::*;
use keystation::entra::graph::{GraphErrorKind, UserProperty};

#[tokio::test]
async fn users_by_upn_id_and_mail() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let alice = graph.get_user("alice@contoso.test").await.unwrap();
    assert_eq!(alice.user_principal_name.as_deref(), Some("alice@contoso.test"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Anders"));
    assert_eq!(alice.user_type.as_deref(), Some("Member"));
    let by_id = graph.get_user(&alice.id).await.unwrap();
    assert_eq!(by_id, alice);
    // UPN lookup is case-insensitive.
    assert_eq!(graph.get_user("ALICE@contoso.test").await.unwrap().id, alice.id);
    // A guest found by mail (no UPN matches the mail address).
    let gina = graph.resolve_user("gina@fabrikam.test").await.unwrap();
    assert!(gina.is_guest(), "{gina:?}");
    assert_eq!(graph.find_user_by_mail("gina@fabrikam.test").await.unwrap().id, gina.id);
    // resolve_user prefers the UPN.
    assert_eq!(graph.resolve_user(" alice@contoso.test ").await.unwrap().id, alice.id);
}

#[tokio::test]
async fn awkward_upns_are_encoded_correctly() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    for upn in ["$kiosk@contoso.test", "gina_fabrikam.test#EXT#@contoso.test", "conor.o'brien@contoso.test"] {
        let u = graph.get_user(upn).await.unwrap_or_else(|e| panic!("{upn}: {e}"));
        assert_eq!(u.user_principal_name.as_deref(), Some(upn));
    }
    let paths: Vec<String> = sim.requests(Some("/v1.0/users")).iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p.starts_with("/v1.0/users('$kiosk@contoso.test')")), "{paths:?}");
    // The filter escapes quotes by doubling them.
    let found = graph.find_users_by(UserProperty::UserPrincipalName, "conor.o'brien@contoso.test").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].display_name.as_deref(), Some("Conor O'Brien"));
    let logged = sim.requests(Some("/v1.0/users")).into_iter().filter_map(|r| r.query).find(|q| q.contains("filter")).unwrap();
    // (the URL parser percent-encodes quotes in query strings; Graph decodes them)
    assert!(logged.contains("o''brien") || logged.contains("o%27%27brien"), "quote doubled in {logged}");
}

#[tokio::test]
async fn unknown_users_are_user_not_found_with_a_hint() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let e = graph.get_user("nobody@contoso.test").await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::UserNotFound);
    assert_eq!(e.status, Some(404));
    assert_eq!(e.code.as_deref(), Some("Request_ResourceNotFound"));
    assert!(e.request_id.is_some() && e.client_request_id.is_some(), "{e:?}");
    assert!(e.hint().contains("nobody@contoso.test"), "{}", e.hint());
    let e = graph.resolve_user("nobody@contoso.test").await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::UserNotFound);
    let e = graph.find_user_by_mail("nobody@nowhere.test").await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::UserNotFound);
}

#[tokio::test]
async fn check_member_groups_is_transitive_and_chunked_by_twenty() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let policy = graph.tap_policy().await.unwrap();
    let pilot = policy.include_targets[0].id.clone();
    let break_glass = policy.exclude_targets[0].id.clone();
    // 25 ids: two calls of 20 and 5.
    let mut ids: Vec<String> = (0..23).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    ids.push(pilot.clone());
    ids.push(break_glass.clone());
    sim.clear_requests();
    let alice = graph.check_member_groups("alice@contoso.test", &ids).await.unwrap();
    assert_eq!(alice, vec![pilot.clone()]);
    let calls = sim.requests(None).into_iter().filter(|r| r.path.ends_with("/checkMemberGroups")).count();
    assert_eq!(calls, 2);
    // Dave is in Helpdesk, which is nested in the pilot group.
    assert_eq!(graph.check_member_groups("dave@contoso.test", &ids).await.unwrap(), vec![pilot.clone()]);
    let mut bree = graph.check_member_groups("bree.breakglass@contoso.test", &ids).await.unwrap();
    bree.sort();
    let mut want = vec![pilot, break_glass];
    want.sort();
    assert_eq!(bree, want);
    assert!(graph.check_member_groups("oscar.outside@contoso.test", &ids).await.unwrap().is_empty());
    assert!(graph.check_member_groups("alice@contoso.test", &[]).await.unwrap().is_empty());
}
