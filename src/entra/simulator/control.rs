//! The test-control surface under `/_sim/` (never faulted, never logged, no auth):
//! faults, clock, device-code approval, request log, TAP issuing, user flags, policies,
//! behaviour switches, ceremony variant, trust anchors. Documented in docs/simulator.md.
use super::certs;
use super::clock::graph_time;
use super::config::Behaviour;
use super::faults::{FaultConfig, FaultEngine, FaultRule};
use super::graph::policies::{apply_patch, MethodConfig};
use super::oauth::device_code;
use super::seed::CeremonyVariant;
use super::sim::{LoggedRequest, Sim};
use super::state::directory::AppCertificate;
use super::state::oauth::{DeviceCodeStatus, RefreshStatus};
use super::state::tap::{generate_pass, Tap};
use super::roles::DirectoryRole;
use crate::secret::SecretString;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Sim>>;

/// Routes mounted under `/_sim`.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/info", get(info))
        .route("/faults", get(get_faults).put(put_faults).post(post_fault).delete(delete_faults))
        .route("/requests", get(get_requests).delete(delete_requests))
        .route("/clock", get(get_clock))
        .route("/clock/advance", post(advance_clock))
        .route("/device-codes", get(list_device_codes))
        .route("/device-codes/approve", post(approve_device_code))
        .route("/device-codes/decline", post(decline_device_code))
        .route("/device-codes/auto-approve", put(put_auto_approve))
        .route("/refresh-tokens/revoke", post(revoke_refresh_tokens))
        .route("/users/{user}", patch(patch_user))
        .route("/users/{user}/tap", post(issue_tap_handler))
        .route("/users/{user}/fido2", get(user_fido2))
        .route("/policies/{which}", patch(patch_policy))
        .route("/behaviour", get(get_behaviour).patch(patch_behaviour))
        .route("/ceremony", put(put_ceremony))
        .route("/trusted-roots", post(add_trusted_root))
        .route("/apps/{client_id}", patch(patch_app))
        .route("/apps/{client_id}/certificates", post(add_app_certificate))
}

fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    err(StatusCode::BAD_REQUEST, message)
}

/// Parse a JSON body leniently (empty → `{}`) with an actionable error.
fn body_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(text).map_err(|e| format!("request body: {e}"))
}

/// Summary of the running simulator (also what the CLI prints).
pub fn info_json(sim: &Sim) -> Value {
    let st = sim.state();
    let users: Vec<Value> = st
        .dir
        .users
        .iter()
        .map(|u| {
            json!({
                "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
                "guest": u.guest, "roles": u.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                "inTapPolicy": st.tap_applies(u), "inFido2Policy": st.fido2_applies(u),
                "mfaOnSignin": u.mfa_on_signin, "proofUpRequired": u.proof_up_required,
                "securityKeys": st.methods_of(&u.id).len(), "securityKeyLimit": st.key_limit(u),
                "ceremony": u.ceremony.map(|c| c.as_str()),
            })
        })
        .collect();
    let apps: Vec<Value> = st
        .dir
        .apps
        .iter()
        .map(|a| {
            json!({
                "clientId": a.client_id, "name": a.name, "kind": a.kind,
                "hasSecret": !a.secrets.is_empty(), "certificates": a.certificates.len(),
                "delegatedScopes": a.delegated_scopes, "applicationRoles": a.application_roles,
            })
        })
        .collect();
    let main = sim.urls.main.as_str().trim_end_matches('/');
    json!({
        "tenantId": st.tenant_id,
        "tenantDomain": st.domain,
        "tenantName": st.display_name,
        "authority": main,
        "tokenEndpoint": format!("{main}/{}/oauth2/v2.0/token", st.tenant_id),
        "deviceCodeEndpoint": format!("{main}/{}/oauth2/v2.0/devicecode", st.tenant_id),
        "graph": main,
        "graphV1": format!("{main}/v1.0"),
        "graphBeta": format!("{main}/beta"),
        "securityInfo": sim.urls.portal_url("/security-info"),
        "signIn": super::pages::signin_url(sim, &st.tenant_id),
        "deviceLogin": sim.urls.main_url("/devicelogin"),
        "loginOrigin": sim.urls.login_origin(),
        "signInOrigin": sim.urls.signin.as_str().trim_end_matches('/'),
        "pagesTls": sim.pages_tls.as_ref().map(|t| json!({
            "address": t.addr.to_string(),
            "hosts": super::tls::MICROSOFT_HOSTS,
            "spkiSha256": t.spki_sha256,
            "caPem": t.ca_pem,
        })),
        "control": sim.urls.main_url("/_sim"),
        "clockOffsetSeconds": sim.clock.offset().num_seconds(),
        "users": users,
        "apps": apps,
    })
}

async fn info(State(sim): S) -> Json<Value> {
    Json(info_json(&sim))
}

fn faults_json(sim: &Sim) -> Value {
    let f = sim.faults();
    json!({"config": f.config(), "injected": f.injected()})
}

async fn get_faults(State(sim): S) -> Json<Value> {
    Json(faults_json(&sim))
}

async fn put_faults(State(sim): S, body: axum::body::Bytes) -> Response {
    let cfg: FaultConfig = match body_json(&body) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    if let Err(e) = cfg.validate() {
        return bad(e);
    }
    *sim.faults() = FaultEngine::new(cfg);
    Json(faults_json(&sim)).into_response()
}

async fn post_fault(State(sim): S, body: axum::body::Bytes) -> Response {
    let rule: FaultRule = match body_json(&body) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let mut cfg = sim.faults().config().clone();
    cfg.rules.push(rule);
    if let Err(e) = cfg.validate() {
        return bad(e);
    }
    *sim.faults() = FaultEngine::new(cfg);
    Json(faults_json(&sim)).into_response()
}

async fn delete_faults(State(sim): S) -> StatusCode {
    let seed = sim.faults().config().seed;
    *sim.faults() = FaultEngine::new(FaultConfig { seed, rules: vec![] });
    StatusCode::NO_CONTENT
}

/// The request log, arrival order, optionally filtered by path prefix or class.
pub fn requests(sim: &Sim, path_prefix: Option<&str>, class: Option<&str>) -> Vec<LoggedRequest> {
    let mut v: Vec<LoggedRequest> = sim
        .log()
        .iter()
        .filter(|r| path_prefix.is_none_or(|p| r.path.starts_with(p)))
        .filter(|r| class.is_none_or(|c| serde_json::to_value(r.class).ok().and_then(|v| v.as_str().map(|s| s == c)).unwrap_or(false)))
        .cloned()
        .collect();
    v.sort_by_key(|r| r.seq);
    v
}

async fn get_requests(State(sim): S, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let list = requests(&sim, q.get("path_prefix").map(String::as_str), q.get("class").map(String::as_str));
    Json(json!({"count": list.len(), "requests": list}))
}

async fn delete_requests(State(sim): S) -> StatusCode {
    sim.log().clear();
    StatusCode::NO_CONTENT
}

fn clock_json(sim: &Sim) -> Value {
    json!({"now": graph_time(sim.clock.now()), "offsetSeconds": sim.clock.offset().num_seconds()})
}

async fn get_clock(State(sim): S) -> Json<Value> {
    Json(clock_json(&sim))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    minutes: i64,
}

async fn advance_clock(State(sim): S, body: axum::body::Bytes) -> Response {
    let a: Advance = match body_json(&body) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    if a.seconds < 0 || a.minutes < 0 {
        return bad("the clock only moves forward: seconds and minutes must be >= 0");
    }
    sim.clock.advance(Duration::seconds(a.seconds) + Duration::minutes(a.minutes));
    Json(clock_json(&sim)).into_response()
}

async fn list_device_codes(State(sim): S) -> Json<Value> {
    let now = sim.clock.now();
    let st = sim.state();
    let v: Vec<Value> = st
        .device_codes
        .values()
        .map(|d| {
            let status = match &d.status {
                _ if now >= d.expires && d.status == DeviceCodeStatus::Pending => "expired",
                DeviceCodeStatus::Pending => "pending",
                DeviceCodeStatus::Approved { .. } => "approved",
                DeviceCodeStatus::Declined => "declined",
                DeviceCodeStatus::Redeemed => "redeemed",
            };
            json!({"userCode": d.user_code, "clientId": d.client_id, "scopes": d.scopes, "status": status, "expires": graph_time(d.expires), "intervalSeconds": d.interval_secs})
        })
        .collect();
    Json(json!({"deviceCodes": v}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approve {
    user_code: String,
    #[serde(default)]
    account: Option<String>,
}

async fn approve_device_code(State(sim): S, body: axum::body::Bytes) -> Response {
    let a: Approve = match body_json(&body) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let Some(account) = a.account.or_else(|| default_admin(&sim)) else {
        return bad("no account given and the tenant has no administrator to default to");
    };
    match device_code::decide(&sim, &a.user_code, Some(&account)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, format!("cannot approve {}: {e}", a.user_code)),
    }
}

async fn decline_device_code(State(sim): S, body: axum::body::Bytes) -> Response {
    let a: Approve = match body_json(&body) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    match device_code::decide(&sim, &a.user_code, None) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, format!("cannot decline {}: {e}", a.user_code)),
    }
}

/// The UPN of the first user holding a directory role.
pub fn default_admin(sim: &Sim) -> Option<String> {
    sim.state().dir.users.iter().find(|u| u.is_admin() && u.account_enabled).map(|u| u.upn.clone())
}

/// Turn auto-approval on (as `account`, default: first administrator) or off.
pub fn set_auto_approve(sim: &Sim, on: bool, account: Option<&str>) -> Result<Option<String>, String> {
    let user_id = if on {
        let account = account.map(str::to_string).or_else(|| default_admin(sim)).ok_or("the tenant has no administrator to auto-approve as")?;
        let st = sim.state();
        Some(st.dir.user(&account).map(|u| u.id.clone()).ok_or_else(|| format!("auto-approve account {account:?} is not a user of the tenant"))?)
    } else {
        None
    };
    *sim.auto_approve.lock().unwrap_or_else(|p| p.into_inner()) = user_id.clone();
    Ok(user_id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutoApprove {
    enabled: bool,
    #[serde(default)]
    account: Option<String>,
}

async fn put_auto_approve(State(sim): S, body: axum::body::Bytes) -> Response {
    let a: AutoApprove = match body_json(&body) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    match set_auto_approve(&sim, a.enabled, a.account.as_deref()) {
        Ok(id) => Json(json!({"enabled": id.is_some(), "userId": id})).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Revoke {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

async fn revoke_refresh_tokens(State(sim): S, body: axum::body::Bytes) -> Response {
    let r: Revoke = match body_json(&body) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let mut st = sim.state();
    let user_id = match &r.account {
        Some(a) => match st.dir.user(a) {
            Some(u) => Some(u.id.clone()),
            None => return err(StatusCode::NOT_FOUND, format!("no user {a:?}")),
        },
        None => None,
    };
    let mut n = 0;
    for g in st.refresh_tokens.values_mut() {
        let user_ok = user_id.as_ref().is_none_or(|u| g.user_id.eq_ignore_ascii_case(u));
        let client_ok = r.client_id.as_ref().is_none_or(|c| g.client_id.eq_ignore_ascii_case(c));
        if user_ok && client_ok && g.status == RefreshStatus::Active {
            g.status = RefreshStatus::Revoked;
            n += 1;
        }
    }
    Json(json!({"revoked": n})).into_response()
}

/// TAP parameters for the control surface (no policy checks: tests may want a pass the
/// policy would refuse, to exercise sign-in refusals).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueTap {
    /// Lifetime in minutes [60].
    #[serde(default)]
    pub lifetime_minutes: Option<u32>,
    /// One-time pass [false].
    #[serde(default)]
    pub usable_once: bool,
    /// Start this many minutes from now [0].
    #[serde(default)]
    pub start_in_minutes: i64,
}

/// Issue (replace) a user's TAP; returns the Graph object including the pass.
pub fn issue_tap(sim: &Sim, user: &str, p: &IssueTap) -> Result<(Value, SecretString), String> {
    let now = sim.clock.now();
    let mut st = sim.state();
    let u = st.dir.user(user).cloned().ok_or_else(|| format!("no user {user:?} in the tenant"))?;
    let tap = Tap {
        id: uuid::Uuid::new_v4().to_string(),
        pass: generate_pass(st.tap_policy.default_length),
        created: now,
        start: now + Duration::minutes(p.start_in_minutes),
        lifetime_minutes: p.lifetime_minutes.unwrap_or(60).max(1),
        usable_once: p.usable_once,
        used: false,
    };
    let v = tap.to_graph(now, st.tap_applies(&u), true);
    let pass = tap.pass.clone();
    st.taps.insert(u.id.to_lowercase(), tap);
    Ok((v, pass))
}

async fn issue_tap_handler(State(sim): S, Path(user): Path<String>, body: axum::body::Bytes) -> Response {
    let p: IssueTap = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    match issue_tap(&sim, &user, &p) {
        Ok((v, _)) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, e),
    }
}

/// User flags the control surface can change.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub mfa_on_signin: Option<bool>,
    pub proof_up_required: Option<bool>,
    pub max_security_keys: Option<u32>,
    pub ceremony: Option<CeremonyVariant>,
    pub account_enabled: Option<bool>,
    /// Replace the user's directory roles (display names).
    pub roles: Option<Vec<String>>,
}

async fn patch_user(State(sim): S, Path(user): Path<String>, body: axum::body::Bytes) -> Response {
    let p: UserPatch = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let roles = match &p.roles {
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                match DirectoryRole::from_name(n) {
                    Some(r) => v.push(r),
                    None => return bad(format!("unknown directory role {n:?}")),
                }
            }
            Some(v)
        }
        None => None,
    };
    let mut st = sim.state();
    let Some(u) = st.dir.user_mut(&user) else { return err(StatusCode::NOT_FOUND, format!("no user {user:?}")) };
    if let Some(v) = p.mfa_on_signin {
        u.mfa_on_signin = v;
    }
    if let Some(v) = p.proof_up_required {
        u.proof_up_required = v;
    }
    if let Some(v) = p.max_security_keys {
        u.max_security_keys = Some(v);
    }
    if let Some(v) = p.ceremony {
        u.ceremony = Some(v);
    }
    if let Some(v) = p.account_enabled {
        u.account_enabled = v;
    }
    if let Some(r) = roles {
        u.roles = r;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn user_fido2(State(sim): S, Path(user): Path<String>) -> Response {
    let st = sim.state();
    let Some(u) = st.dir.user(&user) else { return err(StatusCode::NOT_FOUND, format!("no user {user:?}")) };
    let v: Vec<Value> = st.methods_of(&u.id).iter().map(|m| m.to_control()).collect();
    Json(json!({"value": v})).into_response()
}

async fn patch_policy(State(sim): S, Path(which): Path<String>, body: axum::body::Bytes) -> Response {
    let Some(which) = MethodConfig::parse(&which) else { return err(StatusCode::NOT_FOUND, "policy must be fido2 or temporaryAccessPass") };
    let v: Value = match body_json(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let mut st = sim.state();
    match apply_patch(&mut st, which, v) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

async fn get_behaviour(State(sim): S) -> Json<Behaviour> {
    Json(sim.behaviour())
}

/// Merge a partial JSON object into the behaviour switches.
pub fn patch_behaviour_value(sim: &Sim, patch: Value) -> Result<Behaviour, String> {
    let Value::Object(patch) = patch else { return Err("the body must be a JSON object".into()) };
    let mut cur = serde_json::to_value(sim.behaviour()).map_err(|e| e.to_string())?;
    if let Some(o) = cur.as_object_mut() {
        for (k, v) in patch {
            if !o.contains_key(&k) {
                return Err(format!("unknown behaviour switch {k:?}"));
            }
            o.insert(k, v);
        }
    }
    let b: Behaviour = serde_json::from_value(cur).map_err(|e| format!("invalid behaviour: {e}"))?;
    sim.set_behaviour(b.clone());
    Ok(b)
}

async fn patch_behaviour(State(sim): S, body: axum::body::Bytes) -> Response {
    let v: Value = match body_json(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    match patch_behaviour_value(&sim, v) {
        Ok(b) => Json(b).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CeremonyBody {
    variant: Option<CeremonyVariant>,
}

async fn put_ceremony(State(sim): S, body: axum::body::Bytes) -> Response {
    let c: CeremonyBody = match body_json(&body) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    sim.state().pages.ceremony_override = c.variant;
    Json(json!({"variant": c.variant.map(|v| v.as_str())})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PemBody {
    pem: String,
}

async fn add_trusted_root(State(sim): S, body: axum::body::Bytes) -> Response {
    let p: PemBody = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    match certs::parse_pem_certificates(&p.pem) {
        Ok(ders) => {
            let n = ders.len();
            sim.state().trusted_roots.extend(ders);
            Json(json!({"added": n})).into_response()
        }
        Err(e) => bad(e),
    }
}

/// What an administrator's consent changes on an app registration: the permissions
/// granted to it. Tokens issued afterwards carry the new set (tokens already issued keep
/// theirs until they expire, as in Entra).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// Admin-consented delegated permissions (replaces the list).
    pub delegated_scopes: Option<Vec<String>>,
    /// Granted application permissions (replaces the list).
    pub application_roles: Option<Vec<String>>,
}

/// Change an app's granted permissions (consent given or revoked).
pub fn patch_app_consent(sim: &Sim, client_id: &str, p: &AppPatch) -> Result<(), String> {
    let mut st = sim.state();
    let app = st.dir.app_mut(client_id).ok_or_else(|| format!("no app {client_id}"))?;
    if let Some(v) = &p.delegated_scopes {
        app.delegated_scopes = v.clone();
    }
    if let Some(v) = &p.application_roles {
        app.application_roles = v.clone();
    }
    Ok(())
}

async fn patch_app(State(sim): S, Path(client_id): Path<String>, body: axum::body::Bytes) -> Response {
    let p: AppPatch = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    match patch_app_consent(&sim, &client_id, &p) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, e),
    }
}

async fn add_app_certificate(State(sim): S, Path(client_id): Path<String>, body: axum::body::Bytes) -> Response {
    let p: PemBody = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let ders = match certs::parse_pem_certificates(&p.pem) {
        Ok(d) => d,
        Err(e) => return bad(e),
    };
    let mut st = sim.state();
    let Some(app) = st.dir.app_mut(&client_id) else { return err(StatusCode::NOT_FOUND, format!("no app {client_id}")) };
    if app.kind != super::seed::AppKind::Confidential {
        return bad("certificates can only be added to confidential clients");
    }
    for der in ders {
        app.certificates.push(AppCertificate { sha1: certs::sha1_thumbprint(&der), sha256: certs::sha256_thumbprint(&der), der });
    }
    StatusCode::NO_CONTENT.into_response()
}
