//! The Security-info UI as it was before Microsoft's August 2024 "Add sign-in method
//! picker" update (behaviour `security_info_ui = "2023"`): a combobox → "Security key" →
//! Add → "USB device" / "NFC device" → Next → ceremony → "Name your security key" →
//! "You're all set" → Done. Every page carries `$Config` (pgid `SecurityInfo`,
//! `SecurityInfoName`, `SecurityInfoDone`, `sBannerCode`).
use super::html::{self, esc, hidden};
use super::security_info::{View, START_CEREMONY_JS};
use axum::response::Response;
use serde_json::json;

const SPA_SCRIPT: &str = r#"
(function () {
  var cfg = $Config;
  var banner = document.getElementById('ms-banner');
  function showBanner(text) { banner.textContent = text; banner.hidden = false; }
  var dialog = document.getElementById('AddMethodDialog');
  var combo = document.getElementById('MethodCombobox');
  var list = document.getElementById('MethodOptions');
  var step1 = document.getElementById('AddStep1');
  var step2 = document.getElementById('AddStep2');
  var chosen = null, transport = 'usb';
  if (cfg.strBannerMessage) { showBanner(cfg.strBannerMessage); }
  if (!dialog) {
    document.getElementById('AddMethodButton').addEventListener('click', function () { window.location.href = '/security-info'; });
    return;
  }
  document.getElementById('AddMethodButton').addEventListener('click', function () {
    dialog.hidden = false; step1.hidden = false; step2.hidden = true;
  });
  combo.addEventListener('click', function () {
    list.hidden = !list.hidden; combo.setAttribute('aria-expanded', String(!list.hidden));
  });
  combo.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { combo.click(); e.preventDefault(); } });
  Array.prototype.forEach.call(list.querySelectorAll('[role=option]'), function (o) {
    o.addEventListener('click', function () {
      Array.prototype.forEach.call(list.querySelectorAll('[role=option]'), function (x) { x.setAttribute('aria-selected', 'false'); });
      o.setAttribute('aria-selected', 'true');
      chosen = parseInt(o.getAttribute('data-type'), 10);
      combo.textContent = o.textContent; list.hidden = true; combo.setAttribute('aria-expanded', 'false');
    });
  });
  document.getElementById('AddButton').addEventListener('click', function () {
    if (!chosen) { showBanner('Choose a method first.'); return; }
    step1.hidden = true; step2.hidden = false;
    document.getElementById('TransportChoice').hidden = (chosen !== 12);
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-transport]'), function (b) {
    b.addEventListener('click', function () {
      transport = b.getAttribute('data-transport');
      Array.prototype.forEach.call(document.querySelectorAll('[data-transport]'), function (x) { x.setAttribute('aria-pressed', 'false'); });
      b.setAttribute('aria-pressed', 'true');
    });
  });
  document.getElementById('NextButton').addEventListener('click', function () {
    startCeremony(chosen, transport, function (text) { dialog.hidden = true; showBanner(text); });
  });
})();
"#;

/// The "Add a method" dialog (hidden until "Add sign-in method" is clicked).
const ADD_DIALOG: &str = "<div id=\"AddMethodDialog\" role=\"dialog\" aria-label=\"Add a method\" hidden>\
<div id=\"AddStep1\"><h2>Add a method</h2><p>Which method would you like to add?</p>\
<div id=\"MethodCombobox\" role=\"combobox\" aria-label=\"Authentication method options\" aria-haspopup=\"listbox\" aria-controls=\"MethodOptions\" aria-expanded=\"false\" tabindex=\"0\">Choose a method</div>\
<div id=\"MethodOptions\" role=\"listbox\" hidden>\
<div role=\"option\" data-type=\"12\" aria-selected=\"false\">Security key</div>\
<div role=\"option\" data-type=\"18\" aria-selected=\"false\">Passkey</div></div>\
<button type=\"button\" id=\"AddButton\">Add</button></div>\
<div id=\"AddStep2\" hidden><h2>Security key</h2>\
<div id=\"TransportChoice\"><p>Choose the type of security key that you have.</p>\
<button type=\"button\" data-transport=\"usb\" aria-pressed=\"true\">USB device</button>\
<button type=\"button\" data-transport=\"nfc\" aria-pressed=\"false\">NFC device</button></div>\
<p>Have your key ready. You will be directed to sign in to your account and complete the setup.</p>\
<button type=\"button\" id=\"NextButton\">Next</button></div></div>\
<div id=\"CeremonyHost\"></div>";

fn method_rows(v: &View) -> String {
    let rows: String = v
        .methods
        .iter()
        .map(|m| {
            format!(
                "<tr data-method-id=\"{}\"><td>Security key</td><td class=\"method-name\">{}</td><td>{}</td></tr>",
                esc(&m.id),
                esc(&m.display_name),
                esc(m.model.as_deref().unwrap_or(""))
            )
        })
        .collect();
    format!("<table id=\"MethodList\"><thead><tr><th>Method</th><th>Name</th><th>Model</th></tr></thead><tbody>{rows}</tbody></table>")
}

fn name_form(method_id: &str, current: &str, error: Option<&str>) -> String {
    format!(
        "<div id=\"NameDialog\" role=\"dialog\" aria-label=\"Name your security key\"><h2>Name your security key</h2>\
<form method=\"post\" action=\"/security-info/name\">\
<label for=\"SecurityKeyNameTextField\">Name</label>\
<input type=\"text\" id=\"SecurityKeyNameTextField\" name=\"name\" maxlength=\"30\" value=\"{current}\" aria-describedby=\"NameError\">\
<div id=\"NameError\" role=\"alert\">{err}</div>{hidden}\
<button type=\"submit\" id=\"NameNextButton\">Next</button></form></div>",
        current = esc(current),
        err = esc(error.unwrap_or("")),
        hidden = hidden(&[("method", method_id)]),
    )
}

/// `GET /security-info`: the method list, the add dialog or the naming step.
pub fn overview(v: &View) -> Response {
    let naming = v.naming.is_some();
    let config = json!({
        "pgid": if naming { "SecurityInfoName" } else { "SecurityInfo" },
        "iErrorCode": 0,
        "strServiceExceptionMessage": "",
        "strBannerMessage": v.banner.as_ref().map(|b| b.1.clone()).unwrap_or_default(),
        "sBannerCode": v.banner.as_ref().map(|b| b.0.clone()).unwrap_or_default(),
        "sUserPrincipalName": v.upn,
        "sTenantId": v.tenant_id,
        "sFidoCeremony": v.variant.as_str(),
        "iSecurityKeyCount": v.methods.len(),
        "iSecurityKeyLimit": v.key_limit,
    });
    let name_dialog = match &v.naming {
        Some(n) => name_form(&n.method_id, &n.current, n.error.as_deref()),
        None => String::new(),
    };
    let body = format!(
        "<h1 id=\"SecurityInfoTitle\">Security info</h1>\
<div id=\"ms-banner\" role=\"alert\" {banner_hidden}>{banner_text}</div>\
<p>These are the methods you use to sign into your account or reset your password. Signed in as <span id=\"SignedInUser\">{upn}</span>.</p>\
<button type=\"button\" name=\"Add method\" id=\"AddMethodButton\">+ Add sign-in method</button>\
{rows}{add_dialog}{name_dialog}",
        banner_hidden = if v.banner.is_some() { "" } else { "hidden" },
        banner_text = esc(v.banner.as_ref().map(|b| b.1.as_str()).unwrap_or("")),
        upn = esc(&v.upn),
        rows = method_rows(v),
        add_dialog = if naming { String::new() } else { ADD_DIALOG.to_string() },
    );
    html::page("My Sign-Ins | Security Info", &config, &body, &format!("{START_CEREMONY_JS}\n{SPA_SCRIPT}"), true)
}

/// After naming: "You're all set" → Done.
pub fn done(method_id: &str, name: &str) -> Response {
    let config = json!({"pgid": "SecurityInfoDone", "iErrorCode": 0, "strServiceExceptionMessage": "", "sMethodId": method_id, "sDisplayName": name});
    let body = format!(
        "<h1 id=\"SecurityInfoTitle\">Security info</h1><div id=\"DoneDialog\" role=\"dialog\"><h2>You're all set</h2>\
<p id=\"DoneMessage\">You can now use your security key <span class=\"method-name\">{}</span> instead of a password to sign in.</p>\
<button type=\"button\" id=\"DoneButton\" onclick=\"window.location.href='/security-info'\">Done</button>\
<noscript><a href=\"/security-info\">Done</a></noscript></div>",
        esc(name)
    );
    html::page("My Sign-Ins | Security Info", &config, &body, "", true)
}
