//! Minting token responses for delegated (user) and application callers.
use super::error::StsError;
use super::scopes::Scopes;
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::{App, User};
use crate::entra::simulator::state::oauth::{RefreshGrant, RefreshStatus};
use crate::entra::simulator::state::TenantState;
use crate::entra::simulator::tokens::{self, AccessClaims, IdClaims};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The delegated permissions a sign-in gets: every admin-consented Graph permission of
/// the app (as Entra does), provided everything asked for is consented.
pub fn consented_scopes(app: &App, scopes: &Scopes) -> Result<Vec<String>, StsError> {
    for s in scopes.graph.iter().filter(|s| *s != ".default") {
        if !app.delegated_scopes.iter().any(|c| c.eq_ignore_ascii_case(s)) {
            return Err(StsError::bad(
                "invalid_grant",
                65001,
                format!(
                    "The user or administrator has not consented to use the application with ID '{}' named '{}' for permission '{s}'. Send an interactive authorization request for this user and resource.",
                    app.client_id, app.name
                ),
            )
            .suberror("consent_required"));
        }
    }
    Ok(app.delegated_scopes.clone())
}

/// Token response for a signed-in user. `cap` limits the access token's expiry (a TAP
/// sign-in's token never outlives the pass).
pub fn delegated_response(sim: &Sim, st: &mut TenantState, app: &App, user: &User, scopes: &Scopes, cap: Option<DateTime<Utc>>) -> Result<Value, StsError> {
    if !user.account_enabled {
        return Err(StsError::bad("invalid_grant", 50057, "The user account is disabled."));
    }
    let granted = consented_scopes(app, scopes)?;
    let now = sim.clock.now();
    let lifetime = sim.behaviour().access_token_lifetime_secs as i64;
    let mut exp = now.timestamp() + lifetime;
    if let Some(c) = cap {
        exp = exp.min(c.timestamp());
    }
    let claims = AccessClaims {
        aud: scopes.resource().into(),
        iss: format!("https://sts.windows.net/{}/", st.tenant_id),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp,
        tid: st.tenant_id.clone(),
        appid: app.client_id.clone(),
        app_displayname: app.name.clone(),
        idtyp: "user".into(),
        sub: crate::entra::simulator::seed::derived_guid(&app.client_id, &user.id),
        oid: Some(user.id.clone()),
        upn: Some(user.upn.clone()),
        name: Some(user.display_name.clone()),
        scp: Some(granted.join(" ")),
        roles: None,
        wids: (!user.roles.is_empty()).then(|| user.roles.iter().map(|r| r.template_id().to_string()).collect()),
        uti: tokens::random_token(16),
        ver: "1.0".into(),
    };
    let access = tokens::mint(&sim.token_key, &claims);
    let mut scope_out: Vec<String> = granted.iter().map(|s| format!("{}/{s}", scopes.resource())).collect();
    scope_out.extend(scopes.oidc.iter().cloned());
    if scopes.offline_access {
        scope_out.push("offline_access".into());
    }
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope_out.join(" "),
        "expires_in": exp - now.timestamp(),
        "ext_expires_in": exp - now.timestamp(),
        "access_token": access,
    });
    let o = body.as_object_mut().expect("literal object");
    if scopes.offline_access {
        let rt = format!("0.SIM.{}", tokens::random_token(48));
        st.refresh_tokens.insert(
            rt.clone(),
            RefreshGrant { client_id: app.client_id.clone(), user_id: user.id.clone(), scopes: scopes.raw.clone(), issued: now, status: RefreshStatus::Active },
        );
        o.insert("refresh_token".into(), json!(rt));
    }
    if scopes.oidc.iter().any(|s| s == "openid") {
        let id = IdClaims {
            aud: app.client_id.clone(),
            iss: format!("{}{}/v2.0", sim.urls.main, st.tenant_id),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp,
            tid: st.tenant_id.clone(),
            oid: user.id.clone(),
            sub: claims.sub.clone(),
            name: user.display_name.clone(),
            preferred_username: user.upn.clone(),
            ver: "2.0".into(),
        };
        o.insert("id_token".into(), json!(tokens::mint(&sim.token_key, &id)));
    }
    Ok(body)
}

/// Token response for an application (client credentials).
pub fn application_response(sim: &Sim, st: &TenantState, app: &App, resource: &str) -> Value {
    let now = sim.clock.now();
    let lifetime = sim.behaviour().access_token_lifetime_secs as i64;
    let claims = AccessClaims {
        aud: resource.into(),
        iss: format!("https://sts.windows.net/{}/", st.tenant_id),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: now.timestamp() + lifetime,
        tid: st.tenant_id.clone(),
        appid: app.client_id.clone(),
        app_displayname: app.name.clone(),
        idtyp: "app".into(),
        sub: crate::entra::simulator::seed::derived_guid(&st.tenant_id, &format!("sp:{}", app.client_id)),
        oid: Some(crate::entra::simulator::seed::derived_guid(&st.tenant_id, &format!("sp:{}", app.client_id))),
        upn: None,
        name: None,
        scp: None,
        roles: (!app.application_roles.is_empty()).then(|| app.application_roles.clone()),
        wids: None,
        uti: tokens::random_token(16),
        ver: "1.0".into(),
    };
    json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": tokens::mint(&sim.token_key, &claims),
    })
}
