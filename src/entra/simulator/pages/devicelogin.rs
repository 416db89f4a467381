//! `/devicelogin`: enter the user code (`input[name=otc]`), then sign in as an account
//! (`#i0116`) and Continue (`#idSIButton9`) or Cancel (`#idBtn_Back`). The simulator does
//! not ask administrators for a password.
use super::html::{self, esc, hidden};
use super::form;
use crate::entra::simulator::oauth::device_code;
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::oauth::DeviceCodeStatus;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

fn config(pgid: &str, error: Option<(u32, &str)>) -> serde_json::Value {
    json!({"pgid": pgid, "iErrorCode": error.map(|e| e.0).unwrap_or(0), "strServiceExceptionMessage": error.map(|e| e.1).unwrap_or(""), "urlPost": "/devicelogin"})
}

fn code_page(error: Option<(u32, &str)>) -> Response {
    let body = format!(
        "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">Enter code</div>\
<p>Enter the code displayed on your app or device.</p>\
<form method=\"post\" action=\"/devicelogin\" autocomplete=\"off\">\
<div id=\"otcError\" role=\"alert\">{}</div>\
<input type=\"text\" name=\"otc\" id=\"otc\" maxlength=\"20\" placeholder=\"Code\" aria-label=\"Code\">\
<input type=\"submit\" id=\"idSIButton9\" value=\"Next\"></form>",
        esc(error.map(|e| e.1).unwrap_or(""))
    );
    html::page("Enter code", &config("DeviceAuthEnterCode", error), &body, "", false)
}

/// `GET /devicelogin`.
pub async fn page() -> Response {
    code_page(None)
}

/// `POST /devicelogin`: code → account step → approve/decline.
pub async fn submit(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let f = form(&body);
    let otc: String = f.get("otc").map(|s| s.trim().to_string()).unwrap_or_default();
    let wrong = (70000, "That code didn't work. Check the code and try again.");
    let app_name = {
        let now = sim.clock.now();
        let st = sim.state();
        let wanted: String = otc.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
        st.device_codes
            .values()
            .find(|d| d.user_code == wanted && d.status == DeviceCodeStatus::Pending && now < d.expires)
            .and_then(|d| st.dir.app(&d.client_id).map(|a| a.name.clone()))
    };
    let Some(app_name) = app_name else { return code_page(Some(wrong)) };
    match f.get("action").map(String::as_str) {
        None => {
            let body = format!(
                "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">Sign in</div>\
<p id=\"appConfirmTitle\">Are you trying to sign in to <b>{app}</b>?</p>\
<form method=\"post\" action=\"/devicelogin\">{hidden}\
<div id=\"usernameError\" role=\"alert\"></div>\
<input type=\"email\" name=\"loginfmt\" id=\"i0116\" placeholder=\"Email, phone, or Skype\" autocomplete=\"username\">\
<button type=\"submit\" id=\"idBtn_Back\" name=\"action\" value=\"decline\">Cancel</button>\
<button type=\"submit\" id=\"idSIButton9\" name=\"action\" value=\"approve\">Continue</button></form>",
                app = esc(&app_name),
                hidden = hidden(&[("otc", &otc)]),
            );
            html::page("Sign in", &config("DeviceAuthSignIn", None), &body, "", false)
        }
        Some("decline") => match device_code::decide(&sim, &otc, None) {
            Ok(()) => html::page(
                "Cancelled",
                &config("DeviceAuthDeclined", None),
                "<div id=\"loginHeader\" role=\"heading\">Sign-in cancelled</div><p>You can close this window.</p>",
                "",
                false,
            ),
            Err(_) => code_page(Some(wrong)),
        },
        Some(_) => {
            let account = f.get("loginfmt").map(|s| s.trim().to_string()).unwrap_or_default();
            match device_code::decide(&sim, &otc, Some(&account)) {
                Ok(()) => html::page(
                    "Signed in",
                    &config("DeviceAuthDone", None),
                    &format!(
                        "<div id=\"loginHeader\" role=\"heading\">{}</div><p id=\"DeviceAuthDoneMessage\">You have signed in to the {} application on your device. You may now close this window.</p>",
                        esc(&account),
                        esc(&app_name)
                    ),
                    "",
                    false,
                ),
                Err(device_code::ApproveError::UnknownCode) => code_page(Some(wrong)),
                Err(e) => {
                    let msg = format!("That account can't sign in: {e}.");
                    let body = format!(
                        "<p>Are you trying to sign in to <b>{app}</b>?</p><form method=\"post\" action=\"/devicelogin\">{hidden}\
<div id=\"usernameError\" role=\"alert\">{msg}</div>\
<input type=\"email\" name=\"loginfmt\" id=\"i0116\" value=\"{account}\">\
<button type=\"submit\" id=\"idBtn_Back\" name=\"action\" value=\"decline\">Cancel</button>\
<button type=\"submit\" id=\"idSIButton9\" name=\"action\" value=\"approve\">Continue</button></form>",
                        app = esc(&app_name),
                        hidden = hidden(&[("otc", &otc)]),
                        msg = esc(&msg),
                        account = esc(&account),
                    );
                    html::page("Sign in", &config("DeviceAuthSignIn", Some((50034, &msg))), &body, "", false)
                }
            }
        }
    }
}
