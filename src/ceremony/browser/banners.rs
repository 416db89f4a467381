//! Matching a probed page against a flow: which page it is, and which known error it
//! shows.
//!
//! Every element a flow's pages and error rules look for becomes one [`Query`] of the
//! probe (deduplicated: the same locator is asked once per poll). [`QueryBook`] keeps
//! the queries and their positions, so matching a [`Match`] is a lookup.
//!
//! Error rules name a stable code (`KeyLimitReached`, `TapExpired`, ...) that becomes
//! `CeremonyError::Page { code }`, an operator-facing message to which the page's own
//! text is appended, and whether finishing by hand could help (`fallback`). A page error
//! that no rule knows — `$Config.iErrorCode` set or `strServiceExceptionMessage`
//! non-empty — becomes the generic `PageError` when the flow asks for it.
use super::flow::{ErrorRule, Flow, FlowVars, Locator, Match};
use super::page::{Answer, PageState, Query};
use std::collections::{HashMap, HashSet};

/// An error the page showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// The rule's code, or `PageError` for the generic case.
    pub code: String,
    /// Operator-facing text, including what the page said.
    pub message: String,
    /// Whether the manual mode may take over.
    pub fallback: bool,
    /// The rule holds because something is *missing* (`absent`): the engine raises it
    /// only once the page has stayed that way for a moment, since a page still being
    /// built (or replaced) lacks its elements too.
    pub by_absence: bool,
}

/// Code of the generic "the page showed an error" case.
pub const GENERIC_CODE: &str = "PageError";

/// The probe's queries for a flow, deduplicated.
#[derive(Debug, Clone, Default)]
pub struct QueryBook {
    queries: Vec<Query>,
    index: HashMap<Query, usize>,
}

impl QueryBook {
    /// Every query the flow's pages and error rules need.
    pub fn for_flow(flow: &Flow) -> QueryBook {
        let mut book = QueryBook::default();
        for p in &flow.pages {
            for m in &p.when {
                book.add_match(m, false);
            }
        }
        for r in &flow.errors {
            // An error container counts only once it shows a text.
            book.add_match(&r.when, true);
        }
        book
    }

    fn add_match(&mut self, m: &Match, need_text: bool) {
        for l in &m.present {
            self.add(Query { locator: l.clone(), need_text });
        }
        for l in &m.absent {
            self.add(Query { locator: l.clone(), need_text: false });
        }
    }

    /// Add a query (once); its position.
    pub fn add(&mut self, q: Query) -> usize {
        if let Some(i) = self.index.get(&q) {
            return *i;
        }
        self.queries.push(q.clone());
        self.index.insert(q, self.queries.len() - 1);
        self.queries.len() - 1
    }

    /// The queries, in probe order.
    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    fn answer<'a>(&self, answers: &'a [Answer], l: &Locator, need_text: bool) -> Option<&'a Answer> {
        self.index.get(&Query { locator: l.clone(), need_text }).and_then(|i| answers.get(*i))
    }

    /// Whether `m` holds for a probed page, and the text of its first present element.
    pub fn holds(&self, m: &Match, st: &PageState, vars: &FlowVars, need_text: bool) -> Option<String> {
        if !m.pgid.is_empty() && !st.pgid.as_ref().is_some_and(|p| m.pgid.contains(p)) {
            return None;
        }
        if !m.url_prefix.is_empty() && !m.url_prefix.iter().any(|u| st.url.starts_with(&vars.expand(u))) {
            return None;
        }
        if !m.i_error_code.is_empty() && !m.i_error_code.contains(&st.error_code) {
            return None;
        }
        if !m.banner_code.is_empty() && !m.banner_code.contains(&st.banner_code) {
            return None;
        }
        let mut first_text = None;
        for l in &m.present {
            let a = self.answer(&st.answers, l, need_text).filter(|a| a.found)?;
            first_text.get_or_insert_with(|| a.text.clone().unwrap_or_default());
        }
        // A document still being parsed lacks elements it will have: absence says
        // nothing yet.
        if !m.absent.is_empty() && st.ready == "loading" {
            return None;
        }
        if m.absent.iter().any(|l| self.answer(&st.answers, l, false).is_some_and(|a| a.found)) {
            return None;
        }
        Some(first_text.unwrap_or_default())
    }

    /// The first bad selector among the answers (a flow bug), with its message.
    pub fn bad_selector(&self, st: &PageState) -> Option<(String, String)> {
        st.answers.iter().zip(&self.queries).find_map(|(a, q)| {
            a.bad_selector.as_ref().map(|m| {
                let s = match &q.locator {
                    Locator::Css { selector, .. } => selector.clone(),
                    other => format!("{other:?}"),
                };
                (s, m.clone())
            })
        })
    }
}

/// The first rule the page state matches.
pub fn match_errors(flow: &Flow, book: &QueryBook, st: &PageState, vars: &FlowVars) -> Option<PageError> {
    for rule in &flow.errors {
        if let Some(page_text) = rule_matches(rule, book, st, vars) {
            let message = if page_text.is_empty() { rule.message.clone() } else { format!("{} (the page says: {page_text})", rule.message) };
            return Some(PageError { code: rule.code.clone(), message, fallback: rule.fallback, by_absence: !rule.when.absent.is_empty() });
        }
    }
    if flow.generic_page_errors && (st.error_code != 0 || !st.service_message.trim().is_empty()) {
        let said = st.service_message.trim();
        let message = match (st.error_code, said.is_empty()) {
            (0, _) => format!("the page showed an error: {said}"),
            (n, true) => format!("the page showed error {n}"),
            (n, false) => format!("the page showed error {n}: {said}"),
        };
        return Some(PageError { code: GENERIC_CODE.into(), message, fallback: true, by_absence: false });
    }
    None
}

/// `Some(text the page showed)` when every condition of the rule holds.
fn rule_matches(rule: &ErrorRule, book: &QueryBook, st: &PageState, vars: &FlowVars) -> Option<String> {
    let element_text = book.holds(&rule.when, st, vars, true)?;
    // $Config first: a rule without an element quotes the service message.
    let text = if rule.when.present.is_empty() { st.service_message.trim().to_string() } else { element_text };
    if !rule.contains.is_empty() {
        let lower = text.to_lowercase();
        if !rule.contains.iter().any(|t| lower.contains(&t.to_lowercase())) {
            return None;
        }
    }
    Some(text)
}

/// The pages whose conditions hold, in flow order, given the flags set so far.
pub fn recognise(flow: &Flow, book: &QueryBook, st: &PageState, vars: &FlowVars, flags: &HashSet<String>) -> Option<usize> {
    flow.pages.iter().position(|p| {
        p.requires.iter().all(|f| flags.contains(f))
            && !p.unless.iter().any(|f| flags.contains(f))
            && p.when.iter().any(|m| book.holds(m, st, vars, false).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::browser::flow::{BuiltinFlow, Flow};

    fn vars() -> FlowVars {
        FlowVars { portal: "https://mysignins.microsoft.com".into(), login: "https://login.microsoftonline.com".into(), tenant: "t".into() }
    }

    fn state(book: &QueryBook, url: &str, pgid: &str, code: i64, msg: &str, shown: &[(&str, &str)]) -> PageState {
        let answers = book
            .queries()
            .iter()
            .map(|q| {
                let hit = shown.iter().find(|(sel, _)| matches!(&q.locator, Locator::Css { selector, .. } if selector == sel));
                match hit {
                    Some((_, text)) if !q.need_text || !text.is_empty() => Answer { found: true, text: Some(text.to_string()), enabled: true, bad_selector: None },
                    _ => Answer::default(),
                }
            })
            .collect();
        PageState { url: url.into(), ready: "complete".into(), pgid: (!pgid.is_empty()).then(|| pgid.into()), error_code: code, service_message: msg.into(), answers, ..Default::default() }
    }

    #[test]
    fn config_codes_come_before_display_text() {
        let f = Flow::builtin(BuiltinFlow::Microsoft);
        let book = QueryBook::for_flow(&f);
        let st = state(&book, "https://login.microsoftonline.com/t/login", "ConvergedTFA", 130504, "Your Temporary Access Pass has expired.", &[]);
        let e = match_errors(&f, &book, &st, &vars()).unwrap();
        assert_eq!(e.code, "TapExpired");
        assert!(e.message.contains("has expired") && !e.fallback, "{e:?}");
        let st = state(&book, "https://login.microsoftonline.com/t/login", "ConvergedTFA", 130507, "An access pass could not be found or verified for the user.", &[]);
        assert_eq!(match_errors(&f, &book, &st, &vars()).unwrap().code, "TapInvalid");
    }

    #[test]
    fn proof_up_is_an_error_only_when_it_cannot_be_skipped() {
        let f = Flow::builtin(BuiltinFlow::Microsoft);
        let book = QueryBook::for_flow(&f);
        let mandatory = state(&book, "https://login.microsoftonline.com/t/login", "ConvergedProofUpRedirect", 0, "", &[]);
        let e = match_errors(&f, &book, &mandatory, &vars()).unwrap();
        assert_eq!((e.code.as_str(), e.by_absence), ("ProofUpRequired", true));
        // Still being parsed: the skip link may come yet, so nothing is decided.
        let loading = PageState { ready: "loading".into(), ..mandatory.clone() };
        assert_eq!(match_errors(&f, &book, &loading, &vars()), None);
        let skippable = state(&book, "https://login.microsoftonline.com/t/login", "ConvergedProofUpRedirect", 0, "", &[("#btnAskLater", "Skip for now")]);
        assert_eq!(match_errors(&f, &book, &skippable, &vars()), None);
        let page = recognise(&f, &book, &skippable, &vars(), &HashSet::new()).map(|i| f.pages[i].id.clone());
        assert_eq!(page.as_deref(), Some("proof-up-skippable"));
    }

    #[test]
    fn unknown_errors_are_generic() {
        let f = Flow::builtin(BuiltinFlow::Simulator);
        let book = QueryBook::for_flow(&f);
        let st = state(&book, "http://localhost:1/t/x", "ConvergedError", 90100, "The request is unknown.", &[]);
        let e = match_errors(&f, &book, &st, &vars()).unwrap();
        assert_eq!(e.code, GENERIC_CODE);
        assert!(e.message.contains("90100") && e.message.contains("unknown") && e.fallback);
    }

    #[test]
    fn the_same_locator_is_asked_once() {
        let f = Flow::builtin(BuiltinFlow::Microsoft);
        let book = QueryBook::for_flow(&f);
        let set: HashSet<&Query> = book.queries().iter().collect();
        assert_eq!(set.len(), book.queries().len());
    }
}
