//! Bearer-token checks (401) and permission checks (403) for Graph routes.
use super::reply::GraphError;
use crate::entra::simulator::permissions::{PermissionTable, RouteClass};
use crate::entra::simulator::roles::{self, DirectoryRole, MethodAccess};
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::User;
use crate::entra::simulator::tokens::{self, AccessClaims, JwtError, GRAPH_APP_ID, GRAPH_RESOURCES};
use axum::http::{header::WWW_AUTHENTICATE, HeaderMap, StatusCode};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: AccessClaims,
    /// The signed-in user, as the directory has them now (delegated tokens only).
    pub user: Option<User>,
}

impl Caller {
    /// Directory roles of the signed-in user (empty for apps).
    pub fn roles(&self) -> &[DirectoryRole] {
        self.user.as_ref().map(|u| u.roles.as_slice()).unwrap_or(&[])
    }
}

fn unauthorized(sim: &Sim, message: &str) -> GraphError {
    let challenge = format!(
        "Bearer realm=\"\", authorization_uri=\"{}common/oauth2/authorize\", client_id=\"{GRAPH_APP_ID}\"",
        sim.urls.signin
    );
    GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message).header(WWW_AUTHENTICATE, challenge)
}

/// Validate the `Authorization: Bearer` token.
pub fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<Caller, GraphError> {
    let raw = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ if raw.is_empty() => return Err(unauthorized(sim, "Access token is empty.")),
        _ => return Err(unauthorized(sim, "Access token validation failure: the Authorization header must be 'Bearer <token>'.")),
    };
    if token.is_empty() {
        return Err(unauthorized(sim, "Access token is empty."));
    }
    let claims: AccessClaims = tokens::verify(&sim.token_key, token).map_err(|e| match e {
        JwtError::Malformed => unauthorized(sim, "CompactToken parsing failed with error code: 80049217"),
        JwtError::BadSignature => unauthorized(sim, "Access token validation failure. Invalid signature."),
    })?;
    if !GRAPH_RESOURCES.contains(&claims.aud.as_str()) && claims.aud != GRAPH_APP_ID {
        return Err(unauthorized(sim, "Access token validation failure. Invalid audience."));
    }
    let now = sim.clock.now().timestamp();
    if now >= claims.exp || now < claims.nbf {
        return Err(unauthorized(sim, "Access token has expired or is not yet valid."));
    }
    let st = sim.state();
    if !claims.tid.eq_ignore_ascii_case(&st.tenant_id) {
        return Err(unauthorized(sim, "Access token validation failure. Invalid issuer."));
    }
    let user = match (&claims.oid, claims.is_delegated()) {
        (Some(oid), true) => Some(st.dir.user(oid).cloned().ok_or_else(|| unauthorized(sim, "The signed-in user no longer exists."))?),
        _ => None,
    };
    Ok(Caller { claims, user })
}

/// 403 unless the token carries one of the permissions the route class accepts.
pub fn require(caller: &Caller, table: &PermissionTable, class: RouteClass) -> Result<(), GraphError> {
    let entry = table.get(class);
    let ok = if caller.claims.is_delegated() {
        let have = caller.claims.scopes();
        entry.delegated.iter().any(|p| have.iter().any(|h| h.eq_ignore_ascii_case(p)))
    } else {
        let have = caller.claims.app_roles();
        entry.application.iter().any(|p| have.iter().any(|h| h.eq_ignore_ascii_case(p)))
    };
    if ok { Ok(()) } else { Err(denied(class).inner("missingPermission")) }
}

/// The 403 body of a route class.
pub fn denied(class: RouteClass) -> GraphError {
    let message = match class.denied_code() {
        "Authorization_RequestDenied" => "Insufficient privileges to complete the operation.",
        _ => "Request Authorization failed",
    };
    GraphError::new(StatusCode::FORBIDDEN, class.denied_code(), message)
}

/// Delegated callers also need a directory role that covers the target user.
pub fn require_method_role(caller: &Caller, target: &User, class: RouteClass, access: MethodAccess, tap: bool) -> Result<(), GraphError> {
    let Some(me) = &caller.user else { return Ok(()) };
    let is_self = me.id.eq_ignore_ascii_case(&target.id);
    if roles::may_manage_methods(&me.roles, is_self, target.is_admin(), access, tap) {
        Ok(())
    } else {
        Err(denied(class).inner("missingDirectoryRole"))
    }
}

/// Delegated callers need a policy-reading (or -writing) role.
pub fn require_policy_role(caller: &Caller, write: bool) -> Result<(), GraphError> {
    let Some(me) = &caller.user else { return Ok(()) };
    if roles::may_access_policy(&me.roles, write) {
        Ok(())
    } else {
        let class = if write { RouteClass::PolicyWrite } else { RouteClass::PolicyRead };
        Err(denied(class).inner("missingDirectoryRole"))
    }
}
