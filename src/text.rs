//! Untrusted text on its way out: to a terminal, into a spreadsheet, or echoed back in a
//! message. Shared by every layer (like [`crate::secret`]), so there is one rule for each
//! and nobody escapes ad hoc.
//!
//! Untrusted text is anything keystation did not write itself: UPNs and cells from a CSV
//! file, what an operator typed, display names, Graph and OAuth messages, strings a key
//! reports (product name, serial), configuration values.
//!
//! * [`inert`]: one value shown on a terminal (a table cell, a name inside a sentence):
//!   every control character, including newline and tab, is shown as an escape
//!   (`\u001b`, `\n`), so it can neither drive the terminal (colours, cursor moves, window
//!   titles, clearing the screen) nor fake extra lines.
//! * [`inert_lines`]: a whole block of operator text that keystation composed (it may have
//!   its own newlines and tabs): everything else that a terminal acts on is escaped. The
//!   CLI's output functions apply it to everything they print; code that deliberately
//!   drives the screen (the kiosk's clear-screen) writes that sequence itself, after.
//! * [`echo`] / [`Echo`]: input repeated back in a message: [`cap`]ped to
//!   [`ECHO_MAX_CHARS`] characters, then made [`inert`].
//! * [`csv_cell`]: a cell of a CSV file keystation writes: a leading `=`, `+`, `-`, `@`,
//!   tab or carriage return (the OWASP rule for formula injection) gets a `'` in front,
//!   and control characters other than newline are escaped.
//!
//! Escapes are written the way JSON writes them (`\u001b`, `\n`, `\r`, `\t`; every unsafe
//! character is in the Basic Multilingual Plane). So [`inert_lines`] applied to serialised
//! JSON leaves the same JSON value: JSON encoders escape C0 controls themselves but leave
//! DEL, C1 controls and bidirectional overrides raw, and inside a string the escape is
//! read back as the character; outside strings JSON has none of them.
use std::borrow::Cow;
use std::fmt;

/// How many characters of untrusted input a message repeats before cutting it short.
pub const ECHO_MAX_CHARS: usize = 200;

/// How many characters of a service's own message (Graph `error.message`, an OAuth
/// `error_description`) are kept: their real messages are far shorter, so only a hostile
/// or broken answer is cut.
pub const SERVICE_TEXT_MAX_CHARS: usize = 1000;

/// Whether a terminal (or a reader) could be fooled by `c`: C0 and C1 control characters,
/// DEL, and the invisible formatting characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width characters, line and paragraph separators, the
/// byte-order mark).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}'                // Arabic letter mark
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // line/paragraph separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}'              // byte-order mark / zero-width no-break space
        )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => out.push_str(&format!("\\u{:04x}", c as u32)),
    }
}

fn escape_where(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One untrusted value, safe to print on a terminal: every unsafe character (see
/// [`is_unsafe_char`]), newline and tab included, is shown as an escape.
pub fn inert(s: &str) -> Cow<'_, str> {
    escape_where(s, is_unsafe_char)
}

/// A block of text keystation composed, safe to print: like [`inert`], but newlines and
/// tabs stay (they are the block's own layout).
pub fn inert_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| is_unsafe_char(c) && !matches!(c, '\n' | '\t'))
}

/// `s` cut to [`ECHO_MAX_CHARS`] characters, followed by `… (N bytes)` when it was longer.
pub fn cap(s: &str) -> Cow<'_, str> {
    cap_to(s, ECHO_MAX_CHARS)
}

/// `s` cut to `max` characters, followed by `… (N bytes)` (N = the whole text's length)
/// when it was longer.
pub fn cap_to(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &s[..end], s.len())),
    }
}

/// Untrusted input repeated in a message: [`cap`]ped, then [`inert`].
pub fn echo(s: &str) -> String {
    inert(&cap(s)).into_owned()
}

/// [`echo`] as a `Display` value, for `format!("`{}` is not …", Echo(text))`.
#[derive(Debug, Clone, Copy)]
pub struct Echo<'a>(pub &'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&inert(&cap(self.0)))
    }
}

/// [`inert`] as a `Display` value (not capped): a value keystation must show whole,
/// such as a UPN in a summary table.
#[derive(Debug, Clone, Copy)]
pub struct Inert<'a>(pub &'a str);

impl fmt::Display for Inert<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&inert(self.0))
    }
}

/// The characters a spreadsheet reads as the start of a formula (OWASP "CSV injection").
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// One cell of a CSV file keystation writes. A cell that a spreadsheet would evaluate
/// (it begins with `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`, which
/// spreadsheets show as text; control characters other than newline (which CSV quoting
/// keeps inside the cell) are escaped as in [`inert`], so the file is also safe to `cat`.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let escaped = escape_where(s, |c| is_unsafe_char(c) && c != '\n');
    // Checked on the original text: a leading tab or CR is escaped above, but the cell
    // still gets its `'` so the rule reads the same as OWASP's.
    if s.starts_with(FORMULA_START) || escaped.starts_with(FORMULA_START) {
        Cow::Owned(format!("'{escaped}"))
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_shows_every_control_and_leaves_ordinary_text_alone() {
        assert!(matches!(inert("alice@contoso.com"), Cow::Borrowed(_)));
        assert_eq!(inert("Zoë Ångström 李"), "Zoë Ångström 李");
        assert_eq!(inert("\u{1b}]0;x\u{7}a\nb\tc\rd"), "\\u001b]0;x\\u0007a\\nb\\tc\\rd");
        assert_eq!(inert("\u{9b}31m\u{7f}"), "\\u009b31m\\u007f");
        assert_eq!(inert("user\u{202e}moc.txt"), "user\\u202emoc.txt");
    }

    #[test]
    fn inert_lines_keeps_layout_but_not_escapes() {
        assert_eq!(inert_lines("a\n\tb\u{1b}[2J\r"), "a\n\tb\\u001b[2J\\r");
    }

    #[test]
    fn cap_cuts_at_characters_and_says_how_long_the_text_was() {
        assert!(matches!(cap("short"), Cow::Borrowed("short")));
        let exact = "x".repeat(ECHO_MAX_CHARS);
        assert_eq!(cap(&exact), exact.as_str());
        let long = "é".repeat(300);
        let c = cap(&long);
        assert_eq!(c, format!("{}… (600 bytes)", "é".repeat(200)));
        assert_eq!(cap_to("abcdef", 3), "abc… (6 bytes)");
    }

    #[test]
    fn echo_caps_before_escaping() {
        let s = format!("{}\u{1b}", "a".repeat(250));
        assert_eq!(echo(&s), format!("{}… (251 bytes)", "a".repeat(200)));
        assert_eq!(Echo("a\u{1b}b").to_string(), "a\\u001bb");
        assert_eq!(Inert("a\nb").to_string(), "a\\nb");
    }

    #[test]
    fn csv_cells_that_start_a_formula_are_text() {
        for (cell, want) in [
            ("=1+2", "'=1+2"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\\t=1"),
            ("\r=1", "'\\r=1"),
            ("alice@contoso.com", "alice@contoso.com"),
            ("a=b", "a=b"),
            ("", ""),
            ("line one\nline two", "line one\nline two"),
            ("a\u{1b}[31m", "a\\u001b[31m"),
        ] {
            assert_eq!(csv_cell(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn inert_lines_on_json_is_the_same_value_without_raw_controls() {
        let v = serde_json::json!({"upn": "a\u{9b}31m\u{202e}b\u{1b}\n", "n": 1});
        let text = serde_json::to_string_pretty(&v).unwrap();
        assert!(text.contains('\u{9b}'), "serde_json leaves C1 raw: {text}");
        let safe = inert_lines(&text);
        assert!(!safe.chars().any(|c| is_unsafe_char(c) && c != '\n'), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }
}
