//! The console's pages, style sheet and scripts, embedded in the binary (no build step,
//! nothing fetched from anywhere else: the Content-Security-Policy allows only these).
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where assets are served.
pub const PREFIX: &str = "/assets/";

/// The sign-in page (also the body of every 401 for a page).
pub const LOGIN_PAGE: &str = include_str!("assets/login.html");
/// The operator's start page.
pub const HOME_PAGE: &str = include_str!("assets/home.html");
/// The desk.
pub const DESK_PAGE: &str = include_str!("assets/desk.html");
/// The hub.
pub const HUB_PAGE: &str = include_str!("assets/hub.html");
/// The journal.
pub const JOURNAL_PAGE: &str = include_str!("assets/journal.html");

/// (name, content type, contents).
const FILES: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("common.js", "text/javascript; charset=utf-8", include_str!("assets/common.js")),
    ("login.js", "text/javascript; charset=utf-8", include_str!("assets/login.js")),
    ("home.js", "text/javascript; charset=utf-8", include_str!("assets/home.js")),
    ("desk.js", "text/javascript; charset=utf-8", include_str!("assets/desk.js")),
    ("hub.js", "text/javascript; charset=utf-8", include_str!("assets/hub.js")),
    ("journal.js", "text/javascript; charset=utf-8", include_str!("assets/journal.js")),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => ([(header::CONTENT_TYPE, HeaderValue::from_static(kind))], *body).into_response(),
        None => super::reply::fail(StatusCode::NOT_FOUND, "no such file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages keep to the Content-Security-Policy: no inline script or style, no
    /// event-handler attributes, nothing from another origin.
    #[test]
    fn pages_have_no_inline_code_and_no_foreign_origins() {
        for page in [LOGIN_PAGE, HOME_PAGE, DESK_PAGE, HUB_PAGE, JOURNAL_PAGE] {
            let lower = page.to_ascii_lowercase();
            for script in lower.split("<script").skip(1) {
                let tag = &script[..script.find('>').unwrap()];
                assert!(tag.contains("src=\"/assets/"), "inline script: <script{tag}>");
                assert!(script[script.find('>').unwrap() + 1..].trim_start().starts_with("</script>"), "script body");
            }
            assert!(!lower.contains("<style"), "inline style block");
            assert!(!lower.contains(" style="), "inline style attribute");
            assert!(!lower.contains(" on") || !regex_like_handler(&lower), "inline event handler");
            assert!(!lower.contains("http://") && !lower.contains("https://") && !lower.contains("//cdn"), "foreign origin");
        }
        for (name, _, body) in FILES {
            // An SVG's namespace is a name, not a place anything is fetched from.
            let body = body.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!body.contains("http://") && !body.contains("https://"), "{name} names another origin");
            assert!(!body.contains("localStorage") && !body.contains("sessionStorage") && !body.contains("indexedDB"), "{name} uses browser storage");
        }
    }

    fn regex_like_handler(html: &str) -> bool {
        ["onclick=", "onload=", "onsubmit=", "oninput=", "onchange=", "onerror=", "onkeydown="].iter().any(|h| html.contains(h))
    }
}
