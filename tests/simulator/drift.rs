//! The pages' drift switches and error banners, through the simulator's HTTP surface:
//! `PATCH /_sim/behaviour` turns a switch on, a cookie-keeping HTTP client walks the
//! pages and looks at what they serve.
use super::pages::{behaviour, config_of, issue_tap, start_signin, Browser, Page};
use super::support::*;
use keystation::entra::simulator::SimulatorHandle;
use serde_json::{json, Value};

const TENANT: &str = keystation::entra::simulator::seed::well_known::TENANT_ID;

fn login(sim: &SimulatorHandle, path: &str) -> String {
    format!("{}{}", sim.login_base().as_str().trim_end_matches('/'), path)
}

async fn username(b: &mut Browser, sim: &SimulatorHandle, flow: &str, user: &str) -> Page {
    b.post_form(&login(sim, &format!("/{TENANT}/login")), &[("loginfmt", user), ("flowToken", flow)]).await
}

/// Answer whatever interrupt shows until sign-in redirects; returns the pgids seen.
async fn through_interrupts(b: &mut Browser, sim: &SimulatorHandle, mut p: Page, flow: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while p.status == 200 {
        let pgid = p.pgid().to_string();
        let (path, fields): (&str, Vec<(&str, &str)>) = match pgid.as_str() {
            "ConvergedProofUpRedirect" => ("proofup", vec![("flowToken", flow), ("skip", "1")]),
            "KmsiInterrupt" => ("kmsi", vec![("flowToken", flow), ("LoginOptions", "3")]),
            "ConvergedChooseAccount" => ("pickaccount", vec![("flowToken", flow)]),
            "ConvergedTermsInterrupt" => ("interstitial", vec![("flowToken", flow)]),
            other => panic!("unexpected page {other}: {}", p.body),
        };
        if pgid == "ConvergedProofUpRedirect" {
            assert!(p.has("id=\"btnAskLater\"") && p.has("14 days until this is required"), "a skippable proof-up: {}", p.body);
        }
        seen.push(pgid);
        p = b.post_form(&login(sim, &format!("/{TENANT}/{path}")), &fields).await;
    }
    assert_eq!(p.status, 302, "{}", p.body);
    assert!(p.location.as_deref().unwrap_or_default().contains("/auth/callback?code="));
    seen
}

#[tokio::test]
async fn interrupts_come_in_a_random_order_and_kmsi_no_can_be_a_button() {
    let sim = sim().await;
    behaviour(&sim, json!({"interrupts_random_order": true, "kmsi_no_is_button": true})).await;
    let mut orders = std::collections::HashSet::new();
    for _ in 0..6 {
        let pass = issue_tap(&sim, "bob@contoso.test", json!({"usable_once": false})).await;
        let mut b = Browser::new();
        let flow = start_signin(&mut b, &sim).await;
        assert_eq!(username(&mut b, &sim, &flow, "bob@contoso.test").await.pgid(), "ConvergedTFA");
        let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
        // The login session exists once the pass is accepted (SSO past an interrupt).
        assert!(p.set_cookies.iter().any(|c| c.starts_with("ESTSAUTH=")), "{:?}", p.set_cookies);
        if p.pgid() == "KmsiInterrupt" {
            assert!(p.has("<input type=\"button\" id=\"idBtn_Back\"") && p.has("i.value = '3'"), "{}", p.body);
        }
        let mut seen = through_interrupts(&mut b, &sim, p, &flow).await;
        orders.insert(seen.clone());
        seen.sort();
        assert_eq!(seen, ["ConvergedChooseAccount", "ConvergedProofUpRedirect", "KmsiInterrupt", "KmsiInterrupt"]);
    }
    assert!(orders.len() > 1, "six sign-ins, one order: {orders:?}");
}

#[tokio::test]
async fn proof_up_skippable_mandatory_and_an_unknown_interstitial() {
    let sim = sim().await;
    for (drift, skippable) in [("skippable", true), ("mandatory", false)] {
        behaviour(&sim, json!({"proof_up": drift, "unknown_interstitial": true})).await;
        let pass = issue_tap(&sim, "bob@contoso.test", json!({"usable_once": false})).await;
        let mut b = Browser::new();
        let flow = start_signin(&mut b, &sim).await;
        username(&mut b, &sim, &flow, "bob@contoso.test").await;
        let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
        assert_eq!(p.pgid(), "ConvergedProofUpRedirect");
        assert_eq!(p.has("id=\"btnAskLater\""), skippable, "{drift}: {}", p.body);
        let p = b.post_form(&login(&sim, &format!("/{TENANT}/proofup")), &[("flowToken", &flow)]).await;
        assert_eq!(p.pgid(), "ConvergedTermsInterrupt");
        assert!(p.has(">Review the updated terms</div>") && p.has("value=\"Continue\""), "{}", p.body);
        let p = b.post_form(&login(&sim, &format!("/{TENANT}/interstitial")), &[("flowToken", &flow)]).await;
        assert_eq!(p.pgid(), "KmsiInterrupt");
        // An answer for a page that is not on screen is refused.
        let wrong = b.post_form(&login(&sim, &format!("/{TENANT}/pickaccount")), &[("flowToken", &flow)]).await;
        assert_eq!(wrong.pgid(), "ConvergedError");
    }
}

#[tokio::test]
async fn a_new_pass_reaches_sign_in_late_and_hides_behind_other_ways() {
    let sim = sim().await;
    behaviour(&sim, json!({"tap_sign_in_delay_secs": 600})).await;
    let pass = issue_tap(&sim, "carol@contoso.test", json!({"usable_once": true})).await;
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    // The password view, with "Other ways to sign in" that does not offer the pass yet.
    let p = username(&mut b, &sim, &flow, "carol@contoso.test").await;
    assert_eq!(p.pgid(), "ConvergedSignIn");
    assert!(p.has("name=\"passwd\" id=\"i0118\"") && p.has("id=\"idA_PWD_SwitchToCredPicker\"") && p.has(">Other ways to sign in</a>"), "{}", p.body);
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/options")), &[("flowToken", &flow)]).await;
    assert!(p.has("id=\"credentialList\"") && p.has(">Sign in another way</div>") && !p.has("data-credential=\"accesspass\""), "{}", p.body);
    // Typed anyway, the pass is "not found" (and not used up).
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
    assert_eq!(p.config["iErrorCode"], 130507);
    // Ten minutes later it is offered.
    sim.advance_clock(chrono::Duration::minutes(10));
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/options")), &[("flowToken", &flow)]).await;
    assert!(p.has("data-credential=\"accesspass\"") && p.has(">Use your Temporary Access Pass</div>"), "{}", p.body);
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/options")), &[("flowToken", &flow), ("choice", "accesspass")]).await;
    assert_eq!(p.pgid(), "ConvergedTFA");
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
    assert_eq!(p.pgid(), "KmsiInterrupt", "{}", p.body);

    // Behind "Other ways" although usable.
    behaviour(&sim, json!({"tap_sign_in_delay_secs": 0, "tap_behind_other_ways": true})).await;
    issue_tap(&sim, "dave@contoso.test", json!({})).await;
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    assert!(username(&mut b, &sim, &flow, "dave@contoso.test").await.has("id=\"i0118\""));
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/options")), &[("flowToken", &flow)]).await;
    assert!(p.has("data-credential=\"accesspass\""), "{}", p.body);
    // No passwords in the simulator.
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/password")), &[("flowToken", &flow), ("passwd", "x")]).await;
    assert_eq!(p.config["iErrorCode"], 50126);
}

#[tokio::test]
async fn de_de_changes_every_text_and_no_handle() {
    let sim = sim().await;
    behaviour(&sim, json!({"page_locale": "de-DE", "passkey_behind_show_more": true})).await;
    let pass = issue_tap(&sim, "alice@contoso.test", json!({"usable_once": true})).await;
    let mut b = Browser::new();
    let to_signin = b.get(sim.security_info_url().as_str()).await;
    let first = b.get(&to_signin.location.unwrap()).await;
    let flow = first.config["sFT"].as_str().unwrap().to_string();
    assert!(first.has("<html lang=\"de\">") && first.has(">Anmelden</div>") && first.has("value=\"Weiter\"") && first.has("name=\"loginfmt\" id=\"i0116\""), "{}", first.body);
    let p = username(&mut b, &sim, &flow, "alice@contoso.test").await;
    assert!(p.has(">Befristeten Zugriffspass eingeben</div>") && p.has("name=\"accesspass\""));
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
    assert_eq!(p.pgid(), "KmsiInterrupt");
    assert!(p.has(">Angemeldet bleiben?</div>") && p.has("id=\"idBtn_Back\"") && p.has("value=\"Nein\""));
    let p = b.post_form(&login(&sim, &format!("/{TENANT}/kmsi")), &[("flowToken", &flow), ("LoginOptions", "Nein")]).await;
    let p = b.get(&p.location.unwrap()).await;
    let p = b.get(&p.location.unwrap()).await;
    assert!(p.has("<html lang=\"de\">") && p.has(">Sicherheitsinformationen</h1>") && p.has("name=\"Add method\""), "{}", p.body);
    // The picker: "Hauptschlüssel" (Passkey) apart from the Authenticator entry, behind
    // "Weitere Optionen anzeigen" with this drift; the structural handles are unchanged.
    assert!(p.has("<div class=\"label\">Hauptschlüssel</div>") && p.has("<div class=\"label\">Hauptschlüssel in Microsoft Authenticator</div>"));
    let passkey = p.body.split("data-type=\"18\"").nth(1).unwrap().split('>').next().unwrap().to_string();
    assert!(passkey.contains("data-more hidden"), "Passkey must be behind Show more: {passkey}");
    assert!(p.has("aria-expanded=\"false\">Weitere Optionen anzeigen</button>") && p.has("ms-Button--primary"));
    let banner = b.get(&url(&sim, "/security-info?error=KeyLimitReached")).await;
    assert!(banner.has("data-error-code=\"KeyLimitReached\">Sie haben bereits die Höchstzahl"), "{}", banner.body);
}

#[tokio::test]
async fn the_key_model_banner_after_an_aaguid_restriction() {
    let sim = sim().await;
    let virt = keystation::entra::simulator::seed::KEYSTATION_VIRTUAL_KEY_AAGUID;
    let r = http()
        .patch(url(&sim, "/_sim/policies/fido2"))
        .json(&json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [virt]}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut b = Browser::new();
    super::pages::signed_in(&mut b, &sim, "alice@contoso.test").await;
    let (v, data) = super::pages::new_method(&mut b, &sim, 18).await;
    assert_eq!(v["ErrorCode"], Value::Null);
    let (fc, reg) = super::pages::fido_create(&mut b, &data).await;
    let p = super::pages::post_newfido(&mut b, &fc, &super::pages::newfido_fields(&fc, &reg)).await;
    assert_eq!(p.location.as_deref(), Some(url(&sim, "/security-info?error=KeyNotAllowed").as_str()));
    let page = b.get(&p.location.unwrap()).await;
    assert!(config_of(&page.body).is_null());
    assert!(page.has("data-error-code=\"KeyNotAllowed\">This security key isn&#39;t allowed by your organization."), "{}", page.body);
}

#[tokio::test]
async fn unknown_switches_are_refused() {
    let sim = sim().await;
    let r = http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"page_locale": "fr-FR"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http().patch(url(&sim, "/_sim/behaviour")).json(&json!({"security_info_ui": "2019"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
}
