//! The end of a batch run: every row of the file with what became of it, the counts, and
//! how the run as a whole ended (which the CLI turns into exit code 0, 7, 8 or 10).
use serde::Serialize;

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Provisioned in this run.
    Done,
    /// Provisioned in an earlier run of the same batch; skipped.
    AlreadyDone,
    /// Failed for good in this run (after its retries); re-run the batch to try again.
    Failed,
    /// Stopped half-way (Ctrl-C, an internal error) in a state the next run resumes by
    /// itself, as after a crash.
    Interrupted,
    /// Stopped in a state a person must resolve (`keystation jobs list`).
    NeedsOperator,
    /// Never started: no key was available, or the operator stopped the run.
    NotStarted,
    /// The row itself is bad (line number and reason in the report).
    Rejected,
}

impl RowStatus {
    /// Short word for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Done => "done",
            RowStatus::AlreadyDone => "already done",
            RowStatus::Failed => "failed",
            RowStatus::Interrupted => "interrupted",
            RowStatus::NeedsOperator => "needs operator",
            RowStatus::NotStarted => "not started",
            RowStatus::Rejected => "bad row",
        }
    }
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowResult {
    /// 1-based line in the file.
    pub line: u64,
    /// The user (as written), when the row had one.
    pub upn: Option<String>,
    /// Outcome.
    pub status: RowStatus,
    /// Why it is not done, and what to do (none for done rows).
    pub reason: Option<String>,
    /// Journal job uid of the last attempt.
    pub job_uid: Option<String>,
    /// Entra method id.
    pub method_id: Option<String>,
    /// The key: path during this run.
    pub key: Option<String>,
    /// The key's serial.
    pub serial: Option<String>,
    /// The key's model.
    pub model: Option<String>,
    /// Attempts in this run.
    pub attempts: u32,
    /// Wall time of the last attempt, ms.
    pub millis: Option<u64>,
    /// Older security keys of the user deleted after this key was registered (the
    /// `replace` column or `--replace-existing`).
    #[serde(skip_serializing_if = "is_zero")]
    pub replaced_keys: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RowResult {
    /// A row with only its line, user and status known.
    pub fn new(line: u64, upn: Option<String>, status: RowStatus) -> RowResult {
        RowResult { line, upn, status, reason: None, job_uid: None, method_id: None, key: None, serial: None, model: None, attempts: 0, millis: None, replaced_keys: 0 }
    }
}

/// How a run ended as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchEnd {
    /// Every good row is done (now or earlier) and no row was bad.
    AllDone,
    /// Some rows failed, were bad or were not started.
    Partial,
    /// At least one row needs an operator.
    NeedsOperator,
    /// The operator stopped the run before every row was tried.
    Cancelled,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    /// Done in this run.
    pub done: usize,
    /// Done before.
    pub already_done: usize,
    /// Failed.
    pub failed: usize,
    /// Interrupted (resumed by the next run).
    pub interrupted: usize,
    /// Needs an operator.
    pub needs_operator: usize,
    /// Not started.
    pub not_started: usize,
    /// Bad rows.
    pub rejected: usize,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Batch id (journal `batch_id`; `keystation report --batch ID`).
    pub batch_id: String,
    /// The user list.
    pub file: String,
    /// Every row of the file (good and bad), in line order.
    pub rows: Vec<RowResult>,
    /// Counts.
    pub counts: BatchCounts,
    /// How it ended.
    pub end: BatchEnd,
    /// The operator stopped it.
    pub cancelled: bool,
    /// Wall time, ms.
    pub millis: u64,
}

impl BatchReport {
    /// Build the report from the rows (sorted by line) and compute counts and the end.
    pub fn new(batch_id: String, file: String, mut rows: Vec<RowResult>, cancelled: bool, millis: u64) -> BatchReport {
        rows.sort_by_key(|r| r.line);
        let mut c = BatchCounts::default();
        for r in &rows {
            match r.status {
                RowStatus::Done => c.done += 1,
                RowStatus::AlreadyDone => c.already_done += 1,
                RowStatus::Failed => c.failed += 1,
                RowStatus::Interrupted => c.interrupted += 1,
                RowStatus::NeedsOperator => c.needs_operator += 1,
                RowStatus::NotStarted => c.not_started += 1,
                RowStatus::Rejected => c.rejected += 1,
            }
        }
        let end = if c.needs_operator > 0 {
            BatchEnd::NeedsOperator
        } else if cancelled && c.not_started + c.interrupted > 0 {
            BatchEnd::Cancelled
        } else if c.failed + c.interrupted + c.not_started + c.rejected > 0 {
            BatchEnd::Partial
        } else {
            BatchEnd::AllDone
        };
        BatchReport { batch_id, file, rows, counts: c, end, cancelled, millis }
    }

    /// The row for `line`.
    pub fn row(&self, line: u64) -> Option<&RowResult> {
        self.rows.iter().find(|r| r.line == line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[RowStatus], cancelled: bool) -> BatchReport {
        let rows = statuses.iter().enumerate().map(|(i, s)| RowResult::new(i as u64 + 2, Some(format!("u{i}@x.test")), *s)).collect();
        BatchReport::new("b".into(), "f.csv".into(), rows, cancelled, 0)
    }

    #[test]
    fn end_of_run_follows_the_worst_row() {
        use RowStatus::*;
        assert_eq!(report(&[Done, AlreadyDone], false).end, BatchEnd::AllDone);
        assert_eq!(report(&[Done, Rejected], false).end, BatchEnd::Partial);
        assert_eq!(report(&[Done, Failed, NotStarted], false).end, BatchEnd::Partial);
        assert_eq!(report(&[Done, Failed, NeedsOperator], false).end, BatchEnd::NeedsOperator);
        assert_eq!(report(&[Done, NotStarted], true).end, BatchEnd::Cancelled);
        assert_eq!(report(&[Done, Interrupted], true).end, BatchEnd::Cancelled, "Ctrl-C stopped a job half-way");
        assert_eq!(report(&[Done, Interrupted], false).end, BatchEnd::Partial);
        assert_eq!(report(&[Done, Done], true).end, BatchEnd::AllDone);
        let r = report(&[Done, Failed, Failed], false);
        assert_eq!((r.counts.done, r.counts.failed), (1, 2));
    }
}
