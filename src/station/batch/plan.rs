//! Before a batch runs: what each row needs, given what earlier runs of the same batch
//! left in the journal. Done rows are skipped, parked rows stay with their operator,
//! interrupted rows are resumed by the pipeline's resume rules, the rest are provisioned.
use super::csv_input::{BatchFile, BatchRow};
use super::report::{RowResult, RowStatus};
use crate::station::journal::{JobFilter, JobRecord};
use crate::station::pipeline::{PinPolicyOverride, ResumeItem, Station, StationError};
use crate::station::state::JobState;
use std::collections::HashMap;

/// What a row needs in this run.
#[derive(Debug, Clone)]
pub enum Disposition {
    /// A fresh job (never tried, or only failed before).
    Provision,
    /// An interrupted job of this batch, continued by the pipeline's resume rules.
    Resume(Box<ResumeItem>),
    /// Nothing: done or parked in an earlier run (the row's result says which).
    Skip(RowResult),
}

/// A row and what it needs.
#[derive(Debug, Clone)]
pub struct PlannedRow {
    /// The row (for a resumed job whose row left the file: rebuilt from the journal).
    pub row: BatchRow,
    /// What it needs.
    pub disposition: Disposition,
    /// Attempts in earlier runs of this batch (failed ones).
    pub earlier_attempts: usize,
}

/// A batch ready to run.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// Batch id (journal `batch_id`).
    pub batch_id: String,
    /// The file as read.
    pub file: BatchFile,
    /// Every good row (and resumable jobs whose row is no longer in the file), in line order.
    pub rows: Vec<PlannedRow>,
}

impl BatchPlan {
    /// Rows that need a key in this run.
    pub fn to_do(&self) -> usize {
        self.rows.iter().filter(|r| !matches!(r.disposition, Disposition::Skip(_))).count()
    }

    /// Rows skipped as done in an earlier run.
    pub fn already_done(&self) -> usize {
        self.rows.iter().filter(|r| matches!(&r.disposition, Disposition::Skip(s) if s.status == RowStatus::AlreadyDone)).count()
    }

    /// Rows that resume an interrupted job.
    pub fn resuming(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r.disposition, Disposition::Resume(_))).count()
    }
}

/// Look the batch up in the station's journal and decide each row's disposition.
pub async fn plan_batch(station: &Station, file: BatchFile, batch_id: String) -> Result<BatchPlan, StationError> {
    let filter = JobFilter { batch_id: Some(batch_id.clone()), ..Default::default() };
    let jobs = station.setup().journal.run(move |j| j.query(&filter)).await?;
    let resumes: Vec<ResumeItem> = station
        .pending_resumes()
        .await?
        .into_iter()
        .filter(|item| item.job.batch.as_ref().is_some_and(|b| b.id == batch_id))
        .collect();
    Ok(decide(batch_id, file, &jobs, resumes))
}

/// `--skip-existing`: rows still to provision whose user already has a passkey (FIDO2
/// method) in Entra are skipped, as already done. One Graph read per such row; a user
/// Graph cannot read is left to the pipeline, which says why.
pub async fn skip_existing(station: &Station, plan: &mut BatchPlan) {
    // A row that asks to replace the user's keys is enrolled whatever they have.
    for r in plan.rows.iter_mut().filter(|r| matches!(r.disposition, Disposition::Provision) && !r.row.replace) {
        if let Ok(methods) = station.setup().graph.list_fido2_methods(&r.row.upn).await
            && !methods.is_empty()
        {
            let mut result = RowResult::new(r.row.line, Some(r.row.upn.clone()), RowStatus::AlreadyDone);
            result.reason = Some(format!("already has {} passkey(s) in Entra (--skip-existing)", methods.len()));
            r.disposition = Disposition::Skip(result);
        }
    }
}

/// The decision itself, from the batch's journal rows and its pending resumes.
pub fn decide(batch_id: String, file: BatchFile, jobs: &[JobRecord], resumes: Vec<ResumeItem>) -> BatchPlan {
    let mut by_user: HashMap<String, Vec<&JobRecord>> = HashMap::new();
    for j in jobs {
        if let Some(upn) = &j.user.upn {
            by_user.entry(upn.to_lowercase()).or_default().push(j);
        }
    }
    let mut resumes_by_user: HashMap<String, ResumeItem> = HashMap::new();
    let mut orphans = Vec::new();
    for item in resumes {
        match item.job.user.upn.as_ref().map(|u| u.to_lowercase()) {
            Some(u) if file.rows.iter().any(|r| r.upn.to_lowercase() == u) => {
                resumes_by_user.insert(u, item);
            }
            _ => orphans.push(item),
        }
    }

    let mut rows = Vec::new();
    for row in &file.rows {
        let key = row.upn.to_lowercase();
        let history = by_user.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let earlier_attempts = history.iter().filter(|j| j.state == JobState::Failed).count();
        let disposition = if let Some(done) = history.iter().rev().find(|j| j.state == JobState::Done) {
            let mut r = result_from_job(row, done, RowStatus::AlreadyDone);
            r.reason = Some(format!("done in an earlier run ({})", done.finished_at.unwrap_or(done.updated_at).format("%Y-%m-%d %H:%M UTC")));
            Disposition::Skip(r)
        } else if let Some(item) = resumes_by_user.remove(&key) {
            Disposition::Resume(Box::new(item))
        } else if let Some(parked) = history.iter().rev().find(|j| j.state == JobState::NeedsOperator) {
            let mut r = result_from_job(row, parked, RowStatus::NeedsOperator);
            let why = parked.operator_reason.as_ref().map(|o| o.message()).unwrap_or_else(|| "it needs an operator".into());
            r.reason = Some(format!("{why} (job {}: `keystation jobs show {}` says what to do; `keystation jobs retry {}` releases it for this run)", parked.id.0, parked.id.0, parked.id.0));
            Disposition::Skip(r)
        } else {
            Disposition::Provision
        };
        rows.push(PlannedRow { row: row.clone(), disposition, earlier_attempts });
    }
    // Interrupted jobs whose user is no longer in the file are still reconciled: the
    // station may have changed the key or Entra for them.
    for item in orphans {
        let line = item.job.batch.as_ref().map(|b| b.line).unwrap_or(0);
        let upn = item.job.user.upn.clone().unwrap_or_else(|| item.retry.user.clone());
        let row = BatchRow { line, upn, display_name: None, pin: PinPolicyOverride::default(), replace: false };
        rows.push(PlannedRow { row, disposition: Disposition::Resume(Box::new(item)), earlier_attempts: 0 });
    }
    rows.sort_by_key(|r| r.row.line);
    BatchPlan { batch_id, file, rows }
}

fn result_from_job(row: &BatchRow, job: &JobRecord, status: RowStatus) -> RowResult {
    let mut r = RowResult::new(row.line, Some(row.upn.clone()), status);
    r.job_uid = Some(job.uid.clone());
    r.method_id = job.entra_method_id.clone();
    r.serial = job.key.serial.clone();
    r.model = job.key.model.clone();
    r
}
