//! The journal page's search and export parameters (`?user=…&state=failed&since=…`).
//!
//! Empty values are ignored (a search form sends every field), unknown or repeated names
//! are refused, and each value is checked the way `keystation report` checks its options
//! (the same date and state parsers), so the console and the CLI accept the same things.
use super::{plain_text, BadInput};
use crate::station::batch::check_batch_id;
use crate::station::journal::JobMode;
use crate::station::report::{parse_since, parse_states, parse_until, ReportFormat};
use crate::station::state::JobState;
use chrono::{DateTime, Utc};

/// Results shown at most (the newest ones).
pub const DEFAULT_LIMIT: usize = 200;
/// The most a search may ask for.
pub const MAX_LIMIT: usize = 5000;
/// The longest query string accepted.
pub const MAX_QUERY_BYTES: usize = 4096;

/// A journal search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalQuery {
    /// The user's UPN (case-insensitive, whole name).
    pub user: Option<String>,
    /// A key's serial number or AAGUID.
    pub key: Option<String>,
    /// Only jobs in these states.
    pub states: Vec<JobState>,
    /// Jobs started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Jobs started before.
    pub until: Option<DateTime<Utc>>,
    /// One batch.
    pub batch: Option<String>,
    /// One mode.
    pub mode: Option<JobMode>,
    /// At most this many (the newest).
    pub limit: usize,
}

impl Default for JournalQuery {
    fn default() -> Self {
        JournalQuery { user: None, key: None, states: Vec::new(), since: None, until: None, batch: None, mode: None, limit: DEFAULT_LIMIT }
    }
}

/// An export: a search plus the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    /// Which jobs.
    pub search: JournalQuery,
    /// CSV (default) or JSON.
    pub format: ReportFormat,
}

const SEARCH_FIELDS: &[&str] = &["user", "key", "state", "since", "until", "batch", "mode", "limit"];

/// Parse a search query string (without the `?`).
pub fn search(raw: &str) -> Result<JournalQuery, BadInput> {
    parse(raw, false).map(|(q, _)| q)
}

/// Parse an export query string: the search fields plus `format` (`csv` or `json`).
pub fn export(raw: &str) -> Result<ExportQuery, BadInput> {
    let (search, format) = parse(raw, true)?;
    Ok(ExportQuery { search, format: format.unwrap_or(ReportFormat::Csv) })
}

fn parse(raw: &str, export: bool) -> Result<(JournalQuery, Option<ReportFormat>), BadInput> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(BadInput(format!("the search is too long: at most {MAX_QUERY_BYTES} bytes")));
    }
    let mut q = JournalQuery::default();
    let mut format = None;
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let name = name.into_owned();
        let value = value.trim().to_string();
        let known = SEARCH_FIELDS.contains(&name.as_str()) || (export && name == "format");
        if !known {
            let shown: String = name.chars().take(40).filter(|c| !c.is_control()).collect();
            let fields = if export { format!("{}, format", SEARCH_FIELDS.join(", ")) } else { SEARCH_FIELDS.join(", ") };
            return Err(BadInput(format!("unknown search field `{shown}`: use {fields}")));
        }
        if seen.contains(&name) {
            return Err(BadInput(format!("the field `{name}` is given twice")));
        }
        seen.push(name.clone());
        if value.is_empty() {
            continue;
        }
        let bad = |m: String| BadInput(format!("{name}: {m}"));
        match name.as_str() {
            "user" => {
                plain_text("user", &value, 256)?;
                q.user = Some(value);
            }
            "key" => {
                plain_text("key", &value, 128)?;
                q.key = Some(value);
            }
            "state" => q.states = parse_states(&value).map_err(|m| bad(m.replace("--state", "state")))?,
            "since" => q.since = Some(parse_since(&value).map_err(bad)?),
            "until" => q.until = Some(parse_until(&value).map_err(bad)?),
            "batch" => q.batch = Some(check_batch_id(&value).map_err(|m| bad(m.to_string()))?.to_string()),
            "mode" => q.mode = Some(value.parse::<JobMode>().map_err(bad)?),
            "limit" => {
                q.limit = match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => return Err(bad(format!("`{}` is not a number from 1 to {MAX_LIMIT}", value.chars().take(20).collect::<String>()))),
                }
            }
            "format" => {
                format = Some(match value.to_ascii_lowercase().as_str() {
                    "csv" => ReportFormat::Csv,
                    "json" => ReportFormat::Json,
                    _ => return Err(bad("use csv or json".into())),
                })
            }
            _ => unreachable!("checked against the known fields above"),
        }
    }
    if let (Some(s), Some(u)) = (q.since, q.until)
        && s >= u
    {
        return Err(BadInput("since is not before until: nothing can match".into()));
    }
    Ok((q, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn searches_parse_like_the_report_command() {
        let q = search("user=Alice%40contoso.test&state=failed%2Cneeds-operator&since=2026-03-01&until=2026-03-31&key=&limit=50").unwrap();
        assert_eq!(q.user.as_deref(), Some("Alice@contoso.test"));
        assert_eq!(q.states, vec![JobState::Failed, JobState::NeedsOperator]);
        assert_eq!(q.since.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(q.until.unwrap().to_rfc3339(), "2026-04-01T00:00:00+00:00");
        assert_eq!((q.key, q.limit), (None, 50));
        assert_eq!(search("").unwrap(), JournalQuery::default());
        assert_eq!(export("format=json&user=a%40b.c").unwrap().format, ReportFormat::Json);
        assert_eq!(export("").unwrap().format, ReportFormat::Csv);
    }

    #[test]
    fn bad_searches_say_what_is_wrong() {
        let e = |raw: &str| search(raw).unwrap_err().0;
        assert!(e("colour=red").contains("unknown search field `colour`"));
        assert!(e("user=a&user=b").contains("twice"));
        assert!(e("state=broken").starts_with("state: "));
        assert!(e("since=14/03/2026").contains("YYYY-MM-DD"));
        assert!(e("since=2026-03-02&until=2026-03-01").contains("not before"));
        assert!(e("limit=0").contains("1 to"));
        assert!(e("batch=a%20b").starts_with("batch: "));
        assert!(e("format=csv").contains("unknown search field `format`"));
        assert!(export("format=xml").unwrap_err().0.contains("csv or json"));
        assert!(e("user=a%0Ab").contains("line break"));
    }

    fn state_name() -> impl Strategy<Value = JobState> {
        proptest::sample::select(JobState::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // Any query string: an answer, never a panic.
        #[test]
        fn arbitrary_queries_never_panic(raw in "\\PC{0,200}") {
            let _ = search(&raw);
            let _ = export(&raw);
        }

        // Arbitrary bytes, percent-encoded the way a browser would send them.
        #[test]
        fn arbitrary_encoded_values_never_panic(name in proptest::sample::select(vec!["user", "key", "state", "since", "until", "batch", "mode", "limit", "format"]), value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let raw = format!("{name}={}", percent_encoding::percent_encode(&value, percent_encoding::NON_ALPHANUMERIC));
            let _ = export(&raw);
        }

        // A search built from good parts is read back exactly.
        #[test]
        fn good_searches_round_trip(user in "[a-z]{1,10}@[a-z]{1,10}\\.test", states in proptest::collection::btree_set(state_name(), 0..4), limit in 1usize..=MAX_LIMIT, day in 1u32..=28) {
            let mut raw = url::form_urlencoded::Serializer::new(String::new());
            raw.append_pair("user", &user);
            raw.append_pair("state", &states.iter().map(|s| s.as_str().replace('_', "-")).collect::<Vec<_>>().join(","));
            raw.append_pair("limit", &limit.to_string());
            raw.append_pair("since", &format!("2026-02-{day:02}"));
            let q = search(&raw.finish()).unwrap();
            prop_assert_eq!(q.user, Some(user));
            prop_assert_eq!(q.states, states.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(q.limit, limit);
            prop_assert_eq!(q.since.unwrap().format("%d").to_string(), format!("{day:02}"));
        }
    }
}
