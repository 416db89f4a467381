//! The console's security rules over HTTP, as an attacker's requests would hit them: no
//! session → 401; another Host or Origin (DNS rebinding, cross-site requests) → refused;
//! no CSRF token → refused; the CSP and no-store headers on every answer; a desk screen
//! locked to the desk; guesses throttled; a network address only with HTTPS and a
//! password.
use super::support::{http, secret_file, sign_in_http, Shared, World};
use keystation::console::headers::CSP;
use keystation::console::ConsoleOptions;
use reqwest::StatusCode;

pub async fn no_session_is_401(_: Shared) {
    let w = World::new(0, &[], |_, _| {}).await;
    let c = http();
    let base = w.base();
    for page in ["/", "/desk", "/hub", "/journal"] {
        let r = c.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{page}");
        assert!(r.text().await.unwrap().contains("/assets/login.js"), "{page} answers with the sign-in page");
    }
    for api in ["/api/session", "/api/hub/state", "/api/desk/state", "/api/journal/jobs", "/api/journal/export?format=csv", "/api/hub/events"] {
        let r = c.get(format!("{base}{api}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{api}");
    }
    let r = c.post(format!("{base}/api/desk/open")).header("Origin", &base).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A forged session id or a wrong token is no better.
    let r = c.get(format!("{base}/api/hub/state")).header("Cookie", format!("keystation_session_{}=forged", w.console.addr().port())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.post(format!("{base}/api/session")).header("Origin", &base).json(&serde_json::json!({"token": "guessed"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Assets are public: they hold no secret.
    assert_eq!(c.get(format!("{base}/assets/common.js")).send().await.unwrap().status(), StatusCode::OK);
    // With the token, a session.
    let (cookie, _) = sign_in_http(&w).await;
    assert!(cookie.starts_with(&format!("keystation_session_{}=", w.console.addr().port())));
    assert_eq!(c.get(format!("{base}/api/hub/state")).header("Cookie", &cookie).send().await.unwrap().status(), StatusCode::OK);
    w.stop().await;
}

pub async fn foreign_host_or_origin_is_refused(_: Shared) {
    let w = World::new(0, &[], |_, _| {}).await;
    let (cookie, csrf) = sign_in_http(&w).await;
    let c = http();
    let base = w.base();
    let port = w.console.addr().port();
    // DNS rebinding: the browser sends the attacker's host name.
    for host in [format!("evil.example:{port}"), format!("127.0.0.1.evil.example:{port}"), "127.0.0.1:1".to_string(), String::new()] {
        let r = c.get(format!("{base}/api/hub/state")).header("Host", &host).header("Cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "Host {host:?}");
        let r = c.get(format!("{base}/assets/common.js")).header("Host", &host).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "assets for Host {host:?}");
    }
    assert_eq!(c.get(format!("{base}/api/hub/state")).header("Host", format!("localhost:{port}")).header("Cookie", &cookie).send().await.unwrap().status(), StatusCode::OK);
    // Another site's page making requests.
    for origin in ["http://evil.example", "null", &format!("http://127.0.0.1:{}", port + 1), &format!("https://127.0.0.1:{port}")] {
        let r = c.post(format!("{base}/api/desk/restart")).header("Origin", origin).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST from {origin}");
        let r = c.get(format!("{base}/api/journal/jobs")).header("Origin", origin).header("Cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "GET from {origin}");
    }
    let r = c.get(format!("{base}/api/journal/jobs")).header("Sec-Fetch-Site", "cross-site").header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a cross-site fetch");
    let r = c.post(format!("{base}/api/desk/restart")).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a change without an Origin");
    let r = c.post(format!("{base}/api/desk/restart")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the console's own origin");
    w.stop().await;
}

pub async fn csrf_is_required(_: Shared) {
    let w = World::new(0, &[], |_, _| {}).await;
    let (cookie, csrf) = sign_in_http(&w).await;
    let c = http();
    let base = w.base();
    for path in ["/api/desk/open", "/api/desk/close", "/api/desk/restart", "/api/hub/stop", "/api/hub/batch?name=u.csv", "/api/session/logout", "/api/desk/slip", "/api/journal/jobs/0e5c/retry", "/api/journal/jobs/0e5c/resolve"] {
        let r = c.post(format!("{base}{path}")).header("Origin", &base).header("Cookie", &cookie).body("upn\nalice@contoso.test\n").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} without a CSRF token");
        let r = c.post(format!("{base}{path}")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", "not-the-token").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with a wrong CSRF token");
    }
    // Another session's token does not work either.
    let (_, other_csrf) = sign_in_http(&w).await;
    let r = c.post(format!("{base}/api/hub/stop")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &other_csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(format!("{base}/api/hub/stop")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "with the token the request is taken (and no batch runs)");
    w.stop().await;
}

pub async fn headers_on_every_answer(_: Shared) {
    let w = World::new(0, &[], |_, _| {}).await;
    let (cookie, _) = sign_in_http(&w).await;
    let c = http();
    let base = w.base();
    let port = w.console.addr().port();
    let answers = vec![
        c.get(format!("{base}/hub")).header("Cookie", &cookie).send().await.unwrap(),
        c.get(format!("{base}/hub")).send().await.unwrap(),
        c.get(format!("{base}/assets/desk.js")).send().await.unwrap(),
        c.get(format!("{base}/nothing-here")).header("Cookie", &cookie).send().await.unwrap(),
        c.get(format!("{base}/api/hub/state")).header("Host", format!("evil.example:{port}")).send().await.unwrap(),
        c.post(format!("{base}/api/desk/restart")).header("Origin", "http://evil.example").send().await.unwrap(),
        c.get(format!("{base}/api/journal/export?format=csv")).header("Cookie", &cookie).send().await.unwrap(),
        c.get(format!("{base}/api/desk/events")).header("Cookie", &cookie).send().await.unwrap(),
    ];
    for r in answers {
        let h = r.headers();
        let what = format!("{} {}", r.url().path(), r.status());
        assert_eq!(h.get("content-security-policy").and_then(|v| v.to_str().ok()), Some(CSP), "{what}");
        assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe-inline") && CSP.contains("default-src 'none'"));
        assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{what}");
        assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"), "{what}");
        assert_eq!(h.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"), "{what}");
    }
    w.stop().await;
}

pub async fn desk_lock_and_guessing(_: Shared) {
    let w = World::new(0, &[], |o, dir| {
        o.secrets.operator_pin = Some(keystation::console::options::read_secret("console.operator_pin_file", &secret_file(dir, "pin", "5U8T4W2R")).unwrap());
    })
    .await;
    let (cookie, csrf) = sign_in_http(&w).await;
    let c = http();
    let base = w.base();
    let post = |path: &str| c.post(format!("{base}{path}")).header("Origin", &base).header("Cookie", &cookie).header("X-CSRF-Token", &csrf);
    assert_eq!(post("/api/desk/open").send().await.unwrap().status(), StatusCode::OK);
    // Locked to the desk.
    assert_eq!(c.get(format!("{base}/api/journal/jobs")).header("Cookie", &cookie).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(c.get(format!("{base}/api/journal/export")).header("Cookie", &cookie).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post("/api/journal/jobs/0e5c/resolve").json(&serde_json::json!({"note": "x"})).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post("/api/hub/batch?name=u.csv").body("upn\nalice@contoso.test\n").send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post("/api/desk/close").send().await.unwrap().status(), StatusCode::FORBIDDEN, "only the operator closes the desk");
    let r = c.get(format!("{base}/journal")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!((r.status(), r.headers().get("location").map(|l| l.to_str().unwrap().to_string())), (StatusCode::SEE_OTHER, Some("/desk".into())));
    assert_eq!(c.get(format!("{base}/api/desk/state")).header("Cookie", &cookie).send().await.unwrap().status(), StatusCode::OK);
    // `quit` typed at the desk does not close it.
    post("/api/desk/user").json(&serde_json::json!({"user": "quit"})).send().await.unwrap();
    assert_eq!(w.console.activity(), keystation::console::ActivityKind::Desk);
    // Guessing the operator PIN: after five wrong ones even the right one waits.
    for _ in 0..keystation::console::auth::MAX_FAILURES {
        let r = post("/api/desk/exit").json(&serde_json::json!({"pin": "0000"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = post("/api/desk/exit").json(&serde_json::json!({"pin": "5U8T4W2R"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Too many wrong attempts"));
    // The launch link still makes an operator session (the operator's way back).
    let (operator, _) = sign_in_http(&w).await;
    assert_eq!(c.get(format!("{base}/api/journal/jobs")).header("Cookie", &operator).send().await.unwrap().status(), StatusCode::OK);
    w.stop().await;
}

pub async fn network_needs_tls_and_password(_: Shared) {
    // A network address without HTTPS and a password: the console does not start.
    let tenant = keystation::station::demo::SimulatedTenant::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = keystation::key::virtual_key::VirtualHub::new();
    let sources = keystation::key::sources::KeySources::virtual_hub(hub.clone());
    let station = tenant.open_station(dir.path(), &Default::default(), Some(sources.clone()), |_| {}).await.unwrap();
    let mut open = ConsoleOptions::loopback(dir.path());
    open.listen = "0.0.0.0:0".parse().unwrap();
    let e = keystation::console::start(station.clone(), sources.clone(), open).await.unwrap_err();
    assert!(e.to_string().contains("HTTPS and an operator password"), "{e}");

    // HTTPS with a password (on loopback here, so the test needs no network).
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("console.crt"), dir.path().join("console.key"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let mut tls = ConsoleOptions::loopback(dir.path());
    tls.tls = Some(keystation::console::TlsFiles { certificate: cert_file, private_key: key_file });
    tls.secrets.password = Some(keystation::console::options::read_secret("console.password_file", &secret_file(dir.path(), "pw", "correct horse battery")).unwrap());
    let console = keystation::console::start(station, sources, tls).await.unwrap();
    let port = console.addr().port();
    let base = format!("https://localhost:{port}");
    assert!(console.base_url().starts_with("https://"), "{}", console.base_url());
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let c = reqwest::Client::builder().tls_certs_only(vec![root]).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = c.get(format!("{base}/hub")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("strict-transport-security").is_some());
    let r = c.post(format!("{base}/api/session")).header("Origin", &base).json(&serde_json::json!({"password": "wrong"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.post(format!("{base}/api/session")).header("Origin", &base).json(&serde_json::json!({"password": "correct horse battery"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    // Plain HTTP to the HTTPS port gets nothing.
    assert!(!http().get(format!("http://localhost:{port}/hub")).send().await.map(|r| r.status().is_success()).unwrap_or(false));
    console.shutdown().await;
}
