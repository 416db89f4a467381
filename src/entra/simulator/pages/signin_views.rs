//! The sign-in pages on the login host, as Microsoft's converged sign-in template shows
//! them (ids and `$Config` from public copies of the template, browser.md §4), in the
//! language of `page_locale`: username, Temporary Access Pass, the password view and
//! "Sign in another way" (when a new pass has not reached sign-in yet), and the
//! interrupts after the pass — "More information required" (mandatory or skippable),
//! "Stay signed in?", "Pick an account" — plus an interstitial no flow knows.
use super::html::{self, esc, hidden};
use super::i18n::Texts;
use crate::entra::simulator::tokens::random_token;
use axum::response::Response;
use serde_json::json;

/// The inline `$Config` of a sign-in page.
pub fn config(pgid: &str, tenant: &str, flow: &str, url_post: &str, error: Option<(u32, &str)>) -> serde_json::Value {
    json!({
        "pgid": pgid,
        "iErrorCode": error.map(|e| e.0).unwrap_or(0),
        "strServiceExceptionMessage": error.map(|e| e.1).unwrap_or(""),
        "sFT": flow,
        "sCtx": flow,
        "urlPost": url_post,
        "sTenantId": tenant,
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "canary": random_token(24),
    })
}

fn page(t: &Texts, title: &str, config: &serde_json::Value, body: &str, script: &str) -> Response {
    html::document(title, t.lang, Some(config), body, script, false)
}

/// A sign-in error page (pgid `ConvergedError`).
pub fn error_page(tenant: &str, code: u32, message: &str, retry: Option<&str>) -> Response {
    let link = retry.map(|u| format!("<p><a id=\"idA_RetryLink\" href=\"{}\">Sign in again</a></p>", esc(u))).unwrap_or_default();
    html::page(
        "Sign in to your account",
        &config("ConvergedError", tenant, "", "", Some((code, message))),
        &format!("<div id=\"idPageTitle\" role=\"heading\">Sorry, but we're having trouble signing you in.</div>\
<div id=\"serviceExceptionMessage\" role=\"alert\">AADSTS{code}: {}</div>{link}", esc(message)),
        "",
        false,
    )
}

/// Username (`ConvergedSignIn`).
pub fn username(t: &Texts, tenant: &str, flow: &str, error: Option<(u32, &str)>, prefill: &str) -> Response {
    let action = format!("/{tenant}/login");
    let err = error.map(|e| esc(e.1)).unwrap_or_default();
    let body = format!(
        "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<form name=\"f1\" id=\"i0281\" method=\"post\" action=\"{action}\" novalidate autocomplete=\"off\">\
<div id=\"usernameError\" role=\"alert\" aria-live=\"assertive\">{err}</div>\
<input type=\"email\" name=\"loginfmt\" id=\"i0116\" maxlength=\"113\" lang=\"{lang}\" class=\"form-control\" aria-required=\"true\" \
placeholder=\"{placeholder}\" aria-label=\"{placeholder}\" autocomplete=\"username\" value=\"{prefill}\">\
{hidden}<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"{next}\"></form>",
        heading = esc(t.sign_in_heading),
        lang = t.lang,
        placeholder = esc(t.username_placeholder),
        prefill = esc(prefill),
        hidden = hidden(&[("flowToken", flow)]),
        next = esc(t.next),
    );
    page(t, t.sign_in_title, &config("ConvergedSignIn", tenant, flow, &action, error), &body, "")
}

/// The body of a page that asks for a secret (pass or password) for `upn`.
struct SecretForm<'a> {
    upn: &'a str,
    heading: &'a str,
    action: &'a str,
    error: Option<(u32, &'a str)>,
    /// `name` and `id` of the input.
    input: (&'a str, &'a str),
    placeholder: &'a str,
    /// HTML between the input and the button.
    extra: String,
    hidden: &'a [(&'a str, &'a str)],
    button: &'a str,
}

impl SecretForm<'_> {
    fn html(&self) -> String {
        format!(
            "<div id=\"displayName\" class=\"identity\">{upn}</div>\
<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<form name=\"f1\" id=\"i0281\" method=\"post\" action=\"{action}\" autocomplete=\"off\">\
<div id=\"passwordError\" role=\"alert\" aria-live=\"assertive\">{err}</div>\
<input type=\"password\" name=\"{name}\" id=\"{id}\" autocomplete=\"off\" aria-required=\"true\" placeholder=\"{placeholder}\" aria-label=\"{placeholder}\">\
{extra}{hidden}<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"{button}\"></form>",
            upn = esc(self.upn),
            heading = esc(self.heading),
            action = esc(self.action),
            err = self.error.map(|e| esc(e.1)).unwrap_or_default(),
            name = self.input.0,
            id = self.input.1,
            placeholder = esc(self.placeholder),
            extra = self.extra,
            hidden = hidden(self.hidden),
            button = esc(self.button),
        )
    }
}

/// The Temporary Access Pass (`ConvergedTFA`).
pub fn access_pass(t: &Texts, tenant: &str, flow: &str, upn: &str, error: Option<(u32, &str)>) -> Response {
    let action = format!("/{tenant}/login/accesspass");
    let body = SecretForm {
        upn,
        heading: t.tap_heading,
        action: &action,
        error,
        input: ("accesspass", "accesspass"),
        placeholder: t.tap_placeholder,
        extra: String::new(),
        hidden: &[("flowToken", flow), ("ps", "56")],
        button: t.sign_in_button,
    }
    .html();
    let mut cfg = config("ConvergedTFA", tenant, flow, &action, error);
    cfg["sPOST_Username"] = json!(upn);
    cfg["sAuthMethod"] = json!("TemporaryAccessPass");
    page(t, t.tap_heading, &cfg, &body, "")
}

/// A script that posts a small hidden form when an element is clicked (the template's
/// links and tiles are script-driven).
fn post_on_click(element_id: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("var i = document.createElement('input'); i.type = 'hidden'; i.name = {}; i.value = {}; f.appendChild(i);", html::script_json(&json!(k)), html::script_json(&json!(v))))
        .collect();
    format!(
        "document.getElementById({id}).addEventListener('click', function (e) {{ e.preventDefault(); \
var f = document.createElement('form'); f.method = 'post'; f.action = {action}; {inputs} document.body.appendChild(f); f.submit(); }});",
        id = html::script_json(&json!(element_id)),
        action = html::script_json(&json!(action)),
    )
}

/// The password view (`ConvergedSignIn`): what sign-in shows a user whose new pass has
/// not reached it yet, with "Other ways to sign in".
pub fn password(t: &Texts, tenant: &str, flow: &str, upn: &str, error: Option<(u32, &str)>) -> Response {
    let action = format!("/{tenant}/login/password");
    let body = SecretForm {
        upn,
        heading: t.password_heading,
        action: &action,
        error,
        input: ("passwd", "i0118"),
        placeholder: t.password_placeholder,
        extra: format!("<div><a id=\"idA_PWD_SwitchToCredPicker\" href=\"#\">{}</a></div>", esc(t.other_ways)),
        hidden: &[("flowToken", flow)],
        button: t.sign_in_button,
    }
    .html();
    let script = post_on_click("idA_PWD_SwitchToCredPicker", &format!("/{tenant}/login/options"), &[("flowToken", flow)]);
    page(t, t.password_heading, &config("ConvergedSignIn", tenant, flow, &action, error), &body, &script)
}

/// "Sign in another way" (`ConvergedSignIn`): the pass is offered once it has reached
/// sign-in.
pub fn sign_in_options(t: &Texts, tenant: &str, flow: &str, upn: &str, offer_tap: bool) -> Response {
    let action = format!("/{tenant}/login/options");
    let tap = if offer_tap {
        format!("<div role=\"button\" tabindex=\"0\" class=\"tile\" id=\"credTap\" data-credential=\"accesspass\"><div>{}</div></div>", esc(t.use_tap))
    } else {
        String::new()
    };
    let body = format!(
        "<div id=\"displayName\" class=\"identity\">{upn}</div>\
<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<div id=\"credentialList\" role=\"list\">{tap}\
<div role=\"button\" tabindex=\"0\" class=\"tile\" id=\"credPassword\" data-credential=\"password\"><div>{pw}</div></div></div>\
<div><a id=\"idA_Back\" href=\"#\">{back}</a></div>",
        upn = esc(upn),
        heading = esc(t.cred_picker_heading),
        pw = esc(t.use_password),
        back = esc(t.back),
    );
    let mut script = post_on_click("credPassword", &action, &[("flowToken", flow), ("choice", "password")]);
    script.push_str(&post_on_click("idA_Back", &action, &[("flowToken", flow), ("choice", "password")]));
    if offer_tap {
        script.push_str(&post_on_click("credTap", &action, &[("flowToken", flow), ("choice", "accesspass")]));
    }
    page(t, t.cred_picker_heading, &config("ConvergedSignIn", tenant, flow, &action, None), &body, &script)
}

/// "More information required" (`ConvergedProofUpRedirect`); a skippable one has
/// "Skip for now" (`#btnAskLater`) and the days left.
pub fn proof_up(t: &Texts, tenant: &str, flow: &str, skippable: bool) -> Response {
    let action = format!("/{tenant}/proofup");
    let (skip, script) = if skippable {
        (
            format!("<p><a id=\"btnAskLater\" href=\"#\">{}</a> <span id=\"ProofUpDaysLeft\">({})</span></p>", esc(t.proof_up_skip), esc(t.proof_up_days_left)),
            post_on_click("btnAskLater", &action, &[("flowToken", flow), ("skip", "1")]),
        )
    } else {
        (String::new(), String::new())
    };
    let body = format!(
        "<div id=\"ProofUpTitle\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<div id=\"ProofUpDescription\">{description}</div>{skip}\
<form method=\"post\" action=\"{action}\">{hidden}<input type=\"submit\" id=\"idSubmit_ProofUp_Redirect\" class=\"win-button button_primary\" value=\"{next}\"></form>",
        heading = esc(t.proof_up_heading),
        description = esc(t.proof_up_description),
        hidden = hidden(&[("flowToken", flow)]),
        next = esc(t.next),
    );
    page(t, t.proof_up_heading, &config("ConvergedProofUpRedirect", tenant, flow, &action, None), &body, &script)
}

/// "Stay signed in?" (`KmsiInterrupt`).
pub fn kmsi(t: &Texts, tenant: &str, flow: &str, no_is_button: bool) -> Response {
    let action = format!("/{tenant}/kmsi");
    // Most copies of Microsoft's template make No an `<input type="button">` whose
    // script posts the form; the simulator's default is a plain submit input.
    let (no, script) = if no_is_button {
        (
            format!("<input type=\"button\" id=\"idBtn_Back\" class=\"win-button button-secondary\" value=\"{}\">", esc(t.no)),
            "document.getElementById('idBtn_Back').addEventListener('click', function () {\
 var f = document.getElementById('KmsiForm'), i = document.createElement('input');\
 i.type = 'hidden'; i.name = 'LoginOptions'; i.value = '3'; f.appendChild(i); f.submit(); });",
        )
    } else {
        (format!("<input type=\"submit\" id=\"idBtn_Back\" name=\"LoginOptions\" class=\"win-button button-secondary\" value=\"{}\">", esc(t.no)), "")
    };
    let body = format!(
        "<div id=\"kmsiTitle\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<div id=\"KmsiDescription\">{description}</div>\
<form id=\"KmsiForm\" method=\"post\" action=\"{action}\">{hidden}\
<label><input type=\"checkbox\" name=\"DontShowAgain\" id=\"KmsiCheckboxField\"> {dont}</label><br>\
{no}\
<input type=\"submit\" id=\"idSIButton9\" name=\"LoginOptions\" class=\"win-button button_primary\" value=\"{yes}\"></form>",
        heading = esc(t.kmsi_heading),
        description = esc(t.kmsi_description),
        hidden = hidden(&[("flowToken", flow)]),
        dont = esc(t.kmsi_dont_show),
        yes = esc(t.yes),
    );
    page(t, t.kmsi_heading, &config("KmsiInterrupt", tenant, flow, &action, None), &body, script)
}

/// "Pick an account" (`ConvergedChooseAccount`): a second sign-in prompt.
pub fn pick_account(t: &Texts, tenant: &str, flow: &str, upn: &str) -> Response {
    let action = format!("/{tenant}/pickaccount");
    let body = format!(
        "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">{heading}</div>\
<div id=\"tilesHolder\" role=\"list\">\
<div role=\"button\" tabindex=\"0\" class=\"table\" id=\"tileAccount\" data-test-id=\"{upn}\"><div>{upn}</div></div>\
<div role=\"button\" tabindex=\"0\" class=\"table\" id=\"otherTile\"><div>+</div></div></div>",
        heading = esc(t.pick_account_heading),
        upn = esc(upn),
    );
    let script = post_on_click("tileAccount", &action, &[("flowToken", flow)]);
    page(t, t.pick_account_heading, &config("ConvergedChooseAccount", tenant, flow, &action, None), &body, &script)
}

/// An interstitial no flow knows (`ConvergedTermsInterrupt`), with a Continue button.
pub fn interstitial(t: &Texts, tenant: &str, flow: &str) -> Response {
    let action = format!("/{tenant}/interstitial");
    let body = format!(
        "<div id=\"loginHeader\" role=\"heading\" aria-level=\"1\">{heading}</div><p id=\"TermsText\">{text}</p>\
<form method=\"post\" action=\"{action}\">{hidden}<input type=\"submit\" id=\"idSIButton9\" class=\"win-button button_primary\" value=\"{cont}\"></form>",
        heading = esc(t.interstitial_heading),
        text = esc(t.interstitial_text),
        hidden = hidden(&[("flowToken", flow)]),
        cont = esc(t.continue_),
    );
    page(t, t.interstitial_heading, &config("ConvergedTermsInterrupt", tenant, flow, &action, None), &body, "")
}
