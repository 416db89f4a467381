//! Flow descriptions: the click path of the automatic mode as versioned data.
//!
//! A flow is a TOML document (format in `docs/browser-flows.md`) with a list of steps
//! (`navigate`, `wait_for`, `fill`, `click`, `choose`, `expect_create`) and a list of
//! known error banners. Two flows are built in and embedded in the binary: `microsoft`
//! (Entra ID) and `simulator` (keystation's Entra simulator); a station may load its
//! own file when Microsoft changes its pages. Everything is checked when the flow is
//! loaded, so a broken file is refused with the step and field at fault rather than
//! failing half-way through an enrolment.
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The flow format this keystation understands.
pub const FLOW_FORMAT: u32 = 1;

/// The built-in flow for Microsoft Entra ID.
pub const MICROSOFT_FLOW: &str = include_str!("flows/microsoft.toml");
/// The built-in flow for keystation's Entra simulator.
pub const SIMULATOR_FLOW: &str = include_str!("flows/simulator.toml");

/// A validated flow description.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Short name (`microsoft`, `simulator`, ...).
    pub name: String,
    /// The flow's own version (bumped when the click path changes).
    pub version: String,
    /// One line for people.
    pub description: String,
    /// Where the manual mode opens the window (a URL template).
    pub start_url: String,
    /// Default per-step timeout.
    pub step_timeout: Duration,
    /// Top-level origins (templates) under which a cross-origin frame may run the
    /// ceremony.
    pub cross_origin_frames_under: Vec<String>,
    /// Report `$Config.iErrorCode` / `strServiceExceptionMessage` that no rule matched
    /// as a generic page error.
    pub generic_page_errors: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Known errors, first match wins.
    pub errors: Vec<ErrorRule>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Name used in progress notes, the step log and screenshot file names.
    pub id: String,
    /// What to do.
    pub action: Action,
    /// How long the step may take.
    pub timeout: Duration,
    /// Skip the step (instead of failing) when its element does not show up in time.
    pub optional: bool,
    /// Run the step only when the current page's `$Config.pgid` is one of these.
    pub if_pgid: Vec<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Load a URL (template) in the tab.
    Navigate {
        /// URL template.
        url: String,
    },
    /// Wait until the page is in a state: all of `all`, or any of `any`.
    WaitFor {
        /// Alternatives; one must hold.
        any: Vec<Condition>,
    },
    /// Type a value into an input.
    Fill {
        /// CSS selector of the (visible) input.
        selector: String,
        /// What to type.
        value: FillValue,
    },
    /// Click an element.
    Click {
        /// CSS selector.
        selector: String,
        /// Only elements whose visible text (or value) is one of these (case-insensitive).
        text: Vec<String>,
    },
    /// Open a combobox and pick an option.
    Choose {
        /// CSS selector of the combobox (`[role=combobox]` or a `<select>`).
        combobox: String,
        /// Option texts, tried in order.
        option: Vec<String>,
        /// Option value (`value`, `data-value` or `data-type` attribute).
        value: Option<String>,
    },
    /// The page is about to call `navigator.credentials.create`: wait for it (stuck
    /// detector) and for the ceremony's outcome.
    ExpectCreate {
        /// The create() call must arrive within this time.
        start_within: Duration,
        /// The ceremony (PIN, touch) must finish within this time.
        finish_within: Duration,
    },
}

/// A page state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Condition {
    /// A visible element matching this CSS selector exists.
    pub selector: Option<String>,
    /// ... whose text is one of these.
    pub text: Vec<String>,
    /// `$Config.pgid` is one of these.
    pub pgid: Vec<String>,
    /// The tab's URL starts with this (template).
    pub url_prefix: Option<String>,
}

impl Condition {
    fn is_empty(&self) -> bool {
        self.selector.is_none() && self.pgid.is_empty() && self.url_prefix.is_none()
    }
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
    /// `$Config.pgid` is one of these.
    pub pgid: Vec<String>,
    /// `$Config.iErrorCode` is one of these.
    pub i_error_code: Vec<i64>,
    /// `$Config.sBannerCode` is one of these.
    pub banner_code: Vec<String>,
    /// A visible element with text matches this CSS selector.
    pub selector: Option<String>,
    /// The element's text (or, without a selector, `strServiceExceptionMessage`)
    /// contains one of these (case-insensitive).
    pub text: Vec<String>,
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
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn list(v: Option<OneOrMany>) -> Vec<String> {
    v.map(OneOrMany::into_vec).unwrap_or_default()
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
    step_timeout_s: Option<u64>,
    #[serde(default)]
    cross_origin_frames_under: Vec<String>,
    #[serde(default)]
    generic_page_errors: bool,
    #[serde(default)]
    step: Vec<RawStep>,
    #[serde(default)]
    error: Vec<RawError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    selector: Option<String>,
    text: Option<OneOrMany>,
    pgid: Option<OneOrMany>,
    url_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<String>,
    action: String,
    url: Option<String>,
    selector: Option<String>,
    text: Option<OneOrMany>,
    value: Option<String>,
    combobox: Option<String>,
    option: Option<OneOrMany>,
    pgid: Option<OneOrMany>,
    url_prefix: Option<String>,
    any: Option<Vec<RawCondition>>,
    if_pgid: Option<OneOrMany>,
    #[serde(default)]
    optional: bool,
    timeout_s: Option<u64>,
    start_within_s: Option<u64>,
    finish_within_s: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawError {
    code: String,
    message: String,
    #[serde(default)]
    fallback: bool,
    pgid: Option<OneOrMany>,
    #[serde(default)]
    i_error_code: Vec<i64>,
    banner_code: Option<OneOrMany>,
    selector: Option<String>,
    text: Option<OneOrMany>,
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
        let raw: RawFlow = toml::from_str(text).map_err(|e| fail(format!("not a valid flow description: {e}")))?;
        if raw.format != FLOW_FORMAT {
            return Err(fail(format!(
                "format {} is not supported (this keystation reads format {FLOW_FORMAT}); use a flow file written for this version",
                raw.format
            )));
        }
        check_template(&raw.start_url).map_err(|m| fail(format!("start_url: {m}")))?;
        for o in &raw.cross_origin_frames_under {
            check_template(o).map_err(|m| fail(format!("cross_origin_frames_under: {m}")))?;
        }
        let step_timeout = Duration::from_secs(raw.step_timeout_s.unwrap_or(30).max(1));
        let mut steps = Vec::new();
        let mut ids = HashSet::new();
        for (i, s) in raw.step.into_iter().enumerate() {
            let n = i + 1;
            let step = convert_step(s, n, step_timeout).map_err(|m| fail(format!("step {n}: {m}")))?;
            if !ids.insert(step.id.clone()) {
                return Err(fail(format!("step {n}: the id {:?} is used twice; ids name screenshots and must be unique", step.id)));
            }
            steps.push(step);
        }
        let creates = steps.iter().filter(|s| matches!(s.action, Action::ExpectCreate { .. })).count();
        if creates != 1 {
            return Err(fail(format!(
                "has {creates} expect_create steps; a flow needs exactly one (the step after which the page calls navigator.credentials.create)"
            )));
        }
        if !matches!(steps.first().map(|s| &s.action), Some(Action::Navigate { .. })) {
            return Err(fail("the first step must be a navigate step".into()));
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
            step_timeout,
            cross_origin_frames_under: raw.cross_origin_frames_under,
            generic_page_errors: raw.generic_page_errors,
            steps,
            errors,
        })
    }
}

fn convert_step(s: RawStep, n: usize, default_timeout: Duration) -> Result<Step, String> {
    let action_name = s.action.clone();
    let id = s.id.clone().unwrap_or_else(|| format!("{}-{n}", s.action));
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("id {id:?} may only use letters, digits, '-' and '_'"));
    }
    // Fields each action accepts besides id/action/if_pgid/optional/timeout_s.
    let allowed: &[&str] = match s.action.as_str() {
        "navigate" => &["url"],
        "wait_for" => &["selector", "text", "pgid", "url_prefix", "any"],
        "fill" => &["selector", "value"],
        "click" => &["selector", "text"],
        "choose" => &["combobox", "option", "value"],
        "expect_create" => &["start_within_s", "finish_within_s"],
        other => {
            return Err(format!(
                "unknown action {other:?}; use navigate, wait_for, fill, click, choose or expect_create"
            ));
        }
    };
    let present = [
        ("url", s.url.is_some()),
        ("selector", s.selector.is_some()),
        ("text", s.text.is_some()),
        ("value", s.value.is_some()),
        ("combobox", s.combobox.is_some()),
        ("option", s.option.is_some()),
        ("pgid", s.pgid.is_some()),
        ("url_prefix", s.url_prefix.is_some()),
        ("any", s.any.is_some()),
        ("start_within_s", s.start_within_s.is_some()),
        ("finish_within_s", s.finish_within_s.is_some()),
    ];
    if let Some((field, _)) = present.iter().find(|(f, p)| *p && !allowed.contains(f)) {
        return Err(format!("{action_name} does not take `{field}` (it takes: {})", allowed.join(", ")));
    }
    let need = |v: Option<String>, field: &str| v.filter(|x| !x.trim().is_empty()).ok_or_else(|| format!("{action_name} needs `{field}`"));
    let action = match s.action.as_str() {
        "navigate" => {
            let url = need(s.url, "url")?;
            check_template(&url)?;
            Action::Navigate { url }
        }
        "wait_for" => {
            let own = Condition { selector: s.selector, text: list(s.text), pgid: list(s.pgid), url_prefix: s.url_prefix };
            let mut any = Vec::new();
            if let Some(alts) = s.any {
                if !own.is_empty() {
                    return Err("wait_for takes either its own selector/pgid/url_prefix or `any`, not both".into());
                }
                for a in alts {
                    let c = Condition { selector: a.selector, text: list(a.text), pgid: list(a.pgid), url_prefix: a.url_prefix };
                    if c.is_empty() {
                        return Err("every `any` entry needs a selector, pgid or url_prefix".into());
                    }
                    any.push(c);
                }
            } else if own.is_empty() {
                return Err("wait_for needs a selector, pgid, url_prefix or `any`".into());
            } else {
                any.push(own);
            }
            for c in &any {
                if let Some(u) = &c.url_prefix {
                    check_template(u)?;
                }
                if !c.text.is_empty() && c.selector.is_none() {
                    return Err("`text` filters a selector's elements; give a selector too".into());
                }
            }
            Action::WaitFor { any }
        }
        "fill" => {
            let selector = need(s.selector, "selector")?;
            let value = match need(s.value, "value")?.as_str() {
                "$upn" => FillValue::Upn,
                "$tap" => FillValue::Tap,
                "$display_name" => FillValue::DisplayName,
                v if v.starts_with('$') => return Err(format!("unknown variable {v}; fill knows $upn, $tap and $display_name")),
                v => FillValue::Literal(v.to_string()),
            };
            Action::Fill { selector, value }
        }
        "click" => Action::Click { selector: need(s.selector, "selector")?, text: list(s.text) },
        "choose" => {
            let combobox = need(s.combobox, "combobox")?;
            let option = list(s.option);
            if option.is_empty() && s.value.is_none() {
                return Err("choose needs `option` (texts) or `value`".into());
            }
            Action::Choose { combobox, option, value: s.value }
        }
        "expect_create" => Action::ExpectCreate {
            start_within: Duration::from_secs(s.start_within_s.unwrap_or(30).max(1)),
            finish_within: Duration::from_secs(s.finish_within_s.unwrap_or(240).max(1)),
        },
        _ => unreachable!("checked above"),
    };
    if s.optional && matches!(action, Action::Navigate { .. } | Action::ExpectCreate { .. }) {
        return Err(format!("{action_name} cannot be optional"));
    }
    Ok(Step {
        id,
        action,
        timeout: s.timeout_s.map(|t| Duration::from_secs(t.max(1))).unwrap_or(default_timeout),
        optional: s.optional,
        if_pgid: list(s.if_pgid),
    })
}

fn convert_error(e: RawError) -> Result<ErrorRule, String> {
    if e.code.is_empty() || !e.code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("code {:?} must be letters and digits (e.g. KeyLimitReached)", e.code));
    }
    if e.message.trim().is_empty() {
        return Err(format!("{} needs a message for the operator", e.code));
    }
    let rule = ErrorRule {
        code: e.code,
        message: e.message,
        fallback: e.fallback,
        pgid: list(e.pgid),
        i_error_code: e.i_error_code,
        banner_code: list(e.banner_code),
        selector: e.selector,
        text: list(e.text),
    };
    if rule.pgid.is_empty() && rule.i_error_code.is_empty() && rule.banner_code.is_empty() && rule.selector.is_none() && rule.text.is_empty() {
        return Err(format!("{} has no condition (pgid, i_error_code, banner_code, selector or text)", rule.code));
    }
    Ok(rule)
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
            assert!(f.steps.len() > 10, "{}", f.name);
            assert!(f.errors.iter().any(|e| e.code == "KeyLimitReached"));
            assert!(f.errors.iter().any(|e| e.code == "TapInvalid"));
            assert!(f.steps.iter().any(|s| matches!(s.action, Action::Fill { value: FillValue::Tap, .. })));
            assert!(f.steps.iter().any(|s| matches!(s.action, Action::Fill { value: FillValue::DisplayName, .. })));
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

    fn minimal(extra_step: &str) -> String {
        format!(
            "format = 1\nname = \"t\"\nversion = \"1\"\nstart_url = \"$portal\"\n\
[[step]]\naction = \"navigate\"\nurl = \"$portal/x\"\n\
[[step]]\naction = \"expect_create\"\n{extra_step}"
        )
    }

    #[test]
    fn bad_flows_are_refused_with_the_place_at_fault() {
        let err = |t: &str| Flow::parse(t, "test").unwrap_err().message;
        assert!(Flow::parse(&minimal(""), "test").is_ok());
        assert!(err(&minimal("[[step]]\naction = \"hover\"\nselector = \"a\"\n")).contains("step 3: unknown action \"hover\""));
        assert!(err(&minimal("[[step]]\naction = \"click\"\nvalue = \"a\"\n")).contains("step 3: click does not take `value`"));
        assert!(err(&minimal("[[step]]\naction = \"fill\"\nselector = \"a\"\nvalue = \"$password\"\n")).contains("unknown variable $password"));
        assert!(err(&minimal("[[step]]\naction = \"wait_for\"\n")).contains("needs a selector"));
        assert!(err(&minimal("[[step]]\naction = \"expect_create\"\n")).contains("2 expect_create"));
        assert!(err(&minimal("[[step]]\naction = \"navigate\"\nurl = \"$host/\"\n")).contains("unknown variable $host"));
        assert!(err(&minimal("[[error]]\ncode = \"X\"\nmessage = \"m\"\n")).contains("no condition"));
        assert!(err(&minimal("[[step]]\naction = \"click\"\nselector = \"a\"\nbogus = 1\n")).contains("bogus"));
        assert!(err(&minimal("").replace("format = 1", "format = 2")).contains("format 2 is not supported"));
        let dup = minimal("[[step]]\nid = \"a\"\naction = \"click\"\nselector = \"a\"\n[[step]]\nid = \"a\"\naction = \"click\"\nselector = \"b\"\n");
        assert!(err(&dup).contains("used twice"));
    }
}
