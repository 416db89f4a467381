//! Browser pages walked at the HTTP level: sign-in → TAP → Security info → /fido/create →
//! newfido → naming, the error pages and banners, ceremony variants, /devicelogin.
use super::attest::*;
use super::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keystation::entra::simulator::SimulatorHandle;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A minimal browser profile: one cookie jar per host, no redirects followed.
pub struct Browser {
    client: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

/// A response as a test looks at it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub config: Value,
    pub set_cookies: Vec<String>,
}

impl Page {
    pub fn pgid(&self) -> &str {
        self.config["pgid"].as_str().unwrap_or("")
    }
    pub fn has(&self, needle: &str) -> bool {
        self.body.contains(needle)
    }
}

/// The inline `$Config={...};` object of a page.
pub fn config_of(html: &str) -> Value {
    let Some(start) = html.find("$Config=") else { return Value::Null };
    let rest = &html[start + "$Config=".len()..];
    let end = rest.find(";\n//]]>").unwrap_or(rest.len());
    serde_json::from_str(&rest[..end]).unwrap_or(Value::Null)
}

impl Browser {
    pub fn new() -> Browser {
        Browser { client: http(), jar: HashMap::new() }
    }

    fn cookies_for(&self, u: &str) -> Option<String> {
        let host = url::Url::parse(u).ok()?.host_str()?.to_string();
        let c = self.jar.get(&host)?;
        (!c.is_empty()).then(|| c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    async fn finish(&mut self, u: &str, r: reqwest::Response) -> Page {
        let host = url::Url::parse(u).unwrap().host_str().unwrap().to_string();
        let set_cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookies {
            let kv = c.split(';').next().unwrap();
            let (k, v) = kv.split_once('=').unwrap();
            self.jar.entry(host.clone()).or_default().insert(k.to_string(), v.to_string());
        }
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| {
            let l = v.to_str().unwrap();
            if l.starts_with('/') {
                let base = url::Url::parse(u).unwrap();
                base.join(l).unwrap().to_string()
            } else {
                l.to_string()
            }
        });
        let body = r.text().await.unwrap();
        let config = config_of(&body);
        Page { status, location, body, config, set_cookies }
    }

    pub async fn get(&mut self, u: &str) -> Page {
        let mut req = self.client.get(u);
        if let Some(c) = self.cookies_for(u) {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(u, r).await
    }

    pub async fn post_form(&mut self, u: &str, fields: &[(&str, &str)]) -> Page {
        let mut req = self.client.post(u).form(fields);
        if let Some(c) = self.cookies_for(u) {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(u, r).await
    }

    pub async fn post_json(&mut self, u: &str, body: &Value) -> Page {
        let mut req = self.client.post(u).json(body);
        if let Some(c) = self.cookies_for(u) {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(u, r).await
    }
}

fn login_url(sim: &SimulatorHandle, path: &str) -> String {
    format!("{}{}", sim.login_base().as_str().trim_end_matches('/'), path)
}

pub async fn issue_tap(sim: &SimulatorHandle, user: &str, body: Value) -> String {
    let r = http().post(url(sim, &format!("/_sim/users/{}/tap", user.replace('#', "%23")))).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    json_of(r).await["temporaryAccessPass"].as_str().unwrap().to_string()
}

/// Security info → sign-in → username page; returns the flow token.
pub async fn start_signin(b: &mut Browser, sim: &SimulatorHandle) -> String {
    let p = b.get(sim.security_info_url().as_str()).await;
    assert_eq!(p.status, 302);
    let to = p.location.unwrap();
    assert!(to.starts_with(sim.login_base().as_str()), "sign-in is on the login host: {to}");
    let p = b.get(&to).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.pgid(), "ConvergedSignIn");
    p.config["sFT"].as_str().unwrap().to_string()
}

/// Username + TAP; returns the page after the TAP.
async fn enter(b: &mut Browser, sim: &SimulatorHandle, flow: &str, user: &str, pass: &str) -> Page {
    let p = b.post_form(&login_url(sim, &format!("/{TENANT}/login")), &[("loginfmt", user), ("flowToken", flow)]).await;
    assert_eq!(p.pgid(), "ConvergedTFA", "{}", p.body);
    b.post_form(&login_url(sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", pass), ("flowToken", flow), ("ps", "56")]).await
}

/// Complete sign-in from the KMSI page to a Security-info session.
async fn through_kmsi(b: &mut Browser, sim: &SimulatorHandle, p: Page, stay: &str) -> Page {
    assert_eq!(p.pgid(), "KmsiInterrupt", "{}", p.body);
    let flow = p.config["sFT"].as_str().unwrap().to_string();
    let p = b.post_form(&login_url(sim, &format!("/{TENANT}/kmsi")), &[("flowToken", &flow), ("LoginOptions", stay)]).await;
    assert_eq!(p.status, 302);
    let cb = p.location.unwrap();
    assert!(cb.starts_with(&url(sim, "/auth/callback?code=")), "{cb}");
    let p = b.get(&cb).await;
    assert_eq!(p.status, 302);
    assert!(p.set_cookies.iter().any(|c| c.starts_with("msi_session=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")));
    b.get(&p.location.unwrap()).await
}

/// Sign a user in with a fresh one-time TAP and land on Security info.
pub async fn signed_in(b: &mut Browser, sim: &SimulatorHandle, user: &str) -> Page {
    let pass = issue_tap(sim, user, json!({"usable_once": true})).await;
    let flow = start_signin(b, sim).await;
    let p = enter(b, sim, &flow, user, &pass).await;
    let p = through_kmsi(b, sim, p, "No").await;
    assert!(on_security_info(&p), "{}", p.body);
    p
}

/// Security info in either UI (the 2026 single-page app carries no `$Config`).
fn on_security_info(p: &Page) -> bool {
    p.status == 200 && p.has("name=\"Add method\"") && (p.pgid() == "SecurityInfo" || p.config.is_null())
}

/// PATCH /_sim/behaviour.
pub async fn behaviour(sim: &SimulatorHandle, patch: Value) {
    let r = http().patch(url(sim, "/_sim/behaviour")).json(&patch).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// `/api/authenticationmethods/new`; returns (ErrorCode, Data parsed).
pub async fn new_method(b: &mut Browser, sim: &SimulatorHandle, ty: i64) -> (Value, Value) {
    let p = b.post_json(&url(sim, "/api/authenticationmethods/new"), &json!({"Type": ty})).await;
    let v: Value = serde_json::from_str(&p.body).unwrap();
    let data = v["Data"].as_str().map(|d| serde_json::from_str(d).unwrap()).unwrap_or(Value::Null);
    (v, data)
}

/// POST the request data to /fido/create (login host) and build a registration for its options.
pub async fn fido_create(b: &mut Browser, data: &Value) -> (Page, Registration) {
    let rd = &data["requestData"];
    let fields: Vec<(String, String)> = rd.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
    let fields_ref: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let p = b.post_form(data["provisionUrl"].as_str().unwrap(), &fields_ref).await;
    assert_eq!(p.pgid(), "FidoCreate", "{}", p.body);
    let o = &p.config["oCreateOptions"];
    let mut reg = Registration::graph(o["challenge"].as_str().unwrap());
    reg.rp_id = o["rp"]["id"].as_str().unwrap().to_string();
    let login = url::Url::parse(data["provisionUrl"].as_str().unwrap()).unwrap();
    reg.origin = login.origin().ascii_serialization();
    (p, reg)
}

/// The fields the /fido/create page posts to newfido.
pub fn newfido_fields(p: &Page, reg: &Registration) -> Vec<(String, String)> {
    vec![
        ("provisionId".into(), p.config["sProvisionId"].as_str().unwrap().into()),
        ("canary".into(), html_hidden(&p.body, "canary")),
        ("authenticator".into(), "cross-platform".into()),
        ("transports".into(), "usb".into()),
        ("aaguid".into(), uuid::Uuid::from_bytes(reg.aaguid).to_string()),
        ("credentialDeviceType".into(), "single_device".into()),
        ("credentialBackedUp".into(), "false".into()),
        ("clientDataJson".into(), b64u(&reg.client_data_json())),
        ("attestationObject".into(), b64u(&reg.attestation_object())),
        ("credentialId".into(), b64u(&reg.credential_id)),
        ("clientExtensionResults".into(), b64u(br#"{"hmacCreateSecret":true,"credProps":{"rk":true}}"#)),
        ("attestationParseError".into(), String::new()),
    ]
}

fn html_hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("hidden {name} in {body}")) + marker.len();
    body[start..].split('"').next().unwrap().to_string()
}

pub async fn post_newfido(b: &mut Browser, p: &Page, fields: &[(String, String)]) -> Page {
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post_form(p.config["urlPost"].as_str().unwrap(), &refs).await
}

#[tokio::test]
async fn full_walk_sign_in_tap_security_info_newfido_naming() {
    let sim = sim().await;
    let mut b = Browser::new();
    let pass = issue_tap(&sim, "alice@contoso.test", json!({"usable_once": true})).await;
    let flow = start_signin(&mut b, &sim).await;

    // Username page selectors.
    let p = b.get(sim.signin_url().as_ref()).await;
    assert!(p.has("name=\"loginfmt\" id=\"i0116\"") && p.has("id=\"idSIButton9\""));
    assert_eq!(p.config["iErrorCode"], 0);
    let p = b.post_form(&login_url(&sim, &format!("/{TENANT}/login")), &[("loginfmt", "nobody@contoso.test"), ("flowToken", &flow)]).await;
    assert_eq!(p.pgid(), "ConvergedSignIn");
    assert_eq!(p.config["iErrorCode"], 50034);
    assert!(p.has("id=\"usernameError\""));

    // TAP page selectors and a wrong pass.
    let p = b.post_form(&login_url(&sim, &format!("/{TENANT}/login")), &[("loginfmt", "Alice@Contoso.test"), ("flowToken", &flow)]).await;
    assert_eq!(p.pgid(), "ConvergedTFA");
    assert!(p.has("name=\"accesspass\"") && p.has("<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"Sign in\">"));
    let p = b.post_form(&login_url(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", "wrong"), ("flowToken", &flow)]).await;
    assert_eq!(p.config["iErrorCode"], 130507);
    assert!(p.config["strServiceExceptionMessage"].as_str().unwrap().contains("an access pass could not be found or verified for the user"));
    let p = b.post_form(&login_url(&sim, &format!("/{TENANT}/login/accesspass")), &[("accesspass", &pass), ("flowToken", &flow)]).await;
    assert!(p.has("id=\"idBtn_Back\"") && p.has("id=\"idSIButton9\""));
    let p = through_kmsi(&mut b, &sim, p, "Yes").await;

    // Security info selectors: the 2026 UI by default — no $Config, a picker dialog
    // listing "Passkey" apart from "Passkey in Microsoft Authenticator", Show more, Next.
    assert!(p.config.is_null(), "the 2026 single-page app has no $Config");
    for needle in [
        "name=\"Add method\"",
        ">+ Add sign-in method</button>",
        "role=\"dialog\"",
        "data-type=\"18\"",
        "<div class=\"label\">Passkey</div>",
        "<div class=\"label\">Passkey in Microsoft Authenticator</div>",
        "aria-expanded=\"false\">Show more options</button>",
        "ms-Button--primary",
        ">Next</button>",
        "class=\"ms-MessageBar ms-MessageBar--error\" role=\"alert\"",
    ] {
        assert!(p.has(needle), "Security info (2026) lacks {needle}");
    }
    assert!(!p.has("role=\"combobox\""));
    // The 2023 UI as a variant, through the control surface.
    behaviour(&sim, json!({"security_info_ui": "2023"})).await;
    let p = b.get(&url(&sim, "/security-info")).await;
    assert_eq!(p.pgid(), "SecurityInfo");
    for needle in [
        "name=\"Add method\"",
        "role=\"combobox\" aria-label=\"Authentication method options\"",
        ">Security key</div>",
        ">Passkey</div>",
        ">Add</button>",
        ">USB device</button>",
        ">NFC device</button>",
        ">Next</button>",
        "id=\"ms-banner\"",
    ] {
        assert!(p.has(needle), "Security info (2023) lacks {needle}");
    }
    assert_eq!(p.config["sFidoCeremony"], "same-tab");
    behaviour(&sim, json!({"security_info_ui": "2026"})).await;

    // Add: provisioning request, then the cross-site form POST to /fido/create.
    let (v, data) = new_method(&mut b, &sim, 12).await;
    assert_eq!(v["ErrorCode"], Value::Null, "{v}");
    assert_eq!(data["provisionUrl"], login_url(&sim, &format!("/{TENANT}/fido/create")));
    assert_eq!(data["ceremony"], "same-tab");
    for k in ["canary", "serverChallenge", "userId", "postBackUrl", "ExcludeNextGenCredentialsJSON", "provisionId"] {
        assert!(data["requestData"][k].is_string(), "requestData.{k}");
    }
    let (fc, reg) = fido_create(&mut b, &data).await;
    let o = &fc.config["oCreateOptions"];
    assert_eq!(o["rp"], json!({"id": "localhost", "name": "Microsoft"}));
    assert_eq!(URL_SAFE_NO_PAD.decode(o["challenge"].as_str().unwrap()).unwrap(), data["requestData"]["serverChallenge"].as_str().unwrap().as_bytes());
    assert_eq!(o["user"]["id"], data["requestData"]["userId"]);
    assert_eq!(o["user"]["name"], "alice@contoso.test");
    assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
    assert!(fc.has("navigator.credentials.create"));
    assert_eq!(fc.config["urlPost"], url(&sim, "/api/post/newfido"));

    // newfido verifies and stores, then naming.
    let fields = newfido_fields(&fc, &reg);
    let p = post_newfido(&mut b, &fc, &fields).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let next = p.location.unwrap();
    assert!(next.contains("/security-info?step=name&method="), "{next}");
    let p = b.get(&next).await;
    // 2026: "Let's name your passkey", a text field of 30 characters with a generated id.
    assert!(p.has("data-dialog=\"name\"") && p.has("Let&#39;s name your passkey") && p.has("<input type=\"text\" id=\"TextField"), "{}", p.body);
    assert!(p.has("maxlength=\"30\""));
    let method = html_hidden(&p.body, "method");
    // The 2023 naming step for the same method.
    behaviour(&sim, json!({"security_info_ui": "2023"})).await;
    let p = b.get(&next).await;
    assert_eq!(p.pgid(), "SecurityInfoName");
    assert!(p.has("id=\"SecurityKeyNameTextField\""));
    let long = "x".repeat(31);
    let p = b.post_form(&url(&sim, "/security-info/name"), &[("name", &long), ("method", &method)]).await;
    assert_eq!(p.status, 303);
    let p = b.post_form(&url(&sim, "/security-info/name"), &[("name", "Alice's YubiKey"), ("method", &method)]).await;
    assert_eq!(p.pgid(), "SecurityInfoDone");
    assert!(p.has(">Done</button>"));
    // 2026: "Passkey created" → Done.
    behaviour(&sim, json!({"security_info_ui": "2026"})).await;
    let p = b.post_form(&url(&sim, "/security-info/name"), &[("name", "Alice's YubiKey"), ("method", &method)]).await;
    assert!(p.has("data-dialog=\"created\"") && p.has(">Passkey created</h2>") && p.has(">Done</button>"), "{}", p.body);

    // Replaying the same result is refused.
    let p = post_newfido(&mut b, &fc, &fields).await;
    assert_eq!(p.location.as_deref(), Some(url(&sim, "/security-info?error=RequestExpired").as_str()));

    // Graph sees the key; the one-time pass is spent.
    let t = station_token(&sim).await;
    let list = json_of(get(&v1(&sim, "/users/alice@contoso.test/authentication/fido2Methods"), &t).await).await;
    assert_eq!(list["value"][0]["displayName"], "Alice's YubiKey");
    assert_eq!(list["value"][0]["model"], "keystation virtual key");
    let ctl = json_of(http().get(url(&sim, "/_sim/users/alice@contoso.test/fido2")).send().await.unwrap()).await;
    assert_eq!(ctl["value"][0]["registeredVia"], "browser");
    let taps = json_of(get(&v1(&sim, "/users/alice@contoso.test/authentication/temporaryAccessPassMethods"), &t).await).await;
    assert_eq!(taps["value"][0]["methodUsabilityReason"], "OneTimeUsed");

    // Same profile: single sign-on; another profile: the pass is used up.
    let p = b.get(sim.signin_url().as_ref()).await;
    assert_eq!(p.status, 302, "SSO with the login cookie");
    let mut other = Browser::new();
    let flow = start_signin(&mut other, &sim).await;
    let p = enter(&mut other, &sim, &flow, "alice@contoso.test", &pass).await;
    // Entra reports a used one-time pass as blocked by the user credential policy.
    assert_eq!(p.config["iErrorCode"], 130500);
}

#[tokio::test]
async fn tap_sign_in_errors() {
    let sim = sim().await;
    // Out of policy scope (the control surface issues passes the policy would refuse).
    let pass = issue_tap(&sim, "oscar.outside@contoso.test", json!({})).await;
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    let p = enter(&mut b, &sim, &flow, "oscar.outside@contoso.test", &pass).await;
    assert_eq!(p.config["iErrorCode"], 130500);
    assert_eq!(p.config["strServiceExceptionMessage"], "Temporary Access Pass sign in was blocked due to User Credential Policy.");
    assert!(p.has("id=\"passwordError\""));

    // No pass at all.
    let p = enter(&mut b, &sim, &start_signin(&mut Browser::new(), &sim).await, "bob@contoso.test", "whatever").await;
    assert_eq!(p.config["iErrorCode"], 130507, "{}", p.body);

    // Not yet valid, expired.
    let pass = issue_tap(&sim, "bob@contoso.test", json!({"start_in_minutes": 30})).await;
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    assert_eq!(enter(&mut b, &sim, &flow, "bob@contoso.test", &pass).await.config["iErrorCode"], 130503);
    let pass = issue_tap(&sim, "bob@contoso.test", json!({"lifetime_minutes": 60})).await;
    sim.advance_clock(chrono::Duration::minutes(61));
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    let p = enter(&mut b, &sim, &flow, "bob@contoso.test", &pass).await;
    assert_eq!(p.config["iErrorCode"], 130504);
    assert!(p.config["strServiceExceptionMessage"].as_str().unwrap().contains("expired"));

    // Multi-use pass while the policy wants one-time passes.
    let pass = issue_tap(&sim, "carol@contoso.test", json!({"usable_once": false})).await;
    http().patch(url(&sim, "/_sim/policies/temporaryAccessPass")).json(&json!({"isUsableOnce": true})).send().await.unwrap();
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    assert_eq!(enter(&mut b, &sim, &flow, "carol@contoso.test", &pass).await.config["iErrorCode"], 130500);
}

#[tokio::test]
async fn proof_up_interrupt_and_mfa_banner() {
    let sim = sim().await;
    let pass = issue_tap(&sim, "pat.proofup@contoso.test", json!({})).await;
    let mut b = Browser::new();
    let flow = start_signin(&mut b, &sim).await;
    let p = enter(&mut b, &sim, &flow, "pat.proofup@contoso.test", &pass).await;
    assert_eq!(p.pgid(), "ConvergedProofUpRedirect");
    assert!(p.has("id=\"ProofUpDescription\"") && p.has("more information"));
    let p = b.post_form(&login_url(&sim, &format!("/{TENANT}/proofup")), &[("flowToken", &flow)]).await;
    let p = through_kmsi(&mut b, &sim, p, "No").await;
    assert!(on_security_info(&p), "{}", p.body);

    let mut b = Browser::new();
    signed_in(&mut b, &sim, "nomfa@contoso.test").await;
    let (v, _) = new_method(&mut b, &sim, 12).await;
    assert_eq!(v["ErrorCode"], "MfaRequired");
    assert_eq!(v["ErrorMessage"], "To set up a security key, you need to sign in with two-factor authentication.");
    // Banners render on the page too.
    let p = b.get(&url(&sim, "/security-info?error=MfaRequired")).await;
    assert!(p.has("role=\"alert\" data-error-code=\"MfaRequired\">To set up a security key, you need to sign in with two-factor authentication."), "{}", p.body);
}

#[tokio::test]
async fn key_limit_banner_and_registration_window() {
    let sim = sim().await;
    let mut b = Browser::new();
    signed_in(&mut b, &sim, "kim@contoso.test").await;
    let (v, data) = new_method(&mut b, &sim, 12).await;
    assert_eq!(v["ErrorCode"], Value::Null, "kim has 1 of 2");
    let (fc, mut reg) = fido_create(&mut b, &data).await;
    assert_eq!(fc.config["oCreateOptions"]["excludeCredentials"].as_array().unwrap().len(), 1, "kim's existing key is excluded");
    reg.statement = Statement::None;
    let p = post_newfido(&mut b, &fc, &newfido_fields(&fc, &reg)).await;
    assert_eq!(p.status, 303);
    let (v, _) = new_method(&mut b, &sim, 12).await;
    assert_eq!(v["ErrorCode"], "KeyLimitReached");
    assert!(v["ErrorMessage"].as_str().unwrap().starts_with("You have already reached the limit of 2 security keys"));

    // One-time TAP: 10 minutes to register.
    let mut b = Browser::new();
    signed_in(&mut b, &sim, "bob@contoso.test").await;
    sim.advance_clock(chrono::Duration::minutes(11));
    let (v, _) = new_method(&mut b, &sim, 18).await;
    assert_eq!(v["ErrorCode"], "RegistrationWindowExpired");
}

#[tokio::test]
async fn newfido_refuses_bad_ceremonies() {
    let sim = sim().await;
    let mut b = Browser::new();
    signed_in(&mut b, &sim, "dave@contoso.test").await;

    // The browser reported an error.
    let (_, data) = new_method(&mut b, &sim, 12).await;
    let (fc, _) = fido_create(&mut b, &data).await;
    let fields = vec![
        ("provisionId".to_string(), fc.config["sProvisionId"].as_str().unwrap().to_string()),
        ("canary".to_string(), html_hidden(&fc.body, "canary")),
        ("errorName".to_string(), "NotAllowedError".to_string()),
        ("errorMessage".to_string(), "The operation either timed out or was not allowed.".to_string()),
    ];
    let p = post_newfido(&mut b, &fc, &fields).await;
    assert_eq!(p.location.as_deref(), Some(url(&sim, "/security-info?error=CeremonyFailed").as_str()));
    let page = b.get(&p.location.unwrap()).await;
    assert!(page.has("data-error-code=\"CeremonyFailed\">We couldn&#39;t add your security key"), "{}", page.body);

    // Graph's origin is not the browser's origin.
    let (_, data) = new_method(&mut b, &sim, 12).await;
    let (fc, mut reg) = fido_create(&mut b, &data).await;
    reg.origin = "https://login.microsoft.com".into();
    let p = post_newfido(&mut b, &fc, &newfido_fields(&fc, &reg)).await;
    assert_eq!(p.location.as_deref(), Some(url(&sim, "/security-info?error=VerificationFailed").as_str()));

    // The same-tab page refuses crossOrigin: true.
    let (_, data) = new_method(&mut b, &sim, 12).await;
    let (fc, mut reg) = fido_create(&mut b, &data).await;
    reg.cross_origin = true;
    let p = post_newfido(&mut b, &fc, &newfido_fields(&fc, &reg)).await;
    assert!(p.location.unwrap().ends_with("error=VerificationFailed"));

    // Forged request data never reaches the ceremony page.
    let (_, mut data) = new_method(&mut b, &sim, 12).await;
    data["requestData"]["canary"] = json!("forged");
    let rd = &data["requestData"];
    let fields: Vec<(String, String)> = rd.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let p = b.post_form(data["provisionUrl"].as_str().unwrap(), &refs).await;
    assert_eq!(p.pgid(), "ConvergedError");
    // /fido/create must be on the login host.
    let p = b.post_form(&url(&sim, &format!("/{TENANT}/fido/create")), &refs).await;
    assert_eq!(p.status, 400);
}

#[tokio::test]
async fn iframe_and_popup_variants() {
    let sim = sim().await;
    for (user, variant, cross_origin) in [("iris.iframe@contoso.test", "iframe", true), ("pete.popup@contoso.test", "popup", false)] {
        let mut b = Browser::new();
        signed_in(&mut b, &sim, user).await;
        let (_, data) = new_method(&mut b, &sim, 18).await;
        assert_eq!(data["ceremony"], variant);
        let (fc, mut reg) = fido_create(&mut b, &data).await;
        assert_eq!(fc.config["sFidoCeremony"], variant);
        reg.cross_origin = cross_origin;
        let p = post_newfido(&mut b, &fc, &newfido_fields(&fc, &reg)).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert_eq!(p.pgid(), "NewFidoComplete");
        assert!(p.config["urlNext"].as_str().unwrap().starts_with("/security-info?step=name&method="));
        assert!(p.has("window.opener") && p.has("window.top"));
    }
    // The test-control override switches everyone.
    let r = http().put(url(&sim, "/_sim/ceremony")).json(&json!({"variant": "popup"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut b = Browser::new();
    signed_in(&mut b, &sim, "alice@contoso.test").await;
    assert_eq!(new_method(&mut b, &sim, 18).await.1["ceremony"], "popup");
}

#[tokio::test]
async fn device_login_page_approves_a_device_code() {
    let sim = sim().await;
    let c = http();
    let dc = json_of(
        c.post(url(&sim, &format!("/{TENANT}/oauth2/v2.0/devicecode")))
            .form(&[("client_id", OPERATOR_APP), ("scope", GRAPH_DEFAULT)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut b = Browser::new();
    let p = b.get(dc["verification_uri"].as_str().unwrap()).await;
    assert_eq!(p.pgid(), "DeviceAuthEnterCode");
    assert!(p.has("name=\"otc\""));
    let p = b.post_form(&url(&sim, "/devicelogin"), &[("otc", "NOPE12345")]).await;
    assert_eq!(p.config["iErrorCode"], 70000);
    let code = dc["user_code"].as_str().unwrap();
    let p = b.post_form(&url(&sim, "/devicelogin"), &[("otc", code)]).await;
    assert_eq!(p.pgid(), "DeviceAuthSignIn");
    assert!(p.has("keystation operator") && p.has("id=\"i0116\""));
    let p = b.post_form(&url(&sim, "/devicelogin"), &[("otc", code), ("loginfmt", "anna.authadmin@contoso.test"), ("action", "approve")]).await;
    assert_eq!(p.pgid(), "DeviceAuthDone");
    let r = c
        .post(token_url(&sim))
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", OPERATOR_APP), ("device_code", dc["device_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(jwt_claims(json_of(r).await["access_token"].as_str().unwrap())["upn"], "anna.authadmin@contoso.test");
}
