//! `/policies/authenticationMethodsPolicy[/authenticationMethodConfigurations/{fido2|temporaryAccessPass}]`.
use super::reply::{GraphError, GraphReply, GraphResult};
use super::{json_body, GraphCtx};
use crate::entra::simulator::state::policy::{check_tap_numbers, merge_patch, Fido2Policy, TapPolicy};
use crate::entra::simulator::state::TenantState;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Which configuration a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodConfig {
    Fido2,
    TemporaryAccessPass,
}

impl MethodConfig {
    /// From the path segment (case-insensitive).
    pub fn parse(s: &str) -> Option<MethodConfig> {
        if s.eq_ignore_ascii_case("fido2") {
            Some(MethodConfig::Fido2)
        } else if s.eq_ignore_ascii_case("temporaryAccessPass") {
            Some(MethodConfig::TemporaryAccessPass)
        } else {
            None
        }
    }
}

fn annotated(mut v: Value, ty: &str, context: String) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(context));
        o.insert("@odata.type".into(), json!(format!("#microsoft.graph.{ty}")));
    }
    v
}

fn render(ctx: &GraphCtx, st: &TenantState, which: MethodConfig) -> Value {
    let base = format!("{}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity", ctx.base());
    match which {
        MethodConfig::Fido2 => annotated(serde_json::to_value(&st.fido2_policy).unwrap_or_default(), "fido2AuthenticationMethodConfiguration", base),
        MethodConfig::TemporaryAccessPass => annotated(
            serde_json::to_value(&st.tap_policy).unwrap_or_default(),
            "temporaryAccessPassAuthenticationMethodConfiguration",
            base,
        ),
    }
}

/// GET one configuration.
pub fn get(ctx: &GraphCtx, which: MethodConfig) -> GraphResult {
    let st = ctx.sim.state();
    Ok(GraphReply::ok(render(ctx, &st, which)))
}

/// GET the whole policy (the two configurations the simulator models).
pub fn get_root(ctx: &GraphCtx) -> GraphResult {
    let st = ctx.sim.state();
    let configs = vec![render(ctx, &st, MethodConfig::Fido2), render(ctx, &st, MethodConfig::TemporaryAccessPass)];
    Ok(GraphReply::ok(json!({
        "@odata.context": format!("{}/$metadata#authenticationMethodsPolicy", ctx.base()),
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "policyVersion": "1.5",
        "authenticationMethodConfigurations": configs,
    })))
}

/// Apply a PATCH to the state (shared with the test-control surface).
pub fn apply_patch(st: &mut TenantState, which: MethodConfig, body: Value) -> Result<(), String> {
    match which {
        MethodConfig::Fido2 => {
            let new: Fido2Policy = merge_patch(&st.fido2_policy, body, "fido2AuthenticationMethodConfiguration")?;
            for r in std::iter::once(&new.key_restrictions).chain(new.passkey_profiles.iter().map(|p| &p.key_restrictions)) {
                if !matches!(r.enforcement_type.as_str(), "allow" | "block") {
                    return Err(format!("keyRestrictions.enforcementType must be 'allow' or 'block', not '{}'.", r.enforcement_type));
                }
            }
            st.fido2_policy = new;
        }
        MethodConfig::TemporaryAccessPass => {
            let new: TapPolicy = merge_patch(&st.tap_policy, body, "temporaryAccessPassAuthenticationMethodConfiguration")?;
            check_tap_numbers(new.minimum_lifetime_in_minutes, new.maximum_lifetime_in_minutes, new.default_lifetime_in_minutes, new.default_length)?;
            st.tap_policy = new;
        }
    }
    Ok(())
}

/// PATCH one configuration → 204.
pub fn patch(ctx: &GraphCtx, which: MethodConfig) -> GraphResult {
    let body = json_body(ctx, false)?;
    let mut st = ctx.sim.state();
    apply_patch(&mut st, which, body).map_err(|m| GraphError::new(StatusCode::BAD_REQUEST, "badRequest", m).inner("invalidPolicy"))?;
    Ok(GraphReply::NoContent)
}
