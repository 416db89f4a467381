//! The manual mode: the test plays the operator in the manual window (with the same
//! WebDriver BiDi page actions an automation would use), keystation watches Graph.
use super::support::{Env, Recorder, env_with, test_key};
use keystation::ceremony::CeremonyError;
use keystation::ceremony::browser::flow::Locator;
use keystation::ceremony::browser::page::{ActOutcome, Page};
use keystation::ceremony::browser::{BrowserMode, Flow, ManualOutcome, ManualPrompt};
use keystation::key::virtual_key::Touch;
use std::time::{Duration, Instant};

const OPERATOR_PATIENCE: Duration = Duration::from_secs(60);

async fn visible(page: &Page, selector: &str) -> bool {
    page.shows(&Locator::Css { selector: selector.into(), text: vec![] }).await.unwrap_or(false)
}

async fn click(page: &Page, selector: &str) {
    let t = Instant::now();
    while t.elapsed() < OPERATOR_PATIENCE {
        if let Ok(ActOutcome::Done(_)) = page.click(selector, &[]).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operator: {selector} never clickable");
}

async fn fill(page: &Page, selector: &str, value: &str) {
    let t = Instant::now();
    while t.elapsed() < OPERATOR_PATIENCE {
        if let Ok(ActOutcome::Done(_)) = page.fill(selector, value).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("operator: {selector} never fillable");
}

/// What an operator does by hand in Security info (signing in first when needed).
pub(super) async fn operator(p: ManualPrompt) {
    let page = p.window.page().clone();
    let t = Instant::now();
    loop {
        if visible(&page, "input[name=loginfmt]").await {
            fill(&page, "input[name=loginfmt]", &p.upn).await;
            click(&page, "#idSIButton9").await;
            fill(&page, "input[name=accesspass]", p.tap.expose()).await;
            click(&page, "#idSIButton9").await;
            click(&page, "#idBtn_Back").await;
            break;
        }
        if visible(&page, "button[name='Add method']").await {
            break;
        }
        assert!(t.elapsed() < OPERATOR_PATIENCE, "operator: neither the sign-in page nor Security info showed up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Security info, 2026 UI: + Add sign-in method → Passkey → Next → (ceremony) →
    // name → Next → Done.
    click(&page, "button[name='Add method']").await;
    click(&page, "[role=dialog] [role=option][data-type='18']").await;
    click(&page, "[role=dialog] .ms-Dialog-actions .ms-Button--primary").await;
    fill(&page, "[role=dialog] input[type=text]", &p.display_name).await;
    click(&page, "[role=dialog][data-dialog=name] .ms-Button--primary").await;
    click(&page, "[role=dialog][data-dialog=created] .ms-Button--primary").await;
}

#[tokio::test]
async fn manual_mode_registers_when_the_operator_finishes() {
    let Some(env) = env_with("manual_mode_registers_when_the_operator_finishes", |c, _| c.mode = BrowserMode::Manual).await else { return };
    env.prompt.on_manual(operator);
    let key = test_key(Touch::Instant).await;
    let request = env.request("alice@contoso.test", "Alice by hand", true).await;
    let observer = Recorder::default();
    let reg = env.register(&key, &request, &observer).await.expect("registered by hand");
    assert_eq!(reg.display_name, "Alice by hand");
    let m = env.methods("alice@contoso.test").await;
    assert!(m.iter().any(|m| m.id == reg.method_id));
    // The operator saw the TAP and the PIN; nothing else did.
    let shown = env.prompt.shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].tap.expose(), request.tap.as_ref().unwrap().expose());
    assert_eq!(shown[0].pin.expose(), super::support::PIN);
    assert!(!shown[0].signed_in && shown[0].reason.is_none());
    assert_eq!(*env.prompt.finished.lock().unwrap(), vec![ManualOutcome::Registered]);
    // The bridge stayed on: keystation made the credential, with the journal hooks.
    let ev: Vec<String> = observer.events().into_iter().filter(|e| !e.starts_with("progress")).collect();
    assert_eq!(ev, vec!["before_make_credential", "before_submit"]);
    assert!(!format!("{shown:?}").contains(request.tap.as_ref().unwrap().expose()), "Debug output shows the TAP");
    env.close().await;
}

#[tokio::test]
async fn manual_mode_times_out_when_nothing_happens() {
    let Some(env) = env_with("manual_mode_times_out_when_nothing_happens", |c, _| {
        c.mode = BrowserMode::Manual;
        c.manual_timeout = Duration::from_secs(3);
    })
    .await
    else {
        return;
    };
    let key = test_key(Touch::Instant).await;
    let request = env.request("bob@contoso.test", "Bob key", false).await;
    let t = Instant::now();
    let err = env.register(&key, &request, &Recorder::default()).await.expect_err("nobody registers");
    assert!(matches!(err, CeremonyError::NotConfirmed(d) if d == Duration::from_secs(3)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(matches!(env.prompt.finished.lock().unwrap()[0], ManualOutcome::Failed(_)));
    let files = Env::evidence_files(&request);
    assert!(files.contains(&"browser-manual.json".to_string()) && files.contains(&"manual-final.png".to_string()), "{files:?}");
    env.close().await;
}

#[tokio::test]
async fn automatic_falls_back_to_manual_and_keeps_the_sign_in() {
    // A flow that loses its way after signing in: the picker's "Passkey" moved, and the
    // page stays put until the flow's short `stay` runs out.
    let broken = Flow::parse(
        &keystation::ceremony::browser::flow::SIMULATOR_FLOW
            .replace("{ label = [\"Passkey\", \"Security key\"] }, { css = \"[role=dialog] [role=option][data-type='18']\" }, { css = \"[role=dialog] [role=option][data-type='12']\" }", "{ css = \"#MovedPasskeyOption\" }")
            .replace("stay_s = 30", "stay_s = 3")
            .replace("rerun_s = 5", "rerun_s = 1"),
        "broken simulator flow",
    )
    .unwrap();
    assert!(format!("{broken:?}").contains("MovedPasskeyOption"));
    let Some(env) = env_with("automatic_falls_back_to_manual_and_keeps_the_sign_in", |c, t| {
        c.fallback_to_manual = true;
        t.flow = broken;
    })
    .await
    else {
        return;
    };
    env.prompt.on_manual(operator);
    let key = test_key(Touch::Instant).await;
    // A one-time pass: the automatic sign-in used it up, so the manual window can only
    // work because the sign-in was carried over.
    let request = env.request("carol@contoso.test", "Carol key", true).await;
    let reg = env.register(&key, &request, &Recorder::default()).await.expect("finished by hand");
    assert_eq!(reg.display_name, "Carol key");
    assert_eq!(env.registrar.stats().fallbacks, 1);
    let shown = env.prompt.shown.lock().unwrap().clone();
    assert!(shown[0].signed_in, "the manual window should open signed in");
    assert!(shown[0].reason.as_deref().unwrap_or_default().contains("method-picker"), "{:?}", shown[0].reason);
    // The automatic attempt's evidence is kept.
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(request.evidence_dir.as_ref().unwrap().join("browser-steps.json")).unwrap()).unwrap();
    assert_eq!(log["error_code"], "PageStuck");
    env.close().await;
}

#[tokio::test]
async fn refusals_do_not_fall_back() {
    let Some(env) = env_with("refusals_do_not_fall_back", |c, _| c.fallback_to_manual = true).await else { return };
    env.prompt.on_manual(operator);
    let key = test_key(Touch::Instant).await;
    env.sim.issue_tap("dave@contoso.test", 60, false).unwrap();
    let request = env.request_with_tap("dave@contoso.test", "Dave key", keystation::secret::SecretString::new("not-the-pass")).await;
    let err = env.register(&key, &request, &Recorder::default()).await.expect_err("wrong pass");
    assert!(matches!(&err, CeremonyError::Page { code, .. } if code == "TapInvalid"), "{err:?}");
    assert!(env.prompt.shown.lock().unwrap().is_empty(), "the manual mode took over a refusal");
    env.close().await;
}
