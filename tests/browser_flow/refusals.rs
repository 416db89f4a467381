//! What the pages refuse and what keystation refuses: a wrong TAP, a foreign rp.id, an
//! origin that cannot claim its rp.id, a journal that cannot write, a page that never
//! asks for a credential. The key is never touched in any of them. (Expired and blocked
//! passes, key limit, MFA, proof-up and key model: `drift.rs`.)
use super::support::{Env, Recorder, env, env_with, test_key};
use keystation::ceremony::CeremonyError;
use keystation::ceremony::browser::{BrowserTarget, Flow, FlowVars};
use keystation::key::virtual_key::Touch;
use keystation::secret::SecretString;

/// Run one registration that must fail; returns the error and whether the key saw any
/// report during it.
async fn refused(env: &Env, upn: &str, tap: Option<SecretString>, observer: &Recorder) -> (CeremonyError, bool, keystation::ceremony::RegistrationRequest) {
    let key = test_key(Touch::Instant).await;
    let request = match tap {
        Some(t) => env.request_with_tap(upn, "Refused key", t).await,
        None => env.request(upn, "Refused key", false).await,
    };
    let before = key.key.counters().reports_in;
    let err = env.register(&key, &request, observer).await.expect_err("must be refused");
    let touched = key.key.counters().reports_in != before;
    (err, touched, request)
}

fn page_code(e: &CeremonyError) -> &str {
    match e {
        CeremonyError::Page { code, .. } => code,
        other => panic!("expected a page error, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_tap_is_a_clear_page_error_with_evidence() {
    let Some(env) = env("wrong_tap_is_a_clear_page_error_with_evidence").await else { return };
    env.sim.issue_tap("bob@contoso.test", 60, false).unwrap();
    let observer = Recorder::default();
    let (err, touched, request) = refused(&env, "bob@contoso.test", Some(SecretString::new("WRONG-pass-1")), &observer).await;
    assert_eq!(page_code(&err), "TapInvalid");
    assert!(err.to_string().contains("Temporary Access Pass was not accepted"), "{err}");
    assert!(err.to_string().contains("could not be found or verified"), "the page's own text is kept: {err}");
    assert!(!touched, "the key was used");
    assert!(observer.events().iter().all(|e| e.starts_with("progress")), "no journal step: {:?}", observer.events());
    // Evidence: the step log and a screenshot per step up to the failure.
    let files = Env::evidence_files(&request);
    assert!(files.contains(&"browser-steps.json".to_string()), "{files:?}");
    assert!(files.contains(&"failure.png".to_string()), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("-username.png")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("-access-pass.png")), "{files:?}");
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(request.evidence_dir.as_ref().unwrap().join("browser-steps.json")).unwrap()).unwrap();
    assert_eq!(log["error_code"], "TapInvalid");
    assert_eq!(log["flow"], "simulator");
    let text = log.to_string();
    assert!(!text.contains("WRONG-pass-1"), "the TAP leaked into the log");
    assert!(text.contains("$tap"));
    let png = std::fs::read(request.evidence_dir.as_ref().unwrap().join("failure.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    env.close().await;
}

#[tokio::test]
async fn foreign_rp_id_is_refused_before_the_key() {
    // A registrar whose allow-list lacks the simulator's login host: the simulator's
    // ceremony asks for rp.id "localhost", which keystation was not configured for.
    let Some(env) = env_with("foreign_rp_id_is_refused_before_the_key", |_, target| {
        target.rp_ids = vec!["login.microsoft.com".into()];
    })
    .await
    else {
        return;
    };
    let observer = Recorder::default();
    let (err, touched, _) = refused(&env, "alice@contoso.test", None, &observer).await;
    match &err {
        CeremonyError::Policy(m) => assert!(m.contains("\"localhost\"") && m.contains("allow-list"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!touched, "the key was used for a foreign rp.id");
    assert!(!observer.events().contains(&"before_make_credential".to_string()), "the journal was asked to record a key operation");
    env.close().await;
}

/// A page on `localhost` asking for a credential for `login.microsoft.com`.
const MISMATCH_PAGE: &str = r#"<!DOCTYPE html><html><body><p id="status">asking</p><script>
navigator.credentials.create({ publicKey: {
  rp: { id: "login.microsoft.com", name: "Microsoft" },
  user: { id: new Uint8Array(16), name: "alice@contoso.test", displayName: "Alice" },
  challenge: new Uint8Array(32), pubKeyCredParams: [{ type: "public-key", alg: -7 }] } })
  .then(() => { document.getElementById('status').textContent = 'created'; },
        (e) => { document.getElementById('status').textContent = e.name; });
</script></body></html>"#;

const MISMATCH_FLOW: &str = r##"
format = 2
name = "mismatch-test"
version = "1"
start_url = "$portal/mismatch"
[[page]]
id = "mismatch"
when = { css = "#status" }
do = [{ expect_create = true }]
[[page]]
id = "end"
requires = "created"
when = { css = "#status" }
do = [{ finish = true }]
"##;

#[tokio::test]
async fn origin_that_cannot_claim_the_rp_id_is_refused() {
    let app = axum::Router::new().route("/mismatch", axum::routing::get(|| async { axum::response::Html(MISMATCH_PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(axum::serve(listener, app.clone()).into_future());
    // Chromium may try ::1 first for localhost.
    if let Ok(v6) = tokio::net::TcpListener::bind(("::1", port)).await {
        tokio::spawn(axum::serve(v6, app).into_future());
    }
    let base = format!("http://localhost:{port}");
    let Some(env) = env_with("origin_that_cannot_claim_the_rp_id_is_refused", |_, target| {
        *target = BrowserTarget {
            flow: Flow::parse(MISMATCH_FLOW, "test").unwrap(),
            vars: FlowVars { portal: base.clone(), login: base.clone(), tenant: "t".into() },
            rp_ids: vec!["login.microsoft.com".into(), "localhost".into()],
        };
    })
    .await
    else {
        return;
    };
    let observer = Recorder::default();
    let (err, touched, _) = refused(&env, "alice@contoso.test", None, &observer).await;
    match &err {
        CeremonyError::Policy(m) => assert!(m.contains("login.microsoft.com") && m.contains("does not belong to"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!touched);
    env.close().await;
}

#[tokio::test]
async fn journal_refusal_stops_before_the_key() {
    let Some(env) = env("journal_refusal_stops_before_the_key").await else { return };
    let observer = Recorder { refuse_make: true, ..Default::default() };
    let (err, touched, _) = refused(&env, "alice@contoso.test", None, &observer).await;
    match &err {
        CeremonyError::Journal(m) => assert_eq!(m, "disk full"),
        other => panic!("{other:?}"),
    }
    assert!(!touched, "the key was used although the journal refused");
    assert!(env.methods("alice@contoso.test").await.is_empty());
    // Refused at submit: the key made a credential, the page never received it.
    let observer = Recorder { refuse_submit: true, ..Default::default() };
    let key = test_key(Touch::Instant).await;
    let request = env.request("bob@contoso.test", "Bob key", false).await;
    let err = env.register(&key, &request, &observer).await.expect_err("refused at submit");
    assert!(matches!(err, CeremonyError::Journal(_)), "{err:?}");
    assert!(env.methods("bob@contoso.test").await.is_empty(), "submitted although the journal refused");
    env.close().await;
}

#[tokio::test]
async fn stuck_detector_reports_where_the_flow_stopped() {
    // A flow whose picker never presses Next: the page never asks for a credential.
    let flow = keystation::ceremony::browser::flow::SIMULATOR_FLOW
        .replace("  { click = [{ role = \"button\", name = \"Next\" }, { css = \"[role=dialog] .ms-Button--primary\" }] },\n", "")
        .replace("ceremony_start_s = 30", "ceremony_start_s = 3");
    assert!(flow.contains("ceremony_start_s = 3\n"));
    let flow = Flow::parse(&flow, "stuck test").unwrap();
    let picker = flow.pages.iter().find(|p| p.id == "method-picker").unwrap();
    assert_eq!(picker.actions.len(), 4, "the test flow still presses Next");
    let Some(env) = env_with("stuck_detector_reports_where_the_flow_stopped", |_, t| t.flow = flow).await else { return };
    let observer = Recorder::default();
    let (err, touched, request) = refused(&env, "alice@contoso.test", None, &observer).await;
    match &err {
        CeremonyError::Browser { message, missing_component: false } => {
            assert!(message.contains("stuck") && message.contains("did not ask for a credential within 3 s"), "{message}");
            assert!(message.contains("/security-info") && message.contains("Security info"), "says where it is: {message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!touched);
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(request.evidence_dir.as_ref().unwrap().join("browser-steps.json")).unwrap()).unwrap();
    assert_eq!(log["error_code"], "Stuck");
    assert!(Env::evidence_files(&request).contains(&"failure.png".to_string()));
    env.close().await;
}
