//! The journal's schema and its migrations: one source for both backends.
//!
//! Each migration is plain SQL with the dialect tokens of [`render`] (`{pk}`, `{int}`,
//! `{nocase}`, …), rendered for SQLite or PostgreSQL. Each runs in its own transaction
//! together with the row that records it in `schema_version`, so a crash mid-migration
//! leaves the previous version intact; on PostgreSQL an advisory lock makes stations
//! that start together migrate one after the other. Never edit a released migration
//! (its SQLite rendering is pinned by a test); add the next one.
use super::backend::{params, Backend, Dialect, TxMode};
use super::types::Durability;
use super::JournalError;

#[cfg(test)]
use super::backend::render;

/// (version, SQL). Versions start at 1 and have no gaps.
const MIGRATIONS: &[(u32, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4)];

/// The newest schema this build knows.
pub const LATEST: u32 = 4;

/// Any 64-bit number that no other application uses for an advisory lock on the
/// journal database: "keystation migrate".
const MIGRATION_LOCK: i64 = 0x6b73_6d69_6772_6174;

const V1: &str = r#"
CREATE TABLE jobs (
    id               {pk},
    uid              TEXT NOT NULL UNIQUE,
    mode             TEXT NOT NULL CHECK (mode IN ('enroll', 'batch', 'kiosk', 'demo')),
    state            TEXT NOT NULL CHECK (state IN ('arrived', 'inspected', 'prepared', 'registered',
                                                    'verified', 'handed_over', 'done', 'failed', 'needs_operator')),
    tenant           TEXT,
    batch_id         TEXT,
    batch_line       {int},
    resumes_job      {int} REFERENCES jobs(id),
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
CREATE INDEX jobs_by_user ON jobs(user_upn{nocase});
CREATE INDEX jobs_by_serial ON jobs(key_serial);
CREATE INDEX jobs_by_credential ON jobs(credential_id);
CREATE INDEX jobs_by_created ON jobs(created_at);
CREATE INDEX jobs_by_batch ON jobs(batch_id, batch_line);

CREATE TABLE intents (
    id           {pk},
    job_id       {int} NOT NULL REFERENCES jobs(id),
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
    id          {pk},
    job_id      {int} NOT NULL REFERENCES jobs(id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          TEXT NOT NULL,
    intent_id   {int} REFERENCES intents(id),
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

/// The fleet: station identity and fencing on every job, the shared queue, the stations
/// working on it — and at most one job in progress per user, enforced by the database.
/// Jobs a journal already holds twice in progress for one user (only possible before
/// this version, e.g. two processes on one state directory) are parked for an operator
/// first, newest kept, so the constraint can be created.
const V3: &str = r#"
ALTER TABLE jobs ADD COLUMN station TEXT;
ALTER TABLE jobs ADD COLUMN host TEXT;
ALTER TABLE jobs ADD COLUMN fence {int};
ALTER TABLE jobs ADD COLUMN queue_item {int};
UPDATE jobs SET state = 'needs_operator', operator_reason = 'other',
       operator_detail = '{"code":"other","message":"A second unfinished job for this user was found when keystation was upgraded; this older one was parked. Check the user''s security keys in Entra against the journal, then close this job."}',
       operator_message = 'A second unfinished job for this user was found when keystation was upgraded; this older one was parked. Check the user''s security keys in Entra against the journal, then close this job.',
       finished_at = updated_at
 WHERE user_upn IS NOT NULL
   AND state IN ('arrived', 'inspected', 'prepared', 'registered', 'verified', 'handed_over')
   AND id NOT IN (SELECT MAX(id) FROM jobs
                   WHERE user_upn IS NOT NULL AND state IN ('arrived', 'inspected', 'prepared', 'registered', 'verified', 'handed_over')
                   GROUP BY lower(user_upn));
CREATE UNIQUE INDEX jobs_one_active_per_user ON jobs(lower(user_upn))
    WHERE user_upn IS NOT NULL AND state IN ('arrived', 'inspected', 'prepared', 'registered', 'verified', 'handed_over');
CREATE INDEX jobs_by_queue_item ON jobs(queue_item);

CREATE TABLE queue_items (
    id             {pk},
    queue          TEXT NOT NULL,
    user_upn       TEXT NOT NULL,
    line           {int} NOT NULL,
    display_name   TEXT,
    pin_policy     TEXT,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'parked')),
    attempts       {int} NOT NULL DEFAULT 0,
    station        TEXT,
    host           TEXT,
    lease_token    {int} NOT NULL DEFAULT 0,
    lease_until_ms {int},
    job_id         {int} REFERENCES jobs(id),
    note           TEXT,
    loaded_at      TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    finished_at    TEXT
);
-- Loading the same user twice into a queue is a no-op.
CREATE UNIQUE INDEX queue_items_by_user ON queue_items(queue, lower(user_upn));
CREATE INDEX queue_items_by_state ON queue_items(queue, state, id);
CREATE INDEX queue_items_by_finish ON queue_items(queue, finished_at);

CREATE TABLE stations (
    queue       TEXT NOT NULL,
    name        TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         {int},
    state       TEXT NOT NULL,
    message     TEXT,
    started_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (queue, name)
);
"#;

/// Entra-side operations at the desk (method deletions, re-imaging returned keys) with
/// their intents, and the one-use nonces of signed deeplinks (docs/journal.md). Only new
/// tables.
const V4: &str = r#"
CREATE TABLE operations (
    id            {pk},
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
    station       TEXT,
    host          TEXT,
    plan          TEXT NOT NULL,
    error_message TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX operations_by_state ON operations(state);
CREATE INDEX operations_by_serial ON operations(lower(key_serial));

CREATE TABLE operation_intents (
    id           {pk},
    operation_id {int} NOT NULL REFERENCES operations(id),
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    resolution   TEXT CHECK (resolution IN ('done', 'failed', 'abandoned')),
    resolved_at  TEXT,
    result       TEXT,
    message      TEXT
);
CREATE INDEX operation_intents_by_operation ON operation_intents(operation_id, id);
CREATE INDEX operation_intents_by_kind ON operation_intents(kind, resolution);

CREATE TABLE deeplink_nonces (
    nonce      TEXT PRIMARY KEY,
    used_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    user_upn   TEXT,
    tenant     TEXT,
    station    TEXT
);
CREATE INDEX deeplink_nonces_by_expiry ON deeplink_nonces(expires_at);
"#;

fn table_exists(db: &mut dyn Backend, table: &str) -> Result<bool, JournalError> {
    let rows = match db.dialect() {
        Dialect::Sqlite => db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &params![table])?,
        Dialect::Postgres => db.query("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?1", &params![table])?,
    };
    Ok(!rows.is_empty())
}

/// Current version of an open database (0 for a new, empty one).
pub fn version(db: &mut dyn Backend) -> Result<u32, JournalError> {
    if !table_exists(db, "schema_version")? {
        return Ok(0);
    }
    let rows = db.query("SELECT MAX(version) FROM schema_version", &[])?;
    Ok(rows.first().map(|r| r.opt_int(0)).transpose()?.flatten().unwrap_or(0) as u32)
}

fn newer(db: &dyn Backend, found: u32) -> JournalError {
    JournalError::NewerSchema { path: db.location().into(), found, supported: LATEST }
}

/// Bring the database to [`LATEST`]; refuse a database from a newer keystation.
pub fn migrate(db: &mut dyn Backend, now: &str) -> Result<u32, JournalError> {
    let current = version(db)?;
    if current > LATEST {
        return Err(newer(db, current));
    }
    if current == LATEST {
        return Ok(current);
    }
    for (v, sql) in MIGRATIONS {
        db.begin(TxMode::Write(Durability::Sync))?;
        let step = (|| {
            if db.dialect() == Dialect::Postgres {
                // Waiting for another station's migration (or for its tables, to alter
                // them) is expected: not bounded by the session's short lock_timeout,
                // only by the client's statement deadline.
                db.batch("SET LOCAL lock_timeout = 0")?;
                db.execute("SELECT pg_advisory_xact_lock(?1)", &params![MIGRATION_LOCK])?;
            }
            db.batch("CREATE TABLE IF NOT EXISTS schema_version (version {int} PRIMARY KEY, applied_at TEXT NOT NULL)")?;
            // Another station may have migrated while we waited for the lock.
            let now_at = version(db)?;
            if now_at > LATEST {
                return Err(newer(db, now_at));
            }
            if now_at >= *v {
                return Ok(());
            }
            db.batch(sql)?;
            db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)", &params![*v as i64, now])?;
            Ok(())
        })();
        match step {
            Ok(()) => db.commit()?,
            Err(e) => {
                db.rollback();
                return Err(e);
            }
        }
    }
    version(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::journal::backend::sqlite::SqliteBackend;
    use sha2::{Digest, Sha256};

    #[test]
    fn migrations_are_numbered_without_gaps_and_end_at_latest() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(LATEST));
    }

    #[test]
    fn released_migrations_render_for_sqlite_exactly_as_they_were_released() {
        // SHA-256 of the SQLite text of each released migration: a change here means a
        // released migration was edited (add a new one instead).
        let released = [
            (1, "b331267b45d0c1714f91f0bb8a9d047279918500faafd0c8d8024fe8e9a8d210"),
            (2, "6aaf43de55fbd75ce83311fbb37148f7cea4bd6980819e5dfce0c9627c4c5a0f"),
        ];
        for (v, hash) in released {
            let sql = MIGRATIONS.iter().find(|m| m.0 == v).unwrap().1;
            assert_eq!(hex::encode(Sha256::digest(render(Dialect::Sqlite, sql).as_bytes())), hash, "migration {v} was edited");
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_schemas_are_refused() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut db = SqliteBackend::new(conn, std::path::Path::new("/x/journal.sqlite"));
        assert_eq!(migrate(&mut db, "t").unwrap(), LATEST);
        assert_eq!(migrate(&mut db, "t").unwrap(), LATEST);
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?1, 't')", &params![(LATEST + 1) as i64]).unwrap();
        let e = migrate(&mut db, "t").unwrap_err();
        assert!(e.to_string().contains("newer keystation"), "{e}");
    }
}
