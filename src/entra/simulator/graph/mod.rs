//! The simulated Microsoft Graph subset under `/v1.0` and `/beta`.
//!
//! Routing is done here by hand rather than with axum routes because Graph paths carry
//! OData forms axum cannot express (`/users('$x@y')`, `creationOptions(challengeTimeoutInMinutes=10)`)
//! and segment names are case-insensitive.
pub mod auth;
pub mod fido2;
pub mod odata;
pub mod policies;
pub mod reply;
pub mod tap;
pub mod users;

use crate::entra::simulator::config::Behaviour;
use crate::entra::simulator::permissions::RouteClass;
use crate::entra::simulator::roles::MethodAccess;
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::User;
use auth::Caller;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use reply::{GraphError, GraphResult, RequestIds};
use serde_json::Value;
use std::sync::Arc;

/// Everything a Graph route handler needs about its request.
pub struct GraphCtx<'a> {
    pub sim: &'a Sim,
    /// `v1.0` or `beta`.
    pub version: &'a str,
    pub caller: Caller,
    pub query_pairs: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub behaviour: Behaviour,
}

impl GraphCtx<'_> {
    /// `http://127.0.0.1:P/v1.0` (for `@odata.context` and links).
    pub fn base(&self) -> String {
        self.sim.graph_version_base(self.version)
    }

    /// A query parameter (exact name).
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// A query parameter, name compared case-insensitively.
    pub fn query_ci(&self, name: &str) -> Option<String> {
        self.query_pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    /// A request header value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

/// The request body as JSON (`{}` when empty and `empty_ok`).
pub fn json_body(ctx: &GraphCtx, empty_ok: bool) -> Result<Value, GraphError> {
    if ctx.body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(ctx.body).map_err(|_| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    })?;
    if !v.is_object() {
        return Err(GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", "The request body must be a JSON object."));
    }
    Ok(v)
}

/// The axum handler for every `/v1.0/...` and `/beta/...` request.
pub async fn dispatch(State(sim): State<Arc<Sim>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let ids = RequestIds::new(&headers, sim.clock.now());
    match handle(&sim, &method, &uri, &headers, &body) {
        Ok(r) => r.into_response(&ids),
        Err(e) => e.into_response(&ids),
    }
}

fn segment_not_found(seg: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", format!("Resource not found for the segment '{seg}'."))
}

fn method_not_allowed() -> GraphError {
    GraphError::new(StatusCode::METHOD_NOT_ALLOWED, "BadRequest", "Specified HTTP method is not allowed for the request target.")
}

/// Decode one path segment (`%40` → `@`, `%23` → `#`, `%27` → `'`).
fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Split `name(args)` into its name and the argument text.
fn split_call(seg: &str) -> (&str, Option<&str>) {
    match (seg.find('('), seg.ends_with(')')) {
        (Some(i), true) => (&seg[..i], Some(&seg[i + 1..seg.len() - 1])),
        _ => (seg, None),
    }
}

/// The user key inside `users('...')`, with `''` unescaped.
fn quoted_key(args: &str) -> Option<String> {
    let a = args.trim();
    let inner = a.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn handle(sim: &Sim, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> GraphResult {
    let segs: Vec<String> = uri.path().split('/').filter(|s| !s.is_empty()).map(decode_segment).collect();
    let version = match segs.first().map(String::as_str) {
        Some("v1.0") => "v1.0",
        Some("beta") => "beta",
        _ => return Err(segment_not_found(segs.first().map(String::as_str).unwrap_or(""))),
    };
    let caller = auth::authenticate(sim, headers)?;
    let query_pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let ctx = GraphCtx { sim, version, caller, query_pairs, headers, body, behaviour: sim.behaviour() };
    let rest: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    let Some(first) = rest.first() else { return Err(segment_not_found(version)) };
    let (name, args) = split_call(first);
    if name.eq_ignore_ascii_case("users") {
        match (args, rest.len()) {
            (None, 1) => {
                require(&ctx, RouteClass::UsersRead)?;
                return only(method, Method::GET).and_then(|_| users::list(&ctx));
            }
            (None, _) => {
                let key = rest[1];
                if key.starts_with('$') {
                    return Err(GraphError::new(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("Invalid object identifier '{key}'. A userPrincipalName that starts with '$' must be addressed as /users('{key}')."),
                    ));
                }
                return user_routes(&ctx, method, key, &rest[2..]);
            }
            (Some(a), _) => {
                let key = quoted_key(a).ok_or_else(|| segment_not_found(first))?;
                return user_routes(&ctx, method, &key, &rest[1..]);
            }
        }
    }
    if name.eq_ignore_ascii_case("me") && args.is_none() {
        let me = ctx.caller.user.as_ref().map(|u| u.id.clone()).ok_or_else(|| {
            GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", "/me request is only valid with delegated authentication flow.")
        })?;
        return user_routes(&ctx, method, &me, &rest[1..]);
    }
    if name.eq_ignore_ascii_case("policies") && rest.len() >= 2 && rest[1].eq_ignore_ascii_case("authenticationMethodsPolicy") {
        return policy_routes(&ctx, method, &rest[2..]);
    }
    Err(segment_not_found(first))
}

fn only(method: &Method, allowed: Method) -> Result<(), GraphError> {
    if *method == allowed { Ok(()) } else { Err(method_not_allowed()) }
}

fn require(ctx: &GraphCtx, class: RouteClass) -> Result<(), GraphError> {
    auth::require(&ctx.caller, &ctx.behaviour.permissions, class)
}

fn lookup_user(ctx: &GraphCtx, key: &str) -> Result<User, GraphError> {
    ctx.sim.state().dir.user(key).cloned().ok_or_else(|| GraphError::user_not_found(key))
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn user_routes(ctx: &GraphCtx, method: &Method, key: &str, rest: &[&str]) -> GraphResult {
    match rest {
        [] => {
            require(ctx, RouteClass::UsersRead)?;
            only(method, Method::GET)?;
            users::get(ctx, &lookup_user(ctx, key)?)
        }
        [s] if eq(s, "checkMemberGroups") => {
            require(ctx, RouteClass::GroupMembership)?;
            only(method, Method::POST)?;
            users::check_member_groups(ctx, &lookup_user(ctx, key)?)
        }
        [a, rest @ ..] if eq(a, "authentication") => method_routes(ctx, method, key, rest),
        [s, ..] => Err(segment_not_found(s)),
    }
}

fn method_routes(ctx: &GraphCtx, method: &Method, key: &str, rest: &[&str]) -> GraphResult {
    let target = |ctx: &GraphCtx, class: RouteClass, access: MethodAccess, tap: bool| -> Result<User, GraphError> {
        require(ctx, class)?;
        let user = lookup_user(ctx, key)?;
        auth::require_method_role(&ctx.caller, &user, class, access, tap)?;
        Ok(user)
    };
    match rest {
        [s] if eq(s, "methods") => {
            only(method, Method::GET)?;
            fido2::all_methods(ctx, &target(ctx, RouteClass::MethodsRead, MethodAccess::Read, false)?)
        }
        [s] if eq(s, "temporaryAccessPassMethods") => match *method {
            Method::GET => tap::list(ctx, &target(ctx, RouteClass::TapRead, MethodAccess::Read, true)?),
            Method::POST => tap::create(ctx, &target(ctx, RouteClass::TapWrite, MethodAccess::Write, true)?),
            _ => Err(method_not_allowed()),
        },
        [s, id] if eq(s, "temporaryAccessPassMethods") => match *method {
            Method::GET => tap::get(ctx, &target(ctx, RouteClass::TapRead, MethodAccess::Read, true)?, id),
            Method::DELETE => tap::delete(ctx, &target(ctx, RouteClass::TapWrite, MethodAccess::Write, true)?, id),
            _ => Err(method_not_allowed()),
        },
        [s] if eq(s, "fido2Methods") => match *method {
            Method::GET => fido2::list(ctx, &target(ctx, RouteClass::Fido2Read, MethodAccess::Read, false)?),
            Method::POST => fido2::register(ctx, &target(ctx, RouteClass::Fido2Write, MethodAccess::Write, false)?),
            _ => Err(method_not_allowed()),
        },
        [s, item] if eq(s, "fido2Methods") => {
            let (name, args) = split_call(item);
            if eq(name, "creationOptions") {
                only(method, Method::GET)?;
                let user = target(ctx, RouteClass::Fido2Write, MethodAccess::Write, false)?;
                return fido2::creation_options(ctx, &user, args);
            }
            match *method {
                Method::GET => fido2::get(ctx, &target(ctx, RouteClass::Fido2Read, MethodAccess::Read, false)?, item),
                Method::DELETE => fido2::delete(ctx, &target(ctx, RouteClass::Fido2Write, MethodAccess::Write, false)?, item),
                _ => Err(method_not_allowed()),
            }
        }
        [s, ..] => Err(segment_not_found(s)),
        [] => Err(segment_not_found("authentication")),
    }
}

fn policy_routes(ctx: &GraphCtx, method: &Method, rest: &[&str]) -> GraphResult {
    match rest {
        [] => {
            require(ctx, RouteClass::PolicyRead)?;
            auth::require_policy_role(&ctx.caller, false)?;
            only(method, Method::GET)?;
            policies::get_root(ctx)
        }
        [c, id] if eq(c, "authenticationMethodConfigurations") => {
            let which = policies::MethodConfig::parse(id).ok_or_else(|| segment_not_found(id))?;
            match *method {
                Method::GET => {
                    require(ctx, RouteClass::PolicyRead)?;
                    auth::require_policy_role(&ctx.caller, false)?;
                    policies::get(ctx, which)
                }
                Method::PATCH => {
                    require(ctx, RouteClass::PolicyWrite)?;
                    auth::require_policy_role(&ctx.caller, true)?;
                    policies::patch(ctx, which)
                }
                _ => Err(method_not_allowed()),
            }
        }
        [s, ..] => Err(segment_not_found(s)),
    }
}
