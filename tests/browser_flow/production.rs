//! The production flow in CI: the built-in `microsoft` flow, unchanged, against the
//! simulator's pages served over HTTPS as `login.microsoftonline.com`,
//! `mysignins.microsoft.com` and `login.microsoft.com` (Chromium maps those names to the
//! simulator and trusts only its key; rp.id `login.microsoft.com`; Graph goes to the
//! simulator as usual) — on the 2026 and 2023 pages and under every drift switch, in one
//! warm browser: known variants complete on their own, refusals are named, an unknown
//! interstitial ends in the manual mode within the flow's stated time, a late TAP is
//! waited for with the real backoff. No variant registers a key twice.
use super::support::{Env, Recorder, TestKey, production_env as env_with, test_key};
use keystation::ceremony::browser::BudgetOverrides;
use keystation::ceremony::{CeremonyError, Registered};
use keystation::entra::simulator::{Behaviour, PageLocale, ProofUpDrift, SecurityInfoUi};
use keystation::key::virtual_key::Touch;
use std::time::{Duration, Instant};

/// One registration under the current switches; checks it happened exactly once.
async fn registers_once(env: &Env, upn: &str, name: &str) -> Result<(Registered, Recorder), CeremonyError> {
    let key: TestKey = test_key(Touch::Instant).await;
    let before = env.methods(upn).await.len();
    let request = env.request(upn, name, true).await;
    let observer = Recorder::default();
    let reg = env.register(&key, &request, &observer).await?;
    let after = env.methods(upn).await;
    assert_eq!(after.len(), before + 1, "{name}: one new method for {upn}");
    assert!(after.iter().any(|m| m.id == reg.method_id && m.display_name.as_deref() == Some(name)), "{name}: {after:?}");
    let makes = observer.events().iter().filter(|e| *e == "before_make_credential").count();
    assert_eq!(makes, 1, "{name}: the key was asked for {makes} credentials");
    Ok((reg, observer))
}

fn reset(env: &Env, f: impl FnOnce(&mut Behaviour)) {
    env.sim.update_behaviour(|b| {
        let permissions = b.permissions.clone();
        *b = Behaviour { permissions, device_code_interval_secs: 0, ..Behaviour::default() };
        f(b);
    });
}

#[tokio::test]
async fn known_variants_complete_automatically() {
    let Some(env) = env_with("known_variants_complete_automatically", |c, _| {
        // Short restart waits here; `a_late_tap_is_waited_for_with_the_real_backoff`
        // keeps the flow's own.
        c.budget = BudgetOverrides { restart_backoff: Some(vec![Duration::from_millis(400)]), ..Default::default() };
    })
    .await
    else {
        return;
    };
    type Switch = fn(&mut Behaviour);
    let variants: Vec<(&str, Switch)> = vec![
        ("2026 UI", |_| {}),
        ("2023 UI, KMSI No type=button", |b| {
            b.security_info_ui = SecurityInfoUi::Ui2023;
            b.kmsi_no_is_button = true;
        }),
        ("interrupts in random order, KMSI No type=button", |b| {
            b.interrupts_random_order = true;
            b.kmsi_no_is_button = true;
        }),
        ("Passkey behind Show more options", |b| b.passkey_behind_show_more = true),
        ("skippable proof-up", |b| b.proof_up = ProofUpDrift::Skippable),
        ("de-DE", |b| {
            b.page_locale = PageLocale::DeDe;
            b.passkey_behind_show_more = true;
        }),
        ("TAP behind Other ways", |b| b.tap_behind_other_ways = true),
        ("TAP 2 s late", |b| b.tap_sign_in_delay_secs = 2),
    ];
    let users = ["alice@contoso.test", "bob@contoso.test", "dave@contoso.test"];
    for (i, (name, switch)) in variants.into_iter().enumerate() {
        reset(&env, switch);
        let t = Instant::now();
        let (_, observer) = registers_once(&env, users[i % users.len()], &format!("Drift {}", i + 1)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("figure: variant {name:?} registered in {:.2} s", t.elapsed().as_secs_f64());
        if name.starts_with("TAP 2 s") {
            assert!(observer.events().iter().any(|e| e.contains("does not offer the Temporary Access Pass yet")), "{name}: no restart: {:?}", observer.events());
        }
    }
    let stats = env.registrar.stats();
    assert_eq!(stats.cold, 1, "one warm browser for all variants: {stats:?}");
    // The production flow, as built into keystation, under the production host names.
    let target = env.registrar.resolve_target().await.unwrap();
    assert_eq!(target.flow, keystation::ceremony::browser::Flow::builtin(keystation::ceremony::browser::BuiltinFlow::Microsoft));
    assert_eq!(target.rp_ids, vec!["login.microsoft.com".to_string()]);
    assert_eq!(target.start_url(), "https://mysignins.microsoft.com/security-info");
    let signins: Vec<_> = env.sim.requests(Some("/")).into_iter().filter(|r| r.path.ends_with("/login/accesspass")).collect();
    assert!(!signins.is_empty() && signins.iter().all(|r| r.host.as_deref() == Some("login.microsoftonline.com")), "sign-in on its real host name: {:?}", signins.first());
    // The pages saw the stock Chrome user agent of the running Chromium, not HeadlessChrome.
    let version = std::process::Command::new(&keystation::ceremony::browser::BrowserConfig::from_env().chromium).arg("--version").output().unwrap();
    let major = String::from_utf8_lossy(&version.stdout).split_whitespace().find(|w| w.contains('.')).unwrap().split('.').next().unwrap().to_string();
    let pages: Vec<_> = env.sim.requests(None).into_iter().filter(|r| r.host.as_deref().is_some_and(|h| h.contains("microsoft"))).collect();
    assert!(!pages.is_empty());
    for r in &pages {
        let ua = r.user_agent.as_deref().unwrap_or_default();
        assert!(ua.contains(&format!(" Chrome/{major}.0.0.0 ")) && !ua.contains("Headless"), "{} {}: {ua}", r.method, r.path);
    }
    env.close().await;
}

#[tokio::test]
async fn refusals_are_named_and_the_key_is_spared() {
    let Some(env) = env_with("refusals_are_named_and_the_key_is_spared", |_, _| {}).await else { return };
    let code = |e: &CeremonyError| match e {
        CeremonyError::Page { code, .. } => code.clone(),
        other => panic!("expected a page error, got {other:?}"),
    };
    // A proof-up that cannot be skipped (for everyone).
    reset(&env, |b| b.proof_up = ProofUpDrift::Mandatory);
    let key = test_key(Touch::Instant).await;
    let request = env.request("alice@contoso.test", "Refused", true).await;
    let err = env.register(&key, &request, &Recorder::default()).await.expect_err("mandatory proof-up");
    assert_eq!(code(&err), "ProofUpRequired", "{err}");
    reset(&env, |_| {});
    // Sign-in without MFA; kim at her key limit (one of one); the key is never used.
    env.patch_user("kim@contoso.test", serde_json::json!({ "max_security_keys": 1 })).await;
    for (upn, expected, says) in [("nomfa@contoso.test", "MfaRequired", "two-factor authentication"), ("kim@contoso.test", "KeyLimitReached", "limit of 1 security keys")] {
        let key = test_key(Touch::Instant).await;
        let request = env.request(upn, "Refused", true).await;
        let before = key.key.counters().reports_in;
        let err = env.register(&key, &request, &Recorder::default()).await.expect_err(expected);
        assert_eq!(code(&err), expected, "{err}");
        assert!(err.to_string().contains(says), "the page's own text: {err}");
        assert_eq!(key.key.counters().reports_in, before, "{upn}: the key was used");
    }
    // An expired pass.
    let request = env.request("carol@contoso.test", "Refused", false).await;
    env.sim.advance_clock(chrono::Duration::minutes(61));
    let err = env.register(&test_key(Touch::Instant).await, &request, &Recorder::default()).await.expect_err("expired pass");
    assert_eq!(code(&err), "TapExpired", "{err}");
    // The key model is not allowed (AAGUID restriction): the page says so after the
    // ceremony; nothing is registered.
    env.patch_policy("fido2", serde_json::json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [keystation::entra::simulator::seed::KEYSTATION_VIRTUAL_KEY_AAGUID]}})).await;
    let request = env.request("bob@contoso.test", "Refused", true).await;
    let err = env.register(&test_key(Touch::Instant).await, &request, &Recorder::default()).await.expect_err("AAGUID restriction");
    assert_eq!(code(&err), "KeyNotAllowed", "{err}");
    assert!(err.to_string().contains("isn't allowed by your organization"), "{err}");
    assert!(env.methods("bob@contoso.test").await.is_empty());
    env.patch_policy("fido2", serde_json::json!({"keyRestrictions": {"isEnforced": false, "enforcementType": "block", "aaGuids": []}})).await;
    // A blocked pass: multi-use while the policy wants one-time passes.
    env.patch_policy("temporaryAccessPass", serde_json::json!({"isUsableOnce": true})).await;
    let request = env.request("dave@contoso.test", "Refused", false).await;
    let key = test_key(Touch::Instant).await;
    let before = key.key.counters().reports_in;
    let err = env.register(&key, &request, &Recorder::default()).await.expect_err("blocked pass");
    assert_eq!(code(&err), "TapBlocked", "{err}");
    assert_eq!(key.key.counters().reports_in, before, "the key was used");
    env.close().await;
}

#[tokio::test]
async fn an_unknown_interstitial_ends_in_manual_mode_in_time() {
    // The flow's own budget: 10 s for a page nobody recognises. A headless manual browser
    // stands in for the operator's display; the test plays the operator.
    let Some(env) = env_with("an_unknown_interstitial_ends_in_manual_mode_in_time", |c, _| c.fallback_to_manual = true).await else { return };
    let stated = env.registrar.resolve_target().await.unwrap().flow.budget.unrecognised;
    assert_eq!(stated, Duration::from_secs(10));
    reset(&env, |b| b.unknown_interstitial = true);
    env.prompt.on_manual(super::manual::operator);
    let key = test_key(Touch::Instant).await;
    let request = env.request("alice@contoso.test", "Finished by hand", true).await;
    let t0 = Instant::now();
    let reg = env.register(&key, &request, &Recorder::default()).await.expect("the operator finishes");
    assert_eq!(reg.display_name, "Finished by hand");
    assert_eq!(env.registrar.stats().fallbacks, 1);
    assert_eq!(env.methods("alice@contoso.test").await.len(), 1, "registered once");
    // The operator is told which page stopped the automation.
    let shown = env.prompt.shown.lock().unwrap().clone();
    let reason = shown[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("Review the updated terms") && reason.contains("ConvergedTermsInterrupt"), "{reason}");
    assert!(shown[0].signed_in, "the manual window should open signed in");
    // The automatic attempt's evidence: the page, named, and when it was first seen.
    let dir = request.evidence_dir.as_ref().unwrap();
    let files = Env::evidence_files(&request);
    assert!(files.iter().any(|f| f.ends_with("-unrecognised-review-the-updated-terms.png")), "{files:?}");
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("browser-steps.json")).unwrap()).unwrap();
    assert_eq!(log["error_code"], "Unrecognised");
    let entry = log["steps"].as_array().unwrap().iter().find(|s| s["action"] == "unrecognised").cloned().expect("an unrecognised entry");
    assert_eq!(entry["target"], "Review the updated terms");
    let origin: chrono::DateTime<chrono::Utc> = log["started_at"].as_str().unwrap().parse().unwrap();
    let first_seen = std::time::SystemTime::from(origin) + Duration::from_millis(entry["started_ms"].as_u64().unwrap());
    let manual_at = env.prompt.shown_at.lock().unwrap()[0];
    let to_fallback = manual_at.duration_since(first_seen).unwrap();
    eprintln!(
        "figure: unrecognised page → manual window {:.2} s (stated {stated:?}; detection {:.2} s); whole registration {:.1} s",
        to_fallback.as_secs_f64(),
        entry["took_ms"].as_u64().unwrap() as f64 / 1000.0,
        t0.elapsed().as_secs_f64()
    );
    assert!(to_fallback >= stated, "fell back after {to_fallback:?}, before the stated {stated:?}");
    assert!(to_fallback < stated * 5, "fell back after {to_fallback:?}");
    env.close().await;
}

#[tokio::test]
async fn a_late_tap_is_waited_for_with_the_real_backoff() {
    let Some(env) = env_with("a_late_tap_is_waited_for_with_the_real_backoff", |_, _| {}).await else { return };
    reset(&env, |b| b.tap_sign_in_delay_secs = 4);
    let t = Instant::now();
    let (_, observer) = registers_once(&env, "bob@contoso.test", "Late pass").await.expect("registered after a restart");
    let took = t.elapsed();
    let restarts: Vec<String> = observer.events().into_iter().filter(|e| e.contains("starting again in")).collect();
    eprintln!("figure: a TAP 4 s late cost one restart; registration took {:.2} s: {restarts:?}", took.as_secs_f64());
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(restarts[0].ends_with("starting again in 5 s"), "the flow's first backoff step: {restarts:?}");
    assert!(took >= Duration::from_secs(5));
    env.close().await;
}
