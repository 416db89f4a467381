//! Device authorization grant against the simulator: pending, approval, slow_down,
//! expiry, decline, unknown codes, cancellation.
use super::common::*;
use keystation::entra::oauth::{DeviceCode, DeviceCodeEvent, OAuthError, OAuthErrorKind, Scopes, TokenClaims};
use keystation::secret::SecretString;
use reqwest::Url;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use keystation::CancelToken;

fn delegated_scopes() -> Scopes {
    Scopes::parse("User.Read.All UserAuthenticationMethod.ReadWrite.All offline_access openid profile", &Url::parse("https://graph.microsoft.com").unwrap())
}

/// Events seen by a poller, shared with the test body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, e: &DeviceCodeEvent<'_>) {
        let text = match e {
            DeviceCodeEvent::Prompt(c) => format!("prompt {}", c.user_code),
            DeviceCodeEvent::Pending => "pending".into(),
            DeviceCodeEvent::SlowDown { interval } => format!("slow_down {}", interval.as_millis()),
        };
        self.0.lock().unwrap().push(text);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    async fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.all().iter().any(|e| e.starts_with(what)) {
            assert!(Instant::now() < deadline, "no '{what}' event; saw {:?}", self.all());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_then_approved_yields_delegated_tokens_with_refresh_token() {
    let sim = sim().await;
    let client = oauth(&sim, OPERATOR_APP);
    let code = client.request_device_code(&delegated_scopes()).await.unwrap();
    assert_eq!(code.interval, Duration::from_secs(1));
    assert!(code.verification_uri.ends_with("/devicelogin"), "{}", code.verification_uri);
    assert!(code.expires_at > chrono::Utc::now() + chrono::Duration::minutes(14));
    let seen = Seen::default();
    let poller = {
        let (client, code, seen) = (client.clone(), code.clone(), seen.clone());
        tokio::spawn(async move {
            let mut on_event = |e: DeviceCodeEvent<'_>| seen.push(&e);
            client.poll_device_code(&code, &mut on_event, &CancelToken::new()).await
        })
    };
    seen.wait_for("pending").await;
    sim.approve_device_code(&code.user_code, ADMIN).unwrap();
    let tokens = poller.await.unwrap().expect("approved sign-in gives tokens");
    assert!(tokens.refresh_token.is_some(), "offline_access gives a refresh token");
    let claims = tokens.claims().expect("simulator tokens are JWTs");
    assert_eq!(claims.account(), Some(ADMIN));
    assert_eq!(claims.tid.as_deref(), Some(sim.tenant_id()));
    assert!(claims.scopes().iter().any(|s| s == "User.Read.All"), "{:?}", claims.scopes());
    assert!(!claims.is_app_only());
    let id = tokens.id_claims().expect("openid gives an ID token");
    assert_eq!(id.preferred_username.as_deref(), Some(ADMIN));
    // Polls were spaced by at least the advertised interval.
    let polls: Vec<u64> = sim.requests(Some(&format!("/{}/oauth2/v2.0/token", sim.tenant_id()))).iter().map(|r| r.at_ms).collect();
    assert!(polls.len() >= 2, "{polls:?}");
    for w in polls.windows(2) {
        assert!(w[1] - w[0] >= 1000, "polled faster than the interval: {polls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_device_code_shows_the_prompt_first() {
    let sim = sim().await;
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let seen = Seen::default();
    let s2 = seen.clone();
    let mut on_event = move |e: DeviceCodeEvent<'_>| s2.push(&e);
    let tokens = oauth(&sim, OPERATOR_APP).sign_in_with_device_code(&delegated_scopes(), &mut on_event, &CancelToken::new()).await.unwrap();
    assert!(seen.all()[0].starts_with("prompt "), "{:?}", seen.all());
    assert_eq!(TokenClaims::peek(tokens.access_token.expose()).unwrap().account(), Some(ADMIN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_adds_five_seconds_to_the_interval() {
    let sim = sim().await;
    // Get a real device code, then poll it faster (200 ms) than the service wants (1 s).
    keystation::entra::tls::ensure_crypto_provider();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url(&sim.device_code_endpoint()))
        .form(&[("client_id", OPERATOR_APP), ("scope", "https://graph.microsoft.com/User.Read.All offline_access")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = answer["user_code"].as_str().unwrap().to_string();
    let code = DeviceCode::resume(
        SecretString::new(answer["device_code"].as_str().unwrap()),
        user_code.clone(),
        answer["verification_uri"].as_str().unwrap().to_string(),
        chrono::Utc::now() + chrono::Duration::minutes(10),
        Duration::from_millis(200),
    );
    let client = oauth(&sim, OPERATOR_APP);
    let seen = Seen::default();
    let poller = {
        let (client, code, seen) = (client.clone(), code.clone(), seen.clone());
        tokio::spawn(async move {
            let mut on_event = |e: DeviceCodeEvent<'_>| seen.push(&e);
            client.poll_device_code(&code, &mut on_event, &CancelToken::new()).await
        })
    };
    seen.wait_for("slow_down").await;
    // With the slower interval the client is compliant again: the next poll is an
    // ordinary "pending", not another slow_down.
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.all().iter().filter(|e| *e == "pending").count() < 2 {
        assert!(Instant::now() < deadline, "{:?}", seen.all());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.approve_device_code(&user_code, ADMIN).unwrap();
    poller.await.unwrap().expect("signed in after slowing down");
    assert_eq!(seen.all(), vec!["pending", "slow_down 5200", "pending"], "exactly one slow_down");
    let polls: Vec<(u64, Option<u16>)> =
        sim.requests(Some(&format!("/{}/oauth2/v2.0/token", sim.tenant_id()))).iter().map(|r| (r.at_ms, r.status)).collect();
    assert_eq!(polls.len(), 4, "pending, slow_down, pending, success: {polls:?}");
    for w in polls[1..].windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= 5200, "after slow_down every poll must wait interval + 5 s, waited {gap} ms: {polls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_device_code_ends_the_wait() {
    let sim = sim().await;
    let client = oauth(&sim, OPERATOR_APP);
    let code = client.request_device_code(&delegated_scopes()).await.unwrap();
    sim.advance_clock(chrono::Duration::minutes(16));
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let err = client.poll_device_code(&code, &mut ignore, &CancelToken::new()).await.unwrap_err();
    assert!(matches!(err, OAuthError::DeviceCodeExpired), "{err:?}");
    assert!(err.to_string().contains("run the login again"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_sign_in_is_reported_with_a_hint() {
    let sim = sim().await;
    let client = oauth(&sim, OPERATOR_APP);
    let code = client.request_device_code(&delegated_scopes()).await.unwrap();
    let status = control(&sim, reqwest::Method::POST, "device-codes/decline", serde_json::json!({"user_code": code.user_code})).await;
    assert!(status.is_success(), "{status}");
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let err = client.poll_device_code(&code, &mut ignore, &CancelToken::new()).await.unwrap_err();
    assert_eq!(err.kind(), Some(OAuthErrorKind::AuthorizationDeclined), "{err:?}");
    assert!(err.to_string().contains("declined"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_device_code_is_bad_verification_code() {
    let sim = sim().await;
    let code = DeviceCode::resume(
        SecretString::new("not-a-device-code"),
        "XXXX".into(),
        "http://x".into(),
        chrono::Utc::now() + chrono::Duration::minutes(5),
        Duration::from_millis(200),
    );
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let err = oauth(&sim, OPERATOR_APP).poll_device_code(&code, &mut ignore, &CancelToken::new()).await.unwrap_err();
    assert_eq!(err.kind(), Some(OAuthErrorKind::BadVerificationCode), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_wait_promptly() {
    let sim = sim().await;
    let client = oauth(&sim, OPERATOR_APP);
    let code = client.request_device_code(&delegated_scopes()).await.unwrap();
    let cancel = CancelToken::new();
    let seen = Seen::default();
    let poller = {
        let (client, code, seen, cancel) = (client.clone(), code.clone(), seen.clone(), cancel.clone());
        tokio::spawn(async move {
            let mut on_event = |e: DeviceCodeEvent<'_>| seen.push(&e);
            client.poll_device_code(&code, &mut on_event, &cancel).await
        })
    };
    seen.wait_for("pending").await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let err = poller.await.unwrap().unwrap_err();
    assert!(matches!(err, OAuthError::Cancelled), "{err:?}");
    assert!(cancelled_at.elapsed() < Duration::from_millis(500), "cancel took {:?}", cancelled_at.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_on_a_confidential_app_names_the_portal_switch() {
    let sim = sim().await;
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let err = oauth(&sim, SECRET_APP).sign_in_with_device_code(&delegated_scopes(), &mut ignore, &CancelToken::new()).await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("Allow public client flows"), "{shown}");
}
