//! `/users/{id}/authentication/temporaryAccessPassMethods`: create (policy rules, one per
//! user, replacement), list, get, delete.
use super::reply::{GraphError, GraphReply, GraphResult};
use super::{json_body, GraphCtx};
use crate::entra::simulator::config::TapUsableOnceDefault;
use crate::entra::simulator::state::directory::User;
use crate::entra::simulator::state::policy::strip_annotations;
use crate::entra::simulator::state::tap::{generate_pass, Tap};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The message Entra uses when the TAP policy does not cover the user (or is off).
pub const POLICY_REFUSAL: &str =
    "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].";

fn context(ctx: &GraphCtx, user: &User, entity: bool) -> String {
    format!(
        "{}/$metadata#users('{}')/authentication/temporaryAccessPassMethods{}",
        ctx.base(),
        user.id,
        if entity { "/$entity" } else { "" }
    )
}

fn with_context(mut v: Value, c: String) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(c));
    }
    v
}

/// POST: create (or replace) the user's pass.
pub fn create(ctx: &GraphCtx, user: &User) -> GraphResult {
    let body = strip_annotations(json_body(ctx, true)?);
    let obj = body.as_object().cloned().unwrap_or_default();
    for k in obj.keys() {
        if !["startDateTime", "lifetimeInMinutes", "isUsableOnce"].contains(&k.as_str()) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "badRequest",
                format!("The property '{k}' does not exist on type 'microsoft.graph.temporaryAccessPassAuthenticationMethod' or cannot be set on create."),
            )
            .inner("unknownProperty"));
        }
    }
    let lifetime = match obj.get("lifetimeInMinutes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| GraphError::bad_request("invalidLifetime", "lifetimeInMinutes must be an integer number of minutes."))?),
    };
    let usable_once = match obj.get("isUsableOnce") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| GraphError::bad_request("invalidIsUsableOnce", "isUsableOnce must be true or false."))?),
    };
    let start: Option<DateTime<Utc>> = match obj.get("startDateTime") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
                .ok_or_else(|| GraphError::bad_request("invalidStartDateTime", "startDateTime must be an ISO 8601 date-time such as 2024-05-01T10:00:00Z."))?,
        ),
    };
    let now = ctx.sim.clock.now();
    let mut st = ctx.sim.state();
    if user.guest {
        return Err(GraphError::bad_request("guestUser", "Temporary Access Pass cannot be added to an external guest user."));
    }
    if !st.tap_applies(user) {
        return Err(GraphError::bad_request("policyDenied", POLICY_REFUSAL));
    }
    let policy = st.tap_policy.clone();
    let lifetime = lifetime.unwrap_or(i64::from(policy.default_lifetime_in_minutes));
    let (min, max) = (i64::from(policy.minimum_lifetime_in_minutes), i64::from(policy.maximum_lifetime_in_minutes));
    if lifetime < min.max(10) || lifetime > max.min(43200) {
        return Err(GraphError::bad_request(
            "lifetimeOutOfRange",
            format!("Invalid LifetimeInMinutes specified. The valid range between {min} and {max}."),
        ));
    }
    if usable_once == Some(false) && policy.is_usable_once {
        return Err(GraphError::bad_request(
            "multiUseNotAllowed",
            "The Temporary Access Pass policy only allows one-time passes: isUsableOnce cannot be false.",
        ));
    }
    let usable_once = usable_once.unwrap_or(match ctx.behaviour.tap_usable_once_when_absent {
        TapUsableOnceDefault::Policy | TapUsableOnceDefault::False => policy.is_usable_once,
        TapUsableOnceDefault::True => true,
    });
    let tap = Tap {
        id: uuid::Uuid::new_v4().to_string(),
        pass: generate_pass(policy.default_length),
        created: now,
        start: start.unwrap_or(now),
        lifetime_minutes: lifetime as u32,
        usable_once,
        used: false,
    };
    let v = tap.to_graph(now, true, true);
    st.taps.insert(user.id.to_lowercase(), tap);
    Ok(GraphReply::Json(StatusCode::CREATED, with_context(v, context(ctx, user, true))))
}

/// GET the list (at most one item).
pub fn list(ctx: &GraphCtx, user: &User) -> GraphResult {
    let now = ctx.sim.clock.now();
    let st = ctx.sim.state();
    let in_scope = st.tap_applies(user);
    let value: Vec<Value> = st.tap_of(&user.id).map(|t| t.to_graph(now, in_scope, false)).into_iter().collect();
    Ok(GraphReply::ok(json!({"@odata.context": context(ctx, user, false), "value": value})))
}

/// GET one pass.
pub fn get(ctx: &GraphCtx, user: &User, id: &str) -> GraphResult {
    let now = ctx.sim.clock.now();
    let st = ctx.sim.state();
    let in_scope = st.tap_applies(user);
    let tap = st.tap_of(&user.id).filter(|t| t.id.eq_ignore_ascii_case(id)).ok_or_else(|| GraphError::method_not_found(id))?;
    Ok(GraphReply::ok(with_context(tap.to_graph(now, in_scope, false), context(ctx, user, true))))
}

/// DELETE one pass.
pub fn delete(ctx: &GraphCtx, user: &User, id: &str) -> GraphResult {
    let mut st = ctx.sim.state();
    let key = user.id.to_lowercase();
    if !st.taps.get(&key).is_some_and(|t| t.id.eq_ignore_ascii_case(id)) {
        return Err(GraphError::method_not_found(id));
    }
    st.taps.remove(&key);
    Ok(GraphReply::NoContent)
}
