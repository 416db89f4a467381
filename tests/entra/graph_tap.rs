//! Temporary Access Pass create/list/get/delete and the TAP policy refusals.
use super::common::*;
use keystation::entra::graph::{GraphErrorKind, PolicyState, TapRequest};

#[tokio::test]
async fn create_list_get_delete() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let policy = graph.tap_policy().await.unwrap();
    assert_eq!(policy.state, PolicyState::Enabled);
    assert_eq!(policy.lifetime_bounds(), (60, 480));
    let tap = graph.create_tap("alice@contoso.test", &TapRequest { lifetime_minutes: Some(90), usable_once: Some(true), start: None }).await.unwrap();
    let pass = tap.pass.clone().expect("the pass comes back from create");
    assert_eq!(pass.len() as u32, policy.default_length.unwrap_or(8));
    assert_eq!(tap.lifetime_minutes, Some(90));
    assert_eq!(tap.usable_once, Some(true));
    assert_eq!(tap.is_usable, Some(true));
    assert!(!format!("{tap:?}").contains(pass.expose()), "Debug must not show the pass");
    let listed = graph.list_taps("alice@contoso.test").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, tap.id);
    assert!(listed[0].pass.is_none(), "the pass is only returned once");
    let got = graph.get_tap("alice@contoso.test", &tap.id).await.unwrap();
    assert_eq!(got.expires_at(), tap.expires_at());
    // A new pass replaces the old one.
    let second = graph.create_tap("alice@contoso.test", &TapRequest::default()).await.unwrap();
    assert_eq!(second.lifetime_minutes, policy.default_lifetime_in_minutes);
    let listed = graph.list_taps("alice@contoso.test").await.unwrap();
    assert_eq!(listed.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), vec![second.id.clone()]);
    graph.delete_tap("alice@contoso.test", &second.id).await.unwrap();
    assert!(graph.list_taps("alice@contoso.test").await.unwrap().is_empty());
    let gone = graph.get_tap("alice@contoso.test", &second.id).await.unwrap_err();
    assert_eq!(gone.kind, GraphErrorKind::MethodNotFound, "{gone:?}");
}

#[tokio::test]
async fn a_future_start_is_not_yet_usable() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let tap = graph.create_tap("bob@contoso.test", &TapRequest { start: Some(start), lifetime_minutes: Some(60), usable_once: None }).await.unwrap();
    assert_eq!(tap.is_usable, Some(false));
    assert_eq!(tap.usability_reason.as_deref(), Some("NotYetValid"));
    assert_eq!(tap.start.map(|s| s.timestamp()), Some(start.timestamp()));
}

#[tokio::test]
async fn lifetime_outside_the_policy_shows_the_bounds() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let e = graph.create_tap("alice@contoso.test", &TapRequest { lifetime_minutes: Some(30), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::TapLifetimeOutOfBounds { min: Some(60), max: Some(480) }, "{e:?}");
    assert_eq!(e.status, Some(400));
    assert!(e.is_policy_refusal());
    assert!(e.hint().contains("between 60 and 480"), "{}", e.hint());
    assert!(e.to_string().contains("request-id"), "{e}");
    // Beyond Entra's absolute range we refuse before sending.
    let before = sim.requests(None).len();
    let e = graph.create_tap("alice@contoso.test", &TapRequest { lifetime_minutes: Some(5), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::InvalidInput);
    assert_eq!(sim.requests(None).len(), before);
}

#[tokio::test]
async fn users_outside_the_policy_and_guests_are_refused() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    for user in ["oscar.outside@contoso.test", "bree.breakglass@contoso.test", "gina_fabrikam.test#EXT#@contoso.test"] {
        let e = graph.create_tap(user, &TapRequest::default()).await.unwrap_err();
        assert_eq!(e.kind, GraphErrorKind::UserOutsidePolicy, "{user}: {e:?}");
        assert!(e.hint().contains("Temporary Access Pass policy"), "{}", e.hint());
    }
}

#[tokio::test]
async fn a_one_time_only_policy_refuses_multi_use_passes() {
    let sim = sim_with(|c| c.tenant.policies.temporary_access_pass.usable_once = true).await;
    let graph = graph_app(&sim);
    let e = graph.create_tap("alice@contoso.test", &TapRequest { usable_once: Some(false), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::TapOneTimeOnly, "{e:?}");
    assert!(graph.create_tap("alice@contoso.test", &TapRequest { usable_once: Some(true), ..Default::default() }).await.is_ok());
}

#[tokio::test]
async fn tap_unknown_user_is_user_not_found() {
    let sim = sim().await;
    let e = graph_app(&sim).create_tap("ghost@contoso.test", &TapRequest::default()).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::UserNotFound, "{e:?}");
}
