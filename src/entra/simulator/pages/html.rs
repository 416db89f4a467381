//! HTML helpers: escaping, the inline `$Config` object every page carries, the page frame.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
pub fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

const STYLE: &str = "body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
main.wide{max-width:760px}\
.error,[role=alert]{color:#e81123}\
input[type=email],input[type=password],input[type=text]{width:100%;padding:6px 0;border:0;border-bottom:1px solid #666;margin:12px 0}\
input[type=submit],button{background:#0067b8;color:#fff;border:0;padding:6px 18px;margin:8px 8px 0 0;min-width:108px;cursor:pointer}\
#idBtn_Back{background:#ccc;color:#000}\
[role=option]{padding:6px;cursor:pointer}[role=option]:hover,[role=option][aria-selected=true]{background:#e6f2fb}\
[role=combobox]{border:1px solid #666;padding:6px;cursor:pointer}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:6px;border-bottom:1px solid #ddd}\
#ms-banner{background:#fde7e9;padding:8px;margin-bottom:12px}\
iframe#FidoFrame{width:100%;height:360px;border:1px solid #ccc}\
[role=dialog].ms-Dialog{border:1px solid #ccc;padding:16px;margin-top:16px}\
.ms-Button--default{background:#fff;color:#000;border:1px solid #8a8886}\
.ms-MessageBar{background:#fde7e9;padding:8px;margin-bottom:12px}\
.method-option{display:block;width:100%;text-align:left;background:#fff;color:#000;border:1px solid #ddd;margin:4px 0;padding:8px}\
.method-option[aria-selected=true]{border-color:#0067b8;background:#e6f2fb}\
.method-option .desc{font-size:12px;color:#605e5c}\
.ms-Link{background:none;color:#0067b8;border:0;padding:0;min-width:0}";

/// A full page: title, `$Config`, body, optional script.
pub fn page(title: &str, config: &Value, body: &str, script: &str, wide: bool) -> Response {
    document(title, "en", Some(config), body, script, wide)
}

/// A full page in language `lang`; `config` None leaves out the inline `$Config` (the
/// Security-info single-page app of the 2026 UI has none).
pub fn document(title: &str, lang: &str, config: Option<&Value>, body: &str, script: &str, wide: bool) -> Response {
    let config = config.map(|c| format!("<script>//<![CDATA[\n$Config={};\n//]]></script>", script_json(c))).unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<meta name=\"robots\" content=\"none\"><style>{STYLE}</style>{config}</head>\
<body><main{class}>{body}</main>{script_tag}</body></html>\n",
        lang = esc(lang),
        title = esc(title),
        class = if wide { " class=\"wide\"" } else { "" },
        script_tag = if script.is_empty() { String::new() } else { format!("<script>\n{script}\n</script>") },
    );
    let mut r = (StatusCode::OK, html).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A 303 redirect.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A 302 redirect.
pub fn found(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Hidden form inputs.
pub fn hidden(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_script_breakouts() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        let v = serde_json::json!({"s": "</script><script>alert(1)</script>"});
        assert!(!script_json(&v).contains("</script>"));
    }
}
