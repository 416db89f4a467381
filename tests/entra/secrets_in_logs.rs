//! Every log line of a full run (device-code sign-in with refresh, client-secret
//! sign-in, TAP create, creation options, registration POST) captured at trace level:
//! no access token, refresh token, TAP or client secret may appear in it.
use super::common::*;
use super::logcapture;
use keystation::entra::graph::TapRequest;
use keystation::entra::oauth::{ClientCredential, DeviceCodeEvent, Scopes, StaticToken};
use keystation::secret::SecretString;
use reqwest::Url;
use std::sync::Arc;
use keystation::CancelToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let logs = logcapture::install();
    let sim = sim().await;
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let mut secrets: Vec<String> = vec![SECRET.to_string()];

    // Delegated sign-in and a refresh.
    let operator = oauth(&sim, OPERATOR_APP);
    let scopes = Scopes::parse("User.Read.All UserAuthenticationMethod.ReadWrite.All offline_access openid", &Url::parse("https://graph.microsoft.com").unwrap());
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let first = operator.sign_in_with_device_code(&scopes, &mut ignore, &CancelToken::new()).await.unwrap();
    let second = operator.refresh(first.refresh_token.as_ref().unwrap(), Some(&scopes), None).await.unwrap();
    for t in [&first, &second] {
        secrets.push(t.access_token.expose().to_string());
        secrets.push(t.refresh_token.as_ref().unwrap().expose().to_string());
    }

    // App-only sign-in with the secret, then the whole provisioning path.
    let app = app_token(&sim, SECRET_APP, SECRET).await;
    secrets.push(app.access_token.expose().to_string());
    let graph = graph_with(&sim, Arc::new(StaticToken::new(app.access_token.clone())));
    let tap = graph.create_tap("alice@contoso.test", &TapRequest { lifetime_minutes: Some(60), usable_once: Some(true), start: None }).await.unwrap();
    let pass = tap.pass.clone().unwrap();
    secrets.push(pass.expose().to_string());
    let options = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap();
    let method = graph.register_fido2_method("alice@contoso.test", &super::attest::register(&options.public_key, "log test key")).await.unwrap();
    // A failing call too: errors are logged as well.
    let failure = graph_with(&sim, Arc::new(StaticToken::new(second.access_token.clone()))).create_tap("oscar.outside@contoso.test", &TapRequest::default()).await.unwrap_err();
    // And an operator-side client with the secret that fails authentication.
    let _ = oauth(&sim, SECRET_APP).client_credentials(&ClientCredential::Secret(SecretString::new(format!("{SECRET}-wrong"))), &graph_default_scope(&sim)).await;

    let text = logs.text();
    assert!(text.contains("client_request_id") && text.contains("graph.fido2.register"), "the capture must hold this run's logs:\n{text}");
    for s in &secrets {
        assert!(s.len() >= 8, "secret too short to check meaningfully");
        assert!(!text.contains(s.as_str()), "a secret leaked into the logs (first chars {:?})", &s[..4]);
        for shown in [format!("{tap:?}"), format!("{method:?}"), format!("{failure:?}"), failure.to_string(), format!("{first:?}"), format!("{app:?}")] {
            assert!(!shown.contains(s.as_str()), "a secret leaked into Debug/Display output");
        }
    }
}
