//! The display name a key gets in Entra, from a template like `"{model} {serial}"`.
//!
//! Entra refuses fido2Method display names longer than 30 characters, so a template is
//! checked when the configuration loads: its literal text, its fixed-width placeholders
//! and the smallest useful width of every stretchable placeholder must fit in 30.
//! Rendering then always fits: the model name is shortened first (full name → without
//! the parenthesised profile → the short name → cut at a word → cut), then the vendor,
//! the UPN (→ its local part → cut) and the user name, and the serial last (keeping its
//! last characters, which tell keys apart). Widths are counted in UTF-16 code units, as
//! Entra's .NET back end counts string length; for ASCII that is the character count.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Entra's limit on a fido2Method display name.
pub const DISPLAY_NAME_MAX: usize = 30;

/// A placeholder in a display-name template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `{model}`: model name from the AAGUID table (or the key's product string).
    Model,
    /// `{vendor}`: manufacturer.
    Vendor,
    /// `{serial}`: the key's serial number when known, else empty.
    Serial,
    /// `{aaguid8}`: first 8 hex digits of the AAGUID.
    Aaguid8,
    /// `{upn}`: the user's UPN.
    Upn,
    /// `{user}`: the UPN's part before `@`.
    User,
    /// `{date}`: enrolment date, `YYYY-MM-DD`.
    Date,
}

impl Field {
    const ALL: [(&'static str, Field); 7] = [
        ("model", Field::Model),
        ("vendor", Field::Vendor),
        ("serial", Field::Serial),
        ("aaguid8", Field::Aaguid8),
        ("upn", Field::Upn),
        ("user", Field::User),
        ("date", Field::Date),
    ];

    /// Width the field is guaranteed to shrink to (fixed fields: their width).
    fn min_width(self) -> usize {
        match self {
            Field::Model => 4,
            Field::Vendor => 3,
            Field::Serial => 4,
            Field::Aaguid8 => 8,
            Field::Upn | Field::User => 6,
            Field::Date => 10,
        }
    }

    fn name(self) -> &'static str {
        Field::ALL.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

/// A parsed, validated display-name template. `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayNameTemplate {
    source: String,
    parts: Vec<Part>,
}

/// Values a template is rendered with. Missing values render empty (a missing model
/// renders as "Security key").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayNameInput {
    /// Full model name.
    pub model_name: Option<String>,
    /// Short model name (from the AAGUID table).
    pub model_short: Option<String>,
    /// Manufacturer.
    pub vendor: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// AAGUID, canonical form.
    pub aaguid: Option<String>,
    /// User principal name.
    pub upn: Option<String>,
    /// Enrolment date.
    pub date: Option<NaiveDate>,
}

/// Width as Entra counts it.
pub fn width(s: &str) -> usize {
    s.encode_utf16().count()
}

fn cut_to_width(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if width(&out) + c.len_utf16() > max {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

fn keep_tail(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut start = chars.len();
    let mut w = 0;
    while start > 0 && w + chars[start - 1].len_utf16() <= max {
        start -= 1;
        w += chars[start].len_utf16();
    }
    chars[start..].iter().collect()
}

fn cut_at_word(s: &str, max: usize) -> Option<String> {
    let mut best = None;
    let mut acc = String::new();
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            acc.push(' ');
        }
        acc.push_str(word);
        if width(&acc) <= max {
            best = Some(acc.clone());
        } else {
            break;
        }
    }
    best
}

fn without_parenthetical(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_value(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

impl DisplayNameTemplate {
    /// Parse and validate. Errors say which placeholder is unknown or by how much the
    /// template cannot fit in 30 characters.
    pub fn parse(source: &str) -> Result<DisplayNameTemplate, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for n in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(format!("`{source}` has a `{{` without its `}}`; write `{{{{` for a literal brace"));
                    }
                    let field = Field::ALL.iter().find(|(n, _)| *n == name.trim()).map(|(_, f)| *f).ok_or_else(|| {
                        let names: Vec<_> = Field::ALL.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                        format!("unknown placeholder `{{{name}}}`; allowed: {}", names.join(", "))
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field));
                }
                '}' => return Err(format!("`{source}` has a `}}` without its `{{`; write `}}}}` for a literal brace")),
                c if c.is_control() => return Err("the template contains a control character (tab, newline…)".to_string()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let t = DisplayNameTemplate { source: source.to_string(), parts };
        let least = t.least_width();
        if least == 0 {
            return Err("the template is empty; use for example \"{model} {serial}\"".to_string());
        }
        if least > DISPLAY_NAME_MAX {
            let detail: Vec<String> = t
                .parts
                .iter()
                .map(|p| match p {
                    Part::Literal(l) => format!("{} for {l:?}", width(l)),
                    Part::Field(f) => format!("{} for {{{}}}", f.min_width(), f.name()),
                })
                .collect();
            return Err(format!(
                "`{source}` cannot fit Entra's {DISPLAY_NAME_MAX}-character limit: even shortened it needs {least} ({}); remove text or placeholders",
                detail.join(" + ")
            ));
        }
        Ok(t)
    }

    /// The template text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn least_width(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => width(l),
                Part::Field(f) => f.min_width(),
            })
            .sum()
    }

    /// Render within 30 characters.
    pub fn render(&self, input: &DisplayNameInput) -> String {
        self.render_within(input, DISPLAY_NAME_MAX)
    }

    /// Render a name that `is_taken` does not reject, adding " 2", " 3"… when the plain
    /// rendering is already used by one of the user's methods (so that a method is
    /// recognisable by AAGUID + display name when reconciling after a crash).
    pub fn render_distinct(&self, input: &DisplayNameInput, is_taken: impl Fn(&str) -> bool) -> String {
        let first = self.render(input);
        if !is_taken(&first) {
            return first;
        }
        for n in 2..1000 {
            let suffix = format!(" {n}");
            let base = self.render_within(input, DISPLAY_NAME_MAX - width(&suffix));
            let candidate = format!("{}{suffix}", cut_to_width(&base, DISPLAY_NAME_MAX - width(&suffix)));
            if !is_taken(&candidate) {
                return candidate;
            }
        }
        first
    }

    fn render_within(&self, input: &DisplayNameInput, max: usize) -> String {
        let upn = input.upn.as_deref().map(clean_value).unwrap_or_default();
        let user = upn.split('@').next().unwrap_or_default().to_string();
        let model_full = input.model_name.as_deref().map(clean_value).filter(|s| !s.is_empty());
        let model_short = input.model_short.as_deref().map(clean_value).filter(|s| !s.is_empty());
        let model = model_full.clone().or_else(|| model_short.clone()).unwrap_or_else(|| "Security key".to_string());
        let mut values: Vec<String> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.clone(),
                Part::Field(Field::Model) => model.clone(),
                Part::Field(Field::Vendor) => input.vendor.as_deref().map(clean_value).unwrap_or_default(),
                Part::Field(Field::Serial) => input.serial.as_deref().map(clean_value).unwrap_or_default(),
                Part::Field(Field::Aaguid8) => input.aaguid.as_deref().map(|a| a.chars().filter(|c| *c != '-').take(8).collect()).unwrap_or_default(),
                Part::Field(Field::Upn) => upn.clone(),
                Part::Field(Field::User) => user.clone(),
                Part::Field(Field::Date) => input.date.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            })
            .collect();
        let total = |v: &[String]| v.iter().map(|s| width(s)).sum::<usize>();
        // Phase 1, nothing lost that matters: a shorter spelling of the model, the UPN's
        // local part.
        for i in 0..self.parts.len() {
            let excess = total(&values).saturating_sub(max);
            if excess == 0 {
                break;
            }
            match self.parts[i] {
                Part::Field(Field::Model) => {
                    let target = width(&values[i]).saturating_sub(excess);
                    values[i] = model_spelling(&model, model_short.as_deref(), target);
                }
                Part::Field(Field::Upn) => values[i] = user.clone(),
                _ => {}
            }
        }
        // Phase 2, cuts, in order of least harm; a field never goes below its minimum
        // width, which the template check reserved.
        for field in [Field::Model, Field::Vendor, Field::Upn, Field::User, Field::Serial] {
            for i in 0..self.parts.len() {
                let excess = total(&values).saturating_sub(max);
                if excess == 0 {
                    break;
                }
                if self.parts[i] != Part::Field(field) {
                    continue;
                }
                let current = width(&values[i]);
                let target = current.saturating_sub(excess).max(field.min_width().min(current));
                values[i] = match field {
                    Field::Model => cut_at_word(&values[i], target).unwrap_or_else(|| cut_to_width(&values[i], target)),
                    Field::Serial => keep_tail(&values[i], target),
                    _ => cut_to_width(&values[i], target),
                };
            }
        }
        let mut joined = tidy(&values.concat());
        if joined.is_empty() {
            // Every placeholder was empty (e.g. "{serial}" for a key without a serial).
            joined = model_spelling(&model, model_short.as_deref(), max);
        }
        // The template check guarantees the fit; cutting here only guards against a
        // future placeholder that forgets its minimum width.
        cut_to_width(&joined, max)
    }
}

/// The longest of the model's spellings (full, without the parenthesised profile,
/// short) that fits `target`, else the shortest one; never cut.
fn model_spelling(full: &str, short: Option<&str>, target: usize) -> String {
    let mut candidates = vec![full.to_string(), without_parenthetical(full)];
    if let Some(s) = short {
        candidates.push(s.to_string());
    }
    candidates.retain(|c| !c.is_empty());
    if let Some(c) = candidates.iter().find(|c| width(c) <= target) {
        return c.clone();
    }
    candidates.into_iter().min_by_key(|c| width(c)).unwrap_or_else(|| full.to_string())
}

/// Collapse the gaps left by empty placeholders: runs of spaces, empty brackets, and
/// separators dangling at either end.
fn tidy(s: &str) -> String {
    let mut t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    for empty in ["()", "[]", "( )", "[ ]"] {
        t = t.replace(empty, "");
    }
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    t.trim_matches(|c: char| c.is_whitespace() || "-_/|,:;·".contains(c)).to_string()
}

impl fmt::Display for DisplayNameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Default for DisplayNameTemplate {
    fn default() -> Self {
        DisplayNameTemplate::parse("{model} {serial}").unwrap_or(DisplayNameTemplate {
            source: "{model}".into(),
            parts: vec![Part::Field(Field::Model)],
        })
    }
}

impl TryFrom<String> for DisplayNameTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DisplayNameTemplate::parse(&s)
    }
}

impl From<DisplayNameTemplate> for String {
    fn from(t: DisplayNameTemplate) -> String {
        t.source
    }
}

impl Serialize for DisplayNameTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for DisplayNameTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DisplayNameTemplate::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> DisplayNameInput {
        DisplayNameInput {
            model_name: Some("YubiKey 5 Series with NFC (Enterprise Profile)".into()),
            model_short: Some("YubiKey 5 NFC".into()),
            vendor: Some("Yubico".into()),
            serial: Some("23456789".into()),
            aaguid: Some("1ac71f64-468d-4fe0-bef1-0e5f2f551f18".into()),
            upn: Some("alexandra.longname@contoso.onmicrosoft.com".into()),
            date: NaiveDate::from_ymd_opt(2026, 3, 14),
        }
    }

    fn render(t: &str, i: &DisplayNameInput) -> String {
        let out = DisplayNameTemplate::parse(t).unwrap().render(i);
        assert!(width(&out) <= DISPLAY_NAME_MAX, "{t} -> {out:?} is {} wide", width(&out));
        out
    }

    #[test]
    fn model_is_shortened_smartly() {
        let i = input();
        assert_eq!(render("{model}", &i), "YubiKey 5 Series with NFC");
        assert_eq!(render("{model} {serial}", &i), "YubiKey 5 NFC 23456789");
        assert_eq!(render("{model} {serial} {date}", &i), "YubiKey 5 23456789 2026-03-14");
        assert_eq!(render("{vendor} {model} {aaguid8}", &i), "Yubico YubiKey 5 NFC 1ac71f64");
    }

    #[test]
    fn upn_falls_back_to_local_part_then_cut_and_serial_keeps_its_tail() {
        let i = input();
        assert_eq!(render("{upn}", &i), "alexandra.longname");
        assert_eq!(render("{upn} {model}", &i), "alexandra.longname YubiKey 5");
        let mut long_serial = input();
        long_serial.serial = Some("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".into());
        assert_eq!(render("{date} {serial}", &long_serial), "2026-03-14 RSTUVWXYZ0123456789");
    }

    #[test]
    fn missing_values_leave_no_gaps() {
        let i = DisplayNameInput { model_name: Some("Nitrokey 3 AM".into()), ..Default::default() };
        assert_eq!(render("{model} ({serial})", &i), "Nitrokey 3 AM");
        assert_eq!(render("{model} - {serial}", &i), "Nitrokey 3 AM");
        assert_eq!(render("{model}", &DisplayNameInput::default()), "Security key");
        assert_eq!(render("{serial}", &i), "Nitrokey 3 AM");
    }

    #[test]
    fn impossible_and_bad_templates_are_rejected_with_reasons() {
        let e = DisplayNameTemplate::parse("{date} {date} {aaguid8} x").unwrap_err();
        assert!(e.contains("cannot fit") && e.contains("needs 32"), "{e}");
        let e = DisplayNameTemplate::parse("{model} {colour}").unwrap_err();
        assert!(e.contains("unknown placeholder `{colour}`") && e.contains("{aaguid8}"), "{e}");
        assert!(DisplayNameTemplate::parse("{model").unwrap_err().contains("without its"));
        assert!(DisplayNameTemplate::parse("").unwrap_err().contains("empty"));
        assert_eq!(render("{{{model}}}", &input()), "{YubiKey 5 Series with NFC}");
    }

    #[test]
    fn every_accepted_template_fits_for_extreme_inputs() {
        let extreme = DisplayNameInput {
            model_name: Some("An Extremely Long Model Name Without Any Short Form At All".into()),
            model_short: None,
            vendor: Some("A Vendor With A Very Long Name Incorporated".into()),
            serial: Some("S".repeat(40)),
            aaguid: Some("00112233-4455-6677-8899-aabbccddeeff".into()),
            upn: Some(format!("{}@example.com", "u".repeat(60))),
            date: NaiveDate::from_ymd_opt(2026, 12, 31),
        };
        let names = ["model", "vendor", "serial", "aaguid8", "upn", "user", "date"];
        for a in names {
            for b in names {
                for sep in [" ", " - ", "/"] {
                    let t = format!("{{{a}}}{sep}{{{b}}}");
                    if let Ok(tpl) = DisplayNameTemplate::parse(&t) {
                        let out = tpl.render(&extreme);
                        assert!(width(&out) <= DISPLAY_NAME_MAX && !out.is_empty(), "{t} -> {out:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn distinct_names_get_a_counter_within_the_limit() {
        let t = DisplayNameTemplate::parse("{model} {serial}").unwrap();
        let i = input();
        let taken = ["YubiKey 5 NFC 23456789".to_string(), "YubiKey 5 NFC 23456789 2".to_string()];
        let out = t.render_distinct(&i, |n| taken.iter().any(|x| x == n));
        assert_eq!(out, "YubiKey 5 NFC 23456789 3");
        let t = DisplayNameTemplate::parse("{model}").unwrap();
        let full = t.render(&i);
        assert_eq!(width(&full), 25);
        let out = t.render_distinct(&i, |n| n == full);
        assert!(out.ends_with(" 2") && width(&out) <= 30, "{out}");
    }
}
