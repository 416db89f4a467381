//! The batch input file: one user per row, read and checked before any key is touched.
//!
//! Format (documented for operators in `docs/operator-guide-batch.md`):
//!
//! * UTF-8 (a byte-order mark, as Excel writes it, is fine); comma, semicolon or tab
//!   separated (detected from the first line); `#` starts a comment line; blank lines
//!   and rows whose cells are all empty are skipped.
//! * A header row names the columns (case, spaces, `_`, `-` and `.` are ignored):
//!   * the user: `upn`, `userPrincipalName` or `user` (required);
//!   * `display_name` (also `key_name`): the key's name in Entra for this user instead
//!     of the configured template, at most 30 characters;
//!   * `pin_length` (4–63) and `pin_alphabet` (also `pin_charset`: `digits` or
//!     `alphanumeric`): this user's random PIN;
//!   * `pin_policy`: the same in one cell, e.g. `length=10 alphanumeric`
//!     ([`PinPolicyOverride::parse`]); a value given both ways must agree;
//!   * `replace` (also `replace_keys`): `yes` to delete the user's other security keys in
//!     Entra once the new one is registered (`no`, empty: keep them);
//!   * any other column is ignored (one warning names them).
//! * Without a header, the file is one UPN per line (only the first cell is used).
//!
//! A bad row never stops the batch: it becomes a [`RowProblem`] with its 1-based line
//! number and the other rows go on. Only a file that cannot be read at all (missing, not
//! UTF-8, no UPN column) is an error.
use super::upn::check_upn;
use crate::text::{cap, Echo};
use crate::station::config::{display_width, DISPLAY_NAME_MAX};
use crate::station::pin::{PinAlphabet, PinSource};
use crate::station::pipeline::PinPolicyOverride;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One user to provision, as the file gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRow {
    /// 1-based line in the file (the journal's `batch_line`).
    pub line: u64,
    /// The user principal name, as written (trimmed).
    pub upn: String,
    /// The key's name in Entra for this user (checked to fit 30 characters).
    pub display_name: Option<String>,
    /// This user's PIN settings, where the row overrides the configuration.
    #[serde(skip)]
    pub pin: PinPolicyOverride,
    /// Replace the user's existing security keys: once the new key is registered, the
    /// user's other FIDO2 methods are deleted (column `replace`: yes/no).
    pub replace: bool,
}

/// A row that will not be provisioned, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// 1-based line in the file.
    pub line: u64,
    /// The user cell, when there was one.
    pub upn: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// A batch file, read and checked.
#[derive(Debug, Clone, Serialize)]
pub struct BatchFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Good rows, in file order.
    pub rows: Vec<BatchRow>,
    /// Bad rows, in file order.
    pub problems: Vec<RowProblem>,
    /// Things worth saying that are not errors (ignored columns...).
    pub warnings: Vec<String>,
    /// Whether the first line was a header.
    pub has_header: bool,
}

/// A file that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchFileError {
    /// Missing or unreadable.
    #[error("cannot read the batch file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not usable as a user list; the message says how to fix it.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Upn,
    DisplayName,
    PinLength,
    PinAlphabet,
    PinPolicy,
    Replace,
}

impl Column {
    fn from_header(cell: &str) -> Option<Column> {
        let key: String = cell.chars().filter(|c| !matches!(c, ' ' | '_' | '-' | '.')).flat_map(char::to_lowercase).collect();
        Some(match key.as_str() {
            "upn" | "userprincipalname" | "user" => Column::Upn,
            "displayname" | "keyname" | "keydisplayname" => Column::DisplayName,
            "pinlength" => Column::PinLength,
            "pinalphabet" | "pincharset" => Column::PinAlphabet,
            "pinpolicy" => Column::PinPolicy,
            "replace" | "replacekeys" | "replaceexisting" => Column::Replace,
            _ => return None,
        })
    }
}

/// Read and check a batch file.
pub fn read_batch_file(path: &Path) -> Result<BatchFile, BatchFileError> {
    let bytes = std::fs::read(path).map_err(|source| BatchFileError::Io { path: path.to_path_buf(), source })?;
    parse_batch(path, &bytes)
}

/// Parse batch file contents (`path` only names the file in messages and the result).
pub fn parse_batch(path: &Path, bytes: &[u8]) -> Result<BatchFile, BatchFileError> {
    let format_err = |message: String| BatchFileError::Format { path: path.to_path_buf(), message };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        format_err(format!(
            "line {line} is not UTF-8 text; save the file as UTF-8 (in Excel: \"CSV UTF-8 (Comma delimited)\")"
        ))
    })?;
    let delimiter = detect_delimiter(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .delimiter(delimiter)
        .from_reader(text.as_bytes());

    // The csv crate neither counts blank and comment lines nor reports where a record
    // starts after skipping them, so the line is computed from the byte offset where it
    // started looking, moving past skipped lines: the operator's editor numbers them all.
    let lines: Vec<&str> = text.split('\n').collect();
    let newlines: Vec<usize> = text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect();
    let line_of = |pos: Option<&csv::Position>| {
        let Some(p) = pos else { return 0 };
        // It may sit on the previous line's terminator.
        let start = p.byte() as usize + text.as_bytes().iter().skip(p.byte() as usize).take_while(|b| matches!(b, b'\r' | b'\n')).count();
        let mut index = newlines.partition_point(|&nl| nl < start);
        while lines.get(index).is_some_and(|l| l.trim().is_empty() || l.starts_with('#')) {
            index += 1;
        }
        index as u64 + 1
    };
    let mut records = Vec::new();
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = line_of(record.position());
                if record.iter().all(str::is_empty) {
                    continue;
                }
                records.push((line, record));
            }
            Err(e) => {
                let line = line_of(e.position());
                return Err(format_err(format!("line {line}: {e}; check the quotes on that line")));
            }
        }
    }
    let Some((first_line, first)) = records.first().cloned() else {
        return Err(format_err("the file lists no users; put one user principal name per line, or a header `upn` and one user per row".into()));
    };

    let header: Vec<Option<Column>> = first.iter().map(Column::from_header).collect();
    let has_header = header.contains(&Some(Column::Upn));
    let mut warnings = Vec::new();
    let mut columns: HashMap<Column, usize> = HashMap::new();
    let data = if has_header {
        let mut ignored = Vec::new();
        for (i, col) in header.iter().enumerate() {
            match col {
                Some(c) if columns.contains_key(c) => {
                    return Err(format_err(format!(
                        "line {first_line}: the column `{}` appears twice (as `{}` and `{}`); keep one",
                        column_name(*c),
                        Echo(&first[columns[c]]),
                        Echo(&first[i])
                    )));
                }
                Some(c) => {
                    columns.insert(*c, i);
                }
                None if first[i].is_empty() => {}
                None => ignored.push(format!("`{}`", Echo(&first[i]))),
            }
        }
        if !ignored.is_empty() {
            warnings.push(format!("ignoring column(s) {}: keystation uses upn, display_name, pin_length, pin_alphabet, pin_policy and replace", ignored.join(", ")));
        }
        &records[1..]
    } else {
        if !first.get(0).is_some_and(|c| c.contains('@')) {
            return Err(format_err(format!(
                "line {first_line}: no UPN column; name it `upn` (or `userPrincipalName`, `user`) in a header row, or give a file with one user principal name per line"
            )));
        }
        if records.iter().any(|(_, r)| r.len() > 1 && r.iter().skip(1).any(|c| !c.is_empty())) {
            warnings.push("the file has no header row, so only its first column (the UPN) is used; add a header to use display_name or PIN columns".into());
        }
        columns.insert(Column::Upn, 0);
        &records[..]
    };

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, record) in data {
        let cell = |c: Column| columns.get(&c).and_then(|i| record.get(*i)).filter(|s| !s.is_empty());
        let upn = cell(Column::Upn);
        // The cell as the operator wrote it, but capped: it is echoed in the summary and
        // the JSON report, and a bad row can be megabytes long.
        let problem = |message: String| RowProblem { line: *line, upn: upn.map(|u| cap(u).into_owned()), message };
        match check_row(upn, &cell) {
            Err(message) => problems.push(problem(message)),
            Ok(row) => {
                let key = row.0.to_lowercase();
                if let Some(first_seen) = seen.get(&key) {
                    problems.push(problem(format!("{} is already on line {first_seen}; a batch gives each user one key, so this row is skipped", row.0)));
                    continue;
                }
                seen.insert(key, *line);
                rows.push(BatchRow { line: *line, upn: row.0, display_name: row.1, pin: row.2, replace: row.3 });
            }
        }
    }
    Ok(BatchFile { path: path.to_path_buf(), rows, problems, warnings, has_header })
}

type CheckedRow = (String, Option<String>, PinPolicyOverride, bool);

fn check_row<'a>(upn: Option<&'a str>, cell: &dyn Fn(Column) -> Option<&'a str>) -> Result<CheckedRow, String> {
    let upn = check_upn(upn.unwrap_or(""))?.to_string();
    let display_name = match cell(Column::DisplayName) {
        None => None,
        Some(text) if text.chars().any(char::is_control) => return Err("display_name contains a tab or another invisible character".into()),
        Some(text) if display_width(text) > DISPLAY_NAME_MAX => {
            return Err(format!("display_name `{}` has {} characters; Entra allows {DISPLAY_NAME_MAX}", Echo(text), display_width(text)));
        }
        Some(text) => Some(text.to_string()),
    };
    let mut pin = match cell(Column::PinPolicy) {
        None => PinPolicyOverride::default(),
        Some(text) => PinPolicyOverride::parse(text).map_err(|e| format!("pin_policy: {e}"))?,
    };
    if pin.source == Some(PinSource::UserAtDesk) {
        return Err("pin_policy asks for a PIN chosen at the desk, which a batch cannot ask; enrol this user at the kiosk".into());
    }
    if let Some(text) = cell(Column::PinLength) {
        let n = match text.parse::<u32>() {
            Ok(n) if (4..=63).contains(&n) => n,
            _ => return Err(format!("pin_length `{}` is not a whole number from 4 to 63", Echo(text))),
        };
        if pin.length.is_some_and(|l| l != n) {
            return Err(format!("pin_length {n} disagrees with the length in pin_policy; keep one"));
        }
        pin.length = Some(n);
    }
    if let Some(text) = cell(Column::PinAlphabet) {
        let a = match text.to_ascii_lowercase().as_str() {
            "digits" | "digit" | "numeric" => PinAlphabet::Digits,
            "alphanumeric" => PinAlphabet::Alphanumeric,
            _ => return Err(format!("pin_alphabet `{}` is not `digits` or `alphanumeric`", Echo(text))),
        };
        if pin.alphabet.is_some_and(|x| x != a) {
            return Err("pin_alphabet disagrees with the alphabet in pin_policy; keep one".into());
        }
        pin.alphabet = Some(a);
    }
    let replace = match cell(Column::Replace).map(|t| t.to_ascii_lowercase()) {
        None => false,
        Some(t) if matches!(t.as_str(), "yes" | "y" | "true" | "1" | "x") => true,
        Some(t) if matches!(t.as_str(), "no" | "n" | "false" | "0") => false,
        Some(_) => return Err(format!("replace `{}` is not yes or no", Echo(cell(Column::Replace).unwrap_or_default()))),
    };
    Ok((upn, display_name, pin, replace))
}

fn column_name(c: Column) -> &'static str {
    match c {
        Column::Upn => "upn",
        Column::DisplayName => "display_name",
        Column::PinLength => "pin_length",
        Column::PinAlphabet => "pin_alphabet",
        Column::PinPolicy => "pin_policy",
        Column::Replace => "replace",
    }
}

/// Comma unless the first data line has more semicolons or tabs (spreadsheets in many
/// locales save "CSV" with semicolons).
fn detect_delimiter(text: &str) -> u8 {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let count = |c: char| first.chars().filter(|x| *x == c).count();
    let (commas, semis, tabs) = (count(','), count(';'), count('\t'));
    if tabs > commas && tabs >= semis {
        b'\t'
    } else if semis > commas {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BatchFile {
        parse_batch(Path::new("users.csv"), text.as_bytes()).expect("parses")
    }

    #[test]
    fn the_replace_column_says_yes_or_no() {
        let f = parse("upn,replace\nalice@contoso.test,yes\nbob@contoso.test,\ncarol@contoso.test,No\ndave@contoso.test,maybe\n");
        let got: Vec<_> = f.rows.iter().map(|r| (r.upn.as_str(), r.replace)).collect();
        assert_eq!(got, vec![("alice@contoso.test", true), ("bob@contoso.test", false), ("carol@contoso.test", false)]);
        assert_eq!(f.problems.len(), 1);
        assert!(f.problems[0].message.contains("yes or no"), "{:?}", f.problems);
    }

    #[test]
    fn headerless_one_column_file() {
        let f = parse("alice@contoso.test\n\nbob@contoso.test\r\n# a comment\ncarol@contoso.test\n");
        assert!(!f.has_header);
        let got: Vec<_> = f.rows.iter().map(|r| (r.line, r.upn.as_str())).collect();
        assert_eq!(got, vec![(1, "alice@contoso.test"), (3, "bob@contoso.test"), (5, "carol@contoso.test")]);
        assert!(f.problems.is_empty());
    }

    #[test]
    fn header_names_are_case_and_punctuation_insensitive() {
        for header in ["upn", "UPN", "userPrincipalName", "User Principal Name", "user", "user_principal_name"] {
            let f = parse(&format!("{header},Display Name,PIN-Length\nalice@contoso.test,Desk 3,6\n"));
            assert!(f.has_header, "{header}");
            assert_eq!(f.rows[0].upn, "alice@contoso.test");
            assert_eq!(f.rows[0].line, 2);
            assert_eq!(f.rows[0].display_name.as_deref(), Some("Desk 3"));
            assert_eq!(f.rows[0].pin.length, Some(6));
        }
    }

    #[test]
    fn bad_rows_carry_their_line_and_the_rest_survive() {
        let text = "upn,pin_length,pin_alphabet,pin_policy\n\
                    alice@contoso.test,8,digits,\n\
                    ,6,,\n\
                    not-a-user,,,\n\
                    bob@contoso.test,3,,\n\
                    carol@contoso.test,,hex,\n\
                    dave@contoso.test,,,colour=red\n\
                    ALICE@contoso.test,,,\n\
                    ,,,\n\
                    erin@contoso.test,,alphanumeric,length=10\n\
                    fred@contoso.test,,,user-at-desk\n\
                    gail@contoso.test,6,,length=8\n";
        let f = parse(text);
        let good: Vec<_> = f.rows.iter().map(|r| (r.line, r.upn.as_str())).collect();
        assert_eq!(good, vec![(2, "alice@contoso.test"), (10, "erin@contoso.test")]);
        let bad: Vec<_> = f.problems.iter().map(|p| p.line).collect();
        assert_eq!(bad, vec![3, 4, 5, 6, 7, 8, 11, 12]);
        let msg = |i: usize| f.problems[i].message.as_str();
        assert!(msg(0).contains("empty"));
        assert!(msg(1).contains("no `@`"));
        assert!(msg(2).contains("pin_length `3`"));
        assert!(msg(3).contains("pin_alphabet `hex`"));
        assert!(msg(4).starts_with("pin_policy:"), "{}", msg(4));
        assert!(msg(5).contains("already on line 2"), "{}", msg(5));
        assert!(msg(6).contains("kiosk"), "{}", msg(6));
        assert!(msg(7).contains("disagrees"), "{}", msg(7));
        assert_eq!(f.problems[5].upn.as_deref(), Some("ALICE@contoso.test"));
        assert_eq!((f.rows[1].pin.length, f.rows[1].pin.alphabet), (Some(10), Some(PinAlphabet::Alphanumeric)));
        assert!(f.rows[0].pin.alphabet == Some(PinAlphabet::Digits) && f.rows[0].pin.length == Some(8));
    }

    #[test]
    fn semicolons_bom_quotes_and_ignored_columns() {
        let text = "\u{feff}userPrincipalName;department;key_name\n\"conor.o'brien@contoso.test\";Sales;\"Desk; 3\"\n";
        let f = parse(text);
        assert_eq!(f.rows.len(), 1, "{:?}", f.problems);
        assert_eq!(f.rows[0].upn, "conor.o'brien@contoso.test");
        assert_eq!(f.rows[0].display_name.as_deref(), Some("Desk; 3"));
        assert!(f.warnings[0].contains("`department`"), "{:?}", f.warnings);
    }

    #[test]
    fn a_display_name_that_cannot_fit_is_a_row_problem() {
        let f = parse("upn,display_name\nalice@contoso.test,This name is far too long for Entra ID\n");
        assert_eq!(f.problems.len(), 1);
        assert!(f.problems[0].message.contains("Entra allows 30"), "{}", f.problems[0].message);
    }

    #[test]
    fn unusable_files_say_how_to_fix_them() {
        let err = |text: &[u8]| parse_batch(Path::new("u.csv"), text).unwrap_err().to_string();
        assert!(err(b"").contains("lists no users"));
        assert!(err(b"email,name\nalice@contoso.test,A\n").contains("no UPN column"));
        assert!(err(b"alice@contoso.test\n\xff\xfe\n").contains("line 2 is not UTF-8"));
        assert!(err(b"upn,user\na@b.c,d@e.f\n").contains("appears twice"));
    }
}
