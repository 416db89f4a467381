//! The bridge protocol: what the injected script may send on its channel.
//!
//! A `script.message` carries `[json, reply]`: `json` a string, `reply` the page-side
//! function keystation answers through (a remote handle, `null` when no answer is
//! expected). Anything that does not match exactly is refused.
use serde::Deserialize;
use serde_json::Value;

/// Largest message keystation accepts (options JSON included).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A decoded channel message with its browser-reported source.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMessage {
    /// The realm that sent it (browser-reported).
    pub realm: String,
    /// The browsing context of that realm (browser-reported).
    pub context: String,
    /// The user context, when the browser reports it.
    pub user_context: Option<String>,
    /// Remote handle of the message array (to call the reply function and to disown).
    pub handle: Option<String>,
    /// What the page asked for.
    pub request: PageRequest,
}

/// The three things a page can ask.
#[derive(Debug, Clone, PartialEq)]
pub enum PageRequest {
    /// `navigator.credentials.create({publicKey})`, options in JSON form.
    Create {
        /// Per-call random id.
        id: String,
        /// PublicKeyCredentialCreationOptionsJSON.
        public_key: Value,
    },
    /// The page's AbortSignal fired for call `id`.
    Cancel {
        /// The call being aborted.
        id: String,
    },
    /// `navigator.credentials.get({publicKey})` was refused page-side; for the record.
    Get {
        /// Per-call random id.
        id: String,
        /// `mediation: "conditional"`.
        conditional: bool,
    },
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Wire {
    Create {
        v: u8,
        id: String,
        #[serde(rename = "publicKey")]
        public_key: Value,
    },
    Cancel {
        v: u8,
        id: String,
    },
    Get {
        v: u8,
        id: String,
        conditional: bool,
    },
}

/// Decode `script.message` params for `channel`. Errors say what was wrong (for the
/// log), never echo page data at length.
pub fn parse(params: &Value, channel: &str) -> Result<ChannelMessage, String> {
    if params["channel"].as_str() != Some(channel) {
        return Err("message on another channel".into());
    }
    let realm = params["source"]["realm"].as_str().ok_or("message without source realm")?.to_string();
    let context = params["source"]["context"].as_str().ok_or("message without source context")?.to_string();
    let user_context = params["source"]["userContext"].as_str().map(str::to_string);
    let data = &params["data"];
    let handle = data["handle"].as_str().map(str::to_string);
    if data["type"] != "array" {
        return Err(format!("message data is a {}, not an array", data["type"]));
    }
    let items = data["value"].as_array().ok_or("message array without items")?;
    let [text, reply] = items.as_slice() else {
        return Err(format!("message array has {} items, not 2", items.len()));
    };
    if text["type"] != "string" {
        return Err("first message item is not a string".into());
    }
    let text = text["value"].as_str().ok_or("first message item has no value")?;
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(format!("message is {} bytes, more than {MAX_MESSAGE_BYTES}", text.len()));
    }
    let has_reply = match reply["type"].as_str() {
        Some("function") => true,
        Some("null") => false,
        other => return Err(format!("second message item is {other:?}, not a function or null")),
    };
    let wire: Wire = serde_json::from_str(text).map_err(|e| format!("message JSON does not follow the bridge protocol: {e}"))?;
    let (v, request) = match wire {
        Wire::Create { v, id, public_key } => (v, PageRequest::Create { id, public_key }),
        Wire::Cancel { v, id } => (v, PageRequest::Cancel { id }),
        Wire::Get { v, id, conditional } => (v, PageRequest::Get { id, conditional }),
    };
    if v != 1 {
        return Err(format!("bridge protocol version {v} is not 1"));
    }
    let id = match &request {
        PageRequest::Create { id, .. } | PageRequest::Cancel { id } | PageRequest::Get { id, .. } => id,
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err("message id is not 32 lower-case hex digits".into());
    }
    match (&request, has_reply) {
        (PageRequest::Create { public_key, .. }, true) if public_key.is_object() => {}
        (PageRequest::Create { .. }, true) => return Err("create without a publicKey object".into()),
        (PageRequest::Create { .. }, false) => return Err("create without a reply function".into()),
        (_, true) => return Err("only create carries a reply function".into()),
        (_, false) => {}
    }
    Ok(ChannelMessage { realm, context, user_context, handle, request })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn msg(text: &str, reply: Value) -> Value {
        json!({
            "channel": "ch",
            "data": {"type": "array", "handle": "h1", "value": [{"type": "string", "value": text}, reply]},
            "source": {"realm": "r1", "context": "c1", "userContext": "u1"}
        })
    }

    fn create_text() -> String {
        json!({"v": 1, "op": "create", "id": ID, "publicKey": {"challenge": "AA"}}).to_string()
    }

    #[test]
    fn accepts_the_three_requests() {
        let m = parse(&msg(&create_text(), json!({"type": "function"})), "ch").unwrap();
        assert_eq!(m.realm, "r1");
        assert_eq!(m.handle.as_deref(), Some("h1"));
        assert!(matches!(m.request, PageRequest::Create { ref id, .. } if id == ID));
        let cancel = json!({"v": 1, "op": "cancel", "id": ID}).to_string();
        assert_eq!(parse(&msg(&cancel, json!({"type": "null"})), "ch").unwrap().request, PageRequest::Cancel { id: ID.into() });
        let get = json!({"v": 1, "op": "get", "id": ID, "conditional": true}).to_string();
        assert_eq!(
            parse(&msg(&get, json!({"type": "null"})), "ch").unwrap().request,
            PageRequest::Get { id: ID.into(), conditional: true }
        );
    }

    #[test]
    fn refuses_anything_else() {
        let f = json!({"type": "function"});
        let n = json!({"type": "null"});
        let bad = [
            parse(&msg(&create_text(), f.clone()), "other"),
            parse(&msg(&create_text(), n.clone()), "ch"),
            parse(&msg(&json!({"v": 1, "op": "cancel", "id": ID}).to_string(), f.clone()), "ch"),
            parse(&msg(&json!({"v": 2, "op": "create", "id": ID, "publicKey": {}}).to_string(), f.clone()), "ch"),
            parse(&msg(&json!({"v": 1, "op": "create", "id": "x", "publicKey": {}}).to_string(), f.clone()), "ch"),
            parse(&msg(&json!({"v": 1, "op": "create", "id": ID, "publicKey": 5}).to_string(), f.clone()), "ch"),
            parse(&msg(&json!({"v": 1, "op": "create", "id": ID, "publicKey": {}, "origin": "https://evil"}).to_string(), f.clone()), "ch"),
            parse(&msg(&json!({"v": 1, "op": "delete", "id": ID}).to_string(), n.clone()), "ch"),
            parse(&msg("not json", n.clone()), "ch"),
            parse(&msg(&"x".repeat(MAX_MESSAGE_BYTES + 1), n.clone()), "ch"),
            parse(&json!({"channel": "ch", "data": {"type": "string", "value": "x"}, "source": {"realm": "r", "context": "c"}}), "ch"),
            parse(&json!({"channel": "ch", "data": {"type": "array", "value": [{"type": "string", "value": create_text()}, f, n]}, "source": {"realm": "r", "context": "c"}}), "ch"),
        ];
        for (i, b) in bad.iter().enumerate() {
            assert!(b.is_err(), "case {i} was accepted: {b:?}");
        }
    }
}
