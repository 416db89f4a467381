//! Reading the journal: single jobs, resume and operator lists, look-ups, reports.
use super::backend::{params, Row, Value as SqlValue};
use super::types::*;
use super::{parse_stamp, stamp, Journal, JournalError};
use crate::station::handover::SealedPin;
use crate::station::state::JobState;

pub(super) const JOB_COLUMNS: &str = "id, uid, mode, state, tenant, batch_id, batch_line, resumes_job, user_upn, user_object_id,
    key_path, key_aaguid, key_model, key_serial, key_firmware, display_name, entra_method_id, credential_id,
    sealed_pin, error_kind, error_message, operator_detail, created_at, updated_at, finished_at, station, host";

// Statements the pipeline runs for every key, shared with [`Journal::query_plans`] so
// the plan test checks exactly what runs.
pub(super) const JOB_STATE: &str = "SELECT state FROM jobs WHERE id = ?1";
pub(super) const TOUCH_JOB: &str = "UPDATE jobs SET updated_at = ?2 WHERE id = ?1 AND COALESCE(fence, 0) = ?3";
pub(super) const RECORD_INTERRUPTION: &str = "UPDATE jobs SET error_kind = ?2, error_message = ?3, updated_at = ?4 WHERE id = ?1 AND COALESCE(fence, 0) = ?5";
pub(super) const RESOLVE_INTENT: &str = "UPDATE intents SET resolution = ?3, resolved_at = ?4, result = ?5, message = ?6
             WHERE id = ?1 AND job_id = ?2 AND resolution IS NULL";
pub(super) const FORGET_METHOD: &str = "UPDATE jobs SET entra_method_id = NULL WHERE id = ?1 AND entra_method_id = ?2";
const KNOWS_METHOD: &str = "SELECT 1 FROM jobs WHERE entra_method_id = ?1";
const INTENTS_OF_JOB: &str = "SELECT id, job_id, detail, recorded_at, resolution, resolved_at, result, message FROM intents WHERE job_id = ?1 ORDER BY id";
const TRANSITIONS_OF_JOB: &str = "SELECT from_state, to_state, at, intent_id, note FROM transitions WHERE job_id = ?1 ORDER BY id";
const STATE_SINCE: &str = "SELECT at FROM transitions WHERE job_id = ?1 ORDER BY id DESC LIMIT 1";
const BY_ID: &str = "WHERE id = ?1";
const BY_UID: &str = "WHERE uid = ?1";
const BY_USER: &str = "WHERE lower(user_upn) = lower(?1) ORDER BY id";
const BY_CREDENTIAL: &str = "WHERE credential_id = ?1 ORDER BY id DESC";
const BY_METHOD: &str = "WHERE entra_method_id = ?1";

/// How the database runs one statement (`EXPLAIN QUERY PLAN` on SQLite).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueryPlan {
    /// What the statement is for.
    pub name: &'static str,
    /// The statement.
    pub sql: String,
    /// The plan, one line per step (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`
    /// with sequential scans priced out).
    pub plan: Vec<String>,
    /// Some step reads a whole table.
    pub table_scan: bool,
}

impl QueryPlan {
    /// Every table is reached through an index (no step scans a whole table).
    pub fn uses_index(&self) -> bool {
        !self.table_scan
    }
}

pub(super) fn key_clause(key: &KeyQuery) -> (Vec<String>, Vec<SqlValue>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    for (col, v) in [("key_serial", &key.serial), ("key_aaguid", &key.aaguid), ("key_path", &key.path)] {
        if let Some(v) = v {
            args.push(SqlValue::Text(v.clone()));
            clauses.push(format!("lower({col}) = lower(?{})", args.len()));
        }
    }
    (clauses, args)
}

/// A jobs row before its text columns are parsed.
struct RawJob {
    id: i64,
    uid: String,
    mode: String,
    state: String,
    tenant: Option<String>,
    batch_id: Option<String>,
    batch_line: Option<i64>,
    resumes: Option<i64>,
    upn: Option<String>,
    object_id: Option<String>,
    key: KeyFacts,
    display_name: Option<String>,
    method: Option<String>,
    credential: Option<String>,
    sealed: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
    operator_detail: Option<String>,
    created: String,
    updated: String,
    finished: Option<String>,
    station: Option<String>,
    host: Option<String>,
}

fn raw_job(r: &Row) -> Result<RawJob, JournalError> {
    Ok(RawJob {
        id: r.int(0)?,
        uid: r.text(1)?,
        mode: r.text(2)?,
        state: r.text(3)?,
        tenant: r.opt_text(4)?,
        batch_id: r.opt_text(5)?,
        batch_line: r.opt_int(6)?,
        resumes: r.opt_int(7)?,
        upn: r.opt_text(8)?,
        object_id: r.opt_text(9)?,
        key: KeyFacts { path: r.opt_text(10)?, aaguid: r.opt_text(11)?, model: r.opt_text(12)?, serial: r.opt_text(13)?, firmware: r.opt_text(14)? },
        display_name: r.opt_text(15)?,
        method: r.opt_text(16)?,
        credential: r.opt_text(17)?,
        sealed: r.opt_text(18)?,
        error_kind: r.opt_text(19)?,
        error_message: r.opt_text(20)?,
        operator_detail: r.opt_text(21)?,
        created: r.text(22)?,
        updated: r.text(23)?,
        finished: r.opt_text(24)?,
        station: r.opt_text(25)?,
        host: r.opt_text(26)?,
    })
}

fn unfinished_clause() -> (String, Vec<SqlValue>) {
    let states: Vec<SqlValue> = JobState::ALL.iter().filter(|s| s.is_in_progress()).map(|s| SqlValue::Text(s.as_str().into())).collect();
    let marks = (1..=states.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    (format!("WHERE state IN ({marks}) ORDER BY id"), states)
}

fn failure_kind(s: &str) -> Result<FailureKind, JournalError> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| JournalError::Corrupt(format!("error kind {s:?}")))
}

impl RawJob {
    fn into_record(self) -> Result<JobRecord, JournalError> {
        let error = match (self.error_kind, self.error_message) {
            (Some(k), Some(m)) => Some(JobError { kind: failure_kind(&k)?, message: m }),
            _ => None,
        };
        let operator_reason = self
            .operator_detail
            .map(|d| serde_json::from_str::<OperatorReason>(&d).map_err(|e| JournalError::Corrupt(format!("operator reason: {e}"))))
            .transpose()?;
        Ok(JobRecord {
            id: JobId(self.id),
            uid: self.uid,
            mode: self.mode.parse().map_err(JournalError::Corrupt)?,
            state: self.state.parse().map_err(JournalError::Corrupt)?,
            tenant: self.tenant,
            batch: match (self.batch_id, self.batch_line) {
                (Some(id), line) => Some(BatchRef { id, line: line.unwrap_or(0).max(0) as u64 }),
                _ => None,
            },
            resumes: self.resumes.map(JobId),
            user: UserRef { upn: self.upn, object_id: self.object_id },
            key: self.key,
            display_name: self.display_name,
            entra_method_id: self.method,
            credential_id: self.credential,
            sealed_pin: self.sealed.map(SealedPin::from_armored).transpose().map_err(|e| JournalError::Corrupt(e.to_string()))?,
            error,
            operator_reason,
            created_at: parse_stamp(&self.created)?,
            updated_at: parse_stamp(&self.updated)?,
            finished_at: self.finished.as_deref().map(parse_stamp).transpose()?,
            station: self.station,
            host: self.host,
        })
    }
}

struct RawIntent {
    id: i64,
    job: i64,
    detail: String,
    recorded: String,
    resolution: Option<String>,
    resolved: Option<String>,
    result: Option<String>,
    message: Option<String>,
}

impl RawIntent {
    fn into_record(self) -> Result<IntentRecord, JournalError> {
        Ok(IntentRecord {
            id: IntentId(self.id),
            job: JobId(self.job),
            intent: serde_json::from_str(&self.detail).map_err(|e| JournalError::Corrupt(format!("intent {}: {e}", self.id)))?,
            recorded_at: parse_stamp(&self.recorded)?,
            resolution: self
                .resolution
                .map(|r| serde_json::from_value(serde_json::Value::String(r.clone())).map_err(|_| JournalError::Corrupt(format!("resolution {r:?}"))))
                .transpose()?,
            resolved_at: self.resolved.as_deref().map(parse_stamp).transpose()?,
            result: self.result.map(|r| serde_json::from_str(&r).map_err(|e| JournalError::Corrupt(format!("intent result: {e}")))).transpose()?,
            message: self.message,
        })
    }
}

fn intent_from(r: &Row) -> Result<IntentRecord, JournalError> {
    RawIntent {
        id: r.int(0)?,
        job: r.int(1)?,
        detail: r.text(2)?,
        recorded: r.text(3)?,
        resolution: r.opt_text(4)?,
        resolved: r.opt_text(5)?,
        result: r.opt_text(6)?,
        message: r.opt_text(7)?,
    }
    .into_record()
}

impl Journal {
    pub(super) fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Row>, JournalError> {
        self.db.borrow_mut().query(sql, args)
    }

    pub(super) fn jobs_where(&self, clause: &str, args: Vec<SqlValue>) -> Result<Vec<JobRecord>, JournalError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs {clause}");
        self.rows(&sql, &args)?.iter().map(|r| raw_job(r)?.into_record()).collect()
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Result<Option<JobRecord>, JournalError> {
        Ok(self.jobs_where(BY_ID, vec![SqlValue::Int(id.0)])?.into_iter().next())
    }

    /// One job by its UUID.
    pub fn job_by_uid(&self, uid: &str) -> Result<Option<JobRecord>, JournalError> {
        Ok(self.jobs_where(BY_UID, vec![SqlValue::Text(uid.to_string())])?.into_iter().next())
    }

    /// A job's intents, oldest first.
    pub fn intents(&self, job: JobId) -> Result<Vec<IntentRecord>, JournalError> {
        self.rows(INTENTS_OF_JOB, &params![job.0])?.iter().map(intent_from).collect()
    }

    /// A job's history, oldest first.
    pub fn transitions(&self, job: JobId) -> Result<Vec<TransitionRecord>, JournalError> {
        self.rows(TRANSITIONS_OF_JOB, &params![job.0])?
            .iter()
            .map(|r| {
                Ok(TransitionRecord {
                    from: r.opt_text(0)?.map(|f| f.parse()).transpose().map_err(JournalError::Corrupt)?,
                    to: r.text(1)?.parse().map_err(JournalError::Corrupt)?,
                    at: parse_stamp(&r.text(2)?)?,
                    intent: r.opt_int(3)?.map(IntentId),
                    note: r.opt_text(4)?,
                })
            })
            .collect()
    }

    fn state_since(&self, job: JobId) -> Result<chrono::DateTime<chrono::Utc>, JournalError> {
        let at = self.rows(STATE_SINCE, &params![job.0])?.first().map(|r| r.text(0)).transpose()?.ok_or(JournalError::UnknownJob(job))?;
        parse_stamp(&at)
    }

    /// Jobs that were in progress (`arrived` … `handed_over`) when their process stopped,
    /// oldest first, each with its open intents. Call at start-up, before taking new
    /// jobs, and reconcile each one (docs/journal.md, "Resume rules"). On a shared
    /// journal only this station's own jobs: another station's are its own business
    /// (or, once its lease expires, come back through the queue).
    pub fn unfinished(&self) -> Result<Vec<UnfinishedJob>, JournalError> {
        let (mut clause, mut states) = unfinished_clause();
        if self.is_shared() {
            states.push(SqlValue::Text(self.identity.name.clone()));
            clause = clause.replace("ORDER BY id", &format!("AND station = ?{} ORDER BY id", states.len()));
        }
        let jobs = self.jobs_where(&clause, states)?;
        jobs.into_iter().map(|job| self.with_intents(job)).collect()
    }

    /// One job with what resuming it needs, if it is still in progress (a queue
    /// takeover continues another station's job from here).
    pub fn unfinished_job(&self, id: JobId) -> Result<Option<UnfinishedJob>, JournalError> {
        match self.job(id)? {
            Some(job) if job.state.is_in_progress() => Ok(Some(self.with_intents(job)?)),
            _ => Ok(None),
        }
    }

    fn with_intents(&self, job: JobRecord) -> Result<UnfinishedJob, JournalError> {
        let intents = self.intents(job.id)?;
        Ok(UnfinishedJob { state_since: self.state_since(job.id)?, open_intents: intents.iter().filter(|i| i.is_open()).cloned().collect(), intents, job })
    }

    /// How the database runs every statement the pipeline issues per key (and the
    /// start-up, batch and queue look-ups): each must reach its rows through an index,
    /// or the cost per key grows with the journal (`docs/journal.md`, "Indexes").
    pub fn query_plans(&self) -> Result<Vec<QueryPlan>, JournalError> {
        let select = |clause: &str| format!("SELECT {JOB_COLUMNS} FROM jobs {clause}");
        let (key, _) = key_clause(&KeyQuery { serial: Some("s".into()), aaguid: Some("a".into()), path: None });
        let mut statements: Vec<(&'static str, String)> = vec![
            ("job by id", select(BY_ID)),
            ("job by uid", select(BY_UID)),
            ("jobs for a key (serial, AAGUID)", select(&format!("WHERE {} ORDER BY id", key.join(" AND ")))),
            ("jobs for a user", select(BY_USER)),
            ("job by credential id", select(BY_CREDENTIAL)),
            ("job by method id", select(BY_METHOD)),
            ("is the method known", KNOWS_METHOD.into()),
            ("intents of a job", INTENTS_OF_JOB.into()),
            ("history of a job", TRANSITIONS_OF_JOB.into()),
            ("state since", STATE_SINCE.into()),
            ("state of a job", JOB_STATE.into()),
            ("touch a job", TOUCH_JOB.into()),
            ("update a job", super::UPDATE_JOB.into()),
            ("record an interruption", RECORD_INTERRUPTION.into()),
            ("resolve an intent", RESOLVE_INTENT.into()),
            ("forget a deleted method", FORGET_METHOD.into()),
            ("unfinished jobs", select(&unfinished_clause().0)),
            ("jobs of a batch", select("WHERE batch_id = ?1 ORDER BY id")),
        ];
        statements.extend(super::fleet::statements());
        let mut db = self.db.borrow_mut();
        statements
            .into_iter()
            .map(|(name, sql)| {
                let (plan, table_scan) = db.explain(&sql)?;
                Ok(QueryPlan { name, sql, plan, table_scan })
            })
            .collect()
    }

    /// Jobs waiting for an operator, oldest first, with their reasons.
    pub fn needs_operator(&self) -> Result<Vec<NeedsOperatorEntry>, JournalError> {
        let jobs = self.jobs_where("WHERE state = 'needs_operator' ORDER BY id", vec![])?;
        jobs.into_iter()
            .map(|job| {
                let reason = job.operator_reason.clone().unwrap_or(OperatorReason::Other { message: "no reason recorded".into() });
                Ok(NeedsOperatorEntry { since: self.state_since(job.id)?, reason, job })
            })
            .collect()
    }

    /// Every job for a user (UPN, case-insensitive), oldest first.
    pub fn jobs_for_user(&self, upn: &str) -> Result<Vec<JobRecord>, JournalError> {
        self.jobs_where(BY_USER, vec![SqlValue::Text(upn.to_string())])
    }

    /// The Entra methods the journal says `upn` still has ([`LiveMethod`]), oldest
    /// job first: what a check of the journal against the tenant compares with the
    /// user's methods in Entra, with no special case for a method a resumed job
    /// deleted again. Index look-ups only (the user's jobs, then their intents).
    pub fn live_methods(&self, upn: &str) -> Result<Vec<LiveMethod>, JournalError> {
        let jobs = self.jobs_for_user(upn)?;
        let mut deleted = std::collections::HashSet::new();
        for job in &jobs {
            for i in self.intents(job.id)? {
                if let (Intent::DeleteMethod { method_id, .. }, Some(Resolution::Done)) = (&i.intent, i.resolution) {
                    deleted.insert(method_id.clone());
                }
            }
        }
        Ok(jobs
            .into_iter()
            .filter_map(|j| {
                let method_id = j.entra_method_id.clone().filter(|m| !deleted.contains(m))?;
                Some(LiveMethod { method_id, job: j.id, state: j.state, station: j.station })
            })
            .collect())
    }

    /// Every job for a key, oldest first. At least one field of `key` must be given.
    pub fn jobs_for_key(&self, key: &KeyQuery) -> Result<Vec<JobRecord>, JournalError> {
        let (clauses, args) = key_clause(key);
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        self.jobs_where(&format!("WHERE {} ORDER BY id", clauses.join(" AND ")), args)
    }

    /// The job that made a credential (base64url id).
    pub fn job_by_credential_id(&self, credential_id: &str) -> Result<Option<JobRecord>, JournalError> {
        Ok(self.jobs_where(BY_CREDENTIAL, vec![SqlValue::Text(credential_id.to_string())])?.into_iter().next())
    }

    /// The job that owns an Entra method.
    pub fn job_by_method_id(&self, method_id: &str) -> Result<Option<JobRecord>, JournalError> {
        Ok(self.jobs_where(BY_METHOD, vec![SqlValue::Text(method_id.to_string())])?.into_iter().next())
    }

    /// Whether any job knows this Entra method (orphan detection).
    pub fn knows_method(&self, method_id: &str) -> Result<bool, JournalError> {
        Ok(!self.rows(KNOWS_METHOD, &params![method_id])?.is_empty())
    }

    /// Jobs matching a filter, oldest first (reports).
    pub fn query(&self, f: &JobFilter) -> Result<Vec<JobRecord>, JournalError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let mut push = |clause: &str, v: SqlValue, clauses: &mut Vec<String>| {
            args.push(v);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = f.since {
            push("created_at >= ?", SqlValue::Text(stamp(s)), &mut clauses);
        }
        if let Some(u) = f.until {
            push("created_at < ?", SqlValue::Text(stamp(u)), &mut clauses);
        }
        if let Some(u) = &f.user {
            push("lower(user_upn) = lower(?)", SqlValue::Text(u.clone()), &mut clauses);
        }
        if let Some(m) = f.mode {
            push("mode = ?", SqlValue::Text(m.as_str().into()), &mut clauses);
        }
        if let Some(b) = &f.batch_id {
            push("batch_id = ?", SqlValue::Text(b.clone()), &mut clauses);
        }
        if !f.states.is_empty() {
            let mut marks = Vec::new();
            for s in &f.states {
                args.push(SqlValue::Text(s.as_str().into()));
                marks.push(format!("?{}", args.len()));
            }
            clauses.push(format!("state IN ({})", marks.join(", ")));
        }
        let mut sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        sql.push_str(" ORDER BY id");
        if let Some(n) = f.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        self.jobs_where(&sql, args)
    }
}
