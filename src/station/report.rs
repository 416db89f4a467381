//! `keystation report`: the journal as CSV or JSON.
//!
//! The column set is stable (scripts and spreadsheets depend on it; add columns only at
//! the end): [`COLUMNS`], then `sealed_pin` only when PINs are included and at least one
//! row has one. JSON rows carry the same names; `sealed_pin` appears only on rows that
//! have one. Every CSV cell is [`crate::text::csv_cell`]: one a spreadsheet would run as
//! a formula (it begins with `=`, `+`, `-`, `@`, tab or CR) starts with `'`; JSON carries
//! the values as they are. Report files are written 0600 through a temporary file and a rename: they
//! hold personal data (UPNs, serials) and possibly sealed PINs.
use crate::station::journal::{JobFilter, JobRecord, Journal, JournalError};
use crate::station::state::JobState;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The stable report columns, in order.
pub const COLUMNS: &[&str] = &[
    "job",
    "job_uid",
    "mode",
    "batch_id",
    "batch_line",
    "tenant",
    "user_upn",
    "user_object_id",
    "key_path",
    "key_aaguid",
    "key_model",
    "key_serial",
    "key_firmware",
    "display_name",
    "entra_method_id",
    "credential_id",
    "state",
    "error_kind",
    "error_message",
    "operator_reason",
    "operator_message",
    "resumes_job",
    "created_at",
    "updated_at",
    "finished_at",
    "station",
    "host",
];

/// The optional last column.
pub const SEALED_PIN_COLUMN: &str = "sealed_pin";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Report errors.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing the output failed.
    #[error("cannot write the report{}: {message}", .path.as_ref().map(|p| format!(" to {}", p.display())).unwrap_or_default())]
    Write {
        /// Output file, if any.
        path: Option<std::path::PathBuf>,
        /// Why.
        message: String,
    },
}

/// One report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// Journal row id.
    pub job: i64,
    /// Job UUID.
    pub job_uid: String,
    /// Mode.
    pub mode: String,
    /// Batch id.
    pub batch_id: Option<String>,
    /// CSV line.
    pub batch_line: Option<u64>,
    /// Tenant id (GUID or verified domain, as configured).
    pub tenant: Option<String>,
    /// UPN.
    pub user_upn: Option<String>,
    /// Object id.
    pub user_object_id: Option<String>,
    /// Device path.
    pub key_path: Option<String>,
    /// AAGUID.
    pub key_aaguid: Option<String>,
    /// Model.
    pub key_model: Option<String>,
    /// Serial.
    pub key_serial: Option<String>,
    /// Firmware.
    pub key_firmware: Option<String>,
    /// Display name in Entra.
    pub display_name: Option<String>,
    /// Entra method id.
    pub entra_method_id: Option<String>,
    /// Credential id.
    pub credential_id: Option<String>,
    /// State.
    pub state: String,
    /// Error category.
    pub error_kind: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Operator reason code.
    pub operator_reason: Option<String>,
    /// Operator message.
    pub operator_message: Option<String>,
    /// Row id of the job this one resumed.
    pub resumes_job: Option<i64>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Finished.
    pub finished_at: Option<String>,
    /// The station that ran it (a fleet's report covers every station).
    pub station: Option<String>,
    /// Its machine.
    pub host: Option<String>,
    /// Sealed PIN (age, armored), when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_pin: Option<String>,
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ReportRow {
    /// A row from a job; the sealed PIN only when `include_sealed_pin`.
    pub fn from_job(j: &JobRecord, include_sealed_pin: bool) -> ReportRow {
        ReportRow {
            job: j.id.0,
            job_uid: j.uid.clone(),
            mode: j.mode.as_str().to_string(),
            batch_id: j.batch.as_ref().map(|b| b.id.clone()),
            batch_line: j.batch.as_ref().map(|b| b.line),
            tenant: j.tenant.clone(),
            user_upn: j.user.upn.clone(),
            user_object_id: j.user.object_id.clone(),
            key_path: j.key.path.clone(),
            key_aaguid: j.key.aaguid.clone(),
            key_model: j.key.model.clone(),
            key_serial: j.key.serial.clone(),
            key_firmware: j.key.firmware.clone(),
            display_name: j.display_name.clone(),
            entra_method_id: j.entra_method_id.clone(),
            credential_id: j.credential_id.clone(),
            state: j.state.as_str().to_string(),
            error_kind: j.error.as_ref().map(|e| e.kind.as_str().to_string()),
            error_message: j.error.as_ref().map(|e| e.message.clone()),
            operator_reason: j.operator_reason.as_ref().map(|r| r.code().to_string()),
            operator_message: j.operator_reason.as_ref().map(|r| r.message()),
            resumes_job: j.resumes.map(|r| r.0),
            created_at: fmt_time(j.created_at),
            updated_at: fmt_time(j.updated_at),
            finished_at: j.finished_at.map(fmt_time),
            station: j.station.clone(),
            host: j.host.clone(),
            sealed_pin: if include_sealed_pin { j.sealed_pin.as_ref().map(|s| s.as_armored().to_string()) } else { None },
        }
    }

    fn csv_fields(&self) -> Vec<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            self.job.to_string(),
            self.job_uid.clone(),
            self.mode.clone(),
            o(&self.batch_id),
            self.batch_line.map(|l| l.to_string()).unwrap_or_default(),
            o(&self.tenant),
            o(&self.user_upn),
            o(&self.user_object_id),
            o(&self.key_path),
            o(&self.key_aaguid),
            o(&self.key_model),
            o(&self.key_serial),
            o(&self.key_firmware),
            o(&self.display_name),
            o(&self.entra_method_id),
            o(&self.credential_id),
            self.state.clone(),
            o(&self.error_kind),
            o(&self.error_message),
            o(&self.operator_reason),
            o(&self.operator_message),
            self.resumes_job.map(|r| r.to_string()).unwrap_or_default(),
            self.created_at.clone(),
            self.updated_at.clone(),
            o(&self.finished_at),
            o(&self.station),
            o(&self.host),
        ]
    }
}

/// Parse a lower date bound: `YYYY-MM-DD` (start of that day, UTC) or RFC 3339.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    parse_bound(text, false)
}

/// Parse an upper date bound: `YYYY-MM-DD` includes that whole day (UTC); an RFC 3339
/// time is exclusive.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>, String> {
    parse_bound(text, true)
}

fn parse_bound(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let day = if end_of_day { d.succ_opt().unwrap_or(d) } else { d };
        return day.and_hms_opt(0, 0, 0).map(|n| n.and_utc()).ok_or_else(|| format!("`{t}` is not a usable date"));
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("`{t}` is not a date: use YYYY-MM-DD (a UTC day) or an RFC 3339 time like 2026-03-14T09:30:00+01:00"))
}

/// Parse `--state`: comma-separated state names (`needs-operator`, `handed-over`…), or
/// `unfinished` for every in-progress state.
pub fn parse_states(text: &str) -> Result<Vec<JobState>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("unfinished") || part.eq_ignore_ascii_case("in-progress") {
            out.extend(JobState::ALL.iter().copied().filter(|s| s.is_in_progress()));
        } else {
            out.push(part.parse::<JobState>().map_err(|e| format!("{e}, or unfinished"))?);
        }
    }
    if out.is_empty() {
        return Err("--state needs at least one state".into());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The report rows for a filter.
pub fn rows(journal: &Journal, filter: &JobFilter, include_sealed_pins: bool) -> Result<Vec<ReportRow>, ReportError> {
    Ok(journal.query(filter)?.iter().map(|j| ReportRow::from_job(j, include_sealed_pins)).collect())
}

/// Write rows in `format`.
pub fn write_rows<W: Write>(rows: &[ReportRow], format: ReportFormat, out: W) -> Result<(), ReportError> {
    let werr = |e: &dyn std::fmt::Display| ReportError::Write { path: None, message: e.to_string() };
    match format {
        ReportFormat::Csv => {
            let with_pins = rows.iter().any(|r| r.sealed_pin.is_some());
            let mut w = csv::Writer::from_writer(out);
            let mut header: Vec<&str> = COLUMNS.to_vec();
            if with_pins {
                header.push(SEALED_PIN_COLUMN);
            }
            w.write_record(&header).map_err(|e| werr(&e))?;
            for r in rows {
                let mut fields = r.csv_fields();
                if with_pins {
                    fields.push(r.sealed_pin.clone().unwrap_or_default());
                }
                // Every cell, the UPN and the names included, goes through the one CSV rule
                // (OWASP formula injection; no terminal controls).
                w.write_record(fields.iter().map(|f| crate::text::csv_cell(f).into_owned())).map_err(|e| werr(&e))?;
            }
            w.flush().map_err(|e| werr(&e))?;
        }
        ReportFormat::Json => {
            let mut out = out;
            serde_json::to_writer_pretty(&mut out, rows).map_err(|e| werr(&e))?;
            out.write_all(b"\n").map_err(|e| werr(&e))?;
        }
    }
    Ok(())
}

/// Write `bytes` to `path` readable by the owner only (0600 on Unix), replacing any
/// existing file atomically.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |m: String| ReportError::Write { path: Some(path.to_path_buf()), message: m };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".keystation-report-").tempfile_in(dir).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| err(e.to_string()))?;
    }
    tmp.write_all(bytes).map_err(|e| err(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_cover_whole_days() {
        assert_eq!(parse_since("2026-03-14").unwrap().to_rfc3339(), "2026-03-14T00:00:00+00:00");
        assert_eq!(parse_until("2026-03-14").unwrap().to_rfc3339(), "2026-03-15T00:00:00+00:00");
        assert_eq!(parse_since("2026-03-14T10:00:00+01:00").unwrap().to_rfc3339(), "2026-03-14T09:00:00+00:00");
        assert!(parse_since("14/03/2026").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn states_accept_cli_spellings_and_groups() {
        assert_eq!(parse_states("needs-operator").unwrap(), vec![JobState::NeedsOperator]);
        assert_eq!(parse_states("failed,done").unwrap(), vec![JobState::Done, JobState::Failed]);
        assert_eq!(parse_states("unfinished").unwrap().len(), 6);
        assert!(parse_states("broken").unwrap_err().contains("unfinished"));
    }

    #[test]
    fn csv_header_is_stable_and_pin_column_only_when_present() {
        let row = ReportRow {
            job: 1,
            job_uid: "u".into(),
            mode: "enroll".into(),
            batch_id: None,
            batch_line: None,
            tenant: None,
            user_upn: Some("a@b.c".into()),
            user_object_id: None,
            key_path: None,
            key_aaguid: None,
            key_model: None,
            key_serial: None,
            key_firmware: None,
            display_name: Some("Key, \"quoted\"".into()),
            entra_method_id: None,
            credential_id: None,
            state: "done".into(),
            error_kind: None,
            error_message: None,
            operator_reason: None,
            operator_message: None,
            resumes_job: None,
            created_at: "t".into(),
            updated_at: "t".into(),
            finished_at: None,
            station: None,
            host: None,
            sealed_pin: None,
        };
        let mut out = Vec::new();
        write_rows(std::slice::from_ref(&row), ReportFormat::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
        assert!(text.contains("\"Key, \"\"quoted\"\"\""));
        let mut with_pin = row.clone();
        with_pin.sealed_pin = Some("-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n".into());
        let mut out = Vec::new();
        write_rows(&[row, with_pin], ReportFormat::Csv, &mut out).unwrap();
        let mut r = csv::Reader::from_reader(out.as_slice());
        assert_eq!(r.headers().unwrap().iter().next_back(), Some(SEALED_PIN_COLUMN));
        let recs: Vec<_> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(recs[0].get(COLUMNS.len()), Some(""));
        // The armored block starts with `-`, so the spreadsheet rule gives it a `'` too.
        assert!(recs[1].get(COLUMNS.len()).unwrap().starts_with("'-----BEGIN AGE"));
    }
}
