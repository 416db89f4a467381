//! Journal schema and its migrations. Each migration runs in its own transaction with
//! the row that records it in `schema_version`, so a crash mid-migration leaves the
//! previous version intact. Never edit a released migration; add the next one.
use super::JournalError;
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;

/// (version, SQL). Versions start at 1 and have no gaps.
const MIGRATIONS: &[(u32, &str)] = &[(1, V1), (2, V2), (3, V3)];

/// The newest schema this build knows.
pub const LATEST: u32 = 3;

const V1: &str = r#"
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uid              TEXT NOT NULL UNIQUE,
    mode             TEXT NOT NULL CHECK (mode IN ('enroll', 'batch', 'kiosk', 'demo')),
    state            TEXT NOT NULL CHECK (state IN ('arrived', 'inspected', 'prepared', 'registered',
                                                    'verified', 'handed_over', 'done', 'failed', 'needs_operator')),
    tenant           TEXT,
    batch_id         TEXT,
    batch_line       INTEGER,
    resumes_job      INTEGER REFERENCES jobs(id),
    user_upn         TEXT,
    user_object_id   TEXT,
    key_path         TEXT,
    key_aaguid       TEXT,
    key_model        TEXT,
    key_serial       TEXT,
    key_firmware     TEXT,
    display_name     TEXT,
    entra_method_id  TEXT,
    credential_id    TEXT,
    sealed_pin       TEXT CHECK (sealed_pin IS NULL OR sealed_pin LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    error_kind       TEXT,
    error_message    TEXT,
    operator_reason  TEXT,
    operator_detail  TEXT,
    operator_message TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT
);
-- One Entra method belongs to at most one job: a crash can never make the journal
-- claim the same registration twice.
CREATE UNIQUE INDEX jobs_by_method ON jobs(entra_method_id) WHERE entra_method_id IS NOT NULL;
CREATE INDEX jobs_by_state ON jobs(state);
CREATE INDEX jobs_by_user ON jobs(user_upn COLLATE NOCASE);
CREATE INDEX jobs_by_serial ON jobs(key_serial);
CREATE INDEX jobs_by_credential ON jobs(credential_id);
CREATE INDEX jobs_by_created ON jobs(created_at);
CREATE INDEX jobs_by_batch ON jobs(batch_id, batch_line);

CREATE TABLE intents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs(id),
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    resolution   TEXT CHECK (resolution IN ('done', 'failed', 'abandoned')),
    resolved_at  TEXT,
    result       TEXT,
    message      TEXT
);
CREATE INDEX intents_by_job ON intents(job_id, id);
CREATE INDEX intents_open ON intents(job_id) WHERE resolution IS NULL;

CREATE TABLE transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          TEXT NOT NULL,
    intent_id   INTEGER REFERENCES intents(id),
    note        TEXT
);
CREATE INDEX transitions_by_job ON transitions(job_id, id);
"#;

/// Case-insensitive look-ups by expression (`lower(col) = lower(?)`), which both SQLite
/// and PostgreSQL index the same way. V1's `jobs_by_serial` had the default collation
/// while `jobs_for_key` compared with `COLLATE NOCASE`, so every key scanned the whole
/// jobs table.
const V2: &str = r#"
DROP INDEX jobs_by_user;
DROP INDEX jobs_by_serial;
CREATE INDEX jobs_by_user ON jobs(lower(user_upn));
CREATE INDEX jobs_by_serial ON jobs(lower(key_serial));
"#;

/// Entra-side operations at the desk (method deletions, re-imaging returned keys) with
/// their intents, and the one-use nonces of signed deeplinks (docs/journal.md). Only new
/// tables, so it is written to be repeatable (`IF NOT EXISTS`).
const V3: &str = r#"
CREATE TABLE IF NOT EXISTS operations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uid           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('delete_methods', 'reimage')),
    state         TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    tenant        TEXT,
    user_upn      TEXT,
    key_path      TEXT,
    key_aaguid    TEXT,
    key_model     TEXT,
    key_serial    TEXT,
    key_firmware  TEXT,
    plan          TEXT NOT NULL,
    error_message TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_state ON operations(state);
CREATE INDEX IF NOT EXISTS operations_by_serial ON operations(lower(key_serial));

CREATE TABLE IF NOT EXISTS operation_intents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_id INTEGER NOT NULL REFERENCES operations(id),
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    resolution   TEXT CHECK (resolution IN ('done', 'failed', 'abandoned')),
    resolved_at  TEXT,
    result       TEXT,
    message      TEXT
);
CREATE INDEX IF NOT EXISTS operation_intents_by_operation ON operation_intents(operation_id, id);

CREATE TABLE IF NOT EXISTS deeplink_nonces (
    nonce      TEXT PRIMARY KEY,
    used_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    user_upn   TEXT,
    tenant     TEXT
);
"#;

/// Current version of an open database (0 for a new, empty file).
pub fn version(conn: &Connection) -> Result<u32, JournalError> {
    let has_table: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", [], |r| r.get(0))
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    let v: Option<u32> = conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}

/// Bring the database to [`LATEST`]; refuse a database from a newer keystation.
pub fn migrate(conn: &mut Connection, path: &Path, now: &str) -> Result<u32, JournalError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")?;
    let current = version(conn)?;
    if current > LATEST {
        return Err(JournalError::NewerSchema { path: path.to_path_buf(), found: current, supported: LATEST });
    }
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another connection may have migrated while this one waited for the lock.
        if version(&tx)? >= *v {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)", rusqlite::params![v, now])?;
        tx.commit()?;
    }
    version(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_without_gaps_and_end_at_latest() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(LATEST));
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_schemas_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:"), "t").unwrap(), LATEST);
        assert_eq!(migrate(&mut conn, Path::new(":memory:"), "t").unwrap(), LATEST);
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?1, 't')", [LATEST + 1]).unwrap();
        let e = migrate(&mut conn, Path::new("/x/journal.sqlite"), "t").unwrap_err();
        assert!(e.to_string().contains("newer keystation"), "{e}");
    }
}
