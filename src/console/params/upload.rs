//! A user list uploaded from the hub page to start a batch.
//!
//! The page sends the file's bytes as the request body (no multipart: nothing to
//! unpack) and its name, the keys-at-once and an optional batch id in the query string
//! (`?name=users.csv&concurrency=4`). The rows are checked by the same code as
//! `keystation batch FILE` ([`parse_batch`]): bad rows come back with their line
//! numbers, the good ones go on.
use super::BadInput;
use crate::station::batch::{check_batch_id, parse_batch, BatchFile, BatchFileError};
use std::path::PathBuf;

/// The largest user list accepted (tens of thousands of users).
pub const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;
/// The longest file name kept.
const MAX_NAME_CHARS: usize = 100;

/// What came with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// The file's name (its last path component, made safe to store).
    pub name: String,
    /// Keys provisioned at once (1–32); `None`: the configuration's.
    pub concurrency: Option<u32>,
    /// An explicit batch id; `None`: derived from the name.
    pub batch_id: Option<String>,
}

/// Parse the query string of an upload.
pub fn options(raw: &str) -> Result<UploadOptions, BadInput> {
    let mut name = None;
    let mut concurrency = None;
    let mut batch_id = None;
    let mut seen = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if seen.contains(&k) {
            return Err(BadInput(format!("the field `{k}` is given twice")));
        }
        seen.push(k.clone());
        let v = v.trim();
        match k.as_ref() {
            "name" => name = Some(file_name(v)?),
            "concurrency" if v.is_empty() => {}
            "concurrency" => {
                concurrency = Some(match v.parse::<u32>() {
                    Ok(n) if (1..=32).contains(&n) => n,
                    _ => return Err(BadInput("keys at once: use a number from 1 to 32".into())),
                })
            }
            "batch_id" if v.is_empty() => {}
            "batch_id" => batch_id = Some(check_batch_id(v).map_err(|m| BadInput(format!("batch id: {m}")))?.to_string()),
            other => {
                let shown: String = other.chars().take(40).filter(|c| !c.is_control()).collect();
                return Err(BadInput(format!("unknown upload field `{shown}`: use name, concurrency, batch_id")));
            }
        }
    }
    let name = name.ok_or_else(|| BadInput("choose a user list (a .csv file) first".into()))?;
    Ok(UploadOptions { name, concurrency, batch_id })
}

/// The last path component of a browser-supplied name, with anything that is not a
/// letter, digit, `.`, `-` or `_` replaced: it names a file in the state directory.
pub fn file_name(raw: &str) -> Result<String, BadInput> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let safe: String = last.chars().take(MAX_NAME_CHARS).map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let safe = safe.trim_start_matches('.').to_string();
    if safe.is_empty() {
        return Err(BadInput("the file has no usable name; rename it, e.g. users.csv".into()));
    }
    Ok(safe)
}

/// Check the uploaded rows like `keystation batch` does.
pub fn rows(name: &str, bytes: &[u8]) -> Result<BatchFile, BadInput> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(BadInput(format!("the file is too large: at most {} MiB", MAX_UPLOAD_BYTES / 1024 / 1024)));
    }
    parse_batch(&PathBuf::from(name), bytes).map_err(|e| match e {
        BatchFileError::Format { message, .. } => BadInput(format!("{name}: {message}")),
        BatchFileError::Io { .. } => BadInput(format!("{name}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn options_and_names() {
        let o = options("name=C%3A%5Cfakepath%5Cnew%20starters.csv&concurrency=8").unwrap();
        assert_eq!(o, UploadOptions { name: "new_starters.csv".into(), concurrency: Some(8), batch_id: None });
        assert!(options("concurrency=4").unwrap_err().0.contains("choose a user list"));
        assert!(options("name=a.csv&concurrency=33").unwrap_err().0.contains("1 to 32"));
        assert!(options("name=a.csv&batch_id=x%20y").unwrap_err().0.starts_with("batch id"));
        assert!(options("name=a.csv&colour=red").unwrap_err().0.contains("unknown upload field"));
        assert_eq!(file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(file_name("..csv").unwrap(), "csv");
        assert!(file_name("..").is_err());
    }

    #[test]
    fn rows_are_checked_like_the_cli() {
        let f = rows("users.csv", b"upn,pin_length\nalice@contoso.test,8\nnot-a-user,\nbob@contoso.test,3\n").unwrap();
        assert_eq!(f.rows.len(), 1);
        let lines: Vec<u64> = f.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(rows("users.csv", b"").unwrap_err().0.starts_with("users.csv: the file lists no users"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        // Any upload: rows or a message, never a panic; every bad row's line is a line of
        // the file, and no good row comes from outside it.
        #[test]
        fn arbitrary_uploads_are_checked(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(f) = rows("u.csv", &body) {
                let lines = body.split(|b| *b == b'\n').count() as u64;
                for p in &f.problems {
                    prop_assert!(p.line >= 1 && p.line <= lines, "line {} of {}", p.line, lines);
                }
                for r in &f.rows {
                    prop_assert!(r.line >= 1 && r.line <= lines);
                    prop_assert!(r.upn.contains('@'));
                }
            }
        }

        // Text-like uploads (what spreadsheets write), with quotes and separators.
        #[test]
        fn csv_like_uploads_are_checked(lines in proptest::collection::vec("[a-z@.,;\"# \t]{0,30}", 0..12)) {
            let body = lines.join("\n");
            let _ = rows("u.csv", body.as_bytes());
        }

        #[test]
        fn names_are_always_safe(raw in "\\PC{0,150}") {
            if let Ok(n) = file_name(&raw) {
                prop_assert!(!n.is_empty() && n.len() <= MAX_NAME_CHARS && !n.starts_with('.'));
                prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
            }
        }

        #[test]
        fn arbitrary_option_strings_never_panic(raw in "\\PC{0,120}") {
            let _ = options(&raw);
        }
    }
}
