//! The per-command schemas of docs/json.md (fenced blocks marked `json contract`) and a
//! small validator for the JSON Schema subset that page describes.
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What docs/json.md says.
pub struct Contract {
    pub definitions: Map<String, Value>,
    /// Command path → its block (`result`, optional `events`).
    pub commands: BTreeMap<String, Value>,
}

pub fn load() -> Contract {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md");
    let md = std::fs::read_to_string(path).expect("docs/json.md");
    let mut definitions = Map::new();
    let mut commands = BTreeMap::new();
    let mut rest = md.as_str();
    while let Some(start) = rest.find("```json contract\n") {
        let body_start = start + "```json contract\n".len();
        let end = rest[body_start..].find("\n```").expect("unterminated json contract block") + body_start;
        let block: Value = serde_json::from_str(&rest[body_start..end]).unwrap_or_else(|e| panic!("docs/json.md: a json contract block is not JSON ({e}):\n{}", &rest[body_start..end]));
        if let Some(defs) = block.get("definitions").and_then(Value::as_object) {
            definitions.extend(defs.clone());
        }
        if let Some(cmd) = block.get("command").and_then(Value::as_str) {
            assert!(commands.insert(cmd.to_string(), block.clone()).is_none(), "docs/json.md: two blocks for `{cmd}`");
        }
        rest = &rest[end + 4..];
    }
    Contract { definitions, commands }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn format_ok(format: &str, s: &str) -> bool {
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    match format {
        "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
        "uuid" => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || hex(c))
        }
        "base64url" => !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "firmware" => {
            let dotted = s.split('.').count() == 3 && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            dotted || s.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.chars().all(hex))
        }
        "tenant-id" => format_ok("uuid", s) || (s.contains('.') && !s.contains(' ')),
        other => panic!("docs/json.md uses an unknown format `{other}`"),
    }
}

/// Check `v` against `schema`; problems go to `errors` with their JSON path.
pub fn check(schema: &Value, v: &Value, defs: &Map<String, Value>, at: &str, errors: &mut Vec<String>) {
    if schema == &Value::Bool(true) {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/").trim_start_matches('#');
        let def = defs.get(name).unwrap_or_else(|| panic!("docs/json.md: no definition `{name}`"));
        return check(def, v, defs, at, errors);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let mut all = Vec::new();
        for alt in any {
            let mut e = Vec::new();
            check(alt, v, defs, at, &mut e);
            if e.is_empty() {
                return;
            }
            all.extend(e);
        }
        errors.push(format!("{at}: matches none of anyOf: {}", all.join("; ")));
        return;
    }
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("docs/json.md: bad type {t}"),
        };
        let actual = type_name(v);
        if !(allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"))) {
            errors.push(format!("{at}: is {actual} ({v}), the contract says {allowed:?}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if let (Some(f), Some(s)) = (schema.get("format").and_then(Value::as_str), v.as_str())
        && !format_ok(f, s)
    {
        errors.push(format!("{at}: `{s}` is not in the {f} format"));
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(items, item, defs, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(obj) = v.as_object()
        && let Some(props) = schema.get("properties").and_then(Value::as_object)
    {
        let optional: Vec<&str> = schema.get("optional").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for (k, s) in props {
            match obj.get(k) {
                Some(val) => check(s, val, defs, &format!("{at}.{k}"), errors),
                None if optional.contains(&k.as_str()) => {}
                None => errors.push(format!("{at}: missing `{k}`")),
            }
        }
        if schema.get("additionalProperties") != Some(&Value::Bool(true)) {
            for k in obj.keys() {
                if !props.contains_key(k) {
                    errors.push(format!("{at}: `{k}` is not in the contract (document it in docs/json.md)"));
                }
            }
        }
    }
}
