//! Security info on the "mysignins" origin: the method list and "Add sign-in method" in
//! one of two UIs (`security_info_2026.rs`, the default; `security_info_2023.rs`), the
//! `/api/authenticationmethods/new` call that starts a provisioning request, naming, and
//! the error banners both UIs share.
use super::html;
use super::i18n::{texts, Texts};
use super::{cookie, form, on_login_side, PORTAL_COOKIE};
use crate::entra::simulator::graph::fido2::new_server_challenge;
use crate::entra::simulator::config::SecurityInfoUi;
use crate::entra::simulator::seed::CeremonyVariant;
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::User;
use crate::entra::simulator::state::fido2::{Challenge, ChallengePurpose};
use crate::entra::simulator::state::sessions::{AddKind, LoginSession, Provision, ProvisionStatus};
use crate::entra::simulator::state::TenantState;
use crate::entra::simulator::tokens::random_token;
use crate::entra::simulator::webauthn::b64;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Duration;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Banner/error codes of the Security-info pages and their texts (in the pages' language).
pub fn banner_text(st: &TenantState, user: Option<&User>, code: &str, t: &Texts) -> String {
    if t.lang == "de" {
        return banner_text_de(st, user, code);
    }
    match code {
        "KeyLimitReached" => {
            let n = user.map(|u| st.key_limit(u)).unwrap_or(st.max_keys_per_user);
            format!("You have already reached the limit of {n} security keys. Delete one before adding another.")
        }
        "MfaRequired" => "To set up a security key, you need to sign in with two-factor authentication.".into(),
        "RegistrationWindowExpired" => {
            "Your sign-in is too old to add a security key. Sign in again with a new Temporary Access Pass.".into()
        }
        "MethodNotAllowed" => "Your organization doesn't allow you to add this sign-in method.".into(),
        "KeyNotAllowed" => "This security key isn't allowed by your organization. Use a different security key.".into(),
        "CeremonyFailed" => "We couldn't add your security key: the browser did not create a credential. Try again.".into(),
        "VerificationFailed" => "We couldn't verify your security key. Try again, or use a different security key.".into(),
        "AlreadyRegistered" => "This security key is already registered to your account.".into(),
        "RequestExpired" => "The request to add a security key has expired. Start again.".into(),
        _ => "Something went wrong. Try again.".into(),
    }
}

fn banner_text_de(st: &TenantState, user: Option<&User>, code: &str) -> String {
    match code {
        "KeyLimitReached" => {
            let n = user.map(|u| st.key_limit(u)).unwrap_or(st.max_keys_per_user);
            format!("Sie haben bereits die Höchstzahl von {n} Sicherheitsschlüsseln erreicht. Löschen Sie einen, bevor Sie einen weiteren hinzufügen.")
        }
        "MfaRequired" => "Um einen Sicherheitsschlüssel einzurichten, müssen Sie sich mit zweistufiger Authentifizierung anmelden.".into(),
        "RegistrationWindowExpired" => {
            "Ihre Anmeldung ist zu alt, um einen Sicherheitsschlüssel hinzuzufügen. Melden Sie sich mit einem neuen befristeten Zugriffspass erneut an.".into()
        }
        "MethodNotAllowed" => "Ihre Organisation lässt das Hinzufügen dieser Anmeldemethode nicht zu.".into(),
        "KeyNotAllowed" => "Dieser Sicherheitsschlüssel ist in Ihrer Organisation nicht zulässig. Verwenden Sie einen anderen Sicherheitsschlüssel.".into(),
        "CeremonyFailed" => "Ihr Sicherheitsschlüssel konnte nicht hinzugefügt werden: Der Browser hat keine Anmeldeinformationen erstellt.".into(),
        "VerificationFailed" => "Ihr Sicherheitsschlüssel konnte nicht überprüft werden. Versuchen Sie es erneut.".into(),
        "AlreadyRegistered" => "Dieser Sicherheitsschlüssel ist bereits für Ihr Konto registriert.".into(),
        "RequestExpired" => "Die Anforderung zum Hinzufügen eines Sicherheitsschlüssels ist abgelaufen. Beginnen Sie erneut.".into(),
        _ => "Etwas ist schiefgelaufen. Versuchen Sie es erneut.".into(),
    }
}

/// The Security-info session of a request, if signed in.
pub fn session(st: &TenantState, headers: &HeaderMap) -> Option<(String, LoginSession)> {
    let sid = cookie(headers, PORTAL_COOKIE)?;
    let s = st.pages.portal_sessions.get(&sid)?.clone();
    st.dir.user(&s.user_id)?;
    Some((sid, s))
}

/// The ceremony variant for a user: test override, user setting, tenant default.
pub fn variant_for(st: &TenantState, user: &User, tenant_default: CeremonyVariant) -> CeremonyVariant {
    st.pages.ceremony_override.or(user.ceremony).unwrap_or(tenant_default)
}

/// `GET /`: Security info.
pub async fn root(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if on_login_side(&sim, &headers) {
        return (StatusCode::NOT_FOUND, "The login host serves sign-in and /fido/create only.\n").into_response();
    }
    html::found("/security-info")
}

/// Starts a ceremony from either UI: `POST /api/authenticationmethods/new`, then the
/// form POST of `requestData` to `provisionUrl` (same tab, an iframe or a popup).
pub const START_CEREMONY_JS: &str = r#"
function startCeremony(type, transport, onError) {
  fetch('/api/authenticationmethods/new', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({Type: type, Transport: transport})
  }).then(function (r) { return r.json(); }).then(function (j) {
    if (j.ErrorCode) { onError(j.ErrorMessage, j.ErrorCode); return; }
    var data = JSON.parse(j.Data);
    var f = document.createElement('form');
    f.method = 'POST'; f.action = data.provisionUrl; f.id = 'FidoProvisionForm';
    Object.keys(data.requestData).forEach(function (k) {
      var i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = data.requestData[k]; f.appendChild(i);
    });
    if (data.ceremony === 'iframe') {
      var fr = document.createElement('iframe');
      fr.name = 'fidoFrame'; fr.id = 'FidoFrame'; fr.setAttribute('allow', 'publickey-credentials-create *');
      document.getElementById('CeremonyHost').appendChild(fr);
      f.target = 'fidoFrame';
    } else if (data.ceremony === 'popup') {
      window.open('about:blank', 'fidoPopup', 'width=520,height=640');
      f.target = 'fidoPopup';
    }
    document.body.appendChild(f);
    f.submit();
  }).catch(function (e) { onError('Something went wrong: ' + e, 'Unknown'); });
}
"#;

/// The naming step of a view.
pub struct Naming {
    /// The new method.
    pub method_id: String,
    /// Its current name.
    pub current: String,
    /// Why the last name was refused.
    pub error: Option<String>,
}

/// What a Security-info page shows, for either UI.
pub struct View {
    pub upn: String,
    pub tenant_id: String,
    pub methods: Vec<crate::entra::simulator::state::fido2::Fido2Method>,
    pub key_limit: u32,
    pub variant: CeremonyVariant,
    /// (code, text) of the error banner.
    pub banner: Option<(String, String)>,
    pub naming: Option<Naming>,
    pub passkey_behind_show_more: bool,
    pub texts: &'static Texts,
}

fn view(sim: &Sim, st: &TenantState, user: &User) -> View {
    let behaviour = sim.behaviour();
    View {
        upn: user.upn.clone(),
        tenant_id: st.tenant_id.clone(),
        methods: st.methods_of(&user.id).to_vec(),
        key_limit: st.key_limit(user),
        variant: variant_for(st, user, behaviour.ceremony_variant),
        banner: None,
        naming: None,
        passkey_behind_show_more: behaviour.passkey_behind_show_more,
        texts: texts(behaviour.page_locale),
    }
}

/// `GET /security-info`: sign-in redirect, the page, the naming step, error banners.
pub async fn page(State(sim): State<Arc<Sim>>, headers: HeaderMap, OriginalUri(uri): OriginalUri, Query(q): Query<HashMap<String, String>>) -> Response {
    if on_login_side(&sim, &headers) {
        return html::found(&sim.urls.portal_url(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/security-info")));
    }
    let ui = sim.behaviour().security_info_ui;
    let st = sim.state();
    let Some((_, session)) = session(&st, &headers) else {
        return html::found(&super::signin_url(&sim, &st.tenant_id));
    };
    let Some(user) = st.dir.user(&session.user_id).cloned() else { return html::found(&super::signin_url(&sim, &st.tenant_id)) };
    let mut v = view(&sim, &st, &user);
    v.banner = q.get("error").map(|code| (code.clone(), banner_text(&st, Some(&user), code, v.texts)));
    if q.get("step").map(String::as_str) == Some("name") {
        let method_id = q.get("method").cloned().unwrap_or_default();
        let current = v.methods.iter().find(|m| m.id == method_id).map(|m| m.display_name.clone()).unwrap_or_default();
        v.naming = Some(Naming { method_id, current, error: q.get("nameError").cloned() });
    }
    match ui {
        SecurityInfoUi::Ui2023 => super::security_info_2023::overview(&v),
        SecurityInfoUi::Ui2026 => super::security_info_2026::overview(&v),
    }
}

/// `POST /security-info/name`: set the key's displayName (1–30 characters), then "Done".
pub async fn name(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let method_id = f.get("method").cloned().unwrap_or_default();
    let new_name = f.get("name").map(|s| s.trim().to_string()).unwrap_or_default();
    let ui = sim.behaviour().security_info_ui;
    let mut st = sim.state();
    let Some((_, session)) = session(&st, &headers) else {
        return html::found(&super::signin_url(&sim, &st.tenant_id));
    };
    let len = new_name.chars().count();
    if !(1..=30).contains(&len) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("step", "name")
            .append_pair("method", &method_id)
            .append_pair("nameError", "The name must be between 1 and 30 characters.")
            .finish();
        return html::see_other(&format!("/security-info?{q}"));
    }
    let Some(m) = st.fido2.get_mut(&session.user_id.to_lowercase()).and_then(|l| l.iter_mut().find(|m| m.id == method_id)) else {
        return html::see_other("/security-info?error=Unknown");
    };
    m.display_name = new_name.clone();
    match ui {
        SecurityInfoUi::Ui2023 => super::security_info_2023::done(&method_id, &new_name),
        SecurityInfoUi::Ui2026 => {
            let Some(user) = st.dir.user(&session.user_id).cloned() else { return html::see_other("/security-info") };
            let v = view(&sim, &st, &user);
            super::security_info_2026::done(&v, &new_name)
        }
    }
}

/// `POST /api/authenticationmethods/new` `{"Type": 12|18}`: check the rules, start a
/// provisioning request, answer `{Data: "<json>", ErrorCode, ErrorMessage}`.
pub async fn new_method(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let kind = match req.get("Type").and_then(|t| t.as_i64()) {
        Some(12) => AddKind::SecurityKey,
        Some(18) => AddKind::Passkey,
        _ => return (StatusCode::BAD_REQUEST, Json(json!({"Data": null, "ErrorCode": "BadRequest", "ErrorMessage": "Type must be 12 (security key) or 18 (passkey)."}))).into_response(),
    };
    let behaviour = sim.behaviour();
    let now = sim.clock.now();
    let mut st = sim.state();
    let Some((sid, session)) = session(&st, &headers) else {
        return (StatusCode::UNAUTHORIZED, Json(json!({"Data": null, "ErrorCode": "SessionExpired", "ErrorMessage": "Your session has expired. Sign in again."}))).into_response();
    };
    let Some(user) = st.dir.user(&session.user_id).cloned() else {
        return (StatusCode::UNAUTHORIZED, Json(json!({"Data": null, "ErrorCode": "SessionExpired", "ErrorMessage": "Sign in again."}))).into_response();
    };
    if let Some(code) = registration_refusal(&st, &user, &session, now) {
        let message = banner_text(&st, Some(&user), code, texts(behaviour.page_locale));
        return Json(json!({"Data": null, "ErrorCode": code, "ErrorMessage": message})).into_response();
    }
    let server_challenge = new_server_challenge();
    let expires = (now + Duration::minutes(10)).min(session.deadline);
    st.prune(now);
    st.challenges.insert(
        server_challenge.clone().into_bytes(),
        Challenge { user_id: user.id.clone(), issued: now, expires, used: false, purpose: ChallengePurpose::Browser },
    );
    let variant = variant_for(&st, &user, behaviour.ceremony_variant);
    let provision_id = uuid::Uuid::new_v4().to_string();
    let canary = random_token(32);
    st.pages.provisions.insert(
        provision_id.clone(),
        Provision { canary: canary.clone(), portal_session: sid, user_id: user.id.clone(), server_challenge: server_challenge.clone(), kind, variant, created: now, status: ProvisionStatus::Issued },
    );
    let exclude: Vec<String> = st.methods_of(&user.id).iter().map(|m| b64::b64url(&m.credential_id)).collect();
    let data = json!({
        "provisionUrl": sim.urls.login_url(&format!("/{}/fido/create", st.tenant_id)),
        "ceremony": variant.as_str(),
        "requestData": {
            "canary": canary,
            "provisionId": provision_id,
            "serverChallenge": server_challenge,
            "userId": b64::b64url(&user.user_handle),
            "postBackUrl": sim.urls.portal_url("/api/post/newfido"),
            "ExcludeNextGenCredentialsJSON": serde_json::to_string(&exclude).unwrap_or_else(|_| "[]".into()),
        },
    });
    Json(json!({"Data": data.to_string(), "ErrorCode": null, "ErrorMessage": null})).into_response()
}

/// Why this session may not add a key now (banner code), if anything.
pub fn registration_refusal(st: &TenantState, user: &User, session: &LoginSession, now: chrono::DateTime<chrono::Utc>) -> Option<&'static str> {
    if now >= session.deadline {
        return Some("RegistrationWindowExpired");
    }
    if !session.mfa {
        return Some("MfaRequired");
    }
    if !st.fido2_applies(user) || !st.fido2_policy.is_self_service_registration_allowed {
        return Some("MethodNotAllowed");
    }
    if st.methods_of(&user.id).len() as u32 >= st.key_limit(user) {
        return Some("KeyLimitReached");
    }
    None
}
