//! Reading and acting on the page of an enrolment tab: the probe (URL, `$Config`, the
//! document's identity, one answer per element query), clicks, typing and comboboxes.
//!
//! Elements are found by [`Locator`]: CSS (+ exact text), ARIA role + accessible name,
//! own label, heading. Everything runs as `script.callFunction` in the tab's main world
//! with the values as call arguments (a TAP is never part of a script's text). Clicks
//! carry user activation, as a real click would, so that a page may open its ceremony
//! popup. Elements count only when they are visible (rendered, not inside `[hidden]`,
//! not `display: none` or `visibility: hidden`), so an element of a view the page has
//! switched away from is never clicked.
use super::bidi::Bidi;
use super::error::BrowserError;
use super::flow::Locator;
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
  const eqAny = (a, list) => { a = norm(a).toLowerCase(); return list.some((x) => norm(x).toLowerCase() === a); };
  const ROLES = {
    button: 'button,input[type=button],input[type=submit],input[type=reset],input[type=image],[role=button]',
    link: 'a[href],[role=link]',
    textbox: 'input:not([type]),input[type=text],input[type=email],input[type=tel],input[type=url],input[type=search],textarea,[role=textbox]',
    heading: 'h1,h2,h3,h4,h5,h6,[role=heading]',
    checkbox: 'input[type=checkbox],[role=checkbox]',
    radio: 'input[type=radio],[role=radio]',
    combobox: 'select:not([multiple]),[role=combobox]',
    listbox: 'select[multiple],[role=listbox]',
    option: 'option,[role=option]',
    dialog: 'dialog,[role=dialog],[role=alertdialog]',
    listitem: 'li,[role=listitem]',
    list: 'ul,ol,[role=list]',
  };
  const implicitRole = (el) => {
    const t = el.tagName.toLowerCase();
    if (t === 'button') return 'button';
    if (t === 'a') return el.hasAttribute('href') ? 'link' : null;
    if (t === 'input') {
      const ty = (el.getAttribute('type') || 'text').toLowerCase();
      if (['button', 'submit', 'reset', 'image'].includes(ty)) return 'button';
      if (ty === 'checkbox' || ty === 'radio') return ty;
      if (['text', 'email', 'tel', 'url', 'search'].includes(ty)) return 'textbox';
      return null;
    }
    if (t === 'textarea') return 'textbox';
    if (t === 'select') return el.multiple ? 'listbox' : 'combobox';
    if (/^h[1-6]$/.test(t)) return 'heading';
    if (t === 'option') return 'option';
    if (t === 'dialog') return 'dialog';
    if (t === 'li') return 'listitem';
    if (t === 'ul' || t === 'ol') return 'list';
    return null;
  };
  const roleOf = (el) => (el.getAttribute('role') || '').trim().split(/\s+/)[0] || implicitRole(el);
  const accName = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const s = norm(by.split(/\s+/).map((id) => document.getElementById(id)).filter(Boolean).map(textOf).join(' '));
      if (s) return s;
    }
    const al = norm(el.getAttribute('aria-label'));
    if (al) return al;
    if (el.labels && el.labels.length) return norm(Array.from(el.labels).map(textOf).join(' '));
    if (el.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes((el.type || '').toLowerCase())) return norm(el.value);
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') return norm(el.getAttribute('title') || el.getAttribute('placeholder'));
    return textOf(el) || norm(el.getAttribute('title'));
  };
  const firstLine = (el) => {
    const t = el.innerText !== undefined ? el.innerText : (el.textContent || '');
    for (const line of String(t).split('\n')) { const n = norm(line); if (n) return n; }
    return norm(el.value);
  };
  const LABELLED = 'button,a,[role=button],[role=link],[role=option],[role=menuitem],[role=menuitemradio],[role=radio],[role=tab],[role=listitem],[role=checkbox],li,label,input[type=button],input[type=submit],[tabindex]';
  const candidates = (q) => {
    switch (q.k) {
      case 'css':
        return Array.from(document.querySelectorAll(q.s)).filter((el) => q.t.length === 0 || eqAny(textOf(el), q.t) || eqAny(el.value, q.t));
      case 'role':
        return Array.from(document.querySelectorAll(ROLES[q.s] || ('[role="' + q.s.replace(/"/g, '') + '"]')))
          .filter((el) => roleOf(el) === q.s && (q.t.length === 0 || eqAny(accName(el), q.t)));
      case 'heading':
        return Array.from(document.querySelectorAll(ROLES.heading)).filter((el) => eqAny(textOf(el), q.t));
      case 'label': {
        const own = (el) => eqAny(accName(el), q.t) || eqAny(firstLine(el), q.t);
        const hits = Array.from(document.querySelectorAll(LABELLED)).filter((el) => visible(el) && own(el));
        if (hits.length) return hits;
        // Plain text: the innermost element whose first line is the label.
        return Array.from(document.querySelectorAll('body *'))
          .filter((el) => visible(el) && eqAny(firstLine(el), q.t) && !Array.from(el.children).some((c) => eqAny(firstLine(c), q.t)));
      }
    }
    return [];
  };
  const find = (q) => {
    for (const el of candidates(q)) {
      if (!visible(el)) continue;
      if (q.n && textOf(el) === '') continue;
      return el;
    }
    return null;
  };
  const disabled = (el) => !!(el.disabled || el.getAttribute('aria-disabled') === 'true');
"#;

/// `probe(queryJson)`: page identity plus one answer per query.
const PROBE: &str = r#"
function (queryJson) {
  HELPERS
  const q = JSON.parse(queryJson);
  const cfg = (typeof window.$Config === 'object' && window.$Config) ? window.$Config : null;
  let heading = '';
  for (const h of document.querySelectorAll(ROLES.heading)) { if (visible(h) && textOf(h)) { heading = textOf(h).slice(0, 120); break; } }
  const out = {
    url: String(location.href),
    ready: document.readyState,
    doc: performance.timeOrigin,
    title: norm(document.title).slice(0, 120),
    heading: heading,
    pgid: cfg && typeof cfg.pgid === 'string' ? cfg.pgid : null,
    errorCode: cfg ? (Number(cfg.iErrorCode) || 0) : 0,
    serviceMessage: cfg && cfg.strServiceExceptionMessage ? String(cfg.strServiceExceptionMessage) : '',
    bannerCode: cfg && cfg.sBannerCode ? String(cfg.sBannerCode) : '',
    answers: [],
  };
  for (const one of q) {
    try {
      const el = find(one);
      out.answers.push({ found: !!el, text: el ? textOf(el).slice(0, 500) : null, enabled: el ? !disabled(el) : false });
    } catch (e) {
      out.answers.push({ found: false, text: null, enabled: false, badSelector: String(e && e.message || e) });
    }
  }
  return JSON.stringify(out);
}
"#;

/// `act(op, queriesJson, arg1, arg2)`: the first query with a visible, enabled element
/// wins; `op` is `click`, `fill` (arg1 = value) or `choose` (arg1 = option texts JSON,
/// arg2 = value). Answers `{"r": "ok"|"missing"|"disabled"|"no-option"|"rejected", "i": index}`.
const ACT: &str = r#"
async function (op, queriesJson, arg1, arg2) {
  HELPERS
  const qs = JSON.parse(queriesJson);
  let el = null, idx = -1, sawDisabled = false;
  for (let i = 0; i < qs.length && !el; i++) {
    const e = find(qs[i]);
    if (!e) continue;
    if (disabled(e) || (op === 'fill' && e.readOnly)) { sawDisabled = true; continue; }
    el = e; idx = i;
  }
  if (!el) return JSON.stringify({ r: sawDisabled ? 'disabled' : 'missing' });
  const done = (r) => JSON.stringify({ r: r, i: idx });
  if (op === 'click') {
    el.scrollIntoView({ block: 'center', inline: 'center' });
    if (typeof el.focus === 'function') el.focus();
    el.click();
    return done('ok');
  }
  if (op === 'fill') {
    if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) {
      el = el.control || el.querySelector('input,textarea');
      if (!el) return JSON.stringify({ r: 'missing' });
    }
    el.scrollIntoView({ block: 'center' });
    el.focus();
    const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, arg1);
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return done(el.value === arg1 ? 'ok' : 'rejected');
  }
  if (op === 'choose') {
    const texts = JSON.parse(arg1), value = arg2;
    const box = el;
    const valueOf = (o) => [o.value, o.getAttribute('value'), o.getAttribute('data-value'), o.getAttribute('data-type')];
    if (box instanceof HTMLSelectElement) {
      for (const o of box.options) {
        if ((value && valueOf(o).includes(value)) || texts.some((t) => norm(o.textContent).toLowerCase() === norm(t).toLowerCase())) {
          box.value = o.value;
          box.dispatchEvent(new Event('input', { bubbles: true }));
          box.dispatchEvent(new Event('change', { bubbles: true }));
          return done('ok');
        }
      }
      return done('no-option');
    }
    const options = () => {
      const id = box.getAttribute('aria-controls') || box.getAttribute('aria-owns');
      const scope = (id && document.getElementById(id)) || document;
      return Array.from(scope.querySelectorAll('[role=option]')).filter(visible);
    };
    if (options().length === 0) {
      box.scrollIntoView({ block: 'center' });
      box.click();
      for (let i = 0; i < 40 && options().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    }
    const all = options();
    let pick = value ? all.find((o) => valueOf(o).includes(value)) : null;
    for (const t of texts) {
      if (pick) break;
      pick = all.find((o) => norm(o.textContent).toLowerCase() === norm(t).toLowerCase());
    }
    if (!pick) return done('no-option');
    pick.scrollIntoView({ block: 'center' });
    pick.click();
    return done('ok');
  }
  return JSON.stringify({ r: 'missing' });
}
"#;

fn function(body: &str) -> String {
    body.replacen("HELPERS", HELPERS, 1)
}

/// One element query of a probe: a locator, and whether the element must have text
/// (error containers are empty until they show one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// How the element is found.
    pub locator: Locator,
    /// Only elements with some visible text.
    pub need_text: bool,
}

impl Query {
    /// A query for `locator`.
    pub fn new(locator: Locator) -> Query {
        Query { locator, need_text: false }
    }

    /// A query for a CSS selector.
    pub fn css(selector: &str) -> Query {
        Query::new(Locator::Css { selector: selector.into(), text: Vec::new() })
    }
}

/// The wire form of a query.
#[derive(Serialize)]
struct WireQuery<'a> {
    k: &'static str,
    s: &'a str,
    t: &'a [String],
    n: bool,
}

fn wire(q: &Query) -> WireQuery<'_> {
    let (k, s, t): (&'static str, &str, &[String]) = match &q.locator {
        Locator::Css { selector, text } => ("css", selector, text),
        Locator::Role { role, name } => ("role", role, name),
        Locator::Label(t) => ("label", "", t),
        Locator::Heading(t) => ("heading", "", t),
    };
    WireQuery { k, s, t, n: q.need_text }
}

fn wire_json<'a>(qs: impl Iterator<Item = &'a Query>) -> String {
    serde_json::to_string(&qs.map(wire).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// The answer to one [`Query`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
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
    /// The document's identity (`performance.timeOrigin`): changes with every load.
    pub doc: f64,
    /// `document.title`.
    pub title: String,
    /// The first visible heading's text.
    pub heading: String,
    /// `$Config.pgid`.
    pub pgid: Option<String>,
    /// `$Config.iErrorCode` (0 when absent).
    pub error_code: i64,
    /// `$Config.strServiceExceptionMessage`.
    pub service_message: String,
    /// `$Config.sBannerCode`.
    pub banner_code: String,
    /// One per query, in order.
    pub answers: Vec<Answer>,
}

impl PageState {
    /// The URL without query and fragment (for logs: queries carry codes and tokens).
    pub fn url_for_log(&self) -> String {
        strip_query(&self.url)
    }

    /// How a person would name this page: its heading, else its title, else its page id,
    /// else its path.
    pub fn name(&self) -> String {
        [self.heading.as_str(), self.title.as_str(), self.pgid.as_deref().unwrap_or("")]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| self.url_for_log())
    }
}

/// A URL without its query and fragment.
pub fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

/// Outcome of an action on an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActOutcome {
    /// Done, with the index of the locator that matched.
    Done(usize),
    /// No visible element matched (yet).
    Missing,
    /// The element is disabled (or refused the value).
    Disabled,
    /// The combobox opened but no option matched.
    NoOption,
}

#[derive(Deserialize)]
struct WireOutcome {
    r: String,
    i: Option<usize>,
}

fn outcome(v: &Value) -> Result<ActOutcome, BrowserError> {
    let w: WireOutcome = v
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| BrowserError::Protocol(format!("unexpected answer from a page action: {v}")))?;
    match w.r.as_str() {
        "ok" => Ok(ActOutcome::Done(w.i.unwrap_or(0))),
        "missing" => Ok(ActOutcome::Missing),
        "disabled" | "rejected" => Ok(ActOutcome::Disabled),
        "no-option" => Ok(ActOutcome::NoOption),
        other => Err(BrowserError::Protocol(format!("unexpected answer from a page action: {other}"))),
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

    /// Read the page's state and answer the queries.
    pub async fn probe(&self, queries: &[Query]) -> Result<PageState, BrowserError> {
        let q = wire_json(queries.iter());
        let v = self.bidi.call_in_context(&self.context, &function(PROBE), &[&q]).await?;
        let text = v.as_str().ok_or_else(|| BrowserError::Protocol(format!("probe answered {v}")))?;
        serde_json::from_str(text).map_err(|e| BrowserError::Protocol(format!("probe answer: {e}")))
    }

    /// Click the first visible, enabled element one of `locators` finds.
    pub async fn click_any(&self, locators: &[Locator]) -> Result<ActOutcome, BrowserError> {
        self.act("click", locators, "", "").await
    }

    /// Type `value` into the first input one of `locators` finds. `value` may be a
    /// secret: it travels as a call argument and is not echoed back.
    pub async fn fill_any(&self, locators: &[Locator], value: &str) -> Result<ActOutcome, BrowserError> {
        match self.act("fill", locators, value, "").await {
            // The browser's error text could quote the command's arguments: keep only
            // its kind, never the text, since the value may be a TAP.
            Err(BrowserError::Command { command, .. }) => {
                Err(BrowserError::Command { command, message: "typing into the page failed (details withheld: the value may be secret)".into() })
            }
            other => other,
        }
    }

    /// Open a combobox one of `locators` finds and pick an option by value or text.
    pub async fn choose_any(&self, locators: &[Locator], texts: &[String], value: Option<&str>) -> Result<ActOutcome, BrowserError> {
        let t = serde_json::to_string(texts).unwrap_or_else(|_| "[]".into());
        self.act("choose", locators, &t, value.unwrap_or("")).await
    }

    async fn act(&self, op: &str, locators: &[Locator], arg1: &str, arg2: &str) -> Result<ActOutcome, BrowserError> {
        let queries: Vec<Query> = locators.iter().cloned().map(Query::new).collect();
        let q = wire_json(queries.iter());
        outcome(&self.bidi.call_in_context(&self.context, &function(ACT), &[op, &q, arg1, arg2]).await?)
    }

    /// Click the first visible element matching a CSS selector (and one of `texts`).
    pub async fn click(&self, selector: &str, texts: &[String]) -> Result<ActOutcome, BrowserError> {
        self.click_any(&[Locator::Css { selector: selector.into(), text: texts.to_vec() }]).await
    }

    /// Type into the first visible input matching a CSS selector.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<ActOutcome, BrowserError> {
        self.fill_any(&[Locator::Css { selector: selector.into(), text: Vec::new() }], value).await
    }

    /// Pick an option of the combobox matching a CSS selector.
    pub async fn choose(&self, combobox: &str, texts: &[String], value: Option<&str>) -> Result<ActOutcome, BrowserError> {
        self.choose_any(&[Locator::Css { selector: combobox.into(), text: Vec::new() }], texts, value).await
    }

    /// Whether a visible element matches `locator` now.
    pub async fn shows(&self, locator: &Locator) -> Result<bool, BrowserError> {
        Ok(self.probe(&[Query::new(locator.clone())]).await?.answers.first().is_some_and(|a| a.found))
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
