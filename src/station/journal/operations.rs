//! Entra-side operations at the desk that are not provisioning jobs: deleting a user's
//! FIDO2 methods (`methods delete`, a batch row that replaces a user's keys) and
//! re-imaging a returned key (delete the previous owners' methods, reset the key).
//!
//! They follow the journal's one rule: an [`Intent`] (`delete_method`, `reset_key`) is
//! committed before its side effect and resolved after it. The operation's plan (which
//! methods of which users, whether the key is reset) is stored when it begins, before
//! any side effect, so an interrupted operation is finished by running its plan again:
//! every step is idempotent (a method already gone is done; resetting a reset key is
//! harmless). Tables `operations` and `operation_intents` (schema 4, docs/journal.md); the
//! same statements on SQLite and PostgreSQL.
use super::types::{Intent, IntentOutcome, JobError, KeyFacts, KeyQuery, Resolution};
use super::backend::{params, Value as SqlValue};
use super::{parse_stamp, Journal, JournalError};
use crate::station::journal::Durability;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Row id of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(pub i64);

impl std::fmt::Display for OperationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

/// Row id of an operation's intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpIntentId(pub i64);

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Delete FIDO2 methods of users (no key involved).
    DeleteMethods,
    /// Delete the previous owners' methods of a returned key, then reset the key.
    Reimage,
}

impl OperationKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::DeleteMethods => "delete_methods",
            OperationKind::Reimage => "reimage",
        }
    }

    fn parse(s: &str) -> Result<OperationKind, JournalError> {
        match s {
            "delete_methods" => Ok(OperationKind::DeleteMethods),
            "reimage" => Ok(OperationKind::Reimage),
            other => Err(JournalError::Corrupt(format!("operation kind {other:?}"))),
        }
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Begun; some steps may be left (an interrupted one is finished by running it again).
    Started,
    /// Every step done.
    Done,
    /// Stopped for good (the error says why).
    Failed,
}

impl OperationState {
    fn as_str(self) -> &'static str {
        match self {
            OperationState::Started => "started",
            OperationState::Done => "done",
            OperationState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<OperationState, JournalError> {
        match s {
            "started" => Ok(OperationState::Started),
            "done" => Ok(OperationState::Done),
            "failed" => Ok(OperationState::Failed),
            other => Err(JournalError::Corrupt(format!("operation state {other:?}"))),
        }
    }
}

/// One method an operation deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDeletion {
    /// The user's UPN (for people).
    pub user_upn: Option<String>,
    /// The user's object id (what the DELETE is sent for).
    pub user_id: String,
    /// The fido2Method id.
    pub method_id: String,
    /// Its display name, when known.
    pub display_name: Option<String>,
    /// How it was found: `journal` (the job that registered it), `key` (a credential on
    /// the key, by credential management), `user` (the operator named it), `replace`
    /// (a batch row replacing the user's keys).
    pub found_by: String,
}

/// What an operation sets out to do, stored before its first side effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationPlan {
    /// Methods to delete, in order.
    pub deletions: Vec<PlannedDeletion>,
    /// Reset the key afterwards.
    pub reset_key: bool,
    /// Free text for the history ("returned key", "replace keys for line 4").
    #[serde(default)]
    pub note: Option<String>,
}

/// A new operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation {
    /// What it does.
    pub kind: OperationKind,
    /// Configured tenant.
    pub tenant: Option<String>,
    /// The user it is for (delete_methods), when one.
    pub user_upn: Option<String>,
    /// The key (reimage).
    pub key: KeyFacts,
    /// The plan.
    pub plan: OperationPlan,
}

/// An operation's intent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationIntent {
    /// Row id.
    pub id: OpIntentId,
    /// What was about to happen.
    pub intent: Intent,
    /// Recorded before the side effect.
    pub recorded_at: DateTime<Utc>,
    /// How it ended (`None`: open).
    pub resolution: Option<Resolution>,
    /// Result data.
    pub result: Option<serde_json::Value>,
    /// Error or note.
    pub message: Option<String>,
}

impl OperationIntent {
    /// Resolved `done`.
    pub fn is_done(&self) -> bool {
        self.resolution == Some(Resolution::Done)
    }
}

/// An operation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationRecord {
    /// Row id.
    pub id: OperationId,
    /// UUID.
    pub uid: String,
    /// Kind.
    pub kind: OperationKind,
    /// State.
    pub state: OperationState,
    /// Tenant.
    pub tenant: Option<String>,
    /// User.
    pub user_upn: Option<String>,
    /// Key.
    pub key: KeyFacts,
    /// Plan.
    pub plan: OperationPlan,
    /// Error, when failed.
    pub error: Option<String>,
    /// Begun.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its intents, oldest first.
    pub intents: Vec<OperationIntent>,
}

impl OperationRecord {
    /// Whether the deletion of `method_id` is done.
    pub fn deleted(&self, method_id: &str) -> bool {
        self.intents.iter().any(|i| i.is_done() && matches!(&i.intent, Intent::DeleteMethod { method_id: m, .. } if m == method_id))
    }

    /// Whether the key reset is done.
    pub fn reset_done(&self) -> bool {
        self.intents.iter().any(|i| i.is_done() && i.intent == Intent::ResetKey)
    }

    /// The open intent of a deletion or reset, if the station died during it.
    pub fn open_intent(&self, wanted: &Intent) -> Option<OpIntentId> {
        self.intents.iter().find(|i| i.resolution.is_none() && &i.intent == wanted).map(|i| i.id)
    }
}

const OP_COLUMNS: &str = "id, uid, kind, state, tenant, user_upn, key_path, key_aaguid, key_model, key_serial, key_firmware, plan, error_message, created_at, updated_at, finished_at";
const INSERT_OPERATION: &str = "INSERT INTO operations (uid, kind, state, tenant, user_upn, key_path, key_aaguid, key_model, key_serial, key_firmware, station, host, plan, created_at, updated_at)
             VALUES (?1, ?2, 'started', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)";
const TOUCH_OPERATION: &str = "UPDATE operations SET updated_at = ?2 WHERE id = ?1";
const INTENTS_OF_OPERATION: &str = "SELECT id, detail, recorded_at, resolution, result, message FROM operation_intents WHERE operation_id = ?1 ORDER BY id";
const METHOD_DELETED: &str = "SELECT 1 FROM operation_intents WHERE kind = 'delete_method' AND resolution = 'done' AND detail LIKE ?1";

fn resolution(s: Option<String>) -> Result<Option<Resolution>, JournalError> {
    Ok(match s.as_deref() {
        None => None,
        Some("done") => Some(Resolution::Done),
        Some("failed") => Some(Resolution::Failed),
        Some("abandoned") => Some(Resolution::Abandoned),
        Some(other) => return Err(JournalError::Corrupt(format!("resolution {other:?}"))),
    })
}

impl Journal {
    /// Begin an operation with its plan (committed and synced: the plan is what a resume
    /// runs again).
    pub fn begin_operation(&mut self, op: &NewOperation) -> Result<OperationId, JournalError> {
        let now = self.now();
        let plan = serde_json::to_string(&op.plan).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        let identity = self.identity().clone();
        let args = params![
            uuid::Uuid::new_v4().to_string(),
            op.kind.as_str(),
            op.tenant.clone(),
            op.user_upn.clone(),
            op.key.path.clone(),
            op.key.aaguid.clone(),
            op.key.model.clone(),
            op.key.serial.clone(),
            op.key.firmware.clone(),
            identity.name,
            identity.host,
            plan,
            now,
        ];
        self.write(Durability::Sync, |db| Ok(OperationId(db.insert(INSERT_OPERATION, &args)?)))
    }

    /// Record (and commit) that an operation's side effect is about to start.
    pub fn record_operation_intent(&mut self, op: OperationId, intent: &Intent) -> Result<OpIntentId, JournalError> {
        let now = self.now();
        let detail = serde_json::to_string(intent).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        self.write(Durability::Sync, |db| {
            if db.execute(TOUCH_OPERATION, &params![op.0, now.clone()])? == 0 {
                return Err(JournalError::Corrupt(format!("operation {op} is not in the journal")));
            }
            let id = db.insert(
                "INSERT INTO operation_intents (operation_id, kind, detail, recorded_at) VALUES (?1, ?2, ?3, ?4)",
                &params![op.0, intent.kind(), detail, now],
            )?;
            Ok(OpIntentId(id))
        })
    }

    /// Resolve an operation's intent.
    pub fn resolve_operation_intent(&mut self, op: OperationId, intent: OpIntentId, outcome: &IntentOutcome) -> Result<(), JournalError> {
        let now = self.now();
        let (resolution, result, message) = match outcome {
            IntentOutcome::Done(v) => ("done", v.as_ref().map(|v| v.to_string()), None),
            IntentOutcome::Failed(e) => ("failed", None, Some(format!("{}: {}", e.kind.as_str(), e.message))),
            IntentOutcome::Abandoned(note) => ("abandoned", None, Some(note.clone())),
        };
        self.write(Durability::Sync, |db| {
            let n = db.execute(
                "UPDATE operation_intents SET resolution = ?3, resolved_at = ?4, result = ?5, message = ?6 WHERE id = ?1 AND operation_id = ?2 AND resolution IS NULL",
                &params![intent.0, op.0, resolution, now.clone(), result, message],
            )?;
            if n == 0 {
                return Err(JournalError::Corrupt(format!("intent {} is not an open intent of operation {op}", intent.0)));
            }
            db.execute(TOUCH_OPERATION, &params![op.0, now])?;
            Ok(())
        })
    }

    /// End an operation: `Ok` → done, `Err` → failed with the error.
    pub fn finish_operation(&mut self, op: OperationId, result: Result<(), JobError>) -> Result<(), JournalError> {
        let now = self.now();
        let (state, error) = match &result {
            Ok(()) => (OperationState::Done, None),
            Err(e) => (OperationState::Failed, Some(format!("{}: {}", e.kind.as_str(), e.message))),
        };
        self.write(Durability::Sync, |db| {
            let n = db.execute(
                "UPDATE operations SET state = ?2, error_message = ?3, updated_at = ?4, finished_at = ?4 WHERE id = ?1 AND state = 'started'",
                &params![op.0, state.as_str(), error, now],
            )?;
            if n == 0 {
                return Err(JournalError::Corrupt(format!("operation {op} is not started")));
            }
            Ok(())
        })
    }

    fn operations_where(&self, clause: &str, args: Vec<SqlValue>) -> Result<Vec<OperationRecord>, JournalError> {
        let sql = format!("SELECT {OP_COLUMNS} FROM operations {clause}");
        let rows = self.rows(&sql, &args)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = OperationId(r.int(0)?);
            out.push(OperationRecord {
                id,
                uid: r.text(1)?,
                kind: OperationKind::parse(&r.text(2)?)?,
                state: OperationState::parse(&r.text(3)?)?,
                tenant: r.opt_text(4)?,
                user_upn: r.opt_text(5)?,
                key: KeyFacts { path: r.opt_text(6)?, aaguid: r.opt_text(7)?, model: r.opt_text(8)?, serial: r.opt_text(9)?, firmware: r.opt_text(10)? },
                plan: serde_json::from_str(&r.text(11)?).map_err(|e| JournalError::Corrupt(format!("operation plan: {e}")))?,
                error: r.opt_text(12)?,
                created_at: parse_stamp(&r.text(13)?)?,
                updated_at: parse_stamp(&r.text(14)?)?,
                finished_at: r.opt_text(15)?.as_deref().map(parse_stamp).transpose()?,
                intents: self.operation_intents(id)?,
            });
        }
        Ok(out)
    }

    fn operation_intents(&self, op: OperationId) -> Result<Vec<OperationIntent>, JournalError> {
        self.rows(INTENTS_OF_OPERATION, &params![op.0])?
            .iter()
            .map(|r| {
                Ok(OperationIntent {
                    id: OpIntentId(r.int(0)?),
                    intent: serde_json::from_str(&r.text(1)?).map_err(|e| JournalError::Corrupt(format!("operation intent: {e}")))?,
                    recorded_at: parse_stamp(&r.text(2)?)?,
                    resolution: resolution(r.opt_text(3)?)?,
                    result: r.opt_text(4)?.as_deref().and_then(|r| serde_json::from_str(r).ok()),
                    message: r.opt_text(5)?,
                })
            })
            .collect()
    }

    /// One operation.
    pub fn operation(&self, op: OperationId) -> Result<Option<OperationRecord>, JournalError> {
        Ok(self.operations_where("WHERE id = ?1", vec![SqlValue::Int(op.0)])?.into_iter().next())
    }

    /// Operations that were begun and never ended (oldest first): an interrupted one is
    /// finished by running its plan again. On a shared journal only this station's own
    /// (another station finishes its own when it starts again).
    pub fn unfinished_operations(&self) -> Result<Vec<OperationRecord>, JournalError> {
        if self.is_shared() {
            return self.operations_where("WHERE state = 'started' AND station = ?1 ORDER BY id", vec![SqlValue::Text(self.identity().name.clone())]);
        }
        self.operations_where("WHERE state = 'started' ORDER BY id", vec![])
    }

    /// Every operation on a key (serial and/or AAGUID must match), oldest first.
    pub fn operations_for_key(&self, key: &KeyQuery) -> Result<Vec<OperationRecord>, JournalError> {
        let (clauses, args) = super::query::key_clause(key);
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        self.operations_where(&format!("WHERE {} ORDER BY id", clauses.join(" AND ")), args)
    }

    /// Whether an operation deleted this method (so a job's claim on it is history).
    pub fn method_deleted(&self, method_id: &str) -> Result<bool, JournalError> {
        let like = format!("%\"method_id\":{}%", serde_json::Value::String(method_id.to_string()));
        Ok(!self.rows(METHOD_DELETED, &params![like])?.is_empty())
    }
}
