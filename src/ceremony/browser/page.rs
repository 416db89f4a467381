//! Reading and acting on the page of an enrolment tab: the probe (URL, `$Config`,
//! visible elements), clicks, typing and comboboxes.
//!
//! Everything runs as `script.callFunction` in the tab's main world with the values as
//! call arguments (a TAP is never part of a script's text). Clicks carry user
//! activation, as a real click would, so that a page may open its ceremony popup.
//! Elements count only when they are visible (rendered, not inside `[hidden]`, not
//! `display: none` or `visibility: hidden`), so an element of a view the page has
//! switched away from is never clicked.
use super::bidi::Bidi;
use super::error::BrowserError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Shared helpers, prepended to every function below.
const HELPERS: &str = r#"
  const norm = (s) => String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  const textOf = (el) => norm(el.innerText !== undefined && el.innerText !== '' ? el.innerText : (el.textContent || el.value || ''));
  const visible = (el) => {
    if (!el || !el.isConnected) return false;
    if (el.closest('[hidden]')) return false;
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden') return false;
    return el.getClientRects().length > 0;
  };
  const textMatches = (el, texts) => {
    if (!texts || texts.length === 0) return true;
    const t = textOf(el).toLowerCase(), v = norm(el.value).toLowerCase();
    return texts.some((x) => { x = norm(x).toLowerCase(); return t === x || v === x; });
  };
  const find = (selector, texts, needText) => {
    const list = document.querySelectorAll(selector);
    for (const el of list) {
      if (!visible(el) || !textMatches(el, texts)) continue;
      if (needText && textOf(el) === '') continue;
      return el;
    }
    return null;
  };
"#;

/// `probe(queryJson)`: page identity plus one answer per lookup.
const PROBE: &str = r#"
function (queryJson) {
  HELPERS
  const q = JSON.parse(queryJson);
  const cfg = (typeof window.$Config === 'object' && window.$Config) ? window.$Config : null;
  const out = {
    url: String(location.href),
    ready: document.readyState,
    pgid: cfg && typeof cfg.pgid === 'string' ? cfg.pgid : null,
    errorCode: cfg ? (Number(cfg.iErrorCode) || 0) : 0,
    serviceMessage: cfg && cfg.strServiceExceptionMessage ? String(cfg.strServiceExceptionMessage) : '',
    bannerCode: cfg && cfg.sBannerCode ? String(cfg.sBannerCode) : '',
    lookups: [],
  };
  for (const l of q.lookups) {
    try {
      const el = find(l.selector, l.text, l.needText);
      out.lookups.push({ found: !!el, text: el ? textOf(el).slice(0, 500) : null, enabled: el ? !(el.disabled || el.getAttribute('aria-disabled') === 'true') : false });
    } catch (e) {
      out.lookups.push({ found: false, text: null, enabled: false, badSelector: String(e && e.message || e) });
    }
  }
  return JSON.stringify(out);
}
"#;

/// `click(selector, textsJson)` → "ok" | "missing" | "disabled".
const CLICK: &str = r#"
function (selector, textsJson) {
  HELPERS
  const el = find(selector, JSON.parse(textsJson), false);
  if (!el) return 'missing';
  if (el.disabled || el.getAttribute('aria-disabled') === 'true') return 'disabled';
  el.scrollIntoView({ block: 'center', inline: 'center' });
  if (typeof el.focus === 'function') el.focus();
  el.click();
  return 'ok';
}
"#;

/// `fill(selector, value)` → "ok" | "missing" | "disabled". Uses the prototype's value
/// setter and dispatches input/change, which frameworks that track the value (React,
/// knockout) need to notice typing.
const FILL: &str = r#"
function (selector, value) {
  HELPERS
  const el = find(selector, [], false);
  if (!el) return 'missing';
  if (el.disabled || el.readOnly) return 'disabled';
  el.scrollIntoView({ block: 'center' });
  el.focus();
  const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, 'value').set;
  setter.call(el, value);
  el.dispatchEvent(new Event('input', { bubbles: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return el.value === value ? 'ok' : 'rejected';
}
"#;

/// `choose(combobox, optionsJson, value)` → "ok" | "missing" | "no-option".
const CHOOSE: &str = r#"
async function (selector, optionsJson, value) {
  HELPERS
  const texts = JSON.parse(optionsJson);
  const box = find(selector, [], false);
  if (!box) return 'missing';
  const valueOf = (o) => [o.value, o.getAttribute('value'), o.getAttribute('data-value'), o.getAttribute('data-type')];
  if (box instanceof HTMLSelectElement) {
    for (const o of box.options) {
      if ((value && valueOf(o).includes(value)) || texts.some((t) => norm(o.textContent).toLowerCase() === norm(t).toLowerCase())) {
        box.value = o.value;
        box.dispatchEvent(new Event('input', { bubbles: true }));
        box.dispatchEvent(new Event('change', { bubbles: true }));
        return 'ok';
      }
    }
    return 'no-option';
  }
  const options = () => {
    const id = box.getAttribute('aria-controls') || box.getAttribute('aria-owns');
    const scope = (id && document.getElementById(id)) || document;
    return Array.from(scope.querySelectorAll('[role=option]')).filter(visible);
  };
  if (options().length === 0) {
    box.scrollIntoView({ block: 'center' });
    box.click();
    for (let i = 0; i < 40 && options().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const all = options();
  let pick = value ? all.find((o) => valueOf(o).includes(value)) : null;
  for (const t of texts) {
    if (pick) break;
    pick = all.find((o) => norm(o.textContent).toLowerCase() === norm(t).toLowerCase());
  }
  if (!pick) return 'no-option';
  pick.scrollIntoView({ block: 'center' });
  pick.click();
  return 'ok';
}
"#;

fn function(body: &str) -> String {
    body.replacen("HELPERS", HELPERS, 1)
}

/// One element lookup of a probe.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// CSS selector.
    pub selector: String,
    /// Only elements with one of these texts.
    pub text: Vec<String>,
    /// Only elements with some text (error containers are empty until they show one).
    pub need_text: bool,
}

/// The answer to one [`Lookup`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupResult {
    /// A visible element matched.
    pub found: bool,
    /// Its text (first 500 characters).
    pub text: Option<String>,
    /// It is not disabled.
    pub enabled: bool,
    /// The selector did not parse (a flow bug).
    pub bad_selector: Option<String>,
}

/// What a probe saw.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageState {
    /// The document URL.
    pub url: String,
    /// `document.readyState`.
    pub ready: String,
    /// `$Config.pgid`.
    pub pgid: Option<String>,
    /// `$Config.iErrorCode` (0 when absent).
    pub error_code: i64,
    /// `$Config.strServiceExceptionMessage`.
    pub service_message: String,
    /// `$Config.sBannerCode`.
    pub banner_code: String,
    /// One per lookup, in order.
    pub lookups: Vec<LookupResult>,
}

impl PageState {
    /// The URL without query and fragment (for logs: queries carry codes and tokens).
    pub fn url_for_log(&self) -> String {
        strip_query(&self.url)
    }
}

/// A URL without its query and fragment.
pub fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

/// Outcome of an action on an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActOutcome {
    /// Done.
    Done,
    /// No visible element matched (yet).
    Missing,
    /// The element is disabled (or refused the value).
    Disabled,
    /// The combobox opened but no option matched.
    NoOption,
}

fn outcome(v: &Value) -> Result<ActOutcome, BrowserError> {
    match v.as_str() {
        Some("ok") => Ok(ActOutcome::Done),
        Some("missing") => Ok(ActOutcome::Missing),
        Some("disabled") | Some("rejected") => Ok(ActOutcome::Disabled),
        Some("no-option") => Ok(ActOutcome::NoOption),
        _ => Err(BrowserError::Protocol(format!("unexpected answer from a page action: {v}"))),
    }
}

/// The tab of an enrolment, for reading and acting.
#[derive(Debug, Clone)]
pub struct Page {
    bidi: Bidi,
    context: String,
}

impl Page {
    /// Act on browsing context `context` (a tab or popup).
    pub fn new(bidi: Bidi, context: String) -> Page {
        Page { bidi, context }
    }

    /// The browsing context.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Read the page's state and answer the lookups.
    pub async fn probe(&self, lookups: &[Lookup]) -> Result<PageState, BrowserError> {
        let q = serde_json::json!({ "lookups": lookups }).to_string();
        let v = self.bidi.call_in_context(&self.context, &function(PROBE), &[&q]).await?;
        let text = v.as_str().ok_or_else(|| BrowserError::Protocol(format!("probe answered {v}")))?;
        serde_json::from_str(text).map_err(|e| BrowserError::Protocol(format!("probe answer: {e}")))
    }

    /// Click the first visible element matching `selector` (and one of `texts`).
    pub async fn click(&self, selector: &str, texts: &[String]) -> Result<ActOutcome, BrowserError> {
        let t = serde_json::to_string(texts).unwrap_or_else(|_| "[]".into());
        outcome(&self.bidi.call_in_context(&self.context, &function(CLICK), &[selector, &t]).await?)
    }

    /// Type `value` into the first visible input matching `selector`. `value` may be a
    /// secret: it travels as a call argument and is not echoed back.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<ActOutcome, BrowserError> {
        match self.bidi.call_in_context(&self.context, &function(FILL), &[selector, value]).await {
            Ok(v) => outcome(&v),
            // The browser's error text could quote the command's arguments: keep only
            // its kind, never the text, since the value may be a TAP.
            Err(BrowserError::Command { command, .. }) => {
                Err(BrowserError::Command { command, message: format!("typing into {selector} failed (details withheld: the value may be secret)") })
            }
            Err(e) => Err(e),
        }
    }

    /// Open a combobox and pick an option by value or text.
    pub async fn choose(&self, combobox: &str, texts: &[String], value: Option<&str>) -> Result<ActOutcome, BrowserError> {
        let t = serde_json::to_string(texts).unwrap_or_else(|_| "[]".into());
        outcome(&self.bidi.call_in_context(&self.context, &function(CHOOSE), &[combobox, &t, value.unwrap_or("")]).await?)
    }

    /// Load a URL (returns once the navigation has started).
    pub async fn navigate(&self, url: &str) -> Result<(), BrowserError> {
        self.bidi.navigate(&self.context, url).await
    }
}

/// True for errors that only mean "the document changed under us" (a navigation
/// replaced the realm between two commands): the caller polls again.
pub fn is_transient(e: &BrowserError) -> bool {
    match e {
        BrowserError::Command { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("no such frame")
                || m.contains("no such node")
                || m.contains("realm")
                || m.contains("execution context")
                || m.contains("navigat")
                || m.contains("inspected target")
                || m.contains("cannot find context")
                || m.contains("detached")
        }
        _ => false,
    }
}
