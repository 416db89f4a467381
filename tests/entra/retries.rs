//! Retries on 429/503/504 and dropped connections, on Graph and on the token endpoint:
//! Retry-After honoured exactly (never sooner), computed back-off otherwise, the same
//! client-request-id across attempts, and no replay of a POST that may have been processed.
use super::common::*;
use keystation::entra::graph::{GraphErrorKind, TapRequest};
use keystation::entra::oauth::ClientCredential;
use keystation::entra::simulator::{FaultConfig, FaultKind, FaultRule, SimulatorHandle};
use keystation::secret::SecretString;
use std::time::{Duration, Instant};

fn rule(kind: FaultKind, target: &str, times: Option<u32>, retry_after: Option<u64>) -> FaultRule {
    let mut r = FaultRule::new(kind, target);
    r.times = times;
    r.retry_after_secs = retry_after;
    r
}

fn faults(sim: &SimulatorHandle, rules: Vec<FaultRule>) {
    sim.set_faults(FaultConfig { seed: 7, rules }).unwrap();
}

/// (arrival ms, status, fault, client-request-id) of one logged request.
type Logged = (u64, Option<u16>, Option<String>, Option<String>);

/// The requests under `prefix`.
fn log(sim: &SimulatorHandle, prefix: &str) -> Vec<Logged> {
    sim.requests(Some(prefix)).into_iter().map(|r| (r.at_ms, r.status, r.fault, r.client_request_id)).collect()
}

#[tokio::test]
async fn a_429_storm_succeeds_after_the_advertised_waits_and_no_sooner() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap(); // token acquired, connection warm
    let mut storm = rule(FaultKind::Throttle, "/v1.0/users", Some(3), Some(1));
    storm.codes = vec!["TooManyRequests".into(), "activityLimitReached".into()];
    faults(&sim, vec![storm]);
    sim.clear_requests();
    let started = Instant::now();
    let user = graph.get_user("bob@contoso.test").await.expect("succeeds after the storm");
    let elapsed = started.elapsed();
    assert_eq!(user.user_principal_name.as_deref(), Some("bob@contoso.test"));
    let calls = log(&sim, "/v1.0/users");
    assert_eq!(calls.iter().map(|c| c.1).collect::<Vec<_>>(), vec![Some(429), Some(429), Some(429), Some(200)], "{calls:?}");
    for w in calls.windows(2) {
        assert!(w[1].0 - w[0].0 >= 1000, "retried sooner than Retry-After: {calls:?}");
    }
    assert!(elapsed >= Duration::from_secs(3), "three 1 s waits, took {elapsed:?}");
    let ids: std::collections::HashSet<_> = calls.iter().map(|c| c.3.clone()).collect();
    assert_eq!(ids.len(), 1, "one logical call keeps its client-request-id: {calls:?}");
    // The next logical call gets a fresh one.
    graph.get_user("bob@contoso.test").await.unwrap();
    let next = log(&sim, "/v1.0/users").last().unwrap().3.clone();
    assert!(!ids.contains(&next));
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off_and_gives_up_after_max_attempts() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap();
    faults(&sim, vec![rule(FaultKind::Throttle, "/v1.0/users", Some(2), None)]);
    sim.clear_requests();
    graph.get_user("alice@contoso.test").await.expect("computed back-off, then success");
    assert_eq!(log(&sim, "/v1.0/users").len(), 3);
    // Endless throttling: exactly max_attempts tries, then a Throttled error.
    faults(&sim, vec![rule(FaultKind::Throttle, "/v1.0/users", None, Some(0))]);
    sim.clear_requests();
    let e = graph.get_user("alice@contoso.test").await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Throttled, "{e:?}");
    assert_eq!(e.status, Some(429));
    assert_eq!(log(&sim, "/v1.0/users").len(), fast_retry().max_attempts as usize);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_limit_is_not_sat_through() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap();
    faults(&sim, vec![rule(FaultKind::Throttle, "/v1.0/users", None, Some(120))]);
    sim.clear_requests();
    let started = Instant::now();
    let e = graph.get_user("alice@contoso.test").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(e.kind, GraphErrorKind::Throttled);
    assert_eq!(e.retry_after, Some(Duration::from_secs(120)));
    assert!(e.hint().contains("wait 120 s"), "{}", e.hint());
    assert_eq!(log(&sim, "/v1.0/users").len(), 1);
}

#[tokio::test]
async fn a_503_on_a_post_is_retried_after_retry_after_because_it_was_not_processed() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap();
    let mut r = rule(FaultKind::Unavailable, "/v1.0/users", Some(1), Some(1));
    r.method = Some("POST".into());
    faults(&sim, vec![r]);
    sim.clear_requests();
    let tap = graph.create_tap("alice@contoso.test", &TapRequest::default()).await.expect("retried after the 503");
    assert!(tap.pass.is_some());
    let calls = log(&sim, "/v1.0/users");
    assert_eq!(calls.iter().map(|c| c.1).collect::<Vec<_>>(), vec![Some(503), Some(201)]);
    assert!(calls[1].0 - calls[0].0 >= 1000, "{calls:?}");
}

#[tokio::test]
async fn a_504_is_retried_for_reads_but_not_for_a_tap_create() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap();
    faults(&sim, vec![rule(FaultKind::GatewayTimeout, "/v1.0/users", Some(2), None)]);
    sim.clear_requests();
    graph.list_taps("alice@contoso.test").await.expect("GET retried after 504s");
    assert_eq!(log(&sim, "/v1.0/users").len(), 3);
    let mut r = rule(FaultKind::GatewayTimeout, "/v1.0/users", Some(1), None);
    r.method = Some("POST".into());
    faults(&sim, vec![r]);
    sim.clear_requests();
    let e = graph.create_tap("alice@contoso.test", &TapRequest::default()).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::ServiceUnavailable, "{e:?}");
    assert_eq!(e.status, Some(504));
    assert_eq!(log(&sim, "/v1.0/users").len(), 1, "a 504 POST may have been processed: not replayed");
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_reads_but_not_for_a_registration_post() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    graph.get_user("alice@contoso.test").await.unwrap();
    faults(&sim, vec![rule(FaultKind::Drop, "/v1.0/users", Some(1), None)]);
    sim.clear_requests();
    graph.get_user("carol@contoso.test").await.expect("GET retried after a drop");
    let calls = log(&sim, "/v1.0/users");
    assert_eq!(calls.iter().map(|c| c.1).collect::<Vec<_>>(), vec![None, Some(200)], "{calls:?}");
    // Registration: the options come through, the POST is dropped once and not replayed.
    let options = graph.fido2_creation_options("bob@contoso.test", None).await.unwrap();
    let mut r = rule(FaultKind::Drop, "/v1.0/users", Some(1), None);
    r.method = Some("POST".into());
    faults(&sim, vec![r]);
    sim.clear_requests();
    let e = graph.register_fido2_method("bob@contoso.test", &super::attest::register(&options.public_key, "Bob")).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Transport, "{e:?}");
    assert!(e.client_request_id.is_some());
    assert_eq!(log(&sim, "/v1.0/users").len(), 1);
}

#[tokio::test]
async fn the_token_endpoint_honours_retry_after_and_survives_a_drop() {
    let sim = sim().await;
    faults(&sim, vec![rule(FaultKind::Throttle, "token", Some(2), Some(1))]);
    let started = Instant::now();
    let client = oauth(&sim, SECRET_APP);
    client.client_credentials(&ClientCredential::Secret(SecretString::new(SECRET)), &graph_default_scope(&sim)).await.expect("after two 429s");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let path = format!("/{}/oauth2/v2.0/token", sim.tenant_id());
    let calls = log(&sim, &path);
    assert_eq!(calls.iter().map(|c| c.1).collect::<Vec<_>>(), vec![Some(429), Some(429), Some(200)]);
    for w in calls.windows(2) {
        assert!(w[1].0 - w[0].0 >= 1000, "{calls:?}");
    }
    faults(&sim, vec![rule(FaultKind::Drop, "token", Some(1), None)]);
    sim.clear_requests();
    client.client_credentials(&ClientCredential::Secret(SecretString::new(SECRET)), &graph_default_scope(&sim)).await.expect("after a drop");
    assert_eq!(log(&sim, &path).len(), 2);
}
