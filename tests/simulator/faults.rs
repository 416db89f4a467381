//! Fault injection and the request log.
use super::support::*;
use keystation::entra::simulator::{FaultConfig, FaultKind, FaultRule};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn rule(kind: FaultKind, target: &str, f: impl FnOnce(&mut FaultRule)) -> FaultRule {
    let mut r = FaultRule::new(kind, target);
    f(&mut r);
    r
}

#[tokio::test]
async fn throttling_at_the_configured_rate_with_retry_after_and_varying_codes() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    sim.set_faults(FaultConfig { seed: 7, rules: vec![rule(FaultKind::Throttle, "graph", |r| { r.rate = 0.3; r.retry_after_secs = Some(2); })] }).unwrap();
    let c = http();
    let mut throttled = 0;
    let mut codes = std::collections::HashSet::new();
    for _ in 0..200 {
        let r = c.get(v1(&sim, "/users/alice@contoso.test")).bearer_auth(&t).send().await.unwrap();
        if r.status() == 429 {
            throttled += 1;
            assert_eq!(r.headers()["retry-after"], "2");
            assert!(r.headers().get("request-id").is_some());
            let b = json_of(r).await;
            codes.insert(b["error"]["code"].as_str().unwrap().to_string());
            assert!(b["error"]["innerError"]["request-id"].is_string());
        } else {
            assert_eq!(r.status(), 200);
        }
    }
    assert!((35..=85).contains(&throttled), "rate 0.3 of 200 gave {throttled}");
    assert_eq!(codes, ["TooManyRequests", "activityLimitReached"].iter().map(|s| s.to_string()).collect(), "the code varies");
    let v = json_of(http().get(url(&sim, "/_sim/faults")).send().await.unwrap()).await;
    assert_eq!(v["injected"], json!([throttled]));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    async fn run(seed: u64) -> Vec<u16> {
        let sim = sim().await;
        let t = station_token(&sim).await;
        sim.set_faults(FaultConfig { seed, rules: vec![rule(FaultKind::Unavailable, "/v1.0/users", |r| r.rate = 0.5)] }).unwrap();
        let mut out = vec![];
        for _ in 0..40 {
            out.push(get(&v1(&sim, "/users/bob@contoso.test"), &t).await.status().as_u16());
        }
        out
    }
    let a = run(99).await;
    assert_eq!(a, run(99).await);
    assert_ne!(a, run(100).await);
    assert!(a.contains(&503) && a.contains(&200));
}

#[tokio::test]
async fn retry_after_can_be_absent_and_5xx_kinds_are_shaped() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    sim.set_faults(FaultConfig {
        seed: 1,
        rules: vec![
            rule(FaultKind::Throttle, "graph", |r| { r.times = Some(1); r.retry_after_secs = Some(5); r.retry_after_absent_rate = 1.0; r.codes = vec!["throttledRequest".into()]; }),
            rule(FaultKind::Unavailable, "graph", |r| { r.times = Some(1); r.retry_after_secs = Some(3); }),
            rule(FaultKind::Unavailable, "graph", |r| r.times = Some(1)),
            rule(FaultKind::GatewayTimeout, "graph", |r| r.times = Some(1)),
        ],
    })
    .unwrap();
    let u = v1(&sim, "/users/alice@contoso.test");
    let r = get(&u, &t).await;
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(graph_error(r, 429, "throttledRequest").await["error"]["code"], "throttledRequest");
    let r = get(&u, &t).await;
    assert_eq!(r.headers()["retry-after"], "3");
    graph_error(r, 503, "serviceNotAvailable").await;
    let r = get(&u, &t).await;
    assert!(r.headers().get("retry-after").is_none());
    graph_error(r, 503, "serviceNotAvailable").await;
    graph_error(get(&u, &t).await, 504, "gatewayTimeout").await;
    assert_eq!(get(&u, &t).await.status(), 200);
}

#[tokio::test]
async fn token_endpoint_faults_have_the_identity_platform_shape() {
    let sim = sim().await;
    sim.set_faults(FaultConfig { seed: 0, rules: vec![rule(FaultKind::Throttle, "token", |r| { r.times = Some(1); r.retry_after_secs = Some(4); })] }).unwrap();
    let r = http()
        .post(token_url(&sim))
        .form(&[("grant_type", "client_credentials"), ("client_id", SECRET_APP), ("client_secret", SECRET), ("scope", GRAPH_DEFAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "4");
    let b = json_of(r).await;
    assert_eq!(b["error"], "temporarily_unavailable");
    assert!(b["error_codes"].is_array() && b["trace_id"].is_string() && b["correlation_id"].is_string());
    // Graph is untouched by a token rule.
    let t = station_token(&sim).await;
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test"), &t).await.status(), 200);
}

#[tokio::test]
async fn dropped_connections_really_drop() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    sim.set_faults(FaultConfig { seed: 0, rules: vec![rule(FaultKind::Drop, "graph", |r| r.times = Some(1))] }).unwrap();
    let c = http_fresh();
    let err = c.get(v1(&sim, "/users/alice@contoso.test")).bearer_auth(&t).send().await.expect_err("no response");
    assert!(!err.is_status() && !err.is_timeout(), "a transport error, not an HTTP status: {err:?}");
    assert_eq!(c.get(v1(&sim, "/users/alice@contoso.test")).bearer_auth(&t).send().await.unwrap().status(), 200);
    let log = sim.requests(Some("/v1.0/users"));
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].fault.as_deref(), Some("drop"));
    assert_eq!(log[1].status, Some(200));
}

#[tokio::test]
async fn latency_delays_the_response() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    sim.set_faults(FaultConfig { seed: 0, rules: vec![rule(FaultKind::Latency, "graph", |r| { r.millis = 300; r.method = Some("GET".into()); })] }).unwrap();
    let started = Instant::now();
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test"), &t).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.requests(Some("/v1.0/")).last().unwrap().fault.as_deref(), Some("latency"));
}

#[tokio::test]
async fn faults_and_the_log_over_http() {
    let sim = sim().await;
    let t = station_token(&sim).await;
    let c = http();
    let r = c
        .post(url(&sim, "/_sim/faults"))
        .json(&json!({"kind": "throttle", "target": "/v1.0/users/bob", "times": 1, "retry_after_secs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(url(&sim, "/_sim/faults")).json(&json!({"kind": "explode"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(json_of(r).await["error"].as_str().unwrap().contains("throttle"), "the error lists the valid kinds");
    c.delete(url(&sim, "/_sim/requests")).send().await.unwrap();

    // A client that honours Retry-After: the log shows the wait.
    let first = get(&v1(&sim, "/users/bob@contoso.test"), &t).await;
    assert_eq!(first.status(), 429);
    let wait: u64 = first.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(get(&v1(&sim, "/users/bob@contoso.test"), &t).await.status(), 200);
    let log: Value = json_of(c.get(url(&sim, "/_sim/requests?path_prefix=/v1.0/users/bob")).send().await.unwrap()).await;
    assert_eq!(log["count"], 2);
    let (a, b) = (&log["requests"][0], &log["requests"][1]);
    assert_eq!(a["status"], 429);
    assert_eq!(a["fault"], "throttle");
    assert!(b["at_ms"].as_u64().unwrap() - a["at_ms"].as_u64().unwrap() >= 1000, "{log}");
    assert!(b["seq"].as_u64() > a["seq"].as_u64());
    assert!(a["at"].is_string());

    let r = c.delete(url(&sim, "/_sim/faults")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let v = json_of(c.get(url(&sim, "/_sim/faults")).send().await.unwrap()).await;
    assert_eq!(v["config"]["rules"], json!([]));
    // Control requests are never logged.
    let log: Value = json_of(c.get(url(&sim, "/_sim/requests?path_prefix=/_sim")).send().await.unwrap()).await;
    assert_eq!(log["count"], 0);
}
