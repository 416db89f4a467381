//! The local journal: one SQLite file in WAL mode. A relaxed commit runs with
//! `synchronous = NORMAL` (no fsync; the WAL keeps the order), a synced one with `FULL`
//! (the WAL is fsynced, carrying every earlier commit with it).
use super::{Backend, Dialect, Row, TxMode, Value};
use crate::station::journal::JournalError;
use crate::station::journal::types::Durability;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::{Path, PathBuf};

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(v) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

/// A journal in a SQLite file.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    /// The connection's `synchronous` level now (1 = NORMAL, 2 = FULL).
    sync_level: i64,
}

impl SqliteBackend {
    /// Wrap an open connection (pragmas already set, `synchronous = FULL`).
    pub fn new(conn: Connection, path: &Path) -> SqliteBackend {
        SqliteBackend { conn, path: path.to_path_buf(), sync_level: 2 }
    }

    /// The connection, for what only SQLite has (pragmas).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        values.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(f) => Value::Int(f as i64),
            ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        });
    }
    Ok(Row(values))
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn begin(&mut self, mode: TxMode) -> Result<(), JournalError> {
        match mode {
            TxMode::Write(durability) => {
                let level = match durability {
                    Durability::Sync => 2,
                    Durability::Relaxed => 1,
                };
                if self.sync_level != level {
                    self.conn.pragma_update(None, "synchronous", level)?;
                    self.sync_level = level;
                }
                self.conn.execute_batch("BEGIN IMMEDIATE")?;
            }
            TxMode::Read => self.conn.execute_batch("BEGIN")?,
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), JournalError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, JournalError> {
        let mut stmt = self.conn.prepare_cached(&super::render(Dialect::Sqlite, sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, JournalError> {
        let mut stmt = self.conn.prepare_cached(&super::render(Dialect::Sqlite, sql))?;
        let n = stmt.column_count();
        let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| read_row(r, n))?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn insert(&mut self, sql: &str, params: &[Value]) -> Result<i64, JournalError> {
        self.execute(sql, params)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn batch(&mut self, sql: &str) -> Result<(), JournalError> {
        Ok(self.conn.execute_batch(&super::render(Dialect::Sqlite, sql))?)
    }

    fn explain(&mut self, sql: &str) -> Result<(Vec<String>, bool), JournalError> {
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {}", super::render(Dialect::Sqlite, sql)))?;
        let nulls = vec![Value::Null; stmt.parameter_count()];
        let plan = stmt.query_map(rusqlite::params_from_iter(nulls.iter()), |r| r.get::<_, String>(3))?.collect::<Result<Vec<_>, _>>()?;
        let scans = plan.iter().any(|l| l.starts_with("SCAN "));
        Ok((plan, scans))
    }
}
