//! `GET /users`, `GET /users/{id|upn}`, `POST /users/{id}/checkMemberGroups`.
use super::odata;
use super::reply::{GraphError, GraphReply, GraphResult};
use super::GraphCtx;
use crate::entra::simulator::state::directory::User;
use axum::http::StatusCode;
use serde_json::{json, Value};

fn unsupported(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
}

fn parse_select(ctx: &GraphCtx) -> Result<Option<Vec<String>>, GraphError> {
    let Some(sel) = ctx.query("$select") else { return Ok(None) };
    let props: Vec<String> = sel.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    for p in &props {
        if !User::PROPERTIES.iter().any(|k| k.eq_ignore_ascii_case(p)) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                format!("Could not find a property named '{p}' on type 'microsoft.graph.user'."),
            ));
        }
    }
    Ok(Some(props))
}

/// `GET /users/{key}`.
pub fn get(ctx: &GraphCtx, user: &User) -> GraphResult {
    let select = parse_select(ctx)?;
    let mut v = user.to_graph(select.as_deref());
    let context = match &select {
        Some(s) => format!("{}/$metadata#users({})/$entity", ctx.base(), s.join(",")),
        None => format!("{}/$metadata#users/$entity", ctx.base()),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(context));
    }
    Ok(GraphReply::ok(v))
}

/// `GET /users` with `$filter`, `$search`, `$select`, `$top`, `$count`.
pub fn list(ctx: &GraphCtx) -> GraphResult {
    let advanced = ctx.header("consistencylevel").is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let count = ctx.query("$count").map(|c| c.eq_ignore_ascii_case("true")).unwrap_or(false);
    let filter = match ctx.query("$filter") {
        Some(f) => Some(odata::parse(&f).map_err(|e| GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", format!("Invalid filter clause: {e}.")))?),
        None => None,
    };
    if let Some(f) = &filter {
        for p in f.properties() {
            if !User::PROPERTIES.iter().any(|k| k.eq_ignore_ascii_case(p)) {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    format!("Property '{p}' does not exist as a declared property or extension property."),
                ));
            }
        }
        if f.uses_endswith() && !(advanced && count) {
            return Err(unsupported(
                "Unsupported Query. endswith is an advanced query: send the header 'ConsistencyLevel: eventual' and $count=true.",
            ));
        }
    }
    if count && !advanced {
        return Err(unsupported("Unsupported Query. $count needs the header 'ConsistencyLevel: eventual'."));
    }
    let search = ctx.query("$search");
    if search.is_some() && !advanced {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    let search = match search {
        Some(s) => Some(parse_search(&s)?),
        None => None,
    };
    let select = parse_select(ctx)?;
    let top = match ctx.query("$top") {
        Some(t) => Some(t.parse::<usize>().ok().filter(|n| (1..=999).contains(n)).ok_or_else(|| {
            GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid page size specified: $top must be between 1 and 999.")
        })?),
        None => None,
    };
    let skip: usize = ctx.query("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let st = ctx.sim.state();
    let matching: Vec<Value> = st
        .dir
        .users
        .iter()
        .map(|u| (u, u.to_graph(Some(&User::PROPERTIES.iter().map(|s| s.to_string()).collect::<Vec<_>>()))))
        .filter(|(_, full)| filter.as_ref().is_none_or(|f| f.eval(full)))
        .filter(|(_, full)| {
            search.as_ref().is_none_or(|(prop, term)| {
                full.get(prop.as_str()).and_then(|v| v.as_str()).is_some_and(|s| s.to_lowercase().contains(&term.to_lowercase()))
            })
        })
        .map(|(u, _)| u.to_graph(select.as_deref()))
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(skip).take(top.unwrap_or(100)).collect();
    let mut body = json!({"@odata.context": format!("{}/$metadata#users", ctx.base()), "value": page});
    let o = body.as_object_mut().expect("literal object");
    if count {
        o.insert("@odata.count".into(), json!(total));
    }
    let next = skip + top.unwrap_or(100);
    if next < total {
        let mut q: Vec<(String, String)> = ctx.query_pairs.iter().filter(|(k, _)| k != "$skiptoken").cloned().collect();
        q.push(("$skiptoken".into(), next.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q).finish();
        o.insert("@odata.nextLink".into(), json!(format!("{}/users?{qs}", ctx.base())));
    }
    Ok(GraphReply::ok(body))
}

/// `$search="displayName:foo"` (one clause, as the directory mostly gets used).
fn parse_search(s: &str) -> Result<(String, String), GraphError> {
    let inner = s.trim().trim_matches('"');
    let (prop, term) = inner.split_once(':').ok_or_else(|| {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", "Syntax error: $search must look like \"property:term\" in double quotes.")
    })?;
    if !["displayName", "mail", "userPrincipalName", "givenName", "surname"].iter().any(|p| p.eq_ignore_ascii_case(prop)) {
        return Err(GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", format!("$search is not supported on property '{prop}'.")));
    }
    let canonical = User::PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(prop)).copied().unwrap_or("displayName");
    Ok((canonical.to_string(), term.to_string()))
}

/// `POST /users/{id}/checkMemberGroups` (≤ 20 group ids, transitive).
pub fn check_member_groups(ctx: &GraphCtx, user: &User) -> GraphResult {
    let body: Value = serde_json::from_slice(ctx.body).map_err(|_| {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "The request body must be a JSON object with a groupIds array.")
    })?;
    let ids = body.get("groupIds").and_then(|v| v.as_array()).ok_or_else(|| {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "The request body must contain a 'groupIds' array of group ids.")
    })?;
    if ids.len() > 20 {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            format!("Too many values in 'groupIds': {} given, at most 20 are allowed per call.", ids.len()),
        ));
    }
    let mut wanted = Vec::new();
    for id in ids {
        let s = id.as_str().ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Every groupIds entry must be a string."))?;
        if uuid::Uuid::parse_str(s).is_err() {
            return Err(GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", format!("Invalid object identifier '{s}'.")));
        }
        wanted.push(s.to_string());
    }
    let groups = ctx.sim.state().groups_of(&user.id);
    let value: Vec<String> = wanted.into_iter().filter(|g| groups.contains(&g.to_lowercase())).collect();
    Ok(GraphReply::ok(json!({"@odata.context": format!("{}/$metadata#Collection(Edm.String)", ctx.base()), "value": value})))
}
