//! Flow descriptions: how the automatic mode recognises pages and what it does on each,
//! as versioned data.
//!
//! A flow (format 2, `docs/browser-flows.md`) is a list of **pages**, each recognised by
//! `$Config.pgid`, URL, landmark elements, headings or role + accessible name, with a
//! **handler** (fill, click, choose, ...) whose every action lists alternative locators;
//! plus **error rules** and a **time budget**. The engine (`automatic.rs`) recognises the
//! page on every poll and runs that page's handler, so interrupts, repeated pages and
//! optional steps are absorbed by recognition rather than by their position in a list.
//!
//! Two flows are built in and embedded in the binary: `microsoft` (Entra ID) and
//! `simulator` (keystation's Entra simulator); a station may load its own file when
//! Microsoft changes its pages. Everything is checked when the flow is loaded, so a broken
//! file is refused with the page, action and field at fault rather than failing half-way
//! through an enrolment.
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The flow format this keystation understands.
pub const FLOW_FORMAT: u32 = 2;

/// The built-in flow for Microsoft Entra ID.
pub const MICROSOFT_FLOW: &str = include_str!("flows/microsoft.toml");
/// The built-in flow for keystation's Entra simulator.
pub const SIMULATOR_FLOW: &str = include_str!("flows/simulator.toml");

/// The flag the engine sets once the page has received keystation's credential.
pub const CREATED_FLAG: &str = "created";

/// A validated flow description.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Short name (`microsoft`, `simulator`, ...).
    pub name: String,
    /// The flow's own version (bumped when the pages or handlers change).
    pub version: String,
    /// One line for people.
    pub description: String,
    /// Where the automatic mode starts, a restart goes and the manual mode opens the
    /// window (a URL template).
    pub start_url: String,
    /// Top-level origins (templates) under which a cross-origin frame may run the
    /// ceremony.
    pub cross_origin_frames_under: Vec<String>,
    /// Report `$Config.iErrorCode` / `strServiceExceptionMessage` that no rule matched
    /// as a generic page error.
    pub generic_page_errors: bool,
    /// Time limits.
    pub budget: Budget,
    /// The pages the flow knows, in priority order: the first whose conditions hold is
    /// the page being shown.
    pub pages: Vec<PageRule>,
    /// Known errors, checked before the pages on every poll; first match wins.
    pub errors: Vec<ErrorRule>,
}

/// The time budget of one automatic registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The whole automatic mode. A one-time TAP gives 10 minutes after sign-in to add a
    /// key; the default (540 s) keeps a minute for naming and Graph's confirmation.
    pub total: Duration,
    /// A page no rule recognises for this long ends the automatic mode (the manual mode
    /// takes over where it can).
    pub unrecognised: Duration,
    /// Default wait of an action for one of its elements.
    pub action: Duration,
    /// How long one page may stay (same document) once its handler has run.
    pub stay: Duration,
    /// Run a page's handler again when the page has not changed after this long.
    pub rerun: Duration,
    /// After `expect_create`, the page must call `navigator.credentials.create` within
    /// this (stuck detector).
    pub ceremony_start: Duration,
    /// The ceremony (PIN, touch) must finish within this once it started.
    pub ceremony_finish: Duration,
    /// A page recognised in more documents than this is a loop.
    pub max_visits: u32,
    /// Waits before each `restart` (the last one repeats).
    pub restart_backoff: Vec<Duration>,
    /// All restart waits together may not exceed this.
    pub restart_within: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            total: Duration::from_secs(540),
            unrecognised: Duration::from_secs(10),
            action: Duration::from_secs(15),
            stay: Duration::from_secs(30),
            rerun: Duration::from_secs(5),
            ceremony_start: Duration::from_secs(45),
            ceremony_finish: Duration::from_secs(240),
            max_visits: 6,
            restart_backoff: vec![Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(20)],
            restart_within: Duration::from_secs(120),
        }
    }
}

/// One page the flow knows.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRule {
    /// Name used in progress notes, the evidence log and screenshot file names.
    pub id: String,
    /// Alternatives: the page is showing when all conditions of one of them hold.
    pub when: Vec<Match>,
    /// Flags that must be set (`created`, or any a handler `set`).
    pub requires: Vec<String>,
    /// Flags that must not be set.
    pub unless: Vec<String>,
    /// The handler, in order. Empty: a page to wait on (the ceremony page).
    pub actions: Vec<Action>,
    /// Overrides `budget.max_visits` for this page.
    pub max_visits: Option<u32>,
}

/// Conditions on the page (all given must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// `$Config.pgid` is one of these.
    pub pgid: Vec<String>,
    /// The tab's URL starts with one of these (templates).
    pub url_prefix: Vec<String>,
    /// `$Config.iErrorCode` is one of these.
    pub i_error_code: Vec<i64>,
    /// `$Config.sBannerCode` is one of these.
    pub banner_code: Vec<String>,
    /// Elements that must be visible.
    pub present: Vec<Locator>,
    /// Elements that must not be visible.
    pub absent: Vec<Locator>,
}

impl Match {
    fn is_empty(&self) -> bool {
        self.pgid.is_empty() && self.url_prefix.is_empty() && self.i_error_code.is_empty() && self.banner_code.is_empty() && self.present.is_empty()
    }
}

/// How an element is found. Every comparison of text is exact after collapsing white
/// space, and case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Locator {
    /// A CSS selector, optionally only elements whose visible text or `value` is one of
    /// `text`.
    Css {
        /// The selector.
        selector: String,
        /// Accepted texts (empty: any).
        text: Vec<String>,
    },
    /// An element with an ARIA role (explicit, or implicit: `button` for `<button>` and
    /// button inputs, `link`, `textbox`, `heading`, ...) and accessible name.
    Role {
        /// The role.
        role: String,
        /// Accepted accessible names (empty: any).
        name: Vec<String>,
    },
    /// A clickable element (button, link, option, list item, label, ...) whose own label
    /// — its accessible name or the first line of its text — is exactly one of these
    /// ("Passkey" matches the item "Passkey / Use a security key", not "Passkey in
    /// Microsoft Authenticator").
    Label(Vec<String>),
    /// A heading (`h1`–`h6`, `role=heading`) with one of these texts.
    Heading(Vec<String>),
}

/// What a handler does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Type a value into an input.
    Fill {
        /// What to type.
        value: FillValue,
        /// The input (alternatives, first match wins).
        into: Vec<Locator>,
        /// Waits and optionality.
        opts: ActOpts,
    },
    /// Click an element (alternatives, first match wins).
    Click {
        /// The element.
        target: Vec<Locator>,
        /// Waits and optionality.
        opts: ActOpts,
    },
    /// Open a combobox (`[role=combobox]` or `<select>`) and pick an option.
    Choose {
        /// The combobox (alternatives).
        combobox: Vec<Locator>,
        /// Option texts, tried in order.
        option: Vec<String>,
        /// Option value (`value`, `data-value` or `data-type` attribute).
        value: Option<String>,
        /// Waits and optionality.
        opts: ActOpts,
    },
    /// Load a URL (template) in the tab.
    Navigate(String),
    /// The page is about to call `navigator.credentials.create`: arm the stuck detector.
    ExpectCreate,
    /// Start the sign-in again at `start_url` after the next backoff wait (the TAP has
    /// not reached sign-in yet).
    Restart,
    /// Set a flag pages can require.
    Set(String),
    /// The registration is complete (the page must have received the credential).
    Finish,
}

/// Waits and optionality of an element action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActOpts {
    /// Skip (instead of failing the handler) when no locator matches.
    pub optional: bool,
    /// How long to wait for an element; default: `budget.action`, or no wait at all for
    /// optional actions.
    pub wait: Option<Duration>,
}

/// A value to type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillValue {
    /// `$upn`: the user's sign-in name.
    Upn,
    /// `$tap`: the Temporary Access Pass (a secret: never logged).
    Tap,
    /// `$display_name`: the name for the new key.
    DisplayName,
    /// Any other text, typed as is.
    Literal(String),
}

impl FillValue {
    /// How the value appears in logs (variables by name, never the secret).
    pub fn describe(&self) -> String {
        match self {
            FillValue::Upn => "$upn".into(),
            FillValue::Tap => "$tap".into(),
            FillValue::DisplayName => "$display_name".into(),
            FillValue::Literal(s) => format!("{s:?}"),
        }
    }
}

/// A known error a page can show, and what keystation makes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRule {
    /// Stable code (`KeyLimitReached`, `TapExpired`, ...): `CeremonyError::Page.code`.
    pub code: String,
    /// Operator-facing explanation; the page's own text is appended.
    pub message: String,
    /// Finishing by hand can help (the automation lost its way); `false` for refusals
    /// that a person at the browser cannot change.
    pub fallback: bool,
    /// The conditions.
    pub when: Match,
    /// The text the page shows — the first `present` element's, or without one
    /// `$Config.strServiceExceptionMessage` — contains one of these (case-insensitive).
    pub contains: Vec<String>,
}

/// Why a flow description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("browser flow {source_name}: {message}")]
pub struct FlowError {
    /// File name or built-in name.
    pub source_name: String,
    /// What is wrong and where.
    pub message: String,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

fn list<T>(v: Option<OneOrMany<T>>) -> Vec<T> {
    match v {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    format: u32,
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    start_url: String,
    #[serde(default)]
    cross_origin_frames_under: Vec<String>,
    #[serde(default)]
    generic_page_errors: bool,
    #[serde(default)]
    budget: RawBudget,
    #[serde(default)]
    page: Vec<RawPage>,
    #[serde(default)]
    error: Vec<RawError>,
}

/// Format 1 files have `[[step]]` tables: recognised only to say how to migrate.
#[derive(Debug, Deserialize)]
struct FormatProbe {
    format: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    total_s: Option<u64>,
    unrecognised_s: Option<u64>,
    action_s: Option<u64>,
    stay_s: Option<u64>,
    rerun_s: Option<u64>,
    ceremony_start_s: Option<u64>,
    ceremony_finish_s: Option<u64>,
    max_visits: Option<u32>,
    restart_backoff_s: Option<Vec<u64>>,
    restart_within_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocator {
    css: Option<String>,
    text: Option<OneOrMany<String>>,
    role: Option<String>,
    name: Option<OneOrMany<String>>,
    label: Option<OneOrMany<String>>,
    heading: Option<OneOrMany<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    pgid: Option<OneOrMany<String>>,
    url_prefix: Option<OneOrMany<String>>,
    i_error_code: Option<OneOrMany<i64>>,
    banner_code: Option<OneOrMany<String>>,
    css: Option<String>,
    text: Option<OneOrMany<String>>,
    role: Option<String>,
    name: Option<OneOrMany<String>>,
    label: Option<OneOrMany<String>>,
    heading: Option<OneOrMany<String>>,
    #[serde(default)]
    absent: Vec<RawLocator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPage {
    id: String,
    when: OneOrMany<RawMatch>,
    requires: Option<OneOrMany<String>>,
    unless: Option<OneOrMany<String>>,
    #[serde(default, rename = "do")]
    actions: Vec<RawAction>,
    max_visits: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    fill: Option<String>,
    into: Option<OneOrMany<RawLocator>>,
    click: Option<OneOrMany<RawLocator>>,
    choose: Option<OneOrMany<RawLocator>>,
    option: Option<OneOrMany<String>>,
    value: Option<String>,
    navigate: Option<String>,
    expect_create: Option<bool>,
    restart: Option<bool>,
    set: Option<String>,
    finish: Option<bool>,
    #[serde(default)]
    optional: bool,
    wait_s: Option<u64>,
}

/// An error rule: its own fields, the rest are its conditions (a [`RawMatch`], which
/// refuses unknown keys).
#[derive(Debug, Deserialize)]
struct RawError {
    code: String,
    message: String,
    #[serde(default)]
    fallback: bool,
    contains: Option<OneOrMany<String>>,
    #[serde(flatten)]
    conditions: toml::Table,
}

/// Variables a URL template may use.
pub const URL_VARIABLES: [&str; 4] = ["portal", "portal_origin", "login", "tenant"];

/// Which built-in flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinFlow {
    /// Microsoft Entra ID.
    Microsoft,
    /// keystation's Entra simulator.
    Simulator,
}

impl Flow {
    /// A built-in flow (embedded in the binary and checked by the unit tests).
    pub fn builtin(which: BuiltinFlow) -> Flow {
        let (text, name) = match which {
            BuiltinFlow::Microsoft => (MICROSOFT_FLOW, "built-in microsoft"),
            BuiltinFlow::Simulator => (SIMULATOR_FLOW, "built-in simulator"),
        };
        match Flow::parse(text, name) {
            Ok(f) => f,
            // The unit tests parse both; an invalid built-in flow cannot ship.
            Err(e) => panic!("{e}"),
        }
    }

    /// Read and check a flow file.
    pub fn load(path: &Path) -> Result<Flow, FlowError> {
        let text = std::fs::read_to_string(path).map_err(|e| FlowError {
            source_name: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        Flow::parse(&text, &path.display().to_string())
    }

    /// Parse and check a flow description.
    pub fn parse(text: &str, source_name: &str) -> Result<Flow, FlowError> {
        let fail = |message: String| FlowError { source_name: source_name.to_string(), message };
        if let Ok(FormatProbe { format: Some(f) }) = toml::from_str::<FormatProbe>(text)
            && f != FLOW_FORMAT
        {
            let how = if f == 1 {
                "; format 1 walked a fixed list of [[step]]s, format 2 recognises [[page]]s: turn each wait_for into a page's `when` and the steps after it into its `do` (docs/browser-flows.md §6)"
            } else {
                ""
            };
            return Err(fail(format!("format {f} is not supported (this keystation reads format {FLOW_FORMAT}){how}")));
        }
        let raw: RawFlow = toml::from_str(text).map_err(|e| fail(format!("not a valid flow description: {e}")))?;
        if raw.format != FLOW_FORMAT {
            return Err(fail(format!("format {} is not supported (this keystation reads format {FLOW_FORMAT})", raw.format)));
        }
        check_template(&raw.start_url).map_err(|m| fail(format!("start_url: {m}")))?;
        for o in &raw.cross_origin_frames_under {
            check_template(o).map_err(|m| fail(format!("cross_origin_frames_under: {m}")))?;
        }
        let budget = convert_budget(raw.budget).map_err(|m| fail(format!("[budget]: {m}")))?;
        let mut pages = Vec::new();
        let mut ids = HashSet::new();
        for (i, p) in raw.page.into_iter().enumerate() {
            let label = format!("page {} ({})", i + 1, p.id);
            let page = convert_page(p).map_err(|m| fail(format!("{label}: {m}")))?;
            if !ids.insert(page.id.clone()) {
                return Err(fail(format!("{label}: the id is used twice; ids name screenshots and must be unique")));
            }
            pages.push(page);
        }
        if pages.is_empty() {
            return Err(fail("has no [[page]]; a flow needs at least the pages it acts on".into()));
        }
        let has = |f: &dyn Fn(&Action) -> bool| pages.iter().any(|p| p.actions.iter().any(f));
        if !has(&|a| matches!(a, Action::ExpectCreate)) {
            return Err(fail("no handler has `expect_create`; one must say where the page is about to call navigator.credentials.create".into()));
        }
        if !has(&|a| matches!(a, Action::Finish)) {
            return Err(fail("no handler has `finish`; one must say where the registration is complete".into()));
        }
        // Flags a page requires must be set somewhere (or be the engine's own).
        let mut set: HashSet<&str> = pages.iter().flat_map(|p| p.actions.iter()).filter_map(|a| if let Action::Set(f) = a { Some(f.as_str()) } else { None }).collect();
        set.insert(CREATED_FLAG);
        for p in &pages {
            if let Some(f) = p.requires.iter().chain(&p.unless).find(|f| !set.contains(f.as_str())) {
                return Err(fail(format!("page {}: flag {f:?} is never set (set it with `set = {f:?}` in a handler, or use \"{CREATED_FLAG}\")", p.id)));
            }
        }
        let mut errors = Vec::new();
        for (i, e) in raw.error.into_iter().enumerate() {
            errors.push(convert_error(e).map_err(|m| fail(format!("error rule {}: {m}", i + 1)))?);
        }
        Ok(Flow {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            start_url: raw.start_url,
            cross_origin_frames_under: raw.cross_origin_frames_under,
            generic_page_errors: raw.generic_page_errors,
            budget,
            pages,
            errors,
        })
    }
}

fn secs(v: Option<u64>, default: Duration, name: &str) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(0) => Err(format!("{name} must be at least 1")),
        Some(s) => Ok(Duration::from_secs(s)),
    }
}

fn convert_budget(b: RawBudget) -> Result<Budget, String> {
    let d = Budget::default();
    let budget = Budget {
        total: secs(b.total_s, d.total, "total_s")?,
        unrecognised: secs(b.unrecognised_s, d.unrecognised, "unrecognised_s")?,
        action: secs(b.action_s, d.action, "action_s")?,
        stay: secs(b.stay_s, d.stay, "stay_s")?,
        rerun: secs(b.rerun_s, d.rerun, "rerun_s")?,
        ceremony_start: secs(b.ceremony_start_s, d.ceremony_start, "ceremony_start_s")?,
        ceremony_finish: secs(b.ceremony_finish_s, d.ceremony_finish, "ceremony_finish_s")?,
        max_visits: b.max_visits.unwrap_or(d.max_visits).max(1),
        restart_backoff: match b.restart_backoff_s {
            None => d.restart_backoff,
            Some(v) if v.is_empty() => return Err("restart_backoff_s needs at least one wait".into()),
            Some(v) => v.into_iter().map(Duration::from_secs).collect(),
        },
        restart_within: secs(b.restart_within_s, d.restart_within, "restart_within_s")?,
    };
    // One step must never spend the whole budget.
    for (name, v) in [("stay_s", budget.stay), ("unrecognised_s", budget.unrecognised), ("action_s", budget.action), ("ceremony_finish_s", budget.ceremony_finish)] {
        if v >= budget.total {
            return Err(format!("{name} ({} s) must be shorter than total_s ({} s): one page must never spend the whole budget", v.as_secs(), budget.total.as_secs()));
        }
    }
    Ok(budget)
}

fn locator(r: RawLocator) -> Result<Locator, String> {
    let kinds = [r.css.is_some(), r.role.is_some(), r.label.is_some(), r.heading.is_some()].iter().filter(|x| **x).count();
    if kinds != 1 {
        return Err("a locator has exactly one of css, role, label or heading".into());
    }
    if r.text.is_some() && r.css.is_none() {
        return Err("`text` filters a css locator's elements; give `css` too".into());
    }
    if r.name.is_some() && r.role.is_none() {
        return Err("`name` is the accessible name of a role locator; give `role` too".into());
    }
    if let Some(css) = r.css {
        nonempty(&css, "css")?;
        return Ok(Locator::Css { selector: css, text: list(r.text) });
    }
    if let Some(role) = r.role {
        if role.trim().is_empty() || !role.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(format!("role {role:?} must be an ARIA role in lower case (button, link, textbox, heading, option, ...)"));
        }
        return Ok(Locator::Role { role, name: list(r.name) });
    }
    if let Some(l) = r.label {
        return texts(list(Some(l)), "label").map(Locator::Label);
    }
    texts(list(r.heading), "heading").map(Locator::Heading)
}

fn texts(v: Vec<String>, what: &str) -> Result<Vec<String>, String> {
    if v.is_empty() || v.iter().any(|t| t.trim().is_empty()) {
        return Err(format!("{what} needs non-empty texts"));
    }
    Ok(v)
}

fn nonempty(s: &str, what: &str) -> Result<(), String> {
    if s.trim().is_empty() { Err(format!("{what} must not be empty")) } else { Ok(()) }
}

/// The inline element conditions of a match or error rule.
struct InlineElements {
    css: Option<String>,
    text: Option<OneOrMany<String>>,
    role: Option<String>,
    name: Option<OneOrMany<String>>,
    label: Option<OneOrMany<String>>,
    heading: Option<OneOrMany<String>>,
}

impl InlineElements {
    fn into_locators(self) -> Result<Vec<Locator>, String> {
        let mut out = Vec::new();
        if self.text.is_some() && self.css.is_none() {
            return Err("`text` filters the css element; give `css` too (or use `contains` in an error rule)".into());
        }
        if self.name.is_some() && self.role.is_none() {
            return Err("`name` is the accessible name of the `role` element; give `role` too".into());
        }
        if let Some(css) = self.css {
            out.push(locator(RawLocator { css: Some(css), text: self.text, ..Default::default() })?);
        }
        if let Some(role) = self.role {
            out.push(locator(RawLocator { role: Some(role), name: self.name, ..Default::default() })?);
        }
        if let Some(l) = self.label {
            out.push(locator(RawLocator { label: Some(l), ..Default::default() })?);
        }
        if let Some(h) = self.heading {
            out.push(locator(RawLocator { heading: Some(h), ..Default::default() })?);
        }
        Ok(out)
    }
}

fn convert_match(m: RawMatch) -> Result<Match, String> {
    let present = InlineElements { css: m.css, text: m.text, role: m.role, name: m.name, label: m.label, heading: m.heading }.into_locators()?;
    let out = Match {
        pgid: list(m.pgid),
        url_prefix: list(m.url_prefix),
        i_error_code: list(m.i_error_code),
        banner_code: list(m.banner_code),
        present,
        absent: m.absent.into_iter().map(locator).collect::<Result<_, _>>()?,
    };
    for u in &out.url_prefix {
        check_template(u)?;
    }
    if out.is_empty() {
        return Err("every `when` entry needs a condition (pgid, url_prefix, i_error_code, banner_code, css, role, label or heading)".into());
    }
    Ok(out)
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("id {id:?} may only use letters, digits, '-' and '_'"));
    }
    Ok(())
}

fn convert_page(p: RawPage) -> Result<PageRule, String> {
    check_id(&p.id)?;
    let when = match p.when {
        OneOrMany::One(m) => vec![convert_match(m)?],
        OneOrMany::Many(v) => v.into_iter().map(convert_match).collect::<Result<Vec<_>, _>>()?,
    };
    if when.is_empty() {
        return Err("`when` needs at least one entry".into());
    }
    let mut actions = Vec::new();
    for (i, a) in p.actions.into_iter().enumerate() {
        actions.push(convert_action(a).map_err(|m| format!("action {}: {m}", i + 1))?);
    }
    for f in list(p.requires.clone()).iter().chain(&list(p.unless.clone())) {
        check_id(f).map_err(|m| format!("flag: {m}"))?;
    }
    Ok(PageRule { id: p.id, when, requires: list(p.requires), unless: list(p.unless), actions, max_visits: p.max_visits })
}

fn locators(v: Option<OneOrMany<RawLocator>>, what: &str) -> Result<Vec<Locator>, String> {
    let v = list(v);
    if v.is_empty() {
        return Err(format!("{what} needs at least one locator"));
    }
    v.into_iter().map(locator).collect()
}

fn convert_action(a: RawAction) -> Result<Action, String> {
    let verbs = [
        ("fill", a.fill.is_some()),
        ("click", a.click.is_some()),
        ("choose", a.choose.is_some()),
        ("navigate", a.navigate.is_some()),
        ("expect_create", a.expect_create.is_some()),
        ("restart", a.restart.is_some()),
        ("set", a.set.is_some()),
        ("finish", a.finish.is_some()),
    ];
    let given: Vec<&str> = verbs.iter().filter(|(_, p)| *p).map(|(v, _)| *v).collect();
    if given.len() != 1 {
        return Err(format!(
            "an action has exactly one of fill, click, choose, navigate, expect_create, restart, set or finish (found {})",
            if given.is_empty() { "none".to_string() } else { given.join(", ") }
        ));
    }
    let verb = given[0];
    let element = matches!(verb, "fill" | "click" | "choose");
    if !element && (a.optional || a.wait_s.is_some()) {
        return Err(format!("{verb} does not take `optional` or `wait_s`"));
    }
    if a.into.is_some() && verb != "fill" {
        return Err(format!("{verb} does not take `into` (only fill does)"));
    }
    if (a.option.is_some() || a.value.is_some()) && verb != "choose" {
        return Err(format!("{verb} does not take `option` or `value` (only choose does)"));
    }
    for (flag, v) in [("expect_create", a.expect_create), ("restart", a.restart), ("finish", a.finish)] {
        if v == Some(false) {
            return Err(format!("`{flag} = false` does nothing; leave the action out"));
        }
    }
    let opts = ActOpts { optional: a.optional, wait: a.wait_s.map(Duration::from_secs) };
    Ok(match verb {
        "fill" => {
            let value = match a.fill.unwrap_or_default().as_str() {
                "$upn" => FillValue::Upn,
                "$tap" => FillValue::Tap,
                "$display_name" => FillValue::DisplayName,
                v if v.starts_with('$') => return Err(format!("unknown variable {v}; fill knows $upn, $tap and $display_name")),
                "" => return Err("fill needs a value".into()),
                v => FillValue::Literal(v.to_string()),
            };
            Action::Fill { value, into: locators(a.into, "fill's `into`")?, opts }
        }
        "click" => Action::Click { target: locators(a.click, "click")?, opts },
        "choose" => {
            let option = list(a.option);
            if option.is_empty() && a.value.is_none() {
                return Err("choose needs `option` (texts) or `value`".into());
            }
            Action::Choose { combobox: locators(a.choose, "choose")?, option, value: a.value, opts }
        }
        "navigate" => {
            let url = a.navigate.unwrap_or_default();
            nonempty(&url, "navigate")?;
            check_template(&url)?;
            Action::Navigate(url)
        }
        "expect_create" => Action::ExpectCreate,
        "restart" => Action::Restart,
        "set" => {
            let f = a.set.unwrap_or_default();
            check_id(&f).map_err(|m| format!("flag: {m}"))?;
            if f == CREATED_FLAG {
                return Err(format!("flag {CREATED_FLAG:?} is the engine's own (set when the page received the credential)"));
            }
            Action::Set(f)
        }
        _ => Action::Finish,
    })
}

fn convert_error(e: RawError) -> Result<ErrorRule, String> {
    if e.code.is_empty() || !e.code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("code {:?} must be letters and digits (e.g. KeyLimitReached)", e.code));
    }
    if e.message.trim().is_empty() {
        return Err(format!("{} needs a message for the operator", e.code));
    }
    let contains = list(e.contains);
    let when = if e.conditions.is_empty() {
        Match::default()
    } else {
        let raw: RawMatch = toml::Value::Table(e.conditions).try_into().map_err(|err| format!("{}: {err}", e.code))?;
        convert_match(raw).map_err(|m| format!("{}: {m}", e.code))?
    };
    if when.is_empty() && contains.is_empty() {
        return Err(format!("{} has no condition (pgid, url_prefix, i_error_code, banner_code, an element or contains)", e.code));
    }
    Ok(ErrorRule { code: e.code, message: e.message, fallback: e.fallback, when, contains })
}

/// `$name` tokens must be known URL variables.
fn check_template(t: &str) -> Result<(), String> {
    for name in template_variables(t) {
        if !URL_VARIABLES.contains(&name.as_str()) {
            return Err(format!("unknown variable ${name} in {t:?}; URLs may use ${}", URL_VARIABLES.join(", $")));
        }
    }
    Ok(())
}

fn template_variables(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('$') {
        let tail = &rest[i + 1..];
        let len = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        out.push(tail[..len].to_string());
        rest = &tail[len..];
    }
    out
}

/// Values for the URL variables of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVars {
    /// The Security-info (mysignins) base URL, without a trailing slash.
    pub portal: String,
    /// The sign-in (login) base URL, without a trailing slash.
    pub login: String,
    /// The tenant id or domain.
    pub tenant: String,
}

impl FlowVars {
    /// The portal's origin (scheme://host[:port]).
    pub fn portal_origin(&self) -> String {
        origin_of(&self.portal)
    }

    /// Replace `$portal`, `$portal_origin`, `$login`, `$tenant`. Longest names first,
    /// so `$portal_origin` is not read as `$portal` + `_origin`.
    pub fn expand(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 1..];
            let len = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
            match &tail[..len] {
                "portal" => out.push_str(&self.portal),
                "portal_origin" => out.push_str(&self.portal_origin()),
                "login" => out.push_str(&self.login),
                "tenant" => out.push_str(&self.tenant),
                other => {
                    out.push('$');
                    out.push_str(other);
                }
            }
            rest = &tail[len..];
        }
        out.push_str(rest);
        out
    }
}

/// `scheme://host[:port]` of a URL (the text up to the first `/` after `://`).
pub fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            url[..i + 3 + end].to_string()
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_flows_parse() {
        for which in [BuiltinFlow::Microsoft, BuiltinFlow::Simulator] {
            let f = Flow::builtin(which);
            assert!(f.pages.len() > 8, "{}", f.name);
            assert!(f.errors.iter().any(|e| e.code == "KeyLimitReached"));
            assert!(f.errors.iter().any(|e| e.code == "TapInvalid"));
            let actions = || f.pages.iter().flat_map(|p| p.actions.iter());
            assert!(actions().any(|a| matches!(a, Action::Fill { value: FillValue::Tap, .. })));
            assert!(actions().any(|a| matches!(a, Action::Fill { value: FillValue::DisplayName, .. })));
            assert!(actions().any(|a| matches!(a, Action::Restart)), "{}: TAP propagation", f.name);
        }
    }

    #[test]
    fn variables_expand() {
        let v = FlowVars { portal: "http://127.0.0.1:9".into(), login: "http://localhost:9".into(), tenant: "t".into() };
        assert_eq!(v.expand("$portal/security-info?x=$tenant"), "http://127.0.0.1:9/security-info?x=t");
        assert_eq!(v.expand("$portal_origin"), "http://127.0.0.1:9");
        assert_eq!(v.expand("$login/$tenant/login"), "http://localhost:9/t/login");
        assert_eq!(origin_of("https://mysignins.microsoft.com/security-info?a=b"), "https://mysignins.microsoft.com");
    }

    fn minimal(extra: &str) -> String {
        format!(
            "format = 2\nname = \"t\"\nversion = \"1\"\nstart_url = \"$portal\"\n\
[[page]]\nid = \"start\"\nwhen = {{ url_prefix = \"$portal/x\" }}\ndo = [{{ expect_create = true }}]\n\
[[page]]\nid = \"end\"\nwhen = {{ css = \"#done\" }}\nrequires = \"created\"\ndo = [{{ finish = true }}]\n{extra}"
        )
    }

    #[test]
    fn a_flow_reads_its_pages_handlers_and_budget() {
        let f = Flow::parse(
            &minimal(
                "[budget]\ntotal_s = 300\nrestart_backoff_s = [1, 2]\n\
[[page]]\nid = \"kmsi\"\nwhen = [{ pgid = \"KmsiInterrupt\" }, { css = \"#KmsiDescription\" }]\n\
do = [{ click = [{ css = \"#idBtn_Back\" }, { role = \"button\", name = \"No\" }] }]\n\
[[page]]\nid = \"picker\"\nwhen = { role = \"dialog\", css = \"[role=option]\", absent = [{ css = \"input[type=text]\" }] }\n\
do = [{ click = { label = \"Show more options\" }, optional = true }, { click = [{ label = [\"Passkey\", \"Security key\"] }] }, { fill = \"$display_name\", into = { heading = \"x\" }, wait_s = 2 }]\n",
            ),
            "test",
        )
        .unwrap();
        assert_eq!(f.budget.total, Duration::from_secs(300));
        assert_eq!(f.budget.restart_backoff, vec![Duration::from_secs(1), Duration::from_secs(2)]);
        assert_eq!(f.budget.unrecognised, Duration::from_secs(10));
        let kmsi = &f.pages[2];
        assert_eq!(kmsi.when.len(), 2);
        assert_eq!(
            kmsi.actions[0],
            Action::Click {
                target: vec![Locator::Css { selector: "#idBtn_Back".into(), text: vec![] }, Locator::Role { role: "button".into(), name: vec!["No".into()] }],
                opts: ActOpts::default()
            }
        );
        let picker = &f.pages[3];
        assert_eq!(picker.when[0].present.len(), 2);
        assert_eq!(picker.when[0].absent.len(), 1);
        assert!(matches!(&picker.actions[0], Action::Click { opts: ActOpts { optional: true, wait: None }, .. }));
        assert!(matches!(&picker.actions[2], Action::Fill { opts: ActOpts { optional: false, wait: Some(w) }, .. } if *w == Duration::from_secs(2)));
    }

    #[test]
    fn bad_flows_are_refused_with_the_place_at_fault() {
        let err = |t: &str| Flow::parse(t, "test").unwrap_err().message;
        assert!(Flow::parse(&minimal(""), "test").is_ok());
        let page = |body: &str| minimal(&format!("[[page]]\nid = \"p\"\n{body}\n"));
        // Unknown keys are refused by the parser, with line and column.
        let e = err(&page("when = { css = \"a\" }\ndo = [{ hover = \"a\" }]"));
        assert!(e.contains("hover") && e.contains("line"), "{e}");
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ optional = true }]")).contains("page 3 (p): action 1: an action has exactly one of"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ click = { css = \"a\" }, value = \"x\" }]")).contains("click does not take `option` or `value`"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ fill = \"$password\", into = { css = \"a\" } }]")).contains("unknown variable $password"));
        assert!(err(&page("when = { text = \"a\" }")).contains("give `css` too"));
        assert!(err(&page("when = {}")).contains("needs a condition"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ click = { css = \"a\", role = \"button\" } }]")).contains("exactly one of css, role"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ click = [], optional = true }]")).contains("at least one locator"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ navigate = \"$host/\" }]")).contains("unknown variable $host"));
        assert!(err(&page("when = { css = \"a\" }\nrequires = \"named\"")).contains("flag \"named\" is never set"));
        assert!(err(&page("when = { css = \"a\" }\ndo = [{ set = \"created\" }]")).contains("engine's own"));
        assert!(err(&page("when = { role = \"Button\" }")).contains("lower case"));
        assert!(err(&page("when = { css = \"a\" }\nbogus = 1")).contains("bogus"));
        assert!(err(&minimal("[[error]]\ncode = \"X\"\nmessage = \"m\"\n")).contains("no condition"));
        assert!(err(&minimal("[budget]\nstay_s = 600\n")).contains("never spend the whole budget"));
        assert!(err(&minimal("").replace("finish = true", "set = \"x\"")).contains("`finish`"));
        assert!(err(&minimal("").replace("expect_create = true", "restart = true")).contains("`expect_create`"));
        assert!(err(&minimal("").replace("format = 2", "format = 3")).contains("format 3 is not supported"));
        let dup = minimal("[[page]]\nid = \"end\"\nwhen = { css = \"b\" }\n");
        assert!(err(&dup).contains("used twice"));
    }

    #[test]
    fn a_format_1_file_is_told_how_to_migrate() {
        let old = "format = 1\nname = \"t\"\nversion = \"1\"\nstart_url = \"$portal\"\n[[step]]\naction = \"navigate\"\nurl = \"$portal/x\"\n";
        let e = Flow::parse(old, "old.toml").unwrap_err().to_string();
        assert!(e.contains("format 1 is not supported") && e.contains("[[page]]") && e.contains("old.toml"), "{e}");
    }
}
