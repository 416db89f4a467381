//! The few WebDriver BiDi commands keystation uses, with deadlines and typed answers.
//!
//! thirtyfour's typed modules cover most of these, but keystation needs parameters
//! they do not all expose (`userContexts` on preload scripts, channel arguments with
//! serialization options, realm targets), so it speaks the wire format directly
//! through `BiDi::send_raw`.
use super::error::BrowserError;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use thirtyfour::bidi::BiDi;

/// A BiDi connection with a per-command deadline.
#[derive(Debug, Clone)]
pub struct Bidi {
    inner: BiDi,
    timeout: Duration,
}

/// One entry of `browsingContext.getTree`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextInfo {
    /// Browsing context id (for top-level contexts also the WebDriver window handle).
    pub context: String,
    /// The document URL.
    pub url: String,
    /// The user context it belongs to.
    #[serde(default)]
    pub user_context: Option<String>,
    /// The context that opened it (popups).
    #[serde(default)]
    pub original_opener: Option<String>,
    /// Nested frames.
    #[serde(default)]
    pub children: Option<Vec<ContextInfo>>,
}

/// One entry of `script.getRealms`.
#[derive(Debug, Clone, Deserialize)]
pub struct RealmInfo {
    /// Realm id.
    pub realm: String,
    /// The realm's origin as the browser serialises it (`null` when opaque).
    pub origin: String,
    /// `window`, `dedicated-worker`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Browsing context of a window realm.
    #[serde(default)]
    pub context: Option<String>,
    /// Set for isolated-world (sandbox) realms.
    #[serde(default)]
    pub sandbox: Option<String>,
}

impl Bidi {
    /// Wrap a connected BiDi handle.
    pub fn new(inner: BiDi, timeout: Duration) -> Bidi {
        Bidi { inner, timeout }
    }

    /// The underlying thirtyfour handle (events, other commands).
    pub fn raw(&self) -> &BiDi {
        &self.inner
    }

    /// Send a command and return its `result`.
    pub async fn send(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        match tokio::time::timeout(self.timeout, self.inner.send_raw(method, params)).await {
            Err(_) => Err(BrowserError::CommandTimeout(method.to_string())),
            Ok(Err(e)) if e.message.contains("WebSocket") || e.message.contains("connection") => {
                Err(BrowserError::Gone(format!("{method}: {}", e.message)))
            }
            Ok(Err(e)) => Err(BrowserError::Command { command: method.to_string(), message: format!("{}: {}", e.error, e.message) }),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// `session.subscribe` to whole event names.
    pub async fn subscribe(&self, events: &[&str]) -> Result<(), BrowserError> {
        self.send("session.subscribe", json!({ "events": events })).await.map(drop)
    }

    /// `browser.createUserContext`: a fresh, isolated cookie jar and storage.
    pub async fn create_user_context(&self) -> Result<String, BrowserError> {
        let r = self.send("browser.createUserContext", json!({})).await?;
        string_field(&r, "userContext")
    }

    /// `browser.removeUserContext`: closes its tabs and discards its storage.
    pub async fn remove_user_context(&self, user_context: &str) -> Result<(), BrowserError> {
        self.send("browser.removeUserContext", json!({ "userContext": user_context })).await.map(drop)
    }

    /// `browsingContext.create` a tab in a user context.
    pub async fn create_tab(&self, user_context: &str) -> Result<String, BrowserError> {
        let r = self.send("browsingContext.create", json!({ "type": "tab", "userContext": user_context })).await?;
        string_field(&r, "context")
    }

    /// `browsingContext.navigate`: start the navigation and return once it has begun.
    /// Pages that submit or redirect at once (Microsoft's do) would otherwise turn a
    /// wait for "complete" into an error.
    pub async fn navigate(&self, context: &str, url: &str) -> Result<(), BrowserError> {
        self.send("browsingContext.navigate", json!({ "context": context, "url": url, "wait": "none" })).await.map(drop)
    }

    /// `browsingContext.navigate` and wait for the document's load event. When the page
    /// itself navigates on before loading completes, that later navigation wins and
    /// this returns Ok.
    pub async fn navigate_and_wait(&self, context: &str, url: &str) -> Result<(), BrowserError> {
        match self.send("browsingContext.navigate", json!({ "context": context, "url": url, "wait": "complete" })).await {
            Err(BrowserError::Command { message, .. }) if message.contains("concurrent navigation") => Ok(()),
            other => other.map(drop),
        }
    }

    /// `script.addPreloadScript` with one channel argument, limited to a user context.
    pub async fn add_preload_script(&self, function: &str, channel: &str, user_context: &str) -> Result<String, BrowserError> {
        let r = self
            .send(
                "script.addPreloadScript",
                json!({
                    "functionDeclaration": function,
                    "arguments": [{
                        "type": "channel",
                        "value": {
                            "channel": channel,
                            // `root`: each message gets a handle, through which keystation
                            // calls the page's private reply function.
                            "ownership": "root",
                            "serializationOptions": { "maxObjectDepth": 1 }
                        }
                    }],
                    "userContexts": [user_context],
                }),
            )
            .await?;
        string_field(&r, "script")
    }

    /// `browsingContext.getTree` of every top-level context.
    pub async fn tree(&self) -> Result<Vec<ContextInfo>, BrowserError> {
        let r = self.send("browsingContext.getTree", json!({})).await?;
        serde_json::from_value(r["contexts"].clone()).map_err(|e| BrowserError::Protocol(format!("getTree: {e}")))
    }

    /// `script.getRealms` of one browsing context.
    pub async fn realms(&self, context: &str) -> Result<Vec<RealmInfo>, BrowserError> {
        let r = self.send("script.getRealms", json!({ "context": context })).await?;
        serde_json::from_value(r["realms"].clone()).map_err(|e| BrowserError::Protocol(format!("getRealms: {e}")))
    }

    /// `script.callFunction` in a realm, with the given serialised arguments.
    pub async fn call_function(&self, realm: &str, function: &str, arguments: Value) -> Result<Value, BrowserError> {
        let r = self
            .send(
                "script.callFunction",
                json!({
                    "functionDeclaration": function,
                    "arguments": arguments,
                    "target": { "realm": realm },
                    "awaitPromise": false,
                    "resultOwnership": "none",
                }),
            )
            .await?;
        exception_or_result(r)
    }

    /// `script.disown` handles in a realm (best effort: the realm may be gone).
    pub async fn disown(&self, realm: &str, handles: &[String]) {
        let _ = self.send("script.disown", json!({ "handles": handles, "target": { "realm": realm } })).await;
    }

    /// `script.evaluate` an expression in a context's main world, awaiting promises.
    pub async fn evaluate(&self, context: &str, expression: &str) -> Result<Value, BrowserError> {
        let r = self
            .send(
                "script.evaluate",
                json!({
                    "expression": expression,
                    "target": { "context": context },
                    "awaitPromise": true,
                    "resultOwnership": "none",
                    "userActivation": true,
                }),
            )
            .await?;
        exception_or_result(r)
    }

    /// `script.callFunction` in a context's main world with string arguments, awaiting
    /// promises and with user activation (so that a click may open a popup, as a real
    /// click would). Arguments travel as call arguments, never inside the script text.
    pub async fn call_in_context(&self, context: &str, function: &str, arguments: &[&str]) -> Result<Value, BrowserError> {
        let args: Vec<Value> = arguments.iter().map(|a| json!({ "type": "string", "value": a })).collect();
        let r = self
            .send(
                "script.callFunction",
                json!({
                    "functionDeclaration": function,
                    "arguments": args,
                    "target": { "context": context },
                    "awaitPromise": true,
                    "resultOwnership": "none",
                    "userActivation": true,
                }),
            )
            .await?;
        exception_or_result(r).map(|v| remote_to_json(&v))
    }

    /// Every cookie of a user context (`storage.getCookies`), HttpOnly ones included.
    /// Cookie values are session secrets: keep them in memory, never log them.
    pub async fn cookies(&self, user_context: &str) -> Result<Vec<Value>, BrowserError> {
        let r = self.send("storage.getCookies", json!({ "partition": { "type": "storageKey", "userContext": user_context } })).await?;
        Ok(r["cookies"].as_array().cloned().unwrap_or_default())
    }

    /// Put a cookie (as [`Bidi::cookies`] returned it) into a user context.
    pub async fn set_cookie(&self, user_context: &str, cookie: &Value) -> Result<(), BrowserError> {
        let mut c = json!({
            "name": cookie["name"],
            "value": cookie["value"],
            "domain": cookie["domain"],
        });
        for k in ["path", "httpOnly", "secure", "sameSite", "expiry"] {
            if !cookie[k].is_null() {
                c[k] = cookie[k].clone();
            }
        }
        self.send("storage.setCookie", json!({ "cookie": c, "partition": { "type": "storageKey", "userContext": user_context } }))
            .await
            .map(drop)
    }

    /// `browsingContext.captureScreenshot` as PNG bytes.
    pub async fn screenshot_png(&self, context: &str) -> Result<Vec<u8>, BrowserError> {
        let r = self.send("browsingContext.captureScreenshot", json!({ "context": context })).await?;
        let data = string_field(&r, "data")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Protocol(format!("screenshot is not base64: {e}")))
    }
}

fn string_field(v: &Value, name: &str) -> Result<String, BrowserError> {
    v[name].as_str().map(str::to_string).ok_or_else(|| BrowserError::Protocol(format!("answer without {name}: {v}")))
}

/// Turn an `EvaluateResult` into the RemoteValue, or an error carrying the page's
/// exception text.
fn exception_or_result(r: Value) -> Result<Value, BrowserError> {
    match r["type"].as_str() {
        Some("success") => Ok(r["result"].clone()),
        Some("exception") => Err(BrowserError::Command {
            command: "script".into(),
            message: r["exceptionDetails"]["text"].as_str().unwrap_or("exception").to_string(),
        }),
        _ => Err(BrowserError::Protocol(format!("unexpected script result: {r}"))),
    }
}

/// Find a context (top-level or nested) by id; returns the path from the top-level
/// context down to it.
pub fn path_to(tree: &[ContextInfo], id: &str) -> Option<Vec<ContextInfo>> {
    for top in tree {
        if top.context == id {
            return Some(vec![top.clone()]);
        }
        if let Some(mut rest) = top.children.as_deref().and_then(|c| path_to(c, id)) {
            rest.insert(0, top.clone());
            return Some(rest);
        }
    }
    None
}

/// Convert a BiDi RemoteValue (primitive, array or object) to JSON; other types
/// become `null`.
pub fn remote_to_json(v: &Value) -> Value {
    match v["type"].as_str() {
        Some("string") | Some("boolean") => v["value"].clone(),
        Some("number") => match &v["value"] {
            Value::String(special) => json!(special),
            n => n.clone(),
        },
        Some("array") => Value::Array(v["value"].as_array().map(|a| a.iter().map(remote_to_json).collect()).unwrap_or_default()),
        Some("object") => {
            let mut m = serde_json::Map::new();
            for pair in v["value"].as_array().into_iter().flatten() {
                if let (Some(k), Some(val)) = (pair[0].as_str(), pair.get(1)) {
                    m.insert(k.to_string(), remote_to_json(val));
                }
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_to_nested_frames() {
        let tree: Vec<ContextInfo> = serde_json::from_value(json!([
            {"context": "A", "url": "u", "children": [{"context": "B", "url": "u", "children": [{"context": "C", "url": "u", "children": []}]}]},
            {"context": "D", "url": "u", "children": []}
        ]))
        .unwrap();
        let ids = |p: Option<Vec<ContextInfo>>| p.map(|p| p.into_iter().map(|c| c.context).collect::<Vec<_>>());
        assert_eq!(ids(path_to(&tree, "C")), Some(vec!["A".into(), "B".into(), "C".into()]));
        assert_eq!(ids(path_to(&tree, "D")), Some(vec!["D".into()]));
        assert_eq!(ids(path_to(&tree, "X")), None);
    }

    #[test]
    fn remote_values_become_json() {
        let v = json!({"type": "object", "value": [["a", {"type": "number", "value": 1}], ["b", {"type": "array", "value": [{"type": "string", "value": "x"}, {"type": "undefined"}]}]]});
        assert_eq!(remote_to_json(&v), json!({"a": 1, "b": ["x", null]}));
    }
}
