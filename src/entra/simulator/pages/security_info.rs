//! Security info on the "mysignins" origin: the method list, "Add sign-in method" dialog
//! (combobox → Security key / Passkey → Add → USB/NFC → Next), the
//! `/api/authenticationmethods/new` call that starts a provisioning request, and naming.
use super::html::{self, esc, hidden};
use super::{cookie, form, on_login_host, PORTAL_COOKIE};
use crate::entra::simulator::graph::fido2::new_server_challenge;
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

/// Banner/error codes of the Security-info pages and their texts.
pub fn banner_text(st: &TenantState, user: Option<&User>, code: &str) -> String {
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
    if on_login_host(&sim, &headers) {
        return (StatusCode::NOT_FOUND, "The login host serves sign-in and /fido/create only.\n").into_response();
    }
    html::found("/security-info")
}

const SPA_SCRIPT: &str = r#"
(function () {
  var cfg = $Config;
  var banner = document.getElementById('ms-banner');
  function showBanner(text) { banner.textContent = text; banner.hidden = false; }
  var dialog = document.getElementById('AddMethodDialog');
  var combo = document.getElementById('MethodCombobox');
  var list = document.getElementById('MethodOptions');
  var step1 = document.getElementById('AddStep1');
  var step2 = document.getElementById('AddStep2');
  var chosen = null, transport = 'usb';
  if (cfg.strBannerMessage) { showBanner(cfg.strBannerMessage); }
  if (!dialog) {
    document.getElementById('AddMethodButton').addEventListener('click', function () { window.location.href = '/security-info'; });
    return;
  }
  document.getElementById('AddMethodButton').addEventListener('click', function () {
    dialog.hidden = false; step1.hidden = false; step2.hidden = true;
  });
  combo.addEventListener('click', function () {
    list.hidden = !list.hidden; combo.setAttribute('aria-expanded', String(!list.hidden));
  });
  combo.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { combo.click(); e.preventDefault(); } });
  Array.prototype.forEach.call(list.querySelectorAll('[role=option]'), function (o) {
    o.addEventListener('click', function () {
      Array.prototype.forEach.call(list.querySelectorAll('[role=option]'), function (x) { x.setAttribute('aria-selected', 'false'); });
      o.setAttribute('aria-selected', 'true');
      chosen = parseInt(o.getAttribute('data-type'), 10);
      combo.textContent = o.textContent; list.hidden = true; combo.setAttribute('aria-expanded', 'false');
    });
  });
  document.getElementById('AddButton').addEventListener('click', function () {
    if (!chosen) { showBanner('Choose a method first.'); return; }
    step1.hidden = true; step2.hidden = false;
    document.getElementById('TransportChoice').hidden = (chosen !== 12);
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-transport]'), function (b) {
    b.addEventListener('click', function () {
      transport = b.getAttribute('data-transport');
      Array.prototype.forEach.call(document.querySelectorAll('[data-transport]'), function (x) { x.setAttribute('aria-pressed', 'false'); });
      b.setAttribute('aria-pressed', 'true');
    });
  });
  document.getElementById('NextButton').addEventListener('click', function () {
    fetch('/api/authenticationmethods/new', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({Type: chosen, Transport: transport})
    }).then(function (r) { return r.json(); }).then(function (j) {
      if (j.ErrorCode) { dialog.hidden = true; showBanner(j.ErrorMessage); return; }
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
    }).catch(function (e) { showBanner('Something went wrong: ' + e); });
  });
})();
"#;

fn method_rows(st: &TenantState, user: &User) -> String {
    let rows: String = st
        .methods_of(&user.id)
        .iter()
        .map(|m| {
            format!(
                "<tr data-method-id=\"{}\"><td>Security key</td><td class=\"method-name\">{}</td><td>{}</td></tr>",
                esc(&m.id),
                esc(&m.display_name),
                esc(m.model.as_deref().unwrap_or(""))
            )
        })
        .collect();
    format!("<table id=\"MethodList\"><thead><tr><th>Method</th><th>Name</th><th>Model</th></tr></thead><tbody>{rows}</tbody></table>")
}

/// `GET /security-info`: sign-in redirect, the page, the naming step, error banners.
pub async fn page(State(sim): State<Arc<Sim>>, headers: HeaderMap, OriginalUri(uri): OriginalUri, Query(q): Query<HashMap<String, String>>) -> Response {
    if on_login_host(&sim, &headers) {
        return html::found(&sim.urls.main_url(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/security-info")));
    }
    let behaviour = sim.behaviour();
    let st = sim.state();
    let Some((_, session)) = session(&st, &headers) else {
        return html::found(&super::signin_url(&sim, &st.tenant_id));
    };
    let Some(user) = st.dir.user(&session.user_id).cloned() else { return html::found(&super::signin_url(&sim, &st.tenant_id)) };
    let banner = q.get("error").map(|code| banner_text(&st, Some(&user), code));
    let naming = q.get("step").map(String::as_str) == Some("name");
    let method_id = q.get("method").cloned().unwrap_or_default();
    let variant = variant_for(&st, &user, behaviour.ceremony_variant);
    let config = json!({
        "pgid": if naming { "SecurityInfoName" } else { "SecurityInfo" },
        "iErrorCode": 0,
        "strServiceExceptionMessage": "",
        "strBannerMessage": banner.clone().unwrap_or_default(),
        "sBannerCode": q.get("error").cloned().unwrap_or_default(),
        "sUserPrincipalName": user.upn,
        "sTenantId": st.tenant_id,
        "sFidoCeremony": variant.as_str(),
        "iSecurityKeyCount": st.methods_of(&user.id).len(),
        "iSecurityKeyLimit": st.key_limit(&user),
    });
    let name_dialog = if naming {
        let current = st.methods_of(&user.id).iter().find(|m| m.id == method_id).map(|m| m.display_name.clone()).unwrap_or_default();
        name_form(&method_id, &current, q.get("nameError").map(String::as_str))
    } else {
        String::new()
    };
    let body = format!(
        "<h1 id=\"SecurityInfoTitle\">Security info</h1>\
<div id=\"ms-banner\" role=\"alert\" {banner_hidden}>{banner_text}</div>\
<p>These are the methods you use to sign into your account or reset your password. Signed in as <span id=\"SignedInUser\">{upn}</span>.</p>\
<button type=\"button\" name=\"Add method\" id=\"AddMethodButton\">+ Add sign-in method</button>\
{rows}{add_dialog}{name_dialog}",
        banner_hidden = if banner.is_some() { "" } else { "hidden" },
        banner_text = esc(banner.as_deref().unwrap_or("")),
        upn = esc(&user.upn),
        rows = method_rows(&st, &user),
        add_dialog = if naming { String::new() } else { ADD_DIALOG.to_string() },
    );
    html::page("My Sign-Ins | Security Info", &config, &body, SPA_SCRIPT, true)
}

/// The "Add a method" dialog (hidden until "Add sign-in method" is clicked).
const ADD_DIALOG: &str = "<div id=\"AddMethodDialog\" role=\"dialog\" aria-label=\"Add a method\" hidden>\
<div id=\"AddStep1\"><h2>Add a method</h2><p>Which method would you like to add?</p>\
<div id=\"MethodCombobox\" role=\"combobox\" aria-label=\"Authentication method options\" aria-haspopup=\"listbox\" aria-controls=\"MethodOptions\" aria-expanded=\"false\" tabindex=\"0\">Choose a method</div>\
<div id=\"MethodOptions\" role=\"listbox\" hidden>\
<div role=\"option\" data-type=\"12\" aria-selected=\"false\">Security key</div>\
<div role=\"option\" data-type=\"18\" aria-selected=\"false\">Passkey</div></div>\
<button type=\"button\" id=\"AddButton\">Add</button></div>\
<div id=\"AddStep2\" hidden><h2>Security key</h2>\
<div id=\"TransportChoice\"><p>Choose the type of security key that you have.</p>\
<button type=\"button\" data-transport=\"usb\" aria-pressed=\"true\">USB device</button>\
<button type=\"button\" data-transport=\"nfc\" aria-pressed=\"false\">NFC device</button></div>\
<p>Have your key ready. You will be directed to sign in to your account and complete the setup.</p>\
<button type=\"button\" id=\"NextButton\">Next</button></div></div>\
<div id=\"CeremonyHost\"></div>";

fn name_form(method_id: &str, current: &str, error: Option<&str>) -> String {
    format!(
        "<div id=\"NameDialog\" role=\"dialog\" aria-label=\"Name your security key\"><h2>Name your security key</h2>\
<form method=\"post\" action=\"/security-info/name\">\
<label for=\"SecurityKeyNameTextField\">Name</label>\
<input type=\"text\" id=\"SecurityKeyNameTextField\" name=\"name\" maxlength=\"30\" value=\"{current}\" aria-describedby=\"NameError\">\
<div id=\"NameError\" role=\"alert\">{err}</div>{hidden}\
<button type=\"submit\" id=\"NameNextButton\">Next</button></form></div>",
        current = esc(current),
        err = esc(error.unwrap_or("")),
        hidden = hidden(&[("method", method_id)]),
    )
}

/// `POST /security-info/name`: set the key's displayName (1–30 characters), then "Done".
pub async fn name(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let method_id = f.get("method").cloned().unwrap_or_default();
    let new_name = f.get("name").map(|s| s.trim().to_string()).unwrap_or_default();
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
    let config = json!({"pgid": "SecurityInfoDone", "iErrorCode": 0, "strServiceExceptionMessage": "", "sMethodId": method_id, "sDisplayName": new_name});
    let body = format!(
        "<h1 id=\"SecurityInfoTitle\">Security info</h1><div id=\"DoneDialog\" role=\"dialog\"><h2>You're all set</h2>\
<p id=\"DoneMessage\">You can now use your security key <span class=\"method-name\">{}</span> instead of a password to sign in.</p>\
<button type=\"button\" id=\"DoneButton\" onclick=\"window.location.href='/security-info'\">Done</button>\
<noscript><a href=\"/security-info\">Done</a></noscript></div>",
        esc(&new_name)
    );
    html::page("My Sign-Ins | Security Info", &config, &body, "", true)
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
        let message = banner_text(&st, Some(&user), code);
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
            "postBackUrl": sim.urls.main_url("/api/post/newfido"),
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
