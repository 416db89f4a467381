//! The Security-info UI since Microsoft's August 2024 "Add sign-in method picker" update
//! (the default, behaviour `security_info_ui = "2026"`), after Microsoft Learn's "Register
//! a passkey with a FIDO2 security key" (2026) and a public automation script that
//! registered a passkey on the live page (August 2026):
//!
//! "+ Add sign-in method" → a dialog listing methods ("Passkey" is a different entry from
//! "Passkey in Microsoft Authenticator"; with the `passkey_behind_show_more` drift it only
//! appears after "Show more options") → Next → the ceremony on the login host → "Let's
//! name your passkey" (a text field, 30 characters) → Next → "Passkey created" → Done.
//!
//! Like the real single-page app it carries no `$Config`; element ids are generated per
//! page (`id__N`, `TextFieldN`), so a flow cannot depend on them. The structural handles
//! it does offer — `button[name='Add method']`, `[role=dialog]`, `[role=option][data-type]`
//! (the API's method type, 18 = passkey), Fluent UI's `ms-Button--primary`,
//! `aria-expanded` on "Show more options", `input[type=text]` in the naming dialog — are
//! the simulator's guesses where public sources show only texts; they do not change with
//! the language (`page_locale`).
use super::html::{self, esc, hidden};
use super::i18n::PICKER_FIRST_PAGE;
use super::security_info::{View, START_CEREMONY_JS};
use axum::response::Response;

const SPA_SCRIPT: &str = r#"
(function () {
  var banner = document.querySelector('.ms-MessageBar[role=alert]');
  function showBanner(text, code) { banner.textContent = text; banner.setAttribute('data-error-code', code || ''); banner.hidden = false; }
  var add = document.querySelector("button[name='Add method']");
  var dialog = document.querySelector('[role=dialog][data-dialog=picker]');
  if (!dialog) {
    add.addEventListener('click', function () { window.location.href = '/security-info'; });
    var done = document.querySelector('[role=dialog][data-dialog=created] .ms-Button--primary');
    if (done) { done.addEventListener('click', function () { window.location.href = '/security-info'; }); }
    return;
  }
  var next = dialog.querySelector('.ms-Dialog-actions .ms-Button--primary');
  var cancel = dialog.querySelector('.ms-Dialog-actions .ms-Button--default');
  var more = dialog.querySelector('button[aria-expanded]');
  var chosen = null;
  add.addEventListener('click', function () { dialog.hidden = false; });
  cancel.addEventListener('click', function () { dialog.hidden = true; });
  if (more) {
    more.addEventListener('click', function () {
      Array.prototype.forEach.call(dialog.querySelectorAll('[role=option][data-more]'), function (o) { o.hidden = false; });
      more.setAttribute('aria-expanded', 'true'); more.hidden = true;
    });
  }
  Array.prototype.forEach.call(dialog.querySelectorAll('[role=option]'), function (o) {
    o.addEventListener('click', function () {
      Array.prototype.forEach.call(dialog.querySelectorAll('[role=option]'), function (x) { x.setAttribute('aria-selected', 'false'); });
      o.setAttribute('aria-selected', 'true');
      chosen = parseInt(o.getAttribute('data-type'), 10);
      next.disabled = false;
    });
  });
  next.addEventListener('click', function () {
    if (chosen !== 18) { dialog.hidden = true; showBanner(dialog.getAttribute('data-unsupported'), 'Unsupported'); return; }
    next.disabled = true;
    startCeremony(chosen, 'usb', function (text, code) { dialog.hidden = true; showBanner(text, code); });
  });
})();
"#;

/// Per-page id generator (Fluent UI's `id__N` style): ids change on every render.
struct Ids(u32);

impl Ids {
    fn new() -> Ids {
        Ids(rand::random::<u16>() as u32 + 10)
    }
    fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

fn method_list(v: &View, ids: &mut Ids) -> String {
    let t = v.texts;
    let items: String = v
        .methods
        .iter()
        .map(|m| {
            format!(
                "<div role=\"listitem\" class=\"method\" data-method-id=\"{id}\"><span class=\"method-type\">{kind}</span> \
<span class=\"method-name\">{name}</span> <span class=\"method-model\">{model}</span> \
<button type=\"button\" class=\"ms-Button ms-Button--default\" id=\"{bid}\" aria-label=\"Delete {kind}\" disabled>&#128465;</button></div>",
                id = esc(&m.id),
                kind = esc(t.method_passkey),
                name = esc(&m.display_name),
                model = esc(m.model.as_deref().unwrap_or("")),
                bid = ids.next("id__"),
            )
        })
        .collect();
    format!("<div role=\"list\" class=\"method-list\">{items}</div>")
}

fn picker(v: &View, ids: &mut Ids) -> String {
    let t = v.texts;
    let heading = ids.next("id__");
    // Without the drift, "Passkey" is on the first page and "Show more options" reveals
    // the rarer methods; with it, "Passkey" is one of those.
    let first_page = if v.passkey_behind_show_more { PICKER_FIRST_PAGE } else { PICKER_FIRST_PAGE + 2 };
    let options: String = t
        .methods
        .iter()
        .enumerate()
        .map(|(i, (ty, label, desc))| {
            let more = i >= first_page;
            format!(
                "<div role=\"option\" class=\"method-option\" id=\"{id}\" data-type=\"{ty}\" aria-selected=\"false\" tabindex=\"0\"{more}>\
<div class=\"label\">{label}</div><div class=\"desc\">{desc}</div></div>",
                id = ids.next("id__"),
                more = if more { " data-more hidden" } else { "" },
                label = esc(label),
                desc = esc(desc),
            )
        })
        .collect();
    let has_more = first_page < t.methods.len();
    format!(
        "<div role=\"dialog\" class=\"ms-Dialog\" aria-modal=\"true\" aria-labelledby=\"{heading}\" data-dialog=\"picker\" data-unsupported=\"{unsupported}\" hidden>\
<h2 id=\"{heading}\">{title}</h2>\
<div role=\"listbox\" aria-labelledby=\"{heading}\">{options}</div>\
{more}\
<div class=\"ms-Dialog-actions\"><button type=\"button\" class=\"ms-Button ms-Button--default\" id=\"{c}\">{cancel}</button>\
<button type=\"button\" class=\"ms-Button ms-Button--primary\" id=\"{n}\" disabled>{next}</button></div></div>\
<div id=\"CeremonyHost\"></div>",
        unsupported = esc("The simulator only adds passkeys."),
        title = esc(t.picker_heading),
        more = if has_more {
            format!("<button type=\"button\" class=\"ms-Link\" id=\"{}\" aria-expanded=\"false\">{}</button>", ids.next("id__"), esc(t.show_more))
        } else {
            String::new()
        },
        c = ids.next("id__"),
        cancel = esc(t.cancel),
        n = ids.next("id__"),
        next = esc(t.next),
    )
}

fn name_dialog(v: &View, method_id: &str, current: &str, error: Option<&str>, ids: &mut Ids) -> String {
    let t = v.texts;
    let heading = ids.next("id__");
    let field = ids.next("TextField");
    format!(
        "<div role=\"dialog\" class=\"ms-Dialog\" aria-modal=\"true\" aria-labelledby=\"{heading}\" data-dialog=\"name\">\
<h2 id=\"{heading}\">{title}</h2><p>{hint}</p>\
<form method=\"post\" action=\"/security-info/name\">\
<label for=\"{field}\">{label}</label>\
<input type=\"text\" id=\"{field}\" name=\"name\" maxlength=\"30\" value=\"{current}\">\
<div role=\"alert\" class=\"ms-TextField-errorMessage\">{err}</div>{hidden}\
<div class=\"ms-Dialog-actions\"><button type=\"submit\" class=\"ms-Button ms-Button--primary\" id=\"{b}\">{next}</button></div></form></div>",
        title = esc(t.name_heading),
        hint = esc(t.name_hint),
        label = esc(t.name_label),
        current = esc(current),
        err = esc(error.unwrap_or("")),
        hidden = hidden(&[("method", method_id)]),
        b = ids.next("id__"),
        next = esc(t.next),
    )
}

fn frame(v: &View, ids: &mut Ids, dialog: &str) -> String {
    let t = v.texts;
    let (code, text) = v.banner.clone().unwrap_or_default();
    format!(
        "<div class=\"ms-header\">My Sign-Ins &middot; <span id=\"{u}\">{upn}</span></div>\
<h1>{title}</h1>\
<div class=\"ms-MessageBar ms-MessageBar--error\" role=\"alert\" data-error-code=\"{code}\"{hidden}>{text}</div>\
<p>{intro}</p>\
<button type=\"button\" name=\"Add method\" class=\"ms-Button ms-Button--action\" id=\"{a}\">+ {add}</button>\
{list}{dialog}",
        u = ids.next("id__"),
        upn = esc(&v.upn),
        title = esc(t.security_info),
        code = esc(&code),
        hidden = if v.banner.is_some() { "" } else { " hidden" },
        text = esc(&text),
        intro = esc(t.security_info_intro),
        a = ids.next("id__"),
        add = esc(t.add_method),
        list = method_list(v, ids),
    )
}

/// `GET /security-info`: the method list with the (hidden) picker, or the naming dialog.
pub fn overview(v: &View) -> Response {
    let mut ids = Ids::new();
    let dialog = match &v.naming {
        Some(n) => name_dialog(v, &n.method_id, &n.current, n.error.as_deref(), &mut ids),
        None => picker(v, &mut ids),
    };
    let body = frame(v, &mut ids, &dialog);
    html::document(&format!("My Sign-Ins | {}", v.texts.security_info), v.texts.lang, None, &body, &format!("{START_CEREMONY_JS}\n{SPA_SCRIPT}"), true)
}

/// After naming: "Passkey created" → Done (back to the method list).
pub fn done(v: &View, name: &str) -> Response {
    let mut ids = Ids::new();
    let heading = ids.next("id__");
    let dialog = format!(
        "<div role=\"dialog\" class=\"ms-Dialog\" aria-modal=\"true\" aria-labelledby=\"{heading}\" data-dialog=\"created\">\
<h2 id=\"{heading}\">{title}</h2><p>{text}</p>\
<div class=\"ms-Dialog-actions\"><button type=\"button\" class=\"ms-Button ms-Button--primary\" id=\"{b}\">{done}</button></div></div>",
        title = esc(v.texts.created_heading),
        text = esc(&v.texts.created_text.replace("{name}", name)),
        b = ids.next("id__"),
        done = esc(v.texts.done),
    );
    let body = frame(v, &mut ids, &dialog);
    html::document(&format!("My Sign-Ins | {}", v.texts.security_info), v.texts.lang, None, &body, SPA_SCRIPT, true)
}
