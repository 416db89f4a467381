//! Sign-in on the login host: authorize → username (`#i0116`) → Temporary Access Pass
//! (`input[name=accesspass]`; or the password view and "Other ways to sign in" while a
//! new pass has not reached sign-in) → the interrupts ("More information required",
//! "Stay signed in?", "Pick an account", an unknown interstitial; in a random order with
//! the `interrupts_random_order` drift) → redirect with a code to the Security-info
//! callback. The pages themselves are in `signin_views.rs`.
use super::html;
use super::i18n::{texts, Texts};
use super::signin_views as views;
pub use super::signin_views::error_page;
use super::{cookie, form, on_login_side, on_signin_host, set_cookie, LOGIN_COOKIE, MYSIGNINS_CLIENT_ID, PORTAL_COOKIE};
use crate::entra::simulator::config::{Behaviour, ProofUpDrift};
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::User;
use crate::entra::simulator::state::sessions::{AuthCode, FlowStage, Interrupt, LoginFlow, LoginSession};
use crate::entra::simulator::state::TenantState;
use crate::entra::simulator::state::tap::TapUsability;
use crate::entra::simulator::tokens::random_token;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Duration;
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
    /// Wrong password (the simulator has none).
    pub const BAD_PASSWORD: u32 = 50126;
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

/// `GET /{tenant}/oauth2/v2.0/authorize` (login host).
pub async fn authorize(
    State(sim): State<Arc<Sim>>,
    Path(tenant): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !on_signin_host(&sim, &headers) {
        return html::found(&sim.urls.signin_url(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")));
    }
    let now = sim.clock.now();
    let mut st = sim.state();
    if !st.matches_tenant(&tenant) {
        return error_page(&tenant, codes::UNKNOWN_TENANT, &format!("Tenant '{tenant}' not found."), None);
    }
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let expected_redirect = sim.urls.portal_url("/auth/callback");
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
        LoginFlow { client_id, redirect_uri, state, user_id: None, created: now, stage: FlowStage::Username, pending: None, interrupts: Vec::new(), session_id: None },
    );
    let hint = q.get("login_hint").cloned().unwrap_or_default();
    views::username(texts(sim.behaviour().page_locale), &st.tenant_id, &flow, None, &hint)
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
    let behaviour = sim.behaviour();
    let t = texts(behaviour.page_locale);
    let now = sim.clock.now();
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    if live_flow(&sim, &st, &token).is_none() {
        return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid)));
    }
    let Some(user) = st.dir.user(&login).cloned() else {
        let msg = "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.";
        return views::username(t, &tid, &token, Some((codes::UNKNOWN_USER, msg)), &login);
    };
    if !user.account_enabled {
        return views::username(t, &tid, &token, Some((codes::DISABLED, "Your account has been locked. Contact your support person to unlock it, then try again.")), &login);
    }
    if let Some(fl) = st.pages.flows.get_mut(&token) {
        fl.user_id = Some(user.id.clone());
        fl.stage = FlowStage::AccessPass;
    }
    // A pass that has not reached sign-in yet (drift `tap_sign_in_delay_secs`), or the
    // password view first (`tap_behind_other_ways`): the pass is under "Other ways".
    let has_tap = st.tap_of(&user.id).is_some();
    if has_tap && (!tap_reached_sign_in(&st, &user.id, &behaviour, now) || behaviour.tap_behind_other_ways) {
        return views::password(t, &tid, &token, &user.upn, None);
    }
    views::access_pass(t, &tid, &token, &user.upn, None)
}

/// Whether the user's pass is known to sign-in yet (drift `tap_sign_in_delay_secs`).
fn tap_reached_sign_in(st: &TenantState, user_id: &str, behaviour: &Behaviour, now: chrono::DateTime<chrono::Utc>) -> bool {
    match st.tap_of(user_id) {
        Some(tap) => now - tap.created >= Duration::seconds(behaviour.tap_sign_in_delay_secs as i64),
        None => true,
    }
}

/// The flow of a form post at the access-pass stage, with its user.
fn at_access_pass(sim: &Sim, st: &TenantState, token: &str) -> Option<(LoginFlow, User)> {
    let flow = live_flow(sim, st, token).filter(|f| f.stage == FlowStage::AccessPass)?;
    let user = flow.user_id.as_deref().and_then(|id| st.dir.user(id)).cloned()?;
    Some((flow, user))
}

/// `POST /{tenant}/login/options`: "Other ways to sign in" (no `choice`), or one of them.
pub async fn options(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let behaviour = sim.behaviour();
    let t = texts(behaviour.page_locale);
    let now = sim.clock.now();
    let st = sim.state();
    let tid = st.tenant_id.clone();
    let Some((_, user)) = at_access_pass(&sim, &st, &token) else {
        return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid)));
    };
    let offer_tap = st.tap_of(&user.id).is_some() && tap_reached_sign_in(&st, &user.id, &behaviour, now);
    match f.get("choice").map(String::as_str) {
        Some("accesspass") if offer_tap => views::access_pass(t, &tid, &token, &user.upn, None),
        Some(_) => views::password(t, &tid, &token, &user.upn, None),
        None => views::sign_in_options(t, &tid, &token, &user.upn, offer_tap),
    }
}

/// `POST /{tenant}/login/password`: the simulator has no passwords.
pub async fn password(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let t = texts(sim.behaviour().page_locale);
    let st = sim.state();
    let tid = st.tenant_id.clone();
    let Some((_, user)) = at_access_pass(&sim, &st, &token) else {
        return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid)));
    };
    views::password(t, &tid, &token, &user.upn, Some((codes::BAD_PASSWORD, "Your account or password is incorrect.")))
}

/// `POST /{tenant}/login/accesspass`: check the pass, consume a one-time pass, go on.
pub async fn access_pass(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let given = f.get("accesspass").map(|s| s.trim().to_string()).unwrap_or_default();
    let now = sim.clock.now();
    let behaviour = sim.behaviour();
    let t = texts(behaviour.page_locale);
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let Some((flow, user)) = at_access_pass(&sim, &st, &token) else {
        return error_page(&tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(&sim, &tid)));
    };
    let in_scope = st.tap_applies(&user);
    let policy_one_time = st.tap_policy.is_usable_once;
    let outcome: Result<(bool, chrono::DateTime<chrono::Utc>), u32> = match st.tap_of(&user.id) {
        None => Err(codes::TAP_INVALID),
        // A pass sign-in does not know yet is "not found".
        Some(_) if !tap_reached_sign_in(&st, &user.id, &behaviour, now) => Err(codes::TAP_INVALID),
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
        Err(code) => return views::access_pass(t, &tid, &token, &user.upn, Some((code, tap_error_text(code)))),
    };
    if one_time && let Some(tp) = st.taps.get_mut(&user.id.to_lowercase()) {
        tp.used = true;
    }
    let deadline = if one_time {
        (now + Duration::minutes(behaviour.one_time_tap_registration_window_minutes as i64)).min(tap_expires)
    } else {
        tap_expires
    };
    let session = LoginSession { user_id: user.id.clone(), signed_in: now, mfa: user.mfa_on_signin, via_one_time_tap: one_time, deadline, persistent: false };
    let interrupts = interrupts_for(&user, &behaviour);
    if interrupts.is_empty() {
        return finish(&sim, &mut st, &token, flow, session);
    }
    let first = interrupts[0];
    // The primary sign-in is done: the login session exists from here on (the
    // interrupts only decide about persistence and what to show).
    let sid = random_token(32);
    st.pages.login_sessions.insert(sid.clone(), session.clone());
    if let Some(fl) = st.pages.flows.get_mut(&token) {
        fl.stage = FlowStage::Interrupts;
        fl.pending = Some(session);
        fl.interrupts = interrupts;
        fl.session_id = Some(sid.clone());
    }
    let mut resp = show(t, &tid, &token, &user.upn, first, &behaviour);
    set_cookie(&mut resp, LOGIN_COOKIE, &sid, None);
    resp
}

/// The interrupts after an accepted pass, in the order they will show.
fn interrupts_for(user: &User, b: &Behaviour) -> Vec<Interrupt> {
    let mut v = Vec::new();
    if user.proof_up_required || b.proof_up == ProofUpDrift::Mandatory {
        v.push(Interrupt::ProofUp { skippable: false });
    } else if b.proof_up == ProofUpDrift::Skippable || b.interrupts_random_order {
        v.push(Interrupt::ProofUp { skippable: true });
    }
    if b.unknown_interstitial {
        v.push(Interrupt::Interstitial);
    }
    if b.show_kmsi {
        v.push(Interrupt::Kmsi);
    }
    if b.interrupts_random_order {
        // A repeated "Stay signed in?" and a second sign-in prompt, all shuffled.
        v.push(Interrupt::Kmsi);
        v.push(Interrupt::PickAccount);
        use rand::seq::SliceRandom;
        v.shuffle(&mut rand::thread_rng());
    }
    v
}

fn show(t: &Texts, tid: &str, token: &str, upn: &str, i: Interrupt, b: &Behaviour) -> Response {
    match i {
        Interrupt::ProofUp { skippable } => views::proof_up(t, tid, token, skippable),
        Interrupt::Kmsi => views::kmsi(t, tid, token, b.kmsi_no_is_button),
        Interrupt::PickAccount => views::pick_account(t, tid, token, upn),
        Interrupt::Interstitial => views::interstitial(t, tid, token),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The interrupt on screen is done (`answered` tells which kind the form was for):
/// show the next one, or finish the sign-in. `persistent` is "Stay signed in? Yes".
fn next_interrupt(sim: &Sim, tenant: &str, body: &[u8], answered: fn(Interrupt) -> bool, persistent: Option<bool>) -> Response {
    let f = form(body);
    let token = f.get("flowToken").cloned().unwrap_or_default();
    let behaviour = sim.behaviour();
    let t = texts(behaviour.page_locale);
    let mut st = sim.state();
    let tid = st.tenant_id.clone();
    let flow = match live_flow(sim, &st, &token) {
        Some(fl) if fl.stage == FlowStage::Interrupts && fl.pending.is_some() && fl.interrupts.first().is_some_and(|i| answered(*i)) => fl,
        _ => return error_page(tenant, codes::FLOW_EXPIRED, "Your sign-in session has timed out. Start again.", Some(&super::signin_url(sim, &tid))),
    };
    let upn = flow.user_id.as_deref().and_then(|id| st.dir.user(id)).map(|u| u.upn.clone()).unwrap_or_default();
    let mut session = flow.pending.clone().expect("checked above");
    if let Some(p) = persistent {
        session.persistent = p;
    }
    let rest: Vec<Interrupt> = flow.interrupts[1..].to_vec();
    if let Some(fl) = st.pages.flows.get_mut(&token) {
        fl.interrupts = rest.clone();
        fl.pending = Some(session.clone());
    }
    match rest.first() {
        Some(next) => show(t, &tid, &token, &upn, *next, &behaviour),
        None => finish(sim, &mut st, &token, flow, session),
    }
}

/// `POST /{tenant}/proofup`: the interrupt's Next or "Skip for now" (the simulator lets
/// the sign-in continue either way; a flow must not press Next on a mandatory one).
pub async fn proof_up(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    next_interrupt(&sim, &tenant, &body, |i| matches!(i, Interrupt::ProofUp { .. }), None)
}

/// `POST /{tenant}/kmsi`: "Stay signed in?" Yes (persistent cookie) or No.
pub async fn kmsi(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let yes = matches!(form(&body).get("LoginOptions").map(String::as_str), Some("Yes" | "Ja" | "1"));
    next_interrupt(&sim, &tenant, &body, |i| i == Interrupt::Kmsi, Some(yes))
}

/// `POST /{tenant}/pickaccount`: the account tile of "Pick an account".
pub async fn pick_account(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    next_interrupt(&sim, &tenant, &body, |i| i == Interrupt::PickAccount, None)
}

/// `POST /{tenant}/interstitial`: Continue on the interstitial.
pub async fn interstitial(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    next_interrupt(&sim, &tenant, &body, |i| i == Interrupt::Interstitial, None)
}

fn finish(sim: &Sim, st: &mut TenantState, token: &str, flow: LoginFlow, session: LoginSession) -> Response {
    st.pages.flows.remove(token);
    let sid = flow.session_id.clone().unwrap_or_else(|| random_token(32));
    let max_age = session.persistent.then(|| (session.deadline - sim.clock.now()).num_seconds());
    st.pages.login_sessions.insert(sid.clone(), session.clone());
    redirect_with_code(sim, &mut st.pages, &flow.client_id, &flow.redirect_uri, flow.state.as_deref(), session, Some((sid, max_age)))
}

/// `GET /auth/callback` (mysignins host): redeem the code, start the Security-info session.
pub async fn callback(State(sim): State<Arc<Sim>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if on_login_side(&sim, &headers) {
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q.iter()).finish();
        return html::found(&sim.urls.portal_url(&format!("/auth/callback?{qs}")));
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
    let mut resp = html::found(&sim.urls.portal_url("/security-info"));
    set_cookie(&mut resp, PORTAL_COOKIE, &sid, None);
    resp
}
