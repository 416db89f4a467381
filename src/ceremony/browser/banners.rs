//! Known error banners: match a page's state against a flow's error rules.
//!
//! Rules come from the flow description (data). Each rule names a stable code
//! (`KeyLimitReached`, `TapExpired`, ...) that becomes `CeremonyError::Page { code }`,
//! an operator-facing message to which the page's own text is appended, and whether
//! finishing by hand could help (`fallback`). A page error that no rule knows —
//! `$Config.iErrorCode` set or `strServiceExceptionMessage` non-empty — becomes the
//! generic `PageError` when the flow asks for it.
use super::flow::{ErrorRule, Flow};
use super::page::{Lookup, PageState};

/// An error the page showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// The rule's code, or `PageError` for the generic case.
    pub code: String,
    /// Operator-facing text, including what the page said.
    pub message: String,
    /// Whether the manual mode may take over.
    pub fallback: bool,
}

/// Code of the generic "the page showed an error" case.
pub const GENERIC_CODE: &str = "PageError";

/// The element lookups the error rules need, in rule order (rules without a selector
/// get none). Pair them with [`match_errors`].
pub fn lookups(flow: &Flow) -> Vec<Lookup> {
    flow.errors
        .iter()
        .filter_map(|r| r.selector.as_ref().map(|s| Lookup { selector: s.clone(), text: Vec::new(), need_text: true }))
        .collect()
}

/// The first rule the page state matches. `error_lookups` are the probe's answers to
/// [`lookups`] (same order).
pub fn match_errors(flow: &Flow, state: &PageState, error_lookups: &[super::page::LookupResult]) -> Option<PageError> {
    let mut answers = error_lookups.iter();
    for rule in &flow.errors {
        let element_text = if rule.selector.is_some() {
            match answers.next() {
                Some(a) if a.found => Some(a.text.clone().unwrap_or_default()),
                _ => None,
            }
        } else {
            None
        };
        if let Some(page_text) = rule_matches(rule, state, element_text) {
            let message = if page_text.is_empty() { rule.message.clone() } else { format!("{} (the page says: {page_text})", rule.message) };
            return Some(PageError { code: rule.code.clone(), message, fallback: rule.fallback });
        }
    }
    if flow.generic_page_errors && (state.error_code != 0 || !state.service_message.trim().is_empty()) {
        let said = state.service_message.trim();
        let message = match (state.error_code, said.is_empty()) {
            (0, _) => format!("the page showed an error: {said}"),
            (n, true) => format!("the page showed error {n}"),
            (n, false) => format!("the page showed error {n}: {said}"),
        };
        return Some(PageError { code: GENERIC_CODE.into(), message, fallback: true });
    }
    None
}

/// `Some(text the page showed)` when every condition of the rule holds.
fn rule_matches(rule: &ErrorRule, state: &PageState, element_text: Option<String>) -> Option<String> {
    if !rule.pgid.is_empty() && !state.pgid.as_ref().is_some_and(|p| rule.pgid.contains(p)) {
        return None;
    }
    if !rule.i_error_code.is_empty() && !rule.i_error_code.contains(&state.error_code) {
        return None;
    }
    if !rule.banner_code.is_empty() && !rule.banner_code.contains(&state.banner_code) {
        return None;
    }
    let text = match (&rule.selector, element_text) {
        (Some(_), None) => return None,
        (Some(_), Some(t)) => t,
        (None, _) => state.service_message.trim().to_string(),
    };
    if !rule.text.is_empty() {
        let lower = text.to_lowercase();
        if !rule.text.iter().any(|t| lower.contains(&t.to_lowercase())) {
            return None;
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::browser::flow::{BuiltinFlow, Flow};
    use crate::ceremony::browser::page::LookupResult;

    fn state(pgid: &str, code: i64, msg: &str, banner: &str) -> PageState {
        PageState { url: "u".into(), ready: "complete".into(), pgid: Some(pgid.into()), error_code: code, service_message: msg.into(), banner_code: banner.into(), lookups: vec![] }
    }

    fn none(flow: &Flow) -> Vec<LookupResult> {
        lookups(flow).iter().map(|_| LookupResult::default()).collect()
    }

    #[test]
    fn simulator_rules_map_the_simulator_errors() {
        let f = Flow::builtin(BuiltinFlow::Simulator);
        let e = match_errors(&f, &state("ConvergedTFA", 130502, "Your Temporary Access Pass has expired.", ""), &none(&f)).unwrap();
        assert_eq!(e.code, "TapExpired");
        assert!(e.message.contains("has expired") && !e.fallback);
        let e = match_errors(&f, &state("SecurityInfo", 0, "", "KeyLimitReached"), &none(&f)).unwrap();
        assert_eq!(e.code, "KeyLimitReached");
        assert!(match_errors(&f, &state("SecurityInfo", 0, "", ""), &none(&f)).is_none());
        assert_eq!(match_errors(&f, &state("ConvergedProofUpRedirect", 0, "", ""), &none(&f)).unwrap().code, "ProofUpRequired");
        // The banner shown by the page script after /new refused (text only).
        let mut answers = none(&f);
        let idx = f.errors.iter().filter(|r| r.selector.is_some()).position(|r| r.code == "KeyLimitReached").unwrap();
        answers[idx] = LookupResult { found: true, text: Some("You have already reached the limit of 2 security keys.".into()), enabled: true, bad_selector: None };
        // Every selector rule before it looks at the same #ms-banner in the real page;
        // here only this one answers, and it wins over the generic banner rule.
        let e = match_errors(&f, &state("SecurityInfo", 0, "", ""), &answers).unwrap();
        assert_eq!(e.code, "KeyLimitReached");
        assert!(e.message.contains("limit of 2"));
    }

    #[test]
    fn unknown_errors_are_generic() {
        let f = Flow::builtin(BuiltinFlow::Simulator);
        let e = match_errors(&f, &state("ConvergedError", 90100, "The request is unknown.", ""), &none(&f)).unwrap();
        assert_eq!(e.code, GENERIC_CODE);
        assert!(e.message.contains("90100") && e.message.contains("unknown") && e.fallback);
    }
}
