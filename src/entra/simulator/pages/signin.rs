//! Sign-in on the login host: authorize → username (`#i0116`) → Temporary Access Pass
//! (`input[name=accesspass]`) → optional "More information required" interrupt →
//! optional "Stay signed in?" → redirect with a code to the Security-info callback.
use super::html::{self, esc, hidden};
use super::{cookie, form, on_login_host, set_cookie, LOGIN_COOKIE, MYSIGNINS_CLIENT_ID, PORTAL_COOKIE};
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::sessions::{AuthCode, FlowStage, LoginFlow, LoginSession};
use crate::entra::simulator::state::tap::TapUsability;
use crate::entra::simulator::tokens::random_token;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Duration;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Sign-in error codes (the `iErrorCode` of a page) and their texts.
pub mod codes {
    /// Unknown user name.
    pub const UNKNOWN_USER: u32 = 50034;
    /// Account disabled.
    pub const DISABLED: u32 = 50057;
    /// The sign-in flow token is unknown or too old.
    pub const FLOW_EXPIRED: u32 = 50058;
    /// Bad authorize request (client or redirect URI).
    pub const BAD_REQUEST: u32 = 50011;
    /// Unknown tenant.
    pub const UNKNOWN_TENANT: u32 = 90002;
    /// TAP sign-in blocked by the user credential policy (out of scope, method off,
    /// multi-use pass while the policy wants one-time passes, guest, one-time pass
    /// already used — Entra says "blocked" for that too).
    pub const TAP_BLOCKED: u32 = 130500;
    /// The pass is not valid yet (the simulator's own code; Entra's is not public).
    pub const TAP_NOT_YET_VALID: u32 = 130503;
    /// The pass expired (AADSTS130504 in public reports).
    pub const TAP_EXPIRED: u32 = 130504;
    /// No pass, or not this pass (AADSTS130507 "An access pass could not be found or
    /// verified for the user" in public reports).
    pub const TAP_INVALID: u32 = 130507;
}

/// The texts that go with the TAP error codes.
pub fn tap_error_text(code: u32) -> &'static str {
    match code {
        codes::TAP_BLOCKED => "Temporary Access Pass sign in was blocked due to User Credential Policy.",
        codes::TAP_EXPIRED => "Your Temporary Access Pass has expired. Ask your administrator for a new one.",
        codes::TAP_NOT_YET_VALID => "Your Temporary Access Pass is not valid yet. Try again when it becomes valid.",
        _ => "That Temporary Access Pass didn't work: an access pass could not be found or verified for the user. Check it and try again, or ask your administrator for a new one.",
    }
}

fn config(pgid: &str, tenant: &str, flow: &str, url_post: &str, error: Option<(u32, &str)>) -> serde_json::Value {
    json!({
        "pgid": pgid,
        "iErrorCode": error.map(|e| e.0).unwrap_or(0),
        "strServiceExceptionMessage": error.map(|e| e.1).unwrap_or(""),
        "sFT": flow,
        "sCtx": flow,
        "urlPost": url_post,
        "sTenantId": tenant,
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "canary": random_token(24),
    })
}

/// A sign-in error page (pgid `ConvergedError`).
pub fn error_page(tenant: &str, code: u32, message: &str, retry: Option<&str>) -> Response {
    let link = retry.map(|u| format!("<p><a id=\"idA_RetryLink\" href=\"{}\">Sign in again</a></p>", esc(u))).unwrap_or_default();
    html::page(
        "Sign in to your account",
        &config("ConvergedError", tenant, "", "", Some((code, message))),
        &format!("<div id=\"idPageTitle\" role=\"heading\">Sorry, but we're having trouble signing you in.</div>\
<div id=\"serviceExceptionMessage\" role=\"alert\">AADSTS{code}: {}</div>{link}", esc(message)),
        "",
        false,
    )
}

fn username_page(tenant: &str, flow: &str, error: Option<(u32, &str)>, prefill: &str) -> Response {
    let action = format!("/{tenant}/login");
    let err = error.map(|e| esc(e.1)).unwrap_or_default();
    let body = format!(
        "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">Sign in</div>\
<form name=\"f1\" id=\"i0281\" method=\"post\" action=\"{action}\" novalidate autocomplete=\"off\">\
<div id=\"usernameError\" role=\"alert\" aria-live=\"assertive\">{err}</div>\
<input type=\"email\" name=\"loginfmt\" id=\"i0116\" maxlength=\"113\" lang=\"en\" class=\"form-control\" aria-required=\"true\" \
placeholder=\"Email, phone, or Skype\" aria-label=\"Enter your email, phone, or Skype.\" autocomplete=\"username\" value=\"{prefill}\">\
{hidden}<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"Next\"></form>",
        prefill = esc(prefill),
        hidden = hidden(&[("flowToken", flow)]),
    );
    html::page("Sign in to your account", &config("ConvergedSignIn", tenant, flow, &action, error), &body, "", false)
}

fn access_pass_page(tenant: &str, flow: &str, upn: &str, error: Option<(u32, &str)>) -> Response {
    let action = format!("/{tenant}/login/accesspass");
    let err = error.map(|e| esc(e.1)).unwrap_or_default();
    let body = format!(
        "<div id=\"displayName\" class=\"identity\">{upn}</div>\
<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">Enter Temporary Access Pass</div>\
<form name=\"f1\" id=\"i0281\" method=\"post\" action=\"{action}\" autocomplete=\"off\">\
<div id=\"passwordError\" role=\"alert\" aria-live=\"assertive\">{err}</div>\
<input type=\"password\" name=\"accesspass\" id=\"accesspass\" autocomplete=\"off\" aria-required=\"true\" \
placeholder=\"Temporary Access Pass\" aria-label=\"Enter the Temporary Access Pass\">\
{hidden}<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"Sign in\"></form>",
        upn = esc(upn),
        hidden = hidden(&[("flowToken", flow), ("ps", "56")]),
    );
    let mut cfg = config("ConvergedTFA", tenant, flow, &action, error);
    cfg["sPOST_Username"] = json!(upn);
    cfg["sAuthMethod"] = json!("TemporaryAccessPass");
    html::page("Enter Temporary Access Pass", &cfg, &body, "", false)
}

fn proof_up_page(tenant: &str, flow: &str) -> Response {
    let action = format!("/{tenant}/proofup");
    let body = format!(
        "<div id=\"ProofUpTitle\" role=\"heading\" aria-level=\"1\">More information required</div>\
<div id=\"ProofUpDescription\">Your organization needs more information to keep your account secure</div>\
<form method=\"post\" action=\"{action}\">{}<input type=\"submit\" id=\"idSubmit_ProofUp_Redirect\" class=\"win-button button_primary\" value=\"Next\"></form>",
        hidden(&[("flowToken", flow)])
    );
    html::page("More information required", &config("ConvergedProofUpRedirect", tenant, flow, &action, None), &body, "", false)
}

fn kmsi_page(tenant: &str, flow: &str, no_is_button: bool) -> Response {
    let action = format!("/{tenant}/kmsi");
    // Most copies of Microsoft's template make No an `<input type="button">` whose
    // script posts the form; the simulator's default is a plain submit input.
    let (no, script) = if no_is_button {
        (
            "<input type=\"button\" id=\"idBtn_Back\" class=\"win-button button-secondary\" value=\"No\">",
            "document.getElementById('idBtn_Back').addEventListener('click', function () {\
 var f = document.getElementById('KmsiForm'), i = document.createElement('input');\
 i.type = 'hidden'; i.name = 'LoginOptions'; i.value = '3'; f.appendChild(i); f.submit(); });",
        )
    } else {
        ("<input type=\"submit\" id=\"idBtn_Back\" name=\"LoginOptions\" class=\"win-button button-secondary\" value=\"No\">", "")
    };
    let body = format!(
        "<div id=\"kmsiTitle\" role=\"heading\" aria-level=\"1\">Stay signed in?</div>\
<div id=\"KmsiDescription\">Do this to reduce the number of times you are asked to sign in.</div>\
<form id=\"KmsiForm\" method=\"post\" action=\"{action}\">{}\
<label><input type=\"checkbox\" name=\"DontShowAgain\" id=\"KmsiCheckboxField\"> Don't show this again</label><br>\
{no}\
<input type=\"submit\" id=\"idSIButton9\" name=\"LoginOptions\" class=\"win-button button_primary\" value=\"Yes\"></form>",
        hidden(&[("flowToken", flow)])
    );
    html::page("Stay signed in?", &config("KmsiInterrupt", tenant, flow, &action, None), &body, script, false)
}

/// `GET /{tenant}/oauth2/v2.0/authorize` (login host).
pub async fn authorize(
    State(sim): State<Arc<Sim>>,
    Path(tenant): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !on_login_host(&sim, &headers) {
        return html::found(&sim.urls.login_url(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")));
    }
    let now = sim.clock.now();
    let mut st = sim.state();
    if !st.matches_tenant(&tenant) {
        return error_page(&tenant, codes::UNKNOWN_TENANT, &format!("Tenant '{tenant}' not found."), None);
    }
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let expected_redirect = sim.urls.main_url("/auth/callback");
    if !client_id.eq_ignore_ascii_case(MYSIGNINS_CLIENT_ID) {
        return error_page(&tenant, 700016, &format!("Application with identifier '{client_id}' cannot sign in through the simulator's pages; only My Sign-ins ({MYSIGNINS_CLIENT_ID}) can."), None);
    }
    if redirect_uri != expected_redirect {
        return error_page(&tenant, codes::BAD_REQUEST, &format!("The redirect URI '{redirect_uri}' does not match the one registered for My Sign-ins ({expected_redirect})."), None);
    }
    let state = q.get("state").cloned();
    // Single sign-on with an existing login session.
    if let Some(sid) = cookie(&headers, LOGIN_COOKIE)
        && let Some(s) = st.pages.login_sessions.get(&sid).cloned()
        && now < s.deadline
        && st.dir.user(&s.user_id).is_some_and(|u| u.account_enabled)
    {
        return redirect_with_code(&sim, &mut st.pages, &client_id, &redirect_uri, state.as_deref(), s, None);
    }
    let flow = random_token(32);
    st.prune(now);
    st.pages.flows.insert(
        flow.clone(),
        LoginFlow { client_id, redirect_uri, state, user_id: None, created: now, stage: FlowStage::Username, pending: None },
    );
    let hint = q.get("login_hint").cloned().unwrap_or_default();
    username_page(&st.tenant_id, &flow, None, &hint)
}

fn redirect_with_code(
    sim: &Sim,
    pages: &mut crate::entra::simulator::state::sessions::PagesState,
    client_id: &str,
    redirect_uri: &str,
    state: Option<&str>,
    session: LoginSession,
    set_login_cookie: Option<(String, Option<i64>)>,
) -> Response {
    let code = random_token(32);
    pages.codes.insert(
        code.clone(),
        AuthCode { client_id: client_id.to_string(), redirect_uri: redirect_uri.to_string(), session, expires: sim.clock.now() + Duration::minutes(5) },
    );
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("code", &code);
    if let Some(s) = state {
        q.append_pair("state", s);
    }
    let mut resp = html::found(&format!("{redirect_uri}?{}", q.finish()));
    if let Some((sid, max_age)) = set_login_cookie {
        set_cookie(&mut resp, LOGIN_COOKIE, &sid, max_age);
    }
    resp
}

/// Look up a live flow by its token (flows last 30 minutes).
fn live_flow(sim: &Sim, st: &crate::entra::simulator::state::TenantState, token: &str) -> Option<LoginFlow> {
    st.pages.flows.get(token).filter(|f| sim.clock.now() - f.created < Duration::minutes(30)).cloned()
}

/// `POST /{tenant}/login`: the user name.
pub async fn username(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let login = f.get("loginfmt").map(|s| s.trim().to_string()).unwrap_or_default();
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    if live_flow(&sim, &st, &token).is_none() {
        return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid)));
    }
    let Some(user) = st.dir.user(&login).cloned() else {
        let msg = "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.";
        return username_page(&tid, &token, Some((codes::UNKNOWN_USER, msg)), &login);
    };
    if !user.account_enabled {
        return username_page(&tid, &token, Some((codes::DISABLED, "Your account has been locked. Contact your support person to unlock it, then try again.")), &login);
    }
    if let Some(fl) = st.pages.flows.get_mut(&token) {
        fl.user_id = Some(user.id.clone());
        fl.stage = FlowStage::AccessPass;
    }
    access_pass_page(&tid, &token, &user.upn, None)
}

/// `POST /{tenant}/login/accesspass`: check the pass, consume a one-time pass, go on.
pub async fn access_pass(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let given = f.get("accesspass").map(|s| s.trim().to_string()).unwrap_or_default();
    let now = sim.clock.now();
    let behaviour = sim.behaviour();
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let flow = match live_flow(&sim, &st, &token) {
        Some(f) if f.stage == FlowStage::AccessPass && f.user_id.is_some() => f,
        _ => return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid))),
    };
    let Some(user) = flow.user_id.as_deref().and_then(|id| st.dir.user(id)).cloned() else {
        return error_page(&tenant, codes::UNKNOWN_USER, "The user no longer exists.", None);
    };
    let in_scope = st.tap_applies(&user);
    let policy_one_time = st.tap_policy.is_usable_once;
    let outcome: Result<(bool, chrono::DateTime<chrono::Utc>), u32> = match st.tap_of(&user.id) {
        None => Err(codes::TAP_INVALID),
        Some(tap) if !constant_time_eq(tap.pass.expose().as_bytes(), given.as_bytes()) => Err(codes::TAP_INVALID),
        Some(_) if !in_scope => Err(codes::TAP_BLOCKED),
        Some(tap) if policy_one_time && !tap.usable_once => Err(codes::TAP_BLOCKED),
        Some(tap) => match tap.usability(now, in_scope) {
            TapUsability::EnabledByPolicy => Ok((tap.usable_once, tap.expires())),
            TapUsability::OneTimeUsed => Err(codes::TAP_BLOCKED),
            TapUsability::Expired => Err(codes::TAP_EXPIRED),
            TapUsability::NotYetValid => Err(codes::TAP_NOT_YET_VALID),
            TapUsability::DisabledByPolicy => Err(codes::TAP_BLOCKED),
        },
    };
    let (one_time, tap_expires) = match outcome {
        Ok(v) => v,
        Err(code) => return access_pass_page(&tid, &token, &user.upn, Some((code, tap_error_text(code)))),
    };
    if one_time && let Some(t) = st.taps.get_mut(&user.id.to_lowercase()) {
        t.used = true;
    }
    let deadline = if one_time {
        (now + Duration::minutes(behaviour.one_time_tap_registration_window_minutes as i64)).min(tap_expires)
    } else {
        tap_expires
    };
    let session = LoginSession { user_id: user.id.clone(), signed_in: now, mfa: user.mfa_on_signin, via_one_time_tap: one_time, deadline, persistent: false };
    let next = if user.proof_up_required {
        FlowStage::ProofUp
    } else if behaviour.show_kmsi {
        FlowStage::Kmsi
    } else {
        return finish(&sim, &mut st, &token, flow, session);
    };
    if let Some(fl) = st.pages.flows.get_mut(&token) {
        fl.stage = next;
        fl.pending = Some(session);
    }
    match next {
        FlowStage::ProofUp => proof_up_page(&tid, &token),
        _ => kmsi_page(&tid, &token, behaviour.kmsi_no_is_button),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /{tenant}/proofup`: the interrupt's Next (the simulator lets the sign-in continue).
pub async fn proof_up(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let behaviour = sim.behaviour();
    let show_kmsi = behaviour.show_kmsi;
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let flow = match live_flow(&sim, &st, &token) {
        Some(f) if f.stage == FlowStage::ProofUp && f.pending.is_some() => f,
        _ => return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid))),
    };
    if show_kmsi {
        if let Some(fl) = st.pages.flows.get_mut(&token) {
            fl.stage = FlowStage::Kmsi;
        }
        return kmsi_page(&tid, &token, behaviour.kmsi_no_is_button);
    }
    let session = flow.pending.clone().expect("checked above");
    finish(&sim, &mut st, &token, flow, session)
}

/// `POST /{tenant}/kmsi`: "Stay signed in?" Yes (persistent cookie) or No.
pub async fn kmsi(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let yes = matches!(f.get("LoginOptions").map(String::as_str), Some("Yes" | "1"));
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let flow = match live_flow(&sim, &st, &token) {
        Some(f) if f.stage == FlowStage::Kmsi && f.pending.is_some() => f,
        _ => return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid))),
    };
    let mut session = flow.pending.clone().expect("checked above");
    session.persistent = yes;
    finish(&sim, &mut st, &token, flow, session)
}

fn finish(sim: &Sim, st: &mut crate::entra::simulator::state::TenantState, token: &str, flow: LoginFlow, session: LoginSession) -> Response {
    st.pages.flows.remove(token);
    let sid = random_token(32);
    let max_age = session.persistent.then(|| (session.deadline - sim.clock.now()).num_seconds());
    st.pages.login_sessions.insert(sid.clone(), session.clone());
    redirect_with_code(sim, &mut st.pages, &flow.client_id, &flow.redirect_uri, flow.state.as_deref(), session, Some((sid, max_age)))
}

/// `GET /auth/callback` (mysignins host): redeem the code, start the Security-info session.
pub async fn callback(State(sim): State<Arc<Sim>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if on_login_host(&sim, &headers) {
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q.iter()).finish();
        return html::found(&sim.urls.main_url(&format!("/auth/callback?{qs}")));
    }
    let now = sim.clock.now();
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let code = q.get("code").cloned().unwrap_or_default();
    let Some(ac) = st.pages.codes.remove(&code).filter(|c| now < c.expires) else {
        return error_page(&tid, 54005, "The sign-in code is unknown, used or expired.", Some(&super::signin_url(&sim, &tid)));
    };
    let sid = random_token(32);
    st.pages.portal_sessions.insert(sid.clone(), ac.session);
    let mut resp = html::found(&sim.urls.main_url("/security-info"));
    set_cookie(&mut resp, PORTAL_COOKIE, &sid, None);
    resp
}
