//! 401 and 403 handling: missing, foreign and expired tokens, renewal after a 401,
//! missing permissions and admin roles, and what the errors carry.
use super::common::*;
use keystation::entra::graph::{GraphErrorKind, TapRequest};
use keystation::entra::oauth::{DeviceCodeEvent, Scopes, StaticToken};
use keystation::secret::SecretString;
use reqwest::Url;
use std::sync::Arc;
use keystation::CancelToken;

#[tokio::test]
async fn no_token_and_a_foreign_token_are_unauthenticated() {
    let sim = sim().await;
    for token in ["", "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJ4In0.c2ln"] {
        let e = graph_static(&sim, token).get_user("alice@contoso.test").await.unwrap_err();
        assert_eq!(e.kind, GraphErrorKind::Unauthenticated, "{token:?}: {e:?}");
        assert_eq!(e.status, Some(401));
        assert_eq!(e.code.as_deref(), Some("InvalidAuthenticationToken"));
        assert!(e.hint().contains("keystation login"), "{}", e.hint());
    }
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated_and_a_renewable_provider_recovers() {
    let sim = sim().await;
    let token = app_token(&sim, SECRET_APP, SECRET).await.access_token;
    let fixed = graph_with(&sim, Arc::new(StaticToken::new(token.clone())));
    fixed.get_user("alice@contoso.test").await.unwrap();
    let renewing = graph_app(&sim);
    renewing.get_user("alice@contoso.test").await.unwrap();
    sim.advance_clock(chrono::Duration::hours(2));
    let e = fixed.get_user("alice@contoso.test").await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Unauthenticated, "{e:?}");
    assert!(!e.to_string().contains(token.expose()), "the token never appears in errors");
    // The client-credentials provider takes a new token after the 401 and repeats the call
    // under the same client-request-id.
    sim.clear_requests();
    renewing.get_user("alice@contoso.test").await.expect("renewed after 401");
    let graph_calls: Vec<_> = sim.requests(Some("/v1.0/users")).into_iter().map(|r| (r.status, r.client_request_id)).collect();
    assert_eq!(graph_calls.len(), 2, "{graph_calls:?}");
    assert_eq!(graph_calls[0].0, Some(401));
    assert_eq!(graph_calls[1].0, Some(200));
    assert_eq!(graph_calls[0].1, graph_calls[1].1, "same logical call, same client-request-id");
}

#[tokio::test]
async fn missing_application_permissions_name_the_permission_to_grant() {
    let sim = sim().await;
    let token = app_token(&sim, READER_APP, READER_SECRET).await.access_token;
    let graph = graph_with(&sim, Arc::new(StaticToken::new(token)));
    graph.get_user("alice@contoso.test").await.expect("User.Read.All is enough for users");
    let e = graph.create_tap("alice@contoso.test", &TapRequest::default()).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::MissingPermission, "{e:?}");
    assert_eq!(e.status, Some(403));
    assert_eq!(e.token_permissions.as_deref(), Some(&["User.Read.All".to_string()][..]));
    let hint = e.hint();
    assert!(hint.contains("UserAuthMethod-TAP.ReadWrite.All") && hint.contains("admin consent"), "{hint}");
    let shown = e.to_string();
    assert!(shown.contains(e.request_id.as_deref().unwrap()) && shown.contains(e.client_request_id.as_deref().unwrap()), "{shown}");
    // The id we sent is the one the service saw.
    let logged = sim.requests(Some("/v1.0/users")).into_iter().filter(|r| r.status == Some(403)).map(|r| r.client_request_id).next().unwrap();
    assert_eq!(logged.as_deref(), e.client_request_id.as_deref());
    let e = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap_err();
    assert!(e.hint().contains("UserAuthMethod-Passkey.ReadWrite.All"), "{}", e.hint());
    let e = graph.fido2_policy().await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::MissingPermission);
    assert!(e.hint().contains("Policy.Read.AuthenticationMethod"), "{}", e.hint());
}

#[tokio::test]
async fn a_delegated_admin_without_the_role_is_told_which_role_is_needed() {
    let sim = sim().await;
    sim.set_auto_approve(true, Some("rita.reader@contoso.test")).unwrap();
    let scopes = Scopes::parse("User.Read.All UserAuthenticationMethod.ReadWrite.All offline_access", &Url::parse("https://graph.microsoft.com").unwrap());
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let tokens = oauth(&sim, OPERATOR_APP).sign_in_with_device_code(&scopes, &mut ignore, &CancelToken::new()).await.unwrap();
    let graph = graph_with(&sim, Arc::new(StaticToken::new(tokens.access_token.clone())));
    let e = graph.create_tap("alice@contoso.test", &TapRequest::default()).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::MissingPermission, "{e:?}");
    assert!(e.hint().contains("Authentication Administrator"), "{}", e.hint());
    // The same call with an admin who holds the role works.
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let tokens = oauth(&sim, OPERATOR_APP).sign_in_with_device_code(&scopes, &mut ignore, &CancelToken::new()).await.unwrap();
    let graph = graph_with(&sim, Arc::new(StaticToken::new(SecretString::new(tokens.access_token.expose()))));
    graph.create_tap("alice@contoso.test", &TapRequest::default()).await.unwrap();
}
