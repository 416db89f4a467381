//! The two databases under one journal: a local SQLite file (one station, the default)
//! and a shared PostgreSQL (a fleet of stations).
//!
//! The journal's logic — the state machine, intents, fencing, the queue — is written
//! once, against [`Backend`]: plain statements with `?1`-style placeholders and a few
//! dialect tokens ([`render`]), explicit transactions, rows of [`Value`]s. Each backend
//! only knows how to connect, how to run a statement, how to commit with or without a
//! sync ([`Durability`]) and how to explain a plan.
use super::JournalError;
use super::types::Durability;
use std::borrow::Cow;

pub mod postgres;
pub mod sqlite;

/// Which SQL dialect a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35+ (the bundled one).
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
}

/// A statement parameter or a column value. Timestamps are fixed-width RFC 3339 text
/// on both backends (text order is time order); booleans are 0/1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT).
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// `[v1, v2, …]` as a `Vec<Value>`.
#[macro_export]
#[doc(hidden)]
macro_rules! journal_params {
    ($($v:expr),* $(,)?) => { vec![$($crate::station::journal::backend::Value::from($v)),*] };
}
pub(crate) use journal_params as params;

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, JournalError> {
        self.0.get(i).ok_or_else(|| JournalError::Corrupt(format!("a row has no column {i}")))
    }
    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64, JournalError> {
        self.opt_int(i)?.ok_or_else(|| JournalError::Corrupt(format!("column {i} is NULL")))
    }
    /// An integer column that may be NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, JournalError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Text(t) => t.parse().map(Some).map_err(|_| JournalError::Corrupt(format!("column {i} is not a number: {t:?}"))),
        }
    }
    /// A text column.
    pub fn text(&self, i: usize) -> Result<String, JournalError> {
        self.opt_text(i)?.ok_or_else(|| JournalError::Corrupt(format!("column {i} is NULL")))
    }
    /// A text column that may be NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, JournalError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(v.to_string())),
            Value::Text(t) => Ok(Some(t.clone())),
        }
    }
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Writes, committed with this durability. SQLite: `BEGIN IMMEDIATE` (the write
    /// lock at once, waiting up to the busy timeout); PostgreSQL: `BEGIN` (row locks).
    Write(Durability),
    /// Reads only (a consistent snapshot of several statements).
    Read,
}

/// A journal database connection.
pub trait Backend: Send {
    /// The dialect, for [`render`].
    fn dialect(&self) -> Dialect;
    /// Where it is, for messages (a file path, or a URL without credentials).
    fn location(&self) -> String;
    /// Start a transaction.
    fn begin(&mut self, mode: TxMode) -> Result<(), JournalError>;
    /// Commit the open transaction.
    fn commit(&mut self) -> Result<(), JournalError>;
    /// Roll the open transaction back (best effort: a broken connection rolls back by itself).
    fn rollback(&mut self);
    /// Run a statement; rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, JournalError>;
    /// Run a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, JournalError>;
    /// Run an `INSERT` into a table with an `id` key; the new id.
    fn insert(&mut self, sql: &str, params: &[Value]) -> Result<i64, JournalError>;
    /// Run several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), JournalError>;
    /// How the database would run `sql` (parameters unbound), one line per step, and
    /// whether any step reads a whole table.
    fn explain(&mut self, sql: &str) -> Result<(Vec<String>, bool), JournalError>;
}

/// The statement for `dialect`: `?N` placeholders become `$N` on PostgreSQL, and the
/// tokens below are replaced.
///
/// | Token | SQLite | PostgreSQL |
/// |---|---|---|
/// | `{pk}` | `INTEGER PRIMARY KEY AUTOINCREMENT` | `BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY` |
/// | `{int}` | `INTEGER` | `BIGINT` |
/// | `{nocase}` | ` COLLATE NOCASE` (schema version 1 only) | nothing |
/// | `{now_ms}` | milliseconds since 1970 by the database's clock | the same (`clock_timestamp()`) |
/// | `{skip_locked}` | nothing (a write transaction holds the whole file) | `FOR UPDATE SKIP LOCKED` |
pub fn render(dialect: Dialect, sql: &str) -> Cow<'_, str> {
    let tokens: &[(&str, &str)] = match dialect {
        Dialect::Sqlite => &[
            ("{pk}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            ("{int}", "INTEGER"),
            ("{nocase}", " COLLATE NOCASE"),
            ("{now_ms}", "CAST(unixepoch('subsec') * 1000 AS INTEGER)"),
            ("{skip_locked}", ""),
        ],
        Dialect::Postgres => &[
            ("{pk}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
            ("{int}", "BIGINT"),
            ("{nocase}", ""),
            ("{now_ms}", "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"),
            ("{skip_locked}", "FOR UPDATE SKIP LOCKED"),
        ],
    };
    let needs_tokens = tokens.iter().any(|(t, _)| sql.contains(t));
    let needs_marks = dialect == Dialect::Postgres && sql.contains('?');
    if !needs_tokens && !needs_marks {
        return Cow::Borrowed(sql);
    }
    let mut out = sql.to_string();
    for (t, r) in tokens {
        out = out.replace(t, r);
    }
    if needs_marks {
        out = dollar_placeholders(&out);
    }
    Cow::Owned(out)
}

/// `?N` → `$N` outside quoted text.
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (Some(q), c) if c == q => {
                quoted = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quoted = Some(c);
                out.push(c);
            }
            (None, '?') if chars.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('$'),
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_tokens_per_dialect() {
        let sql = "SELECT id FROM t WHERE a = ?1 AND b = 'is ?2 here' AND c < {now_ms} {skip_locked}";
        let pg = render(Dialect::Postgres, sql);
        assert_eq!(pg, "SELECT id FROM t WHERE a = $1 AND b = 'is ?2 here' AND c < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) FOR UPDATE SKIP LOCKED");
        let lite = render(Dialect::Sqlite, sql);
        assert!(lite.contains("a = ?1") && lite.contains("unixepoch") && !lite.contains("SKIP"), "{lite}");
        assert!(matches!(render(Dialect::Sqlite, "SELECT 1 WHERE x = ?1"), Cow::Borrowed(_)));
    }

    #[test]
    fn rows_read_back_typed() {
        let r = Row(vec![Value::Int(7), Value::Null, Value::Text("x".into()), Value::Text("12".into())]);
        assert_eq!(r.int(0).unwrap(), 7);
        assert_eq!(r.opt_text(1).unwrap(), None);
        assert_eq!(r.text(2).unwrap(), "x");
        assert_eq!(r.int(3).unwrap(), 12);
        assert!(r.int(1).is_err() && r.int(2).is_err() && r.int(9).is_err());
        assert_eq!(params![1i64, "a", None::<String>, true], vec![Value::Int(1), Value::Text("a".into()), Value::Null, Value::Int(1)]);
    }
}
